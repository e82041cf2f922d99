//! ODM documents from the writer, checked by an independent implementation — xmllint against the
//! official ODM 1.3.2 schema (CLINBRIDGE_ODM_XSD, prepared by tests/odm/schema.sh) — and read
//! back by the reader value for value.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use clinbridge_interop::odm::*;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Everything one document holds, in the order it is written.
struct Document {
    header: FileHeader,
    study: Option<Study>,
    admin: Option<AdminData>,
    clinical: Vec<Block>,
}

struct Block {
    study_oid: &'static str,
    metadata_version_oid: &'static str,
    subjects: Vec<SubjectData>,
}

fn at(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 2, day, hour, minute, 0).unwrap()
}

fn header(file_oid: &str, file_type: FileType, granularity: Granularity) -> FileHeader {
    FileHeader {
        file_oid: file_oid.to_owned(),
        creation_date_time: Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap(),
        file_type,
        granularity: Some(granularity),
        description: Some("Clinbridge test export".to_owned()),
        prior_file_oid: None,
        as_of_date_time: Some(
            Utc.with_ymd_and_hms(2025, 3, 1, 11, 59, 30).unwrap() + chrono::Duration::microseconds(250),
        ),
        originator: Some("Clinbridge".to_owned()),
        source_system: Some("Clinbridge".to_owned()),
        source_system_version: Some("0.1.0".to_owned()),
    }
}

fn en_fr(en: &str, fr: &str) -> Vec<TranslatedText> {
    vec![TranslatedText::new(Some("en"), en), TranslatedText::new(Some("fr"), fr)]
}

fn en(text: &str) -> Vec<TranslatedText> {
    vec![TranslatedText::new(Some("en"), text)]
}

fn item_ref(oid: &str, order: u32, mandatory: bool) -> ItemRef {
    ItemRef { item_oid: oid.to_owned(), order_number: Some(order), mandatory, ..ItemRef::default() }
}

fn redcap(field_type: &str) -> Vec<Alias> {
    vec![Alias::new("REDCap field type", field_type)]
}

