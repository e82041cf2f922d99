//! The store suite, run on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use clinbridge_core::audit::ChainBreak;
use clinbridge_core::identity::{Email, Grant, NewPassword, Role, Scope, TimeZone};
use clinbridge_core::signature::Meaning;
use clinbridge_core::tasks::{Assignee, TaskStatus};
use clinbridge_store::identity::{self, LoginOutcome, NewUser};
use clinbridge_store::{Acting, Backend, Settings, Store, audit, demo, signatures, tasks};
use clinbridge_testkit::{TestDb, both_backends};

both_backends!(
    demo_seeds_and_verifies,
    login_sessions_and_timeouts,
    sixth_wrong_password_meets_a_locked_account,
    tampering_is_detected,
    signatures_void_when_the_record_changes,
    tasks_are_idempotent_and_scoped,
    concurrent_writes_commit_and_fail_independently,
    emails_are_unique_regardless_of_case_and_form,
);

async fn seeded(db: &TestDb) -> (Store, demo::DemoWorld) {
    let store = db.store().await;
    let world = demo::seed(&store).await.expect("seed");
    (store, world)
}

async fn demo_seeds_and_verifies(db: &TestDb) {
    let (store, world) = seeded(db).await;
    assert_eq!(world.sites.len(), 3);
    let zones: std::collections::HashSet<_> = world.sites.iter().map(|s| s.time_zone.clone()).collect();
    assert_eq!(zones.len(), 3, "three different time zones");
    // One login per role, plus the site staff of Chicago and Seattle, Boston's pharmacist, the
    // second MSL of the field medical team and the second clinical specialist of the device team.
    assert_eq!(world.logins.len(), Role::ALL.len() + 7);
    for role in Role::ALL {
        assert!(world.logins.iter().any(|l| l.role == role), "no demo login for {role}");
    }
    let v = audit::verify(&store).await.unwrap();
    assert_eq!(v.result, Ok(()));
    assert!(v.entries > 30, "entries: {}", v.entries);
    assert_eq!(v.checkpoints, 1);
    // A second seed into the same database is refused.
    assert!(demo::seed(&store).await.is_err());
}

async fn login(store: &Store, email: &str, password: &str) -> LoginOutcome {
    identity::login(store, None, email, password, None, true, None).await.unwrap()
}

async fn login_sessions_and_timeouts(db: &TestDb) {
    let settings = Settings {
        session_idle: chrono::Duration::seconds(2),
        session_absolute: chrono::Duration::seconds(4),
        ..Settings::default()
    };
    let store = db.store_with(settings).await;
    demo::seed(&store).await.unwrap();
    let LoginOutcome::Session { token, user, .. } =
        login(&store, "COORDINATOR@demo.clinbridge.org", demo::DEMO_PASSWORD).await
    else {
        panic!("login failed")
    };
    assert_eq!(user.name, "Maya Okafor");
    assert!(identity::session(&store, &token).await.unwrap().is_some());
    // Logout invalidates server-side.
    identity::logout(&store, &Acting::user(user.id, None), &token).await.unwrap();
    assert!(identity::session(&store, &token).await.unwrap().is_none());

    // Idle timeout.
    let LoginOutcome::Session { token, .. } =
        login(&store, "coordinator@demo.clinbridge.org", demo::DEMO_PASSWORD).await
    else {
        panic!()
    };
    tokio::time::sleep(std::time::Duration::from_millis(2300)).await;
    assert!(identity::session(&store, &token).await.unwrap().is_none(), "idle session refused");

    // Absolute timeout even with activity.
    let LoginOutcome::Session { token, .. } =
        login(&store, "coordinator@demo.clinbridge.org", demo::DEMO_PASSWORD).await
    else {
        panic!()
    };
    for _ in 0..4 {
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let _ = identity::session(&store, &token).await.unwrap();
    }
    assert!(identity::session(&store, &token).await.unwrap().is_none(), "absolute timeout");
}

