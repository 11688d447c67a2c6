//! Leak watch as a service: sources polled continuously, new items matched as they appear.
//!
//! Each poll lists a source's new items (a drop directory's settled files, a feed's listing
//! fetched with `If-None-Match`/`If-Modified-Since`), fetches at most `items_per_poll` of them
//! (each bounded in size and time), skips any whose SHA-256 was finished before, and puts the
//! rest through the `leak match` pipeline ([`item::examine`]). Every finished item is one
//! `leak.item_scanned` record; a confirmed match is also a `leak.matched` record per customer,
//! which the built-in rule `haechi.leak.confirmed_match` raises as one alert — one incident —
//! per item. A poisoned item (compressed, binary, UTF-16, too large, too slow) is quarantined
//! with its reason and never holds up another item or source; a source that fails is backed
//! off (doubling, up to an hour) and polled again. The state ([`state`]) survives restarts, so
//! nothing is scanned or raised twice.

mod item;
mod source;
mod state;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use haechi_events::EventSink;
use haechi_leak::exposure::ExposureStore;
use haechi_token::AdminGrant;
use haechi_vault::Vault;
use sha2::{Digest, Sha256};

pub use item::ItemOutcome;
pub use source::{SourceKind, SourceSettings};

use crate::{Error, MatchServices};
use source::{Fetched, Listed};
use state::WatchState;

/// The longest a failing source is left alone.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// Polls an item that cannot be fetched is tried in before it is recorded as quarantined.
const FETCH_ATTEMPTS: u32 = 3;

/// How the watch runs.
#[derive(Debug, Clone)]
pub struct WatchSettings {
    /// Between two polls of a source.
    pub interval: Duration,
    /// The largest item read; a larger one is quarantined unread past it.
    pub max_item_bytes: u64,
    /// Items fetched from one source in one poll (the rest wait for the next).
    pub items_per_poll: usize,
    /// The longest one request (a listing, an item) may take.
    pub fetch_timeout: Duration,
    /// The longest one item's matching may take before it is quarantined.
    pub item_timeout: Duration,
    /// Items matched per source and day that each open an incident of their own; the day's
    /// later matches of that source share one.
    pub incidents_per_day: u32,
    /// Where the state is kept.
    pub state_file: PathBuf,
    /// The sources.
    pub sources: Vec<SourceSettings>,
}

/// Haechi's parts the watch uses, owned (it runs as long as the server).
#[derive(Clone)]
pub struct WatchServices {
    /// The vault that confirms rows.
    pub vault: Arc<Vault>,
    /// Where records go.
    pub events: Arc<dyn EventSink>,
    /// Where exposed identifiers are counted.
    pub exposures: Arc<dyn ExposureStore>,
}

/// A source's health, for `/metrics` and the log.
#[derive(Debug, Clone)]
pub struct SourceHealth {
    /// The source.
    pub name: String,
    /// Whether its last poll worked.
    pub up: bool,
    /// Polls failed in a row.
    pub failures: u32,
    /// Why the last one failed (never a secret: addresses and statuses).
    pub last_error: Option<String>,
    /// When it was last polled (whatever came of it).
    pub last_poll: Option<std::time::SystemTime>,
    /// Items finished since start, by outcome.
    pub matched: u64,
    /// Read through without a customer.
    pub clean: u64,
    /// Refused.
    pub quarantined: u64,
    next_poll: Instant,
}

/// The sources' health as the watch last saw it, shared with whoever shows it (the console):
/// replaced after every poll.
#[derive(Debug, Clone, Default)]
pub struct WatchHealth(Arc<parking_lot::RwLock<Vec<SourceHealth>>>);

impl WatchHealth {
    /// Each source's health, as of the last poll (empty when no watch runs).
    pub fn snapshot(&self) -> Vec<SourceHealth> {
        self.0.read().clone()
    }
}

/// The watch: its sources, their state and health.
pub struct LeakWatch {
    settings: WatchSettings,
    state: WatchState,
    clients: Vec<reqwest::Client>,
    health: Vec<SourceHealth>,
    /// Failed fetches per item, for the items still being tried.
    attempts: std::collections::HashMap<String, u32>,
    /// Items matched per source today (UTC day): past the allowance, one label for the rest.
    matched_today: std::collections::HashMap<String, (String, u32)>,
    board: WatchHealth,
}

