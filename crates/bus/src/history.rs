//! [`RecordHistory`]: every node's records from a point in time through a given stream
//! sequence, in stream order — what a detection node replays into a fresh engine before it
//! takes the feed (the rules' windows, and the alerts the trail already holds).

use std::fmt;
use std::time::SystemTime;

use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use async_nats::jetstream::stream::Stream;
use haechi_audit::AuditRecord;

use crate::Error;
use crate::names::{Names, NodeId, Part};
use crate::reader::{EntryContent, decode, expected_name};
use crate::stream::{next_ordered, ordered_messages_by};

/// One record of the history, with where it is in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRecord {
    /// The node whose chain it belongs to.
    pub node: NodeId,
    /// The record as stored.
    pub record: AuditRecord,
    /// Its message's sequence in the stream (the position detection names it by).
    pub stream_sequence: u64,
}

/// Reads every node's records published at or after a point in time, up to and including a
/// stream sequence, in stream order.
pub struct RecordHistory {
    names: Names,
    filter: String,
    through: u64,
    messages: Option<pull::Ordered>,
}

impl fmt::Debug for RecordHistory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordHistory")
            .field("stream", &self.names.stream())
            .field("through", &self.through)
            .field("done", &self.messages.is_none())
            .finish_non_exhaustive()
    }
}

impl RecordHistory {
    /// The records published at or after `since`, through stream sequence `through`.
    pub(crate) async fn open(
        stream: &Stream,
        names: &Names,
        since: SystemTime,
        through: u64,
    ) -> Result<Self, Error> {
        let filter = names.every_node(Part::Records);
        let mut history = RecordHistory {
            names: names.clone(),
            filter: filter.clone(),
            through,
            messages: None,
        };
        if through == 0 {
            return Ok(history);
        }
        let start_time = time::OffsetDateTime::from(since);
        let (messages, waiting) =
            ordered_messages_by(stream, filter, DeliverPolicy::ByStartTime { start_time }).await?;
        if waiting > 0 {
            history.messages = Some(messages);
        }
        Ok(history)
    }

    /// The next record, or `None` once the history is read. A message on a records subject
    /// that does not decode is an [`Error::Undecodable`]; the read goes on after it (call
    /// again). Other errors end the read.
    pub async fn next(&mut self) -> Result<Option<HistoryRecord>, Error> {
        let Some(messages) = &mut self.messages else {
            return Ok(None);
        };
        let next = match next_ordered(messages, &self.filter).await {
            Ok(next) => next,
            Err(error) => {
                self.messages = None;
                return Err(error);
            }
        };
        let Some((message, sequence, pending)) = next else {
            self.messages = None;
            return Ok(None);
        };
        if sequence > self.through {
            self.messages = None;
            return Ok(None);
        }
        if sequence == self.through || pending == 0 {
            self.messages = None;
        }
        let subject = message.subject.to_string();
        match decode(&self.names, &subject, &message.payload) {
            EntryContent::Record { node, record, .. } => Ok(Some(HistoryRecord {
                node,
                record,
                stream_sequence: sequence,
            })),
            other => {
                let (expected, reason) = match other {
                    EntryContent::Undecodable { part, reason, .. } => (expected_name(part), reason),
                    _ => ("record", "no record belongs on this subject".to_string()),
                };
                Err(Error::Undecodable {
                    stream: self.names.stream().to_string(),
                    sequence,
                    subject,
                    expected,
                    reason,
                })
            }
        }
    }
}
