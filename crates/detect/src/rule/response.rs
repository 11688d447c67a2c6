//! A rule's `response:` block: the actions it may take and their safeguards (dry run, the
//! allowlist, the daily cap). Parsed and checked here; decided per match by the engine.

use std::net::IpAddr;
use std::time::Duration;

use haechi_events::Principal;
use ipnet::IpNet;

use super::duration::duration;
use super::{DEFAULT_MAX_ACTIONS, MAX_BLOCK_TTL};
use crate::yaml::{Map, Node, Problem, Value};

/// The rule's response: actions, safeguards.
#[derive(Debug, Clone, Default)]
pub(crate) struct Response {
    pub(crate) dry_run: bool,
    pub(crate) actions: Vec<ActionSpec>,
    pub(crate) allow_networks: Vec<IpNet>,
    pub(crate) allow_principals: Vec<Principal>,
    pub(crate) max_actions: u64,
}

impl Response {
    /// The event's fields (archive columns) deciding the actions reads: the allowlist's
    /// principal and address, and each action's target.
    pub(crate) fn columns_read(&self) -> Vec<&'static str> {
        if self.actions.is_empty() {
            return Vec::new();
        }
        let mut columns = vec!["principal", "ip"];
        for action in &self.actions {
            columns.push(match action {
                ActionSpec::RevokeSession => "sid",
                ActionSpec::RevokeKey => "kid",
                ActionSpec::BlockNetwork { .. } => "ip",
                ActionSpec::SuspendPrincipal => "principal",
            });
        }
        columns
    }

    pub(crate) fn allowlisted_ip(&self, ip: IpAddr) -> bool {
        self.allow_networks
            .iter()
            .any(|network| network.contains(&ip))
    }
}

/// One action a rule may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ActionSpec {
    RevokeSession,
    RevokeKey,
    BlockNetwork {
        prefix_v4: u8,
        prefix_v6: u8,
        ttl: Duration,
    },
    SuspendPrincipal,
}

impl ActionSpec {
    fn name(&self) -> &'static str {
        match self {
            ActionSpec::RevokeSession => "revoke_session",
            ActionSpec::RevokeKey => "revoke_key",
            ActionSpec::BlockNetwork { .. } => "block_network",
            ActionSpec::SuspendPrincipal => "suspend_principal",
        }
    }
}

/// Parses `response:`: its actions, then `dry_run`, `max_actions` and the allowlist, each
/// checked against the actions.
pub(crate) fn parse_response(node: &Node) -> Result<Response, Problem> {
    let map = Map::of(node, "`response`")?;
    map.only(
        &["dry_run", "actions", "allowlist", "max_actions"],
        "`response`",
    )?;
    let actions = match map.get("actions") {
        None => Vec::new(),
        Some(list) => parse_actions(list)?,
    };
    let dry_run = match map.get("dry_run") {
        Some(node) => node.boolean("`dry_run`")?,
        None if actions.is_empty() => true,
        None => {
            return Err(Problem::at(
                node,
                "a response with actions must say `dry_run: true` (only report what would be \
                 done) or `dry_run: false` (enforce)",
            ));
        }
    };
    let max_actions = match map.get("max_actions") {
        None => DEFAULT_MAX_ACTIONS,
        Some(node) => {
            let cap = node.count("`max_actions`")?;
            if cap == 0 && !actions.is_empty() {
                return Err(Problem::at(
                    node,
                    "`max_actions: 0` contradicts the listed actions; remove them or raise the cap",
                ));
            }
            cap
        }
    };
    let (allow_networks, allow_principals) = match map.get("allowlist") {
        None => (Vec::new(), Vec::new()),
        Some(node) => {
            if actions.is_empty() {
                return Err(Problem::at(
                    node,
                    "an allowlist only applies to actions; none are listed",
                ));
            }
            parse_allowlist(node)?
        }
    };
    Ok(Response {
        dry_run,
        actions,
        allow_networks,
        allow_principals,
        max_actions,
    })
}

/// `actions:`, each listed once.
fn parse_actions(list: &Node) -> Result<Vec<ActionSpec>, Problem> {
    let mut actions: Vec<ActionSpec> = Vec::new();
    for item in list.items() {
        let action = parse_action(item)?;
        if let Some(previous) = actions.iter().find(|known| known.name() == action.name()) {
            let message = if *previous == action {
                format!("action `{}` is listed twice", action.name())
            } else {
                format!(
                    "action `{}` is listed twice with conflicting parameters",
                    action.name()
                )
            };
            return Err(Problem::at(item, message));
        }
        actions.push(action);
    }
    Ok(actions)
}

