//! Electronic data capture on both backends: a dictionary drives data entry (validation,
//! calculations, branching, reason for change, history), queries, publishing without losing
//! data unnoticed, and forms that follow the schedule of events.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use clinbridge_core::identity::{Code, Role};
use clinbridge_core::trials::StudyStatus;
use clinbridge_store::edc::metadata::{self, EventForms};
use clinbridge_store::edc::queries::{self, QueryStep};
use clinbridge_store::edc::records::{self, FormKey};
use clinbridge_store::edc::review::{self, SignedScope};
use clinbridge_store::edc::{self, Blanks, FormInput};
use clinbridge_store::{Acting, Store, StoreError, demo, participants, tasks, trials};
use clinbridge_testkit::{TestDb, both_backends};
use uuid::Uuid;

both_backends!(
    a_dictionary_drives_data_entry,
    queries_move_between_site_and_monitor,
    publishing_refuses_to_lose_data_without_a_reason,
    longitudinal_forms_follow_the_schedule_of_events,
    verification_locks_and_signatures_follow_the_data
);

const HEADER: &str = "Variable / Field Name,Form Name,Section Header,Field Type,Field Label,\"Choices, Calculations, OR Slider Labels\",Field Note,Text Validation Type OR Show Slider Number,Text Validation Min,Text Validation Max,Identifier?,Branching Logic (Show field only if...),Required Field?,Custom Alignment,Question Number (surveys only),Matrix Group Name,Matrix Ranking?,Field Annotation\n";

fn dictionary() -> String {
    let rows = [
        "record_id,intake,,text,Record ID,,,,,,,,,,,,,",
        "visit_date,intake,,text,Date of visit,,,date_mdy,,today,,,y,,,,,",
        "sex,intake,,radio,Sex,\"1, Male | 2, Female\",,,,,,,y,,,,,",
        "pregnant,intake,,yesno,Pregnant?,,,,,,,[sex] = '2',,,,,,",
        "weight,intake,,text,Weight (kg),,,number,20,300,,,,,,,,",
        "height,intake,,text,Height (cm),,,integer,100,250,,,,,,,,",
        "bmi,intake,,calc,BMI,\"round([weight]/(([height]/100)^2),1)\",,,,,,,,,,,,",
        "meds,intake,,checkbox,Current medicines,\"1, Beta blocker | 2, ACE inhibitor | 3, Diuretic\",,,,,,,,,,,,",
        "on_diuretic,intake,,calc,On a diuretic,\"if([meds(3)] = '1', 1, 0)\",,,,,,,,,,,,",
        "notes,followup,,notes,Notes,,,,,,,,,,,,,",
    ];
    format!("{HEADER}{}\n", rows.join("\n"))
}

/// A data-capture study without visits, with the demo's data manager as its designer.
async fn capture_study(store: &Store, world: &demo::DemoWorld, code: &str) -> Uuid {
    let s =
        trials::create_study(store, &world.admin, Code::parse("code", code).unwrap(), trials::minimal("Data capture"))
            .await
            .unwrap();
    trials::set_status(store, &world.admin, s.id, StudyStatus::Approved, None).await.unwrap();
    s.id
}

fn input(instrument: &str, values: &[(&str, &str)]) -> FormInput {
    FormInput {
        key: FormKey::new("", instrument, 1),
        values: values.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        status: None,
        reason: None,
        revision: None,
        dates: None,
        blanks: Blanks::Erase,
        from_page: false,
    }
}

fn field_errors(e: StoreError) -> Vec<(String, String)> {
    match e {
        StoreError::Invalid(i) => i.0.into_iter().map(|f| (f.field, f.message)).collect(),
        other => panic!("expected field errors, got {other:?}"),
    }
}

