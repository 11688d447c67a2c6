//! The incident book over real rules: what ties alerts together, what keeps them apart.

use std::collections::BTreeMap;

use haechi_detect::{
    ActionKind, Alert, AlertId, Disposition, Rule, Severity, builtin_rules, load_str,
};
use haechi_events::Timestamp;
use haechi_incident::{
    BookLimits, ChangeKind, IncidentAction, IncidentBook, IncidentState, parse_affected_line,
};

const HOUR: i64 = 3_600_000_000;

fn rules() -> Vec<Rule> {
    let mut rules = builtin_rules().rules;
    let report = load_str(
        "test.yaml",
        r#"
id: test.agent
title: Odd agent
description: d
false_positives: f
severity: low
detection:
  read: {kind: pii.read}
  condition: read
group-by: [user_agent]
incident:
  correlate: []
"#,
    );
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    rules.extend(report.rules);
    rules
}

fn alert(rule: &str, seq: u64, hour: i64, context: &[(&str, &str)]) -> Alert {
    let severity = if rule.starts_with("haechi.session") {
        Severity::Critical
    } else {
        Severity::High
    };
    Alert {
        id: AlertId::new(rule, seq),
        rule_id: rule.into(),
        title: format!("{rule} title"),
        severity,
        first_time: Timestamp::from_micros(hour * HOUR),
        last_time: Timestamp::from_micros(hour * HOUR + 1_000),
        group_key: format!("g{seq}"),
        group_by: vec![],
        evidence_seqs: vec![seq],
        count: 1,
        window_count: 1,
        context: context
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        actions: vec![],
    }
}

const FORGED: &str = "haechi.session.read_without_login";
const NETWORK: &str = "haechi.read.network_customers_10m";

fn forged(seq: u64, hour: i64, ip: &str, customer: &str) -> Alert {
    alert(
        FORGED,
        seq,
        hour,
        &[
            ("kid", "stolen"),
            ("ip", ip),
            ("principal", &format!("customer:{customer}")),
            ("sid", &format!("s{seq}")),
            ("user_agent", "Mozilla/5.0 common"),
        ],
    )
}

#[test]
fn forged_sessions_and_their_networks_make_one_incident() {
    let rules = rules();
    let mut book = IncidentBook::new(&rules, BookLimits::default());
    let mut changes = Vec::new();
    for n in 0..200_u64 {
        let ip = format!("198.51.100.{}", n % 40);
        changes.extend(book.observe(&forged(n, 1, &ip, &format!("c{n}"))));
    }
    changes.extend(book.observe(&alert(NETWORK, 500, 1, &[("ip", "198.51.100.7")])));
    assert_eq!(book.live_count(), 1);
    let incident = book.get(&changes.last().unwrap().id).unwrap();
    assert_eq!(incident.alert_count, 201);
    assert_eq!(incident.customers, 200);
    assert_eq!(incident.severity, Severity::Critical);
    assert_eq!(incident.indicators.signing_keys.count(), 1);
    assert_eq!(incident.indicators.networks.count(), 40);
    assert_eq!(incident.indicators.user_agents.count(), 1);
    assert_eq!(incident.state, IncidentState::Open);
    assert_eq!(
        changes
            .iter()
            .filter(|c| c.kind == ChangeKind::Opened)
            .count(),
        1
    );
    let tied: usize = changes.iter().map(|c| c.customers.len()).sum();
    assert_eq!(tied, 200, "each customer is tied once");
}

#[test]
fn a_shared_user_agent_alone_does_not_tie_attacks() {
    let rules = rules();
    let mut book = IncidentBook::new(&rules, BookLimits::default());
    book.observe(&alert(
        NETWORK,
        1,
        1,
        &[("ip", "198.51.100.1"), ("user_agent", "Chrome")],
    ));
    book.observe(&alert(
        NETWORK,
        2,
        1,
        &[("ip", "203.0.113.1"), ("user_agent", "Chrome")],
    ));
    book.observe(&alert("test.agent", 3, 1, &[("user_agent", "Chrome")]));
    assert_eq!(book.live_count(), 3);
}

#[test]
fn alerts_further_apart_than_the_window_open_a_new_incident() {
    let rules = rules();
    let mut book = IncidentBook::new(&rules, BookLimits::default());
    book.observe(&alert(NETWORK, 1, 1, &[("ip", "198.51.100.1")]));
    book.observe(&alert(NETWORK, 2, 20, &[("ip", "198.51.100.1")]));
    assert_eq!(
        book.live_count(),
        1,
        "19 hours apart: within the default day"
    );
    book.observe(&alert(NETWORK, 3, 80, &[("ip", "198.51.100.1")]));
    assert_eq!(
        book.live_count(),
        2,
        "60 hours after the last: a new incident"
    );
}

