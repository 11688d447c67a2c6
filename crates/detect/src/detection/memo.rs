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
use crate::rule::Rule;

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
    /// Numbers the selections of `rules`: two selections get the same id exactly when they
    /// test the same fields with the same patterns and modifiers (their debug forms are equal;
    /// the selection's name is not part of it).
    pub(crate) fn new(rules: &[Rule]) -> SelectionMemo {
        let mut by_meaning: HashMap<String, u32> = HashMap::new();
        let ids = rules
            .iter()
            .map(|rule| {
                rule.detection
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

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]
mod tests {
    use haechi_events::{Decision, EventKind, Principal, SecurityEvent, Timestamp};

    use super::*;
    use crate::NoState;
    use crate::pack::builtin_rules;

    fn events() -> Vec<SecurityEvent> {
        let mut events = Vec::new();
        for kind in EventKind::ALL {
            for (principal, decision, status) in [
                (Principal::Customer("c_1".into()), Decision::Allow, 200),
                (Principal::Service("shipping".into()), Decision::Allow, 200),
                (Principal::Service("marketing".into()), Decision::Deny, 403),
                (Principal::Anonymous, Decision::Deny, 401),
            ] {
                let event = SecurityEvent::new(Timestamp::EPOCH, *kind, principal)
                    .ip(Some("10.1.2.3".parse().unwrap()))
                    .customer("c_2")
                    .fields(["name", "phone"])
                    .outcome(decision, status)
                    .reason("bad_signature");
                events.push(event);
            }
        }
        events
    }

    #[test]
    fn the_pack_shares_selections_and_the_memo_answers_as_testing_would() {
        let rules = builtin_rules().rules;
        let total: usize = rules
            .iter()
            .map(|rule| rule.detection.selections.len())
            .sum();
        let mut memo = SelectionMemo::new(&rules);
        println!("{} distinct selections of {total}", memo.distinct());
        assert!(
            memo.distinct() < total,
            "{} distinct of {total}",
            memo.distinct()
        );
        let mut held = 0;
        for event in events() {
            let view = EventView {
                seq: 1,
                time: 0,
                event: &event,
                lookup: &NoState,
            };
            memo.next_event();
            for (index, rule) in rules.iter().enumerate() {
                let Some(condition) = &rule.condition else {
                    continue;
                };
                let direct = rule.detection.holds(condition, &view);
                // Asked twice: the second answer comes from the memo.
                for _ in 0..2 {
                    let once =
                        rule.detection
                            .holds_once(condition, &view, &mut memo.for_rule(index));
                    assert_eq!(once, direct, "{} on {:?}", rule.id, event.kind);
                }
                held += usize::from(direct);
            }
        }
        assert!(held > 0, "some rule's condition holds for the mix");
    }
}
