//! What the pages show, as plain serializable rows made from the desks' records: times as
//! text, states and severities as their API names, targets of actions in words.

use haechi_custody::KeyRecord;
use haechi_detect::{ActionKind, ResponseAction};
use haechi_events::{SecurityEvent, Timestamp};
use haechi_forensics::{AlertSource, Scope};
use haechi_respond::{AlertView, BlockRecord, SuspensionRecord};
use serde::Serialize;

/// An act done, named in the redirect that follows it (`?done=CODE`), so reloading the page
/// does not post again and the page's words are fixed here, never taken from the address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    /// An alert was acknowledged.
    Acknowledged,
    /// A block was added.
    BlockAdded,
    /// A block was lifted.
    BlockLifted,
    /// A principal was suspended.
    Suspended,
    /// A suspension was lifted.
    SuspensionLifted,
    /// The keys were rotated.
    Rotated,
}

impl Done {
    const ALL: [Done; 6] = [
        Done::Acknowledged,
        Done::BlockAdded,
        Done::BlockLifted,
        Done::Suspended,
        Done::SuspensionLifted,
        Done::Rotated,
    ];

    /// The code in the address.
    pub fn code(self) -> &'static str {
        match self {
            Done::Acknowledged => "acknowledged",
            Done::BlockAdded => "block_added",
            Done::BlockLifted => "block_lifted",
            Done::Suspended => "suspended",
            Done::SuspensionLifted => "suspension_lifted",
            Done::Rotated => "rotated",
        }
    }

    /// The act a code names; anything else names none.
    pub fn from_code(code: &str) -> Option<Done> {
        Done::ALL.into_iter().find(|done| done.code() == code)
    }

    /// What the page says.
    pub(crate) fn words(self) -> &'static str {
        match self {
            Done::Acknowledged => "Alert acknowledged (recorded in the audit trail).",
            Done::BlockAdded => {
                "Block in force on every node: requests from the network are refused (recorded)."
            }
            Done::BlockLifted => "Block lifted: the network is let through again (recorded).",
            Done::Suspended => "Principal suspended: its tokens stop working (recorded).",
            Done::SuspensionLifted => "Suspension lifted (recorded).",
            Done::Rotated => {
                "Keys rotated: the pending key signs now; the old one verifies until its tokens expire (recorded)."
            }
        }
    }
}

/// Why a form is shown again: the status the API would have answered and its message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The HTTP status the page is answered with.
    pub status: u16,
    /// What was wrong, for people.
    pub message: String,
}

/// A key's revocation, before (the sessions it would end) or after (those it ended).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyRevocation {
    /// The key.
    pub kid: String,
    /// Sessions holding unexpired tokens the key signed (the first of them, when many).
    pub sessions: Vec<String>,
    /// How many such sessions there are in all.
    pub total: usize,
    /// The key that signs now, once revoked (if the revoked key was signing).
    pub replaced_by: Option<String>,
}

/// A leak watch source as the rules page shows it (docs/leak-watch.md, "Watching sources").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeakSourceRow {
    /// The source's name.
    pub name: String,
    /// Whether its last poll worked.
    pub up: bool,
    /// Polls failed in a row.
    pub failures: u32,
    /// Why the last one failed.
    pub last_error: Option<String>,
    /// When it was last polled.
    pub last_poll: Option<Timestamp>,
    /// Items finished since the server started, by outcome.
    pub matched: u64,
    /// Read through without a customer.
    pub clean: u64,
    /// Refused.
    pub quarantined: u64,
}

/// A scope answered for an alert: the result and what it was asked.
#[derive(Debug, Clone, Copy)]
pub struct ScopeSummary<'a> {
    /// The result.
    pub scope: &'a Scope,
    /// The alert's indicators, as the scope matched them (all of them, on one read).
    pub source: &'a AlertSource,
    /// How long it took, in milliseconds.
    pub elapsed_ms: u64,
    /// Whether the result came from the cache of recent scopes.
    pub cached: bool,
}

/// `2026-12-07 04:33:12Z`: the time as the pages and the live list's script write it.
pub(crate) fn when(time: Timestamp) -> String {
    let text = time.to_rfc3339();
    match (text.get(..10), text.get(11..19)) {
        (Some(day), Some(clock)) => format!("{day} {clock}Z"),
        _ => text,
    }
}

