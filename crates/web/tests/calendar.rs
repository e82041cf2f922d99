//! The scheduling calendar over HTTP: resources, bookings refused with the conflict named,
//! moves refused outside the window, the site calendar page, and feeds that open without a
//! session and carry no names.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::Duration;
use clinbridge_store::scheduling::calendar::{self as cal, Due};
use clinbridge_testkit::{TestDb, both_backends};
use serde_json::{Value, json};

both_backends!(bookings_and_moves_over_the_api_and_the_calendar_page, feeds_open_by_their_secret_without_names);

async fn bookings_and_moves_over_the_api_and_the_calendar_page(db: &TestDb) {
    let app = common::spawn_app(db).await;
    let bos = app.world.sites.iter().find(|s| s.code == "BOS").unwrap().id;
    let c = app.signed_in("coordinator").await;
    // The Boston coordinator keeps Boston's resources; a monitor may not.
    let r: Value = c
        .post(app.url(&format!("/api/v1/sites/{bos}/resources")))
        .json(&json!({"kind": "room", "name": "Exam room 12", "hours": [{"weekday": "mon", "from": "07:00", "to": "19:00"}, {"weekday": "tue", "from": "07:00", "to": "19:00"}, {"weekday": "wed", "from": "07:00", "to": "19:00"}, {"weekday": "thu", "from": "07:00", "to": "19:00"}, {"weekday": "fri", "from": "07:00", "to": "19:00"}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let room = r["id"].as_str().unwrap().to_string();
    assert_eq!(r["hours"][0]["from"], "07:00");
    let m = app.signed_in("monitor").await;
    let refused = m
        .post(app.url(&format!("/api/v1/sites/{bos}/resources")))
        .json(&json!({"kind": "room", "name": "Monitor room"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let bad = c
        .post(app.url(&format!("/api/v1/sites/{bos}/resources")))
        .json(
            &json!({"kind": "room", "name": "Odd room", "hours": [{"weekday": "mon", "from": "17:00", "to": "08:00"}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);

    // Two open Boston visits a month or more ahead, on a weekday both windows hold.
    let today = clinbridge_testkit::boston_today();
    let open =
        cal::open_visits(&app.store, None, Due::Between(today + Duration::days(30), today + Duration::days(500)))
            .await
            .unwrap();
    let open: Vec<_> = open.into_iter().filter(|v| v.site_id == bos && v.starts_at.is_none()).collect();
    let (a, b) =
        open.iter()
            .flat_map(|a| open.iter().map(move |b| (a, b)))
            .find(|(a, b)| {
                a.id != b.id && {
                    let day = a.window_start.max(b.window_start);
                    day <= a.window_end.min(b.window_end)
                        && day.iter_days().take_while(|d| *d <= a.window_end.min(b.window_end)).any(|d| {
                            !matches!(chrono::Datelike::weekday(&d), chrono::Weekday::Sat | chrono::Weekday::Sun)
                        })
                }
            })
            .expect("two Boston visits whose windows meet");
    let mut day = a.window_start.max(b.window_start);
    while matches!(chrono::Datelike::weekday(&day), chrono::Weekday::Sat | chrono::Weekday::Sun) {
        day += Duration::days(1);
    }
    let ok = c
        .post(app.url(&format!("/api/v1/participant-visits/{}/booking", a.id)))
        .json(&json!({"date": day, "time": "10:00", "minutes": 60, "resources": [room]}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let booked: Value = ok.json().await.unwrap();
    assert!(booked["starts_at"].is_string());
    let clash = c
        .post(app.url(&format!("/api/v1/participant-visits/{}/booking", b.id)))
        .json(&json!({"date": day, "time": "10:15", "minutes": 30, "resources": [room]}))
        .send()
        .await
        .unwrap();
    assert_eq!(clash.status(), 409);
    let body: Value = clash.json().await.unwrap();
    assert_eq!(
        body["error"]["message"],
        format!("Exam room 12 is already booked 10:00–11:00 for {} {}", a.subject_id, a.code)
    );
    // Moving outside the window names the field and the days allowed.
    let out = c
        .post(app.url(&format!("/api/v1/participant-visits/{}/reschedule", b.id)))
        .json(&json!({"date": b.window_end + Duration::days(1)}))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 422);
    let body: Value = out.json().await.unwrap();
    assert_eq!(body["error"]["fields"][0]["field"], "date");
    assert!(body["error"]["fields"][0]["message"].as_str().unwrap().contains(&b.window_start.to_string()));

    // The week's calendar shows the booking with its room; the API says the same.
    let page = c.get(app.url(&format!("/sites/BOS/calendar?view=week&date={day}"))).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains(&a.subject_id) && html.contains("Exam room 12") && html.contains("10:00–11:00"),
        "calendar page"
    );
    let api: Value = c
        .get(app.url(&format!("/api/v1/sites/{bos}/calendar?view=day&date={day}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(api["booked"].as_array().unwrap().iter().any(|v| v["id"] == json!(a.id)));
    let far = c.get(app.url(&format!("/api/v1/sites/{bos}/calendar?date=9999-12-31"))).send().await.unwrap();
    assert_eq!(far.status(), 422);
    // The participant's visits table shows the slot.
    let p = c.get(app.url(&format!("/participants/{}", a.participant_id))).send().await.unwrap().text().await.unwrap();
    assert!(p.contains("10:00–11:00 · Exam room 12"));
    // Another site's calendar is not the Boston coordinator's.
    assert_eq!(c.get(app.url("/sites/CHI/calendar")).send().await.unwrap().status(), 403);
    // A booking from the calendar page that clashes comes back to the calendar with the reason.
    let form = format!(
        "back=%2Fsites%2FBOS%2Fcalendar%3Fview%3Dweek%26date%3D{day}&date={day}&time=10%3A30&minutes=30&resource={room}"
    );
    let res = c
        .post(app.url(&format!("/participant-visits/{}/book", b.id)))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("is already booked 10:00–11:00"));
    // The home page's dashboard counts this week's visits per study.
    let home = c.get(app.url("/")).send().await.unwrap().text().await.unwrap();
    assert!(home.contains("Visits by study") && home.contains("/visits?due=week"));
}

async fn feeds_open_by_their_secret_without_names(db: &TestDb) {
    let app = common::spawn_app(db).await;
    let c = app.signed_in("coordinator").await;
    // The demo made the coordinator's feeds: listed with their addresses, which open as listed.
    let feeds: Value = c.get(app.url("/api/v1/me/feeds")).send().await.unwrap().json().await.unwrap();
    let feeds = feeds.as_array().unwrap().clone();
    assert_eq!(feeds.len(), 2, "{feeds:?}");
    for f in &feeds {
        assert!(f["name"].as_str().is_some_and(|n| !n.is_empty()), "{f}");
        let res = reqwest::get(f["url"].as_str().unwrap()).await.unwrap();
        assert_eq!(res.status(), 200, "{f}");
    }
    let dir = std::env::var("CLINBRIDGE_FEED_DIR").ok();
    for f in &feeds {
        let out: Value = c
            .post(app.url(&format!("/api/v1/me/feeds/{}/regenerate", f["id"].as_str().unwrap())))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let url = out["url"].as_str().unwrap().to_string();
        assert!(url.starts_with(&app.base) && url.ends_with(".ics"));
        // No session: the secret is the credential.
        let res = reqwest::get(&url).await.unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/calendar"));
        let ics = res.text().await.unwrap();
        assert!(ics.starts_with("BEGIN:VCALENDAR\r\n"));
        assert!(ics.contains("BEGIN:VTIMEZONE\r\nTZID:America/New_York\r\n"));
        assert!(ics.contains("DTSTART;TZID=America/New_York:"));
        assert!(ics.contains("BEGIN:VEVENT"), "the demo booked the coming two weeks");
        for phi in ["Maple Avenue", "@example.org", "MRN", "+1 617"] {
            assert!(!ics.contains(phi), "a feed must carry no personal data ({phi})");
        }
        if let Some(dir) = &dir {
            std::fs::create_dir_all(dir).unwrap();
            let name = format!("{}-{}.ics", db_kind(db), f["kind"].as_str().unwrap());
            std::fs::write(std::path::Path::new(dir).join(name), &ics).unwrap();
        }
    }
    // A wrong secret, and a turned-off feed, open nothing.
    assert_eq!(reqwest::get(app.url("/feeds/cbf_wrong.ics")).await.unwrap().status(), 404);
    let id = feeds[0]["id"].as_str().unwrap();
    let again: Value =
        c.post(app.url(&format!("/api/v1/me/feeds/{id}/regenerate"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(c.delete(app.url(&format!("/api/v1/me/feeds/{id}"))).send().await.unwrap().status(), 204);
    assert_eq!(reqwest::get(again["url"].as_str().unwrap()).await.unwrap().status(), 404);
    // Someone else's feed is not theirs to change.
    let other = app.signed_in("investigator").await;
    assert_eq!(other.delete(app.url(&format!("/api/v1/me/feeds/{id}"))).send().await.unwrap().status(), 403);
    // A first listing creates the feeds; every listing shows the same addresses.
    let auditor = app.signed_in("auditor").await;
    let first: Value = auditor.get(app.url("/api/v1/me/feeds")).send().await.unwrap().json().await.unwrap();
    assert_eq!(first.as_array().unwrap().len(), 4, "staff feed plus the three sites: {first}");
    assert!(first.as_array().unwrap().iter().all(|f| f["url"].is_string()));
    let second: Value = auditor.get(app.url("/api/v1/me/feeds")).send().await.unwrap().json().await.unwrap();
    assert_eq!(first, second);
    // A turned-off feed lists without an address.
    let mine: Value = c.get(app.url("/api/v1/me/feeds")).send().await.unwrap().json().await.unwrap();
    assert!(mine.as_array().unwrap().iter().any(|f| f["id"] == id && f["url"].is_null() && f["active"] == false));
    // The profile page lists them.
    let profile = c.get(app.url("/profile")).send().await.unwrap().text().await.unwrap();
    assert!(profile.contains("Calendar feeds") && profile.contains("Site BOS: booked visits"));
}

fn db_kind(db: &TestDb) -> &'static str {
    if db.url.starts_with("postgres") { "postgres" } else { "sqlite" }
}