fn study() -> Study {
    let mut birth = ItemDef::new("I.BRTHDAT", "Date of birth", DataType::Date);
    birth.question = en_fr("Date of birth", "Date de naissance");
    birth.sas_field_name = Some("BRTHDAT".to_owned());
    birth.aliases = vec![Alias::new("REDCap field type", "text"), Alias::new("REDCap validation", "date_ymd")];

    let mut sex = ItemDef::new("I.SEX", "Sex", DataType::Text);
    sex.length = NonZeroU32::new(1);
    sex.question = en_fr("Sex", "Sexe");
    sex.code_list_oid = Some("CL.SEX".to_owned());
    sex.aliases = redcap("radio");

    let mut age = ItemDef::new("I.AGE", "Age", DataType::Integer);
    age.length = NonZeroU32::new(3);
    age.comment = Some("Computed from the date of birth".to_owned());
    age.aliases = redcap("calc");

    let mut pregnant = ItemDef::new("I.PREG", "Pregnant", DataType::Boolean);
    pregnant.question = en("Is the participant pregnant?");
    pregnant.aliases = redcap("yesno");

    let mut notes = ItemDef::new("I.NOTES", "Notes", DataType::Text);
    notes.description = en("Free text; may hold <markup> & \"quotes\"");
    notes.question = en("Notes");
    notes.aliases = redcap("notes");

    let mut systolic = ItemDef::new("I.SYSBP", "Systolic blood pressure", DataType::Integer);
    systolic.length = NonZeroU32::new(3);
    systolic.question = en("Systolic blood pressure (mmHg)");
    systolic.range_checks = vec![
        RangeCheck {
            comparator: Some(Comparator::Ge),
            soft_hard: SoftHard::Soft,
            against: CheckAgainst::Values(vec!["60".to_owned()]),
            error_message: en("Below 60 mmHg: please confirm"),
        },
        RangeCheck {
            comparator: Some(Comparator::Le),
            soft_hard: SoftHard::Hard,
            against: CheckAgainst::Values(vec!["250".to_owned()]),
            error_message: Vec::new(),
        },
    ];
    systolic.aliases = vec![Alias::new("REDCap field type", "text"), Alias::new("REDCap validation", "integer")];

    let mut weight = ItemDef::new("I.WEIGHT", "Weight", DataType::Float);
    weight.length = NonZeroU32::new(5);
    weight.significant_digits = Some(1);

    let visit_date = ItemDef::new("I.VISDT", "Visit date", DataType::PartialDate);

    let mut term = ItemDef::new("I.AETERM", "Adverse event", DataType::Text);
    term.length = NonZeroU32::new(200);
    let mut severity = ItemDef::new("I.AESEV", "Severity", DataType::Integer);
    severity.code_list_oid = Some("CL.SEV".to_owned());
    severity.range_checks = vec![RangeCheck {
        comparator: Some(Comparator::In),
        soft_hard: SoftHard::Hard,
        against: CheckAgainst::Values(vec!["1".to_owned(), "2".to_owned(), "3".to_owned()]),
        error_message: en_fr("Choose a grade", "Choisissez un grade"),
    }];
    let mut onset = ItemDef::new("I.AESTDT", "Onset", DataType::Datetime);
    onset.range_checks = vec![RangeCheck {
        comparator: None,
        soft_hard: SoftHard::Soft,
        against: CheckAgainst::Expressions(vec![FormalExpression {
            context: Some("REDCap".to_owned()),
            expression: "[aestdt] <= 'today'".to_owned(),
        }]),
        error_message: en("Onset is in the future"),
    }];

    let code = |value: &str, order: u32, decode: Vec<TranslatedText>| CodeListItem {
        coded_value: value.to_owned(),
        order_number: Some(order),
        decode,
        aliases: Vec::new(),
    };

    Study {
        oid: "ST.CB-001".to_owned(),
        global_variables: GlobalVariables {
            study_name: "CB-001 Hypertension".to_owned(),
            study_description: "Salt & <blood pressure> in \"real life\" — Zoë's study".to_owned(),
            protocol_name: "CB-001".to_owned(),
        },
        metadata_versions: vec![MetaDataVersion {
            oid: "MDV.1".to_owned(),
            name: "Version 1".to_owned(),
            description: Some("Data dictionary of 2025-01-15".to_owned()),
            protocol: Some(Protocol {
                description: en("Screening, monthly follow-up, adverse events at any time"),
                study_event_refs: vec![
                    StudyEventRef {
                        study_event_oid: "SE.SCREEN".into(),
                        order_number: Some(1),
                        mandatory: true,
                        ..Default::default()
                    },
                    StudyEventRef {
                        study_event_oid: "SE.FOLLOWUP".into(),
                        order_number: Some(2),
                        mandatory: false,
                        ..Default::default()
                    },
                    StudyEventRef {
                        study_event_oid: "SE.AE".into(),
                        order_number: Some(3),
                        mandatory: false,
                        ..Default::default()
                    },
                ],
                aliases: vec![Alias::new("REDCap", "longitudinal")],
            }),
            study_event_defs: vec![
                StudyEventDef {
                    oid: "SE.SCREEN".into(),
                    name: "Screening".into(),
                    repeating: false,
                    event_type: EventType::Scheduled,
                    category: Some("Screening".into()),
                    description: en("Day -14 to day 0"),
                    form_refs: vec![
                        FormRef {
                            form_oid: "F.DEMOG".into(),
                            order_number: Some(1),
                            mandatory: true,
                            ..Default::default()
                        },
                        FormRef {
                            form_oid: "F.VITALS".into(),
                            order_number: Some(2),
                            mandatory: true,
                            ..Default::default()
                        },
                    ],
                    aliases: vec![Alias::new("REDCap event", "screening_arm_1")],
                },
                StudyEventDef {
                    oid: "SE.FOLLOWUP".into(),
                    name: "Follow-up".into(),
                    repeating: true,
                    event_type: EventType::Scheduled,
                    category: None,
                    description: Vec::new(),
                    form_refs: vec![FormRef {
                        form_oid: "F.VITALS".into(),
                        order_number: Some(1),
                        mandatory: true,
                        ..Default::default()
                    }],
                    aliases: Vec::new(),
                },
                StudyEventDef {
                    oid: "SE.AE".into(),
                    name: "Adverse events".into(),
                    repeating: false,
                    event_type: EventType::Common,
                    category: None,
                    description: Vec::new(),
                    form_refs: vec![FormRef {
                        form_oid: "F.AE".into(),
                        order_number: Some(1),
                        mandatory: false,
                        ..Default::default()
                    }],
                    aliases: Vec::new(),
                },
            ],
            form_defs: vec![
                FormDef {
                    oid: "F.DEMOG".into(),
                    name: "Demographics".into(),
                    repeating: false,
                    description: en_fr("Demographics", "Démographie"),
                    item_group_refs: vec![ItemGroupRef {
                        item_group_oid: "IG.DEMOG".into(),
                        order_number: Some(1),
                        mandatory: true,
                        ..Default::default()
                    }],
                    aliases: vec![Alias::new("REDCap form", "demographics")],
                },
                FormDef {
                    oid: "F.VITALS".into(),
                    name: "Vital signs".into(),
                    repeating: false,
                    item_group_refs: vec![ItemGroupRef {
                        item_group_oid: "IG.VITALS".into(),
                        order_number: Some(1),
                        mandatory: true,
                        ..Default::default()
                    }],
                    ..Default::default()
                },
                FormDef {
                    oid: "F.AE".into(),
                    name: "Adverse event".into(),
                    repeating: true,
                    item_group_refs: vec![ItemGroupRef {
                        item_group_oid: "IG.AE".into(),
                        order_number: Some(1),
                        mandatory: true,
                        ..Default::default()
                    }],
                    ..Default::default()
                },
            ],
            item_group_defs: vec![
                ItemGroupDef {
                    oid: "IG.DEMOG".into(),
                    name: "Demographics".into(),
                    repeating: false,
                    description: Vec::new(),
                    item_refs: vec![
                        item_ref("I.BRTHDAT", 1, true),
                        item_ref("I.SEX", 2, true),
                        ItemRef { method_oid: Some("M.AGE".into()), ..item_ref("I.AGE", 3, false) },
                        ItemRef {
                            collection_exception_condition_oid: Some("C.MALE".into()),
                            ..item_ref("I.PREG", 4, false)
                        },
                        item_ref("I.NOTES", 5, false),
                    ],
                    aliases: Vec::new(),
                },
                ItemGroupDef {
                    oid: "IG.VITALS".into(),
                    name: "Vital signs".into(),
                    repeating: true,
                    description: Vec::new(),
                    item_refs: vec![
                        item_ref("I.VISDT", 1, true),
                        item_ref("I.SYSBP", 2, true),
                        item_ref("I.WEIGHT", 3, false),
                    ],
                    aliases: Vec::new(),
                },
                ItemGroupDef {
                    oid: "IG.AE".into(),
                    name: "Adverse event".into(),
                    repeating: true,
                    description: Vec::new(),
                    item_refs: vec![
                        item_ref("I.AETERM", 1, true),
                        item_ref("I.AESEV", 2, true),
                        item_ref("I.AESTDT", 3, false),
                    ],
                    aliases: Vec::new(),
                },
            ],
            item_defs: vec![birth, sex, age, pregnant, notes, systolic, weight, visit_date, term, severity, onset],
            code_lists: vec![
                CodeList {
                    oid: "CL.SEX".into(),
                    name: "Sex".into(),
                    data_type: CodeListDataType::Text,
                    description: Vec::new(),
                    items: vec![code("F", 1, en_fr("Female", "Femme")), code("M", 2, en_fr("Male", "Homme"))],
                    aliases: vec![Alias::new("REDCap choices", "F, Female | M, Male")],
                },
                CodeList {
                    oid: "CL.SEV".into(),
                    name: "Severity".into(),
                    data_type: CodeListDataType::Integer,
                    description: en("CTCAE-like grades"),
                    items: vec![code("1", 1, en("Mild")), code("2", 2, en("Moderate")), code("3", 3, en("Severe"))],
                    aliases: Vec::new(),
                },
            ],
            condition_defs: vec![ConditionDef {
                oid: "C.MALE".into(),
                name: "Male participant".into(),
                description: en("Not asked of male participants (REDCap branching logic [sex] = 'F', negated)"),
                formal_expressions: vec![FormalExpression {
                    context: Some("REDCap".into()),
                    expression: "[sex] <> 'F'".into(),
                }],
                aliases: Vec::new(),
            }],
            method_defs: vec![MethodDef {
                oid: "M.AGE".into(),
                name: "Age at screening".into(),
                method_type: Some(MethodType::Computation),
                description: en("Whole years since the date of birth"),
                formal_expressions: vec![FormalExpression {
                    context: Some("REDCap".into()),
                    expression: "rounddown(datediff([brthdat], 'today', 'y', 'ymd'), 0)".into(),
                }],
                aliases: Vec::new(),
            }],
        }],
    }
}