async fn sixth_wrong_password_meets_a_locked_account(db: &TestDb) {
    let (store, _) = seeded(db).await;
    let email = "monitor@demo.clinbridge.org";
    for _ in 0..5 {
        assert!(matches!(login(&store, email, "not the password at all").await, LoginOutcome::Refused));
    }
    let u = identity::user_by_email(&store, &Email::parse(email).unwrap()).await.unwrap();
    assert!(u.locked_until.is_some(), "locked after five failures");
    // The sixth attempt, and even the right password, are refused while locked.
    assert!(matches!(login(&store, email, "not the password at all").await, LoginOutcome::Refused));
    assert!(matches!(login(&store, email, demo::DEMO_PASSWORD).await, LoginOutcome::Refused));
    // Audited, and an alert sits on the admins' queue.
    let rows = audit::search(&store, &audit::AuditFilter { action: Some("lockout".into()), ..Default::default() }, 10)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let admin = identity::user_by_email(&store, &Email::parse("admin@demo.clinbridge.org").unwrap()).await.unwrap();
    let q = tasks::queue(&store, &identity::actor(&store, admin.id).await.unwrap(), 50).await.unwrap();
    assert!(q.iter().any(|t| t.kind == "account_locked" && t.title.contains(email)), "{q:?}");
    // An unknown account gets the same answer.
    assert!(matches!(login(&store, "nobody@demo.clinbridge.org", "whatever-password").await, LoginOutcome::Refused));
}

async fn superuser(db: &TestDb, store: &Store, sql: &[&str]) {
    match store.backend() {
        Backend::Sqlite => {
            let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&db.url).await.unwrap();
            for s in sql {
                sqlx::Executor::execute(&mut c, sqlx::AssertSqlSafe(s.to_string())).await.unwrap();
            }
        }
        Backend::Postgres => {
            let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url).await.unwrap();
            for s in sql {
                sqlx::Executor::execute(&mut c, sqlx::AssertSqlSafe(s.to_string())).await.unwrap();
            }
        }
    }
}

async fn tampering_is_detected(db: &TestDb) {
    let (store, _) = seeded(db).await;
    // The triggers refuse UPDATE and DELETE.
    let denied = match store.backend() {
        Backend::Sqlite => {
            let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&db.url).await.unwrap();
            sqlx::Executor::execute(&mut c, "UPDATE audit_log SET reason = 'x' WHERE id = 5").await.is_err()
                && sqlx::Executor::execute(&mut c, "DELETE FROM audit_log WHERE id = 5").await.is_err()
        }
        Backend::Postgres => {
            let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url).await.unwrap();
            sqlx::Executor::execute(&mut c, "UPDATE audit_log SET reason = 'x' WHERE id = 5").await.is_err()
                && sqlx::Executor::execute(&mut c, "DELETE FROM audit_log WHERE id = 5").await.is_err()
        }
    };
    assert!(denied, "triggers refuse changes");

    let drop = match store.backend() {
        Backend::Sqlite => vec!["DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_log_no_delete"],
        Backend::Postgres => vec!["ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"],
    };
    superuser(db, &store, &drop).await;

    // An edit.
    superuser(db, &store, &["UPDATE audit_log SET new_value = '{\"name\":\"forged\"}' WHERE id = 7"]).await;
    let v = audit::verify(&store).await.unwrap();
    assert!(matches!(v.result, Err(ChainBreak::Altered { id: 7, .. })), "{:?}", v.result);
    let message = v.result.unwrap_err().to_string();
    assert!(message.contains("audit entry 7"), "{message}");
}

async fn tampering_delete_and_reorder(db: &TestDb, kind: &str) -> Result<(), ChainBreak> {
    let (store, _) = seeded(db).await;
    let drop = match store.backend() {
        Backend::Sqlite => vec!["DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_log_no_delete"],
        Backend::Postgres => vec!["ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"],
    };
    superuser(db, &store, &drop).await;
    match kind {
        "delete" => superuser(db, &store, &["DELETE FROM audit_log WHERE id = 3"]).await,
        "reorder" => {
            superuser(
                db,
                &store,
                &[
                    "UPDATE audit_log SET id = -1 WHERE id = 4",
                    "UPDATE audit_log SET id = 4 WHERE id = 9",
                    "UPDATE audit_log SET id = 9 WHERE id = -1",
                ],
            )
            .await
        }
        "truncate" => {
            superuser(db, &store, &["DELETE FROM audit_log WHERE id = (SELECT MAX(id) FROM audit_log)"]).await
        }
        _ => unreachable!(),
    }
    audit::verify(&store).await.unwrap().result
}

