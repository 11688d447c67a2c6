//! The durable, hash-chained, group-committed audit log.
//!
//! **Architecture invariant:** `record` returns `Ok` only after the event's frame was written
//! *and* `fdatasync`ed; the reply travels on a oneshot channel that the writer completes after
//! the sync. One writer thread owns every file handle the log writes to, so seqs are assigned
//! and hashes chained in exactly one place, in file order.
//!
//! **Fail closed:** the first failed write, sync or file creation puts the log in a failed state
//! for the rest of the process. Every later `record` fails with [`SinkError::Unavailable`]; the
//! server answers 503 rather than serve data it cannot audit. A record that failed may still be
//! on disk (the write succeeded, the sync did not) — the log may hold more than was
//! acknowledged, never less.

use std::collections::VecDeque;
use std::fmt;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use ed25519_dalek::{SigningKey, VerifyingKey};
use haechi_events::{Clock, EventReceipt, EventSink, SecurityEvent, SinkError};
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};

use crate::checkpoint::{CHECKPOINTS_FILE, Checkpoint, read_checkpoints};
use crate::error::IoContext;
use crate::reader::LogCursor;
use crate::segment::{
    FrameRead, FrameReader, HEADER_LEN, OpenSegmentError, SegmentHeader, append_frame,
    list_segments, segment_file_name, sync_dir,
};
use crate::storage::{AppendFile, FileStorage, Storage};
use crate::witness::pump::Pump;
use crate::witness::{Witness, WitnessStatus};
use crate::{AuditRecord, Error, GENESIS_HASH};

/// Settings of an [`AuditLog`]. [`AuditLogConfig::new`] gives the defaults.
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

    fn validate(&self) -> Result<(), Error> {
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

/// What [`AuditLog::open`] found and repaired. Never empty-handed about damage: a torn write is
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

/// The audit log: a durable [`EventSink`] with group commit, signed checkpoints, live
/// subscribers, search and export.
///
/// Dropping it lets the writer finish what is queued, sign a final checkpoint and stop;
/// [`AuditLog::shutdown`] does the same and waits for it.
pub struct AuditLog {
    commands: mpsc::Sender<Command>,
    shared: Arc<Shared>,
    public_key: VerifyingKey,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Delivery of checkpoints to the witness, when one is configured.
    witness: Option<Arc<Pump>>,
    witness_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Why the log's volume is short of space, while it is (see [`AuditLog::check_volume`]).
    volume_low: Mutex<Option<String>>,
}

impl fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditLog")
            .field("dir", &self.shared.dir)
            .field("durable_seq", &self.durable_seq())
            .finish_non_exhaustive()
    }
}

/// State the writer shares with readers and subscribers.
#[derive(Debug)]
pub(crate) struct Shared {
    pub dir: PathBuf,
    pub live: Mutex<LiveState>,
    /// Set once with the first failure, so `record` can refuse without taking a lock.
    pub failed: AtomicBool,
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
}

/// Whether the log accepts records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Status {
    Open,
    Failed(String),
    Closed,
}

#[allow(
    clippy::large_enum_variant,
    reason = "records are nearly all of the traffic; boxing them would cost an allocation per event"
)]
enum Command {
    Record {
        event: SecurityEvent,
        reply: oneshot::Sender<Result<u64, String>>,
    },
    Checkpoint {
        reply: oneshot::Sender<Result<Option<Checkpoint>, String>>,
    },
    Seal {
        reply: oneshot::Sender<Result<Option<u64>, String>>,
    },
    Shutdown {
        reply: oneshot::Sender<Result<(), String>>,
    },
}

impl AuditLog {
    /// Opens (or creates) the log in `config.dir`, recovering from a crash, and starts the
    /// writer. `signing_key` is the dedicated audit key; keeping its private half safe is the
    /// caller's job. `clock` stamps checkpoints.
    pub fn open(
        config: AuditLogConfig,
        signing_key: SigningKey,
        clock: Arc<dyn Clock>,
    ) -> Result<(AuditLog, RecoveryReport), Error> {
        AuditLog::open_with_storage(config, signing_key, clock, Arc::new(FileStorage))
    }

