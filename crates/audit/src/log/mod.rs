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
//!
//! **Replicated** ([`AuditLog::open_replicated`]): each batch is also appended to a
//! [`Replica`] after the local sync and before callers are answered; see
//! `replication.rs` for what happens when the replica fails.

mod config;
mod recovery;
mod replica;
mod replication;
mod shared;
mod subscription;
mod writer;

pub use config::AuditLogConfig;
pub use recovery::{RecoveryReport, Repair};
pub use replica::{Reconciled, Replica, ReplicaBatch, ReplicaError, ReplicaHead, ReplicaPosition};
pub use subscription::Subscription;

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use ed25519_dalek::{SigningKey, VerifyingKey};
use haechi_events::{Clock, EventReceipt, EventSink, SecurityEvent, SinkError};
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};

use crate::checkpoint::{CHECKPOINTS_FILE, Checkpoint};
use crate::error::IoContext;
use crate::lock::lock_dir;
use crate::segment::{HEADER_LEN, segment_file_name};
use crate::storage::{FileStorage, Storage};
use crate::witness::WitnessStatus;
use crate::witness::pump::Pump;
use crate::{AuditRecord, Error};
use recovery::recover;
use replication::Replication;
use shared::{LiveState, Shared, Status};
use writer::{Command, Refusal, Writer, create_segment};

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
        let (log, report, _) = AuditLog::start(config, signing_key, clock, storage, None)?;
        Ok((log, report))
    }

    /// [`AuditLog::open`] for a node of a cluster: every batch is also appended to `replica`
    /// after the local sync, and callers are answered only once the replica acknowledged it.
    ///
    /// Before it accepts records the log reconciles with the replica: it reads where the
    /// replica's copy ends, checks that record against its own, and republishes from the
    /// segments whatever the replica lacks (a crash between the local sync and the replica's
    /// acknowledgement leaves such records). It refuses to open with
    /// [`Error::ReplicaAhead`] when the replica holds records beyond the local end, and with
    /// [`Error::ReplicaDiverged`] when it holds a different record under one of this log's
    /// seqs: both mean a second chain under this node's name. An unreachable replica is not
    /// an error: the log opens, refuses records ([`Error::Unreplicated`]) and reconciles as
    /// soon as the replica answers.
    ///
    /// While running, a batch the replica does not acknowledge stays in the local chain, its
    /// callers get [`Error::Unreplicated`], and so does every later record until the writer,
    /// retrying with backoff, has republished the backlog; then records are accepted again.
    pub async fn open_replicated(
        config: AuditLogConfig,
        signing_key: SigningKey,
        clock: Arc<dyn Clock>,
        replica: Box<dyn Replica>,
    ) -> Result<(AuditLog, RecoveryReport, Reconciled), Error> {
        AuditLog::open_replicated_with_storage(
            config,
            signing_key,
            clock,
            Arc::new(FileStorage),
            replica,
        )
        .await
    }

    /// [`AuditLog::open_replicated`] with the writer's disk access going through `storage`.
    pub async fn open_replicated_with_storage(
        config: AuditLogConfig,
        signing_key: SigningKey,
        clock: Arc<dyn Clock>,
        storage: Arc<dyn Storage>,
        replica: Box<dyn Replica>,
    ) -> Result<(AuditLog, RecoveryReport, Reconciled), Error> {
        let (log, report, ready) =
            AuditLog::start(config, signing_key, clock, storage, Some(replica))?;
        let outcome = match ready {
            Some(ready) => ready.await.unwrap_or_else(|_| {
                Err(Error::Task {
                    reason: "the audit writer stopped while reconciling with its replica".into(),
                })
            }),
            None => Ok(Reconciled::default()),
        };
        match outcome {
            Ok(reconciled) => Ok((log, report, reconciled)),
            Err(error) => {
                // The writer has stopped; wait for its thread so the directory lock is free
                // when the caller sees the error.
                let _ = log.shutdown().await;
                Err(error)
            }
        }
    }

    /// Opens the directory, recovers, and starts the writer thread (which, with a replica,
    /// reconciles first and reports on the returned channel).
    #[allow(
        clippy::type_complexity,
        reason = "one private constructor shared by the two public ones"
    )]
    fn start(
        config: AuditLogConfig,
        signing_key: SigningKey,
        clock: Arc<dyn Clock>,
        storage: Arc<dyn Storage>,
        replica: Option<Box<dyn Replica>>,
    ) -> Result<
        (
            AuditLog,
            RecoveryReport,
            Option<oneshot::Receiver<Result<Reconciled, Error>>>,
        ),
        Error,
    > {
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
                replicated_seq: None,
                unreplicated: None,
            }),
            failed: AtomicBool::new(false),
            unreplicated: AtomicBool::new(false),
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
            replication: replica.map(Replication::new),
        };
        let (ready_sender, ready) = match writer.replication {
            Some(_) => {
                let (sender, receiver) = oneshot::channel();
                (Some(sender), Some(receiver))
            }
            None => (None, None),
        };
        // A dedicated thread, not a task on the caller's runtime: `write` and `fdatasync`
        // block, and on a two-core server they must not stall the request handlers. Its own
        // current-thread runtime only drives the command channel and the checkpoint timer.
        let handle = std::thread::Builder::new()
            .name("haechi-audit-writer".into())
            .spawn(move || runtime.block_on(writer.run(receiver, ready_sender)))
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
        Ok((log, report, ready))
    }

    /// Appends `event` and returns its seq once it is durable.
    pub async fn append(&self, event: SecurityEvent) -> Result<u64, Error> {
        if self.shared.failed.load(Ordering::Acquire)
            || self.shared.unreplicated.load(Ordering::Acquire)
        {
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
    /// failure once a write or sync failed (fail closed), [`Error::Unreplicated`] while its
    /// replica lacks records (until the writer has caught up), [`Error::Closed`] after
    /// shutdown. Cheap (atomic loads and a short lock), for readiness checks.
    pub fn health(&self) -> Result<(), Error> {
        if !self.shared.failed.load(Ordering::Acquire)
            && !self.shared.unreplicated.load(Ordering::Acquire)
            && self.shared.live.lock().status == Status::Open
        {
            return Ok(());
        }
        Err(self.failure())
    }

    /// With a replica: the highest seq it has acknowledged (`None` without a replica).
    pub fn replicated_seq(&self) -> Option<u64> {
        self.shared.live.lock().replicated_seq
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
        Subscription::new(Arc::clone(&self.shared), from_seq)
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

    /// The durable records of the live log with these seqs, in seq order; seqs it no longer
    /// (pruned) or not yet holds are left out. An alert's evidence, for the console
    /// ([`crate::reader::records_at`]: one forward pass).
    pub async fn records_at(&self, seqs: Vec<u64>) -> Result<Vec<AuditRecord>, Error> {
        let dir = self.shared.dir.clone();
        let upto = self.durable_seq();
        blocking(move || crate::reader::records_at(&dir, seqs, upto)).await
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
        response: oneshot::Receiver<Result<T, Refusal>>,
    ) -> Result<T, Error> {
        match response.await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(refusal)) => Err(refusal.into()),
            Err(_) => Err(Error::Task {
                reason: "the audit writer stopped without answering".into(),
            }),
        }
    }

    fn failure(&self) -> Error {
        let live = self.shared.live.lock();
        match (&live.status, &live.unreplicated) {
            (Status::Failed(reason), _) => Error::Failed {
                reason: reason.clone(),
            },
            (Status::Closed, _) => Error::Closed,
            (Status::Open, Some((first_unreplicated, reason))) => Error::Unreplicated {
                first_unreplicated: *first_unreplicated,
                reason: reason.clone(),
            },
            (Status::Open, None) => Error::Failed {
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
