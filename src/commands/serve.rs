//! `haechi serve`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use haechi_audit::{ActiveSegment, ExportOptions, PruneOptions};
use haechi_server::{AppState, SharedState};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::Outcome;
use crate::config::{AuditSection, Config, LogFormat, Role};
use crate::listeners;
use crate::runtime::{DataDirLock, Runtime};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the address is printed).
    #[arg(long, env = "HAECHI_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// What this node does in a cluster: `api` serves the HTTP API without a detection engine;
    /// `detect` runs detection over the cluster's whole audit stream (one node leads, the
    /// others stand by) and answers only /healthz, /readyz and /metrics; `all` does both (the
    /// single-node default, where detection reads the node's own log).
    #[arg(long, value_enum, env = "HAECHI_ROLE", default_value_t = Role::All)]
    pub role: Role,
}

pub fn run(args: ServeArgs, mut config: Config) -> anyhow::Result<Outcome> {
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    init_logging(&config);
    args.role.check(&config)?;
    // Whoever can reach the drill clock can expire every token and block: a server on it
    // answers on the loopback interface only.
    if config.drill.dangerous_simulated_clock && !config.listen.ip().is_loopback() {
        anyhow::bail!(
            "drill.dangerous_simulated_clock is on: listen on a loopback address (127.0.0.1, \
             ::1), not {}",
            config.listen
        );
    }
    let _lock = DataDirLock::acquire(&config, "a second server")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(config, args.role))?;
    Ok(Outcome::Clean)
}

/// How often histogram samples are folded into their summaries.
const METRICS_UPKEEP: Duration = Duration::from_secs(5);

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HAECHI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match config.log_format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

async fn serve(config: Config, role: Role) -> anyhow::Result<()> {
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .ok();
    let listener = TcpListener::from_std(listeners::bind(config.listen, "the API")?)?;
    let address = listener.local_addr()?;
    // With port 0 the issuer (derived from the address) must name the port actually bound.
    let mut config = config;
    config.listen = address;
    let runtime = Runtime::open_for_serving(&config).await?;
    // Where the master key came from is evidence; read it before its text is wiped.
    let evidence_settings = crate::evidence::settings(&config)?;
    // The key is in custody now; the text it was parsed from is wiped.
    config.master_key = None;
    config.previous_master_key = None;
    // One node rebuilds its budgets from its own log; a cluster keeps them in the store.
    if runtime.backend.shared_budgets().is_none() {
        let restored = runtime.restore_vault_budgets().await?;
        tracing::info!(restored, "vault budgets rebuilt from the audit log");
    }
    let drill = runtime.simulated_clock.clone().map(|clock| {
        Arc::new(haechi_server::drill::DrillClock::new(
            clock,
            maintenance_period(config.keys.rotation_interval),
        ))
    });
    let (detection, rules) =
        crate::detection::start(&config, &runtime, drill.as_deref(), role.detects()).await?;
    let (closing, closed) = tokio::sync::watch::channel(false);
    let following = crate::backends::FollowingNode {
        backend: runtime.backend.clone(),
        change_head: runtime.change_head,
        authority: runtime.authority.clone(),
        vault: runtime.vault.clone(),
        detection: detection.detection.clone(),
    };
    crate::detection::open_alert_board(&runtime, &detection.detection, !role.detects(), &closed)
        .await;
    let following = crate::backends::follow_changes(&config, following, closed).await?;
    if let (Some(drill), Some(following)) = (&drill, &following) {
        // On a cluster node the drill clock settles the change log too (`docs/drills.md`).
        drill.attach_cluster(following.links.clone());
    }
    let freshness = following.map(|following| following.freshness);
    let exposure_check = crate::exposure_check::open(&runtime, role.serves_portal()).await?;
    let portal = crate::portal::open(&config, &runtime).await?;
    let state = AppState::new(SharedState {
        authority: runtime.authority.clone(),
        vault: runtime.vault.clone(),
        store: runtime.store.clone(),
        events: runtime.events.clone(),
        audit: runtime.audit.clone(),
        metrics,
        settings: Arc::new(config.server_settings()?),
        detection: detection.detection.clone(),
        rules,
        exposure_check: exposure_check.clone(),
        portal,
        notices: crate::notices::open(&config, &runtime).await?,
        drill,
        freshness,
        console: crate::console::desk(&config, &runtime).await?,
        gateway: Arc::new(haechi_server::gateway::GatewayDesk::new()),
        leak_sources: haechi_leakwatch::WatchHealth::default(),
        evidence: crate::evidence::desk(
            evidence_settings,
            crate::runtime::read_audit_key(&*runtime.store, &runtime.master_key).await?,
            runtime.store.clone(),
        ),
    });
    let background = Background::start(&config, &runtime, &state, role)?;
    crate::console::sweep_every_minute(state.console.clone());
    let metrics_listener = metrics_listener(&config, &state).await?;
    // The listeners beside the main address stop taking requests when it does, at the signal,
    // and drain beside it; `closing` (the following of changes, the alert board) waits until
    // every request in flight has finished, since those requests may still need it.
    let (listeners_closing, _) = tokio::sync::watch::channel(false);
    let mut side_listeners = Vec::new();
    if role.serves_api() {
        side_listeners.extend(listeners::operators(
            &config,
            &state,
            closed_signal(&listeners_closing),
        )?);
    }
    if role.serves_portal() {
        side_listeners.extend(listeners::portal(
            config.portal.own_listener()?,
            &state,
            closed_signal(&listeners_closing),
        )?);
    }
    // The anonymous check's pace follows the runtimes that answer checks: this one, and the
    // portal listener's (started there above).
    state.follow_check_load();
    tracing::info!(
        %address,
        data_dir = %config.data_dir.display(),
        store = runtime.store.backend_name(),
        role = role.name(),
        "haechi serving"
    );
    let signalled = shutdown_signal().context("cannot listen for SIGTERM and SIGINT")?;
    // Tests and scripts read the address from this line (port 0 picks a free port).
    println!("haechi listening on http://{address}");
    let streams = detection.detection.clone();
    let shutdown = async move {
        signalled.await;
        listeners_closing.send_replace(true);
        // Alert streams (SSE) never end by themselves; end them so the server can stop.
        streams.close();
    };
    match role {
        Role::Api | Role::All => haechi_server::serve(listener, state, shutdown).await?,
        Role::Portal => haechi_server::serve_portal(listener, state, shutdown).await?,
        Role::Detect | Role::LeakWatch => {
            haechi_server::serve_probes(listener, state, shutdown).await?;
        }
    }
    // The side listeners were signalled with the main one and have been draining beside it;
    // wait for them (this runs in `block_on` on the main thread, not on a worker).
    let stopped: Vec<_> = side_listeners
        .into_iter()
        .filter_map(listeners::SideListener::join)
        .collect();
    closing.send_replace(true);
    if let Some(metrics_listener) = metrics_listener {
        metrics_listener.abort();
    }
    background.refusal_summaries.abort();
    if let Err(error) = runtime.refusals.flush().await {
        tracing::error!(%error, "could not record the last refusal summaries");
    }
    // The engine evaluates what it holds and records the alerts and actions that follow
    // before the audit log closes.
    detection.stop(Duration::from_secs(10)).await;
    background.stop();
    // Requests in flight have finished; the final checkpoint signs everything they recorded.
    runtime.close().await?;
    stopped.into_iter().for_each(listeners::Stopped::release);
    tracing::info!("haechi stopped");
    Ok(())
}

