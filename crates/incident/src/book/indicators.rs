//! What an alert's context and an action's target say about who is behind an incident.

use haechi_detect::{ActionKind, Alert, LinkField};

use crate::model::{IncidentIndicators, ValueSet};

/// Adds an alert's context to the indicators; returns the customer it names, if any.
pub(super) fn add_context(
    indicators: &mut IncidentIndicators,
    alert: &Alert,
    affected_customers: bool,
) -> Option<String> {
    let value = |name: &str| {
        alert
            .context
            .get(name)
            .map(String::as_str)
            .filter(|value| !value.is_empty() && *value != "-")
    };
    if let Some(kid) = value("kid") {
        indicators.signing_keys.add(kid);
    }
    if let Some(ip) = value("ip") {
        indicators.networks.add(ip);
    }
    if let Some(agent) = value("user_agent") {
        indicators.user_agents.add(agent);
    }
    if let Some(sid) = value("sid") {
        indicators.sessions.add(sid);
    }
    // A rule that says its events name affected customers (`incident: customers:
    // customer_id`: customers confirmed in a leaked item) ties that customer to the incident;
    // its actor (the leak watch) is no indicator of an attacker.
    if affected_customers {
        return value("customer_id").map(str::to_string);
    }
    match value("principal") {
        Some(principal) => match principal.strip_prefix("customer:") {
            Some(customer) => Some(customer.to_string()),
            // Nobody authenticated: says nothing about who.
            None if principal == "anonymous" => None,
            None => {
                indicators.principals.add(principal);
                None
            }
        },
        None => None,
    }
}

/// Adds an action's target to the indicators; returns it as a correlating value when it is
/// one (a single address, a key).
pub(super) fn action_target(
    indicators: &mut IncidentIndicators,
    kind: &ActionKind,
) -> Option<(LinkField, String)> {
    match kind {
        ActionKind::BlockNetwork { network, .. } => {
            let single = network.prefix_len() == network.max_prefix_len();
            let value = if single {
                network.addr().to_string()
            } else {
                network.to_string()
            };
            indicators.networks.add(&value);
            single.then_some((LinkField::Ip, value))
        }
        ActionKind::RevokeKey { kid } => {
            indicators.signing_keys.add(kid);
            Some((LinkField::Kid, kid.clone()))
        }
        ActionKind::RevokeSession { sid } => {
            indicators.sessions.add(sid);
            None
        }
        ActionKind::SuspendPrincipal { principal } => {
            if !matches!(principal, haechi_events::Principal::Customer(_)) {
                indicators.principals.add(&principal.to_string());
            }
            None
        }
        _ => None,
    }
}

pub(super) fn values_of(indicators: &IncidentIndicators, field: LinkField) -> &ValueSet {
    match field {
        LinkField::Kid => &indicators.signing_keys,
        LinkField::Ip => &indicators.networks,
        LinkField::UserAgent => &indicators.user_agents,
        LinkField::Sid => &indicators.sessions,
        LinkField::Principal => &indicators.principals,
    }
}
