//! Leak-scan text: `haechi_leak::scan` (every recognizer) and the masks of what it finds.
//!
//! Holds: no panic, in the scan or in redacting what it found.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let findings = haechi_leak::scan(&text);
    for finding in &findings {
        let _ = format!("{finding:?}");
    }
    let _ = haechi_leak::redact(&text, &findings);
});
