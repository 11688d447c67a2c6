//! Segment files: their names, header and frames, and a reader that tells a torn tail from
//! corruption.
//!
//! ```text
//! segment  = header frame*
//! header   = "HAECHIAL" u32 version=1, u64 first_seq, [32] prev_hash, u32 crc32(previous 52 bytes)
//! frame    = u32 payload_len, u32 crc32(payload), payload
//! payload  = canonical record bytes, [32] hash
//! ```
//!
//! All integers big-endian. The header carries the chain anchor (the seq and `prev_hash` the
//! segment starts from), so the writer can resume from the last segment alone and the verifier
//! notices a whole segment that was deleted.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::error::IoContext;
use crate::{AuditRecord, Error, record};

/// Magic bytes that open every segment file.
const SEGMENT_MAGIC: &[u8; 8] = b"HAECHIAL";
/// The segment layout version written by this build.
const SEGMENT_VERSION: u32 = 1;
/// Bytes in a segment header.
pub(crate) const HEADER_LEN: u64 = 56;
/// Bytes before each frame's payload (length and CRC).
pub(crate) const FRAME_OVERHEAD: usize = 8;
/// The largest payload a frame may declare. An event is a few hundred bytes (the user agent is
/// capped at 256); a larger length is damage, and refusing it keeps a hostile length from
/// making the reader allocate gigabytes.
pub(crate) const MAX_PAYLOAD: u32 = 1 << 20;

/// Name of the segment whose first record is `first_seq`: `seg-000000000001.log`.
pub(crate) fn segment_file_name(first_seq: u64) -> String {
    format!("seg-{first_seq:012}.log")
}

/// The first seq a segment file name announces, or `None` for any other file.
pub(crate) fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("seg-")?.strip_suffix(".log")?;
    if digits.len() < 12 || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// One segment file found in the log directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SegmentFile {
    /// Where it is.
    pub path: PathBuf,
    /// The first seq its name announces.
    pub first_seq: u64,
}

/// Every segment in `dir`, oldest first. Other files are ignored.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<SegmentFile>, Error> {
    let mut segments = Vec::new();
    for entry in std::fs::read_dir(dir).at(dir)? {
        let entry = entry.at(dir)?;
        let name = entry.file_name();
        if let Some(first_seq) = name.to_str().and_then(parse_segment_name) {
            segments.push(SegmentFile {
                path: entry.path(),
                first_seq,
            });
        }
    }
    segments.sort_by_key(|segment| segment.first_seq);
    Ok(segments)
}

/// What a segment header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentHeader {
    /// The seq of the segment's first record.
    pub first_seq: u64,
    /// The hash of the record before it (the chain anchor).
    pub prev_hash: [u8; 32],
}

impl SegmentHeader {
    /// The header's bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN as usize] {
        let mut bytes = [0u8; HEADER_LEN as usize];
        bytes[0..8].copy_from_slice(SEGMENT_MAGIC);
        bytes[8..12].copy_from_slice(&SEGMENT_VERSION.to_be_bytes());
        bytes[12..20].copy_from_slice(&self.first_seq.to_be_bytes());
        bytes[20..52].copy_from_slice(&self.prev_hash);
        let crc = crc32fast::hash(&bytes[0..52]);
        bytes[52..56].copy_from_slice(&crc.to_be_bytes());
        bytes
    }

    /// Parses a header, saying what is wrong if it is not one.
    pub fn decode(bytes: &[u8; HEADER_LEN as usize]) -> Result<Self, String> {
        if &bytes[0..8] != SEGMENT_MAGIC {
            return Err("not a Haechi audit segment (bad magic)".into());
        }
        let stored_crc = u32::from_be_bytes([bytes[52], bytes[53], bytes[54], bytes[55]]);
        if crc32fast::hash(&bytes[0..52]) != stored_crc {
            return Err("segment header checksum mismatch".into());
        }
        let version = u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        if version != SEGMENT_VERSION {
            return Err(format!(
                "segment version {version}, this build reads version {SEGMENT_VERSION}"
            ));
        }
        let mut first_seq = [0u8; 8];
        first_seq.copy_from_slice(&bytes[12..20]);
        let first_seq = u64::from_be_bytes(first_seq);
        if first_seq == 0 {
            return Err("segment header names seq 0; seqs start at 1".into());
        }
        let mut prev_hash = [0u8; 32];
        prev_hash.copy_from_slice(&bytes[20..52]);
        Ok(SegmentHeader {
            first_seq,
            prev_hash,
        })
    }
}

/// Appends one frame for the record (`seq`, `event`, `prev_hash`) to `out` and returns the
/// record's hash. Encoding straight into the batch buffer saves a copy per event.
pub(crate) fn append_frame(
    seq: u64,
    event: &haechi_events::SecurityEvent,
    prev_hash: &[u8; 32],
    out: &mut Vec<u8>,
) -> [u8; 32] {
    let frame_start = out.len();
    out.extend_from_slice(&[0u8; FRAME_OVERHEAD]);
    let payload_start = out.len();
    record::encode_canonical(seq, event, prev_hash, out);
    let hash = record::record_hash(&out[payload_start..]);
    out.extend_from_slice(&hash);
    let payload_len = u32::try_from(out.len() - payload_start).unwrap_or(u32::MAX);
    let crc = crc32fast::hash(&out[payload_start..]);
    out[frame_start..frame_start + 4].copy_from_slice(&payload_len.to_be_bytes());
    out[frame_start + 4..frame_start + 8].copy_from_slice(&crc.to_be_bytes());
    hash
}

