#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::collections::BTreeMap;
use std::time::Duration;

use haechi_detect::{ActionKind, Alert, AlertId, Disposition, ResponseAction, Severity};
use haechi_events::{EventKind, Principal, SecurityEvent, Timestamp};
use haechi_respond::{AlertState, AlertView, BlockRecord};

use crate::{Console, Done, Frame, Outcome, Problem};

/// What an attacker controls, put wherever a page prints something from an event.
const HOSTILE: &str = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>";

fn frame() -> Frame {
    Frame {
        principal: "admin:oncall".into(),
        csrf: "c5rf-token".into(),
        expires: Timestamp::from_secs(1_800_000_900),
    }
}

fn alert(rule: &str, seq: u64, group: &str) -> AlertView {
    let id = AlertId::new(rule, seq);
    AlertView {
        alert: Alert {
            id: id.clone(),
            rule_id: rule.into(),
            title: format!("Forged token {HOSTILE}"),
            severity: Severity::Critical,
            first_time: Timestamp::from_secs(1_800_000_000),
            last_time: Timestamp::from_secs(1_800_000_060),
            group_key: group.into(),
            group_by: vec!["ip".into()],
            evidence_seqs: vec![seq],
            count: 3,
            window_count: 1,
            context: BTreeMap::from([("user_agent".to_string(), HOSTILE.to_string())]),
            actions: vec![ResponseAction {
                alert_id: id,
                rule_id: rule.into(),
                seq,
                kind: ActionKind::BlockNetwork {
                    network: "203.0.113.0/24".parse().unwrap(),
                    ttl: Duration::from_secs(3600),
                },
                disposition: Disposition::Enforce,
            }],
        },
        state: AlertState::Open,
        acknowledgement: None,
    }
}

/// No value an attacker chose reaches a page as markup.
fn assert_escaped(page: &str) {
    assert!(!page.contains("<script>alert"), "{page}");
    assert!(!page.contains("<img src=x"), "{page}");
}

#[test]
fn every_page_renders_and_escapes_what_events_carry() {
    let console = Console::new().unwrap();
    let frame = frame();
    let views = [
        alert("haechi.token.forged", 41, HOSTILE),
        alert("haechi.token.forged", 42, "198.51.100.7"),
    ];
    let alerts = console.alerts(&frame, &views, 2).unwrap();
    assert_escaped(&alerts);
    assert!(alerts.contains("data-stream=\"/console/alerts/stream\""));
    // The link carries the id in its query (a slash may stay a slash there; minijinja prints
    // it as `&#x2f;`, which the browser reads as `/`).
    assert!(
        alerts.contains("/console/alert?id=haechi.token.forged&#x2f;41"),
        "{alerts}"
    );

    let mut event = SecurityEvent::new(
        Timestamp::from_secs(1_800_000_000),
        EventKind::PiiRead,
        Principal::Customer(HOSTILE.into()),
    );
    event.user_agent = Some(HOSTILE.into());
    let page = console
        .alert(
            &frame,
            &views[0],
            &[(41, event)],
            Some(HOSTILE),
            Outcome {
                done: Some(Done::Acknowledged),
                problem: None,
            },
        )
        .unwrap();
    assert_escaped(&page);
    assert!(page.contains("name=\"csrf\" value=\"c5rf-token\""));
    assert!(page.contains("block 203.0.113.0&#x2f;24 for 3600 s"));
    assert!(page.contains("Alert acknowledged"));

    let block = BlockRecord {
        id: 7,
        network: "203.0.113.0/24".parse().unwrap(),
        created_at: Timestamp::from_secs(1_800_000_000),
        expires_at: Timestamp::from_secs(1_800_003_600),
        reason: HOSTILE.into(),
        rule_id: None,
        alert_id: Some(HOSTILE.into()),
        created_by: Principal::Admin("oncall".into()),
        lifted_at: None,
        lifted_by: None,
    };
    let problem = Problem {
        status: 422,
        message: HOSTILE.into(),
    };
    let page = console
        .containment(
            &frame,
            &[block],
            &[],
            Outcome {
                done: None,
                problem: Some(&problem),
            },
            &[("network".into(), HOSTILE.into())],
        )
        .unwrap();
    assert_escaped(&page);
    assert!(page.contains("data-network=\"203.0.113.0&#x2f;24\""));

    let page = console.error(Some(&frame), 404, HOSTILE).unwrap();
    assert_escaped(&page);
    let page = console
        .sign_in(Some(&Problem {
            status: 401,
            message: "wrong".into(),
        }))
        .unwrap();
    assert!(page.contains("action=\"/console/login\""));
    assert!(!page.contains("name=\"csrf\""), "no session, no token");
}

