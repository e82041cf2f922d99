//! EDC review through the pages and the API: a monitor verifies a field and a whole form, the
//! investigator signs with the password, an edit voids the signature and drops the field's
//! verification, a data manager locks the visit and the site's save is refused until unlocked;
//! each role keeps to its part.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use clinbridge_core::participants::Status;
use clinbridge_store::edc::records;
use clinbridge_store::participants;
use clinbridge_testkit::{TestDb, both_backends};
use common::spawn_app;
use serde_json::{Value, json};

both_backends!(monitors_verify_investigators_sign_and_data_managers_lock);

async fn monitors_verify_investigators_sign_and_data_managers_lock(db: &TestDb) {
    let app = spawn_app(db).await;
    let people = participants::participants(&app.store, app.world.study.id, None).await.unwrap();
    let p = people
        .iter()
        .find(|p| p.site_code == "BOS" && p.randomized_on.is_some() && p.status() != Status::Withdrawn)
        .expect("a Boston participant on study");
    let record = records::participant_record(&app.store, p.id).await.unwrap().unwrap();
    let form = records::forms(&app.store, record.id)
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.event == "SCR" && f.instrument == "vital_signs")
        .unwrap();
    let review_url = app.url(&format!("/api/v1/forms/{}/review", form.id));
    let form_page = app.url(&format!("/participants/{}/data/SCR/vital_signs/1", p.id));

    // The site does not verify its own data.
    let coord = app.signed_in("coordinator").await;
    let r =
        coord.post(app.url(&format!("/api/v1/forms/{}/verifications", form.id))).json(&json!({})).send().await.unwrap();
    assert_eq!(r.status(), 403);

    // The monitor verifies one field on the page, then the whole form through the API.
    let monitor = app.signed_in("monitor").await;
    let page = monitor.get(&form_page).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Verify every field of this form"), "{page}");
    let page = monitor
        .post(app.url(&format!("/forms/{}/verify", form.id)))
        .form(&[("field", "sbp")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("1 field verified against source.") && page.contains("verified by Priya Natarajan"),
        "{page}"
    );
    let v: Value = monitor
        .post(app.url(&format!("/api/v1/forms/{}/verifications", form.id)))
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(v["verified"].as_u64().unwrap() >= 4, "{v}");
    let r = monitor
        .post(app.url(&format!("/api/v1/forms/{}/signatures", form.id)))
        .json(&json!({"scope": "form", "password": clinbridge_store::demo::DEMO_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a monitor does not sign");

    // The investigator signs on the page: a wrong password is said so, the right one signs.
    let pi = app.signed_in("investigator").await;
    let page = pi
        .post(app.url(&format!("/forms/{}/sign", form.id)))
        .form(&[("scope", "form"), ("password", "not my password")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("is not your current password"), "{page}");
    let page = pi
        .post(app.url(&format!("/forms/{}/sign", form.id)))
        .form(&[("scope", "form"), ("password", clinbridge_store::demo::DEMO_PASSWORD)])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Signed (form).") && page.contains("<strong>valid</strong>"), "{page}");

    // An edit by the site voids the signature and drops that field's verification.
    let put = |hr: &'static str| {
        coord
            .put(app.url(&format!("/api/v1/participants/{}/forms/SCR/vital_signs/1", p.id)))
            .json(&json!({"values": {"hr": hr}, "reason": "Pulse re-read"}))
            .send()
    };
    assert_eq!(put("71").await.unwrap().status(), 200);
    let review: Value = pi.get(&review_url).send().await.unwrap().json().await.unwrap();
    assert_eq!(review["signatures"][0]["valid"], false, "{review}");
    let verified: Vec<&str> =
        review["verified"].as_array().unwrap().iter().map(|v| v["field"].as_str().unwrap()).collect();
    assert!(verified.contains(&"sbp") && !verified.contains(&"hr"), "{verified:?}");
    let page = pi.get(&form_page).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("<strong>void</strong>"), "{page}");

    // The data manager locks the visit: the site's save is refused until it is unlocked.
    assert_eq!(
        coord
            .post(app.url(&format!("/api/v1/forms/{}/lock", form.id)))
            .json(&json!({"locked": true}))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    let dm = app.signed_in("data_manager").await;
    let review: Value = dm
        .post(app.url(&format!("/api/v1/forms/{}/lock", form.id)))
        .json(&json!({"locked": true, "whole_visit": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(review["visit_locked"], true, "{review}");
    let r = put("72").await.unwrap();
    assert_eq!(r.status(), 409);
    let body: Value = r.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("locked"), "{body}");
    let page = dm
        .post(app.url(&format!("/forms/{}/lock", form.id)))
        .form(&[("locked", "0"), ("whole_visit", "1")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Visit unlocked."), "{page}");
    assert_eq!(put("72").await.unwrap().status(), 200);
}
