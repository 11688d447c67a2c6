//! [`JetStreamReplica`]: one node's audit log replicated to the audit stream, one message per
//! record on the node's records subject.
//!
//! **Only one writer per chain.** The first message of every append carries
//! `Nats-Expected-Last-Subject-Sequence`: the stream sequence of the last message this replica
//! knows on its subject. A second process under the same node id has a different idea of that
//! message, so its first append is refused ([`ReplicaError::Conflict`]); the log then reads the
//! subject's tail back ([`JetStreamReplica::position`]) and finds records that are not its own
//! → it fails closed. The rest of an append is pipelined without that header (its sequences
//! are not known in advance in a stream every node writes to), so a refused append's tail may
//! still land; the other writer then sees its own message ids acknowledged as duplicates of
//! *different* content, or its next append refused, and fails closed too. Both stop; the
//! stream holds the evidence and `verify` names it.
//!
//! **Acks are batched:** every record of an append is published before any ack is awaited,
//! with at most [`WINDOW`] acks in flight.

use std::fmt;
use std::ops::Range;
use std::time::Duration;

use async_nats::jetstream::context::{PublishAckFuture, PublishErrorKind};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::{LastRawMessageErrorKind, Stream};
use async_nats::jetstream::{self, Context};
use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::FuturesOrdered;
use haechi_audit::record::decode_stored;
use haechi_audit::{Checkpoint, Replica, ReplicaBatch, ReplicaError, ReplicaHead, ReplicaPosition};
use tokio::runtime::Handle;

use crate::names::{NodeId, Part, checkpoint_message_id, record_message_id};
use crate::stream::{next_ordered, ordered_messages_from};

/// Acks in flight at most during one append.
pub const WINDOW: usize = 4096;

/// What a replica writes to: shared by every replica of one [`crate::Bus`].
#[derive(Clone)]
pub(crate) struct Target {
    pub(crate) context: Context,
    pub(crate) stream: Stream,
    pub(crate) stream_name: String,
    /// The runtime the NATS client runs on: the log's writer thread has its own, so the
    /// replica runs its requests here.
    pub(crate) runtime: Handle,
}

/// One node's audit log in the audit stream (implements [`haechi_audit::Replica`]; open the
/// log with [`haechi_audit::AuditLog::open_replicated`]).
pub struct JetStreamReplica {
    target: Target,
    node: NodeId,
    records_subject: String,
    checkpoints_subject: String,
    /// Stream sequence of the last record message known to be this log's: appends continue
    /// after it, and a tail read starts after it. `None` before the first [`Replica::position`].
    confirmed: Option<u64>,
    /// What the next append's first message expects as the subject's last sequence; unknown
    /// (`None`) after a failed append until the position is read again.
    expected: Option<u64>,
    /// The same for the checkpoints subject.
    expected_checkpoint: Option<u64>,
}

impl fmt::Debug for JetStreamReplica {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JetStreamReplica")
            .field("stream", &self.target.stream_name)
            .field("subject", &self.records_subject)
            .field("confirmed", &self.confirmed)
            .finish_non_exhaustive()
    }
}

impl JetStreamReplica {
    pub(crate) fn new(target: Target, node: NodeId, names: &crate::Names) -> Self {
        JetStreamReplica {
            records_subject: names.subject(&node, Part::Records),
            checkpoints_subject: names.subject(&node, Part::Checkpoints),
            target,
            node,
            confirmed: None,
            expected: None,
            expected_checkpoint: None,
        }
    }

    /// The node this replica writes for.
    pub fn node(&self) -> &NodeId {
        &self.node
    }

    /// Runs `work` on the NATS client's runtime and waits for it here.
    async fn on_runtime<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, ReplicaError>> + Send + 'static,
    ) -> Result<T, ReplicaError> {
        self.target
            .runtime
            .spawn(work)
            .await
            .map_err(|error| unavailable(format!("the NATS runtime is gone: {error}")))?
    }
}

#[async_trait]
impl Replica for JetStreamReplica {
    fn describe(&self) -> String {
        format!(
            "JetStream stream {} subject {}",
            self.target.stream_name, self.records_subject
        )
    }

