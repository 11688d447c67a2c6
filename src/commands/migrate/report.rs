//! What the operator sees of a move: a progress bar per table while it runs (rows and rows/s;
//! stderr, only on a terminal), then the summary on stdout — rows per table on both sides,
//! what this run inserted, the audit history, and one verification line.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use haechi_store::transfer::{Claim, Phase, TransferProgress, TransferReport};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use super::audit::AuditOutcome;

/// Progress bars, one per table and phase, and when each phase began.
pub(super) struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<(Phase, &'static str), ProgressBar>>,
    copy_began: Mutex<Option<Instant>>,
    verify_began: Mutex<Option<Instant>>,
}

impl Bars {
    pub fn new() -> Self {
        Bars {
            multi: MultiProgress::new(),
            bars: Mutex::new(HashMap::new()),
            copy_began: Mutex::new(None),
            verify_began: Mutex::new(None),
        }
    }

    /// How long the copy and the comparison took, the comparison ending now.
    pub fn times(&self) -> (Duration, Duration) {
        let now = Instant::now();
        let copy_began = (*lock(&self.copy_began)).unwrap_or(now);
        let verify_began = (*lock(&self.verify_began)).unwrap_or(now);
        (
            verify_began.duration_since(copy_began),
            now.duration_since(verify_began),
        )
    }

    /// Takes the bars off the terminal.
    pub fn clear(&self) {
        let _ = self.multi.clear();
    }

    fn bar(&self, phase: Phase, table: &'static str) -> Option<ProgressBar> {
        lock(&self.bars).get(&(phase, table)).cloned()
    }
}

impl TransferProgress for Bars {
    fn started(&self, phase: Phase, table: &'static str, rows: u64) {
        let began = match phase {
            Phase::Copy => &self.copy_began,
            Phase::Verify => &self.verify_began,
        };
        lock(began).get_or_insert_with(Instant::now);
        let bar = self.multi.add(ProgressBar::new(rows)).with_style(
            ProgressStyle::with_template(
                "{prefix:>28} {wide_bar} {pos:>9}/{len:9} rows {per_sec:>14}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let verb = match phase {
            Phase::Copy => "copy",
            Phase::Verify => "compare",
        };
        bar.set_prefix(format!("{verb} {table}"));
        lock(&self.bars).insert((phase, table), bar);
    }

    fn advanced(&self, phase: Phase, table: &'static str, rows: u64) {
        if let Some(bar) = self.bar(phase, table) {
            bar.inc(rows);
        }
    }

    fn finished(&self, phase: Phase, table: &'static str) {
        if let Some(bar) = self.bar(phase, table) {
            bar.finish();
        }
    }
}

/// A lock whose holder cannot have panicked in a way that matters for progress display.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// How long each part of a move took.
pub(super) struct Timings {
    /// Copying the rows.
    pub copy: Duration,
    /// Counting and digesting both sides.
    pub compare: Duration,
    /// Moving (or verifying in place) and verifying the audit history.
    pub audit: Duration,
}

/// Prints the summary of a move into `shown`.
pub(super) fn print(shown: &str, moved: &TransferReport, timings: &Timings, audit: &AuditOutcome) {
    let run = match moved.claim {
        Claim::Fresh => "first run",
        Claim::Resumed { finished: false } => "resumed an interrupted run",
        Claim::Resumed { finished: true } => "repeated a finished move",
    };
    println!("moved into {shown} ({run})");
    println!(
        "{:<24} {:>12} {:>10} {:>10} {:>12}  CONTENT",
        "TABLE", "SOURCE ROWS", "INSERTED", "PRESENT", "TARGET ROWS"
    );
    let mut handled = 0;
    for table in &moved.tables {
        handled += table.copied.inserted + table.copied.present;
        println!(
            "{:<24} {:>12} {:>10} {:>10} {:>12}  {}",
            table.table,
            table.source.rows,
            table.copied.inserted,
            table.copied.present,
            table.target.rows,
            if table.matches() { "same" } else { "DIFFERENT" }
        );
    }
    let seconds = timings.copy.as_secs_f64();
    let rate = if seconds > 0.0 {
        handled as f64 / seconds
    } else {
        0.0
    };
    println!(
        "rows: {handled} copied or checked in {seconds:.1} s ({rate:.0} rows/s); both sides \
         compared in {:.1} s",
        timings.compare.as_secs_f64()
    );
    for line in &audit.lines {
        println!("{line}");
    }
    println!("audit: done in {:.1} s", timings.audit.as_secs_f64());
    let differing: Vec<&str> = moved
        .tables
        .iter()
        .filter(|table| !table.matches())
        .map(|table| table.table)
        .collect();
    match (differing.is_empty(), audit.verified) {
        (true, true) => println!(
            "verification: OK: all {} tables hold the same rows on both sides (counts and \
             SHA-256 content digests), and the audit chain verifies",
            moved.tables.len()
        ),
        _ => {
            let mut problems = Vec::new();
            if !differing.is_empty() {
                problems.push(format!("tables differ: {}", differing.join(", ")));
            }
            if !audit.verified {
                problems.push("the audit chain does not verify".to_string());
            }
            println!("verification: FAILED: {}", problems.join("; "));
        }
    }
}
