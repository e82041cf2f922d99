//! Consent documents, paper and kiosk consent, countersignature and re-consent, on both
//! backends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::NaiveDate;
use clinbridge_core::consent::{DocumentInput, EventInput, Question};
use clinbridge_core::identity::{Code, Role};
use clinbridge_core::participants::Status;
use clinbridge_core::trials::{Duty, StudyStatus};
use clinbridge_store::consent::{self, RecordConsent};
use clinbridge_store::participants::{self, NewParticipant};
use clinbridge_store::{Acting, Backend, Store, audit, demo, identity, signatures, tasks, trials};
use clinbridge_testkit::{TestDb, both_backends};
use uuid::Uuid;

both_backends!(
    consent_follows_versions_duties_and_answers,
    econsent_on_the_kiosk_is_snapshotted_and_countersigned,
    the_demo_has_two_versions_and_pending_reconsents
);

fn today() -> NaiveDate {
    clinbridge_testkit::boston_today()
}

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj << >> endobj\n%%EOF\n";

fn doc(version: &str, effective: NaiveDate) -> DocumentInput {
    DocumentInput {
        version_label: version.into(),
        language: "en".into(),
        title: "Main consent".into(),
        irb_approved_on: Some(effective - chrono::Duration::days(5)),
        effective_on: Some(effective),
        body: format!("# Purpose\n\nVersion {version} of the text."),
        questions: vec![Question { text: "Can you leave at any time?".into(), expected: true }],
        witness_required: false,
    }
}

fn paper(answer: bool) -> EventInput {
    EventInput {
        method: "paper".into(),
        signer: "participant".into(),
        signer_name: "Rosa Lind".into(),
        answers: vec![Some(answer)],
        copy_provided: Some(true),
        ..Default::default()
    }
}

/// An enrolling study at Boston where the demo coordinator is delegated to obtain consent.
async fn study(store: &Store, world: &demo::DemoWorld) -> Uuid {
    let admin = world.admin.clone();
    let s = trials::create_study(store, &admin, Code::parse("code", "CONS-1").unwrap(), trials::minimal("Consent"))
        .await
        .unwrap();
    trials::set_status(store, &admin, s.id, StudyStatus::Approved, None).await.unwrap();
    trials::set_status(store, &admin, s.id, StudyStatus::Enrolling, None).await.unwrap();
    let bos = world.sites.iter().find(|x| x.code == "BOS").unwrap().id;
    let pi = world.users[&Role::Investigator];
    let d = today() - chrono::Duration::days(60);
    trials::add_study_site(
        store,
        &admin,
        s.id,
        bos,
        trials::StudySiteInput {
            pi_user_id: Some(pi),
            irb_name: "Harborview IRB".into(),
            irb_approved_on: Some(d),
            irb_expires_on: Some(today() + chrono::Duration::days(300)),
            activated_on: Some(d),
            target_enrollment: 50,
        },
    )
    .await
    .unwrap();
    let e = trials::add_delegation(
        store,
        &admin,
        s.id,
        bos,
        trials::NewDelegation {
            user_id: world.users[&Role::Coordinator],
            study_role: "Coordinator".into(),
            duties: vec![Duty::ObtainConsent],
            start_on: d,
            end_on: None,
        },
    )
    .await
    .unwrap();
    trials::sign_delegation(store, &Acting::user(pi, None), e.id, demo::DEMO_PASSWORD).await.unwrap();
    s.id
}

async fn screening(store: &Store, world: &demo::DemoWorld, study: Uuid) -> Uuid {
    let bos = world.sites.iter().find(|x| x.code == "BOS").unwrap().id;
    let by = Acting::user(world.users[&Role::Coordinator], None);
    let on = today() - chrono::Duration::days(3);
    participants::register(store, &by, study, bos, NewParticipant { status: Status::Screening, on, contact: None })
        .await
        .unwrap()
        .id
}

/// Whether the database itself refuses a statement run outside the store's rules.
async fn refused_by_the_database(db: &TestDb, store: &Store, sql: &'static str) -> bool {
    match store.backend() {
        Backend::Sqlite => {
            let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&db.url).await.unwrap();
            sqlx::Executor::execute(&mut c, sql).await.is_err()
        }
        Backend::Postgres => {
            let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url).await.unwrap();
            sqlx::Executor::execute(&mut c, sql).await.is_err()
        }
    }
}

async fn open_tasks(store: &Store, user: Uuid) -> Vec<tasks::Task> {
    tasks::queue(store, &identity::actor(store, user).await.unwrap(), 500).await.unwrap()
}

