//! Text validation types of a REDCap-style dictionary and the reading of the values they govern:
//! dates in three orders, times, numbers with fixed decimals, e-mail, North American telephone
//! numbers, US ZIP codes and letters-only text. The same readers serve the dictionary's min/max
//! columns and the values typed or imported later, so the two can never disagree.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use serde::{Deserialize, Serialize};

/// The order of day, month and year in a written date. Dates are always stored Y-M-D; the order
/// only says how a date is shown (the field's validation) or how an import writes it (REDCap's
/// API `dateFormat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum DateOrder {
    Ymd,
    Mdy,
    Dmy,
}

impl DateOrder {
    pub const ALL: [DateOrder; 3] = [DateOrder::Ymd, DateOrder::Mdy, DateOrder::Dmy];

    /// `YMD`, `MDY` or `DMY`, as REDCap's API spells its `dateFormat` parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            DateOrder::Ymd => "YMD",
            DateOrder::Mdy => "MDY",
            DateOrder::Dmy => "DMY",
        }
    }

    /// Reads `YMD`, `MDY` or `DMY` in any letter case.
    pub fn parse(s: &str) -> Option<DateOrder> {
        Self::ALL.into_iter().find(|o| o.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// How a date is written in this order, for messages (`MM-DD-YYYY`).
    pub fn pattern(self) -> &'static str {
        match self {
            DateOrder::Ymd => "YYYY-MM-DD",
            DateOrder::Mdy => "MM-DD-YYYY",
            DateOrder::Dmy => "DD-MM-YYYY",
        }
    }

    fn suffix(self) -> &'static str {
        match self {
            DateOrder::Ymd => "ymd",
            DateOrder::Mdy => "mdy",
            DateOrder::Dmy => "dmy",
        }
    }

    /// A date written in this order with dashes, as REDCap shows it.
    pub fn write(self, d: NaiveDate) -> String {
        match self {
            DateOrder::Ymd => d.format("%Y-%m-%d").to_string(),
            DateOrder::Mdy => d.format("%m-%d-%Y").to_string(),
            DateOrder::Dmy => d.format("%d-%m-%Y").to_string(),
        }
    }

    /// Reads a date written in this order. The parts are separated by `-`, `/` or `.` (the same
    /// separator twice); month and day may have one or two digits, the year has four.
    pub fn read(self, s: &str) -> Option<NaiveDate> {
        let sep = s.chars().find(|c| !c.is_ascii_digit())?;
        if !matches!(sep, '-' | '/' | '.') {
            return None;
        }
        let parts: Vec<&str> = s.split(sep).collect();
        let [a, b, c] = parts.as_slice() else { return None };
        let (y, m, d) = match self {
            DateOrder::Ymd => (a, b, c),
            DateOrder::Mdy => (c, a, b),
            DateOrder::Dmy => (c, b, a),
        };
        let digits =
            |t: &str, lo: usize, hi: usize| t.len() >= lo && t.len() <= hi && t.bytes().all(|b| b.is_ascii_digit());
        if !digits(y, 4, 4) || !digits(m, 1, 2) || !digits(d, 1, 2) {
            return None;
        }
        NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
    }
}

/// A text field's validation type. Several REDCap names can mean the same type (`int` is the
/// legacy name of `integer`); the field keeps the name as written so a dictionary exports
/// exactly as it was imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Validation {
    /// `date_ymd`, `date_mdy`, `date_dmy`: stored `YYYY-MM-DD`, shown in the order.
    Date(DateOrder),
    /// `datetime_*`: stored `YYYY-MM-DD HH:MM`.
    Datetime(DateOrder),
    /// `datetime_seconds_*`: stored `YYYY-MM-DD HH:MM:SS`.
    DatetimeSeconds(DateOrder),
    /// `time`: `HH:MM`, 00:00 to 23:59.
    Time,
    /// `time_hh_mm_ss`: `HH:MM:SS`.
    TimeHhMmSs,
    /// `time_mm_ss`: a duration `MM:SS` below an hour.
    TimeMmSs,
    Integer,
    /// `number`: a decimal number with `.`, optionally with an exponent.
    Number,
    /// `number_1dp` to `number_4dp`: exactly that many decimals.
    NumberDp(u8),
    /// `number_comma_decimal`: as `number`, with `,` as the decimal mark.
    NumberCommaDecimal,
    /// `number_1dp_comma_decimal` to `number_4dp_comma_decimal`.
    NumberDpCommaDecimal(u8),
    Email,
    /// `phone`: a North American (NANP) number.
    Phone,
    /// `zipcode`: a US ZIP code, five digits or ZIP+4.
    Zipcode,
    /// `alpha_only`: letters and spaces.
    AlphaOnly,
}

