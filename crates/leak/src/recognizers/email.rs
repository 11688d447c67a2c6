//! E-mail addresses.

use haechi_korean::normalize_email;
use regex::Regex;

use super::{Recognizer, compile, isolated_matches};
use crate::finding::Evidence;
use crate::{Finding, PiiKind};

const PATTERN: &str = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}";

/// File extensions that make `name@2x.png` a file name, not an address.
const FILE_EXTENSIONS: &[&str] = &[
    "png", "jpg", "jpeg", "gif", "svg", "webp", "css", "js", "ts", "json", "pdf", "zip",
];

/// Finds e-mail addresses that [`normalize_email`] accepts.
pub struct EmailRecognizer {
    regex: Regex,
}

impl EmailRecognizer {
    /// Builds the recogniser.
    pub fn new() -> Self {
        Self {
            regex: compile(PATTERN),
        }
    }
}

impl Default for EmailRecognizer {
    fn default() -> Self {
        Self::new()
    }
}

impl Recognizer for EmailRecognizer {
    fn kind(&self) -> PiiKind {
        PiiKind::Email
    }

    fn find(&self, text: &str, out: &mut Vec<Finding>) {
        for m in isolated_matches(&self.regex, text) {
            let Ok(address) = normalize_email(m.as_str()) else {
                continue;
            };
            let extension = address.rsplit('.').next().unwrap_or_default();
            if FILE_EXTENSIONS.contains(&extension) {
                continue;
            }
            out.push(Evidence::new(0.9, "local@domain.tld").into_finding(
                PiiKind::Email,
                m.start(),
                m.end(),
            ));
        }
    }
}
