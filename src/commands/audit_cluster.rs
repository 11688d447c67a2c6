//! `haechi audit verify`, `export`, `search` and `prune` with a bus: over every node's chain in
//! the cluster's audit stream rather than one node's log, and the cluster's archive
//! (docs/cluster-audit.md).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use haechi_audit::{ExportOptions, PruneMode, VerifySources};
use haechi_bus::{Bus, BusOptions, EntryContent, PruneBound};

use crate::Outcome;
use crate::commands::block_on;
use crate::config::Config;

/// Connects to the cluster's audit stream.
async fn connect(config: &Config, url: &str, purpose: &str) -> anyhow::Result<Bus> {
    let mut options = BusOptions::new(url, &config.bus.prefix, config.bus.replicas);
    options.ack_timeout = config.bus.ack_timeout;
    options.retention = config.bus.retention.into();
    options.connection_name = format!("haechi audit {purpose}");
    Bus::connect(options)
        .await
        .with_context(|| format!("cannot reach the bus at {}", haechi_bus::redact_url(url)))
}

/// Every node's chain in the stream, checked with the same checks as a local log
/// (`haechi_bus::verify_cluster`), plus anything in the stream no node put there; with the
/// cluster's archive, every chain from seq 1 through the archive and on through the stream.
pub(super) fn verify(
    config: &Config,
    url: &str,
    key: &ed25519_dalek::VerifyingKey,
    archive: Option<&PathBuf>,
) -> anyhow::Result<Outcome> {
    let report = block_on(async {
        let bus = connect(config, url, "verify").await?;
        anyhow::Ok(match archive {
            Some(archive) => bus.verify_with_archive(key, archive).await?,
            None => bus.verify(key).await?,
        })
    })??;
    print!("{report}");
    Ok(if report.is_intact() {
        Outcome::Clean
    } else {
        Outcome::Findings
    })
}

/// The records of every node matching the filter, in stream order, as JSON lines with the
/// node's name (`node`) and the stream sequence (`stream_sequence`) beside the record.
pub(super) fn search(
    config: &Config,
    url: &str,
    params: &[(&str, Option<&str>)],
    limit: Option<u64>,
) -> anyhow::Result<Outcome> {
    let given = params
        .iter()
        .filter_map(|(name, value)| value.map(|value| (*name, value)));
    // The page settings do not apply to a stream read front to back; the limit does.
    let (filter, _) = haechi_audit::parse_search(given, usize::MAX)
        .map_err(|error| anyhow::anyhow!("--{}: {}", error.name, error.reason))?;
    let mut remaining = limit.unwrap_or(u64::MAX);
    block_on(async {
        let bus = connect(config, url, "search").await?;
        let mut reader = bus.reader().await?;
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        while remaining > 0 {
            let Some(entry) = reader.next_entry().await? else {
                break;
            };
            let EntryContent::Record { node, record, .. } = entry.content else {
                continue;
            };
            if !filter.matches(&record.event) {
                continue;
            }
            let mut line = serde_json::to_value(&record)?;
            if let Some(object) = line.as_object_mut() {
                object.insert("node".into(), node.as_str().into());
                object.insert("stream_sequence".into(), entry.sequence.into());
            }
            serde_json::to_writer(&mut out, &line)?;
            out.write_all(b"\n")?;
            remaining -= 1;
        }
        out.flush()?;
        anyhow::Ok(())
    })??;
    Ok(Outcome::Clean)
}

/// `audit verify --archive DIR` without a bus, where DIR is a cluster's archive: each node's
/// directory is an archive of one chain, verified on its own. `None` when no directory given
/// is a cluster's archive (the single log's verify goes on).
pub(super) fn verify_cluster_archives(
    archives: &[PathBuf],
    key: &ed25519_dalek::VerifyingKey,
) -> anyhow::Result<Option<Outcome>> {
    let mut clusters = Vec::new();
    for archive in archives {
        if let Some(nodes) = haechi_bus::cluster_archive_nodes(archive)? {
            clusters.push((archive, nodes));
        }
    }
    if clusters.is_empty() {
        return Ok(None);
    }
    anyhow::ensure!(
        clusters.len() == archives.len(),
        "give a cluster's archive alone: its node directories are verified one by one"
    );
    let mut outcome = Outcome::Clean;
    for (archive, nodes) in clusters {
        println!(
            "cluster archive {}: {} nodes",
            archive.display(),
            nodes.len()
        );
        for (node, dir) in nodes {
            let report = haechi_audit::verify(&VerifySources::archive(dir), key)?;
            print!("node {node}: {report}");
            if !report.is_intact() {
                outcome = Outcome::Findings;
            }
        }
    }
    Ok(Some(outcome))
}

