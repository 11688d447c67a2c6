//! The settings of an [`AuditLog`](super::AuditLog).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::Error;
use crate::segment::HEADER_LEN;
use crate::witness::Witness;

/// Settings of an [`AuditLog`](super::AuditLog). [`AuditLogConfig::new`] gives the defaults.
#[derive(Debug, Clone)]
pub struct AuditLogConfig {
    /// The directory holding the segments and `checkpoints` (e.g. `<data_dir>/audit`).
    pub dir: PathBuf,
    /// A segment is sealed and a new one started once it would grow beyond this many bytes
    /// (default 64 MiB). A single record larger than this still gets a segment of its own.
    pub segment_max_bytes: u64,
    /// A checkpoint is signed after at most this many records (default 10 000).
    pub checkpoint_every_records: u64,
    /// A checkpoint is signed at most this long after the first unsigned record (default 1 s):
    /// records a crash or a cut could lose without a signature vouching for them span at most
    /// this long (or [`AuditLogConfig::checkpoint_every_records`]).
    pub checkpoint_interval: Duration,
    /// How many `record` calls may wait for the writer before callers are held back
    /// (backpressure; default 65 536).
    pub queue_capacity: usize,
    /// The most records one group commit takes (default 65 536).
    pub max_batch_records: usize,
    /// How many records a live subscriber may have unread before it is switched to reading
    /// from disk (default 4 096).
    pub subscriber_buffer: usize,
    /// Where every signed checkpoint is also sent, outside the data directory (default none);
    /// see [`crate::witness`].
    pub witness: Option<Arc<dyn Witness>>,
}

impl AuditLogConfig {
    /// The defaults, for a log in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        AuditLogConfig {
            dir: dir.into(),
            segment_max_bytes: 64 << 20,
            checkpoint_every_records: 10_000,
            checkpoint_interval: Duration::from_secs(1),
            queue_capacity: 1 << 16,
            max_batch_records: 1 << 16,
            subscriber_buffer: 4096,
            witness: None,
        }
    }

    pub(super) fn validate(&self) -> Result<(), Error> {
        let reason = if self.queue_capacity == 0 {
            "queue_capacity must be at least 1"
        } else if self.max_batch_records == 0 {
            "max_batch_records must be at least 1"
        } else if self.subscriber_buffer == 0 {
            "subscriber_buffer must be at least 1"
        } else if self.checkpoint_every_records == 0 {
            "checkpoint_every_records must be at least 1"
        } else if self.segment_max_bytes <= HEADER_LEN {
            "segment_max_bytes must be larger than a segment header"
        } else {
            return Ok(());
        };
        Err(Error::Config {
            reason: reason.into(),
        })
    }
}
