//! The detection task of a cluster's detection node: one engine over every node's records,
//! read from the audit stream through the durable detection feed.
//!
//! ```text
//!  standby ──try_lead every lead_check──▶ leader: take the feed over (ack floor F)
//!     ▲                                     │  warm up: records since now − history, ≤ F,
//!     │                                     │  into a fresh engine; alert.raised and
//!     │  lead lost / trail refuses          │  response.action ids of the whole range
//!     └─────────────────────────────────────┤
//!                                           ▼
//!            feed (records > F, in order) ──▶ engine ──▶ outlets (trail, desk, sinks, containment)
//!                                           │
//!            ack once evaluated and recorded ◀┘
//! ```
//!
//! **One leader.** The windowed rules need every event in one engine, so one node at a time
//! evaluates the stream: the one holding the lead ([`DetectionLead`], a PostgreSQL advisory
//! lock in `haechi serve`). The others stand by and ask for it every `lead_check`; a leader
//! checks it still holds it as often, and again before it records anything (an alert, an
//! action), and stops pulling the moment it does not. A new leader waits one `lead_check`
//! before it reads the trail, so the one it replaces has stopped recording by then.
//!
//! **Exactly once.** An event is acknowledged only after the engine has evaluated it (the
//! watermark passed it: [`Engine::evaluated_before`]) and everything it raised — `alert.raised`
//! and each action's `response.action` — is durable in the trail. A new leader replays the
//! acknowledged records of the rules' history into a fresh engine (no alert of the replay is
//! announced) and takes the unacknowledged rest from the feed, so each event is in its engine
//! once. Alert ids name stream positions (`RULE_ID/<stream sequence>`), the same in every
//! engine; an alert the trail already holds is recognised and only its actions the trail lacks
//! are carried out. If the trail refuses a record, the task stops acknowledging, drops its
//! engine and takes over again. The argument in full: `docs/cluster-detection.md`.

mod acks;
mod history;
mod settles;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use haechi_bus::{Bus, DetectionFeed, FeedOptions, FeedRecord};
use haechi_detect::{AlertUpdate, Engine};
use haechi_events::StoreError;
use haechi_vault::Vault;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::alerts::{Known, Outlets, Persisted};
use super::settle::{Settle, Settles, next_settle};
use super::source::refresh_customer_count;
use super::{HOUSEKEEPING, READ_AHEAD, WATERMARK_TICK, engine_gauges, is_engine_input};
use crate::LeadState;
use crate::error::report;
use acks::{Acknowledger, PendingAcks};
use history::warm_up;
use settles::WaitingSettles;

/// How long a leader waits for its lead to answer before it counts it as lost (and a
/// standby for the store to say whether it may lead).
const LEAD_ANSWER: Duration = Duration::from_secs(2);
/// How long a leader that failed waits before it asks for the lead again.
const RETRY_PAUSE: Duration = Duration::from_secs(1);
/// How long a stopping leader waits for its last acknowledgements to be confirmed.
const LAST_ACKS: Duration = Duration::from_secs(5);

/// Who leads the cluster's detection (in `haechi serve`: a PostgreSQL advisory lock).
#[async_trait]
pub trait DetectionLead: Send + Sync {
    /// Takes the lead if no other node holds it: `Ok(None)` when one does.
    async fn try_lead(&self) -> Result<Option<Box<dyn HeldLead>>, StoreError>;
}

/// The lead, while this node holds it.
#[async_trait]
pub trait HeldLead: Send {
    /// Whether this node still leads (a broken connection has lost the lead with it).
    async fn still_held(&mut self) -> bool;

    /// Gives the lead up at once (a clean stop), so a standby takes over without waiting.
    async fn resign(self: Box<Self>);
}

/// The cluster's audit stream as the detection task's source.
pub struct ClusterSource {
    /// The bus: the audit stream and its detection feed.
    pub bus: Bus,
    /// The feed's settings; every detection node of one deployment uses the same name.
    pub feed: FeedOptions,
    /// Who leads.
    pub lead: Arc<dyn DetectionLead>,
    /// How often a standby asks for the lead and a leader checks it still holds it.
    pub lead_check: Duration,
    /// Settle requests of the drill clock (only on a simulated clock): the leader settles
    /// through the stream's newest record, a standby answers that it stands by.
    pub settles: Option<mpsc::Receiver<Settle>>,
}