#[test]
fn done_codes_name_fixed_words_only() {
    for done in [Done::Acknowledged, Done::BlockAdded, Done::Rotated] {
        assert_eq!(Done::from_code(done.code()), Some(done));
    }
    assert_eq!(Done::from_code("<b>call 010-1234-5678</b>"), None);
}

#[test]
fn assets_are_served_under_hashed_names() {
    let console = Console::new().unwrap();
    // minijinja writes the slashes of printed values as `&#x2f;` (the browser reads `/`).
    let page = console.sign_in(None).unwrap().replace("&#x2f;", "/");
    let css = page
        .split("href=\"")
        .find_map(|part| part.strip_prefix("/console/assets/console."))
        .and_then(|rest| rest.split('"').next())
        .unwrap();
    let path = format!("/console/assets/console.{css}");
    assert!(console.asset(&path).is_some(), "{path}");
    assert!(console.asset("/console/assets/console.css").is_none());
}

/// A scope of three customers over two days a day apart, its user agent an attacker's.
fn scope() -> (haechi_forensics::Scope, haechi_forensics::AlertSource) {
    use haechi_forensics::{
        AlertIndicator, AlertSource, Coverage, Custody, DayCount, Exposure, FieldCount,
        GroupByOrigin, IndicatorKind, IndicatorOrigin, Scope, Summary,
    };
    let customer = |id: &str| Exposure {
        customer_id: format!("{id}{HOSTILE}"),
        fields: vec!["name".into(), HOSTILE.into()],
        first: "2026-12-01T00:00:00.000000Z".into(),
        last: "2026-12-03T00:00:00.000000Z".into(),
        reads: 2,
    };
    let day = |day: &str, customers| DayCount {
        day: day.into(),
        reads: customers,
        customers,
        new_customers: customers,
    };
    let summary = Summary {
        customers: 3,
        records: 6,
        records_without_customer: 0,
        first_exposure: Some("2026-12-01T00:00:00.000000Z".into()),
        last_exposure: Some("2026-12-03T00:00:00.000000Z".into()),
        fields: BTreeMap::from([(
            HOSTILE.to_string(),
            FieldCount {
                customers: 3,
                reads: 6,
            },
        )]),
        timeline: vec![day("2026-12-01", 2), day("2026-12-03", 1)],
    };
    let custody = Custody {
        tool: "test".into(),
        query: haechi_forensics::Query::default(),
        exposure: String::new(),
        query_sha256: String::new(),
        digest: haechi_forensics::DigestMode::default(),
        archives: Vec::new(),
        files: Vec::new(),
        files_skipped_by_day: Vec::new(),
        row_groups_total: 0,
        row_groups_read: 0,
        live_log: None,
        duplicates: 0,
        coverage: Coverage::default(),
        coverage_by_node: BTreeMap::new(),
        result_sha256: String::new(),
    };
    let source = AlertSource {
        id: "haechi.service.new_velocity/20".into(),
        rule_id: "haechi.service.new_velocity".into(),
        raised_seq: 20,
        first_time: None,
        group_key: "service:export".into(),
        group_by: vec!["principal".into()],
        group_by_from: GroupByOrigin::Event,
        indicators: vec![AlertIndicator {
            kind: IndicatorKind::UserAgent,
            value: HOSTILE.into(),
            from: IndicatorOrigin::Context,
        }],
        skipped: Vec::new(),
    };
    let scope = Scope {
        summary,
        customers: vec![customer("c1"), customer("c2"), customer("c3")],
        custody,
    };
    (scope, source)
}

