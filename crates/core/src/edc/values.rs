//! The rules a single value must follow to be stored in a field, shared by data entry and
//! imports, and the way a stored value is shown. Dates are stored Y-M-D whatever order they are
//! typed or shown in; a study's missing-data codes are accepted wherever a value is entered.
//! Whether a required field is blank is a form-level question and is not asked here.

use super::field::{Choice, Field, FieldType, parse_choices};
use super::validation::{
    Bound, DateOrder, Validation, is_alpha_only, is_decimal, is_fixed_decimal, is_integer, is_phone, is_zipcode,
    number_value, read_datetime, read_hh_mm, read_hh_mm_ss, read_mm_ss, read_ymd, write_mm_ss,
};
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

/// A study's missing-data codes (`NA, Not applicable | UNK, Unknown`): values that say why an
/// answer is absent, accepted in any field that takes a value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MissingCodes(Vec<Choice>);

impl MissingCodes {
    /// Reads codes written like choices. Codes are integers or letters, digits and underscores
    /// (they become checkbox columns too), each used once. Blank text means none.
    pub fn parse(text: &str) -> Result<MissingCodes, String> {
        if text.trim().is_empty() {
            return Ok(MissingCodes::default());
        }
        parse_choices(text, true).map(MissingCodes).map_err(|ms| ms.join("; "))
    }

    /// The code with this exact spelling.
    pub fn get(&self, code: &str) -> Option<&Choice> {
        self.0.iter().find(|c| c.code == code)
    }

    pub fn codes(&self) -> &[Choice] {
        &self.0
    }

    /// The codes as written in a study's settings.
    pub fn to_text(&self) -> String {
        self.0.iter().map(|c| format!("{}, {}", c.code, c.label)).collect::<Vec<_>>().join(" | ")
    }
}

/// What a value is checked against besides its field: the moment of entry on the site's clock
/// (for `today` and `now` bounds) and the study's missing-data codes.
#[derive(Debug, Clone, Copy)]
pub struct EntryContext<'a> {
    pub now: NaiveDateTime,
    pub missing_codes: &'a MissingCodes,
}

impl Field {
    /// Checks one value for this field and gives the value to store. `input_dates` is the order
    /// dates are written in the input (a form shows the field's own order; an import says its
    /// own). Blank input is accepted as blank. Calculated and descriptive fields take no input;
    /// a checkbox takes its answers per choice ([`Field::check_checkbox`]).
    pub fn check(&self, input: &str, input_dates: DateOrder, ctx: &EntryContext<'_>) -> Result<String, String> {
        let v = input.trim();
        if v.is_empty() {
            return Ok(String::new());
        }
        match self.field_type {
            FieldType::Calc => return Err("is calculated from other answers and cannot be entered".to_string()),
            FieldType::Descriptive => return Err("shows text only and takes no value".to_string()),
            FieldType::Checkbox => {
                return Err(format!(
                    "takes one answer per choice, in the columns {}",
                    self.export_columns().join(", ")
                ));
            }
            _ => {}
        }
        if let Some(m) = ctx.missing_codes.get(v) {
            return Ok(m.code.clone());
        }
        match self.field_type {
            FieldType::Text => match self.validation {
                Some(rule) => self.check_validated(v, rule, input_dates, ctx),
                None => Ok(v.to_string()),
            },
            // Notes keep their layout; only an all-blank note counts as blank.
            FieldType::Notes => Ok(input.to_string()),
            FieldType::Dropdown | FieldType::Radio => match self.choice(v) {
                Some(c) => Ok(c.code.clone()),
                None => Err(format!("must be one of the codes {}", self.codes_list())),
            },
            FieldType::Yesno => match v {
                "0" | "1" => Ok(v.to_string()),
                _ => Err("must be 1 (Yes) or 0 (No)".to_string()),
            },
            FieldType::Truefalse => match v {
                "0" | "1" => Ok(v.to_string()),
                _ => Err("must be 1 (True) or 0 (False)".to_string()),
            },
            FieldType::Slider => {
                let (lo, hi) = self.slider_range();
                match is_integer(v).then(|| number_value(v)).flatten() {
                    Some(n) if n >= lo && n <= hi => Ok(v.trim_start_matches('+').to_string()),
                    _ => Err(format!("must be a whole number from {lo} to {hi}")),
                }
            }
            FieldType::File => Err("takes an uploaded file, not typed text".to_string()),
            FieldType::Calc | FieldType::Descriptive | FieldType::Checkbox => Ok(String::new()),
        }
    }