async fn a_dictionary_drives_data_entry(db: &TestDb) {
    let store = db.store().await;
    let world = demo::seed(&store).await.unwrap();
    let dm = Acting::user(world.users[&Role::DataManager], None);
    let study = capture_study(&store, &world, "EDC-1").await;

    // A dictionary with errors writes nothing and names every bad row and column.
    let bad = format!(
        "{HEADER}record_id,intake,,text,Record ID,,,,,,,,,,,,,\nage,intake,,sql,Age,select 1,,,,,,,,,,,,\nBad Name,intake,,text,X,,,,,,,,,,,,,\nsex,intake,,radio,Sex,\"1, M | 1, F\",,,,,,[nope] = 1,,,,,,\n"
    );
    let errors = field_errors(metadata::import_dictionary(&store, &dm, study, bad.as_bytes()).await.unwrap_err());
    assert!(errors.iter().any(|(f, m)| f.starts_with("row 3") && m.contains("sql")), "{errors:?}");
    assert!(errors.iter().any(|(f, _)| f.starts_with("row 4")), "{errors:?}");
    assert!(errors.iter().any(|(f, _)| f.starts_with("row 5")), "{errors:?}");
    assert!(metadata::current(&store, study).await.unwrap().is_none());

    let meta = metadata::import_dictionary(&store, &dm, study, dictionary().as_bytes()).await.unwrap();
    assert_eq!(meta.number, 1);
    assert_eq!(meta.dictionary.instruments(), vec!["intake", "followup"]);
    // What is stored writes back byte for byte as what was read.
    use clinbridge_interop::redcap::dictionary::{CsvStyle, parse, write};
    let reread = metadata::current(&store, study).await.unwrap().unwrap();
    let downloaded = write(&reread.dictionary, CsvStyle::DOWNLOAD);
    assert_eq!(downloaded, write(&parse(dictionary().as_bytes()).unwrap(), CsvStyle::DOWNLOAD));
    assert_eq!(write(&parse(downloaded.as_bytes()).unwrap(), CsvStyle::DOWNLOAD), downloaded);

    let coordinator = Acting::user(world.users[&Role::Coordinator], None);
    // Validation names the field; nothing is saved.
    let e = edc::save_named(
        &store,
        &coordinator,
        study,
        "1",
        None,
        input("intake", &[("weight", "12"), ("height", "tall")]),
    )
    .await
    .unwrap_err();
    let errors = field_errors(e);
    assert!(errors.iter().any(|(f, _)| f == "weight"), "{errors:?}");
    assert!(errors.iter().any(|(f, _)| f == "height"), "{errors:?}");
    assert!(records::record_named(&store, study, "1").await.unwrap().is_none());

    // First save: dates in the field's order are stored Y-M-D, the calculation runs.
    let saved = edc::save_named(
        &store,
        &coordinator,
        study,
        "1",
        None,
        input(
            "intake",
            &[
                ("record_id", "1"),
                ("visit_date", "03-14-2025"),
                ("sex", "2"),
                ("pregnant", "0"),
                ("weight", "70"),
                ("height", "175"),
                ("meds", "1,3"),
            ],
        ),
    )
    .await
    .unwrap();
    assert!(saved.created);
    let values = records::form_values(&store, saved.form.id).await.unwrap();
    assert_eq!(values["visit_date"], "2025-03-14");
    assert_eq!(values["bmi"], "22.9");
    assert_eq!(values["meds"], "1,3");
    assert_eq!(values["on_diuretic"], "1");

    // After the first save, a change needs a reason.
    let mut change = input("intake", &[("weight", "72")]);
    change.blanks = Blanks::Keep;
    let errors =
        field_errors(edc::save_named(&store, &coordinator, study, "1", None, change.clone()).await.unwrap_err());
    assert_eq!(errors[0].0, "reason");
    change.reason = Some("Scale recalibrated".into());
    change.revision = Some(saved.form.revision);
    let second = edc::save_named(&store, &coordinator, study, "1", None, change.clone()).await.unwrap();
    assert_eq!(second.changes["weight"], ("70".to_string(), "72".to_string()));
    assert_eq!(second.changes["bmi"], ("22.9".to_string(), "23.5".to_string()));
    // A save from a page opened before that save is refused.
    let e = edc::save_named(&store, &coordinator, study, "1", None, change).await.unwrap_err();
    assert!(matches!(e, StoreError::Conflict { ref field, .. } if field == "revision"), "{e:?}");

    // The field's history: who, old, new, why.
    let history = edc::field_history(&store, saved.form.id, "weight").await.unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!((history[0].old.as_str(), history[0].new.as_str()), ("", "70"));
    assert_eq!(
        (history[1].old.as_str(), history[1].new.as_str(), history[1].reason.as_str()),
        ("70", "72", "Scale recalibrated")
    );

    // A page save erases the answer of a field its branching now hides.
    let mut page = input("intake", &[("sex", "1")]);
    page.blanks = Blanks::Keep;
    page.from_page = true;
    page.reason = Some("Sex entered wrongly".into());
    let third = edc::save_named(&store, &coordinator, study, "1", None, page).await.unwrap();
    assert_eq!(third.changes["pregnant"], ("0".to_string(), String::new()));

    // Complete needs the required fields that show.
    let mut done = input("intake", &[("visit_date", "")]);
    done.status = Some(2);
    done.reason = Some("Date was wrong".into());
    let errors = field_errors(edc::save_named(&store, &coordinator, study, "1", None, done).await.unwrap_err());
    assert_eq!(errors, vec![("visit_date".to_string(), "is required before the form is complete".to_string())]);

    // A future date is past the field's maximum (today).
    let mut later = input("intake", &[("visit_date", "01-01-2099")]);
    later.blanks = Blanks::Keep;
    later.reason = Some("x".into());
    let errors = field_errors(edc::save_named(&store, &coordinator, study, "1", None, later).await.unwrap_err());
    assert_eq!(errors[0].0, "visit_date");

    assert_eq!(edc::next_record_name(&store, study).await.unwrap(), "2");
}

