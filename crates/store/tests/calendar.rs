//! The scheduling calendar on both backends: resources and their hours, bookings refused on a
//! conflict (also under concurrency), moves inside the window, window-closing tasks, feeds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{Datelike, Duration, NaiveDate, NaiveTime};
use clinbridge_core::scheduling::VisitStatus;
use clinbridge_core::scheduling::calendar::{ResourceKind, parse_hours};
use clinbridge_store::scheduling::calendar::{self as cal, Booking, Due, ResourceInput};
use clinbridge_store::{Acting, Db, Store, StoreError, demo, scheduling};
use clinbridge_testkit::{TestDb, both_backends};
use uuid::Uuid;

both_backends!(
    resources_keep_their_hours_and_refuse_bad_input,
    a_double_booking_is_refused_naming_the_conflict,
    eight_concurrent_bookings_of_one_slot_give_one,
    visits_move_only_inside_their_window,
    window_closing_tasks_are_raised_once_and_closed_by_the_record,
    feeds_show_their_secret_to_the_owner_and_open_by_it
);

struct Fixture {
    store: Store,
    world: demo::DemoWorld,
    site: Uuid,
    /// Open, unbooked visits at the site, their windows widened to `day` ± 30 days.
    visits: Vec<scheduling::calendar::CalendarVisit>,
    /// A weekday ahead, inside every fixture visit's window.
    day: NaiveDate,
}

/// Runs one statement outside the store's rules (to shape test data).
async fn raw(store: &Store, sql: &'static str, a: NaiveDate, b: NaiveDate, id: Uuid) {
    match &store.db {
        Db::Sqlite { writer, .. } => {
            sqlx::query(sql).bind(a).bind(b).bind(id).execute(writer).await.unwrap();
        }
        Db::Postgres(p) => {
            sqlx::query(sql).bind(a).bind(b).bind(id).execute(p).await.unwrap();
        }
    }
}

async fn fixture(db: &TestDb, n: usize) -> Fixture {
    let store = db.store().await;
    let world = demo::seed(&store).await.unwrap();
    let site = world.sites.iter().find(|s| s.code == "BOS").unwrap().id;
    let mut day = clinbridge_testkit::boston_today() + Duration::days(20);
    while day.weekday().num_days_from_monday() != 1 {
        day += Duration::days(1);
    }
    // Visits a month ahead and more: not booked by the demo, no window task yet.
    let today = clinbridge_testkit::boston_today();
    let far = Due::Between(today + Duration::days(30), today + Duration::days(500));
    let mut visits: Vec<_> = cal::open_visits(&store, None, far)
        .await
        .unwrap()
        .into_iter()
        .filter(|v| v.site_id == site && v.starts_at.is_none())
        .take(n)
        .collect();
    assert_eq!(visits.len(), n, "the demo has {n} open visits at Boston");
    for v in &mut visits {
        raw(
            &store,
            "UPDATE participant_visits SET window_start = $1, window_end = $2 WHERE id = $3",
            day - Duration::days(30),
            day + Duration::days(30),
            v.id,
        )
        .await;
        v.window_start = day - Duration::days(30);
        v.window_end = day + Duration::days(30);
    }
    Fixture { store, world, site, visits, day }
}

fn coordinator(f: &Fixture) -> Acting {
    Acting::user(*f.world.users.get(&clinbridge_core::identity::Role::Coordinator).unwrap(), None)
}

async fn room(f: &Fixture, name: &str, hours: &str) -> Uuid {
    let input = ResourceInput {
        kind: ResourceKind::Room,
        name: name.into(),
        user_id: None,
        active: true,
        hours: parse_hours(hours).unwrap(),
    };
    cal::create_resource(&f.store, &f.world.admin, f.site, input).await.unwrap().id
}

fn at(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap()
}