    /// [`AuditLog::open`] with the writer's disk access going through `storage` (tests use it to
    /// inject a full disk or a failing `fsync`).
    pub fn open_with_storage(
        config: AuditLogConfig,
        signing_key: SigningKey,
        clock: Arc<dyn Clock>,
        storage: Arc<dyn Storage>,
    ) -> Result<(AuditLog, RecoveryReport), Error> {
        config.validate()?;
        let dir = config.dir.clone();
        std::fs::create_dir_all(&dir).at(&dir)?;
        let lock = lock_dir(&dir)?;
        let recovered = recover(&dir)?;
        let report = recovered.report.clone();

        let segment_path = dir.join(segment_file_name(recovered.segment_first_seq));
        let (segment, segment_bytes) = match recovered.new_segment {
            Some(header) => (
                create_segment(&*storage, &dir, &segment_path, header)?,
                HEADER_LEN,
            ),
            None => (
                storage.open_append(&segment_path).at(&segment_path)?,
                recovered.segment_bytes,
            ),
        };
        let checkpoints_path = dir.join(CHECKPOINTS_FILE);
        let checkpoints = storage
            .open_append(&checkpoints_path)
            .at(&checkpoints_path)?;

        let shared = Arc::new(Shared {
            dir: dir.clone(),
            live: Mutex::new(LiveState {
                durable_seq: recovered.head_seq,
                status: Status::Open,
                subscribers: Vec::new(),
            }),
            failed: AtomicBool::new(false),
            subscriber_buffer: config.subscriber_buffer,
        });
        let public_key = signing_key.verifying_key();
        let (witness, witness_thread) = match &config.witness {
            Some(witness) => {
                let (pump, handle) =
                    Pump::start(Arc::clone(witness)).map_err(|reason| Error::Task { reason })?;
                (Some(Arc::new(pump)), Some(handle))
            }
            None => (None, None),
        };
        let (commands, receiver) = mpsc::channel(config.queue_capacity);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(|error| Error::Task {
                reason: format!("cannot start the writer's timer runtime: {error}"),
            })?;
        let writer = Writer {
            _lock: lock,
            dir,
            storage,
            signing_key,
            clock,
            shared: Arc::clone(&shared),
            segment,
            segment_bytes,
            segment_records: recovered.segment_records,
            head_seq: recovered.head_seq,
            head_hash: recovered.head_hash,
            checkpoints,
            checkpointed_seq: recovered.report.last_checkpoint_seq,
            last_checkpoint_at: tokio::time::Instant::now(),
            failed: None,
            buffer: Vec::new(),
            witness: witness.clone(),
            config: config.clone(),
        };
        // A dedicated thread, not a task on the caller's runtime: `write` and `fdatasync`
        // block, and on a two-core server they must not stall the request handlers. Its own
        // current-thread runtime only drives the command channel and the checkpoint timer.
        let handle = std::thread::Builder::new()
            .name("haechi-audit-writer".into())
            .spawn(move || runtime.block_on(writer.run(receiver)))
            .map_err(|error| Error::Task {
                reason: format!("cannot start the audit writer thread: {error}"),
            })?;
        let log = AuditLog {
            commands,
            shared,
            public_key,
            writer: Mutex::new(Some(handle)),
            witness,
            witness_thread: Mutex::new(witness_thread),
            volume_low: Mutex::new(None),
        };
        Ok((log, report))
    }

    /// Appends `event` and returns its seq once it is durable.
    pub async fn append(&self, event: SecurityEvent) -> Result<u64, Error> {
        if self.shared.failed.load(Ordering::Acquire) {
            return Err(self.failure());
        }
        let (reply, response) = oneshot::channel();
        self.send(Command::Record { event, reply }).await?;
        self.await_reply(response).await
    }

    /// Signs a checkpoint of the current head now (if anything is unsigned) and returns it.
    pub async fn checkpoint(&self) -> Result<Option<Checkpoint>, Error> {
        let (reply, response) = oneshot::channel();
        self.send(Command::Checkpoint { reply }).await?;
        self.await_reply(response).await
    }

    /// Seals the active segment (signing a checkpoint) and starts a new one, so the sealed one
    /// can be exported. Returns the last seq of the sealed segment, or `None` if the active
    /// segment held no records and was left as it is.
    pub async fn seal(&self) -> Result<Option<u64>, Error> {
        let (reply, response) = oneshot::channel();
        self.send(Command::Seal { reply }).await?;
        self.await_reply(response).await
    }

