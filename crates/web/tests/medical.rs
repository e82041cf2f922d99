//! Field medical through the JSON API: the wall against commercial roles, an interaction logged
//! with its insight and request in one call (all or nothing), the rules of medical information
//! requests, the insight board and its drill-down, safety intake forwarding, and an HCP's trial
//! activity.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use clinbridge_testkit::{TestDb, both_backends};
use common::{TestApp, spawn_app};
use serde_json::{Value, json};

both_backends!(
    commercial_is_refused_every_medical_read,
    an_interaction_is_logged_with_its_insight_and_request,
    an_error_in_the_request_saves_nothing,
    a_solicited_request_is_refused_with_the_reason,
    the_signature_locks_the_questions_but_not_the_response,
    the_insight_board_counts_match_the_cells,
    a_forwarded_safety_intake_no_longer_changes,
    an_investigators_profile_shows_trial_activity,
    publications_are_added_all_or_nothing,
    the_dashboard_shows_what_is_waiting,
    the_openapi_document_resolves_the_medical_schemas,
);

fn url(app: &TestApp, path: &str) -> String {
    app.url(&format!("/api/v1/medical{path}"))
}

/// The fields an error names.
fn fields(body: &Value) -> Vec<String> {
    body["error"]["fields"]
        .as_array()
        .map(|a| a.iter().map(|f| f["field"].as_str().unwrap_or("").to_string()).collect())
        .unwrap_or_default()
}

fn field_message(body: &Value, field: &str) -> String {
    body["error"]["fields"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["field"] == field))
        .and_then(|f| f["message"].as_str())
        .unwrap_or("")
        .to_string()
}

