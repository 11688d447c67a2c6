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
