//! The REDCap-compatible logic language: branching logic (`[age] >= 18 and [sex] = '1'`) decides
//! whether a field is shown, calculations (`round([weight] / ([height] / 100) ^ 2, 1)`) compute
//! a stored value. Logic is parsed once into an [`Expr`] and evaluated for each record against a
//! [`Context`] that supplies the answers, so a data dictionary imported from REDCap behaves the
//! same here.
//!
//! Values are text, as stored answers are. Comparisons compare numbers when both sides are
//! numbers and text otherwise; arithmetic on a blank is blank; evaluation never fails.
//!
//! ```
//! use clinbridge_engine::logic::{parse, MapContext};
//! use chrono::NaiveDate;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let show = parse("[age] >= 18 and [sex] = '1'")?;
//! let bmi = parse("round([weight] / ([height] / 100) ^ 2, 1)")?;
//!
//! let today = NaiveDate::from_ymd_opt(2024, 6, 15).ok_or("date")?.and_hms_opt(9, 0, 0).ok_or("time")?;
//! let mut record = MapContext::new(today);
//! record.set("age", "34").set("sex", "1").set("weight", "70");
//! assert!(show.is_true(&record));
//! assert_eq!(bmi.calc(&record), ""); // no height yet
//! record.set("height", "175");
//! assert_eq!(bmi.calc(&record), "22.9");
//!
//! let err = parse("[age] >= 18 and (").unwrap_err();
//! assert_eq!(err.to_string(), "the logic ends too early: a value is missing at position 18");
//! # Ok(())
//! # }
//! ```

mod context;
mod dates;
mod eval;
mod fuzz;
mod parse;
mod syntax;
mod value;

#[cfg(test)]
mod tests;

pub use context::MapContext;
pub use eval::Context;
#[doc(hidden)]
pub use fuzz::fuzz_one;
pub use parse::{ParseError, parse};
pub use syntax::{BinaryOp, Expr, FieldRef, Function};
pub use value::{Value, format_number};
