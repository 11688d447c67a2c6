//! `haechi audit verify|export|prune|search|public-key`.
//!
//! Everything here but `export --seal` only reads the log's files, so it works beside a
//! running server: sealed segments never change, and a reader stops at the end of the last
//! whole record of the active one. `export --seal` must write to the log (seal its active
//! segment and sign a checkpoint), which only the process holding it may do, so it needs the
//! server stopped, and so does `prune`, which deletes files of the log (a running server
//! prunes by itself when `audit.retention` is set).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use clap::{Subcommand, ValueEnum};
use haechi_audit::{
    ActiveSegment, ExportOptions, ExportReport, MAX_PAGE, PruneMode, PruneOptions, PruneReport,
    VerifySources,
};
use haechi_events::Clock as _;

use crate::Outcome;
use crate::commands::{block_on, init_quiet_logging};
use crate::config::Config;
use crate::runtime::{DataDirLock, Runtime, audit_dir, audit_public_key};

#[derive(Debug, Subcommand)]
pub enum AuditAction {
    /// Check every record, chain link and signed checkpoint of the log and its archives:
    /// exit 0 when all records verify, 1 naming each place a record was altered, removed,
    /// inserted or reordered. Reads only; safe while the server runs. With a bus (`--bus`),
    /// checks every node's chain in the cluster's audit stream instead.
    Verify {
        /// A Parquet archive directory to check too (repeatable). Archives the log was
        /// exported to are found through its manifest.
        #[arg(long = "archive", value_name = "DIR")]
        archives: Vec<PathBuf>,
        /// The audit public key to check against (PEM, JWK or hex, as `audit public-key`
        /// prints it). Default: this data directory's key, which needs its master key.
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        /// The witness that received the log's signed checkpoints (`file:///PATH`, as in
        /// audit.witness; an http:// receiver's own file). A log that ends before the head
        /// the witness holds, or disagrees with it, is reported as tampering.
        #[arg(long, value_name = "URL")]
        witness: Option<String>,
    },
    /// Export sealed segments as Parquet, partitioned by day. Without --seal it only reads
    /// sealed segments, so it is safe while the server runs. With a bus (`--bus`), exports
    /// every node's chain from the cluster's audit stream instead (`node=<id>/` per node),
    /// incrementally: only what the last export did not.
    Export {
        /// The archive directory (default: audit.archive_dir of the configuration).
        #[arg(long, value_name = "DIR")]
        to: Option<PathBuf>,
        /// Seal the active segment first, so everything recorded so far is exported. Opens
        /// the log for writing: needs the server stopped.
        #[arg(long)]
        seal: bool,
    },
    /// Records matching every condition given, oldest first, as JSON lines (the same filter
    /// as GET /v1/admin/audit). Reads only; safe while the server runs. With a bus (`--bus`),
    /// every node's records in the cluster's audit stream, each with its `node`.
    Search {
        /// Events touching this customer's data.
        #[arg(long)]
        customer: Option<String>,
        /// Events by this principal (customer:ID, service:NAME, admin:NAME, anonymous).
        #[arg(long)]
        principal: Option<String>,
        /// Events from this address or network (203.0.113.7, 203.0.113.0/24).
        #[arg(long)]
        ip: Option<String>,
        /// At or after this time (RFC 3339 or YYYY-MM-DD, UTC).
        #[arg(long)]
        from: Option<String>,
        /// Before this time (RFC 3339 or YYYY-MM-DD, UTC).
        #[arg(long)]
        to: Option<String>,
        /// Only these kinds (pii.read, auth.login_failed, …; repeatable or comma-separated).
        #[arg(long)]
        kind: Vec<String>,
        /// Only records after this seq.
        #[arg(long)]
        after: Option<u64>,
        /// At most this many records (default: all).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        limit: Option<u64>,
    },
    /// Delete sealed live-log segments that are already in the Parquet archive (read back and
    /// found identical) and wholly before --before / older than --older-than (default:
    /// audit.retention); a segment must meet every bound in force. Refuses, deleting nothing,
    /// if such a segment is not archived yet.
    /// Never touches the segment being written to. Needs the server stopped (the server prunes
    /// by itself when audit.retention is set). With a bus (`--bus`), purges the cluster's
    /// stream instead: each node's records before --before-sequence / --older-than, only once
    /// the cluster's archive (--archive) holds them identical, up to a signed checkpoint the
    /// stream keeps; only a stream created with bus.retention = archive can be pruned.
    Prune {
        /// Only segments whose records all have a seq below this.
        #[arg(long, value_name = "SEQ")]
        before: Option<u64>,
        /// With a bus: only messages whose stream sequence is below this.
        #[arg(long, value_name = "STREAM_SEQ")]
        before_sequence: Option<u64>,
        /// With a bus: the cluster's archive that must hold what is pruned (default:
        /// audit.archive_dir).
        #[arg(long, value_name = "DIR")]
        archive: Option<PathBuf>,
        /// With a bus: the audit public key to verify the stream and archive against (default:
        /// this data directory's key).
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        /// Only segments whose records are all older than this (`30d`, `12h`, …).
        #[arg(long, value_name = "AGE")]
        older_than: Option<humantime::Duration>,
        /// Check and report what would be deleted; delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the audit public key, to hand to auditors (`audit verify --key`).
    PublicKey {
        /// Encoding.
        #[arg(long, value_enum, default_value_t = KeyFormat::Pem)]
        format: KeyFormat,
    },
}

/// How `audit public-key` prints the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeyFormat {
    /// PEM (SubjectPublicKeyInfo).
    Pem,
    /// A JSON Web Key (`{"kty":"OKP","crv":"Ed25519",…}`).
    Jwk,
    /// The raw 32 bytes in hex.
    Hex,
}