/// The tasks `haechi serve` runs beside the API, stopped together once it has drained.
struct Background {
    metrics_upkeep: Option<JoinHandle<()>>,
    maintenance: Option<JoinHandle<()>>,
    refusal_summaries: JoinHandle<()>,
    archiving: Option<JoinHandle<()>>,
    audit_watch: JoinHandle<()>,
    /// The custody and leak watches (`crate::watches`).
    watches: Vec<JoinHandle<()>>,
    rewrap: Option<JoinHandle<()>>,
    exposure_check: Option<JoinHandle<()>>,
    portal: Option<JoinHandle<()>>,
    review_job: Option<JoinHandle<()>>,
}

impl Background {
    fn start(
        config: &Config,
        runtime: &Runtime,
        state: &AppState,
        role: Role,
    ) -> anyhow::Result<Self> {
        let serves_portal = role.serves_portal();
        // Histograms keep every sample until upkeep folds them into their summaries: without
        // it, memory grew by 8 bytes a request until /metrics was scraped (about 20 MiB in
        // three minutes at 13 k req/s). Upkeep every few seconds bounds it whether or not
        // anyone scrapes.
        let metrics_upkeep = state.metrics.clone().map(|handle| {
            tokio::spawn(async move {
                let mut ticker = tokio::time::interval(METRICS_UPKEEP);
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    ticker.tick().await;
                    handle.run_upkeep();
                }
            })
        });
        // On the drill clock, moving the clock runs the upkeep (at simulated pace, so a drill
        // replays deterministically); on the real clock, a ticker does.
        let maintenance = state.drill.is_none().then(|| {
            tokio::spawn(maintain(
                runtime.authority.clone(),
                runtime.backend.clone(),
                maintenance_period(config.keys.rotation_interval),
            ))
        });
        let archiving = (config.audit.retention.is_some() || config.audit.archive_dir.is_some())
            .then(|| {
                tokio::spawn(keep_audit_archive(
                    runtime.audit.clone(),
                    config.audit.clone(),
                    runtime.clock.clone(),
                ))
            });
        let review_due = config.evidence.review_due()?;
        let rewrap = runtime.master_key.has_previous().then(|| {
            tokio::spawn(rewrap_online(
                runtime.vault.clone(),
                runtime.authority.clone(),
                runtime.master_key.previous_ids().join(","),
            ))
        });
        Ok(Background {
            metrics_upkeep,
            maintenance,
            refusal_summaries: tokio::spawn(flush_refusal_summaries(runtime.refusals.clone())),
            archiving,
            audit_watch: tokio::spawn(crate::audit_watch::run(
                runtime.audit.clone(),
                runtime.events.clone(),
                runtime.clock.clone(),
                config.audit.min_free_headroom_percent()?,
            )),
            watches: crate::watches::start(config, runtime, &state.leak_sources, role)?,
            rewrap,
            exposure_check: serves_portal.then(|| {
                tokio::spawn(crate::exposure_check::keep_fresh(
                    state.exposure_check.clone(),
                ))
            }),
            portal: serves_portal.then(|| {
                tokio::spawn(crate::portal::keep_fresh(
                    state.portal.clone(),
                    runtime.store.clone(),
                ))
            }),
            // A cluster node's trail is its own chain: an acknowledgement taken by another node
            // is not in it, so the job would call reviews overdue that are not.
            review_job: config.store.url.is_none().then(|| {
                tokio::spawn(crate::evidence::review_job(
                    state.evidence.clone(),
                    runtime.events.clone(),
                    runtime.clock.clone(),
                    review_due,
                    // On the drill clock a month can end at any moment; on the real one, a minute
                    // late is soon enough.
                    if state.drill.is_some() {
                        Duration::from_secs(1)
                    } else {
                        Duration::from_secs(60)
                    },
                ))
            }),
        })
    }

    fn stop(self) {
        let optional = [
            self.metrics_upkeep,
            self.maintenance,
            self.archiving,
            self.rewrap,
            self.exposure_check,
            self.portal,
            self.review_job,
        ];
        for task in optional.into_iter().flatten() {
            task.abort();
        }
        self.watches.iter().for_each(JoinHandle::abort);
        self.refusal_summaries.abort();
        self.audit_watch.abort();
    }
}

