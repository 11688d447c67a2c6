//! The alert board: what the cluster's detection raised, for every API node.
//!
//! Alerts are raised by the detection leader and held on the detection nodes; the API nodes,
//! which serve the administrators (the alert API, its stream, the responder console), learn of
//! them here. The board is a JetStream stream of its own, `<prefix>_alerts` over
//! `<prefix>.alerts.>`, that keeps the **last message of each subject**:
//!
//! - `<prefix>.alerts.<hex of the alert id>.raised` — the alert as raised;
//! - `….grew` — its latest growth (counts and last time are cumulative, so the last is enough);
//! - `….ack` — its acknowledgement, published by whichever node took it.
//!
//! A node opening the board reads the last message of every subject (so it starts with every
//! alert the board still holds, acknowledged or not) and follows what comes after. Messages
//! older than [`BOARD_MAX_AGE`] expire: the board is a view for the people answering, not a
//! record — the audit trail is the record (`alert.raised`, `response.action`,
//! `admin.config_changed`). The payloads are the caller's bytes (JSON of the detection types;
//! this crate does not know them).

use std::time::Duration;

use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use async_nats::jetstream::context::{CreateStreamErrorKind, GetStreamErrorKind};
use async_nats::jetstream::stream::{self, DiscardPolicy, RetentionPolicy, StorageType};
use async_nats::jetstream::{Context, ErrorCode};

use crate::Error;
use crate::names::Names;

/// How long the board keeps an alert's messages.
pub const BOARD_MAX_AGE: Duration = Duration::from_secs(30 * 86_400);
/// The most the board holds, in bytes; the oldest messages go first.
const BOARD_MAX_BYTES: i64 = 256 * 1024 * 1024;

/// What a board message says of its alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoardPart {
    /// The alert as raised.
    Raised,
    /// Its latest growth.
    Grew,
    /// Its acknowledgement.
    Ack,
}

impl BoardPart {
    fn name(self) -> &'static str {
        match self {
            BoardPart::Raised => "raised",
            BoardPart::Grew => "grew",
            BoardPart::Ack => "ack",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        match name {
            "raised" => Some(BoardPart::Raised),
            "grew" => Some(BoardPart::Grew),
            "ack" => Some(BoardPart::Ack),
            _ => None,
        }
    }
}

/// The board of a bus.
#[derive(Debug, Clone)]
pub struct AlertBoard {
    context: Context,
    stream: stream::Stream,
    prefix: String,
}

/// One message of the board.
#[derive(Debug, Clone)]
pub struct BoardMessage {
    /// What it says.
    pub part: BoardPart,
    /// The publisher's bytes.
    pub payload: Vec<u8>,
}

/// The board's messages in order: the last of each subject first, then each new one.
pub struct BoardFeed {
    messages: pull::Ordered,
    filter: String,
    prefix: String,
}

impl std::fmt::Debug for BoardFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoardFeed")
            .field("filter", &self.filter)
            .finish_non_exhaustive()
    }
}

fn board_config(names: &Names, replicas: usize) -> stream::Config {
    stream::Config {
        name: format!("{}_alerts", names.prefix().replace('.', "_")),
        description: Some("Haechi alert board: each alert's last state, for the API nodes".into()),
        subjects: vec![format!("{}.alerts.>", names.prefix())],
        retention: RetentionPolicy::Limits,
        storage: StorageType::File,
        num_replicas: replicas,
        discard: DiscardPolicy::Old,
        max_messages_per_subject: 1,
        max_age: BOARD_MAX_AGE,
        max_bytes: BOARD_MAX_BYTES,
        ..Default::default()
    }
}