/// `3 d 4 h`, `5 h 12 min`, `40 s`: how long ago `then` was.
pub(crate) fn age(now: Timestamp, then: Timestamp) -> String {
    let seconds = now.since(then).as_secs();
    let (days, hours, minutes) = (seconds / 86_400, seconds / 3600 % 24, seconds / 60 % 60);
    if days > 0 {
        format!("{days} d {hours} h")
    } else if hours > 0 {
        format!("{hours} h {minutes} min")
    } else if minutes > 0 {
        format!("{minutes} min")
    } else {
        format!("{seconds} s")
    }
}

/// A value's serde name (`snake_case` enums): what the API calls it.
fn api_name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::from("?"),
    }
}

/// One alert as a row of the list (the live list's script builds the same cells).
#[derive(Debug, Serialize)]
pub(crate) struct AlertRow {
    id: String,
    rule_id: String,
    title: String,
    severity: &'static str,
    group: String,
    first: String,
    last: String,
    count: u64,
    state: String,
}

impl AlertRow {
    pub(crate) fn of(view: &AlertView) -> Self {
        let alert = &view.alert;
        AlertRow {
            id: alert.id.to_string(),
            rule_id: alert.rule_id.clone(),
            title: alert.title.clone(),
            severity: alert.severity.as_str(),
            group: alert.group_key.clone(),
            first: when(alert.first_time),
            last: when(alert.last_time),
            count: alert.count,
            state: api_name(&view.state),
        }
    }
}

/// An alert in full.
#[derive(Debug, Serialize)]
pub(crate) struct AlertDetail {
    row: AlertRow,
    group_by: Vec<String>,
    context: Vec<(String, String)>,
    window_count: u64,
    evidence_listed: usize,
    actions: Vec<ActionRow>,
    acknowledgement: Option<AckRow>,
}

#[derive(Debug, Serialize)]
struct ActionRow {
    what: String,
    disposition: String,
}

#[derive(Debug, Serialize)]
struct AckRow {
    by: String,
    at: String,
    note: Option<String>,
}

impl AlertDetail {
    pub(crate) fn of(view: &AlertView) -> Self {
        let alert = &view.alert;
        AlertDetail {
            row: AlertRow::of(view),
            group_by: alert.group_by.clone(),
            context: alert
                .context
                .iter()
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect(),
            window_count: alert.window_count,
            evidence_listed: alert.evidence_seqs.len(),
            actions: alert.actions.iter().map(ActionRow::of).collect(),
            acknowledgement: view.acknowledgement.as_ref().map(|ack| AckRow {
                by: ack.acknowledged_by.to_string(),
                at: when(ack.acknowledged_at),
                note: ack.note.clone(),
            }),
        }
    }
}

impl ActionRow {
    fn of(action: &ResponseAction) -> Self {
        let what = match &action.kind {
            ActionKind::RevokeSession { sid } => format!("revoke session {sid}"),
            ActionKind::RevokeKey { kid } => format!("revoke signing key {kid}"),
            ActionKind::BlockNetwork { network, ttl } => {
                format!("block {network} for {} s", ttl.as_secs())
            }
            ActionKind::SuspendPrincipal { principal } => format!("suspend {principal}"),
            other => api_name(other),
        };
        ActionRow {
            what,
            disposition: api_name(&action.disposition),
        }
    }
}

/// One audit event behind an alert.
#[derive(Debug, Serialize)]
pub(crate) struct EventRow {
    seq: u64,
    time: String,
    kind: &'static str,
    principal: String,
    ip: Option<String>,
    user_agent: Option<String>,
    customer: Option<String>,
    fields: String,
    decision: String,
    status: u16,
    kid: Option<String>,
    sid: Option<String>,
}

impl EventRow {
    pub(crate) fn of(seq: u64, event: &SecurityEvent) -> Self {
        EventRow {
            seq,
            time: when(event.time),
            kind: event.kind.as_str(),
            principal: event.principal.to_string(),
            ip: event.ip.map(|ip| ip.to_string()),
            user_agent: event.user_agent.clone(),
            customer: event.customer_id.clone(),
            fields: event.fields.join(", "),
            decision: api_name(&event.decision),
            status: event.status,
            kid: event.kid.clone(),
            sid: event.sid.clone(),
        }
    }
}

