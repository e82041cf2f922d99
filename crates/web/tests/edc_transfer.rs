//! EDC exports and imports over HTTP on the demo's CARDIO-HF3: CSV, EAV and ODM downloads
//! (de-identified without identifiers), a coordinator's export holding only their site's
//! records, a sponsor viewer refused, imports all or nothing through the API and the
//! Instruments page.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use clinbridge_core::identity::{Role, Scope};
use clinbridge_store::edc::records;
use clinbridge_testkit::{TestDb, both_backends};
use common::{TestApp, spawn_app};
use serde_json::Value;
use std::collections::BTreeSet;

both_backends!(exports_by_format_and_by_site, imports_through_the_api_and_the_page);

const HF3: &str = "CARDIO-HF3";

async fn export(app: &TestApp, c: &reqwest::Client, query: &str) -> reqwest::Response {
    c.get(app.url(&format!("/api/v1/studies/{HF3}/edc/export?{query}"))).send().await.unwrap()
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers().get(name).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
}

/// The cells of a CSV line (the demo's values hold no line breaks).
fn cells(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(ch),
        }
    }
    out.push(cur);
    out
}

fn record_names(csv: &str) -> BTreeSet<String> {
    csv.lines().skip(1).filter(|l| !l.is_empty()).map(|l| cells(l)[0].clone()).collect()
}

async fn exports_by_format_and_by_site(db: &TestDb) {
    let app = spawn_app(db).await;
    let study = app.world.study.id;
    let dm = app.signed_in("data_manager").await;

    // Flat CSV: a download with REDCap's header.
    let r = export(&app, &dm, "format=csv").await;
    assert_eq!(r.status(), 200);
    assert!(header(&r, "content-type").starts_with("text/csv"), "{:?}", r.headers());
    let disposition = header(&r, "content-disposition");
    assert!(disposition.starts_with("attachment;") && disposition.contains(".csv"), "{disposition}");
    let csv = r.text().await.unwrap();
    let head = cells(csv.lines().next().unwrap());
    assert_eq!(head[0], "record_id");
    assert!(head.contains(&"dob".to_string()), "{head:?}");
    let all = record_names(&csv);
    assert!(all.len() > 1, "{csv}");

    // Labels.
    let r = export(&app, &dm, "labels=true").await;
    assert_eq!(r.status(), 200);
    let labelled = r.text().await.unwrap();
    assert!(labelled.starts_with("record_id,"));
    assert!(labelled.contains("Complete"), "{labelled}");

    // De-identified: no identifier columns.
    let r = export(&app, &dm, "format=csv&deidentified=true").await;
    assert_eq!(r.status(), 200);
    assert!(header(&r, "content-disposition").contains("deidentified"));
    let deid = r.text().await.unwrap();
    let head = cells(deid.lines().next().unwrap());
    assert_eq!(head[0], "record_id");
    assert!(!head.contains(&"dob".to_string()), "{head:?}");
    assert_eq!(record_names(&deid), all);

    // EAV.
    let r = export(&app, &dm, "format=eav").await;
    assert_eq!(r.status(), 200);
    assert!(header(&r, "content-type").starts_with("text/csv"));
    let eav = r.text().await.unwrap();
    assert!(
        eav.starts_with("record,redcap_event_name,redcap_repeat_instrument,redcap_repeat_instance,field_name,value")
    );
    assert!(eav.lines().count() > all.len());

    // ODM, and ODM with the audit trail (audit alone means ODM).
    let r = export(&app, &dm, "format=odm").await;
    assert_eq!(r.status(), 200);
    assert!(header(&r, "content-type").starts_with("application/xml"));
    assert!(header(&r, "content-disposition").contains(".xml"));
    let odm = r.text().await.unwrap();
    assert!(odm.starts_with("<?xml") && odm.contains("<ODM"), "{}", &odm[..odm.len().min(300)]);
    let r = export(&app, &dm, "audit=true").await;
    assert_eq!(r.status(), 200);
    let audited = r.text().await.unwrap();
    assert!(audited.starts_with("<?xml") && audited.contains("<AuditRecord"), "{}", &audited[..audited.len().min(300)]);

    // A bad format is refused before anything is sent.
    assert_eq!(export(&app, &dm, "format=xls").await.status(), 422);

    // A coordinator at one site gets that site's records only.
    let coordinator = app.world.users[&Role::Coordinator];
    let grants = clinbridge_store::identity::grants_of(&app.store, coordinator).await.unwrap();
    let site = grants
        .iter()
        .find_map(|g| match g.scope {
            Scope::Site(s) => Some(s),
            _ => None,
        })
        .expect("the demo coordinator works at a site");
    let coord = app.signed_in("coordinator").await;
    let r = export(&app, &coord, "format=csv").await;
    assert_eq!(r.status(), 200);
    let mine = record_names(&r.text().await.unwrap());
    assert!(!mine.is_empty() && mine.len() < all.len(), "{mine:?} of {all:?}");
    for name in &mine {
        let rec = records::record_named(&app.store, study, name).await.unwrap().unwrap();
        assert_eq!(rec.site_id, Some(site), "{name}");
    }

    // A sponsor viewer reads the data on screen but may not download it.
    let viewer = app.signed_in("sponsor_viewer").await;
    for q in ["format=csv", "format=eav", "format=odm"] {
        assert_eq!(export(&app, &viewer, q).await.status(), 403, "{q}");
    }
    let r = viewer.get(app.url(&format!("/studies/{HF3}/edc"))).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(!page.contains("Download the data") && !page.contains("Import data"));

    // The data manager's Instruments page offers both.
    let r = dm.get(app.url(&format!("/studies/{HF3}/edc"))).send().await.unwrap();
    let page = r.text().await.unwrap();
    assert!(page.contains("Export and import") && page.contains("Download the data") && page.contains("Import data"));
    assert!(page.contains(&format!("action=\"/api/v1/studies/{HF3}/edc/export\"")));
}

