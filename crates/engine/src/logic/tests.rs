//! Evaluation as a data manager writes it: every operator and function, blanks, checkboxes,
//! events, dates, and the REDCap idioms found in real data dictionaries.

use super::*;
use chrono::{NaiveDate, NaiveDateTime};

fn now() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2024, 6, 15).unwrap().and_hms_opt(9, 30, 0).unwrap()
}

fn ctx() -> MapContext {
    MapContext::new(now())
}

fn calc_in(ctx: &MapContext, src: &str) -> String {
    parse(src).unwrap_or_else(|e| panic!("{src}: {e}")).calc(ctx)
}

fn calc(src: &str) -> String {
    calc_in(&ctx(), src)
}

fn holds_in(ctx: &MapContext, src: &str) -> bool {
    parse(src).unwrap_or_else(|e| panic!("{src}: {e}")).is_true(ctx)
}

fn holds(src: &str) -> bool {
    holds_in(&ctx(), src)
}

#[test]
fn arithmetic() {
    assert_eq!(calc("1 + 2"), "3");
    assert_eq!(calc("5 - 7"), "-2");
    assert_eq!(calc("6 * 7"), "42");
    assert_eq!(calc("7 / 2"), "3.5");
    assert_eq!(calc("2 ^ 10"), "1024");
    assert_eq!(calc("2 ^ 0.5"), "1.4142135623731");
    assert_eq!(calc("-3"), "-3");
    assert_eq!(calc("--3"), "3");
    assert_eq!(calc("0.1 + 0.2"), "0.3");
    assert_eq!(calc("1 / 3"), "0.33333333333333");
    assert_eq!(calc("10 / 4 * 2"), "5");
}

#[test]
fn precedence_in_evaluation() {
    assert_eq!(calc("1 + 2 * 3"), "7");
    assert_eq!(calc("(1 + 2) * 3"), "9");
    assert_eq!(calc("2 * 3 ^ 2"), "18");
    assert_eq!(calc("2 ^ 3 ^ 2"), "512");
    assert_eq!(calc("-2 ^ 2"), "4");
    assert_eq!(calc("-(2 ^ 2)"), "-4");
    assert_eq!(calc("2 ^ -1"), "0.5");
    assert_eq!(calc("10 - 4 - 3"), "3");
    assert_eq!(calc("64 / 4 / 2"), "8");
    assert!(holds("1 + 1 = 2"));
    assert!(holds("1 = 1 and 2 = 2 or 1 = 2"));
    assert!(holds("1 = 2 and 2 = 2 or 1 = 1"));
    assert!(!holds("1 = 2 and (2 = 2 or 1 = 1)"));
    assert!(holds("not 1 = 2"));
    assert!(!holds("not 1 = 1 or 1 = 2"));
    assert!(holds("not 1 = 2 and 2 = 2"));
}

#[test]
fn division_by_zero_and_overflow_are_blank() {
    assert_eq!(calc("1 / 0"), "");
    assert_eq!(calc("0 / 0"), "");
    assert_eq!(calc("10 ^ 400"), "");
    assert_eq!(calc("(-8) ^ (1 / 3)"), "");
    assert_eq!(calc("0 ^ -1"), "");
    assert_eq!(calc("mod(5, 0)"), "");
    assert!(!holds("1 / 0"));
    assert!(!holds("1 / 0 > 5"));
}

#[test]
fn comparisons_of_numbers_and_text() {
    for (src, expected) in [
        ("2 = 2", true),
        ("2 = 2.0", true),
        ("'2' = 2", true),
        ("'007' = 7", true),
        ("' 7 ' = '7'", true),
        ("2 <> 3", true),
        ("2 != 2", false),
        ("2 < 10", true),
        ("'2' < '10'", true),
        ("'b' > 'a'", true),
        ("'abc' = 'abc'", true),
        ("'abc' = 'ABC'", false),
        ("'abc' < 'abd'", true),
        ("3 <= 3", true),
        ("3 >= 4", false),
        ("4 >= 3", true),
        ("3 <= 2", false),
        ("'10' > '9'", true),
        ("'10a' > '9a'", false),
        ("true = 1", true),
        ("false = 0", true),
        ("true", true),
        ("false", false),
        ("0.1 + 0.2 = 0.3", true),
        ("0.1 + 0.2 <= 0.3", true),
        ("0.1 + 0.2 > 0.3", false),
    ] {
        assert_eq!(holds(src), expected, "{src}");
    }
}

