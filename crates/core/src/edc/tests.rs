//! Dictionary and value rules, tested through the public surface: rows in, fields or problems
//! out; values in, stored values or messages out.

use super::*;
use chrono::NaiveDate;

/// A row with the four columns every field needs.
fn r(name: &str, form: &str, field_type: &str, label: &str) -> FieldRow {
    FieldRow {
        field_name: name.into(),
        form_name: form.into(),
        field_type: field_type.into(),
        field_label: label.into(),
        ..Default::default()
    }
}

/// The same row with more columns filled.
fn with(mut row: FieldRow, cells: &[(Column, &str)]) -> FieldRow {
    for (c, v) in cells {
        row.set(*c, *v);
    }
    row
}

/// A small but complete study: every field type, matrix, section header, PHI, logic, tags.
fn study_rows() -> Vec<FieldRow> {
    use Column::*;
    vec![
        r("record_id", "enrollment", "text", "Record ID"),
        with(
            r("enrolled_on", "enrollment", "text", "Date enrolled"),
            &[
                (SectionHeader, "Enrollment"),
                (Validation, "date_mdy"),
                (ValidationMin, "2020-01-01"),
                (ValidationMax, "today"),
                (Required, "y"),
                (Annotation, "@TODAY"),
            ],
        ),
        with(r("initials", "enrollment", "text", "Initials"), &[(Validation, "alpha_only"), (Identifier, "y")]),
        with(
            r("sex", "enrollment", "radio", "Sex at birth"),
            &[(Choices, "1, Female | 2, Male | 99, Prefer not to say"), (Alignment, "RH")],
        ),
        with(
            r("site", "enrollment", "dropdown", "Site"),
            &[(Choices, "bos, Boston | chi, Chicago"), (Validation, "autocomplete")],
        ),
        with(r("consent_sig", "enrollment", "file", "Signature"), &[(Validation, "signature")]),
        with(
            r("weight_kg", "vitals", "text", "Weight (kg)"),
            &[(Validation, "number_1dp"), (ValidationMin, "30"), (ValidationMax, "250"), (FieldNote, "one decimal")],
        ),
        with(
            r("height_cm", "vitals", "text", "Height (cm)"),
            &[(Validation, "int"), (ValidationMin, "100"), (ValidationMax, "230")],
        ),
        with(r("bmi", "vitals", "calc", "BMI"), &[(Choices, "round([weight_kg]*10000/([height_cm]^2),1)")]),
        with(r("smoker", "vitals", "yesno", "Do you smoke?"), &[(Annotation, "@DEFAULT='0'")]),
        with(
            r("packs", "vitals", "text", "Packs a day"),
            &[(BranchingLogic, "[smoker] = '1'"), (Validation, "integer")],
        ),
        with(
            r("pain", "vitals", "slider", "Pain now"),
            &[(Choices, "None | Moderate | Worst"), (Validation, "number")],
        ),
        with(
            r("symptoms", "vitals", "checkbox", "Symptoms"),
            &[(Choices, "1, Cough | 2, Fever | -1, None of these | ns, Not sure")],
        ),
        with(
            r("mood_1", "vitals", "radio", "Calm"),
            &[(Choices, "0, Never | 1, Sometimes | 2, Often"), (MatrixGroup, "mood")],
        ),
        with(
            r("mood_2", "vitals", "radio", "Tense"),
            &[(Choices, "0, Never | 1, Sometimes | 2, Often"), (MatrixGroup, "mood")],
        ),
        r("vitals_note", "vitals", "descriptive", "Thank you."),
        with(
            r("visit_at", "vitals", "text", "Visit time"),
            &[(Validation, "datetime_seconds_dmy"), (Annotation, "@NOW @READONLY")],
        ),
        with(r("true_story", "vitals", "truefalse", "True?"), &[]),
        with(r("comments", "vitals", "notes", "Comments"), &[(Annotation, "@HIDDEN-SURVEY")]),
    ]
}

fn study() -> Dictionary {
    Dictionary::from_rows(study_rows()).unwrap()
}

/// The problems of a dictionary made of a valid first field followed by `rows`.
fn problems(rows: Vec<FieldRow>) -> Vec<Problem> {
    let mut all = vec![r("record_id", "intake", "text", "Record ID")];
    all.extend(rows);
    Dictionary::from_rows(all).unwrap_err()
}

/// The single problem of one extra row (row 3), with its column.
fn one_problem(row: FieldRow) -> (Option<Column>, String) {
    let ps = problems(vec![row]);
    assert_eq!(ps.len(), 1, "{ps:#?}");
    assert_eq!(ps[0].row, 3, "{ps:#?}");
    (ps[0].column, ps[0].message.clone())
}

fn now() -> chrono::NaiveDateTime {
    NaiveDate::from_ymd_opt(2024, 6, 15).unwrap().and_hms_opt(14, 30, 0).unwrap()
}

fn check(d: &Dictionary, field: &str, input: &str, order: DateOrder) -> Result<String, String> {
    let none = MissingCodes::default();
    d.field(field).unwrap().check(input, order, &EntryContext { now: now(), missing_codes: &none })
}

