//! Driver licence numbers.

use haechi_korean::DriverLicence;
use regex::Regex;

use super::{Recognizer, compile, isolated_matches};
use crate::context::{context_word, counter_word};
use crate::finding::Evidence;
use crate::{Finding, PiiKind, Reason};

const PATTERN: &str = concat!(
    r"(?:[0-9]{2}|경기북부|서울|부산|경기|강원|충북|충남|전북|전남|경북|경남|제주|대구|인천|광주|대전|울산)",
    r"[ -]?[0-9]{2}-[0-9]{6}-[0-9]{2}",
    r"|[0-9]{12}",
);

const CONTEXT: &[&str] = &[
    "운전면허번호",
    "운전면허",
    "면허번호",
    "면허증",
    "면허",
    "driver",
    "licence",
    "license",
];

/// Finds driver licence numbers, `RR-YY-NNNNNN-CC` or with the region's Hangul name. Twelve
/// bare digits (the length of many parcel waybills) need a context word.
pub struct DriverLicenceRecognizer {
    regex: Regex,
}

impl DriverLicenceRecognizer {
    /// Builds the recogniser.
    pub fn new() -> Self {
        Self {
            regex: compile(PATTERN),
        }
    }
}

impl Default for DriverLicenceRecognizer {
    fn default() -> Self {
        Self::new()
    }
}

impl Recognizer for DriverLicenceRecognizer {
    fn kind(&self) -> PiiKind {
        PiiKind::DriverLicence
    }

    fn find(&self, text: &str, out: &mut Vec<Finding>) {
        for m in isolated_matches(&self.regex, text) {
            if DriverLicence::parse(m.as_str()).is_err() {
                continue;
            }
            let spelled = m.as_str();
            let mut evidence = if !spelled.starts_with(|c: char| c.is_ascii_digit()) {
                Evidence::new(0.7, "region name and YY-NNNNNN-CC")
            } else if spelled.contains('-') {
                Evidence::new(0.65, "RR-YY-NNNNNN-CC")
            } else {
                Evidence::new(0.2, "12 digits with a region code")
            };
            if let Some(word) = context_word(text, m.start(), m.end(), CONTEXT) {
                evidence.add(0.35, Reason::ContextWord(word));
            }
            if let Some(word) = counter_word(text, m.start()) {
                evidence.add(-0.4, Reason::CounterContextWord(word));
            }
            out.push(evidence.into_finding(PiiKind::DriverLicence, m.start(), m.end()));
        }
    }
}
