//! The verifier: checks every frame, record hash, chain link, seq, segment boundary, archive
//! row and checkpoint of a log and its archives, and says exactly where anything is wrong.
//!
//! The live log and the archives are read as two seq-ordered streams and merged: a seq found in
//! both must be the same record in both, and the merged sequence must be one unbroken chain
//! from seq 1. Checkpoints, once their signature is checked against the auditor's key, pin the
//! chain at their seqs. Verification reads only; it never repairs.

mod chain;
mod checkpoints;
mod external;
mod problem;
mod report;
mod streams;

pub use external::ChainVerifier;
pub use problem::{Location, Notice, Problem};
pub use report::VerifyReport;

use std::collections::HashSet;
use std::path::PathBuf;

use ed25519_dalek::VerifyingKey;

use crate::Error;
use crate::archive::{list_archive_files, read_manifest};
use crate::segment::list_segments;
use crate::witness::WitnessedCheckpoints;
use chain::ChainCheck;
use checkpoints::{load_checkpoints, load_witness};
use streams::{ArchiveStream, Located, LogStream};

/// What to verify: a live log directory, archive directories, or both.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifySources {
    /// The live log directory (its `archived` manifest adds the archives it was exported to).
    pub log_dir: Option<PathBuf>,
    /// Further archive directories.
    pub archive_dirs: Vec<PathBuf>,
    /// The checkpoints a witness holds ([`crate::Witness::read_back`]): the log must reach
    /// and agree with every one of them.
    pub witness: Option<WitnessedCheckpoints>,
}

impl VerifySources {
    /// The live log in `dir`, with every archive its manifest names.
    pub fn log(dir: impl Into<PathBuf>) -> Self {
        VerifySources {
            log_dir: Some(dir.into()),
            archive_dirs: Vec::new(),
            witness: None,
        }
    }

    /// An archive directory on its own (with the `_checkpoints` copy export put there).
    pub fn archive(dir: impl Into<PathBuf>) -> Self {
        VerifySources {
            log_dir: None,
            archive_dirs: vec![dir.into()],
            witness: None,
        }
    }

    /// Adds an archive directory.
    pub fn with_archive(mut self, dir: impl Into<PathBuf>) -> Self {
        self.archive_dirs.push(dir.into());
        self
    }
}

/// Verifies the log and archives in `sources` against the audit public key. Returns a report
/// of everything found; an `Err` only when a directory cannot be read at all.
pub fn verify(sources: &VerifySources, key: &VerifyingKey) -> Result<VerifyReport, Error> {
    let mut report = VerifyReport::default();
    let archive_dirs = archive_dirs(sources)?;
    let checkpoints =
        load_checkpoints(sources.log_dir.as_deref(), &archive_dirs, key, &mut report)?;

    let segments = match &sources.log_dir {
        Some(dir) => list_segments(dir)?,
        None => Vec::new(),
    };
    report.segments = segments.len();
    let archive_files = archive_files(&archive_dirs, &mut report)?;
    report.archive_files = archive_files.len();

    let log = LogStream::new(segments);
    let archive = ArchiveStream::new(archive_files);
    let mut chain = ChainCheck::new(checkpoints);
    if let Some(witness) = &sources.witness {
        chain.witnessed = Some(load_witness(witness, key, &mut report));
    }
    merge(log, archive, &mut chain, &mut report)?;
    chain.finish(&mut report);
    Ok(report)
}

/// The archive directories to read: those the log's manifest names, then those given, each
/// once.
fn archive_dirs(sources: &VerifySources) -> Result<Vec<PathBuf>, Error> {
    let mut archive_dirs: Vec<PathBuf> = Vec::new();
    let mut seen_dirs = HashSet::new();
    let mut add_dir = |dir: PathBuf, dirs: &mut Vec<PathBuf>| {
        let canonical = dir.canonicalize().unwrap_or_else(|_| dir.clone());
        if seen_dirs.insert(canonical.clone()) {
            dirs.push(canonical);
        }
    };
    if let Some(log_dir) = &sources.log_dir {
        for entry in read_manifest(log_dir)? {
            add_dir(entry.archive_dir, &mut archive_dirs);
        }
    }
    for dir in &sources.archive_dirs {
        add_dir(dir.clone(), &mut archive_dirs);
    }
    Ok(archive_dirs)
}

/// Every archive file of `dirs`, in seq order per directory; a directory that is gone is
/// reported.
fn archive_files(dirs: &[PathBuf], report: &mut VerifyReport) -> Result<Vec<PathBuf>, Error> {
    let mut archive_files = Vec::new();
    for dir in dirs {
        match list_archive_files(dir) {
            Ok(files) => archive_files.extend(files),
            // An archive the manifest names but that is gone: its records can only be
            // missing, which the chain check reports; say why here.
            Err(Error::Io { source, .. }) if crate::segment::is_not_found(&source) => {
                report.problem(Problem::UnreadableArchive {
                    path: dir.clone(),
                    reason: "the archive directory does not exist".into(),
                });
            }
            Err(error) => return Err(error),
        }
    }
    Ok(archive_files)
}

/// Reads both streams merged by seq into the chain check. A seq in both is compared; the
/// log's copy stands for the chain.
fn merge(
    mut log: LogStream,
    mut archive: ArchiveStream,
    chain: &mut ChainCheck,
    report: &mut VerifyReport,
) -> Result<(), Error> {
    let mut log_head = log.next_record(report, &mut chain.damaged)?;
    let mut archive_head = archive.next_record(report, &mut chain.damaged)?;
    loop {
        let take_log = match (&log_head, &archive_head) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(from_log), Some(from_archive)) => {
                if from_log.record.seq == from_archive.record.seq {
                    if from_log.record != from_archive.record {
                        report.problem(Problem::SourcesDisagree {
                            seq: from_log.record.seq,
                            log: from_log.location.clone(),
                            archive: from_archive.location.clone(),
                        });
                    }
                    // The same seq from both: check the archive copy's own hash, then let
                    // the log's copy stand for the chain.
                    check_own_hash(from_archive, report);
                    archive_head = archive.next_record(report, &mut chain.damaged)?;
                    true
                } else {
                    from_log.record.seq < from_archive.record.seq
                }
            }
        };
        let taken = if take_log {
            std::mem::replace(&mut log_head, log.next_record(report, &mut chain.damaged)?)
        } else {
            std::mem::replace(
                &mut archive_head,
                archive.next_record(report, &mut chain.damaged)?,
            )
        };
        if let Some(located) = taken {
            check_own_hash(&located, report);
            chain.accept(&located, report);
        }
    }
    Ok(())
}

fn check_own_hash(located: &Located, report: &mut VerifyReport) {
    if located.computed_hash != located.record.hash {
        report.problem(Problem::RecordAltered {
            seq: located.record.seq,
            location: located.location.clone(),
        });
    }
}