    /// Checks one checkbox answer: `code` is a choice (or a missing-data code) and `value` is 1
    /// (ticked), 0 (not ticked) or blank (no answer given).
    pub fn check_checkbox(&self, code: &str, value: &str, ctx: &EntryContext<'_>) -> Result<String, String> {
        if self.field_type != FieldType::Checkbox {
            return Err("is not a checkbox".to_string());
        }
        if self.choice(code).is_none() && ctx.missing_codes.get(code).is_none() {
            return Err(format!("has no choice '{code}'; its codes are {}", self.codes_list()));
        }
        match value.trim() {
            v @ ("" | "0" | "1") => Ok(v.to_string()),
            _ => Err(format!("choice '{code}' must be 1 (ticked) or 0 (not ticked)")),
        }
    }

    /// A stored value as the field shows it: dates in the field's order, the label of a choice.
    /// Values that do not read as expected are shown as stored.
    pub fn display(&self, stored: &str) -> String {
        match self.field_type {
            FieldType::Text => match self.validation {
                Some(Validation::Date(o)) => read_ymd(stored).map(|d| o.write(d)),
                Some(Validation::Datetime(o)) => read_datetime(stored, DateOrder::Ymd, false)
                    .map(|d| format!("{} {}", o.write(d.date()), d.format("%H:%M"))),
                Some(Validation::DatetimeSeconds(o)) => read_datetime(stored, DateOrder::Ymd, true)
                    .map(|d| format!("{} {}", o.write(d.date()), d.format("%H:%M:%S"))),
                _ => None,
            }
            .unwrap_or_else(|| stored.to_string()),
            FieldType::Dropdown | FieldType::Radio | FieldType::Checkbox => {
                self.choice(stored).map_or_else(|| stored.to_string(), |c| c.label.clone())
            }
            FieldType::Yesno => match stored {
                "1" => "Yes".to_string(),
                "0" => "No".to_string(),
                _ => stored.to_string(),
            },
            FieldType::Truefalse => match stored {
                "1" => "True".to_string(),
                "0" => "False".to_string(),
                _ => stored.to_string(),
            },
            _ => stored.to_string(),
        }
    }

    /// As [`Field::display`], with a missing-data code shown by its label.
    pub fn display_with(&self, stored: &str, missing: &MissingCodes) -> String {
        let takes_codes = !matches!(self.field_type, FieldType::Calc | FieldType::Descriptive);
        match missing.get(stored) {
            Some(m) if takes_codes && self.choice(stored).is_none() => m.label.clone(),
            _ => self.display(stored),
        }
    }

    fn codes_list(&self) -> String {
        self.choices.iter().map(|c| c.code.as_str()).collect::<Vec<_>>().join(", ")
    }

    fn check_validated(
        &self,
        v: &str,
        rule: Validation,
        input_dates: DateOrder,
        ctx: &EntryContext<'_>,
    ) -> Result<String, String> {
        match rule {
            Validation::Date(shown) => {
                let d =
                    input_dates.read(v).ok_or_else(|| format!("must be a date written {}", input_dates.pattern()))?;
                self.within_days(d, shown, ctx)?;
                Ok(d.format("%Y-%m-%d").to_string())
            }
            Validation::Datetime(shown) | Validation::DatetimeSeconds(shown) => {
                let seconds = matches!(rule, Validation::DatetimeSeconds(_));
                let d = read_datetime(v, input_dates, seconds).ok_or_else(|| {
                    format!("must be a date and time written {} {}", input_dates.pattern(), time_pattern(seconds))
                })?;
                self.within_moments(d, shown, seconds, ctx)?;
                let format = if seconds { "%Y-%m-%d %H:%M:%S" } else { "%Y-%m-%d %H:%M" };
                Ok(d.format(format).to_string())
            }
            Validation::Time => {
                let t = read_hh_mm(v).ok_or("must be a time written HH:MM (00:00 to 23:59)")?;
                self.within_times(t, |t| t.format("%H:%M").to_string())?;
                Ok(t.format("%H:%M").to_string())
            }
            Validation::TimeHhMmSs => {
                let t = read_hh_mm_ss(v).ok_or("must be a time written HH:MM:SS")?;
                self.within_times(t, |t| t.format("%H:%M:%S").to_string())?;
                Ok(t.format("%H:%M:%S").to_string())
            }
            Validation::TimeMmSs => {
                let t = read_mm_ss(v).ok_or("must be minutes and seconds written MM:SS")?;
                self.within_times(t, write_mm_ss)?;
                Ok(write_mm_ss(t))
            }
            Validation::Integer => self.number(v, is_integer(v), "must be a whole number"),
            Validation::Number => self.number(v, is_decimal(v, '.'), "must be a number (with . as decimal mark)"),
            Validation::NumberDp(n) => self.number(
                v,
                is_fixed_decimal(v, '.', n),
                &format!("must be a number with exactly {n} decimal(s), like {}", example(n, '.')),
            ),
            Validation::NumberCommaDecimal => {
                self.number(v, is_decimal(v, ','), "must be a number (with , as decimal mark)")
            }
            Validation::NumberDpCommaDecimal(n) => self.number(
                v,
                is_fixed_decimal(v, ',', n),
                &format!("must be a number with exactly {n} decimal(s), like {}", example(n, ',')),
            ),
            Validation::Email => match crate::identity::Email::parse(v) {
                Ok(_) => Ok(v.to_string()),
                Err(_) => Err("must be an e-mail address like name@example.org".to_string()),
            },
            Validation::Phone => match is_phone(v) {
                true => Ok(v.to_string()),
                false => Err("must be a North American phone number like (615) 322-2222".to_string()),
            },
            Validation::Zipcode => match is_zipcode(v) {
                true => Ok(v.to_string()),
                false => Err("must be a US ZIP code: 5 digits or ZIP+4 (12345-6789)".to_string()),
            },
            Validation::AlphaOnly => match is_alpha_only(v) {
                true => Ok(v.to_string()),
                false => Err("must hold only letters and spaces".to_string()),
            },
        }
    }

