//! The `--out` file of `leak match`: the matched customers by id, with their fields,
//! confidence, rows and line numbers — nothing of the dump.

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};

use haechi_leak::matching::MatchReport;

use crate::Error;
use crate::words::join;

/// The `--out` file's format, by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutFormat {
    /// `customer_id,confidence,fields,rows,lines` with a header.
    Csv,
    /// One JSON object per customer.
    Jsonl,
}

/// Where and how to write the matched customers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutFile {
    path: PathBuf,
    format: OutFormat,
}

impl OutFile {
    /// The file at `path`, its format told by its extension (`.csv`, or `.jsonl`, `.json`,
    /// `.ndjson`).
    ///
    /// # Errors
    /// [`Error::OutExtension`] for any other extension.
    pub fn new(path: PathBuf) -> Result<Self, Error> {
        let format = match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("csv") => OutFormat::Csv,
            Some("jsonl" | "json" | "ndjson") => OutFormat::Jsonl,
            _ => return Err(Error::OutExtension),
        };
        Ok(Self { path, format })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the matched customers of `report`.
    pub(crate) fn write(&self, report: &MatchReport) -> Result<(), Error> {
        let file = File::create(&self.path).map_err(|source| Error::CreateOut {
            path: self.path.display().to_string(),
            source,
        })?;
        let mut out = BufWriter::new(file);
        if self.format == OutFormat::Csv {
            writeln!(out, "customer_id,confidence,fields,rows,lines")?;
        }
        for customer in report.customers() {
            let fields: Vec<&str> = customer.fields().iter().map(|f| f.as_str()).collect();
            match self.format {
                OutFormat::Csv => writeln!(
                    out,
                    "{},{},{},{},{}",
                    customer.customer_id(),
                    customer.confidence(),
                    fields.join(";"),
                    customer.rows(),
                    join(customer.lines().iter(), ";"),
                )?,
                OutFormat::Jsonl => {
                    serde_json::to_writer(
                        &mut out,
                        &serde_json::json!({
                            "customer_id": customer.customer_id(),
                            "confidence": customer.confidence(),
                            "fields": fields,
                            "rows": customer.rows(),
                            "lines": customer.lines(),
                        }),
                    )?;
                    writeln!(out)?;
                }
            }
        }
        out.flush()?;
        Ok(())
    }
}
