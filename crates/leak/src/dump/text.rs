//! Free text as a dump format: e-mails and phones found by the scanner, wherever they sit in
//! a line. The fallback when nothing else fits.

use super::format::{Confidence, Format, RowReader, Sample, SniffVerdict};
use super::{
    ColumnRole, DumpEvent, DumpFormat, DumpPlan, DumpRow, Identifiers, LineProblem, ProblemKind,
    RequestedFormat,
};
use crate::{EmailRecognizer, Error, LandlineRecognizer, MobilePhoneRecognizer, PiiKind, Scanner};

/// Free text.
#[derive(Debug)]
pub(crate) struct Text;

impl Format for Text {
    fn answers_to(&self, requested: RequestedFormat) -> bool {
        requested == RequestedFormat::Text
    }

    fn reads(&self, format: &DumpFormat) -> bool {
        *format == DumpFormat::Text
    }

    fn sniff(&self, sample: &Sample<'_>) -> Confidence {
        // Columns named by the operator mean the dump has columns.
        if sample.options.columns.is_some() {
            Confidence::No
        } else {
            Confidence::Fallback
        }
    }

    fn plan(&self, _sample: &Sample<'_>, _verdict: SniffVerdict) -> Result<DumpPlan, Error> {
        Ok(DumpPlan::simple(DumpFormat::Text))
    }

    fn reader(&self, _plan: &DumpPlan) -> Box<dyn RowReader> {
        Box::new(TextRows {
            // Only what can be looked up: e-mails and phones.
            scanner: Scanner::new(vec![
                Box::new(EmailRecognizer::new()),
                Box::new(MobilePhoneRecognizer::new()),
                Box::new(LandlineRecognizer::new()),
            ]),
        })
    }
}

/// Rows of free text: one per line with an e-mail or phone.
struct TextRows {
    scanner: Scanner,
}

impl RowReader for TextRows {
    fn push_line(&mut self, line: u64, text: &str, out: &mut Vec<DumpEvent>) {
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

    fn finish(&mut self, _last_line: u64, _out: &mut Vec<DumpEvent>) {}
}
