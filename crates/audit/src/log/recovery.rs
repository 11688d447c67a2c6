//! Opening the log after a crash: the end of the log is scanned, a torn final write is cut
//! off and reported, and damage anywhere else is refused.

use std::fmt;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use crate::checkpoint::{CHECKPOINTS_FILE, Checkpoint, read_checkpoints};
use crate::error::IoContext;
use crate::segment::{
    FrameRead, FrameReader, OpenSegmentError, SegmentHeader, list_segments, sync_dir,
};
use crate::{Error, GENESIS_HASH};

/// What [`AuditLog::open`](super::AuditLog::open) found and repaired. Never empty-handed about damage: a torn write is
/// truncated only together with a report of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The seq of the last record in the log (0 for an empty log).
    pub last_seq: u64,
    /// The seq of the last signed checkpoint (0 if none).
    pub last_checkpoint_seq: u64,
    /// What was repaired: torn writes from a crash.
    pub repairs: Vec<Repair>,
}

impl RecoveryReport {
    /// Whether the log opened without any repair.
    pub fn is_clean(&self) -> bool {
        self.repairs.is_empty()
    }

    /// Records after the last checkpoint, as (first, last) seq. After a clean shutdown there
    /// are none; after a crash some are normal; after a clean shutdown *and* some, someone
    /// appended to the log while it was closed.
    pub fn unsigned_records(&self) -> Option<(u64, u64)> {
        (self.last_seq > self.last_checkpoint_seq)
            .then_some((self.last_checkpoint_seq + 1, self.last_seq))
    }
}

/// One repair made when opening the log.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Repair {
    /// The last segment ended in a partial or damaged frame (a crash during an append); the
    /// file was cut back to the last whole frame.
    TruncatedTornFrame {
        /// The segment.
        segment: PathBuf,
        /// Where the torn frame started (the new length of the file).
        offset: u64,
        /// How many bytes were cut off.
        discarded_bytes: u64,
        /// What was found there.
        reason: String,
    },
    /// The last segment was created but its header never fully written; it held no records
    /// and was removed.
    RemovedTornSegment {
        /// The segment.
        segment: PathBuf,
    },
    /// The checkpoint file ended in a partial entry (a crash during a checkpoint); it was cut
    /// back to the last whole entry.
    TruncatedTornCheckpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// How many bytes were cut off.
        discarded_bytes: u64,
    },
}

impl fmt::Display for Repair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Repair::TruncatedTornFrame {
                segment,
                offset,
                discarded_bytes,
                reason,
            } => write!(
                f,
                "truncated a torn write in {} at byte {offset} ({discarded_bytes} bytes discarded: {reason})",
                segment.display()
            ),
            Repair::RemovedTornSegment { segment } => {
                write!(
                    f,
                    "removed {} (created, header never written)",
                    segment.display()
                )
            }
            Repair::TruncatedTornCheckpoint {
                path,
                discarded_bytes,
            } => write!(
                f,
                "truncated a torn checkpoint entry in {} ({discarded_bytes} bytes discarded)",
                path.display()
            ),
        }
    }
}

/// The writer's view of where the log stands after recovery.
#[derive(Debug)]
pub(super) struct Recovered {
    pub(super) report: RecoveryReport,
    pub(super) head_seq: u64,
    pub(super) head_hash: [u8; 32],
    /// First seq (file name) of the segment to append to.
    pub(super) segment_first_seq: u64,
    pub(super) segment_bytes: u64,
    pub(super) segment_records: u64,
    /// Set when that segment must be created first, with this header.
    pub(super) new_segment: Option<SegmentHeader>,
}

/// Scans the end of the log, cutting off what a crash tore and refusing anything else.
pub(super) fn recover(dir: &Path) -> Result<Recovered, Error> {
    let mut report = RecoveryReport::default();
    let checkpoints_path = dir.join(CHECKPOINTS_FILE);
    let last_checkpoint = recover_checkpoints(&checkpoints_path, &mut report)?;
    let mut recovered = recover_head(dir, &mut report)?;
    if let Some(checkpoint) = &last_checkpoint {
        check_head_against(checkpoint, &recovered, &checkpoints_path)?;
    }
    report.last_seq = recovered.head_seq;
    report.last_checkpoint_seq = last_checkpoint.map_or(0, |checkpoint| checkpoint.seq);
    recovered.report = report;
    Ok(recovered)
}

/// Cuts a torn final entry off the checkpoint file and returns the last checkpoint; any
/// other damaged entry is refused.
fn recover_checkpoints(
    checkpoints_path: &Path,
    report: &mut RecoveryReport,
) -> Result<Option<Checkpoint>, Error> {
    let checkpoints = read_checkpoints(checkpoints_path)?;
    if checkpoints.torn_bytes > 0 {
        truncate(checkpoints_path, checkpoints.whole_len)?;
        report.repairs.push(Repair::TruncatedTornCheckpoint {
            path: checkpoints_path.to_path_buf(),
            discarded_bytes: checkpoints.torn_bytes,
        });
    }
    let mut last_checkpoint = None;
    for (index, entry) in checkpoints.entries {
        match entry {
            Ok(checkpoint) => last_checkpoint = Some(checkpoint),
            Err(reason) => {
                return Err(Error::CorruptCheckpoints {
                    path: checkpoints_path.to_path_buf(),
                    reason: format!("entry {index}: {reason}"),
                });
            }
        }
    }
    Ok(last_checkpoint)
}