/// A future that resolves once `closing` says the server is stopping.
fn closed_signal(
    closing: &tokio::sync::watch::Sender<bool>,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let mut closed = closing.subscribe();
    async move {
        let _ = closed.wait_for(|closed| *closed).await;
    }
}

/// `/metrics` on its own listener when `server.metrics_listen` is set.
async fn metrics_listener(
    config: &Config,
    state: &AppState,
) -> anyhow::Result<Option<JoinHandle<()>>> {
    let Some(metrics_address) = config.server.metrics_listen else {
        return Ok(None);
    };
    let listener = TcpListener::bind(metrics_address)
        .await
        .with_context(|| format!("cannot listen on {metrics_address} for /metrics"))?;
    let bound = listener.local_addr()?;
    println!("haechi metrics on http://{bound}/metrics");
    let state = state.clone();
    Ok(Some(tokio::spawn(async move {
        if let Err(error) = haechi_server::serve_metrics(listener, state).await {
            tracing::error!(%error, "the metrics listener stopped");
        }
    })))
}

/// Online master-key rotation: started with a previous master key, the server serves at once
/// (the ring opens keys sealed by either) and re-wraps everything under the current key here,
/// in the background. An interrupted run resumes at the next start.
async fn rewrap_online(
    vault: Arc<haechi_vault::Vault>,
    authority: Arc<haechi_token::TokenAuthority>,
    previous: String,
) {
    tracing::warn!(
        previous = %previous,
        "started with a previous master key: re-wrapping every key under the current one"
    );
    let mut last_logged = std::time::Instant::now();
    let result = crate::commands::keys::rewrap_to_current(&vault, &authority, |done, total| {
        metrics::gauge!("haechi_master_key_rewrap_done").set(done as f64);
        metrics::gauge!("haechi_master_key_rewrap_total").set(total as f64);
        if last_logged.elapsed() > Duration::from_secs(5) {
            tracing::info!(
                done,
                total,
                "re-wrapping data keys under the current master key"
            );
            last_logged = std::time::Instant::now();
        }
    })
    .await;
    match result {
        Ok(rewrapped) => tracing::warn!(
            rewrapped,
            previous = %previous,
            "master-key rotation complete: nothing is wrapped under the previous key any more; \
             remove it from the configuration"
        ),
        Err(error) => {
            tracing::error!(%error, "master-key re-wrap failed; it resumes at the next start")
        }
    }
}

