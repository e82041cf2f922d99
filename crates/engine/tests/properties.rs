//! Properties of the logic language over generated input: parsing never panics, the printed
//! form reads back as the same tree, evaluation never panics and agrees with itself, and the
//! comparisons and connectives obey the laws a data manager relies on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{NaiveDate, NaiveDateTime};
use clinbridge_engine::logic::{BinaryOp, Expr, FieldRef, Function, MapContext, Value, format_number, parse};
use proptest::prelude::*;
use proptest::sample::select;

const FIELDS: &[&str] = &["a", "b", "age", "dob", "meds", "visit_date", "x1"];
const EVENTS: &[&str] = &["baseline_arm_1", "week_4_arm_1"];
const CODES: &[&str] = &["1", "2", "99", "-1", "a_b"];
/// Answers worth trying: numbers in several spellings, text, dates, date-times, blanks.
const ANSWERS: &[&str] = &[
    "",
    " ",
    "0",
    "1",
    "-1",
    "2.5",
    "007",
    " 7 ",
    "1e3",
    "1e308",
    "-0",
    ".5",
    "abc",
    "ABC",
    "true",
    "NaN",
    "inf",
    "2024-01-31",
    "2024-02-29 14:05",
    "1990-06-15 08:00:30",
    "31-12-2023",
    "12/31/2023",
    "today",
    "now",
    "ymd",
    "y",
    "M",
];
const DATES: &[&str] = &["2024-01-31", "1990-06-15", "2024-02-29 14:05", "2000-01-01 00:00:01", "today", "now", ""];
const UNITS: &[&str] = &["y", "M", "d", "h", "m", "s"];
const ORDERS: &[&str] = &["ymd", "mdy", "dmy"];
const OPS: &[BinaryOp] = &[
    BinaryOp::Or,
    BinaryOp::And,
    BinaryOp::Eq,
    BinaryOp::Ne,
    BinaryOp::Lt,
    BinaryOp::Le,
    BinaryOp::Gt,
    BinaryOp::Ge,
    BinaryOp::Add,
    BinaryOp::Sub,
    BinaryOp::Mul,
    BinaryOp::Div,
    BinaryOp::Pow,
];

fn field_ref() -> impl Strategy<Value = FieldRef> {
    (
        select(FIELDS),
        proptest::option::of(select(EVENTS)),
        proptest::option::of(select(CODES)),
        proptest::option::of(1u32..4),
    )
        .prop_map(|(field, event, code, instance)| FieldRef {
            event: event.map(str::to_owned),
            field: field.to_owned(),
            code: code.map(str::to_owned),
            instance,
        })
}

