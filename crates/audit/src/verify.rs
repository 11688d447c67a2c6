//! The verifier: checks every frame, record hash, chain link, seq, segment boundary, archive
//! row and checkpoint of a log and its archives, and says exactly where anything is wrong.
//!
//! The live log and the archives are read as two seq-ordered streams and merged: a seq found in
//! both must be the same record in both, and the merged sequence must be one unbroken chain
//! from seq 1. Checkpoints, once their signature is checked against the auditor's key, pin the
//! chain at their seqs. Verification reads only; it never repairs.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use ed25519_dalek::VerifyingKey;

use crate::archive::{
    ARCHIVE_CHECKPOINTS_FILE, ArchiveFileReader, list_archive_files, read_manifest,
};
use crate::checkpoint::{CHECKPOINTS_FILE, Checkpoint, KeyId, SignatureCheck, read_checkpoints};
use crate::segment::{FrameRead, FrameReader, OpenSegmentError, SegmentFile, list_segments};
use crate::witness::WitnessedCheckpoints;
use crate::{AuditRecord, Error, GENESIS_HASH};

/// The most problems a report lists; the rest are counted. A log rewritten from its first record
/// on would otherwise produce one finding per record.
const MAX_PROBLEMS: usize = 1000;

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
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Segment { path, offset } => write!(f, "{} byte {offset}", path.display()),
            Location::Archive { path, row } => write!(f, "{} row {row}", path.display()),
            Location::Checkpoint { path, index } => write!(f, "{} entry {index}", path.display()),
            Location::Witness { address, line } => write!(f, "witness {address} line {line}"),
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
        }
    }
}

/// The outcome of [`verify`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Distinct seqs checked.
    pub records: u64,
    /// The lowest seq found (0 if none).
    pub first_seq: u64,
    /// The highest seq found (0 if none).
    pub last_seq: u64,
    /// Live-log segments read.
    pub segments: usize,
    /// Archive files read.
    pub archive_files: usize,
    /// Checkpoints whose signature verified and that match the chain.
    pub checkpoints_verified: u64,
    /// The seq of the last checkpoint that verified and matches (0 if none).
    pub last_signed_seq: u64,
    /// Evidence of damage or tampering, in the order found (at most 1000).
    pub problems: Vec<Problem>,
    /// Problems beyond those listed.
    pub problems_omitted: u64,
    /// Findings that are not evidence of tampering.
    pub notices: Vec<Notice>,
    /// With a witness: how many of its checkpoints matched the log, and the highest seq among
    /// them (`None` without a witness).
    pub witnessed: Option<(u64, u64)>,
}

impl VerifyReport {
    /// Whether no problem was found.
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty() && self.problems_omitted == 0
    }

    fn problem(&mut self, problem: Problem) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(problem);
        } else {
            self.problems_omitted += 1;
        }
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_intact() {
            writeln!(
                f,
                "all {} records verify (seq {}..={}; {} segments, {} archive files; {} signed checkpoints, last at seq {})",
                self.records,
                self.first_seq,
                self.last_seq,
                self.segments,
                self.archive_files,
                self.checkpoints_verified,
                self.last_signed_seq
            )?;
        } else {
            writeln!(
                f,
                "TAMPERING OR DAMAGE: {} problems in {} records (seq {}..={})",
                self.problems.len() as u64 + self.problems_omitted,
                self.records,
                self.first_seq,
                self.last_seq
            )?;
            for problem in &self.problems {
                writeln!(f, "  {problem}")?;
            }
            if self.problems_omitted > 0 {
                writeln!(f, "  … and {} more", self.problems_omitted)?;
            }
        }
        if let Some((matched, head)) = self.witnessed {
            writeln!(
                f,
                "  witness: {matched} witnessed checkpoints match the log; the witnessed head is seq {head}"
            )?;
        }
        for notice in &self.notices {
            writeln!(f, "  note: {notice}")?;
        }
        Ok(())
    }
}

