//! Changing the rules of a running engine between two events, keeping what unchanged rules
//! have learned.
//!
//! A rule is **unchanged** when a rule of the same id means exactly the same (everything but
//! the file, line and Sigma UUID it was read from). An unchanged rule keeps its window (counts,
//! distinct values, first-seen history, baselines, partial sequences) when every rule sharing
//! that window is unchanged too; a window whose sharing changed (a rule counting the same values
//! was added, changed or removed) starts empty, and its rules are listed in
//! [`RulesSwap::windows_restarted`]. Every rule that keeps its id keeps its open alerts
//! (cooldowns) and its action history, so editing a rule never resets its `max_actions`
//! cap. Entries of dropped windows go back to the state budget. The reorder buffer, the
//! watermark and the counters carry on: no event is lost or evaluated twice.

use std::collections::BTreeMap;

use super::{Engine, RuleState, check_ids};
use crate::error::Error;
use crate::rule::Rule;

/// What a rule change did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RulesSwap {
    /// Rules whose id and meaning are the same: they carry on.
    pub unchanged: Vec<String>,
    /// Rules whose id stayed but whose meaning changed: their window starts empty.
    pub changed: Vec<String>,
    /// New ids.
    pub added: Vec<String>,
    /// Ids no longer loaded.
    pub removed: Vec<String>,
    /// Unchanged rules whose window nevertheless starts empty, because a rule it was shared
    /// with changed, came or went.
    pub windows_restarted: Vec<String>,
    /// State entries given back by dropped windows.
    pub released_entries: u64,
}

impl Rule {
    /// Whether `other` means exactly what this rule means, wherever each was read from.
    pub(crate) fn same_meaning(&self, other: &Rule) -> bool {
        let meaning = |rule: &Rule| {
            let mut rule = rule.clone();
            rule.file.clear();
            rule.line = 0;
            rule.sigma_id = None;
            format!("{rule:?}")
        };
        self.id == other.id && meaning(self) == meaning(other)
    }
}

impl Engine {
    /// Replaces the rules with `rules` between two events, keeping the state of unchanged
    /// rules (see the module documentation). Fails, changing nothing, if two rules share an id.
    pub fn replace_rules(&mut self, rules: Vec<Rule>) -> Result<RulesSwap, Error> {
        check_ids(&rules)?;
        let mut next = Engine::build(rules, self.limits);
        let old_ids: BTreeMap<&str, usize> = self
            .rules
            .iter()
            .enumerate()
            .map(|(index, rule)| (rule.id.as_str(), index))
            .collect();
        let mut swap = RulesSwap::default();
        // For each new rule, the old rule of the same id and whether it means the same.
        let mut previous: Vec<Option<(usize, bool)>> = Vec::with_capacity(next.rules.len());
        for rule in &next.rules {
            let found = old_ids.get(rule.id.as_str()).map(|&old| {
                let same = self.rules[old].same_meaning(rule);
                (old, same)
            });
            match found {
                None => swap.added.push(rule.id.clone()),
                Some((_, true)) => swap.unchanged.push(rule.id.clone()),
                Some((_, false)) => swap.changed.push(rule.id.clone()),
            }
            previous.push(found);
        }
        let kept: std::collections::BTreeSet<&str> =
            next.rules.iter().map(|rule| rule.id.as_str()).collect();
        swap.removed = self
            .rules
            .iter()
            .filter(|rule| !kept.contains(rule.id.as_str()))
            .map(|rule| rule.id.clone())
            .collect();

        let total: u64 = self.held.iter().sum();
        let carried = self.carry_windows(&mut next, &previous, &mut swap);
        for (index, found) in previous.iter().enumerate() {
            let Some((old, _)) = *found else { continue };
            let old_state = std::mem::take(&mut self.states[old]);
            let state = &mut next.states[index];
            state.alerts = old_state.alerts;
            state.action_times = old_state.action_times;
            if carried[next.states[index].window] {
                next.states[index].ages = old_state.ages;
            }
        }

        // Entries of windows nobody carried go back to the budget.
        let moved: u64 = next.held.iter().sum();
        swap.released_entries = total.saturating_sub(moved);
        let mut shared = std::mem::replace(&mut self.shared, next.shared);
        shared.budget.used = shared.budget.used.saturating_sub(swap.released_entries);
        next.shared = shared;
        next.buffer = std::mem::take(&mut self.buffer);
        next.max_time = self.max_time;
        next.released_through = self.released_through;
        next.spent = self.spent.take();
        *self = next;
        Ok(swap)
    }

    /// Moves into `next` every old window all of whose new rules are unchanged and were
    /// exactly the rules of one old window; returns, per new window, whether it was carried.
    fn carry_windows(
        &mut self,
        next: &mut Engine,
        previous: &[Option<(usize, bool)>],
        swap: &mut RulesSwap,
    ) -> Vec<bool> {
        let members = |states: &[RuleState], windows: usize| {
            let mut members = vec![Vec::new(); windows];
            for (index, state) in states.iter().enumerate() {
                members[state.window].push(index);
            }
            members
        };
        let old_members = members(&self.states, self.windows.len());
        let new_members = members(&next.states, next.windows.len());
        let mut carried = vec![false; next.windows.len()];
        for (window, rules) in new_members.iter().enumerate() {
            let olds: Option<Vec<usize>> = rules
                .iter()
                .map(|&index| match previous[index] {
                    Some((old, true)) => Some(old),
                    _ => None,
                })
                .collect();
            let old_window = olds.and_then(|mut olds| {
                olds.sort_unstable();
                let old_window = self.states[*olds.first()?].window;
                (old_members[old_window] == olds).then_some(old_window)
            });
            let Some(old_window) = old_window else {
                for &index in rules {
                    if previous[index].is_some_and(|(_, same)| same) {
                        swap.windows_restarted.push(next.rules[index].id.clone());
                    }
                }
                continue;
            };
            next.windows[window] = std::mem::take(&mut self.windows[old_window]);
            next.held[window] = std::mem::take(&mut self.held[old_window]);
            carried[window] = true;
        }
        carried
    }
}
