//! What an incident is: one attack (or one imported breach), its state, its indicators, its
//! alerts and what was done about it.

use std::collections::BTreeSet;
use std::fmt;

use haechi_detect::{ActionKind, Disposition, Severity};
use haechi_events::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Error;

/// Most values an incident lists per kind of indicator; beyond them only the count grows.
pub const MAX_LISTED_VALUES: usize = 1000;
/// Most alerts an incident lists; beyond them only the count grows (every alert's incident
/// is still kept, so a later growth or action finds it).
pub const MAX_LISTED_ALERTS: usize = 1000;
/// Most containment actions an incident lists.
pub const MAX_LISTED_ACTIONS: usize = 1000;

/// An incident's identity: `INC-` and 12 hexadecimal digits of a SHA-256 over what opened it
/// (its first alert's id, or an import's digest), so a replay or a restarted node names the
/// same incident the same way.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IncidentId(String);

impl IncidentId {
    /// The id of the incident opened by `seed` (an alert id, an import digest).
    pub fn derive(seed: &str) -> Self {
        let digest = Sha256::digest(seed.as_bytes());
        IncidentId(format!("INC-{}", hex::encode_upper(&digest[..6])))
    }

    /// Parses an id as the API and the CLI take it (`INC-` and 12 hexadecimal digits, either
    /// case).
    pub fn parse(text: &str) -> Result<Self, Error> {
        let digits = text
            .strip_prefix("INC-")
            .or_else(|| text.strip_prefix("inc-"))
            .filter(|digits| digits.len() == 12 && digits.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| Error::BadId(text.chars().take(40).collect()))?;
        Ok(IncidentId(format!("INC-{}", digits.to_ascii_uppercase())))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IncidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for IncidentId {
    type Error = Error;
    fn try_from(text: String) -> Result<Self, Error> {
        IncidentId::parse(&text)
    }
}

impl From<IncidentId> for String {
    fn from(id: IncidentId) -> String {
        id.0
    }
}

impl utoipa::PartialSchema for IncidentId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^INC-[0-9A-F]{12}$"))
            .examples(["INC-3F9A1C0E5B2D"])
            .into()
    }
}

impl utoipa::ToSchema for IncidentId {}

/// Where an incident stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IncidentState {
    /// Going on, or not yet answered: nothing has been contained.
    Open,
    /// At least one containment action was carried out (a key revoked, a network blocked, a
    /// session ended, a principal suspended); alerts may still join it.
    Contained,
    /// A responder closed it (or it was merged into another); nothing joins it any more.
    Closed,
}

impl IncidentState {
    /// `open`, `contained` or `closed`.
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentState::Open => "open",
            IncidentState::Contained => "contained",
            IncidentState::Closed => "closed",
        }
    }

    /// Parses `open`, `contained` or `closed`.
    pub fn parse(text: &str) -> Option<Self> {
        [
            IncidentState::Open,
            IncidentState::Contained,
            IncidentState::Closed,
        ]
        .into_iter()
        .find(|state| state.as_str() == text)
    }
}

/// How an incident came to be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum IncidentOrigin {
    /// Detection grouped alerts into it.
    Detection,
    /// An operator created it from a list of affected customers (`haechi incident create
    /// --from`): a breach found outside Haechi, or a scope result.
    Imported {
        /// The file's name as given.
        source: String,
        /// SHA-256 of the file, hex.
        sha256: String,
    },
}

/// A bounded, ordered set of indicator values: the first [`MAX_LISTED_VALUES`] are listed,
/// the rest only counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ValueSet {
    /// The values, in order.
    pub values: BTreeSet<String>,
    /// Distinct values seen beyond those listed.
    pub unlisted: u64,
}

impl ValueSet {
    /// Adds a value; `true` when it was new and listed.
    pub fn add(&mut self, value: &str) -> bool {
        if self.values.contains(value) {
            return false;
        }
        if self.values.len() >= MAX_LISTED_VALUES {
            // Past the cap a repeated value cannot be told from a new one; the count says
            // "at least".
            self.unlisted += 1;
            return false;
        }
        self.values.insert(value.to_string())
    }

    /// Listed and unlisted values together.
    pub fn count(&self) -> u64 {
        self.values.len() as u64 + self.unlisted
    }

