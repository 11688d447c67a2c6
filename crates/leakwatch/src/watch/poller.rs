//! One source's watch: its client and its health. Each source is
//! polled by its own task ([`super::LeakWatch::run`]), so a slow feed or a heavy dump delays
//! nothing but its own source; within a poll the items are taken in order until the poll's
//! allowance of items or its time budget is spent, and the rest wait for the next poll.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use haechi_events::{Clock as _, SystemClock};
use haechi_leak::watch_ledger::{FinishedItem, WatchLedger};
use haechi_token::AdminGrant;
use sha2::{Digest as _, Sha256};

use super::item::{self, ItemOutcome};
use super::source::{Fetched, Listed, MAX_LISTED, SourceSettings};
use super::{SourceHealth, WatchServices, WatchSettings};
use crate::MatchServices;

/// The longest a failing source is left alone.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// Failed fetches after which an item is recorded as quarantined (counted in the ledger, so
/// across restarts and `--once` runs).
const FETCH_ATTEMPTS: u32 = 3;

/// One source, polled.
pub(crate) struct SourcePoller {
    pub source: SourceSettings,
    pub settings: Arc<WatchSettings>,
    pub ledger: Arc<dyn WatchLedger>,
    pub client: reqwest::Client,
    pub health: SourceHealth,
    /// When the next poll is due.
    pub next_poll: Instant,
}

impl SourcePoller {
    pub(crate) fn new(
        source: SourceSettings,
        settings: Arc<WatchSettings>,
        ledger: Arc<dyn WatchLedger>,
        client: reqwest::Client,
    ) -> Self {
        SourcePoller {
            health: SourceHealth::new(&source.name),
            source,
            settings,
            ledger,
            client,
            next_poll: Instant::now(),
        }
    }

    /// Polls the source once and sets its health and its next poll: one interval after the
    /// start of a poll that worked, a doubling backoff (up to an hour) after one that failed.
    pub(crate) async fn poll(&mut self, services: &WatchServices, grant: &AdminGrant) {
        let started = Instant::now();
        let result = self.poll_items(services, grant).await;
        let interval = self.settings.interval;
        let health = &mut self.health;
        health.last_poll = Some(SystemTime::now());
        match result {
            Ok(()) => {
                health.up = true;
                health.failures = 0;
                health.last_error = None;
                // Counted from the poll's start, not its end: when the next listing is asked
                // for says nothing to a source's operator about how long examining took.
                self.next_poll = started + interval;
            }
            Err(reason) => {
                health.failures = health.failures.saturating_add(1);
                let backoff = interval
                    .saturating_mul(2u32.saturating_pow(health.failures.min(16) - 1))
                    .min(MAX_BACKOFF.max(interval));
                tracing::warn!(
                    source = health.name,
                    failures = health.failures,
                    retry_in_secs = backoff.as_secs_f64(),
                    error = %reason,
                    "leak watch: a source failed"
                );
                health.up = false;
                health.last_error = Some(reason);
                self.next_poll = Instant::now() + backoff;
            }
        }
        let name = self.health.name.clone();
        metrics::gauge!("haechi_leakwatch_source_up", "source" => name.clone())
            .set(if self.health.up { 1.0 } else { 0.0 });
        metrics::gauge!("haechi_leakwatch_source_failures", "source" => name)
            .set(f64::from(self.health.failures));
    }

    /// Lists the source, keeps the entries not fetched before, and takes them in order within
    /// the poll's allowance and budget.
    async fn poll_items(
        &mut self,
        services: &WatchServices,
        grant: &AdminGrant,
    ) -> Result<(), String> {
        let name = self.source.name.clone();
        let validators = self
            .ledger
            .feed_validators(&name)
            .await
            .map_err(ledger_failed)?;
        let listing = self
            .source
            .kind
            .list(&validators, &self.client, self.settings.fetch_timeout)
            .await
            .map_err(|error| error.to_string())?;
        if listing.refused > 0 {
            tracing::warn!(
                source = name,
                refused = listing.refused,
                "leak watch: the listing names items on other hosts (or over-long addresses); they are not fetched"
            );
        }
        self.health.listing_cut = listing.cut;
        if listing.cut {
            tracing::warn!(
                source = name,
                listed = MAX_LISTED,
                "leak watch: the source lists more entries than a poll looks at; move finished files away"
            );
        }
        let keys: Vec<String> = listing.items.iter().map(|item| item.key.clone()).collect();
        let fetched = self
            .ledger
            .fetched_keys(&name, &keys, SystemClock.now())
            .await
            .map_err(ledger_failed)?;
        let new: Vec<&Listed> = listing
            .items
            .iter()
            .filter(|item| !fetched.contains(&item.key))
            .collect();
        // A poll spends about one interval at most: a source that keeps listing new items
        // still reports its health, and the rest of its items wait for the next poll.
        let budget = self.settings.interval.max(Duration::from_secs(1));
        let started = Instant::now();
        let allowance = self.settings.items_per_poll.max(1);
        // The listing's validators are kept only once every new item it names is finished:
        // until then the next poll must see the listing again, not a 304.
        let mut every_item_finished = new.len() <= allowance;
        for (taken, item) in new.into_iter().enumerate() {
            if taken == allowance || started.elapsed() >= budget {
                every_item_finished = false;
                break;
            }
            if !self.take_item(item, services, grant).await? {
                every_item_finished = false;
            }
        }
        let has_validators =
            listing.validators.etag.is_some() || listing.validators.last_modified.is_some();
        if every_item_finished && has_validators && listing.validators != validators {
            self.ledger
                .keep_feed_validators(&name, &listing.validators)
                .await
                .map_err(ledger_failed)?;
        }
        Ok(())
    }

