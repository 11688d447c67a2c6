//! Sigma rule files: base rules, correlation rules naming them, `haechi:` additions, and every
//! way a Sigma document can be wrong, reported with file, rule and line.

use haechi_detect::{
    Error, KeyStateView, Rule, RuleError, Severity, builtin_rules, load_path, load_str,
};
use haechi_events::EventKind;

use crate::util::{MINUTE, TestState, at, customer, event, login_failed, login_ok, rule, run};

/// A base rule selecting failed logins, named by the correlation after it.
const FAILED: &str = "title: Failed login
id: 3c0f6f0e-5b55-4a39-9a1c-0d3e1f2b7a41
name: test.login_failed
logsource: {product: haechi, service: audit}
detection:
  failed: {kind: auth.login_failed}
  condition: failed
fields: [ip]
level: informational
";

/// A value_count correlation over `FAILED`.
const MANY_ACCOUNTS: &str = "title: Many accounts
id: 5b7e0d13-9c2a-4f8e-a6d4-1e3c5a7b9d02
name: test.many_accounts
description: failed logins over many accounts
correlation:
  type: value_count
  rules: [test.login_failed]
  group-by: [ip]
  timespan: 10m
  condition: {field: customer_id, gte: 3}
falsepositives:
  - a large NAT
level: high
haechi:
  cooldown: 1h
";

/// A single-event base rule no correlation names: it alerts.
const FORGED: &str = "title: Forged
id: 6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f
name: test.forged
description: forged token
logsource: {product: haechi, service: audit}
detection:
  forged: {kind: token.forged}
  condition: forged
falsepositives: [none]
level: critical
haechi:
  group-by: [kid]
  incident: {correlate: [kid, ip]}
";

fn file(documents: &[&str]) -> String {
    documents.join("---\n")
}

/// The error about `rule_id` of loading `text`, which must load no rule.
fn error_of(text: &str, rule_id: Option<&str>) -> RuleError {
    let report = load_str("rules/test.yaml", text);
    assert!(report.rules.is_empty(), "loaded: {text}");
    let errors: Vec<RuleError> = report
        .errors
        .into_iter()
        .map(|error| match error {
            Error::Rule(error) => error,
            other => panic!("not a rule error: {other:?}"),
        })
        .collect();
    let mut about = errors
        .iter()
        .filter(|error| error.rule_id.as_deref() == rule_id);
    match (about.next(), about.next()) {
        (Some(error), None) => error.clone(),
        _ => panic!("not one error about {rule_id:?}: {errors:?}"),
    }
}

#[test]
fn base_rules_named_by_a_correlation_do_not_alert_and_the_others_do() {
    let report = load_str("rules/test.yaml", &file(&[FAILED, MANY_ACCOUNTS, FORGED]));
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let ids: Vec<&str> = report.rules.iter().map(|rule| rule.id()).collect();
    assert_eq!(ids, ["test.many_accounts", "test.forged"]);
    let many = &report.rules[0];
    assert_eq!(
        many.sigma_id(),
        Some("5b7e0d13-9c2a-4f8e-a6d4-1e3c5a7b9d02")
    );
    assert_eq!(many.severity(), Severity::High);
    assert_eq!(many.false_positives(), "a large NAT");
    assert_eq!(many.group_by_names(), ["ip"]);
    // The correlation's line is where its own document starts.
    assert_eq!(many.source(), ("rules/test.yaml", 11));
    assert_eq!(report.rules[1].group_by_names(), ["kid"]);
}

#[test]
fn a_sigma_correlation_alerts_like_the_same_rule_in_haechis_format() {
    let report = load_str("rules/test.yaml", &file(&[FAILED, MANY_ACCOUNTS]));
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let events = vec![
        login_failed(0, "203.0.113.7", Some("c1")),
        login_failed(MINUTE, "203.0.113.7", Some("c2")),
        login_failed(2 * MINUTE, "203.0.113.7", Some("c2")),
        login_failed(3 * MINUTE, "198.51.100.1", Some("c3")),
        login_failed(4 * MINUTE, "203.0.113.7", Some("c3")),
    ];
    let alerts = run(report.rules, events.clone(), &TestState::default());
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].rule_id, "test.many_accounts");
    assert_eq!(alerts[0].group_key, "203.0.113.7");
    assert_eq!(alerts[0].last_time, at(4 * MINUTE));

    let legacy = "id: test.many_accounts
