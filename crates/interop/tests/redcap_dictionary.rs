//! The REDCap data dictionary file: dictionaries as REDCap downloads and exports them come back
//! out byte for byte, and a broken file is answered with every problem, each in its row and
//! column.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use clinbridge_core::edc::{
    Column, Dictionary, FieldRow, FieldType, Problem, SQL_REFUSAL, VALIDATION_NAMES, Validation,
};
use clinbridge_interop::redcap::dictionary::{
    CsvStyle, Headings, from_api_json, from_api_rows, parse, parse_with_style, to_api_json, to_api_rows, write,
};
use proptest::prelude::*;
use std::collections::BTreeSet;

/// Downloaded from a REDCap project's Data Dictionary page (byte order mark, labelled headings).
const DOWNLOAD: &[u8] = include_bytes!("fixtures/redcap/clinic_download.csv");
/// Exported through REDCap's API with `content=metadata&format=csv`.
const API: &[u8] = include_bytes!("fixtures/redcap/adverse_events_api.csv");

const LABEL_HEADER: &str = "\"Variable / Field Name\",\"Form Name\",\"Section Header\",\"Field Type\",\"Field Label\",\
\"Choices, Calculations, OR Slider Labels\",\"Field Note\",\"Text Validation Type OR Show Slider Number\",\
\"Text Validation Min\",\"Text Validation Max\",Identifier?,\"Branching Logic (Show field only if...)\",\
\"Required Field?\",\"Custom Alignment\",\"Question Number (surveys only)\",\"Matrix Group Name\",\
\"Matrix Ranking?\",\"Field Annotation\"\n";

const API_HEADER: &str = "field_name,form_name,section_header,field_type,field_label,select_choices_or_calculations,\
field_note,text_validation_type_or_show_slider_number,text_validation_min,text_validation_max,identifier,\
branching_logic,required_field,custom_alignment,question_number,matrix_group_name,matrix_ranking,field_annotation\n";

/// A file in the API style from its body rows.
fn api_file(rows: &str) -> Vec<u8> {
    format!("{API_HEADER}{rows}").into_bytes()
}

fn places(problems: &[Problem]) -> Vec<(usize, Option<Column>)> {
    problems.iter().map(|p| (p.row, p.column)).collect()
}

// ---- Round trips ----

#[test]
fn a_downloaded_dictionary_writes_back_byte_for_byte() {
    let (d, style) = parse_with_style(DOWNLOAD).unwrap();
    assert_eq!(style, CsvStyle::DOWNLOAD);
    let out = write(&d, style);
    assert_eq!(out.as_bytes(), DOWNLOAD, "first difference at byte {:?}", first_difference(out.as_bytes(), DOWNLOAD));
}

#[test]
fn an_api_export_writes_back_byte_for_byte() {
    let (d, style) = parse_with_style(API).unwrap();
    assert_eq!(style, CsvStyle::API);
    assert_eq!(write(&d, style).as_bytes(), API);
}

fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    a.iter().zip(b).position(|(x, y)| x != y).or((a.len() != b.len()).then(|| a.len().min(b.len())))
}