mod tamper {
    use super::*;
    async fn delete(db: &TestDb) {
        let r = tampering_delete_and_reorder(db, "delete").await;
        assert!(r.is_err(), "deletion detected");
    }
    async fn reorder(db: &TestDb) {
        let r = tampering_delete_and_reorder(db, "reorder").await;
        assert!(matches!(r, Err(ChainBreak::Altered { id: 4, .. }) | Err(ChainBreak::Broken { .. })), "{r:?}");
    }
    async fn truncate(db: &TestDb) {
        let r = tampering_delete_and_reorder(db, "truncate").await;
        assert!(matches!(r, Err(ChainBreak::Truncated { .. })), "{r:?}");
    }
    both_backends!(delete, reorder, truncate);
}

async fn signatures_void_when_the_record_changes(db: &TestDb) {
    let (store, world) = seeded(db).await;
    let inv = *world.users.get(&Role::Investigator).unwrap();
    let acting = Acting::user(inv, None);
    let record = serde_json::json!({"site": "BOS", "entries": [{"name": "A. Lee", "duty": "consent"}]});
    let wrong =
        signatures::sign(&store, &acting, "wrong password!!", Meaning::Approval, "delegation_log", "d1", &record).await;
    assert!(wrong.is_err());
    let sig =
        signatures::sign(&store, &acting, demo::DEMO_PASSWORD, Meaning::Approval, "delegation_log", "d1", &record)
            .await
            .unwrap();
    assert_eq!(sig.printed_name, "Dr. Samuel Reyes");
    assert_eq!(sig.record_hash.len(), 64);
    let shown = signatures::for_record(&store, "delegation_log", "d1", &record).await.unwrap();
    assert!(shown[0].valid);
    assert_eq!(shown[0].statement, "I approve this record.");
    let changed = serde_json::json!({"site": "BOS", "entries": [{"name": "A. Lee", "duty": "randomize"}]});
    let shown = signatures::for_record(&store, "delegation_log", "d1", &changed).await.unwrap();
    assert!(!shown[0].valid, "void after a change");
    let rows = audit::search(
        &store,
        &audit::AuditFilter {
            action: Some("signature".into()),
            entity_type: Some("delegation_log".into()),
            ..Default::default()
        },
        10,
    )
    .await
    .unwrap();
    assert_eq!(rows.len(), 1);
}