fn ymd(d: &Dictionary, field: &str, input: &str) -> Result<String, String> {
    check(d, field, input, DateOrder::Ymd)
}

// ---- The model ----

#[test]
fn a_complete_study_reads_into_typed_fields() {
    let d = study();
    assert_eq!(d.fields().len(), 19);
    assert_eq!(d.instruments(), ["enrollment", "vitals"]);
    assert_eq!(d.record_id_field().name(), "record_id");
    assert_eq!(d.instrument_fields("enrollment").count(), 6);

    let enrolled = d.field("enrolled_on").unwrap();
    assert_eq!(enrolled.validation(), Some(Validation::Date(DateOrder::Mdy)));
    assert_eq!(enrolled.min(), Some(Bound::Date(NaiveDate::from_ymd_opt(2020, 1, 1).unwrap())));
    assert_eq!(enrolled.max(), Some(Bound::Today));
    assert!(enrolled.required() && enrolled.action_tags().today);
    assert_eq!(enrolled.section_header(), "Enrollment");

    assert!(d.field("initials").unwrap().identifier());
    let sex = d.field("sex").unwrap();
    assert_eq!(sex.choices().len(), 3);
    assert_eq!(sex.choice("99").unwrap().label, "Prefer not to say");
    assert_eq!(sex.alignment(), Some(Alignment::RightHorizontal));
    assert!(d.field("site").unwrap().autocomplete());
    assert!(d.field("consent_sig").unwrap().signature());

    let height = d.field("height_cm").unwrap();
    assert_eq!(height.validation(), Some(Validation::Integer));
    assert_eq!(height.validation_text(), "int", "the legacy name is kept as written");

    assert_eq!(d.field("bmi").unwrap().calculation(), Some("round([weight_kg]*10000/([height_cm]^2),1)"));
    assert_eq!(d.field("smoker").unwrap().action_tags().default.as_deref(), Some("0"));
    assert_eq!(d.field("packs").unwrap().branching_logic(), "[smoker] = '1'");

    let pain = d.field("pain").unwrap();
    assert!(pain.slider_shows_number());
    assert_eq!(pain.slider().unwrap().middle, "Moderate");
    assert_eq!(pain.slider_range(), (0.0, 100.0));

    let mood = d.field("mood_2").unwrap();
    assert_eq!(mood.matrix_group(), "mood");
    assert!(!mood.matrix_ranking());

    let visit = d.field("visit_at").unwrap();
    assert!(visit.action_tags().now && visit.action_tags().readonly_on_forms);
    let comments = d.field("comments").unwrap();
    assert!(comments.action_tags().hidden_on_surveys && !comments.action_tags().hidden_on_forms);
}

#[test]
fn rows_come_back_exactly_as_read() {
    assert_eq!(study().to_rows(), study_rows());
}

#[test]
fn legacy_type_names_read_as_current_ones() {
    let d = Dictionary::from_rows(vec![
        r("record_id", "f", "text", "ID"),
        r("remarks", "f", "textarea", "Remarks"),
        with(r("colour", "f", "select", "Colour"), &[(Column::Choices, "1, Red | 2, Blue")]),
    ])
    .unwrap();
    assert_eq!(d.field("remarks").unwrap().field_type(), FieldType::Notes);
    assert_eq!(d.field("colour").unwrap().to_row().field_type, "dropdown");
}

#[test]
fn checkbox_export_columns_follow_redcap() {
    let d = study();
    let symptoms = d.field("symptoms").unwrap();
    assert_eq!(symptoms.export_columns(), ["symptoms___1", "symptoms___2", "symptoms____1", "symptoms___ns"]);
    assert_eq!(checkbox_column("q", "Yes_NO"), "q___yes_no");
    assert_eq!(symptoms.checkbox_choice("symptoms____1").unwrap().code, "-1");
    assert_eq!(symptoms.checkbox_choice("symptoms___3"), None);
    assert_eq!(d.field("sex").unwrap().checkbox_choice("sex___1"), None);
}

#[test]
fn flat_export_columns_expand_checkboxes_skip_descriptive_and_close_each_instrument() {
    let cols = study().export_columns();
    assert_eq!(cols[0], "record_id");
    assert_eq!(cols[6], "enrollment_complete");
    assert!(cols.contains(&"symptoms____1".to_string()));
    assert!(!cols.contains(&"vitals_note".to_string()));
    assert_eq!(cols.last().map(String::as_str), Some("vitals_complete"));
    assert!(!cols.contains(&"symptoms".to_string()));
}

#[test]
fn choices_read_codes_labels_and_commas_in_labels() {
    let c = parse_choices(" 1 , Yes, definitely |0,No| -2, Refused | a_1, Other", false).unwrap();
    assert_eq!(c[0], Choice { code: "1".into(), label: "Yes, definitely".into() });
    assert_eq!(c[1], Choice { code: "0".into(), label: "No".into() });
    assert_eq!(c[2].code, "-2");
    assert_eq!(c[3].code, "a_1");
    let bare = parse_choices("Red | Blue", false).unwrap();
    assert_eq!(bare[1], Choice { code: "Blue".into(), label: "Blue".into() });
    assert_eq!(parse_choices("1.5, Half", false).unwrap()[0].code, "1.5");
    assert!(parse_choices("1.5, Half", true).is_err());
}

