//! Passport numbers.

use haechi_korean::{PassportFormat, PassportNumber};
use regex::Regex;

use super::{Recognizer, compile, isolated_matches};
use crate::context::{context_word, counter_word};
use crate::finding::Evidence;
use crate::{Finding, PiiKind, Reason};

const PATTERN: &str = r"[MSRGDmsrgd](?:[0-9]{8}|[0-9]{3}[A-Za-z][0-9]{4})";

const CONTEXT: &[&str] = &["여권번호", "여권", "passport", "패스포트", "passeport"];

/// Finds passport numbers in the old (`M12345678`) and 2021 (`M123A4567`) formats. The old
/// format looks like many product codes, so it needs a context word.
pub struct PassportRecognizer {
    regex: Regex,
}

impl PassportRecognizer {
    /// Builds the recogniser.
    pub fn new() -> Self {
        Self {
            regex: compile(PATTERN),
        }
    }
}

impl Default for PassportRecognizer {
    fn default() -> Self {
        Self::new()
    }
}

impl Recognizer for PassportRecognizer {
    fn kind(&self) -> PiiKind {
        PiiKind::Passport
    }

    fn find(&self, text: &str, out: &mut Vec<Finding>) {
        for m in isolated_matches(&self.regex, text) {
            let Ok(passport) = PassportNumber::parse(m.as_str()) else {
                continue;
            };
            let mut evidence = match passport.format() {
                PassportFormat::Since2021 => {
                    Evidence::new(0.55, "letter, 3 digits, letter, 4 digits")
                }
                PassportFormat::Old => Evidence::new(0.3, "letter and 8 digits"),
            };
            if m.as_str() != passport.as_str() {
                evidence.add(-0.15, Reason::Shape("lower-case letters"));
            }
            if let Some(word) = context_word(text, m.start(), m.end(), CONTEXT) {
                evidence.add(0.4, Reason::ContextWord(word));
            }
            if let Some(word) = counter_word(text, m.start()) {
                evidence.add(-0.4, Reason::CounterContextWord(word));
            }
            out.push(evidence.into_finding(PiiKind::Passport, m.start(), m.end()));
        }
    }
}
