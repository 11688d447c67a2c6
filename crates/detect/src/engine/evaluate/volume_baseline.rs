//! `volume_baseline`: a group's window count (events, or distinct values of a field) at least
//! `ratio` times its learned baseline and at least `min`. The baseline is the largest window
//! count of the learning period, then frozen.

use std::collections::HashMap;

use super::event_count::{EventGroup, count_events, event_evidence};
use super::value_count::{DistinctWindow, count_values, value_evidence};
use super::{Evaluation, Match};
use crate::engine::window::Counted;
use crate::fields::{Field, encode};
use crate::state::ExpiringMap;

/// What a `volume_baseline` rule remembers: its window and each group's baseline.
pub(crate) struct BaselineWindow {
    counts: BaselineCounts,
    baselines: HashMap<Box<[u8]>, u64>,
}

/// The window a baseline is learned over: events, or distinct values of the rule's field.
enum BaselineCounts {
    Events(ExpiringMap<EventGroup>),
    Values(DistinctWindow),
}

impl BaselineWindow {
    /// The window for a rule counting distinct values of `field`, or events when it names none.
    pub(crate) fn new(field: Option<&Field>, timespan: i64) -> Self {
        let counts = match field {
            None => BaselineCounts::Events(ExpiringMap::default()),
            Some(_) => BaselineCounts::Values(DistinctWindow::new(vec![timespan])),
        };
        BaselineWindow {
            counts,
            baselines: HashMap::new(),
        }
    }
}

/// Evaluates a `volume_baseline` rule for one event.
pub(super) fn evaluate(
    evaluation: &mut Evaluation<'_, '_>,
    window: &mut BaselineWindow,
    field: Option<&Field>,
    timespan: i64,
    learning: i64,
    ratio: f64,
    min: u64,
) -> Option<Match> {
    let view = evaluation.view;
    let time = view.time;
    evaluation.shared.value.clear();
    let has_value = field.is_none_or(|field| encode(view, field, &mut evaluation.shared.value));
    if !(evaluation.subject && has_value && evaluation.group_key()) {
        return None;
    }
    let BaselineWindow { counts, baselines } = window;
    let shared = &mut *evaluation.shared;
    let key = &evaluation.key;
    let counted = match counts {
        BaselineCounts::Values(window) => {
            let distinct = count_values(
                evaluation.rule,
                window,
                key,
                &shared.value,
                view,
                &mut shared.budget,
            );
            Counted {
                count: distinct.counts[0],
                refused: distinct.refused,
            }
        }
        BaselineCounts::Events(groups) => count_events(
            evaluation.rule,
            groups,
            key,
            view,
            timespan,
            &mut shared.budget,
        ),
    };
    evaluation.refused = counted.refused;
    let learned = shared
        .first_time
        .is_some_and(|first| first.saturating_add(learning) <= time);
    let baseline = baselines.get(key.as_slice()).copied().unwrap_or(0);
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "window counts are far below 2^53; the product is clamped"
    )]
    let threshold = ((ratio * baseline as f64).ceil() as u64).max(min);
    if learned && counted.count >= threshold {
        let evidence = evaluation.evidence_if_new(|key| match counts {
            BaselineCounts::Values(window) => value_evidence(window, 0, key, view.seq, &counted),
            BaselineCounts::Events(groups) => event_evidence(groups, key, view.seq, &counted),
        });
        return Some((counted.count, evidence));
    }
    if !learned && counted.count > baseline {
        // The baseline is the largest window of the learning period, then frozen: letting
        // later windows raise it would let a slow ramp teach it the attack.
        match baselines.get_mut(key.as_slice()) {
            Some(known) => *known = counted.count,
            None => {
                if shared.budget.take(1) {
                    baselines.insert(key.as_slice().into(), counted.count);
                } else {
                    evaluation.refused = true;
                }
            }
        }
    }
    None
}
