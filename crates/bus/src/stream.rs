//! The audit stream on the server: created with the settings the audit trail relies on, or
//! checked against them when it exists; and reading a range of it in order.
//!
//! Settings: file storage; the configured replica count; limits retention with no limit
//! (nothing expires); `discard: new` so a limit an operator adds later refuses new records
//! (the log fails closed) instead of silently dropping old ones; deletion and purging of
//! messages denied; direct gets allowed; a two-minute duplicate window for message ids.

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

/// The audit stream's configuration for `names` with `replicas` replicas.
pub fn audit_stream_config(names: &Names, replicas: usize) -> stream::Config {
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
        deny_purge: true,
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
) -> Result<stream::Stream, Error> {
    let wanted = audit_stream_config(names, replicas);
    for _ in 0..3 {
        match context.get_stream(names.stream()).await {
            Ok(stream) => {
                check_config(&stream.cached_info().config, &wanted)?;
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
/// take the audit subjects.
fn check_config(found: &stream::Config, wanted: &stream::Config) -> Result<(), Error> {
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
    let limited = found.max_age > Duration::ZERO
        || found.max_bytes > 0
        || found.max_messages > 0
        || found.max_messages_per_subject > 0;
    if limited && found.discard == DiscardPolicy::Old {
        return Err(mismatch(
            "it has a limit with discard old: records would be deleted silently; \
             remove the limit or set discard new"
                .into(),
        ));
    }
    if !found.deny_delete || !found.deny_purge {
        return Err(mismatch(
            "it allows deleting or purging messages; the audit stream must deny both".into(),
        ));
    }
    Ok(())
}

/// The messages on `filter` from stream sequence `from` on, in order, through an ordered
/// (ephemeral, flow-controlled) consumer.
pub(crate) async fn ordered_messages(
    stream: &stream::Stream,
    filter: String,
    from: u64,
) -> Result<pull::Ordered, Error> {
    let deliver_policy = if from <= 1 {
        DeliverPolicy::All
    } else {
        DeliverPolicy::ByStartSequence {
            start_sequence: from,
        }
    };
    let (messages, _) = ordered_messages_by(stream, filter, deliver_policy).await?;
    Ok(messages)
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