/// Numbers as the parser produces them: finite and not negative.
fn number() -> impl Strategy<Value = f64> {
    prop_oneof![
        (0u32..100).prop_map(f64::from),
        0.0f64..1e6,
        Just(0.1),
        Just(1e-7),
        Just(1e22),
        Just(123_456_789_012_345_680_000_000_000_000.0),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![select(ANSWERS).prop_map(str::to_owned), "[a-zA-Z0-9 ._'\"-]{0,8}", ".{0,6}"]
}

fn leaf() -> impl Strategy<Value = Expr> {
    prop_oneof![
        number().prop_map(Expr::Number),
        text().prop_map(Expr::Text),
        any::<bool>().prop_map(Expr::Bool),
        field_ref().prop_map(Expr::Field),
    ]
}

/// `datediff` with arguments the parser accepts: literal dates that are dates, known units and
/// formats.
fn datediff() -> impl Strategy<Value = Expr> {
    let date = prop_oneof![field_ref().prop_map(Expr::Field), select(DATES).prop_map(|d| Expr::Text(d.to_owned()))];
    let tail = prop_oneof![
        Just(vec![]),
        any::<bool>().prop_map(|b| vec![Expr::Bool(b)]),
        select(ORDERS).prop_map(|o| vec![Expr::Text(o.to_owned())]),
        (select(ORDERS), any::<bool>()).prop_map(|(o, b)| vec![Expr::Text(o.to_owned()), Expr::Bool(b)]),
        field_ref().prop_map(|r| vec![Expr::Field(r)]),
    ];
    (date.clone(), date, select(UNITS), tail).prop_map(|(d1, d2, unit, tail)| {
        let mut args = vec![d1, d2, Expr::Text(unit.to_owned())];
        args.extend(tail);
        Expr::Call(Function::DateDiff, args)
    })
}

/// Well-formed trees: any operator, any function with an accepted number of arguments.
fn expr() -> impl Strategy<Value = Expr> {
    leaf().prop_recursive(6, 64, 4, |inner| {
        let functions: Vec<Function> = Function::ALL.into_iter().filter(|f| *f != Function::DateDiff).collect();
        prop_oneof![
            1 => inner.clone().prop_map(|e| Expr::Neg(Box::new(e))),
            1 => inner.clone().prop_map(|e| Expr::Not(Box::new(e))),
            5 => (select(OPS), inner.clone(), inner.clone()).prop_map(|(op, a, b)| Expr::Binary(op, Box::new(a), Box::new(b))),
            2 => (select(functions), proptest::collection::vec(inner, 1..=5)).prop_map(|(f, mut args)| {
                let (min, max) = f.arity();
                while args.len() < min {
                    args.push(args[0].clone());
                }
                args.truncate(max.unwrap_or(5));
                Expr::Call(f, args)
            }),
            1 => datediff(),
        ]
    })
}

fn moment() -> impl Strategy<Value = NaiveDateTime> {
    (1950i32..2050, 1u32..=12, 1u32..=28, 0u32..24, 0u32..60)
        .prop_map(|(y, m, d, h, min)| NaiveDate::from_ymd_opt(y, m, d).unwrap().and_hms_opt(h, min, 0).unwrap())
}

fn answer() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(ANSWERS).prop_map(str::to_owned),
        1 => ".{0,10}",
        1 => any::<f64>().prop_map(|f| f.to_string()),
        1 => any::<i64>().prop_map(|i| i.to_string()),
    ]
}

/// A record answering every field in every event and instance with something.
fn record() -> impl Strategy<Value = MapContext> {
    (moment(), proptest::collection::vec((field_ref(), answer()), 0..24)).prop_map(|(now, answers)| {
        let mut ctx = MapContext::new(now);
        for (r, value) in answers {
            ctx.put(&r, value);
        }
        ctx
    })
}

fn two(a: &str, b: &str) -> MapContext {
    MapContext::new(NaiveDateTime::default()).with("x", a).with("y", b)
}

fn holds(ctx: &MapContext, src: &str) -> bool {
    parse(src).unwrap().is_true(ctx)
}