/// A frame's record as stored: `record.hash` is the hash written in the frame, which the
/// verifier compares with `computed_hash`.
#[derive(Debug, Clone)]
pub(crate) struct StoredRecord {
    /// The record, with the stored hash.
    pub record: AuditRecord,
    /// The hash of its canonical bytes.
    pub computed_hash: [u8; 32],
    /// Byte offset of the frame in its segment.
    pub offset: u64,
}

/// What the next position of a segment holds.
#[derive(Debug)]
pub(crate) enum FrameRead {
    /// A complete frame with a valid checksum.
    Record(Box<StoredRecord>),
    /// The end of the file, exactly at a frame boundary.
    End,
    /// The file ends inside a frame, or in zeros, or in a damaged final frame: what a crash
    /// during an append leaves behind. Only acceptable at the end of the last segment.
    Torn {
        /// Where the torn frame starts.
        offset: u64,
        /// What was found there.
        reason: String,
    },
    /// Damage followed by more data: corruption or tampering, never a crash.
    Corrupt {
        /// Where the damaged frame starts.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
}

/// Reads frames of one segment in order.
#[derive(Debug)]
pub(crate) struct FrameReader {
    path: PathBuf,
    reader: BufReader<File>,
    offset: u64,
    file_len: u64,
    header: SegmentHeader,
}

/// Why a segment could not be opened for reading.
#[derive(Debug)]
pub(crate) enum OpenSegmentError {
    /// The file is shorter than a header (or its header is all zeros): a crash right after the
    /// file was created. Only acceptable for the last segment.
    TornHeader,
    /// Anything else.
    Failed(Error),
}

impl FrameReader {
    /// Opens `path` and reads its header.
    pub fn open(path: &Path) -> Result<Self, OpenSegmentError> {
        let file = File::open(path)
            .at(path)
            .map_err(OpenSegmentError::Failed)?;
        let file_len = file
            .metadata()
            .at(path)
            .map_err(OpenSegmentError::Failed)?
            .len();
        let mut reader = BufReader::with_capacity(1 << 16, file);
        if file_len < HEADER_LEN {
            return Err(OpenSegmentError::TornHeader);
        }
        let mut header_bytes = [0u8; HEADER_LEN as usize];
        reader
            .read_exact(&mut header_bytes)
            .at(path)
            .map_err(OpenSegmentError::Failed)?;
        if header_bytes.iter().all(|byte| *byte == 0) {
            return Err(OpenSegmentError::TornHeader);
        }
        let header = SegmentHeader::decode(&header_bytes).map_err(|reason| {
            OpenSegmentError::Failed(Error::CorruptSegment {
                path: path.to_path_buf(),
                offset: 0,
                reason,
            })
        })?;
        Ok(FrameReader {
            path: path.to_path_buf(),
            reader,
            offset: HEADER_LEN,
            file_len,
            header,
        })
    }

    /// Opens `path`, treating a torn header as an error (for readers that are not recovering).
    pub fn open_existing(path: &Path) -> Result<Self, Error> {
        FrameReader::open(path).map_err(|error| match error {
            OpenSegmentError::TornHeader => Error::CorruptSegment {
                path: path.to_path_buf(),
                offset: 0,
                reason: "segment shorter than its header".into(),
            },
            OpenSegmentError::Failed(error) => error,
        })
    }

    /// The segment's header.
    pub fn header(&self) -> SegmentHeader {
        self.header
    }

    /// The segment file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Byte offset of the next frame.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Re-reads the file length, for a reader following the segment the writer appends to.
    pub fn refresh_len(&mut self) -> Result<(), Error> {
        self.file_len = self.reader.get_ref().metadata().at(&self.path)?.len();
        Ok(())
    }

    /// Moves back to `offset` (a frame boundary this reader returned before).
    pub fn rewind_to(&mut self, offset: u64) -> Result<(), Error> {
        self.reader.seek(SeekFrom::Start(offset)).at(&self.path)?;
        self.offset = offset;
        Ok(())
    }

