//! Parses arbitrary UTF-8 as logic and evaluates what parses against a record with a little of
//! everything; fails when anything panics or the printed form reads back differently.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    clinbridge_engine::logic::fuzz_one(data);
});
