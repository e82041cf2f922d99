//! Device field support on both backends: products and the installed base, case coverage
//! (overlaps with the travel buffer, missing and expired credentials refused in the write),
//! the complaint reporting clock across weekends and its task, closed complaints fixed in the
//! store and the database, training sign-offs giving certificates and re-training tasks,
//! feedback votes, and who sees what (commercial users read only; another organization sees
//! nothing).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc, Weekday};
use clinbridge_core::device::{
    AttendeeInput, CaseInput, ComplaintInput, CourseInput, CredentialInput, FeedbackInput, InstallInput, ModuleInput,
    ProductInput, RequiredDocument, SignSide, TicketInput, TrainingInput,
};
use clinbridge_core::identity::{Email, Grant, NewPassword, Role, Scope, TimeZone};
use clinbridge_core::medical::{HcpInput, InstitutionInput};
use clinbridge_core::policy::Actor;
use clinbridge_store::device::{self, CaseFilter, ComplaintHandling, TicketFilter, VisitInput};
use clinbridge_store::identity::NewUser;
use clinbridge_store::{Acting, Backend, Store, StoreError, audit, demo, medical, tasks};
use clinbridge_testkit::{TestDb, both_backends};
use uuid::Uuid;

both_backends!(
    products_and_the_installed_base,
    overlapping_cases_are_refused_with_the_travel_buffer,
    missing_and_expired_credentials_are_refused,
    the_complaint_clock_skips_weekends_and_is_a_task,
    a_closed_complaint_is_immutable,
    signoffs_give_certificates_and_retraining_tasks,
    feedback_takes_one_vote_per_user,
    commercial_users_read_but_do_not_write,
    another_organization_sees_nothing,
    the_week_plan_and_the_dashboard,
    courses_complete_with_their_modules_and_earn_credits,
    the_demo_has_a_device_team
);

struct Team {
    spec: Acting,
    spec_id: Uuid,
    spec2: Acting,
    spec2_id: Uuid,
    commercial_id: Uuid,
    msl_id: Uuid,
    harbor: Uuid,
    lake: Uuid,
    surgeon: Uuid,
    valve: Uuid,
    catheter: Uuid,
}

async fn user(store: &Store, local: &str, name: &str, role: Role) -> Uuid {
    let email = Email::parse(&format!("{local}@example.org")).unwrap();
    let password = NewPassword::parse("a long test passphrase 2026", Some(&email)).unwrap();
    clinbridge_store::identity::create_user(
        store,
        &Acting::system(),
        NewUser { email, name: name.into(), password, time_zone: TimeZone::parse("America/Chicago").unwrap() },
        vec![Grant { role, scope: Scope::Organization }],
    )
    .await
    .unwrap()
    .id
}

