//! Participants, eligibility, screening and randomization on both backends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::NaiveDate;
use clinbridge_core::identity::{Code, Role};
use clinbridge_core::participants::{Answer, CriterionKind, Response, Status};
use clinbridge_core::trials::{Duty, StudyStatus};
use clinbridge_store::participants::{self, MoveRequest, NewParticipant, randomization};
use clinbridge_store::{Acting, Store, audit, demo, trials};
use clinbridge_testkit::{TestDb, both_backends};
use uuid::Uuid;

both_backends!(
    the_demo_covers_every_pipeline_state,
    subject_ids_are_unique_under_concurrent_screening,
    pipeline_moves_need_site_duty_and_signed_eligibility,
    phi_reads_are_audited_and_the_trail_holds_no_identifiers,
    sixteen_requests_for_the_last_slot_give_one_assignment,
    emergency_unblinding_is_recorded_and_signalled,
    visits_are_planned_from_their_anchors_and_recorded
);

fn today() -> NaiveDate {
    clinbridge_testkit::boston_today()
}

fn mv(to: Status) -> MoveRequest {
    MoveRequest {
        to,
        reason_code: String::new(),
        detail: String::new(),
        consent_withdrawal: String::new(),
        effective_on: today(),
    }
}

async fn the_demo_covers_every_pipeline_state(db: &TestDb) {
    let store = db.store().await;
    let t = std::time::Instant::now();
    let world = demo::seed(&store).await.unwrap();
    eprintln!("demo seed took {:?}", t.elapsed());
    let mut all = Vec::new();
    for s in trials::studies(&store).await.unwrap() {
        all.extend(participants::participants(&store, s.id, None).await.unwrap());
    }
    assert!((55..=70).contains(&all.len()), "about sixty participants, got {}", all.len());
    for status in Status::ALL {
        assert!(all.iter().any(|p| p.status() == status), "no demo participant is {status:?}");
    }
    // Subject ids follow each study's pattern.
    assert!(all.iter().any(|p| p.subject_id == "BOS-0001"));
    assert!(all.iter().any(|p| p.subject_id.starts_with("AF-SEA-")));
    // The HF3 lists are balanced 2:1 inside every whole block of every stratum.
    let scheme = randomization::scheme(&store, world.study.id).await.unwrap().unwrap();
    let list = randomization::allocation_list(&store, scheme.id).await.unwrap();
    let mut blocks: std::collections::BTreeMap<(String, i64), Vec<String>> = Default::default();
    for a in &list {
        blocks.entry((a.stratum.clone(), a.block_no)).or_default().push(a.arm_code.clone());
    }
    for ((stratum, block), arms) in blocks {
        let active = arms.iter().filter(|a| *a == "ACTIVE").count();
        assert_eq!(active * 3, arms.len() * 2, "stratum {stratum} block {block}: {arms:?}");
    }
    // The funnel narrows.
    let sites: Vec<Uuid> = world.sites.iter().map(|s| s.id).collect();
    let f = participants::funnel(&store, world.study.id, &sites).await.unwrap();
    let counts: Vec<i64> = f.iter().map(|s| s.count).collect();
    assert!(counts.windows(2).all(|w| w[0] >= w[1]), "{counts:?}");
    assert!(counts[0] > 40 + 30, "prescreen failures count in the first stage: {counts:?}");
    assert_eq!(audit::verify(&store).await.unwrap().result, Ok(()));
}

