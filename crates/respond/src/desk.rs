//! The [`AlertDesk`]: the alerts the server holds for the API, their acknowledgements, and the
//! broadcast to the alert streams (SSE). A full desk makes room as `eviction` says.

use std::collections::HashMap;
use std::sync::Arc;

use haechi_detect::{Alert, AlertBook, AlertGrowth, AlertUpdate, Severity};
use haechi_events::{Clock, StoreError, Timestamp};
use haechi_token::AdminGrant;
use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::broadcast;

use crate::records::{AlertAck, ContainmentStore};

mod eviction;

use eviction::{Desk, admit};
pub use eviction::{DropReason, DroppedAlert};

/// Whether an alert still wants attention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// Nobody has acknowledged it.
    Open,
    /// An administrator acknowledged it.
    Acknowledged,
}

/// An alert as the API shows it: the engine's alert, its state and acknowledgement.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AlertView {
    /// The alert.
    #[serde(flatten)]
    pub alert: Alert,
    /// Open or acknowledged.
    pub state: AlertState,
    /// Who acknowledged it, when, with what note.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acknowledgement: Option<AlertAck>,
}

/// What alert streams (SSE) receive.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AlertNotice {
    /// A new alert.
    Raised {
        /// It.
        alert: Box<AlertView>,
    },
    /// An open alert matched again.
    Grew {
        /// The growth.
        growth: AlertGrowth,
    },
    /// An administrator acknowledged an alert.
    Acknowledged {
        /// The acknowledgement.
        acknowledgement: AlertAck,
    },
}

impl AlertNotice {
    /// The SSE event name: `raised`, `grew` or `acknowledged`.
    pub fn name(&self) -> &'static str {
        match self {
            AlertNotice::Raised { .. } => "raised",
            AlertNotice::Grew { .. } => "grew",
            AlertNotice::Acknowledged { .. } => "acknowledged",
        }
    }
}

/// Which alerts a listing wants.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    /// Only alerts in this state.
    pub state: Option<AlertState>,
    /// Only these severities (any, when empty).
    pub severities: Vec<Severity>,
    /// Only this rule.
    pub rule_id: Option<String>,
    /// At most this many, newest first.
    pub limit: usize,
}

/// What [`AlertDesk::record`] did with an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// A new alert entered the desk.
    Raised,
    /// An alert already on the desk (raised now or before a restart) was raised again: the
    /// update was ignored.
    AlreadyRaised,
    /// An alert on the desk grew.
    Grew,
    /// A growth of an alert the desk does not hold.
    UnknownAlert,
    /// A new alert the desk could not hold: it was full of open high and critical alerts (the
    /// alert is in the audit trail and the streams; the drop is counted and recorded).
    Refused,
}

/// The alerts the server holds — at most `capacity` — their acknowledgements, and a
/// broadcast to the alert streams. A full desk makes room by dropping acknowledged alerts,
/// then open ones of the lowest severity (oldest first; see `eviction`); it never drops an
/// open high or critical alert to make room, and refuses a newcomer when nothing else can go.
/// Every drop is counted (`haechi_detect_alerts_dropped_total`) and handed to the detection
/// task ([`AlertDesk::take_dropped`]) to be recorded as `alert.dropped`; the alert's own
/// `alert.raised` stays in the audit trail.
#[derive(Debug)]
pub struct AlertDesk {
    inner: Mutex<Desk>,
    notices: broadcast::Sender<AlertNotice>,
    /// Where live updates and acknowledgements go for the cluster's alert board, once
    /// attached ([`crate::board`]).
    board: std::sync::OnceLock<tokio::sync::mpsc::Sender<crate::board::BoardNote>>,
    store: Arc<dyn ContainmentStore>,
    clock: Arc<dyn Clock>,
    capacity: usize,
}

/// How many notices a slow stream may fall behind before it is told it lagged.
const STREAM_BUFFER: usize = 1024;

