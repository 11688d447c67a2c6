//! `haechi incident`: make an incident from a list of affected customers (`create --from`),
//! list, show and close incidents.
//!
//! Listing and showing read the store only (no lock), so they work beside a running server;
//! creating and closing are privileged acts recorded in the audit trail, so they open the data
//! directory as the local operator (on one node: with the server stopped; or close through
//! `POST /v1/admin/incidents/{id}/close`).

use std::collections::HashSet;
use std::fs::File;
use std::hash::BuildHasher as _;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Subcommand, ValueEnum};
use haechi_detect::Severity;
use haechi_events::{EventKind, SecurityEvent, Timestamp};
use haechi_incident::{
    AffectedCustomer, ImportedIncident, Incident, IncidentFilter, IncidentId, IncidentState,
    IncidentStore, IncidentWrite, ValueSet, parse_affected_line,
};
use haechi_respond::{CloseRefused, IncidentDesk};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sha2::{Digest, Sha256};

use crate::Outcome;
use crate::backends::Backend;
use crate::commands::{block_on, init_quiet_logging};
use crate::config::Config;
use crate::runtime::Runtime;

/// Customers written per transaction by `create`.
const BATCH: usize = 10_000;

/// `haechi incident …`
#[derive(Debug, Subcommand)]
pub enum IncidentAction {
    /// Make an incident from a list of affected customers: the JSON lines `haechi scope --out
    /// FILE.jsonl --no-contacts` writes (`customer_id`, `fields`, `first`, `last`, `reads`).
    /// Every line is checked before anything is written; the same file makes the same
    /// incident (its id comes from the file's SHA-256), so a rerun completes an interrupted
    /// one and never makes two.
    Create {
        /// The affected list.
        #[arg(long = "from", value_name = "FILE")]
        from: PathBuf,
        /// A one-line title (default: the file's name).
        #[arg(long)]
        title: Option<String>,
        /// Its severity.
        #[arg(long, value_enum, default_value_t = SeverityArg::Critical)]
        severity: SeverityArg,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// List incidents, most recently active first.
    List {
        /// Only in this state.
        #[arg(long, value_enum)]
        state: Option<StateArg>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one incident (JSON with --json), and with --customers its customers.
    Show {
        /// The incident's id (INC-…).
        id: String,
        /// JSON instead of a summary.
        #[arg(long)]
        json: bool,
        /// Also list its customers (JSON lines), by id.
        #[arg(long)]
        customers: bool,
    },
    /// Close an incident: it stops collecting alerts.
    Close {
        /// The incident's id (INC-…).
        id: String,
        /// What was found and done.
        #[arg(long)]
        note: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SeverityArg {
    Low,
    Medium,
    High,
    Critical,
}

impl From<SeverityArg> for Severity {
    fn from(severity: SeverityArg) -> Severity {
        match severity {
            SeverityArg::Low => Severity::Low,
            SeverityArg::Medium => Severity::Medium,
            SeverityArg::High => Severity::High,
            SeverityArg::Critical => Severity::Critical,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StateArg {
    Open,
    Contained,
    Closed,
}

impl From<StateArg> for IncidentState {
    fn from(state: StateArg) -> IncidentState {
        match state {
            StateArg::Open => IncidentState::Open,
            StateArg::Contained => IncidentState::Contained,
            StateArg::Closed => IncidentState::Closed,
        }
    }
}

/// Runs `haechi incident`.
pub fn run(action: IncidentAction, config: &Config) -> anyhow::Result<Outcome> {
    init_quiet_logging();
    match action {
        IncidentAction::Create {
            from,
            title,
            severity,
            quiet,
        } => create(&from, title, severity.into(), quiet, config),
        IncidentAction::List { state, limit, json } => list(state, limit, json, config),
        IncidentAction::Show {
            id,
            json,
            customers,
        } => show(&id, json, customers, config),
        IncidentAction::Close { id, note } => close(&id, note, config),
    }
}

/// What the first pass over an affected list found.
struct Checked {
    sha256: String,
    incident: ImportedIncident,
    lines: u64,
}

/// Reads the list once: its digest, every line checked, repeats refused, the incident's
/// counts and times. Nothing is written.
fn check_list(
    path: &Path,
    title: &str,
    severity: Severity,
    bar: &ProgressBar,
) -> anyhow::Result<Checked> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut line = String::new();
    let mut number = 0_usize;
    // Repeats are told by a keyed 64-bit digest of the id: 8 bytes per customer, so a list of
    // tens of millions fits in memory.
    let hasher_for_ids = std::hash::RandomState::new();
    let mut seen: HashSet<u64> = HashSet::new();
    let mut incident = ImportedIncident::new(
        &path.display().to_string(),
        "",
        title,
        severity,
        Timestamp::EPOCH,
    );
    loop {
        line.clear();
        let read = reader
            .read_line(&mut line)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if read == 0 {
            break;
        }
        number += 1;
        hasher.update(line.as_bytes());
        bar.inc(read as u64);
        let Some(row) = parse_affected_line(number, line.trim_end_matches(['\n', '\r']))
            .with_context(|| path.display().to_string())?
        else {
            continue;
        };
        if !seen.insert(hasher_for_ids.hash_one(&row.customer_id)) {
            anyhow::bail!(
                "{}: line {number}: customer {} is listed twice",
                path.display(),
                row.customer_id
            );
        }
        incident.add(&row);
    }
    let sha256 = hex::encode(hasher.finalize());
    Ok(Checked {
        incident: incident.with_digest(&sha256),
        sha256,
        lines: number as u64,
    })
}

fn create(
    path: &Path,
    title: Option<String>,
    severity: Severity,
    quiet: bool,
    config: &Config,
) -> anyhow::Result<Outcome> {
    let id = create_incident(path, title, severity, quiet, config)?;
    println!("{id}");
    Ok(Outcome::Clean)
}

/// Makes (or completes) the incident of an affected list, as `incident create --from` does,
/// with the severity an import gets by default: `haechi notify --from`.
pub(crate) fn create_from(
    path: &Path,
    title: Option<String>,
    quiet: bool,
    config: &Config,
) -> anyhow::Result<IncidentId> {
    create_incident(path, title, Severity::Critical, quiet, config)
}

fn create_incident(
    path: &Path,
    title: Option<String>,
    severity: Severity,
    quiet: bool,
    config: &Config,
) -> anyhow::Result<IncidentId> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("cannot open {}", path.display()))?
        .len();
    let title = title.unwrap_or_else(|| {
        format!(
            "Imported: {}",
            path.file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default()
        )
    });
    let bar = bytes_bar(quiet, size, "check");
    let checked = check_list(path, &title, severity, &bar)?;
    bar.finish_and_clear();
    let incident = checked.incident.incident().clone();
    if incident.customers == 0 {
        anyhow::bail!("{}: no customer listed", path.display());
    }
    block_on(async {
        let runtime = Runtime::open(config).await?;
        let grant = runtime.authority.operator_grant()?;
        let store: std::sync::Arc<dyn IncidentStore> = runtime.store.clone();
        let existing = store.incident(&incident.id).await?;
        if existing.is_none() {
            store
                .write_incidents(&[IncidentWrite {
                    incident: incident.clone(),
                    alert_ids: Vec::new(),
                    customers: Vec::new(),
                }])
                .await?;
        }
        // Customers in batches, each tied once: a rerun after an interruption adds what is
        // missing and changes nothing else.
        let bar = bytes_bar(quiet, size, "write");
        let reader = BufReader::with_capacity(
            1 << 20,
            File::open(path).with_context(|| format!("cannot open {}", path.display()))?,
        );
        let mut batch: Vec<AffectedCustomer> = Vec::with_capacity(BATCH);
        let stored = existing.clone().unwrap_or_else(|| incident.clone());
        for (index, line) in reader.lines().enumerate() {
            let line = line.with_context(|| format!("cannot read {}", path.display()))?;
            bar.inc(line.len() as u64 + 1);
            if let Some(row) = parse_affected_line(index + 1, &line)? {
                batch.push(row);
            }
            if batch.len() == BATCH {
                write_customers(&*store, &stored, std::mem::take(&mut batch)).await?;
            }
        }
        write_customers(&*store, &stored, batch).await?;
        bar.finish_and_clear();
        let event = SecurityEvent::new(
            runtime.clock.now(),
            EventKind::AdminConfigChanged,
            grant.actor().clone(),
        )
        .detail("change", "incident.create")
        .detail("incident_id", incident.id.as_str())
        .detail("customers", incident.customers.to_string())
        .detail("source_sha256", &checked.sha256);
        runtime
            .events
            .record(event)
            .await
            .context("the audit trail cannot record the incident's creation")?;
        runtime.close().await?;
        match existing {
            Some(_) => eprintln!(
                "{} already existed (same file); its customers were checked and completed",
                incident.id
            ),
            None => eprintln!(
                "created {} from {} lines: {} customers",
                incident.id, checked.lines, incident.customers
            ),
        }
        Ok(incident.id)
    })?
}

async fn write_customers(
    store: &dyn IncidentStore,
    incident: &Incident,
    customers: Vec<AffectedCustomer>,
) -> anyhow::Result<()> {
    if customers.is_empty() {
        return Ok(());
    }
    store
        .write_incidents(&[IncidentWrite {
            incident: incident.clone(),
            alert_ids: Vec::new(),
            customers,
        }])
        .await
        .context("cannot write the incident's customers")
}

fn bytes_bar(quiet: bool, total: u64, what: &str) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr_with_hz(4));
    let template =
        format!("{what} {{wide_bar}} {{bytes}}/{{total_bytes}}, {{bytes_per_sec}}, eta {{eta}}");
    bar.set_style(
        ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

fn list(
    state: Option<StateArg>,
    limit: usize,
    json: bool,
    config: &Config,
) -> anyhow::Result<Outcome> {
    block_on(async {
        let backend = Backend::open(config).await?;
        let incidents = backend
            .store()
            .list_incidents(&IncidentFilter {
                state: state.map(Into::into),
                limit: limit.clamp(1, 10_000),
            })
            .await?;
        let mut out = std::io::stdout().lock();
        if json {
            for incident in &incidents {
                serde_json::to_writer(&mut out, incident)?;
                writeln!(out)?;
            }
        } else if incidents.is_empty() {
            writeln!(out, "no incidents")?;
        } else {
            for incident in &incidents {
                writeln!(
                    out,
                    "{}  {:<9} {:<10} {:>9} customers  {} .. {}  {}",
                    incident.id,
                    incident.severity.as_str(),
                    incident.state.as_str(),
                    incident.customers,
                    incident.first_seen.to_rfc3339(),
                    incident.last_seen.to_rfc3339(),
                    incident.title
                )?;
            }
        }
        Ok(Outcome::Clean)
    })?
}

fn show(id: &str, json: bool, customers: bool, config: &Config) -> anyhow::Result<Outcome> {
    let id = IncidentId::parse(id)?;
    block_on(async {
        let backend = Backend::open(config).await?;
        let store = backend.store();
        let incident = store
            .incident(&id)
            .await?
            .with_context(|| format!("no incident {id}"))?;
        let mut out = std::io::stdout().lock();
        if json {
            serde_json::to_writer_pretty(&mut out, &incident)?;
            writeln!(out)?;
        } else {
            writeln!(out, "{}", incident_summary(&incident))?;
        }
        if customers {
            let mut after: Option<String> = None;
            loop {
                let page = store
                    .incident_customers(&id, after.as_deref(), 10_000)
                    .await?;
                let Some(last) = page.last() else { break };
                after = Some(last.customer_id.clone());
                for customer in &page {
                    serde_json::to_writer(&mut out, customer)?;
                    writeln!(out)?;
                }
            }
        }
        Ok(Outcome::Clean)
    })?
}

fn close(id: &str, note: String, config: &Config) -> anyhow::Result<Outcome> {
    let id = IncidentId::parse(id)?;
    let note = note.trim().to_string();
    if note.is_empty() || note.chars().count() > 1000 {
        anyhow::bail!("--note: 1 to 1000 characters");
    }
    block_on(async {
        let runtime = Runtime::open(config).await?;
        let grant = runtime.authority.operator_grant()?;
        let desk = IncidentDesk::new(runtime.store.clone());
        let now = runtime.clock.now();
        let closed = desk
            .close(&id, &grant, note, now)
            .await
            .map_err(|refused| match refused {
                CloseRefused::Store(error) => anyhow::Error::new(error),
                other => anyhow::anyhow!("{other}"),
            })?;
        let event = SecurityEvent::new(now, EventKind::AdminConfigChanged, grant.actor().clone())
            .detail("change", "incident.close")
            .detail("incident_id", id.as_str());
        runtime
            .events
            .record(event)
            .await
            .context("the audit trail cannot record the closing")?;
        runtime.close().await?;
        println!("{}", incident_summary(&closed));
        Ok(Outcome::Clean)
    })?
}

/// An incident in a few lines: what, how bad, from–to, who is behind it, who was hit.
pub fn incident_summary(incident: &Incident) -> String {
    let indicators = &incident.indicators;
    let mut lines = vec![
        format!(
            "{}  {:<9} {:<10} {}",
            incident.id,
            incident.severity.as_str(),
            incident.state.as_str(),
            incident.title
        ),
        format!(
            "    {} .. {}  {} alerts ({})",
            incident.first_seen.to_rfc3339(),
            incident.last_seen.to_rfc3339(),
            incident.alert_count,
            incident
                .rules
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ];
    let listed = |name: &str, set: &ValueSet| {
        let shown: Vec<&str> = set.values.iter().take(5).map(String::as_str).collect();
        let more = set.count().saturating_sub(shown.len() as u64);
        let tail = if more > 0 {
            format!(" (+{more} more)")
        } else {
            String::new()
        };
        format!("    {name:<12} {}: {}{tail}", set.count(), shown.join(", "))
    };
    for (name, set) in [
        ("keys", &indicators.signing_keys),
        ("networks", &indicators.networks),
        ("user agents", &indicators.user_agents),
        ("principals", &indicators.principals),
    ] {
        if set.count() > 0 {
            lines.push(listed(name, set));
        }
    }
    if indicators.sessions.count() > 0 {
        lines.push(format!(
            "    {:<12} {}",
            "sessions",
            indicators.sessions.count()
        ));
    }
    lines.push(format!("    {:<12} {}", "customers", incident.customers));
    if let Some(at) = incident.contained_at {
        lines.push(format!("    contained at {}", at.to_rfc3339()));
    }
    if let Some(closure) = &incident.closure {
        lines.push(format!(
            "    closed at {} by {}: {}",
            closure.at.to_rfc3339(),
            closure.by,
            closure.note
        ));
    }
    lines.push(format!(
        "    exact scope: haechi scope --incident {}",
        incident.id
    ));
    lines.join("\n")
}