/// One action: a name, or a one-key mapping of a name to its parameters.
fn parse_action(item: &Node) -> Result<ActionSpec, Problem> {
    let (name, parameters) = match &item.value {
        Value::String(name) => (name.as_str(), None),
        Value::Mapping(entries) if entries.len() == 1 => {
            (entries[0].0.text.as_str(), Some(&entries[0].1))
        }
        _ => {
            return Err(Problem::at(
                item,
                "an action is a name (`revoke_key`) or a one-key mapping \
                 (`block_network: {prefix_len: 32, ttl: 1h}`)",
            ));
        }
    };
    match name {
        "revoke_session" | "revoke_key" | "suspend_principal" => {
            if let Some(parameters) = parameters
                && parameters.value != Value::Null
                && parameters.value != Value::Mapping(Vec::new())
            {
                return Err(Problem::at(
                    parameters,
                    format!("`{name}` takes no parameters"),
                ));
            }
            Ok(match name {
                "revoke_session" => ActionSpec::RevokeSession,
                "revoke_key" => ActionSpec::RevokeKey,
                _ => ActionSpec::SuspendPrincipal,
            })
        }
        "block_network" => parse_block(item, parameters),
        other => Err(Problem::at(
            item,
            format!(
                "unknown action {other:?}; known: revoke_session, revoke_key, \
                 block_network, suspend_principal"
            ),
        )),
    }
}

/// `allowlist: {cidrs: [...], principals: [...]}`: who the actions never touch.
fn parse_allowlist(node: &Node) -> Result<(Vec<IpNet>, Vec<Principal>), Problem> {
    let mut allow_networks = Vec::new();
    let mut allow_principals = Vec::new();
    let allowlist = Map::of(node, "`allowlist`")?;
    allowlist.only(&["cidrs", "principals"], "`allowlist`")?;
    if let Some(list) = allowlist.get("cidrs") {
        for (item, text) in list.text_list("an allowlist network")? {
            let network: IpNet = text
                .parse()
                .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| Problem::at(item, format!("{text:?} is not a network")))?;
            if network.prefix_len() == 0 {
                return Err(Problem::at(
                    item,
                    "an allowlist of every address disables the rule's actions; set \
                     `dry_run: true` instead",
                ));
            }
            allow_networks.push(network.trunc());
        }
    }
    if let Some(list) = allowlist.get("principals") {
        for (item, text) in list.text_list("an allowlist principal")? {
            allow_principals.push(
                text.parse::<Principal>()
                    .map_err(|error| Problem::at(item, error.to_string()))?,
            );
        }
    }
    Ok((allow_networks, allow_principals))
}

/// `block_network: {ttl, prefix_len, prefix_len_v6}`, with prefixes no shorter than a
/// neighbourhood.
fn parse_block(item: &Node, parameters: Option<&Node>) -> Result<ActionSpec, Problem> {
    let Some(parameters) = parameters.filter(|node| node.value != Value::Null) else {
        return Err(Problem::at(
            item,
            "`block_network` needs `ttl` (and optionally `prefix_len`, `prefix_len_v6`)",
        ));
    };
    let map = Map::of(parameters, "`block_network`")?;
    map.only(&["prefix_len", "prefix_len_v6", "ttl"], "`block_network`")?;
    let prefix = |key: &str, default: u64, low: u64, high: u64| -> Result<u8, Problem> {
        let Some(node) = map.get(key) else {
            return Ok(u8::try_from(default).unwrap_or(u8::MAX));
        };
        let value = node.count(&format!("`{key}`"))?;
        if value < low || value > high {
            return Err(Problem::at(
                node,
                format!(
                    "`{key}` must be between {low} and {high}; shorter prefixes would block \
                     too many innocent addresses"
                ),
            ));
        }
        Ok(u8::try_from(value).unwrap_or(u8::MAX))
    };
    let ttl = duration(
        map.require("ttl", "`block_network`")?,
        "`ttl`",
        MAX_BLOCK_TTL,
    )?;
    Ok(ActionSpec::BlockNetwork {
        prefix_v4: prefix("prefix_len", 32, 16, 32)?,
        prefix_v6: prefix("prefix_len_v6", 64, 32, 128)?,
        ttl: Duration::from_micros(ttl.unsigned_abs()),
    })
}
