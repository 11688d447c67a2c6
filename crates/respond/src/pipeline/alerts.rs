//! What the pipeline does with the engine's updates: an alert goes to the trail
//! (`alert.raised`), the desk and its streams, and the sinks, then its actions to containment;
//! drops from the desk or the webhook queue are recorded as `alert.dropped`.

use haechi_detect::{Alert, AlertBook, AlertUpdate, ResponseAction, Severity};
use haechi_events::{EventKind, SecurityEvent, Timestamp};

use super::{EngineTask, Live};
use crate::actions::block_network::withheld_block_alert;
use crate::{Recorded, detection_principal};

impl EngineTask {
    pub(super) async fn handle(&self, updates: Vec<AlertUpdate>, live: &mut Live) {
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