fn admin() -> AdminData {
    let mdv = |date: (i32, u32, u32)| MetaDataVersionRef {
        study_oid: "ST.CB-001".into(),
        metadata_version_oid: "MDV.1".into(),
        effective_date: NaiveDate::from_ymd_opt(date.0, date.1, date.2).unwrap(),
    };
    AdminData {
        study_oid: Some("ST.CB-001".into()),
        users: vec![
            User {
                oid: "U.1".into(),
                user_type: Some(UserType::Investigator),
                login_name: Some("pi@boston.example".into()),
                display_name: Some("Dr Ana Müller".into()),
                full_name: Some("Ana Müller, MD".into()),
                first_name: Some("Ana".into()),
                last_name: Some("Müller".into()),
                organization: Some("Boston Heart & Vascular".into()),
                emails: vec!["pi@boston.example".into()],
                location_oids: vec!["L.BOS".into()],
            },
            User {
                oid: "U.2".into(),
                user_type: Some(UserType::Other),
                display_name: Some("Coordinator".into()),
                ..Default::default()
            },
        ],
        locations: vec![
            Location {
                oid: "L.BOS".into(),
                name: "Boston".into(),
                location_type: Some(LocationType::Site),
                metadata_version_refs: vec![mdv((2025, 1, 15))],
            },
            Location {
                oid: "L.SPONSOR".into(),
                name: "Sponsor".into(),
                location_type: Some(LocationType::Sponsor),
                metadata_version_refs: vec![mdv((2025, 1, 1))],
            },
        ],
        signature_defs: vec![SignatureDef {
            oid: "SD.PI".into(),
            methodology: Some(SignMethod::Electronic),
            meaning: "I approve the data of this form".into(),
            legal_reason: "21 CFR Part 11 electronic signature".into(),
        }],
    }
}

