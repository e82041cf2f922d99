//! Scheduling: the calendar side of participant visits. A site's resources (rooms, equipment,
//! staff) have weekly hours in the site's local time; a visit is moved or booked only inside its
//! window, into hours every resource keeps, and never on top of another booking.

use crate::{Checks, Invalid};
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday};
use serde::{Deserialize, Serialize};

/// How many days before a visit window closes the site is told, when the visit is still open.
pub const WINDOW_CLOSING_NOTICE_DAYS: i64 = 3;
/// Shortest and longest booking, in minutes.
pub const MIN_MINUTES: i64 = 5;
pub const MAX_MINUTES: i64 = 12 * 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    Room,
    Equipment,
    Staff,
}

impl ResourceKind {
    pub const ALL: [ResourceKind; 3] = [ResourceKind::Room, ResourceKind::Equipment, ResourceKind::Staff];
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Room => "room",
            ResourceKind::Equipment => "equipment",
            ResourceKind::Staff => "staff",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            ResourceKind::Room => "Room",
            ResourceKind::Equipment => "Equipment",
            ResourceKind::Staff => "Staff",
        }
    }
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s.trim())
            .ok_or_else(|| Invalid::one("kind", "must be room, equipment or staff"))
    }
}

/// A resource's name as typed.
pub fn resource_name(raw: &str) -> Result<String, Invalid> {
    crate::required_text("name", raw, 100)
}

/// Hours a resource keeps on one weekday, in the site's local time, as minutes since midnight:
/// `[from, to)`, where `to` may be 1440 (midnight at the end of the day).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hours {
    pub weekday: Weekday,
    pub from: i64,
    pub to: i64,
}

impl Hours {
    pub fn new(weekday: Weekday, from: i64, to: i64) -> Result<Self, Invalid> {
        if !(0..1440).contains(&from) || !(1..=1440).contains(&to) {
            return Err(Invalid::one("hours", "times run from 00:00 to 24:00"));
        }
        if from >= to {
            return Err(Invalid::one(
                "hours",
                format!("{} {}–{}: the end must come after the start", short_day(weekday), clock(from), clock(to)),
            ));
        }
        Ok(Hours { weekday, from, to })
    }
    /// The weekday as stored: 0 for Monday to 6 for Sunday.
    pub fn weekday_number(&self) -> i64 {
        i64::from(self.weekday.num_days_from_monday())
    }
    /// Hours from their stored form.
    pub fn stored(weekday: i64, from: i64, to: i64) -> Result<Self, Invalid> {
        let day = u8::try_from(weekday)
            .ok()
            .and_then(|n| Weekday::try_from(n).ok())
            .ok_or_else(|| Invalid::one("weekday", "must be 0 (Monday) to 6 (Sunday)"))?;
        Hours::new(day, from, to)
    }
}

/// Minutes since midnight of a wall-clock time.
pub fn minute_of(t: NaiveTime) -> i64 {
    use chrono::Timelike;
    i64::from(t.hour()) * 60 + i64::from(t.minute())
}

/// `10:00` for 600 minutes; `24:00` for the end of the day.
pub fn clock(minutes: i64) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// Minutes of a time typed as `HH:MM` (`24:00` allowed as the end of the day).
pub fn parse_clock(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    if raw == "24:00" {
        return Some(1440);
    }
    NaiveTime::parse_from_str(raw, "%H:%M").ok().map(minute_of)
}

pub fn short_day(d: Weekday) -> &'static str {
    match d {
        Weekday::Mon => "Mon",
        Weekday::Tue => "Tue",
        Weekday::Wed => "Wed",
        Weekday::Thu => "Thu",
        Weekday::Fri => "Fri",
        Weekday::Sat => "Sat",
        Weekday::Sun => "Sun",
    }
}

fn parse_day(raw: &str) -> Option<Weekday> {
    raw.trim().parse::<Weekday>().ok()
}

