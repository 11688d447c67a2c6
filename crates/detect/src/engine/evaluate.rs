//! One rule's evaluation of one event: the rule's condition, its group, then its correlation
//! type's window (one file each beside this one), and finally the alert and any state-cap
//! refusal. A new correlation type is a file here and one arm in [`evaluate_rule`].

mod absence;
mod event_count;
mod first_seen;
mod temporal;
mod value_count;
mod volume_baseline;

pub(super) use event_count::EventGroup;
pub(super) use first_seen::FirstSeenWindow;
pub(super) use temporal::TemporalGroup;
pub(super) use value_count::{Distinct, DistinctWindow, MAX_SPANS};
pub(super) use volume_baseline::BaselineWindow;

use super::alerts::{record_match, record_refusal};
use super::window::Window;
use super::{OpenAlert, RuleState, Shared, len64};
use crate::alert::AlertUpdate;
use crate::detection::{Condition, RuleSelections};
use crate::fields::{EventView, Field, encode, encode_or_absent};
use crate::rule::{Logic, Rule};
use crate::state::ExpiringMap;

/// Evidence for a new alert: the first sequence numbers and how many events there were.
pub(super) type Evidence = (Vec<u64>, u64);

/// A match: the window's count, and the evidence if the match raises a new alert.
pub(super) type Match = (u64, Option<Evidence>);

/// A rule's window and the count it last gave.
pub(super) struct Windows<'a> {
    pub(super) window: &'a mut Window,
    pub(super) count: &'a mut Option<(u64, Distinct)>,
}

/// What evaluating one rule for one event reads and writes besides the rule's window.
pub(super) struct Evaluation<'a, 'e> {
    rule: &'a Rule,
    state: &'a mut RuleState,
    shared: &'a mut Shared,
    view: &'a EventView<'e>,
    /// The rule's selections' results for this event, shared with the other rules.
    selections: RuleSelections<'a>,
    /// Whether the rule's condition holds for the event.
    subject: bool,
    /// The event's group key, once [`Evaluation::group_key`] encoded it.
    key: Vec<u8>,
    /// Whether some state the event needed did not fit under the cap.
    refused: bool,
}

impl Evaluation<'_, '_> {
    /// Whether `condition` (over the rule's selections) holds for the event.
    fn holds(&mut self, condition: &Condition) -> bool {
        self.rule
            .detection
            .holds_once(condition, self.view, &mut self.selections)
    }

    /// Encodes the rule's group key into `key`; `false` if a group field is missing (the event
    /// then belongs to no group of a correlation).
    fn group_key(&mut self) -> bool {
        group_key(self.rule, self.view, &mut self.key)
    }

    /// Whether the rule's condition holds, the event has every group field and `field`:
    /// then the group key is in `key` and the value in `shared.value`.
    fn subject_with_value(&mut self, field: &Field) -> bool {
        self.shared.value.clear();
        self.subject && self.group_key() && encode(self.view, field, &mut self.shared.value)
    }

    /// The evidence for a match, computed only when the match raises a new alert: when no
    /// alert of the group is open (matched within the cooldown).
    fn evidence_if_new(&mut self, evidence: impl FnOnce(&[u8]) -> Evidence) -> Option<Evidence> {
        let alerts = &mut self.state.alerts;
        let open = alerts_open(alerts, &self.key, self.view.time, self.rule.cooldown);
        (!open).then(|| evidence(&self.key))
    }
}

/// Evaluates `rule` for the event in `view`: a match raises or grows an alert, deciding
/// response actions, into `out`; state refused at the cap raises or grows the
/// `engine.state_cap` alert.
pub(super) fn evaluate_rule(
    rule: &Rule,
    state: &mut RuleState,
    windows: Windows<'_>,
    shared: &mut Shared,
    view: &EventView<'_>,
    mut selections: RuleSelections<'_>,
    out: &mut Vec<AlertUpdate>,
) {
    let subject = rule
        .condition
        .as_ref()
        .is_some_and(|condition| rule.detection.holds_once(condition, view, &mut selections));
    let key = std::mem::take(&mut shared.key);
    let mut evaluation = Evaluation {
        rule,
        state,
        shared,
        view,
        selections,
        subject,
        key,
        refused: false,
    };
    let found = correlate(&mut evaluation, windows);
    let Evaluation {
        state,
        shared,
        key,
        refused,
        ..
    } = evaluation;
    if let Some((window_count, evidence)) = found {
        record_match(rule, state, view, &key, window_count, evidence, out);
    }
    if refused {
        record_refusal(rule, shared, view, out);
    }
    shared.key = key;
}

/// Dispatches the event to the rule's correlation type: one arm per type, each handing the
/// type's parameters and window to its file.
fn correlate(evaluation: &mut Evaluation<'_, '_>, windows: Windows<'_>) -> Option<Match> {
    let Windows {
        window,
        count: cached,
    } = windows;
    match (&evaluation.rule.logic, window) {
        (Logic::Single, _) => single(evaluation),
        (
            Logic::EventCount {
                timespan,
                threshold,
            },
            Window::Events(groups),
        ) => event_count::evaluate(evaluation, groups, *timespan, *threshold),
        (
            logic @ (Logic::ValueCount { field, .. } | Logic::Share { field, .. }),
            Window::Values(window),
        ) => value_count::evaluate(evaluation, logic, field, window, cached),
        (
            Logic::TemporalOrdered {
                timespan,
                steps,
                threshold,
            },
            Window::Temporal(groups),
        ) => temporal::evaluate(evaluation, groups, *timespan, steps, *threshold),
        (Logic::Absence { lookback, expect }, Window::Seen(seen)) => {
            absence::evaluate(evaluation, seen, *lookback, expect)
        }
        (
            Logic::FirstSeen {
                field,
                retention,
                learning,
                scope,
            },
            Window::FirstSeen(window),
        ) => first_seen::evaluate(evaluation, window, field, *retention, *learning, *scope),
        (
            Logic::VolumeBaseline {
                field,
                timespan,
                learning,
                ratio,
                min,
            },
            Window::Baseline(window),
        ) => volume_baseline::evaluate(
            evaluation,
            window,
            field.as_ref(),
            *timespan,
            *learning,
            *ratio,
            *min,
        ),
        _ => None,
    }
}

/// A rule without correlation: every selected event is a match, grouped by the `group-by`
/// fields it has (a missing one is a group of its own).
fn single(evaluation: &mut Evaluation<'_, '_>) -> Option<Match> {
    if !evaluation.subject {
        return None;
    }
    evaluation.key.clear();
    for field in &evaluation.rule.group_by {
        encode_or_absent(evaluation.view, field, &mut evaluation.key);
    }
    Some((1, None))
}

/// Encodes the rule's group key into `key`; `false` if a group field is missing.
fn group_key(rule: &Rule, view: &EventView<'_>, key: &mut Vec<u8>) -> bool {
    key.clear();
    rule.group_by.iter().all(|field| encode(view, field, key))
}

/// Whether a new group fits under the rule's `max_groups`.
fn room_for_group(rule: &Rule, groups: usize) -> bool {
    rule.max_groups.is_none_or(|max| len64(groups) < max)
}

/// Whether an alert for `key` is open at `time`: matched within the cooldown.
fn alerts_open(alerts: &mut ExpiringMap<OpenAlert>, key: &[u8], time: i64, cooldown: i64) -> bool {
    alerts.expire(time - cooldown, |_, _| {});
    alerts.contains(key)
}
