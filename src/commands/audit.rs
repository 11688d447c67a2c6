//! `haechi audit verify|export|search|public-key`.
//!
//! Everything here but `export --seal` only reads the log's files, so it works beside a
//! running server: sealed segments never change, and a reader stops at the end of the last
//! whole record of the active one. `export --seal` must write to the log (seal its active
//! segment and sign a checkpoint), which only the process holding it may do, so it needs the
//! server stopped.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use haechi_audit::{ActiveSegment, ExportOptions, ExportReport, MAX_PAGE, VerifySources};

use crate::Outcome;
use crate::cli::{AuditAction, KeyFormat};
use crate::commands::{block_on, init_quiet_logging};
use crate::config::Config;
use crate::runtime::{Runtime, audit_dir, audit_public_key};

pub fn run(action: AuditAction, config: &Config) -> anyhow::Result<Outcome> {
    init_quiet_logging();
    match action {
        AuditAction::Verify { archives, key } => verify(config, archives, key),
        AuditAction::Export { to, seal } => export(config, &to, seal),
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
) -> anyhow::Result<Outcome> {
    let key = match key_file {
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            haechi_audit::parse_public_key(&text)
                .with_context(|| format!("audit public key {}", path.display()))?
        }
        None => block_on(audit_public_key(config))??,
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
    };
    let report = haechi_audit::verify(&sources, &key)?;
    print!("{report}");
    Ok(if report.is_intact() {
        Outcome::Clean
    } else {
        Outcome::Findings
    })
}

fn export(config: &Config, to: &std::path::Path, seal: bool) -> anyhow::Result<Outcome> {
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

fn print_export(report: &ExportReport, to: &std::path::Path, seal: bool) {
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

/// Prints every matching record as a JSON line, page by page, up to `limit`.
fn search(
    config: &Config,
    params: &[(&str, Option<&str>)],
    limit: Option<u64>,
) -> anyhow::Result<Outcome> {
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
