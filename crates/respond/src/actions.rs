//! The response actions containment carries out: one [`ActionExecutor`] per kind of
//! [`ActionKind`], one file each, and one list ([`EXECUTORS`]). A new kind of action is its
//! file and one line in the list.
//!
//! An executor is made for one action (its target taken out of the kind) and asked only while
//! the action is still `enforce` after server-wide enforcement: first its own safeguards
//! ([`ActionExecutor::safeguard`]), then, if it is not withheld, to carry it out under the
//! response grant. Whatever it answers, containment audits the action as `response.action`
//! (see [`crate::Containment::carry_out`]).

use std::net::IpAddr;

use async_trait::async_trait;
use haechi_detect::{ActionKind, Disposition, ResponseAction};
use haechi_events::SecurityEvent;
use haechi_token::AdminGrant;

use crate::Containment;

pub(crate) mod block_network;
mod revoke_key;
mod revoke_session;
mod suspend_principal;

/// Makes the executor of an action of `kind`, or `None` if `kind` is not its kind.
pub(crate) type MakeExecutor = for<'a> fn(&'a ActionKind) -> Option<Box<dyn ActionExecutor + 'a>>;

/// Every kind of action containment knows how to carry out. An action no executor takes is
/// recorded with outcome `unsupported`.
pub(crate) const EXECUTORS: &[MakeExecutor] = &[
    block_network::executor,
    suspend_principal::executor,
    revoke_session::executor,
    revoke_key::executor,
];

/// One action of one kind, with its target.
#[async_trait]
pub(crate) trait ActionExecutor: Send + Sync {
    /// The action's name in `response.action` (its `reason`) and in metrics:
    /// `block_network`, `suspend_principal`, ….
    fn name(&self) -> &'static str;

    /// Adds what the action aims at (network, principal, session, key) to its audit event.
    fn describe(&self, event: SecurityEvent) -> SecurityEvent;

    /// This kind's own safeguards, asked of an action about to be enforced: `Some` withholds
    /// it (it is then only recorded, with the disposition given).
    fn safeguard(&self, _containment: &Containment) -> Option<Withheld> {
        None
    }

    /// Carries the action out under `grant` (the response grant).
    async fn carry_out(&self, grant: &AdminGrant, act: &Act<'_>) -> Executed;
}

/// The action being carried out and where.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Act<'a> {
    /// Containment, which carries it out.
    pub containment: &'a Containment,
    /// The action as the rule decided it.
    pub action: &'a ResponseAction,
    /// The title of its alert (the reason of a block or suspension).
    pub alert_title: &'a str,
}

/// Why a safeguard withheld an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Withheld {
    /// The disposition recorded instead of `enforce` (`allowlisted`, `recommended`).
    pub disposition: Disposition,
    /// For a block of a network holding a shared address: that address and how many
    /// principals used it within the last day.
    pub shared_address: Option<(IpAddr, usize)>,
}

/// What carrying out an action came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Executed {
    /// Done, and the act wrote its own `response.action` (blocks and suspensions).
    Audited,
    /// The outcome to record: `done`, `already` (nothing left to do) or `not_found`.
    Outcome(&'static str),
    /// It failed, for this reason.
    Failed(String),
}

/// The executor of an action of `kind`, if there is one.
pub(crate) fn executor(kind: &ActionKind) -> Option<Box<dyn ActionExecutor + '_>> {
    EXECUTORS.iter().find_map(|make| make(kind))
}

/// `block_network`, `revoke_session`, `revoke_key`, `suspend_principal`, or `unknown` for a
/// kind no executor takes.
pub fn action_name(kind: &ActionKind) -> &'static str {
    executor(kind).map_or("unknown", |executor| executor.name())
}

/// `event` as the record of `action`: its name, origin, rule, alert, trigger and target.
pub(crate) fn describe_action(event: SecurityEvent, action: &ResponseAction) -> SecurityEvent {
    let executor = executor(&action.kind);
    let event = event
        .reason(
            executor
                .as_ref()
                .map_or("unknown", |executor| executor.name()),
        )
        .detail("origin", "detection")
        .detail("rule_id", &action.rule_id)
        .detail("alert_id", action.alert_id.as_str())
        .detail("trigger_seq", action.seq.to_string());
    match executor {
        Some(executor) => executor.describe(event),
        None => event,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use haechi_detect::AlertId;
    use haechi_events::{EventKind, Principal, Timestamp};

    use super::*;

    /// Each kind has exactly one executor, its name, and the target its record carries
    /// besides origin, rule, alert and trigger.
    #[test]
    fn every_kind_has_one_executor_and_its_record_names_the_target() {
        let check = |kind: ActionKind, name: &str, target: &[(&str, &str)]| {
            let handling = EXECUTORS.iter().filter_map(|make| make(&kind)).count();
            assert_eq!(handling, 1, "{kind:?}");
            assert_eq!(action_name(&kind), name);
            let action = ResponseAction {
                alert_id: AlertId::new("rule.x", 7),
                rule_id: "rule.x".into(),
                seq: 7,
                kind,
                disposition: Disposition::Enforce,
            };
            let event = describe_action(
                SecurityEvent::new(
                    Timestamp::EPOCH,
                    EventKind::ResponseAction,
                    Principal::Admin("root".into()),
                ),
                &action,
            );
            assert_eq!(event.reason.as_deref(), Some(name));
            let mut found = vec![
                ("sid", event.sid.clone().unwrap_or_default()),
                ("kid", event.kid.clone().unwrap_or_default()),
            ];
            found.extend(
                event
                    .detail
                    .iter()
                    .map(|(field, value)| (field.as_str(), value.clone())),
            );
            found.retain(|(field, value)| {
                !value.is_empty()
                    && !["origin", "rule_id", "alert_id", "trigger_seq"].contains(field)
            });
            let expected: Vec<(&str, String)> = target
                .iter()
                .map(|(field, value)| (*field, value.to_string()))
                .collect();
            assert_eq!(found, expected, "{name}");
            assert_eq!(event.detail["origin"], "detection");
            assert_eq!(event.detail["alert_id"], "rule.x/7");
            assert_eq!(event.detail["trigger_seq"], "7");
        };
        check(
            ActionKind::BlockNetwork {
                network: "203.0.113.0/24".parse().unwrap(),
                ttl: std::time::Duration::from_secs(3600),
            },
            "block_network",
            &[("network", "203.0.113.0/24"), ("ttl_secs", "3600")],
        );
        check(
            ActionKind::SuspendPrincipal {
                principal: Principal::Service("shipping".into()),
            },
            "suspend_principal",
            &[("target_principal", "service:shipping")],
        );
        check(
            ActionKind::RevokeSession { sid: "s_1".into() },
            "revoke_session",
            &[("sid", "s_1")],
        );
        check(
            ActionKind::RevokeKey { kid: "k_1".into() },
            "revoke_key",
            &[("kid", "k_1")],
        );
    }
}
