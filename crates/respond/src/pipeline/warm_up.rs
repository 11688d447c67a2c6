//! The warm-up at start: the history the rules need, replayed into a fresh engine off the
//! async workers, and the ids of the alerts the trail already holds.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use haechi_audit::AuditRecord;
use haechi_detect::{Alert, AlertBook, AlertUpdate, Engine, MAX_COOLDOWN};
use haechi_events::{EventKind, Timestamp};

use super::is_engine_input;
use crate::{Error, ServerLookup};

/// What the warm-up leaves behind.
pub(super) struct WarmUp {
    /// Events replayed.
    pub events: u64,
    /// Alerts put back on the desk.
    pub restored: usize,
    /// Alerts raised in warm-up that the trail holds (to put back on the desk).
    pub raised: Vec<Alert>,
    /// Ids of alerts the trail holds that the warm-up did not raise.
    pub already_raised: HashSet<String>,
    /// Alerts the warm-up raised that the trail does not hold.
    pub dormant: AlertBook,
}

/// Replays the history the rules need (events with seq below `resume`, no older than
/// `history_needed` before now) into `engine`, on a blocking thread, and collects the ids of
/// alerts the trail already holds (up to `durable`).
pub(super) async fn warm_up(
    mut engine: Engine,
    dir: PathBuf,
    resume: u64,
    durable: u64,
    now: Timestamp,
    lookup: ServerLookup,
) -> Result<(Engine, WarmUp), Error> {
    tokio::task::spawn_blocking(move || {
        let cutoff = now.minus(engine.history_needed()).as_micros();
        // The shared-address check looks back one day.
        let shared_cutoff = now.minus(Duration::from_secs(24 * 3600)).as_micros();
        let mut book = AlertBook::new();
        let mut already_raised = HashSet::new();
        let mut events = 0_u64;
        for record in haechi_audit::read_log(&dir).map_err(Error::AuditLog)? {
            let AuditRecord { seq, event, .. } = record.map_err(Error::AuditLog)?;
            if seq > durable {
                break;
            }
            if event.kind == EventKind::AlertRaised {
                if let Some(id) = event.detail.get("alert_id") {
                    already_raised.insert(id.clone());
                }
                continue;
            }
            if seq < resume && event.time.as_micros() >= shared_cutoff {
                lookup.detection.containment.observe(&event);
            }
            if seq >= resume || !is_engine_input(event.kind) || event.time.as_micros() < cutoff {
                continue;
            }
            events += 1;
            for update in engine.process_owned(seq, event, &lookup) {
                book.apply(update);
            }
        }
        // No flush: what the watermark still holds is evaluated live, where an alert the
        // previous run already raised is recognised by its id.
        let recent = now.minus(MAX_COOLDOWN);
        let mut raised = Vec::new();
        let mut dormant = AlertBook::new();
        for alert in book.into_alerts() {
            if already_raised.contains(alert.id.as_str()) {
                raised.push(alert);
            } else if alert.last_time >= recent {
                dormant.apply(AlertUpdate::Raised(alert));
            }
        }
        for alert in &raised {
            already_raised.remove(alert.id.as_str());
        }
        let restored = raised.len();
        Ok((
            engine,
            WarmUp {
                events,
                restored,
                raised,
                already_raised,
                dormant,
            },
        ))
    })
    .await
    .map_err(Error::WarmUp)?
}
