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

mod records;

use records::AccessDay;
pub use records::{
    AlertFacts, AuditRead, Bounded, BulkRead, CUSTOMERS_LINE, DISTINCT_CAP, GrantChange, KeyEvent,
    LIST_CAP, LeakPass, MonthActivity, RecordFieldCoverage, ReviewAck, SEVERE_CAP,
};

/// What the trail shows.
#[derive(Debug, Clone)]
pub struct Activity {
    period: Period,
    bulk_read_customers: u64,
    /// Records read.
    pub records: u64,
    /// The time of the first record read: the trail's oldest (the fold reads it whole).
    pub first_record: Option<Timestamp>,
    /// The last act of each service and administrator (whole trail).
    pub last_used: BTreeMap<String, Timestamp>,
    /// Creations of principals and policy changes (whole trail; the newest kept).
    pub grant_changes: Bounded<GrantChange>,
    /// Every principal whose creation the trail holds (whole trail).
    pub created: HashSet<String>,
    /// Key lifecycle events (whole trail; the newest kept).
    pub key_events: Bounded<KeyEvent>,
    /// Accesses per principal per day of the period (reads and lookups allowed; customers'
    /// own reads summed under [`CUSTOMERS_LINE`]).
    pub daily: BTreeMap<String, Vec<u64>>,
    /// Each month's access, for the monthly review.
    pub months: BTreeMap<YearMonth, MonthActivity>,
    /// Accesses of the last two days by principal and day: distinct customers and purpose-less
    /// reads. Older days are decided as they pass (the trail is in time order), so memory
    /// holds two days whatever the period's length.
    access_days: HashMap<(String, usize), AccessDay>,
    /// The day of the last access seen.
    current_day: usize,
    /// Bulk reads decided so far, by month.
    bulk: Vec<(YearMonth, BulkRead)>,
    /// Personal-data events in the period missing a field the access record needs.
    pub record_fields: RecordFieldCoverage,
    /// Alerts raised in the period, with their acknowledgement and containment.
    pub alerts: Bounded<AlertFacts>,
    alert_index: HashMap<String, usize>,
    /// High and critical alerts raised in the period, by id, whether listed or not: none may
    /// go unjudged behind the list's bound.
    pub severe: BTreeMap<String, AlertFacts>,
    /// High and critical alerts beyond [`SEVERE_CAP`], counted only.
    pub severe_omitted: u64,
    /// Trail searches and exports by administrators in the period.
    pub audit_reads: Bounded<AuditRead>,
    /// Of them, those without a recorded reason (counted, listed or not).
    pub audit_reads_without_reason: u64,
    /// Leak-watch matches in the period, by source and day.
    pub leak_matches: BTreeMap<(String, String), u64>,
    /// Leak-watch passes that ended in the period, whatever they found.
    pub leak_passes: Bounded<LeakPass>,
    /// Sign-ins refused in the period, by reason.
    pub sign_in_refusals: BTreeMap<String, u64>,
    /// Acknowledgements of monthly reviews (whole trail).
    pub review_acks: Bounded<ReviewAck>,
    /// Months the review job prepared, with the digest it recorded (whole trail).
    pub reviews_prepared: BTreeMap<String, String>,
    /// Months the review job found overdue (whole trail).
    pub reviews_overdue: BTreeMap<String, Timestamp>,
}