#[test]
fn the_scope_keys_rules_and_revocation_pages_render_and_escape() {
    let console = Console::new().unwrap();
    let frame = frame();
    let alert = alert("haechi.service.new_velocity", 20, HOSTILE);

    let (scope, source) = scope();
    let summary = crate::ScopeSummary {
        scope: &scope,
        source: &source,
        elapsed_ms: 12,
        cached: false,
    };
    let page = console.scope(&frame, &alert, &summary).unwrap();
    assert_escaped(&page);
    assert!(page.contains("id=\"exposed-count\">3<"), "{page}");
    // A bar a day from the first exposure to the last, the day between them empty.
    assert_eq!(page.matches("<rect class=\"bar\"").count(), 3, "{page}");
    assert!(page.contains("2026-12-02: 0 customers"), "{page}");

    let key = |kid: &str, state| haechi_custody::KeyRecord {
        kid: kid.into(),
        algorithm: haechi_custody::SigningAlgorithm::EdDsa,
        state,
        origin: haechi_custody::KeyOrigin::Imported,
        public_jwk: serde_json::json!({}),
        created_at: Timestamp::from_secs(1_800_000_000),
        activated_at: Some(Timestamp::from_secs(1_800_000_100)),
        retiring_at: None,
        verify_until: None,
        ended_at: None,
    };
    let keys = [
        key(HOSTILE, haechi_custody::KeyState::Active),
        key("k-old", haechi_custody::KeyState::Revoked),
    ];
    let page = console
        .keys(
            &frame,
            &keys,
            Timestamp::from_secs(1_800_090_000),
            HOSTILE,
            Outcome::default(),
        )
        .unwrap();
    assert_escaped(&page);
    assert!(page.contains("signed your session"));
    assert!(page.contains("1 d 1 h"), "the age: {page}");
    // A revoked key offers no revocation.
    assert_eq!(page.matches("Revoke…").count(), 1, "{page}");

    let revocation = crate::KeyRevocation {
        kid: HOSTILE.into(),
        sessions: vec![HOSTILE.into(), "s-2".into()],
        total: 1200,
        replaced_by: None,
    };
    let before = console
        .revoke_key(&frame, &revocation, true, false)
        .unwrap();
    assert_escaped(&before);
    assert!(before.contains("you will be signed out"));
    assert!(before.contains("name=\"csrf\" value=\"c5rf-token\""));
    assert!(before.contains("and 1198 more"), "{before}");
    let after = console
        .revoke_key(&frame, &revocation, false, true)
        .unwrap();
    assert!(after.contains("It ended 1200 sessions"), "{after}");
    assert!(!after.contains("name=\"kid\""), "nothing to confirm after");

    let rule = |id: &str| haechi_respond::rules::RuleSummary {
        id: id.into(),
        sigma_id: None,
        title: HOSTILE.into(),
        severity: Severity::High,
        dry_run: Some(true),
        file: HOSTILE.into(),
        line: 3,
    };
    let in_force = haechi_respond::rules::RulesInForce {
        digest: "0123456789abcdef0123".into(),
        api_version: 1,
        changed_at: None,
        engine_here: true,
        rules: vec![rule("haechi.service.new_velocity"), rule("quiet")],
        files: Vec::new(),
        errors: vec![haechi_respond::rules::RuleProblem {
            location: HOSTILE.into(),
            message: HOSTILE.into(),
        }],
    };
    let page = console.rules(&frame, &in_force, &[alert], &[]).unwrap();
    assert_escaped(&page);
    assert!(page.contains("dry run"));
    assert!(page.contains("1 (1 open)"), "{page}");
    assert!(!page.contains("Leak sources"), "no watch, no table");

    // A leak source's name and error come from configuration and feeds: escaped too.
    let sources = [crate::LeakSourceRow {
        name: HOSTILE.into(),
        up: false,
        failures: 3,
        last_error: Some(HOSTILE.into()),
        last_poll: Some(haechi_events::Timestamp::from_micros(1_796_600_000_000_000)),
        matched: 2,
        clean: 5,
        quarantined: 1,
    }];
    let page = console.rules(&frame, &in_force, &[], &sources).unwrap();
    assert_escaped(&page);
    assert!(
        page.contains("Leak sources") && page.contains("3 failed polls"),
        "{page}"
    );
}
