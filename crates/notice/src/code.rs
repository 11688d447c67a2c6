//! The code on every notice, the Verified-SMS way: `HC-XXXX-XXXX`, 40 bits of an HMAC-SHA256
//! under the notice key over the notice id, the recipient and the digest of the notice's
//! canonical text. Only the key's holder can make a code that matches a text; a smisher who
//! copies a genuine code onto a changed text gets "altered", not "genuine".
//!
//! The recipient enters through its tag (an HMAC of the normalised phone number or address
//! under the same key), so a verifier can recompute the code from the outbox row alone: the
//! outbox keeps the tag, never the contact.

use std::fmt;
use std::sync::LazyLock;

use data_encoding::Encoding;
use hmac::{Hmac, Mac};
use regex::Regex;
use sha2::Sha256;
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use crate::Error;
use crate::ids::{Channel, NoticeId};

/// What the code's MAC covers first: a notice code can never be taken for a MAC over anything
/// else under the same key.
const CODE_CONTEXT: &[u8] = b"haechi notice code v1\0";
/// What a recipient tag's MAC covers first.
const RECIPIENT_CONTEXT: &[u8] = b"haechi notice recipient v1\0";
/// Bytes of the MAC a code keeps: 40 bits, eight base32 digits.
const CODE_BYTES: usize = 5;

/// Crockford's base32: digits and capitals without I, L, O and U; read back with O as 0 and I
/// and L as 1, in either case, as people copy codes.
static CROCKFORD: LazyLock<Option<Encoding>> = LazyLock::new(|| {
    let mut spec = data_encoding::Specification::new();
    spec.symbols.push_str("0123456789ABCDEFGHJKMNPQRSTVWXYZ");
    spec.translate.from.push_str("abcdefghjkmnpqrstvwxyzOoIiLl");
    spec.translate.to.push_str("ABCDEFGHJKMNPQRSTVWXYZ001111");
    spec.encoding().ok()
});

/// A code as people write it: `HC`, then two groups of four, with any dash or space between
/// (or none). Case is folded before matching.
static CODE_IN_TEXT: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"(?i)\bHC[\s\-‐‑–—]*([0-9A-Z]{4})[\s\-‐‑–—]*([0-9A-Z]{4})\b").ok()
});

/// The notice key: an HMAC-SHA256 key held in custody (a named secret wrapped under the master
/// key). Wiped when dropped; `Debug` shows nothing of it.
pub struct NoticeKey(Zeroizing<[u8; 32]>);

impl NoticeKey {
    /// The key from its 32 bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> NoticeKey {
        NoticeKey(Zeroizing::new(*bytes))
    }

    fn mac(&self, context: &[u8], parts: &[&[u8]]) -> [u8; 32] {
        // HMAC takes a key of any length; a 32-byte key cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.0.as_slice())
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(context);
        for part in parts {
            // Length-prefixed, so no two different lists of parts feed the MAC the same bytes.
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// The tag of a recipient: `normalised` is the phone number's digits (`01012345678`) or
    /// the lower-cased address, as `haechi_korean` normalises them.
    pub fn recipient_tag(&self, channel: Channel, normalised: &str) -> String {
        let kind: &[u8] = if channel.uses_phone() {
            b"phone"
        } else {
            b"email"
        };
        hex::encode(self.mac(RECIPIENT_CONTEXT, &[kind, normalised.as_bytes()]))
    }

    /// The code of notice `id` to the recipient tagged `recipient_tag`, whose canonical text
    /// has digest `body_digest` (hex, [`canonical::digest`]).
    pub fn code(&self, id: &NoticeId, recipient_tag: &str, body_digest: &str) -> NoticeCode {
        let mac = self.mac(
            CODE_CONTEXT,
            &[
                id.as_str().as_bytes(),
                recipient_tag.as_bytes(),
                body_digest.as_bytes(),
            ],
        );
        let mut bits = [0u8; CODE_BYTES];
        bits.copy_from_slice(&mac[..CODE_BYTES]);
        NoticeCode(bits)
    }

    /// Whether `code` is the code of notice `id` to `recipient_tag` for a text whose canonical
    /// form has `body_digest`; compared in constant time.
    pub fn matches(
        &self,
        code: &NoticeCode,
        id: &NoticeId,
        recipient_tag: &str,
        body_digest: &str,
    ) -> bool {
        let expected = self.code(id, recipient_tag, body_digest);
        // The code is public once printed; constant time costs nothing and leaves no doubt.
        bool::from(expected.0.ct_eq(&code.0))
    }
}

impl fmt::Debug for NoticeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NoticeKey(..)")
    }
}

/// A notice code: 40 bits, written `HC-XXXX-XXXX`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct NoticeCode([u8; CODE_BYTES]);

impl NoticeCode {
    /// The eight base32 digits, without `HC-` or dashes: the outbox's index.
    pub fn digits(&self) -> String {
        match CROCKFORD.as_ref() {
            Some(encoding) => encoding.encode(&self.0),
            None => String::new(),
        }
    }