fn audit(user: &str, when: DateTime<Utc>, reason: Option<&str>, source: &str) -> Option<AuditRecord> {
    Some(AuditRecord {
        user_oid: user.into(),
        location_oid: "L.BOS".into(),
        date_time_stamp: when,
        reason_for_change: reason.map(str::to_owned),
        source_id: Some(source.into()),
    })
}

fn with_audit(mut item: ItemData, audit_record: Option<AuditRecord>) -> ItemData {
    item.audit_record = audit_record;
    item
}

fn group(oid: &str, repeat_key: Option<&str>, items: Vec<ItemData>) -> ItemGroupData {
    ItemGroupData { item_group_oid: oid.into(), repeat_key: repeat_key.map(str::to_owned), items, ..Default::default() }
}

fn form(oid: &str, repeat_key: Option<&str>, item_groups: Vec<ItemGroupData>) -> FormData {
    FormData { form_oid: oid.into(), repeat_key: repeat_key.map(str::to_owned), item_groups, ..Default::default() }
}

fn event(oid: &str, repeat_key: Option<&str>, forms: Vec<FormData>) -> StudyEventData {
    StudyEventData {
        study_event_oid: oid.into(),
        repeat_key: repeat_key.map(str::to_owned),
        forms,
        ..Default::default()
    }
}

fn subject(key: &str, site: Option<&str>, study_events: Vec<StudyEventData>) -> SubjectData {
    SubjectData { subject_key: key.into(), site_oid: site.map(str::to_owned), study_events, ..Default::default() }
}

fn metadata_only() -> Document {
    Document {
        header: header("F.META", FileType::Snapshot, Granularity::Metadata),
        study: Some(study()),
        admin: None,
        clinical: Vec::new(),
    }
}

