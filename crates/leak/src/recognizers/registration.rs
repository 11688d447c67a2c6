//! 주민등록번호 and 외국인등록번호.

use haechi_korean::{Holder, RegistrationChecksum, RegistrationNumber};
use regex::Regex;

use super::{Recognizer, compile, digits_of, isolated_matches};
use crate::context::{context_word, counter_word};
use crate::finding::Evidence;
use crate::{Finding, PiiKind, Reason};

/// `YYMMDD-GNNNNNN`, with a hyphen, a space, or nothing between the halves.
const PATTERN: &str = r"[0-9]{6}(?: ?- ?| )?[0-9]{7}";

const RESIDENT_CONTEXT: &[&str] = &[
    "주민등록번호",
    "주민번호",
    "주민",
    "rrn",
    "resident",
    "주번",
];
const FOREIGNER_CONTEXT: &[&str] = &[
    "외국인등록번호",
    "외국인번호",
    "외국인",
    "등록번호",
    "frn",
    "alien",
    "foreigner",
];

/// Finds resident registration numbers (seventh digit 1–4).
pub struct ResidentNumberRecognizer {
    regex: Regex,
}

impl ResidentNumberRecognizer {
    /// Builds the recogniser.
    pub fn new() -> Self {
        Self {
            regex: compile(PATTERN),
        }
    }
}

impl Default for ResidentNumberRecognizer {
    fn default() -> Self {
        Self::new()
    }
}

impl Recognizer for ResidentNumberRecognizer {
    fn kind(&self) -> PiiKind {
        PiiKind::ResidentRegistrationNumber
    }

    fn find(&self, text: &str, out: &mut Vec<Finding>) {
        find_registration(&self.regex, text, Holder::Citizen, out);
    }
}

/// Finds foreigner registration numbers (seventh digit 5–8).
pub struct ForeignerNumberRecognizer {
    regex: Regex,
}

impl ForeignerNumberRecognizer {
    /// Builds the recogniser.
    pub fn new() -> Self {
        Self {
            regex: compile(PATTERN),
        }
    }
}

impl Default for ForeignerNumberRecognizer {
    fn default() -> Self {
        Self::new()
    }
}

impl Recognizer for ForeignerNumberRecognizer {
    fn kind(&self) -> PiiKind {
        PiiKind::ForeignerRegistrationNumber
    }

    fn find(&self, text: &str, out: &mut Vec<Finding>) {
        find_registration(&self.regex, text, Holder::Foreigner, out);
    }
}

fn find_registration(regex: &Regex, text: &str, holder: Holder, out: &mut Vec<Finding>) {
    let (kind, context) = match holder {
        Holder::Citizen => (PiiKind::ResidentRegistrationNumber, RESIDENT_CONTEXT),
        Holder::Foreigner => (PiiKind::ForeignerRegistrationNumber, FOREIGNER_CONTEXT),
    };
    for m in isolated_matches(regex, text) {
        let digits = digits_of(m.as_str());
        let Ok(number) = RegistrationNumber::parse(&digits) else {
            continue;
        };
        // Seventh digits 9 and 0 mean born in the 1800s: no living holder, so not a leak.
        if number.holder() != holder || number.birth_date().year() < 1900 {
            continue;
        }
        let separated = digits.len() != m.as_str().len();
        let mut evidence = if separated {
            Evidence::new(0.6, "YYMMDD-GNNNNNN with a real date")
        } else {
            Evidence::new(0.35, "13 digits starting with a real date")
        };
        match number.checksum() {
            RegistrationChecksum::Valid => evidence.add(0.35, Reason::ChecksumValid),
            // Numbers issued since 2020-10-05 have no check digit: keep the match.
            RegistrationChecksum::MismatchOrIssuedAfter2020 => {
                evidence.add(0.0, Reason::ChecksumFailed);
            }
        }
        if !separated && looks_like_korean_barcode(&digits) {
            evidence.add(
                -0.3,
                Reason::Shape("880 prefix and EAN-13 check: a product barcode"),
            );
        }
        if let Some(word) = context_word(text, m.start(), m.end(), context) {
            evidence.add(0.35, Reason::ContextWord(word));
        }
        if let Some(word) = counter_word(text, m.start()) {
            evidence.add(-0.4, Reason::CounterContextWord(word));
        }
        out.push(evidence.into_finding(kind, m.start(), m.end()));
    }
}

/// Korean product barcodes are EAN-13 numbers starting with the GS1 prefix 880, and many of
/// them read as a real date of birth. Passing the EAN check as well makes a barcode likelier.
fn looks_like_korean_barcode(digits: &str) -> bool {
    let values: Vec<u32> = digits.chars().filter_map(|c| c.to_digit(10)).collect();
    if values.len() != 13 || !digits.starts_with("880") {
        return false;
    }
    let sum: u32 = values[..12]
        .iter()
        .enumerate()
        .map(|(i, d)| if i % 2 == 1 { d * 3 } else { *d })
        .sum();
    (10 - sum % 10) % 10 == values[12]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn korean_barcodes() {
        assert!(looks_like_korean_barcode("8801234567893"));
        assert!(!looks_like_korean_barcode("8801234567890"));
        assert!(!looks_like_korean_barcode("9001011234568"));
    }
}