// ---- Every problem, in its row and column ----

#[test]
fn field_names_must_be_lower_case_words() {
    for bad in ["Age", "2nd_visit", "_age", "age group", "âge", "age-group"] {
        let (col, msg) = one_problem(r(bad, "intake", "text", "x"));
        assert_eq!(col, Some(Column::FieldName), "{bad}");
        assert!(msg.contains("lower-case"), "{bad}: {msg}");
    }
    let (col, msg) = one_problem(r("", "intake", "text", "x"));
    assert_eq!((col, msg.as_str()), (Some(Column::FieldName), "the field name is missing"));
    let long = format!("a{}", "b".repeat(100));
    assert!(one_problem(r(&long, "intake", "text", "x")).1.contains("longer than 100"));
    let just_right = format!("a{}", "b".repeat(99));
    assert!(Dictionary::from_rows(vec![r("record_id", "f", "text", "ID"), r(&just_right, "f", "text", "x")]).is_ok());
    assert!(one_problem(r("a___b", "intake", "text", "x")).1.contains("triple underscore"));
}

#[test]
fn reserved_names_are_refused() {
    for name in [
        "redcap_event_name",
        "redcap_repeat_instrument",
        "redcap_repeat_instance",
        "redcap_data_access_group",
        "submit",
    ] {
        let (col, msg) = one_problem(r(name, "intake", "text", "x"));
        assert_eq!(col, Some(Column::FieldName));
        assert!(msg.contains("reserves"), "{name}: {msg}");
    }
}

#[test]
fn names_that_clash_with_an_instruments_own_columns_are_refused() {
    for name in ["intake_complete", "intake_timestamp", "intake_return_code"] {
        let (col, msg) = one_problem(r(name, "intake", "text", "x"));
        assert_eq!(col, Some(Column::FieldName));
        assert!(msg.contains("instrument 'intake'"), "{msg}");
    }
    // The same ending is fine when no instrument has that name.
    assert!(
        Dictionary::from_rows(vec![r("record_id", "f", "text", "ID"), r("visit_complete", "f", "yesno", "Done?")])
            .is_ok()
    );
}

#[test]
fn form_names_must_be_lower_case_words() {
    for bad in ["Intake", "1st", "my form", ""] {
        let (col, _) = one_problem(r("age", bad, "text", "x"));
        assert_eq!(col, Some(Column::FormName), "{bad}");
    }
    let (_, msg) = one_problem(r("age", &"f".repeat(65), "text", "x"));
    assert!(msg.contains("64"), "{msg}");
}

#[test]
fn duplicate_names_point_at_the_first_use() {
    let ps = problems(vec![r("age", "intake", "text", "Age"), r("age", "intake", "text", "Age again")]);
    assert_eq!(ps, vec![Problem::new(4, Some(Column::FieldName), "field name 'age' is already used on row 3")]);
}

#[test]
fn an_instrument_cannot_come_back_after_another() {
    let ps =
        problems(vec![r("a", "second", "text", "A"), r("b", "intake", "text", "B"), r("c", "second", "text", "C")]);
    let cols: Vec<_> = ps.iter().map(|p| (p.row, p.column)).collect();
    assert_eq!(cols, vec![(4, Some(Column::FormName)), (5, Some(Column::FormName))]);
    assert!(ps[0].message.contains("'intake' (started on row 2)"), "{}", ps[0].message);
    assert!(ps[1].message.contains("'second' (started on row 3)"), "{}", ps[1].message);
}

#[test]
fn the_record_identifier_must_be_a_text_field() {
    let ps = Dictionary::from_rows(vec![r("consented", "f", "yesno", "Consented?"), r("id", "f", "text", "ID")])
        .unwrap_err();
    assert_eq!(ps.len(), 1);
    assert_eq!((ps[0].row, ps[0].column), (2, Some(Column::FieldType)));
    assert!(ps[0].message.contains("identifies each record"));
}

#[test]
fn an_empty_dictionary_is_refused() {
    let ps = Dictionary::from_rows(vec![]).unwrap_err();
    assert_eq!(ps, vec![Problem::new(1, Some(Column::FieldName), "the dictionary has no fields")]);
}

#[test]
fn sql_fields_are_refused_with_the_reason() {
    let (col, msg) =
        one_problem(with(r("lookup", "intake", "sql", "Pick"), &[(Column::Choices, "select value from redcap_data")]));
    assert_eq!(col, Some(Column::FieldType));
    assert_eq!(
        msg,
        "field type 'sql' is not supported: SQL fields query the REDCap server's own database; replace it with a dropdown"
    );
}

#[test]
fn unknown_and_missing_field_types() {
    let (col, msg) = one_problem(r("x", "intake", "advcheckbox", "X"));
    assert_eq!(col, Some(Column::FieldType));
    assert!(msg.contains("is not one of text, notes"), "{msg}");
    assert_eq!(one_problem(r("x", "intake", "", "X")).1, "the field type is missing");
}

