//! Following the change log: every node applies the shared decisions other nodes made.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use haechi_events::{Change, ChangeFeed, LoggedChange, StoreError};
use haechi_respond::Detection;
use haechi_token::TokenAuthority;
use haechi_vault::CachedVaultStore;
use tokio::sync::{Notify, watch};

use crate::{Error, Freshness};

/// How a follower polls.
#[derive(Debug, Clone, Copy)]
pub struct FollowerSettings {
    /// Pause between reads of the change log. A change reaches this node's memory at most
    /// this long (plus one read) after it is committed, which is what the propagation bound
    /// rests on.
    pub poll_interval: Duration,
    /// Most entries read at once.
    pub batch: u32,
}

impl Default for FollowerSettings {
    fn default() -> Self {
        FollowerSettings {
            poll_interval: Duration::from_millis(100),
            batch: 1000,
        }
    }
}

/// Reloads the access policy in force from the shared store (the binary wires the vault and
/// the store's policy versions behind it).
#[async_trait]
pub trait PolicyReload: Send + Sync + std::fmt::Debug {
    /// Loads the newest policy version and puts it in force on this node.
    async fn reload_policy(&self) -> Result<(), String>;
}

/// Applies the change log to this node's memory, and confirms [`Freshness`] after each
/// complete read.
#[derive(Debug)]
pub struct Follower {
    feed: Arc<dyn ChangeFeed>,
    authority: Arc<TokenAuthority>,
    detection: Arc<Detection>,
    policy: Option<Arc<dyn PolicyReload>>,
    /// This node's cache of sealed records, told which records other nodes changed.
    records: Option<Arc<CachedVaultStore>>,
    freshness: Arc<Freshness>,
    settings: FollowerSettings,
    position: i64,
    /// The position applied, for [`FollowerHandle`]s.
    applied: watch::Sender<i64>,
    /// Rung by a [`FollowerHandle`] that wants the log read now rather than at the next poll.
    wake: Arc<Notify>,
}

/// A line to a running [`Follower`]: how far it has applied the change log, and a way to have
/// it read the log at once. The drill clock uses it to settle a cluster's API node through the
/// position its detection node answered (`haechi_server::drill`).
#[derive(Debug, Clone)]
pub struct FollowerHandle {
    applied: watch::Receiver<i64>,
    wake: Arc<Notify>,
}

/// Proof that this node's memory holds every change of the log through [`ChangesApplied::through`]:
/// only [`FollowerHandle::apply_through`] makes one, once the follower has applied them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangesApplied {
    through: i64,
}

impl ChangesApplied {
    /// The position through which every change is applied (at least the one asked for).
    pub fn through(&self) -> i64 {
        self.through
    }
}

impl FollowerHandle {
    /// The position through which the follower has applied the change log.
    pub fn applied(&self) -> i64 {
        *self.applied.borrow()
    }

    /// Has the follower read the log now (not at its next poll) and waits, at most
    /// `patience`, until it has applied every change through `position`.
    pub async fn apply_through(
        &self,
        position: i64,
        patience: Duration,
    ) -> Result<ChangesApplied, Error> {
        let mut applied = self.applied.clone();
        if *applied.borrow() < position {
            self.wake.notify_one();
        }
        let reached = tokio::time::timeout(patience, applied.wait_for(|at| *at >= position)).await;
        match reached {
            Ok(Ok(at)) => Ok(ChangesApplied { through: *at }),
            _ => Err(Error::NotApplied {
                wanted: position,
                applied: *self.applied.borrow(),
            }),
        }
    }
}

