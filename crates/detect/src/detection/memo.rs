//! Testing each distinct selection once per event, however many rules hold it.
//!
//! The built-in pack's rules repeat selections: a dozen rules select "a read of customer data
//! that was allowed", several "a login that failed". Each rule testing its own copy of every
//! such selection on every event was a quarter of the evaluating thread's time in a replay.
//! When an engine is built, identical selections across all its rules get one id; while an
//! event is evaluated, each id's result is kept, stamped with the event's number, so the next
//! rule holding the same selection reads it instead of testing again. A new event has a new
//! stamp: nothing is cleared between events.

use std::collections::HashMap;

use super::{Condition, Detection};
use crate::fields::EventView;

/// The selections of an engine's rules, numbered by meaning, and their results for the event
/// being evaluated.
#[derive(Debug, Default)]
pub(crate) struct SelectionMemo {
    /// Per rule (in engine order), the id of each of its selections.
    ids: Vec<Box<[u32]>>,
    /// Per id: the stamp of the event it was last tested for, and the result.
    results: Vec<(u64, bool)>,
    /// The event being evaluated; 0 is never an event's, so no result is valid at first.
    stamp: u64,
}

impl SelectionMemo {
    /// Numbers the selections of the rules' `detections` (one per rule, in engine order): two
    /// selections get the same id exactly when they test the same fields with the same
    /// patterns and modifiers (their debug forms are equal; the selection's name is not part
    /// of it).
    pub(crate) fn new<'a>(detections: impl Iterator<Item = &'a Detection>) -> SelectionMemo {
        let mut by_meaning: HashMap<String, u32> = HashMap::new();
        let ids = detections
            .map(|detection| {
                detection
                    .selections
                    .iter()
                    .map(|(_, selection)| {
                        let next = u32::try_from(by_meaning.len()).unwrap_or(u32::MAX);
                        *by_meaning.entry(format!("{selection:?}")).or_insert(next)
                    })
                    .collect()
            })
            .collect();
        SelectionMemo {
            ids,
            results: vec![(0, false); by_meaning.len()],
            stamp: 0,
        }
    }

    /// How many distinct selections the rules hold.
    #[cfg(test)]
    pub(crate) fn distinct(&self) -> usize {
        self.results.len()
    }

    /// Starts a new event: every result kept so far is stale.
    pub(crate) fn next_event(&mut self) {
        self.stamp += 1;
    }

    /// Rule `rule`'s view of the memo.
    pub(crate) fn for_rule(&mut self, rule: usize) -> RuleSelections<'_> {
        RuleSelections {
            ids: self.ids.get(rule).map_or(&[], |ids| ids),
            results: &mut self.results,
            stamp: self.stamp,
        }
    }
}

/// One rule's selections in the memo.
pub(crate) struct RuleSelections<'a> {
    ids: &'a [u32],
    results: &'a mut [(u64, bool)],
    stamp: u64,
}

impl Detection {
    /// Whether `condition` holds for the event, testing each selection at most once per event
    /// across the rules sharing `memo`. Same answer as [`Detection::holds`].
    pub(crate) fn holds_once(
        &self,
        condition: &Condition,
        view: &EventView<'_>,
        memo: &mut RuleSelections<'_>,
    ) -> bool {
        match condition {
            Condition::Selection(index) => {
                let slot = memo
                    .ids
                    .get(*index)
                    .and_then(|&id| memo.results.get_mut(id as usize));
                match slot {
                    Some((stamp, result)) if *stamp == memo.stamp => *result,
                    Some(slot) => {
                        let result = self.selections[*index].1.matches(view);
                        *slot = (memo.stamp, result);
                        result
                    }
                    // A rule the memo was not built for: test it directly.
                    None => self.selections[*index].1.matches(view),
                }
            }
            Condition::Not(inner) => !self.holds_once(inner, view, memo),
            Condition::And(items) => items.iter().all(|item| self.holds_once(item, view, memo)),
            Condition::Or(items) => items.iter().any(|item| self.holds_once(item, view, memo)),
        }
    }
}