/// Pieces of logic, valid and not, to build token soup from.
const PIECES: &[&str] = &[
    "[a]",
    "[b(1)]",
    "[ev][a]",
    "[a][2]",
    "[",
    "]",
    "(",
    ")",
    ",",
    " ",
    "'",
    "\"",
    "'x'",
    "\"y\"",
    "1",
    "2.5",
    ".",
    "-",
    "+",
    "*",
    "/",
    "^",
    "=",
    "==",
    "<>",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "and",
    "or",
    "not",
    "&&",
    "||",
    "true",
    "if(",
    "sum(",
    "round(",
    "datediff(",
    "'today'",
    "'y'",
    "contains(",
    "mid(",
    "é",
    "\n",
    "0",
    "99999999999999999999",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parsing_never_panics(src in any::<String>()) {
        let _ = parse(&src);
    }

    #[test]
    fn parsing_token_soup_never_panics(pieces in proptest::collection::vec(select(PIECES), 0..40)) {
        let src: String = pieces.concat();
        if let Ok(e) = parse(&src) {
            // Whatever parses prints as something that reads back as the same tree.
            prop_assert_eq!(parse(&e.to_string()).unwrap(), e);
        }
    }

    #[test]
    fn errors_point_inside_the_logic(src in ".{0,30}") {
        if let Err(e) = parse(&src) {
            prop_assert!(e.pos <= src.len());
            prop_assert!(src.is_char_boundary(e.pos));
            prop_assert!(e.line >= 1 && e.column >= 1);
            prop_assert!(!e.message.is_empty());
        }
    }

    #[test]
    fn evaluation_never_panics_and_agrees_with_itself(e in expr(), ctx in record()) {
        let value = e.eval(&ctx);
        prop_assert_eq!(e.calc(&ctx), value.to_string());
        prop_assert_eq!(e.is_true(&ctx), value.is_true());
        if let Value::Number(n) = value {
            prop_assert!(n.is_finite());
        }
        if let Value::Text(t) = &value {
            prop_assert!(!t.trim().is_empty());
        }
        // The printed form evaluates the same.
        prop_assert_eq!(parse(&e.to_string()).unwrap().calc(&ctx), e.calc(&ctx));
    }

    #[test]
    fn double_negation_is_truthiness(e in expr(), ctx in record()) {
        let twice = Expr::Not(Box::new(Expr::Not(Box::new(e.clone()))));
        prop_assert_eq!(twice.eval(&ctx), Value::Bool(e.is_true(&ctx)));
        let once = Expr::Not(Box::new(e.clone()));
        prop_assert_eq!(once.is_true(&ctx), !e.is_true(&ctx));
    }

    #[test]
    fn connectives_follow_boolean_laws(a in expr(), b in expr(), ctx in record()) {
        let (ta, tb) = (a.is_true(&ctx), b.is_true(&ctx));
        let and = Expr::Binary(BinaryOp::And, Box::new(a.clone()), Box::new(b.clone()));
        let or = Expr::Binary(BinaryOp::Or, Box::new(a.clone()), Box::new(b.clone()));
        prop_assert_eq!(and.is_true(&ctx), ta && tb);
        prop_assert_eq!(or.is_true(&ctx), ta || tb);
        let chosen = Expr::Call(Function::If, vec![a, b.clone(), Expr::Text("other".into())]);
        prop_assert_eq!(chosen.eval(&ctx), if ta { b.eval(&ctx) } else { Value::Text("other".into()) });
    }

    #[test]
    fn comparisons_are_symmetric_and_consistent(x in answer(), y in answer()) {
        let ctx = two(&x, &y);
        let eq = holds(&ctx, "[x] = [y]");
        prop_assert_eq!(eq, holds(&ctx, "[y] = [x]"));
        prop_assert_eq!(!eq, holds(&ctx, "[x] <> [y]"));
        prop_assert_eq!(holds(&ctx, "[x] != [y]"), holds(&ctx, "[y] <> [x]"));
        let lt = holds(&ctx, "[x] < [y]");
        let gt = holds(&ctx, "[x] > [y]");
        prop_assert_eq!(lt, holds(&ctx, "[y] > [x]"));
        prop_assert_eq!(gt, holds(&ctx, "[y] < [x]"));
        prop_assert!(!(lt && gt), "x < y and x > y");
        prop_assert!(!(lt && eq), "x < y and x = y");
        prop_assert_eq!(holds(&ctx, "[x] <= [y]"), lt || eq);
        prop_assert_eq!(holds(&ctx, "[x] >= [y]"), gt || eq);
        prop_assert!(holds(&ctx, "[x] = [x]"));
    }

    #[test]
    fn numbers_compare_as_numbers(a in -1e9f64..1e9, b in -1e9f64..1e9) {
        let ctx = two(&a.to_string(), &format!(" {b} "));
        prop_assert_eq!(holds(&ctx, "[x] < [y]"), a < b);
        prop_assert_eq!(holds(&ctx, "[x] = [y]"), a == b);
    }

    #[test]
    fn arithmetic_with_a_blank_is_blank(x in answer(), op in select(&OPS[8..])) {
        let ctx = MapContext::new(NaiveDateTime::default()).with("x", x);
        for src in [format!("[x] {} [blank]", op.symbol()), format!("[blank] {} [x]", op.symbol())] {
            prop_assert_eq!(parse(&src).unwrap().calc(&ctx), "");
        }
    }

    #[test]
    fn arithmetic_matches_floating_point(a in -1e6f64..1e6, b in -1e6f64..1e6) {
        let ctx = two(&a.to_string(), &b.to_string());
        for (src, expected) in [("[x] + [y]", a + b), ("[x] - [y]", a - b), ("[x] * [y]", a * b), ("[x] / [y]", a / b)] {
            let stored = parse(src).unwrap().calc(&ctx);
            if b == 0.0 && src.contains('/') {
                prop_assert_eq!(stored, "");
                continue;
            }
            let back = Value::Text(stored.clone()).as_number().unwrap();
            prop_assert!((back - expected).abs() <= 1e-12 * expected.abs().max(1.0), "{} = {} for {}", src, stored, expected);
        }
    }

    #[test]
    fn aggregates_skip_blanks(xs in proptest::collection::vec(prop_oneof![Just(None), (-1e6f64..1e6).prop_map(Some)], 1..8)) {
        let mut ctx = MapContext::new(NaiveDateTime::default());
        let mut names = Vec::new();
        for (i, x) in xs.iter().enumerate() {
            let name = format!("f{i}");
            ctx.set(&name, x.map(|x| x.to_string()).unwrap_or_default());
            names.push(format!("[{name}]"));
        }
        let numbers: Vec<f64> = xs.iter().flatten().copied().collect();
        let args = names.join(", ");
        let sum = parse(&format!("sum({args})")).unwrap().eval(&ctx);
        let min = parse(&format!("min({args})")).unwrap().eval(&ctx);
        let max = parse(&format!("max({args})")).unwrap().eval(&ctx);
        if numbers.is_empty() {
            prop_assert_eq!(sum, Value::Blank);
            prop_assert_eq!(min, Value::Blank);
        } else {
            let total: f64 = numbers.iter().sum();
            prop_assert!((sum.as_number().unwrap() - total).abs() <= 1e-6);
            prop_assert_eq!(min.as_number(), numbers.iter().copied().reduce(f64::min));
            prop_assert_eq!(max.as_number(), numbers.iter().copied().reduce(f64::max));
        }
    }

    #[test]
    fn datediff_is_antisymmetric(d1 in moment(), d2 in moment(), unit in select(UNITS)) {
        let ctx = two(&d1.format("%Y-%m-%d %H:%M").to_string(), &d2.format("%Y-%m-%d %H:%M").to_string());
        let forward = parse(&format!("datediff([x], [y], '{unit}', true)")).unwrap().eval(&ctx).as_number().unwrap();
        let backward = parse(&format!("datediff([y], [x], '{unit}', true)")).unwrap().eval(&ctx).as_number().unwrap();
        let unsigned = parse(&format!("datediff([x], [y], '{unit}')")).unwrap().eval(&ctx).as_number().unwrap();
        prop_assert_eq!(forward, -backward);
        prop_assert_eq!(unsigned, forward.abs());
        let minutes = (d2 - d1).num_minutes();
        if unit == "m" {
            prop_assert_eq!(forward, minutes as f64);
        }
        // The same dates written day-first read the same.
        let dmy = two(&d1.format("%d/%m/%Y %H:%M").to_string(), &d2.format("%d-%m-%Y %H:%M").to_string());
        let again = parse(&format!("datediff([x], [y], '{unit}', 'dmy', true)")).unwrap().eval(&dmy).as_number().unwrap();
        prop_assert_eq!(again, forward);
    }

    #[test]
    fn stored_numbers_read_back(n in any::<f64>()) {
        let stored = format_number(n);
        if !n.is_finite() {
            prop_assert_eq!(stored, "");
        } else {
            prop_assert!(!stored.contains(['e', 'E']), "{}", stored);
            let back = Value::Text(stored.clone()).as_number().unwrap();
            prop_assert!((back - n).abs() <= 1e-13 * n.abs(), "{} -> {}", n, stored);
        }
    }

    #[test]
    fn references_are_what_the_tree_reads(e in expr()) {
        let refs = e.references();
        let printed = e.to_string();
        for r in &refs {
            prop_assert!(printed.contains(&r.to_string()), "{} not in {}", r, printed);
        }
        let mut unique = refs.clone();
        unique.sort();
        unique.dedup();
        prop_assert_eq!(unique.len(), refs.len());
    }
}

proptest! {
    // The round trip is cheap and is what guards the printer's parenthesisation: more cases.
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn printed_form_reads_back_as_the_same_tree(e in expr()) {
        let printed = e.to_string();
        let again = parse(&printed).map_err(|err| TestCaseError::fail(format!("{printed:?}: {err}")))?;
        prop_assert_eq!(&again, &e, "printed as {:?}", printed);
        prop_assert_eq!(again.to_string(), printed);
    }
}
