//! What the audit trail shows: one pass over the records folds them into the counts and
//! lists the controls judge.
//!
//! The fold is bounded whatever the trail's size: per-day counts exist only for the period's
//! days, distinct customers are counted exactly up to [`DISTINCT_CAP`] per principal and day
//! (beyond it the count says "at least"), and listed events (alerts, grants, key changes,
//! downloads) are capped at [`LIST_CAP`] each with the rest counted.

use std::collections::{BTreeMap, HashMap, HashSet};

use haechi_events::{Decision, EventKind, SecurityEvent, Timestamp};

use crate::period::{Period, YearMonth};

/// Distinct customers counted exactly per principal and day.
pub const DISTINCT_CAP: usize = 100_000;
/// Entries kept in each list; the rest are counted in its `omitted`.
pub const LIST_CAP: usize = 10_000;
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
    fn push(&mut self, item: T) {
        if self.items.len() < LIST_CAP {
            self.items.push(item);
        } else {
            self.omitted += 1;
        }
    }

    /// Kept plus omitted.
    pub fn total(&self) -> u64 {
        self.items.len() as u64 + self.omitted
    }
}

/// What the trail shows.
#[derive(Debug, Clone)]
pub struct Activity {
    period: Period,
    /// Records read.
    pub records: u64,
    /// The last act of each service and administrator (whole trail).
    pub last_used: BTreeMap<String, Timestamp>,
    /// Creations of principals and policy changes (whole trail).
    pub grant_changes: Bounded<GrantChange>,
    /// Key lifecycle events (whole trail).
    pub key_events: Bounded<KeyEvent>,
    /// Accesses per principal per day of the period (reads and lookups allowed; customers'
    /// own reads summed under [`CUSTOMERS_LINE`]).
    pub daily: BTreeMap<String, Vec<u64>>,
    /// Each month's access, for the monthly review.
    pub months: BTreeMap<YearMonth, MonthActivity>,
    /// Accesses in the period by principal and day: distinct customers and purpose-less reads.
    access_days: HashMap<(String, usize), AccessDay>,
    /// Personal-data events in the period missing a field the access record needs.
    pub record_fields: RecordFieldCoverage,
    /// Alerts raised in the period, with their acknowledgement and containment.
    pub alerts: Bounded<AlertFacts>,
    alert_index: HashMap<String, usize>,
    /// Trail searches and exports by administrators in the period.
    pub audit_reads: Bounded<AuditRead>,
    /// Leak-watch matches in the period, by source and day.
    pub leak_matches: BTreeMap<(String, String), u64>,
    /// Sign-ins refused in the period, by reason.
    pub sign_in_refusals: BTreeMap<String, u64>,
    /// Acknowledgements of monthly reviews (whole trail).
    pub review_acks: Bounded<ReviewAck>,
    /// Months the review job prepared, with the digest it recorded (whole trail).
    pub reviews_prepared: BTreeMap<String, String>,
    /// Months the review job found overdue (whole trail).
    pub reviews_overdue: BTreeMap<String, Timestamp>,
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

#[derive(Debug, Clone, Default)]
struct AccessDay {
    customers: HashSet<String>,
    capped: bool,
    without_purpose: u64,
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

impl Activity {
    /// An empty fold for `period`.
    pub fn new(period: Period) -> Self {
        Activity {
            period,
            records: 0,
            last_used: BTreeMap::new(),
            grant_changes: Bounded::default(),
            key_events: Bounded::default(),
            daily: BTreeMap::new(),
            months: period
                .months()
                .into_iter()
                .map(|month| (month, MonthActivity::default()))
                .collect(),
            access_days: HashMap::new(),
            record_fields: RecordFieldCoverage::default(),
            alerts: Bounded::default(),
            alert_index: HashMap::new(),
            audit_reads: Bounded::default(),
            leak_matches: BTreeMap::new(),
            sign_in_refusals: BTreeMap::new(),
            review_acks: Bounded::default(),
            reviews_prepared: BTreeMap::new(),
            reviews_overdue: BTreeMap::new(),
        }
    }

    /// The period folded.
    pub fn period(&self) -> Period {
        self.period
    }