/// Verifies the log and archives in `sources` against the audit public key. Returns a report
/// of everything found; an `Err` only when a directory cannot be read at all.
pub fn verify(sources: &VerifySources, key: &VerifyingKey) -> Result<VerifyReport, Error> {
    let mut report = VerifyReport::default();

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

    let checkpoints =
        load_checkpoints(sources.log_dir.as_deref(), &archive_dirs, key, &mut report)?;

    let segments = match &sources.log_dir {
        Some(dir) => list_segments(dir)?,
        None => Vec::new(),
    };
    report.segments = segments.len();
    let mut archive_files = Vec::new();
    for dir in &archive_dirs {
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
    report.archive_files = archive_files.len();

    let mut log = LogStream::new(segments);
    let mut archive = ArchiveStream::new(archive_files);
    let mut chain = ChainCheck::new(checkpoints);
    if let Some(witness) = &sources.witness {
        chain.witnessed = Some(load_witness(witness, key, &mut report));
    }

    let mut log_head = log.next_record(&mut report, &mut chain.damaged)?;
    let mut archive_head = archive.next_record(&mut report, &mut chain.damaged)?;
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
                    check_own_hash(from_archive, &mut report);
                    archive_head = archive.next_record(&mut report, &mut chain.damaged)?;
                    true
                } else {
                    from_log.record.seq < from_archive.record.seq
                }
            }
        };
        let taken = if take_log {
            std::mem::replace(
                &mut log_head,
                log.next_record(&mut report, &mut chain.damaged)?,
            )
        } else {
            std::mem::replace(
                &mut archive_head,
                archive.next_record(&mut report, &mut chain.damaged)?,
            )
        };
        if let Some(located) = taken {
            check_own_hash(&located, &mut report);
            chain.accept(&located, &mut report);
        }
    }
    chain.finish(&mut report);
    Ok(report)
}

/// A record and where it was read.
#[derive(Debug)]
struct Located {
    record: AuditRecord,
    computed_hash: [u8; 32],
    location: Location,
}

fn check_own_hash(located: &Located, report: &mut VerifyReport) {
    if located.computed_hash != located.record.hash {
        report.problem(Problem::RecordAltered {
            seq: located.record.seq,
            location: located.location.clone(),
        });
    }
}

/// A checkpoint with a valid signature, waiting to be matched against the chain.
#[derive(Debug)]
struct SignedCheckpoint {
    checkpoint: Checkpoint,
    location: Location,
}

