//! [`DetectionFeed`]: every node's records, through one durable pull consumer, for detection.
//!
//! Each record is delivered to one puller of the consumer at a time and stays pending until it
//! is acknowledged; one not acknowledged within the ack wait (the detection node died, or
//! restarted) is delivered again, to whichever puller asks next — so a standby detection node
//! on the same feed name takes over where the first stopped. Acknowledgements are confirmed by
//! the server ([`FeedAck::ack`]), so an acknowledged record is never delivered again.
//!
//! A detection node that *leads* the feed (one at a time, elected outside NATS) takes it over
//! with [`DetectionFeed::take_over`]: it reads the consumer's ack floor — every record at or
//! below it was acknowledged — and recreates the consumer from just after it. Whatever the
//! previous leader left unacknowledged is delivered again at once and in stream order, rather
//! than one ack wait later and behind newer records.

use std::fmt;
use std::time::Duration;

use async_nats::jetstream::AckKind;
use async_nats::jetstream::Message;
use async_nats::jetstream::consumer::Info;
use async_nats::jetstream::consumer::{AckPolicy, Consumer, DeliverPolicy, pull};
use async_nats::jetstream::context::ConsumerInfoErrorKind;
use async_nats::jetstream::stream::Stream;
use futures::StreamExt;
use haechi_audit::AuditRecord;

use crate::Error;
use crate::names::{Names, NodeId, Part};
use crate::reader::{EntryContent, decode, expected_name};

/// Records asked for in one pull request (the client's default is 200): a detection node
/// catching up reads the stream in fewer round trips.
const PULL_BATCH: usize = 1000;

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

/// Where a leader took the feed over ([`DetectionFeed::take_over`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Takeover {
    /// Every record at or below this stream sequence was acknowledged: evaluated, and what it
    /// raised recorded. The feed delivers the records after it.
    pub acknowledged_through: u64,
    /// The stream's last sequence when the feed was taken over.
    pub stream_end: u64,
    /// Whether the feed did not exist before: a first start, which treats everything already
    /// in the stream as history (`acknowledged_through` is then `stream_end`).
    pub first_start: bool,
}

/// How far a feed's consumer is behind the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedLag {
    /// Records in the stream not yet delivered.
    pub undelivered: u64,
    /// Records delivered and not yet acknowledged.
    pub unacknowledged: u64,
    /// Every record at or below this stream sequence is acknowledged.
    pub acknowledged_through: u64,
}

impl FeedLag {
    fn of(info: &Info) -> Self {
        FeedLag {
            undelivered: info.num_pending,
            unacknowledged: info.num_ack_pending as u64,
            acknowledged_through: acknowledged_through(info),
        }
    }
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

    /// The record was evaluated: never deliver it again, without waiting for the server to
    /// confirm. Acknowledgements reach the server in order on the bus's one connection, so
    /// one confirmed later with [`FeedAck::ack`] confirms this one too; one lost with a broken
    /// connection only means the record is delivered again.
    pub async fn ack_unconfirmed(self) -> Result<(), Error> {
        self.message
            .ack()
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
                consumer_config(names, &options, DeliverPolicy::All),
            )
            .await
            .map_err(|error| Error::jetstream(operation(), error))?;
        Self::subscribe(consumer, names, options).await
    }

    /// Takes the feed `options.name` over for a leader: reads how far it was acknowledged,
    /// and recreates its consumer to deliver every record after that, in order, at once —
    /// so what the previous leader took but did not acknowledge comes first. With no feed
    /// yet (a first start) it starts after the stream's current end.
    ///
    /// Only the one leader may call this: another puller of the same feed would lose its
    /// consumer under it.
    pub(crate) async fn take_over(
        stream: &Stream,
        names: &Names,
        options: FeedOptions,
    ) -> Result<(Self, Takeover), Error> {
        NodeId::new(&options.name).map_err(|_| {
            Error::config(format!(
                "detection feed name {:?} may hold only letters, digits, '-' and '_'",
                options.name
            ))
        })?;
        let operation = || format!("taking over the detection feed {}", options.name);
        let existing = match stream.consumer_info(&options.name).await {
            Ok(info) => Some(acknowledged_through(&info)),
            Err(error) if error.kind() == ConsumerInfoErrorKind::NotFound => None,
            Err(error) => return Err(Error::jetstream(operation(), error)),
        };
        let stream_end = stream
            .get_info()
            .await
            .map_err(|error| Error::jetstream(operation(), error))?
            .state
            .last_sequence;
        let acknowledged_through = existing.unwrap_or(stream_end);
        if existing.is_some() {
            stream
                .delete_consumer(&options.name)
                .await
                .map_err(|error| Error::jetstream(operation(), error))?;
        }
        let deliver_policy = if acknowledged_through == 0 {
            DeliverPolicy::All
        } else {
            DeliverPolicy::ByStartSequence {
                start_sequence: acknowledged_through + 1,
            }
        };
        let consumer: Consumer<pull::Config> = stream
            .create_consumer(consumer_config(names, &options, deliver_policy))
            .await
            .map_err(|error| Error::jetstream(operation(), error))?;
        let feed = Self::subscribe(consumer, names, options).await?;
        Ok((
            feed,
            Takeover {
                acknowledged_through,
                stream_end,
                first_start: existing.is_none(),
            },
        ))
    }

    /// How far the feed `name` is behind the stream.
    pub(crate) async fn lag(stream: &Stream, name: &str) -> Result<FeedLag, Error> {
        let info = stream.consumer_info(name).await.map_err(|error| {
            Error::jetstream(format!("reading the detection feed {name}"), error)
        })?;
        Ok(FeedLag::of(&info))
    }

    async fn subscribe(
        consumer: Consumer<pull::Config>,
        names: &Names,
        options: FeedOptions,
    ) -> Result<Self, Error> {
        let operation = || format!("opening the detection feed {}", options.name);
        let messages = consumer
            .stream()
            .max_messages_per_batch(PULL_BATCH)
            .heartbeat(Duration::from_secs(15))
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

/// The feed's consumer settings, delivering from `deliver_policy`.
fn consumer_config(
    names: &Names,
    options: &FeedOptions,
    deliver_policy: DeliverPolicy,
) -> pull::Config {
    pull::Config {
        durable_name: Some(options.name.clone()),
        description: Some("Haechi detection: every node's audit records".into()),
        filter_subject: names.every_node(Part::Records),
        deliver_policy,
        ack_policy: AckPolicy::Explicit,
        ack_wait: options.ack_wait,
        max_deliver: -1,
        max_ack_pending: options.max_ack_pending,
        ..Default::default()
    }
}

/// The stream sequence at or below which the consumer of `info` has everything
/// acknowledged. A consumer recreated from sequence `s` that has acknowledged nothing yet
/// stands at `s - 1`, whatever its ack floor says.
fn acknowledged_through(info: &Info) -> u64 {
    let start = match info.config.deliver_policy {
        DeliverPolicy::ByStartSequence { start_sequence } => start_sequence.saturating_sub(1),
        _ => 0,
    };
    info.ack_floor.stream_sequence.max(start)
}
