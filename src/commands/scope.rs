//! `haechi scope`: who was exposed, which fields, when.
//!
//! The archive and the live log are only read (no lock), so a scope runs beside a running
//! server. Looking up contact channels for `--out` opens the vault, which takes the data
//! directory's audit log: that needs the server stopped (or `--no-contacts`).
//!
//! `--alert ID` reads the alert's `alert.raised` event from the same sources and takes its
//! indicators (its group and user agent; `haechi_forensics::alert_source`), so it works beside a
//! running server too.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use haechi_forensics::report::{Contact, ListFormat};
use haechi_forensics::{
    AlertSource, DigestMode, IndicatorKind, MatchMode, Progress, Query, Scope, ScopeOptions,
    Sources, alert_source, find_alert, parse_indicator_file, parse_time,
};
use haechi_token::AdminGrant;
use haechi_vault::{NoticeDisclosure, Vault};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::Outcome;
use crate::commands::{block_on, init_quiet_logging};
use crate::config::Config;
use crate::runtime::{DataDirLock, Runtime, audit_dir};

mod incident;

use incident::resolve_incident;

/// `haechi scope` flags.
#[derive(Debug, Args)]
pub struct ScopeArgs {
    /// Client address or CIDR network (repeatable or comma-separated).
    #[arg(long = "ip", value_name = "CIDR", value_delimiter = ',')]
    ips: Vec<String>,
    /// Signing-key id (repeatable or comma-separated).
    #[arg(long = "kid", value_name = "KID", value_delimiter = ',')]
    kids: Vec<String>,
    /// Access-token id (repeatable or comma-separated).
    #[arg(long = "jti", value_name = "JTI", value_delimiter = ',')]
    jtis: Vec<String>,
    /// File of access-token ids, one per line (`#` comments allowed).
    #[arg(long = "jti-file", value_name = "FILE")]
    jti_files: Vec<PathBuf>,
    /// Session id (repeatable or comma-separated).
    #[arg(long = "sid", value_name = "SID", value_delimiter = ',')]
    sids: Vec<String>,
    /// Principal: customer:ID, service:NAME, admin:NAME or anonymous (repeatable).
    #[arg(long = "principal", value_name = "PRINCIPAL", value_delimiter = ',')]
    principals: Vec<String>,
    /// Exact User-Agent value (repeatable; not split on commas).
    #[arg(long = "user-agent", value_name = "AGENT")]
    user_agents: Vec<String>,
    /// File of indicators, one `KIND VALUE` per line (ip, kid, jti, sid, principal,
    /// user_agent).
    #[arg(long = "indicators", value_name = "FILE")]
    indicator_files: Vec<PathBuf>,
    /// A detection alert (`RULE_ID/SEQ`): its group's values (ip, kid, jti, sid, principal,
    /// user_agent fields of the rule's group-by) and the raising request's user agent, read
    /// from its alert.raised event in the audit trail. Every one must match (--match all);
    /// other indicator flags add further constraints.
    #[arg(long = "alert", value_name = "ID")]
    alert: Option<String>,
    /// An incident (`INC-…`): the values its alerts were tied by (the signing keys, addresses
    /// or principals its rules correlate on), any of which marks a read as the attack's, read
    /// from the store. An imported incident is its customer list already (`haechi incident
    /// show ID --customers`).
    #[arg(long = "incident", value_name = "ID", conflicts_with = "alert")]
    incident: Option<String>,
    /// Only exposures at or after this time (RFC 3339 or YYYY-MM-DD, UTC).
    #[arg(long)]
    from: Option<String>,
    /// Only exposures before this time.
    #[arg(long)]
    to: Option<String>,
    /// How indicators of different kinds combine: any (the union: an event matching any kind)
    /// or all (an event matching every kind given). Default any; with --alert, all (any is
    /// refused). Values of one kind are always alternatives; the window always applies.
    #[arg(long = "match", value_enum)]
    match_mode: Option<MatchArg>,
    /// A Parquet archive directory (repeatable). Archives named in the live log's manifest
    /// are read too.
    #[arg(long = "archive", value_name = "DIR")]
    archives: Vec<PathBuf>,
    /// Do not read the live log of the data directory (the archive only).
    #[arg(long)]
    no_live_log: bool,
    /// Write one row per exposed customer to this file (.csv or .jsonl), through a temporary
    /// file renamed into place.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Put the customers' contact channels in plaintext into --out, for sending the notices;
    /// each read is recorded as pii.read with purpose notification. Without it the channels
    /// are masked (and recorded as masked reads).
    #[arg(long)]
    notification: bool,
    /// Write --out without contact channels (no vault access; works beside a running server).
    #[arg(long, conflicts_with = "notification")]
    no_contacts: bool,
    /// Hash every consulted archive file whole into the custody block (slower; default:
    /// only the bytes the result was computed from).
    #[arg(long)]
    full_digests: bool,
    /// Output on standard output.
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    format: FormatArg,
    /// Customers listed in the table.
    #[arg(long, default_value_t = 20)]
    show: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum MatchArg {
    Any,
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FormatArg {
    /// For people.
    Table,
    /// Summary, custody and (without --out) customers, for tooling.
    Json,
}

/// How many ids one vault call reads, and how many calls run at once (so the audit log
/// commits their events in groups).
const CONTACT_CHUNK: usize = 256;
const CONTACT_CONCURRENCY: usize = 32;

pub fn run(args: ScopeArgs, config: &Config) -> anyhow::Result<Outcome> {
    init_quiet_logging();
    // Everything the caller gave is checked before anything is read or written (an alert's
    // indicators are read from the trail below, and the query checked again with them).
    let mut query = build_query(&args)?;
    if args.alert.is_none() && args.incident.is_none() {
        query.validate()?;
    }
    let list = list_output(&args)?;
    let contacts = contact_disclosure(&args, list.as_ref(), config)?;
    // The vault's channels need the data directory to ourselves: say so before a long scan.
    let _lock = match contacts {
        Some(_) => Some(DataDirLock::acquire(
            config,
            "looking up contact channels (or write the list with --no-contacts)",
        )?),
        None => None,
    };

    let sources = sources(&args, config)?;
    if let Some(id) = &args.incident {
        let source = resolve_incident(id, &mut query.indicators, config)?;
        query.incident = Some(source);
        query.validate()?;
    }
    if let Some(id) = &args.alert {
        let source = resolve_alert(id, &sources, config)?;
        source.add_to(&mut query.indicators)?;
        query.alert = Some(source);
        query.validate()?;
    }
    let options = ScopeOptions {
        digest: if args.full_digests {
            DigestMode::Full
        } else {
            DigestMode::Consulted
        },
        tool: format!("haechi {}", env!("CARGO_PKG_VERSION")),
    };

    let progress = BarProgress::new();
    let scope = haechi_forensics::scope(&query, &sources, &options, &progress);
    progress.clear();
    let scope = scope?;

    if let (Some((path, format)), Some(disclosure)) = (&list, contacts) {
        let contacts = block_on(look_up_contacts(config, &scope, disclosure))??;
        write_list(path, *format, &scope, Some(&contacts))?;
    } else if let Some((path, format)) = &list {
        write_list(path, *format, &scope, None)?;
    }
    print_scope(&args, &scope, list.as_ref().map(|(path, _)| path.as_path()))?;
    if !scope.custody.coverage.gaps.is_empty() {
        eprintln!(
            "warning: seqs {:?} are in neither the archive nor the live log: give the archive \
             directory that holds them (--archive)",
            scope.custody.coverage.gaps
        );
    }
    for (node, coverage) in &scope.custody.coverage_by_node {
        if !coverage.gaps.is_empty() {
            eprintln!(
                "warning: seqs {:?} of node {node}'s chain are in no archive file given",
                coverage.gaps
            );
        }
    }
    Ok(Outcome::Clean)
}

/// `--out`: the list's path and format, checked before the scan (its directory must exist).
fn list_output(args: &ScopeArgs) -> anyhow::Result<Option<(PathBuf, ListFormat)>> {
    let Some(path) = &args.out else {
        return Ok(None);
    };
    let format = ListFormat::of_path(path)?;
    let parent = parent_of(path);
    anyhow::ensure!(
        parent.is_dir(),
        "--out {}: the directory {} does not exist",
        path.display(),
        parent.display()
    );
    Ok(Some((path.clone(), format)))
}

/// How the list shows contact channels (none without `--out` or with `--no-contacts`), checked
/// against the vault being there before the scan.
fn contact_disclosure(
    args: &ScopeArgs,
    list: Option<&(PathBuf, ListFormat)>,
    config: &Config,
) -> anyhow::Result<Option<NoticeDisclosure>> {
    let contacts = match (list, args.no_contacts, args.notification) {
        (None, _, true) => anyhow::bail!("--notification writes the notice list: give --out FILE"),
        (Some(_), false, notification) => Some(if notification {
            NoticeDisclosure::Plaintext
        } else {
            NoticeDisclosure::Masked
        }),
        _ => None,
    };
    if contacts.is_some() && !config.database_path().exists() {
        anyhow::bail!(
            "no Haechi database at {}: contact channels come from the vault; pass --no-contacts \
             to write the list without them",
            config.database_path().display()
        );
    }
    Ok(contacts)
}

/// What the scan reads: the archives given, those the live log's manifest names, and the live
/// log itself unless `--no-live-log`.
fn sources(args: &ScopeArgs, config: &Config) -> anyhow::Result<Sources> {
    let sources = Sources::of_log(&audit_dir(config), &args.archives, !args.no_live_log)?;
    anyhow::ensure!(
        !sources.is_empty(),
        "nothing to search: no --archive given and no audit log at {}",
        audit_dir(config).display()
    );
    Ok(sources)
}

/// The result on stdout, as a table or JSON.
fn print_scope(args: &ScopeArgs, scope: &Scope, list: Option<&Path>) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match args.format {
        FormatArg::Table => {
            write!(
                stdout,
                "{}",
                haechi_forensics::report::table(scope, args.show)
            )?;
            if let Some(path) = list {
                writeln!(stdout, "list           {}", path.display())?;
            }
        }
        FormatArg::Json => {
            let json = haechi_forensics::report::json(scope, list);
            serde_json::to_writer_pretty(&mut stdout, &json)?;
            writeln!(stdout)?;
        }
    }
    Ok(())
}

fn build_query(args: &ScopeArgs) -> anyhow::Result<Query> {
    let mut query = Query::default();
    let indicators = &mut query.indicators;
    let groups: [(IndicatorKind, &Vec<String>, &str); 6] = [
        (IndicatorKind::Ip, &args.ips, "--ip"),
        (IndicatorKind::Kid, &args.kids, "--kid"),
        (IndicatorKind::Jti, &args.jtis, "--jti"),
        (IndicatorKind::Sid, &args.sids, "--sid"),
        (IndicatorKind::Principal, &args.principals, "--principal"),
        (IndicatorKind::UserAgent, &args.user_agents, "--user-agent"),
    ];
    for (kind, values, flag) in groups {
        for value in values {
            indicators
                .add(kind, value)
                .with_context(|| flag.to_string())?;
        }
    }
    for path in &args.jti_files {
        let text = read_text(path, "--jti-file")?;
        let added = indicators.add_file(IndicatorKind::Jti, &text, &path.display().to_string())?;
        anyhow::ensure!(
            added > 0,
            "--jti-file {}: holds no token id",
            path.display()
        );
    }
    for path in &args.indicator_files {
        let text = read_text(path, "--indicators")?;
        let added = parse_indicator_file(&text, &path.display().to_string(), indicators)?;
        anyhow::ensure!(
            added > 0,
            "--indicators {}: holds no indicator",
            path.display()
        );
    }
    let time = |flag: &str, value: &Option<String>| -> anyhow::Result<_> {
        value
            .as_deref()
            .map(parse_time)
            .transpose()
            .map_err(|reason| anyhow::anyhow!("{flag}: {reason}"))
    };
    query.window.from = time("--from", &args.from)?;
    query.window.to = time("--to", &args.to)?;
    query.mode = match (args.match_mode, &args.alert) {
        (Some(MatchArg::All), _) | (None, Some(_)) => MatchMode::All,
        // With --alert this is refused when the query is checked.
        (Some(MatchArg::Any), _) | (None, None) => MatchMode::Any,
    };
    Ok(query)
}

/// Finds alert `id` in the trail and derives its indicators; reports the group fields that
/// gave none on standard error.
fn resolve_alert(id: &str, sources: &Sources, config: &Config) -> anyhow::Result<AlertSource> {
    let alert = find_alert(sources, id)?;
    // Events recorded before alerts named their group's fields: the rule says, if it is still
    // loaded (the built-in pack, or the rules directory).
    let rule_group_by = match &alert.group_by {
        Some(_) => None,
        None => {
            let rules_dir = config.rules_dir();
            let extra: Vec<PathBuf> = rules_dir
                .exists()
                .then_some(rules_dir)
                .into_iter()
                .collect();
            crate::detection::load_rules(Some(&haechi_detect::PackSettings::default()), &extra)
                .rules
                .iter()
                .find(|rule| rule.id() == alert.rule_id)
                .map(haechi_detect::Rule::group_by_names)
        }
    };
    let source = alert_source(&alert, rule_group_by.as_deref())?;
    for skipped in &source.skipped {
        eprintln!(
            "note: alert {id}: group field {}={:?} not used: {}",
            skipped.field, skipped.value, skipped.reason
        );
    }
    Ok(source)
}

fn read_text(path: &Path, flag: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("{flag} {}", path.display()))
}

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Reads the exposed customers' channels from the vault, chunks in parallel.
async fn look_up_contacts(
    config: &Config,
    scope: &Scope,
    disclosure: NoticeDisclosure,
) -> anyhow::Result<Vec<Contact>> {
    let runtime = Runtime::open(config).await?;
    let grant = runtime.authority.operator_grant()?;
    let result = contacts_from(&runtime.vault, &grant, scope, disclosure).await;
    runtime.close().await?;
    result
}

