//! Phone numbers in a text, and whether they are the company's.
//!
//! Numbers are compared by their digits alone, with `+82`/`0082` read as the leading `0`, so
//! `1588-1234`, `1588 1234` and `１５８８－１２３４` are one number. Only what is shaped like a
//! Korean phone number counts: a leading `0` (mobile, area, `070`, `050x`, `080`) or a
//! nationwide `15xx`/`16xx`/`18xx` number with its separator. Dates (`2025-11-08`), amounts,
//! order and waybill numbers and card numbers do not start that way or are glued to more
//! digits, and are left alone.

use std::sync::LazyLock;

use regex::Regex;

use crate::{Error, Signal};

/// The company's numbers, as digits.
#[derive(Debug, Clone)]
pub(crate) struct KnownNumbers {
    digits: Vec<String>,
}

/// Korean phone numbers: international prefix or a leading zero, or a nationwide number.
static PHONE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?:\+|00)82[\s.-]?(?:\(0\))?[0-9]{1,3}[\s.)-]{0,2}[0-9]{3,4}[\s.-]?[0-9]{4}",
        r"|\(?0[0-9]{1,3}\)?[\s.)-]{0,2}[0-9]{3,4}[\s.-]?[0-9]{4}",
        r"|1[5-9][0-9]{2}[\s.-][0-9]{4}",
    ))
    .ok()
});

impl KnownNumbers {
    pub(crate) fn new(numbers: &[String]) -> Result<KnownNumbers, Error> {
        let digits = numbers
            .iter()
            .map(|number| {
                let invalid = || Error::InvalidCallbackNumber {
                    number: number.clone(),
                };
                let normalised: String =
                    unicode_normalization::UnicodeNormalization::nfkc(number.trim()).collect();
                let allowed = |c: char| c.is_ascii_digit() || " -.()".contains(c);
                let body = normalised.strip_prefix('+').unwrap_or(&normalised);
                if body.is_empty() || !body.chars().all(allowed) {
                    return Err(invalid());
                }
                digits_of(&normalised).ok_or_else(invalid)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(KnownNumbers { digits })
    }

    /// A signal for each distinct phone number in the prepared text that is not the company's.
    pub(crate) fn unknown_in(&self, text: &str) -> Vec<Signal> {
        let Some(pattern) = PHONE.as_ref() else {
            return Vec::new();
        };
        let mut unknown: Vec<String> = Vec::new();
        for found in pattern.find_iter(text) {
            if !stands_alone(text, found.start(), found.end()) {
                continue;
            }
            let Some(number) = digits_of(found.as_str()) else {
                continue;
            };
            if !self.digits.contains(&number) && !unknown.contains(&number) {
                unknown.push(number);
            }
        }
        unknown
            .into_iter()
            .map(|number| Signal::UnknownCallback { number })
            .collect()
    }
}

/// The number's digits with the country code read as `0`, if it is a plausible Korean phone
/// number: nationwide numbers have 8 digits, the rest 9 to 12 and a leading `0`.
fn digits_of(number: &str) -> Option<String> {
    let trimmed = number.trim_start();
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    let international = trimmed.starts_with('+') || trimmed.starts_with("00");
    let digits = if international {
        let national = digits
            .strip_prefix("0082")
            .or_else(|| digits.strip_prefix("82"))?;
        format!("0{}", national.strip_prefix('0').unwrap_or(national))
    } else {
        digits
    };
    let plausible = match digits.as_bytes().first() {
        Some(b'0') => (9..=12).contains(&digits.len()),
        Some(b'1') => digits.len() == 8 && matches!(digits.as_bytes().get(1), Some(b'5'..=b'9')),
        _ => false,
    };
    plausible.then_some(digits)
}

/// A number glued to more digits or to letters is part of something else (an account number,
/// a waybill, a code).
fn stands_alone(text: &str, start: usize, end: usize) -> bool {
    let before = text[..start].chars().next_back();
    let after = text[end..].chars().next();
    let glued_before = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ',' | '_');
    let glued_after = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | ',' | '_');
    !before.is_some_and(glued_before) && !after.is_some_and(glued_after)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> KnownNumbers {
        let numbers = ["1588-1234", "02-123-4567"].map(String::from);
        match KnownNumbers::new(&numbers) {
            Ok(known) => known,
            Err(error) => panic!("{error}"),
        }
    }

    fn unknown(text: &str) -> Vec<String> {
        known()
            .unknown_in(text)
            .into_iter()
            .filter_map(|signal| match signal {
                Signal::UnknownCallback { number } => Some(number),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_company_numbers_in_any_formatting_are_known() {
        assert!(unknown("문의: 1588-1234").is_empty());
        assert!(unknown("문의 1588 1234").is_empty());
        assert!(unknown("문의 02-123-4567, 02 123 4567, (02)123-4567").is_empty());
        assert!(unknown("문의 +82 2-123-4567").is_empty());
    }

    #[test]
    fn other_numbers_are_unknown() {
        assert_eq!(unknown("담당 010-5582-9103 으로"), ["01055829103"]);
        assert_eq!(unknown("070-4321-8877"), ["07043218877"]);
        assert_eq!(unknown("+82 10 1234 5678"), ["01012345678"]);
        assert_eq!(unknown("1661-3019로 연락"), ["16613019"]);
        assert_eq!(unknown("02-3480-1187로"), ["0234801187"]);
    }

    #[test]
    fn what_is_not_a_phone_number_is_ignored() {
        assert!(unknown("2025-11-08 주문번호 20251108-4471").is_empty());
        assert!(unknown("운송장 6071-2233-8190, 카드 1234-5678-9012-3456").is_empty());
        assert!(unknown("카카오뱅크 3333-01-2345678 1,280,000원").is_empty());
        assert!(unknown("인증번호 [482913] 확인코드 HC-7K2M-9QXD").is_empty());
    }

    #[test]
    fn profile_numbers_must_be_numbers() {
        let refuse = |number: &str| KnownNumbers::new(&[number.to_owned()]).is_err();
        assert!(refuse("call us"));
        assert!(refuse("1234"));
        assert!(refuse(""));
        assert!(!refuse("+82 2 123 4567"));
        assert!(!refuse("080-890-1234"));
    }
}