/// A fresh enrolling study at Boston with arms A and B (1:1), one inclusion criterion, the
/// demo coordinator delegated to consent and randomize and the PI to assess eligibility.
async fn race_study(store: &Store, world: &demo::DemoWorld, list_length: u32) -> Uuid {
    let admin = world.admin.clone();
    let s = trials::create_study(store, &admin, Code::parse("code", "RACE-1").unwrap(), trials::minimal("Race"))
        .await
        .unwrap();
    trials::add_arm(store, &admin, s.id, "A", "Arm A", 1, "").await.unwrap();
    trials::add_arm(store, &admin, s.id, "B", "Arm B", 1, "").await.unwrap();
    trials::set_status(store, &admin, s.id, StudyStatus::Approved, None).await.unwrap();
    trials::set_status(store, &admin, s.id, StudyStatus::Enrolling, None).await.unwrap();
    let bos = world.sites.iter().find(|x| x.code == "BOS").unwrap().id;
    let pi = world.users[&Role::Investigator];
    let coordinator = world.users[&Role::Coordinator];
    let d = today() - chrono::Duration::days(30);
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
    for (user, duties) in
        [(pi, vec![Duty::AssessEligibility]), (coordinator, vec![Duty::ObtainConsent, Duty::Randomize])]
    {
        let e = trials::add_delegation(
            store,
            &admin,
            s.id,
            bos,
            trials::NewDelegation { user_id: user, study_role: "Team".into(), duties, start_on: d, end_on: None },
        )
        .await
        .unwrap();
        trials::sign_delegation(store, &Acting::user(pi, None), e.id, demo::DEMO_PASSWORD).await.unwrap();
    }
    participants::add_criterion(store, &admin, s.id, CriterionKind::Inclusion, "I1", "Adult").await.unwrap();
    randomization::create_scheme(
        store,
        &admin,
        s.id,
        randomization::NewScheme { blinded: true, block_sizes: vec![2], factors: vec![], list_length },
    )
    .await
    .unwrap();
    s.id
}

/// Registers a participant at Boston and carries them to enrolled.
async fn enrolled(store: &Store, world: &demo::DemoWorld, study: Uuid) -> Uuid {
    let bos = world.sites.iter().find(|x| x.code == "BOS").unwrap().id;
    let coordinator = world.users[&Role::Coordinator];
    let by = Acting::user(coordinator, None);
    let pi = Acting::user(world.users[&Role::Investigator], None);
    let p = participants::register(
        store,
        &by,
        study,
        bos,
        NewParticipant { status: Status::Screening, on: today(), contact: None },
    )
    .await
    .unwrap();
    clinbridge_testkit::consent_on_paper(store, &by, p.id, coordinator).await;
    participants::assess(
        store,
        &by,
        p.id,
        vec![Response { code: "I1".into(), answer: Answer::Yes, source: "ID card".into() }],
    )
    .await
    .unwrap();
    participants::sign_assessment(store, &pi, p.id, demo::DEMO_PASSWORD).await.unwrap();
    participants::move_to(store, &by, p.id, mv(Status::Eligible)).await.unwrap();
    participants::move_to(store, &by, p.id, mv(Status::Enrolled)).await.unwrap();
    p.id
}

async fn subject_ids_are_unique_under_concurrent_screening(db: &TestDb) {
    let store = db.store().await;
    let world = demo::seed(&store).await.unwrap();
    let study = race_study(&store, &world, 2).await;
    participants::set_subject_id_pattern(&store, &world.admin, study, "R1-{site}-{seq:03}").await.unwrap();
    let bos = world.sites.iter().find(|x| x.code == "BOS").unwrap().id;
    let by = Acting::user(world.users[&Role::Coordinator], None);
    let mut handles = Vec::new();
    for _ in 0..20 {
        let (store, by) = (store.clone(), by.clone());
        handles.push(tokio::spawn(async move {
            participants::register(
                &store,
                &by,
                study,
                bos,
                NewParticipant { status: Status::Prescreen, on: today(), contact: None },
            )
            .await
        }));
    }
    let mut ids = Vec::new();
    for h in handles {
        ids.push(h.await.unwrap().unwrap().subject_id);
    }
    ids.sort();
    let expected: Vec<String> = (1..=20).map(|n| format!("R1-BOS-{n:03}")).collect();
    assert_eq!(ids, expected);
    assert!(participants::set_subject_id_pattern(&store, &world.admin, study, "{site}").await.is_err());
}

