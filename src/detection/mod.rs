//! The detection task of `haechi serve`: one engine over the audit trail's live stream.
//!
//! ```text
//! audit log ──subscribe(next_seq)──▶ reader task ──bounded channel──▶ engine task
//!                                                                      │  every 100 ms: advance_watermark(now)
//!   alert.raised (audit) ◀── AlertDesk (API, SSE) ◀── AlertUpdate ◀────┤
//!   webhook / stdout    ◀── Sinks                                      │
//!   response.action     ◀── Containment::carry_out ◀── ResponseAction ◀┘
//! ```
//!
//! **Restarts.** The task persists the next sequence number it will hand the engine in
//! `<data_dir>/detect.seq` (written atomically, every second and at shutdown). At start it
//! replays `Engine::history_needed()` of the log before that point into a fresh engine (warm-up,
//! off the async workers); alerts it raises there re-enter the desk only if the trail holds
//! their `alert.raised` (so the list survives restarts), and their actions are ignored. Then it
//! goes live from the persisted point. A first start treats everything already in the log as
//! history. Alert ids are `RULE_ID/SEQ`, deterministic, so an alert the previous run raised
//! between its last persisted point and its stop is recognised and not raised twice.
//!
//! **No feedback.** The engine never sees `alert.raised`, `response.action` or
//! `response.lifted`: detection's own output cannot match a rule, however the rules are
//! written.

mod lookup;
pub(crate) mod sinks;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use haechi_audit::{AuditLog, AuditRecord};
use haechi_detect::containment::ContainmentStore;
use haechi_detect::{
    ActionKind, Alert, AlertBook, AlertUpdate, Engine, Limits, LoadReport, MAX_COOLDOWN,
    PackSettings, ResponseAction,
};
use haechi_events::{Clock, EventKind, EventSink, SecurityEvent, Timestamp};
use haechi_server::detection::{
    AlertDesk, Containment, ContainmentParts, Detection, Recorded, SharedAddressSettings,
    detection_principal,
};
use haechi_server::drill::{DrillClock, Settle};
use haechi_vault::Vault;
use tokio::sync::{mpsc, watch};

use crate::config::Config;
use crate::runtime::Runtime;
pub(crate) use lookup::ServerLookup;
use sinks::Sinks;

/// How often the watermark advances on the wall clock (a quiet stream's alerts wait at most
/// `allowed_lateness` plus this).
const WATERMARK_TICK: Duration = Duration::from_millis(100);
/// How often the resume point is persisted and expired blocks are pruned.
const HOUSEKEEPING: Duration = Duration::from_secs(1);
/// How often the customer count (`share` rules' population) is refreshed.
const CUSTOMER_COUNT_REFRESH: Duration = Duration::from_secs(60);
/// Records waiting between the reader and the engine.
const READ_AHEAD: usize = 8192;

/// Whether the engine looks at events of `kind`: everything but detection's own output.
pub(crate) fn is_engine_input(kind: EventKind) -> bool {
    !matches!(
        kind,
        EventKind::AlertRaised
            | EventKind::AlertDropped
            | EventKind::ResponseAction
            | EventKind::ResponseLifted
    )
}

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

/// Detection running beside the server.
pub(crate) struct Running {
    /// The state the API serves.
    pub detection: Arc<Detection>,
    task: Option<tokio::task::JoinHandle<()>>,
    stop: watch::Sender<bool>,
}

impl Running {
    /// Stops the engine: it evaluates what it holds, records the resulting alerts and
    /// actions, persists its resume point and ends. Waits at most `patience`.
    pub async fn stop(self, patience: Duration) {
        self.detection.close();
        self.stop.send_replace(true);
        if let Some(task) = self.task
            && tokio::time::timeout(patience, task).await.is_err()
        {
            tracing::warn!("the detection task did not stop in time");
        }
    }
}

