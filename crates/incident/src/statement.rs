//! The company's official statement about an incident: what happened, what was done, what a
//! customer should (and need not) do, and the questions people ask — in Korean, optionally in
//! English. An administrator publishes it; every publication is a new version, dated, and
//! signed with the statement key, so a copy passed around (a screenshot's text, a forwarded
//! message) can be checked against the company's key, and a version can never be edited
//! silently.
//!
//! Statements are plain text: paragraphs separated by blank lines. The portal escapes them;
//! no markup an administrator types can become script on the portal.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use haechi_events::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Error;
use crate::model::IncidentId;

/// Longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest body, in characters.
pub const MAX_BODY_CHARS: usize = 20_000;
/// Most questions in the FAQ.
pub const MAX_FAQ_ENTRIES: usize = 40;
/// Longest question, in characters.
pub const MAX_QUESTION_CHARS: usize = 500;
/// Longest answer, in characters.
pub const MAX_ANSWER_CHARS: usize = 5_000;
/// Longest name of the administrator who published, in characters.
const MAX_PUBLISHER_CHARS: usize = 128;

/// What the signature covers, before the statement's JSON: a statement signature can never be
/// taken for a signature over anything else the company signs.
const SIGNATURE_CONTEXT: &[u8] = b"haechi incident statement v1\n";

/// A statement in one language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatementText {
    /// The headline.
    pub title: String,
    /// Plain text; paragraphs separated by a blank line.
    pub body: String,
    /// Questions and answers, in order.
    #[serde(default)]
    pub faq: Vec<FaqEntry>,
}

/// One question of the FAQ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FaqEntry {
    /// The question.
    pub question: String,
    /// Its answer, plain text.
    pub answer: String,
}

/// What an administrator publishes: the Korean statement, and the English one if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatementDraft {
    /// The statement in Korean (required: the portal is Korean first).
    pub ko: StatementText,
    /// The statement in English, if published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub en: Option<StatementText>,
}

/// A published statement, as stored and served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IncidentStatement {
    /// The incident it speaks about.
    pub incident_id: IncidentId,
    /// 1 for the first publication, then one more for each.
    pub version: u32,
    /// When it was published.
    pub published_at: Timestamp,
    /// The administrator who published it.
    pub published_by: String,
    /// The statement in Korean.
    pub ko: StatementText,
    /// The statement in English, if published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub en: Option<StatementText>,
    /// The statement key that signed it (`sk-` and 12 hexadecimal digits).
    pub key_id: String,
    /// Ed25519 over the context line and the statement's JSON without this member,
    /// base64url without padding.
    pub signature: String,
}

/// The members a signature covers: the statement's JSON as served, in the same order,
/// without `signature` — so a verifier removes that member and serialises the rest compactly.
#[derive(Serialize)]
struct Signed<'a> {
    incident_id: &'a IncidentId,
    version: u32,
    published_at: Timestamp,
    published_by: &'a str,
    ko: &'a StatementText,
    #[serde(skip_serializing_if = "Option::is_none")]
    en: Option<&'a StatementText>,
    key_id: &'a str,
}

impl IncidentStatement {
    /// Checks `draft`, then signs it as version `version` of `incident`'s statement.
    pub fn publish(
        incident: &IncidentId,
        version: u32,
        draft: StatementDraft,
        published_by: &str,
        at: Timestamp,
        key: &SigningKey,
    ) -> Result<IncidentStatement, Error> {
        draft.check()?;
        check_text("published_by", published_by, MAX_PUBLISHER_CHARS, false)?;
        let mut statement = IncidentStatement {
            incident_id: incident.clone(),
            version,
            published_at: at,
            published_by: published_by.to_string(),
            ko: draft.ko,
            en: draft.en,
            key_id: statement_key_id(&key.verifying_key()),
            signature: String::new(),
        };
        let signature = key.sign(&statement.signed_bytes()?);
        statement.signature = base64url(&signature.to_bytes());
        Ok(statement)
    }

    /// Whether the signature is `key`'s over exactly this statement.
    pub fn verify(&self, key: &VerifyingKey) -> bool {
        if self.key_id != statement_key_id(key) {
            return false;
        }
        let Some(bytes) = base64url_decode(&self.signature) else {
            return false;
        };
        let Ok(signature) = Signature::from_slice(&bytes) else {
            return false;
        };
        self.signed_bytes()
            .is_ok_and(|message| key.verify(&message, &signature).is_ok())
    }

    /// The text in `language` (`en` when published in English, else Korean).
    pub fn text(&self, english: bool) -> &StatementText {
        match (&self.en, english) {
            (Some(en), true) => en,
            _ => &self.ko,
        }
    }

    fn signed_bytes(&self) -> Result<Vec<u8>, Error> {
        let signed = Signed {
            incident_id: &self.incident_id,
            version: self.version,
            published_at: self.published_at,
            published_by: &self.published_by,
            ko: &self.ko,
            en: self.en.as_ref(),
            key_id: &self.key_id,
        };
        let mut bytes = SIGNATURE_CONTEXT.to_vec();
        serde_json::to_writer(&mut bytes, &signed)
            .map_err(|error| Error::BadStatement(error.to_string()))?;
        Ok(bytes)
    }
}

impl StatementDraft {
    /// Checks lengths and characters of every text.
    pub fn check(&self) -> Result<(), Error> {
        self.ko.check("ko")?;
        if let Some(en) = &self.en {
            en.check("en")?;
        }
        Ok(())
    }
}