async fn consent_follows_versions_duties_and_answers(db: &TestDb) {
    let store = db.store().await;
    let world = demo::seed(&store).await.unwrap();
    let coordinator = world.users[&Role::Coordinator];
    let by = Acting::user(coordinator, None);
    let s = study(&store, &world).await;
    // A document must be a PDF and effective only after its IRB approval.
    let e = consent::add_document(
        &store,
        &world.admin,
        s,
        doc("1.0", today() - chrono::Duration::days(30)),
        "x.pdf",
        b"hello".to_vec(),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("not a PDF"), "{e}");
    let mut early = doc("1.0", today());
    early.irb_approved_on = Some(today() + chrono::Duration::days(1));
    assert!(consent::add_document(&store, &world.admin, s, early, "x.pdf", PDF.to_vec()).await.is_err());
    let v1 = consent::add_document(
        &store,
        &world.admin,
        s,
        doc("1.0", today() - chrono::Duration::days(30)),
        "ICF v1.pdf",
        PDF.to_vec(),
    )
    .await
    .unwrap();
    assert_eq!(v1.pdf_sha256, clinbridge_core::consent::sha256_hex(PDF));
    assert_eq!(consent::document_pdf(&store, v1.id).await.unwrap(), ("ICF v1.pdf".to_string(), PDF.to_vec()));

    let p = screening(&store, &world, s).await;
    let rec = |obtained_by: Uuid, document_id: Uuid, event: EventInput| RecordConsent {
        document_id,
        consented_at: clinbridge_store::now(),
        obtained_by,
        event,
    };
    // The person obtaining consent must hold the duty; every answer must show understanding.
    let dm = world.users[&Role::DataManager];
    let e = consent::record(&store, &by, p, rec(dm, v1.id, paper(true))).await.unwrap_err();
    assert!(e.to_string().contains("obtained_by") && e.to_string().contains("no duty to obtain"), "{e}");
    let e = consent::record(&store, &by, p, rec(coordinator, v1.id, paper(false))).await.unwrap_err();
    assert!(e.to_string().contains("answers.0") && e.to_string().contains("explain it again"), "{e}");
    let mut kiosk = paper(true);
    kiosk.method = "electronic".into();
    assert!(consent::record(&store, &by, p, rec(coordinator, v1.id, kiosk)).await.is_err());
    assert_eq!(participants::participant(&store, p).await.unwrap().status(), Status::Screening);
    // Recorded: the participant is consented in the same step.
    let ev = consent::record(&store, &by, p, rec(coordinator, v1.id, paper(true))).await.unwrap();
    assert_eq!((ev.kind.as_str(), ev.status.as_str(), ev.version_label.as_str()), ("initial", "complete", "1.0"));
    let part = participants::participant(&store, p).await.unwrap();
    assert_eq!(part.status(), Status::Consented);
    assert!(part.consented_on.is_some());
    assert_eq!(consent::events(&store, p).await.unwrap().len(), 1);
    assert!(consent::reconsent_due(&store, p).await.unwrap().is_none());
    let e = consent::record(&store, &by, p, rec(coordinator, v1.id, paper(true))).await.unwrap_err();
    assert!(e.to_string().contains("already consented"), "{e}");

    // A new version must take effect after the open one; it retires the old one that day.
    let e = consent::add_document(
        &store,
        &world.admin,
        s,
        doc("2.0", today() - chrono::Duration::days(40)),
        "v2.pdf",
        PDF.to_vec(),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("effective_on"), "{e}");
    let v2 = consent::add_document(&store, &world.admin, s, doc("2.0", today()), "v2.pdf", PDF.to_vec()).await.unwrap();
    let docs = consent::documents(&store, s).await.unwrap();
    assert_eq!(docs.iter().find(|d| d.id == v1.id).unwrap().retired_on, Some(today()));
    // The participant on version 1 now has a re-consent task.
    let due = consent::reconsent_due(&store, p).await.unwrap().unwrap();
    assert_eq!(due.current.id, v2.id);
    let q = open_tasks(&store, coordinator).await;
    assert!(q.iter().any(|t| t.kind == "reconsent" && t.subject_id == p.to_string()), "{q:?}");
    // Version 1 is no longer in effect; re-consent to version 2 closes the task.
    let e = consent::record(&store, &by, p, rec(coordinator, v1.id, paper(true))).await.unwrap_err();
    assert!(e.to_string().contains("not in effect"), "{e}");
    let ev2 = consent::record(&store, &by, p, rec(coordinator, v2.id, paper(true))).await.unwrap();
    assert_eq!(ev2.kind, "reconsent");
    assert!(consent::reconsent_due(&store, p).await.unwrap().is_none());
    let q = open_tasks(&store, coordinator).await;
    assert!(!q.iter().any(|t| t.kind == "reconsent" && t.subject_id == p.to_string()), "{q:?}");
    // An approved document's content cannot be changed, even with SQL.
    assert!(
        refused_by_the_database(db, &store, "UPDATE consent_documents SET body = 'changed'").await,
        "the trigger keeps documents as approved"
    );
    // A withdrawn participant gives no further consent.
    let w = participants::move_to(
        &store,
        &by,
        p,
        participants::MoveRequest {
            to: Status::Withdrawn,
            reason_code: "participant_decision".into(),
            detail: String::new(),
            consent_withdrawal: "no_further_data".into(),
            effective_on: today(),
        },
    )
    .await
    .unwrap();
    assert_eq!(w.status(), Status::Withdrawn);
    let e = consent::open_kiosk(&store, &by, p, v2.id).await.unwrap_err();
    assert!(e.to_string().contains("no longer taken"), "{e}");
    assert_eq!(audit::verify(&store).await.unwrap().result, Ok(()));
}

