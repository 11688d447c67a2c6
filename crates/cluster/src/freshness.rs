//! How recently a node confirmed it had seen every shared decision.

use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// When this node last confirmed it was up to date with the change log, against the bound it
/// promises. Monotonic time, never the drill's simulated clock: the bound is about real
/// propagation.
#[derive(Debug)]
pub struct Freshness {
    bound: Duration,
    confirmed_at: Mutex<Option<Instant>>,
}

/// The node is not confirmed up to date: how long since it last was (`None`: never).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this node has not confirmed the cluster's shared decisions for {since:?}")]
pub struct Stale {
    /// Since the last confirmation, if there was one.
    pub since: Option<Duration>,
}

impl Freshness {
    /// A node that has confirmed nothing yet and promises `bound`.
    pub fn new(bound: Duration) -> Self {
        Freshness {
            bound,
            confirmed_at: Mutex::new(None),
        }
    }

    /// The promised bound.
    pub fn bound(&self) -> Duration {
        self.bound
    }

    /// Records that the node had seen every change committed before `read_started` (the
    /// moment the read of the log began — not when it ended: a change committed while the
    /// read ran may be missing from it).
    pub fn confirm(&self, read_started: Instant) {
        let mut confirmed = self.confirmed_at.lock();
        if confirmed.is_none_or(|previous| previous < read_started) {
            *confirmed = Some(read_started);
        }
    }

    /// `Ok` when the node confirmed it was up to date within the bound.
    pub fn check(&self) -> Result<(), Stale> {
        self.check_at(Instant::now())
    }

    fn check_at(&self, now: Instant) -> Result<(), Stale> {
        match *self.confirmed_at.lock() {
            Some(at) if now.saturating_duration_since(at) <= self.bound => Ok(()),
            Some(at) => Err(Stale {
                since: Some(now.saturating_duration_since(at)),
            }),
            None => Err(Stale { since: None }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_is_stale_until_it_confirms_and_again_once_the_bound_passes() {
        let freshness = Freshness::new(Duration::from_secs(1));
        let start = Instant::now();
        assert_eq!(freshness.check_at(start), Err(Stale { since: None }));
        freshness.confirm(start);
        assert_eq!(
            freshness.check_at(start + Duration::from_millis(999)),
            Ok(())
        );
        let late = start + Duration::from_millis(1500);
        assert_eq!(
            freshness.check_at(late),
            Err(Stale {
                since: Some(Duration::from_millis(1500))
            })
        );
        // An older confirmation never moves the mark back.
        freshness.confirm(start + Duration::from_millis(1200));
        freshness.confirm(start);
        assert_eq!(freshness.check_at(late), Ok(()));
    }
}
