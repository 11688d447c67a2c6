//! `haechi audit verify` and `search` with a bus: over every node's chain in the cluster's
//! audit stream rather than one node's log (docs/cluster-audit.md).

use std::io::Write as _;

use anyhow::Context as _;
use haechi_bus::{Bus, BusOptions, EntryContent};

use crate::Outcome;
use crate::commands::block_on;
use crate::config::Config;

/// Connects to the cluster's audit stream for reading.
async fn connect(config: &Config, url: &str, purpose: &str) -> anyhow::Result<Bus> {
    let mut options = BusOptions::new(url, &config.bus.prefix, config.bus.replicas);
    options.connection_name = format!("haechi audit {purpose}");
    Bus::connect(options)
        .await
        .with_context(|| format!("cannot reach the bus at {}", haechi_bus::redact_url(url)))
}

/// Every node's chain in the stream, checked with the same checks as a local log
/// (`haechi_bus::verify_cluster`), plus anything in the stream no node put there.
pub(super) fn verify(
    config: &Config,
    url: &str,
    key: &ed25519_dalek::VerifyingKey,
) -> anyhow::Result<Outcome> {
    let report = block_on(async {
        let bus = connect(config, url, "verify").await?;
        anyhow::Ok(bus.verify(key).await?)
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