    fn number(&self, v: &str, well_formed: bool, message: &str) -> Result<String, String> {
        let value = well_formed.then(|| number_value(v)).flatten().ok_or_else(|| message.to_string())?;
        let n = |b: Option<Bound>| match b {
            Some(Bound::Number(n)) => Some(n),
            _ => None,
        };
        if let Some(lo) = n(self.min).filter(|lo| value < *lo) {
            return Err(format!("must be at least {}", self.bound_text(&self.min_text, lo)));
        }
        if let Some(hi) = n(self.max).filter(|hi| value > *hi) {
            return Err(format!("must be at most {}", self.bound_text(&self.max_text, hi)));
        }
        Ok(v.to_string())
    }

    fn bound_text(&self, written: &str, value: f64) -> String {
        if written.trim().is_empty() { value.to_string() } else { written.trim().to_string() }
    }

    fn within_days(&self, d: NaiveDate, shown: DateOrder, ctx: &EntryContext<'_>) -> Result<(), String> {
        if let Some(lo) = self.min.and_then(|b| b.day(ctx.now)).filter(|lo| d < *lo) {
            return Err(format!("must be on or after {}", describe(self.min, shown.write(lo))));
        }
        if let Some(hi) = self.max.and_then(|b| b.day(ctx.now)).filter(|hi| d > *hi) {
            return Err(format!("must be on or before {}", describe(self.max, shown.write(hi))));
        }
        Ok(())
    }

    fn within_moments(
        &self,
        d: NaiveDateTime,
        shown: DateOrder,
        seconds: bool,
        ctx: &EntryContext<'_>,
    ) -> Result<(), String> {
        let write = |m: NaiveDateTime| {
            let time = if seconds { m.format("%H:%M:%S") } else { m.format("%H:%M") };
            format!("{} {time}", shown.write(m.date()))
        };
        if let Some(lo) = self.min.and_then(|b| b.moment(ctx.now)).filter(|lo| d < *lo) {
            return Err(format!("must be on or after {}", describe(self.min, write(lo))));
        }
        if let Some(hi) = self.max.and_then(|b| b.moment(ctx.now)).filter(|hi| d > *hi) {
            return Err(format!("must be on or before {}", describe(self.max, write(hi))));
        }
        Ok(())
    }

    fn within_times(&self, t: NaiveTime, write: impl Fn(NaiveTime) -> String) -> Result<(), String> {
        let time = |b: Option<Bound>| match b {
            Some(Bound::Time(t)) => Some(t),
            _ => None,
        };
        if let Some(lo) = time(self.min).filter(|lo| t < *lo) {
            return Err(format!("must be {} or later", write(lo)));
        }
        if let Some(hi) = time(self.max).filter(|hi| t > *hi) {
            return Err(format!("must be {} or earlier", write(hi)));
        }
        Ok(())
    }
}

/// Names a relative bound in words, a fixed one by its value.
fn describe(bound: Option<Bound>, written: String) -> String {
    match bound {
        Some(Bound::Today) => format!("today ({written})"),
        Some(Bound::Now) => format!("now ({written})"),
        _ => written,
    }
}

fn time_pattern(seconds: bool) -> &'static str {
    if seconds { "HH:MM:SS" } else { "HH:MM" }
}

fn example(places: u8, mark: char) -> String {
    format!("12{mark}{}", "5".repeat(usize::from(places)))
}
