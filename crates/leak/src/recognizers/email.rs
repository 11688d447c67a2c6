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
            let evidence = if has_an_address_shape(m.as_str()) {
                Evidence::new(0.9, "local@domain.tld")
            } else {
                Evidence::new(
                    0.6,
                    "local@domain.tld, but a one-letter or mixed-case domain",
                )
            };
            out.push(evidence.into_finding(PiiKind::Email, m.start(), m.end()));
        }
    }
}

/// The shortest address given full confidence: ten characters (`kim@kt.com`).
const SHORTEST_LIKELY: usize = 10;

/// Whether `candidate` looks written by a person, not cut from random bytes: ten characters or
/// more, a letter or digit in its local part, two characters or more in the label before the
/// top-level domain, and every domain label in one case or capitalised. Printable runs in
/// ciphertext match the pattern about 45 times a gigabyte (`x@Q.rZ`, `aH@ez.QC`), all short;
/// none of 2 GB of random bytes passes these rules, so a scan of encrypted data at rest does
/// not report its own ciphertext, while `kim@naver.com`, `Kim@Example.com` and
/// `KIM@NAVER.COM` keep full confidence. Shorter or odder addresses are still found, with less.
fn has_an_address_shape(candidate: &str) -> bool {
    let Some((local, domain)) = candidate.rsplit_once('@') else {
        return false;
    };
    let mut labels = domain.rsplit('.');
    let _top_level = labels.next();
    let registered = labels.next().unwrap_or_default();
    candidate.len() >= SHORTEST_LIKELY
        && local.chars().any(|c| c.is_ascii_alphanumeric())
        && registered.len() >= 2
        && domain.split('.').all(is_in_one_case)
}

/// `naver`, `NAVER`, `Naver`, `163`: not `nAver`.
fn is_in_one_case(label: &str) -> bool {
    let mut letters = label.chars().filter(char::is_ascii_alphabetic);
    let Some(first) = letters.next() else {
        return true;
    };
    let rest: Vec<char> = letters.collect();
    rest.iter().all(char::is_ascii_lowercase)
        || (first.is_ascii_uppercase() && rest.iter().all(char::is_ascii_uppercase))
}