impl StatementText {
    fn check(&self, language: &str) -> Result<(), Error> {
        check_text(
            &format!("{language}.title"),
            &self.title,
            MAX_TITLE_CHARS,
            false,
        )?;
        check_text(
            &format!("{language}.body"),
            &self.body,
            MAX_BODY_CHARS,
            true,
        )?;
        if self.faq.len() > MAX_FAQ_ENTRIES {
            return Err(Error::BadStatement(format!(
                "{language}.faq: more than {MAX_FAQ_ENTRIES} questions"
            )));
        }
        for (index, entry) in self.faq.iter().enumerate() {
            let at = format!("{language}.faq[{index}]");
            check_text(
                &format!("{at}.question"),
                &entry.question,
                MAX_QUESTION_CHARS,
                false,
            )?;
            check_text(
                &format!("{at}.answer"),
                &entry.answer,
                MAX_ANSWER_CHARS,
                true,
            )?;
        }
        Ok(())
    }

    /// The body's paragraphs: runs of lines separated by blank lines, each trimmed.
    pub fn paragraphs(&self) -> Vec<String> {
        paragraphs(&self.body)
    }
}

/// Paragraphs of plain text: runs of lines separated by blank lines, each trimmed.
pub fn paragraphs(text: &str) -> Vec<String> {
    text.replace("\r\n", "\n")
        .split("\n\n")
        .map(str::trim)
        .filter(|paragraph| !paragraph.is_empty())
        .map(str::to_string)
        .collect()
}

/// Text that is not blank, not longer than `max` characters, and holds no control character
/// (line breaks only where `multiline`) and no invisible or direction-changing character that
/// would make it read as something else.
fn check_text(what: &str, text: &str, max: usize, multiline: bool) -> Result<(), Error> {
    if text.trim().is_empty() {
        return Err(Error::BadStatement(format!("{what}: empty")));
    }
    let length = text.chars().count();
    if length > max {
        return Err(Error::BadStatement(format!(
            "{what}: {length} characters, at most {max}"
        )));
    }
    let forbidden = |c: char| {
        (c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t')))
            || matches!(
                c,
                '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
                    | '\u{FEFF}'
            )
    };
    if text.chars().any(forbidden) {
        return Err(Error::BadStatement(format!(
            "{what}: holds a control or direction-changing character"
        )));
    }
    Ok(())
}

/// The id of a statement key: `sk-` and the first 12 hexadecimal digits of SHA-256 over its
/// public key.
pub fn statement_key_id(key: &VerifyingKey) -> String {
    let digest = Sha256::digest(key.as_bytes());
    format!("sk-{}", hex::encode(&digest[..6]))
}

fn base64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]
mod tests {
    use super::*;

    fn draft() -> StatementDraft {
        StatementDraft {
            ko: StatementText {
                title: "개인정보 유출 안내".into(),
                body: "첫 문단입니다.\n\n둘째 문단입니다.\n".into(),
                faq: vec![FaqEntry {
                    question: "통관부호를 재발급해야 하나요?".into(),
                    answer: "아니요. 통관부호는 유출되지 않았습니다.".into(),
                }],
            },
            en: None,
        }
    }

    fn id() -> IncidentId {
        IncidentId::parse("INC-3F9A1C0E5B2D").unwrap()
    }

    #[test]
    fn a_statement_verifies_and_any_change_breaks_it() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let statement = IncidentStatement::publish(
            &id(),
            1,
            draft(),
            "admin:kim",
            Timestamp::from_secs(1_764_000_000),
            &key,
        )
        .unwrap();
        assert!(statement.verify(&key.verifying_key()));
        assert!(statement.key_id.starts_with("sk-") && statement.key_id.len() == 15);
        let other = SigningKey::from_bytes(&[8; 32]);
        assert!(!statement.verify(&other.verifying_key()));
        let mut changed = statement.clone();
        changed.ko.faq[0].answer = "네. 재발급하세요.".into();
        assert!(!changed.verify(&key.verifying_key()));
        let mut later = statement.clone();
        later.version = 2;
        assert!(!later.verify(&key.verifying_key()));
        // It survives a round trip through JSON, as it is stored and served.
        let json = serde_json::to_string(&statement).unwrap();
        let back: IncidentStatement = serde_json::from_str(&json).unwrap();
        assert!(back.verify(&key.verifying_key()));
        assert_eq!(
            statement.ko.paragraphs(),
            ["첫 문단입니다.", "둘째 문단입니다."]
        );
    }

    #[test]
    fn bad_drafts_are_refused_with_the_member_named() {
        let key = SigningKey::from_bytes(&[7; 32]);
        type Change = Box<dyn Fn(&mut StatementDraft)>;
        let cases: Vec<(Change, &str)> = vec![
            (Box::new(|d| d.ko.title = "  ".into()), "ko.title: empty"),
            (Box::new(|d| d.ko.title = "a\nb".into()), "ko.title: holds"),
            (
                Box::new(|d| d.ko.body = "x".repeat(20_001)),
                "ko.body: 20001",
            ),
            (
                Box::new(|d| d.ko.faq[0].question = "right\u{202E}left".into()),
                "ko.faq[0].question: holds",
            ),
            (
                Box::new(|d| {
                    d.en = Some(StatementText {
                        title: "t".into(),
                        body: String::new(),
                        faq: vec![],
                    })
                }),
                "en.body: empty",
            ),
        ];
        for (change, expected) in cases {
            let mut draft = draft();
            change(&mut draft);
            let error =
                IncidentStatement::publish(&id(), 1, draft, "admin:kim", Timestamp::EPOCH, &key)
                    .unwrap_err()
                    .to_string();
            assert!(error.contains(expected), "{error} / {expected}");
        }
    }
}
