//! The streaming engine: orders events by event time within a watermark, evaluates every rule
//! over exact sliding windows, and turns matches into growing alerts and response actions.
//!
//! This file holds the engine and its ordering (the reorder buffer and the watermark); beside
//! it: `window` (each rule's window and which rules share one), `evaluate` (one rule's
//! evaluation of one event, a file per correlation type), `alerts` (raising and growing
//! alerts, and the state-cap alert) and `actions` (deciding response actions and their
//! safeguards).

mod actions;
mod alerts;
mod evaluate;
#[cfg(test)]
mod selection_tests;
mod swap;
mod window;

use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

use haechi_events::{EventKind, SecurityEvent, Timestamp};

use self::alerts::OpenAlert;
use self::evaluate::{Distinct, Windows, evaluate_rule};
use self::window::Window;
use crate::alert::{Alert, AlertBook, AlertUpdate};
use crate::detection::SelectionMemo;
use crate::error::Error;
use crate::fields::EventView;
use crate::lookup::StateLookup;
use crate::rule::{Rule, micros};
use crate::state::{Budget, ExpiringMap};

/// The rule id of the engine's own alert when its state reaches the cap.
pub const STATE_CAP_RULE_ID: &str = "engine.state_cap";

pub use swap::RulesSwap;

/// The engine's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How far behind the greatest event time seen an event may arrive and still be evaluated
    /// in event-time order (the watermark). Default 250 ms: Haechi's audit trail stamps and
    /// sequences events within milliseconds of each other, and every alert waits this long
    /// for stragglers, against a live target of under a second. Replays of archives that
    /// interleave several sources may want seconds.
    pub allowed_lateness: Duration,
    /// The most state entries (window timestamps, distinct values, groups, first-seen pairs,
    /// learned baselines) all rules together may hold. Default 20 M, about 2 GB at the
    /// measured ~100 bytes per entry.
    pub max_state_entries: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            allowed_lateness: Duration::from_millis(250),
            max_state_entries: 20_000_000,
        }
    }
}

/// Counters describing the engine's work so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EngineStats {
    /// Events given to the engine.
    pub events: u64,
    /// Events that arrived behind the watermark and were evaluated out of order.
    pub late_events: u64,
    /// Events waiting in the reorder buffer.
    pub buffered: usize,
    /// State entries held now.
    pub state_entries: u64,
    /// State entries refused because the cap was reached (each raised or grew an
    /// `engine.state_cap` alert).
    pub state_refusals: u64,
}

struct Pending {
    time: i64,
    seq: u64,
    /// Boxed: an event is a few hundred bytes, moved in and out of the buffer.
    event: Box<SecurityEvent>,
}

/// Evaluates rules over a stream of audit events.
///
/// # Ordering and the watermark
/// Events are evaluated in `(time, seq)` order. The engine keeps the greatest event time seen,
/// `max_time`; the watermark is `max_time − allowed_lateness`. An event waits in a reorder
/// buffer until the watermark passes its time, then is evaluated. So every event whose time
/// is at least the watermark when it arrives is evaluated in exact event-time order, and any
/// arrival order with that property gives the same alerts in the same order.
///
/// An event that arrives with a time below the point already released is **late**: it is
/// counted in [`EngineStats::late_events`] and evaluated at once against the current state, as
/// if it had happened at the time of the last evaluated event (its own time if that is later).
/// It is never dropped.
///
/// # Windows
/// A correlation window of length `timespan` seen from an event at time `t` holds the events of
/// the same group evaluated before it, or the event itself, with time in `[t − timespan, t]`.
/// Counts are exact: each window keeps every timestamp (or every distinct value with its last
/// time) it needs, and nothing else.
///
/// # Bounded state
/// All state together is capped at [`Limits::max_state_entries`]. When an entry does not fit
/// it is not stored: the event is still evaluated (counted as if it were stored) and the
/// engine raises, or grows, an `engine.state_cap` alert. Nothing is ever evicted to make room;
/// entries leave only when their window passes.
pub struct Engine {
    rules: Vec<Rule>,
    states: Vec<RuleState>,
    /// Window state. Rules that count the same values of the same events by the same groups
    /// over the same timespan (e.g. a `value_count` and a `share` rule) share one window, so
    /// it is updated and held once.
    windows: Vec<Window>,
    /// The last count each window gave, by evaluation number, for the rules sharing it.
    counts: Vec<Option<(u64, Distinct)>>,
    /// The state entries each window's rules hold (their window's, and their own probation
    /// ages), so that a window dropped by a rule change gives its entries back to the budget.
    held: Vec<u64>,
    routes: Vec<(EventKind, Vec<usize>)>,
    any_kind: Vec<usize>,
    /// Each distinct selection of the rules, tested at most once per event.
    selections: SelectionMemo,
    limits: Limits,
    lateness: i64,
    buffer: VecDeque<Pending>,
    max_time: i64,
    released_through: i64,
    shared: Shared,
    /// Evaluated events kept for the caller to reuse, when it asked for them
    /// ([`Engine::keep_spent_events`]).
    #[allow(
        clippy::vec_box,
        reason = "the caller's boxes, given back to be refilled, not reallocated"
    )]
    spent: Option<Vec<Box<SecurityEvent>>>,
}

