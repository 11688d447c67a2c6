//! The notice as the outbox keeps it: one row per customer and channel, with the facts its
//! text is rendered from and, once a worker sealed it, its code.

use haechi_events::Timestamp;
use haechi_incident::IncidentId;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Error;
use crate::code::NoticeCode;

/// How a notice reaches the customer.
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
pub enum Channel {
    /// A short text message: at most [`SMS_BUDGET_BYTES`](crate::SMS_BUDGET_BYTES) in EUC-KR.
    Sms,
    /// A long text message (LMS): at most [`LMS_BUDGET_BYTES`](crate::LMS_BUDGET_BYTES).
    Lms,
    /// An e-mail, HTML and plain text.
    Email,
}

impl Channel {
    /// Every channel.
    pub const ALL: [Channel; 3] = [Channel::Sms, Channel::Lms, Channel::Email];

    /// `sms`, `lms` or `email`.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Lms => "lms",
            Channel::Email => "email",
        }
    }

    /// Parses `sms`, `lms` or `email`.
    pub fn parse(text: &str) -> Result<Channel, Error> {
        Channel::ALL
            .into_iter()
            .find(|channel| channel.as_str() == text)
            .ok_or_else(|| Error::BadChannel(text.to_string()))
    }

    /// Whether the recipient is a phone number (SMS, LMS) rather than an e-mail address.
    pub fn uses_phone(self) -> bool {
        !matches!(self, Channel::Email)
    }
}

/// A notice's identity: `NT-` and 16 hexadecimal digits of a SHA-256 over its incident,
/// customer and channel — so running `haechi notify` again for the same incident finds the
/// notices it made and never makes a second one.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(transparent)]
pub struct NoticeId(String);

impl NoticeId {
    /// The notice of `incident` to `customer_id` by `channel`.
    pub fn derive(incident: &IncidentId, customer_id: &str, channel: Channel) -> NoticeId {
        let mut digest = Sha256::new();
        for part in [incident.as_str(), customer_id, channel.as_str()] {
            digest.update(part.as_bytes());
            digest.update([0]);
        }
        NoticeId(format!("NT-{}", &hex::encode(digest.finalize())[..16]))
    }

    /// Parses an id as stored (`NT-` and 16 lower-case hexadecimal digits).
    pub fn parse(text: &str) -> Result<NoticeId, Error> {
        let digits = text.strip_prefix("NT-").unwrap_or_default();
        if digits.len() == 16
            && digits
                .bytes()
                .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
        {
            Ok(NoticeId(text.to_string()))
        } else {
            Err(Error::BadNoticeId(text.to_string()))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for NoticeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

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
