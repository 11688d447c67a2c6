//! What the fold keeps: its bounded lists and the records it lists.

use std::collections::{BTreeMap, HashSet};

use haechi_events::Timestamp;

/// Distinct customers counted exactly per principal and day.
pub const DISTINCT_CAP: usize = 100_000;
/// Entries kept in each list; the rest are counted in its `omitted`.
pub const LIST_CAP: usize = 10_000;
/// High and critical alerts tracked one by one (each is judged: answered or not).
pub const SEVERE_CAP: usize = 100_000;
/// The one line customers' reads of their own records are counted under. A company has tens
/// of millions of customers and a handful of services and administrators: the review is about
/// the latter, and per-customer counts would grow memory with the customer base.
pub const CUSTOMERS_LINE: &str = "customers (own records)";

/// A list bounded at [`LIST_CAP`], counting what it left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounded<T> {
    /// The entries kept, in trail order.
    pub items: Vec<T>,
    /// Entries beyond the cap.
    pub omitted: u64,
}

impl<T> Default for Bounded<T> {
    fn default() -> Self {
        Bounded {
            items: Vec::new(),
            omitted: 0,
        }
    }
}

impl<T> Bounded<T> {
    /// Keeps the first [`LIST_CAP`] entries (lists read in trail order: alerts of a period).
    pub(super) fn push(&mut self, item: T) {
        if self.items.len() < LIST_CAP {
            self.items.push(item);
        } else {
            self.omitted += 1;
        }
    }

    /// Keeps the newest [`LIST_CAP`] entries (histories shown newest first).
    pub(super) fn push_newest(&mut self, item: T) {
        if self.items.len() == LIST_CAP {
            self.items.remove(0);
            self.omitted += 1;
        }
        self.items.push(item);
    }

    /// Kept plus omitted.
    pub fn total(&self) -> u64 {
        self.items.len() as u64 + self.omitted
    }
}

/// A principal created or the policy replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantChange {
    /// When.
    pub at: Timestamp,
    /// Who did it.
    pub actor: String,
    /// What (`created service:shipping`, `policy v3 sha256 …`, `suspended …`).
    pub change: String,
}

/// A key lifecycle event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEvent {
    /// When.
    pub at: Timestamp,
    /// `key.generated`, `key.revoked`, …
    pub kind: String,
    /// The key, if the event names one.
    pub kid: Option<String>,
    /// Why, if recorded.
    pub reason: Option<String>,
}

/// One month's access.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonthActivity {
    /// Accesses per principal.
    pub per_principal: BTreeMap<String, u64>,
    /// Alerts raised, by rule.
    pub alerts_by_rule: BTreeMap<String, u64>,
    /// Bulk reads: principal, day (`YYYY-MM-DD`), distinct customers, whether every access
    /// carried a purpose.
    pub bulk_reads: Vec<BulkRead>,
    /// Accesses refused by policy or quota.
    pub refused: u64,
}

/// A principal's day above the bulk-read threshold.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BulkRead {
    /// Who.
    pub principal: String,
    /// The day (`YYYY-MM-DD`, KST).
    pub day: String,
    /// Distinct customers read (at least this many when `at_least`).
    pub customers: u64,
    /// Whether the count reached [`DISTINCT_CAP`].
    pub at_least: bool,
    /// Accesses that day without a declared purpose.
    pub without_purpose: u64,
}

/// A principal's accesses of one day, while the day is open.
#[derive(Debug, Clone, Default)]
pub(super) struct AccessDay {
    pub(super) customers: HashSet<String>,
    pub(super) capped: bool,
    pub(super) without_purpose: u64,
}

/// How many personal-data events lacked each part of an access record (PIPA safeguard
/// standard art. 2: who, when, from where, whose data, what was done).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordFieldCoverage {
    /// Personal-data events in the period.
    pub events: u64,
    /// Without a network address.
    pub missing_address: u64,
    /// Without the customer whose data it was.
    pub missing_customer: u64,
    /// Without an identified principal.
    pub missing_principal: u64,
}

/// An alert and what followed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertFacts {
    /// Alert id.
    pub id: String,
    /// Its rule.
    pub rule: String,
    /// `low` … `critical`.
    pub severity: String,
    /// When it was raised.
    pub raised_at: Timestamp,
    /// When an administrator first acknowledged it.
    pub acknowledged_at: Option<Timestamp>,
    /// When containment for it was first enforced.
    pub contained_at: Option<Timestamp>,
}

/// An administrator's search or export of the trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRead {
    /// When.
    pub at: Timestamp,
    /// Who.
    pub principal: String,
    /// The reason recorded with it, if any.
    pub reason: Option<String>,
    /// What was read (`search`, `evidence`, …).
    pub what: String,
}

/// A recorded acknowledgement of a month's review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewAck {
    /// The month.
    pub month: String,
    /// The reviewer.
    pub reviewer: String,
    /// When.
    pub at: Timestamp,
    /// The summary digest acknowledged.
    pub digest: String,
    /// The reviewer's note.
    pub note: String,
}

/// A leak-watch pass over a dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeakPass {
    /// When it ended.
    pub at: Timestamp,
    /// Who ran it.
    pub by: String,
    /// The dump's name.
    pub source: String,
    /// Rows read.
    pub rows: u64,
    /// Customers matched.
    pub customers: u64,
}
