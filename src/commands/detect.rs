//! `haechi detect`: hunting with the rule pack over history (`replay`) and checking rule
//! files (`check`). Nothing here acts: the actions an alert names are what *would* have been
//! done.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use haechi_audit::{ArchiveEvents, EventQuery, read_archive_events};
use haechi_detect::{ActionKind, Alert, AlertBook, Engine, Limits, NoState};
use haechi_events::{SecurityEvent, Timestamp};
use haechi_forensics::parse_time;
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
    /// Only alerts active at or after this time (RFC 3339, or a date for its midnight UTC).
    /// The rules still see the history they need before it (their longest window, lookback
    /// or learning period); row groups of the archive that end before that are not read.
    #[arg(long)]
    from: Option<String>,
    /// Only events at or before this time (RFC 3339, or a date for its midnight UTC): row
    /// groups that start after it are not read.
    #[arg(long)]
    to: Option<String>,
    /// Write the incidents found to the store (the data directory's, or the cluster's), with
    /// their alerts and customers, so `haechi scope --incident ID`, the console and the
    /// notices can work from them. An incident already there (the same alerts) is updated.
    #[arg(long)]
    record_incidents: bool,
    /// Read the archives (the columns the rules read, as a replay does) and evaluate nothing:
    /// what the reading alone costs, beside which a replay's time is measured.
    #[arg(long, conflicts_with_all = ["record_incidents", "live"])]
    decode_only: bool,
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
    /// Evaluates the event; gives it back if the engine does not take it.
    fn feed(&mut self, seq: u64, event: Box<SecurityEvent>) -> Option<Box<SecurityEvent>> {
        self.records += 1;
        if self.records.is_multiple_of(PROGRESS_STEP) {
            self.bar.inc(PROGRESS_STEP);
        }
        if !is_engine_input(event.kind) {
            self.skipped += 1;
            return Some(event);
        }
        for update in self.engine.process_boxed(seq, event, &NoState) {
            self.book.apply(update);
        }
        None
    }

    /// Every step, hands the events the engine is done with back to the reader to refill.
    fn recycle(&mut self, events: &mut ArchiveEvents) {
        if self.records.is_multiple_of(PROGRESS_STEP) {
            events.recycle(self.engine.take_spent());
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
    let time = |flag: &str, value: &Option<String>| -> anyhow::Result<_> {
        value
            .as_deref()
            .map(parse_time)
            .transpose()
            .map_err(|reason| anyhow::anyhow!("{flag}: {reason}"))
    };
    // Only the columns the rules read are decoded, only the row groups the window overlaps
    // are read, on the other cores while this one evaluates, in seq order.
    let query = EventQuery {
        columns: engine
            .columns_read()
            .into_iter()
            .map(str::to_string)
            .collect(),
        from: None,
        to: time("--to", &args.to)?,
        ..EventQuery::default()
    };
    // A window is hunted exactly as the whole archive would be: the rules first see the
    // history before `--from` they need (their longest window, lookback or learning period),
    // with only the alerts active inside the window reported.
    let from = time("--from", &args.from)?;
    let history = engine.history_needed();
    let query = EventQuery {
        from: from.map(|from| {
            Timestamp::from_micros(
                from.as_micros()
                    .saturating_sub(i64::try_from(history.as_micros()).unwrap_or(i64::MAX)),
            )
        }),
        ..query
    };
    if let (Some(from), false) = (from, history.is_zero()) {
        eprintln!(
            "alerts active from {from}; the rules first read the {:.1} days before it they need",
            history.as_secs_f64() / 86_400.0
        );
    }
    let mut engine = engine;
    engine.keep_spent_events();
    let started = Instant::now();
    let cpu_before = thread_cpu_time();
    let mut replay = Replay {
        engine,
        book: AlertBook::new(),
        records: 0,
        skipped: 0,
        bar,
    };
    let mut last_seq = 0_u64;
    let mut pruned = 0;
    let mut waited = Duration::ZERO;
    for archive in &args.archives {
        let context = || format!("cannot read the archive {}", archive.display());
        let mut events = read_archive_events(archive, &query).with_context(context)?;
        while let Some(event) = events.next() {
            let (seq, event) = event.with_context(context)?;
            last_seq = last_seq.max(seq);
            if args.decode_only {
                replay.records += 1;
                events.recycle([event]);
                continue;
            }
            if let Some(unused) = replay.feed(seq, event) {
                events.recycle([unused]);
            }
            replay.recycle(&mut events);
        }
        pruned += events.counters().row_groups_pruned;
        waited += events.waited();
    }
    if args.live {
        for record in haechi_audit::read_log(&live_dir).context("cannot read the audit log")? {
            let record = record.context("cannot read the audit log")?;
            let time = record.event.time;
            let inside =
                query.from.is_none_or(|from| time >= from) && query.to.is_none_or(|to| time <= to);
            if record.seq > last_seq && inside {
                let _ = replay.feed(record.seq, Box::new(record.event));
                // No reader takes the live log's events back: let them go as they are spent.
                if replay.records.is_multiple_of(PROGRESS_STEP) {
                    replay.engine.take_spent().for_each(drop);
                }
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
    let evaluating = thread_cpu_time()
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    let mut alerts = book.into_alerts();
    if let Some(from) = from {
        alerts.retain(|alert| alert.last_time >= from);
    }
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
        "{} incidents, {} alerts from {events} records ({skipped} of detection's own \
         skipped{}; {} event columns read) with {rule_count} rules in {:.1} s ({:.0} \
         records/s; {:.2} s of it waiting for the decoders{}; grouping into incidents {:.2} \
         s); {} late, {} state entries at the end{}",
        incidents.len(),
        alerts.len(),
        if pruned > 0 {
            format!("; {pruned} row groups outside --from/--to not read")
        } else {
            String::new()
        },
        query
            .columns
            .iter()
            .filter(|column| !matches!(column.as_str(), "seq" | "time" | "kind"))
            .count()
            + 3,
        elapsed.as_secs_f64(),
        events as f64 / elapsed.as_secs_f64().max(1e-9),
        waited.as_secs_f64(),
        evaluating.map_or(String::new(), |cpu| format!(
            ", {:.2} s of CPU on the evaluating thread",
            cpu.as_secs_f64()
        )),
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

/// The CPU time the calling thread has run, from Linux's scheduler statistics (nanoseconds,
/// unlike `/proc/…/stat`'s ticks); `None` elsewhere.
fn thread_cpu_time() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
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
