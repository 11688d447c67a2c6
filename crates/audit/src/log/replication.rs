//! The writer's side of replication: appending each batch and checkpoint to the [`Replica`],
//! falling behind when it fails, and catching up — at open and after an outage — by comparing
//! the replica's tail with the local chain and republishing what it lacks from the segments.
//!
//! **Fail closed, recover by itself:** a batch the replica did not acknowledge stays in the
//! local chain (it is durable here), its callers get [`crate::Error::Unreplicated`], and every
//! later record is refused until a catch-up succeeds; catch-ups are retried with backoff. Only
//! evidence of a second chain — the replica holding a record this log does not have under the
//! same seq, or records beyond the local end — fails the log for good.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use super::replica::{Reconciled, Replica, ReplicaBatch, ReplicaError, ReplicaHead};
use super::writer::{Refusal, Writer};
use crate::checkpoint::{CHECKPOINTS_FILE, Checkpoint, checkpoints_after};
use crate::reader::LogCursor;
use crate::{AuditRecord, Error};

/// The first retry after a failure comes this soon; each further failure doubles the wait.
const FIRST_RETRY: Duration = Duration::from_millis(100);
/// The longest wait between two catch-up attempts.
const MAX_RETRY: Duration = Duration::from_secs(2);
/// How many records one republishing append carries.
const REPUBLISH_CHUNK: usize = 4096;
/// How often a catch-up re-reads the replica's position when it keeps moving (messages of an
/// earlier, timed-out append still landing) before it gives up until the next retry.
const MAX_CONFLICTS: usize = 8;

/// The replica and what the writer knows about it.
#[derive(Debug)]
pub(super) struct Replication {
    pub(super) replica: Box<dyn Replica>,
    /// The highest seq the replica acknowledged.
    pub(super) replicated_seq: u64,
    /// Checkpoints durable here and not yet acknowledged by the replica, oldest first.
    pub(super) checkpoints: Vec<Checkpoint>,
    /// Set while the replica lacks records: new records are refused and catch-up retried.
    pub(super) behind: Option<Behind>,
}

impl Replication {
    pub(super) fn new(replica: Box<dyn Replica>) -> Self {
        Replication {
            replica,
            replicated_seq: 0,
            checkpoints: Vec::new(),
            behind: None,
        }
    }

    /// When the next catch-up is due, while behind.
    pub(super) fn retry_at(&self) -> Option<Instant> {
        self.behind.as_ref().map(|behind| behind.retry_at)
    }
}

/// Why and since when the replica lacks records.
#[derive(Debug)]
pub(super) struct Behind {
    reason: String,
    failures: u32,
    retry_at: Instant,
}

/// Why a catch-up did not finish.
enum CatchUpFailure {
    /// The replica could not be reached; try again later.
    Unavailable(String),
    /// The replica holds another chain under this log's name: fail for good.
    Fatal(Error),
}

impl Writer {
    /// Why records are refused right now, if they are: the log failed, or the replica lacks
    /// records.
    pub(super) fn refusal(&self) -> Option<Refusal> {
        if let Some(reason) = &self.failed {
            return Some(Refusal::Failed(reason.clone()));
        }
        let replication = self.replication.as_ref()?;
        replication
            .behind
            .as_ref()
            .map(|behind| Refusal::Unreplicated {
                first_unreplicated: replication.replicated_seq + 1,
                reason: behind.reason.clone(),
            })
    }

    /// Appends a durable batch to the replica; `Ok` once it is acknowledged there.
    pub(super) async fn replicate_records(&mut self, batch: ReplicaBatch) -> Result<(), Refusal> {
        let Some(replication) = self.replication.as_mut() else {
            return Ok(());
        };
        let last_seq = batch.last_seq();
        match replication.replica.append_records(batch).await {
            Ok(()) => {
                if let Some(last_seq) = last_seq {
                    self.set_replicated(last_seq);
                }
                Ok(())
            }
            Err(ReplicaError::Conflict { .. }) => self.catch_up_now().await,
            Err(error) => Err(self.replica_failed(error)),
        }
    }

