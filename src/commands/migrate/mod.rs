//! `haechi migrate --to postgres://…` (the cluster store's schema) and `haechi migrate --from
//! DIR --to postgres://… [--bus nats://…]` (an embedded deployment moved into the cluster).
//!
//! The move holds the data directory the way `haechi serve` does (its `serve.lock` and the
//! audit log's writer lock), so nothing changes the deployment while it is read; moves every
//! table with `haechi_store::transfer` (resumable, idempotent, refusing to merge); moves the
//! audit history with `haechi_bus::republish_log` (or, without `--bus`, records where it
//! stays); verifies both; prints what it did; and exits 1 if anything differs.
//! docs/migration.md is the operator's guide.

mod audit;
mod report;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use clap::Args;
use haechi_events::{Clock as _, SystemClock};
use haechi_store::transfer::{self, EmbeddedSource, TransferError, TransferOptions};
use haechi_store::{PgStore, PolicyFiles, redact_url};

use crate::Outcome;
use crate::commands::{block_on, init_logging_with_default};
use crate::config::Config;
use crate::runtime::{DataDirLock, audit_dir};

/// Where to, and from where.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The cluster's PostgreSQL database, `postgres://USER@HOST:PORT/DATABASE`. Keep a
    /// password off the command line: HAECHI_MIGRATE_TO, PGPASSWORD or ~/.pgpass.
    #[arg(
        long,
        value_name = "URL",
        env = "HAECHI_MIGRATE_TO",
        hide_env_values = true
    )]
    to: String,
    /// The embedded deployment's data directory, moved into the database. Without it, only
    /// the database's schema is created or brought up to date.
    #[arg(long, value_name = "DIR")]
    from: Option<PathBuf>,
    /// The cluster's NATS (`nats://HOST:PORT`): the audit history is republished to its audit
    /// stream as the chain of --audit-node. Without it, the history stays in DIR/audit and
    /// the database records where it is.
    #[arg(
        long,
        value_name = "URL",
        env = "HAECHI_MIGRATE_BUS",
        hide_env_values = true,
        requires = "from"
    )]
    bus: Option<String>,
    /// Prefix of the cluster's audit stream and subjects.
    #[arg(
        long,
        value_name = "PREFIX",
        default_value = "haechi",
        requires = "bus"
    )]
    bus_prefix: String,
    /// Replicas of the audit stream if this run creates it (3 on a NATS cluster).
    #[arg(long, value_name = "N", default_value_t = 1, requires = "bus")]
    bus_replicas: usize,
    /// The node id the embedded chain is published under. No node of the cluster may use it.
    #[arg(long, value_name = "ID", default_value = "embedded", requires = "bus")]
    audit_node: String,
    /// The audit public key (PEM, JWK or hex, as `haechi audit public-key` prints it) the
    /// moved chain's signed checkpoints are verified against. Default: derived from the
    /// deployment's master key when one is configured; the move itself never needs it.
    #[arg(long, value_name = "FILE", requires = "from")]
    audit_key: Option<PathBuf>,
    /// Rows per batch (one PostgreSQL transaction each).
    #[arg(long, value_name = "N", default_value_t = 2_000,
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    batch_rows: u64,
    /// Stop after this many batches, as if interrupted (tests of resumption).
    #[arg(long, value_name = "N", hide = true)]
    stop_after_batches: Option<u64>,
}

pub fn run(args: MigrateArgs, config: Config) -> anyhow::Result<Outcome> {
    // sqlx warns of "slow statements": a move streams whole tables through one statement
    // each, which is slow by design and not worth a warning.
    init_logging_with_default("warn,sqlx::query=error");
    check_store_url(&args.to)?;
    match args.from.clone() {
        None => block_on(schema_only(&args.to))?,
        Some(from) => move_deployment(args, from, config),
    }
}

/// Creates or upgrades the schema and says which version it is at.
async fn schema_only(url: &str) -> anyhow::Result<Outcome> {
    let shown = redact_url(url);
    let version = PgStore::migrate_only(url)
        .await
        .with_context(|| format!("cannot bring the schema of {shown} up to date"))?;
    println!(
        "{shown}: schema at version {version} (the newest this Haechi knows is {})",
        PgStore::latest_schema_version()
    );
    Ok(Outcome::Clean)
}

/// Refuses a `--to` that is not a PostgreSQL URL, without repeating a password.
fn check_store_url(url: &str) -> anyhow::Result<()> {
    let scheme = url.split_once("://").map(|(scheme, _)| scheme);
    match scheme {
        Some("postgres" | "postgresql") => Ok(()),
        Some(other) => anyhow::bail!(
            "--to {}: the cluster store is PostgreSQL; give a postgres:// URL, not {other}://",
            redact_url(url)
        ),
        None => anyhow::bail!("--to: not a URL; give postgres://USER@HOST:PORT/DATABASE"),
    }
}

