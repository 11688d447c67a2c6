//! The cluster's alert board from detection's side ([`haechi_bus::AlertBoard`]): what the
//! detection leader records live, and every acknowledgement, is published; a node that runs no
//! engine (an API node) follows the board into its own desk, so its alert API, alert stream
//! and responder console show the cluster's alerts.
//!
//! ```text
//!  detection leader: desk.record(update) ─┐
//!  any node: desk.acknowledge(…) ─────────┴─▶ queue ─▶ publisher ─▶ <prefix>_alerts
//!                                                                     │ last per subject,
//!  API node: follower ◀───────────────────────────────────────────────┘ then each new one
//!      └─▶ desk.mirror(note) ─▶ the node's alert streams (not published again)
//! ```
//!
//! The board is a view, not the record: a message lost (the queue full, NATS away) loses a
//! line of an API node's list, never an alert — the audit trail and the detection nodes hold
//! every alert, and the follower reads the last state of every alert again when it reconnects.

use std::sync::Arc;
use std::time::Duration;

use haechi_bus::{AlertBoard, BoardMessage, BoardPart};
use haechi_detect::AlertUpdate;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::Detection;
use crate::records::AlertAck;

/// Notes waiting for the publisher, at most (then they are dropped and counted).
const QUEUE: usize = 4096;
/// How long a follower waits before reading the board again after an error.
const RETRY: Duration = Duration::from_secs(1);

/// What a node tells the board.
#[derive(Debug, Clone)]
pub enum BoardNote {
    /// An alert raised or grown.
    Update(AlertUpdate),
    /// An alert acknowledged.
    Ack(AlertAck),
}

impl BoardNote {
    /// The alert it is about, the board part it goes to, and its bytes.
    fn message(&self) -> Result<(String, BoardPart, Vec<u8>), serde_json::Error> {
        Ok(match self {
            BoardNote::Update(update @ AlertUpdate::Raised(alert)) => (
                alert.id.to_string(),
                BoardPart::Raised,
                serde_json::to_vec(update)?,
            ),
            BoardNote::Update(update @ AlertUpdate::Grew(growth)) => (
                growth.id.to_string(),
                BoardPart::Grew,
                serde_json::to_vec(update)?,
            ),
            BoardNote::Ack(ack) => (
                ack.alert_id.clone(),
                BoardPart::Ack,
                serde_json::to_vec(ack)?,
            ),
        })
    }

    /// The note a board message carries.
    fn of(message: &BoardMessage) -> Result<BoardNote, serde_json::Error> {
        Ok(match message.part {
            BoardPart::Raised | BoardPart::Grew => {
                BoardNote::Update(serde_json::from_slice(&message.payload)?)
            }
            BoardPart::Ack => BoardNote::Ack(serde_json::from_slice(&message.payload)?),
        })
    }
}

/// Publishes to `board` what `detection`'s desk records live and every acknowledgement taken
/// on this node, until the desk is dropped.
pub fn publish_to_board(board: AlertBoard, detection: &Detection) -> JoinHandle<()> {
    let (sender, mut receiver) = mpsc::channel::<BoardNote>(QUEUE);
    detection.alerts.attach_board(sender);
    tokio::spawn(async move {
        while let Some(note) = receiver.recv().await {
            let (id, part, payload) = match note.message() {
                Ok(message) => message,
                Err(error) => {
                    tracing::error!(%error, "an alert could not be written for the board");
                    continue;
                }
            };
            if let Err(error) = board.publish(&id, part, payload).await {
                metrics::counter!("haechi_alert_board_dropped_total").increment(1);
                tracing::warn!(%error, alert = %id, "an alert did not reach the board; API nodes show it after their next read of the board");
            }
        }
    })
}

/// Follows `board` into `detection`'s desk until `closing`: the last state of every alert the
/// board holds, then each new message. For nodes that run no engine (their desk is fed only
/// from here); reads the board again after an error.
pub async fn follow_board(
    board: AlertBoard,
    detection: Arc<Detection>,
    mut closing: watch::Receiver<bool>,
) {
    loop {
        let mut feed = match board.follow().await {
            Ok(feed) => feed,
            Err(error) => {
                tracing::warn!(%error, "cannot read the alert board; trying again");
                if wait_or_close(&mut closing).await {
                    return;
                }
                continue;
            }
        };
        loop {
            let next = tokio::select! {
                next = feed.next() => next,
                _ = closing.changed() => return,
            };
            match next {
                Ok(Some(message)) => match BoardNote::of(&message) {
                    Ok(note) => detection.alerts.mirror(note),
                    Err(error) => {
                        tracing::warn!(%error, "a message of the alert board is not an alert; skipped");
                    }
                },
                Ok(None) => break,
                Err(error) => {
                    tracing::warn!(%error, "reading the alert board failed; reading it again");
                    break;
                }
            }
        }
        if wait_or_close(&mut closing).await {
            return;
        }
    }
}

/// Waits [`RETRY`]; `true` if the node closes meanwhile.
async fn wait_or_close(closing: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        () = tokio::time::sleep(RETRY) => *closing.borrow(),
        _ = closing.changed() => true,
    }
}
