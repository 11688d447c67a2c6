//! `first_seen`: a value of a field the group has not shown within `retention`, once the
//! learning period is over (the engine's, or each group's own).

use super::{Evaluation, Match, room_for_group};
use crate::fields::Field;
use crate::rule::LearningScope;
use crate::state::ExpiringMap;

/// What a `first_seen` rule remembers.
#[derive(Default)]
pub(crate) struct FirstSeenWindow {
    /// Every (group, value) pair seen within the retention.
    pairs: ExpiringMap<()>,
    /// When each group was first seen, for a rule whose groups learn on their own.
    groups: ExpiringMap<i64>,
}

/// Evaluates a `first_seen` rule for one event.
pub(super) fn evaluate(
    evaluation: &mut Evaluation<'_, '_>,
    window: &mut FirstSeenWindow,
    field: &Field,
    retention: i64,
    learning: i64,
    scope: LearningScope,
) -> Option<Match> {
    let time = evaluation.view.time;
    if !evaluation.subject_with_value(field) {
        return None;
    }
    let FirstSeenWindow { pairs, groups } = window;
    let shared = &mut *evaluation.shared;
    let key = &evaluation.key;
    let budget = &mut shared.budget;
    let cutoff = time - retention;
    pairs.expire(cutoff, |_, ()| budget.release(1));
    groups.expire(cutoff, |_, _| budget.release(1));
    let learned = match scope {
        LearningScope::Engine => shared
            .first_time
            .is_some_and(|first| first.saturating_add(learning) <= time),
        LearningScope::Group => {
            let room = room_for_group(evaluation.rule, groups.len());
            match groups.touch(key, time, || room && budget.take(1)) {
                Some((first, inserted)) => {
                    if inserted {
                        *first = time;
                    }
                    first.saturating_add(learning) <= time
                }
                None => {
                    evaluation.refused = true;
                    false
                }
            }
        }
    };
    let pair = &mut shared.pair;
    pair.clear();
    pair.extend_from_slice(key);
    pair.extend_from_slice(&shared.value);
    let new = match pairs.touch(pair, time, || budget.take(1)) {
        Some((_, inserted)) => inserted,
        None => {
            evaluation.refused = true;
            true
        }
    };
    (new && learned).then_some((1, None))
}