#[test]
fn malformed_choices_are_each_reported() {
    let ps = problems(vec![with(
        r("q", "intake", "radio", "Q"),
        &[(Column::Choices, "1, Yes || , Orphan | 2 x, Bad | 3, | 1, Again")],
    )]);
    let msgs: Vec<&str> = ps.iter().map(|p| p.message.as_str()).collect();
    assert!(ps.iter().all(|p| p.row == 3 && p.column == Some(Column::Choices)), "{ps:#?}");
    assert_eq!(msgs.len(), 5, "{msgs:#?}");
    assert!(msgs[0].contains("choice 2 is empty"));
    assert!(msgs[1].contains("no code"));
    assert!(msgs[2].contains("'2 x'"));
    assert!(msgs[3].contains("no label"));
    assert!(msgs[4].contains("'1' is used by more than one choice"));
}

#[test]
fn choice_fields_need_choices_and_others_take_none() {
    for t in ["radio", "dropdown", "checkbox"] {
        let (col, msg) = one_problem(r("q", "intake", t, "Q"));
        assert_eq!(col, Some(Column::Choices), "{t}");
        assert!(msg.contains("no choices"), "{msg}");
    }
    for t in ["notes", "yesno", "truefalse", "file", "descriptive"] {
        let (col, msg) = one_problem(with(r("q", "intake", t, "Q"), &[(Column::Choices, "1, A")]));
        assert_eq!(col, Some(Column::Choices), "{t}");
        assert!(msg.contains("takes no choices"), "{msg}");
    }
}

#[test]
fn checkbox_codes_must_make_distinct_columns_of_bounded_length() {
    let (_, msg) = one_problem(with(r("q", "intake", "checkbox", "Q"), &[(Column::Choices, "A, Upper | a, Lower")]));
    assert!(msg.contains("'A' and 'a' would share the export column 'q___a'"), "{msg}");
    let (_, msg) = one_problem(with(r("q", "intake", "checkbox", "Q"), &[(Column::Choices, "1.5, Half")]));
    assert!(msg.contains("a checkbox code is an integer"), "{msg}");
    let name = format!("q{}", "x".repeat(95));
    let (col, msg) =
        one_problem(with(r(&name, "intake", "checkbox", "Q"), &[(Column::Choices, "1, Short | 22, Long")]));
    assert_eq!(col, Some(Column::FieldName));
    assert!(msg.contains("___22") && msg.contains("longer than 100"), "{msg}");
}

#[test]
fn calc_fields_need_a_calculation() {
    let (col, msg) = one_problem(r("score", "intake", "calc", "Score"));
    assert_eq!(col, Some(Column::Choices));
    assert!(msg.contains("calculation"), "{msg}");
}

#[test]
fn validation_only_where_the_type_carries_one() {
    for (t, v, expect) in [
        ("radio", "integer", "cannot carry a validation"),
        ("notes", "date_ymd", "cannot carry a validation"),
        ("calc", "number", "cannot carry a validation"),
        ("slider", "integer", "only 'number'"),
        ("dropdown", "integer", "only 'autocomplete'"),
        ("file", "date_ymd", "only 'signature'"),
        ("text", "ssn", "not a validation type"),
        ("text", "Integer", "not a validation type"),
    ] {
        let mut row = with(r("q", "intake", t, "Q"), &[(Column::Validation, v)]);
        if t == "radio" || t == "dropdown" {
            row.set(Column::Choices, "1, A");
        }
        if t == "calc" {
            row.set(Column::Choices, "1+1");
        }
        let (col, msg) = one_problem(row);
        assert_eq!(col, Some(Column::Validation), "{t} {v}");
        assert!(msg.contains(expect), "{t} {v}: {msg}");
    }
}

#[test]
fn min_and_max_must_match_the_validation() {
    use Column::*;
    for (v, min, max, col, expect) in [
        ("date_mdy", "01/31/2020", "", ValidationMin, "YYYY-MM-DD"),
        ("date_ymd", "", "2020-02-30", ValidationMax, "YYYY-MM-DD"),
        ("datetime_ymd", "2020-01-01", "", ValidationMin, "HH:MM"),
        ("integer", "1.5", "", ValidationMin, "an integer"),
        ("number", "", "lots", ValidationMax, "a number"),
        ("time", "25:00", "", ValidationMin, "HH:MM"),
        ("email", "a", "", ValidationMin, "no minimum"),
        ("", "1", "", ValidationMin, "needs a validation type"),
        ("integer", "10", "5", ValidationMax, "the maximum 5 is below the minimum 10"),
        ("date_ymd", "2024-01-02", "2024-01-01", ValidationMax, "below the minimum"),
        ("time", "12:00", "08:00", ValidationMax, "below the minimum"),
    ] {
        let row = with(r("q", "intake", "text", "Q"), &[(Validation, v), (ValidationMin, min), (ValidationMax, max)]);
        let (c, msg) = one_problem(row);
        assert_eq!(c, Some(col), "{v} {min} {max}");
        assert!(msg.contains(expect), "{v} {min} {max}: {msg}");
    }
    // Relative bounds and numbers without their decimals are fine.
    for (v, min, max) in [
        ("date_dmy", "today", "now"),
        ("datetime_seconds_mdy", "2020-01-01 00:00:00", "now"),
        ("number_2dp", "0", "99.5"),
    ] {
        let row = with(r("q", "f", "text", "Q"), &[(Validation, v), (ValidationMin, min), (ValidationMax, max)]);
        assert!(Dictionary::from_rows(vec![r("record_id", "f", "text", "ID"), row]).is_ok(), "{v}");
    }
    let (col, msg) = one_problem(with(r("q", "intake", "radio", "Q"), &[(Choices, "1, A"), (ValidationMin, "1")]));
    assert_eq!(col, Some(ValidationMin));
    assert!(msg.contains("a radio field takes no minimum"), "{msg}");
}

