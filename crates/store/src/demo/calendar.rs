//! The demo's calendar: rooms, equipment and the coordinator at each site with their hours,
//! the open visits of the coming two weeks booked into slots (relative to today, so the
//! calendar always looks alive), the window-closing tasks, and the coordinators' feeds.

use super::DemoWorld;
use crate::scheduling::calendar::{self as cal, Booking, Due, ResourceInput};
use crate::{Acting, Result, Store, StoreError};
use chrono::{Datelike, Duration, NaiveTime, Weekday};
use clinbridge_core::identity::{Email, Role};
use clinbridge_core::scheduling::calendar::{ResourceKind, parse_hours};
use uuid::Uuid;

/// Each site's coordinator: the one whose calendar and staff feed the demo fills.
pub(super) async fn coordinator(store: &Store, world: &DemoWorld, site: &str) -> Result<Uuid> {
    let email = match site {
        "BOS" => return Ok(world.users.get(&Role::Coordinator).copied().unwrap_or_default()),
        "CHI" => "lena.kowalski@demo.clinbridge.org",
        _ => "sofia.marin@demo.clinbridge.org",
    };
    Ok(crate::identity::user_by_email(store, &Email::parse(email)?).await?.id)
}

pub(super) async fn seed(store: &Store, world: &DemoWorld) -> Result<()> {
    let today = crate::now().date_naive();
    let days = Duration::days;
    let horizon = today + days(13);
    let open = cal::open_visits(store, None, Due::Between(today - days(60), horizon + days(60))).await?;
    for site in &world.sites {
        let coordinator = coordinator(store, world, &site.code).await?;
        let by = Acting::user(coordinator, None);
        let specs = [
            (ResourceKind::Room, "Exam room 1", None, "Mon-Sun 07:00-19:00"),
            (ResourceKind::Room, "Exam room 2", None, "Mon-Fri 07:30-18:00"),
            (ResourceKind::Room, "Procedure suite", None, "Mon-Thu 07:00-15:00"),
            (ResourceKind::Equipment, "Echo cart", None, "Mon-Fri 08:00-16:00"),
            (ResourceKind::Equipment, "ECG machine", None, "Mon-Sun 07:00-19:00"),
            (ResourceKind::Staff, "Study coordinator", Some(coordinator), "Mon-Fri 08:00-17:00"),
        ];
        let mut made = Vec::new();
        for (kind, name, user_id, hours) in specs {
            let input = ResourceInput { kind, name: name.into(), user_id, active: true, hours: parse_hours(hours)? };
            made.push(cal::create_resource(store, &world.admin, site.id, input).await?);
        }
        let id = |name: &str| made.iter().find(|r| r.name == name).map(|r| r.id).unwrap_or_default();
        let tz: chrono_tz::Tz = site.time_zone.parse().unwrap_or(chrono_tz::UTC);
        let local_today = crate::now().with_timezone(&tz).date_naive();
        // The open visits whose window reaches into the next two weeks, booked from tomorrow on.
        let mut k = 0i64;
        for v in open.iter().filter(|v| v.site_id == site.id && v.starts_at.is_none()) {
            let first = v.window_start.max(local_today + days(1));
            let last = v.window_end.min(local_today + days(13));
            if first > last {
                continue;
            }
            // Most on their target day; every third as early as its window allows on a weekday,
            // so the days just ahead (where a coordinator looks first) are never empty.
            let early = first
                .iter_days()
                .take_while(|d| *d <= last)
                .find(|d| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun))
                .unwrap_or(first);
            let day = if k % 3 == 1 || !(first..=last).contains(&v.day()) { early } else { v.day() };
            let weekday = !matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
            let mut resources = vec![id(if k % 2 == 0 { "Exam room 1" } else { "Exam room 2" })];
            if weekday && v.code.contains('W') {
                resources.push(id("Echo cart"));
            } else {
                resources.push(id("ECG machine"));
            }
            if weekday {
                resources.push(id("Study coordinator"));
            }
            if !weekday {
                resources[0] = id("Exam room 1");
            }
            // Try the hours of the morning and afternoon until a slot is free.
            for h in 0..8 {
                let hour = 9 + ((k + h) % 7) as u32;
                let Some(time) = NaiveTime::from_hms_opt(hour, if k % 3 == 0 { 30 } else { 0 }, 0) else { continue };
                let b = Booking { day, time, minutes: 60, resources: resources.clone() };
                match cal::book(store, &by, v.id, b).await {
                    Ok(_) => break,
                    Err(StoreError::Refused(_)) | Err(StoreError::Invalid(_)) => continue,
                    Err(e) => return Err(e),
                }
            }
            k += 1;
        }
        crate::scheduling::calendar::feeds_for(store, &by, coordinator, vec![site.id]).await?;
    }
    cal::raise_window_closing_tasks(store).await?;
    Ok(())
}
