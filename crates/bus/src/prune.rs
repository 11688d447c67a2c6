//! Pruning the cluster's audit stream (`haechi audit prune --bus`): each node's records before
//! a bound are purged, but only up to a signed checkpoint the stream keeps, and only once they
//! are in the cluster's archive, read back and found identical.
//!
//! The order of the checks, each refusing with nothing purged:
//! 1. the stream allows purges at all ([`crate::StreamRetention::Archive`]);
//! 2. the archive is this stream's export and is exported through the bound;
//! 3. the stream and the archive verify together, every chain from seq 1 (records, links,
//!    signed checkpoints; a seq in both must be the same record in both);
//! 4. every record before the bound is one the archive holds contiguously from seq 1;
//! 5. the checkpoint each node's chain will resume after is in the archive's `_checkpoints`.
//!
//! Then, per node, two purges filtered to its subjects: its records through the checkpoint's
//! seq, then its checkpoints before that one. A crash between them leaves older checkpoints
//! that verify ignores; running prune again finishes. The bound is lowered to what every
//! durable consumer (detection's feed) has acknowledged, so nothing is purged unevaluated.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::time::SystemTime;

use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::stream::Stream;
use ed25519_dalek::VerifyingKey;
use futures::StreamExt;
use haechi_audit::record::decode_stored;
use haechi_audit::{Checkpoint, PruneMode, SignatureCheck};

use crate::Error;
use crate::archive::{node_archive_dir, node_checkpoints, read_marker};
use crate::names::{Names, NodeId, Part};
use crate::reader::{ClusterAuditReader, EntryContent};
use crate::stream::{next_ordered, ordered_messages_by};
use crate::verify::verify_stream;

/// Which messages a prune is asked to remove: those before a stream sequence, or those
/// published before an instant. Both mean a prefix of the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PruneBound {
    /// Messages with a stream sequence below this.
    BeforeSequence(u64),
    /// Messages the stream received before this instant.
    OlderThan(SystemTime),
}

/// What happened (or, in a dry run, would happen) to one node's chain in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodePrune {
    /// The node's seqs 1 through this one are no longer in the stream; its chain there
    /// resumes after the signed checkpoint of this seq.
    pub through_seq: u64,
    /// The stream sequence of that checkpoint, which stays.
    pub checkpoint_sequence: u64,
    /// Records purged (0 in a dry run).
    pub records_purged: u64,
    /// Checkpoints purged (0 in a dry run).
    pub checkpoints_purged: u64,
}

/// What [`crate::Bus::prune`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamPruneReport {
    /// The stream.
    pub stream: String,
    /// Deleted, or only checked.
    pub mode: PruneMode,
    /// The bound as a stream sequence: only messages before it were considered.
    pub before_sequence: u64,
    /// A durable consumer whose acknowledgements lowered the bound, and its ack floor.
    pub held_by_consumer: Option<(String, u64)>,
    /// Each node whose chain was pruned.
    pub nodes: BTreeMap<NodeId, NodePrune>,
}

/// A place a node's chain can be cut: a signed checkpoint and its record, both before the
/// bound.
#[derive(Debug, Clone)]
struct Cut {
    checkpoint: Checkpoint,
    checkpoint_sequence: u64,
    /// The stream sequence of the record the checkpoint pins.
    record_sequence: u64,
}