/// Weekly hours as a person types them: entries separated by new lines or `;`, each a day or a
/// range of days and a time range, e.g. `Mon-Fri 08:00-17:00; Sat 09:00-12:00`. Entries on the
/// same day must not overlap.
pub fn parse_hours(text: &str) -> Result<Vec<Hours>, Invalid> {
    let mut out: Vec<Hours> = Vec::new();
    let mut checks = Checks::new();
    for entry in text.split(['\n', ';']).map(str::trim).filter(|e| !e.is_empty()) {
        let entry = entry.replace(['–', '—'], "-");
        let Some((days, times)) = entry.split_once(char::is_whitespace) else {
            checks.push("hours", format!("{entry:?}: write a day and a time range, e.g. Mon-Fri 08:00-17:00"));
            continue;
        };
        let day_list: Option<Vec<Weekday>> = match days.split_once('-') {
            Some((a, b)) => match (parse_day(a), parse_day(b)) {
                (Some(a), Some(b)) => {
                    let mut v = vec![a];
                    let mut d = a;
                    while d != b {
                        d = d.succ();
                        v.push(d);
                    }
                    Some(v)
                }
                _ => None,
            },
            None => parse_day(days).map(|d| vec![d]),
        };
        let range = times.trim().split_once('-').and_then(|(a, b)| Some((parse_clock(a)?, parse_clock(b)?)));
        match (day_list, range) {
            (Some(days), Some((from, to))) => {
                for d in days {
                    if let Some(h) = checks.take("hours", Hours::new(d, from, to)) {
                        out.push(h);
                    }
                }
            }
            (None, _) => checks.push("hours", format!("{entry:?}: days are Mon, Tue, … Sun or a range like Mon-Fri")),
            (_, None) => checks.push("hours", format!("{entry:?}: times are HH:MM-HH:MM, e.g. 08:00-17:00")),
        }
    }
    checks.finish()?;
    check_hours(&mut out)?;
    Ok(out)
}

/// Sorts hours and refuses two entries on one day that overlap.
pub fn check_hours(hours: &mut [Hours]) -> Result<(), Invalid> {
    hours.sort_by_key(|h| (h.weekday.num_days_from_monday(), h.from));
    for w in hours.windows(2) {
        if w[0].weekday == w[1].weekday && w[1].from < w[0].to {
            return Err(Invalid::one(
                "hours",
                format!(
                    "{} {}–{} overlaps {}–{}",
                    short_day(w[1].weekday),
                    clock(w[1].from),
                    clock(w[1].to),
                    clock(w[0].from),
                    clock(w[0].to)
                ),
            ));
        }
    }
    Ok(())
}

/// Hours as text again, consecutive days with the same times folded: `Mon-Fri 08:00-17:00`.
pub fn format_hours(hours: &[Hours]) -> String {
    let mut sorted = hours.to_vec();
    sorted.sort_by_key(|h| (h.from, h.to, h.weekday.num_days_from_monday()));
    let mut parts: Vec<(u32, String)> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let first = sorted[i];
        let mut last = first;
        let mut j = i + 1;
        while j < sorted.len()
            && sorted[j].from == first.from
            && sorted[j].to == first.to
            && sorted[j].weekday == last.weekday.succ()
            && sorted[j].weekday != Weekday::Mon
        {
            last = sorted[j];
            j += 1;
        }
        let days = if first.weekday == last.weekday {
            short_day(first.weekday).to_string()
        } else {
            format!("{}-{}", short_day(first.weekday), short_day(last.weekday))
        };
        parts.push((first.weekday.num_days_from_monday(), format!("{days} {}-{}", clock(first.from), clock(first.to))));
        i = j;
    }
    parts.sort();
    parts.into_iter().map(|(_, s)| s).collect::<Vec<_>>().join("; ")
}

/// Whether the local span `[start, end)` lies inside hours kept on its day.
pub fn within_hours(hours: &[Hours], start: NaiveDateTime, end: NaiveDateTime) -> bool {
    if start.date() != end.date()
        && !(end.date() == start.date().succ_opt().unwrap_or(start.date()) && end.time() == NaiveTime::MIN)
    {
        return false;
    }
    let end_minute = if end.date() != start.date() { 1440 } else { minute_of(end.time()) };
    let start_minute = minute_of(start.time());
    hours.iter().any(|h| h.weekday == start.weekday() && h.from <= start_minute && end_minute <= h.to)
}

