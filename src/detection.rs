//! Detection in `haechi serve`, wired from the configuration: the alert desk and containment
//! over the runtime, the rules, the sinks and the engine, handed to the pipeline of
//! `haechi-respond` (`haechi_respond::pipeline`), which runs the task — over this node's own
//! audit log on a single node, over the cluster's stream (one node leading, under a
//! PostgreSQL advisory lock) on a node with a bus and a shared store.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use haechi_bus::FeedOptions;
use haechi_detect::{Engine, Limits, LoadReport, PackSettings};
use haechi_events::{Clock, StoreError};
use haechi_respond::pipeline::{
    self, ClusterSource, DetectionLead, HeldLead, LocalLog, PipelineParts, Running, Source,
};
use haechi_respond::rules::{RuleDesk, RuleSources};
use haechi_respond::sinks::{Sinks, WebhookSettings};
use haechi_respond::{
    AlertDesk, Containment, ContainmentParts, ContainmentStore, Detection, IncidentDesk,
    SharedAddressSettings,
};
use haechi_server::drill::DrillClock;
use haechi_store::{Leadership, PgStore};
use std::sync::Arc;
use zeroize::Zeroizing;

use crate::backends::Backend;
use crate::config::{Config, WebhookSection};
use crate::runtime::Runtime;

/// The duty the cluster's detection is led under, and the name of its durable feed: every
/// detection node of one deployment (one bus prefix, one database) shares both.
const DETECTION: &str = "detection";
/// How often a standby asks for the lead of detection, and the leader checks it holds it.
const LEAD_CHECK: Duration = Duration::from_millis(500);

/// The built-in pack with its settings (`None`: turned off) and every rule file of `extra`
/// directories or files that exist. Bad rules are in the report's errors; the rest load.
pub(crate) fn load_rules(builtin: Option<&PackSettings>, extra: &[PathBuf]) -> LoadReport {
    let mut report = match builtin {
        Some(settings) => haechi_detect::builtin_rules_with(settings),
        None => LoadReport::default(),
    };
    for path in extra {
        report.merge(haechi_detect::load_path(path));
    }
    report
}

/// The rules of `config` as `haechi detect` loads them (used by `detect check` too).
pub(crate) fn configured_rules(config: &Config, extra: &[PathBuf]) -> LoadReport {
    let mut paths: Vec<PathBuf> = Vec::new();
    let rules_dir = config.rules_dir();
    if rules_dir.exists() {
        paths.push(rules_dir);
    }
    paths.extend(extra.iter().cloned());
    load_rules(config.detect.pack_settings().as_ref(), &paths)
}

/// On a node with a bus: publishes this node's live alerts and acknowledgements to the
/// cluster's alert board and, on a node that runs no engine (`follows`), follows the board into
/// its desk, so an API node's alert API, stream and console show the cluster's alerts
/// (`haechi_respond::board`). Without the board the node serves on, saying why.
pub(crate) async fn open_alert_board(
    runtime: &Runtime,
    detection: &Arc<Detection>,
    follows: bool,
    closing: &tokio::sync::watch::Receiver<bool>,
) {
    let Some(node) = &runtime.bus else {
        return;
    };
    match node.bus.alert_board().await {
        Ok(board) => {
            haechi_respond::board::publish_to_board(board.clone(), detection);
            if follows {
                tokio::spawn(haechi_respond::board::follow_board(
                    board,
                    detection.clone(),
                    closing.clone(),
                ));
            }
        }
        Err(error) => tracing::error!(
            %error,
            "cannot open the alert board: this node's alert list shows only its own alerts"
        ),
    }
}

