//! Evaluating a parsed expression against one record's answers. Evaluation never fails: what
//! cannot be computed (a blank operand, division by zero, text where a number is needed, a date
//! that is not a date) is blank, as in REDCap, where a calculation on an unanswered field stays
//! empty rather than showing an error on the form.

use super::dates::{self, DateOrder, Unit};
use super::syntax::{BinaryOp, Expr, FieldRef, Function};
use super::value::{Val, Value, format_number, is_integer_text, significant};
use chrono::NaiveDateTime;
use std::borrow::Cow;

/// Where an expression reads its answers and the current time.
pub trait Context {
    /// The stored value of a field, `None` (or "") when unanswered. For a checkbox reference
    /// (`r.code` is `Some`) the answer is "1" when that choice is ticked and "0" when not; `None`
    /// counts as "0", since a checkbox choice is never blank.
    fn value(&self, r: &FieldRef) -> Option<Cow<'_, str>>;

    /// The current date and time in the site's local time, for `'today'` and `'now'`. Asked for
    /// only when an expression uses them; the caller decides the time zone.
    fn now(&self) -> NaiveDateTime;
}

impl Expr {
    /// The value of the expression for one record.
    pub fn eval(&self, ctx: &dyn Context) -> Value {
        eval(self, ctx).into_value()
    }

    /// Branching logic: whether the field is shown. True for `true` and for non-zero numbers;
    /// blank is false, so logic that depends on an unanswered field hides what it governs.
    pub fn is_true(&self, ctx: &dyn Context) -> bool {
        eval(self, ctx).truthy()
    }

    /// A calculated field: the value to store, "" when the calculation is blank. Numbers are
    /// written in their shortest form (`3`, `24.7`, never `0.30000000000000004`).
    pub fn calc(&self, ctx: &dyn Context) -> String {
        match eval(self, ctx) {
            Val::Blank => String::new(),
            Val::Num(n) => format_number(n),
            Val::Text(t) => t.into_owned(),
            Val::Bool(b) => (if b { "1" } else { "0" }).to_owned(),
        }
    }
}

fn eval<'a>(e: &'a Expr, ctx: &'a dyn Context) -> Val<'a> {
    match e {
        Expr::Number(n) => Val::num(*n),
        Expr::Text(t) => Val::text(Cow::Borrowed(t)),
        Expr::Bool(b) => Val::Bool(*b),
        Expr::Field(r) => field(r, ctx),
        Expr::Neg(x) => eval(x, ctx).number().map_or(Val::Blank, |n| Val::num(-n)),
        Expr::Not(x) => Val::Bool(!eval(x, ctx).truthy()),
        Expr::Binary(op, a, b) => binary(*op, a, b, ctx),
        Expr::Call(function, args) => call(*function, args, ctx),
    }
}

fn field<'a>(r: &FieldRef, ctx: &'a dyn Context) -> Val<'a> {
    let raw = ctx.value(r);
    if r.code.is_some() {
        return match raw {
            Some(v) if !v.trim().is_empty() => Val::Text(v),
            _ => Val::Text(Cow::Borrowed("0")),
        };
    }
    raw.map_or(Val::Blank, Val::text)
}

fn binary<'a>(op: BinaryOp, a: &'a Expr, b: &'a Expr, ctx: &'a dyn Context) -> Val<'a> {
    // `and` and `or` look at their right side only when they must.
    match op {
        BinaryOp::And => return Val::Bool(eval(a, ctx).truthy() && eval(b, ctx).truthy()),
        BinaryOp::Or => return Val::Bool(eval(a, ctx).truthy() || eval(b, ctx).truthy()),
        _ => {}
    }
    let (x, y) = (eval(a, ctx), eval(b, ctx));
    match op {
        BinaryOp::Eq => Val::Bool(equal(&x, &y)),
        BinaryOp::Ne => Val::Bool(!equal(&x, &y)),
        BinaryOp::Lt => Val::Bool(less(&x, &y)),
        BinaryOp::Gt => Val::Bool(less(&y, &x)),
        BinaryOp::Le => Val::Bool(less(&x, &y) || equal(&x, &y)),
        BinaryOp::Ge => Val::Bool(less(&y, &x) || equal(&x, &y)),
        _ => arithmetic(op, &x, &y),
    }
}

/// Numbers that differ only by floating-point noise are equal, so `[a] + [b] = 0.3` holds when
/// the answers are 0.1 and 0.2, as a data manager would expect.
fn same_number(x: f64, y: f64) -> bool {
    x == y || (x - y).abs() <= 1e-13 * x.abs().max(y.abs())
}

