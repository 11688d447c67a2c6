//! The access policy file (TOML): `haechi_vault::Policy::parse`.
//!
//! Holds: no panic; a refusal names a line within the text (0 when it has no position).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(error) = haechi_vault::Policy::parse(text, "policy.toml") {
        assert!(error.line <= text.lines().count() + 1, "{error}");
        assert_eq!(error.file, "policy.toml");
    }
});
