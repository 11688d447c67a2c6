//! The replication hook: a copy of the log kept outside this node (in a cluster, a JetStream
//! stream), written by the writer after each local write and sync and before callers are
//! answered, so "durable before answered" means "on this node's disk *and* acknowledged by the
//! replica".
//!
//! The crate knows nothing of the replica's transport; it hands over records exactly as they
//! are stored ([`crate::record::encode_stored`]: canonical bytes, then the stored hash), so a
//! reader of the replica decodes them with [`crate::record::decode_stored`] and verifies the
//! chain as it would verify the segments. What the writer does when the replica fails is in
//! [`super::AuditLog::open_replicated`].

use std::fmt;
use std::ops::Range;

use async_trait::async_trait;

use crate::AuditRecord;
use crate::checkpoint::Checkpoint;
use crate::record::encode_stored;

/// A copy of one log kept elsewhere. The writer calls it from its own thread, one call at a
/// time, in seq order; an implementation that needs another runtime's IO (a network client)
/// runs its work there.
#[async_trait]
pub trait Replica: Send + fmt::Debug {
    /// Names the replica in errors and logs. Never credentials.
    fn describe(&self) -> String;

    /// Where the replica's copy of this log ends, read from the replica itself. The writer
    /// asks at open and whenever an append was refused or failed, then checks every record of
    /// [`ReplicaPosition::tail`] against its own before appending after it. Afterwards the
    /// replica expects the records that follow the position it reported.
    async fn position(&mut self) -> Result<ReplicaPosition, ReplicaError>;

    /// Appends the records of `batch`, which continue the replica's copy exactly where the
    /// last append or [`Replica::position`] left it. Returns only once the replica has
    /// acknowledged every one of them durably.
    async fn append_records(&mut self, batch: ReplicaBatch) -> Result<(), ReplicaError>;

    /// Appends a signed checkpoint, durable on this node; every record it covers was appended
    /// before. Returns once the replica has acknowledged it.
    async fn append_checkpoint(&mut self, checkpoint: &Checkpoint) -> Result<(), ReplicaError>;
}

/// Where a replica's copy ends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplicaPosition {
    /// The records the replica holds beyond the last point it has confirmed as this log's own
    /// (its last fully acknowledged append), in the replica's order; at open, when nothing is
    /// confirmed yet, only its last record. Empty when the replica holds nothing unconfirmed.
    /// The writer compares each with its own record at that seq: one that differs means
    /// another writer, and one beyond the local end means lost local records.
    pub tail: Vec<ReplicaHead>,
    /// The last record the replica holds for this log (`None`: none at all).
    pub last_record: Option<ReplicaHead>,
    /// The seq of the last checkpoint the replica holds (0: none).
    pub last_checkpoint_seq: u64,
}

/// A record's seq and stored hash, as the replica holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaHead {
    /// The record's seq in this log.
    pub seq: u64,
    /// The hash stored with it.
    pub hash: [u8; 32],
}

/// Why a replica call failed, which decides what the writer does next.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplicaError {
    /// The replica cannot be reached or did not acknowledge in time. The writer keeps the
    /// records, refuses new ones, and retries with backoff until it is back.
    Unavailable {
        /// What happened, without credentials.
        reason: String,
    },
    /// The replica's copy did not end where the append expected (a conditional append was
    /// refused). The writer asks for the [`Replica::position`] again and compares.
    Conflict {
        /// What happened.
        reason: String,
    },
    /// The replica holds a record under one of this log's seqs that is not this log's record:
    /// another writer, or tampering. The log fails closed for good.
    Diverged {
        /// Which seq and where.
        reason: String,
    },
}

impl fmt::Display for ReplicaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplicaError::Unavailable { reason } => write!(f, "replica unavailable: {reason}"),
            ReplicaError::Conflict { reason } => write!(f, "replica conflict: {reason}"),
            ReplicaError::Diverged { reason } => write!(f, "replica diverged: {reason}"),
        }
    }
}

/// Consecutive records handed to [`Replica::append_records`]: one buffer of stored records
/// and where each one is in it, so a batch costs one allocation, not one per record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplicaBatch {
    bytes: Vec<u8>,
    records: Vec<(u64, Range<usize>)>,
}

impl ReplicaBatch {
    /// A batch over `bytes` holding the stored records at `records` (seq, byte range), which
    /// must be consecutive seqs in order and lie inside `bytes`.
    pub(crate) fn from_parts(bytes: Vec<u8>, records: Vec<(u64, Range<usize>)>) -> Self {
        ReplicaBatch { bytes, records }
    }

    /// A batch of `records` (consecutive seqs, in order).
    pub fn from_records<'a>(records: impl IntoIterator<Item = &'a AuditRecord>) -> Self {
        let mut batch = ReplicaBatch::default();
        for record in records {
            let start = batch.bytes.len();
            encode_stored(record, &mut batch.bytes);
            batch.records.push((record.seq, start..batch.bytes.len()));
        }
        batch
    }

    /// Each record's seq and stored bytes ([`crate::record::encode_stored`]), in seq order.
    pub fn records(&self) -> impl Iterator<Item = (u64, &[u8])> {
        self.records
            .iter()
            .map(|(seq, range)| (*seq, &self.bytes[range.clone()]))
    }

    /// The buffer and each record's seq and range in it, for a transport that shares the
    /// buffer between messages instead of copying each record.
    pub fn into_parts(self) -> (Vec<u8>, Vec<(u64, Range<usize>)>) {
        (self.bytes, self.records)
    }

    /// How many records the batch holds.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the batch holds no record.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The seq of its first record.
    pub fn first_seq(&self) -> Option<u64> {
        self.records.first().map(|(seq, _)| *seq)
    }

    /// The seq of its last record.
    pub fn last_seq(&self) -> Option<u64> {
        self.records.last().map(|(seq, _)| *seq)
    }
}

/// What reconciling with the replica at open did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// The last seq the replica held for this log before (0: none).
    pub replica_seq: u64,
    /// Records the replica lacked and that were republished from the local segments.
    pub republished_records: u64,
    /// Checkpoints the replica lacked and that were republished.
    pub republished_checkpoints: u64,
    /// Set when the replica could not be reached at open: the log opened, refuses records,
    /// and reconciles as soon as the replica answers (see [`crate::Error::Unreplicated`]).
    pub unreachable: Option<String>,
}
