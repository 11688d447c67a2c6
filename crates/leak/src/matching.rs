//! Which customers a dump matched, by which fields, and how sure that is.
//!
//! The vault confirms each row's candidates by decrypting them and says, per customer, how
//! each field of the row compares with the customer's: it agrees, it differs, or the row has
//! no such field. Names are never looked up (there is no name index); they only confirm or
//! contradict a customer found by e-mail or phone.
//!
//! A row's confidence:
//!
//! | fields that agree | fields that differ | confidence |
//! |---|---|---|
//! | two or more | none | high |
//! | two or more | some | medium |
//! | one | none | medium |
//! | one | some | low |
//!
//! A customer's confidence is the best of their rows', raised to high when an e-mail and a
//! phone both matched (in the same row or in different ones): two independent identifiers
//! rarely point at the wrong person. A differing name usually means a recycled phone number
//! or a family member's phone, hence "low".

use std::collections::HashMap;
use std::fmt;

use serde::Serialize;

/// How one field of a dump row compares with the customer's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldAgreement {
    /// The row has no such field.
    Absent,
    /// The row's value equals the customer's.
    Agrees,
    /// The row has the field, with another value.
    Differs,
}

/// A field that matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchedField {
    /// The e-mail.
    Email,
    /// The phone.
    Phone,
    /// The name.
    Name,
}

impl MatchedField {
    /// Every field, in report order.
    pub const ALL: [Self; 3] = [Self::Email, Self::Phone, Self::Name];

    /// `email`, `phone`, `name`: the vault's field names.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Phone => "phone",
            Self::Name => "name",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// How sure a match is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    /// One field agrees and another contradicts it.
    Low,
    /// One field agrees; or several agree and another contradicts.
    Medium,
    /// Several fields agree and none contradicts.
    High,
}

impl Confidence {
    /// `low`, `medium` or `high`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }
}

impl fmt::Display for Confidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One dump row confirmed against one customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowMatch {
    /// The row's line.
    pub line: u64,
    /// The customer.
    pub customer_id: String,
    /// The row's e-mails against the customer's.
    pub email: FieldAgreement,
    /// The row's phones against the customer's.
    pub phone: FieldAgreement,
    /// The row's names against the customer's.
    pub name: FieldAgreement,
}

impl RowMatch {
    fn agreements(&self) -> [(MatchedField, FieldAgreement); 3] {
        [
            (MatchedField::Email, self.email),
            (MatchedField::Phone, self.phone),
            (MatchedField::Name, self.name),
        ]
    }

    /// The row's confidence (see the module documentation).
    pub fn confidence(&self) -> Confidence {
        let agreeing = self
            .agreements()
            .iter()
            .filter(|(_, a)| *a == FieldAgreement::Agrees)
            .count();
        let differing = self
            .agreements()
            .iter()
            .filter(|(_, a)| *a == FieldAgreement::Differs)
            .count();
        match (agreeing >= 2, differing > 0) {
            (true, false) => Confidence::High,
            (true, true) | (false, false) => Confidence::Medium,
            (false, true) => Confidence::Low,
        }
    }
}

/// Most line numbers kept per customer (the count of rows is always exact).
pub const MAX_LINES_KEPT: usize = 10;

/// Everything the dump says about one customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerMatch {
    customer_id: String,
    fields: u8,
    rows: u64,
    lines: Vec<u64>,
    best_row: Confidence,
}

impl CustomerMatch {
    /// The customer.
    pub fn customer_id(&self) -> &str {
        &self.customer_id
    }

    /// The fields that agreed in at least one row, in report order.
    pub fn fields(&self) -> Vec<MatchedField> {
        MatchedField::ALL
            .into_iter()
            .filter(|field| self.fields & field.bit() != 0)
            .collect()
    }

    /// Whether `field` agreed in at least one row.
    pub fn matched(&self, field: MatchedField) -> bool {
        self.fields & field.bit() != 0
    }

    /// How many rows matched the customer.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The first lines that matched (at most [`MAX_LINES_KEPT`]).
    pub fn lines(&self) -> &[u64] {
        &self.lines
    }

    /// The customer's confidence (see the module documentation).
    pub fn confidence(&self) -> Confidence {
        if self.matched(MatchedField::Email) && self.matched(MatchedField::Phone) {
            Confidence::High
        } else {
            self.best_row
        }
    }
}

