//! The exposure range prefix (`GET /v1/exposure/range/{prefix}`): `RangePrefix::parse`.
//!
//! Holds: no panic; an accepted prefix round-trips (its hex is the input, case aside) and
//! stays within 20 bits.

#![no_main]

use haechi_leak::exposure::RangePrefix;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(prefix) = RangePrefix::parse(text) {
        assert!(prefix.value() <= 0xF_FFFF);
        assert!(prefix.to_hex().eq_ignore_ascii_case(text), "{text:?}");
        assert_eq!(RangePrefix::from_value(prefix.value()), prefix);
    }
});