#[test]
fn an_alert_tying_two_incidents_merges_them_into_the_older() {
    let rules = rules();
    let mut book = IncidentBook::new(&rules, BookLimits::default());
    let first = book.observe(&alert(NETWORK, 1, 1, &[("ip", "198.51.100.1")]));
    let older = first[0].id.clone();
    book.observe(&alert(NETWORK, 2, 2, &[("ip", "203.0.113.9")]));
    let changes = book.observe(&alert(
        FORGED,
        3,
        3,
        &[
            ("kid", "k"),
            ("ip", "203.0.113.9"),
            ("principal", "customer:x"),
        ],
    ));
    // Only one address ties so far: no merge.
    assert_eq!(book.live_count(), 2);
    assert!(
        changes
            .iter()
            .all(|c| !matches!(c.kind, ChangeKind::Merged { .. }))
    );
    let changes = book.observe(&alert(
        FORGED,
        4,
        4,
        &[
            ("kid", "k"),
            ("ip", "198.51.100.1"),
            ("principal", "customer:y"),
        ],
    ));
    assert_eq!(book.live_count(), 1);
    let merged = changes
        .iter()
        .find(|c| matches!(c.kind, ChangeKind::Merged { .. }))
        .expect("a merge");
    let gone = merged.departed.as_ref().expect("a merged incident departs");
    assert_eq!(gone.state, IncidentState::Closed);
    assert_eq!(
        gone.closure.as_ref().unwrap().merged_into.as_ref(),
        Some(&older)
    );
    assert!(book.get(&gone.id).is_none());
    let survivor = changes.last().unwrap();
    assert_eq!(survivor.id, older);
    let incident = book.get(&older).unwrap();
    assert_eq!(incident.alert_count, 4);
    assert_eq!(incident.customers, 2);
    assert_eq!(incident.merged, vec![gone.id.clone()]);
    // The merged incident's alerts now belong to the survivor.
    assert!(survivor.alert_ids.iter().any(|id| id.ends_with("/2")));
    assert_eq!(
        book.incident_of(&AlertId::new(NETWORK, 2).to_string()),
        Some(&older)
    );
}

#[test]
fn an_action_carried_out_contains_the_incident_and_one_only_recorded_does_not() {
    let rules = rules();
    let mut book = IncidentBook::new(&rules, BookLimits::default());
    let raised = alert(NETWORK, 1, 1, &[("ip", "198.51.100.1")]);
    book.observe(&raised);
    let action = |carried_out| IncidentAction {
        alert_id: raised.id.to_string(),
        kind: ActionKind::RevokeKey { kid: "k".into() },
        disposition: Disposition::DryRun,
        carried_out,
        at: Timestamp::from_micros(2 * HOUR),
    };
    let change = book
        .record_action(raised.id.as_str(), action(false))
        .unwrap();
    assert_eq!(book.get(&change.id).unwrap().state, IncidentState::Open);
    let change = book
        .record_action(raised.id.as_str(), action(true))
        .unwrap();
    let incident = book.get(&change.id).unwrap();
    assert_eq!(incident.state, IncidentState::Contained);
    assert_eq!(
        incident.contained_at,
        Some(Timestamp::from_micros(2 * HOUR))
    );
    assert_eq!(incident.actions.len(), 2);
}