    /// Appends the checkpoints waiting for the replica whose records it already holds.
    pub(super) async fn replicate_checkpoints(&mut self) {
        loop {
            let Some(replication) = self.replication.as_mut() else {
                return;
            };
            if replication.behind.is_some() || self.failed.is_some() {
                // A catch-up sends them from the checkpoints file.
                return;
            }
            let Some(checkpoint) = replication.checkpoints.first().cloned() else {
                return;
            };
            if checkpoint.seq > replication.replicated_seq {
                return;
            }
            match replication.replica.append_checkpoint(&checkpoint).await {
                Ok(()) => {
                    replication.checkpoints.remove(0);
                }
                Err(ReplicaError::Conflict { .. }) => {
                    let _ = self.catch_up_now().await;
                    return;
                }
                Err(error) => {
                    let _ = self.replica_failed(error);
                    return;
                }
            }
        }
    }

    /// Queues a checkpoint that just became durable for the replica.
    pub(super) fn queue_checkpoint(&mut self, checkpoint: &Checkpoint) {
        if let Some(replication) = self.replication.as_mut() {
            replication.checkpoints.push(checkpoint.clone());
        }
    }

    /// The catch-up the retry timer asked for.
    pub(super) async fn retry_replication(&mut self) {
        let _ = self.catch_up_now().await;
    }

    /// Reconciles with the replica at open: `Err` only for evidence of another chain. An
    /// unreachable replica leaves the log open but refusing records until a retry succeeds.
    pub(super) async fn reconcile(&mut self) -> Result<Reconciled, Error> {
        match self.catch_up().await {
            Ok(reconciled) => Ok(reconciled),
            Err(CatchUpFailure::Unavailable(reason)) => {
                self.fall_behind(reason.clone());
                Ok(Reconciled {
                    unreachable: Some(reason),
                    ..Reconciled::default()
                })
            }
            Err(CatchUpFailure::Fatal(error)) => {
                self.fail(error.to_string());
                Err(error)
            }
        }
    }

    /// Catches up while running; the outcome for the callers of the batch that asked.
    async fn catch_up_now(&mut self) -> Result<(), Refusal> {
        match self.catch_up().await {
            Ok(_) => Ok(()),
            Err(CatchUpFailure::Unavailable(reason)) => {
                self.fall_behind(reason);
                Err(self
                    .refusal()
                    .unwrap_or(Refusal::Failed("replica unavailable".into())))
            }
            Err(CatchUpFailure::Fatal(error)) => {
                let reason = error.to_string();
                self.fail(reason.clone());
                Err(Refusal::Failed(reason))
            }
        }
    }

    /// What a failed append means for the log and its callers.
    fn replica_failed(&mut self, error: ReplicaError) -> Refusal {
        match error {
            ReplicaError::Diverged { reason } => {
                let replica = self.replica_name();
                let reason = Error::ReplicaDiverged { replica, reason }.to_string();
                self.fail(reason.clone());
                Refusal::Failed(reason)
            }
            ReplicaError::Unavailable { reason } | ReplicaError::Conflict { reason } => {
                self.fall_behind(reason);
                self.refusal()
                    .unwrap_or(Refusal::Failed("replica unavailable".into()))
            }
        }
    }

