//! Property tests: windowed counts against a brute-force reference, and determinism under any
//! arrival order the watermark tolerates.

use std::collections::BTreeSet;
use std::time::Duration;

use haechi_detect::{AlertUpdate, Engine, Limits, NoState, builtin_rules};
use haechi_events::{EventKind, SecurityEvent, Timestamp};
use proptest::prelude::*;

use crate::util::*;

/// One generated event: (second, address index, customer index, is a read).
type Spec = (u16, u8, u8, bool);

fn build(specs: &[Spec]) -> Vec<SecurityEvent> {
    let mut specs = specs.to_vec();
    specs.sort_by_key(|spec| spec.0);
    specs
        .iter()
        .map(|&(second, address, customer_index, is_read)| {
            let kind = if is_read {
                EventKind::PiiRead
            } else {
                EventKind::PiiWrite
            };
            event(i64::from(second), kind, customer("x"))
                .ip(ip(&format!("192.0.2.{address}")))
                .customer(format!("c{customer_index}"))
        })
        .collect()
}

fn correlation_rule(kind: &str, span: u16, threshold: u8) -> String {
    correlation_rule_named("p.rule", kind, span, threshold)
}

fn correlation_rule_named(id: &str, kind: &str, span: u16, threshold: u8) -> String {
    let field = if kind == "value_count" {
        "\n  field: customer_id"
    } else {
        ""
    };
    format!(
        "id: {id}
title: p
description: d
false_positives: f
severity: low
cooldown: 1s
detection:
  read: {{kind: pii.read}}
  condition: read
correlation:
  type: {kind}
  group-by: [ip]
  timespan: {span}s{field}
  condition: {{gte: {threshold}}}
"
    )
}

/// (seq, window count) of every event at which the rule matched, from the engine.
fn engine_matches(rule_text: &str, events: &[SecurityEvent]) -> BTreeSet<(u64, u64)> {
    engine_matches_of(&[rule_text], events)
        .into_iter()
        .map(|(_, seq, count)| (seq, count))
        .collect()
}

/// (rule id, seq, window count) of every match of any of the rules, run in one engine.
fn engine_matches_of(
    rule_texts: &[&str],
    events: &[SecurityEvent],
) -> BTreeSet<(String, u64, u64)> {
    let limits = Limits {
        allowed_lateness: Duration::ZERO,
        ..Limits::default()
    };
    let rules = rule_texts.iter().map(|text| rule(text)).collect();
    let mut engine = Engine::new(rules, limits).unwrap();
    let mut updates = Vec::new();
    for (seq, event) in numbered(events.to_vec()) {
        updates.extend(engine.process_owned(seq, event, &NoState));
    }
    updates.extend(engine.flush(&NoState));
    updates
        .into_iter()
        .map(|update| match update {
            AlertUpdate::Raised(alert) => {
                let (_, seq) = alert.id.as_str().rsplit_once('/').unwrap();
                (
                    alert.rule_id.clone(),
                    seq.parse().unwrap(),
                    alert.window_count,
                )
            }
            AlertUpdate::Grew(growth) => {
                let (rule_id, _) = growth.id.as_str().rsplit_once('/').unwrap();
                (rule_id.to_string(), growth.seq, growth.window_count)
            }
        })
        .collect()
}

