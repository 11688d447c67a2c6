//! Rendering a scope: a table for people, JSON for tooling, and the per-customer list as CSV
//! or JSON lines (with each customer's contact channel for the notice, when looked up).

use std::io::{self, Write};
use std::path::Path;

use serde::Serialize;

use crate::alert::AlertSource;
use crate::custody::Custody;
use crate::{Error, Exposure, Scope, Summary};

/// The format of the per-customer list, chosen by the output file's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListFormat {
    /// `.csv`: a header line, then one row per customer; fields joined by `;`.
    Csv,
    /// `.jsonl`: one JSON object per line.
    JsonLines,
}

impl ListFormat {
    /// The format a path's extension names (`.csv`, `.jsonl`/`.ndjson`).
    pub fn of_path(path: &Path) -> Result<Self, Error> {
        match path.extension().and_then(|extension| extension.to_str()) {
            Some("csv") => Ok(ListFormat::Csv),
            Some("jsonl" | "ndjson") => Ok(ListFormat::JsonLines),
            _ => Err(Error::bad_input(
                format!("--out {}", path.display()),
                "the file name must end in .csv or .jsonl",
            )),
        }
    }
}

/// How a customer can be told: the channels on record, as shown to the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Contact {
    /// E-mail (masked unless the notice export was asked for).
    pub email: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Why there is no channel (`not_found`: the record was crypto-shredded or never in this
    /// vault), if there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing: Option<String>,
}

/// Writes one row per customer; `contacts`, when given, has one entry per customer in the same
/// order.
pub fn write_list(
    format: ListFormat,
    customers: &[Exposure],
    contacts: Option<&[Contact]>,
    out: &mut dyn Write,
) -> io::Result<()> {
    match format {
        ListFormat::Csv => {
            let mut header = String::from("customer_id,fields,first_exposure,last_exposure,reads");
            if contacts.is_some() {
                header.push_str(",email,phone,contact_missing");
            }
            writeln!(out, "{header}")?;
            for (index, row) in customers.iter().enumerate() {
                write!(
                    out,
                    "{},{},{},{},{}",
                    csv(&row.customer_id),
                    csv(&row.fields.join(";")),
                    row.first,
                    row.last,
                    row.reads
                )?;
                if let Some(contact) = contacts.and_then(|contacts| contacts.get(index)) {
                    write!(
                        out,
                        ",{},{},{}",
                        csv(contact.email.as_deref().unwrap_or("")),
                        csv(contact.phone.as_deref().unwrap_or("")),
                        csv(contact.missing.as_deref().unwrap_or(""))
                    )?;
                }
                writeln!(out)?;
            }
        }
        ListFormat::JsonLines => {
            // Written field by field: serde's `flatten` buffers every row through a map, which
            // costs more than the scan at half a million customers.
            // Ids, field names and times need no escaping; anything else goes through serde.
            let text = |out: &mut dyn Write, value: &str| -> io::Result<()> {
                let plain = value
                    .bytes()
                    .all(|byte| (0x20..0x7f).contains(&byte) && byte != b'"' && byte != b'\\');
                if plain {
                    out.write_all(b"\"")?;
                    out.write_all(value.as_bytes())?;
                    out.write_all(b"\"")
                } else {
                    serde_json::to_writer(&mut *out, value).map_err(io::Error::other)
                }
            };
            for (index, row) in customers.iter().enumerate() {
                out.write_all(b"{\"customer_id\":")?;
                text(out, &row.customer_id)?;
                out.write_all(b",\"fields\":[")?;
                for (position, field) in row.fields.iter().enumerate() {
                    if position > 0 {
                        out.write_all(b",")?;
                    }
                    text(out, field)?;
                }
                out.write_all(b"],\"first\":")?;
                text(out, &row.first)?;
                out.write_all(b",\"last\":")?;
                text(out, &row.last)?;
                write!(out, ",\"reads\":{}", row.reads)?;
                if let Some(contact) = contacts.and_then(|contacts| contacts.get(index)) {
                    out.write_all(b",\"contact\":")?;
                    serde_json::to_writer(&mut *out, contact).map_err(io::Error::other)?;
                }
                out.write_all(b"}\n")?;
            }
        }
    }
    Ok(())
}

