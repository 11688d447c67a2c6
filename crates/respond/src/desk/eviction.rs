//! Which alerts leave a full alert desk: acknowledged ones first (oldest first), then open ones
//! of the lowest severity (oldest first) — never an open high or critical alert. A desk full of
//! open high and critical alerts refuses the newcomer instead (it stays in the audit trail as
//! `alert.raised`, and the drop is counted and recorded).

use std::collections::HashMap;

use haechi_detect::{Alert, AlertBook, AlertUpdate, Severity};

use crate::records::AlertAck;

#[derive(Debug, Default)]
pub(super) struct Desk {
    pub(super) book: AlertBook,
    /// The title of every alert in the book, by id: the book's index for lookups.
    pub(super) titles: HashMap<String, String>,
    /// Acknowledgements of alerts in the book (the store keeps every one).
    pub(super) acks: HashMap<String, AlertAck>,
    /// Drops not yet recorded in the audit trail (at most [`MAX_PENDING_DROPS`]; beyond,
    /// only counted).
    pub(super) dropped: Vec<DroppedAlert>,
    /// Drops beyond [`MAX_PENDING_DROPS`] since the last `AlertDesk::take_dropped`.
    pub(super) dropped_uncounted: u64,
}

/// How many drops wait for the detection task to record them.
pub(super) const MAX_PENDING_DROPS: usize = 1024;

/// Puts a new alert on the desk, making room if it is full. Returns `false` if the alert could
/// not stay (see [`make_room`]).
pub(super) fn admit(desk: &mut Desk, alert: Alert, capacity: usize) -> bool {
    desk.titles
        .insert(alert.id.to_string(), alert.title.clone());
    desk.book.apply(AlertUpdate::Raised(alert));
    desk.book.alerts().len() <= capacity || make_room(desk, capacity)
}

/// Brings an over-full desk (the newcomer last) back within `capacity`. The first
/// alert in eviction order decides: if it is the newcomer (it is the lowest there is, or
/// nothing else may go), the newcomer is refused; otherwise alerts other than the newcomer
/// leave, in eviction order, down to nine tenths of `capacity` (so that eviction, which
/// rebuilds the book, happens once per many alerts). Returns whether the newcomer stays.
/// Acknowledgements of dropped alerts leave memory (the store keeps them).
fn make_room(desk: &mut Desk, capacity: usize) -> bool {
    let held = desk.book.alerts().len();
    let newcomer = held - 1;
    let target = capacity.saturating_sub(capacity / 10).max(1);
    let order = {
        let acks = &desk.acks;
        eviction_order(desk.book.alerts(), |alert| {
            acks.contains_key(alert.id.as_str())
        })
    };
    let admitted = order.first().is_some_and(|&first| first != newcomer);
    let drop: Vec<(usize, DropReason)> = if admitted {
        order
            .into_iter()
            .filter(|&position| position != newcomer)
            .take(held.saturating_sub(target))
            .map(|position| (position, DropReason::Evicted))
            .collect()
    } else {
        vec![(newcomer, DropReason::Refused)]
    };
    let mut reasons = vec![None; held];
    for (position, reason) in drop {
        reasons[position] = Some(reason);
    }
    let alerts = std::mem::take(&mut desk.book).into_alerts();
    for (alert, reason) in alerts.into_iter().zip(reasons) {
        let Some(reason) = reason else {
            desk.book.apply(AlertUpdate::Raised(alert));
            continue;
        };
        let id = alert.id.as_str();
        desk.titles.remove(id);
        let acknowledged = desk.acks.remove(id).is_some();
        metrics::counter!(
            "haechi_detect_alerts_dropped_total",
            "where" => "desk",
            "reason" => reason.as_str(),
            "severity" => alert.severity.as_str(),
        )
        .increment(1);
        tracing::debug!(
            alert = id,
            reason = reason.as_str(),
            "alert desk full: alert dropped from the desk"
        );
        if desk.dropped.len() < MAX_PENDING_DROPS {
            desk.dropped.push(DroppedAlert {
                alert_id: id.to_string(),
                severity: alert.severity,
                acknowledged,
                reason,
            });
        } else {
            desk.dropped_uncounted += 1;
        }
    }
    admitted
}

/// Where an alert stands in the eviction order; `None` for alerts never evicted to make room.
fn rank(alert: &Alert, acknowledged: bool) -> Option<u8> {
    if acknowledged {
        return Some(0);
    }
    match alert.severity {
        Severity::Low => Some(1),
        Severity::Medium => Some(2),
        // Open high and critical alerts wait for a human, however full the desk is.
        _ => None,
    }
}

/// The positions in `alerts` (oldest first) of the alerts that may be dropped, in eviction
/// order: acknowledged, then open low, then open medium, oldest first within each. Open high
/// and critical alerts are not in it.
fn eviction_order(alerts: &[Alert], acknowledged: impl Fn(&Alert) -> bool) -> Vec<usize> {
    let mut candidates: Vec<(u8, usize)> = alerts
        .iter()
        .enumerate()
        .filter_map(|(position, alert)| {
            rank(alert, acknowledged(alert)).map(|rank| (rank, position))
        })
        .collect();
    candidates.sort_unstable();
    candidates
        .into_iter()
        .map(|(_, position)| position)
        .collect()
}

/// Why an alert left the desk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// It was acknowledged or of low or medium severity, and room was needed.
    Evicted,
    /// It arrived at a desk full of open high and critical alerts.
    Refused,
}

impl DropReason {
    /// `evicted` or `refused`.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Evicted => "evicted",
            DropReason::Refused => "refused",
        }
    }
}