#[test]
fn sliders_take_numeric_ranges_and_three_labels_at_most() {
    use Column::*;
    let (col, msg) = one_problem(with(r("s", "intake", "slider", "S"), &[(ValidationMin, "low")]));
    assert_eq!(col, Some(ValidationMin));
    assert!(msg.contains("slider's minimum must be a number"), "{msg}");
    let (col, msg) = one_problem(with(r("s", "intake", "slider", "S"), &[(Choices, "a | b | c | d")]));
    assert_eq!(col, Some(Choices));
    assert!(msg.contains("at most three labels"), "{msg}");
    let (_, msg) = one_problem(with(r("s", "intake", "slider", "S"), &[(ValidationMin, "50"), (ValidationMax, "10")]));
    assert!(msg.contains("below the minimum"), "{msg}");
    let d = Dictionary::from_rows(vec![
        r("record_id", "f", "text", "ID"),
        with(r("s", "f", "slider", "S"), &[(Choices, "Low | High"), (ValidationMin, "-10"), (ValidationMax, "10")]),
    ])
    .unwrap();
    let s = d.field("s").unwrap();
    assert_eq!(s.slider_range(), (-10.0, 10.0));
    assert_eq!(s.slider().unwrap(), &SliderLabels { left: "Low".into(), middle: "".into(), right: "High".into() });
}

#[test]
fn flags_and_alignment_take_only_their_values() {
    use Column::*;
    for (col, v) in [(Identifier, "yes"), (Required, "1"), (MatrixRanking, "n")] {
        let mut row = with(r("q", "intake", "radio", "Q"), &[(Choices, "1, A"), (MatrixGroup, "g")]);
        row.set(col, v);
        let (c, msg) = one_problem(row);
        assert_eq!(c, Some(col));
        assert!(msg.contains("write y or leave it blank"), "{msg}");
    }
    let d = Dictionary::from_rows(vec![
        r("record_id", "f", "text", "ID"),
        with(r("q", "f", "text", "Q"), &[(Identifier, " Y ")]),
    ])
    .unwrap();
    assert!(d.field("q").unwrap().identifier());
    assert_eq!(d.field("q").unwrap().to_row().identifier, "y");
    let (c, msg) = one_problem(with(r("q", "intake", "text", "Q"), &[(Alignment, "rv")]));
    assert_eq!(c, Some(Alignment));
    assert!(msg.contains("RV, RH, LV or LH"), "{msg}");
    let (c, _) = one_problem(with(r("q", "intake", "descriptive", "Q"), &[(Required, "y")]));
    assert_eq!(c, Some(Required));
}

#[test]
fn matrix_groups_hang_together() {
    use Column::*;
    let m = |name: &str, t: &str, choices: &str, group: &str| {
        with(r(name, "intake", t, name), &[(Choices, choices), (MatrixGroup, group)])
    };
    let abc = "1, A | 2, B | 3, C";
    // Different choices and a different type inside one group.
    let ps = problems(vec![
        m("a", "radio", abc, "grid"),
        m("b", "radio", "1, A | 2, B", "grid"),
        m("c", "checkbox", abc, "grid"),
    ]);
    let places: Vec<_> = ps.iter().map(|p| (p.row, p.column)).collect();
    assert_eq!(places, vec![(4, Some(Choices)), (5, Some(FieldType))], "{ps:#?}");
    // A group broken by another field.
    let ps = problems(vec![m("a", "radio", abc, "grid"), r("x", "intake", "text", "X"), m("b", "radio", abc, "grid")]);
    assert_eq!((ps[0].row, ps[0].column), (5, Some(MatrixGroup)));
    assert!(ps[0].message.contains("started on row 3"));
    // Ranking on some fields only.
    let mut ranked = m("b", "radio", abc, "grid");
    ranked.set(MatrixRanking, "y");
    let ps = problems(vec![m("a", "radio", abc, "grid"), ranked]);
    assert_eq!((ps[0].row, ps[0].column), (4, Some(MatrixRanking)));
    // Only radios and checkboxes, named like fields, ranking needs a group.
    assert_eq!(one_problem(with(r("t", "intake", "text", "T"), &[(MatrixGroup, "grid")])).0, Some(MatrixGroup));
    assert_eq!(one_problem(m("a", "radio", abc, "Grid 1")).0, Some(MatrixGroup));
    assert_eq!(
        one_problem(with(r("a", "intake", "radio", "A"), &[(Choices, abc), (MatrixRanking, "y")])).0,
        Some(MatrixRanking)
    );
}

