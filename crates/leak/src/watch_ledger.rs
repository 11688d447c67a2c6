//! What the leak watch remembers of its sources, kept by the store so that a restart — or a
//! standby node taking the watch over — resumes without examining, or alerting on, anything
//! twice: which listing entries were fetched, the digest of every item finished, a feed's
//! validators for conditional requests, and how many items of a source matched on each day
//! (the daily allowance of incidents). Digests, names, addresses and counts only: never an
//! item's content.
//!
//! Every question is a key lookup, and finishing an item is one transaction: the ledger grows
//! with the items seen, not with what is rewritten per item.

use async_trait::async_trait;
use haechi_events::{StoreError, Timestamp};

/// How often a listed entry's time is brought forward (see [`WatchLedger::fetched_keys`]).
pub const RELISTED_EVERY: std::time::Duration = std::time::Duration::from_secs(86_400);

/// A feed's validators, sent back as `If-None-Match` and `If-Modified-Since`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedValidators {
    /// The listing's last `ETag`.
    pub etag: Option<String>,
    /// The listing's last `Last-Modified`.
    pub last_modified: Option<String>,
}

/// An item the watch is done with, recorded in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedItem {
    /// Its listing entry (a directory's `name|size|mtime`, a feed item's address): not
    /// fetched again.
    pub key: String,
    /// The SHA-256 of its bytes, when they were read: the same bytes under another name are
    /// not examined again. `None` for an item refused unread.
    pub digest: Option<String>,
    /// The UTC day (`2026-12-07`) it matched customers on, counted toward the source's daily
    /// allowance of incidents; `None` when it did not match.
    pub matched_on: Option<String>,
    /// When.
    pub at: Timestamp,
}

/// Where the leak watch keeps what it remembers (SQLite on one node, PostgreSQL in a cluster).
#[async_trait]
pub trait WatchLedger: Send + Sync {
    /// Which of `keys` (listing entries of `source`, listed at `now`) were fetched before.
    /// Those found are marked as still listed at `now` (once a day at most), so an item that
    /// stays listed is never forgotten — and never examined again — however old it is.
    async fn fetched_keys(
        &self,
        source: &str,
        keys: &[String],
        now: Timestamp,
    ) -> Result<std::collections::HashSet<String>, StoreError>;

    /// Counts one more failed fetch of listing entry `key` of `source` at `at`; returns the
    /// failures so far (kept across restarts, so a cron job's `--once` runs count too).
    async fn count_fetch_failure(
        &self,
        source: &str,
        key: &str,
        at: Timestamp,
    ) -> Result<u32, StoreError>;

    /// Whether an item of `source` with this digest was finished before.
    async fn digest_finished(&self, source: &str, digest: &str) -> Result<bool, StoreError>;

    /// Records `item` as finished: its key, its digest and its match, together (and its
    /// failed fetches are forgotten).
    async fn finish_item(&self, source: &str, item: &FinishedItem) -> Result<(), StoreError>;

    /// Items of `source` that matched on `day`.
    async fn matched_on(&self, source: &str, day: &str) -> Result<u32, StoreError>;

    /// The validators of feed `source`'s listing (none before its first listing).
    async fn feed_validators(&self, source: &str) -> Result<FeedValidators, StoreError>;

    /// Keeps the validators of feed `source`'s listing.
    async fn keep_feed_validators(
        &self,
        source: &str,
        validators: &FeedValidators,
    ) -> Result<(), StoreError>;

    /// Forgets keys last listed, digests finished and fetch failures counted before `before`,
    /// and day counts older than it; returns how many rows went.
    async fn forget_watch_before(&self, before: Timestamp) -> Result<u64, StoreError>;
}