impl AlertDesk {
    /// A desk keeping up to `capacity` alerts, with the acknowledgements `store` holds.
    pub async fn open(
        store: Arc<dyn ContainmentStore>,
        clock: Arc<dyn Clock>,
        capacity: usize,
    ) -> Result<Self, StoreError> {
        let acks = store
            .alert_acks(Timestamp::EPOCH)
            .await?
            .into_iter()
            .map(|ack| (ack.alert_id.clone(), ack))
            .collect();
        Ok(AlertDesk {
            inner: Mutex::new(Desk {
                book: AlertBook::new(),
                titles: HashMap::new(),
                acks,
                dropped: Vec::new(),
                dropped_uncounted: 0,
            }),
            notices: broadcast::Sender::new(STREAM_BUFFER),
            board: std::sync::OnceLock::new(),
            store,
            clock,
            capacity: capacity.max(1),
        })
    }

    /// Applies an update and tells the alert streams (and the cluster's alert board, when
    /// attached).
    pub fn record(&self, update: AlertUpdate) -> Recorded {
        let for_board = self.board.get().map(|_| update.clone());
        let (recorded, notice) = self.apply(update);
        if let Some(notice) = notice {
            // No stream listening is not an error.
            let _ = self.notices.send(notice);
        }
        if let Some(update) = for_board
            && matches!(recorded, Recorded::Raised | Recorded::Grew)
        {
            self.to_board(crate::board::BoardNote::Update(update));
        }
        recorded
    }

    /// Sends what this node recorded to the alert board's publisher; a full queue drops it
    /// (counted), never the caller.
    fn to_board(&self, note: crate::board::BoardNote) {
        if let Some(sender) = self.board.get()
            && sender.try_send(note).is_err()
        {
            metrics::counter!("haechi_alert_board_dropped_total").increment(1);
        }
    }

    /// From now on, live updates and acknowledgements also go to `sender` (once; later calls
    /// change nothing).
    pub(crate) fn attach_board(&self, sender: tokio::sync::mpsc::Sender<crate::board::BoardNote>) {
        let _ = self.board.set(sender);
    }

    /// Applies what another node recorded (from the alert board) and tells the alert streams;
    /// never sent back to the board.
    pub(crate) fn mirror(&self, note: crate::board::BoardNote) {
        match note {
            crate::board::BoardNote::Update(update) => {
                if let (_, Some(notice)) = self.apply(update) {
                    let _ = self.notices.send(notice);
                }
            }
            crate::board::BoardNote::Ack(ack) => {
                let fresh = {
                    let mut desk = self.inner.lock();
                    let known = desk.titles.contains_key(&ack.alert_id)
                        && !desk.acks.contains_key(&ack.alert_id);
                    if known {
                        desk.acks.insert(ack.alert_id.clone(), ack.clone());
                    }
                    known
                };
                if fresh {
                    let _ = self.notices.send(AlertNotice::Acknowledged {
                        acknowledgement: ack,
                    });
                }
            }
        }
    }

    /// Applies an update without telling the streams: history replayed at start.
    pub fn record_quietly(&self, update: AlertUpdate) -> Recorded {
        self.apply(update).0
    }

    fn apply(&self, update: AlertUpdate) -> (Recorded, Option<AlertNotice>) {
        let mut desk = self.inner.lock();
        match update {
            AlertUpdate::Raised(alert) => {
                if desk.titles.contains_key(alert.id.as_str()) {
                    return (Recorded::AlreadyRaised, None);
                }
                let view = view(&desk, &alert);
                let recorded = if admit(&mut desk, alert, self.capacity) {
                    Recorded::Raised
                } else {
                    Recorded::Refused
                };
                // Streams hear of a refused alert too: someone watching should see it.
                (
                    recorded,
                    Some(AlertNotice::Raised {
                        alert: Box::new(view),
                    }),
                )
            }
            AlertUpdate::Grew(growth) => {
                if !desk.titles.contains_key(growth.id.as_str()) {
                    return (Recorded::UnknownAlert, None);
                }
                desk.book.apply(AlertUpdate::Grew(growth.clone()));
                (Recorded::Grew, Some(AlertNotice::Grew { growth }))
            }
        }
    }