pub fn run(action: AuditAction, config: &Config) -> anyhow::Result<Outcome> {
    init_quiet_logging();
    match action {
        AuditAction::Verify {
            archives,
            key,
            witness,
        } => verify(config, archives, key, witness),
        AuditAction::Export { to, seal } => {
            let to = match to.or_else(|| config.audit.archive_dir.clone()) {
                Some(to) => to,
                None => anyhow::bail!(
                    "where to? give --to DIR or set audit.archive_dir in the configuration"
                ),
            };
            match &config.bus.url {
                Some(_) if seal => anyhow::bail!(
                    "--seal seals this node's local log; with a bus, export reads the cluster's \
                     stream, where every acknowledged record already is"
                ),
                Some(url) => super::audit_cluster::export(config, url, &to),
                None => export(config, &to, seal),
            }
        }
        AuditAction::Prune {
            before,
            before_sequence,
            archive,
            key,
            older_than,
            dry_run,
        } => {
            let mode = if dry_run {
                PruneMode::DryRun
            } else {
                PruneMode::Delete
            };
            let older_than = older_than.map(Duration::from);
            match &config.bus.url {
                Some(url) => {
                    anyhow::ensure!(
                        before.is_none(),
                        "--before names a seq of one log; with a bus, give --before-sequence \
                         (a stream sequence) or --older-than"
                    );
                    let archive = match archive.or_else(|| config.audit.archive_dir.clone()) {
                        Some(archive) => archive,
                        None => anyhow::bail!(
                            "which archive holds what is pruned? give --archive DIR or set \
                             audit.archive_dir in the configuration"
                        ),
                    };
                    let key = load_key(config, key)?;
                    let bound = super::audit_cluster::prune_bound(before_sequence, older_than)?;
                    super::audit_cluster::prune(config, url, &key, &archive, bound, mode)
                }
                None => {
                    anyhow::ensure!(
                        before_sequence.is_none() && archive.is_none() && key.is_none(),
                        "--before-sequence, --archive and --key are for the cluster's stream \
                         (with --bus)"
                    );
                    prune(config, before, older_than, mode)
                }
            }
        }
        AuditAction::Search {
            customer,
            principal,
            ip,
            from,
            to,
            kind,
            after,
            limit,
        } => {
            let after = after.map(|seq| seq.to_string());
            let kinds = kind.join(",");
            let params = [
                ("customer", customer.as_deref()),
                ("principal", principal.as_deref()),
                ("ip", ip.as_deref()),
                ("from", from.as_deref()),
                ("to", to.as_deref()),
                ("kind", Some(kinds.as_str())),
                ("after", after.as_deref()),
            ];
            search(config, &params, limit)
        }
        AuditAction::PublicKey { format } => {
            let key = block_on(audit_public_key(config))??;
            match format {
                KeyFormat::Pem => print!("{}", haechi_audit::public_key_pem(&key)?),
                KeyFormat::Jwk => println!("{}", haechi_audit::public_key_jwk(&key)),
                KeyFormat::Hex => println!("{}", haechi_audit::public_key_hex(&key)),
            }
            Ok(Outcome::Clean)
        }
    }
}