#[test]
fn every_problem_is_reported_at_once_in_row_and_column_order() {
    use Column::*;
    let ps = Dictionary::from_rows(vec![
        r("record_id", "intake", "text", "ID"),
        with(r("Age", "intake", "text", "Age"), &[(Validation, "integer"), (ValidationMin, "x")]),
        r("q", "intake", "sql", "Q"),
        r("age2", "other", "calc", "Age 2"),
        r("q", "intake", "radio", "Q"),
    ])
    .unwrap_err();
    let places: Vec<_> = ps.iter().map(|p| (p.row, p.column)).collect();
    assert_eq!(
        places,
        vec![
            (3, Some(FieldName)),
            (3, Some(ValidationMin)),
            (4, Some(FieldType)),
            (5, Some(Choices)),
            (6, Some(FieldName)),
            (6, Some(FormName)),
            (6, Some(Choices)),
        ],
        "{ps:#?}"
    );
    let invalid = problems_to_invalid(&ps);
    assert_eq!(invalid.0.len(), 7);
    assert_eq!(invalid.0[0].field, "row 3, field_name");
    assert_eq!(ps[2].to_string(), format!("row 4, field_type: {SQL_REFUSAL}"));
}

#[test]
fn numbered_rows_keep_their_file_rows() {
    let ps =
        Dictionary::from_numbered_rows(vec![(2, r("record_id", "f", "text", "ID")), (7, r("Bad", "f", "text", "B"))])
            .unwrap_err();
    assert_eq!(ps[0].row, 7);
}

// ---- Values ----

#[test]
fn blank_is_always_accepted_here() {
    let d = study();
    for f in d.fields() {
        assert_eq!(ymd(&d, f.name(), "  "), Ok(String::new()), "{}", f.name());
    }
}

#[test]
fn dates_are_stored_ymd_whatever_order_they_come_in() {
    let d = study();
    assert_eq!(ymd(&d, "enrolled_on", "2024-03-05"), Ok("2024-03-05".into()));
    assert_eq!(check(&d, "enrolled_on", "03/05/2024", DateOrder::Mdy), Ok("2024-03-05".into()));
    assert_eq!(check(&d, "enrolled_on", "5-3-2024", DateOrder::Dmy), Ok("2024-03-05".into()));
    let e = check(&d, "enrolled_on", "2024-03-05", DateOrder::Mdy).unwrap_err();
    assert_eq!(e, "must be a date written MM-DD-YYYY");
    assert_eq!(d.field("enrolled_on").unwrap().display("2024-03-05"), "03-05-2024");
}

#[test]
fn date_ranges_use_the_fixed_and_relative_bounds() {
    let d = study();
    // max is today (2024-06-15 in these tests), min 2020-01-01; messages use the field's order.
    assert!(ymd(&d, "enrolled_on", "2024-06-15").is_ok());
    assert_eq!(ymd(&d, "enrolled_on", "2024-06-16").unwrap_err(), "must be on or before today (06-15-2024)");
    assert_eq!(ymd(&d, "enrolled_on", "2019-12-31").unwrap_err(), "must be on or after 01-01-2020");
}

#[test]
fn datetimes_are_stored_ymd_with_their_time() {
    let d = study();
    let f = d.field("visit_at").unwrap();
    assert_eq!(check(&d, "visit_at", "31-12-2023 23:59:58", DateOrder::Dmy), Ok("2023-12-31 23:59:58".into()));
    assert_eq!(ymd(&d, "visit_at", "2023-12-31 7:05:00"), Ok("2023-12-31 07:05:00".into()));
    assert!(ymd(&d, "visit_at", "2023-12-31 07:05").unwrap_err().contains("HH:MM:SS"));
    assert_eq!(f.display("2023-12-31 07:05:00"), "31-12-2023 07:05:00");

    let plain = Dictionary::from_rows(vec![
        r("record_id", "f", "text", "ID"),
        with(r("at", "f", "text", "At"), &[(Column::Validation, "datetime_mdy"), (Column::ValidationMax, "now")]),
    ])
    .unwrap();
    assert_eq!(ymd(&plain, "at", "2024-06-15 14:30"), Ok("2024-06-15 14:30".into()));
    assert_eq!(ymd(&plain, "at", "2024-06-15 14:31").unwrap_err(), "must be on or before now (06-15-2024 14:30)");
    assert!(ymd(&plain, "at", "2024-06-15 14:30:00").is_err());
    assert_eq!(plain.field("at").unwrap().display("2024-06-15 14:30"), "06-15-2024 14:30");
}

