//! The anonymous exposure check's input (`POST /v1/exposure/check`): the bucket
//! (`Bucket::parse`) and the blinded element (`CheckKey::evaluate_blinded`).
//!
//! Input: the first 4 bytes are the bucket's text, the rest the element's bytes.
//!
//! Holds: no panic; a bucket is accepted only as 4 hex digits and round-trips; an element is
//! evaluated only when it is exactly 32 bytes, and the same element evaluates the same twice;
//! every refusal is `BadBlindedElement`.

#![no_main]

use std::sync::OnceLock;

use haechi_leak::Error;
use haechi_leak::private_check::{Bucket, CheckKey, ELEMENT_BYTES};
use libfuzzer_sys::fuzz_target;

fn key() -> &'static CheckKey {
    static KEY: OnceLock<CheckKey> = OnceLock::new();
    KEY.get_or_init(|| CheckKey::from_seed(&[5; 32]).expect("a fixed seed derives a key"))
}

fuzz_target!(|data: &[u8]| {
    let (bucket, element) = data.split_at(data.len().min(4));
    if let Ok(text) = std::str::from_utf8(bucket)
        && let Ok(parsed) = Bucket::parse(text)
    {
        assert!(parsed.to_hex().eq_ignore_ascii_case(text), "{text:?}");
        assert_eq!(Bucket::from_value(parsed.value()), parsed);
    }
    match key().evaluate_blinded(element) {
        Ok(evaluated) => {
            assert_eq!(element.len(), ELEMENT_BYTES);
            assert_eq!(key().evaluate_blinded(element).ok(), Some(evaluated));
        }
        Err(error) => assert_eq!(error, Error::BadBlindedElement),
    }
});
