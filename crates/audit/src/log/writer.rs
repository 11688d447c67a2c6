//! The writer thread: the single owner of the log's write handles. It takes every queued
//! record (group commit), assigns seqs, chains hashes, writes and syncs once, answers every
//! caller, rolls segments and signs checkpoints.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use ed25519_dalek::SigningKey;
use haechi_events::{Clock, SecurityEvent};
use tokio::sync::{mpsc, oneshot};

use super::config::AuditLogConfig;
use super::replica::{Reconciled, ReplicaBatch};
use super::replication::Replication;
use super::shared::{Shared, Status};
use crate::checkpoint::Checkpoint;
use crate::error::IoContext;
use crate::segment::{FRAME_OVERHEAD, HEADER_LEN, SegmentHeader, append_frame, segment_file_name};
use crate::storage::{AppendFile, Storage};
use crate::witness::pump::Pump;
use crate::{AuditRecord, Error};

#[allow(
    clippy::large_enum_variant,
    reason = "records are nearly all of the traffic; boxing them would cost an allocation per event"
)]
pub(super) enum Command {
    Record {
        event: SecurityEvent,
        reply: oneshot::Sender<Result<u64, Refusal>>,
    },
    Checkpoint {
        reply: oneshot::Sender<Result<Option<Checkpoint>, Refusal>>,
    },
    Seal {
        reply: oneshot::Sender<Result<Option<u64>, Refusal>>,
    },
    Shutdown {
        reply: oneshot::Sender<Result<(), Refusal>>,
    },
}

/// Why the writer did not do what a command asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Refusal {
    /// The log has failed for good.
    Failed(String),
    /// The replica lacks records; retried by the writer.
    Unreplicated {
        first_unreplicated: u64,
        reason: String,
    },
}

impl From<Refusal> for Error {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Failed(reason) => Error::Failed { reason },
            Refusal::Unreplicated {
                first_unreplicated,
                reason,
            } => Error::Unreplicated {
                first_unreplicated,
                reason,
            },
        }
    }
}

/// Creates a segment with `header`, durably (file content and directory entry).
pub(super) fn create_segment(
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
pub(super) struct Writer {
    /// Held for as long as the writer runs; released when the thread ends.
    pub(super) _lock: std::fs::File,
    pub(super) dir: PathBuf,
    pub(super) storage: Arc<dyn Storage>,
    pub(super) signing_key: SigningKey,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) shared: Arc<Shared>,
    pub(super) config: AuditLogConfig,
    pub(super) segment: Box<dyn AppendFile>,
    pub(super) segment_bytes: u64,
    pub(super) segment_records: u64,
    /// Last record written to the segment (durable once the batch is synced).
    pub(super) head_seq: u64,
    pub(super) head_hash: [u8; 32],
    pub(super) checkpoints: Box<dyn AppendFile>,
    pub(super) checkpointed_seq: u64,
    pub(super) last_checkpoint_at: tokio::time::Instant,
    pub(super) failed: Option<String>,
    /// Reused across batches so a steady load allocates nothing per batch.
    pub(super) buffer: Vec<u8>,
    /// Where each durable checkpoint is queued for the witness.
    pub(super) witness: Option<Arc<Pump>>,
    /// The copy of the log outside this node, when there is one.
    pub(super) replication: Option<Replication>,
}

/// A record waiting for the group commit.
struct Pending {
    event: SecurityEvent,
    reply: oneshot::Sender<Result<u64, Refusal>>,
}