    /// Folds one record. Records must come in trail order.
    pub fn observe(&mut self, event: &SecurityEvent) {
        self.records += 1;
        let principal = event.principal.to_string();
        let allowed = event.decision == Decision::Allow;
        let staff = matches!(
            event.principal,
            haechi_events::Principal::Service(_) | haechi_events::Principal::Admin(_)
        );
        if allowed && staff && !matches!(event.kind, EventKind::AlertRaised) {
            match self.last_used.get_mut(&principal) {
                Some(last) => *last = event.time,
                None => {
                    self.last_used.insert(principal.clone(), event.time);
                }
            }
        }
        self.observe_history(event, &principal);
        let month = YearMonth::of(event.time);
        let in_months = self.months.contains_key(&month);
        if !in_months {
            return;
        }
        match event.kind {
            EventKind::PiiRead | EventKind::PiiLookup => {
                self.observe_access(event, &principal, month, allowed)
            }
            EventKind::AlertRaised => self.observe_alert(event, month),
            _ => {}
        }
        if !self.period.contains(event.time) {
            return;
        }
        match event.kind {
            EventKind::PiiWrite | EventKind::PiiDelete => self.observe_record_fields(event),
            EventKind::AdminConfigChanged if event.detail_is("change", "alert.ack") => {
                if let Some(index) = event
                    .detail
                    .get("alert_id")
                    .and_then(|id| self.alert_index.get(id))
                    && let Some(alert) = self.alerts.items.get_mut(*index)
                {
                    alert.acknowledged_at.get_or_insert(event.time);
                }
            }
            EventKind::ResponseAction if event.detail_is("disposition", "enforce") => {
                let failed = event
                    .detail
                    .get("outcome")
                    .is_some_and(|outcome| outcome == "failed" || outcome == "unsupported");
                if !failed
                    && let Some(index) = event
                        .detail
                        .get("alert_id")
                        .and_then(|id| self.alert_index.get(id))
                    && let Some(alert) = self.alerts.items.get_mut(*index)
                {
                    alert.contained_at.get_or_insert(event.time);
                }
            }
            EventKind::AdminAuditRead => self.audit_reads.push(AuditRead {
                at: event.time,
                principal,
                reason: event.reason.clone(),
                what: event
                    .detail
                    .get("what")
                    .cloned()
                    .unwrap_or_else(|| "search".into()),
            }),
            EventKind::LeakMatched => {
                let source = event
                    .detail
                    .get("source")
                    .cloned()
                    .unwrap_or_else(|| "unnamed".into());
                let day = crate::period::kst_date(event.time).to_string();
                *self.leak_matches.entry((source, day)).or_default() += 1;
            }
            EventKind::LoginFailed => {
                let reason = event.reason.clone().unwrap_or_else(|| "unknown".into());
                *self.sign_in_refusals.entry(reason).or_default() += 1;
            }
            _ => {}
        }
    }

    /// Grants, keys and review acknowledgements are kept from the whole trail: an auditor asks
    /// for three years of grant history, not the period's.
    fn observe_history(&mut self, event: &SecurityEvent, principal: &str) {
        match event.kind {
            EventKind::AdminPrincipalCreated => self.grant_changes.push(GrantChange {
                at: event.time,
                actor: principal.to_string(),
                change: format!(
                    "created {}",
                    event.detail.get("created").map_or("?", String::as_str)
                ),
            }),
            EventKind::AdminConfigChanged if event.reason.as_deref() == Some("policy_replaced") => {
                self.grant_changes.push(GrantChange {
                    at: event.time,
                    actor: principal.to_string(),
                    change: format!(
                        "policy v{} (sha256 {})",
                        event
                            .detail
                            .get("policy_version")
                            .map_or("?", String::as_str),
                        event
                            .detail
                            .get("policy_sha256")
                            .map_or("?", |digest| &digest[..digest.len().min(16)])
                    ),
                })
            }
            EventKind::KeyGenerated
            | EventKind::KeyImported
            | EventKind::KeyActivated
            | EventKind::KeyRetiring
            | EventKind::KeyRetired
            | EventKind::KeyRevoked
            | EventKind::MasterKeyRotated => self.key_events.push(KeyEvent {
                at: event.time,
                kind: event.kind.as_str().to_string(),
                kid: event.kid.clone(),
                reason: event.reason.clone(),
            }),
            EventKind::AccessReviewPrepared => {
                if let (Some(month), Some(digest)) =
                    (event.detail.get("month"), event.detail.get("digest"))
                {
                    self.reviews_prepared
                        .entry(month.clone())
                        .or_insert_with(|| digest.clone());
                }
            }
            EventKind::AccessReviewOverdue => {
                if let Some(month) = event.detail.get("month") {
                    self.reviews_overdue
                        .entry(month.clone())
                        .or_insert(event.time);
                }
            }
            EventKind::AccessReviewAcknowledged => self.review_acks.push(ReviewAck {
                month: event.detail.get("month").cloned().unwrap_or_default(),
                reviewer: principal.to_string(),
                at: event.time,
                digest: event.detail.get("digest").cloned().unwrap_or_default(),
                note: event.detail.get("note").cloned().unwrap_or_default(),
            }),
            _ => {}
        }
    }

