//! The verifier's findings: where ([`Location`]), evidence of damage or tampering
//! ([`Problem`]), and what is worth knowing but is not ([`Notice`]). Their `Display` texts are
//! what `haechi audit verify` prints.

use std::fmt;
use std::path::PathBuf;

use crate::checkpoint::KeyId;

/// Where a finding is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A frame (or header, at offset 0) of a live-log segment.
    Segment {
        /// The segment file.
        path: PathBuf,
        /// Byte offset of the frame.
        offset: u64,
    },
    /// A row of a Parquet archive file.
    Archive {
        /// The Parquet file.
        path: PathBuf,
        /// Row index in the file, from 0.
        row: u64,
    },
    /// An entry of a `checkpoints` file.
    Checkpoint {
        /// The checkpoints file.
        path: PathBuf,
        /// Entry index, from 0.
        index: usize,
    },
    /// An entry a witness holds.
    Witness {
        /// The witness address.
        address: String,
        /// Line (entry) number, from 1.
        line: usize,
    },
    /// A message of a stream the log is replicated to (a cluster's JetStream stream).
    Message {
        /// The stream's name.
        stream: String,
        /// The subject the message was published to.
        subject: String,
        /// The message's sequence number in the stream.
        sequence: u64,
    },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Segment { path, offset } => write!(f, "{} byte {offset}", path.display()),
            Location::Archive { path, row } => write!(f, "{} row {row}", path.display()),
            Location::Checkpoint { path, index } => write!(f, "{} entry {index}", path.display()),
            Location::Witness { address, line } => write!(f, "witness {address} line {line}"),
            Location::Message {
                stream,
                subject,
                sequence,
            } => write!(f, "stream {stream} message {sequence} ({subject})"),
        }
    }
}

/// A sign of damage or tampering, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// A frame's bytes are damaged (checksum mismatch, impossible length, undecodable): a byte
    /// was changed without fixing the checksum, or the disk corrupted it.
    CorruptFrame {
        /// The frame.
        location: Location,
        /// The seq the frame most likely held (the one after the record before it).
        probable_seq: Option<u64>,
        /// What is wrong.
        reason: String,
    },
    /// A record's content does not match its stored hash: it was altered after it was written.
    RecordAltered {
        /// The record's seq.
        seq: u64,
        /// Where it is.
        location: Location,
    },
    /// A record's `prev_hash` is not the hash of the record before it: a record before it was
    /// altered and re-hashed, or one was inserted or replaced here.
    ChainBroken {
        /// The record whose link is wrong.
        seq: u64,
        /// Where it is.
        location: Location,
    },
    /// Records are missing: the seq jumps from `first - 1` to `last + 1`.
    Removed {
        /// First missing seq.
        first: u64,
        /// Last missing seq.
        last: u64,
        /// The record right after the gap.
        location: Location,
    },
    /// A record appears later than it should: it was moved (records swapped or reordered).
    Reordered {
        /// The misplaced record's seq.
        seq: u64,
        /// The highest seq seen before it.
        after: u64,
        /// Where it is.
        location: Location,
    },
    /// A seq appears a second time: a record was inserted with a seq already used.
    Duplicate {
        /// The repeated seq.
        seq: u64,
        /// The second occurrence.
        location: Location,
    },
    /// The chain does not start at seq 1 with the genesis hash, so its beginning is missing
    /// (pruned without an archive being given, or removed).
    MissingStart {
        /// The first seq present.
        first_seq: u64,
        /// Where it is.
        location: Location,
    },
    /// A segment header does not continue the chain from the previous segment, or disagrees
    /// with its own first record: a segment was removed, replaced or renamed.
    SegmentBoundary {
        /// The segment header.
        location: Location,
        /// What disagrees.
        reason: String,
    },
    /// The live log and an archive hold different records under the same seq.
    SourcesDisagree {
        /// The seq.
        seq: u64,
        /// The record in the live log.
        log: Location,
        /// The record in the archive.
        archive: Location,
    },
    /// A Parquet file in an archive directory is not a Haechi audit archive (from elsewhere, or
    /// damaged so that it cannot be read).
    UnreadableArchive {
        /// The file.
        path: PathBuf,
        /// Why it cannot be read.
        reason: String,
    },
    /// An archive row has values no record can have (an unknown kind, a malformed address, an
    /// `ip_bin` that is not the `ip`): it was edited.
    UndecodableRow {
        /// The row.
        location: Location,
        /// The seq it most likely held.
        probable_seq: Option<u64>,
        /// What is wrong.
        reason: String,
    },
    /// A checkpoint names a different signing key than the one given: the wrong audit key was
    /// supplied, or the checkpoint was made with another key.
    CheckpointWrongKey {
        /// The checkpoint's seq.
        seq: u64,
        /// The key it names.
        signed_by: KeyId,
        /// The key given to the verifier.
        expected: KeyId,
        /// Where it is.
        location: Location,
    },
    /// A checkpoint's signature does not verify under the key it names: it was forged or edited.
    CheckpointForged {
        /// The checkpoint's seq.
        seq: u64,
        /// Where it is.
        location: Location,
    },
    /// A validly signed checkpoint disagrees with the record at its seq: the chain was
    /// rewritten after it was signed.
    CheckpointMismatch {
        /// The checkpoint's seq.
        seq: u64,
        /// The checkpoint.
        checkpoint: Location,
        /// The record it disagrees with.
        record: Location,
    },
    /// A validly signed checkpoint covers a seq beyond the last record: records were cut off
    /// the end after they were signed.
    CheckpointBeyondEnd {
        /// The checkpoint's seq.
        seq: u64,
        /// The last seq present.
        last_seq: u64,
        /// The checkpoint.
        location: Location,
    },
    /// The witness holds a validly signed checkpoint beyond the last record: the log was cut
    /// back (records, and the checkpoints signing them, removed from the end) after the
    /// witness saw its head.
    WitnessAhead {
        /// The highest seq the witness holds a checkpoint for.
        seq: u64,
        /// The head hash the witness holds for it.
        hash: [u8; 32],
        /// The last seq the log (with its archives) has, 0 if none.
        last_seq: u64,
        /// That record's hash.
        last_hash: Option<[u8; 32]>,
        /// The witness entry.
        location: Location,
    },
    /// The witness holds a validly signed checkpoint whose hash is not the record's at that
    /// seq: the chain was rewritten after the witness saw it.
    WitnessMismatch {
        /// The seq.
        seq: u64,
        /// The hash the witness holds.
        witnessed: [u8; 32],
        /// The hash the log has.
        found: [u8; 32],
        /// The witness entry.
        witness: Location,
        /// The record.
        record: Location,
    },
    /// A checkpoint entry is damaged.
    CorruptCheckpoint {
        /// The entry.
        location: Location,
        /// What is wrong.
        reason: String,
    },
}

