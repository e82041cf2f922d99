//! The command line, run as a user runs it: a demo database, users, grants, tokens, backup and
//! `audit verify` (intact and tampered).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn clinbridge(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_clinbridge"))
        .args(args)
        .env_remove("CLINBRIDGE_DATABASE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    } else {
        drop(child.stdin.take());
    }
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["demo", "--help"],
        vec!["migrate", "--help"],
        vec!["user", "create", "--help"],
        vec!["user", "list", "--help"],
        vec!["user", "deactivate", "--help"],
        vec!["user", "reset-password", "--help"],
        vec!["token", "create", "--help"],
        vec!["grant", "--help"],
        vec!["audit", "verify", "--help"],
        vec!["backup", "--help"],
        vec!["bench", "audited-write", "--help"],
    ] {
        let o = clinbridge(&args, None);
        assert!(o.status.success(), "{args:?}: {}", text(&o));
        assert!(text(&o).contains("Usage:"), "{args:?}");
    }
}

#[test]
fn demo_users_tokens_backup_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("demo.db").display());
    let o = clinbridge(&["demo", "--seed-only", "--database-url", &url], None);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("coordinator@demo.clinbridge.org"));

    let o = clinbridge(
        &[
            "user",
            "create",
            "--database-url",
            &url,
            "--email",
            "Nia.Brooks@Example.org",
            "--name",
            "Nia Brooks",
            "--role",
            "monitor",
            "--site",
            "chi",
            "--password-stdin",
        ],
        Some("a very long monitor passphrase\n"),
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = clinbridge(
        &[
            "user",
            "create",
            "--database-url",
            &url,
            "--email",
            "weak@example.org",
            "--name",
            "Weak",
            "--role",
            "monitor",
            "--password-stdin",
        ],
        Some("password1234"),
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("commonly used"), "{}", text(&o));
    let o = clinbridge(
        &[
            "user",
            "create",
            "--database-url",
            &url,
            "--email",
            "gen@example.org",
            "--name",
            "Gen Erated",
            "--role",
            "auditor",
        ],
        None,
    );
    assert!(o.status.success() && text(&o).contains("Password (shown once):"), "{}", text(&o));

    let o = clinbridge(
        &[
            "grant",
            "--database-url",
            &url,
            "--email",
            "nia.brooks@example.org",
            "--role",
            "monitor",
            "--study",
            "CARDIO-HF3",
        ],
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = clinbridge(&["user", "list", "--database-url", &url], None);
    let list = text(&o);
    assert!(
        list.contains("nia.brooks@example.org") && list.contains("monitor@CHI") && list.contains("monitor@CARDIO-HF3"),
        "{list}"
    );

    let o = clinbridge(&["token", "create", "--database-url", &url, "--email", "nia.brooks@example.org"], None);
    assert!(o.status.success());
    let token = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(token.starts_with("cbt_") && token.len() > 40, "{token}");

    let o = clinbridge(
        &[
            "user",
            "deactivate",
            "--database-url",
            &url,
            "--email",
            "gen@example.org",
            "--reason",
            "left the study team",
        ],
        None,
    );
    assert!(o.status.success(), "{}", text(&o));

    let o = clinbridge(&["audit", "verify", "--database-url", &url], None);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("Audit trail intact"));

    let backup = dir.path().join("backup.db");
    let o = clinbridge(&["backup", "--database-url", &url, "--to", backup.to_str().unwrap()], None);
    assert!(o.status.success(), "{}", text(&o));
    let backup_url = format!("sqlite://{}", backup.display());
    let o = clinbridge(&["audit", "verify", "--database-url", &backup_url], None);
    assert!(o.status.success(), "the backup verifies: {}", text(&o));
    let o = clinbridge(&["backup", "--database-url", &url, "--to", backup.to_str().unwrap()], None);
    assert!(!o.status.success(), "an existing file is not overwritten");
    let o = clinbridge(&["backup", "--database-url", "postgres://postgres@127.0.0.1/x", "--to", "x.dump"], None);
    assert!(text(&o).contains("pg_dump"));

    // Tamper as a superuser would: drop the trigger, edit an entry.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("DROP TRIGGER audit_log_no_update").execute(&mut c).await.unwrap();
        sqlx::query("UPDATE audit_log SET reason = 'nothing to see' WHERE id = 12").execute(&mut c).await.unwrap();
        c.close().await.unwrap();
    });
    let o = clinbridge(&["audit", "verify", "--database-url", &url], None);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("audit entry 12"), "{}", text(&o));
}
