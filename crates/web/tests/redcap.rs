//! The REDCap-compatible API at `/redcap/api/`: tokens, REDCap's error shapes, each method's
#![allow(clippy::unwrap_used, clippy::expect_used)]
//! answer, who may do what with a token, import_metadata only in development, all-or-nothing
//! imports and files. PyCap itself is run against a demo server by tests/redcap.

mod common;

use clinbridge_core::identity::Role;
use clinbridge_store::edc::redcap as tokens;
use clinbridge_store::{Acting, trials};
use clinbridge_testkit::{TestDb, both_backends};
use common::TestApp;
use serde_json::{Value, json};

both_backends!(
    tokens_and_error_shapes,
    exports_answer_as_redcap_does,
    tokens_carry_their_persons_grants,
    metadata_import_only_in_development,
    imports_are_all_or_nothing,
    files_upload_download_delete,
);

async fn token(app: &TestApp, role: Role, study: &str) -> String {
    let user = app.world.users[&role];
    let study = trials::study_by_code(&app.store, study).await.unwrap();
    let (t, secret) = tokens::create_token(&app.store, &Acting::user(user, None), user, study.id).await.unwrap();
    assert_eq!(secret.len(), 32);
    assert!(secret.chars().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()), "{secret}");
    assert!(secret.starts_with(&t.prefix));
    secret
}

async fn call(app: &TestApp, form: &[(&str, &str)]) -> (u16, String, String) {
    let r = reqwest::Client::new().post(app.url("/redcap/api/")).form(form).send().await.unwrap();
    let status = r.status().as_u16();
    let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    (status, ct, r.text().await.unwrap())
}

async fn json_call(app: &TestApp, form: &[(&str, &str)]) -> (u16, Value) {
    let (status, _, body) = call(app, form).await;
    (status, serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON: {body}")))
}

const DICTIONARY: &str = r#"[
  {"field_name": "record_id", "form_name": "intake", "field_type": "text", "field_label": "Record ID"},
  {"field_name": "name", "form_name": "intake", "field_type": "text", "field_label": "Name"},
  {"field_name": "age", "form_name": "intake", "field_type": "text", "field_label": "Age",
   "text_validation_type_or_show_slider_number": "integer"},
  {"field_name": "scan", "form_name": "documents", "field_type": "file", "field_label": "Scan"}
]"#;

async fn sandbox_with_dictionary(app: &TestApp) -> String {
    let t = token(app, Role::DataManager, "SANDBOX").await;
    let (status, body) =
        json_call(app, &[("token", &t), ("content", "metadata"), ("format", "json"), ("data", DICTIONARY)]).await;
    assert_eq!((status, body), (200, json!(4)));
    t
}

async fn tokens_and_error_shapes(db: &TestDb) {
    let app = common::spawn_app(db).await;
    let t = token(&app, Role::DataManager, "CARDIO-HF3").await;
    let (status, body) = json_call(&app, &[("content", "metadata"), ("format", "json")]).await;
    assert_eq!(status, 401);
    assert!(body["error"].is_string(), "{body}");
    let bad = "0123456789ABCDEF0123456789ABCDEF";
    let (status, body) = json_call(&app, &[("token", bad), ("content", "metadata"), ("format", "json")]).await;
    assert_eq!((status, body), (403, json!({"error": "You do not have permissions to use the API"})));
    // Without a format REDCap answers errors in XML (what PyCap's version and file calls read).
    let (status, ct, body) = call(&app, &[("token", bad), ("content", "version")]).await;
    assert_eq!(status, 403);
    assert!(ct.starts_with("text/xml") && body.contains("<error>You do not have permissions"), "{ct} {body}");
    let (status, _, body) = call(&app, &[("token", bad), ("content", "record"), ("format", "csv")]).await;
    assert_eq!(status, 403);
    assert!(body.starts_with("ERROR: "), "{body}");
    // Lower case is the same token; a REDCap token is not a bearer token for /api/v1.
    let (status, _, body) = call(&app, &[("token", &t.to_lowercase()), ("content", "version")]).await;
    assert_eq!((status, body.as_str()), (200, clinbridge_web::redcap::REDCAP_VERSION));
    let r = reqwest::Client::new().get(app.url("/api/v1/me")).bearer_auth(&t).send().await.unwrap();
    assert_eq!(r.status(), 401);
    // Bad parameters are 400s in the request's format.
    let (status, body) = json_call(&app, &[("token", &t), ("content", "nonsense"), ("format", "json")]).await;
    assert_eq!((status, body), (400, json!({"error": "The value of the parameter \"content\" is not valid"})));
    let (status, body) = json_call(
        &app,
        &[("token", &t), ("content", "record"), ("format", "json"), ("data", "[]"), ("forceAutoNumber", "maybe")],
    )
    .await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("forceAutoNumber"), "{body}");
    // A revoked token opens nothing.
    let user = app.world.users[&Role::DataManager];
    let mine = tokens::tokens_of(&app.store, user).await.unwrap();
    assert_eq!(mine.len(), 1);
    tokens::revoke_token(&app.store, &Acting::user(user, None), user, mine[0].id).await.unwrap();
    let (status, _) = json_call(&app, &[("token", &t), ("content", "metadata"), ("format", "json")]).await;
    assert_eq!(status, 403);
}