/// Upkeep runs often enough that a key retires within a minute of its window closing.
fn maintenance_period(rotation_interval: Duration) -> Duration {
    (rotation_interval / 24).clamp(Duration::from_secs(1), Duration::from_secs(60))
}

/// Key upkeep (rotation, retirement, the ledger's pruning). In a cluster one node at a time
/// does it — two nodes rotating at the same tick would make two new keys — and the others
/// learn the new key states from the change log; when the leader dies, PostgreSQL releases
/// its lock and the next node's tick takes over.
async fn maintain(
    authority: Arc<haechi_token::TokenAuthority>,
    backend: crate::backends::Backend,
    period: Duration,
) {
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut leadership: Option<haechi_store::Leadership> = None;
    loop {
        ticker.tick().await;
        if let crate::backends::Backend::Postgres(store) = &backend {
            if let Some(held) = leadership.as_mut()
                && !held.still_held().await
            {
                tracing::warn!("lost the lead of key maintenance (the database connection broke)");
                leadership = None;
            }
            if leadership.is_none() {
                match store.try_lead("key-maintenance").await {
                    Ok(Some(taken)) => {
                        tracing::info!("this node leads key maintenance");
                        leadership = Some(taken);
                    }
                    Ok(None) => continue,
                    Err(error) => {
                        tracing::error!(%error, "cannot reach the store to lead key maintenance");
                        continue;
                    }
                }
            }
        }
        if let Err(error) = authority.maintain().await {
            tracing::error!(%error, "key maintenance failed");
        }
        if let crate::backends::Backend::Postgres(store) = &backend {
            let before = authority.clock().now().minus(CHANGE_LOG_KEPT);
            if let Err(error) = store.prune_changes(before).await {
                tracing::error!(%error, "cannot prune the change log");
            }
        }
    }
}

/// How long the change log keeps an entry: a node that cannot read it for longer than this
/// reloads all shared state when it can again (it refuses requests meanwhile anyway).
const CHANGE_LOG_KEPT: Duration = Duration::from_secs(3600);

/// Writes the summaries of refusal floods once a second (see `haechi_events::RefusalGate`).
async fn flush_refusal_summaries(refusals: Arc<haechi_events::RefusalGate>) {
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(error) = refusals.flush().await {
            tracing::error!(%error, "could not record refusal summaries");
        }
    }
}

/// Archive upkeep: export each newly sealed segment to `audit.archive_dir` (when set), then
/// delete sealed segments wholly older than `audit.retention` (when set) — only ones whose
/// archive copy reads back identical, so retention never loses a record. Runs at start and
/// then often enough that a segment outlives the retention by at most a twenty-fourth of it
/// (at least every hour).
async fn keep_audit_archive(
    audit: Arc<haechi_audit::AuditLog>,
    settings: AuditSection,
    clock: Arc<dyn haechi_events::Clock>,
) {
    let period = (settings.retention.unwrap_or(Duration::from_secs(86_400)) / 24)
        .clamp(Duration::from_secs(1), Duration::from_secs(3600));
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Some(archive_dir) = &settings.archive_dir {
            match audit
                .export(archive_dir, ActiveSegment::Leave, ExportOptions::default())
                .await
            {
                Ok(report) if report.segments_exported > 0 => tracing::info!(
                    segments = report.segments_exported,
                    records = report.records,
                    archive_dir = %archive_dir.display(),
                    "exported sealed audit segments to the archive"
                ),
                Ok(_) => {}
                Err(error) => tracing::error!(
                    %error,
                    archive_dir = %archive_dir.display(),
                    "audit archive export failed; retention waits for it"
                ),
            }
        }
        let Some(retention) = settings.retention else {
            continue;
        };
        let options = PruneOptions {
            recorded_before: Some(clock.now().minus(retention)),
            ..PruneOptions::everything_archived()
        };
        match audit.prune_with(options).await {
            Ok(report) => {
                if let Some((first_seq, last_seq)) = report.seqs {
                    tracing::info!(
                        segments = report.deleted.len(),
                        records = report.records,
                        first_seq,
                        last_seq,
                        retention = %humantime::format_duration(retention),
                        "pruned archived audit segments older than the retention from the live log"
                    );
                }
                if let Some(segment) = report.stopped_at_unarchived {
                    tracing::warn!(
                        segment = %segment.display(),
                        "an audit segment older than the retention is not archived, so it and \
                         everything after it stay in the live log: export it (haechi audit \
                         export, or set audit.archive_dir)"
                    );
                }
            }
            Err(error) => tracing::error!(%error, "audit retention failed"),
        }
    }
}

fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    // Installed now, before the server announces its address: a SIGTERM sent right after the
    // announcement is a graceful stop, not the default action's kill.
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
        tracing::info!("shutting down: finishing requests in flight");
    })
}