    /// Writes what is queued, signs a final checkpoint and stops the writer. Later records fail.
    pub async fn shutdown(&self) -> Result<(), Error> {
        let (reply, response) = oneshot::channel();
        let sent = self.send(Command::Shutdown { reply }).await;
        let outcome = match sent {
            Ok(()) => self.await_reply(response).await,
            // Already shut down: nothing left to do but join.
            Err(Error::Closed) => Ok(()),
            Err(error) => Err(error),
        };
        let handle = self.writer.lock().take();
        if let Some(handle) = handle {
            tokio::task::spawn_blocking(move || handle.join())
                .await
                .map_err(|error| Error::Task {
                    reason: error.to_string(),
                })?
                .map_err(|_| Error::Task {
                    reason: "the audit writer thread panicked".into(),
                })?;
        }
        // The writer closed the witness pump after its final checkpoint; wait (at most the
        // pump's grace period) until the witness holds it.
        let witness_thread = self.witness_thread.lock().take();
        if let Some(handle) = witness_thread {
            tokio::task::spawn_blocking(move || handle.join())
                .await
                .map_err(|error| Error::Task {
                    reason: error.to_string(),
                })?
                .map_err(|_| Error::Task {
                    reason: "the audit witness thread panicked".into(),
                })?;
        }
        outcome
    }

    /// How delivery of checkpoints to the witness stands, when one is configured.
    pub fn witness_status(&self) -> Option<WitnessStatus> {
        self.witness.as_ref().map(|pump| pump.status())
    }

    /// Measures the free space of the volume holding the log against `min_free_percent` and
    /// remembers the outcome for [`AuditLog::warnings`]. Says whether this check crossed the
    /// line, so a caller raises an alarm once per crossing rather than at every check.
    pub fn check_volume(&self, min_free_percent: f64) -> Result<crate::VolumeCheck, Error> {
        let space = crate::volume::volume_space(&self.shared.dir)?;
        let low = space.free_percent() < min_free_percent;
        let warning = low.then(|| {
            format!(
                "the audit volume has {:.1} % free, below audit.min_free_headroom \
                 {min_free_percent} %: free space before the audit log fails closed",
                space.free_percent()
            )
        });
        let mut state = self.volume_low.lock();
        let crossing = match (state.is_some(), low) {
            (false, true) => crate::Crossing::BecameLow,
            (true, false) => crate::Crossing::Recovered,
            _ => crate::Crossing::Unchanged,
        };
        *state = warning;
        Ok(crate::VolumeCheck { space, crossing })
    }

    /// Conditions an operator must see that do not stop the log: the witness failing to take
    /// checkpoints, the volume short of space. Empty when all is well. Fit for an
    /// unauthenticated readiness answer: no paths, addresses or error texts. (A failed log is not a
    /// warning: [`AuditLog::health`] reports it.)
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if let Some(status) = self.witness_status()
            && status.is_failing()
        {
            // No address or error text: /readyz is unauthenticated, and where the witness
            // lives is no one else's business. The server log names both.
            warnings.push(format!(
                "the audit witness has not taken checkpoints after seq {} (newest signed: {}; \
                 {} failed attempts): see the server log",
                status.delivered_seq, status.signed_seq, status.failures
            ));
        }
        if let Some(low) = self.volume_low.lock().clone() {
            warnings.push(low);
        }
        warnings
    }

    /// Whether the log accepts records: `Ok` while it does, [`Error::Failed`] with the first
    /// failure once a write or sync failed (fail closed), [`Error::Closed`] after shutdown.
    /// Cheap (an atomic load and a short lock), for readiness checks.
    pub fn health(&self) -> Result<(), Error> {
        if !self.shared.failed.load(Ordering::Acquire)
            && self.shared.live.lock().status == Status::Open
        {
            return Ok(());
        }
        Err(self.failure())
    }

    /// The highest seq that is durable.
    pub fn durable_seq(&self) -> u64 {
        self.shared.live.lock().durable_seq
    }

    /// The public half of the audit key, to hand to auditors (see [`crate::public_key_pem`]).
    pub fn public_key(&self) -> VerifyingKey {
        self.public_key
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Every record with seq ≥ `from_seq`, in order: first from disk, then live. See
    /// [`Subscription`].
    pub fn subscribe(&self, from_seq: u64) -> Subscription {
        Subscription {
            shared: Arc::clone(&self.shared),
            next_seq: from_seq.max(1),
            buffer: VecDeque::new(),
            cursor: None,
            live: None,
        }
    }

    /// Searches the live log; see [`crate::search`]. Only durable records are returned.
    pub async fn search(
        &self,
        filter: crate::SearchFilter,
        page: crate::Page,
    ) -> Result<Vec<AuditRecord>, Error> {
        let dir = self.shared.dir.clone();
        let upto = self.durable_seq();
        blocking(move || crate::search::search_upto(&dir, &filter, page, upto)).await
    }

    /// Exports sealed segments to `to_dir` as Parquet; with [`ActiveSegment::Seal`] the active
    /// segment is sealed first so everything durable now is exported. See [`crate::export`].
    pub async fn export(
        &self,
        to_dir: &Path,
        active: ActiveSegment,
        options: crate::ExportOptions,
    ) -> Result<crate::ExportReport, Error> {
        if active == ActiveSegment::Seal {
            self.seal().await?;
        }
        let dir = self.shared.dir.clone();
        let to_dir = to_dir.to_path_buf();
        blocking(move || crate::archive::export(&dir, &to_dir, &options)).await
    }

    /// Deletes sealed segments that lie wholly before `before_seq` and are verified to be in
    /// the archive; see [`crate::prune_log`].
    pub async fn prune(&self, before_seq: u64) -> Result<crate::PruneReport, Error> {
        let dir = self.shared.dir.clone();
        blocking(move || crate::archive::prune_log(&dir, before_seq)).await
    }

    /// [`AuditLog::prune`] with a time bound and a dry run; see [`crate::prune_log_with`].
    /// Safe beside the writer: only sealed segments are touched, and they never change.
    pub async fn prune_with(
        &self,
        options: crate::PruneOptions,
    ) -> Result<crate::PruneReport, Error> {
        let dir = self.shared.dir.clone();
        blocking(move || crate::archive::prune_log_with(&dir, &options)).await
    }

    async fn send(&self, command: Command) -> Result<(), Error> {
        self.commands
            .send(command)
            .await
            .map_err(|_| match &self.shared.live.lock().status {
                Status::Failed(reason) => Error::Failed {
                    reason: reason.clone(),
                },
                _ => Error::Closed,
            })
    }

    async fn await_reply<T>(
        &self,
        response: oneshot::Receiver<Result<T, String>>,
    ) -> Result<T, Error> {
        match response.await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(reason)) => Err(Error::Failed { reason }),
            Err(_) => Err(Error::Task {
                reason: "the audit writer stopped without answering".into(),
            }),
        }
    }

    fn failure(&self) -> Error {
        match &self.shared.live.lock().status {
            Status::Failed(reason) => Error::Failed {
                reason: reason.clone(),
            },
            Status::Closed => Error::Closed,
            Status::Open => Error::Failed {
                reason: "unknown failure".into(),
            },
        }
    }
}