/// Every validation name accepted, canonical names first, then the legacy ones.
pub const VALIDATION_NAMES: [&str; 32] = [
    "date_ymd",
    "date_mdy",
    "date_dmy",
    "datetime_ymd",
    "datetime_mdy",
    "datetime_dmy",
    "datetime_seconds_ymd",
    "datetime_seconds_mdy",
    "datetime_seconds_dmy",
    "time",
    "time_hh_mm_ss",
    "time_mm_ss",
    "integer",
    "number",
    "number_1dp",
    "number_2dp",
    "number_3dp",
    "number_4dp",
    "number_comma_decimal",
    "number_1dp_comma_decimal",
    "number_2dp_comma_decimal",
    "number_3dp_comma_decimal",
    "number_4dp_comma_decimal",
    "email",
    "phone",
    "zipcode",
    "alpha_only",
    "int",
    "float",
    "date",
    "datetime",
    "datetime_seconds",
];

impl Validation {
    /// Reads a validation name, legacy names included (`int`, `float`, `date`, `datetime`,
    /// `datetime_seconds`). Names are lower case, as REDCap writes them.
    pub fn parse(name: &str) -> Option<Validation> {
        use DateOrder::*;
        let v = match name {
            "date_ymd" | "date" => Validation::Date(Ymd),
            "date_mdy" => Validation::Date(Mdy),
            "date_dmy" => Validation::Date(Dmy),
            "datetime_ymd" | "datetime" => Validation::Datetime(Ymd),
            "datetime_mdy" => Validation::Datetime(Mdy),
            "datetime_dmy" => Validation::Datetime(Dmy),
            "datetime_seconds_ymd" | "datetime_seconds" => Validation::DatetimeSeconds(Ymd),
            "datetime_seconds_mdy" => Validation::DatetimeSeconds(Mdy),
            "datetime_seconds_dmy" => Validation::DatetimeSeconds(Dmy),
            "time" => Validation::Time,
            "time_hh_mm_ss" => Validation::TimeHhMmSs,
            "time_mm_ss" => Validation::TimeMmSs,
            "integer" | "int" => Validation::Integer,
            "number" | "float" => Validation::Number,
            "number_comma_decimal" => Validation::NumberCommaDecimal,
            "email" => Validation::Email,
            "phone" => Validation::Phone,
            "zipcode" => Validation::Zipcode,
            "alpha_only" => Validation::AlphaOnly,
            _ => {
                let dp = |rest: &str| match rest {
                    "1dp" => Some(1),
                    "2dp" => Some(2),
                    "3dp" => Some(3),
                    "4dp" => Some(4),
                    _ => None,
                };
                let rest = name.strip_prefix("number_")?;
                return match rest.strip_suffix("_comma_decimal") {
                    Some(d) => dp(d).map(Validation::NumberDpCommaDecimal),
                    None => dp(rest).map(Validation::NumberDp),
                };
            }
        };
        Some(v)
    }

