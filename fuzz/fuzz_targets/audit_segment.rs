//! The audit log's segment reader: the input is written as a segment file of an otherwise
//! empty log directory, then read back with `read_log` (the reader `audit verify`, search and
//! detection's replay use) and checked with `verify`.
//!
//! Holds: no panic; every record read has a seq at or after the segment's first.

#![no_main]

use haechi_audit::{VerifySources, read_log, verify};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::write(dir.path().join("seg-000000000001.log"), data).expect("write segment");
    if let Ok(records) = read_log(dir.path()) {
        for record in records.take(10_000) {
            match record {
                Ok(record) => assert!(record.seq >= 1, "{}", record.seq),
                Err(error) => {
                    let _ = error.to_string();
                    break;
                }
            }
        }
    }
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key();
    let _ = verify(&VerifySources::log(dir.path()), &key);
});
