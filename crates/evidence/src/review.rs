//! The monthly access review (PIPA safeguard standard art. 8(2): access records are checked
//! at least once a month, and a download's reason is confirmed).
//!
//! The review job summarises a month from the trail — accesses per principal, alerts by rule,
//! bulk reads — and a named reviewer acknowledges exactly that summary: the acknowledgement
//! carries the summary's SHA-256, so a summary that changed afterwards (records added to a
//! month that was not over, a trail rewritten) no longer matches what was acknowledged.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::activity::{Activity, CUSTOMERS_LINE, MonthActivity, ReviewAck};
use crate::period::{YearMonth, kst_minute};
use crate::report::{MonthlyReviewEntry, ReviewAcknowledgement};
use haechi_events::Timestamp;

/// Longest note a reviewer may record.
pub const MAX_NOTE_CHARS: usize = 500;

/// One month's summary, as the reviewer sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MonthlyReview {
    /// `YYYY-MM` (KST).
    pub month: String,
    /// Whether the month is over; only a closed month's summary is final.
    pub closed: bool,
    /// Accesses (reads and lookups allowed) per principal, largest first.
    pub principals: Vec<PrincipalVolume>,
    /// Accesses refused by policy, quota or containment.
    pub refused: u64,
    /// Alerts raised, per rule.
    pub alerts: Vec<RuleCount>,
    /// Bulk reads: a principal's day at or above the bulk threshold.
    pub bulk_reads: Vec<BulkReadRow>,
    /// The bulk threshold: distinct customers one principal read in one day.
    pub bulk_read_customers: u64,
    /// SHA-256 (hex) of the canonical JSON of every field above: what an acknowledgement
    /// names.
    pub digest: String,
}

/// A principal's accesses in the month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrincipalVolume {
    /// `service:NAME`, `admin:NAME`, or the one line of customers reading their own records.
    pub principal: String,
    /// Accesses.
    pub accesses: u64,
}

/// Alerts of one rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleCount {
    /// Rule id.
    pub rule: String,
    /// Alerts raised.
    pub alerts: u64,
}

/// A bulk read in the review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkReadRow {
    /// Who.
    pub principal: String,
    /// `YYYY-MM-DD` (KST).
    pub day: String,
    /// Distinct customers (at least, when `at_least`).
    pub customers: u64,
    /// Whether the count stopped at its bound.
    pub at_least: bool,
    /// Accesses that day without a declared purpose: a download whose reason is not on the
    /// record.
    pub without_purpose: u64,
}

impl MonthlyReview {
    /// The summary of `month` from a finished fold, as of `now`.
    pub fn of(
        month: YearMonth,
        activity: &MonthActivity,
        bulk_read_customers: u64,
        now: Timestamp,
    ) -> Self {
        let mut principals: Vec<PrincipalVolume> = activity
            .per_principal
            .iter()
            .map(|(principal, accesses)| PrincipalVolume {
                principal: principal.clone(),
                accesses: *accesses,
            })
            .collect();
        principals.sort_by(|a, b| {
            b.accesses
                .cmp(&a.accesses)
                .then_with(|| a.principal.cmp(&b.principal))
        });
        let mut review = MonthlyReview {
            month: month.to_string(),
            closed: now >= month.end(),
            principals,
            refused: activity.refused,
            alerts: activity
                .alerts_by_rule
                .iter()
                .map(|(rule, alerts)| RuleCount {
                    rule: rule.clone(),
                    alerts: *alerts,
                })
                .collect(),
            bulk_reads: activity
                .bulk_reads
                .iter()
                .map(|read| BulkReadRow {
                    principal: read.principal.clone(),
                    day: read.day.clone(),
                    customers: read.customers,
                    at_least: read.at_least,
                    without_purpose: read.without_purpose,
                })
                .collect(),
            bulk_read_customers,
            digest: String::new(),
        };
        review.digest = review.compute_digest();
        review
    }

