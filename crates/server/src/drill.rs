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
use haechi_respond::pipeline::Settle;
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};

/// How long a settle may take before the call gives up (an engine this far behind is itself a
/// finding).
const SETTLE_PATIENCE: Duration = Duration::from_secs(60);

/// The simulated clock and the line to the detection engine.
#[derive(Debug)]
pub struct DrillClock {
    clock: Arc<SimulatedClock>,
    engine: Mutex<Option<mpsc::Sender<Settle>>>,
    /// Simulated time between two runs of the authority's upkeep: the real clock's ticker
    /// period, so a drill keeps production's cadence without running it on every move.
    upkeep_every: Duration,
    /// When the upkeep last ran (simulated).
    upkept_at: Mutex<Option<Timestamp>>,
}

/// Why the clock could not be moved.
#[derive(Debug, PartialEq, Eq)]
pub enum DrillClockError {
    /// The requested time is before the clock's time: simulated time never runs backwards.
    Backwards {
        /// The clock's time.
        now: Timestamp,
    },
    /// The detection engine did not settle in time (the clock has moved already).
    EngineBehind,
    /// Detection is not running (turned off, or it stopped): a drill would measure nothing.
    DetectionStopped,
}

impl DrillClock {
    /// A drill clock over `clock`, with no engine attached yet, whose moves run the upkeep
    /// every `upkeep_every` of simulated time.
    pub fn new(clock: Arc<SimulatedClock>, upkeep_every: Duration) -> Self {
        DrillClock {
            clock,
            engine: Mutex::new(None),
            upkeep_every,
            upkept_at: Mutex::new(None),
        }
    }

    /// Whether the upkeep is due at `now`; if so, counts it as run.
    pub fn take_upkeep(&self, now: Timestamp) -> bool {
        let mut upkept_at = self.upkept_at.lock();
        let due = upkept_at.is_none_or(|last| now.since(last) >= self.upkeep_every);
        if due {
            *upkept_at = Some(now);
        }
        due
    }

    /// The detection engine's end of the settle line. One engine settles a server: a second
    /// call gets `None`.
    pub fn attach_engine(&self) -> Option<mpsc::Receiver<Settle>> {
        let mut engine = self.engine.lock();
        if engine.is_some() {
            return None;
        }
        let (sender, receiver) = mpsc::channel(16);
        *engine = Some(sender);
        Some(receiver)
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
        let engine = self.engine.lock().clone();
        let Some(engine) = engine else {
            return Err(DrillClockError::DetectionStopped);
        };
        let shown = self.clock.advance_to(instant);
        let (done, answered) = oneshot::channel();
        let settled = async {
            engine
                .send(Settle { through_seq, done })
                .await
                .map_err(|_| DrillClockError::DetectionStopped)?;
            answered
                .await
                .map_err(|_| DrillClockError::DetectionStopped)
        };
        match tokio::time::timeout(SETTLE_PATIENCE, settled).await {
            Ok(Ok(())) => Ok(shown),
            Ok(Err(error)) => Err(error),
            Err(_) => Err(DrillClockError::EngineBehind),
        }
    }
}
