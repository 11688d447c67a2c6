//! The audit stream on the server: created with the settings the audit trail relies on, or
//! checked against them when it exists; and reading a range of it in order.
//!
//! Settings: file storage; the configured replica count; limits retention with no limit
//! (nothing expires); `discard: new` so a limit an operator adds later refuses new records
//! (the log fails closed) instead of silently dropping old ones; deletion of messages denied,
//! and purging denied unless the stream is created for [`StreamRetention::Archive`]; direct
//! gets allowed; a two-minute duplicate window for message ids.
//!
//! What JetStream (nats-server 2.9) allows, measured in `tests/stream_rules.rs`: once a stream
//! denies deletes or purges, no update can lift it ("stream configuration update can not
//! cancel deny purge"); a `max_age` can be added to it at any time and expires messages
//! whatever the discard policy, so a stream with one is refused here.

use std::time::Duration;

use async_nats::jetstream::ErrorCode;
use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use async_nats::jetstream::context::{CreateStreamErrorKind, GetStreamErrorKind};
use async_nats::jetstream::stream::{self, DiscardPolicy, RetentionPolicy, StorageType};
use async_nats::jetstream::{self, Context};
use futures::StreamExt;

use crate::Error;
use crate::names::Names;

/// How long the server remembers message ids to drop duplicates (its default).
const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// Whether the audit stream may ever lose its oldest records, chosen when it is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StreamRetention {
    /// Nothing leaves the stream: deletes and purges are denied for good (JetStream cannot
    /// lift that once set), and `haechi audit prune --bus` refuses. The default.
    #[default]
    Forever,
    /// Purges are allowed (single-message deletes stay denied), for one caller only:
    /// `haechi audit prune --bus`, which purges a node's records only once they are in the
    /// cluster's archive, read back and found identical, and only up to a signed checkpoint
    /// it leaves in the stream. Anyone else with the JetStream API right to purge could too;
    /// `verify --bus --archive` then finds the records missing (docs/cluster-audit.md).
    Archive,
}

impl StreamRetention {
    /// The name the configuration uses (`forever`, `archive`).
    pub fn name(self) -> &'static str {
        match self {
            StreamRetention::Forever => "forever",
            StreamRetention::Archive => "archive",
        }
    }
}

/// The audit stream's configuration for `names` with `replicas` replicas.
pub fn audit_stream_config(
    names: &Names,
    replicas: usize,
    retention: StreamRetention,
) -> stream::Config {
    stream::Config {
        name: names.stream().to_string(),
        description: Some("Haechi audit trail: one hash chain per node".into()),
        subjects: vec![names.all_subjects()],
        retention: RetentionPolicy::Limits,
        storage: StorageType::File,
        num_replicas: replicas,
        discard: DiscardPolicy::New,
        max_age: Duration::ZERO,
        duplicate_window: DUPLICATE_WINDOW,
        deny_delete: true,
        deny_purge: retention == StreamRetention::Forever,
        allow_direct: true,
        ..Default::default()
    }
}

/// Returns the audit stream, creating it if it does not exist; refuses one whose settings
/// would lose or expose records ([`Error::StreamMismatch`]). Safe to call from every node at
/// once.
pub async fn ensure_stream(
    context: &Context,
    names: &Names,
    replicas: usize,
    retention: StreamRetention,
) -> Result<stream::Stream, Error> {
    let wanted = audit_stream_config(names, replicas, retention);
    for _ in 0..3 {
        match context.get_stream(names.stream()).await {
            Ok(stream) => {
                check_config(&stream.cached_info().config, &wanted, retention)?;
                return Ok(stream);
            }
            Err(error) if is_stream_not_found(error.kind()) => {}
            Err(error) => {
                return Err(Error::jetstream(
                    format!("looking up stream {}", names.stream()),
                    error,
                ));
            }
        }
        match context.create_stream(wanted.clone()).await {
            Ok(stream) => return Ok(stream),
            // Another node created it between the two calls: look it up again.
            Err(error)
                if matches!(error.kind(), CreateStreamErrorKind::JetStream(ref inner)
                    if inner.error_code() == ErrorCode::STREAM_NAME_EXIST) => {}
            Err(error) => {
                return Err(Error::jetstream(
                    format!("creating stream {}", names.stream()),
                    error,
                ));
            }
        }
    }
    Err(Error::jetstream(
        format!("creating stream {}", names.stream()),
        "it kept appearing and disappearing",
    ))
}

fn is_stream_not_found(kind: GetStreamErrorKind) -> bool {
    matches!(kind, GetStreamErrorKind::JetStream(inner)
        if inner.error_code() == ErrorCode::STREAM_NOT_FOUND)
}

