//! Korean phone numbers: the numbering plan, display format and mask.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

use crate::{Error, Field, normalize_phone};

/// What kind of line a phone number belongs to, read from its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PhoneKind {
    /// A `010` mobile number (`010-XXXX-XXXX`, middle group 2000–9999).
    Mobile,
    /// A pre-010 mobile number (`011`, `016`, `017`, `018`, `019`) with a 3- or 4-digit middle
    /// group; a few are still in use.
    LegacyMobile,
    /// A geographic landline: Seoul `02` or a provincial area code (`031`–`033`, `041`–`044`,
    /// `051`–`055`, `061`–`064`).
    Landline,
    /// An internet (VoIP) number, `070`.
    InternetPhone,
    /// A relay number, `0502`–`0508`: the "안심번호" printed on shipping labels, which forwards
    /// to a person's real phone.
    RelayNumber,
    /// A toll-free number, `080`. Never a person's.
    TollFree,
    /// A company representative number (전국대표번호), `15xx`, `16xx`, `18xx`, 8 digits. Never a
    /// person's.
    Business,
}

impl PhoneKind {
    /// Whether a number of this kind can be a customer's own phone. Toll-free and company
    /// representative numbers cannot.
    pub fn is_personal(self) -> bool {
        !matches!(self, Self::TollFree | Self::Business)
    }
}

/// A phone number that follows the Korean numbering plan, held as its normalised digits
/// (`01012345678`). Build one with [`PhoneNumber::parse`] (personal numbers only) or
/// [`PhoneNumber::parse_any`] (company and toll-free numbers too).
///
/// `Debug` prints the masked form, so a stray `{:?}` in a log does not leak the number.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber {
    digits: String,
    kind: PhoneKind,
    /// Digits in the leading group (`010`, `02`, `0504`, `1588`).
    prefix_length: usize,
}

impl PhoneNumber {
    /// Parses a number a person can be reached on: mobile, legacy mobile, landline, internet
    /// phone or relay number, in any spelling [`normalize_phone`] accepts.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a malformed or unallocated number, and for toll-free and company
    /// representative numbers, which are never a customer's own.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let number = Self::parse_any(input)?;
        if !number.kind.is_personal() {
            return Err(Error::invalid(
                Field::Phone,
                "Toll-free (080) and company (15xx, 16xx, 18xx) numbers are not personal phones.",
            ));
        }
        Ok(number)
    }

    /// Parses any number of the Korean plan, including toll-free and company representative
    /// numbers: for the leak scanner and for contact data that is not a customer's own. Check
    /// [`PhoneNumber::kind`] before treating the result as personal.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a malformed or unallocated number.
    pub fn parse_any(input: &str) -> Result<Self, Error> {
        let digits = normalize_phone(input)?;
        let (kind, prefix_length) =
            classify(&digits).map_err(|reason| Error::invalid(Field::Phone, reason))?;
        Ok(Self {
            digits,
            kind,
            prefix_length,
        })
    }

    /// The normalised digits, e.g. `01012345678`: the blind-index input.
    pub fn as_str(&self) -> &str {
        &self.digits
    }

    /// What kind of line this is.
    pub fn kind(&self) -> PhoneKind {
        self.kind
    }

    /// The number in the usual hyphenated display form: `010-1234-5678`, `02-123-4567`,
    /// `0504-1234-5678`, `1588-1234`.
    pub fn formatted(&self) -> String {
        let (prefix, middle, last) = self.groups();
        if middle.is_empty() {
            format!("{prefix}-{last}")
        } else {
            format!("{prefix}-{middle}-{last}")
        }
    }

    /// The masked display form: the middle group starred, `010-****-5678`, `02-***-4567`.
    /// Company numbers, which have no middle group, star the last four: `1588-****`.
    pub fn masked(&self) -> String {
        let (prefix, middle, last) = self.groups();
        if middle.is_empty() {
            format!("{prefix}-{}", "*".repeat(last.len()))
        } else {
            format!("{prefix}-{}-{last}", "*".repeat(middle.len()))
        }
    }

    /// Splits the digits into prefix, middle and last group (the middle is empty for 8-digit
    /// company numbers).
    fn groups(&self) -> (&str, &str, &str) {
        let digits = self.digits.as_str();
        let last_start = digits.len().saturating_sub(4).max(self.prefix_length);
        (
            &digits[..self.prefix_length],
            &digits[self.prefix_length..last_start],
            &digits[last_start..],
        )
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PhoneNumber").field(&self.masked()).finish()
    }
}

