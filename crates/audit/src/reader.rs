//! Sequential reading of the live log by seq, for subscribers catching up and for search.

use std::path::{Path, PathBuf};

use crate::segment::{FrameRead, FrameReader, list_segments};
use crate::{AuditRecord, Error};

/// The records of the log in `dir` with these seqs (at most `upto`), in seq order; seqs it no
/// longer (pruned) or not yet holds are left out.
///
/// The segments have no index by seq: finding a record means reading its segment from the
/// start. So the seqs are read in one forward pass — a seq near the last one read is reached by
/// reading on (each record between decoded once), and only a seq far ahead is found from its
/// segment's start.
pub(crate) fn records_at(
    dir: &Path,
    mut seqs: Vec<u64>,
    upto: u64,
) -> Result<Vec<AuditRecord>, Error> {
    /// Records read on, at most, to reach the next seq instead of finding it afresh.
    const READ_ON: u64 = 65_536;
    /// Records one read returns, at most.
    const PAGE: usize = 4096;
    seqs.sort_unstable();
    seqs.dedup();
    let oldest = LogCursor::oldest_seq(dir)?.unwrap_or(u64::MAX);
    seqs.retain(|&seq| seq >= oldest && seq <= upto);
    let mut cursor = LogCursor::new(dir);
    let mut records = Vec::with_capacity(seqs.len());
    // The seq the cursor reads next, once it has read anything.
    let mut next: Option<u64> = None;
    for seq in seqs {
        let from = match next {
            Some(next) if seq >= next && seq - next <= READ_ON => next,
            _ => seq,
        };
        let mut at = from;
        while at <= seq {
            let page = cursor.read(at, seq, PAGE)?;
            let Some(last) = page.last().map(|record| record.seq) else {
                break;
            };
            records.extend(page.into_iter().filter(|record| record.seq == seq));
            at = last + 1;
        }
        next = Some(at);
    }
    Ok(records)
}

/// A position in the log directory that reads records in seq order across segments, and can
/// follow the active segment as the writer appends to it.
#[derive(Debug)]
pub(crate) struct LogCursor {
    dir: PathBuf,
    current: Option<Positioned>,
}

#[derive(Debug)]
struct Positioned {
    reader: FrameReader,
    first_seq: u64,
    /// The seq of the next record this reader returns.
    next_seq: u64,
}

impl LogCursor {
    /// A cursor over the log in `dir`, not yet positioned.
    pub fn new(dir: &Path) -> Self {
        LogCursor {
            dir: dir.to_path_buf(),
            current: None,
        }
    }

    /// The oldest seq the live log still holds (1 for a log never pruned), or `None` for an
    /// empty directory.
    pub fn oldest_seq(dir: &Path) -> Result<Option<u64>, Error> {
        Ok(list_segments(dir)?.first().map(|segment| segment.first_seq))
    }

    /// Reads the records with seq in `from..=upto`, at most `max` of them, in order. Returns
    /// fewer when the log does not (yet) hold more.
    pub fn read(&mut self, from: u64, upto: u64, max: usize) -> Result<Vec<AuditRecord>, Error> {
        let mut records = Vec::new();
        let mut next = from.max(1);
        if self.current.as_ref().is_none_or(|at| at.next_seq != next) {
            self.position(next)?;
        }
        let mut refreshed = false;
        while records.len() < max && next <= upto {
            let Some(at) = self.current.as_mut() else {
                break;
            };
            let offset = at.reader.offset();
            match at.reader.next_frame()? {
                FrameRead::Record(stored) => {
                    let seq = stored.record.seq;
                    if seq < next {
                        // Still skipping to the requested start inside this segment.
                        continue;
                    }
                    if seq > upto {
                        at.reader.rewind_to(offset)?;
                        break;
                    }
                    if seq != next {
                        return Err(Error::CorruptSegment {
                            path: at.reader.path().to_path_buf(),
                            offset,
                            reason: format!("expected seq {next}, found seq {seq}"),
                        });
                    }
                    records.push(stored.record);
                    next += 1;
                    at.next_seq = next;
                    refreshed = false;
                }
                FrameRead::End | FrameRead::Torn { .. } => {
                    at.reader.rewind_to(offset)?;
                    if !refreshed {
                        // The writer may have appended since the length was read.
                        refreshed = true;
                        at.reader.refresh_len()?;
                        continue;
                    }
                    if !self.advance_segment(next)? {
                        break;
                    }
                    refreshed = false;
                }
                FrameRead::Corrupt { offset, reason } => {
                    return Err(Error::CorruptSegment {
                        path: at.reader.path().to_path_buf(),
                        offset,
                        reason,
                    });
                }
            }
        }
        Ok(records)
    }