/// Writes what is new in the stream into the cluster's archive `to`.
pub(super) fn export(config: &Config, url: &str, to: &Path) -> anyhow::Result<Outcome> {
    let report = block_on(async {
        let bus = connect(config, url, "export").await?;
        anyhow::Ok(bus.export(to, &ExportOptions::default()).await?)
    })??;
    println!(
        "exported stream {} messages {}..={} to {}: {} records, {} checkpoints, {} Parquet \
         files, {} bytes",
        report.stream,
        report.from_sequence,
        report.through_sequence,
        to.display(),
        report.records,
        report.checkpoints,
        report.files_written.len(),
        report.bytes_written
    );
    for (node, (first, last)) in &report.nodes {
        println!("  node {node}: seq {first}..={last}");
    }
    for file in &report.uncommitted_removed {
        eprintln!(
            "removed {}, left by an interrupted export beyond its marker (written again)",
            file.display()
        );
    }
    if !report.skipped.is_empty() {
        eprintln!(
            "warning: {} messages are in no node's chain and were not archived (first: \
             sequence {} on {}); haechi audit verify --bus reports them",
            report.skipped.len(),
            report.skipped[0].0,
            report.skipped[0].1
        );
    }
    Ok(Outcome::Clean)
}

/// The bound of `audit prune --bus`: exactly one of a stream sequence or an age.
pub(super) fn prune_bound(
    before_sequence: Option<u64>,
    older_than: Option<Duration>,
) -> anyhow::Result<PruneBound> {
    match (before_sequence, older_than) {
        (Some(sequence), None) => Ok(PruneBound::BeforeSequence(sequence)),
        (None, Some(age)) => {
            let instant = SystemTime::now()
                .checked_sub(age)
                .context("--older-than reaches before the start of time")?;
            Ok(PruneBound::OlderThan(instant))
        }
        (Some(_), Some(_)) => {
            anyhow::bail!("give --before-sequence or --older-than, not both")
        }
        (None, None) => anyhow::bail!(
            "prune what? give --before-sequence STREAM_SEQ or --older-than AGE (e.g. 30d)"
        ),
    }
}

/// Purges what the cluster's archive holds from the stream (or, in a dry run, says what).
pub(super) fn prune(
    config: &Config,
    url: &str,
    key: &ed25519_dalek::VerifyingKey,
    archive: &Path,
    bound: PruneBound,
    mode: PruneMode,
) -> anyhow::Result<Outcome> {
    let report = block_on(async {
        let bus = connect(config, url, "prune").await?;
        anyhow::Ok(bus.prune(key, archive, bound, mode).await?)
    })??;
    let verb = match mode {
        PruneMode::Delete => "pruned",
        PruneMode::DryRun => "would prune (dry run)",
    };
    println!(
        "{verb} stream {} before sequence {}: {} nodes",
        report.stream,
        report.before_sequence,
        report.nodes.len()
    );
    if let Some((consumer, floor)) = &report.held_by_consumer {
        println!(
            "  held back to sequence {} by consumer {consumer}, which has acknowledged \
             through {floor}",
            floor + 1
        );
    }
    for (node, pruned) in &report.nodes {
        println!(
            "  node {node}: seq 1..={} (resumes after the checkpoint at sequence {}); {} \
             records and {} checkpoints purged",
            pruned.through_seq,
            pruned.checkpoint_sequence,
            pruned.records_purged,
            pruned.checkpoints_purged
        );
    }
    Ok(Outcome::Clean)
}
