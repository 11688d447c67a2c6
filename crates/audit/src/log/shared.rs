//! What the writer thread publishes and the log's handles and subscribers read: the durable
//! seq, whether the log is open, and the live subscribers.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use parking_lot::Mutex;
use tokio::sync::mpsc;

use crate::AuditRecord;

/// State the writer shares with readers and subscribers.
#[derive(Debug)]
pub(crate) struct Shared {
    pub dir: PathBuf,
    pub live: Mutex<LiveState>,
    /// Set once with the first failure, so `record` can refuse without taking a lock.
    pub failed: AtomicBool,
    /// Set while the replica lacks records (and cleared once it has caught up), so `record`
    /// can refuse without taking a lock.
    pub unreplicated: AtomicBool,
    pub subscriber_buffer: usize,
}

/// What the writer publishes after every durable batch.
#[derive(Debug)]
pub(crate) struct LiveState {
    /// The highest seq that is durable.
    pub durable_seq: u64,
    /// Open, failed or closed.
    pub status: Status,
    /// Senders to subscribers that are keeping up.
    pub subscribers: Vec<mpsc::Sender<AuditRecord>>,
    /// With a replica: the highest seq it acknowledged.
    pub replicated_seq: Option<u64>,
    /// While the replica lacks records: the first it lacks, and why.
    pub unreplicated: Option<(u64, String)>,
}

/// Whether the log accepts records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Status {
    Open,
    Failed(String),
    Closed,
}