/// Reads every `checkpoints` file, checks signatures, and returns the valid ones by seq.
fn load_checkpoints(
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
fn keep_if_signed(
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
fn load_witness(
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

/// Reads the live log's segments in order, reporting damage as it goes.
struct LogStream {
    segments: std::vec::IntoIter<SegmentFile>,
    remaining: usize,
    reader: Option<FrameReader>,
    is_last: bool,
    expect_header_match: bool,
    last: Option<(u64, [u8; 32])>,
}

impl LogStream {
    fn new(segments: Vec<SegmentFile>) -> Self {
        LogStream {
            remaining: segments.len(),
            segments: segments.into_iter(),
            reader: None,
            is_last: false,
            expect_header_match: false,
            last: None,
        }
    }

    fn next_record(
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
struct ArchiveStream {
    files: std::vec::IntoIter<PathBuf>,
    reader: Option<(PathBuf, ArchiveFileReader)>,
    last_seq: Option<u64>,
}

impl ArchiveStream {
    fn new(files: Vec<PathBuf>) -> Self {
        ArchiveStream {
            files: files.into_iter(),
            reader: None,
            last_seq: None,
        }
    }

    fn next_record(
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

/// The merged chain: seq continuity, links, and checkpoints.
struct ChainCheck {
    /// Highest seq accepted in order, and its hash.
    last: Option<(u64, [u8; 32])>,
    /// Seqs skipped over so far, each with the location of the record after the gap; a
    /// record that turns up later was reordered, the rest were removed.
    missing: BTreeMap<u64, Location>,
    /// Seqs whose frame or row was damaged (already reported), not to be reported as removed.
    damaged: BTreeSet<u64>,
    checkpoints: BTreeMap<u64, Vec<SignedCheckpoint>>,
    /// The witness's valid checkpoints, when one was given.
    witnessed: Option<BTreeMap<u64, Vec<SignedCheckpoint>>>,
    /// Witnessed checkpoints that matched, and the highest seq among them.
    witness_matched: (u64, u64),
    records: u64,
    first_seq: Option<u64>,
}

/// At most this many missing seqs are tracked individually; a bigger gap is one range.
const MAX_TRACKED_MISSING: u64 = 100_000;

impl ChainCheck {
    fn new(checkpoints: BTreeMap<u64, Vec<SignedCheckpoint>>) -> Self {
        ChainCheck {
            last: None,
            missing: BTreeMap::new(),
            damaged: BTreeSet::new(),
            checkpoints,
            witnessed: None,
            witness_matched: (0, 0),
            records: 0,
            first_seq: None,
        }
    }

    fn accept(&mut self, located: &Located, report: &mut VerifyReport) {
        let record = &located.record;
        let seq = record.seq;
        match self.last {
            None => {
                self.first_seq = Some(seq);
                if seq != 1 {
                    report.problem(Problem::MissingStart {
                        first_seq: seq,
                        location: located.location.clone(),
                    });
                } else if record.prev_hash != GENESIS_HASH {
                    report.problem(Problem::ChainBroken {
                        seq,
                        location: located.location.clone(),
                    });
                }
            }
            Some((last_seq, last_hash)) if seq == last_seq + 1 => {
                if record.prev_hash != last_hash {
                    report.problem(Problem::ChainBroken {
                        seq,
                        location: located.location.clone(),
                    });
                }
            }
            Some((last_seq, _)) if seq > last_seq + 1 => {
                let gap = seq - last_seq - 1;
                if gap <= MAX_TRACKED_MISSING {
                    for missing in last_seq + 1..seq {
                        if !self.damaged.contains(&missing) {
                            self.missing.insert(missing, located.location.clone());
                        }
                    }
                } else {
                    report.problem(Problem::Removed {
                        first: last_seq + 1,
                        last: seq - 1,
                        location: located.location.clone(),
                    });
                }
            }
            Some((last_seq, _)) => {
                // At or below the highest seq seen: either a record that was skipped earlier
                // shows up late (reordered), or a seq used twice (inserted).
                if self.missing.remove(&seq).is_some() {
                    report.problem(Problem::Reordered {
                        seq,
                        after: last_seq,
                        location: located.location.clone(),
                    });
                } else {
                    report.problem(Problem::Duplicate {
                        seq,
                        location: located.location.clone(),
                    });
                }
                self.records += 1;
                return;
            }
        }
        self.records += 1;
        self.last = Some((seq, record.hash));
        if let Some(signed) = self.checkpoints.remove(&seq) {
            for signed in signed {
                if signed.checkpoint.hash == record.hash {
                    report.checkpoints_verified += 1;
                    report.last_signed_seq = report.last_signed_seq.max(seq);
                } else {
                    report.problem(Problem::CheckpointMismatch {
                        seq,
                        checkpoint: signed.location,
                        record: located.location.clone(),
                    });
                }
            }
        }
        if let Some(signed) = self
            .witnessed
            .as_mut()
            .and_then(|witnessed| witnessed.remove(&seq))
        {
            for signed in signed {
                if signed.checkpoint.hash == record.hash {
                    self.witness_matched.0 += 1;
                    self.witness_matched.1 = self.witness_matched.1.max(seq);
                } else {
                    report.problem(Problem::WitnessMismatch {
                        seq,
                        witnessed: signed.checkpoint.hash,
                        found: record.hash,
                        witness: signed.location,
                        record: located.location.clone(),
                    });
                }
            }
        }
    }

    fn finish(mut self, report: &mut VerifyReport) {
        // Consecutive missing seqs with the same following record form one range.
        let mut ranges: Vec<(u64, u64, Location)> = Vec::new();
        for (seq, location) in std::mem::take(&mut self.missing) {
            match ranges.last_mut() {
                Some((_, last, at)) if *last + 1 == seq && *at == location => *last = seq,
                _ => ranges.push((seq, seq, location)),
            }
        }
        for (first, last, location) in ranges {
            report.problem(Problem::Removed {
                first,
                last,
                location,
            });
        }
        let last_seq = self.last.map_or(0, |(seq, _)| seq);
        for (seq, signed) in std::mem::take(&mut self.checkpoints) {
            if seq > last_seq {
                for signed in signed {
                    report.problem(Problem::CheckpointBeyondEnd {
                        seq,
                        last_seq,
                        location: signed.location,
                    });
                }
            }
            // A checkpoint inside a gap is covered by the gap's finding.
        }
        if let Some(witnessed) = self.witnessed.take() {
            // The highest witnessed head beyond the end names the cut; lower ones beyond the
            // end are the same finding.
            if let Some((&seq, signed)) = witnessed.range(last_seq + 1..).next_back()
                && let Some(signed) = signed.first()
            {
                report.problem(Problem::WitnessAhead {
                    seq,
                    hash: signed.checkpoint.hash,
                    last_seq,
                    last_hash: self.last.map(|(_, hash)| hash),
                    location: signed.location.clone(),
                });
            }
            report.witnessed = Some(self.witness_matched);
        }
        report.records = self.records;
        report.first_seq = self.first_seq.unwrap_or(0);
        report.last_seq = last_seq;
        if last_seq > report.last_signed_seq {
            report.notices.push(Notice::UnsignedTail {
                first: report.last_signed_seq + 1,
                last: last_seq,
            });
        }
    }
}
