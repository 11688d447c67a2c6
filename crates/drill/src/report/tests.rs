//! Scoring drills: exposure up to containment, scope, incidents.

use super::*;
use crate::truth::Disclosure;

fn receipt(customer: &str, secs: i64) -> Receipt {
    Receipt {
        customer_id: customer.into(),
        at: Timestamp::from_secs(secs),
        disclosure: Disclosure {
            plaintext: BTreeSet::from(["name"]),
            masked: BTreeSet::new(),
        },
    }
}

fn alert(secs: i64, ip: &str, enforced: bool) -> AlertSeen {
    AlertSeen {
        id: format!("a{secs}"),
        rule_id: "rule".into(),
        severity: "high".into(),
        title: "t".into(),
        group_key: ip.into(),
        context: BTreeMap::from([("ip".to_string(), ip.to_string())]),
        seen_at: Timestamp::from_secs(secs),
        actions: Vec::new(),
        enforced,
    }
}

#[test]
fn exposure_is_counted_up_to_containment_and_scope_is_scored() {
    let observed = Observations {
        scenario: "t".into(),
        start: Timestamp::from_secs(0),
        attack_start: Timestamp::from_secs(100),
        end: Timestamp::from_secs(1000),
        receipts: vec![receipt("c1", 101), receipt("c2", 102), receipt("c1", 103)],
        normal_refusals: vec![Timestamp::from_secs(170), Timestamp::from_secs(190)],
        alerts: vec![
            alert(150, "45.0.0.1", false),
            alert(180, "45.0.0.1", true),
            alert(50, "10.0.0.1", false),
        ],
        traits: AttackerTraits {
            networks: BTreeSet::from(["45.0.0.1".parse().unwrap()]),
            ..AttackerTraits::default()
        },
        scope: Some(ScopeRun {
            alerts: vec!["a150".into()],
            customers: BTreeSet::from(["c1".to_string(), "c2".to_string(), "c9".to_string()]),
            ..ScopeRun::default()
        }),
        ..Observations::default()
    };
    let report = Report::score(
        observed,
        &Expectations {
            max_exposed_before_containment: Some(2),
            ..Expectations::default()
        },
    );
    assert_eq!(report.time_to_first_alert_secs, Some(50.0));
    assert_eq!(report.time_to_containment_secs, Some(80.0));
    assert_eq!(
        report.normal_refused_after_containment, 1,
        "the one at 190 s"
    );
    assert_eq!(report.customers_exposed_before_containment, 2);
    assert_eq!(report.records_exposed_before_containment, 3);
    assert_eq!(report.customers_exposed, 2);
    assert_eq!(report.true_positives.len(), 2);
    assert_eq!(report.false_positives.len(), 1);
    assert_eq!(report.scope.correct, 2);
    assert!((report.scope.precision - 2.0 / 3.0).abs() < 1e-9);
    assert!((report.scope.recall - 1.0).abs() < 1e-9);
    assert!(!report.passed, "scope is not exact");
    assert!(
        report
            .markdown()
            .contains("| exposed before containment | ≤ 2 customers | 2 | ✓ |")
    );
    let html = report.html();
    assert!(html.contains("<svg") && html.contains("containment"));
    // Real tables, not Markdown in a box; each figure said once, the same in timeline and table.
    assert!(!html.contains("<pre>"), "{html}");
    assert!(html.contains("<table>") && html.contains("Beside the 2025 breach"));
    let figures = report.timeline;
    assert!(html.contains(&format!(
        "attacker: data received ({})",
        figures.attacker_reads_received
    )));
    assert!(html.contains(&format!(
        "<td>attacker reads</td><td>{} received data, {} refused</td>",
        figures.attacker_reads_received, figures.attacker_reads_refused
    )));
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(
        json["timeline"]["attacker_reads_received"],
        figures.attacker_reads_received
    );
    assert!(!html.contains("<script"));
}

#[test]
fn the_page_escapes_what_the_scenario_file_says() {
    let observed = Observations {
        scenario: "<script>alert(1)</script>".into(),
        description: "a & b <img src=x>".into(),
        ..Observations::default()
    };
    let html = Report::score(observed, &Expectations::default()).html();
    assert!(!html.contains("<script>alert(1)"), "{html}");
    assert!(!html.contains("<img src=x>"), "{html}");
    assert!(html.contains("&lt;script&gt;"));
}

#[test]
fn an_action_the_attacker_outlived_is_not_containment() {
    let observed = Observations {
        attack_start: Timestamp::from_secs(100),
        receipts: vec![receipt("c1", 101), receipt("c2", 300)],
        alerts: vec![alert(150, "45.0.0.1", true), alert(400, "45.0.0.1", true)],
        traits: AttackerTraits {
            networks: BTreeSet::from(["45.0.0.1".parse().unwrap()]),
            ..AttackerTraits::default()
        },
        ..Observations::default()
    };
    let report = Report::score(observed.clone(), &Expectations::default());
    assert_eq!(
        report.time_to_containment_secs,
        Some(300.0),
        "the second action held"
    );
    assert_eq!(report.customers_exposed_before_containment, 2);
    let mut outlived = observed;
    outlived.alerts.pop();
    let report = Report::score(outlived, &Expectations::default());
    assert_eq!(report.time_to_containment_secs, None, "never contained");
    assert_eq!(report.customers_exposed_before_containment, 2);
}

#[test]
fn nothing_exposed_and_nothing_found_is_exact() {
    let raised = alert(1, "45.0.0.1", true);
    let observed = Observations {
        incidents: vec![IncidentSeen {
            id: "INC-000000000001".into(),
            state: "contained".into(),
            alert_ids: BTreeSet::from([raised.id.clone()]),
            alert_count: 1,
        }],
        alerts: vec![raised],
        traits: AttackerTraits {
            networks: BTreeSet::from(["45.0.0.1".parse().unwrap()]),
            ..AttackerTraits::default()
        },
        scope: Some(ScopeRun::default()),
        ..Observations::default()
    };
    let report = Report::score(
        observed,
        &Expectations {
            max_exposed_before_containment: Some(0),
            ..Expectations::default()
        },
    );
    assert_eq!((report.scope.precision, report.scope.recall), (1.0, 1.0));
    assert!(report.passed, "{:?}", report.checks);
    assert_eq!(report.incidents.attack_incidents, ["INC-000000000001"]);
    let partial = Report::score(
        Observations {
            partial: Some("the server died".into()),
            ..Observations::default()
        },
        &Expectations::default(),
    );
    assert!(!partial.passed);
    assert!(scorecard(&[partial]).contains("partial ✗"));
}