async fn pipeline_moves_need_site_duty_and_signed_eligibility(db: &TestDb) {
    let store = db.store().await;
    let world = demo::seed(&store).await.unwrap();
    let coordinator = world.users[&Role::Coordinator];
    let by = Acting::user(coordinator, None);
    let site = |c: &str| world.sites.iter().find(|x| x.code == c).unwrap().id;
    // Seattle is not activated for CARDIO-HF3.
    let e = participants::register(
        &store,
        &by,
        world.study.id,
        site("SEA"),
        NewParticipant { status: Status::Screening, on: today(), contact: None },
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("not been activated"), "{e}");
    let study = race_study(&store, &world, 2).await;
    let p = participants::register(
        &store,
        &by,
        study,
        site("BOS"),
        NewParticipant { status: Status::Screening, on: today(), contact: None },
    )
    .await
    .unwrap();
    // Illegal move.
    let e = participants::move_to(&store, &by, p.id, mv(Status::Enrolled)).await.unwrap_err();
    assert!(e.to_string().contains("cannot become enrolled"), "{e}");
    // Consent is reached only by recording it (the consent tests cover who may obtain it).
    let e = participants::move_to(&store, &by, p.id, mv(Status::Consented)).await.unwrap_err();
    assert!(e.to_string().contains("consent is recorded"), "{e}");
    clinbridge_testkit::consent_on_paper(&store, &by, p.id, coordinator).await;
    // Eligible needs a checklist, then a signature by someone delegated to assess eligibility.
    let e = participants::move_to(&store, &by, p.id, mv(Status::Eligible)).await.unwrap_err();
    assert!(e.to_string().contains("checklist first"), "{e}");
    let e = participants::assess(&store, &by, p.id, vec![]).await.unwrap_err();
    assert!(e.to_string().contains("answers.I1"), "{e}");
    participants::assess(
        &store,
        &by,
        p.id,
        vec![Response { code: "I1".into(), answer: Answer::Yes, source: "Chart".into() }],
    )
    .await
    .unwrap();
    let e = participants::move_to(&store, &by, p.id, mv(Status::Eligible)).await.unwrap_err();
    assert!(e.to_string().contains("must sign"), "{e}");
    let e = participants::sign_assessment(&store, &by, p.id, demo::DEMO_PASSWORD).await.unwrap_err();
    assert!(e.to_string().contains("no duty to assess eligibility"), "{e}");
    let pi = Acting::user(world.users[&Role::Investigator], None);
    assert!(participants::sign_assessment(&store, &pi, p.id, "wrong password").await.is_err());
    participants::sign_assessment(&store, &pi, p.id, demo::DEMO_PASSWORD).await.unwrap();
    participants::move_to(&store, &by, p.id, mv(Status::Eligible)).await.unwrap();
    participants::move_to(&store, &by, p.id, mv(Status::Enrolled)).await.unwrap();
    // A randomized study goes through randomization, not straight to active.
    let e = participants::move_to(&store, &by, p.id, mv(Status::Active)).await.unwrap_err();
    assert!(e.to_string().contains("randomize the participant first"), "{e}");
    let e = participants::move_to(&store, &by, p.id, mv(Status::Randomized)).await.unwrap_err();
    assert!(e.to_string().contains("only by randomizing"), "{e}");
    // A withdrawal needs its reason; the history keeps every move.
    let e = participants::move_to(&store, &by, p.id, mv(Status::Withdrawn)).await.unwrap_err();
    assert!(e.to_string().contains("reason"), "{e}");
    participants::move_to(
        &store,
        &by,
        p.id,
        MoveRequest {
            reason_code: "participant_decision".into(),
            consent_withdrawal: "no_further_contact".into(),
            ..mv(Status::Withdrawn)
        },
    )
    .await
    .unwrap();
    let h = participants::history(&store, p.id).await.unwrap();
    let path: Vec<&str> = h.iter().map(|m| m.to_status.as_str()).collect();
    assert_eq!(path, ["screening", "consented", "eligible", "enrolled", "withdrawn"]);
    // No further contact: contact details can no longer be changed.
    let e = participants::update_contact(
        &store,
        &by,
        p.id,
        participants::Contact { given_name: "A".into(), family_name: "B".into(), ..Default::default() },
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("withdrew consent"), "{e}");
    // Closing the study's enrollment stops screening there.
    trials::set_status(&store, &world.admin, study, StudyStatus::ClosedToAccrual, None).await.unwrap();
    let e = participants::register(
        &store,
        &by,
        study,
        site("BOS"),
        NewParticipant { status: Status::Screening, on: today(), contact: None },
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("not enrolling"), "{e}");
}

