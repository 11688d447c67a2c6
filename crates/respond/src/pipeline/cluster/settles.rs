//! The drill clock's settles on the cluster's leading detection node: a request waits until
//! the feed has delivered every record the stream held when it arrived; then the watermark
//! moves to the (simulated) time, what that evaluates is recorded and carried out, and the
//! request is answered with how far the stream is evaluated. A standby answers at once that
//! it stands by (`cluster::run`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use haechi_bus::Bus;
use haechi_events::Timestamp;
use haechi_vault::Vault;

use super::super::CUSTOMER_COUNT_REFRESH;
use super::super::settle::{Settle, SettleAnswer, Settled, SettledSource};

/// How long the leader waits for NATS to say where the stream ends before it gives a settle
/// up (the drill clock then answers 503).
const STREAM_END_ANSWER: Duration = Duration::from_secs(5);

/// Settle requests waiting for the feed to deliver the records they need.
#[derive(Default)]
pub(super) struct WaitingSettles {
    /// Each request with the stream's newest record when it arrived.
    waiting: Vec<(u64, Settle)>,
    /// When a settle last refreshed the customer count (simulated time).
    counted_at: Option<Timestamp>,
}

impl WaitingSettles {
    /// Whether no request waits.
    pub(super) fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Takes `settle` in, to be answered once the feed has delivered every record the stream
    /// holds now. If NATS cannot say where the stream ends, the request is dropped
    /// unanswered: the drill clock answers that detection did not settle.
    pub(super) async fn take(&mut self, settle: Settle, bus: &Bus) {
        match tokio::time::timeout(STREAM_END_ANSWER, bus.last_record_sequence()).await {
            Ok(Ok(records_through)) => self.waiting.push((records_through, settle)),
            Ok(Err(error)) => {
                tracing::warn!(%error, "cannot read where the audit stream ends; the drill clock's settle fails");
            }
            Err(_) => {
                tracing::warn!(
                    "NATS did not say where the audit stream ends; the drill clock's settle fails"
                );
            }
        }
    }

    /// The requests whose records are all taken in (`taken_through`: the highest stream
    /// sequence the feed has delivered, with every one before it).
    pub(super) fn ready(&mut self, taken_through: u64) -> Vec<(u64, Settle)> {
        self.waiting
            .extract_if(.., |(records_through, _)| *records_through <= taken_through)
            .collect()
    }

    /// The customer count (`share` rules' population) follows simulated time on the drill
    /// clock, as on a single node, not the real minute of the refresher.
    pub(super) async fn refresh_customer_count(
        &mut self,
        now: Timestamp,
        vault: &Vault,
        customers: &Arc<AtomicU64>,
    ) {
        if self
            .counted_at
            .is_some_and(|counted| now.since(counted) < CUSTOMER_COUNT_REFRESH)
        {
            return;
        }
        if let Ok(count) = vault.customer_count().await {
            customers.store(count, Ordering::Relaxed);
        }
        self.counted_at = Some(now);
    }
}

/// Answers the `ready` requests: everything through `evaluated_through` is evaluated and
/// recorded.
pub(super) fn answer(ready: Vec<(u64, Settle)>, evaluated_through: u64) {
    for (records_through, settle) in ready {
        let settled = Settled::new(SettledSource::Stream {
            records_through,
            evaluated_through,
        });
        let _ = settle.done.send(SettleAnswer::Settled(settled));
    }
}

/// Answers a request that reached a standby.
pub(super) fn standing_by(settle: Settle) {
    let _ = settle.done.send(SettleAnswer::Standby);
}
