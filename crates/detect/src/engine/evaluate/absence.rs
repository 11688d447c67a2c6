//! `absence`: a selected event whose group saw no `expect` event within `lookback` before it.
//! The window remembers, per group, when it last saw an expected event.

use super::{Evaluation, Match, room_for_group};
use crate::detection::Condition;
use crate::state::ExpiringMap;

/// Evaluates an `absence` rule for one event. Until the engine has seen `lookback` of events
/// it cannot know what is absent, so nothing matches before then.
pub(super) fn evaluate(
    evaluation: &mut Evaluation<'_, '_>,
    seen: &mut ExpiringMap<()>,
    lookback: i64,
    expect: &Condition,
) -> Option<Match> {
    let view = evaluation.view;
    let time = view.time;
    let subject = evaluation.subject;
    let expected = evaluation.holds(expect);
    if !((expected || subject) && evaluation.group_key()) {
        return None;
    }
    let budget = &mut evaluation.shared.budget;
    seen.expire(time - lookback, |_, ()| budget.release(1));
    if expected {
        let room = room_for_group(evaluation.rule, seen.len());
        evaluation.refused = seen
            .touch(&evaluation.key, time, || room && budget.take(1))
            .is_none();
    }
    let warm = evaluation
        .shared
        .first_time
        .is_some_and(|first| first.saturating_add(lookback) <= time);
    (subject && !expected && warm && !seen.contains(&evaluation.key)).then_some((1, None))
}
