//! JSON dumps, one object per line (JSONL) or a top-level array of objects spread over any
//! number of lines: a small scanner finds where each top-level object starts and ends, so the
//! file is never parsed (or held) whole. JSON and JSONL are one format here: the same
//! scanner reads objects one per line, in an array, or both mixed.

use std::collections::HashMap;

use serde_json::Value;

use super::format::{Confidence, Format, RowReader, Sample, SniffVerdict};
use super::{
    ColumnRole, DumpEvent, DumpFormat, DumpPlan, DumpRow, LineProblem, ProblemKind,
    RequestedFormat, role_from_content, role_from_header,
};
use crate::Error;

/// Largest object read, in bytes; larger ones are reported and skipped.
pub const MAX_OBJECT_BYTES: usize = 1024 * 1024;

/// What the scanner produced.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum JsonEvent {
    /// A parsed object and the line it started on.
    Object { line: u64, value: Value },
    /// A problem over some lines.
    Problem {
        line: u64,
        last_line: u64,
        problem: JsonProblem,
    },
}

/// What is wrong with a stretch of a JSON dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonProblem {
    /// An object does not parse; `column` is where the parser stopped, counted in characters
    /// on the line the object started on (or on the joined lines of a multi-line object).
    Syntax {
        /// 1-based position of the error within the object's text.
        column: usize,
    },
    /// An object is larger than [`MAX_OBJECT_BYTES`].
    TooLarge,
    /// Text outside any object that is not `[`, `]`, `,` or whitespace.
    OutsideObject,
    /// The file ends inside an object.
    Unterminated,
}

impl JsonProblem {
    /// A sentence for the operator, without any of the dump's text.
    pub fn describe(self) -> String {
        match self {
            Self::Syntax { column } => {
                format!("not valid JSON (syntax error near character {column} of the object)")
            }
            Self::TooLarge => format!(
                "JSON object larger than {} KiB; skipped",
                MAX_OBJECT_BYTES / 1024
            ),
            Self::OutsideObject => "text outside any JSON object; skipped".to_string(),
            Self::Unterminated => "the file ends inside a JSON object".to_string(),
        }
    }
}

/// Splits a stream of lines into top-level JSON objects.
#[derive(Debug, Default)]
pub(crate) struct JsonSplitter {
    buffer: String,
    start_line: u64,
    depth: usize,
    in_string: bool,
    escaped: bool,
    oversized: bool,
    /// Line of the last reported stray text, so a run of garbage is reported once per line.
    reported_outside: Option<u64>,
}

impl JsonSplitter {
    /// Feeds one physical line (without its line ending).
    pub(crate) fn push(&mut self, line: u64, text: &str, out: &mut Vec<JsonEvent>) {
        let mut segment_start: Option<usize> = if self.depth > 0 { Some(0) } else { None };
        for (offset, c) in text.char_indices() {
            if self.depth == 0 {
                if self.between_objects(line, c, out) {
                    segment_start = Some(offset);
                }
            } else if self.in_string {
                self.inside_string(c);
            } else if self.inside_object(c) {
                let start = segment_start.take().unwrap_or(0);
                self.append(&text[start..offset + c.len_utf8()]);
                self.complete(line, out);
            }
        }
        if let Some(start) = segment_start
            && self.depth > 0
        {
            self.append(&text[start..]);
            self.append("\n");
        }
    }

    // The three steps of `push`, called for every character: `#[inline]` keeps them as fast
    // as the one loop they were.

    /// A character outside any object; returns whether it opens one.
    #[inline]
    fn between_objects(&mut self, line: u64, c: char, out: &mut Vec<JsonEvent>) -> bool {
        match c {
            '{' => {
                self.depth = 1;
                self.start_line = line;
                self.buffer.clear();
                self.oversized = false;
                return true;
            }
            '[' | ']' | ',' => {}
            c if c.is_whitespace() || c == '\u{FEFF}' => {}
            _ => {
                if self.reported_outside != Some(line) {
                    self.reported_outside = Some(line);
                    out.push(JsonEvent::Problem {
                        line,
                        last_line: line,
                        problem: JsonProblem::OutsideObject,
                    });
                }
            }
        }
        false
    }