#[test]
fn the_downloaded_dictionary_reads_as_its_project() {
    let d = parse(DOWNLOAD).unwrap();
    assert_eq!(d.instruments(), ["screening", "baseline_visit", "quality_of_life"]);
    assert_eq!(d.record_id_field().name(), "record_id");
    assert_eq!(d.fields().len(), 55);

    // A multi-line label with HTML, and one with quotes and a line break.
    assert!(d.field("eligibility_stop").unwrap().label().contains("No.\nRecord"));
    assert_eq!(
        d.field("feeling_well").unwrap().label(),
        "In your own words, what does \"feeling well\" mean to you?\nOne or two sentences."
    );
    // A calculation with quotes and commas comes through as written.
    assert_eq!(
        d.field("bmi_class").unwrap().calculation(),
        Some("if([bmi] = \"\", \"\", if([bmi] < 18.5, 1, if([bmi] < 25, 2, 3)))")
    );
    // Negative checkbox codes and their export columns.
    let symptoms = d.field("symptoms").unwrap();
    assert_eq!(symptoms.choice("-99").unwrap().label, "Declined to answer");
    assert_eq!(symptoms.choice("3").unwrap().label, "Chest pain, at rest");
    assert!(symptoms.export_columns().contains(&"symptoms____99".to_string()));
    // REDCap pads annotations that start with @ for spreadsheets; the tags still count.
    assert_eq!(d.field("screen_date").unwrap().annotation(), " @TODAY");
    assert!(d.field("screen_date").unwrap().action_tags().today);
    assert_eq!(d.field("visit_note").unwrap().action_tags().default.as_deref(), Some("No concerns"));
    assert!(d.field("bmi_class").unwrap().action_tags().hidden_on_forms);
    // Matrix groups, with and without ranking, and a whitespace-only section header.
    let phq: Vec<_> = d.fields().iter().filter(|f| f.matrix_group() == "phq").map(|f| f.name()).collect();
    assert_eq!(phq, ["qol_interest", "qol_down", "qol_sleep"]);
    assert!(d.field("priority_sleep").unwrap().matrix_ranking());
    assert_eq!(d.field("qol_interest").unwrap().section_header(), " ");
    assert_eq!(d.field("qol_down").unwrap().question_number(), "2");
    // Sliders.
    let fatigue = d.field("fatigue").unwrap();
    assert_eq!(fatigue.slider_range(), (0.0, 10.0));
    assert_eq!(fatigue.slider().unwrap().right, "Exhausted");
    assert!(d.field("pain_now").unwrap().slider_shows_number());
    // Identifiers, descriptive fields, signature, autocomplete, ontology text kept.
    let phi: Vec<_> = d.fields().iter().filter(|f| f.identifier()).map(|f| f.name()).collect();
    assert_eq!(phi, ["first_name", "dob", "email", "phone", "zip"]);
    assert_eq!(d.field("qol_intro").unwrap().field_type(), FieldType::Descriptive);
    assert!(d.field("pi_signature").unwrap().signature());
    assert!(d.field("smoking").unwrap().autocomplete());
    assert_eq!(d.field("diagnosis").unwrap().choices_text(), "BIOPORTAL:ICD10CM");
}

#[test]
fn the_fixtures_use_every_validation_type() {
    let d = parse(DOWNLOAD).unwrap();
    let used: BTreeSet<String> = d.fields().iter().filter_map(|f| f.validation()).map(Validation::name).collect();
    for name in &VALIDATION_NAMES[..27] {
        assert!(used.contains(*name), "{name} is not in the fixture");
    }
}

#[test]
fn either_style_can_be_written_from_either() {
    let d = parse(DOWNLOAD).unwrap();
    let as_api = write(&d, CsvStyle::API);
    assert!(as_api.starts_with(API_HEADER));
    assert_eq!(parse(as_api.as_bytes()).unwrap(), d);

    let e = parse(API).unwrap();
    let downloaded = write(&e, CsvStyle::DOWNLOAD);
    assert!(downloaded.starts_with(&format!("\u{FEFF}{LABEL_HEADER}")));
    let (back, style) = parse_with_style(downloaded.as_bytes()).unwrap();
    assert_eq!((back, style), (e, CsvStyle::DOWNLOAD));

    let odd = CsvStyle { headings: Headings::ApiNames, bom: true };
    let (_, style) = parse_with_style(write(&d, odd).as_bytes()).unwrap();
    assert_eq!(style, odd);
}

#[test]
fn legacy_validation_names_survive_the_round_trip() {
    let file = api_file(
        "record_id,f,,text,ID,,,,,,,,,,,,,\n\
         age,f,,text,Age,,,int,0,120,,,,,,,,\n\
         ratio,f,,text,Ratio,,,float,,,,,,,,,,\n\
         seen,f,,text,Seen,,,date,,today,,,,,,,,\n\
         at,f,,text,At,,,datetime,,,,,,,,,,\n\
         at_s,f,,text,\"At, exactly\",,,datetime_seconds,,,,,,,,,,\n",
    );
    let d = parse(&file).unwrap();
    assert_eq!(d.field("age").unwrap().validation(), Some(Validation::Integer));
    assert_eq!(write(&d, CsvStyle::API).as_bytes(), file.as_slice());
}