async fn phi_reads_are_audited_and_the_trail_holds_no_identifiers(db: &TestDb) {
    let store = db.store().await;
    let world = demo::seed(&store).await.unwrap();
    let bos = world.sites.iter().find(|x| x.code == "BOS").unwrap().id;
    let by = Acting::user(world.users[&Role::Coordinator], None);
    let contact = participants::Contact {
        given_name: "Evelyn".into(),
        family_name: "Quartermaine".into(),
        date_of_birth: NaiveDate::from_ymd_opt(1951, 4, 2),
        phone: "+1 617 555 0199".into(),
        email: "evelyn@example.org".into(),
        address: "12 Beacon Street".into(),
        mrn: "MRN0099881".into(),
    };
    let bad = participants::register(
        &store,
        &by,
        world.study.id,
        bos,
        NewParticipant {
            status: Status::Prescreen,
            on: today(),
            contact: Some(participants::Contact { email: "nope".into(), given_name: String::new(), ..contact.clone() }),
        },
    )
    .await
    .unwrap_err();
    assert!(bad.to_string().contains("given_name") && bad.to_string().contains("email"), "{bad}");
    let p = participants::register(
        &store,
        &by,
        world.study.id,
        bos,
        NewParticipant { status: Status::Prescreen, on: today(), contact: Some(contact.clone()) },
    )
    .await
    .unwrap();
    let got = participants::read_contact(&store, &by, p.id, "call to schedule screening").await.unwrap().unwrap();
    assert_eq!(got, contact);
    let rows = audit::search(
        &store,
        &audit::AuditFilter {
            entity_type: Some("participant".into()),
            entity_id: Some(p.id.to_string()),
            ..Default::default()
        },
        50,
    )
    .await
    .unwrap();
    let reads: Vec<_> = rows.iter().filter(|r| r.action == "phi_read").collect();
    assert_eq!(reads.len(), 1);
    assert_eq!(reads[0].user_id, Some(world.users[&Role::Coordinator]));
    assert!(reads[0].new_value.as_deref().unwrap().contains("call to schedule screening"));
    for r in &rows {
        let text = format!("{:?} {:?}", r.old_value, r.new_value);
        assert!(
            !text.contains("Quartermaine") && !text.contains("MRN0099881"),
            "identifiers in the audit trail: {text}"
        );
    }
}