/// The same, by brute force: for each read, look at every earlier read of its address with a
/// time in [t − span, t].
fn reference_matches(
    kind: &str,
    span: u16,
    threshold: u8,
    events: &[SecurityEvent],
) -> BTreeSet<(u64, u64)> {
    let span = i64::from(span) * 1_000_000;
    let mut matches = BTreeSet::new();
    for (index, event) in events.iter().enumerate() {
        if event.kind != EventKind::PiiRead {
            continue;
        }
        let time = event.time.as_micros();
        let window = events[..=index].iter().filter(|other| {
            other.kind == EventKind::PiiRead
                && other.ip == event.ip
                && other.time.as_micros() >= time - span
        });
        let count = if kind == "value_count" {
            window
                .map(|other| other.customer_id.clone())
                .collect::<BTreeSet<_>>()
                .len()
        } else {
            window.count()
        } as u64;
        if count >= u64::from(threshold) {
            matches.insert((index as u64 + 1, count));
        }
    }
    matches
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn event_count_matches_brute_force(
        specs in prop::collection::vec((0u16..400, 0u8..3, 0u8..8, any::<bool>()), 0..150),
        span in 1u16..120,
        threshold in 1u8..8,
    ) {
        let events = build(&specs);
        let text = correlation_rule("event_count", span, threshold);
        prop_assert_eq!(
            engine_matches(&text, &events),
            reference_matches("event_count", span, threshold, &events)
        );
    }

    #[test]
    fn value_count_matches_brute_force(
        specs in prop::collection::vec((0u16..400, 0u8..3, 0u8..8, any::<bool>()), 0..150),
        span in 1u16..120,
        threshold in 1u8..6,
    ) {
        let events = build(&specs);
        let text = correlation_rule("value_count", span, threshold);
        prop_assert_eq!(
            engine_matches(&text, &events),
            reference_matches("value_count", span, threshold, &events)
        );
    }

    #[test]
    fn value_counts_sharing_one_window_over_several_spans_match_brute_force(
        specs in prop::collection::vec((0u16..400, 0u8..3, 0u8..10, any::<bool>()), 0..200),
        spans in prop::collection::vec(1u16..150, 4),
        thresholds in prop::collection::vec(1u8..6, 4),
    ) {
        // Four rules over the same reads, groups and field: one window with three spans (and
        // a fourth rule in a second window when all four spans differ).
        let events = build(&specs);
        let texts: Vec<String> = (0..4)
            .map(|index| {
                correlation_rule_named(&format!("p.rule{index}"), "value_count", spans[index], thresholds[index])
            })
            .collect();
        let text_refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let mut expected = BTreeSet::new();
        for index in 0..4 {
            for (seq, count) in reference_matches("value_count", spans[index], thresholds[index], &events) {
                expected.insert((format!("p.rule{index}"), seq, count));
            }
        }
        prop_assert_eq!(engine_matches_of(&text_refs, &events), expected);
    }

    #[test]
    fn mangled_rule_files_never_panic_and_always_say_where(
        file in 0usize..haechi_detect::BUILTIN_FILES.len(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        // The built-in files with a few bytes overwritten (kept valid UTF-8).
        let (name, text) = haechi_detect::BUILTIN_FILES[file];
        let mut bytes = text.as_bytes().to_vec();
        for (position, byte) in edits {
            let position = position.index(bytes.len());
            bytes[position] = if byte.is_ascii() { byte } else { b' ' };
        }
        let mangled = String::from_utf8_lossy(&bytes).into_owned();
        let report = haechi_detect::load_str(name, &mangled);
        for error in &report.errors {
            let haechi_detect::Error::Rule(error) = error else {
                panic!("not a rule error: {error:?}");
            };
            prop_assert!(error.line >= 1 && error.column >= 1, "{}", error);
            prop_assert!(!error.message.is_empty());
        }
        // Whatever loaded still runs.
        let mut engine = Engine::new(report.rules, Limits::default()).unwrap();
        let events = build(&[(1, 1, 1, true), (2, 1, 2, true), (3, 2, 3, false)]);
        engine.replay(numbered(events), &NoState);
    }

    #[test]
    fn any_arrival_order_within_the_watermark_gives_the_same_alerts(
        specs in prop::collection::vec((0u16..600, 0u8..4, 0u8..60, any::<bool>()), 0..300),
        delays in prop::collection::vec(0u32..=5_000_000, 300),
    ) {
        // Traffic that trips several built-in rules: reads of many customers from few
        // addresses, forged tokens, quota refusals.
        let mut events = build(&specs);
        for (index, event) in events.iter_mut().enumerate() {
            match index % 7 {
                0 => event.kind = EventKind::TokenForged,
                1 => event.kind = EventKind::PiiQuotaExceeded,
                _ => {}
            }
            event.kid = Some("k1".into());
            // Microsecond offsets so that equal seconds still interleave.
            event.time = Timestamp::from_micros(event.time.as_micros() + (index as i64 % 1000));
        }
        events.sort_by_key(|event| event.time);
        let numbered_events = numbered(events);
        let state = TestState::with_customers(1_000);

        let in_order = run_pack(numbered_events.clone(), &state);
        // Each event arrives `delay` after its own time; sorting by arrival gives an order in
        // which no event is more than 5 s older than the newest one seen before it.
        let mut arrivals: Vec<(i64, (u64, SecurityEvent))> = numbered_events
            .into_iter()
            .zip(delays.iter().cycle())
            .map(|(pair, &delay)| (pair.1.time.as_micros() + i64::from(delay), pair))
            .collect();
        arrivals.sort_by_key(|(arrival, (seq, _))| (*arrival, *seq));
        let shuffled = run_pack(arrivals.into_iter().map(|(_, pair)| pair).collect(), &state);
        prop_assert_eq!(in_order, shuffled);
    }
}

fn run_pack(events: Vec<(u64, SecurityEvent)>, state: &TestState) -> Vec<AlertUpdate> {
    let limits = Limits {
        allowed_lateness: Duration::from_secs(5),
        ..Limits::default()
    };
    let mut engine = Engine::new(builtin_rules().rules, limits).unwrap();
    let mut updates = Vec::new();
    for (seq, event) in events {
        updates.extend(engine.process_owned(seq, event, state));
    }
    assert_eq!(engine.stats().late_events, 0);
    updates.extend(engine.flush(state));
    updates
}
