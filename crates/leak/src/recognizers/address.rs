//! Road-name addresses (도로명주소).
//!
//! The anchor is a road name followed by a building number (`올림픽로 300`); from there the
//! recogniser walks back over administrative names (시·도, 시·군·구, 읍·면) and an optional
//! postal code, and forward over the unit (`101동 1203호`), a reference note (`(신천동)`) and a
//! postal code.

use haechi_korean::{PostalCode, Province};
use regex::Regex;

use super::{Recognizer, compile};
use crate::context::context_word;
use crate::finding::Evidence;
use crate::{Finding, PiiKind, Reason};

/// A road name (Hangul, maybe with digits, ending in 로 or 길) and a building number.
const ANCHOR: &str = r"[가-힣0-9.]{0,15}[가-힣](?:[0-9]{1,4}(?:번|가)?)?(?:로|길)[ ]?(?:지하[ ]?)?[0-9]{1,4}(?:-[0-9]{1,4})?";
/// The unit after the building number: `, 101동 1203호`, `, 롯데캐슬 101동 1203호`,
/// `, 3층 302호`, `, 101-1203`, `, 2층`.
const UNIT: &str = r"^[ ]*,?[ ]*(?:[가-힣A-Za-z0-9]{1,15} )?(?:(?:[0-9A-Za-z]{1,5}동[ ]?)?(?:[0-9A-Za-z]{1,3}층[ ]?)?[0-9A-Za-z]{1,5}호|[0-9]{1,4}-[0-9]{1,5}호?|[0-9A-Za-z]{1,3}층)";
/// A reference note in parentheses: `(신천동)`, `(신천동, 잠실엘스)`.
const NOTE: &str = r"^[ ]*\([가-힣][가-힣0-9A-Za-z ,.-]{0,29}\)";
/// A postal code after the address: ` 05551`, ` (05551)`, `, 우)05551`, ` [05551]`.
const POSTAL_AFTER: &str = r"^[ ]*,?[ ]*(?:\(우\)|우\)|우편번호:?)?[ ]?[(\[]?([0-9]{5})[)\]]?";
/// A postal code before the address, as the text just before it ends: `(05551) `, `[05551] `,
/// `우)05551 `, `05551 `.
const POSTAL_BEFORE: &str = r"(?:\(우\)|우\)|우편번호:?)?[ ]?[(\[]?([0-9]{5})[)\]]?[ ,]*$";

const CONTEXT: &[&str] = &[
    "주소",
    "배송지",
    "받는",
    "수령",
    "도로명",
    "자택",
    "거주",
    "사는",
    "address",
];

/// Finds road-name addresses with a building number and at least a 시·도 or 시·군·구 before
/// them. A bare building address (a company footer) stays below the default threshold unless
/// a unit, a postal code or a context word makes it someone's address.
pub struct AddressRecognizer {
    anchor: Regex,
    unit: Regex,
    note: Regex,
    postal_after: Regex,
    postal_before: Regex,
}

impl AddressRecognizer {
    /// Builds the recogniser.
    pub fn new() -> Self {
        Self {
            anchor: compile(ANCHOR),
            unit: compile(UNIT),
            note: compile(NOTE),
            postal_after: compile(POSTAL_AFTER),
            postal_before: compile(POSTAL_BEFORE),
        }
    }
}

impl Default for AddressRecognizer {
    fn default() -> Self {
        Self::new()
    }
}

impl Recognizer for AddressRecognizer {
    fn kind(&self) -> PiiKind {
        PiiKind::Address
    }

    fn find(&self, text: &str, out: &mut Vec<Finding>) {
        let mut position = 0;
        while let Some(anchor) = self.anchor.find_at(text, position) {
            position = anchor.end();
            if let Some(finding) = self.address_at(text, anchor.start(), anchor.end()) {
                position = finding.end;
                out.push(finding);
            }
        }
    }
}

