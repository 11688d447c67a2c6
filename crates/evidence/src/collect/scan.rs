//! The plaintext scan of a data directory: every byte of every file read through the leak
//! scanner's recognisers, so the report's "no plaintext personal data at rest" is a fresh
//! measurement, not a claim.
//!
//! Files are read in chunks with an overlap, so a value across a chunk boundary is still seen
//! (and counted once). Binary data (ciphertext, SQLite pages) is read as lossy UTF-8: the
//! recognisers need structure — a valid mobile prefix, a checksum, an address's parts — that
//! random bytes practically never form. Only kinds and counts leave this module.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use haechi_leak::{PiiKind, Scanner};

use crate::Error;
use crate::facts::{ScanHit, ScanResult};

const CHUNK: usize = 1 << 20;
/// Longer than any value a recogniser matches.
const OVERLAP: usize = 512;
/// Below this the recognisers' guesses are not evidence (a digit run without a valid prefix or
/// checksum); a bare mobile number with nothing around it scores 0.85, an e-mail 0.9.
const MINIMUM_CONFIDENCE: f32 = 0.8;
/// Kinds that only personal data has. Landlines and business numbers belong to companies,
/// addresses without their person are not evidence, and both appear in configuration.
const KINDS: &[PiiKind] = &[
    PiiKind::ResidentRegistrationNumber,
    PiiKind::ForeignerRegistrationNumber,
    PiiKind::MobilePhone,
    PiiKind::Email,
    PiiKind::CustomsCode,
    PiiKind::CardNumber,
    PiiKind::Passport,
    PiiKind::DriverLicence,
];

/// Scans every regular file under `dir` (symbolic links are not followed).
pub fn scan_data_dir(dir: &Path) -> Result<ScanResult, Error> {
    let scanner = Scanner::default().with_minimum_confidence(MINIMUM_CONFIDENCE);
    let mut result = ScanResult::default();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let entries = std::fs::read_dir(&current).map_err(|source| Error::Io {
            path: current.display().to_string(),
            source,
        })?;
        let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
        entries.sort_by_key(|entry| entry.path());
        for entry in entries {
            let path = entry.path();
            let relative = path
                .strip_prefix(dir)
                .unwrap_or(&path)
                .display()
                .to_string();
            let Ok(kind) = entry.file_type() else {
                result.unreadable.push(relative);
                continue;
            };
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() {
                match scan_file(&scanner, &path) {
                    Ok((bytes, kinds)) => {
                        result.files += 1;
                        result.bytes += bytes;
                        if !kinds.is_empty() {
                            result.hits.push(ScanHit {
                                file: relative,
                                kinds,
                            });
                        }
                    }
                    // A file removed between listing and reading (a rotated segment, a
                    // SQLite journal) is not a finding.
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                    Err(error) => result.unreadable.push(format!("{relative} ({error})")),
                }
            }
        }
    }
    Ok(result)
}

fn scan_file(scanner: &Scanner, path: &Path) -> std::io::Result<(u64, BTreeMap<String, u64>)> {
    let mut file = std::fs::File::open(path)?;
    let mut kinds = BTreeMap::new();
    let mut buffer = vec![0u8; CHUNK + OVERLAP];
    let mut carried = 0;
    let mut bytes = 0u64;
    loop {
        let read = read_full(&mut file, &mut buffer[carried..])?;
        bytes += read as u64;
        let filled = carried + read;
        let last = read == 0 || filled < buffer.len();
        let text = String::from_utf8_lossy(&buffer[..filled]);
        // Findings starting in the overlap are left to the next chunk, which sees them whole.
        let counted_below = if last {
            usize::MAX
        } else {
            lossy_offset(&buffer[..filled], filled - OVERLAP)
        };
        for finding in scanner.scan(&text) {
            if finding.start < counted_below && KINDS.contains(&finding.kind) {
                *kinds.entry(finding.kind.label().to_string()).or_insert(0) += 1;
            }
        }
        if last {
            return Ok((bytes, kinds));
        }
        buffer.copy_within(filled - OVERLAP..filled, 0);
        carried = OVERLAP;
    }
}

/// The offset in the lossy text of byte `at` of `bytes`.
fn lossy_offset(bytes: &[u8], at: usize) -> usize {
    String::from_utf8_lossy(&bytes[..at]).len()
}

fn read_full(file: &mut std::fs::File, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..])? {
            0 => break,
            read => filled += read,
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_phone_number_in_a_file_is_found_and_random_bytes_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let mut noise = vec![0u8; 3 * CHUNK];
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for byte in &mut noise {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *byte = state as u8;
        }
        std::fs::write(dir.path().join("cipher.bin"), &noise).unwrap();
        // One number inside the overlap both reads see (counted once), one across the end of
        // the first read (seen whole by the second), in a file of three reads.
        let mut leaky = vec![b' '; 3 * CHUNK];
        let inside_overlap = CHUNK + 100;
        let across_the_end = CHUNK + OVERLAP - 6;
        leaky[inside_overlap..inside_overlap + 13].copy_from_slice(b"010-2345-6789");
        leaky[across_the_end..across_the_end + 13].copy_from_slice(b"010-9876-5432");
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/leaky.log"), &leaky).unwrap();
        let result = scan_data_dir(dir.path()).unwrap();
        assert_eq!(result.files, 2);
        assert_eq!(result.hits.len(), 1, "{result:?}");
        assert_eq!(result.hits[0].file, "sub/leaky.log");
        assert_eq!(result.hits[0].kinds.get("mobile"), Some(&2));
        assert_eq!(result.bytes, 6 * CHUNK as u64);
    }
}