async fn sixteen_requests_for_the_last_slot_give_one_assignment(db: &TestDb) {
    let store = db.store().await;
    let world = demo::seed(&store).await.unwrap();
    let study = race_study(&store, &world, 2).await;
    let by = Acting::user(world.users[&Role::Coordinator], None);
    let first = enrolled(&store, &world, study).await;
    let (_, a) = randomization::randomize(&store, &by, first, vec![], today()).await.unwrap();
    assert_eq!(a.seq, 1);
    let mut racers = Vec::new();
    for _ in 0..16 {
        racers.push(enrolled(&store, &world, study).await);
    }
    let mut handles = Vec::new();
    for p in racers.clone() {
        let (store, by) = (store.clone(), by.clone());
        handles.push(tokio::spawn(async move { randomization::randomize(&store, &by, p, vec![], today()).await }));
    }
    let mut won = 0;
    for h in handles {
        match h.await.unwrap() {
            Ok((p, a)) => {
                won += 1;
                assert_eq!(a.seq, 2);
                assert_eq!(p.status(), Status::Randomized);
            }
            Err(e) => assert!(e.to_string().contains("no free allocation"), "{e}"),
        }
    }
    assert_eq!(won, 1, "exactly one request gets the last slot");
    let scheme = randomization::scheme(&store, study).await.unwrap().unwrap();
    let list = randomization::allocation_list(&store, scheme.id).await.unwrap();
    assert_eq!(list.iter().filter(|a| a.subject_id.is_some()).count(), 2);
    let arms: std::collections::BTreeSet<&str> = list.iter().map(|a| a.arm_code.as_str()).collect();
    assert_eq!(arms.len(), 2, "a block of two holds one of each arm");
    let still_enrolled = {
        let mut n = 0;
        for p in &racers {
            if participants::participant(&store, *p).await.unwrap().status() == Status::Enrolled {
                n += 1;
            }
        }
        n
    };
    assert_eq!(still_enrolled, 15);
    // The same participant cannot be randomized twice.
    assert!(randomization::randomize(&store, &by, first, vec![], today()).await.is_err());
}

async fn emergency_unblinding_is_recorded_and_signalled(db: &TestDb) {
    let store = db.store().await;
    let world = demo::seed(&store).await.unwrap();
    let randomized: Vec<_> = participants::participants(&store, world.study.id, None)
        .await
        .unwrap()
        .into_iter()
        .filter(|p| p.status() == Status::Randomized)
        .collect();
    let p = &randomized[0];
    let pi = Acting::user(world.users[&Role::Investigator], None);
    assert!(randomization::emergency_unblind(&store, &pi, p.id, "short").await.is_err());
    let pharmacist = randomization::unblinded_team(&store, world.study.id).await.unwrap();
    assert_eq!(pharmacist.len(), 1);
    let before = clinbridge_store::tasks::notifications(&store, pharmacist[0].0, true, 50).await.unwrap().len();
    let a = randomization::emergency_unblind(
        &store,
        &pi,
        p.id,
        "Anaphylaxis in the emergency department; treating team needs the arm",
    )
    .await
    .unwrap();
    assert!(["ACTIVE", "PLACEBO"].contains(&a.arm_code.as_str()));
    let after = clinbridge_store::tasks::notifications(&store, pharmacist[0].0, true, 50).await.unwrap();
    assert_eq!(after.len(), before + 1);
    assert!(after[0].title.contains(&p.subject_id));
    let u = randomization::unblindings(&store, p.id).await.unwrap();
    assert_eq!(u.len(), 1);
    assert_eq!(u[0].user_name, "Dr. Samuel Reyes");
    assert!(!randomization::may_see(&store, world.study.id, world.users[&Role::Coordinator]).await.unwrap());
    assert!(randomization::may_see(&store, world.study.id, pharmacist[0].0).await.unwrap());
}

