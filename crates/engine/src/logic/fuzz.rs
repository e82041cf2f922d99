//! The body of the `parse_eval` fuzz target, kept in the crate so that a stable toolchain runs
//! it too (`tests/fuzz_stable.rs`); cargo-fuzz needs nightly.

use super::context::MapContext;
use super::eval::Context;
use super::parse::parse;
use super::syntax::FieldRef;
use chrono::NaiveDate;
use std::sync::OnceLock;

/// Parses `data` when it is UTF-8 and, when it parses, evaluates it every way a caller would,
/// and checks that the canonical form reads back as the same tree with the same result. Panics
/// only when one of those properties fails, which is what a fuzzer reports.
pub fn fuzz_one(data: &[u8]) {
    let Ok(src) = std::str::from_utf8(data) else { return };
    let Ok(expr) = parse(src) else { return };
    let ctx = context();
    let value = expr.eval(ctx);
    let calc = expr.calc(ctx);
    assert_eq!(expr.is_true(ctx), value.is_true(), "is_true disagrees with eval for {src:?}");
    assert_eq!(calc, value.to_string(), "calc disagrees with eval for {src:?}");
    for r in expr.references() {
        let _ = ctx.value(&r);
    }
    let printed = expr.to_string();
    match parse(&printed) {
        Ok(again) => {
            assert_eq!(again, expr, "{src:?} prints as {printed:?}, which reads back differently");
            assert_eq!(again.calc(ctx), calc, "{src:?} and its printed form {printed:?} evaluate differently");
        }
        Err(e) => panic!("{src:?} prints as {printed:?}, which does not parse: {e}"),
    }
}

/// A record with a little of everything: numbers, text, dates, a date-time, blanks, ticked
/// choices, another event and another instance.
fn context() -> &'static MapContext {
    static CONTEXT: OnceLock<MapContext> = OnceLock::new();
    CONTEXT.get_or_init(|| {
        let now = NaiveDate::from_ymd_opt(2024, 6, 15).and_then(|d| d.and_hms_opt(9, 30, 0)).unwrap_or_default();
        let mut ctx = MapContext::new(now);
        for (field, value) in [
            ("a", "1"),
            ("b", "0"),
            ("c", "-2.5"),
            ("x", "abc"),
            ("y", "ABC def"),
            ("age", "42"),
            ("sex", "1"),
            ("weight", "70"),
            ("height", "175"),
            ("dob", "1982-03-04"),
            ("visit", "2024-01-31 14:05"),
            ("big", "1e300"),
            ("tiny", "1e-300"),
            ("blank", ""),
            ("space", "  "),
        ] {
            ctx.set(field, value);
        }
        ctx.tick("meds", "1").tick("meds", "99");
        ctx.put(&FieldRef::new("age").in_event("baseline_arm_1"), "40");
        ctx.put(&FieldRef::new("ae").instance(2), "3");
        ctx
    })
}