#[async_trait]
impl EventSink for AuditLog {
    async fn record(&self, event: SecurityEvent) -> Result<EventReceipt, SinkError> {
        match self.append(event).await {
            Ok(seq) => Ok(EventReceipt { seq: Some(seq) }),
            Err(error) => Err(SinkError::Unavailable(error.to_string())),
        }
    }
}

/// What [`AuditLog::export`] does with the segment being written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActiveSegment {
    /// Leave it; export only segments that are already sealed.
    Leave,
    /// Seal it first, so it is exported too.
    Seal,
}

/// Runs blocking file work off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| Error::Task {
            reason: error.to_string(),
        })?
}

/// A live view of the log from a seq on.
///
/// Records arrive in seq order with none missing. Catching up reads from disk; once caught up,
/// the subscription receives each batch right after it is durable through a bounded channel.
/// The writer never waits for a subscriber: when a subscriber's channel is full, the writer
/// drops it back to reading from disk, where it picks up exactly where it was. A restarted
/// subscriber resumes with [`AuditLog::subscribe`] from [`Subscription::next_seq`].
#[derive(Debug)]
pub struct Subscription {
    shared: Arc<Shared>,
    next_seq: u64,
    buffer: VecDeque<AuditRecord>,
    cursor: Option<LogCursor>,
    live: Option<mpsc::Receiver<AuditRecord>>,
}

/// How many records one catch-up read takes from disk.
const CATCH_UP_CHUNK: usize = 4096;