title: Many accounts
description: failed logins over many accounts
false_positives: a large NAT
severity: high
fields: [ip]
detection:
  failed: {kind: auth.login_failed}
  condition: failed
correlation:
  type: value_count
  group-by: [ip]
  timespan: 10m
  condition: {field: customer_id, gte: 3}
cooldown: 1h
";
    let legacy_alerts = run(vec![rule(legacy)], events, &TestState::default());
    assert_eq!(format!("{alerts:?}"), format!("{legacy_alerts:?}"));
}

#[test]
fn temporal_ordered_steps_are_the_base_rules_in_order() {
    let succeeded = "title: Login
id: f4a1c9e2-6d3b-4e7f-8a05-2b9c7d1e3f60
name: test.login_ok
logsource: {product: haechi, service: audit}
detection:
  ok: {kind: auth.login_ok}
  condition: ok
level: informational
";
    let sequence = "title: Failed then ok
id: 0d8f2a4c-6e1b-4a3d-9f57-c2e4a6b8d0f1
name: test.failed_then_ok
description: d
correlation:
  type: temporal_ordered
  rules: [test.login_failed, f4a1c9e2-6d3b-4e7f-8a05-2b9c7d1e3f60]
  group-by: [ip]
  timespan: 10m
falsepositives: [f]
level: high
";
    let report = load_str("rules/test.yaml", &file(&[FAILED, succeeded, sequence]));
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let rules = report.rules;
    let address = "198.51.100.4";
    // Success before failure is not the sequence; failure then success is.
    let state = TestState::default();
    let backwards = vec![
        login_ok(0, "c1", "s1", address),
        login_failed(1, address, Some("c1")),
    ];
    assert!(run(rules.clone(), backwards, &state).is_empty());
    let forwards = vec![
        login_failed(0, address, Some("c1")),
        login_ok(1, "c1", "s1", address),
    ];
    let alerts = run(rules, forwards, &state);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    // Its context fields are those of its base rules (it names none itself).
    assert!(
        alerts[0].context.contains_key("ip"),
        "{:?}",
        alerts[0].context
    );
}

#[test]
fn where_holds_state_lookups_beside_the_condition() {
    let rule = "title: Dead key
id: 9d2c7a51-3e4f-4b6a-8c9d-0e1f2a3b4c5d
name: test.dead_key
description: d
logsource: {product: haechi, service: audit}
detection:
  read: {kind: pii.read}
  condition: read
falsepositives: [f]
level: critical
haechi:
  where: {state.key: [revoked, retired]}
";
    let report = load_str("rules/test.yaml", rule);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let rules = report.rules;
    let read = || vec![event(0, EventKind::PiiRead, customer("c1")).kid("k1")];
    let active = TestState::default().with_key("k1", KeyStateView::Active);
    assert!(run(rules.clone(), read(), &active).is_empty());
    let revoked = TestState::default().with_key("k1", KeyStateView::Revoked);
    assert_eq!(run(rules, read(), &revoked).len(), 1);
}