/// Opens detection's state over the runtime and, if enabled, starts the engine task. Bad
/// rules never stop the server: they are logged and skipped (and an engine that cannot start
/// leaves the server serving without it, saying so); an invalid `detect` configuration
/// (`never_block`, the webhook) does, like any configuration error.
pub(crate) async fn start(
    config: &Config,
    runtime: &Runtime,
    drill: Option<&DrillClock>,
) -> anyhow::Result<Running> {
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
    let detection = Arc::new(Detection::new(alerts, containment));
    let (stop, stopped) = watch::channel(false);
    let mut running = Running {
        detection: detection.clone(),
        task: None,
        stop,
    };
    if !config.detect.enabled {
        tracing::warn!("detection is turned off (detect.enabled = false)");
        return Ok(running);
    }
    let rules_dir = config.rules_dir();
    let extra: Vec<PathBuf> = rules_dir
        .exists()
        .then_some(rules_dir)
        .into_iter()
        .collect();
    let report = load_rules(config.detect.pack_settings().as_ref(), &extra);
    for error in &report.errors {
        // FILE:LINE:COLUMN: rule ID: MESSAGE
        tracing::error!(%error, "detection rule not loaded; the other rules run");
    }
    let rules = report.rules;
    // A webhook that cannot work (no secret, an https URL) is a configuration error, refused at
    // start like any other; only rules are skipped one by one.
    let sinks = Sinks::start(config.detect.webhook.as_ref(), config.detect.stdout)?;
    let limits = Limits {
        allowed_lateness: config.detect.allowed_lateness,
        max_state_entries: config.detect.max_state_entries,
    };
    let rule_count = rules.len();
    let engine = match Engine::new(rules, limits) {
        Ok(engine) => engine,
        Err(error) => {
            tracing::error!(%error, "detection engine not started");
            return Ok(running);
        }
    };
    tracing::info!(
        rules = rule_count,
        refused = report.errors.len(),
        history_needed_secs = engine.history_needed().as_secs(),
        "detection rules loaded"
    );
    let customers = Arc::new(AtomicU64::new(
        runtime.vault.customer_count().await.unwrap_or(0),
    ));
    let task = EngineTask {
        audit: runtime.audit.clone(),
        events: runtime.events.clone(),
        vault: runtime.vault.clone(),
        lookup: ServerLookup {
            authority: runtime.authority.clone(),
            detection,
            customers,
        },
        sinks,
        seq_file: config.data_dir.join("detect.seq"),
        clock: runtime.clock.clone(),
        settles: drill.and_then(DrillClock::attach_engine),
    };
    running.task = Some(tokio::spawn(task.run(engine, stopped)));
    Ok(running)
}

struct EngineTask {
    audit: Arc<AuditLog>,
    events: Arc<dyn EventSink>,
    vault: Arc<Vault>,
    lookup: ServerLookup,
    sinks: Sinks,
    seq_file: PathBuf,
    clock: Arc<dyn Clock>,
    /// Settle requests of the drill clock (only on a simulated clock).
    settles: Option<mpsc::Receiver<Settle>>,
}

/// What the live phase keeps besides the engine.
struct Live {
    /// Ids of alerts whose `alert.raised` is already in the trail (raised before a restart).
    already_raised: HashSet<String>,
    /// Alerts the warm-up raised that the trail does not hold, by id: their rule's group is
    /// open in the engine, so a live match grows them; the first live growth raises them.
    dormant: AlertBook,
    /// The next seq to hand the engine.
    next_seq: u64,
    persisted_seq: u64,
    /// When a settle last refreshed the customer count (simulated time).
    counted_at: Option<Timestamp>,
}

