//! What the pipeline does with the engine's updates: an alert goes to the trail
//! (`alert.raised`), the desk and its streams, and the sinks, then its actions to containment;
//! drops from the desk or the webhook queue are recorded as `alert.dropped`.

use std::collections::HashSet;
use std::sync::Arc;

use haechi_detect::{Alert, AlertBook, AlertUpdate, ResponseAction, Severity};
use haechi_events::{Clock, EventKind, EventSink, SecurityEvent, Timestamp};

use crate::actions::block_network::withheld_block_alert;
use crate::rules::RuleDesk;
use crate::sinks::Sinks;
use crate::{Recorded, ServerLookup, action_name, detection_principal};

/// Where the engine's updates go — the trail, the desk, the sinks, containment — whatever
/// the source of its events.
pub(super) struct Outlets {
    /// Where `alert.raised` and `alert.dropped` go.
    pub(super) events: Arc<dyn EventSink>,
    /// What rules ask of Haechi's state; holds the desk and containment.
    pub(super) lookup: ServerLookup,
    /// The alert sinks.
    pub(super) sinks: Sinks,
    /// The one clock.
    pub(super) clock: Arc<dyn Clock>,
    /// What happens when an alert or an action cannot be put on the record.
    pub(super) unrecorded: Unrecorded,
    /// The server's rules, when they can change while it runs.
    pub(super) rules: Option<Arc<RuleDesk>>,
}

/// What the pipeline does when the trail refuses an alert or an action's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Unrecorded {
    /// Log it, announce the alert anyway (desk, sinks) and go on: a single node, whose
    /// resume point moves on regardless.
    AnnounceAnyway,
    /// Stop handling at once and say so: the cluster's feed is not acknowledged, the engine
    /// is rebuilt from the stream, and the alert is raised once it can be recorded. Alert ids
    /// and evidence name positions in this stream (`alert.raised` says so in
    /// `evidence_stream`).
    Redeliver {
        /// The audit stream's name.
        stream: String,
    },
}

/// Whether everything an update raised is on the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub(super) enum Persisted {
    /// Every `alert.raised` and every action's `response.action` is durable.
    Complete,
    /// Something could not be recorded (only reported with [`Unrecorded::Redeliver`]).
    Incomplete,
}

/// An action as its `response.action` names it: alert, action, triggering position.
pub(super) type ActionKey = (String, String, u64);

/// What the trail already holds, so what a restarted engine raises again is recognised.
#[derive(Debug, Default)]
pub(super) struct Known {
    /// Ids of alerts whose `alert.raised` is already in the trail (raised before a restart).
    pub(super) already_raised: HashSet<String>,
    /// Alerts the warm-up raised that the trail does not hold, by id: their rule's group is
    /// open in the engine, so a live match grows them; the first live growth raises them.
    pub(super) dormant: AlertBook,
    /// The cluster's only: the detection actions whose `response.action` the trail holds. An
    /// alert raised again has its other actions carried out (they were lost with the engine
    /// that raised it); `None` on a single node, which carries out nothing for an alert the
    /// trail holds.
    pub(super) recorded_actions: Option<HashSet<ActionKey>>,
}

impl Known {
    /// Whether the trail already holds `action`'s record (never, on a single node).
    fn holds_action(&self, action: &ResponseAction) -> bool {
        self.recorded_actions
            .as_ref()
            .is_some_and(|recorded| recorded.contains(&action_key(action)))
    }
}

/// The key of `action` among the recorded ones.
pub(super) fn action_key(action: &ResponseAction) -> ActionKey {
    (
        action.alert_id.as_str().to_string(),
        action_name(&action.kind).to_string(),
        action.seq,
    )
}

