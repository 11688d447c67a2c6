//! The watches `haechi serve` runs beside the API when configured: the custody watch (an HSM
//! holding keys, `src/custody_watch.rs`) and the leak watch (leak sources polled
//! continuously, `haechi_leakwatch::LeakWatch`).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures::FutureExt as _;
use haechi_leak::watch_ledger::WatchLedger;
use haechi_leakwatch::{
    LeakWatch, SourceKind, SourceSettings, WatchHealth, WatchServices, WatchSettings,
};
use haechi_store::PgStore;
use tokio::task::JoinHandle;
use zeroize::Zeroizing;

use crate::backends::Backend;
use crate::config::{Config, Role};
use crate::runtime::Runtime;

/// Starts the watches this configuration asks for.
/// The leak watch runs on a node whose `role` watches leaks, when sources are configured;
/// it reports its sources' health on `board` (the console reads it).
pub fn start(
    config: &Config,
    runtime: &Runtime,
    board: &WatchHealth,
    role: Role,
) -> anyhow::Result<Vec<JoinHandle<()>>> {
    let mut watches = Vec::new();
    if let Some(token) = runtime.custody_token.clone() {
        let watch = crate::custody_watch::run(token, runtime.events.clone(), runtime.clock.clone());
        watches.push(tokio::spawn(watch));
    }
    if role.watches_leaks() && !config.leakwatch.sources.is_empty() {
        let grant = runtime
            .authority
            .take_leak_watch_grant()
            .context("the leak watch's grant was already taken")?;
        let settings = leak_watch_settings(config)?;
        let services = services(runtime);
        let ledger: Arc<dyn WatchLedger> = runtime.store.clone();
        let board = board.clone();
        let sources = config.leakwatch.sources.len();
        watches.push(tokio::spawn(match &runtime.backend {
            Backend::Embedded(_) => {
                let watch = LeakWatch::open(settings, ledger, board)?;
                tracing::info!(sources, "leak watch started");
                watch.run(services, grant).boxed()
            }
            Backend::Postgres(store) => {
                // Built once now, so a source whose TLS trust cannot be set up stops the
                // start; its health goes on the board only while this node leads.
                LeakWatch::open(settings.clone(), ledger.clone(), WatchHealth::default())?;
                lead_leak_watch(store.clone(), settings, ledger, board, services, grant).boxed()
            }
        }));
    }
    Ok(watches)
}

/// How often a standby node asks for the lead of the leak watch, and the leader checks it
/// still holds it.
const LEAD_CHECK: Duration = Duration::from_secs(5);
/// How long the store may take to say the lead is still held: a connection that stops
/// answering may have lost its lock already (PostgreSQL frees it when it sees the connection
/// gone), so a silent one counts as lost.
const LEAD_ANSWER: Duration = Duration::from_secs(2);

/// Returns once `lead` is lost: its connection broke, or did not answer within
/// [`LEAD_ANSWER`].
pub async fn until_lead_lost(lead: &mut haechi_store::Leadership) {
    let mut ticker = tokio::time::interval(LEAD_CHECK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if !matches!(
            tokio::time::timeout(LEAD_ANSWER, lead.still_held()).await,
            Ok(true)
        ) {
            return;
        }
    }
}

/// A cluster's leak watch: one node at a time (the `leak-watch` lead, a PostgreSQL advisory
/// lock held on a connection of its own), so two nodes never fetch the same items; when the
/// leader dies its lock goes with its connection and a standby takes over within
/// [`LEAD_CHECK`], resuming from the shared ledger.
async fn lead_leak_watch(
    store: Arc<PgStore>,
    settings: WatchSettings,
    ledger: Arc<dyn WatchLedger>,
    board: WatchHealth,
    services: WatchServices,
    grant: haechi_token::AdminGrant,
) {
    let mut ticker = tokio::time::interval(LEAD_CHECK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let mut lead = match store.try_lead("leak-watch").await {
            Ok(Some(lead)) => lead,
            Ok(None) => continue,
            Err(error) => {
                tracing::error!(%error, "cannot reach the store to lead the leak watch");
                continue;
            }
        };
        let watch = match LeakWatch::open(settings.clone(), ledger.clone(), board.clone()) {
            Ok(watch) => watch,
            Err(error) => {
                tracing::error!(%error, "cannot start the leak watch");
                lead.resign().await;
                continue;
            }
        };
        tracing::info!(
            sources = settings.sources.len(),
            "this node leads the leak watch"
        );
        // The watch runs inside this task (not spawned beside it): when the lead is lost, or
        // this task is aborted at shutdown, dropping it stops every source's task at once.
        tokio::select! {
            () = watch.run(services.clone(), grant.clone()) => {}
            () = until_lead_lost(&mut lead) => {
                // Another node may lead by now: this one stops at once.
                tracing::warn!("lost the lead of the leak watch (the database connection broke or went silent)");
            }
        }
        board.clear();
    }
}

/// What the watch reaches in this data directory.
pub fn services(runtime: &Runtime) -> WatchServices {
    WatchServices {
        vault: runtime.vault.clone(),
        events: runtime.events.clone(),
        exposures: runtime.store.clone(),
    }
}

/// `[leakwatch]` as the watch takes it: secrets read from their files now.
pub fn leak_watch_settings(config: &Config) -> anyhow::Result<WatchSettings> {
    let section = &config.leakwatch;
    let mut sources = Vec::new();
    for source in &section.sources {
        let kind = match (&source.directory, &source.url) {
            (Some(path), _) => SourceKind::Directory { path: path.clone() },
            (None, Some(url)) => SourceKind::Feed {
                url: url::Url::parse(url)
                    .with_context(|| format!("leakwatch.source {:?}: url", source.name))?,
                authorization: match &source.authorization_file {
                    Some(path) => Some(read_secret(path).with_context(|| {
                        format!("leakwatch.source {:?}: authorization_file", source.name)
                    })?),
                    None => None,
                },
                trust: haechi_outbound::Trust {
                    ca_file: source.ca_file.clone(),
                    ca_file_only: source.ca_file_only,
                },
            },
            (None, None) => {
                anyhow::bail!("leakwatch.source {:?}: no directory or url", source.name)
            }
        };
        sources.push(SourceSettings {
            name: source.name.clone(),
            kind,
        });
    }
    Ok(WatchSettings {
        interval: section.interval,
        max_item_bytes: section.max_item_mib.saturating_mul(1024 * 1024),
        items_per_poll: section.items_per_poll,
        incidents_per_day: section.incidents_per_source_per_day,
        fetch_timeout: section.fetch_timeout,
        item_timeout: section.item_timeout,
        remember_for: section.remember_for,
        sources,
    })
}

fn read_secret(path: &std::path::Path) -> anyhow::Result<Zeroizing<String>> {
    if crate::config::is_group_or_world_readable(path) {
        tracing::warn!(path = %path.display(), "a leak feed's credential file is readable by group or others; chmod 600 it");
    }
    let text = Zeroizing::new(std::fs::read_to_string(path)?);
    let value = text.trim();
    if value.is_empty() {
        anyhow::bail!("{} is empty", path.display());
    }
    Ok(Zeroizing::new(value.to_string()))
}
