//! The drill clock: a simulated clock an administrator moves forward, so that a breach drill
//! replays months of traffic in minutes (`haechi drill`).
//!
//! Off unless the server starts with `drill.dangerous_simulated_clock`. Moving the clock also
//! *settles* detection: the call returns only once the engine has evaluated every event made
//! durable before the call (up to the new time, less its allowed lateness) and carried out the
//! actions that followed. A drill therefore sees alerts and containment at the simulated time
//! they would have happened, however fast it replays.
//!
//! **A cluster** (`docs/drills.md`, "Drilling a cluster") settles in two steps, each node on
//! its own drill clock. First the detection nodes: the leader settles through the newest
//! record in the cluster's audit stream, runs the key upkeep, and answers the change log's
//! head read after that (`changes_through`: its actions, committed, are at or below it); a
//! standby answers that it stands by. Then every API node, given that `changes_through`:
//! it moves its clock and answers once its follower has applied the change log through it,
//! so its memory holds every block, suspension and revocation detection decided. Each step
//! is carried by a value only the step's owner makes ([`Moved`], `Settled`,
//! `ChangesApplied`); a step that cannot finish fails the call (503), never half-answers.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use haechi_cluster::{ChangesApplied, FollowerHandle};
use haechi_events::{ChangeFeed, Clock as _, SimulatedClock, StoreError, Timestamp};
use haechi_respond::pipeline::{Settle, SettleAnswer, Settled};
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};

/// How long a settle may take before the call gives up (an engine this far behind is itself a
/// finding).
const SETTLE_PATIENCE: Duration = Duration::from_secs(60);

/// The simulated clock and the lines to the detection engine and, on a cluster node, to the
/// change log's follower.
#[derive(Debug)]
pub struct DrillClock {
    clock: Arc<SimulatedClock>,
    engine: Mutex<Option<mpsc::Sender<Settle>>>,
    /// On a node of a cluster: the shared change log and this node's follower of it.
    cluster: OnceLock<ClusterLinks>,
    /// Simulated time between two runs of the authority's upkeep: the real clock's ticker
    /// period, so a drill keeps production's cadence without running it on every move.
    upkeep_every: Duration,
    /// When the upkeep last ran (simulated).
    upkept_at: Mutex<Option<Timestamp>>,
}

/// What a cluster node's clock settles besides detection.
#[derive(Debug, Clone)]
pub struct ClusterLinks {
    /// The shared store's change log: its head, read once detection has acted, is where the
    /// API nodes must have applied it to.
    pub changes: Arc<dyn ChangeFeed>,
    /// This node's follower of the change log.
    pub follower: FollowerHandle,
}

/// Why the clock could not be moved, or its move not settled.
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
    /// A cluster node that runs no detection engine (`--role api`) was moved without the
    /// change-log position its detection node answered: it cannot know what detection
    /// decided. The clock has not moved.
    NoDetectionHere,
    /// `changes_through` was given to a node that follows no change log (a single node).
    NoChangeLog,
    /// The change log's head could not be read (the clock has moved already).
    ChangeLogUnreadable(String),
    /// The follower did not apply the change log through the position in time (the clock
    /// has moved already).
    ChangesBehind(haechi_cluster::Error),
}

/// What a clock move asks.
#[derive(Debug, Clone, Copy)]
pub struct Move {
    /// The new simulated time.
    pub instant: Timestamp,
    /// The last durable seq of this node's own log (what a single node settles through).
    pub through_seq: u64,
    /// On a cluster node: the change-log position the detection nodes answered, which this
    /// node must have applied before the move returns.
    pub changes_through: Option<i64>,
}

/// Proof that the clock moved and detection settled as far as this node can: only
/// [`DrillClock::advance`] makes one, and [`DrillClock::apply_changes`] takes it.
#[derive(Debug, Clone, Copy)]
pub struct Moved {
    now: Timestamp,
    detection: DetectionPart,
    changes_through: Option<i64>,
}

/// What this node's detection did for a move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetectionPart {
    /// The engine settled (a single node's log, or the cluster's stream on its leader).
    Settled(Settled),
    /// A standby of the cluster's detection: the leader settles.
    Standby,
    /// A cluster node without an engine (`--role api`): the detection nodes settled first.
    NotHere,
}