impl Subscription {
    /// The next record, waiting for it if needed. `Ok(None)` once the log was shut down and
    /// every record has been delivered; an error if the log failed or the records asked for
    /// were pruned.
    pub async fn next(&mut self) -> Result<Option<AuditRecord>, Error> {
        loop {
            if let Some(record) = self.buffer.pop_front() {
                self.next_seq = record.seq + 1;
                return Ok(Some(record));
            }
            if let Some(live) = self.live.as_mut() {
                match live.recv().await {
                    Some(record) if record.seq < self.next_seq => continue,
                    Some(record) if record.seq == self.next_seq => {
                        self.next_seq += 1;
                        return Ok(Some(record));
                    }
                    // `None`: the writer let go of this subscriber because it fell behind (or
                    // the log stopped). A seq beyond the next one cannot happen, but if it
                    // did, disk is the answer too.
                    Some(_) | None => {
                        self.live = None;
                        continue;
                    }
                }
            }
            let durable = self.shared.live.lock().durable_seq;
            if self.next_seq <= durable {
                self.catch_up(durable).await?;
                continue;
            }
            // Caught up. Joining the live set happens under the writer's publish lock, so no
            // batch can slip between the last record read from disk and the first one sent.
            let mut live = self.shared.live.lock();
            if live.durable_seq >= self.next_seq {
                continue;
            }
            match &live.status {
                Status::Failed(reason) => {
                    return Err(Error::Failed {
                        reason: reason.clone(),
                    });
                }
                Status::Closed => return Ok(None),
                Status::Open => {}
            }
            let (sender, receiver) = mpsc::channel(self.shared.subscriber_buffer);
            live.subscribers.push(sender);
            drop(live);
            self.live = Some(receiver);
        }
    }

    /// The seq of the next record this subscription delivers: where a restarted subscriber
    /// resumes.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    async fn catch_up(&mut self, durable: u64) -> Result<(), Error> {
        let mut cursor = self
            .cursor
            .take()
            .unwrap_or_else(|| LogCursor::new(&self.shared.dir));
        let from = self.next_seq;
        let (cursor, read) = tokio::task::spawn_blocking(move || {
            let read = cursor.read(from, durable, CATCH_UP_CHUNK);
            (cursor, read)
        })
        .await
        .map_err(|error| Error::Task {
            reason: error.to_string(),
        })?;
        self.cursor = Some(cursor);
        let records = read?;
        if records.is_empty() {
            return Err(Error::CorruptSegment {
                path: self.shared.dir.clone(),
                offset: 0,
                reason: format!("seq {from} is durable but no segment holds it"),
            });
        }
        self.buffer.extend(records);
        Ok(())
    }
}

/// The writer's view of where the log stands after recovery.
#[derive(Debug)]
struct Recovered {
    report: RecoveryReport,
    head_seq: u64,
    head_hash: [u8; 32],
    /// First seq (file name) of the segment to append to.
    segment_first_seq: u64,
    segment_bytes: u64,
    segment_records: u64,
    /// Set when that segment must be created first, with this header.
    new_segment: Option<SegmentHeader>,
}

/// Scans the end of the log, cutting off what a crash tore and refusing anything else.
fn recover(dir: &Path) -> Result<Recovered, Error> {
    let mut report = RecoveryReport::default();

    let checkpoints_path = dir.join(CHECKPOINTS_FILE);
    let checkpoints = read_checkpoints(&checkpoints_path)?;
    if checkpoints.torn_bytes > 0 {
        truncate(&checkpoints_path, checkpoints.whole_len)?;
        report.repairs.push(Repair::TruncatedTornCheckpoint {
            path: checkpoints_path.clone(),
            discarded_bytes: checkpoints.torn_bytes,
        });
    }
    let mut last_checkpoint = None;
    for (index, entry) in checkpoints.entries {
        match entry {
            Ok(checkpoint) => last_checkpoint = Some(checkpoint),
            Err(reason) => {
                return Err(Error::CorruptCheckpoints {
                    path: checkpoints_path,
                    reason: format!("entry {index}: {reason}"),
                });
            }
        }
    }

    let mut segments = list_segments(dir)?;
    let mut recovered = loop {
        let Some(last) = segments.last().cloned() else {
            break Recovered {
                report: RecoveryReport::default(),
                head_seq: 0,
                head_hash: GENESIS_HASH,
                segment_first_seq: 1,
                segment_bytes: 0,
                segment_records: 0,
                new_segment: Some(SegmentHeader {
                    first_seq: 1,
                    prev_hash: GENESIS_HASH,
                }),
            };
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
                    break Recovered {
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
                    };
                }
                continue;
            }
            Err(OpenSegmentError::Failed(error)) => return Err(error),
        };
        drop(reader);
        let (head_seq, head_hash, end_offset, records) =
            scan_segment(&last.path, Some(&mut report))?;
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
        break Recovered {
            report: RecoveryReport::default(),
            head_seq,
            head_hash,
            segment_first_seq: last.first_seq,
            segment_bytes: end_offset,
            segment_records: records,
            new_segment: None,
        };
    };

    if let Some(checkpoint) = &last_checkpoint {
        // A checkpoint is only written after the records it covers were synced, so one that
        // points past the end means records were cut off after they were signed.
        if checkpoint.seq > recovered.head_seq {
            return Err(Error::CorruptCheckpoints {
                path: checkpoints_path,
                reason: format!(
                    "a signed checkpoint covers seq {} but the log ends at seq {}: records were removed",
                    checkpoint.seq, recovered.head_seq
                ),
            });
        }
        if checkpoint.seq == recovered.head_seq && checkpoint.hash != recovered.head_hash {
            return Err(Error::CorruptCheckpoints {
                path: checkpoints_path,
                reason: format!(
                    "the signed checkpoint at seq {} does not match the record there: the log was rewritten",
                    checkpoint.seq
                ),
            });
        }
    }
    report.last_seq = recovered.head_seq;
    report.last_checkpoint_seq = last_checkpoint.map_or(0, |checkpoint| checkpoint.seq);
    recovered.report = report;
    Ok(recovered)
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

