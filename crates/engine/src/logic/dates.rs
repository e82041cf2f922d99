//! Dates for `datediff`: reading stored dates and date-times, and the units REDCap counts in.
//! Stored dates are always year-month-day; the optional date-format argument only says how to
//! read a date typed into the logic in another order, so an ISO date is read as such whatever
//! the format says.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

/// The order of a date's parts, as named in `datediff`'s fourth argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DateOrder {
    Ymd,
    Mdy,
    Dmy,
}

impl DateOrder {
    pub(crate) fn from_name(name: &str) -> Option<DateOrder> {
        match name.trim().to_ascii_lowercase().as_str() {
            "ymd" => Some(DateOrder::Ymd),
            "mdy" => Some(DateOrder::Mdy),
            "dmy" => Some(DateOrder::Dmy),
            _ => None,
        }
    }
}

/// The units of `datediff`. Years and months are fixed lengths of days, as in REDCap, so an
/// age is `datediff([dob], 'today', 'y')` rounded down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    Years,
    Months,
    Days,
    Hours,
    Minutes,
    Seconds,
}

impl Unit {
    /// `M` is months and `m` minutes; the other letters are accepted in either case.
    pub(crate) fn from_name(name: &str) -> Option<Unit> {
        match name.trim() {
            "y" | "Y" => Some(Unit::Years),
            "M" => Some(Unit::Months),
            "d" | "D" => Some(Unit::Days),
            "h" | "H" => Some(Unit::Hours),
            "m" => Some(Unit::Minutes),
            "s" | "S" => Some(Unit::Seconds),
            _ => None,
        }
    }

    fn seconds(self) -> f64 {
        const DAY: f64 = 86_400.0;
        match self {
            Unit::Years => 365.2425 * DAY,
            Unit::Months => 30.44 * DAY,
            Unit::Days => DAY,
            Unit::Hours => 3_600.0,
            Unit::Minutes => 60.0,
            Unit::Seconds => 1.0,
        }
    }
}

/// Whether `text` names the current moment rather than a date.
pub(crate) fn is_today_or_now(text: &str) -> bool {
    let t = text.trim();
    t.eq_ignore_ascii_case("today") || t.eq_ignore_ascii_case("now")
}

/// Reads a date ("2024-01-31", "01/31/2024" in mdy order) with an optional time ("14:05" or
/// "14:05:09", after a space or a `T`). "today" is midnight of the current day, "now" the
/// current moment; `now` is only asked for when needed.
pub(crate) fn parse_date(text: &str, order: DateOrder, now: impl FnOnce() -> NaiveDateTime) -> Option<NaiveDateTime> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("today") {
        return Some(now().date().and_time(NaiveTime::MIN));
    }
    if t.eq_ignore_ascii_case("now") {
        return Some(now());
    }
    let (date, time) = match t.find([' ', 'T']) {
        Some(i) => (&t[..i], Some(t[i + 1..].trim_start())),
        None => (t, None),
    };
    let date = parse_day(date, order)?;
    let time = match time {
        Some(time) => parse_time(time)?,
        None => NaiveTime::MIN,
    };
    Some(date.and_time(time))
}

fn parse_day(text: &str, order: DateOrder) -> Option<NaiveDate> {
    let sep = if text.contains('-') { '-' } else { '/' };
    let mut parts = text.split(sep);
    let (a, b, c) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let order = if a.len() == 4 { DateOrder::Ymd } else { order };
    let (y, m, d) = match order {
        DateOrder::Ymd => (a, b, c),
        DateOrder::Mdy => (c, a, b),
        DateOrder::Dmy => (c, b, a),
    };
    if y.len() != 4 || !(1..=2).contains(&m.len()) || !(1..=2).contains(&d.len()) {
        return None;
    }
    NaiveDate::from_ymd_opt(digits(y)?, digits(m)?, digits(d)?)
}

fn parse_time(text: &str) -> Option<NaiveTime> {
    let mut parts = text.split(':');
    let h = parts.next()?;
    let m = parts.next()?;
    let s = parts.next();
    if parts.next().is_some() || !(1..=2).contains(&h.len()) || m.len() != 2 || s.is_some_and(|s| s.len() != 2) {
        return None;
    }
    let s = match s {
        Some(s) => digits(s)?,
        None => 0,
    };
    NaiveTime::from_hms_opt(digits(h)?, digits(m)?, s)
}