/// A CSV cell, quoted when it must be (RFC 4180), with leading formula characters defused so a
/// spreadsheet never runs a value as a formula.
fn csv(value: &str) -> String {
    let defused = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if defused.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

/// The scope as JSON: summary and custody, and the customers unless `list_written_to` names
/// the file they went to.
pub fn json(scope: &Scope, list_written_to: Option<&Path>) -> serde_json::Value {
    let mut value = serde_json::json!({
        "summary": scope.summary,
        "custody": scope.custody,
    });
    if let Some(object) = value.as_object_mut() {
        match list_written_to {
            Some(path) => {
                object.insert(
                    "customers_file".into(),
                    serde_json::Value::String(path.display().to_string()),
                );
            }
            None => {
                object.insert(
                    "customers".into(),
                    serde_json::to_value(&scope.customers).unwrap_or_default(),
                );
            }
        }
    }
    value
}

/// The scope for people: the summary, per-field counts, the timeline, the custody totals, and
/// the first `show` customers.
pub fn table(scope: &Scope, show: usize) -> String {
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    // With --alert the reader must see which indicators were derived before the numbers.
    if let Some(alert) = &scope.custody.query.alert {
        alert_lines(alert, &mut line);
    }
    summary_lines(&scope.summary, &mut line);
    if show > 0 && !scope.customers.is_empty() {
        customer_lines(&scope.customers, show, &mut line);
    }
    custody_lines(&scope.custody, &mut line);
    out
}

/// The alert the indicators came from: which it gave, which of its fields it could not.
fn alert_lines(alert: &AlertSource, line: &mut impl FnMut(String)) {
    line(format!(
        "alert               {} ({})",
        alert.id, alert.rule_id
    ));
    for indicator in &alert.indicators {
        line(format!(
            "  indicator         {} {}",
            indicator.kind, indicator.value
        ));
    }
    for skipped in &alert.skipped {
        line(format!(
            "  not used          {} {} ({})",
            skipped.field, skipped.value, skipped.reason
        ));
    }
    line(String::new());
}

/// The totals, the per-field counts and the timeline.
fn summary_lines(summary: &Summary, line: &mut impl FnMut(String)) {
    line(format!("customers exposed   {}", summary.customers));
    line(format!("records read        {}", summary.records));
    if summary.records_without_customer > 0 {
        line(format!(
            "  without customer  {}",
            summary.records_without_customer
        ));
    }
    line(format!(
        "first exposure      {}",
        summary.first_exposure.as_deref().unwrap_or("-")
    ));
    line(format!(
        "last exposure       {}",
        summary.last_exposure.as_deref().unwrap_or("-")
    ));
    if !summary.fields.is_empty() {
        line(String::new());
        line(format!("{:<16}{:>12}{:>12}", "field", "customers", "reads"));
        for (name, count) in &summary.fields {
            line(format!(
                "{name:<16}{:>12}{:>12}",
                count.customers, count.reads
            ));
        }
    }
    if !summary.timeline.is_empty() {
        line(String::new());
        line(format!(
            "{:<12}{:>12}{:>12}{:>12}",
            "day", "reads", "customers", "new"
        ));
        for day in &summary.timeline {
            line(format!(
                "{:<12}{:>12}{:>12}{:>12}",
                day.day, day.reads, day.customers, day.new_customers
            ));
        }
    }
}

/// The first `show` customers, and how many more there are.
fn customer_lines(customers: &[Exposure], show: usize, line: &mut impl FnMut(String)) {
    line(String::new());
    line(format!(
        "{:<34} {:<40} {:<28} {:>6}",
        "customer", "fields", "first", "reads"
    ));
    for row in customers.iter().take(show) {
        line(format!(
            "{:<34} {:<40} {:<28} {:>6}",
            row.customer_id,
            row.fields.join(","),
            row.first,
            row.reads
        ));
    }
    if customers.len() > show {
        line(format!(
            "… {} more (--out FILE for the full list)",
            customers.len() - show
        ));
    }
}

/// The custody totals, a warning for seqs no source holds, and the digests.
fn custody_lines(custody: &Custody, line: &mut impl FnMut(String)) {
    line(String::new());
    line(format!(
        "custody: {} files consulted ({} skipped by day), {} of {} row groups read, live log: {}",
        custody.files.len(),
        custody.files_skipped_by_day.len(),
        custody.row_groups_read,
        custody.row_groups_total,
        custody
            .live_log
            .as_ref()
            .map_or("not read".to_string(), |live| format!(
                "{} records",
                live.records
            ))
    ));
    if !custody.coverage.gaps.is_empty() {
        line(format!(
            "WARNING: seqs held by no source: {:?} (an archive directory missing from --archive?)",
            custody.coverage.gaps
        ));
    }
    for (node, coverage) in &custody.coverage_by_node {
        if !coverage.gaps.is_empty() {
            line(format!(
                "WARNING: seqs of node {node} held by no source: {:?} (an archive directory \
                 missing?)",
                coverage.gaps
            ));
        }
    }
    line(format!("query sha256   {}", custody.query_sha256));
    line(format!("result sha256  {}", custody.result_sha256));
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_defused() {
        assert_eq!(csv("c0123"), "c0123");
        assert_eq!(csv("a,b"), "\"a,b\"");
        assert_eq!(csv("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv("=cmd()"), "'=cmd()");
    }

    #[test]
    fn json_lines_are_json() {
        let rows = vec![Exposure {
            customer_id: "c1\"x".into(),
            fields: vec!["email".into(), "name".into()],
            first: "2025-06-01T00:00:00.000000Z".into(),
            last: "2025-06-01T00:00:01.000000Z".into(),
            reads: 2,
        }];
        let mut out = Vec::new();
        write_list(ListFormat::JsonLines, &rows, None, &mut out).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(value["customer_id"], "c1\"x");
        assert_eq!(value["fields"][1], "name");
        assert_eq!(value["reads"], 2);
    }

    #[test]
    fn list_format_follows_the_extension() {
        assert_eq!(
            ListFormat::of_path(Path::new("a.csv")).unwrap(),
            ListFormat::Csv
        );
        assert_eq!(
            ListFormat::of_path(Path::new("a.jsonl")).unwrap(),
            ListFormat::JsonLines
        );
        assert!(ListFormat::of_path(Path::new("a.txt")).is_err());
    }
}