    /// Parses a code as a person might type or paste it: `HC-7K2M-9QXD`, `hc 7k2m 9qxd`,
    /// `HC7K2M9QXD`, with O for 0 and I or L for 1.
    pub fn parse(text: &str) -> Result<NoticeCode, Error> {
        let bad = || Error::BadCode(text.chars().take(40).collect());
        let pattern = CODE_IN_TEXT.as_ref().ok_or_else(bad)?;
        let captures = pattern.captures(text.trim()).ok_or_else(bad)?;
        let whole = captures.get(0).ok_or_else(bad)?;
        if whole.as_str().len() != text.trim().len() {
            return Err(bad());
        }
        Self::from_groups(&captures[1], &captures[2]).ok_or_else(bad)
    }

    /// Every code written in `text`, in order (a pasted message may hold a code copied twice,
    /// or a smisher's invented one beside a real one).
    pub fn find_all(text: &str) -> Vec<NoticeCode> {
        let Some(pattern) = CODE_IN_TEXT.as_ref() else {
            return Vec::new();
        };
        pattern
            .captures_iter(text)
            .filter_map(|captures| Self::from_groups(&captures[1], &captures[2]))
            .collect()
    }

    /// The code of the eight digits [`NoticeCode::digits`] writes.
    pub fn from_digits(digits: &str) -> Option<NoticeCode> {
        if digits.len() != 8 {
            return None;
        }
        Self::from_groups(&digits[..4], &digits[4..])
    }

    fn from_groups(first: &str, second: &str) -> Option<NoticeCode> {
        let encoding = CROCKFORD.as_ref()?;
        let digits = format!("{first}{second}");
        let bytes = encoding.decode(digits.as_bytes()).ok()?;
        <[u8; CODE_BYTES]>::try_from(bytes.as_slice())
            .ok()
            .map(NoticeCode)
    }
}

impl fmt::Display for NoticeCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.digits();
        let (first, second) = digits.split_at(digits.len() / 2);
        write!(f, "HC-{first}-{second}")
    }
}

impl fmt::Debug for NoticeCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Removes every code from `text` (what [`canonical::canonical`] does before hashing, so the
/// code's own digits are not part of what it covers).
pub(crate) fn strip_codes(text: &str) -> String {
    match CODE_IN_TEXT.as_ref() {
        Some(pattern) => pattern.replace_all(text, "").into_owned(),
        None => text.to_string(),
    }
}

/// A code of the right shape that no key makes on purpose: what a text is rendered with
/// before its real code is known. [`canonical::canonical`] strips it like any code.
pub(crate) const PLACEHOLDER: &str = "HC-0000-0000";

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> NoticeKey {
        NoticeKey::from_bytes(&[7; 32])
    }

    #[test]
    fn codes_print_and_parse_back_forgivingly() {
        let id = NoticeId::parse("NT-0123456789abcdef").unwrap();
        let code = key().code(&id, "tag", "digest");
        let printed = code.to_string();
        assert!(
            printed.starts_with("HC-") && printed.len() == 12,
            "{printed}"
        );
        assert_eq!(NoticeCode::parse(&printed).unwrap(), code);
        let sloppy = printed.to_lowercase().replace('-', " ").replace('0', "o");
        assert_eq!(NoticeCode::parse(&sloppy).unwrap(), code);
        assert_eq!(NoticeCode::parse(&printed.replace('-', "")).unwrap(), code);
        assert_eq!(NoticeCode::from_digits(&code.digits()).unwrap(), code);
        assert!(
            NoticeCode::parse("HC-UUUU-UUUU").is_err(),
            "U is not a digit"
        );
        assert!(NoticeCode::parse("HC-1234-5678 and more").is_err());
        assert!(NoticeCode::parse("").is_err());
    }

    #[test]
    fn the_code_binds_id_recipient_and_body() {
        let key = key();
        let id = NoticeId::parse("NT-0123456789abcdef").unwrap();
        let other = NoticeId::parse("NT-fedcba9876543210").unwrap();
        let code = key.code(&id, "tag", "digest");
        assert!(key.matches(&code, &id, "tag", "digest"));
        assert!(!key.matches(&code, &other, "tag", "digest"));
        assert!(!key.matches(&code, &id, "other-tag", "digest"));
        assert!(!key.matches(&code, &id, "tag", "other-digest"));
        assert!(!NoticeKey::from_bytes(&[8; 32]).matches(&code, &id, "tag", "digest"));
    }

    #[test]
    fn recipient_tags_differ_by_kind_and_key() {
        let key = key();
        let phone = key.recipient_tag(Channel::Lms, "01012345678");
        assert_eq!(phone, key.recipient_tag(Channel::Sms, "01012345678"));
        assert_ne!(phone, key.recipient_tag(Channel::Email, "01012345678"));
        assert_ne!(
            phone,
            NoticeKey::from_bytes(&[1; 32]).recipient_tag(Channel::Lms, "01012345678")
        );
        assert!(!format!("{key:?}").contains('7'));
    }

    #[test]
    fn codes_are_found_in_text() {
        let text = "[해치몰] 안내 확인코드 HC-7K2M-9QXD 입니다. 또 hc 7k2m 9qxd";
        let found = NoticeCode::find_all(text);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0], found[1]);
        assert!(!strip_codes(text).contains("7K2M"));
    }
}
