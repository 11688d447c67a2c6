//! [`DetectionFeed`]: every node's records, through one durable pull consumer, for detection.
//!
//! Each record is delivered to one puller of the consumer at a time and stays pending until it
//! is acknowledged; one not acknowledged within the ack wait (the detection node died, or
//! restarted) is delivered again, to whichever puller asks next — so a standby detection node
//! on the same feed name takes over where the first stopped. Acknowledgements are confirmed by
//! the server ([`FeedAck::ack`]), so an acknowledged record is never delivered again.

use std::fmt;
use std::time::Duration;

use async_nats::jetstream::AckKind;
use async_nats::jetstream::Message;
use async_nats::jetstream::consumer::{AckPolicy, Consumer, DeliverPolicy, pull};
use async_nats::jetstream::stream::Stream;
use futures::StreamExt;
use haechi_audit::AuditRecord;

use crate::Error;
use crate::names::{Names, NodeId, Part};
use crate::reader::{EntryContent, decode, expected_name};

/// How a detection feed's consumer is set up. [`FeedOptions::new`] gives the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedOptions {
    /// The durable consumer's name: every detection node of one deployment uses the same.
    pub name: String,
    /// How long a delivered record may stay unacknowledged before it is delivered again
    /// (default 30 s).
    pub ack_wait: Duration,
    /// Records delivered and not yet acknowledged, at most (default 10 000): back pressure
    /// on a detection node that falls behind.
    pub max_ack_pending: i64,
}

impl FeedOptions {
    /// The defaults for the feed `name`.
    pub fn new(name: &str) -> Self {
        FeedOptions {
            name: name.to_string(),
            ack_wait: Duration::from_secs(30),
            max_ack_pending: 10_000,
        }
    }
}

/// A durable, explicitly acknowledged feed of every node's records.
pub struct DetectionFeed {
    name: String,
    names: Names,
    messages: pull::Stream,
}

impl fmt::Debug for DetectionFeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DetectionFeed")
            .field("name", &self.name)
            .field("stream", &self.names.stream())
            .finish_non_exhaustive()
    }
}

/// A record from the feed, with the handle that acknowledges it.
#[derive(Debug)]
pub struct FeedRecord {
    /// The node whose chain the record belongs to.
    pub node: NodeId,
    /// The record as stored (`hash` is the stored hash).
    pub record: AuditRecord,
    /// Its message's sequence in the stream: one total order over every node's records.
    pub stream_sequence: u64,
    /// How many times it has been delivered (1 the first time).
    pub delivered: i64,
    /// Acknowledge it once it has been evaluated.
    pub ack: FeedAck,
}

/// Acknowledges (or gives back) one delivered record.
pub struct FeedAck {
    message: Message,
}

impl fmt::Debug for FeedAck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FeedAck")
            .field("subject", &self.message.subject)
            .finish_non_exhaustive()
    }
}

impl FeedAck {
    /// The record was evaluated: never deliver it again. Returns once the server has
    /// confirmed the acknowledgement.
    pub async fn ack(self) -> Result<(), Error> {
        self.message
            .double_ack()
            .await
            .map_err(|error| Error::jetstream("acknowledging a detection record", error))
    }

    /// The record could not be evaluated now: deliver it again (after `delay`, or at once).
    pub async fn retry(self, delay: Option<Duration>) -> Result<(), Error> {
        self.message
            .ack_with(AckKind::Nak(delay))
            .await
            .map_err(|error| Error::jetstream("returning a detection record", error))
    }
}

impl DetectionFeed {
    /// Creates (or joins) the durable consumer `options.name` over every node's records.
    pub(crate) async fn open(
        stream: &Stream,
        names: &Names,
        options: FeedOptions,
    ) -> Result<Self, Error> {
        NodeId::new(&options.name).map_err(|_| {
            Error::config(format!(
                "detection feed name {:?} may hold only letters, digits, '-' and '_'",
                options.name
            ))
        })?;
        let operation = || format!("opening the detection feed {}", options.name);
        let consumer: Consumer<pull::Config> = stream
            .get_or_create_consumer(
                &options.name,
                pull::Config {
                    durable_name: Some(options.name.clone()),
                    description: Some("Haechi detection: every node's audit records".into()),
                    filter_subject: names.every_node(Part::Records),
                    deliver_policy: DeliverPolicy::All,
                    ack_policy: AckPolicy::Explicit,
                    ack_wait: options.ack_wait,
                    max_deliver: -1,
                    max_ack_pending: options.max_ack_pending,
                    ..Default::default()
                },
            )
            .await
            .map_err(|error| Error::jetstream(operation(), error))?;
        let messages = consumer
            .messages()
            .await
            .map_err(|error| Error::jetstream(operation(), error))?;
        Ok(DetectionFeed {
            name: options.name,
            names: names.clone(),
            messages,
        })
    }

    /// The next record, waiting for one. A message that is not a record is taken off the
    /// feed (terminated, never redelivered) and returned as [`Error::Undecodable`]; `verify`
    /// reports it too. Other errors (NATS unreachable) leave the feed usable: call again.
    pub async fn next(&mut self) -> Result<FeedRecord, Error> {
        let Some(message) = self.messages.next().await else {
            return Err(Error::FeedEnded {
                name: self.name.clone(),
                reason: "the consumer's message stream closed".into(),
            });
        };
        let message = message.map_err(|error| {
            Error::jetstream(format!("reading the detection feed {}", self.name), error)
        })?;
        let (stream_sequence, delivered) = {
            let info = message.info().map_err(|error| {
                Error::jetstream(format!("reading the detection feed {}", self.name), error)
            })?;
            (info.stream_sequence, info.delivered)
        };
        let subject = message.subject.to_string();
        match decode(&self.names, &subject, &message.payload) {
            EntryContent::Record { node, record, .. } => Ok(FeedRecord {
                node,
                record,
                stream_sequence,
                delivered,
                ack: FeedAck { message },
            }),
            other => {
                let (expected, reason) = match other {
                    EntryContent::Undecodable { part, reason, .. } => (expected_name(part), reason),
                    _ => ("record", "no record belongs on this subject".to_string()),
                };
                let _ = message.ack_with(AckKind::Term).await;
                Err(Error::Undecodable {
                    stream: self.names.stream().to_string(),
                    sequence: stream_sequence,
                    subject,
                    expected,
                    reason,
                })
            }
        }
    }
}
