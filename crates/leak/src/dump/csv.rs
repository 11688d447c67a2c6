//! Delimited text (CSV, TSV, `;`, `|`, `email:password` lists) read one physical line at a
//! time, with quoted fields that may span a few lines.
//!
//! Quoting follows RFC 4180: a field that starts with `"` runs to the next lone `"`, and `""`
//! inside it is one quote. A quote inside an unquoted field is kept as a character (dumps are
//! full of `5" screen`). Text after a closing quote, and a quote that is never closed within
//! [`MAX_RECORD_LINES`] lines or [`MAX_RECORD_BYTES`] bytes, make the record malformed: it is
//! reported by line number and skipped, and reading resumes on the line after the one that
//! opened it, so one stray quote costs one line, not the rest of the file.
//!
//! As a format, CSV is sniffed by the delimiter that splits most sampled lines alike, and
//! planned by the roles of its columns (`columns.rs`).

use super::columns::{guess_roles, is_header};
use super::format::{Confidence, Format, RowReader, Sample, SniffVerdict};
use super::{
    ColumnRole, DumpEvent, DumpFormat, DumpPlan, DumpRow, LineProblem, ProblemKind,
    RequestedFormat, RoleColumn,
};
use crate::Error;

/// Delimiters tried, in order of preference when several fit equally well.
pub const CANDIDATE_DELIMITERS: [char; 5] = ['\t', ',', ';', '|', ':'];

/// Most physical lines one record may span.
pub const MAX_RECORD_LINES: usize = 32;
/// Most bytes one record may hold.
pub const MAX_RECORD_BYTES: usize = 256 * 1024;

/// What reading a line produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CsvEvent {
    /// A record and the line it started on.
    Record { line: u64, fields: Vec<String> },
    /// A malformed record: the lines it spanned and what is wrong.
    Malformed {
        line: u64,
        last_line: u64,
        problem: QuotingProblem,
    },
}

/// What is wrong with a record's quoting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotingProblem {
    /// Text follows a closing quote before the next delimiter.
    TextAfterClosingQuote,
    /// A quoted field is still open at the end of the file or after the most lines a record
    /// may span.
    UnclosedQuote,
}

impl QuotingProblem {
    /// A sentence for the operator.
    pub fn describe(self) -> &'static str {
        match self {
            Self::TextAfterClosingQuote => "malformed CSV quoting: text after a closing quote",
            Self::UnclosedQuote => "malformed CSV quoting: a quoted field is never closed",
        }
    }
}

enum Split {
    Complete(Vec<String>),
    OpenQuote,
    Malformed(QuotingProblem),
}

/// Splits one record's text on `delimiter`.
fn split_record(text: &str, delimiter: char) -> Split {
    if !text.contains('"') {
        return Split::Complete(text.split(delimiter).map(str::to_string).collect());
    }
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut at_field_start = true;
    loop {
        let Some(c) = chars.next() else {
            fields.push(std::mem::take(&mut field));
            return Split::Complete(fields);
        };
        if at_field_start && c == '"' {
            // A quoted field: up to the closing quote.
            loop {
                match chars.next() {
                    None => return Split::OpenQuote,
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(other) => field.push(other),
                }
            }
            match chars.next() {
                None => {
                    fields.push(std::mem::take(&mut field));
                    return Split::Complete(fields);
                }
                Some(next) if next == delimiter => {
                    fields.push(std::mem::take(&mut field));
                    at_field_start = true;
                }
                Some(_) => return Split::Malformed(QuotingProblem::TextAfterClosingQuote),
            }
            continue;
        }
        if c == delimiter {
            fields.push(std::mem::take(&mut field));
            at_field_start = true;
        } else {
            field.push(c);
            at_field_start = false;
        }
    }
}

/// Counts the fields of one line, for sniffing the delimiter; `None` if the line leaves a
/// quote open or is malformed.
pub(crate) fn field_count(line: &str, delimiter: char) -> Option<usize> {
    match split_record(line, delimiter) {
        Split::Complete(fields) => Some(fields.len()),
        _ => None,
    }
}

/// Reads records from physical lines.
#[derive(Debug)]
pub(crate) struct CsvReader {
    delimiter: char,
    /// The lines of a record whose quote is still open.
    pending: Vec<(u64, String)>,
    pending_bytes: usize,
}

