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
//!
//! **Sources.** [`Source::LocalLog`] is the above: a single node over its own log. On a
//! cluster's detection node, [`Source::Cluster`] reads every node's records from the audit
//! stream through the durable detection feed, one node leading at a time, and acknowledges an
//! event only once it is evaluated and what it raised is on the record (`cluster.rs`,
//! `docs/cluster-detection.md`). Both hand the engine's updates to the same outlets
//! (`alerts.rs`).

mod alerts;
mod cluster;
mod resume;
mod rules;
mod settle;
mod source;
mod warm_up;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use haechi_audit::AuditLog;
use haechi_detect::{AlertUpdate, Engine};
use haechi_events::{Clock, EventKind, EventSink, Timestamp};
use haechi_token::TokenAuthority;
use haechi_vault::Vault;
use tokio::sync::{mpsc, watch};

use crate::error::report;
use crate::rules::{RuleDesk, RulesRequest};
use crate::sinks::Sinks;
use crate::{Detection, ServerLookup};
use alerts::{Known, Outlets, Unrecorded};
use resume::{read_seq_file, write_seq_file};
use settle::{Settles, next_settle};
use source::{read_records, refresh_customer_count};
use warm_up::warm_up;

pub use cluster::{ClusterSource, DetectionLead, HeldLead};
pub use settle::{Settle, SettleAnswer, Settled, SettledSource};

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
pub fn is_engine_input(kind: EventKind) -> bool {
    !matches!(
        kind,
        EventKind::AlertRaised
            | EventKind::AlertDropped
            | EventKind::ResponseAction
            | EventKind::ResponseLifted
    )
}

/// Where the detection task's events come from.
pub enum Source {
    /// This node's own audit log (a single node).
    LocalLog(LocalLog),
    /// Every node's records in the cluster's audit stream (a detection node). Boxed: the
    /// bus's connection is large and the source is made once.
    Cluster(Box<ClusterSource>),
}

/// A single node's source: its audit log, from the persisted resume point.
pub struct LocalLog {
    /// The audit log.
    pub audit: Arc<AuditLog>,
    /// Where the resume point is persisted (`<data_dir>/detect.seq`).
    pub seq_file: PathBuf,
    /// Settle requests of the drill clock (only on a simulated clock).
    pub settles: Option<mpsc::Receiver<Settle>>,
}

/// What the detection task runs over.
pub struct PipelineParts {
    /// Where the events come from.
    pub source: Source,
    /// Where `alert.raised` and `alert.dropped` go.
    pub events: Arc<dyn EventSink>,
    /// The vault, for the customer count `share` rules read.
    pub vault: Arc<Vault>,
    /// The token authority, for what rules ask of Haechi's state.
    pub authority: Arc<TokenAuthority>,
    /// The desk and containment the updates feed.
    pub detection: Arc<Detection>,
    /// The alert sinks.
    pub sinks: Sinks,
    /// The one clock (the system's, or the drill's simulated clock).
    pub clock: Arc<dyn Clock>,
    /// The server's rules, when they can change while it runs (`None`: fixed at start).
    pub rules: Option<Arc<RuleDesk>>,
}

/// Detection running beside the server.
#[derive(Debug)]
pub struct Running {
    /// The state the API serves.
    pub detection: Arc<Detection>,
    task: Option<tokio::task::JoinHandle<()>>,
    stop: watch::Sender<bool>,
}

impl Running {
    /// Detection's state with no engine task (detection turned off, or an engine that could
    /// not start).
    pub fn idle(detection: Arc<Detection>) -> Self {
        Running {
            detection,
            task: None,
            stop: watch::Sender::new(false),
        }
    }

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

    /// Stops the engine at once, as a crash would: nothing buffered is evaluated, nothing
    /// more is acknowledged or persisted. What it had not acknowledged is evaluated again by
    /// whoever reads the source next (a standby, or the next start).
    pub async fn abort(self) {
        if let Some(task) = self.task {
            task.abort();
            let _ = task.await;
        }
    }
}