/// Finds the head of the chain in the last segment, removing a segment whose header a crash
/// tore and truncating a torn final frame (both reported in `report`).
fn recover_head(dir: &Path, report: &mut RecoveryReport) -> Result<Recovered, Error> {
    let mut segments = list_segments(dir)?;
    loop {
        let Some(last) = segments.last().cloned() else {
            return Ok(fresh_segment_after(0, GENESIS_HASH));
        };
        let reader = match FrameReader::open(&last.path) {
            Ok(reader) => reader,
            Err(OpenSegmentError::TornHeader) => {
                std::fs::remove_file(&last.path).at(&last.path)?;
                sync_dir(dir)?;
                report.repairs.push(Repair::RemovedTornSegment {
                    segment: last.path.clone(),
                });
                segments.pop();
                if let Some(previous) = segments.last() {
                    // The previous segment was sealed when this one was created; it stays
                    // sealed, and a fresh segment continues its chain.
                    let (head_seq, head_hash, _, _) = scan_segment(&previous.path, None)?;
                    return Ok(fresh_segment_after(head_seq, head_hash));
                }
                continue;
            }
            Err(OpenSegmentError::Failed(error)) => return Err(error),
        };
        drop(reader);
        let (head_seq, head_hash, end_offset, records) = scan_segment(&last.path, Some(report))?;
        if head_seq + 1 - records != last.first_seq {
            return Err(Error::CorruptSegment {
                path: last.path.clone(),
                offset: 0,
                reason: format!(
                    "file name says the segment starts at seq {} but its header disagrees",
                    last.first_seq
                ),
            });
        }
        return Ok(Recovered {
            report: RecoveryReport::default(),
            head_seq,
            head_hash,
            segment_first_seq: last.first_seq,
            segment_bytes: end_offset,
            segment_records: records,
            new_segment: None,
        });
    }
}

/// A log whose head is `head_seq` (0: empty) and that continues in a segment yet to create.
fn fresh_segment_after(head_seq: u64, head_hash: [u8; 32]) -> Recovered {
    Recovered {
        report: RecoveryReport::default(),
        head_seq,
        head_hash,
        segment_first_seq: head_seq + 1,
        segment_bytes: 0,
        segment_records: 0,
        new_segment: Some(SegmentHeader {
            first_seq: head_seq + 1,
            prev_hash: head_hash,
        }),
    }
}

/// Refuses a log that ends before, or disagrees with, its last signed checkpoint.
fn check_head_against(
    checkpoint: &Checkpoint,
    recovered: &Recovered,
    checkpoints_path: &Path,
) -> Result<(), Error> {
    // A checkpoint is only written after the records it covers were synced, so one that
    // points past the end means records were cut off after they were signed.
    if checkpoint.seq > recovered.head_seq {
        return Err(Error::CorruptCheckpoints {
            path: checkpoints_path.to_path_buf(),
            reason: format!(
                "a signed checkpoint covers seq {} but the log ends at seq {}: records were removed",
                checkpoint.seq, recovered.head_seq
            ),
        });
    }
    if checkpoint.seq == recovered.head_seq && checkpoint.hash != recovered.head_hash {
        return Err(Error::CorruptCheckpoints {
            path: checkpoints_path.to_path_buf(),
            reason: format!(
                "the signed checkpoint at seq {} does not match the record there: the log was rewritten",
                checkpoint.seq
            ),
        });
    }
    Ok(())
}

/// Reads a whole segment, checking every frame, seq and chain link. With `repairs`, a torn
/// tail is truncated and reported (the active segment); without, it is an error (a sealed
/// segment). Returns (last seq, last hash, end offset, record count).
fn scan_segment(
    path: &Path,
    repairs: Option<&mut RecoveryReport>,
) -> Result<(u64, [u8; 32], u64, u64), Error> {
    let mut reader = FrameReader::open_existing(path)?;
    let header = reader.header();
    let mut expected_seq = header.first_seq;
    let mut prev_hash = header.prev_hash;
    let mut records = 0;
    let corrupt = |offset: u64, reason: String| Error::CorruptSegment {
        path: path.to_path_buf(),
        offset,
        reason,
    };
    loop {
        match reader.next_frame()? {
            FrameRead::Record(stored) => {
                let record = &stored.record;
                if record.seq != expected_seq {
                    return Err(corrupt(
                        stored.offset,
                        format!("found seq {}, expected seq {expected_seq}", record.seq),
                    ));
                }
                if record.prev_hash != prev_hash {
                    return Err(corrupt(
                        stored.offset,
                        format!(
                            "seq {}: prev_hash does not match the previous record",
                            record.seq
                        ),
                    ));
                }
                if record.hash != stored.computed_hash {
                    return Err(corrupt(
                        stored.offset,
                        format!(
                            "seq {}: stored hash does not match the content (record altered)",
                            record.seq
                        ),
                    ));
                }
                prev_hash = record.hash;
                expected_seq += 1;
                records += 1;
            }
            FrameRead::End => break,
            FrameRead::Torn { offset, reason } => match repairs {
                Some(report) => {
                    let length = std::fs::metadata(path).at(path)?.len();
                    truncate(path, offset)?;
                    report.repairs.push(Repair::TruncatedTornFrame {
                        segment: path.to_path_buf(),
                        offset,
                        discarded_bytes: length - offset,
                        reason,
                    });
                    return Ok((expected_seq - 1, prev_hash, offset, records));
                }
                None => return Err(corrupt(offset, format!("sealed segment is torn: {reason}"))),
            },
            FrameRead::Corrupt { offset, reason } => return Err(corrupt(offset, reason)),
        }
    }
    Ok((expected_seq - 1, prev_hash, reader.offset(), records))
}

fn truncate(path: &Path, length: u64) -> Result<(), Error> {
    let file = OpenOptions::new().write(true).open(path).at(path)?;
    file.set_len(length).at(path)?;
    file.sync_all().at(path)
}