/// Metadata, administrative data, and clinical data with audit records and signatures at every
/// level that can carry them.
fn audited() -> Document {
    let mut demographics = form(
        "F.DEMOG",
        None,
        vec![group(
            "IG.DEMOG",
            None,
            vec![
                with_audit(ItemData::value("I.BRTHDAT", "1961-07-04"), audit("U.2", at(3, 9, 15), None, "audit-101")),
                with_audit(ItemData::value("I.SEX", "F"), audit("U.2", at(3, 9, 16), None, "audit-102")),
                ItemData {
                    signature: Some(Signature {
                        user_oid: "U.1".into(),
                        location_oid: "L.BOS".into(),
                        signature_oid: "SD.PI".into(),
                        date_time_stamp: at(4, 17, 0),
                    }),
                    ..ItemData::value("I.AGE", "63")
                },
                ItemData::null("I.PREG"),
            ],
        )],
    );
    demographics.audit_record = audit("U.2", at(3, 9, 14), Some("Form created"), "audit-100");
    demographics.signature = Some(Signature {
        user_oid: "U.1".into(),
        location_oid: "L.BOS".into(),
        signature_oid: "SD.PI".into(),
        date_time_stamp: at(4, 17, 5),
    });
    let mut vitals_group = group(
        "IG.VITALS",
        Some("1"),
        vec![
            ItemData::value("I.VISDT", "2025-02"),
            ItemData::value("I.SYSBP", "142"),
            ItemData::value("I.WEIGHT", "81.5"),
        ],
    );
    vitals_group.audit_record = audit("U.2", at(3, 9, 30), None, "audit-110");
    let mut screening = event("SE.SCREEN", None, vec![demographics, form("F.VITALS", None, vec![vitals_group])]);
    screening.audit_record = audit("U.2", at(3, 9, 14), None, "audit-099");
    let mut first = subject("BOS-001", Some("L.BOS"), vec![screening]);
    first.audit_record = audit("U.2", at(3, 9, 0), Some("Enrolled"), "audit-098");
    first.signature = Some(Signature {
        user_oid: "U.1".into(),
        location_oid: "L.BOS".into(),
        signature_oid: "SD.PI".into(),
        date_time_stamp: at(4, 17, 10),
    });
    let second = subject(
        "BOS-002",
        None,
        vec![event(
            "SE.SCREEN",
            None,
            vec![form("F.DEMOG", None, vec![group("IG.DEMOG", None, vec![ItemData::value("I.SEX", "M")])])],
        )],
    );
    Document {
        header: header("F.AUDITED", FileType::Snapshot, Granularity::All),
        study: Some(study()),
        admin: Some(admin()),
        clinical: vec![Block { study_oid: "ST.CB-001", metadata_version_oid: "MDV.1", subjects: vec![first, second] }],
    }
}

/// Repeating study events, forms and item groups, in two ClinicalData blocks.
fn repeating() -> Document {
    let vitals = |visit: &str, bp: &str| {
        form(
            "F.VITALS",
            None,
            vec![group(
                "IG.VITALS",
                Some("1"),
                vec![ItemData::value("I.VISDT", visit), ItemData::value("I.SYSBP", bp)],
            )],
        )
    };
    let ae = |key: &str, term: &str, grade: &str| {
        form(
            "F.AE",
            Some(key),
            vec![group("IG.AE", Some("1"), vec![ItemData::value("I.AETERM", term), ItemData::value("I.AESEV", grade)])],
        )
    };
    let subjects = vec![
        subject(
            "BOS-001",
            Some("L.BOS"),
            vec![
                event("SE.FOLLOWUP", Some("1"), vec![vitals("2025-03-03", "138")]),
                event("SE.FOLLOWUP", Some("2"), vec![vitals("2025-04-01", "131")]),
                event("SE.AE", None, vec![ae("1", "Headache", "1"), ae("2", "Dizziness", "2")]),
            ],
        ),
        subject(
            "BOS-003",
            Some("L.BOS"),
            vec![event(
                "SE.FOLLOWUP",
                Some("1"),
                vec![form(
                    "F.VITALS",
                    None,
                    vec![
                        group("IG.VITALS", Some("1"), vec![ItemData::value("I.SYSBP", "150")]),
                        group("IG.VITALS", Some("2"), vec![ItemData::value("I.SYSBP", "147")]),
                        group("IG.VITALS", Some("3"), vec![ItemData::value("I.SYSBP", "145")]),
                    ],
                )],
            )],
        ),
    ];
    Document {
        header: header("F.REPEAT", FileType::Snapshot, Granularity::AllClinicalData),
        study: None,
        admin: None,
        clinical: vec![
            Block { study_oid: "ST.CB-001", metadata_version_oid: "MDV.1", subjects },
            Block {
                study_oid: "ST.CB-001",
                metadata_version_oid: "MDV.1",
                subjects: vec![subject(
                    "NYC-001",
                    Some("L.NYC"),
                    vec![event("SE.AE", None, vec![ae("1", "Nausea", "1")])],
                )],
            },
        ],
    }
}

