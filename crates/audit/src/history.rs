//! A closed log's whole history, for a tool that moves a deployment's audit trail elsewhere
//! (`haechi migrate` republishes it to the cluster's stream): every record from seq 1 — those
//! retention pruned from the live log read back from the Parquet files its manifest names —
//! and every signed checkpoint, plus the writer's lock, held so the log cannot grow while it
//! is read.
//!
//! Records come out exactly as stored (`record.hash` is the stored hash, unchecked): moving
//! them must not repair or hide anything; verification is the reader's next step.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::archive::{ArchiveFileReader, read_manifest};
use crate::checkpoint::{CHECKPOINTS_FILE, Checkpoint, checkpoints_after};
use crate::lock::lock_dir;
use crate::reader::{LogCursor, LogRecords, read_log};
use crate::{AuditRecord, Error};

/// The writer's lock on a log directory, held without opening the log: no `AuditLog` (no
/// `haechi serve`, no one-shot command) can append while it is held. Released on drop.
#[derive(Debug)]
pub struct HeldLog {
    _lock: File,
}

/// Takes the writer's lock of the log in `dir` ([`Error::InUse`] when a process holds it).
pub fn hold_log(dir: &Path) -> Result<HeldLog, Error> {
    Ok(HeldLog {
        _lock: lock_dir(dir)?,
    })
}

/// Every signed checkpoint of the log in `dir`, oldest first (none without a checkpoints
/// file). A damaged entry is an error.
pub fn log_checkpoints(dir: &Path) -> Result<Vec<Checkpoint>, Error> {
    checkpoints_after(&dir.join(CHECKPOINTS_FILE), 0)
}

/// Every record of the log in `dir` from seq 1, in seq order: first those retention moved to
/// the archive (from the files the `archived` manifest names), then the live log. A seq that
/// is in neither is an error at the place it is missing.
pub fn read_history(dir: &Path) -> Result<HistoryRecords, Error> {
    let live_from = LogCursor::oldest_seq(dir)?.unwrap_or(1);
    let mut manifest = read_manifest(dir)?;
    manifest.sort_by_key(|entry| entry.first_seq);
    let archived = manifest
        .into_iter()
        .filter(|entry| entry.first_seq < live_from)
        .flat_map(|entry| {
            let archive_dir = entry.archive_dir;
            entry
                .files
                .into_iter()
                .map(move |file| archive_dir.join(file))
        })
        .collect::<Vec<PathBuf>>();
    Ok(HistoryRecords {
        dir: dir.to_path_buf(),
        archived: archived.into_iter(),
        current: None,
        live: read_log(dir)?,
        live_from,
        next_seq: 1,
        failed: false,
    })
}

/// Records of a log's whole history ([`read_history`]).
pub struct HistoryRecords {
    dir: PathBuf,
    archived: std::vec::IntoIter<PathBuf>,
    current: Option<ArchiveFileReader>,
    live: LogRecords,
    /// The live log's oldest seq: archived records below it are read, the rest skipped.
    live_from: u64,
    next_seq: u64,
    /// Set after an error: nothing more is returned, so no caller sees a chain with a hole.
    failed: bool,
}

impl std::fmt::Debug for HistoryRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HistoryRecords")
            .field("dir", &self.dir)
            .field("live_from", &self.live_from)
            .field("next_seq", &self.next_seq)
            .finish_non_exhaustive()
    }
}

impl HistoryRecords {
    /// The next archived record below the live log's start, if any is left.
    fn next_archived(&mut self) -> Result<Option<AuditRecord>, Error> {
        while self.next_seq < self.live_from {
            if self.current.is_none() {
                let Some(path) = self.archived.next() else {
                    return Ok(None);
                };
                self.current = Some(ArchiveFileReader::open(&path)?);
            }
            let Some(reader) = self.current.as_mut() else {
                return Ok(None);
            };
            match reader.next_row()? {
                None => self.current = None,
                Some((row, decoded)) => {
                    let record = decoded.map_err(|reason| {
                        Error::archive(reader.path(), format!("row {row}: {reason}"))
                    })?;
                    // An archive file may overlap a neighbour; each seq is taken once.
                    if record.seq >= self.next_seq && record.seq < self.live_from {
                        return Ok(Some(record));
                    }
                }
            }
        }
        Ok(None)
    }

    fn missing(&self, found: Option<u64>) -> Error {
        let reason = match found {
            Some(seq) => format!(
                "seq {} is neither in the live log nor in the archives its manifest names \
                 (the next record found is seq {seq})",
                self.next_seq
            ),
            None => format!(
                "seqs from {} to {} were pruned from the live log and are not in the archives \
                 its manifest names",
                self.next_seq,
                self.live_from - 1
            ),
        };
        Error::archive(&self.dir, reason)
    }
}

impl Iterator for HistoryRecords {
    type Item = Result<AuditRecord, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let record = if self.next_seq < self.live_from {
            match self.next_archived() {
                Ok(Some(record)) => Ok(record),
                Ok(None) => Err(self.missing(None)),
                Err(error) => Err(error),
            }
        } else {
            self.live.next()?
        };
        let record = match record {
            Ok(record) if record.seq == self.next_seq => record,
            Ok(record) => {
                self.failed = true;
                return Some(Err(self.missing(Some(record.seq))));
            }
            Err(error) => {
                self.failed = true;
                return Some(Err(error));
            }
        };
        self.next_seq += 1;
        Some(Ok(record))
    }
}