impl Writer {
    /// Runs until shutdown or until every handle is dropped. With a replica, it first
    /// reconciles with it and reports the outcome on `ready`; evidence of another chain ends
    /// the writer there.
    pub(super) async fn run(
        mut self,
        mut receiver: mpsc::Receiver<Command>,
        ready: Option<oneshot::Sender<Result<Reconciled, Error>>>,
    ) {
        if let Some(ready) = ready {
            let reconciled = self.reconcile().await;
            let refused = reconciled.is_err();
            let _ = ready.send(reconciled);
            if refused {
                return;
            }
        }
        let mut batch: Vec<Command> = Vec::new();
        let mut stopping = false;
        while !stopping {
            let deadline = (self.head_seq > self.checkpointed_seq && self.failed.is_none())
                .then(|| self.last_checkpoint_at + self.config.checkpoint_interval);
            let retry_at = self
                .replication
                .as_ref()
                .and_then(Replication::retry_at)
                .filter(|_| self.failed.is_none());
            let first = tokio::select! {
                command = receiver.recv() => command,
                () = sleep_until(deadline) => {
                    if let Err(reason) = self.write_checkpoint() {
                        self.fail(reason);
                    }
                    self.replicate_checkpoints().await;
                    continue;
                }
                () = sleep_until(retry_at) => {
                    self.retry_replication().await;
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
            stopping = self.process(&mut batch).await;
        }
        self.finish(&mut receiver).await;
    }

    /// Handles a batch in order; returns whether a shutdown was asked for.
    async fn process(&mut self, batch: &mut Vec<Command>) -> bool {
        let mut pending = Vec::with_capacity(batch.len());
        let mut stopping = false;
        for command in batch.drain(..) {
            match command {
                Command::Record { event, reply } => pending.push(Pending { event, reply }),
                Command::Checkpoint { reply } => {
                    self.flush(&mut pending).await;
                    let outcome = self.guarded(Writer::write_checkpoint);
                    self.replicate_checkpoints().await;
                    let _ = reply.send(outcome.map_err(Refusal::Failed));
                }
                Command::Seal { reply } => {
                    self.flush(&mut pending).await;
                    let outcome = self.guarded(|writer| {
                        if writer.segment_records == 0 {
                            return Ok(None);
                        }
                        writer.roll()?;
                        Ok(Some(writer.head_seq))
                    });
                    self.replicate_checkpoints().await;
                    let _ = reply.send(outcome.map_err(Refusal::Failed));
                }
                Command::Shutdown { reply } => {
                    self.flush(&mut pending).await;
                    stopping = true;
                    let outcome = self.guarded(|writer| writer.write_checkpoint().map(|_| ()));
                    self.replicate_before_stopping().await;
                    let _ = reply.send(outcome.map_err(Refusal::Failed));
                }
            }
        }
        self.flush(&mut pending).await;
        stopping
    }

    /// At shutdown: hands the replica what it still lacks, with one catch-up if it was
    /// behind. What it cannot take now, the reconcile at the next open republishes.
    async fn replicate_before_stopping(&mut self) {
        let behind = self
            .replication
            .as_ref()
            .is_some_and(|replication| replication.behind.is_some());
        if behind && self.failed.is_none() {
            self.retry_replication().await;
        }
        self.replicate_checkpoints().await;
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

    /// Writes and syncs the pending records, hands them to the replica (if any), then answers
    /// their callers.
    async fn flush(&mut self, pending: &mut Vec<Pending>) {
        if pending.is_empty() {
            return;
        }
        if let Some(refusal) = self.refusal() {
            for waiting in pending.drain(..) {
                let _ = waiting.reply.send(Err(refusal.clone()));
            }
            return;
        }
        let first_seq = self.head_seq + 1;
        let prev_hash = self.head_hash;
        match self.write_batch(pending) {
            Ok((hashes, replica_batch)) => {
                // Durable here; with a replica, answered only once it is acknowledged there
                // too. A batch the replica did not take stays in the local chain.
                let replicated = match replica_batch {
                    Some(batch) => self.replicate_records(batch).await,
                    None => Ok(()),
                };
                let mut records = Vec::with_capacity(pending.len());
                let mut replies = Vec::with_capacity(pending.len());
                for (seq, waiting) in (first_seq..).zip(pending.drain(..)) {
                    records.push(waiting.event);
                    replies.push((seq, waiting.reply));
                }
                self.publish(first_seq, prev_hash, records, &hashes);
                for (seq, reply) in replies {
                    let _ = reply.send(replicated.clone().map(|()| seq));
                }
                if self.failed.is_none()
                    && self.head_seq - self.checkpointed_seq >= self.config.checkpoint_every_records
                {
                    if let Err(reason) = self.write_checkpoint() {
                        self.fail(reason);
                    }
                    self.replicate_checkpoints().await;
                }
            }
            Err(reason) => {
                self.fail(reason.clone());
                for waiting in pending.drain(..) {
                    let _ = waiting.reply.send(Err(Refusal::Failed(reason.clone())));
                }
            }
        }
    }

    /// Encodes, chains, writes (rolling segments at the size limit) and syncs the batch.
    /// Returns the records' hashes and, with a replica, the batch's stored records for it.
    fn write_batch(
        &mut self,
        pending: &[Pending],
    ) -> Result<(Vec<[u8; 32]>, Option<ReplicaBatch>), String> {
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
        outcome?;
        if self.replication.is_none() {
            self.buffer = buffer;
            return Ok((hashes, None));
        }
        // The frames' payloads are the stored records: hand the buffer over as it is, each
        // record's range skipping its frame header.
        let first_seq = self.head_seq + 1 - ends.len() as u64;
        let mut start = 0;
        let mut spans = Vec::with_capacity(ends.len());
        for (index, end) in ends.iter().enumerate() {
            spans.push((first_seq + index as u64, start + FRAME_OVERHEAD..*end));
            start = *end;
        }
        Ok((hashes, Some(ReplicaBatch::from_parts(buffer, spans))))
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
        // Only once it is durable here: the witness and the replica never hold a head the
        // log could lack.
        if let Some(witness) = &self.witness {
            witness.submit(checkpoint.clone());
        }
        self.queue_checkpoint(&checkpoint);
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
    pub(super) fn fail(&mut self, reason: String) {
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
    async fn finish(&mut self, receiver: &mut mpsc::Receiver<Command>) {
        if self.failed.is_none()
            && let Err(reason) = self.write_checkpoint()
        {
            self.fail(reason);
        }
        self.replicate_before_stopping().await;
        receiver.close();
        let refusal = Refusal::Failed(
            self.failed
                .clone()
                .unwrap_or_else(|| "the audit log is shut down".to_string()),
        );
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