impl Moved {
    /// The time the clock shows.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// What detection did.
    pub fn detection(&self) -> DetectionPart {
        self.detection
    }

    /// Whether detection settled here (this node runs the key upkeep of a move).
    pub fn settled_here(&self) -> bool {
        matches!(self.detection, DetectionPart::Settled(_))
    }
}

impl DrillClock {
    /// A drill clock over `clock`, with no engine attached yet, whose moves run the upkeep
    /// every `upkeep_every` of simulated time.
    pub fn new(clock: Arc<SimulatedClock>, upkeep_every: Duration) -> Self {
        DrillClock {
            clock,
            engine: Mutex::new(None),
            cluster: OnceLock::new(),
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

    /// Makes this a cluster node's clock: its moves settle the change log too. Once only
    /// (a second call is ignored and says so with `false`).
    pub fn attach_cluster(&self, links: ClusterLinks) -> bool {
        self.cluster.set(links).is_ok()
    }

    /// The simulated time.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Moves the clock to `request.instant` (a time before the clock's is refused), then
    /// waits until this node's detection has settled: on a single node, everything durable
    /// in its log up to `through_seq`; on a cluster's leading detection node, everything in
    /// the stream. A node that can settle nothing of what the move needs refuses before
    /// moving.
    pub async fn advance(&self, request: Move) -> Result<Moved, DrillClockError> {
        let now = self.clock.now();
        if request.instant < now {
            return Err(DrillClockError::Backwards { now });
        }
        let cluster = self.cluster.get();
        if request.changes_through.is_some() && cluster.is_none() {
            return Err(DrillClockError::NoChangeLog);
        }
        let engine = self.engine.lock().clone();
        let Some(engine) = engine else {
            return match (cluster, request.changes_through) {
                (Some(_), Some(_)) => Ok(self.moved(request, DetectionPart::NotHere)),
                (Some(_), None) => Err(DrillClockError::NoDetectionHere),
                (None, _) => Err(DrillClockError::DetectionStopped),
            };
        };
        let shown = self.clock.advance_to(request.instant);
        let (done, answered) = oneshot::channel();
        let settled = async {
            engine
                .send(Settle {
                    through_seq: request.through_seq,
                    done,
                })
                .await
                .map_err(|_| DrillClockError::DetectionStopped)?;
            answered
                .await
                .map_err(|_| DrillClockError::DetectionStopped)
        };
        let detection = match tokio::time::timeout(SETTLE_PATIENCE, settled).await {
            Ok(Ok(SettleAnswer::Settled(settled))) => DetectionPart::Settled(settled),
            Ok(Ok(SettleAnswer::Standby)) => DetectionPart::Standby,
            Ok(Err(error)) => return Err(error),
            Err(_) => return Err(DrillClockError::EngineBehind),
        };
        Ok(Moved {
            now: shown,
            detection,
            changes_through: request.changes_through,
        })
    }

    /// A move of a node without an engine: the clock moves, nothing to settle here.
    fn moved(&self, request: Move, detection: DetectionPart) -> Moved {
        Moved {
            now: self.clock.advance_to(request.instant),
            detection,
            changes_through: request.changes_through,
        }
    }

    /// On a cluster node, once `moved` (and, where detection settled, the upkeep): has the
    /// follower apply the change log through the position asked for — and, where detection
    /// settled, through the head read now, after its actions were committed. `None` on a
    /// single node, which follows no change log.
    pub async fn apply_changes(
        &self,
        moved: &Moved,
    ) -> Result<Option<ChangesApplied>, DrillClockError> {
        let Some(links) = self.cluster.get() else {
            return Ok(None);
        };
        let mut through = moved.changes_through.unwrap_or(0);
        if moved.settled_here() {
            let head = links
                .changes
                .change_head()
                .await
                .map_err(|error: StoreError| {
                    DrillClockError::ChangeLogUnreadable(error.to_string())
                })?;
            through = through.max(head);
        }
        links
            .follower
            .apply_through(through, SETTLE_PATIENCE)
            .await
            .map(Some)
            .map_err(DrillClockError::ChangesBehind)
    }
}