/// Starts the detection task: `engine` over the audit stream of `parts`, feeding its desk,
/// sinks and containment.
pub async fn spawn(parts: PipelineParts, engine: Engine) -> Running {
    let customers = Arc::new(AtomicU64::new(
        parts.vault.customer_count().await.unwrap_or(0),
    ));
    let detection = parts.detection;
    let (stop, stopped) = watch::channel(false);
    let lookup = ServerLookup {
        authority: parts.authority,
        detection: detection.clone(),
        customers,
    };
    let unrecorded = match &parts.source {
        Source::LocalLog(_) => Unrecorded::AnnounceAnyway,
        Source::Cluster(cluster) => Unrecorded::Redeliver {
            stream: cluster.bus.names().stream().to_string(),
        },
    };
    let outlets = Outlets {
        events: parts.events,
        lookup,
        sinks: parts.sinks,
        clock: parts.clock,
        unrecorded,
        rules: parts.rules,
    };
    let task = match parts.source {
        Source::LocalLog(local) => {
            // A single node's engine takes a set the API accepted at once; a cluster's leader
            // reads the stored version within a second (any node may have accepted it).
            let requests = outlets.rules.as_ref().map(|desk| desk.attach_engine());
            let task = EngineTask {
                outlets,
                requests,
                audit: local.audit,
                vault: parts.vault,
                seq_file: local.seq_file,
                settles: local.settles,
            };
            tokio::spawn(task.run(engine, stopped))
        }
        Source::Cluster(source) => {
            tokio::spawn(cluster::run(*source, outlets, parts.vault, engine, stopped))
        }
    };
    Running {
        detection,
        task: Some(task),
        stop,
    }
}

/// The detection task over this node's own log.
struct EngineTask {
    outlets: Outlets,
    /// Rule sets the API accepted on this node.
    requests: Option<mpsc::Receiver<RulesRequest>>,
    audit: Arc<AuditLog>,
    vault: Arc<Vault>,
    seq_file: PathBuf,
    /// Settle requests of the drill clock (only on a simulated clock).
    settles: Settles,
}

/// What the live phase keeps besides the engine.
struct Live {
    /// What the trail already holds.
    known: Known,
    /// The next seq to hand the engine.
    next_seq: u64,
    persisted_seq: u64,
    /// When a settle last refreshed the customer count (simulated time).
    counted_at: Option<Timestamp>,
}

