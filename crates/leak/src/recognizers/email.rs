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

/// The shortest address [`looks_like_a_written_address`] accepts: ten characters
/// (`kim@kt.com`).
const SHORTEST_WRITTEN: usize = 10;

/// Whether an e-mail finding looks written by a person rather than cut from random bytes: ten
/// characters or more, a letter or digit before the `@`, two characters or more in the label
/// before the top-level domain, every domain label in one case or capitalised, and the
/// top-level domain beginning with two letters in one case (a value stored without a separator
/// runs into the next bytes: `kim@naver.comKim`).
///
/// For scans of data that should be ciphertext (the evidence report's scan of a data
/// directory): printable runs of random bytes match the e-mail pattern about 45 times a
/// gigabyte (`x@Q.rZ`, `aH@ez.QC`), nearly all short and oddly cased. Text is scanned without
/// it: `hk@sk.com` and `jane@iCloud.com` are addresses too.
pub fn looks_like_a_written_address(candidate: &str) -> bool {
    let Some((local, domain)) = candidate.rsplit_once('@') else {
        return false;
    };
    let mut labels = domain.rsplit('.');
    let top_level = labels.next().unwrap_or_default();
    let registered = labels.next().unwrap_or_default();
    let mut inner = domain.split('.');
    inner.next_back();
    candidate.len() >= SHORTEST_WRITTEN
        && local.chars().any(|c| c.is_ascii_alphanumeric())
        && registered.len() >= 2
        && inner.all(is_in_one_case)
        && one_case_prefix(top_level) >= 2
}

/// `naver`, `NAVER`, `Naver`, `163`: not `nAver`.
fn is_in_one_case(label: &str) -> bool {
    one_case_prefix(label) == label.chars().filter(char::is_ascii_alphabetic).count()
}

/// How many letters `label` begins with in one case: all lower, all upper, or one capital
/// then lower (`comKim` → 3, `Naver` → 5, `qEY` → 1).
fn one_case_prefix(label: &str) -> usize {
    let letters: Vec<char> = label.chars().filter(char::is_ascii_alphabetic).collect();
    let Some(first) = letters.first() else {
        return 0;
    };
    let rest = &letters[1..];
    let lower = rest.iter().take_while(|c| c.is_ascii_lowercase()).count();
    let upper = if first.is_ascii_uppercase() {
        rest.iter().take_while(|c| c.is_ascii_uppercase()).count()
    } else {
        0
    };
    1 + lower.max(upper)
}