/// One alert that left the desk (its `alert.raised` stays in the audit trail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedAlert {
    /// The alert.
    pub alert_id: String,
    /// Its severity.
    pub severity: Severity,
    /// Whether it had been acknowledged.
    pub acknowledged: bool,
    /// Why it left.
    pub reason: DropReason,
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on the first surprise"
)]
mod tests {
    use std::collections::BTreeMap;

    use haechi_events::Timestamp;

    use super::*;

    fn alert(id: &str, severity: Severity) -> Alert {
        serde_json::from_value(serde_json::json!({
            "id": id, "rule_id": "r", "title": "t", "severity": severity,
            "first_time": Timestamp::EPOCH, "last_time": Timestamp::EPOCH,
            "group_key": "g", "evidence_seqs": [], "count": 1, "window_count": 1,
            "context": BTreeMap::<String, String>::new(), "actions": [],
        }))
        .unwrap()
    }

    fn ack(id: &str) -> AlertAck {
        serde_json::from_value(serde_json::json!({
            "alert_id": id, "acknowledged_by": "admin:kim",
            "acknowledged_at": Timestamp::EPOCH,
        }))
        .unwrap()
    }

    fn held(desk: &Desk) -> Vec<&str> {
        desk.book
            .alerts()
            .iter()
            .map(|alert| alert.id.as_str())
            .collect()
    }

    #[test]
    fn a_full_desk_never_evicts_open_high_or_critical_alerts() {
        let mut desk = Desk::default();
        // Capacity 10: four open criticals, three open highs, an acknowledged high, two lows.
        for index in 0..4 {
            assert!(admit(
                &mut desk,
                alert(&format!("critical{index}"), Severity::Critical),
                10
            ));
        }
        for index in 0..3 {
            assert!(admit(
                &mut desk,
                alert(&format!("high{index}"), Severity::High),
                10
            ));
        }
        assert!(admit(&mut desk, alert("high-acked", Severity::High), 10));
        desk.acks.insert("high-acked".into(), ack("high-acked"));
        assert!(admit(&mut desk, alert("low0", Severity::Low), 10));
        assert!(admit(&mut desk, alert("low1", Severity::Low), 10));
        assert_eq!(desk.book.alerts().len(), 10);

        // The eleventh makes room down to nine: the acknowledged one, then the oldest low.
        assert!(admit(&mut desk, alert("critical4", Severity::Critical), 10));
        assert_eq!(
            held(&desk),
            [
                "critical0",
                "critical1",
                "critical2",
                "critical3",
                "high0",
                "high1",
                "high2",
                "low1",
                "critical4"
            ]
        );
        assert!(!desk.acks.contains_key("high-acked"));
        assert!(!desk.titles.contains_key("low0"));
        let dropped: Vec<(&str, DropReason, bool)> = desk
            .dropped
            .iter()
            .map(|drop| (drop.alert_id.as_str(), drop.reason, drop.acknowledged))
            .collect();
        assert_eq!(
            dropped,
            [
                ("high-acked", DropReason::Evicted, true),
                ("low0", DropReason::Evicted, false)
            ]
        );

        // Filled to ten again with a high, then a medium arrives: the last low goes.
        assert!(admit(&mut desk, alert("high3", Severity::High), 10));
        assert!(admit(&mut desk, alert("medium0", Severity::Medium), 10));
        assert!(!desk.titles.contains_key("low1"));
        assert!(desk.titles.contains_key("medium0"));
        // A low newcomer is itself the lowest: refused, the medium stays.
        assert!(!admit(&mut desk, alert("low2", Severity::Low), 10));
        assert!(desk.titles.contains_key("medium0"));
        assert!(!desk.titles.contains_key("low2"));
        // A critical newcomer evicts the medium.
        assert!(admit(&mut desk, alert("critical5", Severity::Critical), 10));
        assert!(!desk.titles.contains_key("medium0"));

        // Only open high and critical alerts left: a newcomer, even critical, is refused and
        // nothing open and urgent leaves.
        let before = held(&desk)
            .into_iter()
            .map(str::to_string)
            .collect::<Vec<_>>();
        assert_eq!(before.len(), 10);
        assert!(!admit(&mut desk, alert("high4", Severity::High), 10));
        assert!(!admit(
            &mut desk,
            alert("critical6", Severity::Critical),
            10
        ));
        assert_eq!(held(&desk), before);
        let last = desk.dropped.last().unwrap();
        assert_eq!(
            (last.alert_id.as_str(), last.reason, last.severity),
            ("critical6", DropReason::Refused, Severity::Critical)
        );
        assert_eq!(desk.titles.len(), desk.book.alerts().len());
    }

    #[test]
    fn acknowledged_go_first_then_lowest_severity_oldest_first_never_open_high_or_critical() {
        let alerts = vec![
            alert("critical-old", Severity::Critical),
            alert("medium-old", Severity::Medium),
            alert("high-acked", Severity::High),
            alert("low-new", Severity::Low),
            alert("high-open", Severity::High),
            alert("low-old-acked", Severity::Low),
            alert("medium-new", Severity::Medium),
            alert("low-newer", Severity::Low),
        ];
        let acked = |alert: &Alert| alert.id.as_str().ends_with("acked");
        let names = |positions: Vec<usize>| -> Vec<&str> {
            positions
                .into_iter()
                .map(|position| alerts[position].id.as_str())
                .collect()
        };
        assert_eq!(
            names(eviction_order(&alerts, acked)),
            [
                "high-acked",
                "low-old-acked",
                "low-new",
                "low-newer",
                "medium-old",
                "medium-new"
            ]
        );
        // Only open high and critical alerts: nothing may go.
        let urgent = vec![alert("a", Severity::High), alert("b", Severity::Critical)];
        assert!(eviction_order(&urgent, |_| false).is_empty());
    }
}
