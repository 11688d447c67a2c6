//! Changing the rules of a running engine: unchanged rules keep their windows, changed ones
//! start empty, dropped windows give their entries back, open alerts and action history keep
//! their ids, and nothing buffered is lost.

use haechi_detect::{AlertBook, Engine, Limits, Rule, builtin_rules};
use haechi_events::SecurityEvent;
use proptest::prelude::*;

use crate::util::*;

/// A value_count over reads per address: `threshold` distinct customers in ten minutes.
fn per_address(id: &str, threshold: u32) -> Rule {
    rule(&format!(
        "id: {id}
title: t
description: d
false_positives: f
severity: low
detection:
  read: {{kind: pii.read}}
  condition: read
correlation:
  type: value_count
  group-by: [ip]
  timespan: 10m
  condition: {{field: customer_id, gte: {threshold}}}
"
    ))
}

/// Failed logins per address: `threshold` events in ten minutes.
fn failures(threshold: u32) -> Rule {
    rule(&format!(
        "id: failures
title: t
description: d
false_positives: f
severity: low
detection:
  failed: {{kind: auth.login_failed}}
  condition: failed
correlation:
  type: event_count
  group-by: [ip]
  timespan: 10m
  condition: {{gte: {threshold}}}
"
    ))
}

fn reads(from: i64, customers: &[&str]) -> Vec<SecurityEvent> {
    customers
        .iter()
        .enumerate()
        .map(|(index, whose)| read(from + index as i64, customer("x"), whose, "203.0.113.9"))
        .collect()
}

/// Runs `events` through `engine` (numbering from `seq`) and returns the alert updates' rule
/// ids of new alerts.
fn feed(engine: &mut Engine, seq: &mut u64, events: Vec<SecurityEvent>) -> Vec<String> {
    let state = TestState::default();
    let mut raised = Vec::new();
    for event in events {
        *seq += 1;
        for update in engine.process_owned(*seq, event, &state) {
            if let haechi_detect::AlertUpdate::Raised(alert) = update {
                raised.push(alert.rule_id);
            }
        }
    }
    for update in engine.flush(&state) {
        if let haechi_detect::AlertUpdate::Raised(alert) = update {
            raised.push(alert.rule_id);
        }
    }
    raised
}

#[test]
fn an_unchanged_rule_keeps_its_window_and_a_changed_one_starts_empty() {
    let mut engine = Engine::new(
        vec![per_address("kept", 3), per_address("edited", 3)],
        Limits::default(),
    )
    .unwrap();
    let mut seq = 0;
    assert!(feed(&mut engine, &mut seq, reads(0, &["c1", "c2"])).is_empty());

    // "edited" needs two customers now (a different rule under the same id); "failures" is
    // new.
    let edited = per_address("edited", 2);
    let swap = engine
        .replace_rules(vec![per_address("kept", 3), edited, failures(5)])
        .unwrap();
    assert_eq!(swap.unchanged, ["kept"]);
    assert_eq!(swap.changed, ["edited"]);
    assert_eq!(swap.added, ["failures"]);
    assert!(swap.removed.is_empty());
    // "kept" and "edited" shared one window (same reads, groups and field); "edited" changed,
    // so that window starts over, and says so.
    assert_eq!(swap.windows_restarted, ["kept"]);
    assert!(swap.released_entries > 0);

    // The third customer: "kept" starts over (1 of 3), "edited" needs two (1 of 2).
    assert!(feed(&mut engine, &mut seq, reads(10, &["c3"])).is_empty());
    assert_eq!(feed(&mut engine, &mut seq, reads(20, &["c4"])), ["edited"]);
}

#[test]
fn a_window_nobody_else_shares_survives_the_change() {
    let mut engine = Engine::new(
        vec![per_address("kept", 3), failures(50)],
        Limits::default(),
    )
    .unwrap();
    let mut seq = 0;
    assert!(feed(&mut engine, &mut seq, reads(0, &["c1", "c2"])).is_empty());
    let swap = engine.replace_rules(vec![per_address("kept", 3)]).unwrap();
    assert_eq!(swap.unchanged, ["kept"]);
    assert_eq!(swap.removed, ["failures"]);
    assert!(swap.windows_restarted.is_empty());
    // The window remembered c1 and c2: c3 completes it.
    assert_eq!(feed(&mut engine, &mut seq, reads(10, &["c3"])), ["kept"]);
}