impl CsvReader {
    pub(crate) fn new(delimiter: char) -> Self {
        Self {
            delimiter,
            pending: Vec::new(),
            pending_bytes: 0,
        }
    }

    /// Feeds one physical line (without its line ending).
    pub(crate) fn push(&mut self, line: u64, text: &str, out: &mut Vec<CsvEvent>) {
        if self.pending.is_empty() {
            match split_record(text, self.delimiter) {
                Split::Complete(fields) => out.push(CsvEvent::Record { line, fields }),
                Split::Malformed(problem) => out.push(CsvEvent::Malformed {
                    line,
                    last_line: line,
                    problem,
                }),
                Split::OpenQuote => {
                    if text.len() > MAX_RECORD_BYTES {
                        out.push(CsvEvent::Malformed {
                            line,
                            last_line: line,
                            problem: QuotingProblem::UnclosedQuote,
                        });
                    } else {
                        self.pending_bytes = text.len();
                        self.pending.push((line, text.to_string()));
                    }
                }
            }
            return;
        }
        self.pending_bytes += text.len() + 1;
        self.pending.push((line, text.to_string()));
        let joined = self.joined();
        match split_record(&joined, self.delimiter) {
            Split::Complete(fields) => {
                let first = self.pending[0].0;
                self.clear();
                out.push(CsvEvent::Record {
                    line: first,
                    fields,
                });
            }
            Split::Malformed(problem) => self.give_up(problem, out),
            Split::OpenQuote => {
                if self.pending.len() >= MAX_RECORD_LINES || self.pending_bytes > MAX_RECORD_BYTES {
                    self.give_up(QuotingProblem::UnclosedQuote, out);
                }
            }
        }
    }

    /// Ends the input: a record still open is malformed.
    pub(crate) fn finish(&mut self, out: &mut Vec<CsvEvent>) {
        if !self.pending.is_empty() {
            self.give_up(QuotingProblem::UnclosedQuote, out);
        }
    }

    fn joined(&self) -> String {
        let mut joined = String::with_capacity(self.pending_bytes);
        for (index, (_, text)) in self.pending.iter().enumerate() {
            if index > 0 {
                joined.push('\n');
            }
            joined.push_str(text);
        }
        joined
    }

    fn clear(&mut self) {
        self.pending.clear();
        self.pending_bytes = 0;
    }

    /// Reports the record that started on the first pending line, then reads the lines after
    /// it again as new records.
    fn give_up(&mut self, problem: QuotingProblem, out: &mut Vec<CsvEvent>) {
        let mut lines = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        let first = lines.remove(0).0;
        let last = lines.last().map_or(first, |(line, _)| *line);
        out.push(CsvEvent::Malformed {
            line: first,
            last_line: last,
            problem,
        });
        for (line, text) in lines {
            self.push(line, &text, out);
        }
    }
}

/// The delimiter that splits the most lines into the same number (at least two) of fields.
/// A delimiter must split at least 80 % of the lines the same way to count; `:` must split
/// 95 % (times and URLs put colons in ordinary text). Lines whose quoting is broken do not
/// count either way, as long as they are a minority.
pub(crate) fn best_delimiter(lines: &[&str]) -> Option<char> {
    let mut best: Option<(char, usize)> = None;
    for delimiter in CANDIDATE_DELIMITERS {
        let counts: Vec<usize> = lines
            .iter()
            .filter_map(|line| field_count(line, delimiter))
            .collect();
        let mut tally: Vec<(usize, usize)> = Vec::new();
        for count in counts.iter().copied().filter(|count| *count >= 2) {
            match tally.iter_mut().find(|(fields, _)| *fields == count) {
                Some((_, seen)) => *seen += 1,
                None => tally.push((count, 1)),
            }
        }
        let Some((_, agreeing)) = tally.iter().max_by_key(|(_, seen)| *seen).copied() else {
            continue;
        };
        let required = if delimiter == ':' { 95 } else { 80 };
        if counts.len() * 2 < lines.len() || agreeing * 100 < counts.len() * required {
            continue;
        }
        if best.is_none_or(|(_, most)| agreeing > most) {
            best = Some((delimiter, agreeing));
        }
    }
    best.map(|(delimiter, _)| delimiter)
}

/// Delimited text.
#[derive(Debug)]
pub(crate) struct Csv;

