//! Leak watch as a service: sources polled continuously, new items matched as they appear.
//!
//! Each source is polled by a task of its own ([`poller`]), so a slow feed, a hanging mount or
//! a heavy dump delays only its own source. A poll lists the source's items (a drop
//! directory's settled files, a feed's listing fetched with `If-None-Match`/
//! `If-Modified-Since`), keeps those the ledger has not seen fetched, and takes them in order
//! — at most `items_per_poll`, within about one interval — each bounded in size and time: an
//! item whose SHA-256 was finished before is skipped, the rest go through the `leak match`
//! pipeline ([`item::examine`]). Every finished item is one `leak.item_scanned` record; a
//! confirmed match is also a `leak.matched` record per customer, which the built-in rule
//! `haechi.leak.confirmed_match` raises as one alert — one incident — per item. A poisoned item
//! (compressed, binary, UTF-16, too large, too slow) is quarantined with its reason (and
//! `haechi.leak.item_quarantined` asks an analyst to look at it) and never holds up another
//! item or source; a source that fails is backed off (doubling, up to an hour) and polled
//! again. What was finished is kept in the store's ledger
//! ([`haechi_leak::watch_ledger::WatchLedger`]), one transaction per item, so a restart — or a
//! cluster's standby taking the watch over — scans and raises nothing twice.

mod item;
mod poller;
mod source;

use std::sync::Arc;
use std::time::Duration;

use haechi_events::{Clock as _, EventSink, SystemClock};
use haechi_leak::exposure::ExposureStore;
use haechi_leak::watch_ledger::WatchLedger;
use haechi_token::AdminGrant;
use haechi_vault::Vault;

pub use item::ItemOutcome;
pub use source::{SourceKind, SourceSettings};

use crate::Error;
use poller::SourcePoller;

/// How the watch runs.
#[derive(Debug, Clone)]
pub struct WatchSettings {
    /// Between two polls of a source; also about the longest one poll takes items for.
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
    /// How long the ledger remembers a finished item (the same bytes posted again after it
    /// are examined — and raised — again).
    pub remember_for: Duration,
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

/// A source's health, for `/metrics`, the console and the log.
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
    /// The last listing held more entries than a poll looks at.
    pub listing_cut: bool,
    /// Items finished since start, by outcome.
    pub matched: u64,
    /// Read through without a customer.
    pub clean: u64,
    /// Refused.
    pub quarantined: u64,
}

impl SourceHealth {
    fn new(name: &str) -> Self {
        SourceHealth {
            name: name.to_string(),
            up: true,
            failures: 0,
            last_error: None,
            last_poll: None,
            listing_cut: false,
            matched: 0,
            clean: 0,
            quarantined: 0,
        }
    }
}

/// The sources' health as the watch last saw it, shared with whoever shows it (the console):
/// each source's entry replaced after each of its polls.
#[derive(Debug, Clone, Default)]
pub struct WatchHealth(Arc<parking_lot::RwLock<Vec<SourceHealth>>>);

impl WatchHealth {
    /// Each source's health, as of its last poll (empty when no watch runs here).
    pub fn snapshot(&self) -> Vec<SourceHealth> {
        self.0.read().clone()
    }

    /// Forgets every source's health (a node that stopped watching shows none).
    pub fn clear(&self) {
        self.0.write().clear();
    }

    fn set(&self, index: usize, health: &SourceHealth) {
        if let Some(slot) = self.0.write().get_mut(index) {
            *slot = health.clone();
        }
    }
}

/// The watch: its sources, each with its client and health.
pub struct LeakWatch {
    settings: Arc<WatchSettings>,
    ledger: Arc<dyn WatchLedger>,
    pollers: Vec<SourcePoller>,
    board: WatchHealth,
}

impl LeakWatch {
    /// Builds a client per source; what was finished is kept in `ledger`.
    ///
    /// # Errors
    /// [`Error::WatchClient`] for a source whose TLS trust cannot be set up.
    pub fn open(
        settings: WatchSettings,
        ledger: Arc<dyn WatchLedger>,
        board: WatchHealth,
    ) -> Result<Self, Error> {
        let settings = Arc::new(settings);
        let mut pollers = Vec::new();
        for source in &settings.sources {
            let builder = match &source.kind {
                SourceKind::Feed { trust, .. } => haechi_outbound::builder(trust),
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
            pollers.push(SourcePoller::new(
                source.clone(),
                settings.clone(),
                ledger.clone(),
                client,
            ));
        }
        *board.0.write() = pollers.iter().map(|poller| poller.health.clone()).collect();
        Ok(LeakWatch {
            settings,
            ledger,
            pollers,
            board,
        })
    }

    /// Each source's health.
    pub fn health(&self) -> Vec<SourceHealth> {
        self.pollers
            .iter()
            .map(|poller| poller.health.clone())
            .collect()
    }

    /// Polls every source once, side by side, and returns when all are done.
    pub async fn poll_once(&mut self, services: &WatchServices, grant: &AdminGrant) {
        let polls = self
            .pollers
            .iter_mut()
            .map(|poller| poller.poll(services, grant));
        futures::future::join_all(polls).await;
        for (index, poller) in self.pollers.iter().enumerate() {
            self.board.set(index, &poller.health);
        }
    }

    /// Runs until the task is aborted: each source polled by a task of its own when due, the
    /// ledger's old entries forgotten once a day.
    pub async fn run(self, services: WatchServices, grant: AdminGrant) {
        let mut tasks = tokio::task::JoinSet::new();
        let LeakWatch {
            settings,
            ledger,
            pollers,
            board,
        } = self;
        for (index, mut poller) in pollers.into_iter().enumerate() {
            let (services, grant, board) = (services.clone(), grant.clone(), board.clone());
            tasks.spawn(async move {
                loop {
                    poller.poll(&services, &grant).await;
                    board.set(index, &poller.health);
                    tokio::time::sleep_until(poller.next_poll.into()).await;
                }
            });
        }
        let mut daily = tokio::time::interval(Duration::from_secs(86_400));
        loop {
            tokio::select! {
                _ = daily.tick() => match forget_old(&*ledger, settings.remember_for).await {
                    Ok(forgotten) => tracing::debug!(forgotten, "leak watch: old ledger entries forgotten"),
                    Err(error) => tracing::error!(%error, "leak watch: cannot forget old ledger entries"),
                },
                Some(ended) = tasks.join_next() => {
                    // A source's loop never ends by itself: only a panic ends it.
                    tracing::error!(?ended, "leak watch: a source's task stopped; the other sources go on");
                }
            }
        }
    }
}

/// Forgets what `ledger` finished longer ago than `remember_for`.
async fn forget_old(ledger: &dyn WatchLedger, remember_for: Duration) -> Result<u64, Error> {
    let before = SystemClock.now().minus(remember_for);
    ledger
        .forget_watch_before(before)
        .await
        .map_err(Error::WatchLedger)
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
