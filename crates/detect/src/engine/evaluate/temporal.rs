//! `temporal_ordered`: the steps of a sequence, in order, within `timespan`, at least
//! `threshold` times per group. The window keeps, per group, the latest partial chain ending
//! at each step and the times of completed sequences.

use std::collections::VecDeque;

use super::{Evaluation, Match, len64, room_for_group};
use crate::alert::MAX_EVIDENCE;
use crate::detection::Condition;
use crate::fields::EventView;
use crate::rule::Rule;
use crate::state::{Budget, ExpiringMap};

/// One group's sequences in progress and completed.
#[derive(Default)]
pub(crate) struct TemporalGroup {
    partial: Vec<Option<Chain>>,
    completions: VecDeque<(i64, u64)>,
}

#[derive(Clone)]
struct Chain {
    start: i64,
    seqs: Vec<u64>,
}

/// Evaluates a `temporal_ordered` rule for one event.
pub(super) fn evaluate(
    evaluation: &mut Evaluation<'_, '_>,
    groups: &mut ExpiringMap<TemporalGroup>,
    timespan: i64,
    steps: &[Condition],
    threshold: u64,
) -> Option<Match> {
    let view = evaluation.view;
    let matched: Vec<bool> = steps.iter().map(|step| evaluation.holds(step)).collect();
    if !(matched.contains(&true) && evaluation.group_key()) {
        return None;
    }
    let outcome = temporal(
        evaluation.rule,
        groups,
        &evaluation.key,
        &matched,
        view,
        timespan,
        &mut evaluation.shared.budget,
    );
    evaluation.refused = outcome.refused;
    let (count, evidence) = outcome.completed?;
    if count < threshold {
        return None;
    }
    let evidence = evaluation.evidence_if_new(|_| (evidence, count));
    Some((count, evidence))
}

struct TemporalOutcome {
    /// Completed sequences in the window and the evidence, when this event completed one.
    completed: Option<(u64, Vec<u64>)>,
    refused: bool,
}

/// Advances the group's chains with the steps the event matched; counts the sequences completed
/// within `timespan` when it completes one.
fn temporal(
    rule: &Rule,
    groups: &mut ExpiringMap<TemporalGroup>,
    key: &[u8],
    matched: &[bool],
    view: &EventView<'_>,
    timespan: i64,
    budget: &mut Budget,
) -> TemporalOutcome {
    let cutoff = view.time - timespan;
    groups.expire(cutoff, |_, group| {
        budget.release(1 + len64(group.completions.len()));
    });
    let starts = matched.first().copied().unwrap_or(false);
    let room = room_for_group(rule, groups.len());
    let mut refused = false;
    let Some((group, _)) = groups.touch(key, view.time, || {
        let admitted = starts && room && budget.take(1);
        refused = starts && !admitted;
        admitted
    }) else {
        return TemporalOutcome {
            completed: None,
            refused,
        };
    };
    let steps = matched.len();
    group.partial.resize(steps, None);
    while group
        .completions
        .front()
        .is_some_and(|&(time, _)| time < cutoff)
    {
        group.completions.pop_front();
        budget.release(1);
    }
    // Later steps first, so one event never advances a chain twice; each earlier step's chain
    // is consumed when a later step extends it.
    let mut completed_chain = None;
    for step in (0..steps).rev() {
        if !matched[step] {
            continue;
        }
        if step == 0 {
            group.partial[0] = Some(Chain {
                start: view.time,
                seqs: vec![view.seq],
            });
            continue;
        }
        let Some(mut chain) = group.partial[step - 1].take() else {
            continue;
        };
        if chain.start < cutoff {
            continue;
        }
        chain.seqs.push(view.seq);
        if step + 1 == steps {
            completed_chain = Some(chain);
        } else {
            group.partial[step] = Some(chain);
        }
    }
    let Some(chain) = completed_chain else {
        return TemporalOutcome {
            completed: None,
            refused,
        };
    };
    let mut count = len64(group.completions.len());
    if budget.take(1) {
        group.completions.push_back((view.time, view.seq));
        count += 1;
    } else {
        refused = true;
        count += 1;
    }
    let mut evidence: Vec<u64> = group
        .completions
        .iter()
        .map(|&(_, seq)| seq)
        .filter(|seq| *seq != view.seq)
        .collect();
    evidence.extend(chain.seqs);
    evidence.sort_unstable();
    evidence.dedup();
    evidence.truncate(MAX_EVIDENCE);
    TemporalOutcome {
        completed: Some((count, evidence)),
        refused,
    }
}
