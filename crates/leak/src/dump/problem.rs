//! What can be wrong with part of a dump, said by line number without quoting it.

use std::fmt;

use super::{JsonProblem, MAX_IDENTIFIERS_PER_ROW, QuotingProblem, UndecodableLine};

/// Something wrong with part of the dump. Its `Display` names the lines and the problem,
/// never the content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineProblem {
    /// First line concerned.
    pub line: u64,
    /// Last line concerned (the same for one-line problems).
    pub last_line: u64,
    /// What is wrong.
    pub kind: ProblemKind,
}

/// The kinds of [`LineProblem`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProblemKind {
    /// CSV quoting is broken.
    Quoting(QuotingProblem),
    /// JSON is broken.
    Json(JsonProblem),
    /// The line is neither UTF-8 nor CP949, or holds binary bytes.
    Undecodable(UndecodableLine),
    /// The line is longer than the reader's cap; only its start was read (free text) or it
    /// was skipped (CSV, JSON).
    TooLong {
        /// The cap, in bytes.
        cap: usize,
        /// Whether the start of the line was still scanned.
        scanned: bool,
    },
    /// The row has more e-mails or phones than [`MAX_IDENTIFIERS_PER_ROW`]; only the first
    /// were looked up.
    TooManyIdentifiers,
}

impl fmt::Display for LineProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.last_line > self.line {
            write!(f, "lines {}-{}: ", self.line, self.last_line)?;
        } else {
            write!(f, "line {}: ", self.line)?;
        }
        match &self.kind {
            ProblemKind::Quoting(problem) => write!(f, "{}; skipped", problem.describe()),
            ProblemKind::Json(problem) => f.write_str(&problem.describe()),
            ProblemKind::Undecodable(UndecodableLine::Binary) => {
                f.write_str("binary data (NUL or control bytes); skipped")
            }
            ProblemKind::Undecodable(UndecodableLine::UnknownEncoding) => {
                f.write_str("neither UTF-8 nor CP949/EUC-KR; skipped")
            }
            ProblemKind::TooLong { cap, scanned } => {
                let kib = cap / 1024;
                if *scanned {
                    write!(
                        f,
                        "longer than {kib} KiB; only its first {kib} KiB were read"
                    )
                } else {
                    write!(f, "longer than {kib} KiB; skipped")
                }
            }
            ProblemKind::TooManyIdentifiers => write!(
                f,
                "more than {MAX_IDENTIFIERS_PER_ROW} e-mails or phones; only the first were looked up"
            ),
        }
    }
}