/// Takes the exclusive lock on `<dir>/LOCK` that makes this the only writer of the log.
pub(crate) fn lock_dir(dir: &Path) -> Result<std::fs::File, Error> {
    let path = dir.join("LOCK");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .at(&path)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::InUse {
            dir: dir.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(error)) => Err(Error::io(path, error)),
    }
}

fn truncate(path: &Path, length: u64) -> Result<(), Error> {
    let file = OpenOptions::new().write(true).open(path).at(path)?;
    file.set_len(length).at(path)?;
    file.sync_all().at(path)
}

/// Creates a segment with `header`, durably (file content and directory entry).
fn create_segment(
    storage: &dyn Storage,
    dir: &Path,
    path: &Path,
    header: SegmentHeader,
) -> Result<Box<dyn AppendFile>, Error> {
    let mut file = storage.open_append(path).at(path)?;
    file.append(&header.encode()).at(path)?;
    file.sync_data().at(path)?;
    storage.sync_dir(dir).at(dir)?;
    Ok(file)
}

/// The single owner of the log's write handles.
struct Writer {
    /// Held for as long as the writer runs; released when the thread ends.
    _lock: std::fs::File,
    dir: PathBuf,
    storage: Arc<dyn Storage>,
    signing_key: SigningKey,
    clock: Arc<dyn Clock>,
    shared: Arc<Shared>,
    config: AuditLogConfig,
    segment: Box<dyn AppendFile>,
    segment_bytes: u64,
    segment_records: u64,
    /// Last record written to the segment (durable once the batch is synced).
    head_seq: u64,
    head_hash: [u8; 32],
    checkpoints: Box<dyn AppendFile>,
    checkpointed_seq: u64,
    last_checkpoint_at: tokio::time::Instant,
    failed: Option<String>,
    /// Reused across batches so a steady load allocates nothing per batch.
    buffer: Vec<u8>,
    /// Where each durable checkpoint is queued for the witness.
    witness: Option<Arc<Pump>>,
}

/// A record waiting for the group commit.
struct Pending {
    event: SecurityEvent,
    reply: oneshot::Sender<Result<u64, String>>,
}

impl Writer {
    async fn run(mut self, mut receiver: mpsc::Receiver<Command>) {
        let mut batch: Vec<Command> = Vec::new();
        let mut stopping = false;
        while !stopping {
            let deadline = (self.head_seq > self.checkpointed_seq && self.failed.is_none())
                .then(|| self.last_checkpoint_at + self.config.checkpoint_interval);
            let first = tokio::select! {
                command = receiver.recv() => command,
                () = sleep_until(deadline) => {
                    if let Err(reason) = self.write_checkpoint() {
                        self.fail(reason);
                    }
                    continue;
                }
            };
            let Some(first) = first else {
                // Every handle to the log was dropped.
                break;
            };
            batch.push(first);
            // Group commit: everything already queued joins this batch and shares its fsync.
            while batch.len() < self.config.max_batch_records {
                match receiver.try_recv() {
                    Ok(command) => batch.push(command),
                    Err(_) => break,
                }
            }
            stopping = self.process(&mut batch);
        }
        self.finish(&mut receiver);
    }

