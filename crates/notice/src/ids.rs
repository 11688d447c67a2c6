//! How a notice is named and addressed: its id and its channel. Below everything else in the
//! crate (the code binds both).

use haechi_incident::IncidentId;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Error;

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
