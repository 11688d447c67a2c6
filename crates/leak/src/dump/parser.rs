//! The parser the caller drives: decoded lines in, rows and problems out, by the reader of
//! the plan's format.

use std::fmt;

use super::format::{self, RowReader};
use super::{DumpEvent, DumpPlan};

/// Turns decoded lines into rows, by the plan.
pub struct DumpParser {
    plan: DumpPlan,
    rows: Box<dyn RowReader>,
    last_line: u64,
}

impl fmt::Debug for DumpParser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DumpParser")
            .field("plan", &self.plan)
            .finish_non_exhaustive()
    }
}

impl DumpParser {
    /// A parser following `plan`.
    pub fn new(plan: DumpPlan) -> Self {
        let rows = format::reading(&plan.format).reader(&plan);
        Self {
            plan,
            rows,
            last_line: 0,
        }
    }

    /// The plan.
    pub fn plan(&self) -> &DumpPlan {
        &self.plan
    }

    /// Feeds one decoded line (1-based number, without its line ending).
    pub fn push_line(&mut self, line: u64, text: &str, out: &mut Vec<DumpEvent>) {
        self.last_line = line;
        self.rows.push_line(line, text, out);
    }

    /// Ends the input.
    pub fn finish(&mut self, out: &mut Vec<DumpEvent>) {
        self.rows.finish(self.last_line, out);
    }
}
