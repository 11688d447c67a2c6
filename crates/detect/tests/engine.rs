//! Engine behaviour: watermark and late events, the state cap, dedup, conditions over lookups.

use std::time::Duration;

use haechi_detect::{
    AlertUpdate, Engine, Limits, NoState, STATE_CAP_RULE_ID, Severity, builtin_rules,
};
use haechi_events::EventKind;

use crate::util::*;

const SINGLE: &str = "id: t.single
title: every read
description: d
false_positives: f
severity: low
detection:
  read: {kind: pii.read}
  condition: read
group-by: [ip]
";

const COUNT_3: &str = "id: t.count
title: three reads per address in a minute
description: d
false_positives: f
severity: medium
detection:
  read: {kind: pii.read}
  condition: read
correlation:
  type: event_count
  group-by: [ip]
  timespan: 1m
  condition: {gte: 3}
";

/// Limits with a 5 s watermark.
fn five_seconds() -> Limits {
    Limits {
        allowed_lateness: Duration::from_secs(5),
        ..Limits::default()
    }
}

fn raised_seqs(updates: &[AlertUpdate]) -> Vec<String> {
    updates
        .iter()
        .map(|update| match update {
            AlertUpdate::Raised(alert) => format!("raised {}", alert.id),
            AlertUpdate::Grew(growth) => format!("grew {} by {}", growth.id, growth.seq),
        })
        .collect()
}

#[test]
fn events_wait_for_the_watermark_and_come_out_in_time_order() {
    let mut engine = Engine::new(vec![rule(SINGLE)], five_seconds()).unwrap();
    // Arrival order 1 (t=10 s), 2 (t=8 s): both within 5 s of the maximum, so evaluated as
    // 2 then 1 once the watermark passes them.
    assert!(
        engine
            .process(1, &read(10, customer("a"), "a", "192.0.2.1"), &NoState)
            .is_empty()
    );
    assert!(
        engine
            .process(2, &read(8, customer("b"), "b", "192.0.2.2"), &NoState)
            .is_empty()
    );
    assert_eq!(engine.stats().buffered, 2);
    let updates = engine.process(3, &read(16, customer("c"), "c", "192.0.2.3"), &NoState);
    assert_eq!(
        raised_seqs(&updates),
        vec!["raised t.single/2", "raised t.single/1"]
    );
    // A quiet stream: the server's clock moves the watermark.
    let updates = engine.advance_watermark(at(30), &NoState);
    assert_eq!(raised_seqs(&updates), vec!["raised t.single/3"]);
    assert_eq!(engine.stats().late_events, 0);
}

#[test]
fn late_events_are_counted_and_still_evaluated() {
    let mut engine = Engine::new(vec![rule(SINGLE)], five_seconds()).unwrap();
    engine.process(1, &read(100, customer("a"), "a", "192.0.2.1"), &NoState);
    let updates = engine.process(2, &read(200, customer("b"), "b", "192.0.2.2"), &NoState);
    assert_eq!(raised_seqs(&updates), vec!["raised t.single/1"]);
    // 150 s behind the maximum: late. Evaluated at once, at the last evaluated time (100 s).
    let updates = engine.process(3, &read(50, customer("c"), "c", "192.0.2.3"), &NoState);
    assert_eq!(engine.stats().late_events, 1);
    let [AlertUpdate::Raised(alert)] = updates.as_slice() else {
        panic!("{updates:?}");
    };
    assert_eq!(alert.first_time, at(100));
    assert_eq!(alert.group_key, "192.0.2.3");
}

#[test]
fn windows_are_inclusive_of_their_start() {
    // Reads at 0, 30 and 60 s: the window of the read at 60 s is [0 s, 60 s], all three.
    let alerts = check(
        COUNT_3,
        vec![
            read(0, customer("a"), "a", "192.0.2.1"),
            read(30, customer("a"), "a", "192.0.2.1"),
            read(60, customer("a"), "a", "192.0.2.1"),
        ],
    );
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].evidence_seqs, vec![1, 2, 3]);
    // One microsecond later it holds two.
    let mut late = read(60, customer("a"), "a", "192.0.2.1");
    late.time = haechi_events::Timestamp::from_micros(at(60).as_micros() + 1);
    let alerts = check(
        COUNT_3,
        vec![
            read(0, customer("a"), "a", "192.0.2.1"),
            read(30, customer("a"), "a", "192.0.2.1"),
            late,
        ],
    );
    assert!(alerts.is_empty());
}

#[test]
fn alerts_reopen_after_the_cooldown() {
    let text = format!("{SINGLE}cooldown: 10m\n");
    let alerts = check(
        &text,
        vec![
            read(0, customer("a"), "a", "192.0.2.1"),
            read(599, customer("a"), "a", "192.0.2.1"),
            read(1198, customer("a"), "a", "192.0.2.1"),
            read(1799, customer("a"), "a", "192.0.2.1"),
        ],
    );
    let counts: Vec<u64> = alerts.iter().map(|alert| alert.count).collect();
    assert_eq!(counts, vec![3, 1]);
    assert_eq!(alerts[0].last_time, at(1198));
}