/// How a term as leader ended.
enum Ended {
    /// The task was asked to stop: everything evaluated was acknowledged, the lead resigned.
    Stopped,
    /// The lead was lost (or never usable): back to standing by.
    LostLead,
    /// The feed or the trail failed: nothing more was acknowledged; stand by, then try again.
    Failed,
}

/// Aborts its task when dropped: the readers of a term end with it, whatever ends it.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Stands by, leads when it can, and evaluates the stream while it leads, until stopped.
pub(super) async fn run(
    mut source: ClusterSource,
    outlets: Outlets,
    vault: Arc<Vault>,
    template: Engine,
    mut stopped: watch::Receiver<bool>,
) {
    let _refresher = AbortOnDrop(tokio::spawn(refresh_customer_count(
        vault.clone(),
        outlets.lookup.customers.clone(),
    )));
    let mut settles: Settles = source.settles.take();
    let status = &outlets.lookup.detection.status;
    status.update(|status| status.state = LeadState::Standby);
    let mut poll = tokio::time::interval(source.lead_check);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let held = tokio::select! {
            _ = stopped.changed() => return,
            settle = next_settle(&mut settles) => {
                if let Some(settle) = settle {
                    settles::standing_by(settle);
                }
                continue;
            }
            _ = poll.tick() => match tokio::time::timeout(LEAD_ANSWER, source.lead.try_lead()).await {
                Ok(Ok(Some(held))) => held,
                Ok(Ok(None)) => continue,
                Ok(Err(error)) => {
                    tracing::warn!(%error, "cannot reach the store to ask for the lead of detection");
                    continue;
                }
                Err(_) => {
                    tracing::warn!("the store did not answer whether this node may lead detection");
                    continue;
                }
            },
        };
        // A leader that lost its lead learns it at its next record or check: give it that
        // long to stop before reading what the trail holds.
        tracing::info!("this node leads detection; taking the feed over");
        tokio::select! {
            _ = stopped.changed() => {
                held.resign().await;
                return;
            }
            () = tokio::time::sleep(source.lead_check) => {}
        }
        let ended = Term {
            source: &source,
            outlets: &outlets,
            vault: &vault,
        }
        .lead(
            term_engine(&template, &outlets),
            held,
            &mut stopped,
            &mut settles,
        )
        .await;
        status.update(|status| status.state = LeadState::Standby);
        match ended {
            Ended::Stopped => return,
            Ended::LostLead => tracing::warn!("this node lost the lead of detection; standing by"),
            Ended::Failed => {
                tracing::warn!("detection stopped leading after a failure; standing by");
                tokio::select! {
                    _ = stopped.changed() => return,
                    () = tokio::time::sleep(RETRY_PAUSE) => {}
                }
            }
        }
    }
}

/// The engine a term starts from: the template's, with the rules in force now (they may
/// have changed since this node started, on any node).
fn term_engine(template: &Engine, outlets: &Outlets) -> Engine {
    let mut engine = template.fresh();
    if let Some(rules) = outlets.rules.as_ref().and_then(|desk| desk.current_rules())
        && let Err(error) = engine.replace_rules(rules)
    {
        tracing::error!(%error, "the rules in force cannot be taken; the term starts with those of the start");
    }
    engine
}

/// One term as leader.
struct Term<'a> {
    source: &'a ClusterSource,
    outlets: &'a Outlets,
    /// The vault, for the customer count a settle refreshes.
    vault: &'a Vault,
}