/// Exit 0 and "all N records verify", or exit 1 with every problem and where it is.
fn verify(
    config: &Config,
    archives: Vec<PathBuf>,
    key_file: Option<PathBuf>,
    witness: Option<String>,
) -> anyhow::Result<Outcome> {
    let key = load_key(config, key_file)?;
    if let Some(url) = &config.bus.url {
        anyhow::ensure!(
            archives.len() <= 1,
            "with a bus, give the cluster's archive once (--archive DIR)"
        );
        return super::audit_cluster::verify(config, url, &key, archives.first());
    }
    if let Some(outcome) = super::audit_cluster::verify_cluster_archives(&archives, &key)? {
        return Ok(outcome);
    }
    verify_log(config, archives, witness, &key)
}

/// The audit public key: from `key_file`, or this data directory's (said on stderr).
pub(crate) fn load_key(
    config: &Config,
    key_file: Option<PathBuf>,
) -> anyhow::Result<ed25519_dalek::VerifyingKey> {
    let key = match key_file {
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            haechi_audit::parse_public_key(&text)
                .with_context(|| format!("audit public key {}", path.display()))?
        }
        None => {
            // Whoever could rewrite the log here could also be the one who chose this key:
            // say which key is trusted, and how to trust an independent copy instead.
            eprintln!(
                "note: trusting the audit key found in this data directory ({}); to check \
                 against an independent copy, pass --key FILE (from `haechi audit public-key`, \
                 kept elsewhere)",
                config.data_dir.display()
            );
            block_on(audit_public_key(config))??
        }
    };
    Ok(key)
}

/// Continues [`verify`] for a single log and its archives.
fn verify_log(
    config: &Config,
    archives: Vec<PathBuf>,
    witness: Option<String>,
    key: &ed25519_dalek::VerifyingKey,
) -> anyhow::Result<Outcome> {
    let witness = match witness {
        Some(address) => {
            let witness = haechi_audit::open_witness(&address)?;
            Some(block_on(witness.read_back())??)
        }
        None => None,
    };
    let log_dir = audit_dir(config);
    let log_dir = log_dir.is_dir().then_some(log_dir);
    if log_dir.is_none() && archives.is_empty() {
        anyhow::bail!(
            "no audit log at {} and no --archive given: nothing to verify",
            audit_dir(config).display()
        );
    }
    let sources = VerifySources {
        log_dir,
        archive_dirs: archives,
        witness,
    };
    let report = haechi_audit::verify(&sources, key)?;
    print!("{report}");
    Ok(if report.is_intact() {
        Outcome::Clean
    } else {
        Outcome::Findings
    })
}

fn export(config: &Config, to: &Path, seal: bool) -> anyhow::Result<Outcome> {
    let log_dir = existing_log_dir(config)?;
    let report = if seal {
        block_on(async {
            let runtime = Runtime::open(config).await?;
            let exported = runtime
                .audit
                .export(to, ActiveSegment::Seal, ExportOptions::default())
                .await;
            runtime.close().await?;
            anyhow::Ok(exported?)
        })??
    } else {
        haechi_audit::export(&log_dir, to, &ExportOptions::default())?
    };
    print_export(&report, to, seal);
    Ok(Outcome::Clean)
}

fn print_export(report: &ExportReport, to: &Path, seal: bool) {
    println!(
        "exported {} segments ({} records, {} Parquet files, {} bytes) to {}; {} segments were \
         already there",
        report.segments_exported,
        report.records,
        report.files_written.len(),
        report.bytes_written,
        to.display(),
        report.segments_already_archived
    );
    for file in &report.files_written {
        println!("  {}", file.display());
    }
    if !seal {
        eprintln!(
            "The active segment is not exported until it is sealed (at its size limit, or with \
             --seal while the server is stopped)."
        );
    }
}