impl EngineTask {
    async fn run(mut self, engine: Engine, mut stopped: watch::Receiver<bool>) {
        let mut settles = self.settles.take();
        let mut pending_settles: Vec<Settle> = Vec::new();
        let durable = self.audit.durable_seq();
        let resume = match read_seq_file(&self.seq_file) {
            Ok(Some(seq)) => seq.min(durable + 1),
            Ok(None) => durable + 1,
            Err(error) => {
                tracing::warn!(%error, "cannot read the detection resume point; starting after the current end of the log");
                durable + 1
            }
        };
        let started = Instant::now();
        let warm = warm_up(
            engine,
            self.audit.dir().to_path_buf(),
            resume,
            durable,
            self.clock.now(),
            self.lookup.clone(),
        )
        .await;
        let (mut engine, warm) = match warm {
            Ok(result) => result,
            Err(error) => {
                tracing::error!(error = %format!("{error:#}"), "detection warm-up failed; detection is not running");
                return;
            }
        };
        let desk = &self.lookup.detection.alerts;
        for alert in warm.raised {
            desk.record_quietly(AlertUpdate::Raised(alert));
        }
        desk.forget_other_acks();
        tracing::info!(
            replayed = warm.events,
            alerts = warm.restored,
            resume,
            seconds = started.elapsed().as_secs_f64(),
            "detection warmed up; live from the resume point"
        );
        let mut live = Live {
            already_raised: warm.already_raised,
            dormant: warm.dormant,
            next_seq: resume,
            persisted_seq: 0,
            counted_at: None,
        };
        self.persist(&mut live);

        let (sender, mut receiver) = mpsc::channel(READ_AHEAD);
        let reader = tokio::spawn(read_records(self.audit.clone(), resume, sender));
        let refresher = tokio::spawn(refresh_customer_count(
            self.vault.clone(),
            self.lookup.customers.clone(),
        ));
        let mut watermark = tokio::time::interval(WATERMARK_TICK);
        watermark.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_housekeeping = Instant::now();
        loop {
            tokio::select! {
                _ = stopped.changed() => break,
                record = receiver.recv() => {
                    let Some(record) = record else { break };
                    live.next_seq = record.seq + 1;
                    self.lookup.detection.containment.observe(&record.event);
                    if is_engine_input(record.event.kind) {
                        let updates = engine.process_owned(record.seq, record.event, &self.lookup);
                        self.handle(updates, &mut live).await;
                    }
                    if !pending_settles.is_empty() {
                        self.settle(&mut engine, &mut live, &mut pending_settles).await;
                    }
                }
                settle = next_settle(&mut settles) => {
                    match settle {
                        Some(settle) => {
                            pending_settles.push(settle);
                            self.settle(&mut engine, &mut live, &mut pending_settles).await;
                        }
                        None => settles = None,
                    }
                }
                _ = watermark.tick() => {
                    let updates = engine.advance_watermark(self.clock.now(), &self.lookup);
                    self.handle(updates, &mut live).await;
                    if last_housekeeping.elapsed() >= HOUSEKEEPING {
                        last_housekeeping = Instant::now();
                        self.persist(&mut live);
                        self.lookup.detection.containment.prune();
                        let stats = engine.stats();
                        metrics::gauge!("haechi_detect_state_entries").set(stats.state_entries as f64);
                        let detection = &self.lookup.detection;
                        metrics::gauge!("haechi_detect_desk_alerts").set(detection.alerts.len() as f64);
                        metrics::gauge!("haechi_detect_tracked_addresses")
                            .set(detection.containment.tracked_addresses() as f64);
                        metrics::gauge!("haechi_detect_buffered_events").set(stats.buffered as f64);
                        metrics::gauge!("haechi_detect_late_events").set(stats.late_events as f64);
                    }
                }
            }
        }
        reader.abort();
        refresher.abort();
        // Everything buffered is evaluated now, so a stop loses no alert.
        let updates = engine.flush(&self.lookup);
        self.handle(updates, &mut live).await;
        self.persist(&mut live);
        tracing::info!(next_seq = live.next_seq, "detection stopped");
    }

    /// Answers the drill clock's settle requests whose events the engine has taken in: the
    /// watermark moves to the (simulated) time now, so everything older than the allowed
    /// lateness is evaluated and its actions carried out before the drill goes on.
    async fn settle(&self, engine: &mut Engine, live: &mut Live, pending: &mut Vec<Settle>) {
        let ready: Vec<Settle> = pending
            .extract_if(.., |settle| settle.through_seq < live.next_seq)
            .collect();
        if ready.is_empty() {
            return;
        }
        // The customer count (`share` rules' population) follows simulated time too, not the
        // real minute of the refresher.
        let now = self.clock.now();
        if live
            .counted_at
            .is_none_or(|counted| now.since(counted) >= CUSTOMER_COUNT_REFRESH)
        {
            if let Ok(count) = self.vault.customer_count().await {
                self.lookup.customers.store(count, Ordering::Relaxed);
            }
            live.counted_at = Some(now);
        }
        let updates = engine.advance_watermark(now, &self.lookup);
        self.handle(updates, live).await;
        for settle in ready {
            let _ = settle.done.send(());
        }
    }

