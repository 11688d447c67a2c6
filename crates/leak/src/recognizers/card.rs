//! Payment card numbers.

use haechi_korean::{Checksum, luhn};
use regex::Regex;

use super::{Recognizer, compile, digits_of, isolated_matches};
use crate::context::{context_word, counter_word};
use crate::finding::Evidence;
use crate::{Finding, PiiKind, Reason};

/// Four groups of four (and an optional fifth of three) with one kind of separator, the
/// 4-6-5 and 4-6-4 layouts of Amex and Diners, or 13 to 19 bare digits.
const PATTERN: &str = concat!(
    r"[0-9]{4}-[0-9]{4}-[0-9]{4}-[0-9]{4}(?:-[0-9]{3})?",
    r"|[0-9]{4} [0-9]{4} [0-9]{4} [0-9]{4}(?: [0-9]{3})?",
    r"|[0-9]{4}[ -][0-9]{6}[ -][0-9]{4,5}",
    r"|[0-9]{13,19}",
);

const CONTEXT: &[&str] = &[
    "카드번호",
    "카드",
    "신용카드",
    "체크카드",
    "결제",
    "유효기간",
    "cvc",
    "cvv",
    "card",
    "visa",
    "master",
    "amex",
];

/// Finds card numbers: 13–19 digits that pass the Luhn check. Numbers that fail it are never
/// reported: every issued card number passes.
pub struct CardNumberRecognizer {
    regex: Regex,
}

impl CardNumberRecognizer {
    /// Builds the recogniser.
    pub fn new() -> Self {
        Self {
            regex: compile(PATTERN),
        }
    }
}

impl Default for CardNumberRecognizer {
    fn default() -> Self {
        Self::new()
    }
}

impl Recognizer for CardNumberRecognizer {
    fn kind(&self) -> PiiKind {
        PiiKind::CardNumber
    }

    fn find(&self, text: &str, out: &mut Vec<Finding>) {
        for m in isolated_matches(&self.regex, text) {
            let digits = digits_of(m.as_str());
            if luhn(&digits) != Checksum::Valid {
                continue;
            }
            let separated = digits.len() != m.as_str().len();
            let mut evidence = if separated {
                Evidence::new(0.7, "grouped card number")
            } else {
                Evidence::new(0.45, "13 to 19 digits")
            };
            evidence.add(0.0, Reason::ChecksumValid);
            match issuer(&digits) {
                Some(name) => evidence.add(0.2, Reason::KnownIssuer(name)),
                None => evidence.add(-0.2, Reason::Shape("no known issuer prefix")),
            }
            if let Some(word) = context_word(text, m.start(), m.end(), CONTEXT) {
                evidence.add(0.25, Reason::ContextWord(word));
            }
            if let Some(word) = counter_word(text, m.start()) {
                evidence.add(-0.4, Reason::CounterContextWord(word));
            }
            out.push(evidence.into_finding(PiiKind::CardNumber, m.start(), m.end()));
        }
    }
}

/// The card network whose prefix and length the number has.
fn issuer(digits: &str) -> Option<&'static str> {
    let length = digits.len();
    let prefix = |n: usize| digits.get(..n).and_then(|p| p.parse::<u32>().ok());
    let in_range =
        |n: usize, low: u32, high: u32| prefix(n).is_some_and(|p| (low..=high).contains(&p));
    if digits.starts_with('4') && matches!(length, 13 | 16 | 19) {
        Some("Visa")
    } else if (in_range(2, 51, 55) || in_range(4, 2221, 2720)) && length == 16 {
        Some("Mastercard")
    } else if (in_range(2, 34, 34) || in_range(2, 37, 37)) && length == 15 {
        Some("American Express")
    } else if (in_range(3, 300, 305) || in_range(2, 36, 36) || in_range(2, 38, 39)) && length == 14
    {
        Some("Diners Club")
    } else if in_range(4, 3528, 3589) && (16..=19).contains(&length) {
        Some("JCB")
    } else if (digits.starts_with("6011") || in_range(2, 65, 65) || in_range(3, 644, 649))
        && (16..=19).contains(&length)
    {
        Some("Discover")
    } else if in_range(2, 62, 62) && (16..=19).contains(&length) {
        Some("UnionPay")
    } else if in_range(2, 94, 95) && length == 16 {
        // Korean domestic cards (BC and others) use 94xx and 95xx.
        Some("Korean domestic")
    } else {
        None
    }
}
