//! Alerts and response actions: what the engine hands the server, as plain data.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use haechi_events::{Principal, Timestamp};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::rule::Severity;

/// How many evidence sequence numbers an alert keeps; beyond them only the count grows.
pub const MAX_EVIDENCE: usize = 100;

/// An alert's identity: `RULE_ID/SEQ`, the rule and the sequence number of the event that
/// raised it (`engine.state_cap.RULE_ID/SEQ` for the state-cap alert about a rule). Unique
/// across engine restarts, because a sequence number raises at most one alert per rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct AlertId(Arc<str>);

impl AlertId {
    /// The id of the alert `rule_id` raises at event `seq`. The server uses it for the alerts
    /// containment raises itself (a withheld block).
    pub fn new(rule_id: &str, seq: u64) -> Self {
        AlertId(format!("{rule_id}/{seq}").into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AlertId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// In the API's documents an alert id is its text, `RULE_ID/SEQ`.
impl utoipa::PartialSchema for AlertId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "An alert's identity: `RULE_ID/SEQ`, the rule and the sequence number of the \
                 event that raised it.",
            ))
            .examples(["haechi.token.forged_burst/1042"])
            .into()
    }
}

impl utoipa::ToSchema for AlertId {}

impl Serialize for AlertId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for AlertId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|text| AlertId(text.into()))
    }
}

/// One alert: a rule matched for a group, possibly many times while it stayed open.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Alert {
    /// The alert's identity.
    pub id: AlertId,
    /// The rule that raised it (`engine.state_cap` for the engine's own alert).
    pub rule_id: String,
    /// The rule's title.
    pub title: String,
    /// The rule's severity.
    pub severity: Severity,
    /// Event time of the first matching event.
    pub first_time: Timestamp,
    /// Event time of the latest matching event.
    pub last_time: Timestamp,
    /// The group the alert is about, as `field=value` pairs (just the value for one field;
    /// empty for rules without `group-by`).
    pub group_key: String,
    /// The names of the fields `group_key` is made of: the rule's `group-by`, in order (empty
    /// for rules without one, and for the engine's own `engine.state_cap` alert, whose group is
    /// a rule id). Recorded so the group can be read back without the rule — `haechi scope
    /// --alert` turns it into indicators. Absent in alerts serialised before it existed.
    #[serde(default)]
    pub group_by: Vec<String>,
    /// Sequence numbers of the evidence events, in the order they counted, at most
    /// [`MAX_EVIDENCE`]: for a correlation, the events in the window when it fired, then each
    /// later match.
    pub evidence_seqs: Vec<u64>,
    /// How many evidence events there were in all (may exceed `evidence_seqs.len()`).
    pub count: u64,
    /// The correlation's value at the latest match: events or distinct values in the window,
    /// completed sequences; 1 for single-event rules.
    pub window_count: u64,
    /// The rule's `fields` as they were in the raising event.
    pub context: BTreeMap<String, String>,
    /// Every response action decided for this alert, in order.
    pub actions: Vec<ResponseAction>,
}

/// A further match for an open alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertGrowth {
    /// The alert that grew.
    pub id: AlertId,
    /// The matching event.
    pub seq: u64,
    /// Its event time.
    pub time: Timestamp,
    /// The alert's evidence count after this match.
    pub count: u64,
    /// The correlation's value at this match.
    pub window_count: u64,
    /// Actions decided for this match (usually none: targets already acted on are not
    /// repeated).
    pub actions: Vec<ResponseAction>,
    /// The matching event's customer, when the rule says its events name affected customers
    /// (`incident: customers: customer_id`): a growing alert about many customers (every
    /// customer confirmed in one leaked item) ties each to its incident.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<String>,
}

/// What one event did to the alerts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "update", rename_all = "snake_case")]
pub enum AlertUpdate {
    /// A new alert (no alert of this rule and group was open within the rule's cooldown).
    Raised(Alert),
    /// An open alert matched again.
    Grew(AlertGrowth),
}