fn multipart(parts: &[(&str, &str)], file: &str) -> (String, Vec<u8>) {
    let boundary = "----clinbridge-import-boundary";
    let mut body = String::new();
    for (name, value) in parts {
        body.push_str(&format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"));
    }
    body.push_str(&format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"data.csv\"\r\nContent-Type: text/csv\r\n\r\n{file}\r\n--{boundary}--\r\n"
    ));
    (format!("multipart/form-data; boundary={boundary}"), body.into_bytes())
}

async fn sbp_at_screening(app: &TestApp, dm: &reqwest::Client, name: &str) -> String {
    let csv = export(app, dm, "format=csv").await.text().await.unwrap();
    let mut lines = csv.lines();
    let head = cells(lines.next().unwrap());
    let sbp = head.iter().position(|c| c == "sbp").unwrap();
    let line = lines
        .map(cells)
        .find(|r| r[0] == name && r[1] == "scr_arm_1" && r[2].is_empty())
        .expect("the record's screening row");
    line[sbp].clone()
}

async fn imports_through_the_api_and_the_page(db: &TestDb) {
    let app = spawn_app(db).await;
    let study = app.world.study.id;
    let dm = app.signed_in("data_manager").await;
    let csv = export(&app, &dm, "format=csv").await.text().await.unwrap();
    let name = record_names(&csv).into_iter().next().unwrap();
    let before = sbp_at_screening(&app, &dm, &name).await;
    let post = |body: String, query: &str| {
        dm.post(app.url(&format!("/api/v1/studies/{HF3}/edc/import?{query}")))
            .header("content-type", "text/csv")
            .body(body)
            .send()
    };

    // A bad row: 422 naming the row and column, nothing written.
    let bad =
        format!("record_id,redcap_event_name,sbp\n{name},scr_arm_1,12\nNEW-1,scr_arm_1,120\nNEW-2,nowhere_arm_1,120\n");
    let r = post(bad.clone(), "format=csv").await.unwrap();
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.unwrap();
    let fields: Vec<String> =
        body["error"]["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap().to_string()).collect();
    assert!(fields.contains(&"row 2, sbp".to_string()), "{body}");
    assert!(fields.iter().any(|f| f.starts_with("row 4, ")), "{body}");
    assert!(records::record_named(&app.store, study, "NEW-1").await.unwrap().is_none());
    assert_eq!(sbp_at_screening(&app, &dm, &name).await, before);

    // A good import answers the count and the records.
    let good = format!("record_id,redcap_event_name,sbp\n{name},scr_arm_1,133\n");
    let r = post(good, "format=csv&reason=Corrected%20from%20source").await.unwrap();
    assert_eq!(r.status(), 200);
    let out: Value = r.json().await.unwrap();
    assert_eq!(out["count"], 1, "{out}");
    assert_eq!(out["ids"], serde_json::json!([name]));
    assert_eq!(sbp_at_screening(&app, &dm, &name).await, "133");

    // ODM exported and imported back.
    let odm = export(&app, &dm, "format=odm").await.text().await.unwrap();
    let r = dm
        .post(app.url(&format!("/api/v1/studies/{HF3}/edc/import?format=odm")))
        .header("content-type", "application/xml")
        .body(odm)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    // A sponsor viewer may not import.
    let viewer = app.signed_in("sponsor_viewer").await;
    let r = viewer
        .post(app.url(&format!("/api/v1/studies/{HF3}/edc/import")))
        .header("content-type", "text/csv")
        .body(format!("record_id,redcap_event_name,sbp\n{name},scr_arm_1,140\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // The page: a bad file lists the problems, a good one shows the count.
    let (ct, body) = multipart(&[("format", "csv"), ("date_format", "YMD")], &bad);
    let r = dm
        .post(app.url(&format!("/studies/{HF3}/edc/import")))
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let text = r.text().await.unwrap();
    assert!(text.contains("Nothing was imported") && text.contains("row 2, sbp"), "{text}");
    assert!(records::record_named(&app.store, study, "NEW-1").await.unwrap().is_none());

    let good = format!("record_id,redcap_event_name,sbp\n{name},scr_arm_1,127\n");
    let (ct, body) = multipart(&[("format", "csv"), ("date_format", "YMD"), ("reason", "Page import")], &good);
    let r = dm
        .post(app.url(&format!("/studies/{HF3}/edc/import")))
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.contains(&format!("Imported 1 record: {name}")), "{text}");
    assert_eq!(sbp_at_screening(&app, &dm, &name).await, "127");

    // A sponsor viewer cannot import through the page either.
    let (ct, body) = multipart(&[("format", "csv")], &good);
    let r = viewer
        .post(app.url(&format!("/studies/{HF3}/edc/import")))
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}