/// Equality: as numbers when both sides are numbers, else as text (trimmed, case-sensitive).
/// Blank equals only blank, so `[x] = ""` asks whether `x` is unanswered, and `[x] = 0` is false
/// for an unanswered `x`.
fn equal(x: &Val<'_>, y: &Val<'_>) -> bool {
    match (x.number(), y.number()) {
        (Some(a), Some(b)) => same_number(a, b),
        _ => x.as_text().trim() == y.as_text().trim(),
    }
}

/// Ordering: as numbers when both sides are numbers, else as text. A blank side is neither less
/// nor greater than anything, so `[age] < 18` does not hold before the age is entered, and
/// logic does not show the paediatric questions for a participant whose age is unknown.
fn less(x: &Val<'_>, y: &Val<'_>) -> bool {
    if x.is_blank() || y.is_blank() {
        return false;
    }
    match (x.number(), y.number()) {
        (Some(a), Some(b)) => a < b && !same_number(a, b),
        _ => x.as_text().trim() < y.as_text().trim(),
    }
}

/// Arithmetic on numbers; a blank or non-numeric operand, division by zero or a result out of
/// range gives blank.
fn arithmetic<'a>(op: BinaryOp, x: &Val<'_>, y: &Val<'_>) -> Val<'a> {
    let (Some(a), Some(b)) = (x.number(), y.number()) else { return Val::Blank };
    Val::num(match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div if b == 0.0 => return Val::Blank,
        BinaryOp::Div => a / b,
        BinaryOp::Pow => a.powf(b),
        _ => return Val::Blank,
    })
}

/// The `i`th argument's value; blank when missing (a hand-built tree may have too few).
fn arg<'a>(args: &'a [Expr], i: usize, ctx: &'a dyn Context) -> Val<'a> {
    args.get(i).map_or(Val::Blank, |e| eval(e, ctx))
}

fn numbers<'a>(args: &'a [Expr], ctx: &'a dyn Context) -> impl Iterator<Item = f64> + 'a {
    args.iter().filter_map(move |e| eval(e, ctx).number())
}

fn owned_text<'a>(text: String) -> Val<'a> {
    Val::text(Cow::Owned(text))
}

fn call<'a>(function: Function, args: &'a [Expr], ctx: &'a dyn Context) -> Val<'a> {
    let unary = |f: fn(f64) -> Option<f64>| arg(args, 0, ctx).number().and_then(f).map_or(Val::Blank, Val::num);
    let text = |i: usize| arg(args, i, ctx).as_text().into_owned();
    let count = |i: usize| arg(args, i, ctx).number().map(|n| n.trunc().clamp(0.0, 1e9) as usize);
    match function {
        Function::If => {
            if arg(args, 0, ctx).truthy() {
                arg(args, 1, ctx)
            } else {
                arg(args, 2, ctx)
            }
        }
        // The aggregates skip blanks and text; with no numbers at all they are blank.
        Function::Sum => numbers(args, ctx).reduce(|a, b| a + b).map_or(Val::Blank, Val::num),
        Function::Min => numbers(args, ctx).reduce(f64::min).map_or(Val::Blank, Val::num),
        Function::Max => numbers(args, ctx).reduce(f64::max).map_or(Val::Blank, Val::num),
        Function::Mean => {
            let (sum, n) = numbers(args, ctx).fold((0.0, 0u32), |(s, n), x| (s + x, n + 1));
            if n == 0 { Val::Blank } else { Val::num(sum / f64::from(n)) }
        }
        Function::Median => {
            let mut xs: Vec<f64> = numbers(args, ctx).collect();
            xs.sort_by(f64::total_cmp);
            let mid = xs.len() / 2;
            match xs.len() {
                0 => Val::Blank,
                n if n % 2 == 1 => Val::num(xs[mid]),
                _ => Val::num((xs[mid - 1] + xs[mid]) / 2.0),
            }
        }
        Function::Round => round(args, ctx, f64::round),
        Function::RoundUp => round(args, ctx, |x| if x >= 0.0 { x.ceil() } else { x.floor() }),
        Function::RoundDown => round(args, ctx, f64::trunc),
        Function::Abs => unary(|x| Some(x.abs())),
        Function::Sqrt => unary(|x| (x >= 0.0).then(|| x.sqrt())),
        Function::Mod => match (arg(args, 0, ctx).number(), arg(args, 1, ctx).number()) {
            (Some(a), Some(b)) if b != 0.0 => Val::num(a % b),
            _ => Val::Blank,
        },
        Function::DateDiff => datediff(args, ctx),
        Function::Contains => Val::Bool(text(0).to_lowercase().contains(&text(1).to_lowercase())),
        Function::NotContain => Val::Bool(!text(0).to_lowercase().contains(&text(1).to_lowercase())),
        Function::StartsWith => Val::Bool(text(0).to_lowercase().starts_with(&text(1).to_lowercase())),
        Function::EndsWith => Val::Bool(text(0).to_lowercase().ends_with(&text(1).to_lowercase())),
        Function::Length => Val::num(arg(args, 0, ctx).as_text().chars().count() as f64),
        Function::IsNumber => Val::Bool(match arg(args, 0, ctx) {
            Val::Num(_) => true,
            Val::Text(t) => super::value::parse_number(&t).is_some(),
            Val::Blank | Val::Bool(_) => false,
        }),
        Function::IsInteger => Val::Bool(match arg(args, 0, ctx) {
            Val::Num(n) => n.fract() == 0.0,
            Val::Text(t) => is_integer_text(&t),
            Val::Blank | Val::Bool(_) => false,
        }),
        // No missing-data codes are defined here, so only blank qualifies.
        Function::IsBlankOrMissingCode => Val::Bool(arg(args, 0, ctx).is_blank()),
        Function::Left => match count(1) {
            Some(n) => owned_text(text(0).chars().take(n).collect()),
            None => Val::Blank,
        },
        Function::Right => match count(1) {
            Some(n) => {
                let t = text(0);
                let skip = t.chars().count().saturating_sub(n);
                owned_text(t.chars().skip(skip).collect())
            }
            None => Val::Blank,
        },
        // `mid(text, start, count)` with `start` counted from 1.
        Function::Mid => match (count(1), count(2)) {
            (Some(start), Some(n)) => owned_text(text(0).chars().skip(start.saturating_sub(1)).take(n).collect()),
            _ => Val::Blank,
        },
        Function::Concat => owned_text((0..args.len()).map(text).collect()),
        Function::Upper => owned_text(text(0).to_uppercase()),
        Function::Lower => owned_text(text(0).to_lowercase()),
        Function::Trim => owned_text(text(0).trim().to_owned()),
    }
}