impl fmt::Display for Problem {
    // Long on purpose: one flat match with an arm per variant, in declaration order, each the
    // sentence `haechi audit verify` prints for it. Split up, a message would sit away from its
    // variant and the command's output would be harder to review as a whole.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::CorruptFrame {
                location,
                probable_seq,
                reason,
            } => {
                write!(f, "damaged record at {location}")?;
                if let Some(seq) = probable_seq {
                    write!(f, " (probably seq {seq})")?;
                }
                write!(f, ": {reason}")
            }
            Problem::RecordAltered { seq, location } => write!(
                f,
                "record altered: seq {seq} at {location} does not match its stored hash"
            ),
            Problem::ChainBroken { seq, location } => write!(
                f,
                "chain broken at seq {seq} ({location}): its prev_hash is not the hash of seq {} (a record was altered and re-hashed, inserted or replaced)",
                seq.saturating_sub(1)
            ),
            Problem::Removed {
                first,
                last,
                location,
            } if first == last => {
                write!(
                    f,
                    "record removed: seq {first} is missing (gap before {location})"
                )
            }
            Problem::Removed {
                first,
                last,
                location,
            } => write!(
                f,
                "records removed: seq {first}..={last} are missing (gap before {location})"
            ),
            Problem::Reordered {
                seq,
                after,
                location,
            } => write!(
                f,
                "records reordered: seq {seq} appears after seq {after} at {location}"
            ),
            Problem::Duplicate { seq, location } => {
                write!(f, "record inserted: seq {seq} appears again at {location}")
            }
            Problem::MissingStart {
                first_seq,
                location,
            } => write!(
                f,
                "the chain does not start at seq 1: the first record present is seq {first_seq} at {location}"
            ),
            Problem::SegmentBoundary { location, reason } => {
                write!(f, "segment boundary at {location}: {reason}")
            }
            Problem::SourcesDisagree { seq, log, archive } => write!(
                f,
                "live log and archive differ at seq {seq}: {log} vs {archive}"
            ),
            Problem::UnreadableArchive { path, reason } => {
                write!(
                    f,
                    "{} is not a readable audit archive: {reason}",
                    path.display()
                )
            }
            Problem::UndecodableRow {
                location,
                probable_seq,
                reason,
            } => {
                write!(f, "edited archive row at {location}")?;
                if let Some(seq) = probable_seq {
                    write!(f, " (probably seq {seq})")?;
                }
                write!(f, ": {reason}")
            }
            Problem::CheckpointWrongKey {
                seq,
                signed_by,
                expected,
                location,
            } => write!(
                f,
                "checkpoint at seq {seq} ({location}) is signed by key {signed_by}, not by the audit key {expected} given"
            ),
            Problem::CheckpointForged { seq, location } => write!(
                f,
                "checkpoint at seq {seq} ({location}) has a bad signature: forged or edited"
            ),
            Problem::CheckpointMismatch {
                seq,
                checkpoint,
                record,
            } => write!(
                f,
                "signed checkpoint at seq {seq} ({checkpoint}) does not match the record at {record}: the chain was rewritten"
            ),
            Problem::CheckpointBeyondEnd {
                seq,
                last_seq,
                location,
            } => write!(
                f,
                "signed checkpoint at seq {seq} ({location}) but the log ends at seq {last_seq}: records were removed from the end"
            ),
            Problem::WitnessAhead {
                seq,
                hash,
                last_seq,
                last_hash,
                location,
            } => {
                write!(
                    f,
                    "TAIL CUT: the witness ({location}) holds a signed head at seq {seq} (hash {}) but the log ends at seq {last_seq}",
                    hex::encode(hash)
                )?;
                if let Some(last_hash) = last_hash {
                    write!(f, " (hash {})", hex::encode(last_hash))?;
                }
                write!(
                    f,
                    ": records seq {}..={seq} were removed from the end, with the checkpoints that signed them",
                    last_seq + 1
                )
            }
            Problem::WitnessMismatch {
                seq,
                witnessed,
                found,
                witness,
                record,
            } => write!(
                f,
                "the witness ({witness}) holds a signed head at seq {seq} with hash {} but the log has hash {} there ({record}): the chain was rewritten after the witness saw it",
                hex::encode(witnessed),
                hex::encode(found)
            ),
            Problem::CorruptCheckpoint { location, reason } => {
                write!(f, "damaged checkpoint at {location}: {reason}")
            }
        }
    }
}