    async fn position(&mut self) -> Result<ReplicaPosition, ReplicaError> {
        let stream = self.target.stream.clone();
        let records_subject = self.records_subject.clone();
        let checkpoints_subject = self.checkpoints_subject.clone();
        let confirmed = self.confirmed;
        let read = self
            .on_runtime(async move {
                let last = last_on_subject(&stream, &records_subject).await?;
                let last_checkpoint = last_on_subject(&stream, &checkpoints_subject).await?;
                let tail = match (confirmed, &last) {
                    (Some(confirmed), Some(last)) if last.sequence > confirmed => {
                        read_tail(&stream, &records_subject, confirmed + 1, last.sequence).await?
                    }
                    (Some(_), _) => Vec::new(),
                    (None, Some(last)) => vec![decode_head(last)?],
                    (None, None) => Vec::new(),
                };
                let checkpoint = match last_checkpoint {
                    Some(message) => Some((
                        message.sequence,
                        Checkpoint::decode(&message.payload).map_err(|reason| {
                            diverged(format!(
                                "stream message {} on {} is not a checkpoint: {reason}",
                                message.sequence, message.subject
                            ))
                        })?,
                    )),
                    None => None,
                };
                let last = match last {
                    Some(message) => Some((message.sequence, decode_head(&message)?)),
                    None => None,
                };
                Ok((tail, last, checkpoint))
            })
            .await?;
        let (tail, last, checkpoint) = read;
        let last_sequence = last.map_or(0, |(sequence, _)| sequence);
        self.confirmed = Some(last_sequence);
        self.expected = Some(last_sequence);
        self.expected_checkpoint = Some(checkpoint.as_ref().map_or(0, |(sequence, _)| *sequence));
        Ok(ReplicaPosition {
            tail,
            last_record: last.map(|(_, head)| head),
            last_checkpoint_seq: checkpoint.map_or(0, |(_, checkpoint)| checkpoint.seq),
        })
    }

    async fn append_records(&mut self, batch: ReplicaBatch) -> Result<(), ReplicaError> {
        let Some(expected) = self.expected.take() else {
            return Err(ReplicaError::Conflict {
                reason: "where the stream ends is not known since the last failure".into(),
            });
        };
        if batch.is_empty() {
            self.expected = Some(expected);
            return Ok(());
        }
        let (bytes, spans) = batch.into_parts();
        let append = Append {
            context: self.target.context.clone(),
            stream: self.target.stream.clone(),
            subject: self.records_subject.clone(),
            bytes: Bytes::from(bytes),
        };
        let node = self.node.clone();
        let last = self
            .on_runtime(async move {
                let messages = spans.into_iter().map(|(seq, range)| {
                    let id = record_message_id(&node, seq);
                    (seq, range, id)
                });
                append.publish(messages, expected).await
            })
            .await?;
        self.expected = Some(last);
        self.confirmed = Some(last);
        Ok(())
    }

    async fn append_checkpoint(&mut self, checkpoint: &Checkpoint) -> Result<(), ReplicaError> {
        let Some(expected) = self.expected_checkpoint.take() else {
            return Err(ReplicaError::Conflict {
                reason: "where the checkpoints end is not known since the last failure".into(),
            });
        };
        let bytes = checkpoint.encode().to_vec();
        let range = 0..bytes.len();
        let append = Append {
            context: self.target.context.clone(),
            stream: self.target.stream.clone(),
            subject: self.checkpoints_subject.clone(),
            bytes: Bytes::from(bytes),
        };
        let id = checkpoint_message_id(&self.node, checkpoint.seq);
        let seq = checkpoint.seq;
        let last = self
            .on_runtime(async move {
                append
                    .publish(std::iter::once((seq, range, id)), expected)
                    .await
            })
            .await?;
        self.expected_checkpoint = Some(last);
        Ok(())
    }
}

/// One append: messages sharing one buffer, to one subject.
struct Append {
    context: Context,
    stream: Stream,
    subject: String,
    bytes: Bytes,
}