    async fn handle(&self, updates: Vec<AlertUpdate>, live: &mut Live) {
        let desk = &self.lookup.detection.alerts;
        for update in updates {
            match update {
                AlertUpdate::Raised(alert) => {
                    if live.already_raised.remove(alert.id.as_str()) {
                        desk.record_quietly(AlertUpdate::Raised(alert));
                        continue;
                    }
                    self.raise(alert, true).await;
                }
                AlertUpdate::Grew(growth) => {
                    let mut recorded = desk.record(AlertUpdate::Grew(growth.clone()));
                    if recorded == Recorded::UnknownAlert
                        && let Some(alert) = take_alert(&mut live.dormant, growth.id.as_str())
                    {
                        // Raised during warm-up but never in the trail: raise it now, without
                        // the warm-up's actions (they were for history).
                        self.raise(alert, false).await;
                        recorded = desk.record(AlertUpdate::Grew(growth.clone()));
                    }
                    if recorded != Recorded::Grew {
                        continue;
                    }
                    self.sinks.grew(&growth);
                    let title = desk.title(growth.id.as_str()).unwrap_or_default();
                    for action in &growth.actions {
                        self.act(action, &title).await;
                    }
                }
            }
        }
    }

    /// Records a new alert: the trail (`alert.raised`), the desk and its streams, the sinks,
    /// then its actions.
    async fn raise(&self, alert: Alert, with_actions: bool) {
        let actions = if with_actions {
            alert.actions.clone()
        } else {
            Vec::new()
        };
        let title = alert.title.clone();
        self.record_alert(alert).await;
        for action in &actions {
            self.act(action, &title).await;
        }
    }

    /// Carries out one action; a block withheld because the address is shared becomes an
    /// alert of its own, for a human.
    async fn act(&self, action: &ResponseAction, title: &str) {
        let outcome = self
            .lookup
            .detection
            .containment
            .carry_out(action, title)
            .await;
        if let Some((address, principals)) = outcome.shared_address {
            self.record_alert(withheld_block_alert(
                action,
                title,
                address,
                principals,
                self.clock.now(),
            ))
            .await;
        }
    }

    /// An alert into the trail (`alert.raised`), the desk and its streams, and the sinks;
    /// drops from the desk or the webhook queue are recorded as `alert.dropped`.
    async fn record_alert(&self, alert: Alert) {
        let delay = self.clock.now().since(alert.last_time).as_secs_f64();
        metrics::histogram!("haechi_detect_alert_delay_seconds").record(delay);
        metrics::counter!("haechi_detect_alerts_total", "severity" => alert.severity.as_str())
            .increment(1);
        tracing::warn!(
            alert = %alert.id,
            rule = %alert.rule_id,
            severity = alert.severity.as_str(),
            group = %alert.group_key,
            "detection alert raised"
        );
        if let Err(error) = self
            .events
            .record(raised_event(&alert, self.clock.now()))
            .await
        {
            tracing::error!(%error, alert = %alert.id, "could not record alert.raised in the audit trail");
        }
        let webhook_dropped = self.sinks.raised(&alert);
        let desk = &self.lookup.detection.alerts;
        desk.record(AlertUpdate::Raised(alert));
        let (desk_dropped, uncounted) = desk.take_dropped();
        if !desk_dropped.is_empty() || uncounted > 0 {
            self.record_drops(dropped_event(
                "desk",
                desk_dropped
                    .iter()
                    .map(|drop| (drop.alert_id.as_str(), drop.severity, drop.reason.as_str())),
                uncounted,
                self.clock.now(),
            ))
            .await;
        }
        if let Some(drop) = webhook_dropped {
            self.record_drops(dropped_event(
                "webhook",
                std::iter::once((drop.alert_id.as_str(), drop.severity, "queue_full")),
                0,
                self.clock.now(),
            ))
            .await;
        }
    }

    async fn record_drops(&self, event: SecurityEvent) {
        if let Err(error) = self.events.record(event).await {
            tracing::error!(%error, "could not record alert.dropped in the audit trail");
        }
    }

    fn persist(&self, live: &mut Live) {
        if live.next_seq == live.persisted_seq {
            return;
        }
        match write_seq_file(&self.seq_file, live.next_seq) {
            Ok(()) => live.persisted_seq = live.next_seq,
            Err(error) => {
                tracing::error!(error = %format!("{error:#}"), "cannot persist the detection resume point")
            }
        }
    }
}

