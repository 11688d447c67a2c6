//! The response actions containment carries out: one [`ActionExecutor`] per kind of
//! [`ActionKind`], one file each, and one list ([`EXECUTORS`]). A new kind of action is its
//! file and one line in the list.
//!
//! An executor is asked only about an action that is still `enforce` after server-wide
//! enforcement: first its own safeguards ([`ActionExecutor::safeguard`]), then, if it is not
//! withheld, to carry it out under the response grant. Whatever it answers, containment audits
//! the action as `response.action` (see [`crate::Containment::carry_out`]).

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

/// Every kind of action containment knows how to carry out. An action no executor handles is
/// recorded with outcome `unsupported`.
pub(crate) const EXECUTORS: &[&dyn ActionExecutor] = &[
    &block_network::BlockNetwork,
    &suspend_principal::SuspendPrincipal,
    &revoke_session::RevokeSession,
    &revoke_key::RevokeKey,
];

/// One kind of response action.
#[async_trait]
pub(crate) trait ActionExecutor: Send + Sync {
    /// The action's name in `response.action` (its `reason`) and in metrics:
    /// `block_network`, `suspend_principal`, ….
    fn name(&self) -> &'static str;

    /// Whether this executor carries out actions of `kind`.
    fn handles(&self, kind: &ActionKind) -> bool;

    /// Adds what the action aims at (network, principal, session, key) to its audit event.
    fn describe(&self, kind: &ActionKind, event: SecurityEvent) -> SecurityEvent;

    /// This kind's own safeguards, asked of an action about to be enforced: `Some` withholds
    /// it (it is then only recorded, with the disposition given).
    fn safeguard(&self, _containment: &Containment, _action: &ResponseAction) -> Option<Withheld> {
        None
    }

    /// Carries the action out under `grant` (the response grant).
    async fn carry_out(
        &self,
        containment: &Containment,
        action: &ResponseAction,
        alert_title: &str,
        grant: &AdminGrant,
    ) -> Executed;
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

/// The executor of actions of `kind`, if there is one.
pub(crate) fn executor(kind: &ActionKind) -> Option<&'static dyn ActionExecutor> {
    EXECUTORS
        .iter()
        .copied()
        .find(|executor| executor.handles(kind))
}

/// `block_network`, `revoke_session`, `revoke_key`, `suspend_principal`, or `unknown` for a
/// kind no executor handles.
pub fn action_name(kind: &ActionKind) -> &'static str {
    executor(kind).map_or("unknown", |executor| executor.name())
}

/// `event` as the record of `action`: its name, origin, rule, alert, trigger and target.
pub(crate) fn describe_action(event: SecurityEvent, action: &ResponseAction) -> SecurityEvent {
    let event = event
        .reason(action_name(&action.kind))
        .detail("origin", "detection")
        .detail("rule_id", &action.rule_id)
        .detail("alert_id", action.alert_id.as_str())
        .detail("trigger_seq", action.seq.to_string());
    match executor(&action.kind) {
        Some(executor) => executor.describe(&action.kind, event),
        None => event,
    }
}
