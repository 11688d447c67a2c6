//! The security event and its vocabulary.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::kind::EventKind;

/// Who acted. The text form (`customer:ID`, `service:NAME`, `admin:NAME`, `anonymous`) is the
/// audit event's `principal` column and the `sub` claim of access tokens.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Principal {
    /// A customer, by account id.
    Customer(String),
    /// A service principal (an internal system reading data for a purpose), by name.
    Service(String),
    /// An administrator, by name.
    Admin(String),
    /// Nobody authenticated (yet): a failed login, a forged token.
    Anonymous,
}

impl Principal {
    /// The name or id after the prefix; empty for [`Principal::Anonymous`].
    pub fn id(&self) -> &str {
        match self {
            Principal::Customer(id) | Principal::Service(id) | Principal::Admin(id) => id,
            Principal::Anonymous => "",
        }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::Customer(id) => write!(f, "customer:{id}"),
            Principal::Service(name) => write!(f, "service:{name}"),
            Principal::Admin(name) => write!(f, "admin:{name}"),
            Principal::Anonymous => f.write_str("anonymous"),
        }
    }
}

/// A principal string that is not `customer:ID`, `service:NAME`, `admin:NAME` or `anonymous`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a principal: {0:?} (expected customer:ID, service:NAME, admin:NAME or anonymous)")]
pub struct PrincipalParseError(pub String);

impl FromStr for Principal {
    type Err = PrincipalParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text == "anonymous" {
            return Ok(Principal::Anonymous);
        }
        let (prefix, id) = text
            .split_once(':')
            .ok_or_else(|| PrincipalParseError(text.to_string()))?;
        let valid_id = !id.is_empty()
            && id.len() <= 128
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !valid_id {
            return Err(PrincipalParseError(text.to_string()));
        }
        match prefix {
            "customer" => Ok(Principal::Customer(id.to_string())),
            "service" => Ok(Principal::Service(id.to_string())),
            "admin" => Ok(Principal::Admin(id.to_string())),
            _ => Err(PrincipalParseError(text.to_string())),
        }
    }
}

/// In the API's documents a principal is its text form.
impl utoipa::PartialSchema for Principal {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(
                "^(anonymous|(customer|service|admin):[A-Za-z0-9._-]{1,128})$",
            ))
            .description(Some(
                "Who acted: `customer:ID`, `service:NAME`, `admin:NAME` or `anonymous`.",
            ))
            .examples(["service:shipping"])
            .into()
    }
}

impl utoipa::ToSchema for Principal {}

impl Serialize for Principal {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Principal {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// What an access decision was: plaintext allowed, masked, or refused.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// The act was allowed in full.
    Allow,
    /// The act was allowed with personal fields masked.
    Mask,
    /// The act was refused.
    Deny,
}

impl Decision {
    /// `allow`, `mask` or `deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Mask => "mask",
            Decision::Deny => "deny",
        }
    }
}

/// One security-relevant act, with the spec's audit-event field names. It never carries
/// plaintext personal data: customers appear by id, fields by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SecurityEvent {
    /// When the act happened (the server's clock, which a drill may simulate).
    pub time: Timestamp,
    /// What happened.
    pub kind: EventKind,
    /// Who acted.
    pub principal: Principal,
    /// Session id, when the act happened inside a session.
    pub sid: Option<String>,
    /// Access-token id (`jti`), when a token was involved.
    pub jti: Option<String>,
    /// Signing key id (`kid`), when a token or key was involved.
    pub kid: Option<String>,
    /// The client's network address.
    #[schema(value_type = Option<String>)]
    pub ip: Option<std::net::IpAddr>,
    /// The client's `User-Agent` (truncated to a bounded length by the caller).
    pub user_agent: Option<String>,
    /// Whose data the act touched.
    pub customer_id: Option<String>,
    /// Which personal fields the act touched, by name, sorted and unique.
    pub fields: Vec<String>,
    /// The purpose a service declared for a read.
    pub purpose: Option<String>,
    /// The access decision.
    pub decision: Decision,
    /// The HTTP status (or exit status) the act ended with.
    pub status: u16,
    /// The request id (`x-request-id`) that ties the event to a request.
    pub request_id: Option<String>,
    /// Why, for refusals and key changes (`expired`, `unknown_kid`, `compromise`, …).
    pub reason: Option<String>,
    /// Further facts for the record, never personal data (e.g. the sessions a revoked key
    /// signed for). Sorted by key, so the canonical encoding is stable.
    pub detail: BTreeMap<String, String>,
}

