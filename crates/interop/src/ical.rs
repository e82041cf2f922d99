//! iCalendar (RFC 5545) for calendar feeds: a VCALENDAR of timed VEVENTs in their sites' time
//! zones, with a VTIMEZONE per zone built from the tz database's transitions over the years the
//! events cover, so a client needs no zone data of its own to place them.
//!
//! Written by hand rather than with a crate: the feed needs a dozen properties, and the one
//! piece a crate would not give us — VTIMEZONE from chrono-tz's rules — is most of the work.

use chrono::{DateTime, Datelike, Duration, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::{OffsetComponents, OffsetName, Tz};
use std::collections::BTreeSet;

/// One timed event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Globally unique and stable across refreshes (e.g. `visit-id@host`).
    pub uid: String,
    pub summary: String,
    /// Empty for none.
    pub location: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The zone the event is shown in (DTSTART and DTEND carry it as TZID).
    pub tz: Tz,
    /// When the event last changed (DTSTAMP).
    pub stamp: DateTime<Utc>,
}

/// A whole calendar. `now` stands in for the year the zones cover when there are no events.
pub fn calendar(name: &str, events: &[Event], now: DateTime<Utc>) -> String {
    let mut out = Lines::default();
    out.line("BEGIN:VCALENDAR");
    out.line("VERSION:2.0");
    out.line("PRODID:-//Clinbridge//Visit calendar//EN");
    out.line("CALSCALE:GREGORIAN");
    out.line("METHOD:PUBLISH");
    out.line(&format!("X-WR-CALNAME:{}", text(name)));
    let zones: BTreeSet<&'static str> = events.iter().map(|e| e.tz.name()).collect();
    let years = events.iter().flat_map(|e| [e.start.with_timezone(&e.tz).year(), e.end.with_timezone(&e.tz).year()]);
    let (first, last) = years.fold((now.year(), now.year()), |(a, b), y| (a.min(y), b.max(y)));
    for zone in zones {
        if let Ok(tz) = zone.parse::<Tz>() {
            vtimezone(&mut out, tz, first, last);
        }
    }
    for e in events {
        out.line("BEGIN:VEVENT");
        out.line(&format!("UID:{}", text(&e.uid)));
        out.line(&format!("DTSTAMP:{}", utc(e.stamp)));
        out.line(&format!("DTSTART;TZID={}:{}", e.tz.name(), local(e.start.with_timezone(&e.tz).naive_local())));
        out.line(&format!("DTEND;TZID={}:{}", e.tz.name(), local(e.end.with_timezone(&e.tz).naive_local())));
        out.line(&format!("SUMMARY:{}", text(&e.summary)));
        if !e.location.is_empty() {
            out.line(&format!("LOCATION:{}", text(&e.location)));
        }
        out.line("STATUS:CONFIRMED");
        out.line("TRANSP:OPAQUE");
        out.line("END:VEVENT");
    }
    out.line("END:VCALENDAR");
    out.0
}

/// Content lines: CRLF-terminated and folded at 75 octets without splitting a character.
#[derive(Default)]
struct Lines(String);

impl Lines {
    fn line(&mut self, l: &str) {
        let mut used = 0;
        for ch in l.chars() {
            let n = ch.len_utf8();
            if used + n > 75 {
                self.0.push_str("\r\n ");
                used = 1;
            }
            self.0.push(ch);
            used += n;
        }
        self.0.push_str("\r\n");
    }
}

/// A TEXT value escaped (backslash, semicolon, comma, new line); other control characters go.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

fn local(t: NaiveDateTime) -> String {
    t.format("%Y%m%dT%H%M%S").to_string()
}

fn offset(seconds: i32) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let s = seconds.unsigned_abs();
    let (h, m, sec) = (s / 3600, s / 60 % 60, s % 60);
    if sec == 0 { format!("{sign}{h:02}{m:02}") } else { format!("{sign}{h:02}{m:02}{sec:02}") }
}

/// What is observed at an instant: UTC offset in seconds, daylight saving or not, its name.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Observance {
    seconds: i32,
    daylight: bool,
    name: String,
}

fn observance(tz: Tz, t: DateTime<Utc>) -> Observance {
    let o = tz.offset_from_utc_datetime(&t.naive_utc());
    Observance {
        seconds: o.fix().local_minus_utc(),
        daylight: !o.dst_offset().is_zero(),
        name: o.abbreviation().unwrap_or_default().to_string(),
    }
}

