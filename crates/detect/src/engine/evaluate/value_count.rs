//! `value_count` and `share`: distinct values of a field per group within `timespan`, against
//! a threshold (for groups on probation, when the rule names one) or as a share of the
//! customer count. Their window, [`DistinctWindow`], keeps every distinct value with the time
//! it was last seen, and serves up to [`MAX_SPANS`] timespans at once, so rules counting the
//! same values over ten minutes and a day share one.

use super::{Evaluation, Match, len64, room_for_group};
use crate::alert::MAX_EVIDENCE;
use crate::engine::window::Counted;
use crate::fields::{EventView, Field};
use crate::rule::{Logic, Probation, Rule};
use crate::state::{Budget, ExpiringMap, NIL};

/// The most timespans one distinct-value window serves (rules counting the same values over,
/// say, ten minutes and a day share one window).
pub(crate) const MAX_SPANS: usize = 3;

/// Distinct values per group, over up to [`MAX_SPANS`] timespans at once.
pub(crate) struct DistinctWindow {
    groups: ExpiringMap<ValueGroup>,
    /// Timespans, longest first: the window holds values for the longest; shorter ones are
    /// counted with a cursor per group.
    spans: Vec<i64>,
}

impl DistinctWindow {
    pub(crate) fn new(spans: Vec<i64>) -> Self {
        DistinctWindow {
            groups: ExpiringMap::default(),
            spans,
        }
    }
}

#[derive(Default)]
pub(crate) struct ValueGroup {
    /// Values by last time seen, with the sequence number that last showed each.
    values: ExpiringMap<u64>,
    /// For each shorter span, the oldest value inside it and how many values are.
    cursors: [Cursor; MAX_SPANS - 1],
}

#[derive(Clone, Copy)]
pub(crate) struct Cursor {
    index: u32,
    count: u64,
}

impl Default for Cursor {
    fn default() -> Self {
        Cursor {
            index: NIL,
            count: 0,
        }
    }
}

/// A distinct-value window's answer for one event: a count per span.
#[derive(Clone, Copy)]
pub(crate) struct Distinct {
    pub(super) counts: [u64; MAX_SPANS],
    /// The event did not fit under the state cap (it was counted, not stored).
    pub(super) refused: bool,
}

/// Evaluates a `value_count` or `share` rule for one event. Rules sharing the window evaluate
/// the same events: the first to see an event counts it, the others read its answer from
/// `cached`.
pub(super) fn evaluate(
    evaluation: &mut Evaluation<'_, '_>,
    logic: &Logic,
    field: &Field,
    window: &mut DistinctWindow,
    cached: &mut Option<(u64, Distinct)>,
) -> Option<Match> {
    let view = evaluation.view;
    // A rule sharing the window with one that already counted this event reads its answer:
    // the value is encoded only for the first.
    let counted_already =
        cached.is_some_and(|(evaluated, _)| evaluated == evaluation.shared.evaluated);
    let ready = if counted_already {
        evaluation.subject && evaluation.group_key()
    } else {
        evaluation.subject_with_value(field)
    };
    if !ready {
        return None;
    }
    let shared = &mut *evaluation.shared;
    let distinct = match *cached {
        Some((evaluated, distinct)) if evaluated == shared.evaluated => Distinct {
            refused: false,
            ..distinct
        },
        _ => {
            let distinct = count_values(
                evaluation.rule,
                window,
                &evaluation.key,
                &shared.value,
                view,
                &mut shared.budget,
            );
            *cached = Some((shared.evaluated, distinct));
            distinct
        }
    };
    evaluation.refused = distinct.refused;
    let span = evaluation.state.span;
    let counted = Counted {
        count: distinct.counts[span],
        refused: distinct.refused,
    };
    let reached = match logic {
        Logic::Share {
            fraction,
            min_distinct,
            ..
        } => {
            let population = view.lookup.customer_count();
            #[allow(clippy::cast_precision_loss, reason = "populations are far below 2^53")]
            let reached = population > 0
                && counted.count >= *min_distinct
                && counted.count as f64 >= fraction * population as f64;
            reached
        }
        Logic::ValueCount {
            threshold,
            probation,
            ..
        } => {
            let on_probation = probation.is_none_or(|probation| {
                let (young, refused_age) = on_probation(
                    evaluation.rule,
                    &mut evaluation.state.ages,
                    &evaluation.key,
                    view.time,
                    &probation,
                    &mut evaluation.shared.budget,
                );
                evaluation.refused |= refused_age;
                young
            });
            on_probation && counted.count >= *threshold
        }
        _ => false,
    };
    if !reached {
        return None;
    }
    let evidence =
        evaluation.evidence_if_new(|key| value_evidence(window, span, key, view.seq, &counted));
    Some((counted.count, evidence))
}