/// How many exposed customers the scope page lists (the export has them all).
pub(crate) const CUSTOMERS_LISTED: usize = 500;

/// A scope as the page shows it.
#[derive(Debug, Serialize)]
pub(crate) struct ScopeView<'a> {
    customers: u64,
    records: u64,
    first: Option<&'a str>,
    last: Option<&'a str>,
    fields: Vec<(&'a str, u64, u64)>,
    listed: &'a [haechi_forensics::Exposure],
    unlisted: usize,
    indicators: Vec<(&'static str, &'a str)>,
    skipped: Vec<(&'a str, &'a str, &'a str)>,
    records_read: u64,
    archive_files: usize,
    gaps: usize,
    elapsed_ms: u64,
    cached: bool,
}

impl<'a> ScopeView<'a> {
    pub(crate) fn of(summary: &ScopeSummary<'a>) -> Self {
        let scope = summary.scope;
        let listed = &scope.customers[..scope.customers.len().min(CUSTOMERS_LISTED)];
        ScopeView {
            customers: scope.summary.customers,
            records: scope.summary.records,
            first: scope.summary.first_exposure.as_deref(),
            last: scope.summary.last_exposure.as_deref(),
            fields: scope
                .summary
                .fields
                .iter()
                .map(|(name, count)| (name.as_str(), count.customers, count.reads))
                .collect(),
            listed,
            unlisted: scope.customers.len() - listed.len(),
            indicators: summary
                .source
                .indicators
                .iter()
                .map(|indicator| (indicator.kind.as_str(), indicator.value.as_str()))
                .collect(),
            skipped: summary
                .source
                .skipped
                .iter()
                .map(|skipped| {
                    (
                        skipped.field.as_str(),
                        skipped.value.as_str(),
                        skipped.reason.as_str(),
                    )
                })
                .collect(),
            records_read: scope
                .custody
                .live_log
                .as_ref()
                .map_or(0, |live| live.records),
            archive_files: scope.custody.files.len(),
            gaps: scope.custody.coverage.gaps.len(),
            elapsed_ms: summary.elapsed_ms,
            cached: summary.cached,
        }
    }
}

/// A block in force.
#[derive(Debug, Serialize)]
pub(crate) struct BlockRow {
    id: u64,
    network: String,
    created: String,
    expires: String,
    reason: String,
    by: String,
    alert_id: Option<String>,
}

impl BlockRow {
    pub(crate) fn of(block: &BlockRecord) -> Self {
        BlockRow {
            id: block.id,
            network: block.network.to_string(),
            created: when(block.created_at),
            expires: when(block.expires_at),
            reason: block.reason.clone(),
            by: block.created_by.to_string(),
            alert_id: block.alert_id.clone(),
        }
    }
}

/// A suspension in force.
#[derive(Debug, Serialize)]
pub(crate) struct SuspensionRow {
    principal: String,
    since: String,
    reason: String,
    by: String,
    alert_id: Option<String>,
}

impl SuspensionRow {
    pub(crate) fn of(suspension: &SuspensionRecord) -> Self {
        SuspensionRow {
            principal: suspension.principal.to_string(),
            since: when(suspension.suspended_at),
            reason: suspension.reason.clone(),
            by: suspension.suspended_by.to_string(),
            alert_id: suspension.alert_id.clone(),
        }
    }
}

/// A signing key.
#[derive(Debug, Serialize)]
pub(crate) struct KeyRow {
    kid: String,
    algorithm: String,
    state: String,
    origin: String,
    created: String,
    age: String,
    signing_since: Option<String>,
    verifies_until: Option<String>,
    ended: Option<String>,
    revocable: bool,
    signed_this_session: bool,
}

impl KeyRow {
    pub(crate) fn of(key: &KeyRecord, now: Timestamp, session_kid: &str) -> Self {
        use haechi_custody::KeyState;
        KeyRow {
            kid: key.kid.clone(),
            algorithm: api_name(&key.algorithm),
            state: api_name(&key.state),
            origin: api_name(&key.origin),
            created: when(key.created_at),
            age: age(now, key.created_at),
            signing_since: key.activated_at.map(when),
            verifies_until: key.verify_until.map(when),
            ended: key.ended_at.map(when),
            revocable: !matches!(key.state, KeyState::Revoked | KeyState::Retired),
            signed_this_session: key.kid == session_kid,
        }
    }
}