impl LeakWatch {
    /// Loads the state and builds a client per source.
    ///
    /// # Errors
    /// [`Error::WatchState`] for a state file that cannot be read, [`Error::WatchClient`]
    /// for a source whose TLS trust cannot be set up.
    pub fn open(settings: WatchSettings, board: WatchHealth) -> Result<Self, Error> {
        let state = WatchState::load(&settings.state_file).map_err(Error::WatchState)?;
        let mut clients = Vec::new();
        for source in &settings.sources {
            let trust = match &source.kind {
                SourceKind::Feed { trust, .. } => trust.clone(),
                SourceKind::Directory { .. } => haechi_outbound::Trust::default(),
            };
            let builder = match &source.kind {
                SourceKind::Feed { .. } => haechi_outbound::builder(&trust),
                SourceKind::Directory { .. } => haechi_outbound::plain_builder(),
            }
            .map_err(Error::WatchClient)?;
            let client = builder
                .connect_timeout(settings.fetch_timeout)
                .timeout(settings.fetch_timeout)
                .redirect(same_origin_redirects())
                .build()
                .map_err(|error| {
                    Error::WatchClient(haechi_outbound::Error::Build(error.to_string()))
                })?;
            clients.push(client);
        }
        let now = Instant::now();
        let health = settings
            .sources
            .iter()
            .map(|source| SourceHealth {
                name: source.name.clone(),
                up: true,
                failures: 0,
                last_error: None,
                last_poll: None,
                matched: 0,
                clean: 0,
                quarantined: 0,
                next_poll: now,
            })
            .collect();
        Ok(LeakWatch {
            settings,
            state,
            clients,
            health,
            attempts: std::collections::HashMap::new(),
            matched_today: std::collections::HashMap::new(),
            board,
        })
    }

    /// Each source's health.
    pub fn health(&self) -> &[SourceHealth] {
        &self.health
    }

    /// Runs until the task is dropped: every source polled when due.
    pub async fn run(mut self, services: WatchServices, grant: AdminGrant) {
        loop {
            if let Err(error) = self.poll_due(&services, &grant).await {
                tracing::error!(%error, "leak watch: cannot keep its state");
            }
            let now = Instant::now();
            let next = self
                .health
                .iter()
                .map(|health| health.next_poll)
                .min()
                .unwrap_or(now + self.settings.interval);
            let pause = next
                .saturating_duration_since(now)
                .max(Duration::from_millis(100));
            tokio::time::sleep(pause).await;
        }
    }

    /// Polls every source that is due, once.
    ///
    /// # Errors
    /// [`Error::WatchState`] when the state cannot be written.
    pub async fn poll_due(
        &mut self,
        services: &WatchServices,
        grant: &AdminGrant,
    ) -> Result<(), Error> {
        for index in 0..self.settings.sources.len() {
            if self.health[index].next_poll > Instant::now() {
                continue;
            }
            let result = self.poll_source(index, services, grant).await;
            self.health[index].last_poll = Some(std::time::SystemTime::now());
            let interval = self.settings.interval;
            let health = &mut self.health[index];
            match result {
                Ok(()) => {
                    health.up = true;
                    health.failures = 0;
                    health.last_error = None;
                    health.next_poll = Instant::now() + interval;
                }
                Err(PollError::State(error)) => return Err(Error::WatchState(error)),
                Err(PollError::Source(reason)) => {
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
                    health.next_poll = Instant::now() + backoff;
                }
            }
            let health = &self.health[index];
            let name = health.name.clone();
            metrics::gauge!("haechi_leakwatch_source_up", "source" => name.clone())
                .set(if health.up { 1.0 } else { 0.0 });
            metrics::gauge!("haechi_leakwatch_source_failures", "source" => name)
                .set(f64::from(health.failures));
        }
        *self.board.0.write() = self.health.clone();
        Ok(())
    }

    async fn poll_source(
        &mut self,
        index: usize,
        services: &WatchServices,
        grant: &AdminGrant,
    ) -> Result<(), PollError> {
        let source = self.settings.sources[index].clone();
        let client = self.clients[index].clone();
        let listing = source
            .kind
            .list(
                self.state.source(&source.name),
                &client,
                self.settings.items_per_poll.max(1),
            )
            .await
            .map_err(|error| PollError::Source(error.to_string()))?;
        if listing.refused > 0 {
            tracing::warn!(
                source = source.name,
                refused = listing.refused,
                "leak watch: the listing names items on other hosts (or over-long addresses); they are not fetched"
            );
        }
        for item in &listing.items {
            self.take_item(index, &source, item, &client, services, grant)
                .await?;
        }
        if !listing.truncated && (listing.etag.is_some() || listing.last_modified.is_some()) {
            let state = self.state.source(&source.name);
            state.etag = listing.etag;
            state.last_modified = listing.last_modified;
            self.save()?;
        }
        Ok(())
    }

