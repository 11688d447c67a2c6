//! Drill scenarios (YAML): `haechi_drill::scenario::parse`.
//!
//! Holds: no panic; every refusal names the origin it was given.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(error) = haechi_drill::scenario::parse(text, "fuzz.yaml") {
        let message = error.to_string();
        assert!(message.contains("fuzz.yaml"), "{message}");
    }
});