/// Values that need escaping, or that XML cannot carry at all.
fn awkward_values() -> Document {
    let items = vec![
        ItemData::value("I.NOTES", "BP < 90 & dizzy; \"fainted\" at 'home' > twice"),
        ItemData::value("I.AETERM", "Übelkeit, 頭痛, céphalée 🙂"),
        ItemData::value("I.AESEV", ""),
        ItemData::null("I.AESTDT"),
        ItemData::value("I.WEIGHT", "  81.5  "),
        ItemData::value("I.VISDT", "line one\r\nline two\n\tindented"),
        ItemData::value("I.SYSBP", "bell\u{7}tab\u{b}end\u{ffff}"),
        ItemData::value("I.AGE", "]]> <![CDATA[ &amp; &#10;"),
    ];
    Document {
        header: header("F.AWKWARD", FileType::Snapshot, Granularity::SingleSubject),
        study: None,
        admin: None,
        clinical: vec![Block {
            study_oid: "ST.CB-001",
            metadata_version_oid: "MDV.1",
            subjects: vec![subject(
                "BOS-<&>\"",
                Some("L.BOS"),
                vec![event("SE.AE", None, vec![form("F.AE", Some("1"), vec![group("IG.AE", Some("1"), items)])])],
            )],
        }],
    }
}

/// An item's history: inserted, corrected, cleared, removed, each change with its audit record.
fn transactional() -> Document {
    let change = |tt: TransactionType, item: ItemData, when, reason: Option<&str>, source| ItemData {
        transaction_type: Some(tt),
        audit_record: audit("U.2", when, reason, source),
        ..item
    };
    let history = vec![
        change(TransactionType::Insert, ItemData::value("I.SYSBP", "412"), at(3, 9, 30), None, "audit-201"),
        change(
            TransactionType::Update,
            ItemData::value("I.SYSBP", "142"),
            at(3, 10, 2),
            Some("Transcription error"),
            "audit-202",
        ),
        change(
            TransactionType::Update,
            ItemData::null("I.SYSBP"),
            at(5, 8, 0),
            Some("Measured with an uncalibrated device"),
            "audit-203",
        ),
        change(
            TransactionType::Remove,
            ItemData { value: ItemValue::Absent, ..ItemData::value("I.SYSBP", "") },
            at(6, 14, 45),
            Some("Entered for the wrong participant"),
            "audit-204",
        ),
        change(TransactionType::Insert, ItemData::value("I.WEIGHT", "81.5"), at(3, 9, 31), None, "audit-205"),
    ];
    let mut first = subject(
        "BOS-001",
        Some("L.BOS"),
        vec![event("SE.SCREEN", None, vec![form("F.VITALS", None, vec![group("IG.VITALS", Some("1"), history)])])],
    );
    first.transaction_type = Some(TransactionType::Upsert);
    let mut context = subject("BOS-002", None, vec![]);
    context.transaction_type = Some(TransactionType::Context);
    Document {
        header: FileHeader {
            prior_file_oid: Some("F.AUDITED".into()),
            ..header("F.TRANS", FileType::Transactional, Granularity::SingleSite)
        },
        study: None,
        admin: Some(admin()),
        clinical: vec![Block { study_oid: "ST.CB-001", metadata_version_oid: "MDV.1", subjects: vec![first, context] }],
    }
}

fn documents() -> Vec<(&'static str, Document)> {
    vec![
        ("metadata", metadata_only()),
        ("audited", audited()),
        ("repeating", repeating()),
        ("awkward", awkward_values()),
        ("transactional", transactional()),
    ]
}

/// The document written with whole subjects.
fn write(document: &Document) -> Vec<u8> {
    let mut writer = OdmWriter::new(Vec::new(), &document.header).unwrap();
    if let Some(study) = &document.study {
        writer.write_study(study).unwrap();
    }
    if let Some(admin) = &document.admin {
        writer.write_admin_data(admin).unwrap();
    }
    for block in &document.clinical {
        writer.begin_clinical_data(block.study_oid, block.metadata_version_oid).unwrap();
        for subject in &block.subjects {
            writer.write_subject(subject).unwrap();
        }
        writer.end_clinical_data().unwrap();
    }
    writer.finish().unwrap()
}

/// The same document streamed element by element, as an export walking a database would.
fn write_streamed(document: &Document) -> Vec<u8> {
    let mut writer = OdmWriter::new(Vec::new(), &document.header).unwrap();
    if let Some(study) = &document.study {
        writer.write_study(study).unwrap();
    }
    if let Some(admin) = &document.admin {
        writer.write_admin_data(admin).unwrap();
    }
    for (n, block) in document.clinical.iter().enumerate() {
        writer.begin_clinical_data(block.study_oid, block.metadata_version_oid).unwrap();
        for subject in &block.subjects {
            writer.begin_subject(&SubjectData { study_events: Vec::new(), ..subject.clone() }).unwrap();
            for event in &subject.study_events {
                writer.begin_study_event(&StudyEventData { forms: Vec::new(), ..event.clone() }).unwrap();
                for form in &event.forms {
                    writer.begin_form(&FormData { item_groups: Vec::new(), ..form.clone() }).unwrap();
                    for group in &form.item_groups {
                        writer.begin_item_group(&ItemGroupData { items: Vec::new(), ..group.clone() }).unwrap();
                        for item in &group.items {
                            writer.write_item(item).unwrap();
                        }
                        writer.end_item_group().unwrap();
                    }
                    writer.end_form().unwrap();
                }
                writer.end_study_event().unwrap();
            }
            writer.end_subject().unwrap();
        }
        // The last block is left open on purpose: finish() closes what is still open.
        if n + 1 < document.clinical.len() {
            writer.end_clinical_data().unwrap();
        }
    }
    writer.finish().unwrap()
}

