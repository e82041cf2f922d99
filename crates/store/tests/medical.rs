//! Field medical affairs on both backends: HCP search, KOL publications, interactions and their
//! follow-up tasks, the insight board, medical information requests (unsolicited only, SLA
//! task, the requester's signature lock), safety intake and its forwarding clock, and the trial
//! activity of an HCP who is a Clinbridge investigator.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{Datelike, Duration, Utc};
use clinbridge_core::identity::{Email, Grant, NewPassword, Role, Scope, TimeZone};
use clinbridge_core::medical::{
    FollowUpInput, Granularity, HcpInput, InsightInput, InsightSource, InstitutionInput, InteractionInput, KolInput,
    Material, RequestInput, RequestStatus, SafetyInput,
};
use clinbridge_store::identity::NewUser;
use clinbridge_store::medical::{self, BoardDimension, BoardQuery, HcpSearch, RequestEdit, ResponseInput};
use clinbridge_store::{Acting, Backend, Store, StoreError, audit, demo, tasks};
use clinbridge_testkit::{TestDb, both_backends};
use uuid::Uuid;

both_backends!(
    hcps_are_checked_and_found,
    publications_import_all_or_nothing,
    follow_ups_become_tasks,
    insight_board_counts_by_tag_category_and_product,
    requests_are_unsolicited_and_locked_by_signature,
    safety_intake_is_fixed_once_forwarded,
    a_linked_investigator_shows_trial_activity,
    the_demo_has_a_medical_team
);

struct Team {
    msl: Acting,
    msl_id: Uuid,
    msl2_id: Uuid,
    manager: Acting,
}

async fn team(store: &Store) -> Team {
    let system = Acting::system();
    clinbridge_store::identity::create_organization(store, &system, "Meridian Medical Affairs").await.unwrap();
    let mut ids = Vec::new();
    for (local, name, role) in [
        ("leila", "Dr. Leila Haddad", Role::Msl),
        ("omar", "Dr. Omar Reyes", Role::Msl),
        ("marcus", "Marcus Chen", Role::MedicalManager),
    ] {
        let email = Email::parse(&format!("{local}@example.org")).unwrap();
        let password = NewPassword::parse("a long test passphrase 2026", Some(&email)).unwrap();
        let u = clinbridge_store::identity::create_user(
            store,
            &system,
            NewUser { email, name: name.into(), password, time_zone: TimeZone::parse("America/Chicago").unwrap() },
            vec![Grant { role, scope: Scope::Organization }],
        )
        .await
        .unwrap();
        ids.push(u.id);
    }
    Team { msl: Acting::user(ids[0], None), msl_id: ids[0], msl2_id: ids[1], manager: Acting::user(ids[2], None) }
}

async fn institution(store: &Store, by: &Acting, name: &str) -> Uuid {
    medical::create_institution(
        store,
        by,
        InstitutionInput {
            name: name.into(),
            kind: "academic_medical_center".into(),
            address: "1 Medical Center Drive".into(),
            city: "Springfield".into(),
            state: "IL".into(),
            postal_code: "62701".into(),
            departments: vec!["Cardiology".into(), "Nephrology".into()],
            latitude: Some(39.8),
            longitude: Some(-89.65),
        },
    )
    .await
    .unwrap()
    .id
}

fn hcp_input(npi: &str, first: &str, last: &str, specialty: &str) -> HcpInput {
    HcpInput {
        npi: npi.into(),
        first_name: first.into(),
        last_name: last.into(),
        credentials: vec!["MD".into()],
        specialty: specialty.into(),
        email: String::new(),
        phone: String::new(),
    }
}

async fn hcp(store: &Store, by: &Acting, npi: &str, first: &str, last: &str) -> Uuid {
    medical::create_hcp(store, by, hcp_input(npi, first, last, "Cardiology")).await.unwrap().id
}

fn interaction_input(hcps: Vec<Uuid>, when: chrono::DateTime<Utc>) -> InteractionInput {
    InteractionInput {
        occurred_at: when,
        channel: "in_person".into(),
        hcp_ids: hcps,
        colleague_ids: vec![],
        topics: vec!["HFpEF outcomes".into()],
        products: vec!["Cardiozan".into()],
        materials: vec![Material { name: "Cardiozan prescribing information".into(), version: "2026-01".into() }],
        notes: "Discussed the phase 3 readout.".into(),
        follow_ups: vec![],
        event_id: None,
    }
}

fn field_of(e: &StoreError) -> String {
    match e {
        StoreError::Invalid(i) => i.0.iter().map(|f| f.field.clone()).collect::<Vec<_>>().join(","),
        other => format!("not invalid: {other}"),
    }
}

async fn chain_holds(store: &Store) {
    assert_eq!(audit::verify(store).await.unwrap().result, Ok(()));
}

async fn audit_count(store: &Store, entity: &str) -> usize {
    audit::search(store, &audit::AuditFilter { entity_type: Some(entity.into()), ..Default::default() }, 1000)
        .await
        .unwrap()
        .len()
}

/// Whether the database itself refuses a statement run outside the store's rules.
async fn refused_by_the_database(db: &TestDb, store: &Store, sql: String) -> bool {
    match store.backend() {
        Backend::Sqlite => {
            let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&db.url).await.unwrap();
            sqlx::Executor::execute(&mut c, sqlx::AssertSqlSafe(sql)).await.is_err()
        }
        Backend::Postgres => {
            let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url).await.unwrap();
            sqlx::Executor::execute(&mut c, sqlx::AssertSqlSafe(sql)).await.is_err()
        }
    }
}

fn id_literal(store: &Store, id: Uuid) -> String {
    match store.backend() {
        Backend::Sqlite => format!("X'{}'", id.simple()),
        Backend::Postgres => format!("'{id}'"),
    }
}

