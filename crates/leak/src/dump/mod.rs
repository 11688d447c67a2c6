//! Reading leaked dumps: encodings, formats, column roles, and the identifiers of each row.
//!
//! The binary reads the file (bounded lines, progress) and hands this module bytes and
//! lines; everything here is pure:
//!
//! 1. [`detect_encoding`] on the first bytes, then [`decode_line`] per line (UTF-8 or CP949,
//!    falling back line by line).
//! 2. [`DumpPlan::from_sample`] on the first decoded lines: the format (CSV with any
//!    delimiter, JSON/JSONL, or free text), whether a CSV has a header, and which columns hold
//!    e-mails, phones and names (header names in Korean and English, then content), with the
//!    operator's overrides applied.
//! 3. [`DumpParser`] turns lines into [`DumpRow`]s — the values of the identifying columns
//!    plus the line number — and [`LineProblem`]s that name line numbers and never quote the
//!    dump. It keeps the state that needs the lines in order (CSV records spanning lines, JSON
//!    arrays, the header); [`DumpRow::identifiers`] normalises a row's values, on any thread.

mod columns;
mod csv;
mod encoding;
mod json;
mod sniff;

use std::fmt;

use haechi_korean::{PhoneNumber, normalize_email, normalize_text};

pub use columns::{
    ColumnOverrides, ColumnRole, RoleColumn, RoleSource, role_from_content, role_from_header,
};
pub use csv::{MAX_RECORD_BYTES, MAX_RECORD_LINES, QuotingProblem};
pub use encoding::{EncodingGuess, TextEncoding, UndecodableLine, decode_line, detect_encoding};
pub use json::{JsonProblem, MAX_OBJECT_BYTES};
pub use sniff::CANDIDATE_DELIMITERS;

use crate::{EmailRecognizer, Error, LandlineRecognizer, MobilePhoneRecognizer, PiiKind, Scanner};
use columns::{guess_roles, is_header};
use csv::{CsvEvent, CsvReader};
use json::{JsonEvent, JsonSplitter, string_values};

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
        let sniffed = sniff::sniff(sample);
        let delimiter = match (options.format, options.delimiter, sniffed) {
            (Some(RequestedFormat::Json), _, _) => return Ok(Self::simple(DumpFormat::Json)),
            (Some(RequestedFormat::Text), _, _) => return Ok(Self::simple(DumpFormat::Text)),
            (_, Some(delimiter), _) => delimiter,
            (None, None, sniff::Sniffed::Json) => return Ok(Self::simple(DumpFormat::Json)),
            (None, None, sniff::Sniffed::Text) if options.columns.is_none() => {
                return Ok(Self::simple(DumpFormat::Text));
            }
            (_, None, sniff::Sniffed::Delimited(delimiter)) => delimiter,
            (Some(RequestedFormat::Csv) | None, None, _) => {
                let lines: Vec<&str> = sample.to_vec();
                sniff::best_delimiter(&lines).unwrap_or(',')
            }
        };
        // Split the sample into records (quoted fields may span lines).
        let mut reader = CsvReader::new(delimiter);
        let mut events = Vec::new();
        for (index, line) in sample.iter().enumerate() {
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
        if let Some(overrides) = &options.columns {
            let chosen = overrides.resolve(header_cells)?;
            let overridden: Vec<ColumnRole> = overrides.roles().collect();
            columns.retain(|column| {
                !overridden.contains(&column.role)
                    && !chosen.iter().any(|c| c.index == column.index)
            });
            columns.extend(chosen);
            columns.sort_by_key(|column| column.index);
        }
        if columns.is_empty() {
            return Err(Error::NoRecognisableColumn {
                sampled_lines: sample.len(),
                width: first.len(),
            });
        }
        Ok(Self {
            format: DumpFormat::Csv { delimiter, header },
            columns,
            width: first.len(),
        })
    }

    fn simple(format: DumpFormat) -> Self {
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

/// The identifiers of one row, normalised: e-mails lower-cased, phones as digits with a
/// domestic `0`, names composed (NFC) with whitespace collapsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identifiers {
    /// E-mail addresses.
    pub emails: Vec<String>,
    /// Personal phone numbers.
    pub phones: Vec<String>,
    /// Names.
    pub names: Vec<String>,
}

impl Identifiers {
    /// Whether the row has an e-mail or phone to look up (names alone are never looked up).
    pub fn has_lookup_key(&self) -> bool {
        !self.emails.is_empty() || !self.phones.is_empty()
    }

