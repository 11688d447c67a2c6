//! [`ClusterAuditReader`]: the audit stream read back in order, each message decoded as the
//! record or checkpoint its subject says it holds. For `verify`, `export` and `search` against
//! the cluster.

use async_nats::jetstream::consumer::pull;
use async_nats::jetstream::stream::Stream;
use futures::StreamExt;
use haechi_audit::record::decode_stored;
use haechi_audit::{AuditRecord, Checkpoint, Location};

use crate::Error;
use crate::names::{Names, NodeId, Part};
use crate::stream::{next_ordered, ordered_messages_from};

/// One message of the audit stream, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEntry {
    /// The message's sequence in the stream.
    pub sequence: u64,
    /// Its subject.
    pub subject: String,
    /// What it holds.
    pub content: EntryContent,
}

/// What a message of the audit stream holds.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(
    clippy::large_enum_variant,
    reason = "records are nearly every entry; boxing them would cost an allocation per record"
)]
pub enum EntryContent {
    /// A node's record, with the stored hash in `record.hash` and the hash its content implies.
    Record {
        /// The node whose chain it belongs to.
        node: NodeId,
        /// The record as stored.
        record: AuditRecord,
        /// SHA-256 of its canonical bytes: differs from `record.hash` if it was altered.
        computed_hash: [u8; 32],
    },
    /// A node's signed checkpoint (signature not checked here).
    Checkpoint {
        /// The node whose chain it pins.
        node: NodeId,
        /// The checkpoint.
        checkpoint: Checkpoint,
    },
    /// A message on a node's subject that does not decode as what that subject carries.
    Undecodable {
        /// The node whose subject it is on.
        node: NodeId,
        /// Which subject.
        part: Part,
        /// What is wrong.
        reason: String,
    },
    /// A message on a subject of the stream where no audit message belongs.
    Foreign,
}

impl StreamEntry {
    /// Where this message is, for a verifier's findings.
    pub fn location(&self, stream: &str) -> Location {
        Location::Message {
            stream: stream.to_string(),
            subject: self.subject.clone(),
            sequence: self.sequence,
        }
    }
}

/// Reads the audit stream from its first message to the last one present when it was
/// opened (messages published meanwhile may be included), in stream order.
pub struct ClusterAuditReader {
    names: Names,
    filter: String,
    /// The stream's last sequence when the reader was opened; 0 for an empty stream.
    until: u64,
    /// The first stream sequence to read.
    from: u64,
    messages: Option<pull::Ordered>,
    stream: Stream,
    done: bool,
}

impl std::fmt::Debug for ClusterAuditReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterAuditReader")
            .field("stream", &self.names.stream())
            .field("filter", &self.filter)
            .field("until", &self.until)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl ClusterAuditReader {
    /// A reader of the messages on `filter` (a subject of the audit stream, wildcards allowed).
    pub(crate) async fn open(
        stream: &Stream,
        names: &Names,
        filter: String,
    ) -> Result<Self, Error> {
        Self::open_from(stream, names, filter, 1).await
    }

    /// A reader of the messages on `filter` from stream sequence `from` on.
    pub(crate) async fn open_from(
        stream: &Stream,
        names: &Names,
        filter: String,
        from: u64,
    ) -> Result<Self, Error> {
        let operation = || format!("reading the size of {filter}");
        let mut info = stream
            .info_builder()
            .subjects(filter.clone())
            .fetch()
            .await
            .map_err(|error| Error::jetstream(operation(), error))?;
        let until = info.info.state.last_sequence;
        let mut matching = 0u64;
        while let Some(subject) = info.next().await {
            let (_, count) = subject.map_err(|error| Error::jetstream(operation(), error))?;
            matching += count as u64;
        }
        Ok(ClusterAuditReader {
            names: names.clone(),
            until,
            done: matching == 0 || until < from,
            from,
            filter,
            messages: None,
            stream: stream.clone(),
        })
    }

    /// The stream's last sequence when the reader was opened (0 for an empty stream).
    pub fn until(&self) -> u64 {
        self.until
    }

    /// The stream's name (for [`StreamEntry::location`]).
    pub fn stream_name(&self) -> &str {
        self.names.stream()
    }

    /// The next message, decoded; `None` once the stream has been read to where it ended at
    /// open.
    pub async fn next_entry(&mut self) -> Result<Option<StreamEntry>, Error> {
        if self.done {
            return Ok(None);
        }
        let messages = match &mut self.messages {
            Some(messages) => messages,
            None => {
                let (messages, waiting) =
                    ordered_messages_from(&self.stream, self.filter.clone(), self.from).await?;
                if waiting == 0 {
                    // Nothing at or after `from` (what was there may have been pruned): an
                    // ordered read would only wait for new messages.
                    self.done = true;
                    return Ok(None);
                }
                self.messages.insert(messages)
            }
        };
        let Some((message, sequence, pending)) = next_ordered(messages, &self.filter).await? else {
            self.done = true;
            return Ok(None);
        };
        if sequence >= self.until || pending == 0 {
            self.done = true;
            self.messages = None;
        }
        let subject = message.subject.to_string();
        let content = decode(&self.names, &subject, &message.payload);
        Ok(Some(StreamEntry {
            sequence,
            subject,
            content,
        }))
    }

    /// The next record with the node it belongs to, skipping checkpoints; a message that is
    /// not a record where one belongs is an [`Error::Undecodable`].
    pub async fn next_record(&mut self) -> Result<Option<(NodeId, AuditRecord)>, Error> {
        while let Some(entry) = self.next_entry().await? {
            match entry.content {
                EntryContent::Record { node, record, .. } => return Ok(Some((node, record))),
                EntryContent::Checkpoint { .. } => {}
                EntryContent::Undecodable { reason, part, .. } => {
                    return Err(Error::Undecodable {
                        stream: self.names.stream().to_string(),
                        sequence: entry.sequence,
                        subject: entry.subject,
                        expected: expected_name(part),
                        reason,
                    });
                }
                EntryContent::Foreign => {
                    return Err(Error::Undecodable {
                        stream: self.names.stream().to_string(),
                        sequence: entry.sequence,
                        subject: entry.subject,
                        expected: "record",
                        reason: "no audit message belongs on this subject".into(),
                    });
                }
            }
        }
        Ok(None)
    }
}

/// Decodes a message by what its subject carries.
pub(crate) fn decode(names: &Names, subject: &str, payload: &[u8]) -> EntryContent {
    let Some((node, part)) = names.parse(subject) else {
        return EntryContent::Foreign;
    };
    match part {
        Part::Records => match decode_stored(payload) {
            Ok((record, computed_hash)) => EntryContent::Record {
                node,
                record,
                computed_hash,
            },
            Err(error) => EntryContent::Undecodable {
                node,
                part,
                reason: error.to_string(),
            },
        },
        Part::Checkpoints => match Checkpoint::decode(payload) {
            Ok(checkpoint) => EntryContent::Checkpoint { node, checkpoint },
            Err(reason) => EntryContent::Undecodable { node, part, reason },
        },
    }
}

pub(crate) fn expected_name(part: Part) -> &'static str {
    match part {
        Part::Records => "record",
        Part::Checkpoints => "checkpoint",
    }
}
