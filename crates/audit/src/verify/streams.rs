//! The two sources read as seq-ordered streams of records: the live log's segments and the
//! archive files. Damage met on the way is reported and skipped.

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::problem::{Location, Notice, Problem};
use super::report::VerifyReport;
use crate::archive::ArchiveFileReader;
use crate::segment::{FrameRead, FrameReader, OpenSegmentError, SegmentFile};
use crate::{AuditRecord, Error};

/// A record and where it was read.
#[derive(Debug)]
pub(super) struct Located {
    pub(super) record: AuditRecord,
    pub(super) computed_hash: [u8; 32],
    pub(super) location: Location,
}

/// Reads the live log's segments in order, reporting damage as it goes.
pub(super) struct LogStream {
    segments: std::vec::IntoIter<SegmentFile>,
    remaining: usize,
    reader: Option<FrameReader>,
    is_last: bool,
    expect_header_match: bool,
    last: Option<(u64, [u8; 32])>,
}

impl LogStream {
    pub(super) fn new(segments: Vec<SegmentFile>) -> Self {
        LogStream {
            remaining: segments.len(),
            segments: segments.into_iter(),
            reader: None,
            is_last: false,
            expect_header_match: false,
            last: None,
        }
    }

    pub(super) fn next_record(
        &mut self,
        report: &mut VerifyReport,
        damaged: &mut BTreeSet<u64>,
    ) -> Result<Option<Located>, Error> {
        loop {
            let Some(reader) = self.reader.as_mut() else {
                let Some(segment) = self.segments.next() else {
                    return Ok(None);
                };
                self.remaining -= 1;
                self.is_last = self.remaining == 0;
                self.open(&segment, report)?;
                continue;
            };
            let offset = reader.offset();
            let location = Location::Segment {
                path: reader.path().to_path_buf(),
                offset,
            };
            match reader.next_frame()? {
                FrameRead::Record(stored) => {
                    let header = reader.header();
                    if self.expect_header_match {
                        self.expect_header_match = false;
                        if stored.record.seq != header.first_seq
                            || stored.record.prev_hash != header.prev_hash
                        {
                            report.problem(Problem::SegmentBoundary {
                                location: Location::Segment {
                                    path: reader.path().to_path_buf(),
                                    offset: 0,
                                },
                                reason: format!(
                                    "header says the segment continues the chain at seq {}, its first record is seq {}",
                                    header.first_seq, stored.record.seq
                                ),
                            });
                        }
                    }
                    self.last = Some((stored.record.seq, stored.record.hash));
                    return Ok(Some(Located {
                        record: stored.record,
                        computed_hash: stored.computed_hash,
                        location,
                    }));
                }
                FrameRead::End => self.reader = None,
                FrameRead::Torn { reason, .. } if self.is_last => {
                    report.notices.push(Notice::TornTail { location, reason });
                    self.reader = None;
                }
                FrameRead::Torn { reason, .. } | FrameRead::Corrupt { reason, .. } => {
                    let probable_seq = self.last.map_or(1, |(seq, _)| seq + 1);
                    damaged.insert(probable_seq);
                    // Count the damaged frame as that seq, so the next one is not blamed.
                    if let Some((seq, hash)) = self.last {
                        self.last = Some((seq + 1, hash));
                    }
                    report.problem(Problem::CorruptFrame {
                        location,
                        probable_seq: Some(probable_seq),
                        reason,
                    });
                }
            }
        }
    }

    fn open(&mut self, segment: &SegmentFile, report: &mut VerifyReport) -> Result<(), Error> {
        let header_location = Location::Segment {
            path: segment.path.clone(),
            offset: 0,
        };
        let reader = match FrameReader::open(&segment.path) {
            Ok(reader) => reader,
            Err(OpenSegmentError::TornHeader) if self.is_last => {
                report.notices.push(Notice::TornTail {
                    location: header_location,
                    reason: "segment header incomplete".into(),
                });
                return Ok(());
            }
            Err(OpenSegmentError::TornHeader) => {
                report.problem(Problem::SegmentBoundary {
                    location: header_location,
                    reason: "sealed segment shorter than its header".into(),
                });
                return Ok(());
            }
            Err(OpenSegmentError::Failed(Error::CorruptSegment { reason, .. })) => {
                report.problem(Problem::SegmentBoundary {
                    location: header_location,
                    reason,
                });
                return Ok(());
            }
            Err(OpenSegmentError::Failed(error)) => return Err(error),
        };
        let header = reader.header();
        if header.first_seq != segment.first_seq {
            report.problem(Problem::SegmentBoundary {
                location: header_location.clone(),
                reason: format!(
                    "file name says seq {}, header says seq {}",
                    segment.first_seq, header.first_seq
                ),
            });
        }
        if let Some((last_seq, last_hash)) = self.last
            && (header.first_seq != last_seq + 1 || header.prev_hash != last_hash)
        {
            let detail = if header.first_seq == last_seq + 1 {
                " with a different hash"
            } else {
                ""
            };
            report.problem(Problem::SegmentBoundary {
                location: header_location,
                reason: format!(
                    "segment claims to continue from seq {} but the previous segment ends at seq {last_seq}{detail}",
                    header.first_seq.saturating_sub(1),
                ),
            });
        }
        self.expect_header_match = true;
        self.reader = Some(reader);
        Ok(())
    }
}

/// Reads archive files in seq order, reporting unreadable files and rows.
pub(super) struct ArchiveStream {
    files: std::vec::IntoIter<PathBuf>,
    reader: Option<(PathBuf, ArchiveFileReader)>,
    last_seq: Option<u64>,
}

impl ArchiveStream {
    pub(super) fn new(files: Vec<PathBuf>) -> Self {
        ArchiveStream {
            files: files.into_iter(),
            reader: None,
            last_seq: None,
        }
    }

    pub(super) fn next_record(
        &mut self,
        report: &mut VerifyReport,
        damaged: &mut BTreeSet<u64>,
    ) -> Result<Option<Located>, Error> {
        loop {
            let Some((path, reader)) = self.reader.as_mut() else {
                let Some(path) = self.files.next() else {
                    return Ok(None);
                };
                match ArchiveFileReader::open(&path) {
                    Ok(reader) => self.reader = Some((path, reader)),
                    Err(Error::Archive { reason, .. }) => {
                        report.problem(Problem::UnreadableArchive { path, reason });
                    }
                    Err(error) => return Err(error),
                }
                continue;
            };
            match reader.next_row() {
                Ok(Some((row, Ok(record)))) => {
                    self.last_seq = Some(record.seq);
                    return Ok(Some(Located {
                        computed_hash: record.computed_hash(),
                        record,
                        location: Location::Archive {
                            path: path.clone(),
                            row,
                        },
                    }));
                }
                Ok(Some((row, Err(reason)))) => {
                    let probable_seq = self.last_seq.map_or(1, |seq| seq + 1);
                    damaged.insert(probable_seq);
                    self.last_seq = Some(probable_seq);
                    report.problem(Problem::UndecodableRow {
                        location: Location::Archive {
                            path: path.clone(),
                            row,
                        },
                        probable_seq: Some(probable_seq),
                        reason,
                    });
                }
                Ok(None) => self.reader = None,
                Err(error) => {
                    report.problem(Problem::UnreadableArchive {
                        path: path.clone(),
                        reason: error.to_string(),
                    });
                    self.reader = None;
                }
            }
        }
    }
}