    /// Fetches one item, examines it unless it was finished before, records its outcome and
    /// remembers it. `Ok(false)`: it could not be fetched this time and will be tried again.
    async fn take_item(
        &mut self,
        item: &Listed,
        services: &WatchServices,
        grant: &AdminGrant,
    ) -> Result<bool, String> {
        let match_services = MatchServices {
            vault: &services.vault,
            events: &*services.events,
            exposures: &*services.exposures,
        };
        let (name, limit) = (self.source.name.clone(), self.settings.max_item_bytes);
        let fetched = match self
            .source
            .kind
            .fetch(item, &self.client, limit, self.settings.fetch_timeout)
            .await
        {
            Ok(fetched) => fetched,
            Err(error) => {
                // One item that cannot be fetched (gone, refused, too slow) holds up neither
                // the items after it nor the source: it is tried on the next polls, and after
                // a few failures recorded as quarantined.
                let failures = self
                    .ledger
                    .count_fetch_failure(&name, &item.key, SystemClock.now())
                    .await
                    .map_err(ledger_failed)?;
                tracing::warn!(source = name, item = ?item.name, failures, %error, "leak watch: an item could not be fetched");
                if failures < FETCH_ATTEMPTS {
                    return Ok(false);
                }
                Fetched::Failed(format!(
                    "could not be fetched in {FETCH_ATTEMPTS} attempts: {error}"
                ))
            }
        };
        let today = SystemClock.now().utc_date();
        let (digest, size, outcome) = match fetched {
            Fetched::Failed(reason) => (None, 0, ItemOutcome::Quarantined(reason)),
            Fetched::TooLarge => (
                None,
                limit,
                ItemOutcome::Quarantined(format!(
                    "larger than the {limit} bytes an item may be (max_item_bytes)"
                )),
            ),
            Fetched::Bytes(bytes) => {
                let digest = hex::encode(Sha256::digest(&bytes));
                if self
                    .ledger
                    .digest_finished(&name, &digest)
                    .await
                    .map_err(ledger_failed)?
                {
                    // Seen before (the same file dropped again, a feed listing it anew).
                    self.finish(item, None, None).await?;
                    return Ok(true);
                }
                let matched_today = self
                    .ledger
                    .matched_on(&name, &today)
                    .await
                    .map_err(ledger_failed)?;
                let overflow =
                    (matched_today >= self.settings.incidents_per_day).then_some(today.as_str());
                let size = bytes.len() as u64;
                let label = item::label(&name, &item.name, &digest, overflow);
                let outcome = item::examine(
                    bytes,
                    label,
                    match_services,
                    grant,
                    self.settings.item_timeout,
                )
                .await
                // The vault or the audit log failed: nothing is remembered, the item is
                // tried again next poll.
                .map_err(|error| format!("{}: {error}", item.name))?;
                (Some(digest), size, outcome)
            }
        };
        item::record(
            match_services,
            grant,
            &name,
            &item.name,
            digest.as_deref().unwrap_or_default(),
            size,
            &outcome,
        )
        .await
        .map_err(|error| error.to_string())?;
        if let ItemOutcome::Quarantined(reason) = &outcome {
            tracing::warn!(source = name, item = ?item.name, reason, "leak watch: quarantined");
        }
        match &outcome {
            ItemOutcome::Matched { .. } => self.health.matched += 1,
            ItemOutcome::Clean => self.health.clean += 1,
            ItemOutcome::Quarantined(_) => self.health.quarantined += 1,
        }
        metrics::counter!(
            "haechi_leakwatch_items_total",
            "source" => name,
            "outcome" => outcome.as_str()
        )
        .increment(1);
        let matched_on = matches!(outcome, ItemOutcome::Matched { .. }).then_some(today);
        self.finish(item, digest, matched_on).await?;
        Ok(true)
    }

    /// Remembers `item` as done, with its digest and the day it matched on.
    async fn finish(
        &mut self,
        item: &Listed,
        digest: Option<String>,
        matched_on: Option<String>,
    ) -> Result<(), String> {
        let finished = FinishedItem {
            key: item.key.clone(),
            digest,
            matched_on,
            at: SystemClock.now(),
        };
        self.ledger
            .finish_item(&self.source.name, &finished)
            .await
            .map_err(ledger_failed)
    }
}

fn ledger_failed(error: haechi_events::StoreError) -> String {
    format!("the watch's ledger: {error}")
}