async fn queries_move_between_site_and_monitor(db: &TestDb) {
    let store = db.store().await;
    let world = demo::seed(&store).await.unwrap();
    let dm = Acting::user(world.users[&Role::DataManager], None);
    let study = capture_study(&store, &world, "EDC-2").await;
    metadata::import_dictionary(&store, &dm, study, dictionary().as_bytes()).await.unwrap();
    let coordinator = Acting::user(world.users[&Role::Coordinator], None);
    let monitor = Acting::user(world.users[&Role::Monitor], None);
    let saved =
        edc::save_named(&store, &coordinator, study, "7", None, input("intake", &[("weight", "70")])).await.unwrap();

    let e = queries::open(&store, &monitor, saved.form.id, "nope", "Check this", None).await.unwrap_err();
    assert_eq!(field_errors(e)[0].0, "field");
    let q =
        queries::open(&store, &monitor, saved.form.id, "weight", "Weight is 70 kg here and 77 kg in the source", None)
            .await
            .unwrap();
    assert_eq!(q.status, "open");
    let open_tasks = tasks::open_for_subject(&store, "edc_form", &saved.form.id.to_string()).await.unwrap();
    assert_eq!(open_tasks.len(), 1);
    assert!(open_tasks[0].title.starts_with("Answer query on 7 intake"), "{}", open_tasks[0].title);

    let q =
        queries::step(&store, &coordinator, q.id, QueryStep::Respond, "Transcription error, corrected").await.unwrap();
    assert_eq!(q.status, "answered");
    assert!(queries::step(&store, &coordinator, q.id, QueryStep::Reopen, "").await.is_err());
    let q = queries::step(&store, &monitor, q.id, QueryStep::Close, "Verified against source").await.unwrap();
    assert_eq!(q.status, "closed");
    assert!(q.closed_at.is_some());
    assert!(tasks::open_for_subject(&store, "edc_form", &saved.form.id.to_string()).await.unwrap().is_empty());
    let thread = queries::messages(&store, q.id).await.unwrap();
    assert_eq!(thread.iter().map(|m| m.kind.as_str()).collect::<Vec<_>>(), vec!["open", "response", "close"]);
    assert!(queries::step(&store, &monitor, q.id, QueryStep::Close, "again").await.is_err());
}