/// What the reader should yield for a document: every value with its keys, in document order,
/// with characters XML cannot carry replaced and transaction types inherited.
fn expected_parts(document: &Document) -> Vec<ClinicalDataPart> {
    let carried = |text: &str| {
        text.chars()
            .map(|c| {
                if (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{fffe}' || c == '\u{ffff}' {
                    '\u{fffd}'
                } else {
                    c
                }
            })
            .collect::<String>()
    };
    let mut parts = Vec::new();
    for block in &document.clinical {
        parts.push(ClinicalDataPart::ClinicalData {
            study_oid: block.study_oid.into(),
            metadata_version_oid: block.metadata_version_oid.into(),
            line: 0,
        });
        for s in &block.subjects {
            for e in &s.study_events {
                for f in &e.forms {
                    for g in &f.item_groups {
                        for i in &g.items {
                            parts.push(ClinicalDataPart::Item(ItemRecord {
                                line: 0,
                                subject_key: carried(&s.subject_key),
                                site_oid: s.site_oid.clone(),
                                study_event_oid: e.study_event_oid.clone(),
                                study_event_repeat_key: e.repeat_key.clone(),
                                form_oid: f.form_oid.clone(),
                                form_repeat_key: f.repeat_key.clone(),
                                item_group_oid: g.item_group_oid.clone(),
                                item_group_repeat_key: g.repeat_key.clone(),
                                item_oid: i.item_oid.clone(),
                                value: match &i.value {
                                    ItemValue::Value(v) => ItemValue::Value(carried(v)),
                                    other => other.clone(),
                                },
                                transaction_type: i
                                    .transaction_type
                                    .or(g.transaction_type)
                                    .or(f.transaction_type)
                                    .or(e.transaction_type)
                                    .or(s.transaction_type),
                            }));
                        }
                    }
                }
            }
        }
    }
    parts
}

fn read(bytes: &[u8]) -> Vec<ClinicalDataPart> {
    ClinicalDataReader::new(bytes).collect::<Result<Vec<_>, _>>().unwrap()
}

fn without_lines(parts: Vec<ClinicalDataPart>) -> Vec<ClinicalDataPart> {
    parts
        .into_iter()
        .map(|part| match part {
            ClinicalDataPart::ClinicalData { study_oid, metadata_version_oid, .. } => {
                ClinicalDataPart::ClinicalData { study_oid, metadata_version_oid, line: 0 }
            }
            ClinicalDataPart::Item(record) => ClinicalDataPart::Item(ItemRecord { line: 0, ..record }),
        })
        .collect()
}

/// The schema and xmllint, or None (and a message) where the check may be skipped.
fn validator() -> Option<PathBuf> {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let xsd = std::env::var_os("CLINBRIDGE_ODM_XSD").filter(|v| !v.is_empty()).map(PathBuf::from);
    let xmllint = Command::new("xmllint").arg("--version").output().is_ok_and(|o| o.status.success());
    let missing = match (&xsd, xmllint) {
        (None, _) => "CLINBRIDGE_ODM_XSD is not set (run: export CLINBRIDGE_ODM_XSD=\"$(tests/odm/schema.sh)\")",
        (Some(_), false) => "xmllint is not installed (apt-get install libxml2-utils)",
        (Some(path), true) if !path.is_file() => "CLINBRIDGE_ODM_XSD does not name a file",
        _ => return xsd,
    };
    if ci {
        panic!("ODM schema validation cannot run: {missing}; with CI=true it may not be skipped");
    }
    println!("skipped: ODM schema validation: {missing}");
    None
}

/// xmllint's verdict on one file: success, or its messages. `--nonet` makes sure the schema's
/// imports are all local.
fn xmllint(xsd: &Path, file: &Path) -> Result<(), String> {
    let output =
        Command::new("xmllint").arg("--noout").arg("--nonet").arg("--schema").arg(xsd).arg(file).output().unwrap();
    if output.status.success() {
        Ok(())
    } else {
        Err(format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)))
    }
}

