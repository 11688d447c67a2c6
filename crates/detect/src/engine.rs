//! The streaming engine: orders events by event time within a watermark, evaluates every rule
//! over exact sliding windows, and turns matches into growing alerts and response actions.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Duration;

use haechi_events::{EventKind, Principal, SecurityEvent, Timestamp};
use ipnet::IpNet;

use crate::alert::{
    ActionKind, Alert, AlertBook, AlertGrowth, AlertId, AlertUpdate, Disposition, MAX_EVIDENCE,
    ResponseAction,
};
use crate::error::Error;
use crate::fields::{EventView, display, encode, encode_or_absent, render};
use crate::lookup::{KeyStateView, StateLookup};
use crate::rule::{
    ActionSpec, DEFAULT_COOLDOWN, LearningScope, Logic, Probation, Rule, Severity, micros,
};
use crate::state::{Budget, ExpiringMap, NIL};

/// The rule id of the engine's own alert when its state reaches the cap.
pub const STATE_CAP_RULE_ID: &str = "engine.state_cap";

/// How many distinct action targets one alert remembers, so that a growing alert does not
/// repeat an action; past this, repeats are still suppressed by the state lookups.
const MAX_REMEMBERED_TARGETS: usize = 1024;

/// The window over which a rule's `max_actions` cap counts.
const ACTION_CAP_WINDOW: i64 = 24 * 3600 * 1_000_000;

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
    event: SecurityEvent,
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
    routes: Vec<(EventKind, Vec<usize>)>,
    any_kind: Vec<usize>,
    lateness: i64,
    buffer: VecDeque<Pending>,
    max_time: i64,
    released_through: i64,
    shared: Shared,
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

#[derive(Default)]
struct OpenAlert {
    id: AlertId,
    count: u64,
    targets: BTreeSet<ActionKind>,
    cap_reported: bool,
}

#[derive(Default)]
enum Window {
    #[default]
    None,
    Events(ExpiringMap<EventGroup>),
    Values(DistinctWindow),
    Temporal(ExpiringMap<TemporalGroup>),
    Seen(ExpiringMap<()>),
    FirstSeen {
        pairs: ExpiringMap<()>,
        groups: ExpiringMap<i64>,
    },
    Baseline {
        counts: Box<Window>,
        baselines: HashMap<Box<[u8]>, u64>,
    },
}

#[derive(Default)]
struct EventGroup {
    times: VecDeque<(i64, u64)>,
}

/// The most timespans one distinct-value window serves (rules counting the same values over,
/// say, ten minutes and a day share one window).
const MAX_SPANS: usize = 3;

/// Distinct values per group, over up to [`MAX_SPANS`] timespans at once.
struct DistinctWindow {
    groups: ExpiringMap<ValueGroup>,
    /// Timespans, longest first: the window holds values for the longest; shorter ones are
    /// counted with a cursor per group.
    spans: Vec<i64>,
}

impl DistinctWindow {
    fn new(spans: Vec<i64>) -> Self {
        DistinctWindow {
            groups: ExpiringMap::default(),
            spans,
        }
    }
}

#[derive(Default)]
struct ValueGroup {
    /// Values by last time seen, with the sequence number that last showed each.
    values: ExpiringMap<u64>,
    /// For each shorter span, the oldest value inside it and how many values are.
    cursors: [Cursor; MAX_SPANS - 1],
}

