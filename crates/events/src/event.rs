//! The security event and its vocabulary.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// What kind of act an event records. The string forms (`auth.login_ok`, …) are the audit
/// event's `kind` column and what detection rules match on.
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
#[non_exhaustive]
pub enum EventKind {
    /// A customer logged in with the right password.
    #[serde(rename = "auth.login_ok")]
    LoginOk,
    /// A login was refused (unknown account, wrong password, rate limit).
    #[serde(rename = "auth.login_failed")]
    LoginFailed,
    /// A customer ended their session.
    #[serde(rename = "auth.logout")]
    Logout,
    /// A refresh token was exchanged for a new pair.
    #[serde(rename = "auth.refresh")]
    Refresh,
    /// An already spent refresh token was presented again; the session was revoked.
    #[serde(rename = "auth.refresh_reused")]
    RefreshReused,
    /// An access token was issued (and recorded in the issuance ledger first).
    #[serde(rename = "token.issued")]
    TokenIssued,
    /// A presented token was refused; `reason` says why.
    #[serde(rename = "token.rejected")]
    TokenRejected,
    /// A token with a valid signature that Haechi never issued: a stolen or leaked key in use.
    #[serde(rename = "token.forged")]
    TokenForged,
    /// A token or session was revoked (RFC 7009 or admin act).
    #[serde(rename = "token.revoked")]
    TokenRevoked,
    /// A signing key was generated inside the authority.
    #[serde(rename = "key.generated")]
    KeyGenerated,
    /// A signing key was imported from an existing identity provider.
    #[serde(rename = "key.imported")]
    KeyImported,
    /// A key became the active signing key.
    #[serde(rename = "key.activated")]
    KeyActivated,
    /// A key stopped signing and only verifies until its window closes.
    #[serde(rename = "key.retiring")]
    KeyRetiring,
    /// A key's verification window closed; it verifies nothing any more.
    #[serde(rename = "key.retired")]
    KeyRetired,
    /// A key was revoked as compromised: every token it signed stopped working.
    #[serde(rename = "key.revoked")]
    KeyRevoked,
    /// The master key (KEK) was rotated and data keys re-wrapped.
    #[serde(rename = "key.master_rotated")]
    MasterKeyRotated,
    /// Personal data was read.
    #[serde(rename = "pii.read")]
    PiiRead,
    /// Personal data was created or changed.
    #[serde(rename = "pii.write")]
    PiiWrite,
    /// A customer record was crypto-shredded.
    #[serde(rename = "pii.delete")]
    PiiDelete,
    /// A blind-index lookup by e-mail or phone.
    #[serde(rename = "pii.lookup")]
    PiiLookup,
    /// A principal exhausted its budget of distinct customers.
    #[serde(rename = "pii.quota_exceeded")]
    PiiQuotaExceeded,
    /// An administrator created a principal (admin, service, customer account).
    #[serde(rename = "admin.principal_created")]
    AdminPrincipalCreated,
    /// An administrator changed configuration or policy.
    #[serde(rename = "admin.config_changed")]
    AdminConfigChanged,
    /// An administrator read the audit trail or exported it.
    #[serde(rename = "admin.audit_read")]
    AdminAuditRead,
    /// A detection rule raised an alert.
    #[serde(rename = "alert.raised")]
    AlertRaised,
    /// A containment action was taken (block, revoke, suspend).
    #[serde(rename = "response.action")]
    ResponseAction,
    /// A containment action was lifted.
    #[serde(rename = "response.lifted")]
    ResponseLifted,
    /// A leaked dump matched a customer.
    #[serde(rename = "leak.matched")]
    LeakMatched,
    /// Refusals of unauthenticated requests from one source beyond its per-second budget,
    /// counted with their reasons instead of recorded one by one.
    #[serde(rename = "request.refusals_summarized")]
    RefusalsSummarized,
    /// Alerts left the alert desk (full) or the webhook queue (full) before a human or the
    /// receiver had them; their `alert.raised` stays in the trail. Detection's own output.
    #[serde(rename = "alert.dropped")]
    AlertDropped,
    /// The volume holding the audit log fell below its free-space headroom
    /// (`audit.min_free_headroom`): once the disk is full the log fails closed. Recorded once
    /// per crossing by `haechi serve`.
    #[serde(rename = "audit.disk_low")]
    AuditDiskLow,
    /// The audit witness stopped taking signed checkpoints: until it takes them again, a cut
    /// of the log's tail could not be proven. Recorded once per failure episode.
    #[serde(rename = "audit.witness_failing")]
    AuditWitnessFailing,
    /// The PKCS#11 token holding the signing keys (or the master key) stopped answering: until
    /// it is back, token issuance (and, with the master key there, unwrapping) answers 503.
    /// Recorded once per outage by `haechi serve`.
    #[serde(rename = "custody.unavailable")]
    CustodyUnavailable,
    /// The PKCS#11 token answers again after an outage.
    #[serde(rename = "custody.restored")]
    CustodyRestored,
    /// An anonymous exposure check was refused: its source's budget of evaluations, or every
    /// source's together, was spent (`reason`: `source_budget`, `global_budget`). Each
    /// evaluation tests one guess, so volume here is what an enumeration looks like.
    #[serde(rename = "exposure.check_refused")]
    ExposureCheckRefused,
    /// Breach notices were queued for an incident (`haechi notify`): by whom, the incident and
    /// batch, how many (`detail`).
    #[serde(rename = "notice.queued")]
    NoticeQueued,
    /// A sink accepted a notice (`customer_id`, `detail`: notice id, channel, sink, code).
    #[serde(rename = "notice.sent")]
    NoticeSent,
    /// A notice could not be delivered: given up, or an attempt that will be retried
    /// (`reason`; `detail`: notice id, channel, sink, attempt).
    #[serde(rename = "notice.failed")]
    NoticeFailed,
    /// A pasted message was checked against the notices (`reason`: `genuine`, `altered`,
    /// `unknown_code`, `no_code`; refused checks are `deny` 429). Never the text.
    #[serde(rename = "notice.verified")]
    NoticeVerified,
    /// A named reviewer acknowledged a month's access review (`detail`: `month`, `digest` of
    /// the summary they saw, `note`).
    #[serde(rename = "audit.review_acknowledged")]
    AccessReviewAcknowledged,
    /// The review job summarised a month that ended (`detail`: `month`, `digest`, counts): the
    /// review is due from now on.
    #[serde(rename = "audit.review_prepared")]
    AccessReviewPrepared,
    /// A month's review was not acknowledged within `evidence.review_due_days` of its end
    /// (`detail`: `month`, `digest`). Recorded once per month; the built-in rule alerts on it.
    #[serde(rename = "audit.review_overdue")]
    AccessReviewOverdue,
    /// A leak-watch pass over a dump ended (`detail`: `source`, `rows`, `customers` matched,
    /// `new_exposures`), whatever it found: a pass that matched nobody is on the record too.
    #[serde(rename = "leak.pass_completed")]
    LeakPassCompleted,
    /// A proxy asked whether to forward a request (`GET /v1/gateway/check`) and was told yes:
    /// the verified principal, its session, token and key, and in `detail` the upstream `host`,
    /// `method` and `route` (the policy's name for the path: its class, never the path).
    #[serde(rename = "gateway.allowed")]
    GatewayAllowed,
    /// The gateway refused a verified principal for a route (`reason`: `no_route`, `method`,
    /// `principal`, `scope`; `detail` as for `gateway.allowed`). Tokens that do not verify are
    /// refused as everywhere else (`token.rejected`, `token.forged`).
    #[serde(rename = "gateway.denied")]
    GatewayDenied,
}

