//! The response actions of one match: for each of the rule's actions, the target the event
//! names, unless this alert already acted on it or the state lookups say it is in force; then
//! the safeguards decide its disposition (allowlist, the daily cap, dry run). The engine only
//! decides: actions are data the server carries out.

use std::collections::VecDeque;

use haechi_events::Principal;
use ipnet::IpNet;

use super::alerts::OpenAlert;
use super::len64;
use crate::alert::{ActionKind, Disposition, ResponseAction};
use crate::fields::EventView;
use crate::lookup::KeyStateView;
use crate::rule::{ActionSpec, Response, Rule};

/// How many distinct action targets one alert remembers, so that a growing alert does not
/// repeat an action; past this, repeats are still suppressed by the state lookups.
const MAX_REMEMBERED_TARGETS: usize = 1024;

/// The window over which a rule's `max_actions` cap counts.
const ACTION_CAP_WINDOW: i64 = 24 * 3600 * 1_000_000;

/// The response actions for one match: each of the rule's actions with a target in the event,
/// not yet taken for this alert, not already in force per the state lookups, then judged
/// against the allowlist, the cap and dry-run.
pub(super) fn decide_actions(
    rule: &Rule,
    action_times: &mut VecDeque<i64>,
    open: &mut OpenAlert,
    view: &EventView<'_>,
) -> Vec<ResponseAction> {
    let response = &rule.response;
    if response.actions.is_empty() {
        return Vec::new();
    }
    let event = view.event;
    let mut decided = Vec::new();
    for spec in &response.actions {
        let Some(kind) = target(spec, view) else {
            continue;
        };
        if open.targets.contains(&kind) {
            continue;
        }
        let allowlisted = response.allow_principals.contains(&event.principal)
            || event.ip.is_some_and(|ip| response.allowlisted_ip(ip));
        let disposition = if allowlisted {
            Disposition::Allowlisted
        } else {
            let Some(disposition) = judge(response, action_times, open, view.time) else {
                continue;
            };
            disposition
        };
        if open.targets.len() < MAX_REMEMBERED_TARGETS {
            open.targets.insert(kind.clone());
        }
        decided.push(ResponseAction {
            alert_id: open.id.clone(),
            rule_id: rule.id.clone(),
            seq: view.seq,
            kind,
            disposition,
        });
    }
    decided
}

/// What `spec` would act on for this event: `None` when the event names no target, or the
/// state lookups say the action is already in force.
fn target(spec: &ActionSpec, view: &EventView<'_>) -> Option<ActionKind> {
    let event = view.event;
    let lookup = view.lookup;
    match spec {
        ActionSpec::RevokeSession => match &event.sid {
            Some(sid) if !lookup.is_session_revoked(sid) => {
                Some(ActionKind::RevokeSession { sid: sid.clone() })
            }
            _ => None,
        },
        ActionSpec::RevokeKey => match &event.kid {
            Some(kid) if lookup.key_state(kid) != Some(KeyStateView::Revoked) => {
                Some(ActionKind::RevokeKey { kid: kid.clone() })
            }
            _ => None,
        },
        ActionSpec::BlockNetwork {
            prefix_v4,
            prefix_v6,
            ttl,
        } => match event.ip {
            Some(ip) if !lookup.is_blocked(ip) => {
                let prefix = if ip.is_ipv4() { *prefix_v4 } else { *prefix_v6 };
                let network = IpNet::new(ip, prefix).ok()?;
                Some(ActionKind::BlockNetwork {
                    network: network.trunc(),
                    ttl: *ttl,
                })
            }
            _ => None,
        },
        ActionSpec::SuspendPrincipal => match &event.principal {
            Principal::Anonymous => None,
            principal if lookup.is_suspended(principal) => None,
            principal => Some(ActionKind::SuspendPrincipal {
                principal: principal.clone(),
            }),
        },
    }
}

/// The disposition of an action not allowlisted: past the rule's cap in the last day it is
/// reported once per alert (`CapReached`, then `None`: dropped); otherwise it counts towards
/// the cap and is enforced or, in dry run, only reported.
fn judge(
    response: &Response,
    action_times: &mut VecDeque<i64>,
    open: &mut OpenAlert,
    time: i64,
) -> Option<Disposition> {
    while action_times
        .front()
        .is_some_and(|&earlier| earlier < time - ACTION_CAP_WINDOW)
    {
        action_times.pop_front();
    }
    if len64(action_times.len()) >= response.max_actions {
        if open.cap_reported {
            return None;
        }
        open.cap_reported = true;
        return Some(Disposition::CapReached);
    }
    action_times.push_back(time);
    Some(if response.dry_run {
        Disposition::DryRun
    } else {
        Disposition::Enforce
    })
}