/// Deletes archived sealed segments before `before_seq` and older than `older_than` (default:
/// the configured retention). All or nothing: if any segment the bounds select is not
/// archived, nothing is deleted and the command fails naming it, so the operator never ends
/// up with a log pruned up to an arbitrary point.
fn prune(
    config: &Config,
    before_seq: Option<u64>,
    older_than: Option<Duration>,
    mode: PruneMode,
) -> anyhow::Result<Outcome> {
    let log_dir = existing_log_dir(config)?;
    let older_than = older_than.or(config.audit.retention);
    if before_seq.is_none() && older_than.is_none() {
        anyhow::bail!(
            "prune what? give --before SEQ or --older-than AGE (e.g. 30d), or set \
             audit.retention in the configuration"
        );
    }
    // Deleting files of the log is a writer's act: not behind a running server's back (it
    // prunes by itself when audit.retention is set), and not while a one-shot command has the
    // log open (prune_closed_log takes the log's own lock for that).
    let _lock = DataDirLock::acquire_or_explain(
        config,
        "stop it before pruning by hand, or set audit.retention and let it prune archived \
         segments itself",
    )?;
    let options = PruneOptions {
        before_seq: before_seq.unwrap_or(u64::MAX),
        recorded_before: older_than.map(|age| haechi_events::SystemClock.now().minus(age)),
        mode: PruneMode::DryRun,
    };
    let closed_log = |options: &PruneOptions| {
        haechi_audit::prune_closed_log(&log_dir, options).map_err(|error| match error {
            haechi_audit::Error::InUse { dir } => anyhow::anyhow!(
                "the audit log in {} is held by another haechi command; prune when it has \
                 finished",
                dir.display()
            ),
            other => anyhow::Error::new(other).context("cannot prune the audit log"),
        })
    };
    let planned = closed_log(&options)?;
    if let Some(segment) = &planned.stopped_at_unarchived {
        let partial = match planned.seqs {
            Some((_, last)) => format!(
                ", or prune only what is archived with --before {}",
                last + 1
            ),
            None => String::new(),
        };
        anyhow::bail!(
            "{} is old enough to prune but is not in the Parquet archive (or its archive copy \
             no longer matches it), so nothing was deleted: export it first (haechi audit \
             export --to DIR --seal){partial}",
            segment.display()
        );
    }
    let report = match mode {
        PruneMode::DryRun => planned,
        PruneMode::Delete => closed_log(&PruneOptions {
            mode: PruneMode::Delete,
            ..options
        })?,
    };
    print_prune(&report, mode);
    Ok(Outcome::Clean)
}

fn print_prune(report: &PruneReport, mode: PruneMode) {
    let Some((first, last)) = report.seqs else {
        println!("nothing to prune: no sealed, archived segment is within the bounds given");
        return;
    };
    let verb = match mode {
        PruneMode::DryRun => "would delete",
        PruneMode::Delete => "deleted",
    };
    println!(
        "{verb} {} segments ({} records, seq {first}..={last}) from the live log; they remain \
         in the archive (verify with haechi audit verify --archive DIR)",
        report.deleted.len(),
        report.records
    );
    for segment in &report.deleted {
        println!("  {}", segment.display());
    }
}

/// Prints every matching record as a JSON line, page by page, up to `limit`.
fn search(
    config: &Config,
    params: &[(&str, Option<&str>)],
    limit: Option<u64>,
) -> anyhow::Result<Outcome> {
    if let Some(url) = &config.bus.url {
        return super::audit_cluster::search(config, url, params, limit);
    }
    let log_dir = existing_log_dir(config)?;
    let given = params
        .iter()
        .filter_map(|(name, value)| value.map(|value| (*name, value)));
    let (filter, mut page) = haechi_audit::parse_search(given, MAX_PAGE)
        .map_err(|error| anyhow::anyhow!("--{}: {}", error.name, error.reason))?;
    let mut remaining = limit.unwrap_or(u64::MAX);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    while remaining > 0 {
        page.limit = usize::try_from(remaining).unwrap_or(MAX_PAGE).min(MAX_PAGE);
        let records = haechi_audit::search(&log_dir, &filter, page)?;
        for record in &records {
            serde_json::to_writer(&mut out, record)?;
            out.write_all(b"\n")?;
        }
        remaining -= records.len() as u64;
        match records.last() {
            Some(last) if records.len() == page.limit => page.after_seq = last.seq,
            _ => break,
        }
    }
    out.flush()?;
    Ok(Outcome::Clean)
}

fn existing_log_dir(config: &Config) -> anyhow::Result<PathBuf> {
    let dir = audit_dir(config);
    if !dir.is_dir() {
        anyhow::bail!(
            "no audit log at {} (it is created when haechi serve or a command first opens the \
             data directory)",
            dir.display()
        );
    }
    Ok(dir)
}
