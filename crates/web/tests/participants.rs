//! A participant's way through the API and the pages, as the site team, the investigator, the
//! unblinded pharmacist and roles that must stay out see it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use clinbridge_testkit::{TestDb, both_backends};
use common::spawn_app;
use serde_json::{Value, json};

both_backends!(a_participant_from_screening_to_randomization, pages_show_the_pipeline_grid_and_concealment);

async fn a_participant_from_screening_to_randomization(db: &TestDb) {
    let app = spawn_app(db).await;
    let coord = app.signed_in("coordinator").await;
    let r = coord
        .post(app.url("/api/v1/studies/CARDIO-HF3/sites/BOS/participants"))
        .json(&json!({"status": "screening", "contact": {"given_name": "Ruth", "family_name": "<Ellison>", "mrn": "MRN5550001"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let p: Value = r.json().await.unwrap();
    let id = p["id"].as_str().unwrap().to_string();
    let subject = p["subject_id"].as_str().unwrap().to_string();
    assert!(subject.starts_with("BOS-"), "{subject}");
    assert!(p["next_statuses"].as_array().unwrap().contains(&json!("consented")), "{p}");

    // Seattle is not activated: a clear refusal.
    let r = coord
        .post(app.url("/api/v1/studies/CARDIO-HF3/sites/SEA/participants"))
        .json(&json!({"status": "screening"}))
        .send()
        .await
        .unwrap();
    assert!(r.status() == 403 || r.status() == 404 || r.status() == 409, "{}", r.status());

    // Contact details: the coordinator reads them (audited); the monitor may not.
    let c: Value = coord
        .get(app.url(&format!("/api/v1/participants/{id}/contact?purpose=schedule+screening")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(c["family_name"], "<Ellison>");
    let monitor = app.signed_in("monitor").await;
    let r = monitor.get(app.url(&format!("/api/v1/participants/{id}/contact"))).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let r = monitor.get(app.url(&format!("/api/v1/participants/{id}"))).send().await.unwrap();
    assert_eq!(r.status(), 200, "monitors read the pseudonymous record");
    let r = monitor
        .post(app.url(&format!("/api/v1/participants/{id}/status")))
        .json(&json!({"status": "screen_failed", "reason_code": "declined"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let sponsor = app.signed_in("sponsor_viewer").await;
    let r = sponsor.get(app.url(&format!("/api/v1/participants/{id}"))).send().await.unwrap();
    assert_eq!(r.status(), 404, "no participant access for the sponsor");
    let auditor = app.signed_in("auditor").await;
    let reads: Value = auditor
        .get(app.url(&format!("/api/v1/audit?action=phi_read&entity_id={id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rows = reads.as_array().or_else(|| reads["entries"].as_array()).unwrap();
    assert_eq!(rows.len(), 1, "{reads}");
    assert!(rows[0].to_string().contains("schedule screening"));

    // Consent is recorded, not moved to; the one obtaining it needs the delegated duty.
    let r = coord
        .post(app.url(&format!("/api/v1/participants/{id}/status")))
        .json(&json!({"status": "consented"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409, "{}", r.text().await.unwrap());
    let docs: Value =
        coord.get(app.url("/api/v1/studies/CARDIO-HF3/consent-documents")).send().await.unwrap().json().await.unwrap();
    let current = docs.as_array().unwrap().iter().find(|d| d["in_effect"] == true && d["language"] == "en").unwrap();
    let answers: Vec<Value> = current["questions"].as_array().unwrap().iter().map(|q| q["expected"].clone()).collect();
    let consent = |by: &str| {
        json!({"document_id": current["id"], "method": "paper", "signer_name": "Ruth Ellison", "answers": answers,
               "copy_provided": true, "obtained_by": by})
    };
    let r = coord
        .post(app.url(&format!("/api/v1/participants/{id}/consents")))
        .json(&consent("data.manager@demo.clinbridge.org"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["fields"][0]["field"], "obtained_by");
    let r = coord
        .post(app.url(&format!("/api/v1/participants/{id}/consents")))
        .json(&consent("coordinator@demo.clinbridge.org"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());

    // Checklist, the PI's signature, eligible, enrolled.
    let criteria: Value =
        coord.get(app.url("/api/v1/studies/CARDIO-HF3/criteria")).send().await.unwrap().json().await.unwrap();
    let answers: Vec<Value> = criteria
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let answer = if c["kind"] == "inclusion" { "yes" } else { "no" };
            json!({"code": c["code"], "answer": answer, "source": "Screening visit"})
        })
        .collect();
    let r = coord
        .post(app.url(&format!("/api/v1/participants/{id}/eligibility")))
        .json(&json!({"answers": answers}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["eligible"], true);
    let r = coord
        .post(app.url(&format!("/api/v1/participants/{id}/eligibility/sign")))
        .json(&json!({"password": "clinbridge-demo-2026"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "coordinators do not sign eligibility");
    let pi = app.signed_in("investigator").await;
    let r = pi
        .post(app.url(&format!("/api/v1/participants/{id}/eligibility/sign")))
        .json(&json!({"password": "clinbridge-demo-2026"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for status in ["eligible", "enrolled"] {
        let r = coord
            .post(app.url(&format!("/api/v1/participants/{id}/status")))
            .json(&json!({"status": status}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{status}: {}", r.text().await.unwrap());
    }
    // Randomization needs the stratum; the coordinator stays blinded, the pharmacist sees the arm.
    let r = coord.post(app.url(&format!("/api/v1/participants/{id}/randomize"))).json(&json!({})).send().await.unwrap();
    assert_eq!(r.status(), 422);
    let r = coord
        .post(app.url(&format!("/api/v1/participants/{id}/randomize")))
        .json(&json!({"strata": {"diabetes": "no"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let a: Value = r.json().await.unwrap();
    assert_eq!(a["stratum"], "diabetes=no");
    assert!(a["arm_code"].is_null(), "blinded for the coordinator: {a}");
    // Randomization planned the visits: the baseline today, week 2 fourteen days on.
    let visits: Value =
        coord.get(app.url(&format!("/api/v1/participants/{id}/visits"))).send().await.unwrap().json().await.unwrap();
    let visits = visits.as_array().unwrap();
    let bl = visits.iter().find(|v| v["code"] == "BL").unwrap();
    let w2 = visits.iter().find(|v| v["code"] == "W2").unwrap();
    assert_eq!(bl["status"], "scheduled");
    let bl_day = chrono::NaiveDate::parse_from_str(bl["target_on"].as_str().unwrap(), "%Y-%m-%d").unwrap();
    let w2_day = chrono::NaiveDate::parse_from_str(w2["target_on"].as_str().unwrap(), "%Y-%m-%d").unwrap();
    assert_eq!((w2_day - bl_day).num_days(), 14);
    assert_eq!(w2["window_start"].as_str().unwrap(), (w2_day - chrono::Duration::days(3)).to_string());
    let r = coord
        .post(app.url(&format!("/api/v1/participant-visits/{}", bl["id"].as_str().unwrap())))
        .json(&json!({"outcome": "completed", "actual_on": bl["target_on"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let done: Value = r.json().await.unwrap();
    assert_eq!(done["status"], "completed");
    assert_eq!(done["out_of_window"], false);
    let r = monitor
        .post(app.url(&format!("/api/v1/participant-visits/{}", w2["id"].as_str().unwrap())))
        .json(&json!({"outcome": "missed", "note": "No show"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "monitors do not record visits");
    let pharmacist = app.signed_in("noah.patel").await;
    let d: Value =
        pharmacist.get(app.url(&format!("/api/v1/participants/{id}"))).send().await.unwrap().json().await.unwrap();
    assert!(["ACTIVE", "PLACEBO"].contains(&d["randomization"]["arm_code"].as_str().unwrap()), "{d}");
    let scheme: Value =
        coord.get(app.url("/api/v1/studies/CARDIO-HF3/randomization")).send().await.unwrap().json().await.unwrap();
    assert!(scheme["allocations"].is_null(), "the list is concealed from the coordinator");
    let scheme: Value =
        pharmacist.get(app.url("/api/v1/studies/CARDIO-HF3/randomization")).send().await.unwrap().json().await.unwrap();
    assert!(scheme["allocations"].as_array().unwrap().iter().any(|a| a["subject_id"] == subject.as_str()));

    // Emergency unblinding by the investigator; the pharmacist is told.
    let r = pi
        .post(app.url(&format!("/api/v1/participants/{id}/unblind")))
        .json(&json!({"reason": "Severe hypotension in the emergency department"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let n: Value = pharmacist.get(app.url("/api/v1/notifications")).send().await.unwrap().json().await.unwrap();
    assert!(n.to_string().contains(&format!("Emergency unblinding of {subject}")), "{n}");
    let h: Value =
        coord.get(app.url(&format!("/api/v1/participants/{id}"))).send().await.unwrap().json().await.unwrap();
    let path: Vec<&str> = h["history"].as_array().unwrap().iter().map(|m| m["to_status"].as_str().unwrap()).collect();
    assert_eq!(path, ["screening", "consented", "eligible", "enrolled", "randomized"]);
}

async fn pages_show_the_pipeline_grid_and_concealment(db: &TestDb) {
    let app = spawn_app(db).await;
    let coord = app.signed_in("coordinator").await;
    let grid = coord.get(app.url("/studies/CARDIO-HF3/schedule")).send().await.unwrap().text().await.unwrap();
    assert!(grid.contains("W12 · Week 12 safety") && grid.contains("Day 84 (−7/+7) from visit BL"), "grid");
    assert!(grid.contains("NT-proBNP"));
    let list = coord.get(app.url("/studies/CARDIO-HF3/participants")).send().await.unwrap().text().await.unwrap();
    assert!(
        list.contains("BOS-0001") && !list.contains("CHI-0001"),
        "only Boston participants for Boston's coordinator"
    );
    assert!(list.contains("Assessed for eligibility"));
    // The same figures through the API: Boston's target, and a curve that only grows.
    let e: Value =
        coord.get(app.url("/api/v1/studies/CARDIO-HF3/enrollment")).send().await.unwrap().json().await.unwrap();
    assert_eq!(e["target"], 100);
    let cumulative: Vec<i64> =
        e["months"].as_array().unwrap().iter().map(|m| m["cumulative"].as_i64().unwrap()).collect();
    assert!(
        cumulative.windows(2).all(|w| w[0] <= w[1]) && *cumulative.last().unwrap() == e["enrolled"].as_i64().unwrap()
    );
    assert!(e["enrolled"].as_i64().unwrap() > 10, "{e}");
    // Boston's chart: its enrolled participants against Boston's target of 100.
    assert!(list.contains("enrolled of a target of 100"), "enrollment chart");
    assert!(list.contains("<polyline points=\"0,"));
    // Register through the form, with a name that must come back escaped.
    let r = coord
        .post(app.url("/studies/CARDIO-HF3/participants"))
        .form(&[
            ("site_code", "BOS"),
            ("status", "screening"),
            ("on", ""),
            ("given_name", "<b>Ann</b>"),
            ("family_name", "Lee"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let to = r.headers()["location"].to_str().unwrap().to_string();
    let url_id = to.trim_start_matches("/participants/").to_string();
    let page = coord.get(app.url(&to)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Show contact details") && page.contains("Screening"));
    let contact = coord.get(app.url(&format!("/participants/{url_id}/contact"))).send().await.unwrap();
    assert_eq!(contact.headers()["cache-control"], "no-store");
    let contact = contact.text().await.unwrap();
    assert!(contact.contains("&#60;b&#62;Ann&#60;/b&#62;") && !contact.contains("<b>Ann</b>"));
    // A bad move shows the reason on the page, not an error screen.
    let r = coord
        .post(app.url(&format!("/participants/{url_id}/status")))
        .form(&[("status", "screen_failed"), ("reason_code", ""), ("effective_on", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("a reason is required"));
    // A randomized participant's page stays blinded for the coordinator.
    let randomized: Value = coord
        .get(app.url("/api/v1/studies/CARDIO-HF3/participants?status=randomized"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rid = randomized[0]["id"].as_str().unwrap();
    let page = coord.get(app.url(&format!("/participants/{rid}"))).send().await.unwrap().text().await.unwrap();
    assert!(
        page.contains("<strong>blinded</strong>")
            && !page.contains("Matching placebo")
            && !page.contains("Active drug")
    );
    let pharmacist = app.signed_in("noah.patel").await;
    let page = pharmacist.get(app.url("/studies/CARDIO-HF3/enrollment")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Allocation list (unblinded)"));
    let page = coord.get(app.url("/studies/CARDIO-HF3/enrollment")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("The allocation list is concealed"));
}
