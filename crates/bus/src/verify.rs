//! Verifying the cluster's audit stream: every node's chain on its own — each record's hash,
//! seq continuity from 1, prev_hash links, and the node's signed checkpoints against the audit
//! public key — with the audit crate's own checks ([`haechi_audit::ChainVerifier`]), plus
//! every message that is not where an audit message belongs.

use std::collections::BTreeMap;
use std::fmt;

use async_nats::jetstream::stream::Stream;
use ed25519_dalek::VerifyingKey;
use haechi_audit::{ChainVerifier, Checkpoint, Location, Problem, VerifyReport};

use crate::Error;
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
}

impl ClusterVerifyReport {
    /// Whether every node's chain verifies and nothing foreign is in the stream.
    pub fn is_intact(&self) -> bool {
        self.foreign.is_empty() && self.nodes.values().all(VerifyReport::is_intact)
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
            "stream {}: {} messages, {} nodes, {} records{}",
            self.stream,
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
/// key (see [`crate::verify_cluster`]).
pub(crate) async fn verify_stream(
    stream: &Stream,
    names: &Names,
    key: &VerifyingKey,
) -> Result<ClusterVerifyReport, Error> {
    let stream_name = names.stream().to_string();
    let mut report = ClusterVerifyReport {
        stream: stream_name.clone(),
        ..ClusterVerifyReport::default()
    };

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

    let mut chains = Chains {
        key,
        chains: BTreeMap::new(),
        checkpoints,
        unreadable_checkpoints,
    };
    let mut reader = ClusterAuditReader::open(stream, names, names.all_subjects()).await?;
    while let Some(entry) = reader.next_entry().await? {
        report.messages += 1;
        let location = entry.location(&stream_name);
        match entry.content {
            EntryContent::Record {
                node,
                record,
                computed_hash,
            } => chains.of(&node).record(record, computed_hash, location),
            EntryContent::Undecodable {
                node,
                part: Part::Records,
                reason,
            } => chains.of(&node).undecodable(location, reason),
            EntryContent::Checkpoint { node, .. }
            | EntryContent::Undecodable {
                node,
                part: Part::Checkpoints,
                ..
            } => {
                // Read in the first pass; make sure a node with only checkpoints is reported.
                chains.of(&node);
            }
            EntryContent::Foreign => report.foreign.push((entry.sequence, entry.subject)),
        }
    }
    // Checkpoints of nodes that have no message in the second pass (published meanwhile).
    let leftover: Vec<NodeId> = chains.checkpoints.keys().cloned().collect();
    for node in leftover {
        chains.of(&node);
    }
    report.nodes = chains
        .chains
        .into_iter()
        .map(|(node, chain)| (node, chain.finish()))
        .collect();
    Ok(report)
}

/// One chain verifier per node, each made with that node's checkpoints when its first
/// message is met.
struct Chains<'a> {
    key: &'a VerifyingKey,
    chains: BTreeMap<NodeId, ChainVerifier>,
    checkpoints: BTreeMap<NodeId, Vec<(Checkpoint, Location)>>,
    unreadable_checkpoints: BTreeMap<NodeId, Vec<Problem>>,
}

impl Chains<'_> {
    fn of(&mut self, node: &NodeId) -> &mut ChainVerifier {
        self.chains.entry(node.clone()).or_insert_with(|| {
            let mut chain =
                ChainVerifier::new(self.key, self.checkpoints.remove(node).unwrap_or_default());
            for problem in self.unreadable_checkpoints.remove(node).unwrap_or_default() {
                chain.problem(problem);
            }
            chain
        })
    }
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
    let mut chain = ChainVerifier::new(key, checkpoints);
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