impl Format for Csv {
    fn answers_to(&self, requested: RequestedFormat) -> bool {
        requested == RequestedFormat::Csv
    }

    fn reads(&self, format: &DumpFormat) -> bool {
        matches!(format, DumpFormat::Csv { .. })
    }

    fn sniff(&self, sample: &Sample<'_>) -> Confidence {
        if sample.options.delimiter.is_some() {
            Confidence::Told
        } else if best_delimiter(&sample.non_blank).is_some() {
            Confidence::Likely
        } else if sample.options.columns.is_some() {
            Confidence::Possible
        } else {
            Confidence::No
        }
    }

    fn plan(&self, sample: &Sample<'_>, verdict: SniffVerdict) -> Result<DumpPlan, Error> {
        let sniffed = match verdict {
            SniffVerdict::ThisFormat => best_delimiter(&sample.non_blank),
            SniffVerdict::Another => None,
        };
        let delimiter = sample
            .options
            .delimiter
            .or(sniffed)
            .unwrap_or_else(|| best_delimiter(sample.lines).unwrap_or(','));
        plan_columns(sample, delimiter)
    }

    fn reader(&self, plan: &DumpPlan) -> Box<dyn RowReader> {
        Box::new(CsvRows::new(plan))
    }
}

/// The plan of a dump delimited by `delimiter`: whether it has a header, and the roles of
/// its columns (guessed, with the operator's overrides applied).
fn plan_columns(sample: &Sample<'_>, delimiter: char) -> Result<DumpPlan, Error> {
    // Split the sample into records (quoted fields may span lines).
    let mut reader = CsvReader::new(delimiter);
    let mut events = Vec::new();
    for (index, line) in sample.lines.iter().enumerate() {
        reader.push(index as u64 + 1, line, &mut events);
    }
    let records: Vec<Vec<String>> = events
        .into_iter()
        .filter_map(|event| match event {
            CsvEvent::Record { fields, .. }
                if !(fields.len() == 1 && fields[0].trim().is_empty()) =>
            {
                Some(fields)
            }
            _ => None,
        })
        .collect();
    let (first, rest) = match records.split_first() {
        Some((first, rest)) => (first.clone(), rest.to_vec()),
        None => (Vec::new(), Vec::new()),
    };
    let header = is_header(&first, &rest);
    let (header_cells, data): (Option<&[String]>, Vec<Vec<String>>) = if header {
        (Some(&first), rest)
    } else {
        (None, records.clone())
    };
    let mut columns = guess_roles(header_cells, &data);
    if let Some(overrides) = &sample.options.columns {
        let chosen = overrides.resolve(header_cells)?;
        let overridden: Vec<ColumnRole> = overrides.roles().collect();
        columns.retain(|column| {
            !overridden.contains(&column.role) && !chosen.iter().any(|c| c.index == column.index)
        });
        columns.extend(chosen);
        columns.sort_by_key(|column| column.index);
    }
    if columns.is_empty() {
        return Err(Error::NoRecognisableColumn {
            sampled_lines: sample.lines.len(),
            width: first.len(),
        });
    }
    Ok(DumpPlan {
        format: DumpFormat::Csv { delimiter, header },
        columns,
        width: first.len(),
    })
}

/// Rows of a delimited dump: the values of its role columns, record by record.
struct CsvRows {
    records: CsvReader,
    columns: Vec<RoleColumn>,
    /// Per role column: whether another role reads the same column.
    shared_columns: Vec<bool>,
    header_pending: bool,
    events: Vec<CsvEvent>,
}

impl CsvRows {
    fn new(plan: &DumpPlan) -> Self {
        let (delimiter, header) = match plan.format {
            DumpFormat::Csv { delimiter, header } => (delimiter, header),
            _ => (',', false),
        };
        let shared_columns = plan
            .columns
            .iter()
            .enumerate()
            .map(|(position, column)| {
                plan.columns
                    .iter()
                    .enumerate()
                    .any(|(other, c)| other != position && c.index == column.index)
            })
            .collect();
        Self {
            records: CsvReader::new(delimiter),
            columns: plan.columns.clone(),
            shared_columns,
            header_pending: header,
            events: Vec::new(),
        }
    }

