//! The device API over HTTP: commercial users read but never write; case assignments refused
//! for an overlap or an expired credential with the conflict named; complaint reporting clocks;
//! a closed complaint stays closed; competency sign-offs give a certificate; one vote per user;
//! the week plan and the specialist's field feed agree; the OpenAPI document describes the
//! fields the API answers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use clinbridge_store::demo::DEMO_PASSWORD;
use clinbridge_testkit::{TestDb, both_backends};
use serde_json::{Value, json};

both_backends!(
    commercial_reads_but_never_writes,
    assignments_clocks_signoffs_and_votes,
    the_week_plan_and_the_field_feed_agree,
    the_openapi_document_names_the_fields_answered
);

async fn get(c: &reqwest::Client, app: &common::TestApp, path: &str) -> Value {
    let r = c.get(app.url(path)).send().await.unwrap();
    assert_eq!(r.status(), 200, "GET {path}");
    r.json().await.unwrap()
}

async fn post(c: &reqwest::Client, app: &common::TestApp, path: &str, body: Value) -> (u16, Value) {
    let r = c.post(app.url(path)).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn institution(app: &common::TestApp, name: &str) -> String {
    let all = clinbridge_store::medical::institutions(&app.store).await.unwrap();
    all.iter().find(|i| i.name == name).unwrap().id.to_string()
}

async fn commercial_reads_but_never_writes(db: &TestDb) {
    let app = common::spawn_app(db).await;
    let c = app.signed_in("commercial").await;
    let specialist = app.world.device.specialists[0];
    for path in [
        "/api/v1/device/products".to_string(),
        "/api/v1/device/installs".into(),
        "/api/v1/device/credentials".into(),
        "/api/v1/device/cases".into(),
        "/api/v1/device/tickets".into(),
        "/api/v1/device/complaints".into(),
        "/api/v1/device/trainings".into(),
        "/api/v1/device/coverage".into(),
        "/api/v1/device/feedback".into(),
        "/api/v1/device/feedback/board".into(),
        "/api/v1/device/courses".into(),
        "/api/v1/device/specialists".into(),
        format!("/api/v1/device/specialists/{specialist}/week"),
        format!("/api/v1/device/specialists/{specialist}/dashboard"),
        format!("/api/v1/device/specialists/{specialist}/territory"),
        "/api/v1/device/settings/travel-buffer".into(),
    ] {
        get(&c, &app, &path).await;
    }
    let products = get(&c, &app, "/api/v1/device/products").await;
    assert_eq!(products.as_array().unwrap().len(), 3);
    let product = products[0]["id"].as_str().unwrap().to_string();
    let complaint = app.world.device.urgent_complaint;
    let harbor = institution(&app, "Harborview Medical Center").await;
    let writes = [
        ("/api/v1/device/products".to_string(), json!({"name": "X", "udi_di": "00884422100019"})),
        (
            "/api/v1/device/tickets".into(),
            json!({"institution_id": harbor, "product_id": product, "description": "Commercial ticket"}),
        ),
        (
            "/api/v1/device/feedback".into(),
            json!({"institution_id": harbor, "product_id": product, "category": "other", "text": "Commercial"}),
        ),
        (format!("/api/v1/device/complaints/{complaint}/close"), json!({})),
        (format!("/api/v1/device/complaints/{complaint}/handling"), json!({"reply": "Commercial reply"})),
    ];
    for (path, body) in writes {
        let (status, _) = post(&c, &app, &path, body).await;
        assert_eq!(status, 403, "POST {path}");
    }
    let r = c.put(app.url("/api/v1/device/settings/travel-buffer")).json(&json!({"minutes": 10})).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let r = c
        .put(app.url(&format!("/api/v1/device/products/{product}")))
        .json(&json!({"name": "X", "udi_di": "00884422100019"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Nobody else sees device records at all.
    let m = app.signed_in("monitor").await;
    assert_eq!(m.get(app.url("/api/v1/device/products")).send().await.unwrap().status(), 403);
}

/// The latest Friday before today.
fn last_friday(today: NaiveDate) -> NaiveDate {
    let mut d = today - Duration::days(1);
    while d.weekday() != Weekday::Fri {
        d -= Duration::days(1);
    }
    d
}

async fn assignments_clocks_signoffs_and_votes(db: &TestDb) {
    let app = common::spawn_app(db).await;
    let s = app.signed_in("clinical_specialist").await;
    let kenji = app.world.device.specialists[0];
    let harbor = institution(&app, "Harborview Medical Center").await;
    let front_range = institution(&app, "Front Range Regional Hospital").await;
    let products = get(&s, &app, "/api/v1/device/products").await;
    let product = products[0]["id"].as_str().unwrap().to_string();

    // Kenji covers a Harborview case three days on from 14:00 UTC for 150 minutes; a second
    // case there at 15:00 overlaps it.
    let three = (clinbridge_store::now() + Duration::days(3)).date_naive();
    let (status, case) = post(
        &s,
        &app,
        "/api/v1/device/cases",
        json!({"institution_id": harbor, "procedure_type": "Transfemoral TAVR", "starts_at": format!("{three}T15:00:00Z"), "duration_minutes": 60}),
    )
    .await;
    assert_eq!(status, 201, "{case}");
    let id = case["id"].as_str().unwrap();
    let (status, refused) =
        post(&s, &app, &format!("/api/v1/device/cases/{id}/assignment"), json!({"specialist_user_id": kenji})).await;
    assert!(status == 409 || status == 422, "{status} {refused}");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains("already covers") && message.contains("overlap"), "{message}");

    // His Front Range credential has expired.
    let later = (clinbridge_store::now() + Duration::days(20)).date_naive();
    let (status, case) = post(
        &s,
        &app,
        "/api/v1/device/cases",
        json!({"institution_id": front_range, "procedure_type": "Transfemoral TAVR", "starts_at": format!("{later}T15:00:00Z"), "duration_minutes": 60}),
    )
    .await;
    assert_eq!(status, 201);
    let id = case["id"].as_str().unwrap();
    let (status, refused) =
        post(&s, &app, &format!("/api/v1/device/cases/{id}/assignment"), json!({"specialist_user_id": kenji})).await;
    assert!(status == 409 || status == 422, "{status} {refused}");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains("expired") && message.contains("Front Range"), "{message}");
    // The credentials list gives each one's state.
    let creds = get(&s, &app, &format!("/api/v1/device/credentials?user={kenji}")).await;
    let states: Vec<&str> = creds.as_array().unwrap().iter().map(|c| c["state"].as_str().unwrap()).collect();
    assert!(states.contains(&"expired") && states.contains(&"expiring"), "{states:?}");

    // A ticket escalated to two complaints' worth of clocks: 30 calendar days, and 5 work days
    // from a Friday (the following Friday, over the weekend).
    let today = clinbridge_store::now().date_naive();
    let aware = last_friday(today - Duration::days(1));
    let mut dues = Vec::new();
    for remedial in [false, true] {
        let (status, ticket) = post(
            &s,
            &app,
            "/api/v1/device/tickets",
            json!({"institution_id": harbor, "product_id": product, "serial_or_lot": "LOT-T-1", "description": "Catheter tip separated"}),
        )
        .await;
        assert_eq!(status, 201, "{ticket}");
        let t = ticket["id"].as_str().unwrap();
        let (status, complaint) = post(
            &s,
            &app,
            &format!("/api/v1/device/tickets/{t}/complaint"),
            json!({"device_name": "Aurora Delivery Catheter", "received_on": aware, "aware_on": aware,
                   "complainant_name": "Nora Quinn", "complainant_contact": "nquinn@example.org",
                   "nature": "Component separation", "details": "Tip separated on withdrawal."}),
        )
        .await;
        assert_eq!(status, 201, "{complaint}");
        let c = complaint["id"].as_str().unwrap().to_string();
        let detail = get(&s, &app, &format!("/api/v1/device/tickets/{t}")).await;
        assert_eq!(detail["complaint"]["id"], c.as_str());
        let (status, decided) = post(
            &s,
            &app,
            &format!("/api/v1/device/complaints/{c}/reportability"),
            json!({"reportability": "malfunction", "remedial_action": remedial, "rationale": "Could recur"}),
        )
        .await;
        assert_eq!(status, 200, "{decided}");
        let due: NaiveDate = serde_json::from_value(decided["report_due_on"].clone()).unwrap();
        dues.push((c, due));
    }
    assert_eq!(dues[0].1, aware + Duration::days(30));
    assert_eq!(dues[1].1, aware + Duration::days(7), "five work days from a Friday is the next Friday");
    let list = get(&s, &app, "/api/v1/device/complaints").await;
    for (c, due) in &dues {
        let row = list.as_array().unwrap().iter().find(|r| r["id"] == c.as_str()).unwrap();
        let left = row["days_remaining"].as_i64().unwrap();
        assert!(((*due - today).num_days() - left).abs() <= 1, "{row}");
        assert_eq!(row["overdue"], left < 0);
    }

    // A closed complaint refuses changes.
    let c = &dues[0].0;
    let (status, _) = post(
        &s,
        &app,
        &format!("/api/v1/device/complaints/{c}/handling"),
        json!({"investigation": "Bond joint inspected.", "reply": "Letter sent."}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, reported) =
        post(&s, &app, &format!("/api/v1/device/complaints/{c}/reported"), json!({"reported_on": today})).await;
    assert_eq!(status, 200, "{reported}");
    let (status, closed) = post(&s, &app, &format!("/api/v1/device/complaints/{c}/close"), json!({})).await;
    assert_eq!(status, 200, "{closed}");
    let (status, _) =
        post(&s, &app, &format!("/api/v1/device/complaints/{c}/handling"), json!({"reply": "Another letter."})).await;
    assert!(status == 409 || status == 422, "{status}");

    // Sign-offs by trainer and trainee on every competency give a certificate expiry.
    let (status, training) = post(
        &s,
        &app,
        "/api/v1/device/trainings",
        json!({"institution_id": harbor, "product_id": product, "competencies": ["Crimping", "Deployment"],
               "held_on": today, "attendees": [{"name": "Ada Lee", "role": "RN"}]}),
    )
    .await;
    assert_eq!(status, 201, "{training}");
    let detail = get(&s, &app, &format!("/api/v1/device/trainings/{}", training["id"].as_str().unwrap())).await;
    let attendee = detail["attendees"][0]["id"].as_str().unwrap().to_string();
    let mut last = Value::Null;
    for comp in ["Crimping", "Deployment"] {
        for (side, name) in [("trainer", "Kenji Watanabe"), ("trainee", "Ada Lee")] {
            assert!(last["certificate_expires_on"].is_null(), "{last}");
            let (status, a) = post(
                &s,
                &app,
                &format!("/api/v1/device/attendees/{attendee}/signoffs"),
                json!({"competency": comp, "side": side, "signed_name": name}),
            )
            .await;
            assert_eq!(status, 200, "{a}");
            last = a;
        }
    }
    assert!(last["certificate_expires_on"].is_string(), "{last}");

    // One vote per user.
    let (status, f) = post(
        &s,
        &app,
        "/api/v1/device/feedback",
        json!({"institution_id": harbor, "product_id": product, "category": "usability", "text": "Bigger markings"}),
    )
    .await;
    assert_eq!(status, 201, "{f}");
    let fid = f["id"].as_str().unwrap();
    let (status, v) = post(&s, &app, &format!("/api/v1/device/feedback/{fid}/vote"), json!({})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["votes"], 1);
    let (status, again) = post(&s, &app, &format!("/api/v1/device/feedback/{fid}/vote"), json!({})).await;
    assert_eq!(status, 409, "{again}");
    assert!(again["error"]["message"].as_str().unwrap().contains("already voted"));
    let all = get(&s, &app, "/api/v1/device/feedback").await;
    assert_eq!(all.as_array().unwrap().iter().find(|x| x["id"] == fid).unwrap()["votes"], 1);
    let ines = app.client();
    let r = ines
        .post(app.url("/api/v1/session"))
        .json(&json!({"email": "ines.moreau@demo.clinbridge.org", "password": DEMO_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, v) = post(&ines, &app, &format!("/api/v1/device/feedback/{fid}/vote"), json!({})).await;
    assert_eq!(v["votes"], 2);
}

async fn the_week_plan_and_the_field_feed_agree(db: &TestDb) {
    let app = common::spawn_app(db).await;
    let s = app.signed_in("clinical_specialist").await;
    let kenji = app.world.device.specialists[0].to_string();
    let specialists = get(&s, &app, "/api/v1/device/specialists").await;
    let me = specialists.as_array().unwrap().iter().find(|x| x["id"] == kenji.as_str()).unwrap();
    let today = clinbridge_testkit::today_in(me["time_zone"].as_str().unwrap());
    let monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
    let mut ids = Vec::new();
    for w in -4..12 {
        let start = monday + Duration::weeks(w);
        let week = get(&s, &app, &format!("/api/v1/device/specialists/{kenji}/week?start={start}")).await;
        for item in week["items"].as_array().unwrap() {
            ids.push(format!("device-{}-{}", item["kind"].as_str().unwrap(), item["id"].as_str().unwrap()));
        }
    }
    assert!(ids.len() >= 4, "{ids:?}");

    let feeds = get(&s, &app, "/api/v1/me/feeds").await;
    let field = feeds.as_array().unwrap().iter().find(|f| f["kind"] == "field").expect("a field feed");
    let url = field["url"].as_str().unwrap();
    let path = &url[url.find("/feeds/").unwrap()..];
    let r = app.client().get(app.url(path)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    assert!(body.starts_with("BEGIN:VCALENDAR"), "{body}");
    assert_eq!(body.matches("BEGIN:VEVENT").count(), ids.len(), "{body}");
    for id in &ids {
        assert!(body.contains(id.as_str()), "{id} missing from the feed");
    }
    // Someone without device write access gets no field feed.
    let c = app.signed_in("commercial").await;
    let feeds = get(&c, &app, "/api/v1/me/feeds").await;
    assert!(!feeds.as_array().unwrap().iter().any(|f| f["kind"] == "field"));
}

/// Each documented output schema lists exactly the fields the API answers.
async fn the_openapi_document_names_the_fields_answered(db: &TestDb) {
    let app = common::spawn_app(db).await;
    let doc: Value = app.client().get(app.url("/api/openapi.json")).send().await.unwrap().json().await.unwrap();
    let c = app.signed_in("clinical_specialist").await;
    let specialist = app.world.device.specialists[0];
    for (path, schema) in [
        ("/api/v1/device/products".to_string(), "ProductOut"),
        ("/api/v1/device/installs".into(), "InstalledOut"),
        ("/api/v1/device/credentials".into(), "CredentialOut"),
        ("/api/v1/device/cases".into(), "CaseOut"),
        ("/api/v1/device/specialists".into(), "SpecialistOut"),
        (format!("/api/v1/device/specialists/{specialist}/territory"), "TerritoryAccountOut"),
        ("/api/v1/device/tickets".into(), "TicketOut"),
        ("/api/v1/device/coverage".into(), "CoverageOut"),
        ("/api/v1/device/feedback".into(), "FeedbackOut"),
        ("/api/v1/device/feedback/board".into(), "BoardCellOut"),
        ("/api/v1/device/courses".into(), "CourseOut"),
        ("/api/v1/device/complaints".into(), "ComplaintOut"),
        ("/api/v1/device/trainings".into(), "TrainingOut"),
    ] {
        let props = doc["components"]["schemas"][schema]["properties"].as_object();
        let mut documented: Vec<&String> = props.unwrap_or_else(|| panic!("{schema} is documented")).keys().collect();
        documented.sort();
        let list = get(&c, &app, &path).await;
        let first = list.as_array().and_then(|a| a.first()).unwrap_or_else(|| panic!("{path} lists something"));
        let mut answered: Vec<&String> = first.as_object().unwrap().keys().collect();
        answered.sort();
        assert_eq!(answered, documented, "{path} against {schema}");
    }
    let listed = &doc["paths"]["/api/v1/device/cases"]["get"]["responses"]["200"]["content"]["application/json"];
    assert_eq!(listed["schema"]["items"]["$ref"], "#/components/schemas/CaseOut");
    // Attendees and enrollments, answered inside a training's and a course's detail.
    let fields = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    let trainings = get(&c, &app, "/api/v1/device/trainings").await;
    let training = get(&c, &app, &format!("/api/v1/device/trainings/{}", trainings[0]["id"].as_str().unwrap())).await;
    assert_eq!(
        fields(&training["attendees"][0]),
        fields(&doc["components"]["schemas"]["TrainingAttendeeOut"]["properties"])
    );
    let courses = get(&c, &app, "/api/v1/device/courses").await;
    for course in courses.as_array().unwrap() {
        let detail = get(&c, &app, &format!("/api/v1/device/courses/{}", course["id"].as_str().unwrap())).await;
        if let Some(first) = detail["enrollments"].as_array().and_then(|a| a.first()) {
            assert_eq!(fields(first), fields(&doc["components"]["schemas"]["CourseEnrollmentOut"]["properties"]));
        }
    }
    // The urgent complaint's standing is described too.
    let complaint = get(&c, &app, &format!("/api/v1/device/complaints/{}", app.world.device.urgent_complaint)).await;
    let mut answered: Vec<&String> = complaint["standing"].as_object().unwrap().keys().collect();
    answered.sort();
    let mut documented: Vec<&String> =
        doc["components"]["schemas"]["StandingOut"]["properties"].as_object().unwrap().keys().collect();
    documented.sort();
    assert_eq!(answered, documented);
}
