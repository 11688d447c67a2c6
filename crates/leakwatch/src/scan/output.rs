//! How `leak scan` prints a finding: where it is, what kind, how sure, masked unless told
//! otherwise, and why.

use std::collections::BTreeMap;
use std::io::Write;

use haechi_leak::{Finding, Reason, mask};

use super::order::ScanChunk;
use super::{FindingFormat, Shown};
use crate::Error;
use crate::words::join;

/// The findings' printer and counts.
pub(super) struct ScanOutput<W> {
    pub(super) name: String,
    pub(super) shown: Shown,
    pub(super) format: FindingFormat,
    pub(super) stdout: W,
    pub(super) findings: u64,
    pub(super) by_kind: BTreeMap<&'static str, u64>,
}

impl<W: Write> ScanOutput<W> {
    pub(super) fn write_chunk(
        &mut self,
        chunk: &ScanChunk,
        findings: &[Finding],
    ) -> Result<(), Error> {
        for finding in findings {
            self.write(chunk, finding)?;
        }
        Ok(())
    }

    fn write(&mut self, chunk: &ScanChunk, finding: &Finding) -> Result<(), Error> {
        let index = chunk
            .starts
            .partition_point(|(offset, _)| *offset <= finding.start)
            .saturating_sub(1);
        let (line_start, line) = chunk.starts.get(index).copied().unwrap_or((0, 0));
        let column = chunk
            .text
            .get(line_start..finding.start)
            .map_or(0, |before| before.chars().count())
            + 1;
        let shown = match self.shown {
            Shown::Revealed => finding.text(&chunk.text).to_string(),
            Shown::Masked => mask(&chunk.text, finding),
        };
        self.findings += 1;
        *self.by_kind.entry(finding.kind.label()).or_default() += 1;
        match self.format {
            FindingFormat::Text => writeln!(
                self.stdout,
                "{}:{line}:{column}: {} {:.2} {shown} ({})",
                self.name,
                finding.kind,
                finding.confidence,
                join(finding.reasons.iter().map(reason_text), ", ")
            )?,
            FindingFormat::Json => {
                serde_json::to_writer(
                    &mut self.stdout,
                    &serde_json::json!({
                        "line": line,
                        "column": column,
                        "kind": finding.kind,
                        "confidence": (finding.confidence * 100.0).round() / 100.0,
                        "text": shown,
                        "masked": self.shown == Shown::Masked,
                        "reasons": finding.reasons,
                    }),
                )?;
                writeln!(self.stdout)?;
            }
        }
        Ok(())
    }
}

fn reason_text(reason: &Reason) -> String {
    match serde_json::to_value(reason) {
        Ok(serde_json::Value::Object(map)) => {
            let name = map.get("reason").and_then(|v| v.as_str()).unwrap_or("?");
            match map.get("detail").and_then(|v| v.as_str()) {
                Some(detail) => format!("{name}: {detail}"),
                None => name.to_string(),
            }
        }
        _ => format!("{reason:?}"),
    }
}
