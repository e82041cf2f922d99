//! The EDC design: a REDCap data dictionary uploaded through the API and the Instruments page,
//! a bad one refused cell by cell with nothing written, the download giving the same bytes, the
//! form–event grid, the form builder, and publishing a change that loses data only with a
//! reason. A coordinator reads the design but cannot change it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use clinbridge_store::edc::metadata as meta;
use clinbridge_testkit::{TestDb, both_backends};
use common::{TestApp, spawn_app};
use serde_json::{Value, json};

both_backends!(a_dictionary_is_uploaded_checked_and_downloaded, the_grid_the_builder_and_publishing_guard_the_data);

/// The demo's empty data-capture project (in development, no instruments).
const SANDBOX: &str = "SANDBOX";
/// The demo trial, with a production dictionary mapped to its visits and data.
const HF3: &str = "CARDIO-HF3";

const HEADER: &str = "\u{FEFF}\"Variable / Field Name\",\"Form Name\",\"Section Header\",\"Field Type\",\"Field Label\",\"Choices, Calculations, OR Slider Labels\",\"Field Note\",\"Text Validation Type OR Show Slider Number\",\"Text Validation Min\",\"Text Validation Max\",Identifier?,\"Branching Logic (Show field only if...)\",\"Required Field?\",\"Custom Alignment\",\"Question Number (surveys only)\",\"Matrix Group Name\",\"Matrix Ranking?\",\"Field Annotation\"\n";

fn good() -> String {
    format!(
        "{HEADER}record_id,demographics,,text,\"Record ID\",,,,,,,,,,,,,\n\
         sex,demographics,,radio,Sex,\"1, Female | 2, Male\",,,,,,,y,,,,,\n\
         weight,vitals,,text,\"Weight (kg)\",,,number,30,250,,,,,,,,\n\
         pregnant,vitals,,yesno,\"Pregnant <now>?\",,,,,,,\"[sex] = '1'\",,,,,,\n"
    )
}

/// Two bad rows: an unknown type on row 3, an unknown validation on row 4.
fn bad() -> String {
    format!(
        "{HEADER}record_id,demographics,,text,\"Record ID\",,,,,,,,,,,,,\n\
         sex,demographics,,colour,Sex,,,,,,,,,,,,,\n\
         weight,vitals,,text,\"Weight (kg)\",,,kilograms,,,,,,,,,,\n"
    )
}