#[test]
fn the_same_alerts_make_the_same_incidents() {
    let rules = rules();
    let run = || {
        let mut book = IncidentBook::new(&rules, BookLimits::default());
        for n in 0..50_u64 {
            book.observe(&forged(
                n,
                1 + (n as i64) * 30,
                &format!("198.51.100.{n}"),
                "c",
            ));
        }
        book.live_incidents()
            .iter()
            .map(|incident| (incident.id.clone(), incident.alert_count))
            .collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
}

#[test]
fn past_its_capacity_the_book_retires_the_weakest_incident() {
    let rules = rules();
    let mut book = IncidentBook::new(
        &rules,
        BookLimits {
            max_live: 2,
            max_customers: 10,
        },
    );
    book.observe(&forged(1, 1, "198.51.100.1", "a"));
    book.observe(&alert(NETWORK, 2, 2, &[("ip", "203.0.113.1")]));
    let changes = book.observe(&alert(NETWORK, 3, 3, &[("ip", "203.0.113.2")]));
    assert_eq!(book.live_count(), 2);
    let retired = changes
        .iter()
        .find_map(|c| c.departed.as_ref())
        .expect("one retired");
    assert_eq!(
        retired.severity,
        Severity::High,
        "its last state goes to the store"
    );
    let kept: Vec<Severity> = book.live_incidents().iter().map(|i| i.severity).collect();
    assert!(
        kept.contains(&Severity::Critical),
        "the critical one stays: {kept:?}"
    );
    // A closed incident leaves memory; alerts no longer join it.
    let id = book.live_incidents()[0].id.clone();
    let closure = haechi_incident::Closure {
        at: Timestamp::from_micros(4 * HOUR),
        by: "admin:alice".into(),
        note: "done".into(),
        merged_into: None,
    };
    assert!(book.close(&id, closure).is_some());
    assert!(book.get(&id).is_none());
}

#[test]
fn affected_lists_are_checked_line_by_line() {
    let good = r#"{"customer_id":"c1","fields":["name","phone"],"first":"2025-06-11T01:00:00Z","last":"2025-06-11T02:00:00Z","reads":2}"#;
    let row = parse_affected_line(1, good).unwrap().unwrap();
    assert_eq!(row.fields, ["name", "phone"]);
    assert!(parse_affected_line(2, "  ").unwrap().is_none());
    for (bad, why) in [
        (
            r#"{"customer_id":"c1","contact":{"phone":"010"}}"#,
            "contact",
        ),
        (r#"{"customer_id":"","fields":[]}"#, "customer_id"),
        (r#"{"customer_id":"c1","first":"yesterday"}"#, "RFC 3339"),
        (r#"{"customer_id":"c1","fields":["Name!"]}"#, "field"),
        (r#"{"customer_id":"c1","evil":1}"#, "unknown field"),
        ("not json", "expected"),
        (
            r#"{"customer_id":"c1","first":"2025-06-11T02:00:00Z","last":"2025-06-11T01:00:00Z"}"#,
            "before",
        ),
    ] {
        let error = parse_affected_line(7, bad).unwrap_err().to_string();
        assert!(error.starts_with("line 7: "), "{error}");
        assert!(error.contains(why), "{bad}: {error}");
    }
}

#[test]
fn an_address_a_later_match_blocked_ties_its_alerts_to_the_incident() {
    let rules = rules();
    let mut book = IncidentBook::new(&rules, BookLimits::default());
    let forged = forged(1, 1, "198.51.100.1", "a");
    let id = book.observe(&forged)[0].id.clone();
    // A later forged request from another address grew the alert; its block names it.
    book.record_action(
        forged.id.as_str(),
        IncidentAction {
            alert_id: forged.id.to_string(),
            kind: ActionKind::BlockNetwork {
                network: "203.0.113.9/32".parse().unwrap(),
                ttl: std::time::Duration::from_secs(60),
            },
            disposition: Disposition::Enforce,
            carried_out: true,
            at: Timestamp::from_micros(HOUR),
        },
    );
    let incident = book.get(&id).unwrap();
    assert!(incident.indicators.networks.values.contains("203.0.113.9"));
    book.observe(&alert(NETWORK, 2, 2, &[("ip", "203.0.113.9")]));
    assert_eq!(book.live_count(), 1);
    assert_eq!(book.get(&id).unwrap().alert_count, 2);
}

#[test]
fn an_alert_about_another_alert_joins_its_incident() {
    let rules = rules();
    let mut book = IncidentBook::new(&rules, BookLimits::default());
    let forged = forged(1, 1, "198.51.100.1", "a");
    let id = book.observe(&forged)[0].id.clone();
    // Containment withheld a block of a shared address and raised that for a human, days of
    // wall time after the event time: it still belongs to the attack.
    let withheld = alert(
        "haechi.response.block_withheld",
        2,
        500,
        &[("ip", "100.64.0.1"), ("alert_id", forged.id.as_str())],
    );
    let changes = book.observe(&withheld);
    assert_eq!(changes.last().unwrap().id, id);
    assert_eq!(book.live_count(), 1);
    // Its shared address is not the attacker's: not among the incident's networks (which a
    // scope of the incident would search).
    let incident = book.get(&id).unwrap();
    assert_eq!(incident.alert_count, 2);
    assert!(!incident.indicators.networks.values.contains("100.64.0.1"));
    book.record_action(
        withheld.id.as_str(),
        IncidentAction {
            alert_id: withheld.id.to_string(),
            kind: ActionKind::BlockNetwork {
                network: "100.64.0.1/32".parse().unwrap(),
                ttl: std::time::Duration::from_secs(60),
            },
            disposition: Disposition::Recommended,
            carried_out: false,
            at: Timestamp::from_micros(500 * HOUR),
        },
    );
    assert!(
        !book
            .get(&id)
            .unwrap()
            .indicators
            .networks
            .values
            .contains("100.64.0.1")
    );
    // The shared address is listed, but ties nothing: another alert about it opens its own.
    book.observe(&alert(NETWORK, 3, 500, &[("ip", "100.64.0.1")]));
    assert_eq!(book.live_count(), 2);
}