impl Activity {
    /// An empty fold for `period`; a principal's day of `bulk_read_customers` distinct
    /// customers or more is a bulk read.
    pub fn new(period: Period, bulk_read_customers: u64) -> Self {
        Activity {
            period,
            bulk_read_customers: bulk_read_customers.max(1),
            records: 0,
            first_record: None,
            last_used: BTreeMap::new(),
            grant_changes: Bounded::default(),
            created: HashSet::new(),
            key_events: Bounded::default(),
            daily: BTreeMap::new(),
            months: period
                .months()
                .into_iter()
                .map(|month| (month, MonthActivity::default()))
                .collect(),
            access_days: HashMap::new(),
            current_day: 0,
            bulk: Vec::new(),
            record_fields: RecordFieldCoverage::default(),
            alerts: Bounded::default(),
            alert_index: HashMap::new(),
            severe: BTreeMap::new(),
            severe_omitted: 0,
            audit_reads: Bounded::default(),
            audit_reads_without_reason: 0,
            leak_matches: BTreeMap::new(),
            leak_passes: Bounded::default(),
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

    /// The bulk-read threshold the fold decided with.
    pub fn bulk_read_customers(&self) -> u64 {
        self.bulk_read_customers
    }

    /// Folds one record. Records must come in trail order.
    pub fn observe(&mut self, event: &SecurityEvent) {
        self.records += 1;
        self.first_record.get_or_insert(event.time);
        let principal = event.principal.to_string();
        // A masked read is a read: only a refusal is not an access.
        let allowed = event.decision != Decision::Deny;
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
        // An alert of the period may be answered after it: its answer is read wherever it is.
        match event.kind {
            EventKind::AdminConfigChanged if event.detail_is("change", "alert.ack") => {
                self.answer(event, |alert| &mut alert.acknowledged_at);
            }
            EventKind::ResponseAction if event.detail_is("disposition", "enforce") => {
                let failed = event
                    .detail
                    .get("outcome")
                    .is_some_and(|outcome| outcome == "failed" || outcome == "unsupported");
                if !failed {
                    self.answer(event, |alert| &mut alert.contained_at);
                }
            }
            _ => {}
        }
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
            EventKind::AdminAuditRead => {
                let what = event
                    .detail
                    .get("what")
                    .cloned()
                    .unwrap_or_else(|| "search".into());
                let reason = event.reason.clone();
                if reason.is_none() {
                    self.audit_reads_without_reason += 1;
                }
                self.audit_reads.push(AuditRead {
                    at: event.time,
                    principal,
                    reason,
                    what,
                })
            }
            EventKind::LeakMatched => {
                let source = event
                    .detail
                    .get("source")
                    .cloned()
                    .unwrap_or_else(|| "unnamed".into());
                let day = crate::period::kst_date(event.time).to_string();
                *self.leak_matches.entry((source, day)).or_default() += 1;
            }
            EventKind::LeakPassCompleted => {
                let number = |key: &str| {
                    event
                        .detail
                        .get(key)
                        .and_then(|value| value.parse().ok())
                        .unwrap_or(0)
                };
                self.leak_passes.push(LeakPass {
                    at: event.time,
                    by: principal,
                    source: event.detail.get("source").cloned().unwrap_or_default(),
                    rows: number("rows"),
                    customers: number("customers"),
                });
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
            EventKind::AdminPrincipalCreated => {
                let created = event.detail.get("created").map_or("?", String::as_str);
                self.created.insert(created.to_string());
                self.grant_changes.push_newest(GrantChange {
                    at: event.time,
                    actor: principal.to_string(),
                    change: format!("created {created}"),
                });
            }
            EventKind::AdminConfigChanged if event.reason.as_deref() == Some("policy_replaced") => {
                self.grant_changes.push_newest(GrantChange {
                    at: event.time,
                    actor: principal.to_string(),
                    change: format!(
                        "policy v{} (sha256 {})",
                        event
                            .detail
                            .get("policy_version")
                            .map_or("?", String::as_str),
                        event.detail.get("policy_sha256").map_or_else(
                            || "?".to_string(),
                            |digest| digest.chars().take(16).collect()
                        )
                    ),
                })
            }
            EventKind::KeyGenerated
            | EventKind::KeyImported
            | EventKind::KeyActivated
            | EventKind::KeyRetiring
            | EventKind::KeyRetired
            | EventKind::KeyRevoked
            | EventKind::MasterKeyRotated => self.key_events.push_newest(KeyEvent {
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
            // The newest kept: an acknowledgement must never hide behind older ones.
            EventKind::AccessReviewAcknowledged => self.review_acks.push_newest(ReviewAck {
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
        // A customer reading another customer's record is not "their own": it shows under its
        // principal like any other reader (and is the kind of read a review should see).
        let own_record = match &event.principal {
            haechi_events::Principal::Customer(id) => event.customer_id.as_deref() == Some(id),
            _ => false,
        };
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
            // Decided when the day the trail is at changes (either way: a clock stepped ahead
            // must not stop the days behind it from being decided), keeping the day before for
            // records that arrive a little out of order around midnight.
            if day != self.current_day {
                self.current_day = day;
                self.decide_days_before(day.saturating_sub(1));
            }
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
        if self.alert_index.contains_key(&id) || self.severe.contains_key(&id) {
            return;
        }
        let alert = AlertFacts {
            id: id.clone(),
            rule,
            severity: event
                .detail
                .get("severity")
                .cloned()
                .unwrap_or_else(|| "unknown".into()),
            raised_at: event.time,
            acknowledged_at: None,
            contained_at: None,
        };
        if matches!(alert.severity.as_str(), "high" | "critical") {
            if self.severe.len() < SEVERE_CAP {
                self.severe.insert(id.clone(), alert.clone());
            } else {
                self.severe_omitted += 1;
            }
        }
        if self.alerts.items.len() < LIST_CAP {
            self.alert_index.insert(id, self.alerts.items.len());
        }
        self.alerts.push(alert);
    }

    /// Sets the answer `which` of the alert `event` names, if it is one of the period's and
    /// not answered that way yet.
    fn answer(
        &mut self,
        event: &SecurityEvent,
        which: fn(&mut AlertFacts) -> &mut Option<Timestamp>,
    ) {
        let Some(id) = event.detail.get("alert_id") else {
            return;
        };
        if let Some(index) = self.alert_index.get(id)
            && let Some(alert) = self.alerts.items.get_mut(*index)
        {
            which(alert).get_or_insert(event.time);
        }
        if let Some(alert) = self.severe.get_mut(id) {
            which(alert).get_or_insert(event.time);
        }
    }

    /// Decides the bulk reads of every principal's day before `day` and forgets those days.
    fn decide_days_before(&mut self, day: usize) {
        let threshold = self.bulk_read_customers;
        let done: Vec<(String, usize)> = self
            .access_days
            .keys()
            .filter(|(_, seen)| *seen < day)
            .cloned()
            .collect();
        for key in done {
            if let Some(seen) = self.access_days.remove(&key) {
                let customers = seen.customers.len() as u64;
                if customers >= threshold || seen.capped {
                    let (principal, day_number) = key;
                    let at = Timestamp::from_secs(day_number as i64 * 86_400 - 9 * 3600);
                    self.bulk.push((
                        YearMonth::of(at),
                        BulkRead {
                            principal,
                            day: crate::period::kst_date(at).to_string(),
                            customers,
                            at_least: seen.capped,
                            without_purpose: seen.without_purpose,
                        },
                    ));
                }
            }
        }
    }

    /// Ends the fold: the last days' bulk reads are decided.
    pub fn finish(mut self) -> Self {
        self.decide_days_before(usize::MAX);
        let mut bulk = std::mem::take(&mut self.bulk);
        bulk.sort();
        for (month, read) in bulk {
            let Some(activity) = self.months.get_mut(&month) else {
                continue;
            };
            // A day decided twice (records more than a day out of order, a clock stepped
            // back) is one line: its counts added, at least as many as either part.
            match activity.bulk_reads.last_mut() {
                Some(last) if last.principal == read.principal && last.day == read.day => {
                    last.customers += read.customers;
                    last.without_purpose += read.without_purpose;
                    last.at_least |= read.at_least;
                }
                _ => activity.bulk_reads.push(read),
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