/// The next settle request, or never when there is no drill clock.
async fn next_settle(settles: &mut Option<mpsc::Receiver<Settle>>) -> Option<Settle> {
    match settles {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

/// Takes alert `id` out of `book` (rebuilding it without that alert).
fn take_alert(book: &mut AlertBook, id: &str) -> Option<Alert> {
    if !book.alerts().iter().any(|alert| alert.id.as_str() == id) {
        return None;
    }
    let mut taken = None;
    for alert in std::mem::take(book).into_alerts() {
        if alert.id.as_str() == id {
            taken = Some(alert);
        } else {
            book.apply(AlertUpdate::Raised(alert));
        }
    }
    taken
}

/// The `alert.dropped` event for alerts that left the desk or the webhook queue (`where`):
/// how many, and each by id, severity and reason (at most [`MAX_DROPS_NAMED`] named).
fn dropped_event<'a>(
    place: &str,
    drops: impl Iterator<Item = (&'a str, haechi_detect::Severity, &'a str)>,
    uncounted: u64,
    now: Timestamp,
) -> SecurityEvent {
    let mut count = uncounted;
    let mut named = Vec::new();
    for (alert_id, severity, reason) in drops {
        count += 1;
        if named.len() < MAX_DROPS_NAMED {
            named.push(format!("{alert_id} {} {reason}", severity.as_str()));
        }
    }
    SecurityEvent::new(now, EventKind::AlertDropped, detection_principal())
        .reason(place)
        .detail("where", place)
        .detail("count", count.to_string())
        .detail("alerts", named.join(","))
}

/// The rule id of the alert containment raises for a block it withheld.
pub(crate) const WITHHELD_BLOCK_RULE: &str = "haechi.response.block_withheld";

/// The alert for a human about a block withheld because `address`, inside the network, was
/// used successfully by `principals` principals within the last day (a load balancer, a
/// carrier NAT). Its id is `haechi.response.block_withheld/SEQ` of the triggering event; its
/// one action is the block, as a recommendation.
fn withheld_block_alert(
    action: &ResponseAction,
    title: &str,
    address: std::net::IpAddr,
    principals: usize,
    now: Timestamp,
) -> Alert {
    let network = match &action.kind {
        ActionKind::BlockNetwork { network, .. } => network.to_string(),
        _ => address.to_string(),
    };
    let context = [
        ("ip", address.to_string()),
        ("network", network.clone()),
        ("principals", principals.to_string()),
        ("alert_id", action.alert_id.to_string()),
        ("rule_id", action.rule_id.clone()),
        ("reason", title.to_string()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value))
    .collect();
    Alert {
        id: haechi_detect::AlertId::new(WITHHELD_BLOCK_RULE, action.seq),
        rule_id: WITHHELD_BLOCK_RULE.to_string(),
        title: format!(
            "Automatic block withheld: {principals} principals used {address} in the last day"
        ),
        severity: haechi_detect::Severity::High,
        first_time: now,
        last_time: now,
        group_key: network,
        group_by: vec!["network".to_string()],
        evidence_seqs: vec![action.seq],
        count: 1,
        window_count: u64::try_from(principals).unwrap_or(u64::MAX),
        context,
        actions: vec![ResponseAction {
            disposition: haechi_detect::Disposition::Recommended,
            ..action.clone()
        }],
    }
}

/// How many dropped alerts one `alert.dropped` event names (the count covers them all).
const MAX_DROPS_NAMED: usize = 100;

/// The `alert.raised` event of an alert: who it is about (address, key, principal from the
/// rule's context fields) and, in `detail`, what it is.
pub(crate) fn raised_event(alert: &Alert, now: Timestamp) -> SecurityEvent {
    let mut event = SecurityEvent::new(now, EventKind::AlertRaised, detection_principal())
        .reason(&alert.rule_id)
        .detail("alert_id", alert.id.as_str())
        .detail("rule_id", &alert.rule_id)
        .detail("severity", alert.severity.as_str())
        .detail("title", &alert.title)
        .detail("group_key", &alert.group_key)
        // The field names, so the group can be read back from the trail alone (`haechi scope
        // --alert`): `group_key` names its fields only when there are several.
        .detail("group_by", alert.group_by.join(","))
        .detail("count", alert.count.to_string())
        .detail("window_count", alert.window_count.to_string())
        .detail("first_time", alert.first_time.to_rfc3339())
        .detail(
            "evidence_seqs",
            alert
                .evidence_seqs
                .iter()
                .take(20)
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(","),
        );
    for (name, value) in &alert.context {
        match name.as_str() {
            "ip" => event.ip = value.parse().ok(),
            "kid" => event.kid = Some(value.clone()),
            "sid" => event.sid = Some(value.clone()),
            "jti" => event.jti = Some(value.clone()),
            "customer_id" => event.customer_id = Some(value.clone()),
            _ => {}
        }
        event = event.detail(
            format!("context.{name}"),
            value.chars().take(256).collect::<String>(),
        );
    }
    event
}

/// What the warm-up leaves behind.
struct WarmUp {
    events: u64,
    restored: usize,
    /// Alerts raised in warm-up that the trail holds (to put back on the desk).
    raised: Vec<Alert>,
    already_raised: HashSet<String>,
    dormant: AlertBook,
}

/// Replays the history the rules need (events with seq below `resume`, no older than
/// `history_needed` before now) into `engine`, on a blocking thread, and collects the ids of
/// alerts the trail already holds (up to `durable`).
async fn warm_up(
    mut engine: Engine,
    dir: PathBuf,
    resume: u64,
    durable: u64,
    now: Timestamp,
    lookup: ServerLookup,
) -> anyhow::Result<(Engine, WarmUp)> {
    tokio::task::spawn_blocking(move || {
        let cutoff = now.minus(engine.history_needed()).as_micros();
        // The shared-address check looks back one day.
        let shared_cutoff = now.minus(Duration::from_secs(24 * 3600)).as_micros();
        let mut book = AlertBook::new();
        let mut already_raised = HashSet::new();
        let mut events = 0_u64;
        for record in haechi_audit::read_log(&dir).context("cannot read the audit log")? {
            let AuditRecord { seq, event, .. } = record.context("cannot read the audit log")?;
            if seq > durable {
                break;
            }
            if event.kind == EventKind::AlertRaised {
                if let Some(id) = event.detail.get("alert_id") {
                    already_raised.insert(id.clone());
                }
                continue;
            }
            if seq < resume && event.time.as_micros() >= shared_cutoff {
                lookup.detection.containment.observe(&event);
            }
            if seq >= resume || !is_engine_input(event.kind) || event.time.as_micros() < cutoff {
                continue;
            }
            events += 1;
            for update in engine.process_owned(seq, event, &lookup) {
                book.apply(update);
            }
        }
        // No flush: what the watermark still holds is evaluated live, where an alert the
        // previous run already raised is recognised by its id.
        let recent = now.minus(MAX_COOLDOWN);
        let mut raised = Vec::new();
        let mut dormant = AlertBook::new();
        for alert in book.into_alerts() {
            if already_raised.contains(alert.id.as_str()) {
                raised.push(alert);
            } else if alert.last_time >= recent {
                dormant.apply(AlertUpdate::Raised(alert));
            }
        }
        for alert in &raised {
            already_raised.remove(alert.id.as_str());
        }
        let restored = raised.len();
        Ok((
            engine,
            WarmUp {
                events,
                restored,
                raised,
                already_raised,
                dormant,
            },
        ))
    })
    .await
    .context("the warm-up thread failed")?
}

/// Forwards the log's records from `from` to the engine task, re-subscribing after errors.
async fn read_records(audit: Arc<AuditLog>, from: u64, sender: mpsc::Sender<AuditRecord>) {
    let mut subscription = audit.subscribe(from);
    loop {
        match subscription.next().await {
            Ok(Some(record)) => {
                if sender.send(record).await.is_err() {
                    return;
                }
            }
            Ok(None) => return,
            Err(haechi_audit::Error::Pruned { requested, oldest }) => {
                tracing::warn!(
                    requested,
                    oldest,
                    "audit records pruned before detection saw them; continuing from the oldest"
                );
                subscription = audit.subscribe(oldest);
            }
            Err(error) => {
                tracing::error!(%error, "detection cannot read the audit stream; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                subscription = audit.subscribe(subscription.next_seq());
            }
        }
    }
}

async fn refresh_customer_count(vault: Arc<Vault>, customers: Arc<AtomicU64>) {
    let mut ticker = tokio::time::interval(CUSTOMER_COUNT_REFRESH);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match vault.customer_count().await {
            Ok(count) => customers.store(count, Ordering::Relaxed),
            Err(error) => tracing::warn!(%error, "cannot count customers for detection"),
        }
    }
}

fn read_seq_file(path: &Path) -> anyhow::Result<Option<u64>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text.trim().parse().with_context(|| {
            format!("{} does not hold a sequence number", path.display())
        })?)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Writes the resume point atomically: a temporary file, synced, renamed over the old one.
fn write_seq_file(path: &Path, seq: u64) -> anyhow::Result<()> {
    use std::io::Write as _;
    let temporary = path.with_extension("seq.tmp");
    let mut file = std::fs::File::create(&temporary)
        .with_context(|| format!("cannot create {}", temporary.display()))?;
    file.write_all(format!("{seq}\n").as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)
        .with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
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
