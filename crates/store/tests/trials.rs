//! Studies, arms and protocol versions on both backends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use clinbridge_core::identity::Code;
use clinbridge_core::trials::StudyStatus;
use clinbridge_store::{audit, demo, trials};
use clinbridge_testkit::{TestDb, both_backends};

both_backends!(study_lifecycle_is_enforced_and_audited, arms_are_fixed_once_enrolling, demo_study_is_complete);

async fn study_lifecycle_is_enforced_and_audited(db: &TestDb) {
    let store = db.store().await;
    let world = demo::seed(&store).await.unwrap();
    let admin = world.admin.clone();
    let s = trials::create_study(
        &store,
        &admin,
        Code::parse("code", "onc-201").unwrap(),
        trials::minimal("Oncology phase 2"),
    )
    .await
    .unwrap();
    assert_eq!(s.code, "ONC-201");
    assert_eq!(s.status(), StudyStatus::Draft);
    let dup =
        trials::create_study(&store, &admin, Code::parse("code", "ONC-201").unwrap(), trials::minimal("Again")).await;
    assert!(dup.unwrap_err().to_string().contains("code"));

    // Draft cannot start enrolling before approval.
    let e = trials::set_status(&store, &admin, s.id, StudyStatus::Enrolling, None).await.unwrap_err();
    assert!(e.to_string().contains("cannot become enrolling"), "{e}");
    trials::set_status(&store, &admin, s.id, StudyStatus::Approved, None).await.unwrap();
    trials::set_status(&store, &admin, s.id, StudyStatus::Enrolling, None).await.unwrap();
    // Suspension needs a reason, and the reason is kept in the audit trail.
    assert!(trials::set_status(&store, &admin, s.id, StudyStatus::Suspended, Some(" ".into())).await.is_err());
    trials::set_status(&store, &admin, s.id, StudyStatus::Suspended, Some("DSMB safety review".into())).await.unwrap();
    let rows = audit::search(
        &store,
        &audit::AuditFilter {
            entity_type: Some("study".into()),
            entity_id: Some(s.id.to_string()),
            ..Default::default()
        },
        50,
    )
    .await
    .unwrap();
    assert_eq!(rows.len(), 4, "create and three status changes");
    assert_eq!(rows[0].reason.as_deref(), Some("DSMB safety review"));
    assert!(rows[0].old_value.as_deref().unwrap().contains("enrolling"));
    assert!(rows[0].new_value.as_deref().unwrap().contains("suspended"));
    trials::set_status(&store, &admin, s.id, StudyStatus::Terminated, Some("sponsor decision".into())).await.unwrap();
    assert!(
        trials::set_status(&store, &admin, s.id, StudyStatus::Enrolling, None).await.is_err(),
        "terminated is final"
    );
    assert_eq!(audit::verify(&store).await.unwrap().result, Ok(()));
}

async fn arms_are_fixed_once_enrolling(db: &TestDb) {
    let store = db.store().await;
    let world = demo::seed(&store).await.unwrap();
    let admin = world.admin.clone();
    let s =
        trials::create_study(&store, &admin, Code::parse("code", "DEV-7").unwrap(), trials::minimal("Device pivotal"))
            .await
            .unwrap();
    trials::add_arm(&store, &admin, s.id, "device", "Investigational device", 1, "").await.unwrap();
    assert!(
        trials::add_arm(&store, &admin, s.id, "DEVICE", "Twice", 1, "").await.is_err(),
        "codes are unique per study"
    );
    assert!(trials::add_arm(&store, &admin, s.id, "CTRL", "Control", 11, "").await.is_err(), "ratio 1 to 10");
    trials::add_arm(&store, &admin, s.id, "CTRL", "Standard of care", 1, "").await.unwrap();
    trials::set_status(&store, &admin, s.id, StudyStatus::Approved, None).await.unwrap();
    trials::set_status(&store, &admin, s.id, StudyStatus::Enrolling, None).await.unwrap();
    let e = trials::add_arm(&store, &admin, s.id, "X", "Late arm", 1, "").await.unwrap_err();
    assert!(e.to_string().contains("arms cannot change"), "{e}");
    assert_eq!(trials::arms(&store, s.id).await.unwrap().len(), 2);
    let d = chrono::NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
    trials::add_protocol_version(&store, &admin, s.id, "1.0", "", d, "").await.unwrap();
    assert!(trials::add_protocol_version(&store, &admin, s.id, "1.0", "", d, "").await.is_err());
    trials::add_protocol_version(
        &store,
        &admin,
        s.id,
        "1.1",
        "Amendment 1",
        d + chrono::Duration::days(30),
        "Adds a 6-month visit.",
    )
    .await
    .unwrap();
    let versions = trials::protocol_versions(&store, s.id).await.unwrap();
    assert_eq!(versions[0].version, "1.1", "newest first");
    assert_eq!(versions[1].effective_on, d);
}