    /// Opens the segment that holds `seq`.
    fn position(&mut self, seq: u64) -> Result<(), Error> {
        let segments = list_segments(&self.dir)?;
        let Some(oldest) = segments.first() else {
            self.current = None;
            return Ok(());
        };
        if seq < oldest.first_seq {
            return Err(Error::Pruned {
                requested: seq,
                oldest: oldest.first_seq,
            });
        }
        let Some(segment) = segments
            .iter()
            .rev()
            .find(|segment| segment.first_seq <= seq)
        else {
            self.current = None;
            return Ok(());
        };
        self.current = Some(Positioned {
            reader: FrameReader::open_existing(&segment.path)?,
            first_seq: segment.first_seq,
            next_seq: seq,
        });
        Ok(())
    }

    /// Moves to the segment after the current one, if it exists. Returns whether it moved.
    fn advance_segment(&mut self, next: u64) -> Result<bool, Error> {
        let current_first = self.current.as_ref().map_or(0, |at| at.first_seq);
        let segments = list_segments(&self.dir)?;
        let Some(following) = segments
            .iter()
            .find(|segment| segment.first_seq > current_first)
        else {
            return Ok(false);
        };
        if following.first_seq != next {
            return Err(Error::CorruptSegment {
                path: following.path.clone(),
                offset: 0,
                reason: format!(
                    "segment starts at seq {} but the previous one ended before seq {next}",
                    following.first_seq
                ),
            });
        }
        self.current = Some(Positioned {
            reader: FrameReader::open_existing(&following.path)?,
            first_seq: following.first_seq,
            next_seq: next,
        });
        Ok(true)
    }
}

/// Every record of the live log in `dir`, oldest first, read from its files only: no lock is
/// taken and nothing is written, so it works beside a running server (it stops at the end of
/// the last whole record on disk) and on a stopped one alike. Records pruned into the archive
/// are not there; read them with [`crate::read_archive`].
pub fn read_log(dir: &Path) -> Result<LogRecords, Error> {
    Ok(LogRecords {
        next: LogCursor::oldest_seq(dir)?,
        cursor: LogCursor::new(dir),
        buffered: Vec::new().into_iter(),
    })
}

/// Records of a live log in seq order ([`read_log`]).
#[derive(Debug)]
pub struct LogRecords {
    cursor: LogCursor,
    /// The seq to read next; `None` once the log is exhausted (or empty).
    next: Option<u64>,
    buffered: std::vec::IntoIter<AuditRecord>,
}

impl Iterator for LogRecords {
    type Item = Result<AuditRecord, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(record) = self.buffered.next() {
            return Some(Ok(record));
        }
        let next = self.next?;
        match self.cursor.read(next, u64::MAX, 4096) {
            Ok(chunk) => {
                let Some(last) = chunk.last() else {
                    self.next = None;
                    return None;
                };
                self.next = Some(last.seq + 1);
                self.buffered = chunk.into_iter();
                self.buffered.next().map(Ok)
            }
            Err(error) => {
                self.next = None;
                Some(Err(error))
            }
        }
    }
}