    /// The canonical (current) REDCap name.
    pub fn name(self) -> String {
        match self {
            Validation::Date(o) => format!("date_{}", o.suffix()),
            Validation::Datetime(o) => format!("datetime_{}", o.suffix()),
            Validation::DatetimeSeconds(o) => format!("datetime_seconds_{}", o.suffix()),
            Validation::Time => "time".into(),
            Validation::TimeHhMmSs => "time_hh_mm_ss".into(),
            Validation::TimeMmSs => "time_mm_ss".into(),
            Validation::Integer => "integer".into(),
            Validation::Number => "number".into(),
            Validation::NumberDp(n) => format!("number_{n}dp"),
            Validation::NumberCommaDecimal => "number_comma_decimal".into(),
            Validation::NumberDpCommaDecimal(n) => format!("number_{n}dp_comma_decimal"),
            Validation::Email => "email".into(),
            Validation::Phone => "phone".into(),
            Validation::Zipcode => "zipcode".into(),
            Validation::AlphaOnly => "alpha_only".into(),
        }
    }

    /// The display order of a date or datetime validation.
    pub fn date_order(self) -> Option<DateOrder> {
        match self {
            Validation::Date(o) | Validation::Datetime(o) | Validation::DatetimeSeconds(o) => Some(o),
            _ => None,
        }
    }

    /// Whether values of this type are ordered, so that a minimum and a maximum make sense.
    pub fn has_range(self) -> bool {
        !matches!(self, Validation::Email | Validation::Phone | Validation::Zipcode | Validation::AlphaOnly)
    }

    /// Reads a min or max as the dictionary writes it: dates Y-M-D whatever the display order
    /// (`today` and `now` stand for the day or moment of entry), times as stored, numbers with
    /// `.` (or `,` for the comma-decimal types). The text is kept as written by the field; this
    /// only checks it and gives the bound its meaning.
    pub fn read_bound(self, text: &str) -> Result<Bound, String> {
        let t = text.trim();
        if !self.has_range() {
            return Err(format!("validation '{}' takes no minimum or maximum", self.name()));
        }
        if self.date_order().is_some() {
            match t.to_ascii_lowercase().as_str() {
                "today" => return Ok(Bound::Today),
                "now" => return Ok(Bound::Now),
                _ => {}
            }
        }
        let wrong = |what: &str| Err(format!("'{t}' is not {what}"));
        match self {
            Validation::Date(_) => match read_ymd(t) {
                Some(d) => Ok(Bound::Date(d)),
                None => wrong("a date written YYYY-MM-DD (or today or now)"),
            },
            Validation::Datetime(_) => match read_datetime(t, DateOrder::Ymd, false) {
                Some(d) => Ok(Bound::DateTime(d)),
                None => wrong("a date and time written YYYY-MM-DD HH:MM (or today or now)"),
            },
            Validation::DatetimeSeconds(_) => match read_datetime(t, DateOrder::Ymd, true) {
                Some(d) => Ok(Bound::DateTime(d)),
                None => wrong("a date and time written YYYY-MM-DD HH:MM:SS (or today or now)"),
            },
            Validation::Time => match read_hh_mm(t) {
                Some(x) => Ok(Bound::Time(x)),
                None => wrong("a time written HH:MM"),
            },
            Validation::TimeHhMmSs => match read_hh_mm_ss(t) {
                Some(x) => Ok(Bound::Time(x)),
                None => wrong("a time written HH:MM:SS"),
            },
            Validation::TimeMmSs => match read_mm_ss(t) {
                Some(x) => Ok(Bound::Time(x)),
                None => wrong("a duration written MM:SS"),
            },
            Validation::Integer => match is_integer(t).then(|| number_value(t)).flatten() {
                Some(n) => Ok(Bound::Number(n)),
                None => wrong("an integer"),
            },
            // Spreadsheets drop trailing zeros, so any number is accepted for the fixed-decimal
            // types, as REDCap does.
            _ => match (is_decimal(t, '.') || is_decimal(t, ',')).then(|| number_value(t)).flatten() {
                Some(n) => Ok(Bound::Number(n)),
                None => wrong("a number"),
            },
        }
    }
}

/// A field's minimum or maximum, resolved when a value is checked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bound {
    /// The day of entry.
    Today,
    /// The moment of entry.
    Now,
    Date(NaiveDate),
    DateTime(NaiveDateTime),
    Time(NaiveTime),
    Number(f64),
}

