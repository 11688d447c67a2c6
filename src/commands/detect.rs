//! `haechi detect`: hunting with the rule pack over history (`replay`) and checking rule
//! files (`check`). Nothing here acts: the actions an alert names are what *would* have been
//! done.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use haechi_audit::AuditRecord;
use haechi_detect::{ActionKind, Alert, AlertBook, Engine, Limits, NoState};
use haechi_incident::{Incident, IncidentWrite, group_alerts};

use crate::commands::incident::incident_summary;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::Outcome;
use crate::commands::init_quiet_logging;
use crate::config::Config;
use crate::detection::configured_rules;
use haechi_respond::pipeline::is_engine_input;

/// `haechi detect …`
#[derive(Debug, Subcommand)]
pub enum DetectAction {
    /// Run the rule pack over Parquet archives and/or the live audit log, as fast as the disk
    /// allows, and print the incidents and alerts it would have raised (exit 1 if any). Nothing is acted
    /// on; Haechi's state (keys, blocks, ledger) is not consulted, so `state.*` tests see
    /// nothing blocked and every key unknown.
    Replay(ReplayArgs),
    /// Load the rules `haechi serve` would load (built-in pack, `<data_dir>/rules`, and the
    /// given files) and list them; every rule that does not load is reported as
    /// FILE:LINE:COLUMN: rule ID: MESSAGE (exit 1).
    Check {
        /// More rule files or directories.
        rules: Vec<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Archive directories (as written by `haechi audit export`), read in seq order.
    archives: Vec<PathBuf>,
    /// Also read the live log of the data directory (without a lock, so beside a running
    /// server too), after the archives: only records newer than the archives' last.
    #[arg(long)]
    live: bool,
    /// More rule files or directories (besides the built-in pack and `<data_dir>/rules`).
    #[arg(long = "rules")]
    rules: Vec<PathBuf>,
    /// Leave the built-in pack out.
    #[arg(long)]
    no_builtin: bool,
    /// How far out of event-time order records may be (archives interleaving several
    /// sources may want seconds).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "250ms")]
    allowed_lateness: Duration,
    /// Output: a table for people, or JSON lines — the incidents first (`"record":
    /// "incident"`), then the alerts (`"record": "alert"`).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Write the incidents found to the store (the data directory's, or the cluster's), with
    /// their alerts and customers, so `haechi scope --incident ID`, the console and the
    /// notices can work from them. An incident already there (the same alerts) is updated.
    #[arg(long)]
    record_incidents: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Json,
}

/// Runs `haechi detect`.
pub fn run(action: DetectAction, config: &Config) -> anyhow::Result<Outcome> {
    init_quiet_logging();
    match action {
        DetectAction::Replay(args) => replay(args, config),
        DetectAction::Check { rules } => check(&rules, config),
    }
}

fn check(extra: &[PathBuf], config: &Config) -> anyhow::Result<Outcome> {
    let report = configured_rules(config, extra);
    let mut out = std::io::stdout().lock();
    for rule in &report.rules {
        let (file, line) = rule.source();
        let response = match rule.dry_run() {
            None => "-",
            Some(true) => "dry-run",
            Some(false) => "enforced",
        };
        writeln!(
            out,
            "{:<9} {:<44} {:<9} {file}:{line}",
            rule.severity().as_str(),
            rule.id(),
            response
        )?;
    }
    for error in &report.errors {
        writeln!(out, "error: {error}")?;
    }
    writeln!(
        out,
        "{} rules load, {} refused",
        report.rules.len(),
        report.errors.len()
    )?;
    Ok(if report.errors.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Findings
    })
}

/// Records between two updates of the progress bar.
const PROGRESS_STEP: u64 = 4096;

/// A replay in progress.
struct Replay {
    engine: Engine,
    book: AlertBook,
    records: u64,
    skipped: u64,
    bar: ProgressBar,
}

impl Replay {
    fn feed(&mut self, record: AuditRecord) {
        self.records += 1;
        if self.records.is_multiple_of(PROGRESS_STEP) {
            self.bar.inc(PROGRESS_STEP);
        }
        if !is_engine_input(record.event.kind) {
            self.skipped += 1;
            return;
        }
        for update in self
            .engine
            .process_owned(record.seq, record.event, &NoState)
        {
            self.book.apply(update);
        }
    }
}

