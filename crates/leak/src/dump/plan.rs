//! How a dump will be read, decided once from its first lines by the formats in
//! [`FORMATS`].

use super::format::{self, FORMATS, Sample, SniffVerdict};
use super::{DumpFormat, DumpOptions, RoleColumn, RoleSource};
use crate::Error;

/// How a dump will be read: decided once from its first lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpPlan {
    /// The format.
    pub format: DumpFormat,
    /// For CSV: the columns with a role.
    pub columns: Vec<RoleColumn>,
    /// For CSV: the number of fields of the header or the first record.
    pub width: usize,
}

impl DumpPlan {
    /// Decides the plan from the first decoded lines of the dump (a few hundred are plenty).
    ///
    /// # Errors
    /// [`Error::NoRecognisableColumn`] when a CSV dump has no column that looks like (or is
    /// named as) an e-mail, phone or name and the operator named none; [`Error::BadColumns`]
    /// when an override names a header cell that does not exist.
    pub fn from_sample(sample: &[&str], options: &DumpOptions) -> Result<Self, Error> {
        let sample = Sample::new(sample, options);
        // Sniffing always runs: a format named by the operator still reads the sample the
        // way sniffing would when sniffing chose it too.
        let sniffed = format::sniff(&sample);
        let chosen = options
            .format
            .and_then(|requested| {
                FORMATS
                    .iter()
                    .position(|format| format.answers_to(requested))
            })
            .unwrap_or(sniffed);
        let verdict = if chosen == sniffed {
            SniffVerdict::ThisFormat
        } else {
            SniffVerdict::Another
        };
        let chosen = FORMATS.get(chosen).copied().unwrap_or(format::FALLBACK);
        chosen.plan(&sample, verdict)
    }

    /// A plan without columns.
    pub(crate) fn simple(format: DumpFormat) -> Self {
        Self {
            format,
            columns: Vec::new(),
            width: 0,
        }
    }

    /// One line per column with a role, for the operator (`email = column 3 (header)`).
    pub fn describe_columns(&self) -> Vec<String> {
        self.columns
            .iter()
            .map(|column| {
                let why = match column.source {
                    RoleSource::Override => "--columns".to_string(),
                    RoleSource::Header => "header name".to_string(),
                    RoleSource::Content(percent) => {
                        format!("{percent}% of sampled values have its shape")
                    }
                };
                format!("{} = column {} ({why})", column.role, column.index + 1)
            })
            .collect()
    }
}