fn multipart(csv: &str) -> (String, Vec<u8>) {
    let boundary = "----clinbridge-edc-boundary";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"dictionary\"; filename=\"dd.csv\"\r\nContent-Type: text/csv\r\n\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(csv.as_bytes());
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn put_csv(app: &TestApp, c: &reqwest::Client, study: &str, csv: &str) -> reqwest::Response {
    c.put(app.url(&format!("/api/v1/studies/{study}/edc/dictionary")))
        .header("content-type", "text/csv")
        .body(csv.to_string())
        .send()
        .await
        .unwrap()
}

async fn page(app: &TestApp, c: &reqwest::Client, study: &str) -> String {
    let r = c.get(app.url(&format!("/studies/{study}/edc"))).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

async fn study_id(app: &TestApp, study: &str) -> uuid::Uuid {
    clinbridge_store::trials::study_by_code(&app.store, study).await.unwrap().id
}

async fn a_dictionary_is_uploaded_checked_and_downloaded(db: &TestDb) {
    let app = spawn_app(db).await;
    let dm = app.signed_in("data_manager").await;
    let sid = study_id(&app, SANDBOX).await;

    // A bad dictionary: every bad cell named, nothing written.
    let r = put_csv(&app, &dm, SANDBOX, &bad()).await;
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.unwrap();
    let fields: Vec<String> =
        body["error"]["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap().to_string()).collect();
    assert!(fields.contains(&"row 3, field_type".to_string()), "{body}");
    assert!(fields.iter().any(|f| f.starts_with("row 4, ")), "{body}");
    assert!(meta::versions(&app.store, sid).await.unwrap().is_empty());
    let r = dm.get(app.url(&format!("/api/v1/studies/{SANDBOX}/edc/metadata"))).send().await.unwrap();
    assert_eq!(r.status(), 404);

    // The same through the page: the problems are listed by row and column.
    let (ct, body) = multipart(&bad());
    let r = dm
        .post(app.url(&format!("/studies/{SANDBOX}/edc/dictionary")))
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let text = r.text().await.unwrap();
    assert!(text.contains("row 3, field_type"), "{text}");
    assert!(text.contains("The dictionary was not imported"));
    assert!(meta::versions(&app.store, sid).await.unwrap().is_empty());

    // A good one through the API becomes draft version 1.
    let r = put_csv(&app, &dm, SANDBOX, &good()).await;
    assert_eq!(r.status(), 200);
    let m: Value = r.json().await.unwrap();
    assert_eq!(m["version"], 1);
    assert_eq!(m["status"], "draft");
    assert_eq!(m["metadata"].as_array().unwrap().len(), 4);
    assert_eq!(m["metadata"][2]["text_validation_type_or_show_slider_number"], "number");
    assert_eq!(m["instruments"][1]["label"], "Vitals");

    // The download gives the same bytes.
    let r =
        dm.get(app.url(&format!("/api/v1/studies/{SANDBOX}/edc/dictionary.csv?version=draft"))).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert_eq!(r.bytes().await.unwrap().as_ref(), good().as_bytes());

    // Through the page, into the same draft.
    let changed = good().replace("\"Weight (kg)\"", "\"Body weight (kg)\"");
    let (ct, body) = multipart(&changed);
    let r = dm
        .post(app.url(&format!("/studies/{SANDBOX}/edc/dictionary")))
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let shown = page(&app, &dm, SANDBOX).await;
    assert!(shown.contains("Draft version 1"), "{shown}");
    assert!(shown.contains("Body weight (kg)"));
    assert!(shown.contains("Pregnant &#60;now&#62;?"), "labels are escaped");
    assert!(shown.contains("[sex] = &#39;1&#39;"));
    assert_eq!(meta::versions(&app.store, sid).await.unwrap().len(), 1);

    // A coordinator reads the design but cannot change it.
    let coord = app.signed_in("coordinator").await;
    let r = coord.get(app.url(&format!("/api/v1/studies/{SANDBOX}/edc/metadata?version=draft"))).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["metadata"][2]["field_label"], "Body weight (kg)");
    let shown = page(&app, &coord, SANDBOX).await;
    assert!(shown.contains("Body weight (kg)"));
    assert!(!shown.contains("Upload a data dictionary"));
    assert!(!shown.contains("Publish the draft"));
    assert_eq!(put_csv(&app, &coord, SANDBOX, &good()).await.status(), 403);
    let (ct, body) = multipart(&good());
    let r = coord
        .post(app.url(&format!("/studies/{SANDBOX}/edc/dictionary")))
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r =
        coord.post(app.url(&format!("/api/v1/studies/{SANDBOX}/edc/publish"))).json(&json!({})).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let r = coord
        .put(app.url(&format!("/api/v1/studies/{SANDBOX}/edc/design")))
        .json(&json!({"missing_codes": "NA, Not applicable"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let m = meta::draft(&app.store, sid).await.unwrap().unwrap();
    assert_eq!(m.field("weight").unwrap().label(), "Body weight (kg)");
    assert_eq!(m.missing_text, "");
}

async fn the_grid_the_builder_and_publishing_guard_the_data(db: &TestDb) {
    let app = spawn_app(db).await;
    let dm = app.signed_in("data_manager").await;
    let sid = study_id(&app, HF3).await;
    let prod = meta::production(&app.store, sid).await.unwrap().expect("the demo trial has a production version");
    let start = prod.number;
    let events = meta::events(&app.store, sid).await.unwrap();
    assert!(events.len() >= 2, "the demo schedule has visits");
    let (first, second) = (events[0].code.clone(), events[1].code.clone());
    // A visit where production collects vital signs, for a value below.
    let vitals_at = events.iter().find(|e| prod.collects(&e.code, "vital_signs")).unwrap().code.clone();

    // The grid: demographics and vital signs at the first visit, vital signs at the second.
    let grid = [
        ("map", format!("{first}|demographics")),
        ("map", format!("{first}|vital_signs")),
        ("map", format!("{second}|vital_signs")),
    ];
    let r = dm.post(app.url(&format!("/studies/{HF3}/edc/event-forms"))).form(&grid).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let m = meta::draft(&app.store, sid).await.unwrap().unwrap();
    assert_eq!(m.number, start + 1);
    assert_eq!(m.event_instruments(&first), vec!["demographics", "vital_signs"]);
    assert_eq!(m.event_instruments(&second), vec!["vital_signs"]);
    let shown = page(&app, &dm, HF3).await;
    let cell = |event: &str, i: &str| format!("value=\"{event}|{i}\" aria-label=\"{event}: {i}\" checked");
    assert!(shown.contains(&cell(&second, "vital_signs")), "{shown}");
    assert!(!shown.contains(&cell(&second, "laboratory_results")));

    // Settings and missing-data codes through the API.
    let r = dm
        .put(app.url(&format!("/api/v1/studies/{HF3}/edc/design")))
        .json(&json!({
            "instruments": [{"name": "vital_signs", "label": "Vitals", "repeating": true}],
            "event_forms": [{"event": first, "instruments": ["demographics", "vital_signs"]}, {"event": second, "instruments": ["vital_signs"]}],
            "missing_codes": "NA, Not applicable | UNK, Unknown",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let m: Value = r.json().await.unwrap();
    let vitals = m["instruments"].as_array().unwrap().iter().find(|i| i["name"] == "vital_signs").unwrap();
    assert_eq!(vitals["label"], "Vitals");
    assert_eq!(vitals["repeating"], true);
    assert_eq!(m["missing_codes"], "NA, Not applicable | UNK, Unknown");
    // A mapping naming no visit is refused.
    let r = dm
        .put(app.url(&format!("/api/v1/studies/{HF3}/edc/design")))
        .json(&json!({"event_forms": [{"event": "NO-SUCH-VISIT", "instruments": ["vital_signs"]}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);

    // The form builder: a bad field is refused with its cell named, a good one added after
    // the instrument's last field, then moved up; a field is edited.
    let add = |validation: &str, min: &str| {
        vec![
            ("field_name", "waist".to_string()),
            ("form_name", "vital_signs".to_string()),
            ("field_type", "text".to_string()),
            ("field_label", "Waist (cm)".to_string()),
            ("choices", String::new()),
            ("validation", validation.to_string()),
            ("min", min.to_string()),
            ("max", String::new()),
            ("required", "on".to_string()),
        ]
    };
    let names = |m: &meta::Metadata| m.rows().into_iter().map(|r| r.field_name).collect::<Vec<_>>();
    let before = names(&meta::draft(&app.store, sid).await.unwrap().unwrap());
    let last_vital = before.iter().rposition(|n| *n == "bmi").unwrap();
    let r = dm.post(app.url(&format!("/studies/{HF3}/edc/fields"))).form(&add("integer", "wide")).send().await.unwrap();
    assert_eq!(r.status(), 422);
    let text = r.text().await.unwrap();
    assert!(text.contains(&format!("row {}, text_validation_min", last_vital + 3)), "{text}");
    assert_eq!(names(&meta::draft(&app.store, sid).await.unwrap().unwrap()), before);
    let r = dm.post(app.url(&format!("/studies/{HF3}/edc/fields"))).form(&add("integer", "40")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let m = meta::draft(&app.store, sid).await.unwrap().unwrap();
    assert_eq!(names(&m)[last_vital + 1], "waist");
    assert!(m.field("waist").unwrap().required());
    let r = dm
        .post(app.url(&format!("/studies/{HF3}/edc/fields/waist/move")))
        .form(&[("direction", "up")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let m = meta::draft(&app.store, sid).await.unwrap().unwrap();
    assert_eq!(names(&m)[last_vital..last_vital + 2], ["waist", "bmi"]);
    let edit = dm.get(app.url(&format!("/studies/{HF3}/edc/fields/sex"))).send().await.unwrap().text().await.unwrap();
    assert!(edit.contains("1, Male\n2, Female"), "choices one per line: {edit}");
    let r = dm
        .post(app.url(&format!("/studies/{HF3}/edc/fields/sex")))
        .form(&[
            ("field_name", "sex"),
            ("form_name", "demographics"),
            ("field_type", "radio"),
            ("field_label", "Sex assigned at birth"),
            ("choices", "1, Male\r\n2, Female\r\n3, Intersex"),
            ("required", "on"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let m = meta::draft(&app.store, sid).await.unwrap().unwrap();
    assert_eq!(m.field("sex").unwrap().choices_text(), "1, Male | 2, Female | 3, Intersex");
    assert_eq!(m.field("sex").unwrap().label(), "Sex assigned at birth");

    // Nothing is lost yet: publishing from the page needs no reason.
    let r = dm.post(app.url(&format!("/studies/{HF3}/edc/publish"))).form(&[("reason", "")]).send().await.unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    assert_eq!(meta::production(&app.store, sid).await.unwrap().unwrap().number, start + 1);

    // A new participant gets a waist measurement.
    let coord = app.signed_in("coordinator").await;
    let p: Value = coord
        .post(app.url(&format!("/api/v1/studies/{HF3}/sites/BOS/participants")))
        .json(&json!({"status": "screening"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pid: uuid::Uuid = p["id"].as_str().unwrap().parse().unwrap();
    let at = if meta::production(&app.store, sid).await.unwrap().unwrap().collects(&vitals_at, "vital_signs") {
        vitals_at
    } else {
        first.clone()
    };
    clinbridge_store::edc::save_for_participant(
        &app.store,
        &app.world.admin,
        pid,
        clinbridge_store::edc::FormInput {
            key: clinbridge_store::edc::records::FormKey::new(&at, "vital_signs", 1),
            values: vec![("waist".into(), "91".into())],
            status: None,
            reason: None,
            revision: None,
            dates: None,
            blanks: clinbridge_store::edc::Blanks::Keep,
            from_page: false,
        },
    )
    .await
    .unwrap();

    // Deleting the waist starts a new draft; publishing it needs a reason.
    let r = dm.post(app.url(&format!("/studies/{HF3}/edc/fields/waist/delete"))).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let shown = page(&app, &dm, HF3).await;
    assert!(shown.contains(&format!("Draft version {}", start + 2)));
    assert!(shown.contains("would lose or orphan data"), "{shown}");
    assert!(shown.contains("<code>waist</code> is removed, and records hold values for it"));
    let r = dm.post(app.url(&format!("/api/v1/studies/{HF3}/edc/publish"))).json(&json!({})).send().await.unwrap();
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.unwrap();
    let fields: Vec<&str> =
        body["error"]["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    assert!(fields.contains(&"waist") && fields.contains(&"reason"), "{body}");
    let r = dm.post(app.url(&format!("/studies/{HF3}/edc/publish"))).form(&[("reason", " ")]).send().await.unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("confirm them with a reason for change"));
    assert_eq!(meta::production(&app.store, sid).await.unwrap().unwrap().number, start + 1);
    let r = dm
        .post(app.url(&format!("/api/v1/studies/{HF3}/edc/publish")))
        .json(&json!({"reason": "Waist is no longer collected (amendment 4)"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let m: Value = r.json().await.unwrap();
    assert_eq!(m["version"], start + 2);
    assert_eq!(m["status"], "production");
    assert_eq!(m["change_reason"], "Waist is no longer collected (amendment 4)");
    let versions = meta::versions(&app.store, sid).await.unwrap();
    assert_eq!(versions[0].number, start + 2);
    assert_eq!(versions[0].status, "production");
    assert!(versions[1..].iter().all(|v| v.status == "retired"));
    let shown = page(&app, &dm, HF3).await;
    assert!(shown.contains(&format!("Production version {}", start + 2)));
    assert!(shown.contains("Waist is no longer collected (amendment 4)"));

    // A new draft can be discarded; production stays.
    let r = dm
        .put(app.url(&format!("/api/v1/studies/{HF3}/edc/design")))
        .json(&json!({"missing_codes": "NA, Not applicable"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(meta::draft(&app.store, sid).await.unwrap().is_some());
    let r = dm.delete(app.url(&format!("/api/v1/studies/{HF3}/edc/draft"))).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert!(meta::draft(&app.store, sid).await.unwrap().is_none());
    assert_eq!(meta::production(&app.store, sid).await.unwrap().unwrap().number, start + 2);
}