    /// Makes the replica hold everything the local log holds: reads its position, checks its
    /// tail against the local chain, republishes the missing records and checkpoints.
    async fn catch_up(&mut self) -> Result<Reconciled, CatchUpFailure> {
        let head_seq = self.head_seq;
        for _ in 0..MAX_CONFLICTS {
            let Some(replication) = self.replication.as_mut() else {
                return Ok(Reconciled::default());
            };
            let position = match replication.replica.position().await {
                Ok(position) => position,
                Err(ReplicaError::Conflict { .. }) => continue,
                Err(error) => return Err(self.catch_up_failure(error)),
            };
            let replica_seq = position.last_record.map_or(0, |head| head.seq);
            self.check_tail(&position.tail, replica_seq)?;
            let mut reconciled = Reconciled {
                replica_seq,
                ..Reconciled::default()
            };
            match self
                .republish_records(replica_seq + 1, &mut reconciled)
                .await
            {
                Ok(()) => {}
                Err(ReplicaError::Conflict { .. }) => continue,
                Err(error) => return Err(self.catch_up_failure(error)),
            }
            self.set_replicated(head_seq);
            match self
                .republish_checkpoints(position.last_checkpoint_seq, &mut reconciled)
                .await
            {
                Ok(()) => {}
                Err(ReplicaError::Conflict { .. }) => continue,
                Err(error) => return Err(self.catch_up_failure(error)),
            }
            self.caught_up();
            if reconciled.republished_records > 0 || reconciled.republished_checkpoints > 0 {
                tracing::info!(
                    target: "haechi::audit",
                    replica = %self.replica_name(),
                    records = reconciled.republished_records,
                    checkpoints = reconciled.republished_checkpoints,
                    "audit replica caught up"
                );
            }
            return Ok(reconciled);
        }
        Err(CatchUpFailure::Unavailable(
            "the replica's copy kept changing while catching up".into(),
        ))
    }

    fn catch_up_failure(&self, error: ReplicaError) -> CatchUpFailure {
        match error {
            ReplicaError::Diverged { reason } => CatchUpFailure::Fatal(Error::ReplicaDiverged {
                replica: self.replica_name(),
                reason,
            }),
            ReplicaError::Unavailable { reason } | ReplicaError::Conflict { reason } => {
                CatchUpFailure::Unavailable(reason)
            }
        }
    }

    /// Every record of the replica's tail must be this log's record at that seq.
    fn check_tail(&self, tail: &[ReplicaHead], replica_seq: u64) -> Result<(), CatchUpFailure> {
        let fatal = CatchUpFailure::Fatal;
        if replica_seq > self.head_seq {
            return Err(fatal(Error::ReplicaAhead {
                replica: self.replica_name(),
                replica_seq,
                local_seq: self.head_seq,
            }));
        }
        let mut wanted: BTreeMap<u64, Vec<[u8; 32]>> = BTreeMap::new();
        for head in tail {
            if head.seq > self.head_seq || head.seq == 0 {
                return Err(fatal(Error::ReplicaAhead {
                    replica: self.replica_name(),
                    replica_seq: head.seq,
                    local_seq: self.head_seq,
                }));
            }
            wanted.entry(head.seq).or_default().push(head.hash);
        }
        let (Some(&first), Some(&last)) = (wanted.keys().next(), wanted.keys().next_back()) else {
            return Ok(());
        };
        let mut cursor = LogCursor::new(&self.dir);
        let mut next = first;
        while next <= last {
            let records = cursor
                .read(next, last, REPUBLISH_CHUNK)
                .map_err(|error| self.diverged(Writer::unreadable_local(next, Some(error))))?;
            let Some(last_read) = records.last().map(|record| record.seq) else {
                return Err(self.diverged(Writer::unreadable_local(next, None)));
            };
            for record in &records {
                for hash in wanted.get(&record.seq).into_iter().flatten() {
                    if *hash != record.hash {
                        return Err(self.diverged(format!(
                            "it holds a different record under seq {} than this node's log \
                             (another process writes under this node id, or the stream was \
                             tampered with)",
                            record.seq
                        )));
                    }
                }
            }
            next = last_read + 1;
        }
        Ok(())
    }

    /// The local records the replica's tail must be compared with (or republished from) are
    /// not readable: pruned, or damaged.
    fn unreadable_local(seq: u64, error: Option<Error>) -> String {
        match error {
            Some(Error::Pruned { oldest, .. }) => format!(
                "the local log was pruned up to seq {oldest} (those records are only in the \
                 archive), so seq {seq} cannot be compared or republished"
            ),
            None => format!("the local log holds no record at seq {seq}"),
            Some(other) => format!("reading seq {seq} of the local log failed: {other}"),
        }
    }