fn one_text(validation: &str, min: &str, max: &str) -> Dictionary {
    use Column::*;
    Dictionary::from_rows(vec![
        r("record_id", "f", "text", "ID"),
        with(r("v", "f", "text", "V"), &[(Validation, validation), (ValidationMin, min), (ValidationMax, max)]),
    ])
    .unwrap()
}

#[test]
fn times_and_durations() {
    let d = one_text("time", "08:00", "18:00");
    assert_eq!(ymd(&d, "v", "9:15"), Ok("09:15".into()));
    assert_eq!(ymd(&d, "v", "07:59").unwrap_err(), "must be 08:00 or later");
    assert_eq!(ymd(&d, "v", "18:01").unwrap_err(), "must be 18:00 or earlier");
    assert!(ymd(&d, "v", "9.15").is_err());
    let d = one_text("time_hh_mm_ss", "", "");
    assert_eq!(ymd(&d, "v", "23:59:59"), Ok("23:59:59".into()));
    assert!(ymd(&d, "v", "23:59").is_err());
    let d = one_text("time_mm_ss", "", "10:00");
    assert_eq!(ymd(&d, "v", "09:30"), Ok("09:30".into()));
    assert_eq!(ymd(&d, "v", "10:01").unwrap_err(), "must be 10:00 or earlier");
}

#[test]
fn integers_and_numbers_with_their_decimals_and_ranges() {
    let d = study();
    assert_eq!(ymd(&d, "height_cm", "172"), Ok("172".into()));
    assert_eq!(ymd(&d, "height_cm", "172.0").unwrap_err(), "must be a whole number");
    assert_eq!(ymd(&d, "height_cm", "99").unwrap_err(), "must be at least 100");
    assert_eq!(ymd(&d, "height_cm", "231").unwrap_err(), "must be at most 230");
    assert_eq!(ymd(&d, "weight_kg", "72.5"), Ok("72.5".into()));
    assert_eq!(ymd(&d, "weight_kg", "72.50").unwrap_err(), "must be a number with exactly 1 decimal(s), like 12.5");
    assert_eq!(ymd(&d, "weight_kg", "72").unwrap_err(), "must be a number with exactly 1 decimal(s), like 12.5");
    assert_eq!(ymd(&d, "weight_kg", "29.9").unwrap_err(), "must be at least 30");

    let d = one_text("number", "-1.5", "1e3");
    assert_eq!(ymd(&d, "v", ".5"), Ok(".5".into()));
    assert!(ymd(&d, "v", "1000").is_ok());
    assert!(ymd(&d, "v", "1000.1").is_err());
    assert!(ymd(&d, "v", "1,5").is_err());
    let d = one_text("number_comma_decimal", "", "");
    assert_eq!(ymd(&d, "v", "1,5"), Ok("1,5".into()));
    assert!(ymd(&d, "v", "1.5").is_err());
    let d = one_text("number_2dp_comma_decimal", "0", "10");
    assert_eq!(ymd(&d, "v", "9,99"), Ok("9,99".into()));
    assert_eq!(ymd(&d, "v", "10,01").unwrap_err(), "must be at most 10");
    assert!(ymd(&d, "v", "9.99").is_err());
    for dp in 1..=4u8 {
        let d = one_text(&format!("number_{dp}dp"), "", "");
        let ok = format!("3.{}", "1".repeat(usize::from(dp)));
        assert!(ymd(&d, "v", &ok).is_ok(), "{ok}");
        assert!(ymd(&d, "v", "3").is_err());
    }
}

#[test]
fn email_phone_zipcode_and_letters() {
    let d = one_text("email", "", "");
    assert_eq!(ymd(&d, "v", " Ada.Quinn@Example.org "), Ok("Ada.Quinn@Example.org".into()));
    assert!(ymd(&d, "v", "ada@").is_err());
    let d = one_text("phone", "", "");
    assert_eq!(ymd(&d, "v", "(615) 322-2222"), Ok("(615) 322-2222".into()));
    assert_eq!(ymd(&d, "v", "115-322-2222").unwrap_err(), "must be a North American phone number like (615) 322-2222");
    let d = one_text("zipcode", "", "");
    assert!(ymd(&d, "v", "02115-1234").is_ok());
    assert!(ymd(&d, "v", "2115").is_err());
    let d = study();
    assert_eq!(ymd(&d, "initials", "AQ"), Ok("AQ".into()));
    assert_eq!(ymd(&d, "initials", "A.Q.").unwrap_err(), "must hold only letters and spaces");
}

#[test]
fn free_text_is_trimmed_and_notes_keep_their_layout() {
    let d = study();
    assert_eq!(ymd(&d, "record_id", "  1001 "), Ok("1001".into()));
    assert_eq!(ymd(&d, "comments", "  line one\n  line two\n"), Ok("  line one\n  line two\n".into()));
}