async fn institution(store: &Store, name: &str) -> Uuid {
    medical::create_institution(
        store,
        &Acting::system(),
        InstitutionInput {
            name: name.into(),
            kind: "hospital".into(),
            city: "Springfield".into(),
            departments: vec!["Cardiology".into(), "Cath Lab".into()],
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .id
}

fn gtin(body13: &str) -> String {
    let d: Vec<u32> = body13.chars().filter_map(|c| c.to_digit(10)).collect();
    format!("{body13}{}", clinbridge_core::device::gtin_check_digit(&d))
}

async fn team(store: &Store) -> Team {
    clinbridge_store::identity::create_organization(store, &Acting::system(), "Valvena Medical").await.unwrap();
    let spec_id = user(store, "kenji", "Kenji Watanabe", Role::ClinicalSpecialist).await;
    let spec2_id = user(store, "ines", "Inés Moreau", Role::ClinicalSpecialist).await;
    let commercial_id = user(store, "jordan", "Jordan Ellis", Role::Commercial).await;
    let msl_id = user(store, "leila", "Dr. Leila Haddad", Role::Msl).await;
    let harbor = institution(store, "Harborview Medical Center").await;
    let lake = institution(store, "Lakeview Community Hospital").await;
    let surgeon = medical::create_hcp(
        store,
        &Acting::system(),
        HcpInput {
            npi: "1234567893".into(),
            first_name: "Amelia".into(),
            last_name: "Hart".into(),
            credentials: vec!["MD".into()],
            specialty: "Interventional Cardiology".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .id;
    let spec = Acting::user(spec_id, None);
    let valve = device::create_product(
        store,
        &spec,
        ProductInput {
            name: "Aurora TAV System".into(),
            model: "AV-26".into(),
            software_version: String::new(),
            udi_di: gtin("0088442210001"),
            certificate_months: Some(12),
        },
    )
    .await
    .unwrap()
    .id;
    let catheter = device::create_product(
        store,
        &spec,
        ProductInput {
            name: "Aurora Delivery Catheter".into(),
            model: "DC-14F".into(),
            software_version: String::new(),
            udi_di: gtin("0088442210002"),
            certificate_months: None,
        },
    )
    .await
    .unwrap()
    .id;
    Team {
        spec,
        spec_id,
        spec2: Acting::user(spec2_id, None),
        spec2_id,
        commercial_id,
        msl_id,
        harbor,
        lake,
        surgeon,
        valve,
        catheter,
    }
}

async fn actor(store: &Store, id: Uuid) -> Actor {
    clinbridge_store::identity::actor(store, id).await.unwrap()
}

fn today() -> NaiveDate {
    clinbridge_store::now().date_naive()
}

/// A day `days` from today at a UTC hour.
fn at(days: i64, hour: u32, minute: u32) -> DateTime<Utc> {
    (today() + Duration::days(days)).and_time(NaiveTime::from_hms_opt(hour, minute, 0).unwrap()).and_utc()
}

async fn credential(
    store: &Store,
    by: &Acting,
    user: Uuid,
    inst: Uuid,
    issued: i64,
    expires: i64,
) -> device::Credential {
    device::add_credential(
        store,
        by,
        CredentialInput {
            user_id: user,
            institution_id: inst,
            name: "Vendor credential".into(),
            documents: vec![
                RequiredDocument { name: "Influenza vaccination".into(), received: true },
                RequiredDocument { name: "Background check".into(), received: true },
            ],
            issued_on: Some(today() + Duration::days(issued)),
            expires_on: Some(today() + Duration::days(expires)),
        },
    )
    .await
    .unwrap()
}

fn case_input(t: &Team, inst: Uuid, starts_at: DateTime<Utc>, minutes: i64, specialist: Option<Uuid>) -> CaseInput {
    CaseInput {
        institution_id: inst,
        department: "Cath Lab".into(),
        surgeon_hcp_id: Some(t.surgeon),
        procedure_type: "TAVR".into(),
        starts_at,
        duration_minutes: minutes,
        product_ids: vec![t.valve, t.catheter],
        specialist_user_id: specialist,
        notes: String::new(),
    }
}

fn message(e: &StoreError) -> String {
    match e {
        StoreError::Conflict { field, message } => format!("{field}: {message}"),
        StoreError::Invalid(i) => i.to_string(),
        other => other.to_string(),
    }
}

fn field_of(e: &StoreError) -> String {
    match e {
        StoreError::Invalid(i) => i.0.iter().map(|f| f.field.clone()).collect::<Vec<_>>().join(","),
        StoreError::Conflict { field, .. } => field.clone(),
        other => format!("not invalid: {other}"),
    }
}

async fn raw(db: &TestDb, store: &Store, sql: String) -> Result<(), String> {
    match store.backend() {
        Backend::Sqlite => {
            let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&db.url).await.unwrap();
            sqlx::Executor::execute(&mut c, sqlx::AssertSqlSafe(sql)).await.map(|_| ()).map_err(|e| e.to_string())
        }
        Backend::Postgres => {
            let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url).await.unwrap();
            sqlx::Executor::execute(&mut c, sqlx::AssertSqlSafe(sql)).await.map(|_| ()).map_err(|e| e.to_string())
        }
    }
}

fn id_literal(store: &Store, id: Uuid) -> String {
    match store.backend() {
        Backend::Sqlite => format!("X'{}'", id.simple()),
        Backend::Postgres => format!("'{id}'"),
    }
}

async fn task_of(store: &Store, subject_type: &str, subject: Uuid, kind: &str) -> Option<tasks::Task> {
    tasks::open_for_subject(store, subject_type, &subject.to_string())
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.kind == kind)
}

fn noon(d: NaiveDate) -> DateTime<Utc> {
    d.and_time(NaiveTime::from_hms_opt(12, 0, 0).unwrap()).and_utc()
}

async fn products_and_the_installed_base(db: &TestDb) {
    let store = db.store().await;
    let t = team(&store).await;
    let e = device::create_product(
        &store,
        &t.spec,
        ProductInput { name: " ".into(), model: "X".into(), udi_di: "00884422100019".into(), ..Default::default() },
    )
    .await
    .unwrap_err();
    assert_eq!(field_of(&e), "name,udi_di");
    assert!(message(&e).contains("check digit"), "{}", message(&e));
    let e = device::create_product(
        &store,
        &t.spec,
        ProductInput { name: "Copy".into(), model: "X".into(), udi_di: gtin("0088442210001"), ..Default::default() },
    )
    .await
    .unwrap_err();
    assert_eq!(field_of(&e), "udi_di");
    let a = actor(&store, t.spec_id).await;
    let products = device::products(&store, &a).await.unwrap();
    assert_eq!(products.len(), 2);
    let catheter = products.iter().find(|p| p.id == t.catheter).unwrap();
    assert_eq!(catheter.certificate_months, 12, "the default validity");
    assert_eq!(catheter.udi_issuer, "gs1");

    let unit = device::install(
        &store,
        &t.spec,
        InstallInput {
            institution_id: t.harbor,
            department: "Cath Lab".into(),
            product_id: t.valve,
            serial: "av26-000123".into(),
            installed_on: Some(today() - Duration::days(200)),
            status: String::new(),
        },
    )
    .await
    .unwrap();
    assert_eq!(unit.serial, "AV26-000123");
    assert_eq!(unit.status, "active");
    assert_eq!(unit.institution_name, "Harborview Medical Center");
    let e = device::install(
        &store,
        &t.spec,
        InstallInput {
            institution_id: t.harbor,
            department: "Oncology".into(),
            product_id: t.valve,
            serial: "AV26-000124".into(),
            installed_on: Some(today()),
            status: String::new(),
        },
    )
    .await
    .unwrap_err();
    assert!(message(&e).contains("Oncology"), "{}", message(&e));
    let unit = device::set_install_status(&store, &t.spec, unit.id, "service").await.unwrap();
    assert_eq!(unit.status, "service");
    assert_eq!(device::installed_base(&store, &a, Some(t.harbor)).await.unwrap().len(), 1);
    assert!(device::installed_base(&store, &a, Some(t.lake)).await.unwrap().is_empty());
    assert_eq!(audit::verify(&store).await.unwrap().result, Ok(()));
}

async fn overlapping_cases_are_refused_with_the_travel_buffer(db: &TestDb) {
    let store = db.store().await;
    let t = team(&store).await;
    credential(&store, &t.spec, t.spec_id, t.harbor, -100, 300).await;
    credential(&store, &t.spec, t.spec_id, t.lake, -100, 300).await;
    let first = device::request_case(&store, &t.spec, case_input(&t, t.harbor, at(10, 14, 0), 120, Some(t.spec_id)))
        .await
        .unwrap();
    assert_eq!(first.status, "requested");
    // Starts 30 minutes after the first ends: inside the default 60-minute buffer.
    let e = device::request_case(&store, &t.spec, case_input(&t, t.lake, at(10, 16, 30), 90, Some(t.spec_id)))
        .await
        .unwrap_err();
    let m = message(&e);
    assert_eq!(field_of(&e), "specialist_user_id");
    assert!(m.contains(&first.id.to_string()), "names the case: {m}");
    assert!(m.contains("60-minute"), "{m}");
    assert!(m.contains("Harborview Medical Center"), "{m}");
    // A plain overlap is refused too, and an assignment of an existing case as well.
    assert!(
        device::request_case(&store, &t.spec, case_input(&t, t.lake, at(10, 15, 0), 60, Some(t.spec_id)))
            .await
            .is_err()
    );
    let later = device::request_case(&store, &t.spec, case_input(&t, t.lake, at(10, 16, 30), 90, None)).await.unwrap();
    let e = device::assign_case(&store, &t.spec, later.id, Some(t.spec_id)).await.unwrap_err();
    assert!(message(&e).contains(&first.id.to_string()));
    // One hour after: allowed; moving it back into the buffer is refused as well.
    let ok = device::request_case(&store, &t.spec, case_input(&t, t.lake, at(10, 17, 0), 60, Some(t.spec_id)))
        .await
        .unwrap();
    let e = device::reschedule_case(&store, &t.spec, ok.id, at(10, 16, 45), 60).await.unwrap_err();
    assert!(message(&e).contains(&first.id.to_string()), "{}", message(&e));
    let moved = device::reschedule_case(&store, &t.spec, ok.id, at(11, 17, 0), 60).await.unwrap();
    assert_eq!(moved.ends_at, at(11, 18, 0));
    let ok = device::reschedule_case(&store, &t.spec, ok.id, at(10, 17, 0), 60).await.unwrap();
    // A smaller buffer lets the 16:30 case in beside the first, but it now meets the 17:00 one.
    assert_eq!(device::set_travel_buffer(&store, &t.spec, 15).await.unwrap(), 15);
    assert_eq!(device::travel_buffer_minutes(&store, &actor(&store, t.spec_id).await).await.unwrap(), 15);
    let e = device::assign_case(&store, &t.spec, later.id, Some(t.spec_id)).await.unwrap_err();
    assert!(message(&e).contains(&ok.id.to_string()), "{}", message(&e));
    // A cancelled case frees the time.
    device::set_case_status(&store, &t.spec, ok.id, "cancelled", "Procedure postponed").await.unwrap();
    let later = device::assign_case(&store, &t.spec, later.id, Some(t.spec_id)).await.unwrap();
    assert_eq!(later.specialist_user_id, Some(t.spec_id));
    // States: confirm, and covered only once the procedure took place.
    let first = device::set_case_status(&store, &t.spec, first.id, "confirmed", "").await.unwrap();
    assert_eq!(first.status, "confirmed");
    let e = device::set_case_status(&store, &t.spec, first.id, "covered", "").await.unwrap_err();
    assert!(message(&e).contains("taken place"));
    let unassigned =
        device::request_case(&store, &t.spec, case_input(&t, t.lake, at(20, 14, 0), 60, None)).await.unwrap();
    let e = device::set_case_status(&store, &t.spec, unassigned.id, "confirmed", "").await.unwrap_err();
    assert_eq!(field_of(&e), "specialist_user_id");
    // A past case is covered with its outcome.
    let past = device::request_case(&store, &t.spec, case_input(&t, t.harbor, at(-3, 14, 0), 120, Some(t.spec_id)))
        .await
        .unwrap();
    device::set_case_status(&store, &t.spec, past.id, "confirmed", "").await.unwrap();
    let past = device::set_case_status(&store, &t.spec, past.id, "covered", "26 mm valve implanted, no complications")
        .await
        .unwrap();
    assert_eq!(past.status, "covered");
    assert!(device::set_case_status(&store, &t.spec, past.id, "cancelled", "").await.is_err());
    let mine = device::cases(
        &store,
        &actor(&store, t.spec_id).await,
        &CaseFilter { specialist_user_id: Some(t.spec_id), ..Default::default() },
    )
    .await
    .unwrap();
    assert!(mine.windows(2).all(|w| w[0].starts_at <= w[1].starts_at));
    let covered = CaseFilter { status: Some("covered".into()), institution_id: Some(t.harbor), ..Default::default() };
    let covered = device::cases(&store, &actor(&store, t.spec_id).await, &covered).await.unwrap();
    assert_eq!(covered.iter().map(|c| c.id).collect::<Vec<_>>(), vec![past.id]);
    assert_eq!(audit::verify(&store).await.unwrap().result, Ok(()));
}

async fn missing_and_expired_credentials_are_refused(db: &TestDb) {
    let store = db.store().await;
    let t = team(&store).await;
    let e = device::request_case(&store, &t.spec, case_input(&t, t.harbor, at(10, 14, 0), 60, Some(t.spec_id)))
        .await
        .unwrap_err();
    let m = message(&e);
    assert!(m.contains("Kenji Watanabe holds no credential at Harborview Medical Center"), "{m}");
    // Expires five days before the procedure.
    let c = credential(&store, &t.spec, t.spec_id, t.harbor, -300, 5).await;
    let e = device::request_case(&store, &t.spec, case_input(&t, t.harbor, at(10, 14, 0), 60, Some(t.spec_id)))
        .await
        .unwrap_err();
    let m = message(&e);
    let expired = today() + Duration::days(5);
    let procedure = today() + Duration::days(10);
    assert!(m.contains(&format!("expired on {expired}, before the procedure on {procedure}")), "{m}");
    assert!(m.contains("Vendor credential") && m.contains("Harborview"), "{m}");
    // Within it: allowed.
    device::request_case(&store, &t.spec, case_input(&t, t.harbor, at(2, 14, 0), 60, Some(t.spec_id))).await.unwrap();
    // The renewal task is due 30 days before expiry (already past here) on the specialist's queue.
    let task = task_of(&store, "device_credential", c.id, "device_credential_renewal").await.unwrap();
    assert_eq!(task.due_at, noon(expired - Duration::days(30)));
    assert_eq!(task.assignee_user_id, Some(t.spec_id));
    let a = actor(&store, t.spec_id).await;
    assert_eq!(
        device::credentials(&store, &a, Some(t.spec_id)).await.unwrap()[0].state(today()),
        device::CredentialState::Expiring
    );
    // A document not received keeps the credential from counting.
    let renewed = device::add_credential(
        &store,
        &t.spec,
        CredentialInput {
            user_id: t.spec_id,
            institution_id: t.harbor,
            name: "Vendor credential".into(),
            documents: vec![RequiredDocument { name: "TB test".into(), received: false }],
            issued_on: Some(today()),
            expires_on: Some(today() + Duration::days(365)),
        },
    )
    .await
    .unwrap();
    assert!(task_of(&store, "device_credential", c.id, "device_credential_renewal").await.is_none(), "renewed");
    let e = device::request_case(&store, &t.spec, case_input(&t, t.harbor, at(10, 14, 0), 60, Some(t.spec_id)))
        .await
        .unwrap_err();
    assert!(message(&e).contains("TB test"), "{}", message(&e));
    device::set_document_received(&store, &t.spec, renewed.id, "tb test", true).await.unwrap();
    device::request_case(&store, &t.spec, case_input(&t, t.harbor, at(10, 14, 0), 60, Some(t.spec_id))).await.unwrap();
    assert!(device::set_document_received(&store, &t.spec, renewed.id, "Passport", true).await.is_err());
    // A corrected expiry moves the renewal task.
    let fixed = device::update_credential(
        &store,
        &t.spec,
        renewed.id,
        CredentialInput {
            user_id: t.spec_id,
            institution_id: t.harbor,
            name: "Vendor credential".into(),
            documents: vec![RequiredDocument { name: "TB test".into(), received: true }],
            issued_on: Some(today()),
            expires_on: Some(today() + Duration::days(200)),
        },
    )
    .await
    .unwrap();
    let task = task_of(&store, "device_credential", fixed.id, "device_credential_renewal").await.unwrap();
    assert_eq!(task.due_at, noon(today() + Duration::days(170)));
}

/// The latest day more than a week back falling on a weekday.
fn past(weekday: Weekday) -> NaiveDate {
    let mut d = today() - Duration::days(8);
    while d.weekday() != weekday {
        d -= Duration::days(1);
    }
    d
}

async fn complaint(store: &Store, t: &Team, aware_on: NaiveDate) -> device::Complaint {
    let ticket = device::open_ticket(
        store,
        &t.spec,
        TicketInput {
            institution_id: t.harbor,
            product_id: t.catheter,
            serial_or_lot: "LOT-2291".into(),
            description: "Delivery catheter tip separated during withdrawal.".into(),
        },
    )
    .await
    .unwrap();
    device::log_troubleshooting(store, &t.spec, ticket.id, "Inspected returned catheter; tip bond failed.")
        .await
        .unwrap();
    device::escalate_to_complaint(
        store,
        &t.spec,
        ticket.id,
        ComplaintInput {
            device_name: "Aurora Delivery Catheter DC-14F".into(),
            udi: format!("(01){}(10)LOT-2291", gtin("0088442210002")),
            received_on: Some(aware_on),
            aware_on: Some(aware_on),
            complainant_name: "Nora Quinn, RN".into(),
            complainant_contact: "nora.quinn@harborview.example".into(),
            nature: "Device separation".into(),
            details: "Tip separated; retrieved with a snare, no patient injury.".into(),
        },
    )
    .await
    .unwrap()
}

async fn the_complaint_clock_skips_weekends_and_is_a_task(db: &TestDb) {
    let store = db.store().await;
    let t = team(&store).await;
    let a = actor(&store, t.spec_id).await;
    for (weekday, due_offset) in [(Weekday::Thu, 7), (Weekday::Fri, 7), (Weekday::Sat, 6)] {
        let aware = past(weekday);
        let c = complaint(&store, &t, aware).await;
        let c = device::decide_reportability(&store, &t.spec, c.id, "malfunction", true, "").await.unwrap();
        let due = aware + Duration::days(due_offset);
        assert_eq!(c.report_due_on, Some(due), "{weekday:?}");
        assert_eq!(c.report_clock.as_deref(), Some("5_work_days"));
        let task = task_of(&store, "device_complaint", c.id, "device_complaint_report").await.unwrap();
        assert_eq!(task.due_at, noon(due));
        let standing = c.standing(today()).unwrap();
        assert_eq!(standing.days_remaining, (due - today()).num_days());
        assert!(standing.overdue, "a week on, five work days have passed");
        // Without remedial action: 30 calendar days, and the task moves.
        let c = device::decide_reportability(&store, &t.spec, c.id, "malfunction", false, "").await.unwrap();
        assert_eq!(c.report_due_on, Some(aware + Duration::days(30)));
        let task = task_of(&store, "device_complaint", c.id, "device_complaint_report").await.unwrap();
        assert_eq!(task.due_at, noon(aware + Duration::days(30)));
    }
    let deadlines = device::complaint_deadlines(&store, &a, today(), true).await.unwrap();
    assert_eq!(deadlines.len(), 3);
    assert!(deadlines.windows(2).all(|w| w[0].standing.unwrap().due_on <= w[1].standing.unwrap().due_on));
    // Not reportable cancels the task; the rationale is required.
    let c = deadlines[0].complaint.clone();
    let e = device::decide_reportability(&store, &t.spec, c.id, "not_reportable", false, "").await.unwrap_err();
    assert_eq!(field_of(&e), "rationale");
    let c =
        device::decide_reportability(&store, &t.spec, c.id, "not_reportable", false, "No injury; retrieved intact.")
            .await
            .unwrap();
    assert_eq!(c.report_due_on, None);
    assert!(task_of(&store, "device_complaint", c.id, "device_complaint_report").await.is_none());
    // Reporting closes the task.
    let other = deadlines[1].complaint.clone();
    let other = device::mark_reported(&store, &t.spec, other.id, today()).await.unwrap();
    assert!(other.standing(today()).unwrap().reported);
    assert!(task_of(&store, "device_complaint", other.id, "device_complaint_report").await.is_none());
    assert_eq!(audit::verify(&store).await.unwrap().result, Ok(()));
}

async fn a_closed_complaint_is_immutable(db: &TestDb) {
    let store = db.store().await;
    let t = team(&store).await;
    let c = complaint(&store, &t, today() - Duration::days(2)).await;
    let e = device::close_complaint(&store, &t.spec, c.id).await.unwrap_err();
    assert_eq!(field_of(&e), "investigation,reply,reportability");
    device::record_handling(
        &store,
        &t.spec,
        c.id,
        ComplaintHandling {
            investigation: Some("Bond strength of lot 2291 tested; within specification.".into()),
            reply: Some("Letter to the complainant with the findings.".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    device::decide_reportability(&store, &t.spec, c.id, "serious_injury", false, "").await.unwrap();
    let e = device::close_complaint(&store, &t.spec, c.id).await.unwrap_err();
    assert_eq!(field_of(&e), "reported_on");
    device::mark_reported(&store, &t.spec, c.id, today()).await.unwrap();
    let closed = device::close_complaint(&store, &t.spec, c.id).await.unwrap();
    assert!(closed.is_closed());
    // The store refuses any change.
    for e in [
        device::record_handling(
            &store,
            &t.spec,
            c.id,
            ComplaintHandling { reply: Some("x".into()), ..Default::default() },
        )
        .await
        .unwrap_err(),
        device::decide_reportability(&store, &t.spec, c.id, "death", false, "").await.unwrap_err(),
        device::close_complaint(&store, &t.spec, c.id).await.unwrap_err(),
    ] {
        assert!(message(&e).contains("closed"), "{}", message(&e));
    }
    // So does the database.
    let id = id_literal(&store, c.id);
    let e =
        raw(db, &store, format!("UPDATE device_complaints SET reply = 'changed' WHERE id = {id}")).await.unwrap_err();
    assert!(e.contains("a closed complaint does not change"), "{e}");
    assert!(raw(db, &store, format!("DELETE FROM device_complaints WHERE id = {id}")).await.is_err());
    assert!(raw(db, &store, "DELETE FROM device_ticket_entries".into()).await.is_err(), "the log is append-only");
    let a = actor(&store, t.spec_id).await;
    assert_eq!(
        device::complaint(&store, &a, c.id).await.unwrap().reply,
        "Letter to the complainant with the findings."
    );
    // The ticket closes once its complaint has.
    let ticket = device::set_ticket_status(&store, &t.spec, c.ticket_id, "resolved", "Lot quarantined").await.unwrap();
    assert_eq!(ticket.status, "resolved");
    device::set_ticket_status(&store, &t.spec, c.ticket_id, "closed", "").await.unwrap();
    let detail = device::ticket(&store, &a, c.ticket_id).await.unwrap();
    assert_eq!(detail.log.len(), 1);
    assert_eq!(detail.log[0].author_name.as_deref(), Some("Kenji Watanabe"));
    assert!(detail.complaint.is_some());
    assert!(device::log_troubleshooting(&store, &t.spec, c.ticket_id, "More").await.is_err());
    let closed = TicketFilter { status: Some("closed".into()), product_id: Some(t.catheter), ..Default::default() };
    assert_eq!(device::tickets(&store, &a, &closed).await.unwrap().len(), 1);
    assert!(
        device::tickets(&store, &a, &TicketFilter { open_only: true, ..Default::default() }).await.unwrap().is_empty()
    );
}

async fn signoffs_give_certificates_and_retraining_tasks(db: &TestDb) {
    let store = db.store().await;
    let t = team(&store).await;
    let held = today() - Duration::days(1);
    let tr = device::record_training(
        &store,
        &t.spec,
        TrainingInput {
            institution_id: t.harbor,
            department: "Cath Lab".into(),
            product_id: t.valve,
            competencies: vec!["Valve crimping and loading".into(), "Deployment sequence".into()],
            held_on: Some(held),
            trainer_user_id: None,
            attendees: vec![
                AttendeeInput { name: "Nora Quinn".into(), role: "Cath lab RN".into(), email: String::new() },
                AttendeeInput {
                    name: "Sam Ortiz".into(),
                    role: "Technologist".into(),
                    email: "sam@harbor.example".into(),
                },
            ],
            validity_months: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(tr.validity_months, 12);
    assert_eq!(tr.trainer_user_id, t.spec_id);
    let a = actor(&store, t.spec_id).await;
    let detail = device::training(&store, &a, tr.id).await.unwrap();
    let nora = detail.attendees.iter().find(|x| x.name == "Nora Quinn").unwrap().id;
    let sam = detail.attendees.iter().find(|x| x.name == "Sam Ortiz").unwrap().id;
    let comps = ["Valve crimping and loading", "Deployment sequence"];
    // Only the trainer signs for the trainer.
    let e =
        device::sign_competency(&store, &t.spec2, nora, comps[0], SignSide::Trainer, "Inés Moreau").await.unwrap_err();
    assert_eq!(field_of(&e), "side");
    let e = device::sign_competency(&store, &t.spec, nora, "Suturing", SignSide::Trainer, "Kenji Watanabe")
        .await
        .unwrap_err();
    assert_eq!(field_of(&e), "competency");
    let n =
        device::sign_competency(&store, &t.spec, nora, comps[0], SignSide::Trainer, "Kenji Watanabe").await.unwrap();
    assert_eq!(n.certificate_expires_on, None);
    device::sign_competency(&store, &t.spec, nora, comps[0], SignSide::Trainee, "Nora Quinn").await.unwrap();
    let e =
        device::sign_competency(&store, &t.spec, nora, comps[0], SignSide::Trainee, "Nora Quinn").await.unwrap_err();
    assert_eq!(field_of(&e), "side");
    device::sign_competency(&store, &t.spec, nora, comps[1], SignSide::Trainee, "Nora Quinn").await.unwrap();
    let n =
        device::sign_competency(&store, &t.spec, nora, comps[1], SignSide::Trainer, "Kenji Watanabe").await.unwrap();
    let expiry = today().checked_add_months(chrono::Months::new(12)).unwrap();
    assert_eq!(n.certificate_expires_on, Some(expiry));
    let task = tasks::open_for_subject(&store, "device_training", &tr.id.to_string())
        .await
        .unwrap()
        .into_iter()
        .find(|x| x.kind == "device_retraining" && x.title.contains("Nora Quinn"))
        .unwrap();
    assert_eq!(task.due_at, noon(expiry - Duration::days(30)));
    assert_eq!(task.assignee_user_id, Some(t.spec_id));
    // Sam signed one competency of two: half of the account's pairs... three of four signed.
    device::sign_competency(&store, &t.spec, sam, comps[0], SignSide::Trainer, "Kenji Watanabe").await.unwrap();
    device::sign_competency(&store, &t.spec, sam, comps[0], SignSide::Trainee, "Sam Ortiz").await.unwrap();
    let cov = device::competency_coverage(&store, &a, today()).await.unwrap();
    assert_eq!(cov.len(), 1);
    assert_eq!((cov[0].taught, cov[0].signed, cov[0].certified), (4, 3, 1));
    assert!((cov[0].share() - 0.75).abs() < 1e-9);
    // A signature stays as signed, in the database too.
    let e = raw(db, &store, "UPDATE device_signoffs SET trainee_name = 'Someone else'".into()).await.unwrap_err();
    assert!(e.contains("does not change once signed"), "{e}");
    assert_eq!(audit::verify(&store).await.unwrap().result, Ok(()));
}

async fn feedback_takes_one_vote_per_user(db: &TestDb) {
    let store = db.store().await;
    let t = team(&store).await;
    let f = device::submit_feedback(
        &store,
        &t.spec,
        FeedbackInput {
            institution_id: t.harbor,
            product_id: t.valve,
            category: "usability".into(),
            text: "Crimping tool is hard to read under cath lab lighting.".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!((f.status.as_str(), f.votes), ("new", 0));
    assert_eq!(device::vote(&store, &t.spec, f.id).await.unwrap().votes, 1);
    let e = device::vote(&store, &t.spec, f.id).await.unwrap_err();
    assert_eq!(field_of(&e), "vote");
    assert_eq!(device::vote(&store, &t.spec2, f.id).await.unwrap().votes, 2);
    let e = device::submit_feedback(
        &store,
        &t.spec,
        FeedbackInput { institution_id: t.harbor, product_id: t.valve, category: "colour".into(), text: String::new() },
    )
    .await
    .unwrap_err();
    assert_eq!(field_of(&e), "category,text");
    device::submit_feedback(
        &store,
        &t.spec2,
        FeedbackInput {
            institution_id: t.lake,
            product_id: t.valve,
            category: "usability".into(),
            text: "Loading steps card should fit on one page.".into(),
        },
    )
    .await
    .unwrap();
    device::set_feedback_status(&store, &t.spec, f.id, "planned").await.unwrap();
    let a = actor(&store, t.commercial_id).await;
    let board = device::feedback_board(&store, &a).await.unwrap();
    assert_eq!(board.len(), 1);
    assert_eq!((board[0].items, board[0].votes, board[0].open_items), (2, 2, 2));
    assert_eq!(device::feedback(&store, &a, Some(t.valve)).await.unwrap()[0].id, f.id);
}

async fn commercial_users_read_but_do_not_write(db: &TestDb) {
    let store = db.store().await;
    let t = team(&store).await;
    let commercial = Acting::user(t.commercial_id, None);
    let a = actor(&store, t.commercial_id).await;
    assert_eq!(device::products(&store, &a).await.unwrap().len(), 2);
    let e = device::create_product(
        &store,
        &commercial,
        ProductInput { name: "X".into(), model: "Y".into(), udi_di: gtin("0088442210009"), ..Default::default() },
    )
    .await
    .unwrap_err();
    assert!(matches!(e, StoreError::Refused(_)), "{e}");
    assert!(device::set_travel_buffer(&store, &commercial, 30).await.is_err());
    assert!(
        device::open_ticket(
            &store,
            &commercial,
            TicketInput {
                institution_id: t.harbor,
                product_id: t.valve,
                serial_or_lot: "A1".into(),
                description: "x".into()
            }
        )
        .await
        .is_err()
    );
    // Medical roles have no device access at all.
    let msl = actor(&store, t.msl_id).await;
    assert!(matches!(device::products(&store, &msl).await.unwrap_err(), StoreError::Refused(_)));
    let e = device::set_travel_buffer(&store, &Acting::user(t.msl_id, None), 30).await.unwrap_err();
    assert!(matches!(e, StoreError::Refused(_)));
    assert_eq!(device::products(&store, &actor(&store, t.spec2_id).await).await.unwrap().len(), 2);
    let names: Vec<_> = device::specialists(&store, &a).await.unwrap().into_iter().map(|s| s.name).collect();
    assert_eq!(names, vec!["Inés Moreau", "Kenji Watanabe"]);
}

async fn another_organization_sees_nothing(db: &TestDb) {
    let store = db.store().await;
    let t = team(&store).await;
    credential(&store, &t.spec, t.spec_id, t.harbor, -10, 300).await;
    let k = device::request_case(&store, &t.spec, case_input(&t, t.harbor, at(5, 14, 0), 60, Some(t.spec_id)))
        .await
        .unwrap();
    let other_org =
        clinbridge_store::identity::create_organization(&store, &Acting::system(), "Rival Devices").await.unwrap();
    let outsider = user(&store, "outsider", "Olga Outsider", Role::ClinicalSpecialist).await;
    raw(
        db,
        &store,
        format!(
            "UPDATE users SET org_id = {} WHERE id = {}",
            id_literal(&store, other_org),
            id_literal(&store, outsider)
        ),
    )
    .await
    .unwrap();
    let a = actor(&store, outsider).await;
    assert!(device::products(&store, &a).await.unwrap().is_empty());
    assert!(matches!(device::product(&store, &a, t.valve).await.unwrap_err(), StoreError::NotFound(_)));
    assert!(matches!(device::case(&store, &a, k.id).await.unwrap_err(), StoreError::NotFound(_)));
    assert!(device::cases(&store, &a, &CaseFilter::default()).await.unwrap().is_empty());
    assert!(device::credentials(&store, &a, None).await.unwrap().is_empty());
    assert!(device::tickets(&store, &a, &TicketFilter::default()).await.unwrap().is_empty());
    assert!(device::feedback_board(&store, &a).await.unwrap().is_empty());
    // Nor can they act on the first organization's records or people.
    let out = Acting::user(outsider, None);
    assert!(matches!(
        device::set_case_status(&store, &out, k.id, "cancelled", "").await.unwrap_err(),
        StoreError::NotFound(_)
    ));
    let e = device::request_case(&store, &t.spec, case_input(&t, t.harbor, at(6, 14, 0), 60, Some(outsider)))
        .await
        .unwrap_err();
    assert_eq!(field_of(&e), "specialist_user_id");
    // Their own product is theirs alone.
    device::create_product(
        &store,
        &out,
        ProductInput {
            name: "Rival valve".into(),
            model: "R1".into(),
            udi_di: gtin("0088442210001"),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(device::products(&store, &a).await.unwrap().len(), 1);
    assert_eq!(device::products(&store, &actor(&store, t.spec_id).await).await.unwrap().len(), 2);
}

async fn the_week_plan_and_the_dashboard(db: &TestDb) {
    let store = db.store().await;
    let t = team(&store).await;
    credential(&store, &t.spec, t.spec_id, t.harbor, -10, 300).await;
    device::set_territory(&store, &t.spec, t.spec_id, vec![t.harbor, t.lake]).await.unwrap();
    // Next week, Monday to Sunday in Chicago.
    let mut monday = today() + Duration::days(7);
    while monday.weekday() != Weekday::Mon {
        monday -= Duration::days(1);
    }
    let day =
        |n: i64, h: u32| (monday + Duration::days(n)).and_time(NaiveTime::from_hms_opt(h, 0, 0).unwrap()).and_utc();
    let k = device::request_case(&store, &t.spec, case_input(&t, t.harbor, day(2, 15), 120, Some(t.spec_id)))
        .await
        .unwrap();
    let v1 = device::plan_visit(
        &store,
        &t.spec,
        VisitInput {
            specialist_user_id: t.spec_id,
            institution_id: t.lake,
            planned_at: day(1, 16),
            duration_minutes: 60,
            purpose: "Quarterly business review".into(),
        },
    )
    .await
    .unwrap();
    device::plan_visit(
        &store,
        &t.spec,
        VisitInput {
            specialist_user_id: t.spec_id,
            institution_id: t.lake,
            planned_at: day(9, 16),
            duration_minutes: 60,
            purpose: "Outside the week".into(),
        },
    )
    .await
    .unwrap();
    let a = actor(&store, t.commercial_id).await;
    let plan = device::week_plan(&store, &a, t.spec_id, monday).await.unwrap();
    assert_eq!(plan.len(), 2);
    assert!(matches!(&plan[0], device::PlanItem::Visit(v) if v.id == v1.id));
    assert!(matches!(&plan[1], device::PlanItem::Case(c) if c.id == k.id));
    assert_eq!(plan[1].title(), "TAVR — Harborview Medical Center");
    let tz: chrono_tz::Tz = "America/Chicago".parse().unwrap();
    let events: Vec<_> = plan.iter().map(|p| p.ical_event("clinbridge.test", tz)).collect();
    let feed = clinbridge_interop::ical::calendar("Kenji Watanabe", &events, clinbridge_store::now());
    assert!(feed.contains(&format!("UID:device-case-{}@clinbridge.test", k.id)), "{feed}");
    assert!(feed.contains("LOCATION:Lakeview Community Hospital"), "{feed}");
    let terr = device::territory(&store, &a, t.spec_id).await.unwrap();
    let lake = terr.iter().find(|x| x.institution_id == t.lake).unwrap();
    assert_eq!(lake.next_visit_at, Some(v1.planned_at));
    assert_eq!(lake.last_visit_at, None);
    // A past case covered, a visit done.
    let past = device::request_case(&store, &t.spec, case_input(&t, t.harbor, at(-2, 14, 0), 60, Some(t.spec_id)))
        .await
        .unwrap();
    device::set_case_status(&store, &t.spec, past.id, "confirmed", "").await.unwrap();
    device::set_case_status(&store, &t.spec, past.id, "covered", "Uneventful").await.unwrap();
    device::complete_visit(&store, &t.spec, v1.id, "Reviewed utilisation").await.unwrap();
    let d = device::dashboard(&store, &a, t.spec_id, today() - Duration::days(30), today(), today()).await.unwrap();
    assert_eq!(d.cases_covered, 1);
    assert_eq!(d.cases_upcoming, 1);
    assert_eq!(d.open_tickets, 0);
    assert!(d.complaints.is_empty());
}

async fn the_demo_has_a_device_team(db: &TestDb) {
    let store = db.store().await;
    let world = demo::seed(&store).await.unwrap();
    let d = &world.device;
    let a = actor(&store, d.specialists[0]).await;
    assert_eq!(d.specialists.len(), 2);
    assert!(device::products(&store, &a).await.unwrap().len() >= 3);
    assert!(device::installed_base(&store, &a, None).await.unwrap().len() >= 5);
    let creds = device::credentials(&store, &a, None).await.unwrap();
    let states: Vec<_> = creds.iter().map(|c| c.state(today())).collect();
    assert!(states.contains(&device::CredentialState::Expired));
    assert!(states.contains(&device::CredentialState::Expiring));
    let cases = device::cases(&store, &a, &CaseFilter::default()).await.unwrap();
    assert!(cases.iter().any(|c| c.status == "covered"));
    assert!(cases.iter().any(|c| c.status == "confirmed" && c.starts_at > clinbridge_store::now()));
    let deadlines = device::complaint_deadlines(&store, &a, today(), true).await.unwrap();
    let near = deadlines.iter().find(|x| x.complaint.id == d.urgent_complaint).unwrap().standing.unwrap();
    assert!((1..=5).contains(&near.days_remaining), "{near:?}");
    assert!(!near.overdue);
    assert!(!device::feedback_board(&store, &a).await.unwrap().is_empty());
    let enrolled = device::enrollments(&store, &a, None).await.unwrap();
    assert!(enrolled.iter().any(|e| e.completed_at.is_some() && e.credits_earned > 0.0));
    assert!(enrolled.iter().any(|e| e.completed_at.is_none() && e.modules_done > 0));
    assert!(!device::competency_coverage(&store, &a, today()).await.unwrap().is_empty());
    assert!(world.logins.iter().filter(|l| l.role == Role::ClinicalSpecialist).count() >= 2);
    // Kenji's dashboard over the last quarter and his next two weeks.
    let dash =
        device::dashboard(&store, &a, d.specialists[0], today() - Duration::days(90), today(), today()).await.unwrap();
    assert_eq!(dash.cases_covered, 2);
    assert_eq!(dash.cases_upcoming, 2);
    assert_eq!((dash.trainings_delivered, dash.staff_trained), (1, 3));
    assert!(dash.open_tickets >= 2);
    assert!(dash.complaints.iter().any(|c| c.complaint.id == d.urgent_complaint));
    assert!(dash.coverage.iter().any(|c| c.signed > 0 && c.signed < c.taught));
    let mut monday = today();
    while monday.weekday() != Weekday::Mon {
        monday -= Duration::days(1);
    }
    let weeks = [
        device::week_plan(&store, &a, d.specialists[0], monday).await.unwrap(),
        device::week_plan(&store, &a, d.specialists[0], monday + Duration::days(7)).await.unwrap(),
    ];
    assert!(weeks.iter().map(Vec::len).sum::<usize>() >= 2);
    assert!(weeks.iter().all(|w| w.windows(2).all(|p| p[0].starts_at() <= p[1].starts_at())));
    assert_eq!(device::territory(&store, &a, d.specialists[0]).await.unwrap().len(), 3);
    assert_eq!(audit::verify(&store).await.unwrap().result, Ok(()));
}

async fn courses_complete_with_their_modules_and_earn_credits(db: &TestDb) {
    let store = db.store().await;
    let t = team(&store).await;
    let course = device::create_course(
        &store,
        &t.spec,
        CourseInput {
            title: "Aurora TAVR fundamentals".into(),
            description: "For cath lab staff new to the system.".into(),
            product_id: Some(t.valve),
            credits: 1.5,
            modules: vec![
                ModuleInput { title: "Aortic stenosis and patient selection".into(), minutes: 30 },
                ModuleInput { title: "Valve preparation".into(), minutes: 45 },
            ],
        },
    )
    .await
    .unwrap();
    let other = device::create_course(
        &store,
        &t.spec,
        CourseInput {
            title: "Console basics".into(),
            credits: 0.5,
            modules: vec![ModuleInput { title: "Start-up".into(), minutes: 15 }],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let a = actor(&store, t.commercial_id).await;
    let detail = device::course(&store, &a, course.id).await.unwrap();
    assert_eq!(detail.modules.iter().map(|m| m.position).collect::<Vec<_>>(), vec![1, 2]);
    let e = device::enroll(
        &store,
        &t.spec,
        course.id,
        t.harbor,
        AttendeeInput { name: "Nora Quinn".into(), role: "Cath lab RN".into(), email: String::new() },
    )
    .await
    .unwrap();
    assert_eq!((e.modules_done, e.modules_total, e.credits_earned), (0, 2, 0.0));
    assert!(
        device::enroll(
            &store,
            &t.spec,
            course.id,
            t.harbor,
            AttendeeInput { name: "Nora Quinn".into(), ..Default::default() }
        )
        .await
        .is_err()
    );
    let wrong = device::course(&store, &a, other.id).await.unwrap().modules[0].id;
    let err = device::complete_module(&store, &t.spec, e.id, wrong).await.unwrap_err();
    assert_eq!(field_of(&err), "module_id");
    let e1 = device::complete_module(&store, &t.spec, e.id, detail.modules[0].id).await.unwrap();
    assert_eq!((e1.modules_done, e1.completed_at.is_some()), (1, false));
    let err = device::complete_module(&store, &t.spec, e.id, detail.modules[0].id).await.unwrap_err();
    assert_eq!(field_of(&err), "module_id");
    let e2 = device::complete_module(&store, &t.spec, e.id, detail.modules[1].id).await.unwrap();
    assert!(e2.completed_at.is_some());
    assert!((e2.credits_earned - 1.5).abs() < 1e-9);
    let all = device::enrollments(&store, &a, Some(t.harbor)).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(audit::verify(&store).await.unwrap().result, Ok(()));
}