    fn absorb(&mut self, other: &ValueSet) {
        for value in &other.values {
            self.add(value);
        }
        self.unlisted += other.unlisted;
    }
}

/// What an incident's alerts say about who is behind it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IncidentIndicators {
    /// Signing keys of the tokens used (`kid`).
    pub signing_keys: ValueSet,
    /// Client addresses.
    pub networks: ValueSet,
    /// Client `User-Agent`s.
    pub user_agents: ValueSet,
    /// Sessions.
    pub sessions: ValueSet,
    /// Principals acting that are not the affected customers: services, administrators.
    pub principals: ValueSet,
}

impl IncidentIndicators {
    pub(crate) fn absorb(&mut self, other: &IncidentIndicators) {
        self.signing_keys.absorb(&other.signing_keys);
        self.networks.absorb(&other.networks);
        self.user_agents.absorb(&other.user_agents);
        self.sessions.absorb(&other.sessions);
        self.principals.absorb(&other.principals);
    }
}

/// One alert of an incident, as the incident lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IncidentAlert {
    /// The alert's id (`RULE_ID/SEQ`).
    pub id: String,
    /// Its rule.
    pub rule_id: String,
    /// Its severity.
    pub severity: Severity,
    /// Event time of its first match.
    pub first_time: Timestamp,
    /// Its group (`field=value` pairs, or the value).
    pub group_key: String,
}

/// A containment action taken (or only recorded) for one of the incident's alerts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IncidentAction {
    /// The alert it was for.
    pub alert_id: String,
    /// What was done to what.
    pub kind: ActionKind,
    /// Whether it was meant to be carried out.
    pub disposition: Disposition,
    /// Whether it was carried out (`false`: recorded only, or it failed).
    pub carried_out: bool,
    /// When it was recorded (the server's clock; in a replay, the alert's event time).
    pub at: Timestamp,
}

/// Who closed an incident, when and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Closure {
    /// When.
    pub at: Timestamp,
    /// Who (`admin:NAME`, or `detection` for a merge).
    pub by: String,
    /// Why.
    pub note: String,
    /// The incident this one was merged into, when it was closed by a merge.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<IncidentId>,
}

/// One attack, or one imported breach: the incident the console, the portal and the notices
/// all speak of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Incident {
    /// Its id.
    pub id: IncidentId,
    /// A one-line summary (the highest alert's title, or the import's).
    pub title: String,
    /// Open, contained or closed.
    pub state: IncidentState,
    /// The highest severity of its alerts (`critical` for an import).
    pub severity: Severity,
    /// How it came to be.
    pub origin: IncidentOrigin,
    /// Event time of the earliest alert (or affected read).
    pub first_seen: Timestamp,
    /// Event time of the latest.
    pub last_seen: Timestamp,
    /// When a containment action was first carried out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contained_at: Option<Timestamp>,
    /// Who closed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closure: Option<Closure>,
    /// What its alerts say about who is behind it.
    pub indicators: IncidentIndicators,
    /// Distinct affected customers known to it (their ids are kept beside the incident, not
    /// in it). For detection, the customers the alerts named; the exact set comes from `haechi
    /// scope --incident`.
    pub customers: u64,
    /// Its rules, each once.
    pub rules: BTreeSet<String>,
    /// Alerts in all.
    pub alert_count: u64,
    /// The first [`MAX_LISTED_ALERTS`] alerts.
    pub alerts: Vec<IncidentAlert>,
    /// The first [`MAX_LISTED_ACTIONS`] containment actions, in order.
    pub actions: Vec<IncidentAction>,
    /// Incidents merged into this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged: Vec<IncidentId>,
    /// When it last changed (the server's clock; in a replay, event time).
    pub updated_at: Timestamp,
}

impl Incident {
    /// Whether alerts may still join it.
    pub fn is_live(&self) -> bool {
        self.state != IncidentState::Closed
    }
}

impl Incident {
    /// Closes it: nothing joins it any more.
    pub fn close(&mut self, closure: Closure) {
        self.state = IncidentState::Closed;
        self.updated_at = self.updated_at.max(closure.at);
        self.closure = Some(closure);
    }
}
