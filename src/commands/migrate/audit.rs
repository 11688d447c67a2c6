//! The audit history in a move: republished to the cluster's audit stream as one more
//! per-node chain and verified there (`--bus`), or verified where it stays and referenced
//! from the cluster store. Records and checkpoints go out as stored and signed; nothing is
//! re-signed, so the same audit public key proves the moved chain.

use std::path::Path;

use anyhow::Context as _;
use ed25519_dalek::VerifyingKey;
use haechi_audit::{Checkpoint, VerifyReport, VerifySources};
use haechi_bus::{Bus, BusOptions, redact_url};
use haechi_store::transfer::AuditReference;
use indicatif::{ProgressBar, ProgressStyle};

use super::absolute;
use crate::config::Config;
use crate::runtime::audit_public_key;

/// What became of the audit history, and what to print about it.
pub(super) struct AuditOutcome {
    /// Where it is now, for the cluster store.
    pub reference: AuditReference,
    /// Whether the chain verified, complete, where it now is.
    pub verified: bool,
    /// Lines for the summary.
    pub lines: Vec<String>,
}

/// The cluster's bus and the node id the embedded chain goes under.
pub(super) struct BusTarget<'a> {
    pub url: &'a str,
    pub prefix: &'a str,
    pub replicas: usize,
    pub node: &'a str,
}

/// The audit public key to verify against: the auditor's copy given with `--audit-key`, or
/// the one derived from the deployment's master key when that is configured. Asked for
/// before anything moves, so a move is never left unverifiable.
pub(super) async fn verifying_key(
    config: &Config,
    file: Option<&Path>,
) -> anyhow::Result<VerifyingKey> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("--audit-key: cannot read {}", path.display()))?;
        return haechi_audit::parse_public_key(&text)
            .with_context(|| format!("--audit-key {}", path.display()));
    }
    if config.master_key.is_none() && !config.master_key_path().exists() {
        anyhow::bail!(
            "the moved audit chain is verified against the audit public key: pass --audit-key \
             FILE (`haechi audit public-key` prints it), or make the deployment's master key \
             available (HAECHI_MASTER_KEY or master_key_file). The move itself never reads it."
        );
    }
    audit_public_key(config).await
}

/// The deployment's identity: the hash of its audit chain's first record, which never
/// changes; `None` for a deployment without audit records.
pub(super) async fn chain_identity(log_dir: &Path) -> anyhow::Result<Option<String>> {
    if !log_dir.is_dir() {
        return Ok(None);
    }
    let dir = log_dir.to_path_buf();
    let first =
        tokio::task::spawn_blocking(move || haechi_audit::read_history(&dir)?.next().transpose())
            .await
            .context("the audit reader stopped")?
            .with_context(|| format!("cannot read the audit log in {}", log_dir.display()))?;
    Ok(first.map(|record| format!("audit:{}", hex::encode(record.hash))))
}

/// Connects to the cluster's bus (and makes sure its audit stream is there), before anything
/// moves: a bus that cannot be reached stops the move at its start, not halfway.
pub(super) async fn connect(target: &BusTarget<'_>) -> anyhow::Result<Bus> {
    let shown = redact_url(target.url);
    haechi_bus::NodeId::new(target.node).context("--audit-node")?;
    let mut options = BusOptions::new(target.url, target.prefix, target.replicas);
    options.connection_name = "haechi-migrate".into();
    Bus::connect(options)
        .await
        .with_context(|| format!("cannot reach the cluster's bus {shown}"))
}