    /// Handles a batch in order; returns whether a shutdown was asked for.
    fn process(&mut self, batch: &mut Vec<Command>) -> bool {
        let mut pending = Vec::with_capacity(batch.len());
        let mut stopping = false;
        for command in batch.drain(..) {
            match command {
                Command::Record { event, reply } => pending.push(Pending { event, reply }),
                Command::Checkpoint { reply } => {
                    self.flush(&mut pending);
                    let outcome = self.guarded(Writer::write_checkpoint);
                    let _ = reply.send(outcome);
                }
                Command::Seal { reply } => {
                    self.flush(&mut pending);
                    let outcome = self.guarded(|writer| {
                        if writer.segment_records == 0 {
                            return Ok(None);
                        }
                        writer.roll()?;
                        Ok(Some(writer.head_seq))
                    });
                    let _ = reply.send(outcome);
                }
                Command::Shutdown { reply } => {
                    self.flush(&mut pending);
                    stopping = true;
                    let outcome = self.guarded(|writer| writer.write_checkpoint().map(|_| ()));
                    let _ = reply.send(outcome);
                }
            }
        }
        self.flush(&mut pending);
        stopping
    }

    /// Runs `operation` unless the log has failed; a failure of it fails the log.
    fn guarded<T>(
        &mut self,
        operation: impl FnOnce(&mut Writer) -> Result<T, String>,
    ) -> Result<T, String> {
        if let Some(reason) = &self.failed {
            return Err(reason.clone());
        }
        let outcome = operation(self);
        if let Err(reason) = &outcome {
            self.fail(reason.clone());
        }
        outcome
    }

    /// Writes and syncs the pending records, then answers their callers.
    fn flush(&mut self, pending: &mut Vec<Pending>) {
        if pending.is_empty() {
            return;
        }
        if let Some(reason) = &self.failed {
            for waiting in pending.drain(..) {
                let _ = waiting.reply.send(Err(reason.clone()));
            }
            return;
        }
        let first_seq = self.head_seq + 1;
        let prev_hash = self.head_hash;
        match self.write_batch(pending) {
            Ok(hashes) => {
                let mut records = Vec::with_capacity(pending.len());
                let mut replies = Vec::with_capacity(pending.len());
                for (seq, waiting) in (first_seq..).zip(pending.drain(..)) {
                    records.push(waiting.event);
                    replies.push((seq, waiting.reply));
                }
                self.publish(first_seq, prev_hash, records, &hashes);
                for (seq, reply) in replies {
                    let _ = reply.send(Ok(seq));
                }
                if self.head_seq - self.checkpointed_seq >= self.config.checkpoint_every_records
                    && let Err(reason) = self.write_checkpoint()
                {
                    self.fail(reason);
                }
            }
            Err(reason) => {
                self.fail(reason.clone());
                for waiting in pending.drain(..) {
                    let _ = waiting.reply.send(Err(reason.clone()));
                }
            }
        }
    }

    /// Encodes, chains, writes (rolling segments at the size limit) and syncs the batch.
    fn write_batch(&mut self, pending: &[Pending]) -> Result<Vec<[u8; 32]>, String> {
        let mut buffer = std::mem::take(&mut self.buffer);
        buffer.clear();
        let mut ends = Vec::with_capacity(pending.len());
        let mut hashes = Vec::with_capacity(pending.len());
        let mut prev_hash = self.head_hash;
        for (index, waiting) in pending.iter().enumerate() {
            let seq = self.head_seq + 1 + index as u64;
            prev_hash = append_frame(seq, &waiting.event, &prev_hash, &mut buffer);
            ends.push(buffer.len());
            hashes.push(prev_hash);
        }
        let outcome = self.write_frames(&buffer, &ends, &hashes);
        self.buffer = buffer;
        outcome.map(|()| hashes)
    }

    fn write_frames(
        &mut self,
        buffer: &[u8],
        ends: &[usize],
        hashes: &[[u8; 32]],
    ) -> Result<(), String> {
        let mut index = 0;
        let mut start = 0;
        while index < ends.len() {
            let room = self
                .config
                .segment_max_bytes
                .saturating_sub(self.segment_bytes);
            let first_len = (ends[index] - start) as u64;
            if self.segment_records > 0 && first_len > room {
                self.roll()?;
                continue;
            }
            let mut end_index = index + 1;
            while end_index < ends.len() && ((ends[end_index] - start) as u64) <= room {
                end_index += 1;
            }
            let chunk = &buffer[start..ends[end_index - 1]];
            self.segment
                .append(chunk)
                .map_err(|error| format!("writing the audit segment failed: {error}"))?;
            self.segment_bytes += chunk.len() as u64;
            self.segment_records += (end_index - index) as u64;
            self.head_seq += (end_index - index) as u64;
            self.head_hash = hashes[end_index - 1];
            start = ends[end_index - 1];
            index = end_index;
        }
        self.segment
            .sync_data()
            .map_err(|error| format!("syncing the audit segment failed: {error}"))
    }