#[test]
fn choice_fields_take_their_codes() {
    let d = study();
    assert_eq!(ymd(&d, "sex", "2"), Ok("2".into()));
    assert_eq!(ymd(&d, "sex", "Male").unwrap_err(), "must be one of the codes 1, 2, 99");
    assert_eq!(ymd(&d, "site", "chi"), Ok("chi".into()));
    assert!(ymd(&d, "site", "CHI").is_err());
    assert_eq!(ymd(&d, "smoker", "1"), Ok("1".into()));
    assert_eq!(ymd(&d, "smoker", "yes").unwrap_err(), "must be 1 (Yes) or 0 (No)");
    assert_eq!(ymd(&d, "true_story", "0"), Ok("0".into()));
    assert!(ymd(&d, "true_story", "2").is_err());
    assert_eq!(d.field("sex").unwrap().display("99"), "Prefer not to say");
    assert_eq!(d.field("sex").unwrap().display("7"), "7");
    assert_eq!(d.field("smoker").unwrap().display("0"), "No");
    assert_eq!(d.field("true_story").unwrap().display("1"), "True");
    assert_eq!(d.field("symptoms").unwrap().display("-1"), "None of these");
}

#[test]
fn sliders_take_whole_numbers_in_their_range() {
    let d = study();
    assert_eq!(ymd(&d, "pain", "0"), Ok("0".into()));
    assert_eq!(ymd(&d, "pain", "+100"), Ok("100".into()));
    assert_eq!(ymd(&d, "pain", "101").unwrap_err(), "must be a whole number from 0 to 100");
    assert!(ymd(&d, "pain", "50.5").is_err());
}

#[test]
fn checkboxes_take_one_answer_per_choice() {
    let d = study();
    let f = d.field("symptoms").unwrap();
    let none = MissingCodes::default();
    let ctx = EntryContext { now: now(), missing_codes: &none };
    assert_eq!(f.check_checkbox("-1", "1", &ctx), Ok("1".into()));
    assert_eq!(f.check_checkbox("ns", " 0 ", &ctx), Ok("0".into()));
    assert_eq!(f.check_checkbox("2", "", &ctx), Ok("".into()));
    assert_eq!(f.check_checkbox("3", "1", &ctx).unwrap_err(), "has no choice '3'; its codes are 1, 2, -1, ns");
    assert_eq!(f.check_checkbox("1", "yes", &ctx).unwrap_err(), "choice '1' must be 1 (ticked) or 0 (not ticked)");
    assert!(ymd(&d, "symptoms", "1").unwrap_err().contains("symptoms___1, symptoms___2"));
    assert_eq!(d.field("sex").unwrap().check_checkbox("1", "1", &ctx).unwrap_err(), "is not a checkbox");
}

#[test]
fn calculated_descriptive_and_file_fields_take_no_typed_value() {
    let d = study();
    assert!(ymd(&d, "bmi", "22.1").unwrap_err().contains("calculated"));
    assert!(ymd(&d, "vitals_note", "x").unwrap_err().contains("takes no value"));
    assert!(ymd(&d, "consent_sig", "scan.pdf").unwrap_err().contains("uploaded file"));
}

#[test]
fn missing_data_codes_are_accepted_except_where_nothing_is_entered() {
    let d = study();
    let codes =
        MissingCodes::parse("NA, Not applicable | UNK, Unknown | ASKU, Asked but unknown | -999, Lost").unwrap();
    let ctx = EntryContext { now: now(), missing_codes: &codes };
    for field in
        ["height_cm", "enrolled_on", "sex", "smoker", "pain", "comments", "initials", "consent_sig", "visit_at"]
    {
        assert_eq!(d.field(field).unwrap().check("UNK", DateOrder::Ymd, &ctx), Ok("UNK".into()), "{field}");
    }
    assert_eq!(d.field("height_cm").unwrap().check("-999", DateOrder::Ymd, &ctx), Ok("-999".into()));
    assert!(d.field("bmi").unwrap().check("NA", DateOrder::Ymd, &ctx).is_err());
    assert!(d.field("vitals_note").unwrap().check("NA", DateOrder::Ymd, &ctx).is_err());
    assert!(d.field("height_cm").unwrap().check("na", DateOrder::Ymd, &ctx).is_err(), "codes are exact");
    let symptoms = d.field("symptoms").unwrap();
    assert_eq!(symptoms.check_checkbox("ASKU", "1", &ctx), Ok("1".into()));
    assert_eq!(d.field("height_cm").unwrap().display_with("ASKU", &codes), "Asked but unknown");
    assert_eq!(d.field("sex").unwrap().display_with("1", &codes), "Female");
    assert_eq!(d.field("bmi").unwrap().display_with("NA", &codes), "NA");
}

#[test]
fn missing_data_codes_parse_like_choices() {
    let codes = MissingCodes::parse(" NA , Not applicable|UNK, Unknown ").unwrap();
    assert_eq!(codes.codes().len(), 2);
    assert_eq!(codes.get("NA").unwrap().label, "Not applicable");
    assert_eq!(codes.to_text(), "NA, Not applicable | UNK, Unknown");
    assert_eq!(MissingCodes::parse("").unwrap(), MissingCodes::default());
    assert!(MissingCodes::parse("NA, One | NA, Two").unwrap_err().contains("more than one"));
    assert!(MissingCodes::parse("N A, Spaced").unwrap_err().contains("'N A'"));
}
