//! Values as the logic language sees them. Stored answers are text; whether text counts as a
//! number is decided where it is used, the way REDCap does, so `[age] >= 18` compares numbers
//! while `[site] = '007'` against "7" still compares as numbers, and `[name] = 'Ann'` as text.

use std::borrow::Cow;
use std::fmt;

/// The result of evaluating an expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// No value: an unanswered field, `''`, or a calculation that could not be made (a blank
    /// operand, division by zero, a date that is not a date).
    Blank,
    /// Always finite.
    Number(f64),
    /// Never empty (empty text is [`Value::Blank`]).
    Text(String),
    Bool(bool),
}

impl Value {
    pub fn is_blank(&self) -> bool {
        matches!(self, Value::Blank)
    }

    /// Truthiness, as branching logic uses it: `true`, or a non-zero number (including numeric
    /// text such as "1"). Blank and other text are false.
    pub fn is_true(&self) -> bool {
        self.as_val().truthy()
    }

    /// The value as a number, when it is one (booleans count as 1 and 0).
    pub fn as_number(&self) -> Option<f64> {
        self.as_val().number()
    }

    fn as_val(&self) -> Val<'_> {
        match self {
            Value::Blank => Val::Blank,
            Value::Number(n) => Val::Num(*n),
            Value::Text(t) => Val::Text(Cow::Borrowed(t)),
            Value::Bool(b) => Val::Bool(*b),
        }
    }
}

/// The value as a calculated field stores it: "" for blank, numbers in their shortest form
/// ([`format_number`]), booleans as "1" and "0".
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Blank => Ok(()),
            Value::Number(n) => f.write_str(&format_number(*n)),
            Value::Text(t) => f.write_str(t),
            Value::Bool(b) => f.write_str(if *b { "1" } else { "0" }),
        }
    }
}

/// The evaluator's working value: text borrows from the expression or the context, so
/// evaluating a comparison of stored answers allocates nothing.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val<'a> {
    Blank,
    Num(f64),
    Text(Cow<'a, str>),
    Bool(bool),
}

impl<'a> Val<'a> {
    /// Text that is empty once trimmed is blank; a non-finite number is blank.
    pub(crate) fn text(t: Cow<'a, str>) -> Val<'a> {
        if t.trim().is_empty() { Val::Blank } else { Val::Text(t) }
    }

    pub(crate) fn num(n: f64) -> Val<'a> {
        if n.is_finite() { Val::Num(n) } else { Val::Blank }
    }

    pub(crate) fn is_blank(&self) -> bool {
        matches!(self, Val::Blank)
    }

    pub(crate) fn number(&self) -> Option<f64> {
        match self {
            Val::Blank => None,
            Val::Num(n) => Some(*n),
            Val::Text(t) => parse_number(t),
            Val::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        }
    }

    pub(crate) fn truthy(&self) -> bool {
        match self {
            Val::Bool(b) => *b,
            other => other.number().is_some_and(|n| n != 0.0),
        }
    }

    /// The value as text, for text comparisons and the text functions: a number in the form a
    /// calculated field would store it.
    pub(crate) fn as_text(&self) -> Cow<'_, str> {
        match self {
            Val::Blank => Cow::Borrowed(""),
            Val::Num(n) => Cow::Owned(format_number(*n)),
            Val::Text(t) => Cow::Borrowed(t),
            Val::Bool(b) => Cow::Borrowed(if *b { "1" } else { "0" }),
        }
    }

    pub(crate) fn into_value(self) -> Value {
        match self {
            Val::Blank => Value::Blank,
            Val::Num(n) => Value::Number(n),
            Val::Text(t) => Value::Text(t.into_owned()),
            Val::Bool(b) => Value::Bool(b),
        }
    }
}

