//! EDC data entry through the API and the pages: saving a participant's form with the reason
//! for change and its history, validation next to the field, branching that erases a hidden
//! answer, a calculated field, the query cycle between monitor and site, and who is kept out.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use clinbridge_core::identity::{Email, Grant, NewPassword, Role, Scope, TimeZone};
use clinbridge_store::edc::metadata;
use clinbridge_testkit::{TestDb, both_backends};
use common::{TestApp, spawn_app};
use serde_json::{Value, json};

both_backends!(a_form_is_saved_changed_with_a_reason_and_queried, the_form_page_checks_branches_and_calculates);

const DICTIONARY: &str = "field_name,form_name,section_header,field_type,field_label,select_choices_or_calculations,field_note,text_validation_type_or_show_slider_number,text_validation_min,text_validation_max,identifier,branching_logic,required_field,custom_alignment,question_number,matrix_group_name,matrix_ranking,field_annotation
record_id,vitals,,text,Record ID,,,,,,,,,,,,,
visit_date,vitals,Visit,text,Visit date,,,date_mdy,,,,,,,,,,
weight,vitals,Measurements,text,Weight (kg),,,number,20,300,,,y,,,,,
height,vitals,,text,Height (cm),,,integer,100,250,,,,,,,,
bmi,vitals,,calc,BMI,\"[weight] / ([height] / 100) ^ 2\",,,,,,,,,,,,
smoker,vitals,,yesno,Smoker,,,,,,,,,,,,,
packs,vitals,,text,Packs per day,,,integer,,,,[smoker] = '1',,,,,,
symptoms,vitals,,checkbox,Symptoms,\"1, Cough | 2, Fatigue | 3, Dyspnea\",,,,,,,,,,,,
site_note,vitals,,notes,Site note,,Not shown to the sponsor,,,,,,,,,,,@HIDDEN
";

