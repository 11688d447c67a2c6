//! A row of a dump and its identifiers: values as the dump spells them, then normalised.

use haechi_korean::{PhoneNumber, normalize_email, normalize_text};

use super::{ColumnRole, LineProblem, MAX_IDENTIFIERS_PER_ROW};

/// The identifiers of one row, normalised: e-mails lower-cased, phones as digits with a
/// domestic `0`, names composed (NFC) with whitespace collapsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identifiers {
    /// E-mail addresses.
    pub emails: Vec<String>,
    /// Personal phone numbers.
    pub phones: Vec<String>,
    /// Names.
    pub names: Vec<String>,
}

impl Identifiers {
    /// Whether the row has an e-mail or phone to look up (names alone are never looked up).
    pub fn has_lookup_key(&self) -> bool {
        !self.emails.is_empty() || !self.phones.is_empty()
    }

    /// Adds a raw value in `role`, normalised; returns whether it was usable.
    pub fn add(&mut self, role: ColumnRole, raw: &str) -> bool {
        let raw = raw.trim();
        if raw.is_empty() {
            return false;
        }
        let (list, value) = match role {
            ColumnRole::Email => (&mut self.emails, normalize_email(raw).ok()),
            ColumnRole::Phone => (&mut self.phones, usable_phone(raw)),
            ColumnRole::Name => (&mut self.names, usable_name(raw)),
        };
        let Some(value) = value else {
            return false;
        };
        if list.len() < MAX_IDENTIFIERS_PER_ROW && !list.contains(&value) {
            list.push(value);
        }
        true
    }

    pub(crate) fn is_full(&self) -> bool {
        self.emails.len() >= MAX_IDENTIFIERS_PER_ROW || self.phones.len() >= MAX_IDENTIFIERS_PER_ROW
    }
}

/// A personal phone number, also when a spreadsheet or JSON number has eaten its leading
/// zero (`1023456789`): in a column known to hold phones, 9–10 digits that do not start with
/// `0` get it back.
fn usable_phone(raw: &str) -> Option<String> {
    if let Ok(phone) = PhoneNumber::parse(raw) {
        return Some(phone.as_str().to_string());
    }
    let digits_only = raw.bytes().all(|b| b.is_ascii_digit());
    if digits_only && (9..=10).contains(&raw.len()) && !raw.starts_with('0') {
        return PhoneNumber::parse(&format!("0{raw}"))
            .ok()
            .map(|p| p.as_str().to_string());
    }
    None
}

/// A name worth comparing: 1–50 characters, no digits or `@`, composed.
fn usable_name(raw: &str) -> Option<String> {
    let name = normalize_text(raw);
    let length = name.chars().count();
    ((1..=50).contains(&length)
        && !name
            .chars()
            .any(|c| c.is_ascii_digit() || c == '@' || c.is_control()))
    .then_some(name)
}

/// One row of the dump that may have something to look up: its values in the e-mail, phone
/// and name columns (or found in its text), still as the dump spells them. Normalising them,
/// [`DumpRow::identifiers`], is the costliest part of reading a dump and needs no state, so
/// callers can do it on other threads than the one reading lines in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpRow {
    /// The line the row starts on (1-based).
    pub line: u64,
    /// Its values, by role, in the order the row holds them.
    pub values: Vec<(ColumnRole, String)>,
}

impl DumpRow {
    /// The row's identifiers, normalised; rows whose values all fail to normalise have
    /// none (see [`Identifiers::has_lookup_key`]).
    pub fn identifiers(&self) -> Identifiers {
        let mut identifiers = Identifiers::default();
        for (role, value) in &self.values {
            identifiers.add(*role, value);
        }
        identifiers
    }

    /// Whether a value sits in a role that is looked up (e-mail or phone).
    pub(crate) fn may_have_lookup_key(&self) -> bool {
        self.values
            .iter()
            .any(|(role, value)| *role != ColumnRole::Name && !value.trim().is_empty())
    }
}

/// What the parser produced from a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DumpEvent {
    /// A row with identifiers.
    Row(DumpRow),
    /// A problem.
    Problem(LineProblem),
}