async fn hcps_are_checked_and_found(db: &TestDb) {
    let store = db.store().await;
    let t = team(&store).await;
    let mgr = &t.manager;
    // Bad input names every field.
    let e = medical::create_institution(
        &store,
        mgr,
        InstitutionInput {
            name: " ".into(),
            kind: "spa".into(),
            latitude: Some(95.0),
            longitude: Some(0.0),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(field_of(&e), "name,kind,latitude");
    let north = institution(&store, mgr, "Northshore University Medical Center").await;
    let lake = institution(&store, mgr, "Lakeview Community Hospital").await;

    let e = medical::create_hcp(&store, mgr, hcp_input("1234567890", "Ana", "Ruiz", "Cardiology")).await.unwrap_err();
    assert_eq!(field_of(&e), "npi");
    let ruiz = medical::create_hcp(
        &store,
        mgr,
        HcpInput {
            credentials: vec!["m.d.".into(), "PhD".into()],
            ..hcp_input("1234567893", "Ana", "Ruiz", "Cardiology")
        },
    )
    .await
    .unwrap();
    assert_eq!(ruiz.display_name(), "Ana Ruiz, MD, PhD");
    let e =
        medical::create_hcp(&store, mgr, hcp_input("1234567893", "Other", "Person", "Nephrology")).await.unwrap_err();
    assert!(matches!(e, StoreError::Conflict { ref field, .. } if field == "npi"), "{e}");
    let patel = medical::create_hcp(&store, mgr, hcp_input("1245319599", "Raj", "Patel", "Nephrology")).await.unwrap();
    let okafor =
        medical::create_hcp(&store, mgr, hcp_input("1003000126", "Chidi", "Okafor", "Cardiology")).await.unwrap();

    // Affiliations: a department the institution does not list is refused.
    let bad = medical::set_affiliations(
        &store,
        mgr,
        ruiz.id,
        vec![medical::AffiliationInput {
            institution_id: north,
            department: "Dermatology".into(),
            ..Default::default()
        }],
    )
    .await
    .unwrap_err();
    assert_eq!(field_of(&bad), "affiliations[1].department");
    let aff = medical::set_affiliations(
        &store,
        mgr,
        ruiz.id,
        vec![
            medical::AffiliationInput {
                institution_id: north,
                department: "cardiology".into(),
                role: "Director, Heart Failure Program".into(),
                is_primary: false,
            },
            medical::AffiliationInput {
                institution_id: lake,
                department: String::new(),
                role: "Consultant".into(),
                is_primary: false,
            },
        ],
    )
    .await
    .unwrap();
    assert_eq!(aff.len(), 2);
    assert!(aff[0].is_primary && aff[0].department == "Cardiology");
    medical::set_affiliations(
        &store,
        mgr,
        patel.id,
        vec![medical::AffiliationInput { institution_id: lake, department: "Nephrology".into(), ..Default::default() }],
    )
    .await
    .unwrap();
    medical::set_kol_profile(
        &store,
        mgr,
        ruiz.id,
        KolInput { tier: "1".into(), therapeutic_areas: vec!["Cardiology".into()], ..Default::default() },
    )
    .await
    .unwrap();

    let names = |l: Vec<medical::HcpListing>| l.into_iter().map(|h| h.hcp.last_name).collect::<Vec<_>>();
    let search = |q: HcpSearch| {
        let store = store.clone();
        async move { medical::search_hcps(&store, &q).await.unwrap() }
    };
    assert_eq!(names(search(HcpSearch { text: "ana ru".into(), ..Default::default() }).await), vec!["Ruiz"]);
    assert_eq!(names(search(HcpSearch { text: "Ruiz, Ana".into(), ..Default::default() }).await), vec!["Ruiz"]);
    assert_eq!(names(search(HcpSearch { text: "12453".into(), ..Default::default() }).await), vec!["Patel"]);
    assert_eq!(names(search(HcpSearch { text: "%".into(), ..Default::default() }).await), Vec::<String>::new());
    assert_eq!(
        names(search(HcpSearch { specialty: "cardiology".into(), ..Default::default() }).await),
        vec!["Okafor", "Ruiz"]
    );
    assert_eq!(
        names(search(HcpSearch { institution_id: Some(lake), ..Default::default() }).await),
        vec!["Patel", "Ruiz"]
    );
    let tier1 = search(HcpSearch { tier: Some(1), ..Default::default() }).await;
    assert_eq!(tier1.len(), 1);
    assert_eq!(tier1[0].institution.as_deref(), Some("Northshore University Medical Center"));
    assert_eq!(tier1[0].tier, Some(1));
    assert_eq!(
        names(
            search(HcpSearch {
                text: "ru".into(),
                specialty: "Cardiology".into(),
                institution_id: Some(north),
                ..Default::default()
            })
            .await
        ),
        vec!["Ruiz"]
    );
    assert_eq!(medical::hcp_by_npi(&store, "1003000126").await.unwrap().id, okafor.id);
    // Not a Clinbridge user: no trial activity.
    assert!(medical::trial_activity(&store, ruiz.id).await.unwrap().is_empty());
    assert_eq!(audit_count(&store, "medical_hcp").await, 5);
    chain_holds(&store).await;
}

async fn publications_import_all_or_nothing(db: &TestDb) {
    let store = db.store().await;
    let t = team(&store).await;
    let h = hcp(&store, &t.manager, "1234567893", "Ana", "Ruiz").await;
    let one = medical::add_publication(
        &store,
        &t.msl,
        h,
        clinbridge_core::medical::PublicationInput {
            title: "Sodium–glucose cotransporter 2 inhibition in HFpEF".into(),
            journal: "N Engl J Med".into(),
            year: Some(2024),
            pmid: "38012345".into(),
            doi: "https://doi.org/10.1056/NEJMoa2400001".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(one.doi, "10.1056/NEJMoa2400001");

    // One bad row and one PMID already listed: nothing is imported, each row is named.
    let bad = "title,journal,year,pmid,doi\n\
               Good paper,JACC,2023,37000001,\n\
               No year,JACC,,37000002,\n\
               Again,Circulation,2022,38012345,\n";
    let e = medical::import_publications_csv(&store, &t.msl, h, bad).await.unwrap_err();
    assert_eq!(field_of(&e), "row 3: year");
    let dup = "title,journal,year,pmid\nGood paper,JACC,2023,37000001\nAgain,Circulation,2022,38012345\n";
    let e = medical::import_publications_csv(&store, &t.msl, h, dup).await.unwrap_err();
    assert_eq!(field_of(&e), "row 3: pmid");
    assert_eq!(medical::publications(&store, h).await.unwrap().len(), 1);

    let good = "Title,Journal,Year,PMID,DOI\n\"Outcomes, one year on\",Circulation,2025,39000001,10.1161/CIRC.2025.001\nRenal safety,Kidney Int,2023,,\n";
    let added = medical::import_publications_csv(&store, &t.msl, h, good).await.unwrap();
    assert_eq!(added.len(), 2);
    let all = medical::publications(&store, h).await.unwrap();
    assert_eq!(all.iter().map(|p| p.year).collect::<Vec<_>>(), vec![2025, 2024, 2023]);
    assert_eq!(all[0].title, "Outcomes, one year on");
    medical::remove_publication(&store, &t.msl, all[2].id).await.unwrap();
    assert_eq!(medical::publications(&store, h).await.unwrap().len(), 2);
    assert_eq!(audit_count(&store, "medical_publication").await, 4);

    // Engagement plan with progress.
    let e = medical::set_engagement_plan(&store, &t.msl, h, "2026-H2", None, vec![]).await.unwrap_err();
    assert!(matches!(e, StoreError::Invalid(_)));
    let objective = |text: &str, target: Option<i64>| clinbridge_core::medical::ObjectiveInput {
        text: text.into(),
        target_count: target,
        done_count: 0,
        status: String::new(),
    };
    let refused =
        medical::set_engagement_plan(&store, &t.msl, h, "2026-H2", None, vec![objective("Meet quarterly", Some(2))])
            .await;
    assert!(matches!(refused, Err(StoreError::Refused(_))), "a plan needs a KOL profile");
    medical::set_kol_profile(
        &store,
        &t.msl,
        h,
        KolInput { tier: "regional".into(), therapeutic_areas: vec!["Cardiology".into()], ..Default::default() },
    )
    .await
    .unwrap();
    let plan = medical::set_engagement_plan(
        &store,
        &t.msl,
        h,
        "2026-h2",
        None,
        vec![objective("Meet quarterly", Some(2)), objective("Invite to the advisory board", None)],
    )
    .await
    .unwrap();
    assert_eq!(plan.period, "2026-H2");
    assert_eq!(plan.owner_user_id, Some(t.msl_id));
    let o = medical::update_objective(&store, &t.msl, plan.objectives[0].id, 2, None).await.unwrap();
    assert_eq!(o.status, "achieved");
    let plans = medical::engagement_plans(&store, h).await.unwrap();
    assert_eq!(plans[0].progress(), (1, 2));
    chain_holds(&store).await;
}

async fn follow_ups_become_tasks(db: &TestDb) {
    let store = db.store().await;
    let t = team(&store).await;
    let a = hcp(&store, &t.manager, "1234567893", "Ana", "Ruiz").await;
    let b = hcp(&store, &t.manager, "1245319599", "Raj", "Patel").await;
    let when = Utc::now() - Duration::days(2);
    let due = Utc::now() + Duration::days(5);

    let mut bad = interaction_input(vec![], Utc::now() + Duration::days(2));
    bad.channel = "fax".into();
    bad.follow_ups =
        vec![FollowUpInput { title: String::new(), due_at: Utc::now() - Duration::days(10), assignee: None }];
    let e = medical::record_interaction(&store, &t.msl, bad).await.unwrap_err();
    assert_eq!(field_of(&e), "occurred_at,channel,hcp_ids,follow_ups[1].title,follow_ups[1].due_at");

    let mut input = interaction_input(vec![a, b, a], when);
    input.colleague_ids = vec![t.msl2_id];
    input.follow_ups = vec![
        FollowUpInput { title: "Send the renal subgroup poster".into(), due_at: due, assignee: None },
        FollowUpInput { title: "Book the advisory board slot".into(), due_at: due, assignee: Some(t.msl2_id) },
    ];
    let it = medical::record_interaction(&store, &t.msl, input).await.unwrap();
    assert_eq!(it.hcps.len(), 2);
    assert_eq!(it.colleagues.len(), 1);
    assert_eq!(it.follow_ups.len(), 2);
    assert_eq!(it.materials[0].version, "2026-01");

    let open = tasks::open_for_subject(&store, "medical_interaction", &it.id.to_string()).await.unwrap();
    assert_eq!(open.len(), 2);
    let mine = open.iter().find(|x| x.assignee_user_id == Some(t.msl_id)).unwrap();
    assert_eq!(mine.title, "Follow up: Send the renal subgroup poster");
    assert_eq!(mine.due_at, clinbridge_core::audit::truncate_micros(due));
    assert!(open.iter().any(|x| x.assignee_user_id == Some(t.msl2_id)));

    let first = it.follow_ups.iter().find(|f| f.assignee_user_id == t.msl_id).unwrap();
    let done = medical::complete_follow_up(&store, &t.msl, first.id).await.unwrap();
    assert!(done.done_at.is_some());
    assert_eq!(tasks::task(&store, first.task_id.unwrap()).await.unwrap().status, "done");
    assert!(matches!(medical::complete_follow_up(&store, &t.msl, first.id).await, Err(StoreError::Refused(_))));
    let later = medical::add_follow_up(
        &store,
        &t.manager,
        it.id,
        FollowUpInput { title: "Share the congress slides".into(), due_at: due, assignee: None },
    )
    .await
    .unwrap();
    assert_eq!(later.assignee_user_id, t.msl_id, "a follow-up goes to the interaction's MSL by default");
    assert_eq!(tasks::open_for_subject(&store, "medical_interaction", &it.id.to_string()).await.unwrap().len(), 2);

    // Correction and listing.
    let mut fix = interaction_input(vec![a], when);
    fix.notes = "Corrected notes.".into();
    let fixed = medical::update_interaction(&store, &t.msl, it.id, fix).await.unwrap();
    assert_eq!(fixed.hcps.len(), 1);
    assert_eq!(fixed.follow_ups.len(), 3);
    let by_b = medical::interactions(&store, &medical::InteractionFilter { hcp_id: Some(b), ..Default::default() })
        .await
        .unwrap();
    assert!(by_b.is_empty());
    let by_a = medical::interactions(&store, &medical::InteractionFilter { hcp_id: Some(a), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(by_a.len(), 1);
    assert_eq!(by_a[0].notes, "Corrected notes.");

    // Dashboard: interactions by tier.
    medical::set_kol_profile(
        &store,
        &t.msl,
        a,
        KolInput { tier: "1".into(), therapeutic_areas: vec!["Cardiology".into()], ..Default::default() },
    )
    .await
    .unwrap();
    medical::record_interaction(&store, &t.msl, interaction_input(vec![a, b], when)).await.unwrap();
    let tiers = medical::interactions_by_tier(&store, when - Duration::days(1), Utc::now(), None).await.unwrap();
    assert_eq!(tiers.len(), 2);
    assert_eq!((tiers[0].tier, tiers[0].interactions, tiers[0].hcps), (Some(1), 2, 1));
    assert_eq!((tiers[1].tier, tiers[1].interactions, tiers[1].hcps), (None, 1, 1));
    let none =
        medical::interactions_by_tier(&store, when - Duration::days(1), Utc::now(), Some(t.msl2_id)).await.unwrap();
    assert!(none.is_empty());
    chain_holds(&store).await;
}

async fn insight_board_counts_by_tag_category_and_product(db: &TestDb) {
    let store = db.store().await;
    let t = team(&store).await;
    let a = hcp(&store, &t.manager, "1234567893", "Ana", "Ruiz").await;
    let now = Utc::now();
    // Two interactions a month apart (mid-month so they fall in distinct months).
    let today = now.date_naive();
    let mid = if today.day() >= 16 {
        today.with_day(15).unwrap()
    } else {
        (today.with_day(1).unwrap() - Duration::days(1)).with_day(15).unwrap()
    };
    let earlier = (mid - Duration::days(31)).and_hms_opt(15, 0, 0).unwrap().and_utc();
    let later = mid.and_hms_opt(15, 0, 0).unwrap().and_utc();
    let i1 = medical::record_interaction(&store, &t.msl, interaction_input(vec![a], earlier)).await.unwrap();
    let i2 = medical::record_interaction(&store, &t.msl, interaction_input(vec![a], later)).await.unwrap();
    let ev = medical::create_event(
        &store,
        &t.msl,
        clinbridge_core::medical::EventInput {
            name: "Heart Failure Society Annual Meeting".into(),
            starts_on: Some(later.date_naive()),
            ends_on: Some(later.date_naive() + Duration::days(2)),
            place: "Denver, CO".into(),
            notes: String::new(),
        },
        vec![t.msl_id, t.msl2_id],
    )
    .await
    .unwrap();
    let s = medical::add_session(
        &store,
        &t.msl,
        ev.id,
        clinbridge_core::medical::SessionInput {
            title: "Late-breaking trials".into(),
            starts_at: later + Duration::hours(2),
            ends_at: later + Duration::hours(4),
            speakers: vec!["Dr. Ana Ruiz".into()],
            room: "Hall B".into(),
        },
    )
    .await
    .unwrap();
    let bad_session = medical::add_session(
        &store,
        &t.msl,
        ev.id,
        clinbridge_core::medical::SessionInput {
            title: "Too late".into(),
            starts_at: later + Duration::days(20),
            ends_at: later + Duration::days(20) + Duration::hours(1),
            speakers: vec![],
            room: String::new(),
        },
    )
    .await
    .unwrap_err();
    assert_eq!(field_of(&bad_session), "starts_at");
    let ev = medical::event(&store, ev.id).await.unwrap();
    assert_eq!(ev.attendees.len(), 2);
    assert_eq!(ev.sessions, vec![s]);

    let add = |source: InsightSource, category: &str, product: &str, tags: &[&str]| {
        let store = store.clone();
        let by = t.msl.clone();
        let input = InsightInput {
            source,
            category: category.into(),
            product: product.into(),
            therapeutic_area: "Cardiology".into(),
            tags: tags.iter().map(|s| s.to_string()).collect(),
            text: "Heard in the field.".into(),
        };
        async move { medical::record_insight(&store, &by, input).await.unwrap() }
    };
    add(InsightSource::Interaction(i1.id), "unmet_need", "Cardiozan", &["renal function", "dosing"]).await;
    add(InsightSource::Interaction(i2.id), "unmet_need", "Cardiozan", &["dosing"]).await;
    add(InsightSource::Interaction(i2.id), "competitive", "Nefrolin", &["Dosing", "#price"]).await;
    let from_event = add(InsightSource::Event(ev.id), "trial_design", "", &["endpoints"]).await;
    assert_eq!(from_event.heard_on, later.date_naive());
    let e = medical::record_insight(
        &store,
        &t.msl,
        InsightInput {
            source: InsightSource::Interaction(Uuid::now_v7()),
            category: "gossip".into(),
            product: String::new(),
            therapeutic_area: String::new(),
            tags: vec![],
            text: String::new(),
        },
    )
    .await
    .unwrap_err();
    assert_eq!(field_of(&e), "category,text");

    let q = BoardQuery {
        from: earlier.date_naive() - Duration::days(3),
        to: now.date_naive(),
        granularity: Granularity::Month,
    };
    let board = medical::insight_board(&store, &q).await.unwrap();
    let p1 = Granularity::Month.key(earlier.date_naive());
    let p2 = Granularity::Month.key(later.date_naive());
    assert_eq!(board.periods.first(), Some(&Granularity::Month.key(q.from)));
    assert_eq!(board.totals.iter().sum::<i64>(), 4);
    assert_eq!(board.by_tag[0].key, "dosing");
    assert_eq!(board.by_tag[0].total, 3);
    assert_eq!(board.count(BoardDimension::Tag, "dosing", &p1), 1);
    assert_eq!(board.count(BoardDimension::Tag, "dosing", &p2), 2);
    assert_eq!(board.count(BoardDimension::Tag, "renal function", &p1), 1);
    assert_eq!(board.count(BoardDimension::Tag, "price", &p2), 1);
    assert_eq!(board.count(BoardDimension::Category, "unmet_need", &p1), 1);
    assert_eq!(board.count(BoardDimension::Category, "unmet_need", &p2), 1);
    assert_eq!(board.row(BoardDimension::Category, "unmet_need").unwrap().label, "Unmet need");
    assert_eq!(board.count(BoardDimension::Product, "Cardiozan", &p2), 1);
    assert_eq!(board.count(BoardDimension::Product, "", &p2), 1);
    assert_eq!(board.by_product[0].key, "Cardiozan");
    assert_eq!(board.by_product[0].total, 2);

    let cell = medical::insight_cell(&store, &q, BoardDimension::Tag, "dosing", &p2).await.unwrap();
    assert_eq!(cell.len(), 2);
    assert!(cell.iter().all(|i| i.tags.contains(&"dosing".to_string())));
    let cell = medical::insight_cell(&store, &q, BoardDimension::Product, "Nefrolin", &p2).await.unwrap();
    assert_eq!(cell.len(), 1);
    assert_eq!(cell[0].category, "competitive");
    assert!(
        medical::insight_cell(&store, &q, BoardDimension::Category, "unmet_need", "1999-01").await.unwrap().is_empty()
    );

    let quarters =
        medical::insight_board(&store, &BoardQuery { granularity: Granularity::Quarter, ..q }).await.unwrap();
    assert_eq!(quarters.totals.iter().sum::<i64>(), 4);
    assert_eq!(quarters.by_tag[0].total, 3);
    let themes = medical::insight_themes(&store, q.from, q.to, 2).await.unwrap();
    assert_eq!(themes[0].tag, "dosing");
    assert_eq!(themes[0].insights, 3);
    let listed = medical::insights(&store, &medical::InsightFilter { event_id: Some(ev.id), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].tags, vec!["endpoints"]);
    let of_a =
        medical::insights(&store, &medical::InsightFilter { hcp_id: Some(a), ..Default::default() }).await.unwrap();
    assert_eq!(of_a.len(), 3, "the event's insight is not tied to an HCP");
    chain_holds(&store).await;
}

async fn requests_are_unsolicited_and_locked_by_signature(db: &TestDb) {
    let store = db.store().await;
    let t = team(&store).await;
    let a = hcp(&store, &t.manager, "1234567893", "Ana", "Ruiz").await;
    let b = hcp(&store, &t.manager, "1245319599", "Raj", "Patel").await;
    let input = |unsolicited: Option<bool>| RequestInput {
        hcp_id: Some(a),
        unsolicited,
        questions: vec!["Is there data on use in patients on dialysis?".into()],
        products: vec!["Cardiozan".into()],
        urgency: "routine".into(),
        delivery_method: "email".into(),
        ..Default::default()
    };
    // Not unsolicited: refused with the reason, nothing stored.
    let e = medical::create_request(&store, &t.msl, input(Some(false))).await.unwrap_err();
    let StoreError::Invalid(inv) = &e else { panic!("{e}") };
    assert_eq!(inv.0[0].field, "unsolicited");
    assert!(inv.0[0].message.contains("off-label"), "{}", inv.0[0].message);
    let e = medical::create_request(&store, &t.msl, input(None)).await.unwrap_err();
    assert_eq!(field_of(&e), "unsolicited");
    assert!(medical::requests(&store, &Default::default()).await.unwrap().is_empty());

    let r = medical::create_request(&store, &t.msl, input(Some(true))).await.unwrap();
    assert_eq!(r.status, "new");
    assert!(r.unsolicited);
    // Routine: ten business days in the MSL's zone: 12 calendar days from a Sunday, 14 from a
    // weekday.
    let days = (r.sla_due_at - r.received_at).num_days();
    assert!((12..=14).contains(&days), "{days}");
    let sla = tasks::open_for_subject(&store, "medical_request", &r.id.to_string()).await.unwrap();
    assert_eq!(sla.len(), 1);
    assert_eq!(sla[0].due_at, r.sla_due_at);
    assert_eq!(sla[0].assignee_user_id, Some(t.msl_id));

    // Before the signature everything can change; urgency moves the SLA and its task.
    let r = medical::edit_request(
        &store,
        &t.msl,
        r.id,
        RequestEdit {
            questions: Some(vec!["Is there data on dialysis?".into(), "And on dose adjustment?".into()]),
            urgency: Some("urgent".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(r.questions.len(), 2);
    assert_eq!(r.sla_due_at, r.received_at + Duration::hours(24));
    let sla = tasks::open_for_subject(&store, "medical_request", &r.id.to_string()).await.unwrap();
    assert_eq!(sla[0].due_at, r.sla_due_at);
    // Handing the request to another MSL moves its task to their queue, and back again.
    for to in [t.msl2_id, t.msl_id] {
        let moved = medical::edit_request(
            &store,
            &t.manager,
            r.id,
            RequestEdit { assigned_to: Some(to), ..Default::default() },
        )
        .await
        .unwrap();
        assert_eq!(moved.assigned_user_id, to);
        let open = tasks::open_for_subject(&store, "medical_request", &r.id.to_string()).await.unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].assignee_user_id, Some(to));
    }
    let sla = tasks::open_for_subject(&store, "medical_request", &r.id.to_string()).await.unwrap();

    // Signature locks the question, requester and delivery method.
    assert!(medical::sign_request(&store, &t.msl, r.id, " ").await.is_err());
    let r = medical::sign_request(&store, &t.msl, r.id, "Dr. Ana Ruiz").await.unwrap();
    assert!(r.locked());
    assert_eq!(r.signed_name.as_deref(), Some("Dr. Ana Ruiz"));
    assert!(matches!(medical::sign_request(&store, &t.msl, r.id, "Dr. Ana Ruiz").await, Err(StoreError::Refused(_))));
    for (edit, field) in [
        (RequestEdit { questions: Some(vec!["Something else?".into()]), ..Default::default() }, "questions"),
        (RequestEdit { hcp_id: Some(b), ..Default::default() }, "hcp_id"),
        (RequestEdit { delivery_method: Some("letter".into()), ..Default::default() }, "delivery_method"),
    ] {
        let e = medical::edit_request(&store, &t.msl, r.id, edit).await.unwrap_err();
        assert_eq!(field_of(&e), field);
    }
    // Unchanged values and unlocked parts still go through.
    let same = medical::edit_request(
        &store,
        &t.msl,
        r.id,
        RequestEdit {
            delivery_method: Some("email".into()),
            products: Some(vec!["Cardiozan".into(), "Nefrolin".into()]),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(same.products.len(), 2);
    assert_eq!(same.questions, r.questions);
    // The database refuses it too.
    let sql = format!("UPDATE medical_requests SET delivery_method = 'letter' WHERE id = {}", id_literal(&store, r.id));
    assert!(refused_by_the_database(db, &store, sql).await);

    // State machine: no answer before work starts or without a response.
    let e = medical::move_request(&store, &t.msl, r.id, RequestStatus::Answered).await.unwrap_err();
    assert_eq!(field_of(&e), "status");
    medical::move_request(&store, &t.msl, r.id, RequestStatus::InProgress).await.unwrap();
    let e = medical::move_request(&store, &t.msl, r.id, RequestStatus::Answered).await.unwrap_err();
    assert_eq!(field_of(&e), "response");
    let e = medical::move_request(&store, &t.msl, r.id, RequestStatus::Closed).await.unwrap_err();
    assert_eq!(field_of(&e), "status");
    // The response can be written after the signature.
    let r = medical::respond(
        &store,
        &t.msl,
        r.id,
        ResponseInput {
            text: "Pharmacokinetic data in end-stage renal disease are summarized in the enclosed letter.".into(),
            documents: vec![Material { name: "Standard response letter SRL-0142".into(), version: "3.0".into() }],
        },
    )
    .await
    .unwrap();
    assert_eq!(r.response_documents[0].name, "Standard response letter SRL-0142");
    let r = medical::move_request(&store, &t.msl, r.id, RequestStatus::Answered).await.unwrap();
    assert!(r.answered_at.is_some());
    assert!(tasks::open_for_subject(&store, "medical_request", &r.id.to_string()).await.unwrap().is_empty());
    // Revised answer after a follow-up question, then closed.
    medical::move_request(&store, &t.msl, r.id, RequestStatus::InProgress).await.unwrap();
    medical::respond(&store, &t.msl, r.id, ResponseInput { text: "Revised answer.".into(), documents: vec![] })
        .await
        .unwrap();
    medical::move_request(&store, &t.msl, r.id, RequestStatus::Answered).await.unwrap();
    let closed = medical::move_request(&store, &t.msl, r.id, RequestStatus::Closed).await.unwrap();
    assert_eq!(closed.answered_at, r.answered_at, "the SLA is measured to the first answer");
    assert!(closed.closed_at.is_some());
    let e = medical::respond(&store, &t.msl, r.id, ResponseInput { text: "Too late.".into(), documents: vec![] })
        .await
        .unwrap_err();
    assert_eq!(field_of(&e), "response");
    let e = medical::edit_request(
        &store,
        &t.msl,
        r.id,
        RequestEdit { urgency: Some("routine".into()), ..Default::default() },
    )
    .await
    .unwrap_err();
    assert!(matches!(e, StoreError::Refused(_)), "{e}");
    let task = tasks::task(&store, sla[0].id).await.unwrap();
    assert_eq!(task.status, "done");

    // SLA compliance: one answered on time, one open and overdue (received three weeks ago).
    let mut old = input(Some(true));
    old.received_at = Some(Utc::now() - Duration::days(21));
    let overdue = medical::create_request(&store, &t.msl, old).await.unwrap();
    let listed =
        medical::requests(&store, &medical::RequestFilter { overdue: true, ..Default::default() }).await.unwrap();
    assert_eq!(listed.iter().map(|r| r.id).collect::<Vec<_>>(), vec![overdue.id]);
    let c = medical::request_sla(&store, Utc::now() - Duration::days(30), Utc::now() + Duration::hours(1), None)
        .await
        .unwrap();
    assert_eq!((c.received, c.answered_on_time, c.answered_late, c.open_overdue, c.open_on_track), (2, 1, 0, 1, 0));
    assert!(audit_count(&store, "medical_request").await >= 10);
    chain_holds(&store).await;
}

async fn safety_intake_is_fixed_once_forwarded(db: &TestDb) {
    let store = db.store().await;
    let t = team(&store).await;
    let a = hcp(&store, &t.manager, "1234567893", "Ana", "Ruiz").await;
    let met = Utc::now() - Duration::hours(3);
    let it = medical::record_interaction(&store, &t.msl, interaction_input(vec![a], met)).await.unwrap();
    assert_eq!(medical::safety_clock_hours(&store).await.unwrap(), 24);
    assert!(medical::set_safety_clock_hours(&store, &t.manager, 0).await.is_err());

    let report = |aware: Option<chrono::DateTime<Utc>>| SafetyInput {
        kind: "adverse_event".into(),
        interaction_id: Some(it.id),
        hcp_id: Some(a),
        product: "Cardiozan".into(),
        description: "A patient fainted two days after starting treatment.".into(),
        patient: "Woman in her 70s".into(),
        aware_at: aware,
    };
    // Day 0 defaults to the interaction.
    let s = medical::report_safety(&store, &t.msl, report(None)).await.unwrap();
    assert_eq!(s.aware_at, it.occurred_at);
    assert_eq!(s.forward_due_at, it.occurred_at + Duration::hours(24));
    let task = tasks::open_for_subject(&store, "medical_safety", &s.id.to_string()).await.unwrap();
    assert_eq!(task.len(), 1);
    assert_eq!(task[0].due_at, s.forward_due_at);
    assert_eq!(task[0].assignee_user_id, Some(t.msl_id));

    // Corrected before forwarding: a new day 0 moves the task.
    let earlier = met - Duration::hours(5);
    let s = medical::update_safety(&store, &t.msl, s.id, report(Some(earlier))).await.unwrap();
    assert_eq!(s.forward_due_at, clinbridge_core::audit::truncate_micros(earlier) + Duration::hours(24));
    assert_eq!(tasks::task(&store, task[0].id).await.unwrap().due_at, s.forward_due_at);

    let e = medical::forward_safety(&store, &t.msl, s.id, "", "", None).await.unwrap_err();
    assert_eq!(field_of(&e), "forwarded_to");
    let f = medical::forward_safety(
        &store,
        &t.msl,
        s.id,
        "Global Pharmacovigilance (pv-intake@meridian.example)",
        "PV-2026-00412",
        None,
    )
    .await
    .unwrap();
    assert!(f.forwarded());
    assert!(!f.late(Utc::now()));
    assert_eq!(tasks::task(&store, task[0].id).await.unwrap().status, "done");
    // Fixed from now on: in the store and in the database.
    let e = medical::update_safety(&store, &t.msl, s.id, report(Some(earlier))).await.unwrap_err();
    assert!(matches!(e, StoreError::Refused(_)), "{e}");
    assert!(matches!(medical::forward_safety(&store, &t.msl, s.id, "PV", "", None).await, Err(StoreError::Refused(_))));
    let sql = format!("UPDATE medical_safety_intakes SET product = 'Other' WHERE id = {}", id_literal(&store, s.id));
    assert!(refused_by_the_database(db, &store, sql).await);
    let sql = format!("DELETE FROM medical_safety_intakes WHERE id = {}", id_literal(&store, s.id));
    assert!(refused_by_the_database(db, &store, sql).await);
    assert_eq!(medical::safety_intake(&store, s.id).await.unwrap(), f);

    // The organization's clock applies to new intakes.
    assert_eq!(medical::set_safety_clock_hours(&store, &t.manager, 48).await.unwrap(), 48);
    let aware = Utc::now() - Duration::hours(1);
    let p = medical::report_safety(
        &store,
        &t.msl2_id_acting(),
        SafetyInput { kind: "product_complaint".into(), interaction_id: None, ..report(Some(aware)) },
    )
    .await
    .unwrap();
    assert_eq!(p.clock_hours, 48);
    assert_eq!(p.forward_due_at, clinbridge_core::audit::truncate_micros(aware) + Duration::hours(48));
    let pending = medical::safety_intakes(&store, true).await.unwrap();
    assert_eq!(pending.iter().map(|x| x.id).collect::<Vec<_>>(), vec![p.id]);
    assert_eq!(medical::safety_for_interaction(&store, it.id).await.unwrap().len(), 1);
    assert_eq!(audit_count(&store, "medical_safety").await, 4);
    chain_holds(&store).await;
}

impl Team {
    fn msl2_id_acting(&self) -> Acting {
        Acting::user(self.msl2_id, None)
    }
}

async fn a_linked_investigator_shows_trial_activity(db: &TestDb) {
    let store = db.store().await;
    let world = demo::seed(&store).await.unwrap();
    let pi = world.users[&Role::Investigator];
    let manager = Acting::user(world.users[&Role::MedicalManager], None);
    // The demo's Boston PI is an HCP linked to his account; unlinked, no activity shows.
    let h = world.medical.investigator_hcp;
    assert_eq!(medical::hcp(&store, h).await.unwrap().user_id, Some(pi));
    medical::link_user(&store, &manager, h, None).await.unwrap();
    assert!(medical::trial_activity(&store, h).await.unwrap().is_empty());
    medical::link_user(&store, &manager, h, Some(pi)).await.unwrap();
    let activity = medical::trial_activity(&store, h).await.unwrap();
    let hf3 = activity.iter().find(|a| a.study_code == world.study.code && a.site_name.contains("Boston")).unwrap();
    assert_eq!(hf3.role, "principal_investigator");
    assert!(hf3.activated_on.is_some());
    let enrolled: i64 = match &store.db {
        clinbridge_store::Db::Sqlite { readers, .. } => sqlx::query_scalar(
            "SELECT COUNT(*) FROM participants WHERE study_id = $1 AND site_id = $2 AND status IN ('enrolled','randomized','active','completed')",
        )
        .bind(hf3.study_id)
        .bind(hf3.site_id)
        .fetch_one(readers)
        .await
        .unwrap(),
        clinbridge_store::Db::Postgres(p) => sqlx::query_scalar(
            "SELECT COUNT(*) FROM participants WHERE study_id = $1 AND site_id = $2 AND status IN ('enrolled','randomized','active','completed')",
        )
        .bind(hf3.study_id)
        .bind(hf3.site_id)
        .fetch_one(p)
        .await
        .unwrap(),
    };
    assert_eq!(hf3.enrolled, enrolled);
    assert!(enrolled > 0, "the demo enrolls participants at Boston");
    // Linking the same user to a second HCP is refused.
    let other =
        medical::create_hcp(&store, &manager, hcp_input("1932102084", "Sam", "Reyes", "Cardiology")).await.unwrap();
    let e = medical::link_user(&store, &manager, other.id, Some(pi)).await.unwrap_err();
    assert!(matches!(e, StoreError::Conflict { ref field, .. } if field == "user_id"), "{e}");
    // Matching by e-mail works without a link.
    let by_mail = medical::create_hcp(
        &store,
        &manager,
        HcpInput {
            email: "amara.osei@demo.clinbridge.org".into(),
            ..hcp_input("1111111112", "Amara", "Osei-Test", "Cardiology")
        },
    )
    .await
    .unwrap();
    let act = medical::trial_activity(&store, by_mail.id).await.unwrap();
    assert!(!act.is_empty());
    assert!(act.iter().all(|a| a.site_name.contains("Chicago")), "{act:?}");
    chain_holds(&store).await;
}

async fn the_demo_has_a_medical_team(db: &TestDb) {
    let store = db.store().await;
    let world = demo::seed(&store).await.unwrap();
    let m = &world.medical;
    assert_eq!(medical::institutions(&store).await.unwrap().len(), 10);
    assert_eq!(m.hcps.len(), 40);
    assert_eq!(
        medical::search_hcps(&store, &HcpSearch { limit: Some(500), ..Default::default() }).await.unwrap().len(),
        40
    );
    for tier in 1..=3 {
        assert!(
            !medical::search_hcps(&store, &HcpSearch { tier: Some(tier), ..Default::default() })
                .await
                .unwrap()
                .is_empty()
        );
    }
    assert!(world.logins.iter().filter(|l| l.role == Role::Msl).count() == 2);
    assert!(world.users.contains_key(&Role::Commercial));

    let locked = medical::request(&store, m.locked_request).await.unwrap();
    assert!(locked.locked());
    assert_eq!(locked.status, "in_progress");
    let overdue =
        medical::requests(&store, &medical::RequestFilter { overdue: true, ..Default::default() }).await.unwrap();
    assert_eq!(overdue.iter().map(|r| r.id).collect::<Vec<_>>(), vec![m.overdue_request]);
    let statuses: std::collections::BTreeSet<String> =
        medical::requests(&store, &Default::default()).await.unwrap().into_iter().map(|r| r.status).collect();
    assert_eq!(statuses.len(), 4, "{statuses:?}");
    let sla = medical::request_sla(&store, Utc::now() - Duration::days(60), Utc::now() + Duration::hours(1), None)
        .await
        .unwrap();
    assert_eq!((sla.received, sla.open_overdue), (5, 1));
    assert!(sla.answered_on_time >= 2);

    assert!(medical::safety_intake(&store, m.forwarded_safety).await.unwrap().forwarded());
    let pending = medical::safety_intakes(&store, true).await.unwrap();
    assert_eq!(pending.iter().map(|s| s.id).collect::<Vec<_>>(), vec![m.pending_safety]);
    assert_eq!(
        tasks::open_for_subject(&store, "medical_safety", &m.pending_safety.to_string()).await.unwrap().len(),
        1
    );

    let congress = medical::event(&store, m.congress).await.unwrap();
    assert_eq!(congress.sessions.len(), 4);
    assert_eq!(congress.attendees.len(), 3);
    let today = Utc::now().date_naive();
    let q = BoardQuery { from: today - Duration::days(190), to: today, granularity: Granularity::Month };
    let board = medical::insight_board(&store, &q).await.unwrap();
    assert!(board.totals.iter().sum::<i64>() >= 25, "{:?}", board.totals);
    assert!(board.by_category.len() >= 5);
    let tiers =
        medical::interactions_by_tier(&store, Utc::now() - Duration::days(200), Utc::now(), None).await.unwrap();
    assert!(tiers.iter().any(|t| t.tier == Some(1)));
    assert!(!medical::trial_activity(&store, m.investigator_hcp).await.unwrap().is_empty());
    assert!(!medical::engagement_plans(&store, m.hcps[0]).await.unwrap().is_empty());
    let profile = medical::hcp_profile(&store, m.investigator_hcp).await.unwrap();
    assert_eq!(profile.kol.map(|k| k.tier), Some(1));
    assert_eq!(profile.publications.len(), 3);
    assert!(!profile.trial_activity.is_empty());
    assert!(!profile.affiliations.is_empty());
    chain_holds(&store).await;
}