struct Shared {
    budget: Budget,
    /// Events evaluated so far: identifies the current evaluation for shared windows.
    evaluated: u64,
    events: u64,
    late_events: u64,
    refusals: u64,
    first_time: Option<i64>,
    last_time: i64,
    cap_alerts: ExpiringMap<OpenAlert>,
    key: Vec<u8>,
    value: Vec<u8>,
    pair: Vec<u8>,
}

#[derive(Default)]
struct RuleState {
    alerts: ExpiringMap<OpenAlert>,
    action_times: VecDeque<i64>,
    /// The rule's window in [`Engine::windows`], possibly shared with other rules.
    window: usize,
    /// The rule's timespan among its distinct-value window's spans.
    span: usize,
    /// When each group's first event was, for a rule with a `probation` (its own, never
    /// shared: two rules may share counts but not probations).
    ages: ExpiringMap<i64>,
}

fn len64(length: usize) -> u64 {
    u64::try_from(length).unwrap_or(u64::MAX)
}

impl Engine {
    /// An engine over `rules` within `limits`. Fails if two rules share an id.
    pub fn new(rules: Vec<Rule>, limits: Limits) -> Result<Engine, Error> {
        check_ids(&rules)?;
        Ok(Engine::build(rules, limits))
    }

    /// A new engine over the same rules within the same limits, with no state: what a
    /// detection node that takes over from another starts from (rules were checked when this
    /// engine was made).
    pub fn fresh(&self) -> Engine {
        Engine::build(self.rules.clone(), self.limits)
    }

    fn build(rules: Vec<Rule>, limits: Limits) -> Engine {
        let (windows, placements) = window::place(&rules);
        let states = placements
            .into_iter()
            .map(|placement| RuleState {
                window: placement.window,
                span: placement.span,
                ..RuleState::default()
            })
            .collect();
        let counts = vec![None; windows.len()];
        let held = vec![0; windows.len()];
        let (routes, any_kind) = routes(&rules);
        let selections = SelectionMemo::new(rules.iter().map(|rule| &rule.detection));
        Engine {
            rules,
            states,
            windows,
            counts,
            held,
            routes,
            any_kind,
            selections,
            limits,
            lateness: micros(limits.allowed_lateness),
            buffer: VecDeque::new(),
            max_time: i64::MIN,
            released_through: i64::MIN,
            shared: Shared {
                budget: Budget {
                    used: 0,
                    cap: limits.max_state_entries,
                },
                evaluated: 0,
                events: 0,
                late_events: 0,
                refusals: 0,
                first_time: None,
                last_time: i64::MIN,
                cap_alerts: ExpiringMap::default(),
                key: Vec::new(),
                value: Vec::new(),
                pair: Vec::new(),
            },
            spent: None,
        }
    }

    /// From now on, keeps every evaluated event for [`Engine::take_spent`] instead of dropping
    /// it: a replay hands them back to its reader to be refilled with the next records, so
    /// that no record is allocated (and freed) per event.
    pub fn keep_spent_events(&mut self) {
        self.spent.get_or_insert_with(Vec::new);
    }

