//! Normalisers: one canonical spelling per value.
//!
//! Their output feeds keyed-hash blind indexes, so two spellings of the same value must
//! normalise to the same bytes, and the output must never change between releases without a
//! re-index. Every normaliser is idempotent: normalising its own output returns it unchanged.

use unicode_normalization::UnicodeNormalization;

use crate::{Error, Field};

/// The longest e-mail address accepted, in bytes (RFC 5321's path limit less the brackets).
const EMAIL_MAX_LENGTH: usize = 254;
/// The longest local part (before the `@`) RFC 5321 allows.
const EMAIL_LOCAL_MAX_LENGTH: usize = 64;
/// The longest domain label DNS allows.
const DOMAIN_LABEL_MAX_LENGTH: usize = 63;

/// Normalises free text such as a name or an address: Unicode NFC (decomposed Hangul jamo
/// pasted from other systems becomes precomposed syllables), whitespace trimmed, and every
/// internal run of whitespace (spaces, tabs, line breaks, the ideographic space `U+3000`)
/// collapsed to one ASCII space.
///
/// It never fails; the validators ([`PersonName`](crate::PersonName),
/// [`RoadAddress`](crate::RoadAddress), …) apply the length and character rules on top.
pub fn normalize_text(input: &str) -> String {
    let composed = composed(input);
    let mut out = String::with_capacity(composed.len());
    for word in composed.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// `input` in NFC. Text that is NFC already (ASCII, precomposed Hangul: nearly all of it)
/// is borrowed as it is — composing costs more than the rest of a normaliser — which is
/// exact, not an approximation: NFC of NFC text is that text.
fn composed(input: &str) -> std::borrow::Cow<'_, str> {
    if input.is_ascii()
        || unicode_normalization::is_nfc_quick(input.chars())
            == unicode_normalization::IsNormalized::Yes
    {
        std::borrow::Cow::Borrowed(input)
    } else {
        std::borrow::Cow::Owned(input.nfc().collect())
    }
}

/// Normalises an e-mail address: trimmed, NFC, lower-cased, then checked for the shape
/// `local@domain.tld`.
///
/// Only ASCII addresses are accepted (Korean services do not issue internationalised
/// addresses; IDN domains are accepted in their `xn--` form). The whole address is
/// lower-cased, local part included: no mail service Korean customers use distinguishes case,
/// and a blind index that did would miss lookups.
///
/// # Errors
/// [`Error::Empty`], [`Error::TooLong`] past 254 characters, or [`Error::Invalid`] naming
/// the broken rule.
pub fn normalize_email(input: &str) -> Result<String, Error> {
    const FIELD: Field = Field::Email;
    let composed = composed(input.trim());
    if composed.is_empty() {
        return Err(Error::Empty { field: FIELD });
    }
    if !composed.is_ascii() {
        return Err(Error::invalid(
            FIELD,
            "Only addresses written in ASCII letters, digits and symbols are accepted.",
        ));
    }
    let address = composed.to_ascii_lowercase();
    if address.len() > EMAIL_MAX_LENGTH {
        return Err(Error::TooLong {
            field: FIELD,
            length: address.len(),
            max: EMAIL_MAX_LENGTH,
        });
    }
    let Some((local, domain)) = address.split_once('@') else {
        return Err(Error::invalid(FIELD, "An address needs an @ sign."));
    };
    check_local_part(local)?;
    check_domain(domain)?;
    Ok(address)
}

/// Normalises a Korean phone number to its digits, with the international prefix folded to
/// the domestic leading `0`.
///
/// Accepts every spelling seen in customer input and pasted text: `010-1234-5678`,
/// `01012345678`, `010 1234 5678`, `010.1234.5678`, `+82 10-1234-5678`, `+82 (0)10 1234 5678`,
/// `+821012345678`, `0082-10-…`, `821012345678`, `(02) 123-4567`, and full-width forms such as
/// `０１０－１２３４－５６７８`. The result is `01012345678`, `021234567`, or for the 8-digit
/// company numbers `15881234`.
///
/// This checks only the shape (9–12 digits starting with `0`, or 8 starting with `1`);
/// [`PhoneNumber`](crate::PhoneNumber) checks the numbering plan.
///
/// # Errors
/// [`Error::Empty`] or [`Error::Invalid`].
pub fn normalize_phone(input: &str) -> Result<String, Error> {
    const FIELD: Field = Field::Phone;
    let mut digits = String::with_capacity(16);
    let mut plus = false;
    for c in input.trim().chars().map(fold_full_width) {
        match c {
            '0'..='9' => digits.push(c),
            '+' if digits.is_empty() && !plus => plus = true,
            c if is_phone_separator(c) => {}
            _ => {
                return Err(Error::invalid(
                    FIELD,
                    "Only digits, spaces, hyphens, dots, parentheses and a leading + may appear.",
                ));
            }
        }
    }
    if digits.is_empty() {
        return Err(Error::Empty { field: FIELD });
    }
    let national = if plus {
        match digits.strip_prefix("82") {
            Some(rest) => Some(rest),
            None => {
                return Err(Error::invalid(
                    FIELD,
                    "Only Korean numbers (country code +82) are accepted.",
                ));
            }
        }
    } else if let Some(rest) = digits.strip_prefix("0082") {
        Some(rest)
    } else {
        // A domestic number starts with 0 or 1, so a leading 82 can only be the country code.
        digits.strip_prefix("82")
    };
    let normalized = match national {
        None => digits.clone(),
        Some(rest) => {
            // People often keep the trunk 0 after the country code: "+82 010-…" or "+82 (0)10".
            let rest = rest.strip_prefix('0').unwrap_or(rest);
            if rest.len() == 8 && rest.starts_with('1') {
                // Company numbers (15xx-xxxx) have no trunk prefix, at home or abroad.
                rest.to_owned()
            } else {
                format!("0{rest}")
            }
        }
    };
    if !has_phone_shape(&normalized) {
        return Err(Error::invalid(
            FIELD,
            "A Korean phone number has 9 to 12 digits starting with 0 (or +82), or 8 digits starting with 1.",
        ));
    }
    Ok(normalized)
}