fn replay(args: ReplayArgs, config: &Config) -> anyhow::Result<Outcome> {
    let live_dir = crate::runtime::audit_dir(config);
    if args.archives.is_empty() && !args.live {
        anyhow::bail!("name an archive directory, or --live for the data directory's audit log");
    }
    for archive in &args.archives {
        if !archive.is_dir() {
            anyhow::bail!("{} is not an archive directory", archive.display());
        }
    }
    if args.live && !live_dir.is_dir() {
        anyhow::bail!("no audit log at {}", live_dir.display());
    }
    let mut config = config.clone();
    config.detect.builtin_rules = !args.no_builtin;
    let report = configured_rules(&config, &args.rules);
    for error in &report.errors {
        eprintln!("warning: rule not loaded: {error}");
    }
    if report.rules.is_empty() {
        anyhow::bail!("no rule loaded");
    }
    let rule_count = report.rules.len();
    let rules = report.rules.clone();
    let engine = Engine::new(
        report.rules,
        Limits {
            allowed_lateness: args.allowed_lateness,
            ..Limits::default()
        },
    )?;

    let total = args
        .archives
        .iter()
        .map(|dir| archive_record_count(dir))
        .sum::<u64>();
    let bar = progress_bar(args.quiet, total);
    // One thread reads and evaluates. A reading thread feeding the engine through a channel
    // was measured: no faster on two cores, and half as much CPU again (every record is
    // allocated on one thread and freed on the other, and the allocator's locks contend).
    let started = Instant::now();
    let mut replay = Replay {
        engine,
        book: AlertBook::new(),
        records: 0,
        skipped: 0,
        bar,
    };
    let mut last_seq = 0_u64;
    for archive in &args.archives {
        let context = || format!("cannot read the archive {}", archive.display());
        for record in haechi_audit::read_archive(archive).with_context(context)? {
            let record = record.with_context(context)?;
            last_seq = last_seq.max(record.seq);
            replay.feed(record);
        }
    }
    if args.live {
        for record in haechi_audit::read_log(&live_dir).context("cannot read the audit log")? {
            let record = record.context("cannot read the audit log")?;
            if record.seq > last_seq {
                replay.feed(record);
            }
        }
    }
    let Replay {
        mut engine,
        mut book,
        records: events,
        skipped,
        bar,
    } = replay;
    for update in engine.flush(&NoState) {
        book.apply(update);
    }
    bar.finish_and_clear();
    let elapsed = started.elapsed();
    let alerts = book.into_alerts();
    // Alerts are filed in the order they were raised, each with its final extent, so an
    // incident's times cover its alerts' whole spans.
    let grouping = Instant::now();
    let writes = group_alerts(&rules, &alerts);
    let grouping = grouping.elapsed();
    if args.record_incidents && !writes.is_empty() {
        record_incidents(&writes, &config)?;
    }
    let incidents: Vec<Incident> = writes.into_iter().map(|write| write.incident).collect();
    print_incidents(&incidents, args.format, args.record_incidents)?;
    print_alerts(&alerts, args.format)?;
    let stats = engine.stats();
    eprintln!(
        "{} incidents, {} alerts from {events} records ({skipped} of detection's own skipped) with {rule_count} \
         rules in {:.1} s ({:.0} records/s; grouping into incidents {:.2} s); {} late, {} state \
         entries at the end{}",
        incidents.len(),
        alerts.len(),
        elapsed.as_secs_f64(),
        events as f64 / elapsed.as_secs_f64().max(1e-9),
        grouping.as_secs_f64(),
        stats.late_events,
        stats.state_entries,
        if stats.state_refusals > 0 {
            format!(", {} refused at the state cap", stats.state_refusals)
        } else {
            String::new()
        }
    );
    Ok(if alerts.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Findings
    })
}