#[test]
fn blanks() {
    let c = ctx().with("age", "").with("name", "Ann").with("zero", "0");
    // Blank tests, both quote styles.
    assert!(holds_in(&c, "[age] = ''"));
    assert!(holds_in(&c, "[age] = \"\""));
    assert!(!holds_in(&c, "[age] <> ''"));
    assert!(holds_in(&c, "[name] <> ''"));
    assert!(holds_in(&c, "[never_set] = ''"));
    assert!(holds_in(&c, "[zero] <> ''"));
    // A blank is not zero and is not ordered.
    assert!(!holds_in(&c, "[age] = 0"));
    assert!(holds_in(&c, "[zero] = 0"));
    assert!(!holds_in(&c, "[age] < 18"));
    assert!(!holds_in(&c, "[age] > 18"));
    assert!(!holds_in(&c, "[age] <= 18"));
    assert!(!holds_in(&c, "[age] >= 18"));
    assert!(holds_in(&c, "[age] <= ''"));
    // Arithmetic with a blank is blank; a blank condition is false.
    assert_eq!(calc_in(&c, "[age] + 1"), "");
    assert_eq!(calc_in(&c, "[age] * 0"), "");
    assert_eq!(calc_in(&c, "-[age]"), "");
    assert_eq!(calc_in(&c, "[name] + 1"), "");
    assert_eq!(calc_in(&c, "[age]"), "");
    assert!(!holds_in(&c, "[age]"));
    assert!(holds_in(&c, "not [age]"));
    assert_eq!(calc_in(&c, "''"), "");
}

#[test]
fn logical_operators_and_truthiness() {
    let c = ctx().with("one", "1").with("zero", "0").with("text", "yes");
    for (src, expected) in [
        ("[one] and [one]", true),
        ("[one] and [zero]", false),
        ("[zero] or [one]", true),
        ("[zero] or [zero]", false),
        ("[one] && [zero]", false),
        ("[one] || [zero]", true),
        ("not [one]", false),
        ("not [zero]", true),
        ("not not [one]", true),
        ("[text]", false),
        ("2.5", true),
        ("-1", true),
        ("0", false),
        ("'1'", true),
        ("'0'", false),
        ("[one] AND NOT [zero]", true),
    ] {
        assert_eq!(holds_in(&c, src), expected, "{src}");
    }
    // Short-circuit: the right side is not needed, and a blank one is harmless.
    assert!(holds_in(&c, "[one] = 1 or 1 / 0"));
    assert_eq!(calc_in(&c, "[one] = 1"), "1");
    assert_eq!(calc_in(&c, "[one] = 2"), "0");
}

#[test]
fn checkboxes() {
    let c = ctx().with_ticked("meds", "3").with_ticked("race", "2");
    assert!(holds_in(&c, "[meds(3)] = '1'"));
    assert!(holds_in(&c, "[meds(3)] = 1"));
    assert!(holds_in(&c, "[meds(4)] = '0'"));
    assert!(!holds_in(&c, "[meds(4)] = '1'"));
    assert!(holds_in(&c, "[meds(3)] = '1' or [meds(99)] = \"1\""));
    assert!(!holds_in(&c, "[meds(98)] = '1' or [meds(99)] = \"1\""));
    // An unanswered checkbox is unticked, not blank.
    assert!(holds_in(&c, "[allergies(1)] = '0'"));
    assert!(!holds_in(&c, "[allergies(1)] = ''"));
    assert_eq!(calc_in(&c, "[meds(3)] + [meds(4)] + [race(2)]"), "2");
    assert_eq!(calc_in(&c, "sum([meds(1)], [meds(2)], [meds(3)])"), "1");
}

