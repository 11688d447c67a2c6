//! `event_count`: at least `threshold` selected events of a group within `timespan`. The
//! window keeps every event's time and sequence number per group. `volume_baseline` counts
//! events with the same window.

use std::collections::VecDeque;

use super::{Evaluation, Match, len64, room_for_group};
use crate::alert::MAX_EVIDENCE;
use crate::engine::window::Counted;
use crate::fields::EventView;
use crate::rule::Rule;
use crate::state::{Budget, ExpiringMap};

/// One group's events in the window: time and sequence number, oldest first.
#[derive(Default)]
pub(crate) struct EventGroup {
    times: VecDeque<(i64, u64)>,
}

/// Evaluates an `event_count` rule for one event.
pub(super) fn evaluate(
    evaluation: &mut Evaluation<'_, '_>,
    groups: &mut ExpiringMap<EventGroup>,
    timespan: i64,
    threshold: u64,
) -> Option<Match> {
    if !(evaluation.subject && evaluation.group_key()) {
        return None;
    }
    let view = evaluation.view;
    let counted = count_events(
        evaluation.rule,
        groups,
        &evaluation.key,
        view,
        timespan,
        &mut evaluation.shared.budget,
    );
    evaluation.refused = counted.refused;
    if counted.count < threshold {
        return None;
    }
    let evidence =
        evaluation.evidence_if_new(|key| event_evidence(groups, key, view.seq, &counted));
    Some((counted.count, evidence))
}

/// Adds the event to its group and counts the group's events within `timespan`.
pub(super) fn count_events(
    rule: &Rule,
    groups: &mut ExpiringMap<EventGroup>,
    key: &[u8],
    view: &EventView<'_>,
    timespan: i64,
    budget: &mut Budget,
) -> Counted {
    let cutoff = view.time - timespan;
    groups.expire(cutoff, |_, group| {
        budget.release(1 + len64(group.times.len()));
    });
    let room = room_for_group(rule, groups.len());
    let Some((group, _)) = groups.touch(key, view.time, || room && budget.take(1)) else {
        return Counted {
            count: 1,
            refused: true,
        };
    };
    while group.times.front().is_some_and(|&(time, _)| time < cutoff) {
        group.times.pop_front();
        budget.release(1);
    }
    if budget.take(1) {
        group.times.push_back((view.time, view.seq));
        Counted {
            count: len64(group.times.len()),
            refused: false,
        }
    } else {
        Counted {
            count: len64(group.times.len()) + 1,
            refused: true,
        }
    }
}

/// Evidence for a new alert: the group's first sequence numbers in the window (with the
/// event's own when it was counted but not stored) and the count.
pub(super) fn event_evidence(
    groups: &ExpiringMap<EventGroup>,
    key: &[u8],
    seq: u64,
    counted: &Counted,
) -> (Vec<u64>, u64) {
    let mut seqs: Vec<u64> = groups
        .get(key)
        .map(|(group, _)| {
            group
                .times
                .iter()
                .take(MAX_EVIDENCE)
                .map(|&(_, seq)| seq)
                .collect()
        })
        .unwrap_or_default();
    if counted.refused && seqs.len() < MAX_EVIDENCE {
        seqs.push(seq);
    }
    (seqs, counted.count)
}