/// Reads text as a number when it is one: an optional sign, digits with an optional decimal
/// point (`12`, `-3.5`, `.5`, `5.`), an optional exponent, surrounding spaces allowed. Rust's
/// own float parser alone would also take "inf" and "NaN", which are not numbers to a data
/// manager.
pub(crate) fn parse_number(t: &str) -> Option<f64> {
    let t = t.trim();
    let b = t.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let mut digits = i - int_start;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        digits += i - frac_start;
    }
    if digits == 0 {
        return None;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let exp_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    t.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// Whether text is a whole number as written: an optional sign and digits only.
pub(crate) fn is_integer_text(t: &str) -> bool {
    let t = t.trim();
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Significant digits kept when a number is shown or stored. Binary floating point makes
/// `0.1 + 0.2` come out as 0.30000000000000004; rounding to 14 significant digits removes that
/// noise while keeping far more precision than any clinical measurement has.
const SIGNIFICANT_DIGITS: usize = 14;

/// `n` rounded to [`SIGNIFICANT_DIGITS`].
pub(crate) fn significant(n: f64) -> f64 {
    if !n.is_finite() || n == 0.0 {
        return n;
    }
    // Rounding up can carry the largest finite numbers past the end of the range.
    let rounded: f64 = format!("{n:.prec$e}", prec = SIGNIFICANT_DIGITS - 1).parse().unwrap_or(n);
    if rounded.is_finite() { rounded } else { n }
}

/// A number as a calculated field stores it: whole numbers without a decimal point, others
/// with only the digits they need, never an exponent, never "-0"; "" for a non-finite number.
pub fn format_number(n: f64) -> String {
    if !n.is_finite() {
        return String::new();
    }
    let n = significant(n);
    if n == 0.0 {
        return "0".to_owned();
    }
    format!("{n}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_recognised_as_redcap_does() {
        for (text, n) in [
            ("12", 12.0),
            (" 12 ", 12.0),
            ("-3.5", -3.5),
            ("+4", 4.0),
            (".5", 0.5),
            ("5.", 5.0),
            ("007", 7.0),
            ("1e3", 1000.0),
            ("2.5E-1", 0.25),
        ] {
            assert_eq!(parse_number(text), Some(n), "{text}");
        }
        for text in ["", " ", "-", ".", "abc", "1,5", "1.2.3", "inf", "NaN", "infinity", "1e", "0x10", "1 2", "1e999"] {
            assert_eq!(parse_number(text), None, "{text}");
        }
    }

    #[test]
    fn integers_as_written() {
        assert!(is_integer_text("12"));
        assert!(is_integer_text("-12"));
        assert!(is_integer_text(" +0 "));
        assert!(!is_integer_text("1.0"));
        assert!(!is_integer_text("-"));
        assert!(!is_integer_text(""));
        assert!(!is_integer_text("1e3"));
    }

    #[test]
    fn numbers_are_formatted_without_noise() {
        assert_eq!(format_number(3.0), "3");
        assert_eq!(format_number(-3.0), "-3");
        assert_eq!(format_number(-0.0), "0");
        assert_eq!(format_number(0.1 + 0.2), "0.3");
        assert_eq!(format_number(1.1 * 1.1), "1.21");
        assert_eq!(format_number(1.0 / 3.0), "0.33333333333333");
        assert_eq!(format_number(2.0 / 3.0), "0.66666666666667");
        assert_eq!(format_number(24.691358024691358), "24.691358024691");
        assert_eq!(format_number(1e20), "100000000000000000000");
        assert_eq!(format_number(0.000125), "0.000125");
        assert_eq!(format_number(f64::MAX).len(), 309);
        assert_eq!(format_number(f64::INFINITY), "");
        assert_eq!(format_number(f64::NAN), "");
    }

    #[test]
    fn truthiness() {
        assert!(Val::Bool(true).truthy());
        assert!(!Val::Bool(false).truthy());
        assert!(Val::Num(2.0).truthy());
        assert!(Val::Num(-0.5).truthy());
        assert!(!Val::Num(0.0).truthy());
        assert!(Val::Text("1".into()).truthy());
        assert!(!Val::Text("0".into()).truthy());
        assert!(!Val::Text("yes".into()).truthy());
        assert!(!Val::Blank.truthy());
    }

    #[test]
    fn blank_text_is_blank() {
        assert!(Val::text("".into()).is_blank());
        assert!(Val::text("  ".into()).is_blank());
        assert!(!Val::text("0".into()).is_blank());
        assert!(Val::num(f64::NAN).is_blank());
        assert_eq!(Value::Blank.to_string(), "");
        assert_eq!(Value::Bool(true).to_string(), "1");
        assert_eq!(Value::Number(2.5).to_string(), "2.5");
    }
}
