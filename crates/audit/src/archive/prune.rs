//! Retention: deleting sealed segments of the live log, only those whose archive copy reads
//! back identical, oldest first.

use std::path::{Path, PathBuf};

use haechi_events::Timestamp;

use super::layout::file_name;
use super::manifest::{ManifestEntry, read_manifest};
use super::read::ArchiveFileReader;
use crate::Error;
use crate::error::IoContext;
use crate::segment::{list_segments, read_records, sync_dir};

/// Which sealed segments retention deletes: those wholly before a seq *and* wholly recorded
/// before a time. Both bounds hold together; [`PruneOptions::everything_archived`] sets neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PruneOptions {
    /// Only segments whose records all have a seq below this (`u64::MAX`: no seq bound).
    pub before_seq: u64,
    /// Only segments whose records were all recorded (event time) before this instant
    /// (`None`: no time bound). Event times of concurrent requests can be out of seq order by
    /// a little, so the newest time in the segment decides, not the last record's.
    pub recorded_before: Option<Timestamp>,
    /// Delete, or only report what would be deleted.
    pub mode: PruneMode,
}

impl PruneOptions {
    /// Every archived sealed segment, whatever its seqs or age.
    pub fn everything_archived() -> Self {
        PruneOptions {
            before_seq: u64::MAX,
            recorded_before: None,
            mode: PruneMode::Delete,
        }
    }
}

/// Whether [`prune_log_with`] deletes or only looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PruneMode {
    /// Delete the segments.
    Delete,
    /// Check everything exactly as for a deletion (archive copies read back and compared) and
    /// report what would be deleted, deleting nothing.
    DryRun,
}

/// What [`prune_log`] did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Segments deleted, oldest first (in a dry run: that would be deleted).
    pub deleted: Vec<PathBuf>,
    /// Records in those segments.
    pub records: u64,
    /// The seqs those segments held, `(first, last)`; `None` when nothing was deleted.
    pub seqs: Option<(u64, u64)>,
    /// The first segment that would have been pruned but is not (yet) archived, or whose
    /// archive copy does not match it, which stopped pruning there.
    pub stopped_at_unarchived: Option<PathBuf>,
}

/// Retention for the live log: deletes sealed segments whose records all have seq <
/// `before_seq`, oldest first, but only segments that are archived. Before deleting a segment
/// its archive files (from the `archived` manifest) are read back and must hold exactly its
/// records — the same seqs with the same hashes. The first segment that is not archived, or
/// whose archive does not match, stops pruning: the live log never gets a hole, and nothing is
/// deleted that exists nowhere else. The active segment is never deleted.
///
/// This does not take the writer's lock: call it while the log is closed, or use
/// [`crate::AuditLog::prune`] from the process that holds it, or [`prune_closed_log`].
pub fn prune_log(log_dir: &Path, before_seq: u64) -> Result<PruneReport, Error> {
    prune_log_with(
        log_dir,
        &PruneOptions {
            before_seq,
            ..PruneOptions::everything_archived()
        },
    )
}

/// [`prune_log`] with a time bound and a dry run (see [`PruneOptions`]). Same rules: only
/// sealed, archived segments whose archive copy reads back identical, oldest first, stopping
/// at the first one that is not.
pub fn prune_log_with(log_dir: &Path, options: &PruneOptions) -> Result<PruneReport, Error> {
    let segments = list_segments(log_dir)?;
    let manifest = read_manifest(log_dir)?;
    let mut report = PruneReport::default();
    let sealed = segments.len().saturating_sub(1);
    for (index, segment) in segments.iter().take(sealed).enumerate() {
        let last_seq = segments[index + 1].first_seq - 1;
        if last_seq >= options.before_seq {
            break;
        }
        let mut records = Vec::new();
        let mut newest = None;
        read_records(&segment.path, |stored| {
            newest = newest.max(Some(stored.record.event.time));
            records.push((stored.record.seq, stored.record.hash));
        })?;
        if let (Some(cutoff), Some(newest)) = (options.recorded_before, newest)
            && newest >= cutoff
        {
            break;
        }
        let name = file_name(&segment.path);
        let archived = manifest
            .iter()
            .filter(|entry| entry.segment == name)
            .any(|entry| archive_matches(&records, entry).unwrap_or(false));
        if !archived {
            report.stopped_at_unarchived = Some(segment.path.clone());
            break;
        }
        if options.mode == PruneMode::Delete {
            std::fs::remove_file(&segment.path).at(&segment.path)?;
            sync_dir(log_dir)?;
        }
        report.deleted.push(segment.path.clone());
        report.records += records.len() as u64;
        if let (Some(first), Some(last)) = (records.first(), records.last()) {
            let first_seq = report.seqs.map_or(first.0, |(earlier, _)| earlier);
            report.seqs = Some((first_seq, last.0));
        }
    }
    Ok(report)
}

/// [`prune_log_with`] for a log no process has open: takes the writer's lock for the duration
/// (so no writer opens the log meanwhile) and fails with [`Error::InUse`] if one has it.
pub fn prune_closed_log(log_dir: &Path, options: &PruneOptions) -> Result<PruneReport, Error> {
    let _lock = crate::lock::lock_dir(log_dir)?;
    prune_log_with(log_dir, options)
}

/// Whether the archive files of `entry` hold exactly `expected` (seq, hash) pairs.
fn archive_matches(expected: &[(u64, [u8; 32])], entry: &ManifestEntry) -> Result<bool, Error> {
    let mut found = Vec::with_capacity(expected.len());
    for file in &entry.files {
        let mut reader = ArchiveFileReader::open(&entry.archive_dir.join(file))?;
        while let Some((_, record)) = reader.next_row()? {
            let Ok(record) = record else {
                return Ok(false);
            };
            // The stored hash must also be the record's own, or the archive copy was edited.
            if record.computed_hash() != record.hash {
                return Ok(false);
            }
            found.push((record.seq, record.hash));
        }
    }
    Ok(found == expected)
}
