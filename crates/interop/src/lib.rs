//! Clinbridge's standard formats, as pure functions over plain values: no IO, no database.
//! Each format is a module; the store and web layers hand it what to write.
#![forbid(unsafe_code)]

pub mod ical;
pub mod odm;
pub mod redcap;