impl Bound {
    /// The bound as a point in time on the entry's clock, for date and datetime comparisons.
    pub(crate) fn moment(self, now: NaiveDateTime) -> Option<NaiveDateTime> {
        match self {
            Bound::Today => now.date().and_hms_opt(0, 0, 0),
            Bound::Now => Some(now),
            Bound::Date(d) => d.and_hms_opt(0, 0, 0),
            Bound::DateTime(d) => Some(d),
            _ => None,
        }
    }

    /// The bound as a date, for date-only fields (`now` means today there).
    pub(crate) fn day(self, now: NaiveDateTime) -> Option<NaiveDate> {
        match self {
            Bound::Today | Bound::Now => Some(now.date()),
            Bound::Date(d) => Some(d),
            Bound::DateTime(d) => Some(d.date()),
            _ => None,
        }
    }

    /// Whether the bound is a fixed value, so that min and max can be compared in the dictionary.
    pub(crate) fn is_fixed(self) -> bool {
        !matches!(self, Bound::Today | Bound::Now)
    }

    /// Orders two fixed bounds of the same kind; `None` when they cannot be compared.
    pub(crate) fn fixed_cmp(self, other: Bound) -> Option<std::cmp::Ordering> {
        match (self, other) {
            (Bound::Date(a), Bound::Date(b)) => Some(a.cmp(&b)),
            (Bound::DateTime(a), Bound::DateTime(b)) => Some(a.cmp(&b)),
            (Bound::Time(a), Bound::Time(b)) => Some(a.cmp(&b)),
            (Bound::Number(a), Bound::Number(b)) => a.partial_cmp(&b),
            _ => None,
        }
    }
}

/// `YYYY-MM-DD` exactly as stored (one or two digit month and day accepted).
pub(crate) fn read_ymd(s: &str) -> Option<NaiveDate> {
    if s.contains(['/', '.']) {
        return None;
    }
    DateOrder::Ymd.read(s)
}

/// A date and a time separated by spaces (or `T`), the date in the given order; the time is
/// `H:MM` or, with `seconds`, `H:MM:SS`.
pub(crate) fn read_datetime(s: &str, order: DateOrder, seconds: bool) -> Option<NaiveDateTime> {
    let (date, time) = match s.split_once(char::is_whitespace) {
        Some((d, t)) => (d, t.trim_start()),
        None => s.split_once('T')?,
    };
    let date = order.read(date)?;
    let time = if seconds { read_hh_mm_ss(time)? } else { read_hh_mm(time)? };
    Some(date.and_time(time))
}

fn two_digits(s: &str, max: u32) -> Option<u32> {
    if s.len() != 2 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|v| *v <= max)
}

fn hour(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 2 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|h| *h <= 23)
}

/// `H:MM` or `HH:MM`, 0:00 to 23:59.
pub(crate) fn read_hh_mm(s: &str) -> Option<NaiveTime> {
    let (h, m) = s.split_once(':')?;
    NaiveTime::from_hms_opt(hour(h)?, two_digits(m, 59)?, 0)
}

/// `H:MM:SS` or `HH:MM:SS`.
pub(crate) fn read_hh_mm_ss(s: &str) -> Option<NaiveTime> {
    let mut parts = s.split(':');
    let (h, m, sec) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    NaiveTime::from_hms_opt(hour(h)?, two_digits(m, 59)?, two_digits(sec, 59)?)
}

/// `MM:SS`, a duration below an hour, kept as a time past midnight so it orders like one.
pub(crate) fn read_mm_ss(s: &str) -> Option<NaiveTime> {
    let (m, sec) = s.split_once(':')?;
    NaiveTime::from_hms_opt(0, two_digits(m, 59)?, two_digits(sec, 59)?)
}

pub(crate) fn write_mm_ss(t: NaiveTime) -> String {
    format!("{:02}:{:02}", t.minute(), t.second())
}