    /// Reads the next frame.
    pub fn next_frame(&mut self) -> Result<FrameRead, Error> {
        let offset = self.offset;
        let remaining = self.file_len.saturating_sub(offset);
        if remaining == 0 {
            return Ok(FrameRead::End);
        }
        if remaining < FRAME_OVERHEAD as u64 {
            return self.torn_or_corrupt_tail(offset, "incomplete frame header");
        }
        let mut head = [0u8; FRAME_OVERHEAD];
        self.reader.read_exact(&mut head).at(&self.path)?;
        let payload_len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let stored_crc = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
        let frame_end = offset + FRAME_OVERHEAD as u64 + u64::from(payload_len);
        if payload_len == 0 || payload_len > MAX_PAYLOAD {
            if frame_end > self.file_len {
                return self.torn_or_corrupt_tail(offset, "frame length runs past the end");
            }
            return self
                .torn_or_corrupt_tail(offset, &format!("impossible frame length {payload_len}"));
        }
        if frame_end > self.file_len {
            return Ok(FrameRead::Torn {
                offset,
                reason: format!(
                    "incomplete frame: {} of {} bytes present",
                    remaining,
                    u64::from(payload_len) + FRAME_OVERHEAD as u64
                ),
            });
        }
        // Bounded by MAX_PAYLOAD above.
        let mut payload = vec![0u8; payload_len as usize];
        self.reader.read_exact(&mut payload).at(&self.path)?;
        self.offset = frame_end;
        if crc32fast::hash(&payload) != stored_crc {
            let reason = "frame checksum mismatch".to_string();
            // A damaged frame that ends exactly at the end of the file is what an
            // interrupted write looks like; with data after it, it is corruption.
            return Ok(if frame_end == self.file_len {
                FrameRead::Torn { offset, reason }
            } else {
                FrameRead::Corrupt { offset, reason }
            });
        }
        match record::decode_stored(&payload) {
            Ok((record, computed_hash)) => Ok(FrameRead::Record(Box::new(StoredRecord {
                record,
                computed_hash,
                offset,
            }))),
            // The checksum matched, so these are the bytes that were written: not a torn
            // write but a record Haechi would never have produced.
            Err(error) => Ok(FrameRead::Corrupt {
                offset,
                reason: error.to_string(),
            }),
        }
    }

    /// Classifies damage at `offset`: torn if only zeros follow (a file extended by the
    /// filesystem but never written), corrupt otherwise — unless `reason` is about a frame
    /// that runs past the end, which is what a partial append looks like.
    fn torn_or_corrupt_tail(&mut self, offset: u64, reason: &str) -> Result<FrameRead, Error> {
        self.reader.seek(SeekFrom::Start(offset)).at(&self.path)?;
        let mut rest = Vec::new();
        (&mut self.reader)
            .take(self.file_len.saturating_sub(offset))
            .read_to_end(&mut rest)
            .at(&self.path)?;
        self.offset = self.file_len;
        let only_zeros = rest.iter().all(|byte| *byte == 0);
        let short = rest.len() < FRAME_OVERHEAD || reason.contains("past the end");
        if only_zeros || short {
            Ok(FrameRead::Torn {
                offset,
                reason: if only_zeros {
                    "zero-filled tail".to_string()
                } else {
                    reason.to_string()
                },
            })
        } else {
            Ok(FrameRead::Corrupt {
                offset,
                reason: reason.to_string(),
            })
        }
    }
}

/// Reads the whole of a sealed segment, failing on any damage. For readers that are not
/// recovering or verifying.
pub(crate) fn read_records(path: &Path, mut visit: impl FnMut(StoredRecord)) -> Result<(), Error> {
    let mut reader = FrameReader::open_existing(path)?;
    loop {
        match reader.next_frame()? {
            FrameRead::Record(stored) => visit(*stored),
            FrameRead::End => return Ok(()),
            // Only sealed segments are read this way, and a sealed segment was synced whole
            // before the next one was started: a torn end is damage, not a crash.
            FrameRead::Torn { offset, reason } | FrameRead::Corrupt { offset, reason } => {
                return Err(Error::CorruptSegment {
                    path: path.to_path_buf(),
                    offset,
                    reason,
                });
            }
        }
    }
}

/// Writes `bytes` to a new file at `path` through a temporary file, then renames it, so the
/// file appears complete or not at all.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    let temporary = path.with_extension("tmp");
    {
        let mut file = File::create(&temporary).at(&temporary)?;
        file.write_all(bytes).at(&temporary)?;
        file.sync_all().at(&temporary)?;
    }
    std::fs::rename(&temporary, path).at(path)?;
    if let Some(parent) = path.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

/// Makes a directory's entries (a created or renamed file) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|dir_file| dir_file.sync_all())
        .at(dir)
}

/// Whether an I/O error means "not there".
pub(crate) fn is_not_found(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::NotFound
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_round_trip() {
        assert_eq!(segment_file_name(1), "seg-000000000001.log");
        assert_eq!(parse_segment_name("seg-000000000001.log"), Some(1));
        assert_eq!(parse_segment_name("seg-1.log"), None);
        assert_eq!(parse_segment_name("seg-00000000000x.log"), None);
        assert_eq!(parse_segment_name("checkpoints"), None);
    }

    #[test]
    fn header_round_trips_and_rejects_damage() {
        let header = SegmentHeader {
            first_seq: 42,
            prev_hash: [7; 32],
        };
        let mut bytes = header.encode();
        assert_eq!(SegmentHeader::decode(&bytes), Ok(header));
        bytes[30] ^= 1;
        assert!(SegmentHeader::decode(&bytes).is_err());
    }
}
