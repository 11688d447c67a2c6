//! Verifying the cluster's audit stream: every node's chain on its own — each record's hash,
//! seq continuity from 1, prev_hash links, and the node's signed checkpoints against the audit
//! public key — with the audit crate's own checks ([`haechi_audit::ChainVerifier`]), plus
//! every message that is not where an audit message belongs.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use async_nats::jetstream::stream::Stream;
use ed25519_dalek::VerifyingKey;
use haechi_audit::{ChainVerifier, Checkpoint, Location, Problem, VerifyReport};

use crate::Error;
use crate::archive::{EXPORT_MARKER, cluster_archive_nodes};
use crate::chains::NodeChains;
use crate::names::{Names, NodeId, Part};
use crate::reader::{ClusterAuditReader, EntryContent};

/// What [`verify_cluster`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterVerifyReport {
    /// The stream read.
    pub stream: String,
    /// Each node's chain, verified on its own.
    pub nodes: BTreeMap<NodeId, VerifyReport>,
    /// Messages on subjects of the stream where no audit message belongs, by stream sequence
    /// and subject: published by something that is not a Haechi node.
    pub foreign: Vec<(u64, String)>,
    /// Messages read.
    pub messages: u64,
    /// The cluster's archive read with the stream, if one was given.
    pub archive: Option<PathBuf>,
    /// Per node the archive holds: the highest seq such that it holds every seq from 1
    /// through it.
    pub archived: BTreeMap<NodeId, u64>,
    /// Nodes the archive holds that have no message left in the stream. A prune always
    /// leaves a node's last records and the signed checkpoint its chain resumes after, so
    /// their messages were removed by something else.
    pub vanished: Vec<NodeId>,
}

impl ClusterVerifyReport {
    /// Whether every node's chain verifies and nothing foreign is in the stream.
    pub fn is_intact(&self) -> bool {
        self.foreign.is_empty()
            && self.vanished.is_empty()
            && self.nodes.values().all(VerifyReport::is_intact)
    }

    /// Records checked, over every node.
    pub fn records(&self) -> u64 {
        self.nodes.values().map(|report| report.records).sum()
    }
}

impl fmt::Display for ClusterVerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "stream {}{}: {} messages, {} nodes, {} records{}",
            self.stream,
            self.archive
                .as_ref()
                .map(|dir| format!(" with archive {}", dir.display()))
                .unwrap_or_default(),
            self.messages,
            self.nodes.len(),
            self.records(),
            if self.is_intact() {
                ", all chains verify"
            } else {
                ": TAMPERING OR DAMAGE"
            }
        )?;
        for (node, report) in &self.nodes {
            write!(f, "node {node}: {report}")?;
        }
        for node in &self.vanished {
            writeln!(
                f,
                "  node {node}: the archive holds its chain through seq {}, the stream none of its \
                 messages (a prune leaves the last records and a signed checkpoint): removed",
                self.archived.get(node).copied().unwrap_or(0)
            )?;
        }
        for (sequence, subject) in &self.foreign {
            writeln!(
                f,
                "  foreign message {sequence} on {subject}: no audit message belongs there"
            )?;
        }
        Ok(())
    }
}

