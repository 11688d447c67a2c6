//! Each rule's window state, and which rules share one: distinct-value rules over the same
//! events, groups and field (a `value_count` and a `share` rule, or the same count over ten
//! minutes and a day) share one window, so it is updated and held once.

use super::evaluate::{
    BaselineWindow, DistinctWindow, EventGroup, FirstSeenWindow, MAX_SPANS, TemporalGroup,
};
use crate::rule::{Logic, Rule};
use crate::state::ExpiringMap;

/// A rule's window: the state its correlation type keeps per group.
#[derive(Default)]
pub(super) enum Window {
    /// A rule without correlation keeps none.
    #[default]
    None,
    Events(ExpiringMap<EventGroup>),
    Values(DistinctWindow),
    Temporal(ExpiringMap<TemporalGroup>),
    Seen(ExpiringMap<()>),
    FirstSeen(FirstSeenWindow),
    Baseline(BaselineWindow),
}

/// A window's answer for one event.
#[derive(Clone, Copy)]
pub(crate) struct Counted {
    pub(crate) count: u64,
    /// The event did not fit under the state cap (it was counted, not stored).
    pub(crate) refused: bool,
}

/// Where a rule's state lives: its window in the engine's list, and its timespan among that
/// window's spans (0 unless the window is a shared distinct-value window).
pub(super) struct Placement {
    pub(super) window: usize,
    pub(super) span: usize,
}

/// The windows `rules` need and where each rule's is. Distinct-value rules with the same
/// events, groups and field share a window with up to [`MAX_SPANS`] timespans; every other
/// rule has its own.
pub(super) fn place(rules: &[Rule]) -> (Vec<Window>, Vec<Placement>) {
    let mut plans: Vec<(String, Vec<i64>)> = Vec::new();
    let mut placement: Vec<Option<usize>> = Vec::new();
    for rule in rules {
        let Some((signature, span)) = window_signature(rule) else {
            placement.push(None);
            continue;
        };
        let found = plans.iter().position(|(known, spans)| {
            *known == signature && (spans.contains(&span) || spans.len() < MAX_SPANS)
        });
        let plan = match found {
            Some(plan) => plan,
            None => {
                plans.push((signature, Vec::new()));
                plans.len() - 1
            }
        };
        if !plans[plan].1.contains(&span) {
            plans[plan].1.push(span);
        }
        placement.push(Some(plan));
    }
    for (_, spans) in &mut plans {
        spans.sort_unstable_by(|a, b| b.cmp(a));
    }
    let mut windows: Vec<Window> = plans
        .iter()
        .map(|(_, spans)| Window::Values(DistinctWindow::new(spans.clone())))
        .collect();
    let placements = rules
        .iter()
        .zip(&placement)
        .map(|(rule, plan)| match plan {
            Some(plan) => {
                let span = window_signature(rule)
                    .and_then(|(_, span)| plans[*plan].1.iter().position(|&known| known == span))
                    .unwrap_or(0);
                Placement {
                    window: *plan,
                    span,
                }
            }
            None => {
                windows.push(Window::for_logic(&rule.logic));
                Placement {
                    window: windows.len() - 1,
                    span: 0,
                }
            }
        })
        .collect();
    (windows, placements)
}

impl Window {
    fn for_logic(logic: &Logic) -> Window {
        match logic {
            Logic::Single => Window::None,
            Logic::EventCount { .. } => Window::Events(ExpiringMap::default()),
            Logic::ValueCount { timespan, .. } | Logic::Share { timespan, .. } => {
                Window::Values(DistinctWindow::new(vec![*timespan]))
            }
            Logic::TemporalOrdered { .. } => Window::Temporal(ExpiringMap::default()),
            Logic::Absence { .. } => Window::Seen(ExpiringMap::default()),
            Logic::FirstSeen { .. } => Window::FirstSeen(FirstSeenWindow::default()),
            Logic::VolumeBaseline {
                field, timespan, ..
            } => Window::Baseline(BaselineWindow::new(field.as_ref(), *timespan)),
        }
    }
}

/// The identity of a distinct-value window (events, groups, field) and the rule's timespan:
/// rules with the same identity share one window. The pack's per-network rules count the same
/// reads over ten minutes and a day, and as a share of the base.
fn window_signature(rule: &Rule) -> Option<(String, i64)> {
    let (field, timespan) = match &rule.logic {
        Logic::ValueCount {
            field, timespan, ..
        }
        | Logic::Share {
            field, timespan, ..
        } => (field, *timespan),
        _ => return None,
    };
    let signature = format!(
        "{:?}|{:?}|{:?}|{:?}|{:?}",
        rule.detection.selections, rule.condition, rule.group_by, field, rule.max_groups
    );
    Some((signature, timespan))
}