/// Whether two half-open spans share a moment (back-to-back bookings do not).
pub fn overlaps(a: (DateTime<Utc>, DateTime<Utc>), b: (DateTime<Utc>, DateTime<Utc>)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

/// Refuses a day outside the visit window, naming the days allowed.
pub fn check_in_window(field: &str, day: NaiveDate, window: (NaiveDate, NaiveDate)) -> Result<(), Invalid> {
    if crate::trials::schedule::in_window(day, window.0, window.1) {
        return Ok(());
    }
    let allowed = if window.0 == window.1 {
        format!("only {} is allowed", window.0)
    } else {
        format!("the days allowed are {} to {}", window.0, window.1)
    };
    Err(Invalid::one(field, format!("{day} is outside the visit window: {allowed}")))
}

/// The instant a local wall-clock time names at a site. A time skipped by a clock change is
/// refused; a repeated one is taken the first time it occurs.
pub fn local_instant(
    tz: chrono_tz::Tz,
    day: NaiveDate,
    time: NaiveTime,
    field: &str,
) -> Result<DateTime<Utc>, Invalid> {
    match tz.from_local_datetime(&day.and_time(time)).earliest() {
        Some(t) => Ok(t.with_timezone(&Utc)),
        None => Err(Invalid::one(
            field,
            format!("{} does not exist on {day} in {tz} (the clocks change)", clock(minute_of(time))),
        )),
    }
}

/// A booking request, checked: a day inside the window, a duration within bounds, a start that
/// exists at the site and an end on the same local day. Gives the UTC span.
pub fn slot(
    tz: chrono_tz::Tz,
    day: NaiveDate,
    start: NaiveTime,
    minutes: i64,
    window: (NaiveDate, NaiveDate),
) -> Result<(DateTime<Utc>, DateTime<Utc>), Invalid> {
    let mut c = Checks::new();
    c.take("date", check_in_window("date", day, window));
    if !(MIN_MINUTES..=MAX_MINUTES).contains(&minutes) {
        c.push("minutes", format!("must be between {MIN_MINUTES} and {MAX_MINUTES}"));
    }
    let begin = c.take("time", local_instant(tz, day, start, "time"));
    c.finish()?;
    let Some(begin) = begin else { return Err(Invalid::one("time", "is required")) };
    let end = begin + Duration::minutes(minutes);
    let local_end = end.with_timezone(&tz);
    if local_end.date_naive() != day
        && !(local_end.date_naive() == day.succ_opt().unwrap_or(day) && local_end.time() == NaiveTime::MIN)
    {
        return Err(Invalid::one("minutes", "the visit must end on the day it starts"));
    }
    Ok((begin, end))
}

/// Whether an open visit's window closes within the notice period (or has closed).
pub fn window_closing(window_end: NaiveDate, today: NaiveDate) -> bool {
    (window_end - today).num_days() <= WINDOW_CLOSING_NOTICE_DAYS
}

/// The words a refused double booking uses.
pub fn conflict_message(resource: &str, from: NaiveTime, to: NaiveTime, subject_id: &str, visit_code: &str) -> String {
    format!(
        "{resource} is already booked {}–{} for {subject_id} {visit_code}",
        from.format("%H:%M"),
        to.format("%H:%M")
    )
}

/// The calendar's views.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum View {
    Day,
    Week,
}

impl View {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        match s.trim() {
            "" | "week" => Ok(View::Week),
            "day" => Ok(View::Day),
            _ => Err(Invalid::one("view", "must be day or week")),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            View::Day => "day",
            View::Week => "week",
        }
    }
    /// The days shown around `day`: the day itself, or its week from Monday to Sunday.
    pub fn days(self, day: NaiveDate) -> (NaiveDate, NaiveDate) {
        match self {
            View::Day => (day, day),
            View::Week => week_of(day),
        }
    }
    /// The day the previous and next buttons go to.
    pub fn step(self, day: NaiveDate, forward: bool) -> NaiveDate {
        let n = match self {
            View::Day => 1,
            View::Week => 7,
        };
        day + Duration::days(if forward { n } else { -n })
    }
}