impl EngineTask {
    async fn run(mut self, engine: Engine, mut stopped: watch::Receiver<bool>) {
        let Some((mut engine, mut live)) = self.warm_start(engine).await else {
            return;
        };
        let mut settles = self.settles.take();
        let mut pending_settles: Vec<Settle> = Vec::new();
        let (sender, mut receiver) = mpsc::channel(READ_AHEAD);
        let reader = tokio::spawn(read_records(self.audit.clone(), live.next_seq, sender));
        let refresher = tokio::spawn(refresh_customer_count(
            self.vault.clone(),
            self.outlets.lookup.customers.clone(),
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
                    self.outlets.lookup.detection.containment.observe(&record.event);
                    if is_engine_input(record.event.kind) {
                        let updates = engine.process_owned(record.seq, record.event, &self.outlets.lookup);
                        let _ = self.outlets.handle(updates, &mut live.known).await;
                    }
                    if !pending_settles.is_empty() {
                        self.settle(&mut engine, &mut live, &mut pending_settles).await;
                    }
                }
                settle = next_settle(&mut settles) => {
                    if let Some(settle) = settle {
                        pending_settles.push(settle);
                        self.settle(&mut engine, &mut live, &mut pending_settles).await;
                    }
                }
                request = rules::next_request(&mut self.requests) => {
                    if let Some(request) = request {
                        rules::take_request(&mut engine, request, &self.outlets);
                    }
                }
                _ = watermark.tick() => {
                    let updates = engine.advance_watermark(self.outlets.clock.now(), &self.outlets.lookup);
                    let _ = self.outlets.handle(updates, &mut live.known).await;
                    if last_housekeeping.elapsed() >= HOUSEKEEPING {
                        last_housekeeping = Instant::now();
                        self.housekeeping(&engine, &mut live);
                        self.outlets.flush_incidents().await;
                        rules::poll(&mut engine, &self.outlets).await;
                    }
                }
            }
        }
        reader.abort();
        refresher.abort();
        // Everything buffered is evaluated now, so a stop loses no alert.
        let updates = engine.flush(&self.outlets.lookup);
        let _ = self.outlets.handle(updates, &mut live.known).await;
        self.outlets.flush_incidents().await;
        self.persist(&mut live);
        tracing::info!(next_seq = live.next_seq, "detection stopped");
    }

    /// Finds the resume point, warms `engine` up from the history before it and puts the
    /// alerts the trail holds back on the desk. `None` if the warm-up failed (detection then
    /// does not run; the server serves without it).
    async fn warm_start(&self, engine: Engine) -> Option<(Engine, Live)> {
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
            self.outlets.clock.now(),
            self.outlets.lookup.clone(),
        )
        .await;
        let (engine, warm) = match warm {
            Ok(result) => result,
            Err(error) => {
                tracing::error!(error = %report(&error), "detection warm-up failed; detection is not running");
                return None;
            }
        };
        let desk = &self.outlets.lookup.detection.alerts;
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
            known: Known {
                already_raised: warm.already_raised,
                dormant: warm.dormant,
                recorded_actions: None,
            },
            next_seq: resume,
            persisted_seq: 0,
            counted_at: None,
        };
        self.persist(&mut live);
        Some((engine, live))
    }

    /// Every second: the resume point persisted, expired blocks pruned, the gauges set.
    fn housekeeping(&self, engine: &Engine, live: &mut Live) {
        self.persist(live);
        let detection = &self.outlets.lookup.detection;
        detection.containment.prune();
        engine_gauges(engine, detection);
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
        let now = self.outlets.clock.now();
        if live
            .counted_at
            .is_none_or(|counted| now.since(counted) >= CUSTOMER_COUNT_REFRESH)
        {
            if let Ok(count) = self.vault.customer_count().await {
                self.outlets
                    .lookup
                    .customers
                    .store(count, std::sync::atomic::Ordering::Relaxed);
            }
            live.counted_at = Some(now);
        }
        let updates = engine.advance_watermark(now, &self.outlets.lookup);
        let _ = self.outlets.handle(updates, &mut live.known).await;
        self.outlets.flush_incidents().await;
        for settle in ready {
            let settled = Settled::new(SettledSource::LocalLog {
                through_seq: settle.through_seq,
            });
            let _ = settle.done.send(SettleAnswer::Settled(settled));
        }
    }

    fn persist(&self, live: &mut Live) {
        if live.next_seq == live.persisted_seq {
            return;
        }
        match write_seq_file(&self.seq_file, live.next_seq) {
            Ok(()) => live.persisted_seq = live.next_seq,
            Err(error) => {
                tracing::error!(error = %report(&error), "cannot persist the detection resume point")
            }
        }
    }
}

/// The engine's and the desk's gauges.
fn engine_gauges(engine: &Engine, detection: &Detection) {
    let stats = engine.stats();
    metrics::gauge!("haechi_detect_state_entries").set(stats.state_entries as f64);
    metrics::gauge!("haechi_detect_desk_alerts").set(detection.alerts.len() as f64);
    metrics::gauge!("haechi_incidents_live").set(detection.incidents.live_count() as f64);
    metrics::gauge!("haechi_detect_tracked_addresses")
        .set(detection.containment.tracked_addresses() as f64);
    metrics::gauge!("haechi_detect_buffered_events").set(stats.buffered as f64);
    metrics::gauge!("haechi_detect_late_events").set(stats.late_events as f64);
}
