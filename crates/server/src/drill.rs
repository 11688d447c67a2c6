//! The drill clock: a simulated clock an administrator moves forward, so that a breach drill
//! replays months of traffic in minutes (`haechi drill`).
//!
//! Off unless the server starts with `drill.dangerous_simulated_clock`. Moving the clock also
//! *settles* detection: the call returns only once the engine has evaluated every event made
//! durable before the call (up to the new time, less its allowed lateness) and carried out the
//! actions that followed. A drill therefore sees alerts and containment at the simulated time
//! they would have happened, however fast it replays.

use std::sync::Arc;
use std::time::Duration;

use haechi_events::{Clock as _, SimulatedClock, Timestamp};
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};

/// How long a settle may take before the call gives up (an engine this far behind is itself a
/// finding).
const SETTLE_PATIENCE: Duration = Duration::from_secs(60);

/// A request to the detection engine: evaluate through `through_seq`, then answer.
#[derive(Debug)]
pub struct Settle {
    /// The last durable audit seq the engine must have taken in.
    pub through_seq: u64,
    /// Answered once done.
    pub done: oneshot::Sender<()>,
}

/// The simulated clock and the line to the detection engine.
#[derive(Debug)]
pub struct DrillClock {
    clock: Arc<SimulatedClock>,
    engine: Mutex<Option<mpsc::Sender<Settle>>>,
}

/// Why the clock could not be moved.
#[derive(Debug, PartialEq, Eq)]
pub enum DrillClockError {
    /// The requested time is before the clock's time: simulated time never runs backwards.
    Backwards {
        /// The clock's time.
        now: Timestamp,
    },
    /// The detection engine did not settle in time.
    EngineBehind,
}

impl DrillClock {
    /// A drill clock over `clock`, with no engine attached yet.
    pub fn new(clock: Arc<SimulatedClock>) -> Self {
        DrillClock {
            clock,
            engine: Mutex::new(None),
        }
    }

    /// The detection engine's end of the settle line; the engine calls this once.
    pub fn attach_engine(&self) -> mpsc::Receiver<Settle> {
        let (sender, receiver) = mpsc::channel(16);
        *self.engine.lock() = Some(sender);
        receiver
    }

    /// The simulated time.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Moves the clock to `instant` (a time before the clock's is refused), then waits until
    /// detection has evaluated everything durable up to `through_seq`.
    pub async fn advance(
        &self,
        instant: Timestamp,
        through_seq: u64,
    ) -> Result<Timestamp, DrillClockError> {
        let now = self.clock.now();
        if instant < now {
            return Err(DrillClockError::Backwards { now });
        }
        let shown = self.clock.advance_to(instant);
        let engine = self.engine.lock().clone();
        // No engine (detection off, or not started yet): nothing to settle.
        let Some(engine) = engine else {
            return Ok(shown);
        };
        let (done, answered) = oneshot::channel();
        if engine.send(Settle { through_seq, done }).await.is_err() {
            return Ok(shown);
        }
        match tokio::time::timeout(SETTLE_PATIENCE, answered).await {
            // An engine that stopped has nothing more to settle.
            Ok(_) => Ok(shown),
            Err(_) => Err(DrillClockError::EngineBehind),
        }
    }
}