    /// A character inside a string of an object.
    #[inline]
    fn inside_string(&mut self, c: char) {
        if self.escaped {
            self.escaped = false;
        } else if c == '\\' {
            self.escaped = true;
        } else if c == '"' {
            self.in_string = false;
        }
    }

    /// A character inside an object, outside strings; returns whether it closes the
    /// top-level object.
    #[inline]
    fn inside_object(&mut self, c: char) -> bool {
        match c {
            '"' => self.in_string = true,
            '{' | '[' => self.depth += 1,
            '}' | ']' => {
                self.depth -= 1;
                return self.depth == 0;
            }
            _ => {}
        }
        false
    }

    /// Ends the input.
    pub(crate) fn finish(&mut self, last_line: u64, out: &mut Vec<JsonEvent>) {
        if self.depth > 0 {
            out.push(JsonEvent::Problem {
                line: self.start_line,
                last_line,
                problem: JsonProblem::Unterminated,
            });
            self.depth = 0;
            self.buffer.clear();
        }
    }

    fn append(&mut self, text: &str) {
        if self.oversized {
            return;
        }
        if self.buffer.len() + text.len() > MAX_OBJECT_BYTES {
            self.oversized = true;
            self.buffer = String::new();
        } else {
            self.buffer.push_str(text);
        }
    }

    fn complete(&mut self, line: u64, out: &mut Vec<JsonEvent>) {
        self.in_string = false;
        self.escaped = false;
        if self.oversized {
            self.oversized = false;
            out.push(JsonEvent::Problem {
                line: self.start_line,
                last_line: line,
                problem: JsonProblem::TooLarge,
            });
            return;
        }
        let text = std::mem::take(&mut self.buffer);
        match serde_json::from_str::<Value>(&text) {
            Ok(value) => out.push(JsonEvent::Object {
                line: self.start_line,
                value,
            }),
            Err(error) => out.push(JsonEvent::Problem {
                line: self.start_line,
                last_line: line,
                problem: JsonProblem::Syntax {
                    column: error.column(),
                },
            }),
        }
    }
}

/// Every string value of `value` with the key it sits under (the innermost object key;
/// array items inherit their array's key), depth-first. Numbers are included as text: phone
/// numbers are sometimes stored as numbers.
pub(crate) fn string_values<'v>(value: &'v Value, out: &mut Vec<(Option<&'v str>, String)>) {
    fn walk<'v>(
        value: &'v Value,
        key: Option<&'v str>,
        depth: usize,
        out: &mut Vec<(Option<&'v str>, String)>,
    ) {
        if depth > 32 {
            return;
        }
        match value {
            Value::String(text) => out.push((key, text.clone())),
            Value::Number(number) => out.push((key, number.to_string())),
            Value::Array(items) => {
                for item in items {
                    walk(item, key, depth + 1, out);
                }
            }
            Value::Object(map) => {
                for (name, item) in map {
                    walk(item, Some(name), depth + 1, out);
                }
            }
            Value::Bool(_) | Value::Null => {}
        }
    }
    walk(value, None, 0, out);
}

/// JSON objects, one per line or in arrays.
#[derive(Debug)]
pub(crate) struct Json;

impl Format for Json {
    fn answers_to(&self, requested: RequestedFormat) -> bool {
        requested == RequestedFormat::Json
    }

    fn reads(&self, format: &DumpFormat) -> bool {
        *format == DumpFormat::Json
    }

    fn sniff(&self, sample: &Sample<'_>) -> Confidence {
        let Some(first) = sample.non_blank.first() else {
            return Confidence::No;
        };
        let start = first.trim_start();
        if start.starts_with('{') || (start.starts_with('[') && !start.starts_with("[[")) {
            Confidence::Certain
        } else {
            Confidence::No
        }
    }

    fn plan(&self, _sample: &Sample<'_>, _verdict: SniffVerdict) -> Result<DumpPlan, Error> {
        Ok(DumpPlan::simple(DumpFormat::Json))
    }

    fn reader(&self, _plan: &DumpPlan) -> Box<dyn RowReader> {
        Box::new(JsonRows::default())
    }
}

