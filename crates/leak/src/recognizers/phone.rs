//! Mobile and landline phone numbers in every spelling.

use haechi_korean::{PhoneKind, PhoneNumber};
use regex::Regex;

use super::{Recognizer, compile, isolated_matches};
use crate::context::{context_word, counter_word};
use crate::finding::Evidence;
use crate::{Finding, PiiKind, Reason};

/// An optional international prefix (`+82`, `+82 (0)`, `0082`) or a domestic `0` (maybe in
/// parentheses), a mobile, area or service prefix, then two groups with optional separators.
const PATTERN: &str = r"(?:\+ ?82[ .-]?(?:\(0\)[ .-]?)?0?|0082[ .-]?0?|\(?0)(?:1[016789]|2|3[1-3]|4[1-4]|5[1-5]|6[1-4]|70|50[2-8])\)?[ .-]?[0-9]{3,4}[ .-]?[0-9]{4}";

const CONTEXT: &[&str] = &[
    "전화",
    "연락처",
    "연락",
    "휴대폰",
    "핸드폰",
    "휴대전화",
    "폰",
    "전번",
    "문자",
    "카톡",
    "tel",
    "phone",
    "mobile",
    "hp",
    "fax",
    "팩스",
];

/// Finds mobile numbers: 010 and the legacy 011/016/017/018/019.
pub struct MobilePhoneRecognizer {
    regex: Regex,
}

impl MobilePhoneRecognizer {
    /// Builds the recogniser.
    pub fn new() -> Self {
        Self {
            regex: compile(PATTERN),
        }
    }
}

impl Default for MobilePhoneRecognizer {
    fn default() -> Self {
        Self::new()
    }
}

impl Recognizer for MobilePhoneRecognizer {
    fn kind(&self) -> PiiKind {
        PiiKind::MobilePhone
    }

    fn find(&self, text: &str, out: &mut Vec<Finding>) {
        find_phones(&self.regex, text, PiiKind::MobilePhone, out);
    }
}

/// Finds landlines (02 and the area codes), internet phones (070) and relay numbers (050x).
/// Company (15xx) and toll-free (080) numbers are not personal and are never reported.
pub struct LandlineRecognizer {
    regex: Regex,
}

impl LandlineRecognizer {
    /// Builds the recogniser.
    pub fn new() -> Self {
        Self {
            regex: compile(PATTERN),
        }
    }
}

impl Default for LandlineRecognizer {
    fn default() -> Self {
        Self::new()
    }
}

impl Recognizer for LandlineRecognizer {
    fn kind(&self) -> PiiKind {
        PiiKind::Landline
    }

    fn find(&self, text: &str, out: &mut Vec<Finding>) {
        find_phones(&self.regex, text, PiiKind::Landline, out);
    }
}

fn find_phones(regex: &Regex, text: &str, wanted: PiiKind, out: &mut Vec<Finding>) {
    for m in isolated_matches(regex, text) {
        // "(010-2345-6789)": the opening parenthesis belongs to the sentence, not the number.
        let (start, spelled) = match m.as_str().strip_prefix('(') {
            Some(rest) if !rest.contains(')') => (m.start() + 1, rest),
            _ => (m.start(), m.as_str()),
        };
        let Ok(number) = PhoneNumber::parse_any(spelled) else {
            continue;
        };
        let kind = match number.kind() {
            PhoneKind::Mobile | PhoneKind::LegacyMobile => PiiKind::MobilePhone,
            PhoneKind::Landline | PhoneKind::InternetPhone | PhoneKind::RelayNumber => {
                PiiKind::Landline
            }
            _ => continue,
        };
        if kind != wanted {
            continue;
        }
        let international = spelled.starts_with('+') || spelled.starts_with("0082");
        let separated = spelled.contains(['-', '.', ' ', ')']);
        let mut evidence = match (number.kind(), international, separated) {
            (_, true, _) => Evidence::new(0.9, "+82 international number"),
            (PhoneKind::Mobile, false, true) => Evidence::new(0.85, "010 number with separators"),
            (PhoneKind::Mobile, false, false) => Evidence::new(0.7, "010 number, digits only"),
            (PhoneKind::LegacyMobile, false, true) => {
                Evidence::new(0.6, "01x legacy mobile number with separators")
            }
            (PhoneKind::LegacyMobile, false, false) => {
                Evidence::new(0.35, "01x legacy mobile number, digits only")
            }
            (_, false, true) => Evidence::new(0.7, "landline number with separators"),
            (_, false, false) => Evidence::new(0.35, "landline number, digits only"),
        };
        if let Some(word) = context_word(text, start, m.end(), CONTEXT) {
            evidence.add(0.2, Reason::ContextWord(word));
        }
        if let Some(word) = counter_word(text, start) {
            evidence.add(-0.4, Reason::CounterContextWord(word));
        }
        out.push(evidence.into_finding(kind, start, m.end()));
    }
}
