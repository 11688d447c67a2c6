//! Sliding-window attempt counters for logins, per account and per source.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::time::Duration;

use haechi_events::Timestamp;

/// Counts events per key in a sliding window of `window`, allowing `limit` per window.
///
/// Memory is bounded: when `max_keys` keys are tracked, keys whose windows have emptied are
/// dropped first; if every tracked key is still active the counter refuses new keys
/// (fails closed) rather than forgetting an attacker's history.
#[derive(Debug)]
pub(crate) struct SlidingWindowCounter<K> {
    window: Duration,
    limit: u32,
    max_keys: usize,
    attempts: HashMap<K, VecDeque<Timestamp>>,
}

/// The outcome of asking a counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Allowance {
    Allowed,
    Limited { retry_after: Duration },
}

impl<K: Hash + Eq + Clone> SlidingWindowCounter<K> {
    pub fn new(window: Duration, limit: u32, max_keys: usize) -> Self {
        SlidingWindowCounter {
            window,
            limit,
            max_keys,
            attempts: HashMap::new(),
        }
    }

    /// Whether another attempt for `key` is allowed at `now` (without counting one).
    pub fn check(&mut self, key: &K, now: Timestamp) -> Allowance {
        let window = self.window;
        let Some(times) = self.attempts.get_mut(key) else {
            if self.attempts.len() >= self.max_keys {
                self.prune(now);
                if self.attempts.len() >= self.max_keys {
                    return Allowance::Limited {
                        retry_after: window,
                    };
                }
            }
            return Allowance::Allowed;
        };
        let start = now.minus(window);
        while times.front().is_some_and(|&time| time <= start) {
            times.pop_front();
        }
        if times.len() >= self.limit as usize {
            let oldest = times.front().copied().unwrap_or(now);
            Allowance::Limited {
                retry_after: oldest.plus(window).since(now).max(Duration::from_secs(1)),
            }
        } else {
            Allowance::Allowed
        }
    }

    /// Counts one attempt for `key` at `now`.
    pub fn record(&mut self, key: K, now: Timestamp) {
        if !self.attempts.contains_key(&key) && self.attempts.len() >= self.max_keys {
            self.prune(now);
            if self.attempts.len() >= self.max_keys {
                return;
            }
        }
        let times = self.attempts.entry(key).or_default();
        times.push_back(now);
        while times.len() > self.limit as usize {
            times.pop_front();
        }
    }

    /// Forgets a key (after a successful login, an account's failures are cleared).
    pub fn clear(&mut self, key: &K) {
        self.attempts.remove(key);
    }

    fn prune(&mut self, now: Timestamp) {
        let start = now.minus(self.window);
        self.attempts
            .retain(|_, times| times.back().is_some_and(|&last| last > start));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_within_the_window_and_frees_after_it() {
        let mut counter = SlidingWindowCounter::new(Duration::from_secs(60), 3, 100);
        let at = Timestamp::from_secs;
        for second in 0..3 {
            assert_eq!(counter.check(&"a", at(second)), Allowance::Allowed);
            counter.record("a", at(second));
        }
        assert!(matches!(
            counter.check(&"a", at(10)),
            Allowance::Limited { .. }
        ));
        assert_eq!(counter.check(&"b", at(10)), Allowance::Allowed);
        assert_eq!(counter.check(&"a", at(61)), Allowance::Allowed);
    }

    #[test]
    fn a_full_table_refuses_new_keys_instead_of_forgetting() {
        let mut counter = SlidingWindowCounter::new(Duration::from_secs(60), 3, 2);
        let now = Timestamp::from_secs(0);
        counter.record("a", now);
        counter.record("b", now);
        assert!(matches!(
            counter.check(&"c", now),
            Allowance::Limited { .. }
        ));
        assert_eq!(
            counter.check(&"c", Timestamp::from_secs(120)),
            Allowance::Allowed
        );
    }
}