    /// The events evaluated since the last call, when [`Engine::keep_spent_events`] was asked.
    pub fn take_spent(&mut self) -> std::vec::Drain<'_, Box<SecurityEvent>> {
        self.spent.get_or_insert_with(Vec::new).drain(..)
    }

    fn spend(&mut self, event: Box<SecurityEvent>) {
        if let Some(spent) = &mut self.spent {
            spent.push(event);
        }
    }

    /// The rules, in evaluation order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The audit event's fields the rules read (see [`Rule::columns_read`]).
    pub fn columns_read(&self) -> BTreeSet<&'static str> {
        self.rules.iter().flat_map(Rule::columns_read).collect()
    }

    /// The longest history any rule needs (see [`Rule::history_needed`]).
    pub fn history_needed(&self) -> Duration {
        self.rules
            .iter()
            .map(Rule::history_needed)
            .max()
            .unwrap_or_default()
    }

    /// Every event taken in with a time before this has been evaluated, and what it raised
    /// returned; events at or after it may still wait in the reorder buffer. A caller that
    /// acknowledges its source only for evaluated events (the cluster's detection feed) asks
    /// this after each call.
    pub fn evaluated_before(&self) -> Timestamp {
        Timestamp::from_micros(self.released_through)
    }

    /// Counters for monitoring.
    pub fn stats(&self) -> EngineStats {
        EngineStats {
            events: self.shared.events,
            late_events: self.shared.late_events,
            buffered: self.buffer.len(),
            state_entries: self.shared.budget.used,
            state_refusals: self.shared.refusals,
        }
    }

    /// Takes one event (`seq` is its audit sequence number) and returns what it, and the events
    /// the watermark released with it, did to the alerts. The event is copied into the reorder
    /// buffer; [`Engine::process_owned`] avoids the copy.
    pub fn process(
        &mut self,
        seq: u64,
        event: &SecurityEvent,
        lookup: &dyn StateLookup,
    ) -> Vec<AlertUpdate> {
        self.process_owned(seq, event.clone(), lookup)
    }

    /// [`Engine::process`] for an event the caller no longer needs.
    pub fn process_owned(
        &mut self,
        seq: u64,
        event: SecurityEvent,
        lookup: &dyn StateLookup,
    ) -> Vec<AlertUpdate> {
        self.process_boxed(seq, Box::new(event), lookup)
    }

    /// [`Engine::process_owned`] for an event already boxed: a replay's, whose boxes go back
    /// to its reader through [`Engine::take_spent`].
    pub fn process_boxed(
        &mut self,
        seq: u64,
        event: Box<SecurityEvent>,
        lookup: &dyn StateLookup,
    ) -> Vec<AlertUpdate> {
        let mut out = Vec::new();
        self.shared.events += 1;
        let time = event.time.as_micros();
        if time < self.released_through {
            self.shared.late_events += 1;
            let effective = time.max(self.shared.last_time);
            self.evaluate(seq, &event, effective, lookup, &mut out);
            self.spend(event);
            return out;
        }
        let pending = Pending { time, seq, event };
        let in_order = self
            .buffer
            .back()
            .is_none_or(|last| (last.time, last.seq) <= (time, seq));
        if in_order {
            self.buffer.push_back(pending);
        } else {
            let position = self
                .buffer
                .partition_point(|other| (other.time, other.seq) <= (time, seq));
            self.buffer.insert(position, pending);
        }
        self.max_time = self.max_time.max(time);
        self.release(
            self.max_time.saturating_sub(self.lateness),
            lookup,
            &mut out,
        );
        out
    }

    /// Tells the engine that event time has reached `now` even if no event says so (a quiet
    /// stream): buffered events older than `now − allowed_lateness` are evaluated. A live
    /// server calls this on a timer with its clock so alerts never wait for the next event.
    pub fn advance_watermark(
        &mut self,
        now: Timestamp,
        lookup: &dyn StateLookup,
    ) -> Vec<AlertUpdate> {
        let mut out = Vec::new();
        self.max_time = self.max_time.max(now.as_micros());
        self.release(
            self.max_time.saturating_sub(self.lateness),
            lookup,
            &mut out,
        );
        out
    }

    /// Evaluates every buffered event (end of a replay, shutdown). Events arriving afterwards
    /// with a time before the last evaluated one count as late.
    pub fn flush(&mut self, lookup: &dyn StateLookup) -> Vec<AlertUpdate> {
        let mut out = Vec::new();
        self.release(i64::MAX, lookup, &mut out);
        self.released_through = self.shared.last_time.saturating_add(1);
        out
    }

    /// Runs `events` through the engine, flushes it, and returns the alerts raised, folded
    /// with their growth: what `haechi detect replay` prints.
    pub fn replay<I>(&mut self, events: I, lookup: &dyn StateLookup) -> Vec<Alert>
    where
        I: IntoIterator<Item = (u64, SecurityEvent)>,
    {
        let mut book = AlertBook::new();
        for (seq, event) in events {
            for update in self.process_owned(seq, event, lookup) {
                book.apply(update);
            }
        }
        for update in self.flush(lookup) {
            book.apply(update);
        }
        book.into_alerts()
    }

    fn release(&mut self, watermark: i64, lookup: &dyn StateLookup, out: &mut Vec<AlertUpdate>) {
        while self
            .buffer
            .front()
            .is_some_and(|first| first.time < watermark)
        {
            let Some(pending) = self.buffer.pop_front() else {
                break;
            };
            self.evaluate(pending.seq, &pending.event, pending.time, lookup, out);
            self.spend(pending.event);
        }
        self.released_through = self.released_through.max(watermark);
    }

    fn evaluate(
        &mut self,
        seq: u64,
        event: &SecurityEvent,
        time: i64,
        lookup: &dyn StateLookup,
        out: &mut Vec<AlertUpdate>,
    ) {
        let shared = &mut self.shared;
        shared.evaluated += 1;
        self.selections.next_event();
        shared.last_time = shared.last_time.max(time);
        let time = shared.last_time.max(time);
        shared.first_time.get_or_insert(time);
        let view = EventView {
            seq,
            time,
            event,
            lookup,
        };
        let indices = match self
            .routes
            .binary_search_by_key(&event.kind, |(kind, _)| *kind)
        {
            Ok(position) => &self.routes[position].1,
            Err(_) => &self.any_kind,
        };
        for &index in indices {
            let state = &mut self.states[index];
            let window = state.window;
            let windows = Windows {
                window: &mut self.windows[window],
                count: &mut self.counts[window],
            };
            let before = shared.budget.used;
            let selections = self.selections.for_rule(index);
            evaluate_rule(
                &self.rules[index],
                state,
                windows,
                shared,
                &view,
                selections,
                out,
            );
            // Every entry a rule takes or releases is its window's (see `held`).
            self.held[window] = (self.held[window] + shared.budget.used).saturating_sub(before);
        }
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("rules", &self.rules.len())
            .field("windows", &self.windows.len())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// Runs `rules` within `limits` over `events` and returns the alerts: [`Engine::replay`] for a
/// one-off hunt.
pub fn replay<I>(
    rules: Vec<Rule>,
    limits: Limits,
    events: I,
    lookup: &dyn StateLookup,
) -> Result<Vec<Alert>, Error>
where
    I: IntoIterator<Item = (u64, SecurityEvent)>,
{
    Ok(Engine::new(rules, limits)?.replay(events, lookup))
}

/// Refuses rule sets in which two rules share an id (or one takes the engine's own).
fn check_ids(rules: &[Rule]) -> Result<(), Error> {
    let mut ids = BTreeSet::new();
    for rule in rules {
        if rule.id == STATE_CAP_RULE_ID || !ids.insert(rule.id.as_str()) {
            return Err(Error::DuplicateRuleId(rule.id.clone()));
        }
    }
    Ok(())
}

/// Which rules see which events: for every event kind, the rules (by index, in load order)
/// that can care about it; and the rules that care about any kind.
fn routes(rules: &[Rule]) -> (Vec<(EventKind, Vec<usize>)>, Vec<usize>) {
    let mut routes = Vec::new();
    for kind in EventKind::ALL {
        let indices: Vec<usize> = rules
            .iter()
            .enumerate()
            .filter(|(_, rule)| rule.kinds.as_ref().is_none_or(|kinds| kinds.contains(kind)))
            .map(|(index, _)| index)
            .collect();
        routes.push((*kind, indices));
    }
    routes.sort_by_key(|(kind, _)| *kind);
    let any_kind = rules
        .iter()
        .enumerate()
        .filter(|(_, rule)| rule.kinds.is_none())
        .map(|(index, _)| index)
        .collect();
    (routes, any_kind)
}
