//! The engine's alerts: a match raises a new alert for its group or grows the open one (within
//! the rule's cooldown), and state refused at the cap raises or grows the rule's
//! `engine.state_cap` alert.

use std::collections::BTreeSet;

use haechi_events::Timestamp;

use super::actions::decide_actions;
use super::evaluate::Evidence;
use super::{RuleState, STATE_CAP_RULE_ID, Shared};
use crate::alert::{ActionKind, Alert, AlertGrowth, AlertId, AlertUpdate};
use crate::fields::{EventView, display, render};
use crate::rule::{DEFAULT_COOLDOWN, Rule, Severity, micros};

/// An alert open for one group: raised, and matched again within the cooldown.
#[derive(Default)]
pub(super) struct OpenAlert {
    pub(super) id: AlertId,
    pub(super) count: u64,
    pub(super) targets: BTreeSet<ActionKind>,
    pub(super) cap_reported: bool,
}

/// Raises a new alert or grows the open one for `key`, deciding response actions.
pub(super) fn record_match(
    rule: &Rule,
    state: &mut RuleState,
    view: &EventView<'_>,
    key: &[u8],
    window_count: u64,
    evidence: Option<Evidence>,
    out: &mut Vec<AlertUpdate>,
) {
    let time = view.time;
    let RuleState {
        alerts,
        action_times,
        ..
    } = state;
    alerts.expire(time - rule.cooldown, |_, _| {});
    // Alerts are the engine's output, so their bookkeeping is never refused; it is bounded by
    // the cooldown and the number of groups, which the windows' state already caps.
    let Some((open, inserted)) = alerts.touch(key, time, || true) else {
        return;
    };
    if !inserted {
        open.count += 1;
        let actions = decide_actions(rule, action_times, open, view);
        let customer = rule
            .incident
            .affected_customers
            .then(|| {
                rule.context_fields
                    .iter()
                    .find(|field| field.name() == "customer_id")
                    .and_then(|field| display(view, field))
            })
            .flatten();
        out.push(AlertUpdate::Grew(AlertGrowth {
            id: open.id.clone(),
            seq: view.seq,
            time: view.event_time(),
            count: open.count,
            window_count,
            actions,
            customer,
        }));
        return;
    }
    let (evidence_seqs, count) = evidence.unwrap_or_else(|| (vec![view.seq], 1));
    open.id = AlertId::new(&rule.id, view.seq);
    open.count = count.max(1);
    let actions = decide_actions(rule, action_times, open, view);
    let context = rule
        .context_fields
        .iter()
        .filter_map(|field| display(view, field).map(|value| (field.name().into_owned(), value)))
        .collect();
    out.push(AlertUpdate::Raised(Alert {
        id: open.id.clone(),
        rule_id: rule.id.clone(),
        title: rule.title.clone(),
        severity: rule.severity,
        first_time: view.event_time(),
        last_time: view.event_time(),
        group_key: render(&rule.group_by, key),
        group_by: rule.group_by_names(),
        evidence_seqs,
        count: open.count,
        window_count,
        context,
        actions,
    }));
}

impl EventView<'_> {
    fn event_time(&self) -> Timestamp {
        Timestamp::from_micros(self.time)
    }
}

/// Raises or grows the `engine.state_cap` alert for `rule`.
pub(super) fn record_refusal(
    rule: &Rule,
    shared: &mut Shared,
    view: &EventView<'_>,
    out: &mut Vec<AlertUpdate>,
) {
    shared.refusals += 1;
    let time = view.time;
    let alerts = &mut shared.cap_alerts;
    alerts.expire(time - micros(DEFAULT_COOLDOWN), |_, _| {});
    let Some((open, inserted)) = alerts.touch(rule.id.as_bytes(), time, || true) else {
        return;
    };
    if !inserted {
        open.count += 1;
        out.push(AlertUpdate::Grew(AlertGrowth {
            id: open.id.clone(),
            seq: view.seq,
            time: view.event_time(),
            count: open.count,
            window_count: shared.budget.used,
            actions: Vec::new(),
            customer: None,
        }));
        return;
    }
    // One event can be refused by several rules: the id names the rule as well.
    open.id = AlertId::new(&format!("{STATE_CAP_RULE_ID}.{}", rule.id), view.seq);
    open.count = 1;
    out.push(AlertUpdate::Raised(Alert {
        id: open.id.clone(),
        rule_id: STATE_CAP_RULE_ID.to_string(),
        title: format!(
            "Detection state reached its cap ({} entries): rule {} cannot remember more",
            shared.budget.cap, rule.id
        ),
        severity: Severity::High,
        first_time: view.event_time(),
        last_time: view.event_time(),
        group_key: rule.id.clone(),
        group_by: Vec::new(),
        evidence_seqs: vec![view.seq],
        count: 1,
        window_count: shared.budget.used,
        context: std::collections::BTreeMap::new(),
        actions: Vec::new(),
    }));
}