    /// Adds a raw value in `role`, normalised; returns whether it was usable.
    pub fn add(&mut self, role: ColumnRole, raw: &str) -> bool {
        let raw = raw.trim();
        if raw.is_empty() {
            return false;
        }
        let (list, value) = match role {
            ColumnRole::Email => (&mut self.emails, normalize_email(raw).ok()),
            ColumnRole::Phone => (&mut self.phones, usable_phone(raw)),
            ColumnRole::Name => (&mut self.names, usable_name(raw)),
        };
        let Some(value) = value else {
            return false;
        };
        if list.len() < MAX_IDENTIFIERS_PER_ROW && !list.contains(&value) {
            list.push(value);
        }
        true
    }

    fn is_full(&self) -> bool {
        self.emails.len() >= MAX_IDENTIFIERS_PER_ROW || self.phones.len() >= MAX_IDENTIFIERS_PER_ROW
    }
}

/// A personal phone number, also when a spreadsheet or JSON number has eaten its leading
/// zero (`1023456789`): in a column known to hold phones, 9–10 digits that do not start with
/// `0` get it back.
fn usable_phone(raw: &str) -> Option<String> {
    if let Ok(phone) = PhoneNumber::parse(raw) {
        return Some(phone.as_str().to_string());
    }
    let digits_only = raw.bytes().all(|b| b.is_ascii_digit());
    if digits_only && (9..=10).contains(&raw.len()) && !raw.starts_with('0') {
        return PhoneNumber::parse(&format!("0{raw}"))
            .ok()
            .map(|p| p.as_str().to_string());
    }
    None
}

/// A name worth comparing: 1–50 characters, no digits or `@`, composed.
fn usable_name(raw: &str) -> Option<String> {
    let name = normalize_text(raw);
    let length = name.chars().count();
    ((1..=50).contains(&length)
        && !name
            .chars()
            .any(|c| c.is_ascii_digit() || c == '@' || c.is_control()))
    .then_some(name)
}

/// One row of the dump that may have something to look up: its values in the e-mail, phone
/// and name columns (or found in its text), still as the dump spells them. Normalising them,
/// [`DumpRow::identifiers`], is the costliest part of reading a dump and needs no state, so
/// callers can do it on other threads than the one reading lines in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpRow {
    /// The line the row starts on (1-based).
    pub line: u64,
    /// Its values, by role, in the order the row holds them.
    pub values: Vec<(ColumnRole, String)>,
}

impl DumpRow {
    /// The row's identifiers, normalised; rows whose values all fail to normalise have
    /// none (see [`Identifiers::has_lookup_key`]).
    pub fn identifiers(&self) -> Identifiers {
        let mut identifiers = Identifiers::default();
        for (role, value) in &self.values {
            identifiers.add(*role, value);
        }
        identifiers
    }

    /// Whether a value sits in a role that is looked up (e-mail or phone).
    fn may_have_lookup_key(&self) -> bool {
        self.values
            .iter()
            .any(|(role, value)| *role != ColumnRole::Name && !value.trim().is_empty())
    }
}

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

/// What the parser produced from a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DumpEvent {
    /// A row with identifiers.
    Row(DumpRow),
    /// A problem.
    Problem(LineProblem),
}