/// Reads the whole audit stream and verifies every node's chain against the audit public
/// key (see [`crate::verify_cluster`]); with the cluster's archive, each chain from seq 1
/// through the archive and on through the stream.
pub(crate) async fn verify_stream(
    stream: &Stream,
    names: &Names,
    key: &VerifyingKey,
    archive: Option<&Path>,
) -> Result<ClusterVerifyReport, Error> {
    let stream_name = names.stream().to_string();
    let mut report = ClusterVerifyReport {
        stream: stream_name.clone(),
        archive: archive.map(Path::to_path_buf),
        ..ClusterVerifyReport::default()
    };
    if let Some(dir) = archive
        && cluster_archive_nodes(dir)?.is_none()
    {
        return Err(Error::Archive {
            dir: dir.to_path_buf(),
            reason: format!(
                "no {EXPORT_MARKER} marker: not an export of the stream (haechi audit export --bus)"
            ),
        });
    }

    let mut checkpoints: BTreeMap<NodeId, Vec<(Checkpoint, Location)>> = BTreeMap::new();
    let mut unreadable_checkpoints: BTreeMap<NodeId, Vec<Problem>> = BTreeMap::new();
    let mut reader =
        ClusterAuditReader::open(stream, names, names.every_node(Part::Checkpoints)).await?;
    while let Some(entry) = reader.next_entry().await? {
        let location = entry.location(&stream_name);
        match entry.content {
            EntryContent::Checkpoint { node, checkpoint } => {
                checkpoints
                    .entry(node)
                    .or_default()
                    .push((checkpoint, location));
            }
            EntryContent::Undecodable { node, reason, .. } => {
                unreadable_checkpoints
                    .entry(node)
                    .or_default()
                    .push(Problem::CorruptCheckpoint { location, reason });
            }
            EntryContent::Record { .. } | EntryContent::Foreign => {}
        }
    }

    let mut chains = NodeChains::new(key, archive, checkpoints, unreadable_checkpoints);
    let mut reader = ClusterAuditReader::open(stream, names, names.all_subjects()).await?;
    while let Some(entry) = reader.next_entry().await? {
        report.messages += 1;
        let location = entry.location(&stream_name);
        match entry.content {
            EntryContent::Record {
                node,
                record,
                computed_hash,
            } => chains.record(&node, record, computed_hash, location)?,
            EntryContent::Undecodable {
                node,
                part: Part::Records,
                reason,
            } => chains.undecodable(&node, location, reason)?,
            EntryContent::Checkpoint { node, .. }
            | EntryContent::Undecodable {
                node,
                part: Part::Checkpoints,
                ..
            } => {
                // Read in the first pass; make sure a node with only checkpoints is reported.
                chains.seen(&node)?;
            }
            EntryContent::Foreign => report.foreign.push((entry.sequence, entry.subject)),
        }
    }
    let finished = chains.finish()?;
    report.nodes = finished.reports;
    report.archived = finished.archived;
    report.vanished = finished.vanished;
    Ok(report)
}

/// Reads one node's chain from the stream — its checkpoints, then its records — and verifies
/// it against the audit public key (see [`crate::verify_node`]).
pub(crate) async fn verify_one_chain(
    stream: &Stream,
    names: &Names,
    node: &NodeId,
    key: &VerifyingKey,
) -> Result<VerifyReport, Error> {
    let stream_name = names.stream().to_string();
    let mut checkpoints = Vec::new();
    let mut unreadable = Vec::new();
    let mut reader =
        ClusterAuditReader::open(stream, names, names.subject(node, Part::Checkpoints)).await?;
    while let Some(entry) = reader.next_entry().await? {
        let location = entry.location(&stream_name);
        match entry.content {
            EntryContent::Checkpoint { checkpoint, .. } => checkpoints.push((checkpoint, location)),
            EntryContent::Undecodable { reason, .. } => {
                unreadable.push(Problem::CorruptCheckpoint { location, reason });
            }
            EntryContent::Record { .. } | EntryContent::Foreign => {}
        }
    }
    // A chain pruned into the archive resumes after a signed checkpoint (a notice).
    let mut chain = ChainVerifier::new(key, checkpoints).resuming_after_checkpoint();
    for problem in unreadable {
        chain.problem(problem);
    }
    let mut reader =
        ClusterAuditReader::open(stream, names, names.subject(node, Part::Records)).await?;
    while let Some(entry) = reader.next_entry().await? {
        let location = entry.location(&stream_name);
        match entry.content {
            EntryContent::Record {
                record,
                computed_hash,
                ..
            } => chain.record(record, computed_hash, location),
            EntryContent::Undecodable { reason, .. } => chain.undecodable(location, reason),
            EntryContent::Checkpoint { .. } | EntryContent::Foreign => {}
        }
    }
    Ok(chain.finish())
}