async fn publishing_refuses_to_lose_data_without_a_reason(db: &TestDb) {
    let store = db.store().await;
    let world = demo::seed(&store).await.unwrap();
    let dm = Acting::user(world.users[&Role::DataManager], None);
    let study = capture_study(&store, &world, "EDC-3").await;
    metadata::import_dictionary(&store, &dm, study, dictionary().as_bytes()).await.unwrap();
    let published = metadata::publish(&store, &dm, study, None).await.unwrap();
    assert_eq!(published.number, 1);
    let coordinator = Acting::user(world.users[&Role::Coordinator], None);
    edc::save_named(&store, &coordinator, study, "1", None, input("intake", &[("sex", "2")])).await.unwrap();
    edc::save_named(&store, &coordinator, study, "1", None, input("followup", &[("notes", "Doing well")]))
        .await
        .unwrap();

    // Version 2 drops the notes field and the code 2 of sex, both in use.
    let v2 = dictionary()
        .replace("notes,followup,,notes,Notes,,,,,,,,,,,,,\n", "extra,followup,,text,Extra,,,,,,,,,,,,,\n")
        .replace("\"1, Male | 2, Female\"", "\"1, Male | 3, Female\"");
    let draft = metadata::import_dictionary(&store, &dm, study, v2.as_bytes()).await.unwrap();
    assert_eq!(draft.number, 2);
    // Data entry still uses production while the draft is open.
    assert_eq!(metadata::current(&store, study).await.unwrap().unwrap().number, 1);
    let losses = metadata::data_loss(&store, study).await.unwrap();
    let fields: Vec<&str> = losses.iter().map(|l| l.field.as_str()).collect();
    assert_eq!(fields, vec!["sex", "notes"], "{losses:?}");
    let errors = field_errors(metadata::publish(&store, &dm, study, None).await.unwrap_err());
    assert!(errors.iter().any(|(f, _)| f == "reason"));
    assert_eq!(metadata::current(&store, study).await.unwrap().unwrap().number, 1);
    let v = metadata::publish(&store, &dm, study, Some("Sex recoded per CRF v2; notes moved to the AE form"))
        .await
        .unwrap();
    assert_eq!(v.number, 2);
    let versions = metadata::versions(&store, study).await.unwrap();
    assert_eq!(versions.iter().map(|v| v.status.as_str()).collect::<Vec<_>>(), vec!["production", "retired"]);
    // The data stays.
    let r = records::record_named(&store, study, "1").await.unwrap().unwrap();
    let all = records::record_values(&store, r.id).await.unwrap();
    assert!(all.iter().any(|v| v.field == "notes" && v.value == "Doing well"));
}