/// The embedded deployment in `from`, moved.
fn move_deployment(
    args: MigrateArgs,
    from: PathBuf,
    mut config: Config,
) -> anyhow::Result<Outcome> {
    if !from.is_dir() {
        anyhow::bail!("--from {}: there is no such directory", from.display());
    }
    config.data_dir = from;
    if !config.database_path().is_file() {
        anyhow::bail!(
            "--from {} is not a Haechi data directory: it has no haechi.db",
            config.data_dir.display()
        );
    }
    let _serving = DataDirLock::acquire_or_explain(
        &config,
        "stop it first: a deployment is moved at rest, and the cluster takes over from it",
    )?;
    let log_dir = audit_dir(&config);
    let _log =
        if log_dir.is_dir() {
            Some(haechi_audit::hold_log(&log_dir).map_err(|error| match error {
            haechi_audit::Error::InUse { dir } => anyhow::anyhow!(
                "the audit log in {} is held by another haechi command: let it finish first",
                dir.display()
            ),
            error => anyhow::Error::new(error).context("cannot lock the audit log"),
        })?)
        } else {
            None
        };
    block_on(move_held(args, config, log_dir))?
}

/// The move itself, with the data directory held.
async fn move_held(args: MigrateArgs, config: Config, log_dir: PathBuf) -> anyhow::Result<Outcome> {
    let shown = redact_url(&args.to);
    let policy = PolicyFiles::new(config.policy_write_path());
    let source = EmbeddedSource::open(&config.database_path(), &policy)
        .await
        .map_err(|error| explain(error, &shown))?;
    let key = match audit::verifying_key(&config, args.audit_key.as_deref()).await {
        Ok(key) => key,
        Err(error) => {
            source.close().await;
            return Err(error);
        }
    };
    let source_id = match audit::chain_identity(&log_dir).await? {
        Some(identity) => identity,
        None => source.secrets_fingerprint().await?,
    };
    let bus_target = args.bus.as_deref().map(|url| audit::BusTarget {
        url,
        prefix: &args.bus_prefix,
        replicas: args.bus_replicas,
        node: &args.audit_node,
    });
    let bus = match &bus_target {
        Some(bus_target) => match audit::connect(bus_target).await {
            Ok(bus) => Some(bus),
            Err(error) => {
                source.close().await;
                return Err(error);
            }
        },
        None => None,
    };
    let target = match PgStore::open(&args.to).await {
        Ok(target) => target,
        Err(error) => {
            source.close().await;
            return Err(
                anyhow::Error::new(error).context(format!("cannot open the cluster store {shown}"))
            );
        }
    };
    let progress = report::Bars::new();
    let options = TransferOptions {
        batch_rows: usize::try_from(args.batch_rows).unwrap_or(2_000),
        stop_after_batches: args.stop_after_batches,
    };
    let moved = transfer::transfer(
        &source,
        &target,
        &source_id,
        options,
        &progress,
        SystemClock.now(),
    )
    .await;
    source.close().await;
    progress.clear();
    let moved = moved.map_err(|error| explain(error, &shown))?;
    let (copy, compare) = progress.times();
    let audit_began = Instant::now();
    let audit = match (&bus, &bus_target) {
        (Some(bus), Some(bus_target)) => audit::republish(bus, bus_target, &log_dir, &key).await?,
        _ => audit::verify_in_place(&log_dir, &key).await?,
    };
    transfer::record_audit_reference(&target, &source_id, &audit.reference)
        .await
        .map_err(|error| explain(error, &shown))?;
    let everything_matches = moved.matches() && audit.verified;
    if everything_matches {
        transfer::finish_transfer(&target, &source_id, SystemClock.now())
            .await
            .map_err(|error| explain(error, &shown))?;
    }
    target.close().await;
    let timings = report::Timings {
        copy,
        compare,
        audit: audit_began.elapsed(),
    };
    report::print(&shown, &moved, &timings, &audit);
    Ok(if everything_matches {
        Outcome::Clean
    } else {
        Outcome::Findings
    })
}

/// A transfer error for the operator, with what to do about it where that is not obvious.
fn explain(error: TransferError, shown: &str) -> anyhow::Error {
    let hint = match &error {
        TransferError::Stopped { .. } => "; run the same command again to resume",
        TransferError::Conflict { .. }
        | TransferError::TargetInUse { .. }
        | TransferError::OtherDeployment { .. } => {
            " (nothing was merged; docs/migration.md, \"Refusals\")"
        }
        _ => "",
    };
    anyhow::anyhow!("moving into {shown}: {error}{hint}")
}

/// The directory shown for a path: absolute where it can be.
pub(super) fn absolute(path: &Path) -> String {
    path.canonicalize()
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}