/// An optional sign and digits.
pub(crate) fn is_integer(s: &str) -> bool {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// REDCap's `number`: optional sign, digits with at most one decimal mark and at least one
/// digit after it (`.5` and `3` are numbers, `3.` is not), optional exponent.
pub(crate) fn is_decimal(s: &str, mark: char) -> bool {
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let all_digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once(mark) {
        Some((whole, frac)) => all_digits(whole) && !frac.is_empty() && all_digits(frac),
        None => !mantissa.is_empty() && all_digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(is_integer);
    mantissa_ok && exponent_ok
}

/// An optional minus, digits, the decimal mark and exactly `places` digits.
pub(crate) fn is_fixed_decimal(s: &str, mark: char, places: u8) -> bool {
    let body = s.strip_prefix('-').unwrap_or(s);
    let Some((whole, frac)) = body.split_once(mark) else { return false };
    !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && frac.len() == usize::from(places)
        && frac.bytes().all(|b| b.is_ascii_digit())
}

/// The value of a number written with `.` or `,` as its decimal mark.
pub(crate) fn number_value(s: &str) -> Option<f64> {
    s.replace(',', ".").parse::<f64>().ok().filter(|v| v.is_finite())
}

/// A North American Numbering Plan number as REDCap's `phone` accepts it: an area code (in
/// parentheses or not) whose first digit is 2–9 and second is not 9, an exchange whose first digit is
/// 2–9, neither ending in 11, and four digits; the groups may be separated by spaces, a dash or
/// a dot, and an extension may follow (`x`, `ext`, `extension` or `#`).
pub(crate) fn is_phone(s: &str) -> bool {
    let mut rest = s;
    let take_digits = |rest: &mut &str, n: usize| -> Option<Vec<u8>> {
        let d: Vec<u8> = rest.bytes().take(n).collect();
        if d.len() == n && d.iter().all(u8::is_ascii_digit) {
            *rest = &rest[n..];
            Some(d.iter().map(|b| b - b'0').collect())
        } else {
            None
        }
    };
    let separator = |rest: &mut &str| {
        *rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix(['-', '.']) {
            *rest = r.trim_start();
        }
    };
    let paren = rest.starts_with('(');
    if paren {
        rest = &rest[1..];
    }
    let Some(area) = take_digits(&mut rest, 3) else { return false };
    if paren {
        match rest.strip_prefix(')') {
            Some(r) => rest = r,
            None => return false,
        }
    }
    separator(&mut rest);
    let Some(exchange) = take_digits(&mut rest, 3) else { return false };
    separator(&mut rest);
    if take_digits(&mut rest, 4).is_none() {
        return false;
    }
    let area_ok = (2..=9).contains(&area[0]) && area[1] != 9 && !(area[1] == 1 && area[2] == 1);
    let exchange_ok = (2..=9).contains(&exchange[0]) && !(exchange[1] == 1 && exchange[2] == 1);
    if !area_ok || !exchange_ok {
        return false;
    }
    let rest = rest.trim_start();
    if rest.is_empty() {
        return true;
    }
    let lower = rest.to_ascii_lowercase();
    let after = ["extension", "ext.", "ext", "x.", "x", "#"].iter().find_map(|p| lower.strip_prefix(p));
    match after.map(str::trim_start) {
        Some(ext) => !ext.is_empty() && ext.bytes().all(|b| b.is_ascii_digit()),
        None => false,
    }
}

/// `12345` or `12345-6789`.
pub(crate) fn is_zipcode(s: &str) -> bool {
    let digits = |t: &str, n: usize| t.len() == n && t.bytes().all(|b| b.is_ascii_digit());
    match s.split_once('-') {
        Some((a, b)) => digits(a, 5) && digits(b, 4),
        None => digits(s, 5),
    }
}

/// Letters A–Z (either case) and spaces, at least one letter.
pub(crate) fn is_alpha_only(s: &str) -> bool {
    s.chars().any(|c| c.is_ascii_alphabetic()) && s.chars().all(|c| c.is_ascii_alphabetic() || c.is_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_reads_and_canonical_names_round_trip() {
        for name in VALIDATION_NAMES {
            let v = Validation::parse(name).unwrap_or_else(|| panic!("{name}"));
            assert_eq!(Validation::parse(&v.name()), Some(v));
        }
        for name in VALIDATION_NAMES.iter().take(27) {
            assert_eq!(Validation::parse(name).map(|v| v.name()).as_deref(), Some(*name));
        }
    }

    #[test]
    fn legacy_names_mean_the_current_types() {
        assert_eq!(Validation::parse("int"), Some(Validation::Integer));
        assert_eq!(Validation::parse("float"), Some(Validation::Number));
        assert_eq!(Validation::parse("date"), Some(Validation::Date(DateOrder::Ymd)));
        assert_eq!(Validation::parse("datetime"), Some(Validation::Datetime(DateOrder::Ymd)));
        assert_eq!(Validation::parse("datetime_seconds"), Some(Validation::DatetimeSeconds(DateOrder::Ymd)));
    }

    #[test]
    fn unknown_and_miscased_names_are_refused() {
        for bad in ["", "Integer", "number_5dp", "number_dp", "date_ydm", "ssn", "number_1dp_comma", "text"] {
            assert_eq!(Validation::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn dates_in_each_order() {
        let d = NaiveDate::from_ymd_opt(2024, 3, 5).unwrap();
        assert_eq!(DateOrder::Ymd.read("2024-03-05"), Some(d));
        assert_eq!(DateOrder::Ymd.read("2024/3/5"), Some(d));
        assert_eq!(DateOrder::Mdy.read("03-05-2024"), Some(d));
        assert_eq!(DateOrder::Mdy.read("3/5/2024"), Some(d));
        assert_eq!(DateOrder::Dmy.read("05.03.2024"), Some(d));
        assert_eq!(DateOrder::Dmy.write(d), "05-03-2024");
        assert_eq!(DateOrder::Mdy.write(d), "03-05-2024");
        for bad in
            ["2024-02-30", "2024-13-01", "24-03-05", "2024-03/05", "2024 03 05", "2024-03-05-", "", "2024-003-05"]
        {
            assert_eq!(DateOrder::Ymd.read(bad), None, "{bad}");
        }
        assert_eq!(DateOrder::Ymd.read("2024-02-29").map(|d| d.to_string()).as_deref(), Some("2024-02-29"));
        assert_eq!(DateOrder::Ymd.read("2023-02-29"), None);
        assert_eq!(DateOrder::parse("mdy"), Some(DateOrder::Mdy));
        assert_eq!(DateOrder::parse("YDM"), None);
    }

    #[test]
    fn times() {
        assert_eq!(read_hh_mm("7:05").map(|t| t.to_string()).as_deref(), Some("07:05:00"));
        assert!(read_hh_mm("23:59").is_some());
        for bad in ["24:00", "12:60", "12:5", "123:00", "12", "12:00:00", ":30"] {
            assert!(read_hh_mm(bad).is_none(), "{bad}");
        }
        assert!(read_hh_mm_ss("23:59:59").is_some());
        assert!(read_hh_mm_ss("23:59").is_none());
        assert!(read_hh_mm_ss("23:59:60").is_none());
        assert_eq!(read_mm_ss("59:59").map(write_mm_ss).as_deref(), Some("59:59"));
        assert!(read_mm_ss("60:00").is_none());
        assert!(read_mm_ss("5:00").is_none());
    }

    #[test]
    fn datetimes() {
        let dt = read_datetime("12-31-2023 23:15", DateOrder::Mdy, false).unwrap();
        assert_eq!(dt.to_string(), "2023-12-31 23:15:00");
        assert!(read_datetime("2023-12-31T23:15", DateOrder::Ymd, false).is_some());
        assert!(read_datetime("2023-12-31 23:15:10", DateOrder::Ymd, false).is_none());
        assert!(read_datetime("2023-12-31 23:15:10", DateOrder::Ymd, true).is_some());
        assert!(read_datetime("2023-12-31", DateOrder::Ymd, false).is_none());
    }

    #[test]
    fn numbers() {
        for ok in ["0", "-12", "+7", "007"] {
            assert!(is_integer(ok), "{ok}");
        }
        for bad in ["", "-", "1.0", "1e3", " 1", "1 000"] {
            assert!(!is_integer(bad), "{bad}");
        }
        for ok in ["3", "-3.25", ".5", "+0.5", "1e5", "2.5E-3", "-.5"] {
            assert!(is_decimal(ok, '.'), "{ok}");
        }
        for bad in ["", "3.", "1.2.3", "e5", "1e", "1,5", "abc", "--1", "1e1.5"] {
            assert!(!is_decimal(bad, '.'), "{bad}");
        }
        assert!(is_decimal("1,5", ','));
        assert!(is_fixed_decimal("-12.50", '.', 2));
        assert!(!is_fixed_decimal("12.5", '.', 2));
        assert!(!is_fixed_decimal("12", '.', 1));
        assert!(!is_fixed_decimal(".5", '.', 1));
        assert!(!is_fixed_decimal("+1.5", '.', 1));
        assert!(is_fixed_decimal("3,1415", ',', 4));
        assert_eq!(number_value("3,5"), Some(3.5));
        assert_eq!(number_value("1e400"), None);
    }

    #[test]
    fn phones_follow_the_north_american_plan() {
        for ok in [
            "615-322-2222",
            "(615) 322-2222",
            "(615)322-2222",
            "615.322.2222",
            "6153222222",
            "615 322 2222",
            "615-322-2222 x123",
            "615-322-2222 ext. 9",
            "615-322-2222 extension 12",
            "615-322-2222 #4",
            "212-201-1234",
        ] {
            assert!(is_phone(ok), "{ok}");
        }
        for bad in [
            "115-322-2222",  // area code starts with 1
            "695-322-2222",  // second digit 9
            "611-322-2222",  // N11 area code
            "615-122-2222",  // exchange starts with 1
            "615-911-2222",  // N11 exchange
            "615-322-222",   // short
            "615-322-22222", // long
            "(615 322-2222", // unbalanced
            "615-322-2222 x",
            "615-322-2222 call me",
            "+1 615-322-2222",
        ] {
            assert!(!is_phone(bad), "{bad}");
        }
    }

    #[test]
    fn zipcodes_and_letters() {
        assert!(is_zipcode("37203"));
        assert!(is_zipcode("37203-1234"));
        for bad in ["3720", "372031", "37203-123", "37203 1234", "ABCDE"] {
            assert!(!is_zipcode(bad), "{bad}");
        }
        assert!(is_alpha_only("Mary Ann"));
        for bad in ["", " ", "O'Neil", "Zoë", "abc1"] {
            assert!(!is_alpha_only(bad), "{bad}");
        }
    }

    #[test]
    fn bounds_follow_the_type() {
        let date = Validation::Date(DateOrder::Mdy);
        assert_eq!(date.read_bound("today"), Ok(Bound::Today));
        assert_eq!(date.read_bound("NOW"), Ok(Bound::Now));
        assert_eq!(date.read_bound("2020-01-31"), Ok(Bound::Date(NaiveDate::from_ymd_opt(2020, 1, 31).unwrap())));
        assert!(date.read_bound("01-31-2020").unwrap_err().contains("YYYY-MM-DD"));
        assert!(date.read_bound("2020/01/31").is_err());
        assert!(Validation::Datetime(DateOrder::Ymd).read_bound("2020-01-31 10:00").is_ok());
        assert!(Validation::Datetime(DateOrder::Ymd).read_bound("2020-01-31").is_err());
        assert!(Validation::DatetimeSeconds(DateOrder::Dmy).read_bound("2020-01-31 10:00:00").is_ok());
        assert!(Validation::Time.read_bound("08:30").is_ok());
        assert!(Validation::Time.read_bound("today").is_err());
        assert_eq!(Validation::Integer.read_bound("18"), Ok(Bound::Number(18.0)));
        assert!(Validation::Integer.read_bound("18.5").is_err());
        assert!(Validation::NumberDp(2).read_bound("40").is_ok());
        assert!(Validation::NumberDpCommaDecimal(1).read_bound("40,5").is_ok());
        assert!(Validation::Number.read_bound("ten").is_err());
        assert!(Validation::Email.read_bound("a").unwrap_err().contains("no minimum"));
    }
}
