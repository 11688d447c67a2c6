//! Token presentation: any text as a bearer token, taken apart as verification first does
//! (`haechi_token::parse_presented`, the JWS compact form and its header).
//!
//! Holds: no panic; an accepted token is exactly `signing_input.signature`, names a supported
//! algorithm and a key id; a refusal is `malformed` or `unsupported_alg`.

#![no_main]

use haechi_token::Rejection;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    check(token);
});

fn check(token: &str) {
    match haechi_token::parse_presented(token) {
        Ok(parts) => {
            assert_eq!(
                format!("{}.{}", parts.signing_input, parts.signature),
                token
            );
            assert!(
                parts.alg == "EdDSA" || parts.alg == "ES256",
                "{}",
                parts.alg
            );
            assert!(!parts.signature.is_empty());
        }
        Err(rejection) => assert!(
            matches!(
                rejection,
                Rejection::Malformed | Rejection::UnsupportedAlgorithm
            ),
            "{rejection:?}"
        ),
    }
}