/// Prunes `stream` (see [`crate::Bus::prune`]).
pub(crate) async fn prune_stream(
    stream: &Stream,
    names: &Names,
    key: &VerifyingKey,
    archive: &Path,
    bound: PruneBound,
    mode: PruneMode,
) -> Result<StreamPruneReport, Error> {
    let refuse = |reason: String| Error::PruneRefused {
        stream: names.stream().to_string(),
        reason,
    };
    let info = stream
        .get_info()
        .await
        .map_err(|error| Error::jetstream(format!("reading {}", names.stream()), error))?;
    if info.config.deny_purge {
        return Err(refuse(
            "the stream denies purges: it was created with bus.retention = forever (the \
             default), and JetStream cannot lift that (\"stream configuration update can not \
             cancel deny purge\"). Its records stay; see docs/cluster-audit.md for a stream \
             that can be pruned"
                .into(),
        ));
    }
    let marker = read_marker(archive)?.ok_or_else(|| {
        refuse(format!(
            "{} has no export marker: export the stream there first (haechi audit export --bus)",
            archive.display()
        ))
    })?;
    if marker.stream != names.stream() {
        return Err(refuse(format!(
            "{} is the export of stream {}",
            archive.display(),
            marker.stream
        )));
    }
    let last_sequence = info.state.last_sequence;
    let mut before_sequence = match bound {
        PruneBound::BeforeSequence(0) => {
            return Err(refuse("--before-sequence must be at least 1".into()));
        }
        PruneBound::BeforeSequence(sequence) if sequence > last_sequence + 1 => {
            return Err(refuse(format!(
                "the stream's last message is sequence {last_sequence}; sequence {sequence} \
                 is beyond it"
            )));
        }
        PruneBound::BeforeSequence(sequence) => sequence,
        PruneBound::OlderThan(instant) => {
            first_sequence_since(stream, names, instant, last_sequence).await?
        }
    };
    let held_by_consumer = lowest_ack_floor(stream, names)
        .await?
        .filter(|(_, floor)| floor + 1 < before_sequence);
    if let Some((_, floor)) = &held_by_consumer {
        before_sequence = floor + 1;
    }
    if before_sequence.saturating_sub(1) > marker.through {
        return Err(refuse(format!(
            "the archive {} holds the stream through sequence {}, the prune would reach \
             sequence {}: run haechi audit export --bus first",
            archive.display(),
            marker.through,
            before_sequence - 1
        )));
    }

    let verified = verify_stream(stream, names, key, Some(archive)).await?;
    if !verified.is_intact() {
        return Err(refuse(format!(
            "the stream and the archive do not verify together:\n{verified}"
        )));
    }
    let mut archived = verified.archived;
    for (node, through) in &mut archived {
        *through = (*through).min(marker.last_seq(node.as_str()));
    }
    let cuts = plan(stream, names, key, before_sequence, &archived)
        .await
        .map_err(|reason| match reason {
            Planned::Refused(reason) => refuse(reason),
            Planned::Failed(error) => error,
        })?;

    let mut report = StreamPruneReport {
        stream: names.stream().to_string(),
        mode,
        before_sequence,
        held_by_consumer,
        nodes: BTreeMap::new(),
    };
    let mut chosen = Vec::new();
    for (node, candidates) in cuts {
        let last_seq = last_record_seq(stream, names, &node).await?;
        // Never a node's last record: its writer checks the subject's tail at each append.
        let Some(cut) = candidates
            .into_iter()
            .rev()
            .find(|cut| cut.checkpoint.seq < last_seq)
        else {
            continue;
        };
        let kept = node_checkpoints(&node_archive_dir(archive, &node))?;
        if !kept.contains(&cut.checkpoint) {
            return Err(refuse(format!(
                "the archive's _checkpoints of node {node} lack the checkpoint of seq {} its \
                 chain would resume after",
                cut.checkpoint.seq
            )));
        }
        chosen.push((node, cut));
    }
    for (node, cut) in chosen {
        let mut pruned = NodePrune {
            through_seq: cut.checkpoint.seq,
            checkpoint_sequence: cut.checkpoint_sequence,
            records_purged: 0,
            checkpoints_purged: 0,
        };
        if mode == PruneMode::Delete {
            pruned.records_purged = purge(
                stream,
                names.subject(&node, Part::Records),
                cut.record_sequence + 1,
            )
            .await?;
            pruned.checkpoints_purged = purge(
                stream,
                names.subject(&node, Part::Checkpoints),
                cut.checkpoint_sequence,
            )
            .await?;
        }
        report.nodes.insert(node, pruned);
    }
    Ok(report)
}

/// Why planning stopped.
enum Planned {
    Refused(String),
    Failed(Error),
}

impl From<Error> for Planned {
    fn from(error: Error) -> Self {
        Planned::Failed(error)
    }
}