#[test]
fn events_and_instances() {
    let mut c = MapContext::new(now()).at_event("week_4_arm_1");
    c.set("weight", "72");
    c.put(&FieldRef::new("weight").in_event("baseline_arm_1"), "80");
    c.put(&FieldRef::new("meds").in_event("baseline_arm_1").choice("2"), "1");
    c.put(&FieldRef::new("ae_grade").instance(2), "3");
    c.set("ae_grade", "1");
    assert_eq!(calc_in(&c, "[weight]"), "72");
    assert_eq!(calc_in(&c, "[week_4_arm_1][weight]"), "72");
    assert_eq!(calc_in(&c, "[baseline_arm_1][weight]"), "80");
    assert_eq!(calc_in(&c, "[baseline_arm_1][weight] - [weight]"), "8");
    assert!(holds_in(&c, "[baseline_arm_1][meds(2)] = '1'"));
    assert!(holds_in(&c, "[meds(2)] = '0'"));
    assert_eq!(calc_in(&c, "[screening_arm_1][weight]"), "");
    assert_eq!(calc_in(&c, "[ae_grade][2]"), "3");
    assert_eq!(calc_in(&c, "[ae_grade][1]"), "1");
    assert_eq!(calc_in(&c, "[ae_grade]"), "1");
    assert_eq!(calc_in(&c, "[ae_grade][3]"), "");
    // Unticking.
    c.put(&FieldRef::new("meds").in_event("baseline_arm_1").choice("2"), "0");
    assert!(holds_in(&c, "[baseline_arm_1][meds(2)] = '0'"));
}

#[test]
fn aggregates_ignore_blanks() {
    let c = ctx().with("a", "1").with("b", "").with("c", "4").with("d", "x");
    assert_eq!(calc_in(&c, "sum([a], [b], [c], [d])"), "5");
    assert_eq!(calc_in(&c, "mean([a], [b], [c], [d])"), "2.5");
    assert_eq!(calc_in(&c, "median([a], [b], [c], 10)"), "4");
    assert_eq!(calc_in(&c, "median([a], [c])"), "2.5");
    assert_eq!(calc_in(&c, "min([a], [b], [c])"), "1");
    assert_eq!(calc_in(&c, "max([a], [b], [c])"), "4");
    assert_eq!(calc_in(&c, "min(-2, [c])"), "-2");
    for f in ["sum", "mean", "median", "min", "max"] {
        assert_eq!(calc_in(&c, &format!("{f}([b], [d], [nothing])")), "", "{f}");
    }
    // `+` does not ignore blanks, sum() does.
    assert_eq!(calc_in(&c, "[a] + [b] + [c]"), "");
}

#[test]
fn rounding() {
    for (src, expected) in [
        ("round(2.5)", "3"),
        ("round(-2.5)", "-3"),
        ("round(2.4)", "2"),
        ("round(3.14159, 2)", "3.14"),
        ("round(2.675, 2)", "2.68"),
        ("round(1.005, 2)", "1.01"),
        ("round(1234.5, -2)", "1200"),
        ("round(1250, -2)", "1300"),
        ("round(7, 0)", "7"),
        ("round(7, '')", "7"),
        ("round('', 1)", ""),
        ("round(1, 'x')", ""),
        ("roundup(2.1)", "3"),
        ("roundup(-2.1)", "-3"),
        ("roundup(2.121, 2)", "2.13"),
        ("roundup(0.1 + 0.2, 1)", "0.3"),
        ("roundup(1201, -2)", "1300"),
        ("rounddown(2.9)", "2"),
        ("rounddown(-2.9)", "-2"),
        ("rounddown(2.129, 2)", "2.12"),
        ("rounddown(1299, -2)", "1200"),
    ] {
        assert_eq!(calc(src), expected, "{src}");
    }
}

#[test]
fn abs_sqrt_mod() {
    assert_eq!(calc("abs(-3.5)"), "3.5");
    assert_eq!(calc("abs(3)"), "3");
    assert_eq!(calc("sqrt(16)"), "4");
    assert_eq!(calc("sqrt(2)"), "1.4142135623731");
    assert_eq!(calc("sqrt(-1)"), "");
    assert_eq!(calc("sqrt('')"), "");
    assert_eq!(calc("mod(10, 3)"), "1");
    assert_eq!(calc("mod(-10, 3)"), "-1");
    assert_eq!(calc("mod(7.5, 2)"), "1.5");
}

#[test]
fn if_function() {
    let c = ctx().with("bmi", "31.2").with("low", "22");
    assert_eq!(calc_in(&c, "if([bmi] > 30, 1, 0)"), "1");
    assert_eq!(calc_in(&c, "if([low] > 30, 1, 0)"), "0");
    assert_eq!(calc_in(&c, "if([missing] > 30, 1, 0)"), "0");
    assert_eq!(calc_in(&c, "if([bmi] = '', '', [bmi] * 2)"), "62.4");
    assert_eq!(calc_in(&c, "if([missing] = '', '', [missing] * 2)"), "");
    assert_eq!(calc_in(&c, "if([bmi] > 30, 'obese', 'not obese')"), "obese");
    // Only the chosen branch is evaluated.
    assert_eq!(calc_in(&c, "if(1, 2, 1 / 0)"), "2");
}