#[test]
fn sigma_errors_name_file_rule_and_line() {
    let cases: Vec<(String, Option<&str>, usize, &[&str])> = vec![
        (
            FORGED.replace("6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f", "test.forged"),
            Some("test.forged"),
            2,
            &["a Sigma `id` is a UUID", "`name`"],
        ),
        (
            FORGED.replace("name: test.forged\n", ""),
            None,
            1,
            &["needs a `name`"],
        ),
        (
            FORGED.replace("level: critical", "level: informational"),
            Some("test.forged"),
            1,
            &["no correlation rule of this file names this base rule"],
        ),
        (
            FORGED.replace("service: audit", "service: sysmon"),
            Some("test.forged"),
            5,
            &["Haechi evaluates its own audit stream"],
        ),
        (
            FORGED.replace(
                "forged: {kind: token.forged}",
                "forged: {state.key: revoked}",
            ),
            Some("test.forged"),
            7,
            &["`state.key` is a lookup", "haechi.where"],
        ),
        (
            FORGED.replace("haechi:", "cooldown: 1h\nhaechi:"),
            Some("test.forged"),
            11,
            &["unknown key `cooldown`", "go under `haechi:`"],
        ),
        (
            FORGED.replace("  group-by: [kid]", "  correlation: {type: event_count}"),
            Some("test.forged"),
            12,
            &["Sigma correlation type", "correlation.rules"],
        ),
        (
            file(&[
                FAILED,
                &MANY_ACCOUNTS.replace("rules: [test.login_failed]", "rules: [test.nothing]"),
            ]),
            Some("test.many_accounts"),
            17,
            &["no base rule of this file has the name or id \"test.nothing\""],
        ),
        (
            file(&[
                FAILED,
                &MANY_ACCOUNTS.replace("type: value_count", "type: temporal"),
            ]),
            Some("test.many_accounts"),
            16,
            &["Haechi evaluates the Sigma correlation types"],
        ),
        (
            file(&[
                FAILED,
                &MANY_ACCOUNTS.replace("  timespan: 10m", "  timespan: 10m\n  aliases: {}"),
            ]),
            Some("test.many_accounts"),
            20,
            &["`aliases` is not supported"],
        ),
        (
            file(&[
                FAILED,
                &MANY_ACCOUNTS.replace("  cooldown: 1h", "  correlation: {type: first_seen}"),
            ]),
            Some("test.many_accounts"),
            25,
            &["unknown key `type`", "max_groups, probation, retention"],
        ),
        (
            file(&[
                &FAILED.replace(
                    "level: informational",
                    "level: informational\nhaechi: {cooldown: 1h}",
                ),
                MANY_ACCOUNTS,
            ]),
            Some("test.login_failed"),
            10,
            &["unknown key `cooldown`", "does not alert by itself"],
        ),
    ];
    for (text, rule_id, line, words) in cases {
        let error = error_of(&text, rule_id);
        assert_eq!(error.file, "rules/test.yaml", "{text}");
        assert_eq!(error.rule_id.as_deref(), rule_id, "{text}\n{error:?}");
        assert_eq!(error.line, line, "{text}\n{error:?}");
        for word in words {
            assert!(error.message.contains(word), "{word:?} not in {error:?}");
        }
    }
}

/// The built-in rules were Haechi's own format until they became Sigma; the old files are kept
/// under `tests/legacy_rules/` so this test proves the move changed no rule's meaning: every
/// old rule loads, and equals the Sigma rule of the same id in everything but where it was
/// read from and what its selections are called.
#[test]
fn the_sigma_pack_means_what_the_old_format_meant() {
    let legacy_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/legacy_rules");
    let legacy = load_path(&legacy_dir);
    assert!(legacy.errors.is_empty(), "{:?}", legacy.errors);
    let sigma = builtin_rules();
    assert!(sigma.errors.is_empty(), "{:?}", sigma.errors);
    // Rules written as Sigma from the start have no old form.
    let written_as_sigma = [
        "haechi.exposure.check_enumeration",
        "haechi.exposure.check_global_budget",
        "haechi.audit.review_overdue",
        "haechi.gateway.route_probing",
        "haechi.custody.token_unavailable",
        "haechi.leak.confirmed_match",
        "haechi.leak.item_quarantined",
        "haechi.request.refusal_flood",
    ];
    assert_eq!(
        legacy.rules.len() + written_as_sigma.len(),
        sigma.rules.len()
    );
    let where_read = regex::Regex::new(
        r#"file: "[^"]*", line: \d+|sigma_id: (None|Some\("[^"]*"\))|\("[a-z_.]+", Selection"#,
    )
    .expect("pattern");
    let meaning = |rule: &Rule| {
        where_read
            .replace_all(&format!("{rule:?}"), "_")
            .into_owned()
    };
    for old in &legacy.rules {
        let new = sigma
            .rules
            .iter()
            .find(|rule| rule.id() == old.id())
            .unwrap_or_else(|| panic!("{} is not in the Sigma pack", old.id()));
        assert!(new.sigma_id().is_some(), "{}", new.id());
        assert_eq!(meaning(old), meaning(new), "{}", old.id());
    }
}
