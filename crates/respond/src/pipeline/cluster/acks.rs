//! Acknowledging the detection feed: an event's message is acknowledged once the engine has
//! evaluated it and its results are recorded, never before; a message delivered again while
//! its first delivery is still held is recognised, not evaluated twice.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use haechi_bus::{FeedAck, FeedRecord};
use haechi_events::Timestamp;
use parking_lot::Mutex;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Confirmed acknowledgements awaited at once, at most.
const CONFIRMATIONS_IN_FLIGHT: usize = 16;
/// One acknowledgement in this many asks the server to confirm it (and with it every one sent
/// before); the others are sent without waiting. A confirmation is also asked whenever no
/// more acknowledgements are queued, so the last ones are never left unconfirmed.
const CONFIRM_EVERY: usize = 256;

/// Messages taken in whose acknowledgement the server has not confirmed, by stream sequence:
/// a redelivery of one of them is a duplicate.
type Unconfirmed = Arc<Mutex<HashSet<u64>>>;

/// The events taken in and not yet evaluated, with their acknowledgements.
pub(super) struct PendingAcks {
    /// By `(event time, stream sequence)`: the engine evaluates in event-time order.
    waiting: BTreeMap<(i64, u64), FeedAck>,
    /// The event time of each waiting sequence.
    times: BTreeMap<u64, i64>,
    /// The highest stream sequence taken in.
    taken_through: u64,
}

impl PendingAcks {
    /// Nothing pending yet; the feed starts after `acknowledged_through`.
    pub(super) fn new(acknowledged_through: u64) -> Self {
        PendingAcks {
            waiting: BTreeMap::new(),
            times: BTreeMap::new(),
            taken_through: acknowledged_through,
        }
    }

    /// `record` if it is new; `None` if it is a redelivery of one still held (its newer
    /// delivery's acknowledgement replaces the old one, or is sent at once if the first is
    /// already evaluated).
    pub(super) fn take_in(
        &mut self,
        record: FeedRecord,
        acknowledger: &Acknowledger,
    ) -> Option<FeedRecord> {
        let sequence = record.stream_sequence;
        if let Some(&time) = self.times.get(&sequence) {
            self.waiting.insert((time, sequence), record.ack);
            return None;
        }
        if !acknowledger.unconfirmed.lock().insert(sequence) {
            // Evaluated and acknowledged, but the acknowledgement was not confirmed.
            acknowledger.send(sequence, record.ack);
            return None;
        }
        self.taken_through = self.taken_through.max(sequence);
        Some(record)
    }

    /// Holds `ack` until the engine has evaluated the event at `time`.
    pub(super) fn wait_for_evaluation(&mut self, time: i64, sequence: u64, ack: FeedAck) {
        self.waiting.insert((time, sequence), ack);
        self.times.insert(sequence, time);
    }

    /// Acknowledges every waiting event with a time before `evaluated_before` (evaluated,
    /// and — the caller has handled the updates — recorded). Returns
    /// [`PendingAcks::evaluated_through`].
    pub(super) fn release(
        &mut self,
        evaluated_before: Timestamp,
        acknowledger: &Acknowledger,
    ) -> u64 {
        let limit = evaluated_before.as_micros();
        while let Some(entry) = self.waiting.first_entry() {
            if entry.key().0 >= limit {
                break;
            }
            let ((_, sequence), ack) = entry.remove_entry();
            self.times.remove(&sequence);
            acknowledger.send(sequence, ack);
        }
        self.evaluated_through()
    }

    /// The highest stream sequence the feed has delivered (or the floor it started after).
    pub(super) fn taken_through(&self) -> u64 {
        self.taken_through
    }

    /// The highest stream sequence at or below which every event taken in is evaluated.
    pub(super) fn evaluated_through(&self) -> u64 {
        match self.times.first_key_value() {
            Some((&sequence, _)) => sequence - 1,
            None => self.taken_through,
        }
    }
}

/// Sends acknowledgements to the server — most without waiting, one in [`CONFIRM_EVERY`]
/// confirmed, which confirms those sent before it — and forgets each once confirmed.
pub(super) struct Acknowledger {
    sender: Option<mpsc::UnboundedSender<(u64, FeedAck)>>,
    unconfirmed: Unconfirmed,
    task: Option<JoinHandle<()>>,
}

impl Acknowledger {
    pub(super) fn start() -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        let unconfirmed = Unconfirmed::default();
        let task = tokio::spawn(acknowledge(receiver, unconfirmed.clone()));
        Acknowledger {
            sender: Some(sender),
            unconfirmed,
            task: Some(task),
        }
    }

    /// Acknowledges message `sequence`.
    pub(super) fn send(&self, sequence: u64, ack: FeedAck) {
        if let Some(sender) = &self.sender {
            let _ = sender.send((sequence, ack));
        }
    }

    /// Sends nothing more and waits up to `patience` for what was sent to be confirmed;
    /// whether it all was.
    pub(super) async fn finish(&mut self, patience: Duration) -> bool {
        self.sender = None;
        let Some(task) = self.task.take() else {
            return true;
        };
        match tokio::time::timeout(patience, task).await {
            Ok(_) => self.unconfirmed.lock().is_empty(),
            Err(_) => false,
        }
    }
}

impl Drop for Acknowledger {
    /// A term that ends without [`Acknowledger::finish`] (a crash, an abort) sends nothing
    /// more: what it did not confirm is delivered again to the next leader.
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

async fn acknowledge(
    mut receiver: mpsc::UnboundedReceiver<(u64, FeedAck)>,
    unconfirmed: Unconfirmed,
) {
    let mut confirming = FuturesUnordered::new();
    let mut covered: Vec<u64> = Vec::new();
    let mut open = true;
    while open || !confirming.is_empty() {
        tokio::select! {
            next = receiver.recv(), if open && confirming.len() < CONFIRMATIONS_IN_FLIGHT => match next {
                Some((sequence, ack)) => {
                    covered.push(sequence);
                    if covered.len() >= CONFIRM_EVERY || receiver.is_empty() {
                        let batch = std::mem::take(&mut covered);
                        confirming.push(async move { (batch, ack.ack().await) });
                    } else if let Err(error) = ack.ack_unconfirmed().await {
                        tracing::warn!(%error, sequence, "a detection acknowledgement was not sent");
                    }
                }
                None => open = false,
            },
            Some((batch, result)) = confirming.next(), if !confirming.is_empty() => match result {
                Ok(()) => {
                    let mut unconfirmed = unconfirmed.lock();
                    for sequence in batch {
                        unconfirmed.remove(&sequence);
                    }
                }
                Err(error) => {
                    // Those lost are delivered again after the ack wait and acknowledged then.
                    tracing::warn!(%error, "detection acknowledgements were not confirmed");
                }
            },
        }
    }
}
