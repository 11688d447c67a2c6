//! The recognisers: one per kind of personal data, and the one list the scanner runs.
//!
//! Adding a kind is one file here and one line in [`default_recognizers`].

mod address;
mod business;
mod card;
mod customs;
mod email;
mod licence;
mod passport;
mod phone;
mod registration;

use regex::{Match, Regex};

use crate::{Finding, PiiKind};

pub use address::AddressRecognizer;
pub use business::BusinessNumberRecognizer;
pub use card::CardNumberRecognizer;
pub use customs::CustomsCodeRecognizer;
pub use email::{EmailRecognizer, looks_like_a_written_address};
pub use licence::DriverLicenceRecognizer;
pub use passport::PassportRecognizer;
pub use phone::{LandlineRecognizer, MobilePhoneRecognizer};
pub use registration::{ForeignerNumberRecognizer, ResidentNumberRecognizer};

/// Finds one kind of personal data in text.
///
/// The scanner hands every recogniser the same text, already folded: full-width ASCII is
/// ASCII, Unicode dashes are `-`, decomposed Hangul jamo are composed. Offsets in the findings
/// are byte offsets into that text; the scanner maps them back to the caller's. A recogniser
/// reports every candidate it believes at all, with an honest confidence: the scanner applies
/// the threshold and resolves overlaps between recognisers.
pub trait Recognizer: Send + Sync {
    /// The kind this recogniser finds.
    fn kind(&self) -> PiiKind;

    /// Appends the findings in `text` to `out`.
    fn find(&self, text: &str, out: &mut Vec<Finding>);
}

/// Every recogniser, in the order their findings are reported when confidences tie.
pub fn default_recognizers() -> Vec<Box<dyn Recognizer>> {
    vec![
        Box::new(ResidentNumberRecognizer::new()),
        Box::new(ForeignerNumberRecognizer::new()),
        Box::new(CardNumberRecognizer::new()),
        Box::new(MobilePhoneRecognizer::new()),
        Box::new(LandlineRecognizer::new()),
        Box::new(EmailRecognizer::new()),
        Box::new(CustomsCodeRecognizer::new()),
        Box::new(BusinessNumberRecognizer::new()),
        Box::new(PassportRecognizer::new()),
        Box::new(DriverLicenceRecognizer::new()),
        Box::new(AddressRecognizer::new()),
    ]
}

/// Compiles one of the recognisers' constant patterns.
#[allow(
    clippy::expect_used,
    reason = "the patterns are constants; every one is compiled by the unit tests"
)]
fn compile(pattern: &str) -> Regex {
    Regex::new(pattern).expect("a recogniser's constant pattern compiles")
}

/// The matches of `regex` in `text` that stand alone: not glued to a letter or digit, nor to
/// a longer hyphen- or dot-separated number. After a rejected match the search resumes one
/// character later, so a valid candidate that overlaps a rejected one is still found.
fn isolated_matches<'t>(regex: &Regex, text: &'t str) -> Vec<Match<'t>> {
    let mut found = Vec::new();
    let mut position = 0;
    while let Some(m) = regex.find_at(text, position) {
        if m.is_empty() {
            position = next_char_boundary(text, m.end());
            continue;
        }
        if stands_alone(text, m.start(), m.end()) {
            found.push(m);
            position = m.end();
        } else {
            position = next_char_boundary(text, m.start());
        }
        if position >= text.len() {
            break;
        }
    }
    found
}

fn next_char_boundary(text: &str, offset: usize) -> usize {
    text.get(offset..)
        .and_then(|tail| tail.chars().next())
        .map_or(text.len(), |c| offset + c.len_utf8())
}

/// Whether `start..end` has no ASCII letter, digit or underscore on either side, and no
/// `-`/`.` followed by a digit (a longer number) on either side.
pub(crate) fn stands_alone(text: &str, start: usize, end: usize) -> bool {
    let glued = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut before = text.get(..start).unwrap_or_default().chars().rev();
    let ok_before = match before.next() {
        None => true,
        Some(c) if glued(c) => false,
        Some('-' | '.') => !before.next().is_some_and(|c| c.is_ascii_digit()),
        Some(_) => true,
    };
    let mut after = text.get(end..).unwrap_or_default().chars();
    let ok_after = match after.next() {
        None => true,
        Some(c) if glued(c) => false,
        Some('-' | '.') => !after.next().is_some_and(|c| c.is_ascii_digit()),
        Some(_) => true,
    };
    ok_before && ok_after
}

/// The ASCII digits of `text`, in order.
fn digits_of(text: &str) -> String {
    text.chars().filter(char::is_ascii_digit).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pattern_compiles() {
        assert_eq!(default_recognizers().len(), 11);
    }

    #[test]
    fn standing_alone() {
        let text = "a 010-2345-6789 b";
        assert!(stands_alone(text, 2, 15));
        assert!(!stands_alone("x010", 1, 4));
        assert!(!stands_alone("1-010", 2, 5));
        assert!(stands_alone("끝-010", 4, 7));
        assert!(stands_alone("010.", 0, 3));
        assert!(!stands_alone("010.5", 0, 3));
    }

    #[test]
    fn rejected_matches_do_not_hide_later_ones() {
        let regex = compile("[0-9]{3}");
        let found: Vec<&str> = isolated_matches(&regex, "1234 567")
            .iter()
            .map(Match::as_str)
            .collect();
        assert_eq!(found, ["567"]);
    }
}