#[test]
fn dropped_windows_give_their_entries_back() {
    let events = || {
        let mut events = reads(0, &["c1", "c2", "c3", "c4"]);
        events.extend((0..20).map(|second| login_failed(100 + second, "198.51.100.7", None)));
        events
    };
    let mut both = Engine::new(
        vec![per_address("kept", 100), failures(50)],
        Limits::default(),
    )
    .unwrap();
    let mut alone = Engine::new(vec![per_address("kept", 100)], Limits::default()).unwrap();
    let (mut seq_both, mut seq_alone) = (0, 0);
    feed(&mut both, &mut seq_both, events());
    feed(&mut alone, &mut seq_alone, events());
    assert!(both.stats().state_entries > alone.stats().state_entries);
    let swap = both.replace_rules(vec![per_address("kept", 100)]).unwrap();
    assert_eq!(
        swap.released_entries, 21,
        "one group and twenty failure times"
    );
    assert_eq!(both.stats().state_entries, alone.stats().state_entries);
}

#[test]
fn an_edited_rule_keeps_its_open_alert() {
    let mut engine = Engine::new(vec![failures(2)], Limits::default()).unwrap();
    let mut seq = 0;
    let state = TestState::default();
    let fail = |second| login_failed(second, "198.51.100.7", None);
    assert_eq!(
        feed(&mut engine, &mut seq, vec![fail(0), fail(1)]),
        ["failures"]
    );
    engine.replace_rules(vec![failures(1)]).unwrap();
    // Within the cooldown, the next match grows the open alert instead of raising another.
    seq += 1;
    let updates = engine.process_owned(seq, fail(2), &state);
    let updates: Vec<_> = updates.into_iter().chain(engine.flush(&state)).collect();
    assert!(
        matches!(updates.as_slice(), [haechi_detect::AlertUpdate::Grew(_)]),
        "{updates:?}"
    );
}

#[test]
fn events_waiting_in_the_reorder_buffer_meet_the_new_rules() {
    let mut engine = Engine::new(Vec::new(), Limits::default()).unwrap();
    let state = TestState::default();
    let mut book = AlertBook::new();
    for (seq, event) in (1..).zip(reads(0, &["c1", "c2", "c3"])) {
        for update in engine.process_owned(seq, event, &state) {
            book.apply(update);
        }
    }
    // The last events wait for the watermark; the rule arrives before they are evaluated.
    assert!(engine.stats().buffered > 0);
    engine.replace_rules(vec![per_address("late", 1)]).unwrap();
    for update in engine.flush(&state) {
        book.apply(update);
    }
    assert_eq!(engine.stats().events, 3);
    assert!(!book.into_alerts().is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Replacing the rules with the same rules, at any point, changes nothing: the same alerts
    /// and the same state as an engine that was never touched.
    #[test]
    fn replacing_rules_with_themselves_changes_nothing(
        seconds in proptest::collection::vec((0u16..3000, 0u8..4, 0u8..12, any::<bool>()), 1..120),
        cut in 0usize..120,
    ) {
        let mut specs = seconds;
        specs.sort_by_key(|spec| spec.0);
        let events: Vec<SecurityEvent> = specs
            .iter()
            .map(|&(second, address, whose, failed)| {
                if failed {
                    login_failed(i64::from(second), &format!("192.0.2.{address}"), None)
                } else {
                    read(i64::from(second), customer("x"), &format!("c{whose}"), &format!("192.0.2.{address}"))
                }
            })
            .collect();
        let rules = builtin_rules().rules;
        let state = TestState::default();
        let run = |swap_at: Option<usize>| {
            let mut engine = Engine::new(rules.clone(), Limits::default()).unwrap();
            let mut book = AlertBook::new();
            for (index, event) in events.iter().enumerate() {
                if Some(index) == swap_at {
                    let swap = engine.replace_rules(rules.clone()).unwrap();
                    assert_eq!(swap.unchanged.len(), rules.len());
                    assert_eq!(swap.released_entries, 0);
                }
                for update in engine.process(index as u64 + 1, event, &state) {
                    book.apply(update);
                }
            }
            for update in engine.flush(&state) {
                book.apply(update);
            }
            (format!("{:?}", book.into_alerts()), engine.stats())
        };
        prop_assert_eq!(run(None), run(Some(cut.min(events.len()))));
    }
}