/// Something worth knowing that is not evidence of tampering.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Notice {
    /// Records after the last valid checkpoint. Normal while the log is running or after a
    /// crash; after a clean shutdown it means records were appended while the log was closed.
    /// Their chain is intact, but no signature vouches for them.
    UnsignedTail {
        /// First unsigned seq.
        first: u64,
        /// Last unsigned seq.
        last: u64,
    },
    /// The last segment ends in a torn frame (a crash mid-append); opening the log truncates
    /// it.
    TornTail {
        /// Where the torn frame starts.
        location: Location,
        /// What was found.
        reason: String,
    },
    /// The last checkpoint entry is incomplete (a crash mid-checkpoint).
    TornCheckpoint {
        /// The checkpoints file.
        path: PathBuf,
    },
    /// The source holds the chain from `last + 1` on, right after a signed checkpoint of seq
    /// `last` that names the next record's link: seqs 1..=`last` were pruned from it (a
    /// cluster's stream after `haechi audit prune --bus`). They are checked only where they
    /// are kept: verify with the archive to check them.
    PrunedPrefix {
        /// The last seq pruned (the checkpoint's seq).
        last: u64,
        /// The checkpoint the chain resumes after.
        checkpoint: Location,
    },
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notice::UnsignedTail { first, last } => write!(
                f,
                "seq {first}..={last} come after the last signed checkpoint: chained but not signed"
            ),
            Notice::TornTail { location, reason } => {
                write!(
                    f,
                    "torn write at {location} ({reason}); truncated when the log is next opened"
                )
            }
            Notice::TornCheckpoint { path } => {
                write!(f, "incomplete last entry in {}", path.display())
            }
            Notice::PrunedPrefix { last, checkpoint } => write!(
                f,
                "seq 1..={last} were pruned from here; the chain resumes after the signed \
                 checkpoint of seq {last} at {checkpoint} (verify with the archive to check them)"
            ),
        }
    }
}
