//! A new leader's warm-up: the acknowledged records of the rules' history replayed from the
//! stream into a fresh engine, off the async workers, and what the trail already holds —
//! every `alert.raised` and detection's `response.action` up to the stream's end.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use haechi_bus::{Bus, HistoryRecord, Takeover};
use haechi_detect::{Alert, AlertBook, AlertUpdate, Engine, MAX_COOLDOWN};
use haechi_events::{EventKind, SecurityEvent, Timestamp};
use tokio::sync::mpsc;

use super::super::alerts::{ActionKey, Known};
use super::super::is_engine_input;
use crate::{Error, ServerLookup};

/// How far back the shared-address check looks (it needs the records of the last day).
const SHARED_ADDRESS_LOOKBACK: Duration = Duration::from_secs(24 * 3600);
/// Read this much more of the stream than the history needs: the stream is read by publish
/// time, the history is chosen by event time, and nodes' clocks differ a little.
const CLOCK_MARGIN: Duration = Duration::from_secs(60);
/// Records read ahead of the replay thread.
const READ_AHEAD: usize = 4096;

/// What the warm-up leaves behind.
pub(super) struct WarmUp {
    /// Events replayed into the engine.
    pub events: u64,
    /// Alerts the replay raised that the trail holds (back on the desk, quietly).
    pub raised: Vec<Alert>,
    /// What the trail holds, for recognising what the live engine raises again.
    pub known: Known,
}

/// Replays the records of the rules' history acknowledged by the feed (stream sequence at or
/// below `takeover.acknowledged_through`) into `engine`, and collects the alerts and actions
/// the trail holds through `takeover.stream_end`.
pub(super) async fn warm_up(
    bus: &Bus,
    engine: Engine,
    takeover: Takeover,
    now: Timestamp,
    lookup: ServerLookup,
) -> Result<(Engine, WarmUp), Error> {
    let since = now
        .minus(engine.history_needed().max(SHARED_ADDRESS_LOOKBACK))
        .minus(CLOCK_MARGIN);
    let mut history = bus
        .record_history(system_time(since), takeover.stream_end)
        .await
        .map_err(Error::Bus)?;
    let (sender, receiver) = mpsc::channel(READ_AHEAD);
    let replay = tokio::task::spawn_blocking(move || {
        replay(
            engine,
            receiver,
            takeover.acknowledged_through,
            now,
            &lookup,
        )
    });
    loop {
        match history.next().await {
            Ok(Some(record)) => {
                if sender.send(record).await.is_err() {
                    break;
                }
            }
            Ok(None) => break,
            Err(error @ haechi_bus::Error::Undecodable { .. }) => {
                tracing::error!(%error, "a message of the audit stream is not an audit record; skipped (audit verify reports it)");
            }
            Err(error) => return Err(Error::Bus(error)),
        }
    }
    drop(sender);
    replay.await.map_err(Error::WarmUp)
}

/// The replay itself, on a blocking thread.
fn replay(
    mut engine: Engine,
    mut records: mpsc::Receiver<HistoryRecord>,
    acknowledged_through: u64,
    now: Timestamp,
    lookup: &ServerLookup,
) -> (Engine, WarmUp) {
    let cutoff = now.minus(engine.history_needed()).as_micros();
    let shared_cutoff = now.minus(SHARED_ADDRESS_LOOKBACK).as_micros();
    let mut book = AlertBook::new();
    let mut already_raised = HashSet::new();
    let mut recorded_actions = HashSet::new();
    let mut events = 0_u64;
    while let Some(HistoryRecord {
        record,
        stream_sequence,
        ..
    }) = records.blocking_recv()
    {
        let event = record.event;
        match event.kind {
            EventKind::AlertRaised => {
                if let Some(id) = event.detail.get("alert_id") {
                    already_raised.insert(id.clone());
                }
                continue;
            }
            EventKind::ResponseAction => {
                if let Some(key) = recorded_action(&event) {
                    recorded_actions.insert(key);
                }
            }
            _ => {}
        }
        // Records after the feed's acknowledged point are evaluated live.
        if stream_sequence > acknowledged_through {
            continue;
        }
        let time = event.time.as_micros();
        if time >= shared_cutoff {
            lookup.detection.containment.observe(&event);
        }
        if !is_engine_input(event.kind) || time < cutoff {
            continue;
        }
        events += 1;
        for update in engine.process_owned(stream_sequence, event, lookup) {
            book.apply(update);
        }
    }
    // No flush: what the watermark still holds is evaluated live, where an alert the
    // previous leader already raised is recognised by its id.
    let recent = now.minus(MAX_COOLDOWN);
    let mut raised = Vec::new();
    let mut dormant = AlertBook::new();
    for alert in book.into_alerts() {
        if already_raised.remove(alert.id.as_str()) {
            raised.push(alert);
        } else if alert.last_time >= recent {
            dormant.apply(AlertUpdate::Raised(alert));
        }
    }
    (
        engine,
        WarmUp {
            events,
            raised,
            known: Known {
                already_raised,
                dormant,
                recorded_actions: Some(recorded_actions),
            },
        },
    )
}

/// The key of a detection action's `response.action`; `None` for an administrator's.
fn recorded_action(event: &SecurityEvent) -> Option<ActionKey> {
    if event.detail.get("origin").map(String::as_str) != Some("detection") {
        return None;
    }
    let alert_id = event.detail.get("alert_id")?;
    let trigger = event.detail.get("trigger_seq")?.parse().ok()?;
    Some((alert_id.clone(), event.reason.clone()?, trigger))
}

/// `timestamp` as the system's time (the epoch for one before it).
fn system_time(timestamp: Timestamp) -> SystemTime {
    let micros = u64::try_from(timestamp.as_micros()).unwrap_or(0);
    UNIX_EPOCH + Duration::from_micros(micros)
}