#[test]
fn reaching_the_state_cap_raises_an_alert_and_never_evicts() {
    let limits = Limits {
        allowed_lateness: Duration::ZERO,
        max_state_entries: 5,
    };
    let mut engine = Engine::new(vec![rule(COUNT_3)], limits).unwrap();
    // Address 1 takes 1 group + 3 reads = 4 entries and alerts; address 2 gets 1 entry (its
    // group) and no room for its reads; address 3 gets nothing.
    let events = vec![
        read(0, customer("a"), "a", "192.0.2.1"),
        read(1, customer("a"), "a", "192.0.2.1"),
        read(2, customer("a"), "a", "192.0.2.1"),
        read(3, customer("b"), "b", "192.0.2.2"),
        read(4, customer("b"), "b", "192.0.2.2"),
        read(5, customer("c"), "c", "192.0.2.3"),
    ];
    let alerts = engine.replay(numbered(events), &NoState);
    let summary: Vec<(&str, &str, u64)> = alerts
        .iter()
        .map(|alert| {
            (
                alert.rule_id.as_str(),
                alert.group_key.as_str(),
                alert.count,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("t.count", "192.0.2.1", 3),
            (STATE_CAP_RULE_ID, "t.count", 3)
        ]
    );
    assert_eq!(alerts[1].severity, Severity::High);
    assert_eq!(alerts[1].evidence_seqs, vec![4, 5, 6]);
    // The state-cap alert's group is a rule id, not event fields.
    assert_eq!(alerts[0].group_by, vec!["ip"]);
    assert!(alerts[1].group_by.is_empty());
    let stats = engine.stats();
    assert_eq!(stats.state_entries, 5);
    assert_eq!(stats.state_refusals, 3);
    // The windows still expire: a minute later every entry is gone and there is room again
    // (one group and one read).
    let more = vec![(7, read(100, customer("d"), "d", "192.0.2.4"))];
    assert!(engine.replay(more, &NoState).is_empty());
    assert_eq!(engine.stats().state_entries, 2);
}

#[test]
fn refused_entries_are_still_counted_for_the_event() {
    let limits = Limits {
        allowed_lateness: Duration::ZERO,
        max_state_entries: 3,
    };
    // 1 group + 2 reads fit; the third read is counted but not stored, and completes 3.
    let mut engine = Engine::new(vec![rule(COUNT_3)], limits).unwrap();
    let events = (0..3)
        .map(|second| read(second, customer("a"), "a", "192.0.2.1"))
        .collect();
    let alerts = engine.replay(numbered(events), &NoState);
    let rules: Vec<&str> = alerts.iter().map(|alert| alert.rule_id.as_str()).collect();
    assert_eq!(rules, vec!["t.count", STATE_CAP_RULE_ID]);
    assert_eq!(alerts[0].evidence_seqs, vec![1, 2, 3]);
}

#[test]
fn max_groups_caps_one_rule() {
    let text = COUNT_3.replace(
        "  condition: {gte: 3}\n",
        "  condition: {gte: 3}\n  max_groups: 2\n",
    );
    let events = (0..5)
        .map(|index| read(index, customer("a"), "a", &format!("192.0.2.{index}")))
        .collect();
    let alerts = check(&text, events);
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].rule_id, STATE_CAP_RULE_ID);
    assert_eq!(alerts[0].count, 3);
}

#[test]
fn the_full_pack_runs_over_mixed_traffic() {
    let mut events = Vec::new();
    for index in 0..2_000i64 {
        let id = format!("c{}", index % 300);
        let sid = format!("s{}", index % 300);
        if index < 300 {
            events.push(login_ok(index, &id, &sid, "198.51.100.1"));
        }
        events.push(own_read(
            400 + index,
            &id,
            &sid,
            &format!("198.51.100.{}", index % 200),
        ));
    }
    events.push(
        event(3_000, EventKind::TokenForged, customer("c1"))
            .kid("k1")
            .ip(ip("203.0.113.9")),
    );
    let report = builtin_rules();
    let mut engine = Engine::new(report.rules, Limits::default()).unwrap();
    assert!(engine.history_needed() >= Duration::from_secs(90 * 86_400));
    let alerts = engine.replay(numbered(events), &TestState::with_customers(1_000_000));
    let rules: Vec<&str> = alerts.iter().map(|alert| alert.rule_id.as_str()).collect();
    assert_eq!(rules, vec!["haechi.token.forged"]);
    assert_eq!(engine.stats().events, 2_301);
}

#[test]
fn the_engine_can_move_to_another_thread_and_updates_serialize() {
    fn assert_send<T: Send>() {}
    assert_send::<Engine>();
    let alerts = check(SINGLE, vec![read(0, customer("a"), "a", "192.0.2.1")]);
    let update = AlertUpdate::Raised(alerts[0].clone());
    let json = serde_json::to_string(&update).unwrap();
    assert!(json.contains("\"update\":\"raised\""), "{json}");
    let back: AlertUpdate = serde_json::from_str(&json).unwrap();
    assert_eq!(back, update);
}

#[test]
fn alerts_name_the_fields_of_their_group() {
    let two_fields = SINGLE.replace("group-by: [ip]", "group-by: [ip, principal]");
    let alerts = check(&two_fields, vec![read(0, customer("a"), "a", "192.0.2.1")]);
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].group_by, vec!["ip", "principal"]);
    assert_eq!(alerts[0].group_key, "ip=192.0.2.1 principal=customer:a");
    // Alerts serialised before `group_by` existed still read back.
    let mut json = serde_json::to_value(&alerts[0]).unwrap();
    json.as_object_mut().unwrap().remove("group_by");
    let old: haechi_detect::Alert = serde_json::from_value(json).unwrap();
    assert!(old.group_by.is_empty());
    let pack = builtin_rules();
    let forged = pack
        .rules
        .iter()
        .find(|rule| rule.id() == "haechi.token.forged")
        .unwrap();
    assert_eq!(forged.group_by_names(), vec!["kid"]);
}
