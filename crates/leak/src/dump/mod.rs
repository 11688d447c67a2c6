//! Reading leaked dumps: encodings, formats, column roles, and the identifiers of each row.
//!
//! `haechi-leakwatch` reads the file (bounded lines, progress) and hands this module bytes and
//! lines; everything here is pure:
//!
//! 1. [`detect_encoding`] on the first bytes, then [`decode_line`] per line (UTF-8 or CP949,
//!    falling back line by line).
//! 2. [`DumpPlan::from_sample`] on the first decoded lines: the format (CSV with any
//!    delimiter, JSON/JSONL, or free text), whether a CSV has a header, and which columns hold
//!    e-mails, phones and names (header names in Korean and English, then content), with the
//!    operator's overrides applied.
//!    Each format is a component ([`Format`], listed in [`FORMATS`]): sniffing asks each how
//!    sure it is, and the surest makes the plan.
//! 3. [`DumpParser`] turns lines into [`DumpRow`]s — the values of the identifying columns
//!    plus the line number — and [`LineProblem`]s that name line numbers and never quote the
//!    dump. It keeps the state that needs the lines in order (CSV records spanning lines, JSON
//!    arrays, the header); [`DumpRow::identifiers`] normalises a row's values, on any thread.

mod columns;
mod csv;
mod encoding;
mod format;
mod json;
mod parser;
mod plan;
mod problem;
mod row;
mod text;

use std::fmt;

pub use columns::{
    ColumnOverrides, ColumnRole, RoleColumn, RoleSource, role_from_content, role_from_header,
};
pub use csv::{CANDIDATE_DELIMITERS, MAX_RECORD_BYTES, MAX_RECORD_LINES, QuotingProblem};
pub use encoding::{EncodingGuess, TextEncoding, UndecodableLine, decode_line, detect_encoding};
pub use format::{Confidence, FORMATS, Format, RowReader, Sample, SniffVerdict};
pub use json::{JsonProblem, MAX_OBJECT_BYTES};
pub use parser::DumpParser;
pub use plan::DumpPlan;
pub use problem::{LineProblem, ProblemKind};
pub use row::{DumpEvent, DumpRow, Identifiers};

/// Most identifiers of one kind taken from one row; a line listing thousands of addresses is
/// read for its first ones and reported.
pub const MAX_IDENTIFIERS_PER_ROW: usize = 64;

/// The format a dump is read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpFormat {
    /// Delimited text.
    Csv {
        /// The field delimiter.
        delimiter: char,
        /// Whether the first record is a header.
        header: bool,
    },
    /// JSON objects, one per line or in an array over many lines.
    Json,
    /// Free text: e-mails and phones found by the scanner.
    Text,
}

impl fmt::Display for DumpFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Csv { delimiter, header } => {
                let name = match delimiter {
                    '\t' => "tab".to_string(),
                    other => format!("{other:?}"),
                };
                write!(
                    f,
                    "csv (delimiter {name}, {})",
                    if *header { "with header" } else { "no header" }
                )
            }
            Self::Json => f.write_str("json"),
            Self::Text => f.write_str("free text"),
        }
    }
}

/// The format the operator asked for (`--format`), or `None` to sniff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestedFormat {
    /// Delimited text.
    Csv,
    /// JSON or JSONL.
    Json,
    /// Free text.
    Text,
}

/// What the operator said about the dump.
#[derive(Debug, Clone, Default)]
pub struct DumpOptions {
    /// `--format`.
    pub format: Option<RequestedFormat>,
    /// `--delimiter`.
    pub delimiter: Option<char>,
    /// `--columns`.
    pub columns: Option<ColumnOverrides>,
}
