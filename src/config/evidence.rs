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
    /// `review_due_days` as a duration, checked: a review due after the next month has ended
    /// would never be late.
    pub fn review_due(&self) -> anyhow::Result<std::time::Duration> {
        if !(1..=28).contains(&self.review_due_days) {
            anyhow::bail!(
                "evidence.review_due_days must be 1 to 28 (days after a month's end), not {}",
                self.review_due_days
            );
        }
        Ok(std::time::Duration::from_secs(
            self.review_due_days * 86_400,
        ))
    }

    /// `bulk_read_customers`, checked.
    pub fn bulk_read_customers(&self) -> anyhow::Result<u64> {
        if self.bulk_read_customers == 0 {
            anyhow::bail!("evidence.bulk_read_customers must be at least 1");
        }
        Ok(self.bulk_read_customers)
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
