//! Consent through the pages: a version uploaded as a PDF, eConsent signed on the kiosk by a
//! participant who is not signed in, the coordinator's countersignature, and the snapshot.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use clinbridge_testkit::{TestDb, both_backends};
use common::spawn_app;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

both_backends!(econsent_on_the_kiosk_from_link_to_countersignature, a_version_is_uploaded_with_its_pdf);

fn multipart(fields: &[(&str, &str)], pdf: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----clinbridge-test-boundary";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").as_bytes(),
        );
    }
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"pdf\"; filename=\"ICF v3.pdf\"\r\nContent-Type: application/pdf\r\n\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(pdf);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn a_version_is_uploaded_with_its_pdf(db: &TestDb) {
    let app = spawn_app(db).await;
    let admin = app.signed_in("admin").await;
    let today = clinbridge_testkit::boston_today().to_string();
    let fields = [
        ("version_label", "3.0"),
        ("language", "en"),
        ("title", "Consent <amendment 3>"),
        ("irb_approved_on", today.as_str()),
        ("effective_on", today.as_str()),
        ("body", "# Purpose\r\n\r\nWhat changes."),
        ("questions", "Can you stop at any time? | yes"),
    ];
    // Not a PDF: refused, nothing added.
    let (ct, body) = multipart(&fields, b"GIF89a");
    let r =
        admin.post(app.url("/studies/CARDIO-HF3/consent")).header("content-type", ct).body(body).send().await.unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("not a PDF"));
    let pdf = b"%PDF-1.4\n% version three\n%%EOF\n";
    let (ct, body) = multipart(&fields, pdf);
    let r =
        admin.post(app.url("/studies/CARDIO-HF3/consent")).header("content-type", ct).body(body).send().await.unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let page = admin.get(app.url("/studies/CARDIO-HF3/consent")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Consent &#60;amendment 3&#62;"), "escaped title");
    let sha = hex::encode(Sha256::digest(pdf));
    assert!(page.contains(&sha));
    let docs: Value =
        admin.get(app.url("/api/v1/studies/CARDIO-HF3/consent-documents")).send().await.unwrap().json().await.unwrap();
    let v3 = docs.as_array().unwrap().iter().find(|d| d["version_label"] == "3.0").unwrap();
    assert_eq!(v3["pdf_sha256"], sha);
    let got = admin.get(app.url(v3["pdf_url"].as_str().unwrap())).send().await.unwrap();
    assert_eq!(got.headers()["content-type"], "application/pdf");
    assert_eq!(got.bytes().await.unwrap().as_ref(), pdf);
    // Version 2.0 is retired from today; everyone on study who signed it must re-consent.
    let v2 = docs.as_array().unwrap().iter().find(|d| d["version_label"] == "2.0" && d["language"] == "en").unwrap();
    assert_eq!(v2["retired_on"], today);
    let coord = app.signed_in("coordinator").await;
    let q: Value = coord.get(app.url("/api/v1/tasks")).send().await.unwrap().json().await.unwrap();
    assert!(q.to_string().contains("to version 3.0 (en)"), "{q}");
    // A coordinator does not add versions.
    let (ct, body) = multipart(&fields, pdf);
    let r =
        coord.post(app.url("/studies/CARDIO-HF3/consent")).header("content-type", ct).body(body).send().await.unwrap();
    assert_eq!(r.status(), 403);
}

async fn econsent_on_the_kiosk_from_link_to_countersignature(db: &TestDb) {
    let app = spawn_app(db).await;
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
    let id = p["id"].as_str().unwrap();
    let subject = p["subject_id"].as_str().unwrap();
    let docs: Value =
        coord.get(app.url("/api/v1/studies/CARDIO-HF3/consent-documents")).send().await.unwrap().json().await.unwrap();
    let doc = docs.as_array().unwrap().iter().find(|d| d["in_effect"] == true && d["language"] == "en").unwrap();
    let questions = doc["questions"].as_array().unwrap().clone();

    // The coordinator opens the link from the participant page.
    let r = coord
        .post(app.url(&format!("/participants/{id}/kiosk-links")))
        .form(&[("document_id", doc["id"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let page = r.text().await.unwrap();
    let start = page.find("/kiosk/").unwrap();
    let link: String = page[start..].chars().take_while(|c| *c != '"' && *c != '<').collect();

    // The tablet is not signed in.
    let tablet = app.client();
    let k = tablet.get(app.url(&link)).send().await.unwrap();
    assert_eq!(k.status(), 200);
    let shown = k.text().await.unwrap();
    assert!(shown.contains("Why is this study being done?"));
    assert!(!shown.contains("Sign out"), "no staff chrome on the kiosk");
    // Without the certifications: refused, the link still works.
    let r = tablet.post(app.url(&link)).form(&[("signer_name", "Ana Ortiz")]).send().await.unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("tick statement 1"));
    let mut form: Vec<(String, String)> = (0..4).map(|i| (format!("cert_{i}"), "on".to_string())).collect();
    for (i, q) in questions.iter().enumerate() {
        form.push((format!("answer_{i}"), if q["expected"] == true { "yes" } else { "no" }.into()));
    }
    form.push(("signer".into(), "participant".into()));
    form.push(("signer_name".into(), "Ana <Ortiz>".into()));
    let r = tablet.post(app.url(&link)).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Thank you"));
    let r = tablet.get(app.url(&link)).send().await.unwrap();
    assert_eq!(r.status(), 410, "the link is spent");

    // The coordinator sees it waiting, countersigns, and the participant is consented.
    let page = coord.get(app.url(&format!("/participants/{id}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Awaiting countersignature"));
    let consents: Value =
        coord.get(app.url(&format!("/api/v1/participants/{id}/consents"))).send().await.unwrap().json().await.unwrap();
    let ev = &consents["events"][0];
    assert_eq!(ev["method"], "electronic");
    let ev_id = ev["id"].as_str().unwrap();
    let r = coord
        .post(app.url(&format!("/consent-events/{ev_id}/countersign")))
        .form(&[("password", "clinbridge-demo-2026")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let page = coord.get(app.url(&format!("/participants/{id}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(&format!("{subject} <span")) && page.contains("Consented"), "consented");
    let p: Value =
        coord.get(app.url(&format!("/api/v1/participants/{id}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(p["participant"]["status"], "consented");

    // The snapshot is the page as signed; its digest is in the header and on the event.
    let s = coord.get(app.url(&format!("/api/v1/consent-events/{ev_id}/snapshot"))).send().await.unwrap();
    assert_eq!(s.status(), 200);
    let digest = s.headers()["x-content-sha256"].to_str().unwrap().to_string();
    assert!(s.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    let html = s.text().await.unwrap();
    assert_eq!(hex::encode(Sha256::digest(html.as_bytes())), digest);
    assert_eq!(consents["events"][0]["snapshot_sha256"], digest);
    assert!(html.contains("Ana &lt;Ortiz&gt;"), "the typed name, escaped");
    assert!(html.contains("Why is this study being done?"));
    // A monitor reads the consent record but not the snapshot, which names the signer.
    let monitor = app.signed_in("monitor").await;
    let r = monitor.get(app.url(&format!("/api/v1/participants/{id}/consents"))).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(!r.text().await.unwrap().contains("Ortiz"));
    let r = monitor.get(app.url(&format!("/api/v1/consent-events/{ev_id}/snapshot"))).send().await.unwrap();
    assert_eq!(r.status(), 403);
}