#[test]
fn every_document_is_valid_against_the_odm_1_3_2_schema() {
    let Some(xsd) = validator() else { return };
    let dir = tempfile::tempdir().unwrap();
    for (name, document) in documents() {
        for (how, bytes) in [("whole", write(&document)), ("streamed", write_streamed(&document))] {
            let file = dir.path().join(format!("{name}-{how}.xml"));
            std::fs::write(&file, &bytes).unwrap();
            if let Err(messages) = xmllint(&xsd, &file) {
                panic!("{name} ({how}) is not valid ODM 1.3.2:\n{messages}\n{}", String::from_utf8_lossy(&bytes));
            }
        }
    }
}

#[test]
fn the_schema_check_can_fail() {
    let Some(xsd) = validator() else { return };
    let dir = tempfile::tempdir().unwrap();
    let valid = String::from_utf8(write(&audited())).unwrap();
    // SiteRef belongs after the subject's AuditRecord and Signature; moving it first breaks the
    // schema's sequence, which is exactly the kind of mistake the writer must never make.
    let site_ref = valid.lines().find(|l| l.trim_start().starts_with("<SiteRef")).unwrap().to_owned();
    let subject_start = valid.lines().find(|l| l.trim_start().starts_with("<SubjectData")).unwrap().to_owned();
    let misordered = valid.replacen(&format!("{site_ref}\n"), "", 1).replacen(
        &subject_start,
        &format!("{subject_start}\n{site_ref}"),
        1,
    );
    let unknown_type = valid.replace("DataType=\"partialDate\"", "DataType=\"fuzzyDate\"");
    for (name, text) in [("misordered", misordered), ("unknown-type", unknown_type)] {
        assert_ne!(text, valid);
        let file = dir.path().join(format!("{name}.xml"));
        std::fs::write(&file, text).unwrap();
        assert!(xmllint(&xsd, &file).is_err(), "{name} should be refused by the schema");
    }
}

#[test]
fn what_the_writer_writes_the_reader_reads_back() {
    for (name, document) in documents() {
        let parts = read(&write(&document));
        assert_eq!(without_lines(parts), expected_parts(&document), "{name}");
    }
}

#[test]
fn streaming_element_by_element_writes_the_same_bytes_as_whole_subjects() {
    for (name, document) in documents() {
        assert_eq!(
            String::from_utf8(write_streamed(&document)).unwrap(),
            String::from_utf8(write(&document)).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn each_value_names_the_line_of_its_item_data() {
    let bytes = write(&audited());
    let text = String::from_utf8(bytes.clone()).unwrap();
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() as u64 + 1;
    let parts = read(&bytes);
    let ClinicalDataPart::ClinicalData { line, .. } = &parts[0] else { panic!("{:?}", parts[0]) };
    assert_eq!(*line, line_of("<ClinicalData "));
    let items: Vec<&ItemRecord> =
        parts.iter().filter_map(|p| if let ClinicalDataPart::Item(r) = p { Some(r) } else { None }).collect();
    assert_eq!(items[0].line, line_of("<ItemData ItemOID=\"I.BRTHDAT\""));
    assert_eq!(items[3].line, line_of("<ItemData ItemOID=\"I.PREG\""));
    assert_eq!(items.last().unwrap().line, line_of("<ItemData ItemOID=\"I.SEX\" Value=\"M\""));
}

#[test]
fn the_writer_declares_the_namespace_version_and_utf_8_and_nothing_unused() {
    let text = String::from_utf8(write(&audited())).unwrap();
    assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ODM xmlns=\"http://www.cdisc.org/ns/odm/v1.3\" ODMVersion=\"1.3.2\" FileType=\"Snapshot\""));
    assert!(!text.contains("xmlns:xlink") && !text.contains("xmlns:ds"));
    assert!(text.contains("CreationDateTime=\"2025-03-01T12:00:00Z\""));
    assert!(text.contains("AsOfDateTime=\"2025-03-01T11:59:30.000250Z\""));
    assert!(text.contains("<TranslatedText xml:lang=\"fr\">Date de naissance</TranslatedText>"));
    assert!(text.contains(
        "<StudyDescription>Salt &amp; &lt;blood pressure&gt; in \"real life\" — Zoë's study</StudyDescription>"
    ));
    assert!(text.trim_end().ends_with("</ODM>"));
}