async fn contacts_from(
    vault: &Arc<Vault>,
    grant: &AdminGrant,
    scope: &Scope,
    disclosure: NoticeDisclosure,
) -> anyhow::Result<Vec<Contact>> {
    let ids: Vec<String> = scope
        .customers
        .iter()
        .map(|row| row.customer_id.clone())
        .collect();
    let mut contacts: Vec<Contact> = Vec::with_capacity(ids.len());
    for wave in ids.chunks(CONTACT_CHUNK * CONTACT_CONCURRENCY) {
        let mut tasks = tokio::task::JoinSet::new();
        for (index, chunk) in wave.chunks(CONTACT_CHUNK).enumerate() {
            let vault = Arc::clone(vault);
            let chunk = chunk.to_vec();
            let grant = grant.clone();
            tasks.spawn(async move {
                let found = vault
                    .notice_contacts()
                    .contacts(&grant, &chunk, disclosure)
                    .await;
                (index, found)
            });
        }
        let mut results = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let (index, found) = joined.context("a contact lookup task failed")?;
            results.push((
                index,
                found.context("cannot read contact channels from the vault")?,
            ));
        }
        results.sort_by_key(|(index, _)| *index);
        for (_, found) in results {
            contacts.extend(found.into_iter().map(|contact| Contact {
                missing: contact.email.is_none().then(|| "not_found".to_string()),
                // The forensics report holds plain strings: the copy it writes to the list.
                email: contact.email.map(|email| String::clone(&email)),
                phone: contact.phone.map(|phone| String::clone(&phone)),
            }));
        }
    }
    Ok(contacts)
}

