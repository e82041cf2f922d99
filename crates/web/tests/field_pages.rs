//! The device and medical pages' correction forms, posted as a browser would: what they change
//! is read back from the page or the API, and a refusal shows the store's reason on the page
//! and changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use clinbridge_core::identity::Role;
use clinbridge_testkit::{TestDb, both_backends};
use common::{TestApp, spawn_app};
use serde_json::{Value, json};

both_backends!(
    products_units_and_credentials_are_corrected_on_their_pages,
    the_travel_buffer_and_territories_are_set_on_their_pages,
    events_publications_and_accounts_are_corrected_on_their_pages,
);

async fn get_json(c: &reqwest::Client, app: &TestApp, path: &str) -> Value {
    let r = c.get(app.url(path)).send().await.unwrap();
    assert_eq!(r.status(), 200, "GET {path}");
    r.json().await.unwrap()
}

async fn page(c: &reqwest::Client, app: &TestApp, path: &str) -> String {
    let r = c.get(app.url(path)).send().await.unwrap();
    assert_eq!(r.status(), 200, "GET {path}");
    r.text().await.unwrap()
}

/// Posts a form; gives the status and the page answered (empty for a redirect).
async fn post(c: &reqwest::Client, app: &TestApp, path: &str, form: &[(&str, &str)]) -> (u16, String) {
    let r = c.post(app.url(path)).form(form).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn products_units_and_credentials_are_corrected_on_their_pages(db: &TestDb) {
    let app = spawn_app(db).await;
    let kenji = app.signed_in("clinical_specialist").await;

    // A product's correction shows in the list; a bad UDI-DI is refused with the reason.
    let product = app.world.device.products[0];
    let before = get_json(&kenji, &app, &format!("/api/v1/device/products/{product}")).await;
    let udi = before["udi_di"].as_str().unwrap().to_string();
    let form = [
        ("name", "Valve delivery system"),
        ("model", "VDS-2"),
        ("software_version", "4.2.1"),
        ("udi_di", udi.as_str()),
        ("certificate_months", "18"),
    ];
    let (status, _) = post(&kenji, &app, &format!("/device/products/{product}"), &form).await;
    assert_eq!(status, 303);
    let after = get_json(&kenji, &app, &format!("/api/v1/device/products/{product}")).await;
    assert_eq!(after["name"], "Valve delivery system");
    assert_eq!(after["software_version"], "4.2.1");
    assert_eq!(after["certificate_months"], 18);
    assert!(page(&kenji, &app, "/device/products").await.contains("4.2.1"));
    let mut bad = form;
    bad[0].1 = "Renamed again";
    bad[3].1 = "00614141999990";
    let (status, html) = post(&kenji, &app, &format!("/device/products/{product}"), &bad).await;
    assert_eq!(status, 422);
    assert!(html.contains("Nothing was saved") && html.contains("udi_di"), "{html}");
    assert!(html.contains("Renamed again"), "the refused form comes back as typed");
    let unchanged = get_json(&kenji, &app, &format!("/api/v1/device/products/{product}")).await;
    assert_eq!(unchanged["name"], "Valve delivery system");

    // An installed unit goes out for service; an unknown status is refused.
    let units = get_json(&kenji, &app, "/api/v1/device/installs").await;
    let unit = units.as_array().unwrap().iter().find(|u| u["status"] == "active").unwrap()["id"].as_str().unwrap();
    let (status, _) = post(&kenji, &app, &format!("/device/installs/{unit}/status"), &[("status", "service")]).await;
    assert_eq!(status, 303);
    let units = get_json(&kenji, &app, "/api/v1/device/installs").await;
    assert_eq!(units.as_array().unwrap().iter().find(|u| u["id"] == unit).unwrap()["status"], "service");
    let (status, html) = post(&kenji, &app, &format!("/device/installs/{unit}/status"), &[("status", "lost")]).await;
    assert_eq!(status, 422);
    assert!(html.contains("must be one of"), "{html}");

    // A credential is corrected: a document still listed keeps its received mark, a new one is
    // missing; an expiry before the issue date is refused with the store's reason.
    let credential = app.world.device.expiring_credential;
    let path = format!("/device/credentials/{credential}");
    let (status, _) = post(
        &kenji,
        &app,
        &path,
        &[
            ("name", "Vendor credential (Vendormate), renewed"),
            ("documents", "Influenza vaccination, Background check, HIPAA training, Fit test"),
            ("issued_on", "2026-01-10"),
            ("expires_on", "2027-01-10"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    let all = get_json(&kenji, &app, "/api/v1/device/credentials").await;
    let c = all.as_array().unwrap().iter().find(|c| c["id"] == credential.to_string()).unwrap().clone();
    assert_eq!(c["name"], "Vendor credential (Vendormate), renewed");
    assert_eq!(c["expires_on"], "2027-01-10");
    let received: Vec<(String, bool)> = c["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["name"].as_str().unwrap().to_string(), d["received"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        received,
        vec![
            ("Influenza vaccination".to_string(), true),
            ("Background check".to_string(), true),
            ("HIPAA training".to_string(), true),
            ("Fit test".to_string(), false),
        ]
    );
    let (status, html) = post(
        &kenji,
        &app,
        &path,
        &[("name", "Backwards"), ("documents", ""), ("issued_on", "2027-01-10"), ("expires_on", "2026-01-10")],
    )
    .await;
    assert_eq!(status, 422);
    assert!(html.contains("must be after the issue date") && html.contains("Backwards"), "{html}");
    let all = get_json(&kenji, &app, "/api/v1/device/credentials").await;
    assert!(all.as_array().unwrap().iter().any(|c| c["name"] == "Vendor credential (Vendormate), renewed"));
}

async fn the_travel_buffer_and_territories_are_set_on_their_pages(db: &TestDb) {
    let app = spawn_app(db).await;
    let kenji = app.signed_in("clinical_specialist").await;

    // Every reader sees the buffer; a specialist changes it within 0 to 720 minutes.
    assert!(page(&kenji, &app, "/device/cases").await.contains("at least 60 minutes apart"));
    let (status, html) = post(&kenji, &app, "/device/settings/travel-buffer", &[("minutes", "721")]).await;
    assert_eq!(status, 422);
    assert!(html.contains("must be between 0 and 720 minutes"), "{html}");
    let (status, _) = post(&kenji, &app, "/device/settings/travel-buffer", &[("minutes", "45")]).await;
    assert_eq!(status, 303);
    assert_eq!(get_json(&kenji, &app, "/api/v1/device/settings/travel-buffer").await["minutes"], 45);
    let commercial = app.signed_in("commercial").await;
    let cases = page(&commercial, &app, "/device/cases").await;
    assert!(cases.contains("at least 45 minutes apart"));
    assert!(!cases.contains("/device/settings/travel-buffer"), "commercial users get no form");
    let (status, _) = post(&commercial, &app, "/device/settings/travel-buffer", &[("minutes", "30")]).await;
    assert_eq!(status, 403);

    // Kenji assigns accounts to the second specialist; the ticked ones replace her territory.
    let ines = app.world.device.specialists[1];
    let accounts = clinbridge_store::medical::institutions(&app.store).await.unwrap();
    let ids: Vec<String> = accounts.iter().take(2).map(|a| a.id.to_string()).collect();
    let path = format!("/device/specialists/{ines}/territory");
    let (status, _) =
        post(&kenji, &app, &path, &[("institution_id", ids[0].as_str()), ("institution_id", ids[1].as_str())]).await;
    assert_eq!(status, 303);
    let territory = get_json(&kenji, &app, &format!("/api/v1/device/specialists/{ines}/territory")).await;
    let mut covered: Vec<String> =
        territory.as_array().unwrap().iter().map(|a| a["institution_id"].as_str().unwrap().to_string()).collect();
    covered.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(covered, expected);
    let plan = page(&kenji, &app, &format!("/device/plan?specialist={ines}")).await;
    assert!(plan.contains(&format!("value=\"{}\" checked", ids[0])), "{plan}");
    assert!(plan.contains(&accounts[0].name));
    // An account that is not a listed institution is refused with the reason; nothing changes.
    let unknown = uuid::Uuid::new_v4().to_string();
    let (status, html) =
        post(&kenji, &app, &path, &[("institution_id", ids[0].as_str()), ("institution_id", unknown.as_str())]).await;
    assert_eq!(status, 422);
    assert!(html.contains("is not a listed institution"), "{html}");
    let territory = get_json(&kenji, &app, &format!("/api/v1/device/specialists/{ines}/territory")).await;
    assert_eq!(territory.as_array().unwrap().len(), 2);
}

async fn events_publications_and_accounts_are_corrected_on_their_pages(db: &TestDb) {
    let app = spawn_app(db).await;
    let msl = app.signed_in("msl").await;

    // The congress is corrected; its attendees stay; days that leave a session out are refused.
    let congress = app.world.medical.congress;
    let before = get_json(&msl, &app, &format!("/api/v1/medical/events/{congress}")).await;
    let (starts, ends) = (before["starts_on"].as_str().unwrap(), before["ends_on"].as_str().unwrap());
    let name = before["name"].as_str().unwrap();
    let form = [
        ("name", name),
        ("starts_on", starts),
        ("ends_on", ends),
        ("place", "Amsterdam RAI, Hall 5"),
        ("notes", "Booth 12; medical affairs huddle at 07:30"),
    ];
    let (status, _) = post(&msl, &app, &format!("/medical/events/{congress}"), &form).await;
    assert_eq!(status, 303);
    let after = get_json(&msl, &app, &format!("/api/v1/medical/events/{congress}")).await;
    assert_eq!(after["place"], "Amsterdam RAI, Hall 5");
    assert_eq!(after["attendees"], before["attendees"]);
    let shown = page(&msl, &app, &format!("/medical/events/{congress}")).await;
    assert!(shown.contains("Booth 12; medical affairs huddle at 07:30"));
    let sessions = after["sessions"].as_array().unwrap().clone();
    assert!(!sessions.is_empty(), "the demo congress lists sessions");
    let (status, html) = post(
        &msl,
        &app,
        &format!("/medical/events/{congress}"),
        &[("name", name), ("starts_on", "2020-01-01"), ("ends_on", "2020-01-02"), ("place", "Elsewhere")],
    )
    .await;
    assert_eq!(status, 422);
    assert!(html.contains("would fall outside the event"), "{html}");
    assert_eq!(get_json(&msl, &app, &format!("/api/v1/medical/events/{congress}")).await["place"], after["place"]);

    // A session is removed from the programme; through another event's address it is not found.
    let session = sessions[0]["id"].as_str().unwrap();
    let other = uuid::Uuid::new_v4();
    let (status, _) = post(&msl, &app, &format!("/medical/events/{other}/sessions/{session}/delete"), &[]).await;
    assert_eq!(status, 404);
    let (status, _) = post(&msl, &app, &format!("/medical/events/{congress}/sessions/{session}/delete"), &[]).await;
    assert_eq!(status, 303);
    let after = get_json(&msl, &app, &format!("/api/v1/medical/events/{congress}")).await;
    assert!(after["sessions"].as_array().unwrap().iter().all(|s| s["id"] != session));
    assert_eq!(after["sessions"].as_array().unwrap().len(), sessions.len() - 1);

    // A publication is removed from the profile it is listed on, and from no other.
    let hcp = app.world.medical.hcps[6];
    let r = msl
        .post(app.url(&format!("/api/v1/medical/hcps/{hcp}/publications")))
        .json(&json!([{"title": "Page removal study", "journal": "J Pages", "year": 2023, "pmid": "38000077"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let added: Value = r.json().await.unwrap();
    let publication = added[0]["id"].as_str().unwrap();
    let elsewhere = app.world.medical.hcps[7];
    let (status, _) =
        post(&msl, &app, &format!("/medical/hcps/{elsewhere}/publications/{publication}/delete"), &[]).await;
    assert_eq!(status, 404);
    assert!(page(&msl, &app, &format!("/medical/hcps/{hcp}")).await.contains("Page removal study"));
    let (status, _) = post(&msl, &app, &format!("/medical/hcps/{hcp}/publications/{publication}/delete"), &[]).await;
    assert_eq!(status, 303);
    assert!(!page(&msl, &app, &format!("/medical/hcps/{hcp}")).await.contains("Page removal study"));

    // An HCP is linked to a Clinbridge user and the profile says so; a user already linked to
    // another HCP is refused with the reason; choosing no user unlinks.
    let monitor = app.world.users[&Role::Monitor];
    let (status, _) =
        post(&msl, &app, &format!("/medical/hcps/{hcp}/user"), &[("user_id", &monitor.to_string())]).await;
    assert_eq!(status, 303);
    let profile = get_json(&msl, &app, &format!("/api/v1/medical/hcps/{hcp}")).await;
    assert_eq!(profile["hcp"]["user_id"], monitor.to_string());
    let shown = page(&msl, &app, &format!("/medical/hcps/{hcp}")).await;
    assert!(shown.contains("monitor@demo.clinbridge.org") && shown.contains(">linked<"), "{shown}");
    let (status, html) =
        post(&msl, &app, &format!("/medical/hcps/{elsewhere}/user"), &[("user_id", &monitor.to_string())]).await;
    assert_eq!(status, 422);
    assert!(html.contains("already linked to another healthcare professional"), "{html}");
    let (status, _) = post(&msl, &app, &format!("/medical/hcps/{hcp}/user"), &[("user_id", "")]).await;
    assert_eq!(status, 303);
    let profile = get_json(&msl, &app, &format!("/api/v1/medical/hcps/{hcp}")).await;
    assert!(profile["hcp"]["user_id"].is_null());
}
