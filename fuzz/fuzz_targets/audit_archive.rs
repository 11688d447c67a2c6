//! The Parquet archive reader: the input is written as the one file of an archive directory
//! (`day=…/part-<first>-<last>.parquet`), then read back with `read_archive` (what `audit
//! verify`, `haechi scope` and the forensics tools read) and checked with `verify`.
//!
//! Holds: no panic; the reader stops at the first error instead of looping.
//!
//! The reader catches the panics of the Parquet decoder on corrupt pages (parquet 60) and
//! reports them as errors; libFuzzer's panic hook would abort before that catch, so this
//! target puts the default hook back: a panic the reader does not catch still unwinds to
//! libfuzzer-sys, which reports it as a crash.

#![no_main]

use haechi_audit::{VerifySources, read_archive, verify};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    static DEFAULT_HOOK: std::sync::Once = std::sync::Once::new();
    DEFAULT_HOOK.call_once(|| drop(std::panic::take_hook()));
    let dir = tempfile::tempdir().expect("temporary directory");
    let day = dir.path().join("day=2025-06-24");
    std::fs::create_dir_all(&day).expect("day directory");
    std::fs::write(day.join("part-000000000001-000000000100.parquet"), data)
        .expect("write archive file");
    if let Ok(records) = read_archive(dir.path()) {
        let mut read = 0usize;
        for record in records {
            read += 1;
            assert!(read <= 1_000_000, "the archive reader does not stop");
            if let Err(error) = record {
                let _ = error.to_string();
            }
        }
    }
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key();
    let _ = verify(&VerifySources::archive(dir.path()), &key);
});