async fn resources_keep_their_hours_and_refuse_bad_input(db: &TestDb) {
    let f = fixture(db, 1).await;
    let id = room(&f, "Test room A", "Mon-Fri 08:00-17:00; Sat 09:00-12:00").await;
    let r = cal::resource(&f.store, id).await.unwrap();
    assert_eq!(r.hours_text(), "Mon-Fri 08:00-17:00; Sat 09:00-12:00");
    // Staff resources are people; rooms are not.
    let staff =
        ResourceInput { kind: ResourceKind::Staff, name: "Nobody".into(), user_id: None, active: true, hours: vec![] };
    match cal::create_resource(&f.store, &f.world.admin, f.site, staff).await {
        Err(StoreError::Invalid(e)) => assert_eq!(e.0[0].field, "user"),
        other => panic!("expected a field error, got {other:?}"),
    }
    // A person without a grant at Boston cannot be a Boston staff resource.
    let sofia = clinbridge_store::identity::user_by_email(
        &f.store,
        &clinbridge_core::identity::Email::parse("sofia.marin@demo.clinbridge.org").unwrap(),
    )
    .await
    .unwrap();
    let staff = ResourceInput {
        kind: ResourceKind::Staff,
        name: "Sofia".into(),
        user_id: Some(sofia.id),
        active: true,
        hours: vec![],
    };
    assert!(matches!(cal::create_resource(&f.store, &f.world.admin, f.site, staff).await, Err(StoreError::Invalid(_))));
    // Names are unique per site.
    let again = ResourceInput {
        kind: ResourceKind::Room,
        name: "Test room A".into(),
        user_id: None,
        active: true,
        hours: vec![],
    };
    match cal::create_resource(&f.store, &f.world.admin, f.site, again).await {
        Err(StoreError::Conflict { field, .. }) => assert_eq!(field, "name"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    // Hours change; the kind does not.
    let change = ResourceInput {
        kind: ResourceKind::Room,
        name: "Test room A".into(),
        user_id: None,
        active: false,
        hours: parse_hours("Tue 10:00-11:00").unwrap(),
    };
    let r = cal::update_resource(&f.store, &f.world.admin, id, change).await.unwrap();
    assert_eq!(r.hours_text(), "Tue 10:00-11:00");
    assert!(!r.active);
    let kind = ResourceInput {
        kind: ResourceKind::Equipment,
        name: "Test room A".into(),
        user_id: None,
        active: true,
        hours: vec![],
    };
    assert!(matches!(cal::update_resource(&f.store, &f.world.admin, id, kind).await, Err(StoreError::Invalid(_))));
}

async fn a_double_booking_is_refused_naming_the_conflict(db: &TestDb) {
    let f = fixture(db, 2).await;
    let by = coordinator(&f);
    let exam = room(&f, "Exam room 9", "Mon-Fri 08:00-17:00").await;
    let (a, b) = (&f.visits[0], &f.visits[1]);
    let booked =
        cal::book(&f.store, &by, a.id, Booking { day: f.day, time: at(10, 0), minutes: 60, resources: vec![exam] })
            .await
            .unwrap();
    assert_eq!(booked.day(), f.day);
    assert_eq!(booked.ends_at.unwrap() - booked.starts_at.unwrap(), Duration::minutes(60));
    // Overlapping: refused, naming the room, the booked time and the visit holding it.
    let clash =
        cal::book(&f.store, &by, b.id, Booking { day: f.day, time: at(10, 30), minutes: 30, resources: vec![exam] })
            .await;
    match clash {
        Err(StoreError::Refused(m)) => {
            assert_eq!(m, format!("Exam room 9 is already booked 10:00–11:00 for {} {}", a.subject_id, a.code))
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let unchanged = scheduling::visit(&f.store, b.id).await.unwrap();
    assert!(unchanged.starts_at.is_none(), "a refused booking changes nothing");
    // Outside the room's hours and outside the window are refused too.
    let late =
        cal::book(&f.store, &by, b.id, Booking { day: f.day, time: at(16, 30), minutes: 60, resources: vec![exam] })
            .await;
    assert!(matches!(late, Err(StoreError::Refused(ref m)) if m.contains("is not available")), "{late:?}");
    let out = cal::book(
        &f.store,
        &by,
        b.id,
        Booking { day: f.day + Duration::days(40), time: at(10, 0), minutes: 60, resources: vec![exam] },
    )
    .await;
    match out {
        Err(StoreError::Invalid(e)) => {
            assert_eq!(e.0[0].field, "date");
            assert!(e.0[0].message.contains("the days allowed are"), "{}", e.0[0].message);
        }
        other => panic!("expected a field error, got {other:?}"),
    }
    // Back to back is fine, and the calendar shows both.
    cal::book(&f.store, &by, b.id, Booking { day: f.day, time: at(11, 0), minutes: 45, resources: vec![exam] })
        .await
        .unwrap();
    let tz: chrono_tz::Tz = "America/New_York".parse().unwrap();
    let (booked, _) = cal::site_calendar(&f.store, f.site, tz, f.day, f.day).await.unwrap();
    let ours: Vec<_> = booked.iter().filter(|v| v.resources.iter().any(|r| r.0 == exam)).collect();
    assert_eq!(ours.len(), 2);
    assert_eq!(ours[0].starts_at.unwrap().with_timezone(&tz).time(), at(10, 0));
    // Releasing the slot frees the room.
    cal::unbook(&f.store, &by, a.id).await.unwrap();
    cal::book(&f.store, &by, b.id, Booking { day: f.day, time: at(10, 0), minutes: 60, resources: vec![exam] })
        .await
        .unwrap();
}

async fn eight_concurrent_bookings_of_one_slot_give_one(db: &TestDb) {
    let f = fixture(db, 8).await;
    let by = coordinator(&f);
    let exam = room(&f, "Exam room 8", "Mon-Fri 08:00-17:00").await;
    let mut handles = Vec::new();
    for v in &f.visits {
        let (store, by, id, day) = (f.store.clone(), by.clone(), v.id, f.day);
        handles.push(tokio::spawn(async move {
            cal::book(&store, &by, id, Booking { day, time: at(9, 0), minutes: 60, resources: vec![exam] }).await
        }));
    }
    let mut ok = 0;
    for h in handles {
        match h.await.unwrap() {
            Ok(_) => ok += 1,
            Err(StoreError::Refused(m)) => {
                assert!(m.starts_with("Exam room 8 is already booked 09:00–10:00 for "), "{m}")
            }
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(ok, 1, "exactly one booking of the slot succeeds");
    let tz: chrono_tz::Tz = "America/New_York".parse().unwrap();
    let (booked, _) = cal::site_calendar(&f.store, f.site, tz, f.day, f.day).await.unwrap();
    assert_eq!(booked.iter().filter(|v| v.resources.iter().any(|r| r.0 == exam)).count(), 1);
}

async fn visits_move_only_inside_their_window(db: &TestDb) {
    let f = fixture(db, 2).await;
    let by = coordinator(&f);
    let v = &f.visits[0];
    // An unbooked visit moves by day only.
    let moved = cal::reschedule(&f.store, &by, v.id, f.day + Duration::days(1), None).await.unwrap();
    assert_eq!(moved.scheduled_on, Some(f.day + Duration::days(1)));
    assert_eq!(moved.target_on, v.target_on, "the protocol's target day stays");
    match cal::reschedule(&f.store, &by, v.id, f.day + Duration::days(31), None).await {
        Err(StoreError::Invalid(e)) => {
            assert_eq!(e.0[0].field, "date");
            assert!(e.0[0].message.contains(&v.window_end.to_string()));
        }
        other => panic!("expected a field error, got {other:?}"),
    }
    assert!(matches!(
        cal::reschedule(&f.store, &by, v.id, f.day, Some(at(9, 0))).await,
        Err(StoreError::Invalid(ref e)) if e.0[0].field == "time"
    ));
    // A booked visit keeps its room and length and is checked again.
    let exam = room(&f, "Exam room 7", "Mon-Fri 08:00-17:00").await;
    cal::book(&f.store, &by, v.id, Booking { day: f.day, time: at(9, 0), minutes: 30, resources: vec![exam] })
        .await
        .unwrap();
    let other = &f.visits[1];
    cal::book(
        &f.store,
        &by,
        other.id,
        Booking { day: f.day + Duration::days(1), time: at(9, 0), minutes: 30, resources: vec![exam] },
    )
    .await
    .unwrap();
    let clash = cal::reschedule(&f.store, &by, v.id, f.day + Duration::days(1), None).await;
    assert!(
        matches!(clash, Err(StoreError::Refused(ref m)) if m.contains("Exam room 7 is already booked 09:00–09:30")),
        "{clash:?}"
    );
    let moved = cal::reschedule(&f.store, &by, v.id, f.day + Duration::days(1), Some(at(14, 0))).await.unwrap();
    let tz: chrono_tz::Tz = "America/New_York".parse().unwrap();
    assert_eq!(moved.starts_at.unwrap().with_timezone(&tz).time(), at(14, 0));
    assert_eq!(moved.ends_at.unwrap() - moved.starts_at.unwrap(), Duration::minutes(30));
    // Recorded visits cannot move.
    let today = clinbridge_testkit::boston_today();
    scheduling::record_visit(&f.store, &by, other.id, VisitStatus::Missed, None, "No show").await.unwrap();
    assert!(matches!(cal::reschedule(&f.store, &by, other.id, today, None).await, Err(StoreError::Refused(_))));
}

async fn open_window_tasks(store: &Store, visit: Uuid) -> Vec<(String, String)> {
    let key = cal::window_task_key(visit);
    match &store.db {
        Db::Sqlite { readers, .. } => sqlx::query_as("SELECT status, title FROM tasks WHERE rule_key = $1")
            .bind(key)
            .fetch_all(readers)
            .await
            .unwrap(),
        Db::Postgres(p) => {
            sqlx::query_as("SELECT status, title FROM tasks WHERE rule_key = $1").bind(key).fetch_all(p).await.unwrap()
        }
    }
}

async fn window_closing_tasks_are_raised_once_and_closed_by_the_record(db: &TestDb) {
    let f = fixture(db, 2).await;
    let today = clinbridge_testkit::boston_today();
    let (v, far) = (&f.visits[0], &f.visits[1]);
    // One window closes in two days, the other in a month.
    let sql = "UPDATE participant_visits SET window_start = $1, window_end = $2 WHERE id = $3";
    raw(&f.store, sql, today - Duration::days(5), today + Duration::days(2), v.id).await;
    raw(&f.store, sql, today - Duration::days(5), today + Duration::days(30), far.id).await;
    assert!(cal::raise_window_closing_tasks(&f.store).await.unwrap() >= 1);
    let tasks = open_window_tasks(&f.store, v.id).await;
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].0, "open");
    assert!(tasks[0].1.contains(&v.subject_id) && tasks[0].1.contains(&v.code), "{}", tasks[0].1);
    assert!(open_window_tasks(&f.store, far.id).await.is_empty(), "a month ahead is no task yet");
    // A second pass raises nothing again.
    cal::raise_window_closing_tasks(&f.store).await.unwrap();
    assert_eq!(open_window_tasks(&f.store, v.id).await.len(), 1);
    // It is on the Boston coordinator's queue.
    let actor = clinbridge_store::identity::actor(&f.store, coordinator(&f).user.unwrap()).await.unwrap();
    let queue = clinbridge_store::tasks::queue(&f.store, &actor, 500).await.unwrap();
    assert!(queue.iter().any(|t| t.rule == "scheduling.window_closing" && t.subject_id == v.id.to_string()));
    // Recording the visit closes it.
    scheduling::record_visit(&f.store, &coordinator(&f), v.id, VisitStatus::Completed, Some(today), "").await.unwrap();
    assert_eq!(open_window_tasks(&f.store, v.id).await[0].0, "done");
}

async fn feeds_show_their_secret_to_the_owner_and_open_by_it(db: &TestDb) {
    let f = fixture(db, 1).await;
    let by = coordinator(&f);
    let user = by.user.unwrap();
    // The demo made the coordinator's feeds already; listing them again gives their addresses.
    let feeds = cal::feeds_for(&f.store, &by, user, vec![f.site]).await.unwrap();
    assert_eq!(feeds.len(), 2);
    for (feed, secret) in &feeds {
        let opened = cal::feed_by_secret(&f.store, secret.as_deref().unwrap()).await.unwrap().unwrap();
        assert_eq!(opened.id, feed.id);
    }
    let site_feed = feeds.iter().find(|(f, _)| f.kind == "site").unwrap().0.clone();
    let (_, secret) = cal::regenerate_feed(&f.store, &by, site_feed.id).await.unwrap();
    assert_eq!(secret.len(), 4 + 43, "256 random bits, base64url");
    let opened = cal::feed_by_secret(&f.store, &secret).await.unwrap().unwrap();
    assert_eq!(opened.id, site_feed.id);
    assert!(cal::feed_by_secret(&f.store, "cbf_not-a-secret").await.unwrap().is_none());
    // The demo booked Boston visits for the coming two weeks: the site feed lists them.
    let visits = cal::feed_visits(&f.store, &opened).await.unwrap();
    assert!(!visits.is_empty());
    assert!(visits.iter().all(|v| v.site_id == f.site && v.starts_at.is_some()));
    // The staff feed lists the visits the coordinator is booked for.
    let staff = feeds.iter().find(|(f, _)| f.kind == "staff").unwrap().0.clone();
    let mine = cal::feed_visits(&f.store, &staff).await.unwrap();
    assert!(mine.iter().all(|v| v.resources.iter().any(|r| r.2 == "staff")));
    // A new secret retires the old one; turning the feed off closes it.
    let (_, newer) = cal::regenerate_feed(&f.store, &by, site_feed.id).await.unwrap();
    assert!(cal::feed_by_secret(&f.store, &secret).await.unwrap().is_none());
    cal::revoke_feed(&f.store, &by, site_feed.id).await.unwrap();
    assert!(cal::feed_by_secret(&f.store, &newer).await.unwrap().is_none());
    let listed = cal::feeds_for(&f.store, &by, user, vec![f.site]).await.unwrap();
    assert!(listed.iter().any(|(feed, s)| feed.id == site_feed.id && s.is_none()), "a turned-off feed has no address");
    // Another person gets feeds of their own.
    let other = *f.world.users.get(&clinbridge_core::identity::Role::Auditor).unwrap();
    let theirs = cal::feeds_for(&f.store, &Acting::user(other, None), other, vec![]).await.unwrap();
    assert_eq!(theirs.len(), 1);
    assert!(theirs[0].1.is_some(), "a new feed shows its address once");
}