/// The instants in `[from, to)` at which the zone's observance changes, to the minute.
fn transitions(tz: Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<(DateTime<Utc>, Observance, Observance)> {
    let mut out = Vec::new();
    let mut t = from;
    let mut current = observance(tz, t);
    while t < to {
        let next = t + Duration::days(1);
        let there = observance(tz, next);
        if there != current {
            // The change is somewhere in (t, next]: halve the day down to a minute.
            let (mut lo, mut hi) = (0i64, 24 * 60);
            while hi - lo > 1 {
                let mid = (lo + hi) / 2;
                if observance(tz, t + Duration::minutes(mid)) == current { lo = mid } else { hi = mid }
            }
            let hi = t + Duration::minutes(hi);
            let after = observance(tz, hi);
            out.push((hi, current.clone(), after.clone()));
            current = after;
            // More than one change in a day is possible in principle: look again from the change.
            t = hi;
            continue;
        }
        t = next;
    }
    out
}

/// A VTIMEZONE covering the years `first..=last`: the observance in force on 1 January of the
/// first year, then one STANDARD or DAYLIGHT component per change.
fn vtimezone(out: &mut Lines, tz: Tz, first: i32, last: i32) {
    let (Some(from), Some(to)) = (
        Utc.with_ymd_and_hms(first, 1, 1, 0, 0, 0).single(),
        Utc.with_ymd_and_hms(last.saturating_add(1), 1, 1, 0, 0, 0).single(),
    ) else {
        return;
    };
    out.line("BEGIN:VTIMEZONE");
    out.line(&format!("TZID:{}", tz.name()));
    let start = observance(tz, from);
    component(out, from, &start, &start);
    for (at, before, after) in transitions(tz, from, to) {
        component(out, at, &before, &after);
    }
    out.line("END:VTIMEZONE");
}

fn component(out: &mut Lines, at: DateTime<Utc>, before: &Observance, after: &Observance) {
    let kind = if after.daylight { "DAYLIGHT" } else { "STANDARD" };
    out.line(&format!("BEGIN:{kind}"));
    // The onset is written as local time in the observance it ends (RFC 5545 3.6.5).
    let onset = at.naive_utc() + Duration::seconds(i64::from(before.seconds));
    out.line(&format!("DTSTART:{}", local(onset)));
    out.line(&format!("TZOFFSETFROM:{}", offset(before.seconds)));
    out.line(&format!("TZOFFSETTO:{}", offset(after.seconds)));
    if !after.name.is_empty() {
        out.line(&format!("TZNAME:{}", text(&after.name)));
    }
    out.line(&format!("END:{kind}"));
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
    }

    fn event(tz: &str, start: DateTime<Utc>) -> Event {
        Event {
            uid: "v1@clinbridge".into(),
            summary: "AF-CHI-004 W4".into(),
            location: "Exam room 2, Echo cart".into(),
            start,
            end: start + Duration::hours(1),
            tz: tz.parse().unwrap(),
            stamp: at(2026, 3, 1, 12),
        }
    }

    #[test]
    fn events_carry_their_zone_and_the_zone_its_changes() {
        let cal = calendar("Chicago visits", &[event("America/Chicago", at(2026, 3, 10, 15))], at(2026, 3, 1, 0));
        assert!(cal.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"));
        assert!(cal.ends_with("END:VCALENDAR\r\n"));
        assert!(cal.contains("DTSTART;TZID=America/Chicago:20260310T100000\r\n"), "{cal}");
        assert!(cal.contains("DTEND;TZID=America/Chicago:20260310T110000\r\n"));
        assert!(cal.contains("DTSTAMP:20260301T120000Z\r\n"));
        assert!(cal.contains("LOCATION:Exam room 2\\, Echo cart\r\n"));
        // 2026: daylight time from 8 March 02:00 CST, standard again from 1 November 02:00 CDT.
        assert!(cal.contains(
            "BEGIN:DAYLIGHT\r\nDTSTART:20260308T020000\r\nTZOFFSETFROM:-0600\r\nTZOFFSETTO:-0500\r\nTZNAME:CDT\r\nEND:DAYLIGHT"
        ));
        assert!(cal.contains(
            "BEGIN:STANDARD\r\nDTSTART:20261101T020000\r\nTZOFFSETFROM:-0500\r\nTZOFFSETTO:-0600\r\nTZNAME:CST\r\nEND:STANDARD"
        ));
        assert_eq!(cal.matches("BEGIN:VTIMEZONE").count(), 1);
    }

    #[test]
    fn zones_without_changes_and_several_zones() {
        let cal = calendar(
            "All",
            &[event("UTC", at(2026, 6, 1, 9)), event("America/Los_Angeles", at(2027, 1, 5, 17))],
            at(2026, 3, 1, 0),
        );
        assert_eq!(cal.matches("BEGIN:VTIMEZONE").count(), 2);
        assert!(cal.contains(
            "TZID:UTC\r\nBEGIN:STANDARD\r\nDTSTART:20260101T000000\r\nTZOFFSETFROM:+0000\r\nTZOFFSETTO:+0000"
        ));
        // Los Angeles is covered for 2026 and 2027: two springs, two autumns.
        let la = &cal[cal.find("TZID:America/Los_Angeles").unwrap()..];
        let la = &la[..la.find("END:VTIMEZONE").unwrap()];
        assert_eq!(la.matches("BEGIN:DAYLIGHT").count(), 2);
        assert_eq!(la.matches("BEGIN:STANDARD").count(), 3);
    }

    #[test]
    fn lines_fold_at_75_octets_and_text_is_escaped() {
        let mut e = event("UTC", at(2026, 6, 1, 9));
        e.summary = "Ünïcödé; long, summary\\".repeat(6);
        let cal = calendar("x", &[e], at(2026, 1, 1, 0));
        for line in cal.split("\r\n") {
            assert!(line.len() <= 75, "{line:?} is {} octets", line.len());
        }
        let unfolded = cal.replace("\r\n ", "");
        assert!(unfolded.contains("SUMMARY:Ünïcödé\\; long\\, summary\\\\Ünïcödé"));
        assert_eq!(text("a\nb\u{7}"), "a\\nb");
    }
}