    /// Turns the reader's records into rows (after the header), its malformed records into
    /// line problems.
    fn hand_on(&mut self, out: &mut Vec<DumpEvent>) {
        for event in self.events.drain(..) {
            match event {
                CsvEvent::Record { line, fields } => {
                    if self.header_pending {
                        self.header_pending = false;
                        continue;
                    }
                    let row = row_of(&self.columns, &self.shared_columns, line, fields);
                    if row.may_have_lookup_key() {
                        out.push(DumpEvent::Row(row));
                    }
                }
                CsvEvent::Malformed {
                    line,
                    last_line,
                    problem,
                } => {
                    // A header line that is itself malformed is still the header.
                    self.header_pending = false;
                    out.push(DumpEvent::Problem(LineProblem {
                        line,
                        last_line,
                        kind: ProblemKind::Quoting(problem),
                    }));
                }
            }
        }
    }
}

/// The row of a record starting on `line`: the values of the role `columns` (`shared`: per
/// column, whether another role reads it too).
fn row_of(columns: &[RoleColumn], shared: &[bool], line: u64, mut fields: Vec<String>) -> DumpRow {
    let mut row = DumpRow {
        line,
        values: Vec::with_capacity(columns.len()),
    };
    for (column, shared) in columns.iter().zip(shared) {
        // Moved out of the record unless another role reads the same column.
        if let Some(value) = fields.get_mut(column.index) {
            let value = if *shared {
                value.clone()
            } else {
                std::mem::take(value)
            };
            row.values.push((column.role, value));
        }
    }
    row
}

impl RowReader for CsvRows {
    fn push_line(&mut self, line: u64, text: &str, out: &mut Vec<DumpEvent>) {
        self.records.push(line, text, &mut self.events);
        self.hand_on(out);
    }

    fn finish(&mut self, _last_line: u64, out: &mut Vec<DumpEvent>) {
        self.records.finish(&mut self.events);
        self.hand_on(out);
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]
mod tests {
    use super::*;

    fn read(text: &str, delimiter: char) -> Vec<CsvEvent> {
        let mut reader = CsvReader::new(delimiter);
        let mut out = Vec::new();
        for (index, line) in text.split('\n').enumerate() {
            reader.push(index as u64 + 1, line, &mut out);
        }
        reader.finish(&mut out);
        out
    }

    fn record(line: u64, fields: &[&str]) -> CsvEvent {
        CsvEvent::Record {
            line,
            fields: fields.iter().map(|f| f.to_string()).collect(),
        }
    }

    #[test]
    fn quoting_rules() {
        assert_eq!(
            read(r#"a,"b,c","d ""e""",5" screen,"#, ','),
            [record(1, &["a", "b,c", r#"d "e""#, r#"5" screen"#, ""])]
        );
        assert_eq!(read("x;y\tz", ';'), [record(1, &["x", "y\tz"])]);
    }

    #[test]
    fn quoted_fields_span_lines() {
        assert_eq!(
            read("a,\"line one\nline two\",b\nc,d", ','),
            [
                record(1, &["a", "line one\nline two", "b"]),
                record(3, &["c", "d"])
            ]
        );
    }

    #[test]
    fn a_stray_quote_costs_one_line() {
        let events = read("1,\"oops,x\n2,y\n3,z", ',');
        assert_eq!(
            events,
            [
                CsvEvent::Malformed {
                    line: 1,
                    last_line: 3,
                    problem: QuotingProblem::UnclosedQuote
                },
                record(2, &["2", "y"]),
                record(3, &["3", "z"]),
            ]
        );
        assert_eq!(
            read("\"a\"b,c\nd,e", ','),
            [
                CsvEvent::Malformed {
                    line: 1,
                    last_line: 1,
                    problem: QuotingProblem::TextAfterClosingQuote
                },
                record(2, &["d", "e"]),
            ]
        );
    }

    #[test]
    fn an_unclosed_quote_gives_up_after_the_line_limit() {
        let mut text = String::from("\"never closed");
        for i in 0..100 {
            text.push_str(&format!("\n{i},x"));
        }
        let events = read(&text, ',');
        assert!(matches!(
            events[0],
            CsvEvent::Malformed {
                line: 1,
                problem: QuotingProblem::UnclosedQuote,
                ..
            }
        ));
        assert_eq!(events.len(), 101);
        assert_eq!(events[100], record(101, &["99", "x"]));
    }
}