    /// Whether the desk holds alert `id`.
    pub fn contains(&self, id: &str) -> bool {
        self.inner.lock().titles.contains_key(id)
    }

    /// The title of alert `id`, if the desk holds it.
    pub fn title(&self, id: &str) -> Option<String> {
        self.inner.lock().titles.get(id).cloned()
    }

    /// The alerts `filter` selects, newest first, and how many matched in all.
    pub fn list(&self, filter: &AlertFilter) -> (Vec<AlertView>, usize) {
        let desk = self.inner.lock();
        let mut total = 0;
        let mut selected = Vec::new();
        for alert in desk.book.alerts().iter().rev() {
            let acknowledged = desk.acks.contains_key(alert.id.as_str());
            let state = if acknowledged {
                AlertState::Acknowledged
            } else {
                AlertState::Open
            };
            if filter.state.is_some_and(|wanted| wanted != state)
                || (!filter.severities.is_empty() && !filter.severities.contains(&alert.severity))
                || filter
                    .rule_id
                    .as_ref()
                    .is_some_and(|rule| *rule != alert.rule_id)
            {
                continue;
            }
            total += 1;
            if selected.len() < filter.limit {
                selected.push(view(&desk, alert));
            }
        }
        (selected, total)
    }

    /// One alert.
    pub fn get(&self, id: &str) -> Option<AlertView> {
        let desk = self.inner.lock();
        desk.book
            .alerts()
            .iter()
            .find(|alert| alert.id.as_str() == id)
            .map(|alert| view(&desk, alert))
    }

    /// Acknowledges alert `id` for the holder of `grant`: stored, then shown. `None` if the
    /// desk does not hold it.
    pub async fn acknowledge(
        &self,
        id: &str,
        grant: &AdminGrant,
        note: Option<String>,
    ) -> Result<Option<AlertView>, StoreError> {
        if !self.contains(id) {
            return Ok(None);
        }
        let ack = AlertAck {
            alert_id: id.to_string(),
            acknowledged_by: grant.actor().clone(),
            acknowledged_at: self.clock.now(),
            note,
        };
        self.store.acknowledge_alert(&ack).await?;
        self.inner.lock().acks.insert(id.to_string(), ack.clone());
        self.to_board(crate::board::BoardNote::Ack(ack.clone()));
        let _ = self.notices.send(AlertNotice::Acknowledged {
            acknowledgement: ack,
        });
        Ok(self.get(id))
    }

    /// A receiver of every notice from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<AlertNotice> {
        self.notices.subscribe()
    }

    /// The alerts dropped since the last call, and how many more were dropped beyond what
    /// the desk keeps for recording: the detection task records them as `alert.dropped`.
    pub fn take_dropped(&self) -> (Vec<DroppedAlert>, u64) {
        let mut desk = self.inner.lock();
        let uncounted = std::mem::take(&mut desk.dropped_uncounted);
        (std::mem::take(&mut desk.dropped), uncounted)
    }

    /// Forgets acknowledgements of alerts the desk does not hold (they stay in the store):
    /// called once the desk is filled at start, so memory holds at most one per alert.
    pub fn forget_other_acks(&self) {
        let mut desk = self.inner.lock();
        let Desk { titles, acks, .. } = &mut *desk;
        acks.retain(|id, _| titles.contains_key(id));
    }

    /// How many alerts the desk holds.
    pub fn len(&self) -> usize {
        self.inner.lock().book.alerts().len()
    }

    /// Whether the desk holds no alert.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn view(desk: &Desk, alert: &Alert) -> AlertView {
    let acknowledgement = desk.acks.get(alert.id.as_str()).cloned();
    AlertView {
        alert: alert.clone(),
        state: if acknowledgement.is_some() {
            AlertState::Acknowledged
        } else {
            AlertState::Open
        },
        acknowledgement,
    }
}
