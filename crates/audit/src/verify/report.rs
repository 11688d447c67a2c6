//! The outcome of a verification.

use std::fmt;

use super::problem::{Notice, Problem};

/// The most problems a report lists; the rest are counted. A log rewritten from its first record
/// on would otherwise produce one finding per record.
const MAX_PROBLEMS: usize = 1000;

/// The outcome of [`verify`](crate::verify()).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Distinct seqs checked.
    pub records: u64,
    /// The lowest seq found (0 if none).
    pub first_seq: u64,
    /// The highest seq found (0 if none).
    pub last_seq: u64,
    /// Live-log segments read.
    pub segments: usize,
    /// Archive files read.
    pub archive_files: usize,
    /// Checkpoints whose signature verified and that match the chain.
    pub checkpoints_verified: u64,
    /// The seq of the last checkpoint that verified and matches (0 if none).
    pub last_signed_seq: u64,
    /// Evidence of damage or tampering, in the order found (at most 1000).
    pub problems: Vec<Problem>,
    /// Problems beyond those listed.
    pub problems_omitted: u64,
    /// Findings that are not evidence of tampering.
    pub notices: Vec<Notice>,
    /// With a witness: how many of its checkpoints matched the log, and the highest seq among
    /// them (`None` without a witness).
    pub witnessed: Option<(u64, u64)>,
}

impl VerifyReport {
    /// Whether no problem was found.
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty() && self.problems_omitted == 0
    }

    pub(super) fn problem(&mut self, problem: Problem) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(problem);
        } else {
            self.problems_omitted += 1;
        }
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_intact() {
            writeln!(
                f,
                "all {} records verify (seq {}..={}; {} segments, {} archive files; {} signed checkpoints, last at seq {})",
                self.records,
                self.first_seq,
                self.last_seq,
                self.segments,
                self.archive_files,
                self.checkpoints_verified,
                self.last_signed_seq
            )?;
        } else {
            writeln!(
                f,
                "TAMPERING OR DAMAGE: {} problems in {} records (seq {}..={})",
                self.problems.len() as u64 + self.problems_omitted,
                self.records,
                self.first_seq,
                self.last_seq
            )?;
            for problem in &self.problems {
                writeln!(f, "  {problem}")?;
            }
            if self.problems_omitted > 0 {
                writeln!(f, "  … and {} more", self.problems_omitted)?;
            }
        }
        if let Some((matched, head)) = self.witnessed {
            writeln!(
                f,
                "  witness: {matched} witnessed checkpoints match the log; the witnessed head is seq {head}"
            )?;
        }
        for notice in &self.notices {
            writeln!(f, "  note: {notice}")?;
        }
        Ok(())
    }
}