impl Term<'_> {
    async fn lead(
        &self,
        engine: Engine,
        mut held: Box<dyn HeldLead>,
        stopped: &mut watch::Receiver<bool>,
        settles: &mut Settles,
    ) -> Ended {
        let status = &self.outlets.lookup.detection.status;
        status.update(|status| status.state = LeadState::WarmingUp);
        let taken = self
            .source
            .bus
            .take_over_detection_feed(self.source.feed.clone())
            .await;
        let (feed, takeover) = match taken {
            Ok(taken) => taken,
            Err(error) => {
                tracing::error!(%error, "cannot take the detection feed over");
                held.resign().await;
                return Ended::Failed;
            }
        };
        let started = Instant::now();
        let warm = warm_up(
            &self.source.bus,
            engine,
            takeover,
            self.outlets.clock.now(),
            self.outlets.lookup.clone(),
        )
        .await;
        let (engine, warm) = match warm {
            Ok(warm) => warm,
            Err(error) => {
                tracing::error!(error = %report(&error), "detection warm-up from the stream failed");
                held.resign().await;
                return Ended::Failed;
            }
        };
        let desk = &self.outlets.lookup.detection.alerts;
        let restored = warm.raised.len();
        for alert in warm.raised {
            desk.record_quietly(AlertUpdate::Raised(alert));
        }
        desk.forget_other_acks();
        // Blocks and suspensions as the store has them now (another leader may have put some
        // in place since this node opened).
        if let Err(error) = self.outlets.lookup.detection.containment.reload().await {
            tracing::error!(%error, "cannot reload blocks and suspensions before leading detection");
            held.resign().await;
            return Ended::Failed;
        }
        // Incidents likewise: another leader may have opened or grown some.
        if let Err(error) = self.outlets.lookup.detection.incidents.reload().await {
            tracing::error!(%error, "cannot reload incidents before leading detection");
            held.resign().await;
            return Ended::Failed;
        }
        tracing::info!(
            replayed = warm.events,
            alerts = restored,
            acknowledged_through = takeover.acknowledged_through,
            stream_end = takeover.stream_end,
            first_start = takeover.first_start,
            seconds = started.elapsed().as_secs_f64(),
            "detection warmed up from the stream; live from the feed"
        );
        if !still_held(&mut held).await {
            return Ended::LostLead;
        }
        status.update(|status| {
            status.state = LeadState::Leading;
            status.evaluated_through = takeover.acknowledged_through;
        });
        self.live(
            engine,
            warm.known,
            (feed, takeover.acknowledged_through),
            held,
            (stopped, settles),
        )
        .await
    }

    /// Evaluates the feed while this node leads.
    async fn live(
        &self,
        mut engine: Engine,
        mut known: Known,
        (feed, evaluated_through): (DetectionFeed, u64),
        mut held: Box<dyn HeldLead>,
        (stopped, settles): (&mut watch::Receiver<bool>, &mut Settles),
    ) -> Ended {
        let outlets = self.outlets;
        let lookup = &outlets.lookup;
        let status = &lookup.detection.status;
        let (sender, mut receiver) = mpsc::channel(READ_AHEAD);
        let _reader = AbortOnDrop(tokio::spawn(pull(feed, sender)));
        let _lag = AbortOnDrop(tokio::spawn(watch_lag(
            self.source.bus.clone(),
            self.source.feed.name.clone(),
            lookup.detection.clone(),
        )));
        let mut acknowledger = Acknowledger::start();
        let mut pending = PendingAcks::new(evaluated_through);
        let mut watermark = tokio::time::interval(WATERMARK_TICK);
        watermark.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut lead_check = tokio::time::interval(self.source.lead_check);
        lead_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut housekeeping = tokio::time::interval(HOUSEKEEPING);
        housekeeping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut waiting = WaitingSettles::default();
        loop {
            let persisted = tokio::select! {
                _ = stopped.changed() => break,
                settle = next_settle(settles) => {
                    if let Some(settle) = settle {
                        waiting.take(settle, &self.source.bus).await;
                    }
                    Persisted::Complete
                }
                record = receiver.recv() => {
                    let Some(record) = record else {
                        tracing::error!("the detection feed ended");
                        return Ended::Failed;
                    };
                    let Some(record) = pending.take_in(record, &acknowledger) else {
                        continue;
                    };
                    let FeedRecord { record, stream_sequence, ack, .. } = record;
                    lookup.detection.containment.observe(&record.event);
                    let time = record.event.time.as_micros();
                    if is_engine_input(record.event.kind) {
                        let updates = engine.process_owned(stream_sequence, record.event, lookup);
                        pending.wait_for_evaluation(time, stream_sequence, ack);
                        if records_something(&updates, &known) && !still_held(&mut held).await {
                            return Ended::LostLead;
                        }
                        outlets.handle(updates, &mut known).await
                    } else {
                        // Detection's own output: nothing to evaluate.
                        acknowledger.send(stream_sequence, ack);
                        Persisted::Complete
                    }
                }
                _ = watermark.tick() => {
                    let updates = engine.advance_watermark(outlets.clock.now(), lookup);
                    if records_something(&updates, &known) && !still_held(&mut held).await {
                        return Ended::LostLead;
                    }
                    outlets.handle(updates, &mut known).await
                }
                _ = lead_check.tick() => {
                    if !still_held(&mut held).await {
                        return Ended::LostLead;
                    }
                    continue;
                }
                _ = housekeeping.tick() => {
                    lookup.detection.containment.prune();
                    engine_gauges(&engine, &lookup.detection);
                    outlets.flush_incidents().await;
                    super::rules::poll(&mut engine, outlets).await;
                    continue;
                }
            };
            if persisted == Persisted::Incomplete {
                tracing::error!(
                    "the trail refused what detection raised: nothing more is acknowledged; \
                     rebuilding the engine from the stream"
                );
                held.resign().await;
                return Ended::Failed;
            }
            let through = pending.release(engine.evaluated_before(), &acknowledger);
            status.update(|status| status.evaluated_through = through);
            if waiting.is_empty() {
                continue;
            }
            // The drill clock's settles whose records are all taken in: the watermark moves
            // to the clock's time, and what that evaluates is recorded and carried out
            // before they are answered.
            let ready = waiting.ready(pending.taken_through());
            if ready.is_empty() {
                continue;
            }
            let now = outlets.clock.now();
            waiting
                .refresh_customer_count(now, self.vault, &lookup.customers)
                .await;
            let updates = engine.advance_watermark(now, lookup);
            if records_something(&updates, &known) && !still_held(&mut held).await {
                return Ended::LostLead;
            }
            if outlets.handle(updates, &mut known).await == Persisted::Incomplete {
                tracing::error!(
                    "the trail refused what detection raised while settling the drill clock: \
                     rebuilding the engine from the stream"
                );
                held.resign().await;
                return Ended::Failed;
            }
            let through = pending.release(engine.evaluated_before(), &acknowledger);
            status.update(|status| status.evaluated_through = through);
            outlets.flush_incidents().await;
            settles::answer(ready, through);
        }
        // Stopping: everything taken in is evaluated now, recorded, then acknowledged.
        let updates = engine.flush(lookup);
        if records_something(&updates, &known) && !still_held(&mut held).await {
            return Ended::LostLead;
        }
        if outlets.handle(updates, &mut known).await == Persisted::Complete {
            let through = pending.release(engine.evaluated_before(), &acknowledger);
            status.update(|status| status.evaluated_through = through);
        }
        outlets.flush_incidents().await;
        if !acknowledger.finish(LAST_ACKS).await {
            tracing::warn!("the last detection acknowledgements were not all confirmed");
        }
        held.resign().await;
        tracing::info!(
            evaluated_through = pending.evaluated_through(),
            "detection stopped"
        );
        Ended::Stopped
    }
}

