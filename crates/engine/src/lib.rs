//! Clinbridge's engines: pure computations over plain values, with no IO, no async and no SQL.
//! The store and web layers load what an engine needs and hand it over; the engine answers.
//!
//! - [`logic`]: the REDCap-compatible logic language of branching logic and calculated fields.
#![forbid(unsafe_code)]

pub mod logic;