    /// Fetches one item, examines it unless it was finished before, records its outcome and
    /// remembers it.
    async fn take_item(
        &mut self,
        index: usize,
        source: &SourceSettings,
        item: &Listed,
        client: &reqwest::Client,
        services: &WatchServices,
        grant: &AdminGrant,
    ) -> Result<(), PollError> {
        let match_services = MatchServices {
            vault: &services.vault,
            events: &*services.events,
            exposures: &*services.exposures,
        };
        let fetched = source
            .kind
            .fetch(
                item,
                client,
                self.settings.max_item_bytes,
                self.settings.fetch_timeout,
            )
            .await;
        let fetched = match fetched {
            Ok(fetched) => fetched,
            Err(error) => {
                // One item that cannot be fetched (gone, refused, too slow) holds up neither
                // the items after it nor the source: it is tried on the next polls, and after
                // a few failures recorded as quarantined.
                let attempts = self.attempts.entry(item.key.clone()).or_insert(0);
                *attempts += 1;
                tracing::warn!(source = source.name, item = ?item.name, attempts = *attempts, %error, "leak watch: an item could not be fetched");
                if *attempts < FETCH_ATTEMPTS {
                    return Ok(());
                }
                Fetched::Failed(format!(
                    "could not be fetched in {FETCH_ATTEMPTS} attempts: {error}"
                ))
            }
        };
        let (digest, size, outcome) = match fetched {
            Fetched::Failed(reason) => (String::new(), 0, ItemOutcome::Quarantined(reason)),
            Fetched::TooLarge => (
                String::new(),
                self.settings.max_item_bytes,
                ItemOutcome::Quarantined(format!(
                    "larger than the {} bytes an item may be (max_item_bytes)",
                    self.settings.max_item_bytes
                )),
            ),
            Fetched::Bytes(bytes) => {
                let digest = hex::encode(Sha256::digest(&bytes));
                if self.state.source(&source.name).knows_digest(&digest) {
                    // Seen before (the same file dropped again, a feed listing it anew).
                    self.state.source(&source.name).mark_fetched(&item.key);
                    self.save()?;
                    return Ok(());
                }
                let size = bytes.len() as u64;
                let label = item::label(
                    &source.name,
                    &item.name,
                    &digest,
                    self.overflow(&source.name).as_deref(),
                );
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
                .map_err(|error| PollError::Source(format!("{}: {error}", item.name)))?;
                (digest, size, outcome)
            }
        };
        item::record(
            match_services,
            grant,
            &source.name,
            &item.name,
            &digest,
            size,
            &outcome,
        )
        .await
        .map_err(|error| PollError::Source(error.to_string()))?;
        if let ItemOutcome::Quarantined(reason) = &outcome {
            tracing::warn!(source = source.name, item = ?item.name, reason, "leak watch: quarantined");
        }
        self.attempts.remove(&item.key);
        if matches!(outcome, ItemOutcome::Matched { .. }) {
            let today = day_of(std::time::SystemTime::now());
            let count = self
                .matched_today
                .entry(source.name.clone())
                .or_insert((today.clone(), 0));
            if count.0 != today {
                *count = (today, 0);
            }
            count.1 += 1;
        }
        let health = &mut self.health[index];
        match &outcome {
            ItemOutcome::Matched { .. } => health.matched += 1,
            ItemOutcome::Clean => health.clean += 1,
            ItemOutcome::Quarantined(_) => health.quarantined += 1,
        }
        metrics::counter!(
            "haechi_leakwatch_items_total",
            "source" => source.name.clone(),
            "outcome" => outcome.as_str()
        )
        .increment(1);
        let state = self.state.source(&source.name);
        if !digest.is_empty() {
            state.finish(&digest);
        }
        state.mark_fetched(&item.key);
        self.save()
    }

    /// The day's overflow label for `source`, once it has opened its allowance of incidents
    /// today: an attacker who controls a source and knows some customers cannot open one
    /// incident per item without end.
    fn overflow(&self, source: &str) -> Option<String> {
        let today = day_of(std::time::SystemTime::now());
        self.matched_today
            .get(source)
            .filter(|(day, count)| *day == today && *count >= self.settings.incidents_per_day)
            .map(|_| today)
    }

    fn save(&self) -> Result<(), PollError> {
        self.state
            .save(&self.settings.state_file)
            .map_err(PollError::State)
    }
}

/// Redirects followed within the origin of the request only (at most five): a feed's server
/// cannot send the watch to another host.
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if attempt.previous().len() > 5 {
            attempt.error("more than five redirects")
        } else if same {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// The UTC day of `time`, as `2026-12-07`.
fn day_of(time: std::time::SystemTime) -> String {
    let days = time
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
        / 86_400;
    let micros = i64::try_from(days * 86_400 * 1_000_000).unwrap_or(i64::MAX);
    let text = haechi_events::Timestamp::from_micros(micros).to_rfc3339();
    text.get(..10).unwrap_or(&text).to_string()
}

enum PollError {
    /// The source (or an item of it) failed: backed off.
    Source(String),
    /// The state could not be written: the poll ends there (its items would be examined
    /// again after a restart).
    State(std::io::Error),
}