/// Whether handling `updates` puts anything on the record (an `alert.raised`, a
/// `response.action`): only a node that still leads may, so it asks first.
fn records_something(updates: &[AlertUpdate], known: &Known) -> bool {
    updates.iter().any(|update| match update {
        AlertUpdate::Raised(_) => true,
        AlertUpdate::Grew(growth) => {
            !growth.actions.is_empty()
                || known
                    .dormant
                    .alerts()
                    .iter()
                    .any(|alert| alert.id == growth.id)
        }
    })
}

/// Whether the lead is still held, counting a lead that does not answer in time as lost.
async fn still_held(held: &mut Box<dyn HeldLead>) -> bool {
    tokio::time::timeout(LEAD_ANSWER, held.still_held())
        .await
        .unwrap_or(false)
}

/// Forwards the feed's records to the engine task until the feed ends or the task goes.
async fn pull(mut feed: DetectionFeed, sender: mpsc::Sender<FeedRecord>) {
    loop {
        match feed.next().await {
            Ok(record) => {
                if sender.send(record).await.is_err() {
                    return;
                }
            }
            Err(haechi_bus::Error::FeedEnded { name, reason }) => {
                tracing::error!(feed = %name, %reason, "the detection feed ended");
                return;
            }
            Err(error @ haechi_bus::Error::Undecodable { .. }) => {
                tracing::error!(%error, "a message of the detection feed is not an audit record; skipped (audit verify reports it)");
            }
            Err(error) => {
                tracing::warn!(%error, "cannot read the detection feed; retrying");
                tokio::time::sleep(RETRY_PAUSE).await;
            }
        }
    }
}

/// Reads how far the feed is behind the stream every second, for `/readyz` and `/metrics`.
async fn watch_lag(bus: Bus, name: String, detection: Arc<crate::Detection>) {
    let mut ticker = tokio::time::interval(HOUSEKEEPING);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match bus.detection_feed_lag(&name).await {
            Ok(lag) => detection.status.update(|status| {
                status.undelivered = Some(lag.undelivered);
                status.unacknowledged = Some(lag.unacknowledged);
            }),
            Err(error) => tracing::warn!(%error, "cannot read how far detection is behind"),
        }
    }
}