#[test]
fn text_functions() {
    let c = ctx().with("name", "Dr. Jane Smith").with("code", "AB-1234");
    for (src, expected) in [
        ("contains([name], 'jane')", true),
        ("contains([name], 'JANE')", true),
        ("contains([name], 'john')", false),
        ("not_contain([name], 'john')", true),
        ("not_contain([name], 'smith')", false),
        ("starts_with([name], 'dr.')", true),
        ("starts_with([name], 'jane')", false),
        ("ends_with([name], 'SMITH')", true),
        ("ends_with([name], 'dr')", false),
        ("contains([missing], 'x')", false),
        ("isnumber('12.5')", true),
        ("isnumber(12.5)", true),
        ("isnumber('12a')", false),
        ("isnumber([missing])", false),
        ("isinteger('12')", true),
        ("isinteger('-12')", true),
        ("isinteger('12.5')", false),
        ("isinteger(3 * 4)", true),
        ("isinteger(7 / 2)", false),
        ("isinteger([missing])", false),
        ("isblankormissingcode([missing])", true),
        ("isblankormissingcode([name])", false),
    ] {
        assert_eq!(holds_in(&c, src), expected, "{src}");
    }
    for (src, expected) in [
        ("length([name])", "14"),
        ("length('日本語')", "3"),
        ("length([missing])", "0"),
        ("left([code], 2)", "AB"),
        ("right([code], 4)", "1234"),
        ("right([code], 40)", "AB-1234"),
        ("left([code], -1)", ""),
        ("mid([code], 4, 2)", "12"),
        ("mid([code], 0, 2)", "AB"),
        ("mid([code], 99, 2)", ""),
        ("concat([code], '/', 7, '/', [missing])", "AB-1234/7/"),
        ("upper('abc')", "ABC"),
        ("lower([code])", "ab-1234"),
        ("trim('  a b  ')", "a b"),
        ("left(12345, 2) * 2", "24"),
    ] {
        assert_eq!(calc_in(&c, src), expected, "{src}");
    }
}

#[test]
fn datediff_units_and_directions() {
    let c = ctx()
        .with("start", "2024-01-01")
        .with("end", "2024-01-31")
        .with("t1", "2024-01-31 14:05")
        .with("t2", "2024-02-01 08:35:30")
        .with("soon", "next week");
    for (src, expected) in [
        ("datediff([start], [end], 'd')", "30"),
        ("datediff([end], [start], 'd')", "30"),
        ("datediff([start], [end], 'd', true)", "30"),
        ("datediff([end], [start], 'd', true)", "-30"),
        ("datediff([end], [start], 'd', 'true')", "-30"),
        ("datediff([end], [start], 'd', false)", "30"),
        ("datediff([end], [start], 'd', 'ymd', true)", "-30"),
        ("datediff([start], [end], 'h')", "720"),
        ("datediff([start], [end], 'm')", "43200"),
        ("datediff([start], [end], 's')", "2592000"),
        ("datediff([start], [end], 'M')", "0.98554533508541"),
        ("datediff('2000-01-01', '2010-01-01', 'y')", "10.001574296529"),
        ("datediff([t1], [t2], 'h')", "18.508333333333"),
        ("datediff([t1], [t2], 'm')", "1110.5"),
        ("datediff([t1], [t2], 's')", "66630"),
        ("datediff([start], [t1], 'h')", "734.08333333333"),
        // Dates typed in other orders.
        ("datediff('01-31-2024', '02-29-2024', 'd', 'mdy')", "29"),
        ("datediff('31-01-2024', '29-02-2024', 'd', 'dmy')", "29"),
        ("datediff('31/01/2024', [end], 'd', 'dmy', true)", "0"),
        // Today and now.
        ("datediff('2024-06-14', 'today', 'd')", "1"),
        ("datediff('today', '2024-06-14', 'd', true)", "-1"),
        ("datediff('2024-06-15', 'now', 'h')", "9.5"),
        ("datediff('today', 'now', 'm')", "570"),
        // Blank or unreadable dates, unknown units.
        ("datediff([missing], [end], 'd')", ""),
        ("datediff([start], [soon], 'd')", ""),
        ("datediff([start], [end], [missing])", ""),
        ("datediff([start], [end], 'd', [soon], true)", ""),
    ] {
        assert_eq!(calc_in(&c, src), expected, "{src}");
    }
}