/// The demo study gets a classic (no visits) design of its own, published; a new participant
/// at Boston.
async fn setup(app: &TestApp) -> (reqwest::Client, String) {
    let study = app.world.study.id;
    metadata::import_dictionary(&app.store, &app.world.admin, study, DICTIONARY.as_bytes()).await.expect("import");
    // The demo's own design is replaced: its data is orphaned, which takes a reason.
    metadata::publish(&app.store, &app.world.admin, study, Some("test design")).await.expect("publish");
    let coord = app.signed_in("coordinator").await;
    let p: Value = coord
        .post(app.url("/api/v1/studies/CARDIO-HF3/sites/BOS/participants"))
        .json(&json!({"status": "screening"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (coord, p["id"].as_str().unwrap().to_string())
}

async fn put(c: &reqwest::Client, app: &TestApp, id: &str, body: Value) -> (u16, Value) {
    let r = c.put(app.url(&format!("/api/v1/participants/{id}/forms/-/vitals/1"))).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

fn fields_named(v: &Value) -> Vec<String> {
    v["error"]["fields"]
        .as_array()
        .map(|a| a.iter().map(|f| f["field"].as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

async fn a_form_is_saved_changed_with_a_reason_and_queried(db: &TestDb) {
    let app = spawn_app(db).await;
    let (coord, id) = setup(&app).await;

    // The grid: one classic column, vitals not started.
    let grid: Value =
        coord.get(app.url(&format!("/api/v1/participants/{id}/forms"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(grid["longitudinal"], false);
    assert_eq!(grid["forms"][0]["instrument"], "vitals");
    assert_eq!(grid["forms"][0]["status"], "not_started");

    // First save: no reason needed; the BMI is calculated.
    let (s, saved) =
        put(&coord, &app, &id, json!({"values": {"weight": "80", "height": "200", "symptoms": "3,1"}, "status": 0}))
            .await;
    assert_eq!(s, 200, "{saved}");
    assert_eq!(saved["created"], true);
    assert_eq!(saved["form"]["values"]["bmi"].as_str().unwrap().parse::<f64>().unwrap(), 20.0);
    assert_eq!(saved["form"]["values"]["symptoms"], "1,3");
    let form_id = saved["form"]["form_id"].as_str().unwrap().to_string();
    let revision = saved["form"]["revision"].as_i64().unwrap();

    // A value out of its range names its field; nothing is saved.
    let (s, bad) =
        put(&coord, &app, &id, json!({"values": {"weight": "900"}, "reason": "typo", "revision": revision})).await;
    assert_eq!(s, 422);
    assert_eq!(fields_named(&bad), vec!["weight"]);

    // A change without a reason is refused, naming the reason; with one it is kept.
    let (s, refused) = put(&coord, &app, &id, json!({"values": {"weight": "82"}, "revision": revision})).await;
    assert_eq!(s, 422, "{refused}");
    assert_eq!(fields_named(&refused), vec!["reason"]);
    let (s, saved) = put(
        &coord,
        &app,
        &id,
        json!({"values": {"weight": "82"}, "reason": "Scale recalibrated", "revision": revision}),
    )
    .await;
    assert_eq!(s, 200, "{saved}");
    assert_eq!(saved["changes"]["weight"]["old"], "80");
    assert_eq!(saved["changes"]["weight"]["new"], "82");
    // A save over the revision someone else replaced is refused.
    let (s, _) =
        put(&coord, &app, &id, json!({"values": {"weight": "83"}, "reason": "again", "revision": revision})).await;
    assert_eq!(s, 409);

    // The history lists both saves, the second with its reason; the page shows it too.
    let h: Value = coord
        .get(app.url(&format!("/api/v1/forms/{form_id}/history/weight")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let h = h.as_array().unwrap();
    assert_eq!(h.len(), 2);
    assert_eq!((h[0]["old"].as_str(), h[0]["new"].as_str()), (Some(""), Some("80")));
    assert_eq!(
        (h[1]["old"].as_str(), h[1]["new"].as_str(), h[1]["reason"].as_str()),
        (Some("80"), Some("82"), Some("Scale recalibrated"))
    );
    let page =
        coord.get(app.url(&format!("/forms/{form_id}/history/symptoms"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Cough, Dyspnea"), "checkbox history by labels");

    // A coordinator cannot raise a query; the monitor can, the coordinator answers, the
    // monitor closes it.
    let q = json!({"field": "weight", "message": "Weight jumped: please confirm", "role": "coordinator"});
    let r = coord.post(app.url(&format!("/api/v1/forms/{form_id}/queries"))).json(&q).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let monitor = app.signed_in("monitor").await;
    let r = monitor.post(app.url(&format!("/api/v1/forms/{form_id}/queries"))).json(&q).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let query: Value = r.json().await.unwrap();
    assert_eq!(query["status"], "open");
    assert_eq!(query["age_days"], 0);
    let qid = query["id"].as_str().unwrap().to_string();
    // It waits on the coordinators' work queue, linked to the form.
    let home = coord.get(app.url("/")).send().await.unwrap().text().await.unwrap();
    assert!(home.contains(&format!("/forms/{form_id}")), "task links to the form");
    let r = coord.get(app.url(&format!("/forms/{form_id}"))).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], format!("/participants/{id}/data/-/vitals/1"));
    // The monitor cannot answer for the site.
    let step = |s: &str, m: &str| json!({"step": s, "message": m});
    let r = monitor
        .post(app.url(&format!("/api/v1/queries/{qid}/steps")))
        .json(&step("respond", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = coord
        .post(app.url(&format!("/api/v1/queries/{qid}/steps")))
        .json(&step("respond", "Confirmed against the source"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "answered");
    let r =
        coord.post(app.url(&format!("/api/v1/queries/{qid}/steps"))).json(&step("close", "done")).send().await.unwrap();
    assert_eq!(r.status(), 403, "the site does not close its own query");
    // Closing through the page.
    let r = monitor
        .post(app.url(&format!("/queries/{qid}/steps")))
        .form(&[("step", "close"), ("message", "Thanks, resolved")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let page = monitor
        .get(app.url(&format!("/participants/{id}/data/-/vitals/1")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Confirmed against the source") && page.contains("Thanks, resolved"));
    assert!(page.contains("weight · closed"));
    let closed: Value = monitor
        .get(app.url("/api/v1/studies/CARDIO-HF3/queries?status=closed"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mine = |list: &Value| -> Vec<Value> {
        list.as_array().unwrap().iter().filter(|q| q["form_id"] == form_id.as_str()).cloned().collect()
    };
    let closed = mine(&closed);
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0]["field"], "weight");
    let open: Value = monitor
        .get(app.url("/api/v1/studies/CARDIO-HF3/queries?status=open"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(mine(&open).is_empty());
    let list =
        monitor.get(app.url("/studies/CARDIO-HF3/queries?status=closed")).send().await.unwrap().text().await.unwrap();
    assert!(list.contains("weight") && list.contains("Age (days)"));

    // A coordinator of another site does not find the participant's form.
    let chi = app.world.sites.iter().find(|s| s.code == "CHI").unwrap().id;
    clinbridge_store::identity::create_user(
        &app.store,
        &app.world.admin,
        clinbridge_store::identity::NewUser {
            email: Email::parse("chi.coord@demo.clinbridge.org").unwrap(),
            name: "Chicago Coordinator".into(),
            password: NewPassword::parse("a long chicago passphrase", None).unwrap(),
            time_zone: TimeZone::parse("America/Chicago").unwrap(),
        },
        vec![Grant { role: Role::Coordinator, scope: Scope::Site(chi) }],
    )
    .await
    .unwrap();
    let other = app.client();
    let r = other
        .post(app.url("/api/v1/session"))
        .json(&json!({"email": "chi.coord@demo.clinbridge.org", "password": "a long chicago passphrase"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for path in [
        format!("/api/v1/participants/{id}/forms/-/vitals/1"),
        format!("/api/v1/forms/{form_id}/history/weight"),
        format!("/participants/{id}/data/-/vitals/1"),
    ] {
        let r = other.get(app.url(&path)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    let (s, _) = put(&other, &app, &id, json!({"values": {"weight": "1"}})).await;
    assert_eq!(s, 404);
}

async fn the_form_page_checks_branches_and_calculates(db: &TestDb) {
    let app = spawn_app(db).await;
    let (coord, id) = setup(&app).await;
    let url = app.url(&format!("/participants/{id}/data/-/vitals/1"));

    // The page renders each field by its type; @HIDDEN is not shown; the grid links to it.
    let grid = coord.get(app.url(&format!("/participants/{id}/data"))).send().await.unwrap().text().await.unwrap();
    assert!(grid.contains(&format!("/participants/{id}/data/-/vitals/1")) && grid.contains("Not started"));
    let page = coord.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(r#"type="radio" name="smoker" value="1""#));
    assert!(page.contains(r#"type="checkbox" name="symptoms" value="2""#));
    assert!(page.contains("MM-DD-YYYY"), "the date hint in the field's order");
    assert!(page.contains(r#"id="calc-bmi""#));
    assert!(page.contains(r#"<input type="hidden" name="site_note""#) && !page.contains("Site note"));
    assert!(page.contains("/assets/edc-form.js"));

    // A bad value is shown next to its field, with what was typed kept.
    let r = coord
        .post(&url)
        .form(&[("visit_date", "13/45/2026"), ("weight", "heavy"), ("height", "180"), ("_status", "0")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let page = r.text().await.unwrap();
    assert!(page.contains(r#"id="error-weight""#) && page.contains(r#"id="error-visit_date""#));
    assert!(page.contains(r#"value="heavy""#) && page.contains(r#"value="13/45/2026""#));

    // Saved: redirected with a notice; the date shows in the field's order; BMI calculated.
    let form = [
        ("visit_date", "03-02-2026"),
        ("weight", "81"),
        ("height", "180"),
        ("smoker", "1"),
        ("packs", "2"),
        ("symptoms", "1"),
        ("symptoms", "2"),
        ("_status", "1"),
        ("_revision", ""),
    ];
    let r = coord.post(&url).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let to = r.headers()["location"].to_str().unwrap().to_string();
    let page = coord.get(app.url(&to)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Saved:"), "flash after save");
    assert!(page.contains(r#"value="03-02-2026""#));
    let api: Value = coord
        .get(app.url(&format!("/api/v1/participants/{id}/forms/-/vitals/1")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(api["values"]["visit_date"], "2026-03-02");
    assert_eq!(api["values"]["packs"], "2");
    assert_eq!(api["values"]["symptoms"], "1,2");
    assert_eq!(api["status"], 1);
    let bmi: f64 = api["values"]["bmi"].as_str().unwrap().parse().unwrap();
    assert!((bmi - 25.0).abs() < 0.01, "{bmi}");
    let revision = api["revision"].as_i64().unwrap().to_string();

    // The logic endpoint answers from the server's engine.
    let logic = |smoker: &'static str| {
        let c = coord.clone();
        let u = format!("{url}/logic");
        async move {
            let r = c.post(u).form(&[("smoker", smoker), ("weight", "90"), ("height", "150")]).send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };
    let l = logic("0").await;
    assert_eq!(l["show"]["packs"], false);
    assert_eq!(l["show"]["weight"], true);
    assert_eq!(l["calc"]["bmi"].as_str().unwrap().parse::<f64>().unwrap().round(), 40.0);
    assert_eq!(logic("1").await["show"]["packs"], true);

    // A change needs a reason; a page save with smoker No erases the now hidden packs.
    let mut change: Vec<(&str, &str)> =
        form.iter().copied().filter(|(k, _)| *k != "smoker" && *k != "_revision").collect();
    change.push(("smoker", "0"));
    change.push(("_revision", &revision));
    let r = coord.post(&url).form(&change).send().await.unwrap();
    assert_eq!(r.status(), 422);
    let page = r.text().await.unwrap();
    assert!(page.contains(r#"id="error-reason""#), "the reason's error next to it");
    change.push(("_reason", "Source says non-smoker"));
    let r = coord.post(&url).form(&change).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let api: Value = coord
        .get(app.url(&format!("/api/v1/participants/{id}/forms/-/vitals/1")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(api["values"]["smoker"], "0");
    assert!(api["values"].get("packs").is_none(), "hidden answer erased: {api}");
    let form_id = api["form_id"].as_str().unwrap();
    let h: Value = coord
        .get(app.url(&format!("/api/v1/forms/{form_id}/history/packs")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(h[1]["new"], "");
    assert_eq!(h[1]["reason"], "Source says non-smoker");
    // The hidden row is hidden on the page as served.
    let page = coord.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(r#"id="row-packs" data-field="packs" hidden"#));
    // A sponsor viewer reads the form without inputs.
    let viewer = app.signed_in("sponsor_viewer").await;
    let page = viewer.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(!page.contains(r#"id="edc-form""#) && page.contains(r#"id="f-smoker">No<"#));
}