    /// Appends the local records from `from` to the head.
    async fn republish_records(
        &mut self,
        from: u64,
        reconciled: &mut Reconciled,
    ) -> Result<(), ReplicaError> {
        let head = self.head_seq;
        let mut cursor = LogCursor::new(&self.dir);
        let mut next = from;
        while next <= head {
            let records: Vec<AuditRecord> =
                cursor.read(next, head, REPUBLISH_CHUNK).map_err(|error| {
                    ReplicaError::Diverged {
                        reason: Writer::unreadable_local(next, Some(error)),
                    }
                })?;
            let Some(last) = records.last().map(|record| record.seq) else {
                return Err(ReplicaError::Diverged {
                    reason: Writer::unreadable_local(next, None),
                });
            };
            let batch = ReplicaBatch::from_records(&records);
            if let Some(replication) = self.replication.as_mut() {
                replication.replica.append_records(batch).await?;
            }
            reconciled.republished_records += records.len() as u64;
            next = last + 1;
        }
        Ok(())
    }

    /// Appends the local checkpoints above `after_seq` (all of them cover replicated records
    /// by now).
    async fn republish_checkpoints(
        &mut self,
        after_seq: u64,
        reconciled: &mut Reconciled,
    ) -> Result<(), ReplicaError> {
        let path = self.dir.join(CHECKPOINTS_FILE);
        let checkpoints =
            checkpoints_after(&path, after_seq).map_err(|error| ReplicaError::Unavailable {
                reason: format!("reading the local checkpoints failed: {error}"),
            })?;
        for checkpoint in checkpoints.iter().filter(|cp| cp.seq <= self.head_seq) {
            if let Some(replication) = self.replication.as_mut() {
                replication.replica.append_checkpoint(checkpoint).await?;
            }
            reconciled.republished_checkpoints += 1;
        }
        Ok(())
    }

    fn set_replicated(&mut self, seq: u64) {
        if let Some(replication) = self.replication.as_mut() {
            replication.replicated_seq = seq;
            self.shared.live.lock().replicated_seq = Some(seq);
        }
    }

    /// The replica holds everything: accept records again.
    fn caught_up(&mut self) {
        let Some(replication) = self.replication.as_mut() else {
            return;
        };
        // Every checkpoint up to the head was just sent from the file.
        replication.checkpoints.clear();
        if replication.behind.take().is_some() {
            tracing::info!(
                target: "haechi::audit",
                replica = %replication.replica.describe(),
                "audit replica reachable again; accepting records"
            );
        }
        self.shared.unreplicated.store(false, Ordering::Release);
        self.shared.live.lock().unreplicated = None;
    }

    /// Records that the replica lacks records and schedules the next catch-up.
    fn fall_behind(&mut self, reason: String) {
        let Some(replication) = self.replication.as_mut() else {
            return;
        };
        let failures = replication
            .behind
            .as_ref()
            .map_or(0, |behind| behind.failures.saturating_add(1));
        let wait = FIRST_RETRY
            .saturating_mul(1u32 << failures.min(16))
            .min(MAX_RETRY);
        if replication.behind.is_none() {
            tracing::error!(
                target: "haechi::audit",
                replica = %replication.replica.describe(),
                %reason,
                first_unreplicated = replication.replicated_seq + 1,
                "audit replica failed; refusing records until it has caught up"
            );
        }
        replication.behind = Some(Behind {
            reason: reason.clone(),
            failures,
            retry_at: Instant::now() + wait,
        });
        let first_unreplicated = replication.replicated_seq + 1;
        self.shared.unreplicated.store(true, Ordering::Release);
        self.shared.live.lock().unreplicated = Some((first_unreplicated, reason));
    }

    fn diverged(&self, reason: String) -> CatchUpFailure {
        CatchUpFailure::Fatal(Error::ReplicaDiverged {
            replica: self.replica_name(),
            reason,
        })
    }

    fn replica_name(&self) -> String {
        self.replication
            .as_ref()
            .map_or_else(String::new, |replication| replication.replica.describe())
    }
}