#[derive(Clone, Copy)]
struct Cursor {
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
struct Distinct {
    counts: [u64; MAX_SPANS],
    refused: bool,
}

#[derive(Default)]
struct TemporalGroup {
    partial: Vec<Option<Chain>>,
    completions: VecDeque<(i64, u64)>,
}

#[derive(Clone)]
struct Chain {
    start: i64,
    seqs: Vec<u64>,
}

/// A window's answer for one event.
#[derive(Clone, Copy)]
struct Counted {
    count: u64,
    /// The event did not fit under the state cap (it was counted, not stored).
    refused: bool,
}

fn len64(length: usize) -> u64 {
    u64::try_from(length).unwrap_or(u64::MAX)
}

impl Engine {
    /// An engine over `rules` within `limits`. Fails if two rules share an id.
    pub fn new(rules: Vec<Rule>, limits: Limits) -> Result<Engine, Error> {
        let mut ids = BTreeSet::new();
        for rule in &rules {
            if rule.id == STATE_CAP_RULE_ID || !ids.insert(rule.id.as_str()) {
                return Err(Error::DuplicateRuleId(rule.id.clone()));
            }
        }
        // Distinct-value rules with the same events, groups and field share a window with up
        // to MAX_SPANS timespans; every other rule has its own.
        let mut plans: Vec<(String, Vec<i64>)> = Vec::new();
        let mut placement: Vec<Option<usize>> = Vec::new();
        for rule in &rules {
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
        let states = rules
            .iter()
            .zip(&placement)
            .map(|(rule, plan)| match plan {
                Some(plan) => {
                    let span = window_signature(rule)
                        .and_then(|(_, span)| {
                            plans[*plan].1.iter().position(|&known| known == span)
                        })
                        .unwrap_or(0);
                    RuleState {
                        window: *plan,
                        span,
                        ..RuleState::default()
                    }
                }
                None => {
                    windows.push(Window::for_logic(&rule.logic));
                    RuleState {
                        window: windows.len() - 1,
                        ..RuleState::default()
                    }
                }
            })
            .collect();
        let counts = vec![None; windows.len()];
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
        Ok(Engine {
            rules,
            states,
            windows,
            counts,
            routes,
            any_kind,
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
        })
    }

    /// The rules, in evaluation order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The longest history any rule needs (see [`Rule::history_needed`]).
    pub fn history_needed(&self) -> Duration {
        self.rules
            .iter()
            .map(Rule::history_needed)
            .max()
            .unwrap_or_default()
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
        let mut out = Vec::new();
        self.shared.events += 1;
        let time = event.time.as_micros();
        if time < self.released_through {
            self.shared.late_events += 1;
            let effective = time.max(self.shared.last_time);
            self.evaluate(seq, &event, effective, lookup, &mut out);
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
            evaluate_rule(&self.rules[index], state, windows, shared, &view, out);
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
            Logic::FirstSeen { .. } => Window::FirstSeen {
                pairs: ExpiringMap::default(),
                groups: ExpiringMap::default(),
            },
            Logic::VolumeBaseline {
                field, timespan, ..
            } => Window::Baseline {
                counts: Box::new(match field {
                    None => Window::Events(ExpiringMap::default()),
                    Some(_) => Window::Values(DistinctWindow::new(vec![*timespan])),
                }),
                baselines: HashMap::new(),
            },
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

/// Evidence for a new alert: the first sequence numbers and how many events there were.
type Evidence = (Vec<u64>, u64);

/// A match: the window's count, and the evidence if the match raises a new alert.
type Match = (u64, Option<Evidence>);

/// A rule's window and the count it last gave.
struct Windows<'a> {
    window: &'a mut Window,
    count: &'a mut Option<(u64, Distinct)>,
}

/// Encodes the rule's group key into `shared.key`; `false` if a group field is missing (the
/// event then belongs to no group of a correlation).
fn group_key(rule: &Rule, view: &EventView<'_>, key: &mut Vec<u8>) -> bool {
    key.clear();
    rule.group_by.iter().all(|field| encode(view, field, key))
}

fn room_for_group(rule: &Rule, groups: usize) -> bool {
    rule.max_groups.is_none_or(|max| len64(groups) < max)
}

fn evaluate_rule(
    rule: &Rule,
    state: &mut RuleState,
    windows: Windows<'_>,
    shared: &mut Shared,
    view: &EventView<'_>,
    out: &mut Vec<AlertUpdate>,
) {
    let detection = &rule.detection;
    let subject = rule
        .condition
        .as_ref()
        .is_some_and(|condition| detection.holds(condition, view));
    let time = view.time;
    let mut key = std::mem::take(&mut shared.key);
    let mut refused = false;
    let mut found: Option<Match> = None;

    let Windows {
        window,
        count: cached,
    } = windows;
    match (&rule.logic, window) {
        (Logic::Single, _) if subject => {
            key.clear();
            for field in &rule.group_by {
                encode_or_absent(view, field, &mut key);
            }
            found = Some((1, None));
        }
        (
            Logic::EventCount {
                timespan,
                threshold,
            },
            Window::Events(groups),
        ) if subject && group_key(rule, view, &mut key) => {
            let counted = count_events(rule, groups, &key, view, *timespan, &mut shared.budget);
            refused = counted.refused;
            if counted.count >= *threshold {
                let evidence = (!alerts_open(&mut state.alerts, &key, time, rule.cooldown))
                    .then(|| event_evidence(groups, &key, view.seq, &counted));
                found = Some((counted.count, evidence));
            }
        }
        (
            logic @ (Logic::ValueCount { field, .. } | Logic::Share { field, .. }),
            Window::Values(window),
        ) => {
            shared.value.clear();
            if subject && group_key(rule, view, &mut key) && encode(view, field, &mut shared.value)
            {
                // Rules sharing the window evaluate the same events in the same event: the
                // first one counts, the others read its answer.
                let distinct = match *cached {
                    Some((evaluation, distinct)) if evaluation == shared.evaluated => Distinct {
                        refused: false,
                        ..distinct
                    },
                    _ => {
                        let distinct = count_values(
                            rule,
                            window,
                            &key,
                            &shared.value,
                            view,
                            &mut shared.budget,
                        );
                        *cached = Some((shared.evaluated, distinct));
                        distinct
                    }
                };
                refused = distinct.refused;
                let counted = Counted {
                    count: distinct.counts[state.span],
                    refused: distinct.refused,
                };
                let reached = match logic {
                    Logic::Share {
                        fraction,
                        min_distinct,
                        ..
                    } => {
                        let population = view.lookup.customer_count();
                        #[allow(
                            clippy::cast_precision_loss,
                            reason = "populations are far below 2^53"
                        )]
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
                            let (young, refused_age) =
                                on_probation(rule, &mut state.ages, &key, time, &probation, shared);
                            refused |= refused_age;
                            young
                        });
                        on_probation && counted.count >= *threshold
                    }
                    _ => false,
                };
                if reached {
                    let evidence = (!alerts_open(&mut state.alerts, &key, time, rule.cooldown))
                        .then(|| value_evidence(window, state.span, &key, view.seq, &counted));
                    found = Some((counted.count, evidence));
                }
            }
        }
        (
            Logic::TemporalOrdered {
                timespan,
                steps,
                threshold,
            },
            Window::Temporal(groups),
        ) => {
            let matched: Vec<bool> = steps
                .iter()
                .map(|step| detection.holds(step, view))
                .collect();
            if matched.contains(&true) && group_key(rule, view, &mut key) {
                let outcome = temporal(
                    rule,
                    groups,
                    &key,
                    &matched,
                    view,
                    *timespan,
                    &mut shared.budget,
                );
                refused = outcome.refused;
                if let Some((count, evidence)) = outcome.completed
                    && count >= *threshold
                {
                    let evidence = (!alerts_open(&mut state.alerts, &key, time, rule.cooldown))
                        .then_some((evidence, count));
                    found = Some((count, evidence));
                }
            }
        }
        (Logic::Absence { lookback, expect }, Window::Seen(seen)) => {
            let expected = detection.holds(expect, view);
            if (expected || subject) && group_key(rule, view, &mut key) {
                let budget = &mut shared.budget;
                seen.expire(time - lookback, |_, ()| budget.release(1));
                if expected {
                    let room = room_for_group(rule, seen.len());
                    refused = seen.touch(&key, time, || room && budget.take(1)).is_none();
                }
                let warm = shared
                    .first_time
                    .is_some_and(|first| first.saturating_add(*lookback) <= time);
                if subject && !expected && warm && !seen.contains(&key) {
                    found = Some((1, None));
                }
            }
        }
        (
            Logic::FirstSeen {
                field,
                retention,
                learning,
                scope,
            },
            Window::FirstSeen { pairs, groups },
        ) => {
            shared.value.clear();
            if subject && group_key(rule, view, &mut key) && encode(view, field, &mut shared.value)
            {
                let budget = &mut shared.budget;
                let cutoff = time - retention;
                pairs.expire(cutoff, |_, ()| budget.release(1));
                groups.expire(cutoff, |_, _| budget.release(1));
                let learned = match scope {
                    LearningScope::Engine => shared
                        .first_time
                        .is_some_and(|first| first.saturating_add(*learning) <= time),
                    LearningScope::Group => {
                        let room = room_for_group(rule, groups.len());
                        match groups.touch(&key, time, || room && budget.take(1)) {
                            Some((first, inserted)) => {
                                if inserted {
                                    *first = time;
                                }
                                first.saturating_add(*learning) <= time
                            }
                            None => {
                                refused = true;
                                false
                            }
                        }
                    }
                };
                let pair = &mut shared.pair;
                pair.clear();
                pair.extend_from_slice(&key);
                pair.extend_from_slice(&shared.value);
                let new = match pairs.touch(pair, time, || budget.take(1)) {
                    Some((_, inserted)) => inserted,
                    None => {
                        refused = true;
                        true
                    }
                };
                if new && learned {
                    found = Some((1, None));
                }
            }
        }
        (
            Logic::VolumeBaseline {
                field,
                timespan,
                learning,
                ratio,
                min,
            },
            Window::Baseline { counts, baselines },
        ) => {
            shared.value.clear();
            let has_value = field
                .as_ref()
                .is_none_or(|field| encode(view, field, &mut shared.value));
            if subject && has_value && group_key(rule, view, &mut key) {
                let counted = match counts.as_mut() {
                    Window::Values(window) => {
                        let distinct = count_values(
                            rule,
                            window,
                            &key,
                            &shared.value,
                            view,
                            &mut shared.budget,
                        );
                        Counted {
                            count: distinct.counts[0],
                            refused: distinct.refused,
                        }
                    }
                    Window::Events(groups) => {
                        count_events(rule, groups, &key, view, *timespan, &mut shared.budget)
                    }
                    _ => Counted {
                        count: 0,
                        refused: false,
                    },
                };
                refused = counted.refused;
                let learned = shared
                    .first_time
                    .is_some_and(|first| first.saturating_add(*learning) <= time);
                let baseline = baselines.get(key.as_slice()).copied().unwrap_or(0);
                #[allow(
                    clippy::cast_precision_loss,
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "window counts are far below 2^53; the product is clamped"
                )]
                let threshold = ((*ratio * baseline as f64).ceil() as u64).max(*min);
                if learned && counted.count >= threshold {
                    let evidence = (!alerts_open(&mut state.alerts, &key, time, rule.cooldown))
                        .then(|| match counts.as_ref() {
                            Window::Values(window) => {
                                value_evidence(window, 0, &key, view.seq, &counted)
                            }
                            Window::Events(groups) => {
                                event_evidence(groups, &key, view.seq, &counted)
                            }
                            _ => (vec![view.seq], counted.count),
                        });
                    found = Some((counted.count, evidence));
                } else if !learned && counted.count > baseline {
                    // The baseline is the largest window of the learning period, then frozen:
                    // letting later windows raise it would let a slow ramp teach it the attack.
                    match baselines.get_mut(key.as_slice()) {
                        Some(known) => *known = counted.count,
                        None => {
                            if shared.budget.take(1) {
                                baselines.insert(key.as_slice().into(), counted.count);
                            } else {
                                refused = true;
                            }
                        }
                    }
                }
            }
        }
        _ => {}
    }

    if let Some((window_count, evidence)) = found {
        record_match(rule, state, view, &key, window_count, evidence, out);
    }
    if refused {
        record_refusal(rule, shared, view, out);
    }
    shared.key = key;
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
    shared: &mut Shared,
) -> (bool, bool) {
    let budget = &mut shared.budget;
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

/// Whether an alert for `key` is open at `time`: matched within the cooldown.
fn alerts_open(alerts: &mut ExpiringMap<OpenAlert>, key: &[u8], time: i64, cooldown: i64) -> bool {
    alerts.expire(time - cooldown, |_, _| {});
    alerts.contains(key)
}

fn count_events(
    rule: &Rule,
    groups: &mut ExpiringMap<EventGroup>,
    key: &[u8],
    view: &EventView<'_>,
    timespan: i64,
    budget: &mut Budget,
) -> Counted {
    let cutoff = view.time - timespan;
    groups.expire(cutoff, |_, group| {
        budget.release(1 + len64(group.times.len()));
    });
    let room = room_for_group(rule, groups.len());
    let Some((group, _)) = groups.touch(key, view.time, || room && budget.take(1)) else {
        return Counted {
            count: 1,
            refused: true,
        };
    };
    while group.times.front().is_some_and(|&(time, _)| time < cutoff) {
        group.times.pop_front();
        budget.release(1);
    }
    if budget.take(1) {
        group.times.push_back((view.time, view.seq));
        Counted {
            count: len64(group.times.len()),
            refused: false,
        }
    } else {
        Counted {
            count: len64(group.times.len()) + 1,
            refused: true,
        }
    }
}

fn event_evidence(
    groups: &ExpiringMap<EventGroup>,
    key: &[u8],
    seq: u64,
    counted: &Counted,
) -> (Vec<u64>, u64) {
    let mut seqs: Vec<u64> = groups
        .get(key)
        .map(|(group, _)| {
            group
                .times
                .iter()
                .take(MAX_EVIDENCE)
                .map(|&(_, seq)| seq)
                .collect()
        })
        .unwrap_or_default();
    if counted.refused && seqs.len() < MAX_EVIDENCE {
        seqs.push(seq);
    }
    (seqs, counted.count)
}

/// Adds the event's value to its group of a distinct-value window and counts the group's
/// distinct values over each of the window's timespans.
fn count_values(
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

fn value_evidence(
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

struct TemporalOutcome {
    /// Completed sequences in the window and the evidence, when this event completed one.
    completed: Option<(u64, Vec<u64>)>,
    refused: bool,
}

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

/// Raises a new alert or grows the open one for `key`, deciding response actions.
fn record_match(
    rule: &Rule,
    state: &mut RuleState,
    view: &EventView<'_>,
    key: &[u8],
    window_count: u64,
    evidence: Option<(Vec<u64>, u64)>,
    out: &mut Vec<AlertUpdate>,
) {
    let time = view.time;
    let RuleState {
        alerts,
        action_times,
        ..
    } = state;
    alerts.expire(time - rule.cooldown, |_, _| {});
    // Alerts are the engine's output, so their bookkeeping is never refused; it is bounded by
    // the cooldown and the number of groups, which the windows' state already caps.
    let Some((open, inserted)) = alerts.touch(key, time, || true) else {
        return;
    };
    if !inserted {
        open.count += 1;
        let actions = decide_actions(rule, action_times, open, view);
        out.push(AlertUpdate::Grew(AlertGrowth {
            id: open.id.clone(),
            seq: view.seq,
            time: view.event_time(),
            count: open.count,
            window_count,
            actions,
        }));
        return;
    }
    let (evidence_seqs, count) = evidence.unwrap_or_else(|| (vec![view.seq], 1));
    open.id = AlertId::new(&rule.id, view.seq);
    open.count = count.max(1);
    let actions = decide_actions(rule, action_times, open, view);
    let context = rule
        .context_fields
        .iter()
        .filter_map(|field| display(view, field).map(|value| (field.name().into_owned(), value)))
        .collect();
    out.push(AlertUpdate::Raised(Alert {
        id: open.id.clone(),
        rule_id: rule.id.clone(),
        title: rule.title.clone(),
        severity: rule.severity,
        first_time: view.event_time(),
        last_time: view.event_time(),
        group_key: render(&rule.group_by, key),
        group_by: rule.group_by_names(),
        evidence_seqs,
        count: open.count,
        window_count,
        context,
        actions,
    }));
}

impl EventView<'_> {
    fn event_time(&self) -> Timestamp {
        Timestamp::from_micros(self.time)
    }
}

/// Raises or grows the `engine.state_cap` alert for `rule`.
fn record_refusal(
    rule: &Rule,
    shared: &mut Shared,
    view: &EventView<'_>,
    out: &mut Vec<AlertUpdate>,
) {
    shared.refusals += 1;
    let time = view.time;
    let alerts = &mut shared.cap_alerts;
    alerts.expire(time - micros(DEFAULT_COOLDOWN), |_, _| {});
    let Some((open, inserted)) = alerts.touch(rule.id.as_bytes(), time, || true) else {
        return;
    };
    if !inserted {
        open.count += 1;
        out.push(AlertUpdate::Grew(AlertGrowth {
            id: open.id.clone(),
            seq: view.seq,
            time: view.event_time(),
            count: open.count,
            window_count: shared.budget.used,
            actions: Vec::new(),
        }));
        return;
    }
    // One event can be refused by several rules: the id names the rule as well.
    open.id = AlertId::new(&format!("{STATE_CAP_RULE_ID}.{}", rule.id), view.seq);
    open.count = 1;
    out.push(AlertUpdate::Raised(Alert {
        id: open.id.clone(),
        rule_id: STATE_CAP_RULE_ID.to_string(),
        title: format!(
            "Detection state reached its cap ({} entries): rule {} cannot remember more",
            shared.budget.cap, rule.id
        ),
        severity: Severity::High,
        first_time: view.event_time(),
        last_time: view.event_time(),
        group_key: rule.id.clone(),
        group_by: Vec::new(),
        evidence_seqs: vec![view.seq],
        count: 1,
        window_count: shared.budget.used,
        context: std::collections::BTreeMap::new(),
        actions: Vec::new(),
    }));
}

/// The response actions for one match: each of the rule's actions with a target in the event,
/// not yet taken for this alert, not already in force per the state lookups, then judged
/// against the allowlist, the cap and dry-run.
fn decide_actions(
    rule: &Rule,
    action_times: &mut VecDeque<i64>,
    open: &mut OpenAlert,
    view: &EventView<'_>,
) -> Vec<ResponseAction> {
    let response = &rule.response;
    if response.actions.is_empty() {
        return Vec::new();
    }
    let event = view.event;
    let lookup = view.lookup;
    let mut decided = Vec::new();
    for spec in &response.actions {
        let kind = match spec {
            ActionSpec::RevokeSession => match &event.sid {
                Some(sid) if !lookup.is_session_revoked(sid) => {
                    ActionKind::RevokeSession { sid: sid.clone() }
                }
                _ => continue,
            },
            ActionSpec::RevokeKey => match &event.kid {
                Some(kid) if lookup.key_state(kid) != Some(KeyStateView::Revoked) => {
                    ActionKind::RevokeKey { kid: kid.clone() }
                }
                _ => continue,
            },
            ActionSpec::BlockNetwork {
                prefix_v4,
                prefix_v6,
                ttl,
            } => match event.ip {
                Some(ip) if !lookup.is_blocked(ip) => {
                    let prefix = if ip.is_ipv4() { *prefix_v4 } else { *prefix_v6 };
                    let Ok(network) = IpNet::new(ip, prefix) else {
                        continue;
                    };
                    ActionKind::BlockNetwork {
                        network: network.trunc(),
                        ttl: *ttl,
                    }
                }
                _ => continue,
            },
            ActionSpec::SuspendPrincipal => match &event.principal {
                Principal::Anonymous => continue,
                principal if lookup.is_suspended(principal) => continue,
                principal => ActionKind::SuspendPrincipal {
                    principal: principal.clone(),
                },
            },
        };
        if open.targets.contains(&kind) {
            continue;
        }
        let allowlisted = response.allow_principals.contains(&event.principal)
            || event.ip.is_some_and(|ip| response.allowlisted_ip(ip));
        let disposition = if allowlisted {
            Disposition::Allowlisted
        } else {
            while action_times
                .front()
                .is_some_and(|&time| time < view.time - ACTION_CAP_WINDOW)
            {
                action_times.pop_front();
            }
            if len64(action_times.len()) >= response.max_actions {
                if open.cap_reported {
                    continue;
                }
                open.cap_reported = true;
                Disposition::CapReached
            } else {
                action_times.push_back(view.time);
                if response.dry_run {
                    Disposition::DryRun
                } else {
                    Disposition::Enforce
                }
            }
        };
        if open.targets.len() < MAX_REMEMBERED_TARGETS {
            open.targets.insert(kind.clone());
        }
        decided.push(ResponseAction {
            alert_id: open.id.clone(),
            rule_id: rule.id.clone(),
            seq: view.seq,
            kind,
            disposition,
        });
    }
    decided
}