#[test]
fn redcap_idioms() {
    let adult = ctx().with("age", "34").with("sex", "1");
    let minor = ctx().with("age", "17").with("sex", "1");
    assert!(holds_in(&adult, "[age] >= 18 and [sex] = '1'"));
    assert!(!holds_in(&minor, "[age] >= 18 and [sex] = '1'"));
    assert!(!holds_in(&ctx().with("sex", "1"), "[age] >= 18 and [sex] = '1'"));

    let patient = ctx().with("weight", "70").with("height", "175");
    assert_eq!(calc_in(&patient, "round(([weight]/([height]/100)^2), 1)"), "22.9");
    assert_eq!(calc_in(&patient, "[weight]/([height]/100)^2"), "22.857142857143");
    assert_eq!(calc_in(&ctx().with("weight", "70"), "round(([weight]/([height]/100)^2), 1)"), "");
    assert_eq!(calc_in(&ctx().with("bmi", "31"), "if([bmi] > 30, 1, 0)"), "1");

    let born = ctx().with("dob", "1990-06-16");
    assert_eq!(calc_in(&born, "rounddown(datediff([dob], 'today', 'y'))"), "33");
    assert_eq!(calc_in(&ctx().with("dob", "1990-06-15"), "rounddown(datediff([dob], 'today', 'y'))"), "34");
    assert_eq!(calc_in(&born, "datediff([dob], 'today', 'y')"), "33.999329212783");
    assert_eq!(calc_in(&born, "round(datediff([dob], \"today\", \"y\", \"ymd\"), 1)"), "34");

    let meds = ctx().with_ticked("meds", "99");
    assert!(holds_in(&meds, "[meds(3)] = '1' or [meds(99)] = \"1\""));

    // Eligibility with an event-qualified screening answer.
    let mut visit = MapContext::new(now()).at_event("week_1_arm_1");
    visit.put(&FieldRef::new("eligible").in_event("screening_arm_1"), "1");
    assert!(holds_in(&visit, "[screening_arm_1][eligible] = '1'"));
}

#[test]
fn value_and_calc_agree() {
    let c = ctx().with("a", "2").with("t", "hello");
    for (src, value) in [
        ("[a] * 2", Value::Number(4.0)),
        ("[t]", Value::Text("hello".into())),
        ("[a] = 2", Value::Bool(true)),
        ("[missing]", Value::Blank),
        ("''", Value::Blank),
    ] {
        let expr = parse(src).unwrap();
        let got = expr.eval(&c);
        assert_eq!(got, value, "{src}");
        assert_eq!(expr.calc(&c), got.to_string(), "{src}");
        assert_eq!(expr.is_true(&c), got.is_true(), "{src}");
    }
    assert_eq!(Value::Text("3".into()).as_number(), Some(3.0));
    assert_eq!(Value::Bool(true).as_number(), Some(1.0));
    assert_eq!(Value::Blank.as_number(), None);
    assert!(Value::Blank.is_blank());
}

#[test]
fn references_are_listed_once_in_order() {
    let e = parse("[b] + [a] * [b] + [ev][a] + sum([c(1)], [c(2)], [a][2]) + if([d], [c(1)], 0)").unwrap();
    assert_eq!(
        e.references(),
        vec![
            FieldRef::new("b"),
            FieldRef::new("a"),
            FieldRef::new("a").in_event("ev"),
            FieldRef::new("c").choice("1"),
            FieldRef::new("c").choice("2"),
            FieldRef::new("a").instance(2),
            FieldRef::new("d"),
        ]
    );
    assert!(parse("1 + 2").unwrap().references().is_empty());
}

