//! Export: sealed segments of the live log written to an archive directory as Parquet.

use std::path::{Path, PathBuf};

use super::layout::{ARCHIVE_CHECKPOINTS_FILE, day_of, day_runs, file_name};
use super::manifest::{ManifestEntry, read_manifest, write_manifest};
use super::write::{Chain, ExportOptions, write_parquet_file};
use crate::Error;
use crate::checkpoint::{CHECKPOINTS_FILE, ENTRY_LEN, read_checkpoints};
use crate::error::IoContext;
use crate::segment::{list_segments, read_records, write_atomically};

/// What an export did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportReport {
    /// Sealed segments exported by this call.
    pub segments_exported: usize,
    /// Sealed segments already in this archive (export is idempotent).
    pub segments_already_archived: usize,
    /// Records written.
    pub records: u64,
    /// Parquet files written.
    pub files_written: Vec<PathBuf>,
    /// Files that already existed and were left alone.
    pub files_skipped: usize,
    /// Bytes of Parquet written.
    pub bytes_written: u64,
}

/// Exports every sealed segment of the log in `log_dir` that is not yet in `to_dir` as
/// Parquet, partitioned by day. The active (last) segment is never touched; seal it first with
/// [`crate::AuditLog::export`] to include it. Idempotent: segments already exported there are
/// skipped, and files that exist are never rewritten. Each file is written to a temporary name
/// and renamed, so a crash leaves whole files only.
pub fn export(
    log_dir: &Path,
    to_dir: &Path,
    options: &ExportOptions,
) -> Result<ExportReport, Error> {
    if options.row_group_rows == 0 {
        return Err(Error::Config {
            reason: "row_group_rows must be at least 1".into(),
        });
    }
    std::fs::create_dir_all(to_dir).at(to_dir)?;
    let to_dir = to_dir.canonicalize().at(to_dir)?;
    let segments = list_segments(log_dir)?;
    let mut manifest = read_manifest(log_dir)?;
    let mut report = ExportReport::default();
    let mut max_archived_seq = 0;

    let sealed = segments.len().saturating_sub(1);
    for (index, segment) in segments.iter().take(sealed).enumerate() {
        let name = file_name(&segment.path);
        let last_seq = segments[index + 1].first_seq - 1;
        max_archived_seq = max_archived_seq.max(last_seq);
        let already = manifest.iter().any(|entry| {
            entry.segment == name
                && entry.archive_dir == to_dir
                && entry.files.iter().all(|file| to_dir.join(file).is_file())
        });
        if already {
            report.segments_already_archived += 1;
            continue;
        }
        let mut records = Vec::new();
        read_records(&segment.path, |stored| records.push(stored.record))?;
        let mut files = Vec::new();
        for run in day_runs(&records) {
            let (Some(first), Some(last)) = (run.first(), run.last()) else {
                continue;
            };
            let relative = PathBuf::from(format!("day={}", day_of(first.event.time)))
                .join(format!("part-{:012}-{:012}.parquet", first.seq, last.seq));
            let path = to_dir.join(&relative);
            files.push(relative);
            if path.exists() {
                report.files_skipped += 1;
                continue;
            }
            let bytes = write_parquet_file(&path, run, Chain::Log, options)?;
            report.bytes_written += bytes;
            report.records += run.len() as u64;
            report.files_written.push(path);
        }
        manifest.retain(|entry| !(entry.segment == name && entry.archive_dir == to_dir));
        manifest.push(ManifestEntry {
            segment: name,
            first_seq: segment.first_seq,
            last_seq,
            archive_dir: to_dir.clone(),
            files,
        });
        write_manifest(log_dir, &manifest)?;
        report.segments_exported += 1;
    }

    // The archive carries the checkpoints that cover it, so an auditor given only the archive
    // can still check it against the audit key.
    copy_checkpoints(log_dir, &to_dir, max_archived_seq)?;
    Ok(report)
}

fn copy_checkpoints(log_dir: &Path, to_dir: &Path, max_seq: u64) -> Result<(), Error> {
    if max_seq == 0 {
        return Ok(());
    }
    let checkpoints = read_checkpoints(&log_dir.join(CHECKPOINTS_FILE))?;
    let mut bytes = Vec::with_capacity(checkpoints.entries.len() * ENTRY_LEN);
    for (_, entry) in checkpoints.entries {
        // Damaged entries are left to the verifier of the log; the archive copy holds only
        // whole checkpoints of records it contains.
        if let Ok(checkpoint) = entry
            && checkpoint.seq <= max_seq
        {
            bytes.extend_from_slice(&checkpoint.encode());
        }
    }
    write_atomically(&to_dir.join(ARCHIVE_CHECKPOINTS_FILE), &bytes)
}