impl AlertUpdate {
    /// The actions this update carries.
    pub fn actions(&self) -> &[ResponseAction] {
        match self {
            AlertUpdate::Raised(alert) => &alert.actions,
            AlertUpdate::Grew(growth) => &growth.actions,
        }
    }
}

/// A containment action a rule decided, for the server to carry out (or, depending on
/// `disposition`, only to record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ResponseAction {
    /// The alert it belongs to.
    pub alert_id: AlertId,
    /// The rule that asked for it.
    pub rule_id: String,
    /// The event that triggered it.
    pub seq: u64,
    /// What to do to what.
    pub kind: ActionKind,
    /// Whether to do it.
    pub disposition: Disposition,
}

/// What a response action does, with its target.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(tag = "action", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ActionKind {
    /// Revoke the session (and its tokens).
    RevokeSession {
        /// The session id.
        sid: String,
    },
    /// Revoke the signing key as compromised.
    RevokeKey {
        /// The key id.
        kid: String,
    },
    /// Refuse requests from a network until the block expires.
    BlockNetwork {
        /// The network: the event's address cut to the rule's prefix length.
        #[serde(with = "network_text")]
        #[schema(value_type = String)]
        network: IpNet,
        /// How long the block lasts, in seconds.
        #[serde(with = "seconds")]
        #[schema(value_type = u64)]
        ttl: Duration,
    },
    /// Suspend the principal: its tokens stop working, it cannot log in.
    SuspendPrincipal {
        /// The principal.
        principal: Principal,
    },
}

/// Whether the server should carry out an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// Carry it out now, and audit it.
    Enforce,
    /// The rule is in dry-run mode: record what would have been done, do nothing.
    DryRun,
    /// The target is on the rule's allowlist: record it, do nothing.
    Allowlisted,
    /// The rule reached its `max_actions` cap for the rolling day: record it (once per alert),
    /// do nothing.
    CapReached,
    /// Set by the server, never by the engine: carrying it out automatically would hurt many
    /// (a block of an address that many principals use — a load balancer, a carrier NAT), so
    /// it is recorded as a recommendation and raised as an alert for a human, not done.
    Recommended,
}

mod network_text {
    use ipnet::IpNet;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        network: &IpNet,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_str(network)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<IpNet, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        duration: &Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(duration.as_secs())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_secs)
    }
}

/// Folds [`AlertUpdate`]s into the alerts they describe, in the order they were raised. What
/// [`Engine::replay`](crate::Engine::replay) returns, and what a server keeps for its alert
/// list.
#[derive(Debug, Default)]
pub struct AlertBook {
    alerts: Vec<Alert>,
    index: HashMap<AlertId, usize>,
}

impl AlertBook {
    /// An empty book.
    pub fn new() -> Self {
        AlertBook::default()
    }

    /// Applies one update: a raised alert is added, a growth extends its alert (evidence up to
    /// [`MAX_EVIDENCE`], count, last time, actions). A growth of an alert the book never saw
    /// is ignored.
    pub fn apply(&mut self, update: AlertUpdate) {
        match update {
            AlertUpdate::Raised(alert) => {
                self.index.insert(alert.id.clone(), self.alerts.len());
                self.alerts.push(alert);
            }
            AlertUpdate::Grew(growth) => {
                let Some(&position) = self.index.get(&growth.id) else {
                    return;
                };
                let alert = &mut self.alerts[position];
                if alert.evidence_seqs.len() < MAX_EVIDENCE {
                    alert.evidence_seqs.push(growth.seq);
                }
                alert.count = growth.count;
                alert.window_count = growth.window_count;
                alert.last_time = alert.last_time.max(growth.time);
                alert.actions.extend(growth.actions);
            }
        }
    }

    /// The alerts so far, in the order they were raised.
    pub fn alerts(&self) -> &[Alert] {
        &self.alerts
    }

    /// The alerts, in the order they were raised.
    pub fn into_alerts(self) -> Vec<Alert> {
        self.alerts
    }
}