/// Whether group `key` is still on probation at `time` (its first event, remembered for the
/// probation's retention, is less than the probation's span old), and whether its age could
/// not be stored (a new group over the state cap counts as new).
fn on_probation(
    rule: &Rule,
    ages: &mut ExpiringMap<i64>,
    key: &[u8],
    time: i64,
    probation: &Probation,
    budget: &mut Budget,
) -> (bool, bool) {
    ages.expire(time - probation.retention, |_, _| budget.release(1));
    let room = room_for_group(rule, ages.len());
    match ages.touch(key, time, || room && budget.take(1)) {
        Some((first, inserted)) => {
            if inserted {
                *first = time;
            }
            (first.saturating_add(probation.span) > time, false)
        }
        None => (true, true),
    }
}

/// Adds the event's value to its group of a distinct-value window and counts the group's
/// distinct values over each of the window's timespans.
pub(super) fn count_values(
    rule: &Rule,
    window: &mut DistinctWindow,
    key: &[u8],
    value: &[u8],
    view: &EventView<'_>,
    budget: &mut Budget,
) -> Distinct {
    let time = view.time;
    let spans = &window.spans;
    let longest = spans.first().copied().unwrap_or(0);
    let cutoff = time - longest;
    let groups = &mut window.groups;
    groups.expire(cutoff, |_, group| {
        budget.release(1 + len64(group.values.len()));
    });
    let room = room_for_group(rule, groups.len());
    let Some((group, _)) = groups.touch(key, time, || room && budget.take(1)) else {
        return Distinct {
            counts: [1; MAX_SPANS],
            refused: true,
        };
    };
    let ValueGroup { values, cursors } = group;
    let shorter = &spans[1.min(spans.len())..];
    // Values that left a shorter span: move its cursor past them.
    for (cursor, span) in cursors.iter_mut().zip(shorter) {
        let span_cutoff = time - span;
        while cursor.index != NIL && values.time_of(cursor.index) < span_cutoff {
            cursor.index = values.next_of(cursor.index);
            cursor.count -= 1;
        }
    }
    values.expire(cutoff, |_, _| budget.release(1));
    let mut re_entered = [false; MAX_SPANS - 1];
    let touched = values.touch_tracked(
        value,
        time,
        || budget.take(1),
        |index, old_time, next| {
            for (position, (cursor, span)) in cursors.iter_mut().zip(shorter).enumerate() {
                if old_time < time - span {
                    // Seen before, but not within this span: it counts again.
                    cursor.count += 1;
                    re_entered[position] = cursor.index == NIL;
                } else if cursor.index == index && next != NIL {
                    // The oldest value of the span moves to the back; the next is the oldest.
                    cursor.index = next;
                }
            }
        },
    );
    let mut counts = [0u64; MAX_SPANS];
    let refused = match touched {
        Some((index, last_seq, inserted)) => {
            *last_seq = view.seq;
            for (position, cursor) in cursors.iter_mut().take(shorter.len()).enumerate() {
                if inserted {
                    cursor.count += 1;
                }
                if cursor.index == NIL && (inserted || re_entered[position]) {
                    cursor.index = index;
                }
            }
            false
        }
        None => true,
    };
    let extra = u64::from(refused);
    counts[0] = len64(values.len()) + extra;
    for (position, cursor) in cursors.iter().take(shorter.len()).enumerate() {
        counts[position + 1] = cursor.count + extra;
    }
    Distinct { counts, refused }
}

pub(super) fn value_evidence(
    window: &DistinctWindow,
    span: usize,
    key: &[u8],
    seq: u64,
    counted: &Counted,
) -> (Vec<u64>, u64) {
    let mut seqs: Vec<u64> = window
        .groups
        .get(key)
        .map(|(group, _)| {
            let values: Box<dyn Iterator<Item = _>> = match span {
                0 => Box::new(group.values.iter()),
                shorter => Box::new(group.values.iter_from(group.cursors[shorter - 1].index)),
            };
            values.take(MAX_EVIDENCE).map(|(_, _, &seq)| seq).collect()
        })
        .unwrap_or_default();
    if counted.refused && seqs.len() < MAX_EVIDENCE {
        seqs.push(seq);
    }
    (seqs, counted.count)
}