#[test]
fn metadata_json_is_an_array_of_string_objects_in_redcap_order() {
    let d = parse(API).unwrap();
    let json = to_api_json(&d);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let rows = value.as_array().unwrap();
    assert_eq!(rows.len(), d.fields().len());
    let first = rows[0].as_object().unwrap();
    assert_eq!(first.len(), 18);
    assert!(first.values().all(serde_json::Value::is_string));
    assert!(json.starts_with("[{\"field_name\":\"study_id\",\"form_name\":\"adverse_events\",\"section_header\":\"\""));
    assert_eq!(rows[3]["custom_alignment"], "LH");
    assert_eq!(rows[3]["required_field"], "y");
    assert_eq!(from_api_json(&json).unwrap(), d);
    assert_eq!(from_api_rows(to_api_rows(&d)).unwrap(), d);
}

#[test]
fn metadata_json_reports_bad_shapes_and_bad_fields() {
    let e = from_api_json("{\"field_name\": \"x\"}").unwrap_err();
    assert_eq!(places(&e), [(1, None)]);
    let e = from_api_json("[{\"field_name\": 7}]").unwrap_err();
    assert!(e[0].message.contains("string"), "{}", e[0].message);
    // Missing keys read as blank; the rules still run, rows counted as in a file.
    let e = from_api_json(
        r#"[{"field_name":"record_id","form_name":"f","field_type":"text","field_label":"ID"},
            {"field_name":"q","form_name":"f","field_type":"sql","field_label":"Q"}]"#,
    )
    .unwrap_err();
    assert_eq!(e, [Problem::new(3, Some(Column::FieldType), SQL_REFUSAL)]);
}

// ---- The header ----

#[test]
fn a_wrong_heading_is_named() {
    let file = LABEL_HEADER.replace("\"Form Name\"", "Instrument") + "record_id,f,,text,ID,,,,,,,,,,,,,\n";
    let e = parse(file.as_bytes()).unwrap_err();
    assert_eq!(places(&e), [(1, Some(Column::FormName))]);
    assert_eq!(e[0].message, "heading 2 is 'Instrument' where 'Form Name' was expected");

    let file = API_HEADER.replace("identifier,", "phi,");
    let e = parse(file.as_bytes()).unwrap_err();
    assert_eq!(places(&e), [(1, Some(Column::Identifier))]);

    let e = parse(b"Variable,Form\nx,y\n").unwrap_err();
    assert_eq!(places(&e), [(1, Some(Column::FieldName))]);
    assert!(e[0].message.contains("'Variable / Field Name'"));
}

#[test]
fn missing_and_extra_headings_are_reported() {
    let short = API_HEADER.replace(",field_annotation", "");
    let e = parse(short.as_bytes()).unwrap_err();
    assert_eq!(places(&e), [(1, Some(Column::Annotation))]);
    assert!(e[0].message.contains("'field_annotation' is missing"));

    let long = API_HEADER.replace("field_annotation\n", "field_annotation,extra\n");
    let e = parse(long.as_bytes()).unwrap_err();
    assert_eq!(places(&e), [(1, None)]);
    assert!(e[0].message.contains("19 columns"));
}

#[test]
fn headings_are_matched_without_regard_to_case_or_padding() {
    let header = LABEL_HEADER.to_uppercase().replace("\"FORM NAME\"", "\" Form Name \"");
    let (d, style) = parse_with_style(format!("{header}record_id,f,,text,ID,,,,,,,,,,,,,\n").as_bytes()).unwrap();
    assert_eq!(style, CsvStyle { headings: Headings::Labels, bom: false });
    assert_eq!(d.fields().len(), 1);
}

#[test]
fn empty_and_non_utf8_files_are_refused() {
    assert_eq!(places(&parse(b"").unwrap_err()), [(1, None)]);
    assert_eq!(places(&parse("\u{FEFF}".as_bytes()).unwrap_err()), [(1, None)]);
    // Latin-1, as an older spreadsheet saves "Nom é".
    let mut latin1 = api_file("record_id,f,,text,ID,,,,,,,,,,,,,\nname,f,,text,\"Nom ");
    latin1.push(0xe9);
    latin1.extend_from_slice(b"\",,,,,,,,,,,,,\n");
    let e = parse(&latin1).unwrap_err();
    assert_eq!(places(&e), [(3, None)]);
    assert!(e[0].message.contains("not UTF-8"), "{}", e[0].message);
    // A header alone is a dictionary without fields.
    let e = parse(API_HEADER.as_bytes()).unwrap_err();
    assert_eq!(e, [Problem::new(1, Some(Column::FieldName), "the dictionary has no fields")]);
}