async fn longitudinal_forms_follow_the_schedule_of_events(db: &TestDb) {
    let store = db.store().await;
    let world = demo::seed(&store).await.unwrap();
    let dm = Acting::user(world.users[&Role::DataManager], None);
    let study = world.study.id;
    // The demo's production dictionary collects vital signs at SCR, BL, W4 and W12.
    let meta = metadata::current(&store, study).await.unwrap().unwrap();
    assert_eq!(meta.status, metadata::VersionStatus::Production);
    assert!(meta.longitudinal());
    assert!(meta.collects("SCR", "vital_signs") && !meta.collects("W2", "vital_signs"));
    assert!(meta.repeats("SCR", "concomitant_medications") && !meta.repeats("SCR", "vital_signs"));
    // A mapping to a visit that is not in the schedule is refused.
    let mut design = metadata::working_design(&store, study).await.unwrap();
    design.event_forms.push(EventForms { event: "NOPE".into(), instruments: vec!["vital_signs".into()] });
    let errors = field_errors(metadata::save_draft(&store, &dm, study, design, "bad").await.unwrap_err());
    assert!(errors.iter().any(|(_, m)| m.contains("NOPE")), "{errors:?}");
    assert!(metadata::draft(&store, study).await.unwrap().is_none());

    let coordinator = Acting::user(world.users[&Role::Coordinator], None);
    let people = participants::participants(&store, study, None).await.unwrap();
    let p = people.iter().find(|p| p.randomized_on.is_some()).expect("a randomized participant");
    let at = |event: &str, values: &[(&str, &str)]| FormInput {
        key: FormKey::new(event, "vital_signs", 1),
        values: values.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        status: None,
        reason: Some("Re-measured".into()),
        revision: None,
        dates: None,
        blanks: Blanks::Keep,
        from_page: false,
    };
    let e = edc::save_for_participant(&store, &coordinator, p.id, at("W2", &[("sbp", "120")])).await.unwrap_err();
    assert_eq!(field_errors(e)[0].0, "event");
    let e = edc::save_for_participant(&store, &coordinator, p.id, at("", &[("sbp", "120")])).await.unwrap_err();
    assert_eq!(field_errors(e)[0].0, "event");
    // BMI at baseline reads the height recorded at screening.
    let record = records::participant_record(&store, p.id).await.unwrap().unwrap();
    assert_eq!(record.record, p.subject_id);
    assert_eq!(record.site_id, Some(p.site_id));
    let values = records::record_values(&store, record.id).await.unwrap();
    let height: f64 = values.iter().find(|v| v.field == "height").unwrap().value.parse().unwrap();
    let bl = edc::save_for_participant(&store, &coordinator, p.id, at("BL", &[("weight", "80.0")])).await.unwrap();
    let bmi = records::form_values(&store, bl.form.id).await.unwrap()["bmi"].clone();
    let expected = (80.0 / (height / 100.0).powi(2) * 10.0).round() / 10.0;
    assert_eq!(bmi.parse::<f64>().unwrap(), expected);
    // The demo has reviewed work: verified, signed and locked screening visits, and the
    // device study's instruments with a signed implant procedure.
    let mut verified = 0;
    let mut signed = 0;
    let mut locked = 0;
    for p in people.iter().filter(|p| p.site_code == "BOS") {
        let Some(r) = records::participant_record(&store, p.id).await.unwrap() else { continue };
        for f in records::forms(&store, r.id).await.unwrap() {
            verified += usize::from(!review::verifications(&store, f.id).await.unwrap().is_empty());
            signed += usize::from(review::signatures_over_form(&store, f.id).await.unwrap().iter().any(|s| s.valid));
            locked += usize::from(f.locked());
        }
    }
    assert!(verified >= 10 && signed >= 10 && locked >= 4, "{verified} verified, {signed} signed, {locked} locked");
    let af = trials::study_by_code(&store, "AORTA-FLEX").await.unwrap();
    let af_meta = metadata::current(&store, af.id).await.unwrap().expect("AORTA-FLEX instruments");
    assert_eq!(
        af_meta.dictionary.instruments(),
        vec!["demographics", "eligibility", "procedure", "echocardiogram", "kccq"]
    );
    let af_people = participants::participants(&store, af.id, None).await.unwrap();
    let implanted = af_people.iter().find(|p| p.enrolled_on.is_some() && p.site_code == "BOS").unwrap();
    let r = records::participant_record(&store, implanted.id).await.unwrap().unwrap();
    let forms = records::forms(&store, r.id).await.unwrap();
    let procedure = forms.iter().find(|f| f.event == "PROC").unwrap();
    assert!(review::signatures_over_form(&store, procedure.id).await.unwrap().iter().any(|s| s.valid));
    // The empty SANDBOX study is in development with no instruments.
    let sandbox = trials::study_by_code(&store, "SANDBOX").await.unwrap();
    assert!(metadata::current(&store, sandbox.id).await.unwrap().is_none());
}