impl Append {
    /// Publishes every message (the first one conditional on `expected`), then settles the
    /// acks in order; returns the stream sequence of the last one.
    async fn publish(
        &self,
        messages: impl Iterator<Item = (u64, Range<usize>, String)>,
        expected: u64,
    ) -> Result<u64, ReplicaError> {
        let mut in_flight = FuturesOrdered::new();
        let mut last = expected;
        for (index, (seq, range, id)) in messages.enumerate() {
            let mut publish = PublishMessage::build()
                .payload(self.bytes.slice(range.clone()))
                .message_id(id);
            if index == 0 {
                publish = publish.expected_last_subject_sequence(expected);
            }
            let ack: PublishAckFuture = self
                .context
                .send_publish(self.subject.clone(), publish)
                .await
                .map_err(|error| unavailable(format!("publishing seq {seq}: {}", error.kind())))?;
            in_flight.push_back(async move { (seq, range, ack.await) });
            if in_flight.len() >= WINDOW
                && let Some(settled) = in_flight.next().await
            {
                last = last.max(self.settle(settled).await?);
            }
        }
        while let Some(settled) = in_flight.next().await {
            last = last.max(self.settle(settled).await?);
        }
        Ok(last)
    }

    /// Checks one ack: a duplicate must be a copy of what was sent, or someone else wrote
    /// this message id first.
    async fn settle(
        &self,
        (seq, range, ack): (
            u64,
            Range<usize>,
            Result<jetstream::publish::PublishAck, jetstream::context::PublishError>,
        ),
    ) -> Result<u64, ReplicaError> {
        let ack = ack.map_err(|error| match error.kind() {
            PublishErrorKind::WrongLastSequence => ReplicaError::Conflict {
                reason: format!("{} moved on before seq {seq}", self.subject),
            },
            kind => unavailable(format!("no acknowledgement for seq {seq}: {kind}")),
        })?;
        if ack.duplicate {
            let original = self
                .stream
                .get_raw_message(ack.sequence)
                .await
                .map_err(|error| {
                    unavailable(format!("reading message {}: {error}", ack.sequence))
                })?;
            if original.subject.as_str() != self.subject
                || original.payload != self.bytes.slice(range)
            {
                return Err(diverged(format!(
                    "seq {seq} on {} was already published with other content (stream message \
                     {}): another process writes under this node id, or the stream was \
                     tampered with",
                    self.subject, ack.sequence
                )));
            }
        }
        Ok(ack.sequence)
    }
}

/// A stream message's sequence, subject and payload.
struct Found {
    sequence: u64,
    subject: String,
    payload: Bytes,
}

/// The last message on `subject`, if any.
async fn last_on_subject(stream: &Stream, subject: &str) -> Result<Option<Found>, ReplicaError> {
    match stream.get_last_raw_message_by_subject(subject).await {
        Ok(message) => Ok(Some(Found {
            sequence: message.sequence,
            subject: message.subject.to_string(),
            payload: message.payload,
        })),
        Err(error) if error.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(None),
        Err(error) => Err(unavailable(format!(
            "reading the end of {subject}: {error}"
        ))),
    }
}

/// The records on `subject` between two stream sequences, in order.
async fn read_tail(
    stream: &Stream,
    subject: &str,
    from: u64,
    until: u64,
) -> Result<Vec<ReplicaHead>, ReplicaError> {
    let (mut messages, _) = ordered_messages_from(stream, subject.to_string(), from)
        .await
        .map_err(|error| unavailable(error.to_string()))?;
    let mut tail = Vec::new();
    loop {
        let Some((message, sequence, pending)) = next_ordered(&mut messages, subject)
            .await
            .map_err(|error| unavailable(error.to_string()))?
        else {
            return Err(unavailable(format!("reading {subject} ended early")));
        };
        tail.push(decode_head(&Found {
            sequence,
            subject: message.subject.to_string(),
            payload: message.payload.clone(),
        })?);
        if sequence >= until || pending == 0 {
            return Ok(tail);
        }
    }
}

fn decode_head(message: &Found) -> Result<ReplicaHead, ReplicaError> {
    let (record, computed_hash) = decode_stored(&message.payload).map_err(|error| {
        diverged(format!(
            "stream message {} on {} is not an audit record: {error}",
            message.sequence, message.subject
        ))
    })?;
    if computed_hash != record.hash {
        return Err(diverged(format!(
            "stream message {} on {} holds seq {} altered after it was hashed",
            message.sequence, message.subject, record.seq
        )));
    }
    Ok(ReplicaHead {
        seq: record.seq,
        hash: record.hash,
    })
}

fn unavailable(reason: String) -> ReplicaError {
    ReplicaError::Unavailable { reason }
}

fn diverged(reason: String) -> ReplicaError {
    ReplicaError::Diverged { reason }
}

/// How long a replica waits for acknowledgements, by default.
pub const DEFAULT_ACK_TIMEOUT: Duration = Duration::from_secs(5);
