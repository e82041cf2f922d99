//! HTTP behaviour over a real socket, on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use clinbridge_store::{Settings, audit, identity};
use clinbridge_testkit::{TestDb, both_backends};
use clinbridge_web::Config;
use common::{spawn_app, spawn_with};
use serde_json::{Value, json};

both_backends!(
    sign_in_me_and_sign_out,
    session_id_rotates_at_sign_in,
    sessions_time_out,
    sixth_attempt_meets_a_locked_account,
    cross_site_state_changes_are_refused,
    bad_input_gets_the_error_shape_and_writes_nothing,
    bearer_tokens_work_until_revoked,
    audit_search_and_export_are_restricted_and_audited,
    security_headers_and_secure_cookies,
    openapi_documents_every_api_route,
    pages_sign_in_and_escape_output,
    second_factor_enrolment_and_sign_in,
    role_requiring_a_second_factor_must_enrol,
    overdue_tasks_notify_in_app_and_by_webhook,
    overdue_tasks_are_emailed_when_smtp_is_configured,
);

async fn sign_in_me_and_sign_out(db: &TestDb) {
    let app = spawn_app(db).await;
    let c = app.client();
    assert_eq!(c.get(app.url("/api/v1/me")).send().await.unwrap().status(), 401);
    let r = c
        .post(app.url("/api/v1/session"))
        .json(&json!({"email": "Coordinator@Demo.Clinbridge.org", "password": "clinbridge-demo-2026"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers().get("set-cookie").unwrap().to_str().unwrap().to_string();
    assert!(cookie.starts_with("cb_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && !cookie.contains("Secure"), "{cookie}");
    let me: Value = c.get(app.url("/api/v1/me")).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["user"]["name"], "Maya Okafor");
    assert_eq!(me["grants"][0]["role"], "coordinator");
    assert_eq!(me["grants"][0]["scope_code"], "BOS");
    assert_eq!(c.delete(app.url("/api/v1/session")).send().await.unwrap().status(), 204);
    let r = c.get(app.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthenticated");
    let rows =
        audit::search(&app.store, &audit::AuditFilter { action: Some("logout".into()), ..Default::default() }, 10)
            .await
            .unwrap();
    assert_eq!(rows.len(), 1);
}

async fn session_id_rotates_at_sign_in(db: &TestDb) {
    let app = spawn_app(db).await;
    let login = |c: reqwest::Client| {
        let url = app.url("/api/v1/session");
        async move {
            let r = c
                .post(url)
                .json(&json!({"email": "monitor@demo.clinbridge.org", "password": "clinbridge-demo-2026"}))
                .send()
                .await
                .unwrap();
            let v = r.headers().get("set-cookie").unwrap().to_str().unwrap().to_string();
            v.split(';').next().unwrap().trim_start_matches("cb_session=").to_string()
        }
    };
    let c = app.client();
    let first = login(c.clone()).await;
    let second = login(c.clone()).await;
    assert_ne!(first, second);
    assert!(identity::session(&app.store, &first).await.unwrap().is_none(), "the old session ends at sign-in");
    assert!(identity::session(&app.store, &second).await.unwrap().is_some());
}

async fn sessions_time_out(db: &TestDb) {
    let settings = Settings {
        session_idle: chrono::Duration::seconds(2),
        session_absolute: chrono::Duration::seconds(5),
        ..Settings::default()
    };
    let app = spawn_with(db, settings, Config::default()).await;
    let c = app.signed_in("coordinator").await;
    assert_eq!(c.get(app.url("/api/v1/me")).send().await.unwrap().status(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(2400)).await;
    assert_eq!(c.get(app.url("/api/v1/me")).send().await.unwrap().status(), 401, "idle timeout");
    // Pages send the person back to the sign-in page.
    let r = c.get(app.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/login");

    let c = app.signed_in("coordinator").await;
    for _ in 0..5 {
        tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
        c.get(app.url("/api/v1/me")).send().await.unwrap();
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(c.get(app.url("/api/v1/me")).send().await.unwrap().status(), 401, "absolute timeout despite activity");
}

async fn sixth_attempt_meets_a_locked_account(db: &TestDb) {
    let app = spawn_app(db).await;
    let c = app.client();
    let attempt = |password: &'static str| {
        let c = c.clone();
        let url = app.url("/api/v1/session");
        async move {
            c.post(url)
                .json(&json!({"email": "investigator@demo.clinbridge.org", "password": password}))
                .send()
                .await
                .unwrap()
        }
    };
    for _ in 0..5 {
        let r = attempt("wrong wrong wrong").await;
        assert_eq!(r.status(), 401);
        assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "invalid_credentials");
    }
    assert_eq!(attempt("wrong wrong wrong").await.status(), 401);
    assert_eq!(attempt("clinbridge-demo-2026").await.status(), 401, "locked: even the right password is refused");
    // The same answer for an account that does not exist.
    let r = c
        .post(app.url("/api/v1/session"))
        .json(&json!({"email": "ghost@demo.clinbridge.org", "password": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "invalid_credentials");
    // The admins see an alert on their queue.
    let admin = app.signed_in("admin").await;
    let queue: Value = admin.get(app.url("/api/v1/tasks")).send().await.unwrap().json().await.unwrap();
    assert!(queue.as_array().unwrap().iter().any(|t| t["kind"] == "account_locked"), "{queue}");
}

async fn task_count(app: &common::TestApp) -> usize {
    let rows =
        audit::search(&app.store, &audit::AuditFilter { entity_type: Some("task".into()), ..Default::default() }, 1000)
            .await
            .unwrap();
    rows.len()
}

async fn cross_site_state_changes_are_refused(db: &TestDb) {
    let app = spawn_app(db).await;
    let c = app.signed_in("coordinator").await;
    let before = task_count(&app).await;
    let body = json!({"title": "Injected", "due_at": "2030-01-01T09:00:00Z"});
    let r = c.post(app.url("/api/v1/tasks")).header("origin", "https://evil.example").json(&body).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "cross_site_request");
    let r = c.post(app.url("/api/v1/tasks")).header("sec-fetch-site", "cross-site").json(&body).send().await.unwrap();
    assert_eq!(r.status(), 403);
    // A cross-site form post (what a hostile page would send) is refused too.
    let r = c.post(app.url("/logout")).header("origin", "https://evil.example").send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(c.get(app.url("/api/v1/me")).send().await.unwrap().status(), 200, "still signed in");
    assert_eq!(task_count(&app).await, before, "nothing written");
    // The same request from our own origin works.
    let r = c.post(app.url("/api/v1/tasks")).header("sec-fetch-site", "same-origin").json(&body).send().await.unwrap();
    assert_eq!(r.status(), 201);
}

async fn bad_input_gets_the_error_shape_and_writes_nothing(db: &TestDb) {
    let app = spawn_app(db).await;
    let c = app.signed_in("admin").await;
    let before = audit::count(&app.store).await.unwrap();
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (
            c.post(app.url("/api/v1/sites")).header("content-type", "application/json").body("{\"code\": "),
            400,
            "malformed_json",
        ),
        (
            c.post(app.url("/api/v1/sites"))
                .json(&json!({"code": "X1", "name": "X", "time_zone": "UTC", "colour": "red"})),
            400,
            "invalid_body",
        ),
        (
            c.post(app.url("/api/v1/sites")).header("content-type", "text/plain").body("code=X"),
            415,
            "unsupported_media_type",
        ),
        (
            c.post(app.url("/api/v1/sites"))
                .header("content-type", "application/json")
                .body(vec![b' '; 1024 * 1024 + 1024]),
            413,
            "payload_too_large",
        ),
        (
            c.post(app.url("/api/v1/sites")).json(&json!({"code": "no spaces", "name": "", "time_zone": "Mars/Base"})),
            422,
            "invalid",
        ),
        (
            c.post(app.url("/api/v1/sites")).json(&json!({"code": "BOS", "name": "Dup", "time_zone": "UTC"})),
            409,
            "conflict",
        ),
        (c.get(app.url("/api/v1/users/not-a-uuid")), 400, "invalid_path"),
        (c.get(app.url("/api/v1/audit?from=yesterday")), 422, "invalid"),
        (c.get(app.url("/api/v1/no-such-thing")), 404, "not_found"),
        (c.patch(app.url("/api/v1/tasks")), 405, "method_not_allowed"),
    ];
    for (req, status, code) in cases {
        let r = req.send().await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{code}");
        let body: Value = r.json().await.unwrap_or_else(|e| panic!("{code}: not JSON: {e}"));
        assert_eq!(body["error"]["code"], code, "{body}");
        assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // Field errors name every bad field.
    let r = c
        .post(app.url("/api/v1/sites"))
        .json(&json!({"code": "no spaces", "name": "", "time_zone": "Mars/Base"}))
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    let fields: Vec<&str> =
        body["error"]["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["code", "name", "time_zone"]);
    let r = c
        .post(app.url("/api/v1/sites"))
        .json(&json!({"code": "BOS", "name": "Dup", "time_zone": "UTC"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["fields"][0]["field"], "code");
    assert_eq!(audit::count(&app.store).await.unwrap(), before, "nothing was written");
}

async fn bearer_tokens_work_until_revoked(db: &TestDb) {
    let app = spawn_app(db).await;
    let c = app.signed_in("data_manager").await;
    let r = c.post(app.url("/api/v1/tokens")).json(&json!({"name": "nightly export"})).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let secret = created["secret"].as_str().unwrap().to_string();
    let id = created["token"]["id"].as_str().unwrap().to_string();
    let bare = reqwest::Client::new();
    let me: Value = bare.get(app.url("/api/v1/me")).bearer_auth(&secret).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["user"]["email"], "data.manager@demo.clinbridge.org");
    // Bearer requests are not cookie-authenticated, so no origin is needed.
    let r = bare
        .post(app.url("/api/v1/tasks"))
        .bearer_auth(&secret)
        .json(&json!({"title": "Run the listing", "due_at": "2030-01-01T09:00:00Z"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let list: Value = c.get(app.url("/api/v1/tokens")).send().await.unwrap().json().await.unwrap();
    assert!(list[0].get("secret").is_none() && list[0]["prefix"].as_str().unwrap().len() == 10);
    // Another user cannot revoke it; the owner can.
    let other = app.signed_in("monitor").await;
    assert_eq!(other.delete(app.url(&format!("/api/v1/tokens/{id}"))).send().await.unwrap().status(), 403);
    assert_eq!(c.delete(app.url(&format!("/api/v1/tokens/{id}"))).send().await.unwrap().status(), 204);
    assert_eq!(bare.get(app.url("/api/v1/me")).bearer_auth(&secret).send().await.unwrap().status(), 401);
    assert_eq!(bare.get(app.url("/api/v1/me")).bearer_auth("cbt_forged").send().await.unwrap().status(), 401);
}

async fn audit_search_and_export_are_restricted_and_audited(db: &TestDb) {
    let app = spawn_app(db).await;
    let coord = app.signed_in("coordinator").await;
    assert_eq!(coord.get(app.url("/api/v1/audit")).send().await.unwrap().status(), 403);
    assert_eq!(coord.get(app.url("/api/v1/audit/export.csv")).send().await.unwrap().status(), 403);
    let auditor = app.signed_in("auditor").await;
    let rows: Value =
        auditor.get(app.url("/api/v1/audit?entity_type=site")).send().await.unwrap().json().await.unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 3);
    assert!(rows.as_array().unwrap().iter().all(|r| r["entity_type"] == "site" && r["action"] == "create"));
    let r = auditor.get(app.url("/api/v1/audit/export.csv?entity_type=site")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = r.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(reader.headers().unwrap().get(0), Some("id"));
    let records: Vec<_> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(records.len(), 3);
    assert!(records.iter().any(|r| r.get(9).unwrap().contains("Harborview")));
    let exports: Value =
        auditor.get(app.url("/api/v1/audit?action=export")).send().await.unwrap().json().await.unwrap();
    assert_eq!(exports.as_array().unwrap().len(), 1, "the export is itself audited");
    assert_eq!(exports[0]["user_email"], "auditor@demo.clinbridge.org");
    assert_eq!(exports[0]["new_value"]["rows"], 3);
}

async fn security_headers_and_secure_cookies(db: &TestDb) {
    let app = spawn_app(db).await;
    let r = app.client().get(app.url("/login")).send().await.unwrap();
    let h = r.headers();
    assert!(h["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "same-origin");
    assert!(h.get("x-request-id").is_some());
    assert!(h.get("strict-transport-security").is_none(), "no HSTS without TLS");
    drop(app);

    let config = Config { public_url: Some("https://clinbridge.example.org".into()), ..Config::default() };
    let db2 = db.another().await;
    let app = spawn_with(&db2, Settings::default(), config).await;
    let c = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = c
        .post(app.url("/api/v1/session"))
        .header("origin", "https://clinbridge.example.org")
        .json(&json!({"email": "admin@demo.clinbridge.org", "password": "clinbridge-demo-2026"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["strict-transport-security"].to_str().unwrap().contains("max-age="));
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("__Host-cb_session=") && cookie.contains("; Secure"), "{cookie}");
}

async fn openapi_documents_every_api_route(db: &TestDb) {
    let app = spawn_app(db).await;
    let doc: Value = app.client().get(app.url("/api/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for route in clinbridge_web::routes::table() {
        if !route.path.starts_with("/api/v1/") {
            continue;
        }
        let op = &doc["paths"][route.path][route.method.to_lowercase()];
        assert!(op.is_object(), "{} {} is not in the OpenAPI document", route.method, route.path);
    }
}

async fn pages_sign_in_and_escape_output(db: &TestDb) {
    let app = spawn_app(db).await;
    let c = app.client();
    let r = c.get(app.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let page = c.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("<label for=\"email\">E-mail</label>"));
    let r = c
        .post(app.url("/login"))
        .form(&[("email", "coordinator@demo.clinbridge.org"), ("password", "not it at all"), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("Wrong e-mail or password"));
    let r = c
        .post(app.url("/login"))
        .form(&[
            ("email", "coordinator@demo.clinbridge.org"),
            ("password", "clinbridge-demo-2026"),
            ("next", "//evil.example/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/", "no open redirect");
    let home = c.get(app.url("/")).send().await.unwrap().text().await.unwrap();
    assert!(home.contains("Call back the referring cardiologist"));
    assert!(home.contains("Overdue") && home.contains("Upcoming"));
    assert!(!home.contains("href=\"/admin/users\""), "no admin link for a coordinator");
    let r = c
        .post(app.url("/tasks"))
        .form(&[
            ("title", "<script>alert('x')</script>"),
            ("due_date", "2030-01-02"),
            ("due_time", "09:30"),
            ("detail", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let home = c.get(app.url("/")).send().await.unwrap().text().await.unwrap();
    assert!(home.contains("&#60;script&#62;alert(&#39;x&#39;)&#60;/script&#62;"), "escaped");
    assert!(!home.contains("<script>alert"));
    assert_eq!(c.get(app.url("/admin/users")).send().await.unwrap().status(), 403);
}

async fn second_factor_enrolment_and_sign_in(db: &TestDb) {
    let app = spawn_app(db).await;
    let c = app.signed_in("msl").await;
    let user = app.world.users[&clinbridge_core::identity::Role::Msl];
    // Enrol through the pages.
    assert_eq!(c.post(app.url("/profile/totp/start")).send().await.unwrap().status(), 303);
    let page = c.get(app.url("/profile/totp")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("<svg"), "QR code shown");
    let uri = identity::totp_pending_uri(&app.store, user).await.unwrap().unwrap();
    assert!(uri.starts_with("otpauth://totp/"));
    let code = identity::totp_code_now(&uri).unwrap();
    let r = c.post(app.url("/profile/totp/confirm")).form(&[("code", code.as_str())]).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    let recovery: Vec<String> =
        page.split("<code>").skip(1).map(|s| s.split("</code>").next().unwrap().to_string()).collect();
    assert_eq!(recovery.len(), 10);

    // API sign-in now needs the code.
    let fresh = app.client();
    let body = json!({"email": "msl@demo.clinbridge.org", "password": "clinbridge-demo-2026"});
    let r = fresh.post(app.url("/api/v1/session")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "totp_required");
    let r = fresh
        .post(app.url("/api/v1/session"))
        .json(&json!({"email": "msl@demo.clinbridge.org", "password": "clinbridge-demo-2026", "totp": "000000"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let code = identity::totp_code_now(&uri).unwrap();
    let r = fresh
        .post(app.url("/api/v1/session"))
        .json(&json!({"email": "msl@demo.clinbridge.org", "password": "clinbridge-demo-2026", "totp": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Page sign-in stops at the code step; a recovery code works once.
    let p = app.client();
    let r = p
        .post(app.url("/login"))
        .form(&[("email", "msl@demo.clinbridge.org"), ("password", "clinbridge-demo-2026")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/login/totp");
    assert_eq!(p.get(app.url("/")).send().await.unwrap().headers()["location"], "/login/totp");
    assert_eq!(p.get(app.url("/api/v1/me")).send().await.unwrap().status(), 401, "half a sign-in is no sign-in");
    let r = p.post(app.url("/login/totp")).form(&[("code", recovery[0].as_str())]).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(p.get(app.url("/api/v1/me")).send().await.unwrap().status(), 200);
    let p2 = app.client();
    p2.post(app.url("/login"))
        .form(&[("email", "msl@demo.clinbridge.org"), ("password", "clinbridge-demo-2026")])
        .send()
        .await
        .unwrap();
    let r = p2.post(app.url("/login/totp")).form(&[("code", recovery[0].as_str())]).send().await.unwrap();
    assert_eq!(r.status(), 401, "a recovery code works once");
}

async fn role_requiring_a_second_factor_must_enrol(db: &TestDb) {
    let app = spawn_app(db).await;
    let admin = app.signed_in("admin").await;
    let r = admin
        .post(app.url("/admin/security"))
        .form(&[("role", "investigator"), ("role", "admin")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let org = identity::organization(&app.store).await.unwrap();
    assert!(org.mfa_required_for(clinbridge_core::identity::Role::Investigator));
    let c = app.client();
    let r = c
        .post(app.url("/login"))
        .form(&[("email", "investigator@demo.clinbridge.org"), ("password", "clinbridge-demo-2026")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/profile/totp");
    assert_eq!(c.get(app.url("/")).send().await.unwrap().headers()["location"], "/profile/totp");
    assert_eq!(c.get(app.url("/api/v1/me")).send().await.unwrap().status(), 401);
    assert_eq!(c.get(app.url("/profile/totp")).send().await.unwrap().status(), 200);
}

async fn overdue_tasks_notify_in_app_and_by_webhook(db: &TestDb) {
    // A tiny receiver standing in for a chat tool's webhook.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Value>(16);
    let hook = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(v).await;
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, hook).await });
    let config = Config { webhook_url: Some(format!("http://{hook_addr}/hook")), ..Config::default() };
    let app = spawn_with(db, Settings::default(), config).await;
    clinbridge_web::notify::tick(&app.state).await;
    // The demo has several overdue tasks (visit windows among them); one message per task.
    let v = loop {
        let v = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv()).await.unwrap().unwrap();
        assert_eq!(v["event"], "task.overdue");
        if v["task"]["title"].as_str().unwrap().contains("referring cardiologist") {
            break v;
        }
    };
    assert_eq!(v["recipients"][0]["email"], "coordinator@demo.clinbridge.org");
    let c = app.signed_in("coordinator").await;
    let notes: Value = c.get(app.url("/api/v1/notifications")).send().await.unwrap().json().await.unwrap();
    assert!(
        notes.as_array().unwrap().iter().any(|n| { n["title"].as_str().unwrap().starts_with("Overdue: Call back") })
    );
    let unread = notes.as_array().unwrap().iter().filter(|n| n["read_at"].is_null()).count();
    assert!(unread >= 1);
    let page = c.get(app.url("/")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(&format!("class=\"count\">{unread}<")), "unread count in the header");
}

/// A minimal SMTP server standing in for the mail relay: it accepts every message and hands
/// the raw text over.
async fn smtp_sink() -> (u16, tokio::sync::mpsc::Receiver<String>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                let _ = write.write_all(b"220 sink ESMTP\r\n").await;
                let mut message = String::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    let verb = line.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250-sink\r\n250 8BITMIME\r\n",
                        "DATA" => {
                            let _ = write.write_all(b"354 go on\r\n").await;
                            while let Ok(Some(l)) = lines.next_line().await {
                                if l == "." {
                                    break;
                                }
                                message.push_str(&l);
                                message.push('\n');
                            }
                            let _ = tx.send(std::mem::take(&mut message)).await;
                            b"250 queued\r\n"
                        }
                        "QUIT" => {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            break;
                        }
                        _ => b"250 ok\r\n",
                    };
                    let _ = write.write_all(reply).await;
                }
            });
        }
    });
    (port, rx)
}

async fn overdue_tasks_are_emailed_when_smtp_is_configured(db: &TestDb) {
    let (port, mut rx) = smtp_sink().await;
    let config = Config {
        smtp: Some(clinbridge_web::SmtpConfig {
            url: format!("smtp://127.0.0.1:{port}"),
            from: "Clinbridge <clinbridge@example.org>".into(),
        }),
        ..Config::default()
    };
    let app = spawn_with(db, Settings::default(), config).await;
    clinbridge_web::notify::tick(&app.state).await;
    let mail = loop {
        let m = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv()).await.unwrap().unwrap();
        if m.contains("Subject: Overdue: Call back the referring cardiologist") {
            break m;
        }
    };
    assert!(
        mail.contains("To: \"Maya Okafor\" <coordinator@demo.clinbridge.org>")
            || mail.contains("To: Maya Okafor <coordinator@demo.clinbridge.org>"),
        "{mail}"
    );
    assert!(mail.contains("Subject: Overdue: Call back the referring cardiologist"), "{mail}");
    assert!(mail.contains("overdue"), "{mail}");
}

mod studies {
    use super::*;

    async fn studies_through_the_api_and_pages(db: &TestDb) {
        let app = spawn_app(db).await;
        let admin = app.signed_in("admin").await;
        let bad = admin
            .post(app.url("/api/v1/studies"))
            .json(&json!({"code": "bad code", "title": "", "phase": "phase_9", "registry_id": "NCT1"}))
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 422);
        let body: Value = bad.json().await.unwrap();
        let fields: Vec<&str> =
            body["error"]["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
        assert_eq!(fields, ["code", "title", "phase", "registry_id"]);
        let r = admin
            .post(app.url("/api/v1/studies"))
            .json(&json!({"code": "renal-2", "title": "Renal denervation pivotal study", "phase": "pivotal", "registry_id": "nct06000001", "target_enrollment": 120}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let s: Value = r.json().await.unwrap();
        assert_eq!(s["code"], "RENAL-2");
        assert_eq!(s["registry_id"], "NCT06000001");
        assert_eq!(s["next_statuses"], json!(["approved", "terminated"]));
        let r = admin
            .post(app.url("/api/v1/studies/RENAL-2/status"))
            .json(&json!({"status": "enrolling"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422);
        assert!(
            r.json::<Value>().await.unwrap()["error"]["message"].as_str().unwrap().contains("cannot become enrolling")
        );

        // The monitor of CARDIO-HF3 sees that study, not the new one, and cannot edit it.
        let monitor = app.signed_in("monitor").await;
        let list: Value = monitor.get(app.url("/api/v1/studies")).send().await.unwrap().json().await.unwrap();
        let codes: Vec<&str> = list.as_array().unwrap().iter().map(|s| s["code"].as_str().unwrap()).collect();
        assert_eq!(codes, ["CARDIO-HF3"]);
        assert_eq!(monitor.get(app.url("/api/v1/studies/RENAL-2")).send().await.unwrap().status(), 404);
        let detail: Value =
            monitor.get(app.url("/api/v1/studies/cardio-hf3")).send().await.unwrap().json().await.unwrap();
        assert_eq!(detail["arms"].as_array().unwrap().len(), 2);
        let r = monitor
            .put(app.url("/api/v1/studies/CARDIO-HF3"))
            .json(&json!({"title": "Changed", "phase": "phase_3"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);

        // The study page shows the status and offers the allowed changes to an administrator.
        let page = admin.get(app.url("/studies/RENAL-2")).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("Renal denervation pivotal study") && page.contains("Device pivotal"));
        assert!(page.contains("<option value=\"approved\">Approved</option>"));
        let r = admin
            .post(app.url("/studies/RENAL-2/status"))
            .form(&[("status", "approved"), ("reason", "")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        let r = admin
            .post(app.url("/studies/RENAL-2/status"))
            .form(&[("status", "suspended"), ("reason", "")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("reason: is required to mark a study suspended"));
        let page = monitor.get(app.url("/studies/CARDIO-HF3")).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("NCT05873214") && !page.contains("Change status"), "read-only for the monitor");
    }

    async fn a_site_team_sees_its_studies_and_keeps_its_own_site_record(db: &TestDb) {
        let app = spawn_app(db).await;
        let coord = app.signed_in("coordinator").await;
        let list: Value = coord.get(app.url("/api/v1/studies")).send().await.unwrap().json().await.unwrap();
        let codes: Vec<&str> = list.as_array().unwrap().iter().map(|s| s["code"].as_str().unwrap()).collect();
        assert_eq!(
            codes,
            ["AORTA-FLEX", "CARDIO-HF3", "SANDBOX"],
            "the trials through the Boston site, the data-capture sandbox through a study grant"
        );
        let sites: Value =
            coord.get(app.url("/api/v1/studies/CARDIO-HF3/sites")).send().await.unwrap().json().await.unwrap();
        let sea = sites.as_array().unwrap().iter().find(|s| s["site_code"] == "SEA").unwrap();
        assert_eq!(sea["can_enroll"], false);
        assert!(sea["enrollment_block"].as_str().unwrap().contains("not been activated"));
        let body = json!({"pi_email": "investigator@demo.clinbridge.org", "irb_name": "Harborview Institutional Review Board",
            "irb_approved_on": "2026-10-01", "irb_expires_on": "2027-09-30", "activated_on": "2025-01-15", "target_enrollment": 110});
        let r = coord.put(app.url("/api/v1/studies/CARDIO-HF3/sites/BOS")).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.json::<Value>().await.unwrap()["target_enrollment"], 110);
        let r = coord.put(app.url("/api/v1/studies/CARDIO-HF3/sites/CHI")).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 403, "another site's record");
        let page = coord.get(app.url("/studies/CARDIO-HF3")).send().await.unwrap().text().await.unwrap();
        assert!(
            page.contains("href=\"/studies/CARDIO-HF3/sites/BOS\"")
                && !page.contains("href=\"/studies/CARDIO-HF3/sites/CHI\"")
        );
        let r = coord
            .post(app.url("/studies/CARDIO-HF3/sites/BOS"))
            .form(&[
                ("pi_email", ""),
                ("irb_name", "Harborview IRB"),
                ("irb_approved_on", "2026-10-01"),
                ("irb_expires_on", "2026-09-01"),
                ("activated_on", ""),
                ("target_enrollment", "10"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("must not be before the approval date"));
    }

    async fn the_pi_signs_the_delegation_log_with_a_password(db: &TestDb) {
        let app = spawn_app(db).await;
        let pi = app.signed_in("investigator").await;
        let log: Value = pi
            .get(app.url("/api/v1/studies/CARDIO-HF3/sites/BOS/delegation"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let pending =
            log.as_array().unwrap().iter().find(|e| e["signed_by"].is_null()).expect("an unsigned entry").clone();
        assert_eq!(pending["user_name"], "Tomás Alvarez");
        let id = pending["id"].as_str().unwrap().to_string();
        let page = pi.get(app.url("/studies/CARDIO-HF3/sites/BOS")).send().await.unwrap().text().await.unwrap();
        assert!(
            page.contains("Awaiting the PI's signature") && page.contains(&format!("action=\"/delegation/{id}/sign\""))
        );
        // A wrong password signs nothing.
        let r = pi
            .post(app.url(&format!("/delegation/{id}/sign")))
            .form(&[("password", "wrong password here")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("password: is not your current password"));
        let r = pi
            .post(app.url(&format!("/delegation/{id}/sign")))
            .form(&[("password", "clinbridge-demo-2026")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        let page = pi.get(app.url("/studies/CARDIO-HF3/sites/BOS")).send().await.unwrap().text().await.unwrap();
        assert!(!page.contains("Awaiting the PI"), "every entry is signed now");
        assert!(page.contains("Signed by Dr. Samuel Reyes on") && page.contains("I approve this record."));
        // The coordinator keeps the log but cannot sign it.
        let coord = app.signed_in("coordinator").await;
        let r = coord
            .post(app.url(&format!("/api/v1/delegation/{id}/sign")))
            .json(&json!({"password": "clinbridge-demo-2026"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        let r = coord
            .post(app.url(&format!("/api/v1/delegation/{id}/end")))
            .json(&json!({"end_on": "2030-01-31"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.json::<Value>().await.unwrap()["signature_void"], true);
        let log: Value = coord
            .get(app.url("/api/v1/studies/CARDIO-HF3/sites/BOS/delegation"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let ended = log.as_array().unwrap().iter().find(|e| e["id"] == id.as_str()).unwrap();
        assert!(ended["signed_by"].is_null() && ended["signature_void"] == true, "{ended}");
    }

    both_backends!(
        studies_through_the_api_and_pages,
        a_site_team_sees_its_studies_and_keeps_its_own_site_record,
        the_pi_signs_the_delegation_log_with_a_password
    );
}