/// Counts for the closing summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct MatchSummary {
    /// Customers matched.
    pub customers: u64,
    /// Of them, high confidence.
    pub high: u64,
    /// Medium.
    pub medium: u64,
    /// Low.
    pub low: u64,
    /// Customers whose e-mail matched.
    pub by_email: u64,
    /// Customers whose phone matched.
    pub by_phone: u64,
    /// Customers whose name confirmed a match.
    pub by_name: u64,
    /// Row matches (a row can match several customers; a customer several rows).
    pub row_matches: u64,
}

/// Collects row matches into customers.
#[derive(Debug, Default)]
pub struct MatchReport {
    customers: HashMap<String, CustomerMatch>,
    row_matches: u64,
}

impl MatchReport {
    /// An empty report.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a confirmed row.
    pub fn add(&mut self, row: RowMatch) {
        self.row_matches += 1;
        let confidence = row.confidence();
        let fields = row
            .agreements()
            .iter()
            .filter(|(_, a)| *a == FieldAgreement::Agrees)
            .fold(0u8, |bits, (field, _)| bits | field.bit());
        let entry = self
            .customers
            .entry(row.customer_id.clone())
            .or_insert_with(|| CustomerMatch {
                customer_id: row.customer_id,
                fields: 0,
                rows: 0,
                lines: Vec::new(),
                best_row: Confidence::Low,
            });
        entry.fields |= fields;
        entry.rows += 1;
        if entry.lines.len() < MAX_LINES_KEPT {
            entry.lines.push(row.line);
        }
        entry.best_row = entry.best_row.max(confidence);
    }

    /// Whether anything matched.
    pub fn is_empty(&self) -> bool {
        self.customers.is_empty()
    }

    /// The customers matched, by id.
    pub fn customers(&self) -> Vec<&CustomerMatch> {
        let mut customers: Vec<&CustomerMatch> = self.customers.values().collect();
        customers.sort_by(|a, b| a.customer_id.cmp(&b.customer_id));
        customers
    }

    /// The counts.
    pub fn summary(&self) -> MatchSummary {
        let mut summary = MatchSummary {
            row_matches: self.row_matches,
            ..MatchSummary::default()
        };
        for customer in self.customers.values() {
            summary.customers += 1;
            match customer.confidence() {
                Confidence::High => summary.high += 1,
                Confidence::Medium => summary.medium += 1,
                Confidence::Low => summary.low += 1,
            }
            summary.by_email += u64::from(customer.matched(MatchedField::Email));
            summary.by_phone += u64::from(customer.matched(MatchedField::Phone));
            summary.by_name += u64::from(customer.matched(MatchedField::Name));
        }
        summary
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]
mod tests {
    use super::*;
    use FieldAgreement::{Absent, Agrees, Differs};

    fn row(
        line: u64,
        id: &str,
        email: FieldAgreement,
        phone: FieldAgreement,
        name: FieldAgreement,
    ) -> RowMatch {
        RowMatch {
            line,
            customer_id: id.into(),
            email,
            phone,
            name,
        }
    }

    #[test]
    fn row_confidence_table() {
        for ((email, phone, name), expected) in [
            ((Agrees, Agrees, Absent), Confidence::High),
            ((Agrees, Absent, Agrees), Confidence::High),
            ((Agrees, Agrees, Differs), Confidence::Medium),
            ((Agrees, Absent, Absent), Confidence::Medium),
            ((Absent, Agrees, Differs), Confidence::Low),
            ((Agrees, Differs, Absent), Confidence::Low),
        ] {
            assert_eq!(
                row(1, "c", email, phone, name).confidence(),
                expected,
                "{email:?} {phone:?} {name:?}"
            );
        }
    }

    #[test]
    fn customers_collect_fields_across_rows() {
        let mut report = MatchReport::new();
        report.add(row(3, "c1", Agrees, Absent, Absent));
        report.add(row(9, "c1", Absent, Agrees, Differs));
        report.add(row(4, "c2", Absent, Agrees, Differs));
        let customers = report.customers();
        assert_eq!(
            customers[0].fields(),
            [MatchedField::Email, MatchedField::Phone]
        );
        assert_eq!(customers[0].confidence(), Confidence::High);
        assert_eq!(customers[0].lines(), [3, 9]);
        assert_eq!(customers[1].confidence(), Confidence::Low);
        let summary = report.summary();
        assert_eq!(
            (
                summary.customers,
                summary.high,
                summary.low,
                summary.row_matches
            ),
            (2, 1, 1, 3)
        );
    }
}