#[test]
fn canonical_printing() {
    for (src, printed) in [
        ("[a]=1 AND [b]<>2 || not [c]", "[a] = 1 and [b] <> 2 or not [c]"),
        ("[a]==1 && ([b] != 2 OR [c])", "[a] = 1 and ([b] <> 2 or [c])"),
        ("ROUND(([weight]/([height]/100)^2),1)", "round([weight] / ([height] / 100) ^ 2, 1)"),
        ("-2^2", "-2 ^ 2"),
        ("-(2^2)", "-(2 ^ 2)"),
        ("(2^3)^2", "(2 ^ 3) ^ 2"),
        ("2^3^2", "2 ^ 3 ^ 2"),
        ("1-(2-3)", "1 - (2 - 3)"),
        ("(1-2)-3", "1 - 2 - 3"),
        ("(1 = 2) = (3 = 4)", "(1 = 2) = (3 = 4)"),
        ("(not [a]) = 1", "(not [a]) = 1"),
        ("-(not [a])", "-(not [a])"),
        ("not ([a] or [b])", "not ([a] or [b])"),
        ("[ev][meds(3)][2]", "[ev][meds(3)][2]"),
        ("\"it's\"", "\"it's\""),
        ("'say \"hi\"'", "'say \"hi\"'"),
        ("'it''s \"x\"'", "'it''s \"x\"'"),
        ("\"\"", "''"),
        ("TRUE", "true"),
        ("1.50", "1.5"),
        (".5", "0.5"),
        ("+3", "3"),
        ("datediff([dob],'today','y')", "datediff([dob], 'today', 'y')"),
    ] {
        let e = parse(src).unwrap();
        assert_eq!(e.to_string(), printed, "{src}");
        assert_eq!(parse(printed).unwrap(), e, "{printed}");
    }
    // Hand-built trees the parser would not produce still print as something equivalent.
    assert_eq!(Expr::Number(-3.0).to_string(), "-3");
    assert_eq!(Expr::Number(f64::INFINITY).to_string(), "''");
    let pow = Expr::Binary(BinaryOp::Pow, Box::new(Expr::Number(-3.0)), Box::new(Expr::Number(2.0)));
    assert_eq!(pow.to_string(), "-3 ^ 2");
    assert_eq!(parse(&pow.to_string()).unwrap().calc(&ctx()), pow.calc(&ctx()));
}

#[test]
fn hand_built_trees_with_missing_arguments_do_not_panic() {
    let c = ctx();
    for function in Function::ALL {
        for n in 0..3 {
            let e = Expr::Call(function, vec![Expr::Number(1.0); n]);
            let _ = e.calc(&c);
        }
    }
}

#[test]
fn deepest_logic_evaluates_on_half_a_worker_stack() {
    // The deepest trees the parser allows, parsed, evaluated, printed, cloned and dropped on a
    // thread with half of tokio's default worker stack, in an unoptimised build (an optimised
    // one needs about a quarter of this).
    let shapes = vec![
        vec!["[a]"; 256].join(" + "),
        format!("{}[a]{}", "if([a], ".repeat(63), ", 0)".repeat(63)),
        format!("{}[a]{}", "(".repeat(63), ")".repeat(63)),
        format!("{}[a]", "-".repeat(63)),
        vec!["[a]"; 64].join(" ^ "),
        // Nesting and a long chain together.
        format!("{}{}{}", "abs(".repeat(60), vec!["[a]"; 190].join(" + "), ")".repeat(60)),
    ];
    let handle = std::thread::Builder::new()
        .stack_size(1024 * 1024)
        .spawn(move || {
            let c = ctx().with("a", "1");
            let mut out = Vec::new();
            for src in shapes {
                let e = parse(&src).unwrap_or_else(|err| panic!("{err}"));
                let again = parse(&e.to_string()).unwrap();
                assert_eq!(again, e.clone());
                out.push(e.calc(&c));
            }
            out
        })
        .unwrap();
    assert_eq!(handle.join().unwrap(), vec!["256", "1", "1", "-1", "1", "190"]);
}

#[test]
fn exprs_are_shareable() {
    fn assert_traits<T: Clone + Send + Sync + std::fmt::Debug + 'static>() {}
    assert_traits::<Expr>();
    assert_traits::<Value>();
    assert_traits::<ParseError>();
    assert_traits::<MapContext>();
}

#[test]
fn evaluation_is_fast() {
    // Not a benchmark: a guard against a design that allocates or re-parses per evaluation.
    // Generous enough for an unoptimised build on a busy machine.
    let c = ctx().with("age", "34").with("sex", "1").with("weight", "70").with("height", "175");
    let branch = parse("[age] >= 18 and [sex] = '1'").unwrap();
    let bmi = parse("round(([weight]/([height]/100)^2), 1)").unwrap();
    let start = std::time::Instant::now();
    let mut shown = 0;
    for _ in 0..10_000 {
        if branch.is_true(&c) {
            shown += 1;
        }
        let _ = bmi.eval(&c);
    }
    assert_eq!(shown, 10_000);
    assert!(start.elapsed() < std::time::Duration::from_secs(2), "{:?}", start.elapsed());
}