// ---- Rows ----

#[test]
fn rows_with_the_wrong_number_of_values_name_the_first_missing_column() {
    let e = parse(&api_file(
        "record_id,f,,text,ID,,,,,,,,,,,,,\n\
         age,f,,text,Age,,,integer,,,,,,,,,\n\
         sex,f,,radio,Sex,1, Female | 2, Male,,,,,,,,,,,\n",
    ))
    .unwrap_err();
    assert_eq!(places(&e), [(3, Some(Column::Annotation)), (4, None)]);
    assert!(e[0].message.contains("17 values"));
    assert!(e[1].message.contains("19 values"));
}

#[test]
fn malformed_csv_is_reported_with_the_other_problems() {
    let e = parse(&api_file(
        "record_id,f,,text,ID,,,,,,,,,,,,,\n\
         \"age\"x,f,,text,Age,,,,,,,,,,,,,\n\
         Bad,f,,text,Bad,,,,,,,,,,,,,\n",
    ))
    .unwrap_err();
    // The malformed row is still read (as `agex`) and passes; the next row's name does not.
    assert_eq!(places(&e), [(3, None), (4, Some(Column::FieldName))]);
    assert!(e[0].message.contains("closing quote"));

    let e = parse(&api_file("record_id,f,,text,ID,,,,,,,,,,,,,\nq,f,,text,\"Never closed,,,,,,,,,,,,,\n")).unwrap_err();
    assert!(e.iter().any(|p| p.row == 3 && p.message.contains("never closed")), "{e:#?}");
}

#[test]
fn rows_are_counted_as_records_even_when_a_value_spans_lines() {
    let e = parse(&api_file(
        "record_id,f,,text,ID,,,,,,,,,,,,,\n\
         intro,f,,descriptive,\"Line one\nline two\nline three\",,,,,,,,,,,,,\n\
         \n\
         Bad,f,,text,Bad,,,,,,,,,,,,,\n",
    ))
    .unwrap_err();
    // Header 1, record_id 2, intro 3 (three lines), the blank row 4, Bad 5.
    assert_eq!(places(&e), [(5, Some(Column::FieldName))]);
}

#[test]
fn blank_rows_left_by_spreadsheets_are_skipped() {
    let file = api_file(
        "record_id,f,,text,ID,,,,,,,,,,,,,\n,,,,,,,,,,,,,,,,,\n\nage,f,,text,Age,,,integer,,,,,,,,,,\n,,,,,,,,,,,,,,,,,\n",
    );
    let d = parse(&file).unwrap();
    assert_eq!(d.fields().len(), 2);
}

#[test]
fn crlf_files_from_spreadsheets_read_and_write_back_with_lf() {
    let lf = "record_id,f,,text,ID,,,,,,,,,,,,,\nnote,f,,notes,\"Two\nlines\",,,,,,,,,,,,,\n";
    let crlf = lf.replace('\n', "\r\n");
    let d = parse(&api_file(&crlf)).unwrap();
    assert_eq!(d.field("note").unwrap().label(), "Two\r\nlines");
    assert_eq!(write(&d, CsvStyle::API), format!("{API_HEADER}{lf}"));
}

#[test]
fn the_sql_field_type_is_refused_with_its_reason() {
    let e = parse(&api_file(
        "record_id,f,,text,ID,,,,,,,,,,,,,\n\
         clinic,f,,sql,Clinic,\"select value, value from redcap_data where project_id = 12\",,,,,,,,,,,,\n",
    ))
    .unwrap_err();
    assert_eq!(e, [Problem::new(3, Some(Column::FieldType), SQL_REFUSAL)]);
    assert_eq!(
        e[0].message,
        "field type 'sql' is not supported: SQL fields query the REDCap server's own database; replace it with a dropdown"
    );
}