/// Reads the stream before `before_sequence` and returns, per node, the last two places its
/// chain can be cut (a signed checkpoint after its record). Refuses if a record there is not
/// archived.
async fn plan(
    stream: &Stream,
    names: &Names,
    key: &VerifyingKey,
    before_sequence: u64,
    archived: &BTreeMap<NodeId, u64>,
) -> Result<BTreeMap<NodeId, Vec<Cut>>, Planned> {
    let mut recent: BTreeMap<NodeId, VecDeque<(u64, u64)>> = BTreeMap::new();
    let mut cuts: BTreeMap<NodeId, Vec<Cut>> = BTreeMap::new();
    if before_sequence <= 1 {
        return Ok(cuts);
    }
    let mut reader = ClusterAuditReader::open(stream, names, names.all_subjects()).await?;
    while let Some(entry) = reader.next_entry().await? {
        if entry.sequence >= before_sequence {
            break;
        }
        match entry.content {
            EntryContent::Record { node, record, .. } => {
                let holds = archived.get(&node).copied().unwrap_or(0);
                if record.seq > holds {
                    return Err(Planned::Refused(format!(
                        "node {node}'s record seq {} (stream sequence {}) is before the bound \
                         but the archive holds node {node} only through seq {holds}: run \
                         haechi audit export --bus first",
                        record.seq, entry.sequence
                    )));
                }
                recent
                    .entry(node)
                    .or_default()
                    .push_back((record.seq, entry.sequence));
            }
            EntryContent::Checkpoint { node, checkpoint } => {
                if checkpoint.verify_signature(key) != SignatureCheck::Valid {
                    continue;
                }
                let Some(records) = recent.get_mut(&node) else {
                    continue;
                };
                let Some(&(_, record_sequence)) =
                    records.iter().find(|(seq, _)| *seq == checkpoint.seq)
                else {
                    continue;
                };
                records.retain(|(seq, _)| *seq > checkpoint.seq);
                let candidates = cuts.entry(node).or_default();
                candidates.push(Cut {
                    checkpoint,
                    checkpoint_sequence: entry.sequence,
                    record_sequence,
                });
                if candidates.len() > 2 {
                    candidates.remove(0);
                }
            }
            EntryContent::Undecodable { .. } | EntryContent::Foreign => {}
        }
    }
    Ok(cuts)
}

/// The seq of node `node`'s last record in the stream (0 if none).
async fn last_record_seq(stream: &Stream, names: &Names, node: &NodeId) -> Result<u64, Error> {
    let subject = names.subject(node, Part::Records);
    match stream.get_last_raw_message_by_subject(&subject).await {
        Ok(message) => Ok(decode_stored(&message.payload)
            .map(|(record, _)| record.seq)
            .unwrap_or(0)),
        Err(error)
            if error.kind()
                == async_nats::jetstream::stream::LastRawMessageErrorKind::NoMessageFound =>
        {
            Ok(0)
        }
        Err(error) => Err(Error::jetstream(
            format!("reading the end of {subject}"),
            error,
        )),
    }
}

/// The sequence of the first message received at or after `instant`, or the one after the
/// last message if none was.
async fn first_sequence_since(
    stream: &Stream,
    names: &Names,
    instant: SystemTime,
    last_sequence: u64,
) -> Result<u64, Error> {
    let start_time = time::OffsetDateTime::from(instant);
    let filter = names.all_subjects();
    let (mut messages, waiting) = ordered_messages_by(
        stream,
        filter.clone(),
        DeliverPolicy::ByStartTime { start_time },
    )
    .await?;
    if waiting == 0 {
        return Ok(last_sequence + 1);
    }
    Ok(next_ordered(&mut messages, &filter)
        .await?
        .map_or(last_sequence + 1, |(_, sequence, _)| sequence))
}

/// The durable consumer (detection's feed) with the lowest acknowledgement floor.
async fn lowest_ack_floor(stream: &Stream, names: &Names) -> Result<Option<(String, u64)>, Error> {
    let operation = || format!("listing the consumers of {}", names.stream());
    let mut consumers = stream.consumers();
    let mut lowest: Option<(String, u64)> = None;
    while let Some(consumer) = consumers.next().await {
        let consumer = consumer.map_err(|error| Error::jetstream(operation(), error))?;
        if consumer.config.durable_name.is_none() {
            continue;
        }
        let floor = consumer.ack_floor.stream_sequence;
        if lowest.as_ref().is_none_or(|(_, lowest)| floor < *lowest) {
            lowest = Some((consumer.name, floor));
        }
    }
    Ok(lowest)
}

/// Purges the messages on `subject` below stream sequence `before`; returns how many.
async fn purge(stream: &Stream, subject: String, before: u64) -> Result<u64, Error> {
    let response = stream
        .purge()
        .filter(subject.clone())
        .sequence(before)
        .await
        .map_err(|error| Error::jetstream(format!("purging {subject} below {before}"), error))?;
    Ok(response.purged)
}