async fn visits_are_planned_from_their_anchors_and_recorded(db: &TestDb) {
    use clinbridge_core::scheduling::VisitStatus;
    use clinbridge_store::scheduling;
    let store = db.store().await;
    let world = demo::seed(&store).await.unwrap();
    let by = Acting::user(world.users[&Role::Coordinator], None);
    let all = participants::participants(&store, world.study.id, None).await.unwrap();
    // Consented only: just the screening visit, counted from consent.
    let consented = all.iter().find(|p| p.status() == Status::Consented && p.site_code == "BOS").unwrap();
    let v = scheduling::visits_of(&store, consented.id).await.unwrap();
    let codes: Vec<&str> = v.iter().map(|x| x.code.as_str()).collect();
    assert_eq!(codes, ["SCR"]);
    assert_eq!(v[0].target_on, consented.consented_on.unwrap());
    // Randomized: the baseline on the randomization day and the rest counted from it.
    let r = all.iter().find(|p| p.status() == Status::Randomized && p.site_code == "BOS").unwrap();
    let v = scheduling::visits_of(&store, r.id).await.unwrap();
    let bl = v.iter().find(|x| x.code == "BL").unwrap();
    assert_eq!(bl.target_on, r.randomized_on.unwrap());
    let w12 = v.iter().find(|x| x.code == "W12").unwrap();
    assert_eq!(w12.target_on, bl.target_on + chrono::Duration::days(84));
    assert_eq!(
        (w12.window_start, w12.window_end),
        (w12.target_on - chrono::Duration::days(7), w12.target_on + chrono::Duration::days(7))
    );
    assert_eq!(v.iter().filter(|x| x.code == "PHONE").count(), 3, "a repeating visit is planned each time");
    assert!(!v.iter().any(|x| x.code == "UNS"), "unscheduled visits are not planned");
    // The demo recorded the visits already past; the next one is still to be done.
    assert!(v.iter().any(|x| x.status() == VisitStatus::Completed && x.target_on <= today()), "past visits recorded");
    let bl = v.iter().find(|x| x.status() == VisitStatus::Scheduled && x.code != "PHONE").unwrap();
    // A visit ahead cannot be recorded as done; it can be recorded as missed, with a reason.
    let e = scheduling::record_visit(&store, &by, bl.id, VisitStatus::Completed, Some(bl.target_on), "").await;
    if bl.target_on > today() {
        assert!(e.unwrap_err().to_string().contains("must not be in the future"));
        let e = scheduling::record_visit(&store, &by, bl.id, VisitStatus::Missed, None, "").await.unwrap_err();
        assert!(e.to_string().contains("why the visit was missed"), "{e}");
        scheduling::record_visit(&store, &by, bl.id, VisitStatus::Missed, None, "Admitted to hospital").await.unwrap();
    } else {
        assert!(!e.unwrap().out_of_window);
    }
    // Visits done outside their window carry the flag and the deviation (the demo has some).
    let mut deviations = 0;
    for p in &all {
        for x in scheduling::visits_of(&store, p.id).await.unwrap() {
            if x.out_of_window {
                assert!(x.actual_on.unwrap() > x.window_end && !x.note.is_empty(), "{x:?}");
                deviations += 1;
            }
        }
    }
    assert!(deviations > 0, "the demo records some visits outside their window");
    assert!(
        scheduling::record_visit(&store, &by, bl.id, VisitStatus::Missed, None, "again").await.is_err(),
        "recorded once"
    );
    let scr = v.iter().find(|x| x.status() == VisitStatus::Scheduled && x.id != bl.id).unwrap();
    let e = scheduling::record_visit(&store, &by, scr.id, VisitStatus::Missed, None, " ").await.unwrap_err();
    assert!(e.to_string().contains("why the visit was missed"), "{e}");
    // Withdrawal without further data collection cancels what is ahead and stops recording.
    participants::move_to(
        &store,
        &by,
        r.id,
        MoveRequest {
            reason_code: "participant_decision".into(),
            consent_withdrawal: "no_further_data".into(),
            ..mv(Status::Withdrawn)
        },
    )
    .await
    .unwrap();
    let v = scheduling::visits_of(&store, r.id).await.unwrap();
    let ahead: Vec<_> = v.iter().filter(|x| x.target_on > today() && x.id != bl.id).collect();
    assert!(!ahead.is_empty() && ahead.iter().all(|x| x.status() == VisitStatus::Cancelled));
    let e = scheduling::record_visit(&store, &by, scr.id, VisitStatus::Missed, None, "No show").await.unwrap_err();
    assert!(e.to_string().contains("further data collection"), "{e}");
}