/// Refuses a stream that would drop, expire or let someone delete records, or that does not
/// take the audit subjects. A stream that allows purges is accepted only with
/// [`StreamRetention::Archive`]; one that denies them is accepted either way (it is only
/// stricter: prune then refuses).
fn check_config(
    found: &stream::Config,
    wanted: &stream::Config,
    retention: StreamRetention,
) -> Result<(), Error> {
    let mismatch = |reason: String| Error::StreamMismatch {
        stream: wanted.name.clone(),
        reason,
    };
    if !found
        .subjects
        .iter()
        .any(|subject| wanted.subjects.contains(subject))
    {
        return Err(mismatch(format!(
            "it takes subjects {:?}, not {:?}",
            found.subjects, wanted.subjects
        )));
    }
    if found.storage != StorageType::File {
        return Err(mismatch(
            "its storage is memory; the audit trail needs file".into(),
        ));
    }
    if found.retention != RetentionPolicy::Limits {
        return Err(mismatch(format!(
            "its retention is {:?}: records would be removed once consumed; it must be limits",
            found.retention
        )));
    }
    if found.num_replicas.max(1) != wanted.num_replicas.max(1) {
        return Err(mismatch(format!(
            "it has {} replicas, the configuration asks for {} (change one of them)",
            found.num_replicas, wanted.num_replicas
        )));
    }
    if found.max_age > Duration::ZERO {
        return Err(mismatch(format!(
            "it has max_age {:?}: JetStream expires records by age whatever the discard \
             policy, archived or not; remove it (records leave only through haechi audit \
             prune --bus)",
            found.max_age
        )));
    }
    let limited =
        found.max_bytes > 0 || found.max_messages > 0 || found.max_messages_per_subject > 0;
    if limited && found.discard == DiscardPolicy::Old {
        return Err(mismatch(
            "it has a limit with discard old: records would be deleted silently; \
             remove the limit or set discard new"
                .into(),
        ));
    }
    if !found.deny_delete {
        return Err(mismatch(
            "it allows deleting messages; the audit stream must deny it".into(),
        ));
    }
    if !found.deny_purge && retention != StreamRetention::Archive {
        return Err(mismatch(
            "it allows purging messages (it was created with bus.retention = archive); set \
             bus.retention = archive on this node too, or use a stream that denies purges"
                .into(),
        ));
    }
    Ok(())
}

/// The messages on `filter` from stream sequence `from` on, in order, through an ordered
/// (ephemeral, flow-controlled) consumer, and how many there were when the read began.
pub(crate) async fn ordered_messages_from(
    stream: &stream::Stream,
    filter: String,
    from: u64,
) -> Result<(pull::Ordered, u64), Error> {
    let deliver_policy = if from <= 1 {
        DeliverPolicy::All
    } else {
        DeliverPolicy::ByStartSequence {
            start_sequence: from,
        }
    };
    ordered_messages_by(stream, filter, deliver_policy).await
}

/// The messages on `filter` from where `deliver_policy` says, in order, and how many there
/// were when the read began (0: nothing to read; the read would only wait for new ones).
pub(crate) async fn ordered_messages_by(
    stream: &stream::Stream,
    filter: String,
    deliver_policy: DeliverPolicy,
) -> Result<(pull::Ordered, u64), Error> {
    let consumer = stream
        .create_consumer(pull::OrderedConfig {
            filter_subject: filter.clone(),
            deliver_policy,
            ..Default::default()
        })
        .await
        .map_err(|error| Error::jetstream(format!("reading {filter}"), error))?;
    let waiting = consumer.cached_info().num_pending;
    let messages = consumer
        .messages()
        .await
        .map_err(|error| Error::jetstream(format!("reading {filter}"), error))?;
    Ok((messages, waiting))
}

/// The next message of an ordered read, with its stream sequence and how many matching
/// messages were pending after it when it was delivered.
pub(crate) async fn next_ordered(
    messages: &mut pull::Ordered,
    filter: &str,
) -> Result<Option<(jetstream::Message, u64, u64)>, Error> {
    let Some(message) = messages.next().await else {
        return Ok(None);
    };
    let message = message.map_err(|error| Error::jetstream(format!("reading {filter}"), error))?;
    let (sequence, pending) = {
        let info = message
            .info()
            .map_err(|error| Error::jetstream(format!("reading {filter}"), error))?;
        (info.stream_sequence, info.pending)
    };
    Ok(Some((message, sequence, pending)))
}
