//! A closed log moved into the audit stream as the chain of a node id of its own
//! (`haechi migrate --bus`): an embedded deployment's history becomes one more per-node chain,
//! verified by [`crate::verify_cluster`] like every other.
//!
//! Nothing is re-signed or re-hashed: every record goes out exactly as stored (from seq 1,
//! archived ones included, [`haechi_audit::read_history`]) and every checkpoint as signed, so
//! the chain in the stream is the embedded chain, provable with the same audit public key. The
//! publishing is the log writer's own ([`JetStreamReplica`]): message ids `node:seq` (a
//! repeat is dropped by JetStream, and a duplicate is compared byte for byte), the first
//! message of every append conditional on the subject's last sequence (a second writer under
//! the node id is refused).
//!
//! **Resumable.** The stream is asked where the node's chain ends; the record there must be
//! the log's own record at that seq (else [`Error::ChainConflict`]: another chain was moved
//! or written under this node id), and publishing continues after it. Run twice, the second
//! run publishes nothing.

use std::path::{Path, PathBuf};

use haechi_audit::{AuditRecord, Checkpoint, Replica as _, ReplicaBatch, ReplicaError};

use crate::Error;
use crate::connection::Bus;
use crate::names::NodeId;
use crate::replica::WINDOW;

/// What [`republish_log`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepublishReport {
    /// The node id the chain is under.
    pub node: NodeId,
    /// The stream.
    pub stream: String,
    /// Records of the log (from seq 1).
    pub records: u64,
    /// Of those, records this run published (the others were already in the stream).
    pub published_records: u64,
    /// Signed checkpoints of the log.
    pub checkpoints: u64,
    /// Of those, checkpoints this run published.
    pub published_checkpoints: u64,
    /// The chain's last seq and stored hash (`None` for an empty log).
    pub head: Option<(u64, [u8; 32])>,
    /// The log's last signed checkpoint.
    pub last_checkpoint: Option<Checkpoint>,
}

/// Publishes the history of the closed log in `log_dir` (hold it: [`haechi_audit::hold_log`])
/// to `bus`'s audit stream as node `node_id`'s chain, from where the stream's copy ends.
/// `progress` is told how many records of the log have been handled (published or found
/// already there) after each append.
pub async fn republish_log(
    bus: &Bus,
    node_id: &str,
    log_dir: &Path,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<RepublishReport, Error> {
    let mut replica = bus.replica(node_id)?;
    let node = replica.node().clone();
    let stream = bus.names().stream().to_string();
    let conflict = |reason: String| Error::ChainConflict {
        node: node.to_string(),
        stream: stream.clone(),
        reason,
    };
    let position = replica
        .position()
        .await
        .map_err(|error| replica_error(&node, &stream, error))?;
    // Where the stream's copy of this chain ends: records up to it are checked, not sent.
    let stream_end = position.last_record;
    let mut chunks = read_in_chunks(log_dir.to_path_buf());
    let mut report = RepublishReport {
        node: node.clone(),
        stream: stream.clone(),
        records: 0,
        published_records: 0,
        checkpoints: 0,
        published_checkpoints: 0,
        head: None,
        last_checkpoint: None,
    };
    let mut end_matched = stream_end.is_none();
    while let Some(chunk) = chunks.recv().await {
        let chunk = chunk?;
        let mut fresh = Vec::with_capacity(chunk.len());
        for record in chunk {
            report.records += 1;
            report.head = Some((record.seq, record.hash));
            match stream_end {
                Some(end) if record.seq < end.seq => {}
                Some(end) if record.seq == end.seq => {
                    if record.hash != end.hash {
                        return Err(conflict(format!(
                            "its record at seq {} is not this log's",
                            end.seq
                        )));
                    }
                    end_matched = true;
                }
                _ => fresh.push(record),
            }
        }
        if !fresh.is_empty() {
            let published = fresh.len() as u64;
            replica
                .append_records(ReplicaBatch::from_records(&fresh))
                .await
                .map_err(|error| replica_error(&node, &stream, error))?;
            report.published_records += published;
        }
        progress(report.records);
    }
    if !end_matched && let Some(end) = stream_end {
        return Err(conflict(format!(
            "it holds records up to seq {}, but this log ends at seq {}",
            end.seq,
            report.head.map_or(0, |(seq, _)| seq)
        )));
    }
    // The stream's copy must now end exactly where the log does.
    let after = replica
        .position()
        .await
        .map_err(|error| replica_error(&node, &stream, error))?;
    let stream_head = after.last_record.map(|head| (head.seq, head.hash));
    if stream_head != report.head {
        return Err(conflict(format!(
            "after publishing, its chain ends at seq {}, the log's at seq {}",
            stream_head.map_or(0, |(seq, _)| seq),
            report.head.map_or(0, |(seq, _)| seq)
        )));
    }
    let log_dir = log_dir.to_path_buf();
    let checkpoints = tokio::task::spawn_blocking(move || haechi_audit::log_checkpoints(&log_dir))
        .await
        .map_err(|error| Error::config(format!("the checkpoint reader stopped: {error}")))??;
    report.checkpoints = checkpoints.len() as u64;
    for checkpoint in &checkpoints {
        if checkpoint.seq > after.last_checkpoint_seq {
            replica
                .append_checkpoint(checkpoint)
                .await
                .map_err(|error| replica_error(&node, &stream, error))?;
            report.published_checkpoints += 1;
        }
    }
    report.last_checkpoint = checkpoints.last().cloned();
    Ok(report)
}

/// The log's history read on a thread of its own, in chunks of at most [`WINDOW`] records
/// (one append each), a few chunks ahead of the publisher.
fn read_in_chunks(
    log_dir: PathBuf,
) -> tokio::sync::mpsc::Receiver<Result<Vec<AuditRecord>, Error>> {
    let (sender, receiver) = tokio::sync::mpsc::channel(4);
    tokio::task::spawn_blocking(move || {
        let records = match haechi_audit::read_history(&log_dir) {
            Ok(records) => records,
            Err(error) => {
                let _ = sender.blocking_send(Err(error.into()));
                return;
            }
        };
        let mut chunk = Vec::with_capacity(WINDOW);
        for record in records {
            match record {
                Ok(record) => chunk.push(record),
                Err(error) => {
                    let _ = sender.blocking_send(Err(error.into()));
                    return;
                }
            }
            if chunk.len() == WINDOW {
                let full = std::mem::replace(&mut chunk, Vec::with_capacity(WINDOW));
                if sender.blocking_send(Ok(full)).is_err() {
                    return;
                }
            }
        }
        if !chunk.is_empty() {
            let _ = sender.blocking_send(Ok(chunk));
        }
    });
    receiver
}

/// A replica failure as the bus's error: a stream that disagrees is a conflict to resolve by
/// hand, anything else a JetStream failure to retry.
fn replica_error(node: &NodeId, stream: &str, error: ReplicaError) -> Error {
    match error {
        ReplicaError::Conflict { reason } | ReplicaError::Diverged { reason } => {
            Error::ChainConflict {
                node: node.to_string(),
                stream: stream.to_string(),
                reason,
            }
        }
        other => Error::jetstream(format!("republishing node {node}'s chain"), other),
    }
}
