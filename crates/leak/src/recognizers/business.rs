//! 사업자등록번호.

use haechi_korean::BusinessNumber;
use regex::Regex;

use super::{Recognizer, compile, digits_of, isolated_matches};
use crate::context::{context_word, counter_word};
use crate::finding::Evidence;
use crate::{Finding, PiiKind, Reason};

const PATTERN: &str = r"[0-9]{3}-[0-9]{2}-[0-9]{5}|[0-9]{10}";

const CONTEXT: &[&str] = &[
    "사업자등록번호",
    "사업자번호",
    "사업자",
    "등록번호",
    "법인",
    "대표자",
    "상호",
    "통신판매",
    "세금계산서",
    "brn",
    "business",
];

/// Finds business registration numbers whose check digit matches. One random 10-digit string
/// in ten passes, so bare digits need a context word.
pub struct BusinessNumberRecognizer {
    regex: Regex,
}

impl BusinessNumberRecognizer {
    /// Builds the recogniser.
    pub fn new() -> Self {
        Self {
            regex: compile(PATTERN),
        }
    }
}

impl Default for BusinessNumberRecognizer {
    fn default() -> Self {
        Self::new()
    }
}

impl Recognizer for BusinessNumberRecognizer {
    fn kind(&self) -> PiiKind {
        PiiKind::BusinessNumber
    }

    fn find(&self, text: &str, out: &mut Vec<Finding>) {
        for m in isolated_matches(&self.regex, text) {
            let digits = digits_of(m.as_str());
            if BusinessNumber::parse(&digits).is_err() {
                continue;
            }
            let mut evidence = if digits.len() == m.as_str().len() {
                Evidence::new(0.2, "10 digits")
            } else {
                Evidence::new(0.6, "XXX-XX-XXXXX")
            };
            evidence.add(0.0, Reason::ChecksumValid);
            if let Some(word) = context_word(text, m.start(), m.end(), CONTEXT) {
                evidence.add(0.35, Reason::ContextWord(word));
            }
            if let Some(word) = counter_word(text, m.start()) {
                evidence.add(-0.4, Reason::CounterContextWord(word));
            }
            out.push(evidence.into_finding(PiiKind::BusinessNumber, m.start(), m.end()));
        }
    }
}