    /// Seals the active segment: syncs it, signs its head, and starts the next segment.
    fn roll(&mut self) -> Result<(), String> {
        self.segment
            .sync_data()
            .map_err(|error| format!("syncing the audit segment failed: {error}"))?;
        self.write_checkpoint()?;
        let header = SegmentHeader {
            first_seq: self.head_seq + 1,
            prev_hash: self.head_hash,
        };
        let path = self.dir.join(segment_file_name(header.first_seq));
        self.segment = create_segment(&*self.storage, &self.dir, &path, header)
            .map_err(|error| format!("starting a new audit segment failed: {error}"))?;
        self.segment_bytes = HEADER_LEN;
        self.segment_records = 0;
        Ok(())
    }

    /// Signs and durably appends a checkpoint of the head, if it is not signed yet.
    fn write_checkpoint(&mut self) -> Result<Option<Checkpoint>, String> {
        self.last_checkpoint_at = tokio::time::Instant::now();
        if self.head_seq == self.checkpointed_seq {
            return Ok(None);
        }
        let checkpoint = Checkpoint::sign(
            self.head_seq,
            self.head_hash,
            self.clock.now(),
            &self.signing_key,
        );
        self.checkpoints
            .append(&checkpoint.encode())
            .and_then(|()| self.checkpoints.sync_data())
            .map_err(|error| format!("writing an audit checkpoint failed: {error}"))?;
        self.checkpointed_seq = self.head_seq;
        // Only once it is durable here: the witness never holds a head the log could lack.
        if let Some(witness) = &self.witness {
            witness.submit(checkpoint.clone());
        }
        Ok(Some(checkpoint))
    }

    /// Announces a durable batch: the new durable seq, and the records to live subscribers.
    fn publish(
        &self,
        first_seq: u64,
        prev_hash: [u8; 32],
        events: Vec<SecurityEvent>,
        hashes: &[[u8; 32]],
    ) {
        let mut live = self.shared.live.lock();
        live.durable_seq = self.head_seq;
        if live.subscribers.is_empty() {
            return;
        }
        let mut records = Vec::with_capacity(events.len());
        let mut prev_hash = prev_hash;
        for ((index, event), hash) in events.into_iter().enumerate().zip(hashes) {
            records.push(AuditRecord {
                seq: first_seq + index as u64,
                event,
                prev_hash,
                hash: *hash,
            });
            prev_hash = *hash;
        }
        // A subscriber whose channel is full is let go (its sender dropped): it finishes what
        // it has, then reads the rest from disk. The writer never waits for it.
        live.subscribers.retain(|subscriber| {
            records
                .iter()
                .all(|record| subscriber.try_send(record.clone()).is_ok())
        });
    }

    /// Enters the failed state for good.
    fn fail(&mut self, reason: String) {
        if self.failed.is_some() {
            return;
        }
        tracing::error!(target: "haechi::audit", %reason, "audit log failed; refusing all further records");
        self.failed = Some(reason.clone());
        self.shared.failed.store(true, Ordering::Release);
        let mut live = self.shared.live.lock();
        live.status = Status::Failed(reason);
        // Dropping the senders sends every live subscriber back to disk, where it drains what
        // is durable and then learns of the failure.
        live.subscribers.clear();
    }

    /// Signs a final checkpoint, refuses whatever is still queued, and marks the log closed.
    fn finish(&mut self, receiver: &mut mpsc::Receiver<Command>) {
        if self.failed.is_none()
            && let Err(reason) = self.write_checkpoint()
        {
            self.fail(reason);
        }
        receiver.close();
        let refusal = self
            .failed
            .clone()
            .unwrap_or_else(|| "the audit log is shut down".to_string());
        while let Ok(command) = receiver.try_recv() {
            match command {
                Command::Record { reply, .. } => {
                    let _ = reply.send(Err(refusal.clone()));
                }
                Command::Checkpoint { reply } => {
                    let _ = reply.send(Err(refusal.clone()));
                }
                Command::Seal { reply } => {
                    let _ = reply.send(Err(refusal.clone()));
                }
                Command::Shutdown { reply } => {
                    let _ = reply.send(Ok(()));
                }
            }
        }
        if let Some(witness) = &self.witness {
            witness.close();
        }
        let mut live = self.shared.live.lock();
        if live.status == Status::Open {
            live.status = Status::Closed;
        }
        live.subscribers.clear();
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