async fn tasks_are_idempotent_and_scoped(db: &TestDb) {
    let (store, world) = seeded(db).await;
    let bos = world.sites.iter().find(|s| s.code == "BOS").unwrap().id;
    let chi = world.sites.iter().find(|s| s.code == "CHI").unwrap().id;
    let task = |site: uuid::Uuid, hours: i64| tasks::NewTask {
        kind: "window_closing".into(),
        title: "Visit window closes".into(),
        detail: String::new(),
        subject_type: "visit".into(),
        subject_id: "v1".into(),
        study_id: Some(world.study.id),
        site_id: Some(site),
        assignee: Assignee::Role { role: Role::Coordinator, scope: Scope::Site(site) },
        due_at: clinbridge_store::now() + chrono::Duration::hours(hours),
        rule: "scheduling.window".into(),
        rule_key: format!("scheduling.window:{site}"),
    };
    let a = tasks::raise(&store, &Acting::system(), task(chi, 5)).await.unwrap();
    let b = tasks::raise(&store, &Acting::system(), task(chi, 7)).await.unwrap();
    assert_eq!(a, b, "same rule key, one task");
    assert_eq!(tasks::task(&store, a).await.unwrap().due_at, tasks::task(&store, b).await.unwrap().due_at);
    let coord = identity::actor(&store, *world.users.get(&Role::Coordinator).unwrap()).await.unwrap();
    let q = tasks::queue(&store, &coord, 100).await.unwrap();
    assert!(!q.iter().any(|t| t.id == a), "a Chicago task is not on a Boston coordinator's queue");
    let bos_task = tasks::raise(&store, &Acting::system(), task(bos, -1)).await.unwrap();
    let q = tasks::queue(&store, &coord, 100).await.unwrap();
    assert!(q.iter().any(|t| t.id == bos_task));
    // Overdue announcements reach the people whose queue holds the task, once.
    let delivered = tasks::announce_overdue(&store).await.unwrap();
    let d = delivered.iter().find(|d| d.task.id == bos_task).unwrap();
    assert!(d.recipients.iter().any(|(u, _, _)| *u == coord.user_id));
    assert!(!tasks::announce_overdue(&store).await.unwrap().iter().any(|d| d.task.id == bos_task));
    let n = tasks::notifications(&store, coord.user_id, true, 50).await.unwrap();
    assert!(n.iter().any(|n| n.task_id == Some(bos_task)));
    tasks::close(&store, &Acting::user(coord.user_id, None), bos_task, TaskStatus::Done).await.unwrap();
    assert!(tasks::close(&store, &Acting::user(coord.user_id, None), bos_task, TaskStatus::Done).await.is_err());
    // Resolved tasks are not reopened by a repeated raise.
    let again = tasks::raise(&store, &Acting::system(), task(bos, 3)).await.unwrap();
    assert_eq!(again, bos_task);
    assert_eq!(tasks::task(&store, bos_task).await.unwrap().status, "done");
}

async fn concurrent_writes_commit_and_fail_independently(db: &TestDb) {
    let (store, world) = seeded(db).await;
    let coord = *world.users.get(&Role::Coordinator).unwrap();
    let mut handles = Vec::new();
    for i in 0..64 {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            let title = if i % 8 == 0 { String::new() } else { format!("Task {i}") };
            let task = tasks::ManualTask {
                title,
                detail: String::new(),
                due_at: clinbridge_store::now(),
                assignee: Assignee::User { user_id: coord },
                site_id: None,
                study_id: None,
            };
            tasks::create_manual(&store, &Acting::user(coord, Some(format!("req-{i}"))), task).await
        }));
    }
    let mut ok = 0;
    let mut bad = 0;
    for h in handles {
        match h.await.unwrap() {
            Ok(_) => ok += 1,
            Err(_) => bad += 1,
        }
    }
    assert_eq!((ok, bad), (56, 8));
    let v = audit::verify(&store).await.unwrap();
    assert_eq!(v.result, Ok(()));
    let rows = audit::search(
        &store,
        &audit::AuditFilter { entity_type: Some("task".into()), action: Some("create".into()), ..Default::default() },
        1000,
    )
    .await
    .unwrap();
    assert_eq!(rows.iter().filter(|r| r.request_id.as_deref().is_some_and(|r| r.starts_with("req-"))).count(), 56);
}

async fn emails_are_unique_regardless_of_case_and_form(db: &TestDb) {
    let (store, world) = seeded(db).await;
    let mk = |e: &str| NewUser {
        email: Email::parse(e).unwrap(),
        name: "Test Person".into(),
        password: NewPassword::parse("a long enough passphrase", None).unwrap(),
        time_zone: TimeZone::parse("UTC").unwrap(),
    };
    identity::create_user(&store, &world.admin, mk("Jo.Smith@Example.org"), vec![]).await.unwrap();
    let dup = identity::create_user(&store, &world.admin, mk("ｊｏ.smith@example.ORG"), vec![]).await.unwrap_err();
    assert!(dup.to_string().contains("email"), "{dup}");
    let u = identity::create_user(
        &store,
        &world.admin,
        mk("other@example.org"),
        vec![Grant { role: Role::Monitor, scope: Scope::Organization }],
    )
    .await
    .unwrap();
    identity::set_user_active(&store, &world.admin, u.id, false, Some("left the company".into())).await.unwrap();
    assert!(matches!(login(&store, "other@example.org", "a long enough passphrase").await, LoginOutcome::Refused));
}
