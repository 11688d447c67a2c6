//! Drill results: the `report.json` files `haechi drill --out DIR` writes, one directory per
//! scenario (or per run, when the operator keeps them apart). A run is dated by the report's
//! own `run_at` (the real clock when the drill ran), or the file's modification time for a
//! report written before drills recorded it. The reports are the operator's files, not signed:
//! each is listed with its SHA-256, so an auditor can match it against the copy they were given.

use std::path::{Path, PathBuf};

use haechi_events::Timestamp;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::Error;
use crate::facts::{DrillFacts, DrillRun};

/// Reports read at most, the newest first: years of weekly drills fit many times over.
const MAX_REPORTS: usize = 2_000;
/// A report larger than this is not one `haechi drill` wrote.
const MAX_REPORT_BYTES: u64 = 16 << 20;
/// Clocks disagree a little; a report dated further ahead than this is refused.
const FUTURE_SLACK_SECS: i64 = 300;

#[derive(Deserialize)]
struct DrillReportFile {
    scenario: String,
    passed: bool,
    time_to_first_alert_secs: Option<f64>,
    time_to_containment_secs: Option<f64>,
    customers_exposed_before_containment: u64,
    #[serde(default)]
    run_at: Option<String>,
}

/// Every drill report under `dir` (`DIR/report.json`, `DIR/*/report.json`,
/// `DIR/*/*/report.json`), oldest first, as of `now`. A file that is not a drill report, or a
/// directory that cannot be read, is named in `unreadable` and the others are still read.
pub fn read_drills(dir: &Path, now: Timestamp) -> Result<DrillFacts, Error> {
    let mut facts = DrillFacts {
        directory: Some(dir.display().to_string()),
        ..DrillFacts::default()
    };
    std::fs::read_dir(dir).map_err(|source| Error::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let mut candidates = Vec::new();
    collect_reports(dir, 0, &mut candidates, &mut facts.unreadable);
    // The newest reports are the ones that count: bound the list from that end.
    candidates.sort_by_key(|(_, modified)| std::cmp::Reverse(*modified));
    for (path, modified) in candidates.into_iter().take(MAX_REPORTS) {
        match read_report(&path, modified, now) {
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
    found: &mut Vec<(PathBuf, Timestamp)>,
    unreadable: &mut Vec<String>,
) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) => {
            unreadable.push(format!("{} ({error})", dir.display()));
            return;
        }
    };
    for entry in entries.filter_map(Result::ok) {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let path = entry.path();
        if kind.is_file() && entry.file_name() == "report.json" {
            let modified = entry
                .metadata()
                .ok()
                .and_then(|metadata| metadata.modified().ok())
                .and_then(|modified| modified.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|since| Timestamp::from_micros(since.as_micros() as i64))
                .unwrap_or(Timestamp::EPOCH);
            found.push((path, modified));
        } else if kind.is_dir() && depth < 2 {
            collect_reports(&path, depth + 1, found, unreadable);
        }
    }
}

fn read_report(path: &Path, modified: Timestamp, now: Timestamp) -> Result<DrillRun, String> {
    let metadata = std::fs::metadata(path).map_err(|error| error.to_string())?;
    if metadata.len() > MAX_REPORT_BYTES {
        return Err(format!("larger than {MAX_REPORT_BYTES} bytes"));
    }
    let bytes = std::fs::read(path).map_err(|error| error.to_string())?;
    let report: DrillReportFile =
        serde_json::from_slice(&bytes).map_err(|error| format!("not a drill report: {error}"))?;
    let run_at = match &report.run_at {
        Some(text) => {
            Timestamp::parse(text).ok_or_else(|| format!("run_at {text:?} is not a time"))?
        }
        None => modified,
    };
    if run_at.as_secs() > now.as_secs() + FUTURE_SLACK_SECS {
        return Err(format!("dated {} (in the future)", run_at.to_rfc3339()));
    }
    Ok(DrillRun {
        scenario: report.scenario,
        run_at,
        passed: report.passed,
        time_to_first_alert_secs: report.time_to_first_alert_secs,
        time_to_containment_secs: report.time_to_containment_secs,
        customers_exposed_before_containment: report.customers_exposed_before_containment,
        digest: hex::encode(Sha256::digest(&bytes)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(scenario: &str, run_at: Option<&str>) -> String {
        serde_json::json!({
            "scenario": scenario, "passed": true, "time_to_first_alert_secs": 1.0,
            "time_to_containment_secs": 2.0, "customers_exposed_before_containment": 0,
            "run_at": run_at,
        })
        .to_string()
    }

    #[test]
    fn reports_are_dated_by_their_run_and_the_bad_ones_named() {
        let dir = tempfile::tempdir().unwrap();
        // The files' own times are the real clock's.
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        let now = Timestamp::from_secs(since.as_secs() as i64);
        let day = std::time::Duration::from_secs(86_400);
        let month_ago = now.minus(30 * day).to_rfc3339();
        let next_year = now.plus(400 * day).to_rfc3339();
        for (name, text) in [
            ("coupang", report("coupang", Some(&month_ago))),
            ("scraper", report("scraper", None)),
            ("future", report("insider", Some(&next_year))),
            ("broken", "{not json".to_string()),
        ] {
            std::fs::create_dir(dir.path().join(name)).unwrap();
            std::fs::write(dir.path().join(name).join("report.json"), text).unwrap();
        }
        let facts = read_drills(dir.path(), now).unwrap();
        let scenarios: Vec<&str> = facts.runs.iter().map(|run| run.scenario.as_str()).collect();
        assert_eq!(scenarios.len(), 2, "{facts:?}");
        let coupang = facts
            .runs
            .iter()
            .find(|run| run.scenario == "coupang")
            .unwrap();
        assert_eq!(coupang.run_at.to_rfc3339(), month_ago);
        assert_eq!(coupang.digest.len(), 64);
        assert_eq!(facts.unreadable.len(), 2, "{:?}", facts.unreadable);
        assert!(
            facts
                .unreadable
                .iter()
                .any(|line| line.contains("in the future"))
        );
        assert!(
            facts
                .unreadable
                .iter()
                .any(|line| line.contains("not a drill report"))
        );
    }
}
