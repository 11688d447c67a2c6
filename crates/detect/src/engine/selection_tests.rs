//! Each distinct selection is tested once per event (`detection/memo.rs`): over the built-in
//! pack and events of every kind, the memo answers exactly as testing each rule's own
//! selections would.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

use haechi_events::{Decision, EventKind, Principal, SecurityEvent, Timestamp};

use crate::NoState;
use crate::detection::SelectionMemo;
use crate::fields::EventView;
use crate::pack::builtin_rules;

fn events() -> Vec<SecurityEvent> {
    let mut events = Vec::new();
    for kind in EventKind::ALL {
        for (principal, decision, status) in [
            (Principal::Customer("c_1".into()), Decision::Allow, 200),
            (Principal::Service("shipping".into()), Decision::Allow, 200),
            (Principal::Service("marketing".into()), Decision::Deny, 403),
            (Principal::Anonymous, Decision::Deny, 401),
        ] {
            let event = SecurityEvent::new(Timestamp::EPOCH, *kind, principal)
                .ip(Some("10.1.2.3".parse().unwrap()))
                .customer("c_2")
                .fields(["name", "phone"])
                .outcome(decision, status)
                .reason("bad_signature");
            events.push(event);
        }
    }
    events
}

#[test]
fn the_pack_shares_selections_and_the_memo_answers_as_testing_would() {
    let rules = builtin_rules().rules;
    let total: usize = rules
        .iter()
        .map(|rule| rule.detection.selections.len())
        .sum();
    let mut memo = SelectionMemo::new(rules.iter().map(|rule| &rule.detection));
    println!("{} distinct selections of {total}", memo.distinct());
    assert!(
        memo.distinct() < total,
        "{} distinct of {total}",
        memo.distinct()
    );
    let mut held = 0;
    for event in events() {
        let view = EventView {
            seq: 1,
            time: 0,
            event: &event,
            lookup: &NoState,
        };
        memo.next_event();
        for (index, rule) in rules.iter().enumerate() {
            let Some(condition) = &rule.condition else {
                continue;
            };
            let direct = rule.detection.holds(condition, &view);
            // Asked twice: the second answer comes from the memo.
            for _ in 0..2 {
                let once = rule
                    .detection
                    .holds_once(condition, &view, &mut memo.for_rule(index));
                assert_eq!(once, direct, "{} on {:?}", rule.id, event.kind);
            }
            held += usize::from(direct);
        }
    }
    assert!(held > 0, "some rule's condition holds for the mix");
}
