//! Drill results: the `report.json` files `haechi drill --out DIR` writes, one directory per
//! scenario (or per run, when the operator keeps them apart). The run's date is when the
//! report was written.

use std::path::Path;

use haechi_events::Timestamp;
use serde::Deserialize;

use crate::Error;
use crate::facts::{DrillFacts, DrillRun};

/// Reports read at most: a directory of years of weekly drills fits many times over.
const MAX_REPORTS: usize = 2_000;
/// A report larger than this is not one `haechi drill` wrote.
const MAX_REPORT_BYTES: u64 = 16 << 20;

#[derive(Deserialize)]
struct DrillReportFile {
    scenario: String,
    passed: bool,
    time_to_first_alert_secs: Option<f64>,
    time_to_containment_secs: Option<f64>,
    customers_exposed_before_containment: u64,
}

/// Every drill report under `dir` (depth two: `DIR/report.json`, `DIR/*/report.json`,
/// `DIR/*/*/report.json`), oldest first. A file that is not a drill report is skipped and
/// named in `unreadable`.
pub fn read_drills(dir: &Path) -> Result<DrillFacts, Error> {
    let mut facts = DrillFacts {
        directory: Some(dir.display().to_string()),
        ..DrillFacts::default()
    };
    let mut candidates = Vec::new();
    collect_reports(dir, 0, &mut candidates)?;
    candidates.sort();
    for path in candidates.into_iter().take(MAX_REPORTS) {
        match read_report(&path) {
            Ok(run) => facts.runs.push(run),
            Err(problem) => facts
                .unreadable
                .push(format!("{}: {problem}", path.display())),
        }
    }
    facts.runs.sort_by_key(|run| run.run_at);
    Ok(facts)
}

fn collect_reports(
    dir: &Path,
    depth: usize,
    found: &mut Vec<std::path::PathBuf>,
) -> Result<(), Error> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Io {
        path: dir.display().to_string(),
        source,
    })?;
    for entry in entries.filter_map(Result::ok) {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let path = entry.path();
        if kind.is_file() && entry.file_name() == "report.json" {
            found.push(path);
        } else if kind.is_dir() && depth < 2 {
            collect_reports(&path, depth + 1, found)?;
        }
    }
    Ok(())
}

fn read_report(path: &Path) -> Result<DrillRun, String> {
    let metadata = std::fs::metadata(path).map_err(|error| error.to_string())?;
    if metadata.len() > MAX_REPORT_BYTES {
        return Err(format!("larger than {MAX_REPORT_BYTES} bytes"));
    }
    let written = metadata
        .modified()
        .ok()
        .and_then(|modified| modified.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|since| Timestamp::from_micros(since.as_micros() as i64))
        .ok_or("no modification time")?;
    let bytes = std::fs::read(path).map_err(|error| error.to_string())?;
    let report: DrillReportFile =
        serde_json::from_slice(&bytes).map_err(|error| format!("not a drill report: {error}"))?;
    Ok(DrillRun {
        scenario: report.scenario,
        run_at: written,
        passed: report.passed,
        time_to_first_alert_secs: report.time_to_first_alert_secs,
        time_to_containment_secs: report.time_to_containment_secs,
        customers_exposed_before_containment: report.customers_exposed_before_containment,
    })
}