async fn commercial_is_refused_every_medical_read(db: &TestDb) {
    let app = spawn_app(db).await;
    let m = &app.world.medical;
    let commercial = app.signed_in("commercial").await;
    let reads = [
        "/dashboard".to_string(),
        "/institutions".into(),
        "/hcps".into(),
        format!("/hcps/{}", m.hcps[0]),
        "/interactions".into(),
        "/insights".into(),
        "/insight-board".into(),
        "/insight-board/cell?dimension=tag&key=x&period=2026-01".into(),
        "/requests".into(),
        format!("/requests/{}", m.locked_request),
        "/events".into(),
        format!("/events/{}", m.congress),
        "/safety".into(),
        format!("/safety/{}", m.pending_safety),
        "/settings/safety-clock".into(),
    ];
    for path in &reads {
        let r = commercial.get(url(&app, path)).send().await.unwrap();
        assert_eq!(r.status(), 403, "commercial GET {path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "forbidden", "{path}");
    }
    // A medical reader sees the same things.
    let msl = app.signed_in("msl").await;
    for path in reads.iter().filter(|p| !p.starts_with("/settings")) {
        let r = msl.get(url(&app, path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "msl GET {path}");
    }
    // Nor may commercial write.
    let r = commercial
        .post(url(&app, "/safety"))
        .json(&json!({"kind": "adverse_event", "description": "x", "hcp_id": m.hcps[0]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

fn log_body(hcp: uuid::Uuid, questions: Value) -> Value {
    json!({
        "occurred_at": (clinbridge_store::now() - chrono::Duration::hours(3)).to_rfc3339(),
        "channel": "in_person",
        "hcp_ids": [hcp],
        "topics": ["Renal dosing"],
        "notes": "Discussed the renal subgroup.",
        "insights": [{"category": "unmet_need", "text": "No guidance for eGFR under 30", "tags": ["renal dosing"]}],
        "request": {"unsolicited": true, "hcp_id": hcp, "questions": questions, "delivery_method": "email"},
    })
}

async fn an_interaction_is_logged_with_its_insight_and_request(db: &TestDb) {
    let app = spawn_app(db).await;
    let hcp = app.world.medical.hcps[3];
    let msl = app.signed_in("msl").await;
    let r = msl
        .post(url(&app, "/interactions"))
        .json(&log_body(hcp, json!(["What is known in severe renal impairment?"])))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let logged: Value = r.json().await.unwrap();
    let id = logged["interaction"]["id"].as_str().unwrap().to_string();
    let request_id = logged["request"]["id"].as_str().unwrap().to_string();
    assert_eq!(logged["insights"].as_array().unwrap().len(), 1);

    let got: Value = msl.get(url(&app, &format!("/interactions/{id}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(got["channel"], "in_person");
    assert_eq!(got["hcps"][0]["id"], hcp.to_string());
    assert_eq!(got["insights"][0]["text"], "No guidance for eGFR under 30");
    assert_eq!(got["insights"][0]["tags"], json!(["renal dosing"]));

    let req: Value = msl.get(url(&app, &format!("/requests/{request_id}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(req["interaction_id"], id);
    assert_eq!(req["status"], "new");
    assert_eq!(req["questions"], json!(["What is known in severe renal impairment?"]));
    assert_eq!(req["locked"], false);

    // The HCP's profile lists both.
    let profile: Value = msl.get(url(&app, &format!("/hcps/{hcp}"))).send().await.unwrap().json().await.unwrap();
    assert!(profile["interactions"].as_array().unwrap().iter().any(|i| i["id"] == id));
    assert!(profile["requests"].as_array().unwrap().iter().any(|i| i["id"] == request_id));
}

async fn an_error_in_the_request_saves_nothing(db: &TestDb) {
    let app = spawn_app(db).await;
    let hcp = app.world.medical.hcps[4];
    let msl = app.signed_in("msl").await;
    let count = |v: Value| v.as_array().unwrap().len();
    let before =
        count(msl.get(url(&app, &format!("/interactions?hcp_id={hcp}"))).send().await.unwrap().json().await.unwrap());
    let insights_before = count(msl.get(url(&app, "/insights?limit=2000")).send().await.unwrap().json().await.unwrap());
    let r = msl.post(url(&app, "/interactions")).json(&log_body(hcp, json!([]))).send().await.unwrap();
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.unwrap();
    assert!(fields(&body).contains(&"request.questions".to_string()), "{body}");
    let after =
        count(msl.get(url(&app, &format!("/interactions?hcp_id={hcp}"))).send().await.unwrap().json().await.unwrap());
    assert_eq!(after, before, "the interaction was not saved");
    let insights_after = count(msl.get(url(&app, "/insights?limit=2000")).send().await.unwrap().json().await.unwrap());
    assert_eq!(insights_after, insights_before, "nor its insight");
}

async fn a_solicited_request_is_refused_with_the_reason(db: &TestDb) {
    let app = spawn_app(db).await;
    let msl = app.signed_in("msl").await;
    let r = msl
        .post(url(&app, "/requests"))
        .json(&json!({
            "hcp_id": app.world.medical.hcps[5],
            "unsolicited": false,
            "questions": ["Can it be used in children?"],
            "delivery_method": "email",
        }))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 422, "{body}");
    assert_eq!(field_message(&body, "unsolicited"), clinbridge_core::medical::SOLICITED_REFUSAL);
    // Unknown fields are refused, not ignored.
    let r = msl
        .post(url(&app, "/requests"))
        .json(&json!({"hcp_id": app.world.medical.hcps[5], "unsolicited": true, "questions": ["Q?"],
            "delivery_method": "email", "promotional": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

async fn the_signature_locks_the_questions_but_not_the_response(db: &TestDb) {
    let app = spawn_app(db).await;
    let msl = app.signed_in("msl").await;
    let r = msl
        .post(url(&app, "/requests"))
        .json(&json!({
            "hcp_id": app.world.medical.hcps[6],
            "unsolicited": true,
            "questions": ["Is there data on dose titration in the elderly?"],
            "delivery_method": "email",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let req: Value = r.json().await.unwrap();
    let id = req["id"].as_str().unwrap().to_string();
    let path = |p: &str| url(&app, &format!("/requests/{id}{p}"));

    // Not answered: it cannot be closed (nor answered without a response).
    let r = msl.post(path("/status")).json(&json!({"status": "closed"})).send().await.unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(fields(&r.json().await.unwrap()), vec!["status"]);
    let r = msl.post(path("/status")).json(&json!({"status": "in_progress"})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = msl.post(path("/status")).json(&json!({"status": "answered"})).send().await.unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(fields(&r.json().await.unwrap()), vec!["response"]);

    let r = msl.post(path("/signature")).json(&json!({"typed_name": "Dana Whitfield"})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let signed: Value = r.json().await.unwrap();
    assert_eq!(signed["locked"], true);
    assert_eq!(signed["signed_name"], "Dana Whitfield");

    let r = msl.put(path("")).json(&json!({"questions": ["Something else entirely?"]})).send().await.unwrap();
    assert!(r.status() == 409 || r.status() == 422, "questions after signature: {}", r.status());
    let again: Value = msl.get(path("")).send().await.unwrap().json().await.unwrap();
    assert_eq!(again["questions"], json!(["Is there data on dose titration in the elderly?"]));

    let r = msl
        .post(path("/response"))
        .json(&json!({"text": "Titration data from the ELDER-HF substudy are enclosed.",
            "documents": [{"name": "ELDER-HF substudy summary", "version": "MI-2026-014"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = msl.post(path("/status")).json(&json!({"status": "answered"})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = msl.post(path("/status")).json(&json!({"status": "closed"})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let closed: Value = r.json().await.unwrap();
    assert_eq!(closed["status"], "closed");
    assert!(closed["answered_at"].is_string());
}

async fn the_insight_board_counts_match_the_cells(db: &TestDb) {
    let app = spawn_app(db).await;
    let manager = app.signed_in("medical_manager").await;
    let to = clinbridge_store::now().date_naive();
    let from = to - chrono::Duration::days(365);
    for granularity in ["month", "quarter"] {
        let span = format!("from={from}&to={to}&granularity={granularity}");
        let board: Value =
            manager.get(url(&app, &format!("/insight-board?{span}"))).send().await.unwrap().json().await.unwrap();
        let periods: Vec<String> =
            board["periods"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_string()).collect();
        let mut checked = 0;
        for (dimension, rows) in [("tag", "by_tag"), ("category", "by_category"), ("product", "by_product")] {
            for row in board[rows].as_array().unwrap().iter().take(3) {
                let key = row["key"].as_str().unwrap();
                for (i, period) in periods.iter().enumerate() {
                    let count = row["counts"][i].as_i64().unwrap();
                    let cell: Value = manager
                        .get(url(&app, "/insight-board/cell"))
                        .query(&[("dimension", dimension), ("key", key), ("period", period.as_str())])
                        .query(&[("from", from.to_string()), ("to", to.to_string())])
                        .query(&[("granularity", granularity)])
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    assert_eq!(
                        cell.as_array().unwrap().len() as i64,
                        count,
                        "{granularity} {dimension} {key} {period}"
                    );
                    checked += count;
                }
            }
        }
        assert!(checked > 0, "the demo has insights on the {granularity} board");
    }
    let r = manager.get(url(&app, "/insight-board/cell?dimension=colour&key=x&period=2026-01")).send().await.unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(fields(&r.json().await.unwrap()), vec!["dimension"]);
}

async fn a_forwarded_safety_intake_no_longer_changes(db: &TestDb) {
    let app = spawn_app(db).await;
    let msl = app.signed_in("msl").await;
    let hcp = app.world.medical.hcps[7];
    let intake = json!({"kind": "adverse_event", "hcp_id": hcp, "product": "Cardiozen",
        "description": "Syncope two days after starting", "patient": "Man in his 80s",
        "aware_at": (clinbridge_store::now() - chrono::Duration::hours(2)).to_rfc3339()});
    let r = msl.post(url(&app, "/safety")).json(&intake).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let s: Value = r.json().await.unwrap();
    assert_eq!(s["forwarded"], false);
    let id = s["id"].as_str().unwrap().to_string();
    let pending: Value = msl.get(url(&app, "/safety?pending=true")).send().await.unwrap().json().await.unwrap();
    assert!(pending.as_array().unwrap().iter().any(|p| p["id"] == id));

    let r = msl
        .post(url(&app, &format!("/safety/{id}/forward")))
        .json(&json!({"forwarded_to": "Drug safety", "reference": "PV-2026-0042"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let f: Value = r.json().await.unwrap();
    assert_eq!(f["forwarded"], true);
    assert_eq!(f["forward_reference"], "PV-2026-0042");

    let mut changed = intake.clone();
    changed["description"] = json!("Something else");
    let r = msl.put(url(&app, &format!("/safety/{id}"))).json(&changed).send().await.unwrap();
    assert_eq!(r.status(), 409);
    let r = msl
        .post(url(&app, &format!("/safety/{id}/forward")))
        .json(&json!({"forwarded_to": "Drug safety", "reference": "PV-2026-0043"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let again: Value = msl.get(url(&app, &format!("/safety/{id}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(again["description"], "Syncope two days after starting");
    assert_eq!(again["forward_reference"], "PV-2026-0042");
}

async fn an_investigators_profile_shows_trial_activity(db: &TestDb) {
    let app = spawn_app(db).await;
    let msl = app.signed_in("msl").await;
    let hcp = app.world.medical.investigator_hcp;
    let r = msl.get(url(&app, &format!("/hcps/{hcp}"))).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let profile: Value = r.json().await.unwrap();
    assert_eq!(profile["hcp"]["id"], hcp.to_string());
    let activity = profile["trial_activity"].as_array().unwrap();
    assert!(!activity.is_empty(), "{profile}");
    assert!(activity.iter().any(|a| a["study_code"] == app.world.study.code.as_str()), "{activity:?}");
    let r = msl.get(url(&app, &format!("/hcps/{}", uuid::Uuid::new_v4()))).send().await.unwrap();
    assert_eq!(r.status(), 404);
}

async fn publications_are_added_all_or_nothing(db: &TestDb) {
    let app = spawn_app(db).await;
    let msl = app.signed_in("msl").await;
    let hcp = app.world.medical.hcps[8];
    let listed = |v: &Value| v["publications"].as_array().unwrap().len();
    let profile = |msl: reqwest::Client| {
        let u = url(&app, &format!("/hcps/{hcp}"));
        async move { msl.get(u).send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let before = listed(&profile(msl.clone()).await);

    // A CSV with one bad row refuses the file, naming the row.
    let csv = "title,journal,year,pmid,doi\nGood paper,J Cardiol,2021,38000001,\nBad paper,J Cardiol,1850,38000002,\n";
    let r = msl
        .post(url(&app, &format!("/hcps/{hcp}/publications.csv")))
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 422, "{body}");
    assert!(fields(&body).iter().any(|f| f.starts_with("row 3")), "{body}");
    assert_eq!(listed(&profile(msl.clone()).await), before);

    // A JSON list names the bad entry by its place.
    let r = msl
        .post(url(&app, &format!("/hcps/{hcp}/publications")))
        .json(&json!([
            {"title": "Good paper", "journal": "J Cardiol", "year": 2021, "pmid": "38000001"},
            {"title": "", "journal": "J Cardiol", "year": 2022},
        ]))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 422, "{body}");
    assert!(fields(&body).contains(&"publications[1].title".to_string()), "{body}");
    assert_eq!(listed(&profile(msl.clone()).await), before);

    // Both good: all are added, and a PMID already listed is then refused.
    let csv = "title,journal,year,pmid,doi\nGood paper,J Cardiol,2021,38000001,\nAnother,J Cardiol,2022,38000002,\n";
    let r = msl
        .post(url(&app, &format!("/hcps/{hcp}/publications.csv")))
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let added: Value = r.json().await.unwrap();
    assert_eq!(added.as_array().unwrap().len(), 2);
    let r = msl
        .post(url(&app, &format!("/hcps/{hcp}/publications")))
        .json(&json!([{"title": "Again", "journal": "J Cardiol", "year": 2021, "pmid": "38000001"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(listed(&profile(msl.clone()).await), before + 2);

    let id = added[0]["id"].as_str().unwrap();
    let r = msl.delete(url(&app, &format!("/publications/{id}"))).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(listed(&profile(msl.clone()).await), before + 1);
}

async fn the_dashboard_shows_what_is_waiting(db: &TestDb) {
    let app = spawn_app(db).await;
    let msl = app.signed_in("msl").await;
    let hcp = app.world.medical.hcps[9];
    let mut body = log_body(hcp, json!(["Any interaction with loop diuretics?"]));
    body["follow_ups"] = json!([{"title": "Send the interaction table", "due_at": (clinbridge_store::now() + chrono::Duration::days(3)).to_rfc3339()}]);
    body["safety"] = json!({"kind": "adverse_event", "product": "Cardiozen",
        "description": "Hyperkalaemia reported by the HCP", "patient": "Woman in her 70s"});
    let r = msl.post(url(&app, "/interactions")).json(&body).send().await.unwrap();
    let status = r.status();
    let logged: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{logged}");
    // The safety part's day 0 is the interaction's time.
    assert_eq!(
        logged["safety"]["aware_at"].as_str().unwrap()[..16],
        logged["interaction"]["occurred_at"].as_str().unwrap()[..16]
    );
    assert_eq!(logged["safety"]["interaction_id"], logged["interaction"]["id"]);

    let d: Value = msl.get(url(&app, "/dashboard")).send().await.unwrap().json().await.unwrap();
    assert!(
        d["my_follow_ups"].as_array().unwrap().iter().any(|f| f["title"] == "Send the interaction table"),
        "{}",
        d["my_follow_ups"]
    );
    assert!(d["pending_safety"].as_array().unwrap().iter().any(|s| s["id"] == logged["safety"]["id"]));
    assert!(d["open_requests"].as_array().unwrap().iter().any(|q| q["id"] == logged["request"]["id"]));
    assert!(!d["interactions_by_tier"].as_array().unwrap().is_empty());
    assert!(d["request_sla"]["received"].as_i64().unwrap() >= 1);
    // Another MSL does not see this MSL's follow-up as theirs.
    let manager = app.signed_in("medical_manager").await;
    let d: Value = manager.get(url(&app, "/dashboard")).send().await.unwrap().json().await.unwrap();
    assert!(!d["my_follow_ups"].as_array().unwrap().iter().any(|f| f["title"] == "Send the interaction table"));
    let r = manager.get(url(&app, "/dashboard?days=0")).send().await.unwrap();
    assert_eq!(r.status(), 422);
}

async fn the_openapi_document_resolves_the_medical_schemas(db: &TestDb) {
    let app = spawn_app(db).await;
    let doc: Value = app.client().get(app.url("/api/openapi.json")).send().await.unwrap().json().await.unwrap();
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    match (k.as_str(), x) {
                        ("$ref", Value::String(r)) => out.push(r.clone()),
                        _ => refs(x, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc["paths"], &mut all);
    refs(&doc["components"], &mut all);
    for r in &all {
        let name = r.trim_start_matches("#/components/schemas/");
        assert!(doc["components"]["schemas"][name].is_object(), "{r} is not in the document");
    }
    for name in [
        "RequestOut",
        "SafetyOut",
        "InteractionOut",
        "InsightOut",
        "HcpListingOut",
        "CongressOut",
        "HcpProfileOut",
        "KolOut",
        "AffiliationOut",
        "PublicationOut",
        "PlanOut",
        "ObjectiveOut",
        "TrialActivityOut",
        "InsightBoardOut",
        "BoardRowOut",
    ] {
        assert!(doc["components"]["schemas"][name].is_object(), "{name}");
    }
    // The HCP profile's schema names the fields answered, down to its KOL profile and plans.
    let msl = app.signed_in("msl").await;
    let hcp = app.world.medical.investigator_hcp;
    let profile: Value = msl.get(url(&app, &format!("/hcps/{hcp}"))).send().await.unwrap().json().await.unwrap();
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    let documented = |name: &str| keys(&doc["components"]["schemas"][name]["properties"]);
    assert_eq!(keys(&profile), documented("HcpProfileOut"));
    assert_eq!(keys(&profile["hcp"]), documented("HcpOut"));
    for (part, name) in [("affiliations", "AffiliationOut"), ("publications", "PublicationOut"), ("plans", "PlanOut")] {
        if let Some(first) = profile[part].as_array().and_then(|a| a.first()) {
            assert_eq!(keys(first), documented(name), "{part}");
        }
    }
    if profile["kol"].is_object() {
        assert_eq!(keys(&profile["kol"]), documented("KolOut"));
    }
    let board: Value = msl.get(url(&app, "/insight-board")).send().await.unwrap().json().await.unwrap();
    assert_eq!(keys(&board), documented("InsightBoardOut"));
    if let Some(first) = board["by_category"].as_array().and_then(|a| a.first()) {
        assert_eq!(keys(first), documented("BoardRowOut"));
    }
    let op = &doc["paths"]["/api/v1/medical/hcps/{id}"]["get"]["responses"]["200"]["content"]["application/json"];
    assert_eq!(op["schema"]["$ref"], "#/components/schemas/HcpProfileOut");
    let op = &doc["paths"]["/api/v1/medical/interactions"]["post"];
    assert_eq!(op["tags"], json!(["medical"]));
}
