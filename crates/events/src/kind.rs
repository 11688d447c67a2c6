//! The vocabulary of security events: every kind of act Haechi records, and its string form.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

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
    /// The leak watch finished an item of a source (`reason`: `matched`, `clean` or
    /// `quarantined`; `detail`: `source`, `item`, `digest` (SHA-256), `bytes`, `customers`, or
    /// `quarantine` — why it was refused). Never the item's content.
    #[serde(rename = "leak.item_scanned")]
    LeakItemScanned,
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
        EventKind::LeakItemScanned,
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
            EventKind::LeakItemScanned => "leak.item_scanned",
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