async fn demo_study_is_complete(db: &TestDb) {
    let store = db.store().await;
    let world = demo::seed(&store).await.unwrap();
    let s = trials::study_by_code(&store, "cardio-hf3").await.unwrap();
    assert_eq!(s.id, world.study.id);
    assert_eq!(s.status(), StudyStatus::Enrolling);
    assert_eq!(s.registry_id, "NCT05873214");
    assert_eq!(trials::arms(&store, s.id).await.unwrap().iter().map(|a| a.allocation_ratio).sum::<i64>(), 3);
    assert_eq!(trials::protocol_versions(&store, s.id).await.unwrap().len(), 2);
}

mod sites {
    use super::*;
    use clinbridge_core::identity::Role;
    use clinbridge_store::{Acting, identity, tasks};

    async fn participating_sites_gate_enrollment_and_raise_renewals(db: &TestDb) {
        let store = db.store().await;
        let world = demo::seed(&store).await.unwrap();
        let study = trials::study_by_code(&store, "CARDIO-HF3").await.unwrap();
        let today = clinbridge_testkit::boston_today();
        let sites = trials::study_sites(&store, study.id).await.unwrap();
        let by = |code: &str| sites.iter().find(|s| s.site_code == code).unwrap().clone();
        assert_eq!(by("BOS").enrollment_block(&study, today), None);
        assert_eq!(by("BOS").pi_name.as_deref(), Some("Dr. Samuel Reyes"));
        assert!(by("SEA").enrollment_block(&study, today).unwrap().contains("not been activated"));

        // Boston's approval expires within the notice period: the renewal task is on the
        // Boston coordinator's queue.
        let coord = identity::actor(&store, world.users[&Role::Coordinator]).await.unwrap();
        let queue = tasks::queue(&store, &coord, 100).await.unwrap();
        let renewal = queue.iter().find(|t| t.kind == "irb_renewal").expect("renewal task");
        assert!(renewal.title.contains("CARDIO-HF3 at BOS"));
        // Renewing the approval closes that task; the ticker pass raises nothing new.
        let bos = by("BOS");
        let renewed = trials::StudySiteInput {
            pi_user_id: bos.pi_user_id,
            irb_name: bos.irb_name.clone(),
            irb_approved_on: Some(today),
            irb_expires_on: Some(today + chrono::Duration::days(365)),
            activated_on: bos.activated_on,
            target_enrollment: bos.target_enrollment,
        };
        trials::update_study_site(&store, &Acting::user(world.users[&Role::Coordinator], None), bos.id, renewed)
            .await
            .unwrap();
        assert_eq!(tasks::task(&store, renewal.id).await.unwrap().status, "done");
        trials::raise_irb_renewal_tasks(&store).await.unwrap();
        assert!(!tasks::queue(&store, &coord, 100).await.unwrap().iter().any(|t| t.kind == "irb_renewal"));

        // An expired approval closes enrollment.
        let chi = by("CHI");
        let expired = trials::StudySiteInput {
            irb_approved_on: Some(today - chrono::Duration::days(400)),
            irb_expires_on: Some(today - chrono::Duration::days(1)),
            activated_on: chi.activated_on,
            ..Default::default()
        };
        let chi = trials::update_study_site(&store, &world.admin, chi.id, expired).await.unwrap();
        assert!(chi.enrollment_block(&study, today).unwrap().contains("expired"));

        // The PI must be an investigator at the site; a site takes part once.
        let bad_pi = trials::StudySiteInput { pi_user_id: Some(world.users[&Role::Monitor]), ..Default::default() };
        let e = trials::update_study_site(&store, &world.admin, chi.id, bad_pi).await.unwrap_err();
        assert!(e.to_string().contains("investigator"), "{e}");
        let again =
            trials::add_study_site(&store, &world.admin, study.id, chi.site_id, Default::default()).await.unwrap_err();
        assert!(again.to_string().contains("already takes part"), "{again}");
        let backwards = trials::StudySiteInput {
            irb_approved_on: Some(today),
            irb_expires_on: Some(today - chrono::Duration::days(1)),
            ..Default::default()
        };
        assert!(trials::update_study_site(&store, &world.admin, chi.id, backwards).await.is_err());
    }