/// `round(x, places)`, `roundup`, `rounddown`: `places` defaults to 0 and may be negative (to
/// tens, hundreds). The scaled value is first cut to significant digits so that a number such
/// as 2.675, stored as 2.67499999…, rounds to 2.68 as written rather than as stored.
fn round<'a>(args: &'a [Expr], ctx: &'a dyn Context, mode: fn(f64) -> f64) -> Val<'a> {
    let Some(x) = arg(args, 0, ctx).number() else { return Val::Blank };
    let places = match arg(args, 1, ctx) {
        Val::Blank => 0,
        other => match other.number() {
            Some(p) => p.trunc().clamp(-15.0, 15.0) as i32,
            None => return Val::Blank,
        },
    };
    let scale = 10f64.powi(places.abs());
    let scaled = if places >= 0 { x * scale } else { x / scale };
    if !scaled.is_finite() {
        return Val::num(x);
    }
    let rounded = mode(significant(scaled));
    Val::num(if places >= 0 { rounded / scale } else { rounded * scale })
}

/// `datediff(d1, d2, units[, format][, signed])` and the newer `datediff(d1, d2, units,
/// signed)`: `d2 - d1` in the unit, as a positive number unless `signed` is true. Blank when a
/// date is blank or unreadable or the unit unknown.
fn datediff<'a>(args: &'a [Expr], ctx: &'a dyn Context) -> Val<'a> {
    let Some(unit) = Unit::from_name(&arg(args, 2, ctx).as_text()) else { return Val::Blank };
    let mut order = DateOrder::Ymd;
    let mut signed = false;
    if args.len() >= 4 {
        let fourth = arg(args, 3, ctx);
        let text = fourth.as_text();
        match (&fourth, DateOrder::from_name(&text)) {
            (_, Some(o)) => order = o,
            (Val::Blank, None) => {}
            // The four-argument form with the signed flag in fourth place.
            (_, None) if args.len() == 4 => signed = flag(&fourth),
            (_, None) => return Val::Blank,
        }
    }
    if args.len() >= 5 {
        signed = flag(&arg(args, 4, ctx));
    }
    let (first, second) = (arg(args, 0, ctx), arg(args, 1, ctx));
    if first.is_blank() || second.is_blank() {
        return Val::Blank;
    }
    let read = |v: &Val<'_>| dates::parse_date(&v.as_text(), order, || ctx.now());
    let (Some(from), Some(to)) = (read(&first), read(&second)) else { return Val::Blank };
    let difference = dates::difference(from, to, unit);
    Val::num(if signed { difference } else { difference.abs() })
}

/// `true`, "true", or a non-zero number.
fn flag(v: &Val<'_>) -> bool {
    match v {
        Val::Text(t) if t.trim().eq_ignore_ascii_case("true") => true,
        other => other.truthy(),
    }
}
