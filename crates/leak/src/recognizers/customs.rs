//! 개인통관고유부호.

use regex::Regex;

use super::{Recognizer, compile, isolated_matches};
use crate::context::{context_word, counter_word};
use crate::finding::Evidence;
use crate::{Finding, PiiKind, Reason};

const PATTERN: &str = r"[Pp][0-9]{12}";

const CONTEXT: &[&str] = &[
    "개인통관고유부호",
    "통관고유부호",
    "통관부호",
    "통관번호",
    "통관",
    "pccc",
    "customs",
    "고유부호",
];

/// Finds customs clearance codes, `P` + 12 digits. There is no published check digit, so
/// confidence rests on the shape and context words.
pub struct CustomsCodeRecognizer {
    regex: Regex,
}

impl CustomsCodeRecognizer {
    /// Builds the recogniser.
    pub fn new() -> Self {
        Self {
            regex: compile(PATTERN),
        }
    }
}

impl Default for CustomsCodeRecognizer {
    fn default() -> Self {
        Self::new()
    }
}

impl Recognizer for CustomsCodeRecognizer {
    fn kind(&self) -> PiiKind {
        PiiKind::CustomsCode
    }

    fn find(&self, text: &str, out: &mut Vec<Finding>) {
        for m in isolated_matches(&self.regex, text) {
            let mut evidence = if m.as_str().starts_with('P') {
                Evidence::new(0.6, "P and 12 digits")
            } else {
                Evidence::new(0.45, "p and 12 digits")
            };
            if let Some(word) = context_word(text, m.start(), m.end(), CONTEXT) {
                evidence.add(0.35, Reason::ContextWord(word));
            }
            if let Some(word) = counter_word(text, m.start()) {
                evidence.add(-0.4, Reason::CounterContextWord(word));
            }
            out.push(evidence.into_finding(PiiKind::CustomsCode, m.start(), m.end()));
        }
    }
}