impl AddressRecognizer {
    /// Builds the finding around the road name and building number at `anchor_start..end`, or
    /// `None` when no administrative name precedes it or the number runs into other text.
    fn address_at(&self, text: &str, anchor_start: usize, anchor_end: usize) -> Option<Finding> {
        // "세종대로 3시에": a number glued to more text is not a building number.
        let next = text.get(anchor_end..)?.chars().next();
        if next.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            return None;
        }
        let (start, province, districts) = walk_back(text, anchor_start);
        if province.is_none() && districts == 0 {
            return None;
        }
        let mut evidence = match (province.is_some(), districts > 0) {
            (true, true) => Evidence::new(0.45, "province, district, road name and number"),
            (true, false) => Evidence::new(0.4, "province, road name and number"),
            _ => Evidence::new(0.35, "district, road name and number"),
        };
        let mut start = start;
        let mut end = anchor_end;
        let mut postal = None;
        if let Some(unit) = self.unit.find(&text[end..]) {
            // "300 010-2345-6789" is a building number and a phone, not a unit.
            let after = &text[end + unit.end()..];
            if !after.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
                end += unit.end();
                evidence.add(0.2, Reason::Shape("unit (동/호)"));
            }
        }
        if let Some(note) = self.note.find(&text[end..]) {
            end += note.end();
        }
        if let Some(captures) = self.postal_after.captures(&text[end..])
            && let (Some(all), Some(code)) = (captures.get(0), captures.get(1))
        {
            let after = end + all.end();
            if !text[after..].starts_with(|c: char| c.is_ascii_digit()) {
                postal = Some(code.as_str().to_owned());
                end = after;
            }
        }
        if postal.is_none() {
            let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
            if let Some(captures) = self.postal_before.captures(&text[line_start..start])
                && let (Some(all), Some(code)) = (captures.get(0), captures.get(1))
            {
                let before = line_start + all.start();
                let glued = text[..before].ends_with(|c: char| c.is_ascii_digit());
                if !glued {
                    postal = Some(code.as_str().to_owned());
                    start = before + leading_spaces(&text[before..]);
                }
            }
        }
        if let Some(code) = postal {
            match (PostalCode::parse(&code), province) {
                (Ok(postal), Some(province)) if postal.province() == province => {
                    evidence.add(0.15, Reason::PostalCodeMatchesProvince);
                }
                (Ok(_), None) => evidence.add(0.1, Reason::Shape("postal code")),
                _ => evidence.add(-0.3, Reason::PostalCodeContradictsProvince),
            }
        }
        if let Some(word) = context_word(text, start, end, CONTEXT) {
            evidence.add(0.15, Reason::ContextWord(word));
        }
        Some(evidence.into_finding(PiiKind::Address, start, end))
    }
}

/// Walks back from the road name over space-separated administrative names. Returns where
/// the address starts, the province if one was named, and how many 시·군·구/읍·면 names were
/// found.
fn walk_back(text: &str, road_start: usize) -> (usize, Option<Province>, usize) {
    let mut start = road_start;
    let mut districts = 0;
    while districts < 3 {
        let before = &text[..start];
        let trimmed = before.trim_end_matches(' ');
        if trimmed.len() == before.len() {
            // Nothing separates this word from the one before: nothing more to walk over.
            break;
        }
        // The run of Hangul right before the spaces ("주소:서울특별시" gives "서울특별시").
        let Some(word_start) = trimmed
            .char_indices()
            .rev()
            .take_while(|(_, c)| is_hangul(*c))
            .last()
            .map(|(i, _)| i)
        else {
            break;
        };
        let word = &trimmed[word_start..];
        if let Some(province) = Province::from_name(word) {
            return (word_start, Some(province), districts);
        }
        if !is_administrative(word) {
            break;
        }
        districts += 1;
        start = word_start;
    }
    (start, None, districts)
}

fn is_administrative(word: &str) -> bool {
    word.chars().count() >= 2
        && ['시', '군', '구', '읍', '면']
            .iter()
            .any(|s| word.ends_with(*s))
}

fn is_hangul(c: char) -> bool {
    ('\u{AC00}'..='\u{D7A3}').contains(&c)
}

fn leading_spaces(text: &str) -> usize {
    text.len() - text.trim_start_matches(' ').len()
}
