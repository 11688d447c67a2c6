//! Signed checkpoints, from the log's and the archives' `checkpoints` files and from a
//! witness: each signature checked once against the auditor's key, the valid ones kept by seq
//! to be matched against the chain.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use ed25519_dalek::VerifyingKey;

use super::problem::{Location, Notice, Problem};
use super::report::VerifyReport;
use crate::Error;
use crate::archive::ARCHIVE_CHECKPOINTS_FILE;
use crate::checkpoint::{CHECKPOINTS_FILE, Checkpoint, KeyId, SignatureCheck, read_checkpoints};
use crate::witness::WitnessedCheckpoints;

/// A checkpoint with a valid signature, waiting to be matched against the chain.
#[derive(Debug)]
pub(super) struct SignedCheckpoint {
    pub(super) checkpoint: Checkpoint,
    pub(super) location: Location,
}

/// Reads every `checkpoints` file, checks signatures, and returns the valid ones by seq.
pub(super) fn load_checkpoints(
    log_dir: Option<&Path>,
    archive_dirs: &[PathBuf],
    key: &VerifyingKey,
    report: &mut VerifyReport,
) -> Result<BTreeMap<u64, Vec<SignedCheckpoint>>, Error> {
    let expected = KeyId::of(key);
    let mut valid: BTreeMap<u64, Vec<SignedCheckpoint>> = BTreeMap::new();
    let mut seen = HashSet::new();
    let files = log_dir
        .map(|dir| dir.join(CHECKPOINTS_FILE))
        .into_iter()
        .chain(
            archive_dirs
                .iter()
                .map(|dir| dir.join(ARCHIVE_CHECKPOINTS_FILE)),
        );
    for (file_index, path) in files.enumerate() {
        let file = read_checkpoints(&path)?;
        if file.torn_bytes > 0 {
            // Only the live log's file is appended to; a torn archive copy is damage.
            if file_index == 0 && log_dir.is_some() {
                report
                    .notices
                    .push(Notice::TornCheckpoint { path: path.clone() });
            } else {
                report.problem(Problem::CorruptCheckpoint {
                    location: Location::Checkpoint {
                        path: path.clone(),
                        index: file.entries.len(),
                    },
                    reason: "incomplete entry".into(),
                });
            }
        }
        for (index, entry) in file.entries {
            let location = Location::Checkpoint {
                path: path.clone(),
                index,
            };
            let checkpoint = match entry {
                Ok(checkpoint) => checkpoint,
                Err(reason) => {
                    report.problem(Problem::CorruptCheckpoint { location, reason });
                    continue;
                }
            };
            // The archive's copy repeats the log's checkpoints; check each once.
            if !seen.insert((checkpoint.seq, checkpoint.hash, checkpoint.signature)) {
                continue;
            }
            keep_if_signed(checkpoint, location, key, expected, &mut valid, report);
        }
    }
    Ok(valid)
}

/// Files `checkpoint` under its seq in `valid` if `key` signed it; reports it otherwise.
pub(super) fn keep_if_signed(
    checkpoint: Checkpoint,
    location: Location,
    key: &VerifyingKey,
    expected: KeyId,
    valid: &mut BTreeMap<u64, Vec<SignedCheckpoint>>,
    report: &mut VerifyReport,
) {
    match checkpoint.verify_signature(key) {
        SignatureCheck::Valid => valid
            .entry(checkpoint.seq)
            .or_default()
            .push(SignedCheckpoint {
                checkpoint,
                location,
            }),
        SignatureCheck::OtherKey => report.problem(Problem::CheckpointWrongKey {
            seq: checkpoint.seq,
            signed_by: checkpoint.key_id,
            expected,
            location,
        }),
        SignatureCheck::Invalid => report.problem(Problem::CheckpointForged {
            seq: checkpoint.seq,
            location,
        }),
    }
}

/// Checks the signatures of a witness's checkpoints; returns the valid ones by seq.
pub(super) fn load_witness(
    witness: &WitnessedCheckpoints,
    key: &VerifyingKey,
    report: &mut VerifyReport,
) -> BTreeMap<u64, Vec<SignedCheckpoint>> {
    let expected = KeyId::of(key);
    let mut valid: BTreeMap<u64, Vec<SignedCheckpoint>> = BTreeMap::new();
    for (line, entry) in &witness.entries {
        let location = Location::Witness {
            address: witness.address.clone(),
            line: *line,
        };
        let checkpoint = match entry {
            Ok(checkpoint) => checkpoint.clone(),
            Err(reason) => {
                report.problem(Problem::CorruptCheckpoint {
                    location,
                    reason: reason.clone(),
                });
                continue;
            }
        };
        keep_if_signed(checkpoint, location, key, expected, &mut valid, report);
    }
    valid
}
