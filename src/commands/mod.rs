//! One function per subcommand.

pub(crate) mod archive_gen;
pub(crate) mod audit;
mod audit_cluster;
mod config;
pub(crate) mod detect;
pub(crate) mod drill;
mod evidence;
mod import;
pub(crate) mod incident;
pub(crate) mod keys;
pub(crate) mod leak;
mod leak_watch;
mod migrate;
mod notify;
mod principals;
pub(crate) mod scope;
mod serve;

use clap::Subcommand;

use crate::Outcome;
use crate::config::Config;

/// The subcommands, each run by one function of its module.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the HTTP API.
    Serve(serve::ServeArgs),
    /// Show the effective configuration.
    Config {
        #[command(subcommand)]
        action: config::ConfigAction,
    },
    /// Signing-key custody.
    Keys {
        #[command(subcommand)]
        action: keys::KeysAction,
    },
    /// Administrator credentials.
    Admin {
        #[command(subcommand)]
        action: principals::AdminAction,
    },
    /// Service principals.
    Service {
        #[command(subcommand)]
        action: principals::ServiceAction,
    },
    /// Customer accounts.
    Customers {
        #[command(subcommand)]
        action: principals::CustomersAction,
    },
    /// The audit trail: verify, export, search, and the auditor's public key.
    Audit {
        #[command(subcommand)]
        action: audit::AuditAction,
    },
    /// Leak watch: match a leaked dump against the vault, scan text for personal data.
    Leak {
        #[command(subcommand)]
        action: leak::LeakAction,
    },
    /// Forensics: who was exposed, which fields, when — exactly, from the audit archive and
    /// the live log, with the notification list and a chain-of-custody block.
    Scope(scope::ScopeArgs),
    /// Audit archives for tests, benchmarks and drills (`archive generate`).
    Archive {
        #[command(subcommand)]
        action: archive_gen::ArchiveAction,
    },
    /// Detection: replay the rule pack over archives or the live log (`detect replay`), check
    /// rule files (`detect check`).
    Detect {
        #[command(subcommand)]
        action: detect::DetectAction,
    },
    /// Incidents: make one from a list of affected customers (`incident create --from`), list,
    /// show, close.
    Incident {
        #[command(subcommand)]
        action: incident::IncidentAction,
    },
    /// Breach notices for an incident's customers: built from the company's templates, each
    /// with a code the portal verifies, queued in the outbox and delivered to the SMS gateway,
    /// the SMTP relay or a file (`--dry-run` shows a sample).
    Notify(notify::NotifyArgs),
    /// Breach drills: the Coupang attack and its harder cousins replayed against a live
    /// server on a simulated clock, scored against what the attacker actually received.
    Drill(drill::DrillArgs),
    /// Auditor evidence: the ISMS-P / PIPA safeguard report of a period, signed with the audit
    /// key (`--from --to --out`), its signatures checked (`verify`), a month's access review
    /// (`review`), the report's JSON Schema (`schema`).
    Evidence(evidence::EvidenceArgs),
    /// The cluster store: create or upgrade its PostgreSQL schema (`--to`), or move an
    /// embedded deployment into it (`--from DIR --to URL [--bus URL]`; docs/migration.md).
    Migrate(migrate::MigrateArgs),
}

/// Runs `command` with `config`.
pub fn run(command: Command, config: Config) -> anyhow::Result<Outcome> {
    match command {
        Command::Serve(args) => serve::run(args, config),
        Command::Config { action } => config::run(action, &config),
        Command::Keys { action } => keys::run(action, &config),
        Command::Admin { action } => principals::admin(action, &config),
        Command::Service { action } => principals::service(action, &config),
        Command::Customers { action } => principals::customers(action, &config),
        Command::Audit { action } => audit::run(action, &config),
        Command::Leak { action } => leak::run(action, &config),
        Command::Scope(args) => scope::run(args, &config),
        Command::Archive { action } => archive_gen::run(action),
        Command::Detect { action } => detect::run(action, &config),
        Command::Incident { action } => incident::run(action, &config),
        Command::Notify(args) => notify::run(args, &config),
        Command::Drill(args) => drill::run(args),
        Command::Evidence(args) => evidence::run(args, &config),
        Command::Migrate(args) => migrate::run(args, config),
    }
}

/// A tokio runtime for a one-shot command.
pub(crate) fn block_on<F: std::future::Future>(future: F) -> anyhow::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    Ok(runtime.block_on(future))
}

/// Logs for one-shot commands go to stderr, warnings and up, so stdout stays parseable.
pub(crate) fn init_quiet_logging() {
    init_logging_with_default("warn");
}

/// [`init_quiet_logging`] with another default filter (HAECHI_LOG still wins).
pub(crate) fn init_logging_with_default(filter: &str) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HAECHI_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter)),
        )
        .with_writer(std::io::stderr)
        .try_init();
}