async fn exports_answer_as_redcap_does(db: &TestDb) {
    let app = common::spawn_app(db).await;
    let t = token(&app, Role::DataManager, "CARDIO-HF3").await;
    let get = |content: &'static str| {
        let t = t.clone();
        let app = &app;
        async move { json_call(app, &[("token", &t), ("content", content), ("format", "json")]).await }
    };
    let (_, info) = get("project").await;
    assert!(info.is_object() && info["is_longitudinal"] == 1 && info["in_production"] == 1, "{info}");
    let (_, meta) = get("metadata").await;
    assert_eq!(meta[0]["field_name"], "record_id");
    assert_eq!(meta.as_array().unwrap().len(), 30);
    assert_eq!(meta[0].as_object().unwrap().len(), 18);
    let (_, inst) = get("instrument").await;
    assert_eq!(inst[0], json!({"instrument_name": "demographics", "instrument_label": "Demographics"}));
    let (_, names) = get("exportFieldNames").await;
    assert!(
        names
            .as_array()
            .unwrap()
            .contains(&json!({"original_field_name": "race", "choice_value": "1", "export_field_name": "race___1"}))
    );
    let (_, arms) = get("arm").await;
    assert_eq!(arms, json!([{"arm_num": "1", "name": "Arm 1"}]));
    let (_, events) = get("event").await;
    assert_eq!(events[0]["unique_event_name"], "scr_arm_1");
    let (_, mapping) = get("formEventMapping").await;
    assert!(
        mapping
            .as_array()
            .unwrap()
            .contains(&json!({"arm_num": "1", "unique_event_name": "bl_arm_1", "form": "vital_signs"}))
    );
    let (_, rep) = get("repeatingFormsEvents").await;
    assert_eq!(
        rep,
        json!([{"event_name": "scr_arm_1", "form_name": "concomitant_medications", "custom_form_label": ""}])
    );

    let (status, records) = json_call(
        &app,
        &[
            ("token", &t),
            ("content", "record"),
            ("format", "json"),
            ("type", "flat"),
            ("fields[0]", "sbp"),
            ("events[0]", "scr_arm_1"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let rows = records.as_array().unwrap();
    assert!(!rows.is_empty());
    let keys: Vec<&String> = rows[0].as_object().unwrap().keys().collect();
    assert_eq!(keys[..2], [&"record_id".to_string(), &"redcap_event_name".to_string()]);
    assert!(rows.iter().all(|r| r["redcap_event_name"] == "scr_arm_1"));
    let (_, eav) = json_call(
        &app,
        &[("token", &t), ("content", "record"), ("format", "json"), ("type", "eav"), ("fields[0]", "sbp")],
    )
    .await;
    assert!(eav.as_array().unwrap().iter().all(|r| r["field_name"] == "sbp" && r["record"].is_string()));
    let (_, ct, csv) = call(
        &app,
        &[("token", &t), ("content", "record"), ("format", "csv"), ("fields", "record_id,hr"), ("csvDelimiter", ";")],
    )
    .await;
    assert!(ct.starts_with("text/csv"), "{ct}");
    assert!(csv.starts_with("record_id;redcap_event_name;"), "{csv}");
    let (_, ct, xml) = call(&app, &[("token", &t), ("content", "instrument"), ("format", "xml")]).await;
    assert!(
        ct.starts_with("text/xml") && xml.contains("<instrument_name><![CDATA[demographics]]></instrument_name>"),
        "{xml}"
    );
    let (status, _, text) = call(&app, &[("token", &t), ("content", "generateNextRecordName")]).await;
    assert_eq!((status, text.as_str()), (200, "1"));

    // A classic study answers REDCap's own errors for longitudinal methods.
    let s = sandbox_with_dictionary(&app).await;
    for (content, message) in [
        ("arm", "You cannot export arms for classic projects"),
        ("event", "You cannot export events for classic projects"),
        ("formEventMapping", "You cannot export form/event mappings for classic projects"),
    ] {
        let (status, body) = json_call(&app, &[("token", &s), ("content", content), ("format", "json")]).await;
        assert_eq!((status, body), (400, json!({ "error": message })));
    }
}

async fn tokens_carry_their_persons_grants(db: &TestDb) {
    let app = common::spawn_app(db).await;
    let m = token(&app, Role::Monitor, "CARDIO-HF3").await;
    let (status, meta) = json_call(&app, &[("token", &m), ("content", "metadata"), ("format", "json")]).await;
    assert_eq!(status, 200);
    assert!(meta.as_array().unwrap().len() > 1);
    let data = r#"[{"record_id": "BOS-0001", "redcap_event_name": "scr_arm_1", "hr": "70"}]"#;
    let (status, body) =
        json_call(&app, &[("token", &m), ("content", "record"), ("format", "json"), ("data", data)]).await;
    assert_eq!(status, 403);
    assert_eq!(body, json!({"error": "You do not have API Import/Update privileges"}));
    let (status, body) = json_call(&app, &[("token", &m), ("content", "record"), ("format", "json")]).await;
    assert_eq!((status, body), (403, json!({"error": "You do not have API Export privileges"})));
    let (status, _) = json_call(
        &app,
        &[
            ("token", &m),
            ("content", "record"),
            ("action", "delete"),
            ("records[0]", "BOS-0001"),
            ("returnFormat", "json"),
        ],
    )
    .await;
    assert_eq!(status, 403);
    // The monitor holds nothing on SANDBOX: no token can be made useful there.
    let user = app.world.users[&Role::Monitor];
    let sandbox = trials::study_by_code(&app.store, "SANDBOX").await.unwrap();
    let (_, secret) = tokens::create_token(&app.store, &Acting::user(user, None), user, sandbox.id).await.unwrap();
    let (status, _) = json_call(&app, &[("token", &secret), ("content", "metadata"), ("format", "json")]).await;
    assert_eq!(status, 403);
}

async fn metadata_import_only_in_development(db: &TestDb) {
    let app = common::spawn_app(db).await;
    let s = sandbox_with_dictionary(&app).await;
    let (_, meta) = json_call(&app, &[("token", &s), ("content", "metadata"), ("format", "json")]).await;
    let sent: Value = serde_json::from_str(DICTIONARY).unwrap();
    for (a, b) in sent.as_array().unwrap().iter().zip(meta.as_array().unwrap()) {
        for (k, v) in a.as_object().unwrap() {
            assert_eq!(&b[k], v, "{k}");
        }
    }
    let (status, body) = json_call(
        &app,
        &[
            ("token", &s),
            ("content", "metadata"),
            ("format", "json"),
            ("data", r#"[{"field_name": "Bad Name", "form_name": "x", "field_type": "text"}]"#),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("field_name"), "{body}");
    let h = token(&app, Role::DataManager, "CARDIO-HF3").await;
    let (status, body) =
        json_call(&app, &[("token", &h), ("content", "metadata"), ("format", "json"), ("data", DICTIONARY)]).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("production"), "{body}");
    let (_, meta) = json_call(&app, &[("token", &h), ("content", "metadata"), ("format", "json")]).await;
    assert_eq!(meta.as_array().unwrap().len(), 30, "production is untouched");
    // A coordinator may enter data on SANDBOX but not redesign it.
    let c = token(&app, Role::Coordinator, "SANDBOX").await;
    let (status, _) =
        json_call(&app, &[("token", &c), ("content", "metadata"), ("format", "json"), ("data", DICTIONARY)]).await;
    assert_eq!(status, 403);
}

async fn imports_are_all_or_nothing(db: &TestDb) {
    let app = common::spawn_app(db).await;
    let s = sandbox_with_dictionary(&app).await;
    let data = r#"[{"record_id": "1", "name": "Ada", "age": "36"}, {"record_id": "2", "age": "old"}]"#;
    let (status, body) =
        json_call(&app, &[("token", &s), ("content", "record"), ("format", "json"), ("data", data)]).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("age"), "{body}");
    let (_, rows) = json_call(&app, &[("token", &s), ("content", "record"), ("format", "json")]).await;
    assert_eq!(rows, json!([]));
    let csv = "record_id,name,age\n1,Ada,36\n2,Ben,17\n";
    let (status, body) = json_call(
        &app,
        &[
            ("token", &s),
            ("content", "record"),
            ("format", "csv"),
            ("data", csv),
            ("returnContent", "ids"),
            ("returnFormat", "json"),
        ],
    )
    .await;
    assert_eq!((status, body), (200, json!(["1", "2"])));
    let (status, body) = json_call(
        &app,
        &[
            ("token", &s),
            ("content", "record"),
            ("format", "json"),
            ("data", r#"[{"record_id": "x", "name": "Cy"}]"#),
            ("forceAutoNumber", "True"),
            ("returnContent", "auto_ids"),
            ("returnFormat", "json"),
        ],
    )
    .await;
    assert_eq!((status, body), (200, json!(["3,x"])));
    let (status, body) = json_call(
        &app,
        &[("token", &s), ("content", "record"), ("action", "delete"), ("records[0]", "2"), ("returnFormat", "json")],
    )
    .await;
    assert_eq!((status, body), (200, json!(1)));
    let (_, log) = json_call(&app, &[("token", &s), ("content", "log"), ("format", "json"), ("record", "1")]).await;
    let log = log.as_array().unwrap();
    assert!(
        !log.is_empty()
            && log.iter().all(|e| e["record"] == "1" && e["username"] == "data.manager@demo.clinbridge.org"),
        "{log:?}"
    );
    assert!(log.iter().any(|e| e["details"].as_str().unwrap().contains("name = 'Ada'")), "{log:?}");
    // What the store keeps: the reason of an API change to saved data.
    let (status, _) = json_call(
        &app,
        &[("token", &s), ("content", "record"), ("format", "json"), ("data", r#"[{"record_id": "1", "age": "37"}]"#)],
    )
    .await;
    assert_eq!(status, 200);
    let rows = clinbridge_store::audit::search(
        &app.store,
        &clinbridge_store::audit::AuditFilter { entity_type: Some("edc_form".into()), ..Default::default() },
        200,
    )
    .await
    .unwrap();
    assert!(
        rows.iter().any(|r| r.reason.as_deref() == Some("REDCap API import by Tomás Alvarez")),
        "no reason recorded"
    );
}

fn multipart(fields: &[(&str, &str)], file: (&str, &[u8])) -> (String, Vec<u8>) {
    let boundary = "clinbridge-redcap-test-boundary";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").as_bytes());
    }
    body.extend(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{}\"\r\n\r\n", file.0)
            .as_bytes(),
    );
    body.extend(file.1);
    body.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn files_upload_download_delete(db: &TestDb) {
    let app = common::spawn_app(db).await;
    let s = sandbox_with_dictionary(&app).await;
    let (status, _) = json_call(
        &app,
        &[("token", &s), ("content", "record"), ("format", "json"), ("data", r#"[{"record_id": "1", "name": "Ada"}]"#)],
    )
    .await;
    assert_eq!(status, 200);
    let (ct, body) = multipart(
        &[("token", &s), ("content", "file"), ("action", "import"), ("record", "1"), ("field", "scan")],
        ("scan.txt", b"hello"),
    );
    let r = reqwest::Client::new()
        .post(app.url("/redcap/api/"))
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = reqwest::Client::new()
        .post(app.url("/redcap/api/"))
        .form(&[("token", s.as_str()), ("content", "file"), ("action", "export"), ("record", "1"), ("field", "scan")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "text/plain; name=\"scan.txt\"");
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"hello");
    let (_, rows) =
        json_call(&app, &[("token", &s), ("content", "record"), ("format", "json"), ("fields[0]", "scan")]).await;
    assert_eq!(rows[0]["scan"], "scan.txt");
    // A file field takes no value through a record import.
    let (status, body) = json_call(
        &app,
        &[
            ("token", &s),
            ("content", "record"),
            ("format", "json"),
            ("data", r#"[{"record_id": "1", "scan": "x.txt"}]"#),
        ],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, _, _) =
        call(&app, &[("token", &s), ("content", "file"), ("action", "delete"), ("record", "1"), ("field", "scan")])
            .await;
    assert_eq!(status, 200);
    let (status, _, body) =
        call(&app, &[("token", &s), ("content", "file"), ("action", "export"), ("record", "1"), ("field", "scan")])
            .await;
    assert_eq!(status, 400);
    assert!(body.contains("<error>"), "{body}");
    let (status, _, body) =
        call(&app, &[("token", &s), ("content", "file"), ("action", "export"), ("record", "1"), ("field", "name")])
            .await;
    assert_eq!(status, 400);
    assert!(body.contains("not a file upload field"), "{body}");
    // The record goes whole, with the file uploaded again.
    let (ct, body) = multipart(
        &[("token", &s), ("content", "file"), ("action", "import"), ("record", "1"), ("field", "scan")],
        ("again.pdf", b"%PDF"),
    );
    let r = reqwest::Client::new()
        .post(app.url("/redcap/api/"))
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (status, body) = json_call(
        &app,
        &[("token", &s), ("content", "record"), ("action", "delete"), ("records[0]", "1"), ("returnFormat", "json")],
    )
    .await;
    assert_eq!((status, body), (200, json!(1)));
}