/// Monday to Sunday of the week holding `day`.
pub fn week_of(day: NaiveDate) -> (NaiveDate, NaiveDate) {
    let monday = day - Duration::days(i64::from(day.weekday().num_days_from_monday()));
    (monday, monday + Duration::days(6))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, day).unwrap()
    }
    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    #[test]
    fn hours_parse_fold_and_refuse_overlaps() {
        let h = parse_hours("Mon-Fri 08:00-17:00; Sat 09:00–12:00").unwrap();
        assert_eq!(h.len(), 6);
        assert_eq!(format_hours(&h), "Mon-Fri 08:00-17:00; Sat 09:00-12:00");
        let split = parse_hours("Tue 08:00-12:00\nTue 13:00-17:00").unwrap();
        assert_eq!(format_hours(&split), "Tue 08:00-12:00; Tue 13:00-17:00");
        assert!(parse_hours("Mon 08:00-12:00; Mon 11:00-13:00").unwrap_err().0[0].message.contains("overlaps"));
        assert!(parse_hours("Mon 12:00-08:00").is_err());
        assert!(parse_hours("Someday 08:00-12:00").is_err());
        assert!(parse_hours("Mon 8-12").is_err());
        assert!(parse_hours("").unwrap().is_empty());
        let all_day = parse_hours("Sun 00:00-24:00").unwrap();
        assert_eq!(format_hours(&all_day), "Sun 00:00-24:00");
        assert_eq!((all_day[0].from, all_day[0].to), (0, 1440));
        assert_eq!(Hours::stored(6, 0, 1440).unwrap(), all_day[0]);
        assert!(Hours::stored(7, 0, 60).is_err());
        // Fri-Mon wraps over the weekend.
        assert_eq!(parse_hours("Fri-Mon 10:00-11:00").unwrap().len(), 4);
    }

    #[test]
    fn bookings_must_fit_the_hours_of_their_day() {
        let h = parse_hours("Mon-Fri 08:00-17:00").unwrap();
        // 2026-03-09 is a Monday.
        let at = |day: NaiveDate, a: NaiveTime, b: NaiveTime| within_hours(&h, day.and_time(a), day.and_time(b));
        assert!(at(d(3, 9), t(8, 0), t(17, 0)));
        assert!(at(d(3, 9), t(10, 0), t(11, 0)));
        assert!(!at(d(3, 9), t(7, 30), t(8, 30)));
        assert!(!at(d(3, 9), t(16, 30), t(17, 30)));
        assert!(!at(d(3, 14), t(10, 0), t(11, 0)), "Saturday is closed");
        let split = parse_hours("Tue 08:00-12:00; Tue 13:00-17:00").unwrap();
        assert!(
            !within_hours(&split, d(3, 10).and_time(t(11, 30)), d(3, 10).and_time(t(13, 30))),
            "spans the lunch gap"
        );
        assert!(within_hours(&split, d(3, 10).and_time(t(13, 0)), d(3, 10).and_time(t(13, 30))));
    }

    #[test]
    fn overlap_is_half_open() {
        let u = |h: u32| Utc.with_ymd_and_hms(2026, 3, 9, h, 0, 0).unwrap();
        assert!(overlaps((u(10), u(11)), (u(10), u(11))));
        assert!(overlaps((u(10), u(12)), (u(11), u(13))));
        assert!(overlaps((u(9), u(13)), (u(10), u(11))));
        assert!(!overlaps((u(10), u(11)), (u(11), u(12))), "back to back");
        assert!(!overlaps((u(12), u(13)), (u(10), u(11))));
    }

    #[test]
    fn days_outside_the_window_are_refused_with_the_days_allowed() {
        let w = (d(3, 10), d(3, 16));
        assert!(check_in_window("date", d(3, 10), w).is_ok());
        assert!(check_in_window("date", d(3, 16), w).is_ok());
        let e = check_in_window("date", d(3, 17), w).unwrap_err();
        assert_eq!(e.0[0].field, "date");
        assert!(e.0[0].message.contains("2026-03-10 to 2026-03-16"), "{}", e.0[0].message);
        let e = check_in_window("date", d(3, 9), (d(3, 10), d(3, 10))).unwrap_err();
        assert!(e.0[0].message.contains("only 2026-03-10"));
    }

    #[test]
    fn slots_are_site_local_and_respect_clock_changes() {
        let chicago: chrono_tz::Tz = "America/Chicago".parse().unwrap();
        let w = (d(3, 1), d(3, 31));
        // Before the change Chicago is UTC-6, after it UTC-5 (8 March 2026).
        let (a, b) = slot(chicago, d(3, 6), t(10, 0), 60, w).unwrap();
        assert_eq!(a, Utc.with_ymd_and_hms(2026, 3, 6, 16, 0, 0).unwrap());
        assert_eq!(b - a, Duration::minutes(60));
        let (a, _) = slot(chicago, d(3, 9), t(10, 0), 30, w).unwrap();
        assert_eq!(a, Utc.with_ymd_and_hms(2026, 3, 9, 15, 0, 0).unwrap());
        // 02:30 does not exist on 8 March in Chicago.
        let e = slot(chicago, d(3, 8), t(2, 30), 30, w).unwrap_err();
        assert_eq!(e.0[0].field, "time");
        assert_eq!(slot(chicago, d(4, 1), t(10, 0), 30, w).unwrap_err().0[0].field, "date");
        assert_eq!(slot(chicago, d(3, 9), t(10, 0), 2, w).unwrap_err().0[0].field, "minutes");
        assert_eq!(slot(chicago, d(3, 9), t(23, 0), 120, w).unwrap_err().0[0].field, "minutes");
        assert!(slot(chicago, d(3, 9), t(23, 0), 60, w).is_ok(), "ends at midnight");
    }

    #[test]
    fn window_closing_notice_and_views() {
        assert!(window_closing(d(3, 13), d(3, 10)));
        assert!(!window_closing(d(3, 14), d(3, 10)));
        assert!(window_closing(d(3, 1), d(3, 10)), "a closed window is still open work");
        assert_eq!(week_of(d(3, 12)), (d(3, 9), d(3, 15)));
        assert_eq!(week_of(d(3, 9)), (d(3, 9), d(3, 15)));
        assert_eq!(week_of(d(3, 15)), (d(3, 9), d(3, 15)));
        assert_eq!(View::parse("").unwrap(), View::Week);
        assert_eq!(View::Day.days(d(3, 12)), (d(3, 12), d(3, 12)));
        assert_eq!(View::Week.step(d(3, 12), false), d(3, 5));
        assert!(View::parse("month").is_err());
        assert_eq!(
            conflict_message("Exam room 2", t(10, 0), t(11, 0), "AF-CHI-004", "W4"),
            "Exam room 2 is already booked 10:00–11:00 for AF-CHI-004 W4"
        );
    }
}