/// Republishes the chain to the cluster's stream as `target.node`'s and verifies it there.
pub(super) async fn republish(
    bus: &Bus,
    target: &BusTarget<'_>,
    log_dir: &Path,
    key: &VerifyingKey,
) -> anyhow::Result<AuditOutcome> {
    if !log_dir.is_dir() {
        return Ok(no_log());
    }
    let shown = redact_url(target.url);
    let bar = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("{spinner} audit → {msg}: {pos} records {per_sec}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message(bus.names().stream().to_string());
    let published = haechi_bus::republish_log(bus, target.node, log_dir, &|records| {
        bar.set_position(records)
    })
    .await
    .context("cannot republish the audit history")?;
    bar.finish_and_clear();
    let report = haechi_bus::verify_node(bus, target.node, key)
        .await
        .context("cannot read the moved chain back from the stream")?;
    let head_seq = published.head.map_or(0, |(seq, _)| seq);
    let complete = report.records == published.records && report.last_seq == head_seq;
    let location = format!(
        "NATS stream {} on {shown}, node {}",
        published.stream, published.node
    );
    let mut lines = vec![format!(
        "audit: {} records and {} signed checkpoints in {location} ({} records and {} \
         checkpoints published by this run)",
        published.records,
        published.checkpoints,
        published.published_records,
        published.published_checkpoints
    )];
    lines.push(format!(
        "audit chain in the stream: {}",
        chain_line(&report)
    ));
    if !complete {
        lines.push(format!(
            "audit chain in the stream: INCOMPLETE: {} records up to seq {}, the log has {} up \
             to seq {head_seq}",
            report.records, report.last_seq, published.records
        ));
    }
    Ok(AuditOutcome {
        reference: reference(
            location,
            published.records,
            published.head,
            published.last_checkpoint.as_ref(),
        ),
        verified: report.is_intact() && complete,
        lines,
    })
}

/// Verifies the chain where it is (no `--bus`): it stays in the data directory, which the
/// cluster store now names.
pub(super) async fn verify_in_place(
    log_dir: &Path,
    key: &VerifyingKey,
) -> anyhow::Result<AuditOutcome> {
    if !log_dir.is_dir() {
        return Ok(no_log());
    }
    let dir = log_dir.to_path_buf();
    let key = *key;
    let (report, head, checkpoint) = tokio::task::spawn_blocking(move || {
        let report: VerifyReport = haechi_audit::verify(&VerifySources::log(&dir), &key)?;
        let mut head = None;
        for record in haechi_audit::read_history(&dir)? {
            let record = record?;
            head = Some((record.seq, record.hash));
        }
        let checkpoint = haechi_audit::log_checkpoints(&dir)?.pop();
        anyhow::Ok((report, head, checkpoint))
    })
    .await
    .context("the audit verifier stopped")?
    .with_context(|| format!("cannot verify the audit log in {}", log_dir.display()))?;
    let location = format!("embedded log {} (not moved)", absolute(log_dir));
    let lines = vec![
        format!(
            "audit: {} records stay in {} (no --bus); the cluster store records where they are",
            report.records,
            absolute(log_dir)
        ),
        format!("audit chain in place: {}", report.to_string().trim_end()),
    ];
    Ok(AuditOutcome {
        reference: reference(location, report.records, head, checkpoint.as_ref()),
        verified: report.is_intact(),
        lines,
    })
}

/// One line for a chain read from the stream: the verifier's own words, without the
/// segment and archive counts that only a log directory has.
fn chain_line(report: &VerifyReport) -> String {
    if report.is_intact() {
        format!(
            "all {} records verify (seq {}..={}; {} signed checkpoints, last at seq {})",
            report.records,
            report.first_seq,
            report.last_seq,
            report.checkpoints_verified,
            report.last_signed_seq
        )
    } else {
        report.to_string().trim_end().to_string()
    }
}

fn reference(
    location: String,
    records: u64,
    head: Option<(u64, [u8; 32])>,
    checkpoint: Option<&Checkpoint>,
) -> AuditReference {
    AuditReference {
        location,
        records,
        head: head.map(|(_, hash)| hash),
        checkpoint: checkpoint.map(|checkpoint| checkpoint.encode().to_vec()),
    }
}

fn no_log() -> AuditOutcome {
    AuditOutcome {
        reference: reference(
            "none: the deployment has no audit log".into(),
            0,
            None,
            None,
        ),
        verified: true,
        lines: vec!["audit: the deployment has no audit log; nothing to move".into()],
    }
}