    /// SHA-256 over the summary's canonical JSON with an empty digest.
    fn compute_digest(&self) -> String {
        let mut unsigned = self.clone();
        unsigned.digest = String::new();
        // Field order is the struct's and every collection is ordered, so serde_json's output
        // is canonical for this type.
        let bytes = serde_json::to_vec(&unsigned).unwrap_or_default();
        hex::encode(Sha256::digest(&bytes))
    }

    /// Accesses in the month.
    pub fn accesses(&self) -> u64 {
        self.principals.iter().map(|line| line.accesses).sum()
    }

    /// The report's line for this month, with what the review job and the reviewer recorded.
    pub fn entry(&self, activity: &Activity) -> MonthlyReviewEntry {
        let acknowledged = activity
            .review_acks
            .items
            .iter()
            .filter(|ack| ack.month == self.month)
            .max_by_key(|ack| ack.at)
            .map(|ack| ReviewAcknowledgement {
                reviewer: ack.reviewer.clone(),
                at: ack.at.to_rfc3339(),
                note: ack.note.clone(),
                digest_matches: ack.digest == self.digest,
            });
        MonthlyReviewEntry {
            month: self.month.clone(),
            digest: self.digest.clone(),
            accesses: self.accesses(),
            principals: self
                .principals
                .iter()
                .filter(|line| line.principal != CUSTOMERS_LINE)
                .count() as u64,
            bulk_reads: self.bulk_reads.len() as u64,
            alerts: self.alerts.iter().map(|rule| rule.alerts).sum(),
            closed: self.closed,
            prepared_digest: activity.reviews_prepared.get(&self.month).cloned(),
            acknowledged,
        }
    }
}

/// Every month's review of a finished fold, in order.
pub fn reviews(activity: &Activity, now: Timestamp) -> Vec<MonthlyReview> {
    activity
        .months
        .iter()
        .map(|(month, month_activity)| {
            MonthlyReview::of(*month, month_activity, activity.bulk_read_customers(), now)
        })
        .collect()
}

/// Checks a reviewer's note: bounded, one paragraph of visible text, no personal data.
pub fn check_note(note: &str) -> Result<(), String> {
    check_free_text(note, MAX_NOTE_CHARS, true).map_err(|problem| format!("note: {problem}"))
}

/// Checks free text an administrator puts on the record (a review's note, a download's
/// reason): at most `max_chars`, visible characters only — no controls, no invisible or
/// direction-changing characters that would make the record read otherwise than it is
/// (line and paragraph separators, zero-width, bidi overrides), newlines only if
/// `newlines` — and nothing that looks like personal data, since the trail keeps it for good.
pub fn check_free_text(text: &str, max_chars: usize, newlines: bool) -> Result<(), String> {
    if text.chars().count() > max_chars {
        return Err(format!("at most {max_chars} characters"));
    }
    let hidden = |c: char| {
        matches!(
            c,
            '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{2069}'
                | '\u{FEFF}'
        )
    };
    if text
        .chars()
        .any(|c| (c.is_control() && !(newlines && c == '\n')) || hidden(c))
    {
        return Err(
            "only visible characters (no control, invisible or direction characters)".into(),
        );
    }
    let findings: Vec<_> = haechi_leak::scan(text)
        .into_iter()
        .filter(|finding| finding.confidence >= 0.8)
        .collect();
    if let Some(finding) = findings.first() {
        return Err(format!(
            "it looks like it holds personal data ({}): the record keeps it for good; refer to \
             customers by id",
            finding.kind.label()
        ));
    }
    Ok(())
}

/// `2026-03 acknowledged by admin:kim at 2026-04-02 09:10 KST`.
pub fn describe_ack(ack: &ReviewAck) -> String {
    format!(
        "{} acknowledged by {} at {}",
        ack.month,
        ack.reviewer,
        kst_minute(ack.at)
    )
}