impl FromStr for PhoneNumber {
    type Err = Error;

    /// Same as [`PhoneNumber::parse`]: personal numbers only.
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        Self::parse(input)
    }
}

impl Serialize for PhoneNumber {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.digits)
    }
}

/// Reads the kind and the leading group's length from normalised digits, or says in a
/// sentence why the number is not in the plan.
fn classify(digits: &str) -> Result<(PhoneKind, usize), &'static str> {
    let bytes = digits.as_bytes();
    let length = bytes.len();
    // The first digit of the local (exchange) group: 0 would be read as a trunk prefix.
    let exchange_ok = |prefix: usize| bytes.get(prefix).is_some_and(|d| *d != b'0');
    match bytes {
        [b'1', b'5' | b'6' | b'8', ..] if length == 8 => Ok((PhoneKind::Business, 4)),
        [b'1', ..] => Err("Only 15xx, 16xx and 18xx company numbers start with 1."),
        [b'0', b'1', b'0', ..] => {
            if length != 11 {
                return Err("A 010 mobile number has 11 digits.");
            }
            if digits[3..7] < *"2000" {
                return Err("A 010 mobile number's middle group is 2000 to 9999.");
            }
            Ok((PhoneKind::Mobile, 3))
        }
        [b'0', b'1', b'1' | b'6' | b'7' | b'8' | b'9', ..] => {
            if !(10..=11).contains(&length) || bytes[3] == b'0' {
                return Err(
                    "An 011/016/017/018/019 number has a 3- or 4-digit middle group not starting with 0.",
                );
            }
            Ok((PhoneKind::LegacyMobile, 3))
        }
        [b'0', b'2', ..] => {
            if !(9..=10).contains(&length) || !exchange_ok(2) {
                return Err(
                    "A Seoul (02) number has a 3- or 4-digit local group not starting with 0.",
                );
            }
            Ok((PhoneKind::Landline, 2))
        }
        [b'0', b'3', b'1'..=b'3', ..]
        | [b'0', b'4', b'1'..=b'4', ..]
        | [b'0', b'5', b'1'..=b'5', ..]
        | [b'0', b'6', b'1'..=b'4', ..] => {
            if !(10..=11).contains(&length) || !exchange_ok(3) {
                return Err(
                    "A regional landline has a 3- or 4-digit local group not starting with 0.",
                );
            }
            Ok((PhoneKind::Landline, 3))
        }
        [b'0', b'7', b'0', ..] => {
            if length != 11 || !exchange_ok(3) {
                return Err(
                    "A 070 internet phone number has 11 digits, the middle group not starting with 0.",
                );
            }
            Ok((PhoneKind::InternetPhone, 3))
        }
        [b'0', b'5', b'0', b'2'..=b'8', ..] => {
            if !(11..=12).contains(&length) {
                return Err("A 050x relay number has 11 or 12 digits.");
            }
            Ok((PhoneKind::RelayNumber, 4))
        }
        [b'0', b'8', b'0', ..] => {
            if !(10..=11).contains(&length) {
                return Err("An 080 toll-free number has 10 or 11 digits.");
            }
            Ok((PhoneKind::TollFree, 3))
        }
        _ => Err("The number does not start with a Korean mobile, area or service prefix."),
    }
}