    both_backends!(participating_sites_gate_enrollment_and_raise_renewals);
}

mod delegation {
    use super::*;
    use clinbridge_core::identity::Role;
    use clinbridge_core::trials::Duty;
    use clinbridge_store::Acting;

    async fn duties_count_only_when_current_and_signed_by_the_pi(db: &TestDb) {
        let store = db.store().await;
        let world = demo::seed(&store).await.unwrap();
        let study = world.study.id;
        let bos = world.sites.iter().find(|s| s.code == "BOS").unwrap().id;
        let today = clinbridge_testkit::boston_today();
        let coord = world.users[&Role::Coordinator];
        let dm = world.users[&Role::DataManager];
        let pi = Acting::user(world.users[&Role::Investigator], None);

        // The demo log: the coordinator may obtain consent; the data manager's entry is unsigned.
        trials::holds_duty(&store, study, bos, coord, Duty::ObtainConsent, today).await.unwrap();
        let e = trials::holds_duty(&store, study, bos, coord, Duty::AssessAdverseEvents, today).await.unwrap_err();
        assert!(e.to_string().contains("no duty to assess adverse events"), "{e}");
        let e = trials::holds_duty(&store, study, bos, dm, Duty::EnterData, today).await.unwrap_err();
        assert!(e.to_string().contains("not signed by the principal investigator"), "{e}");

        let log = trials::delegation_log(&store, study, bos).await.unwrap();
        let dm_entry = log.iter().find(|v| v.entry.user_id == dm).unwrap().entry.clone();
        // Only the PI signs, and only with the right password.
        assert!(
            trials::sign_delegation(&store, &Acting::user(coord, None), dm_entry.id, demo::DEMO_PASSWORD)
                .await
                .is_err()
        );
        assert!(trials::sign_delegation(&store, &pi, dm_entry.id, "not my password").await.is_err());
        let sig = trials::sign_delegation(&store, &pi, dm_entry.id, demo::DEMO_PASSWORD).await.unwrap();
        assert_eq!(sig.printed_name, "Dr. Samuel Reyes");
        assert_eq!(sig.meaning, "approval");
        trials::holds_duty(&store, study, bos, dm, Duty::EnterData, today).await.unwrap();

        // Ending the entry changes it: the signature is void until the PI signs again, and
        // after the end day the duty is no longer current.
        let ended = trials::end_delegation(&store, &world.admin, dm_entry.id, today).await.unwrap();
        let log = trials::delegation_log(&store, study, bos).await.unwrap();
        let v = log.iter().find(|v| v.entry.id == ended.id).unwrap();
        assert!(v.signed.is_none() && v.void_signature, "the signature is void after the change");
        assert!(trials::holds_duty(&store, study, bos, dm, Duty::EnterData, today).await.is_err());
        trials::sign_delegation(&store, &pi, dm_entry.id, demo::DEMO_PASSWORD).await.unwrap();
        trials::holds_duty(&store, study, bos, dm, Duty::EnterData, today).await.unwrap();
        let e = trials::holds_duty(&store, study, bos, dm, Duty::EnterData, today + chrono::Duration::days(1))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("not current"), "{e}");

        // Bad entries are refused with the field named.
        let bad = trials::NewDelegation {
            user_id: coord,
            study_role: " ".into(),
            duties: vec![],
            start_on: today,
            end_on: Some(today - chrono::Duration::days(1)),
        };
        let e = trials::add_delegation(&store, &world.admin, study, bos, bad).await.unwrap_err();
        let text = e.to_string();
        assert!(text.contains("study_role") && text.contains("duties") && text.contains("end_on"), "{text}");
        assert_eq!(audit::verify(&store).await.unwrap().result, Ok(()));
    }

    both_backends!(duties_count_only_when_current_and_signed_by_the_pi);
}