async fn verification_locks_and_signatures_follow_the_data(db: &TestDb) {
    let store = db.store().await;
    let world = demo::seed(&store).await.unwrap();
    let coordinator = Acting::user(world.users[&Role::Coordinator], None);
    let monitor = Acting::user(world.users[&Role::Monitor], None);
    let investigator = Acting::user(world.users[&Role::Investigator], None);
    let study = world.study.id;
    let people = participants::participants(&store, study, None).await.unwrap();
    // A Boston participant whose screening the demo has not reviewed already.
    let mut unreviewed = None;
    for p in people.iter().filter(|p| p.randomized_on.is_some() && p.site_code == "BOS") {
        let record = records::participant_record(&store, p.id).await.unwrap().unwrap();
        let forms = records::forms(&store, record.id).await.unwrap();
        let vitals = forms.iter().find(|f| f.event == "SCR" && f.instrument == "vital_signs").unwrap().clone();
        if !vitals.locked() && review::verifications(&store, vitals.id).await.unwrap().is_empty() {
            unreviewed = Some((p, record, vitals));
            break;
        }
    }
    let (p, record, vitals) = unreviewed.expect("a Boston participant not yet reviewed");
    let edit = |values: &[(&str, &str)], reason: &str| FormInput {
        key: FormKey::new("SCR", "vital_signs", 1),
        values: values.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        status: None,
        reason: Some(reason.into()),
        revision: None,
        dates: None,
        blanks: Blanks::Keep,
        from_page: false,
    };

    // Verifying a whole form marks every answered field; an edit removes only its field's mark.
    let verified = review::verify_form(&store, &monitor, vitals.id, vec![]).await.unwrap();
    assert!(verified.contains(&"sbp".to_string()) && verified.contains(&"bmi".to_string()), "{verified:?}");
    let e = review::verify_form(&store, &monitor, vitals.id, vec!["nothing_here".into()]).await.unwrap_err();
    assert_eq!(field_errors(e)[0].0, "nothing_here");
    edc::save_for_participant(&store, &coordinator, p.id, edit(&[("hr", "77")], "Pulse re-read from the ECG"))
        .await
        .unwrap();
    let marks = review::verifications(&store, vitals.id).await.unwrap();
    assert!(!marks.contains_key("hr") && marks.contains_key("sbp"));
    assert_eq!(marks["sbp"].verified_by, world.users[&Role::Monitor]);
    // A whole visit at once.
    let n = review::verify_visit(&store, &monitor, record.id, "SCR", 1).await.unwrap();
    assert!(n >= 5, "{n}");
    assert!(review::verifications(&store, vitals.id).await.unwrap().contains_key("hr"));

    // The investigator signs the form and the record; an edit under them voids both.
    let e = review::sign(&store, &investigator, "wrong password", SignedScope::Form(vitals.id)).await.unwrap_err();
    assert_eq!(field_errors(e)[0].0, "password");
    review::sign(&store, &investigator, demo::DEMO_PASSWORD, SignedScope::Form(vitals.id)).await.unwrap();
    review::sign(&store, &investigator, demo::DEMO_PASSWORD, SignedScope::Record(record.id)).await.unwrap();
    let before = review::signatures_over_form(&store, vitals.id).await.unwrap();
    assert_eq!(before.len(), 2);
    assert!(before.iter().all(|s| s.valid));
    // An edit to another visit voids the record's signature but not this form's.
    edc::save_for_participant(
        &store,
        &coordinator,
        p.id,
        FormInput { key: FormKey::new("BL", "vital_signs", 1), ..edit(&[("hr", "70")], "Corrected") },
    )
    .await
    .unwrap();
    let after = review::signatures_over_form(&store, vitals.id).await.unwrap();
    let form_sig = after.iter().find(|s| s.signature.record_type == "edc_form").unwrap();
    let record_sig = after.iter().find(|s| s.signature.record_type == "edc_record").unwrap();
    assert!(form_sig.valid && !record_sig.valid);
    edc::save_for_participant(&store, &coordinator, p.id, edit(&[("dbp", "71")], "Transcription")).await.unwrap();
    let after = review::signatures_over_form(&store, vitals.id).await.unwrap();
    assert!(after.iter().all(|s| !s.valid), "an edit under a signature voids it");

    // A locked form or visit refuses changes until it is unlocked.
    review::lock_form(&store, &monitor, vitals.id, true).await.unwrap();
    let e = edc::save_for_participant(&store, &coordinator, p.id, edit(&[("hr", "78")], "x")).await.unwrap_err();
    assert!(matches!(e, StoreError::Refused(ref m) if m.contains("locked")), "{e:?}");
    review::lock_form(&store, &monitor, vitals.id, false).await.unwrap();
    review::lock_visit(&store, &monitor, record.id, "SCR", 1, true).await.unwrap();
    assert!(review::visit_locked(&store, record.id, "SCR", 1).await.unwrap());
    let e = edc::save_for_participant(&store, &coordinator, p.id, edit(&[("hr", "78")], "x")).await.unwrap_err();
    assert!(matches!(e, StoreError::Refused(ref m) if m.contains("visit")), "{e:?}");
    review::lock_visit(&store, &monitor, record.id, "SCR", 1, false).await.unwrap();
    edc::save_for_participant(&store, &coordinator, p.id, edit(&[("hr", "78")], "x")).await.unwrap();
}