/// Turns decoded lines into rows, by the plan.
pub struct DumpParser {
    plan: DumpPlan,
    csv: CsvReader,
    json: JsonSplitter,
    scanner: Scanner,
    header_pending: bool,
    /// Per role column of the plan: whether another role reads the same column.
    shared_columns: Vec<bool>,
    last_line: u64,
    /// Keys of JSON objects already classified, so each distinct key is judged once.
    json_keys: std::collections::HashMap<String, Option<ColumnRole>>,
    csv_events: Vec<CsvEvent>,
    json_events: Vec<JsonEvent>,
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
        let delimiter = match plan.format {
            DumpFormat::Csv { delimiter, .. } => delimiter,
            _ => ',',
        };
        let header_pending = matches!(plan.format, DumpFormat::Csv { header: true, .. });
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
            plan,
            csv: CsvReader::new(delimiter),
            json: JsonSplitter::default(),
            // Only what can be looked up: e-mails and phones.
            scanner: Scanner::new(vec![
                Box::new(EmailRecognizer::new()),
                Box::new(MobilePhoneRecognizer::new()),
                Box::new(LandlineRecognizer::new()),
            ]),
            header_pending,
            shared_columns,
            last_line: 0,
            json_keys: std::collections::HashMap::new(),
            csv_events: Vec::new(),
            json_events: Vec::new(),
        }
    }

    /// The plan.
    pub fn plan(&self) -> &DumpPlan {
        &self.plan
    }

    /// Feeds one decoded line (1-based number, without its line ending).
    pub fn push_line(&mut self, line: u64, text: &str, out: &mut Vec<DumpEvent>) {
        self.last_line = line;
        match self.plan.format {
            DumpFormat::Csv { .. } => {
                let mut events = std::mem::take(&mut self.csv_events);
                self.csv.push(line, text, &mut events);
                self.csv_rows(&mut events, out);
                self.csv_events = events;
            }
            DumpFormat::Json => {
                let mut events = std::mem::take(&mut self.json_events);
                self.json.push(line, text, &mut events);
                self.json_rows(&mut events, out);
                self.json_events = events;
            }
            DumpFormat::Text => self.text_row(line, text, out),
        }
    }

    /// Ends the input.
    pub fn finish(&mut self, out: &mut Vec<DumpEvent>) {
        let mut csv_events = Vec::new();
        self.csv.finish(&mut csv_events);
        self.csv_rows(&mut csv_events, out);
        let mut json_events = Vec::new();
        self.json.finish(self.last_line, &mut json_events);
        self.json_rows(&mut json_events, out);
    }

    fn csv_rows(&mut self, events: &mut Vec<CsvEvent>, out: &mut Vec<DumpEvent>) {
        for event in events.drain(..) {
            match event {
                CsvEvent::Record { line, fields } => {
                    if self.header_pending {
                        self.header_pending = false;
                        continue;
                    }
                    let mut row = DumpRow {
                        line,
                        values: Vec::with_capacity(self.plan.columns.len()),
                    };
                    let mut fields = fields;
                    for (column, shared) in self.plan.columns.iter().zip(&self.shared_columns) {
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

    fn json_rows(&mut self, events: &mut Vec<JsonEvent>, out: &mut Vec<DumpEvent>) {
        for event in events.drain(..) {
            match event {
                JsonEvent::Object { line, value } => {
                    let mut values = Vec::new();
                    string_values(&value, &mut values);
                    let mut row = DumpRow {
                        line,
                        values: Vec::new(),
                    };
                    for (key, text) in &values {
                        let keyed = key.and_then(|key| {
                            *self
                                .json_keys
                                .entry(key.to_string())
                                .or_insert_with(|| role_from_header(key))
                        });
                        match keyed {
                            Some(role) => row.values.push((role, text.to_string())),
                            None => {
                                // Unnamed values count when they have an identifier's shape.
                                if let Some(role @ (ColumnRole::Email | ColumnRole::Phone)) =
                                    role_from_content(text)
                                {
                                    row.values.push((role, text.to_string()));
                                }
                            }
                        }
                    }
                    if row.may_have_lookup_key() {
                        out.push(DumpEvent::Row(row));
                    }
                }
                JsonEvent::Problem {
                    line,
                    last_line,
                    problem,
                } => out.push(DumpEvent::Problem(LineProblem {
                    line,
                    last_line,
                    kind: ProblemKind::Json(problem),
                })),
            }
        }
    }

    fn text_row(&mut self, line: u64, text: &str, out: &mut Vec<DumpEvent>) {
        if !text.contains('@') && !text.bytes().any(|b| b.is_ascii_digit()) && text.is_ascii() {
            return;
        }
        // Identifiers are normalised here already, to stop at the cap the way a caller's
        // `identifiers()` will.
        let mut identifiers = Identifiers::default();
        let mut row = DumpRow {
            line,
            values: Vec::new(),
        };
        for finding in self.scanner.scan(text) {
            let role = match finding.kind {
                PiiKind::Email => ColumnRole::Email,
                PiiKind::MobilePhone | PiiKind::Landline => ColumnRole::Phone,
                _ => continue,
            };
            identifiers.add(role, finding.text(text));
            row.values.push((role, finding.text(text).to_string()));
            if identifiers.is_full() {
                out.push(DumpEvent::Problem(LineProblem {
                    line,
                    last_line: line,
                    kind: ProblemKind::TooManyIdentifiers,
                }));
                break;
            }
        }
        if identifiers.has_lookup_key() {
            out.push(DumpEvent::Row(row));
        }
    }
}