/// Writes the list to a temporary file beside `path`, syncs it and renames it into place, so
/// `path` holds a whole list or is left as it was.
fn write_list(
    path: &Path,
    format: ListFormat,
    scope: &Scope,
    contacts: Option<&[Contact]>,
) -> anyhow::Result<()> {
    let parent = parent_of(path);
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "scope".into());
    let temporary = parent.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| -> anyhow::Result<()> {
        let file = create_private(&temporary)?;
        let mut writer = std::io::BufWriter::new(file);
        haechi_forensics::report::write_list(format, &scope.customers, contacts, &mut writer)?;
        let file = writer.into_inner().map_err(|error| error.into_error())?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}

/// A new file readable by its owner only: a notice list holds contact channels.
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

/// A progress bar on standard error for long scans; drawn only on a terminal.
pub(crate) struct BarProgress {
    bar: ProgressBar,
}

impl BarProgress {
    pub(crate) fn new() -> Self {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{msg:>20} {wide_bar} {pos}/{len} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        BarProgress { bar }
    }

    pub(crate) fn clear(&self) {
        self.bar.finish_and_clear();
    }
}

impl Progress for BarProgress {
    fn phase(&self, name: &str, total: u64) {
        self.bar.set_message(name.to_string());
        self.bar.set_length(total);
        self.bar.set_position(0);
    }

    fn advance(&self, units: u64) {
        self.bar.inc(units);
    }

    fn finish(&self) {}
}