/// Why applying a batch stopped; the follower retries from the same position.
#[derive(Debug, thiserror::Error)]
enum ApplyError {
    #[error("the store failed: {0}")]
    Store(#[from] StoreError),
    #[error("reloading the keys failed: {0}")]
    Keys(#[from] haechi_token::Error),
    #[error("reloading the policy failed: {0}")]
    Policy(String),
}

impl Follower {
    /// A follower starting at `position` — the log's head read *before* this node loaded its
    /// state from the store, so nothing committed in between is missed.
    pub fn new(
        feed: Arc<dyn ChangeFeed>,
        authority: Arc<TokenAuthority>,
        detection: Arc<Detection>,
        policy: Option<Arc<dyn PolicyReload>>,
        freshness: Arc<Freshness>,
        settings: FollowerSettings,
        position: i64,
    ) -> Self {
        Follower {
            feed,
            authority,
            detection,
            policy,
            records: None,
            freshness,
            settings,
            position,
            applied: watch::Sender::new(position),
            wake: Arc::new(Notify::new()),
        }
    }

    /// Has the follower tell `cache` which records other nodes replaced, shredded or
    /// re-wrapped, so this node stops answering from its copies of them.
    pub fn with_record_cache(mut self, cache: Arc<CachedVaultStore>) -> Self {
        self.records = Some(cache);
        self
    }

    /// A handle on this follower, usable once it runs.
    pub fn handle(&self) -> FollowerHandle {
        FollowerHandle {
            applied: self.applied.subscribe(),
            wake: self.wake.clone(),
        }
    }

    /// Follows until `closing` turns true. Failures are logged and retried; while they last
    /// the node's freshness runs out and it refuses decisions.
    pub async fn run(mut self, mut closing: watch::Receiver<bool>) {
        let mut failing = false;
        loop {
            match self.catch_up().await {
                Ok(()) if failing => {
                    tracing::info!(position = self.position, "the change log is readable again");
                    failing = false;
                }
                Ok(()) => {}
                Err(error) if !failing => {
                    tracing::error!(%error, position = self.position, "cannot follow the change log: this node refuses decisions until it can");
                    failing = true;
                }
                Err(_) => {}
            }
            tokio::select! {
                () = tokio::time::sleep(self.settings.poll_interval) => {}
                () = self.wake.notified() => {}
                _ = closing.wait_for(|closed| *closed) => return,
            }
        }
    }

    /// Reads and applies every entry after the position, then confirms freshness as of the
    /// moment the first read began.
    pub async fn catch_up(&mut self) -> Result<(), String> {
        let started = Instant::now();
        loop {
            let entries = self
                .feed
                .changes_after(self.position, self.settings.batch)
                .await
                .map_err(|error| error.to_string())?;
            let complete = entries.len() < self.settings.batch as usize;
            if let Some(first) = entries.first()
                && first.position > self.position + 1
            {
                // Positions have no holes: entries between ours and the first are pruned.
                // What they said is unknown, so everything is read again.
                self.reload_everything(first.position).await?;
            }
            self.apply(&entries)
                .await
                .map_err(|error| error.to_string())?;
            if complete {
                break;
            }
        }
        self.freshness.confirm(started);
        Ok(())
    }

    /// After a gap in the log (this node was away longer than the log keeps entries): drops
    /// every cached token and session and reloads keys, blocks, suspensions and the policy.
    async fn reload_everything(&mut self, first_seen: i64) -> Result<(), String> {
        tracing::warn!(
            position = self.position,
            first_seen,
            "change log entries were pruned before this node read them: reloading all shared state"
        );
        self.authority.sessions().forget_cached();
        if let Some(records) = &self.records {
            records.forget_all();
        }
        self.authority
            .keys()
            .reload()
            .await
            .map_err(|error| error.to_string())?;
        self.detection
            .containment
            .reload()
            .await
            .map_err(|error| error.to_string())?;
        if let Some(reload) = &self.policy {
            reload.reload_policy().await?;
        }
        Ok(())
    }

    /// Applies a batch. Reloads (keys, blocks and suspensions, policy) happen once per batch
    /// however many entries ask for them; the position advances only past a fully applied
    /// batch.
    async fn apply(&mut self, entries: &[LoggedChange]) -> Result<(), ApplyError> {
        let Some(last) = entries.last() else {
            return Ok(());
        };
        let (mut keys, mut containment, mut policy) = (false, false, false);
        for entry in entries {
            match &entry.change {
                Change::SessionRevoked { sid } => {
                    self.authority.sessions().learn_session_revoked(sid);
                }
                Change::TokenRevoked { token_hash } => {
                    self.authority.sessions().learn_token_revoked(token_hash);
                }
                Change::KeysChanged => keys = true,
                Change::BlocksChanged | Change::SuspensionsChanged => containment = true,
                Change::PolicyChanged => policy = true,
                Change::RecordChanged { customer_id } => {
                    if let Some(records) = &self.records {
                        records.forget(customer_id);
                    }
                }
                Change::RecordsRewrapped => {
                    if let Some(records) = &self.records {
                        records.forget_all();
                    }
                }
            }
        }
        if keys {
            self.authority.keys().reload().await?;
        }
        if containment {
            self.detection.containment.reload().await?;
        }
        if policy && let Some(reload) = &self.policy {
            reload.reload_policy().await.map_err(ApplyError::Policy)?;
        }
        self.position = last.position;
        self.applied.send_replace(self.position);
        Ok(())
    }
}