fn progress_bar(quiet: bool, total: u64) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(
        (total > 0).then_some(total),
        ProgressDrawTarget::stderr_with_hz(4),
    );
    let template = if total > 0 {
        "replay {wide_bar} {human_pos}/{human_len} records, {per_sec}, eta {eta}"
    } else {
        "replay {spinner} {human_pos} records, {per_sec}, {elapsed}"
    };
    bar.set_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Records in an archive, from its file names (`part-<first>-<last>.parquet`): the
/// progress bar's length, without opening a file.
fn archive_record_count(dir: &Path) -> u64 {
    let mut total = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&current) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let name = entry.file_name();
            let range = name
                .to_str()
                .and_then(|name| name.strip_prefix("part-")?.strip_suffix(".parquet"))
                .and_then(|range| range.split_once('-'))
                .and_then(|(first, last)| {
                    Some((first.parse::<u64>().ok()?, last.parse::<u64>().ok()?))
                });
            if let Some((first, last)) = range {
                total += last.saturating_sub(first) + 1;
            }
        }
    }
    total
}

fn print_alerts(alerts: &[Alert], format: Format) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json => {
            for alert in alerts {
                serde_json::to_writer(&mut out, &Tagged::Alert(alert))?;
                writeln!(out)?;
            }
        }
        Format::Table => {
            if alerts.is_empty() {
                writeln!(out, "no alerts")?;
                return Ok(());
            }
            writeln!(out, "ALERTS")?;
            writeln!(
                out,
                "{:<9} {:<44} {:>8}  {:<27} {:<27}",
                "SEVERITY", "RULE", "COUNT", "FIRST", "LAST"
            )?;
            for alert in alerts {
                writeln!(
                    out,
                    "{:<9} {:<44} {:>8}  {:<27} {:<27}",
                    alert.severity.as_str(),
                    alert.rule_id,
                    alert.count,
                    alert.first_time.to_rfc3339(),
                    alert.last_time.to_rfc3339(),
                )?;
                writeln!(
                    out,
                    "          alert {}  group {}",
                    alert.id, alert.group_key
                )?;
                for action in &alert.actions {
                    writeln!(
                        out,
                        "          would {} ({})",
                        describe(&action.kind),
                        haechi_respond::disposition_name(action.disposition)
                    )?;
                }
            }
        }
    }
    out.flush().context("cannot write the alerts")
}

fn describe(kind: &ActionKind) -> String {
    match kind {
        ActionKind::BlockNetwork { network, ttl } => {
            format!(
                "block_network {network} for {}",
                humantime::format_duration(*ttl)
            )
        }
        ActionKind::RevokeSession { sid } => format!("revoke_session {sid}"),
        ActionKind::RevokeKey { kid } => format!("revoke_key {kid}"),
        ActionKind::SuspendPrincipal { principal } => format!("suspend_principal {principal}"),
        _ => "unknown action".into(),
    }
}

/// A JSON line of the replay's output.
#[derive(serde::Serialize)]
#[serde(tag = "record", rename_all = "snake_case")]
enum Tagged<'a> {
    Incident(&'a Incident),
    Alert(&'a Alert),
}

/// Writes the replay's incidents to the store.
fn record_incidents(writes: &[IncidentWrite], config: &Config) -> anyhow::Result<()> {
    crate::commands::block_on(async {
        let backend = crate::backends::Backend::open(config).await?;
        backend
            .store()
            .write_incidents(writes)
            .await
            .context("cannot record the incidents")?;
        eprintln!("recorded {} incidents in the store", writes.len());
        anyhow::Ok(())
    })?
}

fn print_incidents(incidents: &[Incident], format: Format, recorded: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json => {
            for incident in incidents {
                serde_json::to_writer(&mut out, &Tagged::Incident(incident))?;
                writeln!(out)?;
            }
        }
        Format::Table => {
            if incidents.is_empty() {
                return Ok(());
            }
            writeln!(out, "INCIDENTS")?;
            for incident in incidents {
                writeln!(out, "{}", incident_summary(incident))?;
            }
            if !recorded {
                writeln!(
                    out,
                    "(record them with --record-incidents to scope them with haechi scope \
                     --incident ID)"
                )?;
            }
            writeln!(out)?;
        }
    }
    out.flush().context("cannot write the incidents")
}