    fn observe_access(
        &mut self,
        event: &SecurityEvent,
        principal: &str,
        month: YearMonth,
        allowed: bool,
    ) {
        let Some(activity) = self.months.get_mut(&month) else {
            return;
        };
        if !allowed {
            activity.refused += 1;
            return;
        }
        let own_record = matches!(event.principal, haechi_events::Principal::Customer(_));
        let line = if own_record {
            CUSTOMERS_LINE
        } else {
            principal
        };
        if let Some(count) = activity.per_principal.get_mut(line) {
            *count += 1;
        } else {
            activity.per_principal.insert(line.to_string(), 1);
        }
        // Bulk reads are judged per KST day over whole months, so a month's review does not
        // depend on where the report's period happens to cut it. A customer reading their own
        // record is not a download.
        if !own_record {
            let day = day_number(event.time);
            let entry = self
                .access_days
                .entry((principal.to_string(), day))
                .or_default();
            if let Some(customer) = &event.customer_id {
                if entry.customers.len() < DISTINCT_CAP {
                    entry.customers.insert(customer.clone());
                } else if !entry.customers.contains(customer) {
                    entry.capped = true;
                }
            }
            if event.purpose.is_none() {
                entry.without_purpose += 1;
            }
        }
        if let Some(index) = self.period.day_index(event.time) {
            let days = self.period.days();
            match self.daily.get_mut(line) {
                Some(values) => values[index] += 1,
                None => {
                    let mut values = vec![0; days];
                    values[index] = 1;
                    self.daily.insert(line.to_string(), values);
                }
            }
            self.observe_record_fields(event);
        }
    }

    fn observe_record_fields(&mut self, event: &SecurityEvent) {
        let coverage = &mut self.record_fields;
        coverage.events += 1;
        if event.ip.is_none() {
            coverage.missing_address += 1;
        }
        // A lookup that found nobody touched nobody's data; it needs no customer.
        let found_nobody = event.kind == EventKind::PiiLookup && event.status == 404;
        if event.customer_id.is_none() && !found_nobody {
            coverage.missing_customer += 1;
        }
        if event.principal == haechi_events::Principal::Anonymous {
            coverage.missing_principal += 1;
        }
    }

    fn observe_alert(&mut self, event: &SecurityEvent, month: YearMonth) {
        let rule = event
            .detail
            .get("rule_id")
            .cloned()
            .unwrap_or_else(|| "unknown".into());
        if let Some(activity) = self.months.get_mut(&month) {
            *activity.alerts_by_rule.entry(rule.clone()).or_default() += 1;
        }
        if !self.period.contains(event.time) {
            return;
        }
        let Some(id) = event.detail.get("alert_id").cloned() else {
            return;
        };
        if self.alert_index.contains_key(&id) {
            return;
        }
        if self.alerts.items.len() < LIST_CAP {
            self.alert_index.insert(id.clone(), self.alerts.items.len());
        }
        self.alerts.push(AlertFacts {
            id,
            rule,
            severity: event
                .detail
                .get("severity")
                .cloned()
                .unwrap_or_else(|| "unknown".into()),
            raised_at: event.time,
            acknowledged_at: None,
            contained_at: None,
        });
    }

    /// Ends the fold: bulk reads are decided once every access is counted.
    pub fn finish(mut self, bulk_read_customers: u64) -> Self {
        let mut bulk: Vec<(YearMonth, BulkRead)> = self
            .access_days
            .drain()
            .filter(|(_, day)| day.customers.len() as u64 >= bulk_read_customers || day.capped)
            .map(|((principal, day_number), day)| {
                let at = Timestamp::from_secs(day_number as i64 * 86_400 - 9 * 3600);
                (
                    YearMonth::of(at),
                    BulkRead {
                        principal,
                        day: crate::period::kst_date(at).to_string(),
                        customers: day.customers.len() as u64,
                        at_least: day.capped,
                        without_purpose: day.without_purpose,
                    },
                )
            })
            .collect();
        bulk.sort();
        for (month, read) in bulk {
            if let Some(activity) = self.months.get_mut(&month) {
                activity.bulk_reads.push(read);
            }
        }
        self
    }
}

/// Days since the epoch in KST: the day an instant falls on in Korea.
fn day_number(at: Timestamp) -> usize {
    usize::try_from((at.as_secs() + 9 * 3600).div_euclid(86_400)).unwrap_or(0)
}

trait DetailIs {
    fn detail_is(&self, key: &str, value: &str) -> bool;
}

impl DetailIs for SecurityEvent {
    fn detail_is(&self, key: &str, value: &str) -> bool {
        self.detail.get(key).is_some_and(|found| found == value)
    }
}