impl Outlets {
    /// Hands the engine's updates on, in order. Stops at the first record the trail refuses
    /// only with [`Unrecorded::Redeliver`].
    pub(super) async fn handle(&self, updates: Vec<AlertUpdate>, known: &mut Known) -> Persisted {
        let desk = &self.lookup.detection.alerts;
        for update in updates {
            let persisted = match update {
                AlertUpdate::Raised(alert) => {
                    if known.already_raised.remove(alert.id.as_str()) {
                        let missing: Vec<ResponseAction> = match known.recorded_actions {
                            Some(_) => alert
                                .actions
                                .iter()
                                .filter(|action| !known.holds_action(action))
                                .cloned()
                                .collect(),
                            None => Vec::new(),
                        };
                        let title = alert.title.clone();
                        // Tied to its incident before the restart, unless that write was lost.
                        self.lookup.detection.incidents.alert_raised(&alert);
                        desk.record_quietly(AlertUpdate::Raised(alert));
                        self.act_all(&missing, &title).await
                    } else {
                        self.raise(alert, true).await
                    }
                }
                AlertUpdate::Grew(growth) => {
                    let mut persisted = Persisted::Complete;
                    let mut recorded = desk.record(AlertUpdate::Grew(growth.clone()));
                    if recorded == Recorded::UnknownAlert
                        && let Some(alert) = take_alert(&mut known.dormant, growth.id.as_str())
                    {
                        // Raised during warm-up but never in the trail: raise it now, without
                        // the warm-up's actions (they were for history).
                        persisted = self.raise(alert, false).await;
                        recorded = desk.record(AlertUpdate::Grew(growth.clone()));
                    }
                    if recorded != Recorded::Grew || persisted == Persisted::Incomplete {
                        persisted
                    } else {
                        self.sinks.grew(&growth);
                        self.lookup.detection.incidents.alert_grew(&growth);
                        let title = desk.title(growth.id.as_str()).unwrap_or_default();
                        let actions: Vec<ResponseAction> = growth
                            .actions
                            .iter()
                            .filter(|action| !known.holds_action(action))
                            .cloned()
                            .collect();
                        self.act_all(&actions, &title).await
                    }
                }
            };
            if persisted == Persisted::Incomplete {
                return persisted;
            }
        }
        Persisted::Complete
    }

    /// Records a new alert: the trail (`alert.raised`), the desk and its streams, the sinks,
    /// then its actions.
    async fn raise(&self, alert: Alert, with_actions: bool) -> Persisted {
        let actions = if with_actions {
            alert.actions.clone()
        } else {
            Vec::new()
        };
        let title = alert.title.clone();
        if self.record_alert(alert).await == Persisted::Incomplete {
            return Persisted::Incomplete;
        }
        self.act_all(&actions, &title).await
    }

    /// Carries out `actions` in order, stopping at the first whose record the trail refuses
    /// (with [`Unrecorded::Redeliver`]).
    async fn act_all(&self, actions: &[ResponseAction], title: &str) -> Persisted {
        for action in actions {
            if self.act(action, title).await == Persisted::Incomplete {
                return Persisted::Incomplete;
            }
        }
        Persisted::Complete
    }

    /// Carries out one action; a block withheld because the address is shared becomes an
    /// alert of its own, for a human.
    async fn act(&self, action: &ResponseAction, title: &str) -> Persisted {
        let outcome = self
            .lookup
            .detection
            .containment
            .carry_out(action, title)
            .await;
        self.lookup
            .detection
            .incidents
            .action_taken(action, &outcome, self.clock.now());
        if !outcome.audited && self.stops_when_unrecorded() {
            return Persisted::Incomplete;
        }
        if let Some((address, principals)) = outcome.shared_address {
            return self
                .record_alert(withheld_block_alert(
                    action,
                    title,
                    address,
                    principals,
                    self.clock.now(),
                ))
                .await;
        }
        Persisted::Complete
    }

    /// Writes the incidents' changes (about once a second, at a drill's settle and at a stop);
    /// a failure is logged and the changes wait for the next flush.
    pub(super) async fn flush_incidents(&self) {
        if let Err(error) = self.lookup.detection.incidents.flush().await {
            tracing::error!(%error, "could not write incidents; retrying at the next flush");
        }
    }

    fn stops_when_unrecorded(&self) -> bool {
        matches!(self.unrecorded, Unrecorded::Redeliver { .. })
    }

    /// An alert into the trail (`alert.raised`), the desk and its streams, and the sinks;
    /// drops from the desk or the webhook queue are recorded as `alert.dropped`. With
    /// [`Unrecorded::Redeliver`], an alert the trail refuses goes nowhere else either.
    async fn record_alert(&self, alert: Alert) -> Persisted {
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
        let mut event = raised_event(&alert, self.clock.now());
        if let Unrecorded::Redeliver { stream } = &self.unrecorded {
            event = event.detail("evidence_stream", stream);
        }
        if let Err(error) = self.events.record(event).await {
            tracing::error!(%error, alert = %alert.id, "could not record alert.raised in the audit trail");
            if self.stops_when_unrecorded() {
                return Persisted::Incomplete;
            }
        }
        let webhook_dropped = self.sinks.raised(&alert);
        self.lookup.detection.incidents.alert_raised(&alert);
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
        Persisted::Complete
    }

    async fn record_drops(&self, event: SecurityEvent) {
        if let Err(error) = self.events.record(event).await {
            tracing::error!(%error, "could not record alert.dropped in the audit trail");
        }
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
    drops: impl Iterator<Item = (&'a str, Severity, &'a str)>,
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