/// Unsigned digits only: no sign, no spaces.
fn digits<T: std::str::FromStr>(text: &str) -> Option<T> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// `to - from` in `unit`, as a fraction.
pub(crate) fn difference(from: NaiveDateTime, to: NaiveDateTime, unit: Unit) -> f64 {
    let seconds = (to - from).num_seconds() as f64;
    seconds / unit.seconds()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32, s: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d).and_then(|d| d.and_hms_opt(h, min, s)).unwrap()
    }

    fn read(text: &str, order: DateOrder) -> Option<NaiveDateTime> {
        parse_date(text, order, || at(2024, 6, 15, 9, 30, 0))
    }

    #[test]
    fn reads_dates_in_each_order() {
        let day = Some(at(2024, 1, 31, 0, 0, 0));
        assert_eq!(read("2024-01-31", DateOrder::Ymd), day);
        assert_eq!(read("2024-1-31", DateOrder::Ymd), day);
        assert_eq!(read("2024/01/31", DateOrder::Ymd), day);
        assert_eq!(read("01-31-2024", DateOrder::Mdy), day);
        assert_eq!(read("01/31/2024", DateOrder::Mdy), day);
        assert_eq!(read("31-01-2024", DateOrder::Dmy), day);
        assert_eq!(read("31/01/2024", DateOrder::Dmy), day);
        // An ISO date is an ISO date whatever the stated order.
        assert_eq!(read("2024-01-31", DateOrder::Dmy), day);
        assert_eq!(read("2024-01-31", DateOrder::Mdy), day);
    }

    #[test]
    fn reads_times() {
        assert_eq!(read("2024-01-31 14:05", DateOrder::Ymd), Some(at(2024, 1, 31, 14, 5, 0)));
        assert_eq!(read("2024-01-31 14:05:09", DateOrder::Ymd), Some(at(2024, 1, 31, 14, 5, 9)));
        assert_eq!(read("2024-01-31T14:05", DateOrder::Ymd), Some(at(2024, 1, 31, 14, 5, 0)));
        assert_eq!(read("31-01-2024 7:05", DateOrder::Dmy), Some(at(2024, 1, 31, 7, 5, 0)));
    }

    #[test]
    fn today_and_now() {
        assert_eq!(read("today", DateOrder::Ymd), Some(at(2024, 6, 15, 0, 0, 0)));
        assert_eq!(read(" TODAY ", DateOrder::Ymd), Some(at(2024, 6, 15, 0, 0, 0)));
        assert_eq!(read("now", DateOrder::Ymd), Some(at(2024, 6, 15, 9, 30, 0)));
        assert!(is_today_or_now("Now"));
        assert!(!is_today_or_now("tomorrow"));
    }

    #[test]
    fn refuses_what_is_not_a_date() {
        for text in [
            "",
            "2024",
            "2024-02-30",
            "2024-13-01",
            "2023-02-29",
            "24-01-31",
            "2024-01-31-01",
            "2024-01-31 25:00",
            "2024-01-31 14",
            "2024-01-31 14:5",
            "2024-01-31 14:05:60",
            "2024-+1-31",
            "abc",
            "31-01-2024",
            "2024-001-31",
        ] {
            assert_eq!(read(text, DateOrder::Ymd), None, "{text}");
        }
        assert_eq!(read("13/31/2024", DateOrder::Dmy), None);
        assert_eq!(read("2024-02-29", DateOrder::Ymd), Some(at(2024, 2, 29, 0, 0, 0)));
    }

    #[test]
    fn units() {
        let from = at(2024, 1, 1, 0, 0, 0);
        let to = at(2024, 1, 2, 12, 0, 0);
        assert_eq!(difference(from, to, Unit::Days), 1.5);
        assert_eq!(difference(from, to, Unit::Hours), 36.0);
        assert_eq!(difference(from, to, Unit::Minutes), 2160.0);
        assert_eq!(difference(from, to, Unit::Seconds), 129_600.0);
        assert_eq!(difference(to, from, Unit::Days), -1.5);
        assert_eq!(difference(from, at(2024, 1, 31, 10, 33, 36), Unit::Months), 1.0);
        assert_eq!(Unit::from_name("M"), Some(Unit::Months));
        assert_eq!(Unit::from_name("m"), Some(Unit::Minutes));
        assert_eq!(Unit::from_name("Y"), Some(Unit::Years));
        assert_eq!(Unit::from_name("w"), None);
    }
}