async fn econsent_on_the_kiosk_is_snapshotted_and_countersigned(db: &TestDb) {
    let store = db.store().await;
    let world = demo::seed(&store).await.unwrap();
    let coordinator = world.users[&Role::Coordinator];
    let by = Acting::user(coordinator, None);
    let s = study(&store, &world).await;
    let v1 = consent::add_document(
        &store,
        &world.admin,
        s,
        doc("1.0", today() - chrono::Duration::days(10)),
        "v1.pdf",
        PDF.to_vec(),
    )
    .await
    .unwrap();
    let p = screening(&store, &world, s).await;
    // Only someone delegated to obtain consent opens the kiosk link.
    let dm = Acting::user(world.users[&Role::DataManager], None);
    assert!(consent::open_kiosk(&store, &dm, p, v1.id).await.is_err());
    let (token, expires) = consent::open_kiosk(&store, &by, p, v1.id).await.unwrap();
    assert!(expires > clinbridge_store::now());
    let view = consent::kiosk(&store, &token).await.unwrap();
    assert_eq!(view.document.id, v1.id);
    assert!(consent::kiosk(&store, "not-a-token").await.is_err());
    // A wrong answer is refused and leaves the link usable.
    let mut e = paper(false);
    e.signer_name = "Rosa Lind".into();
    assert!(consent::kiosk_sign(&store, &token, e).await.is_err());
    let ev = consent::kiosk_sign(&store, &token, paper(true)).await.unwrap();
    assert_eq!((ev.method.as_str(), ev.status.as_str()), ("electronic", "awaiting_countersignature"));
    // The link is spent.
    let again = consent::kiosk_sign(&store, &token, paper(true)).await.unwrap_err();
    assert!(again.to_string().contains("already been used"), "{again}");
    // The snapshot holds the page as shown, the typed name, and hashes to its digest.
    let snap = consent::read_snapshot(&store, &by, ev.snapshot_id.unwrap(), "test").await.unwrap();
    assert!(snap.intact());
    assert_eq!(Some(snap.sha256.clone()), ev.snapshot_sha256);
    assert!(snap.html.contains(&view.document.html()));
    assert!(snap.html.contains("Rosa Lind"));
    let phi = audit::search(&store, &audit::AuditFilter { action: Some("phi_read".into()), ..Default::default() }, 50)
        .await
        .unwrap();
    assert!(phi.iter().any(|r| r.entity_id == p.to_string()), "the snapshot read is audited");
    // Still screening until the obtainer countersigns; the countersignature is on their queue.
    assert_eq!(participants::participant(&store, p).await.unwrap().status(), Status::Screening);
    assert!(open_tasks(&store, coordinator).await.iter().any(|t| t.kind == "consent_countersign"));
    let pi = Acting::user(world.users[&Role::Investigator], None);
    let e = consent::countersign(&store, &pi, ev.id, demo::DEMO_PASSWORD).await.unwrap_err();
    assert!(e.to_string().contains("who obtained this consent"), "{e}");
    let e = consent::countersign(&store, &by, ev.id, "wrong-password").await.unwrap_err();
    assert!(e.to_string().contains("password"), "{e}");
    let done = consent::countersign(&store, &by, ev.id, demo::DEMO_PASSWORD).await.unwrap();
    assert_eq!(done.status, "complete");
    assert_eq!(participants::participant(&store, p).await.unwrap().status(), Status::Consented);
    assert!(!open_tasks(&store, coordinator).await.iter().any(|t| t.kind == "consent_countersign"));
    let sigs = signatures::for_record(&store, "consent_event", &ev.id.to_string(), &done.record()).await.unwrap();
    assert_eq!(sigs.len(), 1);
    assert!(sigs[0].valid);
    // Snapshots are immutable.
    assert!(refused_by_the_database(db, &store, "UPDATE consent_snapshots SET html = 'x'").await);
    assert_eq!(audit::verify(&store).await.unwrap().result, Ok(()));
}

async fn the_demo_has_two_versions_and_pending_reconsents(db: &TestDb) {
    let store = db.store().await;
    let world = demo::seed(&store).await.unwrap();
    let docs = consent::documents(&store, world.study.id).await.unwrap();
    assert!(docs.iter().filter(|d| d.language == "en").count() >= 2, "{docs:?}");
    let sites: Vec<Uuid> = world.sites.iter().map(|s| s.id).collect();
    let due = consent::reconsents_due(&store, world.study.id, &sites).await.unwrap();
    assert!(!due.is_empty(), "re-consents are pending");
    let coordinator = world.users[&Role::Coordinator];
    let q = open_tasks(&store, coordinator).await;
    assert!(q.iter().any(|t| t.kind == "reconsent"), "re-consent tasks are on the Boston queue");
    // Every participant who reached consent has a consent event.
    for p in participants::participants(&store, world.study.id, None).await.unwrap() {
        if p.consented_on.is_some() {
            assert!(!consent::events(&store, p.id).await.unwrap().is_empty(), "{}", p.subject_id);
        }
    }
}