/// Rows of a JSON dump: one per object, its values under keys that name a role, and
/// unnamed values with an identifier's shape.
#[derive(Default)]
struct JsonRows {
    splitter: JsonSplitter,
    /// Keys of JSON objects already classified, so each distinct key is judged once.
    keys: HashMap<String, Option<ColumnRole>>,
    events: Vec<JsonEvent>,
}

impl RowReader for JsonRows {
    fn push_line(&mut self, line: u64, text: &str, out: &mut Vec<DumpEvent>) {
        self.splitter.push(line, text, &mut self.events);
        self.hand_on(out);
    }

    fn finish(&mut self, last_line: u64, out: &mut Vec<DumpEvent>) {
        self.splitter.finish(last_line, &mut self.events);
        self.hand_on(out);
    }
}

impl JsonRows {
    /// Turns the splitter's objects into rows, its problems into line problems.
    fn hand_on(&mut self, out: &mut Vec<DumpEvent>) {
        for event in self.events.drain(..) {
            match event {
                JsonEvent::Object { line, value } => {
                    let row = row_of(&mut self.keys, line, &value);
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
}

/// The row of an object starting on `line`; `keys` remembers the role of each key seen.
fn row_of(keys: &mut HashMap<String, Option<ColumnRole>>, line: u64, value: &Value) -> DumpRow {
    let mut values = Vec::new();
    string_values(value, &mut values);
    let mut row = DumpRow {
        line,
        values: Vec::new(),
    };
    for (key, text) in &values {
        let keyed = key.and_then(|key| {
            *keys
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
    row
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]
mod tests {
    use super::*;

    fn split(text: &str) -> Vec<JsonEvent> {
        let mut splitter = JsonSplitter::default();
        let mut out = Vec::new();
        let mut last = 0;
        for (index, line) in text.split('\n').enumerate() {
            last = index as u64 + 1;
            splitter.push(last, line, &mut out);
        }
        splitter.finish(last, &mut out);
        out
    }

    fn lines(events: &[JsonEvent]) -> Vec<(u64, bool)> {
        events
            .iter()
            .map(|event| match event {
                JsonEvent::Object { line, .. } => (*line, true),
                JsonEvent::Problem { line, .. } => (*line, false),
            })
            .collect()
    }

    #[test]
    fn jsonl_and_arrays_over_lines() {
        let events = split("{\"a\":1}\n{\"b\":\"}{\"}\n");
        assert_eq!(lines(&events), [(1, true), (2, true)]);
        let events = split(
            "[\n  {\n    \"email\": \"x@y.kr\",\n    \"tags\": [1, 2]\n  },\n  {\"n\": 2}\n]",
        );
        assert_eq!(lines(&events), [(2, true), (6, true)]);
    }

    #[test]
    fn problems_name_their_lines() {
        let events = split("{\"a\":1,}\nnot json\n{\"ok\":true}\n{\"open\": ");
        assert_eq!(
            lines(&events),
            [(1, false), (2, false), (3, true), (4, false)]
        );
        assert!(matches!(
            events[3],
            JsonEvent::Problem {
                problem: JsonProblem::Unterminated,
                ..
            }
        ));
    }

    #[test]
    fn oversized_objects_are_skipped_without_being_held() {
        let big = format!(
            "{{\"x\":\"{}\"}}\n{{\"y\":1}}",
            "a".repeat(MAX_OBJECT_BYTES + 10)
        );
        let events = split(&big);
        assert!(matches!(
            events[0],
            JsonEvent::Problem {
                problem: JsonProblem::TooLarge,
                ..
            }
        ));
        assert_eq!(lines(&events)[1], (2, true));
    }

    #[test]
    fn string_values_keep_their_keys() {
        let value: Value =
            serde_json::from_str(r#"{"user":{"email":"a@b.kr","phones":["010",1]},"x":null}"#)
                .unwrap();
        let mut out = Vec::new();
        string_values(&value, &mut out);
        assert_eq!(
            out,
            [
                (Some("email"), "a@b.kr".to_string()),
                (Some("phones"), "010".to_string()),
                (Some("phones"), "1".to_string())
            ]
        );
    }
}