#[test]
fn every_rule_is_reported_at_once_with_its_row_and_column() {
    use Column::*;
    let long = format!("c{}", "x".repeat(95));
    let rows = [
        "record_id,intake,,text,ID,,,,,,,,,,,,,".to_string(),         // 2
        "Age,intake,,text,Age,,,,,,,,,,,,,".to_string(),              // 3 name format
        "ok_1,Intake Form,,text,X,,,,,,,,,,,,,".to_string(),          // 4 form format
        "ok_1,intake,,text,Again,,,,,,,,,,,,,".to_string(),           // 5 duplicate
        "q1,intake,,radio,Q,\"1, A | 1, B\",,,,,,,,,,,,".to_string(), // 6 duplicate code
        "q2,intake,,dropdown,Q,\"1, A | x y, B\",,,,,,,,,,,,".to_string(), // 7 malformed choice
        "score,intake,,calc,Score,,,,,,,,,,,,,".to_string(),          // 8 calc without calculation
        "seen,intake,,text,Seen,,,date_mdy,01/02/2020,,,,,,,,,".to_string(), // 9 min format
        "n,intake,,text,N,,,integer,10,5,,,,,,,,".to_string(),        // 10 min > max
        "r,intake,,radio,R,\"1, A\",,integer,,,,,,,,,,".to_string(),  // 11 validation on radio
        "s,intake,,slider,S,,,,low,,,,,,,,,".to_string(),             // 12 slider min
        "db,intake,,sql,DB,select 1,,,,,,,,,,,,".to_string(),         // 13 sql
        "v,visit,,text,V,,,,,,,,,,,,,".to_string(),                   // 14
        "back,intake,,text,Back,,,,,,,,,,,,,".to_string(),            // 15 instrument again
        format!("{long},intake,,checkbox,C,\"1, A | 22, B\",,,,,,,,,,,,"), // 16 checkbox column too long
        "redcap_event_name,intake,,text,E,,,,,,,,,,,,,".to_string(),  // 17 reserved
        "visit_complete,intake,,yesno,Done,,,,,,,,,,,,,".to_string(), // 18 status field clash
        "m,intake,,text,M,,,,,,,,,,,grid,,".to_string(),              // 19 matrix on text
    ];
    let e = parse(&api_file(&(rows.join("\n") + "\n"))).unwrap_err();
    assert_eq!(
        places(&e),
        [
            (3, Some(FieldName)),
            (4, Some(FormName)),
            (5, Some(FieldName)),
            (5, Some(FormName)), // the bad form name on row 4 interrupted 'intake'
            (6, Some(Choices)),
            (7, Some(Choices)),
            (8, Some(Choices)),
            (9, Some(ValidationMin)),
            (10, Some(ValidationMax)),
            (11, Some(Validation)),
            (12, Some(ValidationMin)),
            (13, Some(FieldType)),
            (15, Some(FormName)),
            (16, Some(FieldName)),
            (17, Some(FieldName)),
            (18, Some(FieldName)),
            (19, Some(MatrixGroup)),
        ],
        "{e:#?}"
    );
    assert_eq!(e[11].message, SQL_REFUSAL);
}

// ---- Any text survives ----

proptest! {
    /// Labels, notes, headers, logic and annotations with commas, quotes, tabs, line breaks,
    /// spaces at either end and non-ASCII letters come back unchanged in both styles.
    #[test]
    fn free_text_columns_survive_both_styles(
        texts in prop::collection::vec("[ a-zA-Z0-9,\"'\t\n|@=<>/()\\[\\]éü°²\\\\-]{0,30}", 6)
    ) {
        let row = |name: &str| FieldRow {
            field_name: name.into(),
            form_name: "f".into(),
            field_type: "text".into(),
            field_label: texts[0].clone(),
            section_header: texts[1].clone(),
            field_note: texts[2].clone(),
            branching_logic: texts[3].clone(),
            question_number: texts[4].clone(),
            field_annotation: texts[5].clone(),
            ..Default::default()
        };
        let d = Dictionary::from_rows(vec![row("record_id"), row("other")]).unwrap();
        for style in [CsvStyle::DOWNLOAD, CsvStyle::API] {
            let file = write(&d, style);
            let (back, read_style) = parse_with_style(file.as_bytes()).unwrap();
            prop_assert_eq!(read_style, style);
            prop_assert_eq!(&back, &d);
            prop_assert_eq!(write(&back, style), file);
        }
    }
}