/// Opens detection's state over the runtime and its rules desk (on every node: an API node
/// checks and stores rule changes, the engine's node swaps them in) and, if enabled and this
/// node's role runs it (`runs_engine`), starts the engine task. Bad
/// rules never stop the server: they are logged and skipped (and an engine that cannot start
/// leaves the server serving without it, saying so); an invalid `detect` configuration
/// (`never_block`, the webhook) does, like any configuration error.
pub(crate) async fn start(
    config: &Config,
    runtime: &Runtime,
    drill: Option<&DrillClock>,
    runs_engine: bool,
) -> anyhow::Result<(Running, Arc<RuleDesk>)> {
    let store: Arc<dyn ContainmentStore> = runtime.store.clone();
    let clock: Arc<dyn Clock> = runtime.authority.clock().clone();
    let alerts = AlertDesk::open(store.clone(), clock, config.detect.max_alerts)
        .await
        .context("cannot open the alert desk")?;
    let never_block =
        crate::config::parse_networks("detect.never_block", &config.detect.never_block)?;
    let containment = Containment::open(ContainmentParts {
        store,
        authority: runtime.authority.clone(),
        events: runtime.events.clone(),
        never_block,
        enforcement: config.detect.response,
        response_grant: runtime
            .authority
            .take_response_grant()
            .context("the response grant was already taken")?,
        shared_addresses: SharedAddressSettings {
            threshold: config.detect.shared_address_principals,
            capacity: config.detect.shared_address_tracked,
        },
    })
    .await
    .context("cannot load blocks and suspensions")?;
    let incidents = IncidentDesk::new(runtime.store.clone());
    let detection = Arc::new(Detection::new(alerts, containment, incidents));
    // Every node keeps the rules desk: API nodes check and store changes, the engine's node
    // swaps them in.
    let rules_desk = Arc::new(RuleDesk::new(
        RuleSources::new(config.detect.pack_settings(), Some(config.rules_dir())),
        runtime.store.clone(),
    ));
    let set = rules_desk
        .load_at_start()
        .await
        .context("cannot read the detection rules the API stored")?;
    if !config.detect.enabled {
        tracing::warn!("detection is turned off (detect.enabled = false)");
        return Ok((Running::idle(detection), rules_desk));
    }
    if !runs_engine {
        tracing::info!("detection runs on the cluster's detection nodes (--role api)");
        return Ok((Running::idle(detection), rules_desk));
    }
    for error in &set.errors {
        // FILE:LINE:COLUMN: rule ID: MESSAGE
        tracing::error!(%error, "detection rule not loaded; the other rules run");
    }
    let rules = set.rules;
    match detection.incidents.load(&rules).await {
        Ok(restored) => tracing::info!(restored, "incidents collecting alerts restored"),
        Err(error) => {
            // Incidents cannot open without the store; detection itself still can.
            tracing::error!(%error, "cannot restore incidents; new alerts open new ones");
        }
    }
    // A webhook that cannot work (no secret, an https URL) is a configuration error, refused at
    // start like any other; only rules are skipped one by one.
    let webhook = config.detect.webhook.as_ref().map(webhook).transpose()?;
    let sinks = Sinks::start(webhook, config.detect.stdout)?;
    let limits = Limits {
        allowed_lateness: config.detect.allowed_lateness,
        max_state_entries: config.detect.max_state_entries,
    };
    let rule_count = rules.len();
    let engine = match Engine::new(rules, limits) {
        Ok(engine) => engine,
        Err(error) => {
            tracing::error!(%error, "detection engine not started");
            return Ok((Running::idle(detection), rules_desk));
        }
    };
    tracing::info!(
        rules = rule_count,
        refused = set.errors.len(),
        digest = %set.digest,
        history_needed_secs = engine.history_needed().as_secs(),
        "detection rules loaded"
    );
    let parts = PipelineParts {
        source: source(config, runtime, drill),
        events: runtime.events.clone(),
        vault: runtime.vault.clone(),
        authority: runtime.authority.clone(),
        detection,
        sinks,
        clock: runtime.clock.clone(),
        rules: Some(rules_desk.clone()),
    };
    Ok((pipeline::spawn(parts, engine).await, rules_desk))
}

