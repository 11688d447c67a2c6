//! The notice as the outbox keeps it: one row per customer and channel, with the facts its
//! text is rendered from and, once a worker sealed it, its code.

use haechi_events::Timestamp;
use haechi_incident::IncidentId;
use serde::{Deserialize, Serialize};

use crate::code::NoticeCode;
use crate::ids::{Channel, NoticeId};

/// Where a notice stands in the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum NoticeState {
    /// Waiting for a worker (first try, or a retry after `next_attempt_at`).
    Queued,
    /// A worker holds it until its lease ends; sealed, perhaps handed to the sink. A lease that
    /// ended (the worker died) makes it due again, and the retry carries the same notice id
    /// as its idempotency key.
    Sending,
    /// The sink accepted it.
    Sent,
    /// Given up: the customer has no channel of this kind, or every attempt failed.
    Failed,
}

impl NoticeState {
    /// `queued`, `sending`, `sent` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeState::Queued => "queued",
            NoticeState::Sending => "sending",
            NoticeState::Sent => "sent",
            NoticeState::Failed => "failed",
        }
    }

    /// Parses what [`NoticeState::as_str`] writes.
    pub fn parse(text: &str) -> Option<NoticeState> {
        [
            NoticeState::Queued,
            NoticeState::Sending,
            NoticeState::Sent,
            NoticeState::Failed,
        ]
        .into_iter()
        .find(|state| state.as_str() == text)
    }
}

/// What one customer's notice says about them: which fields, and when. No personal data —
/// fields by name, times — so the outbox holds none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NoticeFacts {
    /// The fields exposed, by the vault's names (`name`, `email`, `phone`, `addresses`, …).
    pub fields: Vec<String>,
    /// The first exposure.
    pub first_seen: Timestamp,
    /// The last exposure.
    pub last_seen: Timestamp,
}

/// What a worker records before the notice leaves: its code and what the code covers. The
/// recipient appears only as a keyed tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seal {
    /// The code printed on the notice.
    pub code: NoticeCode,
    /// HMAC of the normalised recipient under the notice key, hex: what the code binds
    /// without the outbox holding the phone number or address.
    pub recipient_tag: String,
    /// SHA-256 of the notice's canonical text, hex.
    pub body_digest: String,
    /// When it was sealed.
    pub sealed_at: Timestamp,
}

/// One notice, as the outbox keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Its id.
    pub id: NoticeId,
    /// The `haechi notify` run that made it: its templates and sender settings.
    pub batch: String,
    /// The incident it is about.
    pub incident_id: IncidentId,
    /// The customer it goes to.
    pub customer_id: String,
    /// How.
    pub channel: Channel,
    /// What it says about the customer.
    pub facts: NoticeFacts,
    /// Where it stands.
    pub state: NoticeState,
    /// Delivery attempts made.
    pub attempts: u32,
    /// When a worker may take it next (a retry's backoff; a lease's end while sending).
    pub next_attempt_at: Timestamp,
    /// When it was queued.
    pub created_at: Timestamp,
    /// When the sink accepted it.
    pub sent_at: Option<Timestamp>,
    /// Why the last attempt failed (the sink's status or a reason, never a contact).
    pub last_error: Option<String>,
    /// Its code, once a worker sealed it.
    pub seal: Option<Seal>,
}

impl Notice {
    /// A new notice, queued at `at`.
    pub fn queued(
        batch: &str,
        incident_id: &IncidentId,
        customer_id: &str,
        channel: Channel,
        facts: NoticeFacts,
        at: Timestamp,
    ) -> Notice {
        Notice {
            id: NoticeId::derive(incident_id, customer_id, channel),
            batch: batch.to_string(),
            incident_id: incident_id.clone(),
            customer_id: customer_id.to_string(),
            channel,
            facts,
            state: NoticeState::Queued,
            attempts: 0,
            next_attempt_at: at,
            created_at: at,
            sent_at: None,
            last_error: None,
            seal: None,
        }
    }
}