impl SecurityEvent {
    /// A new event of `kind` by `principal` at `time`, allowed with status 200, every optional
    /// field empty. Set the rest with the builder methods.
    pub fn new(time: Timestamp, kind: EventKind, principal: Principal) -> Self {
        SecurityEvent {
            time,
            kind,
            principal,
            sid: None,
            jti: None,
            kid: None,
            ip: None,
            user_agent: None,
            customer_id: None,
            fields: Vec::new(),
            purpose: None,
            decision: Decision::Allow,
            status: 200,
            request_id: None,
            reason: None,
            detail: BTreeMap::new(),
        }
    }

    /// Sets the session id.
    pub fn sid(mut self, sid: impl Into<String>) -> Self {
        self.sid = Some(sid.into());
        self
    }

    /// Sets the token id.
    pub fn jti(mut self, jti: impl Into<String>) -> Self {
        self.jti = Some(jti.into());
        self
    }

    /// Sets the key id.
    pub fn kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// Sets the client address.
    pub fn ip(mut self, ip: Option<IpAddr>) -> Self {
        self.ip = ip;
        self
    }

    /// Sets the user agent, cut to at most 256 bytes on a character boundary.
    pub fn user_agent(mut self, user_agent: Option<&str>) -> Self {
        self.user_agent = user_agent.map(|agent| truncate_on_char_boundary(agent, 256));
        self
    }

    /// Sets whose data was touched.
    pub fn customer(mut self, customer_id: impl Into<String>) -> Self {
        self.customer_id = Some(customer_id.into());
        self
    }

    /// Sets the fields touched (sorted and de-duplicated here).
    pub fn fields<I, S>(mut self, fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut fields: Vec<String> = fields.into_iter().map(Into::into).collect();
        fields.sort();
        fields.dedup();
        self.fields = fields;
        self
    }

    /// Sets the declared purpose.
    pub fn purpose(mut self, purpose: impl Into<String>) -> Self {
        self.purpose = Some(purpose.into());
        self
    }

    /// Sets the decision and status together.
    pub fn outcome(mut self, decision: Decision, status: u16) -> Self {
        self.decision = decision;
        self.status = status;
        self
    }

    /// Sets the request id.
    pub fn request_id(mut self, request_id: Option<&str>) -> Self {
        self.request_id = request_id.map(str::to_string);
        self
    }

    /// Sets the reason.
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// Adds one detail entry.
    pub fn detail(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.detail.insert(key.into(), value.into());
        self
    }
}

fn truncate_on_char_boundary(text: &str, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text.to_string();
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_name() {
        for kind in EventKind::ALL {
            assert_eq!(kind.as_str().parse::<EventKind>(), Ok(*kind));
            let json = serde_json::to_string(kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
    }

    #[test]
    fn principals_parse_and_print() {
        for text in [
            "customer:c_01",
            "service:shipping",
            "admin:kim",
            "anonymous",
        ] {
            let principal: Principal = text.parse().unwrap();
            assert_eq!(principal.to_string(), text);
        }
        for bad in ["customer:", "root:x", "service:a b", "customer"] {
            assert!(bad.parse::<Principal>().is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn user_agent_is_cut_on_a_character_boundary() {
        let agent = "한".repeat(200);
        let event = SecurityEvent::new(Timestamp::EPOCH, EventKind::PiiRead, Principal::Anonymous)
            .user_agent(Some(&agent));
        let stored = event.user_agent.unwrap();
        assert!(stored.len() <= 256);
        assert!(agent.starts_with(&stored));
    }
}