/// What the engine reads: the cluster's stream on a node with a bus and a shared store, this
/// node's own log otherwise.
fn source(config: &Config, runtime: &Runtime, drill: Option<&DrillClock>) -> Source {
    match (&runtime.bus, &runtime.backend) {
        (Some(node), Backend::Postgres(store)) => {
            tracing::info!(
                node = %node.node_id,
                "detection reads the cluster's audit stream; one detection node leads at a time"
            );
            Source::Cluster(Box::new(ClusterSource {
                bus: node.bus.clone(),
                feed: FeedOptions::new(DETECTION),
                lead: std::sync::Arc::new(PgDetectionLead(store.clone())),
                lead_check: LEAD_CHECK,
                // On the drill clock the leader settles through the stream's newest record
                // and a standby answers that it stands by (`docs/drills.md`).
                settles: drill.and_then(DrillClock::attach_engine),
            }))
        }
        (bus, _) => {
            if bus.is_some() {
                tracing::warn!(
                    "a bus without a shared store: detection reads this node's own log only"
                );
            }
            Source::LocalLog(LocalLog {
                audit: runtime.audit.clone(),
                seq_file: config.data_dir.join("detect.seq"),
                settles: drill.and_then(DrillClock::attach_engine),
            })
        }
    }
}

/// The lead of the cluster's detection: a PostgreSQL advisory lock on a connection of its
/// own, released the moment the holder dies or its connection breaks.
struct PgDetectionLead(Arc<PgStore>);

#[async_trait]
impl DetectionLead for PgDetectionLead {
    async fn try_lead(&self) -> Result<Option<Box<dyn HeldLead>>, StoreError> {
        Ok(self
            .0
            .try_lead(DETECTION)
            .await?
            .map(|held| Box::new(PgHeldLead(held)) as Box<dyn HeldLead>))
    }
}

struct PgHeldLead(Leadership);

#[async_trait]
impl HeldLead for PgHeldLead {
    async fn still_held(&mut self) -> bool {
        self.0.still_held().await
    }

    async fn resign(self: Box<Self>) {
        self.0.resign().await;
    }
}

/// The webhook as configured, checked: an `https://` (or `http://`) URL, exactly one source of
/// a key of at least 16 bytes, read, and the CA file if one is named.
fn webhook(config: &WebhookSection) -> anyhow::Result<WebhookSettings> {
    let url = reqwest::Url::parse(&config.url)
        .with_context(|| format!("detect.webhook.url {:?} is not a URL", config.url))?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
        anyhow::bail!(
            "detect.webhook.url must be https://HOST/PATH (or http://): {}",
            config.url
        );
    }
    if !url.username().is_empty() || url.password().is_some() {
        anyhow::bail!("detect.webhook.url: credentials in the URL would reach logs; use the HMAC");
    }
    if url.scheme() == "http" {
        tracing::warn!(
            "detect.webhook.url is http://: alerts (signed, not encrypted) cross the network in \
             clear; use https://"
        );
    }
    if let Some(path) = &config.ca_file
        && !path.is_file()
    {
        anyhow::bail!("detect.webhook.ca_file {} is not a file", path.display());
    }
    let secret = match (&config.secret, &config.secret_file) {
        (Some(secret), None) => Zeroizing::new(secret.clone().into_bytes()),
        (None, Some(path)) => Zeroizing::new(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?
                .trim()
                .as_bytes()
                .to_vec(),
        ),
        _ => anyhow::bail!(
            "detect.webhook needs exactly one of secret (HAECHI_DETECT__WEBHOOK__SECRET) or \
             secret_file"
        ),
    };
    if secret.len() < 16 {
        anyhow::bail!("detect.webhook secret: at least 16 bytes");
    }
    Ok(WebhookSettings {
        url: config.url.clone(),
        trust: haechi_outbound::Trust {
            ca_file: config.ca_file.clone(),
            ca_file_only: config.ca_file_only,
        },
        secret,
        min_severity: config.min_severity,
        queue: config.queue,
        max_attempts: config.max_attempts,
        timeout: config.timeout,
    })
}
