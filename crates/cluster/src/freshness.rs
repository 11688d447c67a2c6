//! How recently a node confirmed it had seen every shared decision.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::Error;

/// When this node last confirmed it was up to date with the change log, against the bound it
/// promises. Monotonic time, never the drill's simulated clock: the bound is about real
/// propagation. Every request checks it, so it is one atomic load, not a lock.
#[derive(Debug)]
pub struct Freshness {
    bound: Duration,
    /// The instant the nanosecond marks count from.
    origin: Instant,
    /// Nanoseconds after `origin` of the last confirmation, plus one (0: never confirmed).
    confirmed: AtomicU64,
}

impl Freshness {
    /// A node that has confirmed nothing yet and promises `bound`.
    pub fn new(bound: Duration) -> Self {
        Freshness {
            bound,
            origin: Instant::now(),
            confirmed: AtomicU64::new(0),
        }
    }

    /// The promised bound.
    pub fn bound(&self) -> Duration {
        self.bound
    }

    /// Records that the node had seen every change committed before `read_started` (the
    /// moment the read of the log began — not when it ended: a change committed while the
    /// read ran may be missing from it). An older confirmation never moves the mark back.
    pub fn confirm(&self, read_started: Instant) {
        let mark = self.mark(read_started);
        self.confirmed.fetch_max(mark, Ordering::AcqRel);
    }

    /// `Ok` when the node confirmed it was up to date within the bound.
    pub fn check(&self) -> Result<(), Error> {
        self.check_at(Instant::now())
    }

    fn mark(&self, at: Instant) -> u64 {
        let nanos = at.saturating_duration_since(self.origin).as_nanos();
        u64::try_from(nanos)
            .unwrap_or(u64::MAX - 1)
            .saturating_add(1)
    }

    fn check_at(&self, now: Instant) -> Result<(), Error> {
        let confirmed = self.confirmed.load(Ordering::Acquire);
        if confirmed == 0 {
            return Err(Error::Stale { since: None });
        }
        let at = self.origin + Duration::from_nanos(confirmed - 1);
        let since = now.saturating_duration_since(at);
        if since <= self.bound {
            Ok(())
        } else {
            Err(Error::Stale { since: Some(since) })
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
        assert_eq!(freshness.check_at(start), Err(Error::Stale { since: None }));
        freshness.confirm(start);
        assert_eq!(
            freshness.check_at(start + Duration::from_millis(999)),
            Ok(())
        );
        let late = start + Duration::from_millis(1500);
        assert_eq!(
            freshness.check_at(late),
            Err(Error::Stale {
                since: Some(Duration::from_millis(1500))
            })
        );
        // An older confirmation never moves the mark back.
        freshness.confirm(start + Duration::from_millis(1200));
        freshness.confirm(start);
        assert_eq!(freshness.check_at(late), Ok(()));
    }
}
