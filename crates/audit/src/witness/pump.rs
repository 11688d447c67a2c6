//! The delivery thread between the log's writer and its witness.
//!
//! The writer only queues a checkpoint here (a short lock, never IO), so a slow or dead
//! witness never holds up a record: the log does not fail closed because a witness is down.
//! The thread delivers in order and retries a failure with exponential backoff (0.25 s doubling
//! to 30 s). While the witness is down the queue keeps at most [`MAX_QUEUED`] checkpoints,
//! dropping the oldest (counted as skipped): the newest checkpoint signs the whole chain
//! before it, so it is the one that matters. Every failure is logged as an error and counted
//! in [`WitnessStatus`], which `/readyz` and `/metrics` show. When the log shuts down, the
//! thread keeps trying for up to [`CLOSE_GRACE`] so the final checkpoint reaches the witness.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::{Witness, WitnessStatus};
use crate::checkpoint::Checkpoint;

/// The most undelivered checkpoints kept while the witness is down.
pub(crate) const MAX_QUEUED: usize = 1024;
/// How long a shutting-down log keeps trying to deliver what is queued.
pub(crate) const CLOSE_GRACE: Duration = Duration::from_secs(10);
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The writer's end: queue checkpoints, read the status, close.
#[derive(Debug)]
pub(crate) struct Pump {
    shared: Arc<PumpShared>,
}

#[derive(Debug)]
struct PumpShared {
    state: Mutex<PumpState>,
    wake: Condvar,
}

#[derive(Debug)]
struct PumpState {
    queue: VecDeque<Checkpoint>,
    /// Set at close: deliver what is queued until then, then stop.
    close_by: Option<Instant>,
    status: WitnessStatus,
}

impl Pump {
    /// Starts the delivery thread for `witness`.
    pub(crate) fn start(
        witness: Arc<dyn Witness>,
    ) -> Result<(Pump, std::thread::JoinHandle<()>), String> {
        let shared = Arc::new(PumpShared {
            state: Mutex::new(PumpState {
                queue: VecDeque::new(),
                close_by: None,
                status: WitnessStatus {
                    address: witness.address().to_string(),
                    ..WitnessStatus::default()
                },
            }),
            wake: Condvar::new(),
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| format!("cannot start the witness runtime: {error}"))?;
        let thread_shared = Arc::clone(&shared);
        let handle = std::thread::Builder::new()
            .name("haechi-audit-witness".into())
            .spawn(move || deliver_loop(&thread_shared, &*witness, &runtime))
            .map_err(|error| format!("cannot start the witness thread: {error}"))?;
        Ok((Pump { shared }, handle))
    }

    /// Queues a signed (and already durable) checkpoint for the witness.
    pub(crate) fn submit(&self, checkpoint: Checkpoint) {
        let mut state = self.shared.state.lock();
        state.status.signed_seq = state.status.signed_seq.max(checkpoint.seq);
        if state.queue.len() >= MAX_QUEUED {
            state.queue.pop_front();
            state.status.skipped += 1;
        }
        state.queue.push_back(checkpoint);
        drop(state);
        self.shared.wake.notify_all();
    }

    /// How delivery stands.
    pub(crate) fn status(&self) -> WitnessStatus {
        self.shared.state.lock().status.clone()
    }

    /// Asks the thread to deliver what is queued (for at most [`CLOSE_GRACE`]) and stop.
    pub(crate) fn close(&self) {
        let mut state = self.shared.state.lock();
        if state.close_by.is_none() {
            state.close_by = Some(Instant::now() + CLOSE_GRACE);
        }
        drop(state);
        self.shared.wake.notify_all();
    }
}

fn deliver_loop(shared: &PumpShared, witness: &dyn Witness, runtime: &tokio::runtime::Runtime) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let next = {
            let mut state = shared.state.lock();
            loop {
                if let Some(front) = state.queue.front() {
                    break front.clone();
                }
                if state.close_by.is_some() {
                    return;
                }
                shared.wake.wait(&mut state);
            }
        };
        match runtime.block_on(witness.deliver(&next)) {
            Ok(()) => {
                let mut state = shared.state.lock();
                if state.queue.front().map(|front| front.seq) == Some(next.seq) {
                    state.queue.pop_front();
                }
                state.status.delivered_seq = state.status.delivered_seq.max(next.seq);
                if state.status.last_error.take().is_some() {
                    tracing::warn!(
                        target: "haechi::audit",
                        witness = %witness.address(),
                        seq = next.seq,
                        "the audit witness receives checkpoints again"
                    );
                }
                backoff = FIRST_BACKOFF;
            }
            Err(reason) => {
                tracing::error!(
                    target: "haechi::audit",
                    witness = %witness.address(),
                    seq = next.seq,
                    %reason,
                    retry_in_ms = backoff.as_millis() as u64,
                    "the audit witness did not take a signed checkpoint; retrying (the log goes on \
                     recording, but a cut tail would not be provable until the witness has it)"
                );
                let mut state = shared.state.lock();
                state.status.failures += 1;
                state.status.last_error = Some(reason);
                if let Some(close_by) = state.close_by
                    && Instant::now() >= close_by
                {
                    tracing::error!(
                        target: "haechi::audit",
                        witness = %witness.address(),
                        undelivered_from_seq = next.seq,
                        "giving up on the audit witness at shutdown: it does not hold the final \
                         checkpoint"
                    );
                    return;
                }
                // Sleeps the backoff, or less if the log closes meanwhile.
                let _ = shared.wake.wait_for(&mut state, backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    use async_trait::async_trait;
    use ed25519_dalek::SigningKey;
    use haechi_events::Timestamp;

    use super::*;

    /// Refuses while `down`, then records what it takes.
    #[derive(Debug, Default)]
    struct Flaky {
        down: AtomicBool,
        last: AtomicU64,
    }

    #[async_trait]
    impl Witness for Flaky {
        fn address(&self) -> &str {
            "test://flaky"
        }
        async fn deliver(&self, checkpoint: &Checkpoint) -> Result<(), String> {
            if self.down.load(Ordering::SeqCst) {
                return Err("down".into());
            }
            self.last.store(checkpoint.seq, Ordering::SeqCst);
            Ok(())
        }
    }

    fn checkpoint(seq: u64) -> Checkpoint {
        Checkpoint::sign(
            seq,
            [seq as u8; 32],
            Timestamp::from_secs(1),
            &SigningKey::from_bytes(&[7; 32]),
        )
    }

    #[test]
    fn a_failing_witness_is_counted_and_gets_the_newest_checkpoint_when_it_is_back() {
        let witness = Arc::new(Flaky::default());
        witness.down.store(true, Ordering::SeqCst);
        let (pump, handle) = Pump::start(witness.clone()).unwrap();
        for seq in 1..=(MAX_QUEUED as u64 + 5) {
            pump.submit(checkpoint(seq));
        }
        while pump.status().failures == 0 {
            std::thread::yield_now();
        }
        let status = pump.status();
        assert!(status.is_failing(), "{status:?}");
        assert_eq!(status.signed_seq, MAX_QUEUED as u64 + 5);
        assert_eq!(status.skipped, 5);
        assert_eq!(status.last_error.as_deref(), Some("down"));
        witness.down.store(false, Ordering::SeqCst);
        // Close delivers what is queued before the thread ends.
        pump.close();
        handle.join().unwrap();
        let status = pump.status();
        assert_eq!(status.delivered_seq, MAX_QUEUED as u64 + 5);
        assert!(!status.is_failing());
        assert_eq!(witness.last.load(Ordering::SeqCst), MAX_QUEUED as u64 + 5);
    }
}