impl EventKind {
    /// Every kind, in declaration order.
    pub const ALL: &'static [EventKind] = &[
        EventKind::LoginOk,
        EventKind::LoginFailed,
        EventKind::Logout,
        EventKind::Refresh,
        EventKind::RefreshReused,
        EventKind::TokenIssued,
        EventKind::TokenRejected,
        EventKind::TokenForged,
        EventKind::TokenRevoked,
        EventKind::KeyGenerated,
        EventKind::KeyImported,
        EventKind::KeyActivated,
        EventKind::KeyRetiring,
        EventKind::KeyRetired,
        EventKind::KeyRevoked,
        EventKind::MasterKeyRotated,
        EventKind::PiiRead,
        EventKind::PiiWrite,
        EventKind::PiiDelete,
        EventKind::PiiLookup,
        EventKind::PiiQuotaExceeded,
        EventKind::AdminPrincipalCreated,
        EventKind::AdminConfigChanged,
        EventKind::AdminAuditRead,
        EventKind::AlertRaised,
        EventKind::ResponseAction,
        EventKind::ResponseLifted,
        EventKind::LeakMatched,
        EventKind::RefusalsSummarized,
        EventKind::AlertDropped,
        EventKind::AuditDiskLow,
        EventKind::AuditWitnessFailing,
        EventKind::CustodyUnavailable,
        EventKind::CustodyRestored,
        EventKind::ExposureCheckRefused,
        EventKind::NoticeQueued,
        EventKind::NoticeSent,
        EventKind::NoticeFailed,
        EventKind::NoticeVerified,
        EventKind::AccessReviewAcknowledged,
        EventKind::AccessReviewPrepared,
        EventKind::AccessReviewOverdue,
        EventKind::LeakPassCompleted,
        EventKind::GatewayAllowed,
        EventKind::GatewayDenied,
    ];

    /// The dotted name used in the audit trail and in rules.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::LoginOk => "auth.login_ok",
            EventKind::LoginFailed => "auth.login_failed",
            EventKind::Logout => "auth.logout",
            EventKind::Refresh => "auth.refresh",
            EventKind::RefreshReused => "auth.refresh_reused",
            EventKind::TokenIssued => "token.issued",
            EventKind::TokenRejected => "token.rejected",
            EventKind::TokenForged => "token.forged",
            EventKind::TokenRevoked => "token.revoked",
            EventKind::KeyGenerated => "key.generated",
            EventKind::KeyImported => "key.imported",
            EventKind::KeyActivated => "key.activated",
            EventKind::KeyRetiring => "key.retiring",
            EventKind::KeyRetired => "key.retired",
            EventKind::KeyRevoked => "key.revoked",
            EventKind::MasterKeyRotated => "key.master_rotated",
            EventKind::PiiRead => "pii.read",
            EventKind::PiiWrite => "pii.write",
            EventKind::PiiDelete => "pii.delete",
            EventKind::PiiLookup => "pii.lookup",
            EventKind::PiiQuotaExceeded => "pii.quota_exceeded",
            EventKind::AdminPrincipalCreated => "admin.principal_created",
            EventKind::AdminConfigChanged => "admin.config_changed",
            EventKind::AdminAuditRead => "admin.audit_read",
            EventKind::AlertRaised => "alert.raised",
            EventKind::ResponseAction => "response.action",
            EventKind::ResponseLifted => "response.lifted",
            EventKind::LeakMatched => "leak.matched",
            EventKind::RefusalsSummarized => "request.refusals_summarized",
            EventKind::AlertDropped => "alert.dropped",
            EventKind::AuditDiskLow => "audit.disk_low",
            EventKind::AuditWitnessFailing => "audit.witness_failing",
            EventKind::CustodyUnavailable => "custody.unavailable",
            EventKind::CustodyRestored => "custody.restored",
            EventKind::ExposureCheckRefused => "exposure.check_refused",
            EventKind::NoticeQueued => "notice.queued",
            EventKind::NoticeSent => "notice.sent",
            EventKind::NoticeFailed => "notice.failed",
            EventKind::NoticeVerified => "notice.verified",
            EventKind::AccessReviewAcknowledged => "audit.review_acknowledged",
            EventKind::AccessReviewPrepared => "audit.review_prepared",
            EventKind::AccessReviewOverdue => "audit.review_overdue",
            EventKind::LeakPassCompleted => "leak.pass_completed",
            EventKind::GatewayAllowed => "gateway.allowed",
            EventKind::GatewayDenied => "gateway.denied",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventKind {
    type Err = UnknownEventKind;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        EventKind::ALL
            .iter()
            .copied()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| UnknownEventKind(text.to_string()))
    }
}

/// A `kind` string that names no event kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown event kind {0:?}")]
pub struct UnknownEventKind(pub String);

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
