//! Running the recognisers over a text and settling their disagreements.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use crate::fold::FoldedText;
use crate::{Finding, Recognizer, default_recognizers};

/// The confidence below which the default scanner drops a candidate.
pub const DEFAULT_MINIMUM_CONFIDENCE: f32 = 0.5;

/// Runs a list of recognisers over texts.
pub struct Scanner {
    recognizers: Vec<Box<dyn Recognizer>>,
    minimum_confidence: f32,
}

impl Scanner {
    /// A scanner running `recognizers`, reporting findings at or above
    /// [`DEFAULT_MINIMUM_CONFIDENCE`].
    pub fn new(recognizers: Vec<Box<dyn Recognizer>>) -> Self {
        Self {
            recognizers,
            minimum_confidence: DEFAULT_MINIMUM_CONFIDENCE,
        }
    }

    /// The same scanner reporting findings at or above `minimum` instead: lower it to hunt
    /// (more findings, more of them wrong), raise it to alert.
    pub fn with_minimum_confidence(mut self, minimum: f32) -> Self {
        self.minimum_confidence = minimum;
        self
    }

    /// Finds personal data in `text`.
    ///
    /// Where findings overlap the more confident one wins (on a tie, the longer; then the
    /// recogniser listed first). The result is sorted by position; offsets are byte offsets
    /// into `text`.
    pub fn scan(&self, text: &str) -> Vec<Finding> {
        let folded = FoldedText::new(text);
        let mut candidates = Vec::new();
        for recognizer in &self.recognizers {
            recognizer.find(folded.as_str(), &mut candidates);
        }
        candidates.retain(|f| f.confidence >= self.minimum_confidence);
        // A stable sort keeps the recognisers' order among equals.
        candidates.sort_by(|a, b| {
            b.confidence
                .total_cmp(&a.confidence)
                .then((b.end - b.start).cmp(&(a.end - a.start)))
        });
        let mut accepted: BTreeMap<usize, Finding> = BTreeMap::new();
        for candidate in candidates {
            let clashes_before = accepted
                .range(..=candidate.start)
                .next_back()
                .is_some_and(|(_, f)| f.overlaps(&candidate));
            let clashes_after = accepted
                .range(candidate.start..candidate.end)
                .next()
                .is_some_and(|(_, f)| f.overlaps(&candidate));
            if !clashes_before && !clashes_after {
                accepted.insert(candidate.start, candidate);
            }
        }
        accepted
            .into_values()
            .map(|mut finding| {
                finding.start = folded.original_offset(finding.start);
                finding.end = folded.original_offset(finding.end);
                finding
            })
            .collect()
    }
}

impl Default for Scanner {
    /// Every recogniser of [`default_recognizers`] at the default threshold.
    fn default() -> Self {
        Self::new(default_recognizers())
    }
}

/// Scans `text` with the default [`Scanner`], built once.
pub fn scan(text: &str) -> Vec<Finding> {
    static DEFAULT: LazyLock<Scanner> = LazyLock::new(Scanner::default);
    DEFAULT.scan(text)
}