impl AlertBoard {
    /// The board under `names`, created if it does not exist (safe from every node at once).
    pub(crate) async fn open(
        context: &Context,
        names: &Names,
        replicas: usize,
    ) -> Result<Self, Error> {
        let config = board_config(names, replicas);
        let name = config.name.clone();
        for _ in 0..3 {
            match context.get_stream(&name).await {
                Ok(stream) => {
                    return Ok(AlertBoard {
                        context: context.clone(),
                        stream,
                        prefix: names.prefix().to_string(),
                    });
                }
                Err(error)
                    if matches!(error.kind(), GetStreamErrorKind::JetStream(ref inner)
                    if inner.error_code() == ErrorCode::STREAM_NOT_FOUND) => {}
                Err(error) => {
                    return Err(Error::jetstream(format!("looking up stream {name}"), error));
                }
            }
            match context.create_stream(config.clone()).await {
                Ok(stream) => {
                    return Ok(AlertBoard {
                        context: context.clone(),
                        stream,
                        prefix: names.prefix().to_string(),
                    });
                }
                Err(error)
                    if matches!(error.kind(), CreateStreamErrorKind::JetStream(ref inner)
                        if inner.error_code() == ErrorCode::STREAM_NAME_EXIST) => {}
                Err(error) => {
                    return Err(Error::jetstream(format!("creating stream {name}"), error));
                }
            }
        }
        Err(Error::jetstream(
            format!("creating stream {name}"),
            "it kept appearing and disappearing",
        ))
    }

    fn subject(&self, alert_id: &str, part: BoardPart) -> String {
        format!(
            "{}.alerts.{}.{}",
            self.prefix,
            hex::encode(alert_id.as_bytes()),
            part.name()
        )
    }

    /// Publishes `payload` as `part` of alert `alert_id`, acknowledged by JetStream.
    pub async fn publish(
        &self,
        alert_id: &str,
        part: BoardPart,
        payload: Vec<u8>,
    ) -> Result<(), Error> {
        let subject = self.subject(alert_id, part);
        self.context
            .publish(subject.clone(), payload.into())
            .await
            .map_err(|error| Error::jetstream(format!("publishing {subject}"), error))?
            .await
            .map_err(|error| Error::jetstream(format!("publishing {subject}"), error))?;
        Ok(())
    }

    /// The board from the last message of every subject on.
    pub async fn follow(&self) -> Result<BoardFeed, Error> {
        let filter = format!("{}.alerts.>", self.prefix);
        let consumer = self
            .stream
            .create_consumer(pull::OrderedConfig {
                filter_subject: filter.clone(),
                deliver_policy: DeliverPolicy::LastPerSubject,
                ..Default::default()
            })
            .await
            .map_err(|error| Error::jetstream(format!("reading {filter}"), error))?;
        let messages = consumer
            .messages()
            .await
            .map_err(|error| Error::jetstream(format!("reading {filter}"), error))?;
        Ok(BoardFeed {
            messages,
            filter,
            prefix: self.prefix.clone(),
        })
    }
}

impl BoardFeed {
    /// The next message (waiting for one); `None` when the connection is gone for good.
    /// Messages on subjects no publisher of the board uses are skipped.
    pub async fn next(&mut self) -> Result<Option<BoardMessage>, Error> {
        use futures::StreamExt as _;
        loop {
            let Some(message) = self.messages.next().await else {
                return Ok(None);
            };
            let message = message
                .map_err(|error| Error::jetstream(format!("reading {}", self.filter), error))?;
            let part = message
                .subject
                .as_str()
                .strip_prefix(&self.prefix)
                .and_then(|rest| rest.strip_prefix(".alerts."))
                .and_then(|rest| rest.rsplit_once('.'))
                .and_then(|(_, part)| BoardPart::parse(part));
            if let Some(part) = part {
                return Ok(Some(BoardMessage {
                    part,
                    payload: message.payload.to_vec(),
                }));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_board_keeps_one_message_per_subject_and_expires() {
        let names = Names::new("haechi.test").unwrap_or_else(|error| panic!("{error}"));
        let config = board_config(&names, 1);
        assert_eq!(config.name, "haechi_test_alerts");
        assert_eq!(config.subjects, vec!["haechi.test.alerts.>".to_string()]);
        assert_eq!(config.max_messages_per_subject, 1);
        assert_eq!(config.max_age, BOARD_MAX_AGE);
        // Not under the audit stream's subjects.
        assert!(!config.subjects[0].starts_with(&names.all_subjects().replace('>', "")));
    }
}