/// Whether `digits` is 9–12 ASCII digits starting with `0` and then a non-zero digit (`00` is
/// the international prefix, never a number), or 8 digits starting with `1`.
fn has_phone_shape(digits: &str) -> bool {
    let bytes = digits.as_bytes();
    match bytes {
        [b'0', second, ..] => (9..=12).contains(&bytes.len()) && *second != b'0',
        [b'1', ..] => bytes.len() == 8,
        _ => false,
    }
}

fn is_phone_separator(c: char) -> bool {
    matches!(
        c,
        '-' | '.' | '(' | ')' | '/' | '\u{2010}'
            ..='\u{2015}' | '\u{2212}' | '\u{FE58}' | '\u{FE63}'
    ) || c.is_whitespace()
}

/// Maps the full-width ASCII block (`！` … `～`, as typed with a Korean IME in full-width mode)
/// to ASCII, and leaves every other character alone.
pub(crate) fn fold_full_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    }
}

/// Trims and folds full-width characters; the first step of every short code's parser.
pub(crate) fn fold_code(input: &str) -> String {
    input.trim().chars().map(fold_full_width).collect()
}

/// Characters no stored text field may contain: controls, and invisible or direction-changing
/// characters that make text display as something other than what it is (including the Hangul
/// fillers used to make names look blank).
pub(crate) fn is_forbidden_text_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{3164}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF9}'..='\u{FFFB}'
        )
}

/// Normalises free text and applies the length and character rules shared by names and
/// address parts. `min_length` is 0 or 1.
pub(crate) fn validated_text(
    input: &str,
    field: Field,
    min_length: usize,
    max_length: usize,
) -> Result<String, Error> {
    let text = normalize_text(input);
    if text.is_empty() && min_length > 0 {
        return Err(Error::Empty { field });
    }
    if text.chars().any(is_forbidden_text_char) {
        return Err(Error::ForbiddenCharacter { field });
    }
    let length = text.chars().count();
    if length > max_length {
        return Err(Error::TooLong {
            field,
            length,
            max: max_length,
        });
    }
    Ok(text)
}

fn check_local_part(local: &str) -> Result<(), Error> {
    const FIELD: Field = Field::Email;
    if local.is_empty() {
        return Err(Error::invalid(FIELD, "Nothing comes before the @ sign."));
    }
    if local.len() > EMAIL_LOCAL_MAX_LENGTH {
        return Err(Error::invalid(
            FIELD,
            "The part before the @ sign is longer than 64 characters.",
        ));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c);
    if !local.chars().all(allowed) {
        return Err(Error::invalid(
            FIELD,
            "The part before the @ sign contains a character mail systems do not accept.",
        ));
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(Error::invalid(
            FIELD,
            "A dot may not start or end the part before the @ sign, or follow another dot.",
        ));
    }
    Ok(())
}

fn check_domain(domain: &str) -> Result<(), Error> {
    const FIELD: Field = Field::Email;
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err(Error::invalid(
            FIELD,
            "The domain after the @ sign needs at least one dot, as in example.com.",
        ));
    }
    for label in &labels {
        let well_formed = !label.is_empty()
            && label.len() <= DOMAIN_LABEL_MAX_LENGTH
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !well_formed {
            return Err(Error::invalid(
                FIELD,
                "Each part of the domain must be 1 to 63 letters, digits or inner hyphens.",
            ));
        }
    }
    let top_level = labels.last().copied().unwrap_or_default();
    if top_level.len() < 2 || top_level.chars().all(|c| c.is_ascii_digit()) {
        return Err(Error::invalid(
            FIELD,
            "The domain must end in a top-level domain such as .com or .kr.",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_shape_rejects_international_prefix_leftovers() {
        assert!(!has_phone_shape("0012345678"));
        assert!(has_phone_shape("15881234"));
        assert!(!has_phone_shape("1588123"));
    }
}
