//! `[evidence]`: the auditor's report (docs/evidence.md).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `[evidence]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvidenceSection {
    /// The company's name on the report (default: `[notice] company`, else the data
    /// directory's name).
    pub organisation: Option<String>,
    /// The directory `haechi drill --out` writes its reports to: the drills the report lists.
    pub drill_reports: Option<PathBuf>,
    /// Distinct customers one principal reads in one day that make a bulk read, whose reason
    /// the monthly review confirms.
    pub bulk_read_customers: u64,
    /// Days after a month's end within which a reviewer acknowledges its access review; past
    /// them the review job records it overdue (and the built-in rule alerts).
    pub review_due_days: u64,
}

impl EvidenceSection {
    /// `review_due_days` as a duration (at least one day).
    pub fn review_due(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.review_due_days.max(1) * 86_400)
    }
}

impl Default for EvidenceSection {
    fn default() -> Self {
        EvidenceSection {
            organisation: None,
            drill_reports: None,
            bulk_read_customers: 1_000,
            review_due_days: 7,
        }
    }
}
