//! Sliding-window attempt counters for logins, per account and per source network, as one
//! node keeps them in memory ([`crate::MemorySignInLimits`]).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use haechi_events::Timestamp;

/// How many attempts a limit allows in its sliding window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptLimit {
    /// Attempts allowed within the window.
    pub attempts: u32,
    /// The sliding window.
    pub window: Duration,
}

/// Whether another attempt may be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowance {
    /// Under the limit.
    Allowed,
    /// At the limit.
    Limited {
        /// Until the oldest attempt that holds the limit leaves the window (at least 1 s).
        retry_after: Duration,
    },
}

/// The source a login attempt is counted against: an IPv4 address, or the /64 network of an
/// IPv6 address. One IPv6 subscriber is usually handed a whole /64 (SLAAC, privacy
/// addresses), so counting single IPv6 addresses would give one client 2^64 budgets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum SourceKey {
    /// One IPv4 address (IPv4-mapped IPv6 addresses count as their IPv4 address).
    V4([u8; 4]),
    /// The first 64 bits of an IPv6 address.
    V6Net64([u8; 8]),
}

impl SourceKey {
    /// The counting key of `ip`.
    pub(crate) fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => SourceKey::V4(v4.octets()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => SourceKey::V4(v4.octets()),
                None => SourceKey::V6Net64(net64(v6)),
            },
        }
    }

    /// The key's bytes, tagged by family, for hashing into a store's subject.
    pub(crate) fn bytes(&self) -> Vec<u8> {
        match self {
            SourceKey::V4(octets) => [&[4u8][..], octets].concat(),
            SourceKey::V6Net64(prefix) => [&[6u8][..], prefix].concat(),
        }
    }
}

fn net64(v6: Ipv6Addr) -> [u8; 8] {
    let octets = v6.octets();
    let mut prefix = [0u8; 8];
    prefix.copy_from_slice(&octets[..8]);
    prefix
}

/// Counts attempts per key in a sliding window, allowing [`AttemptLimit::attempts`] per
/// [`AttemptLimit::window`] (given with each call).
///
/// Memory is bounded by `max_keys`. A full table evicts the key that was touched longest
/// ago (whose window has most likely emptied) rather than refusing every new key: a table
/// an attacker filled must not lock everyone else out. The cost of that choice is that an
/// attacker who fills the table with `max_keys` fresh keys resets the oldest history; each
/// key costs them an attempt (for accounts, a password hash), so that is `max_keys` attempts.
#[derive(Debug)]
pub(crate) struct SlidingWindowCounter<K> {
    max_keys: usize,
    entries: HashMap<K, Entry>,
    /// Keys by the sequence number of their last touch, oldest first.
    idle_order: BTreeMap<u64, K>,
    next_touch: u64,
}

#[derive(Debug, Default)]
struct Entry {
    times: VecDeque<Timestamp>,
    last_touch: u64,
}

impl<K: Hash + Eq + Clone> SlidingWindowCounter<K> {
    pub fn new(max_keys: usize) -> Self {
        SlidingWindowCounter {
            max_keys: max_keys.max(1),
            entries: HashMap::new(),
            idle_order: BTreeMap::new(),
            next_touch: 0,
        }
    }

    /// Whether another attempt for `key` is allowed at `now` (without counting one).
    pub fn check(&mut self, key: &K, limit: AttemptLimit, now: Timestamp) -> Allowance {
        match self.entries.get_mut(key) {
            None => Allowance::Allowed,
            Some(entry) => allowance(&mut entry.times, limit, now),
        }
    }

    /// Checks and, if allowed, counts one attempt for `key` at `now`, in one step: the
    /// attempt is reserved before the work it guards (a password hash) starts, so concurrent
    /// attempts cannot all pass the check before any of them is counted.
    pub fn try_reserve(&mut self, key: &K, limit: AttemptLimit, now: Timestamp) -> Allowance {
        let allowance = self.check(key, limit, now);
        if allowance == Allowance::Allowed {
            self.record(key.clone(), limit, now);
        }
        allowance
    }

    /// Takes back the reservation of `key` made at `reserved_at` (the guarded work never
    /// started); nothing if it has left the window or was cleared since. Only that one: an
    /// attempt given up after a long wait must not take back a later attempt's count.
    pub fn cancel(&mut self, key: &K, reserved_at: Timestamp) {
        if let Some(entry) = self.entries.get_mut(key)
            && let Some(position) = entry.times.iter().rposition(|time| *time == reserved_at)
        {
            entry.times.remove(position);
        }
    }

    /// Counts one attempt for `key` at `now`.
    pub fn record(&mut self, key: K, limit: AttemptLimit, now: Timestamp) {
        let touch = self.next_touch;
        self.next_touch += 1;
        if let Some(entry) = self.entries.get_mut(&key) {
            self.idle_order.remove(&entry.last_touch);
            entry.last_touch = touch;
            entry.times.push_back(now);
            while entry.times.len() > limit.attempts as usize {
                entry.times.pop_front();
            }
            self.idle_order.insert(touch, key);
            return;
        }
        while self.entries.len() >= self.max_keys {
            let Some((_, oldest)) = self.idle_order.pop_first() else {
                break;
            };
            self.entries.remove(&oldest);
        }
        let mut times = VecDeque::with_capacity(1);
        times.push_back(now);
        self.entries.insert(
            key.clone(),
            Entry {
                times,
                last_touch: touch,
            },
        );
        self.idle_order.insert(touch, key);
    }

    /// Forgets a key (after a successful login, an account's failures are cleared).
    pub fn clear(&mut self, key: &K) {
        if let Some(entry) = self.entries.remove(key) {
            self.idle_order.remove(&entry.last_touch);
        }
    }

    /// How many keys are tracked.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

fn allowance(times: &mut VecDeque<Timestamp>, limit: AttemptLimit, now: Timestamp) -> Allowance {
    let start = now.minus(limit.window);
    while times.front().is_some_and(|&time| time <= start) {
        times.pop_front();
    }
    if times.len() >= limit.attempts as usize {
        let oldest = times.front().copied().unwrap_or(now);
        Allowance::Limited {
            retry_after: oldest
                .plus(limit.window)
                .since(now)
                .max(Duration::from_secs(1)),
        }
    } else {
        Allowance::Allowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(attempts: u32) -> AttemptLimit {
        AttemptLimit {
            attempts,
            window: Duration::from_secs(60),
        }
    }

    #[test]
    fn limits_within_the_window_and_frees_after_it() {
        let mut counter = SlidingWindowCounter::new(100);
        let at = Timestamp::from_secs;
        for second in 0..3 {
            assert_eq!(
                counter.check(&"a", limit(3), at(second)),
                Allowance::Allowed
            );
            counter.record("a", limit(3), at(second));
        }
        assert!(matches!(
            counter.check(&"a", limit(3), at(10)),
            Allowance::Limited { .. }
        ));
        assert_eq!(counter.check(&"b", limit(3), at(10)), Allowance::Allowed);
        assert_eq!(counter.check(&"a", limit(3), at(61)), Allowance::Allowed);
    }

    #[test]
    fn reservations_count_before_the_work_and_can_be_taken_back() {
        let mut counter = SlidingWindowCounter::new(100);
        let now = Timestamp::from_secs(0);
        // Three reservations without any outcome recorded in between: the fourth is refused.
        for _ in 0..3 {
            assert_eq!(counter.try_reserve(&"a", limit(3), now), Allowance::Allowed);
        }
        assert!(matches!(
            counter.try_reserve(&"a", limit(3), now),
            Allowance::Limited { .. }
        ));
        counter.cancel(&"a", now);
        assert_eq!(counter.try_reserve(&"a", limit(3), now), Allowance::Allowed);
    }

    #[test]
    fn a_cancel_takes_back_its_own_reservation_only() {
        let mut counter = SlidingWindowCounter::new(100);
        let early = Timestamp::from_secs(0);
        let later = Timestamp::from_secs(30);
        assert_eq!(
            counter.try_reserve(&"a", limit(2), early),
            Allowance::Allowed
        );
        // Cleared in between (the owner signed in), then a later attempt counted.
        counter.clear(&"a");
        assert_eq!(
            counter.try_reserve(&"a", limit(2), later),
            Allowance::Allowed
        );
        assert_eq!(
            counter.try_reserve(&"a", limit(2), later),
            Allowance::Allowed
        );
        // The early attempt, given up now, takes nothing back: its count is already gone.
        counter.cancel(&"a", early);
        assert!(matches!(
            counter.try_reserve(&"a", limit(2), later),
            Allowance::Limited { .. }
        ));
    }

    #[test]
    fn a_full_table_evicts_the_longest_idle_key_instead_of_refusing_everyone() {
        let mut counter = SlidingWindowCounter::new(2);
        let now = Timestamp::from_secs(0);
        counter.record("a", limit(3), now);
        counter.record("b", limit(3), now);
        counter.record("a", limit(3), now);
        // "c" is a new key in a full table of keys still inside their window: it is counted
        // (the old counter refused it), and "b", idle longest, makes room.
        assert_eq!(counter.try_reserve(&"c", limit(3), now), Allowance::Allowed);
        assert_eq!(counter.len(), 2);
        assert_eq!(counter.check(&"a", limit(3), now), Allowance::Allowed);
        counter.record("a", limit(3), now);
        assert!(matches!(
            counter.check(&"a", limit(3), now),
            Allowance::Limited { .. }
        ));
        assert!(counter.entries.contains_key(&"c") && !counter.entries.contains_key(&"b"));
    }

    #[test]
    fn ipv6_sources_are_counted_by_their_64_network() {
        let mut counter = SlidingWindowCounter::new(100);
        let now = Timestamp::from_secs(0);
        let key = |text: &str| SourceKey::of(text.parse().unwrap());
        // One subscriber's /64, any interface id: one budget.
        assert_eq!(
            counter.try_reserve(&key("2001:db8:1:2::1"), limit(2), now),
            Allowance::Allowed
        );
        assert_eq!(
            counter.try_reserve(&key("2001:db8:1:2:ffff:ffff:ffff:fffe"), limit(2), now),
            Allowance::Allowed
        );
        assert!(matches!(
            counter.try_reserve(&key("2001:db8:1:2:dead:beef:0:7"), limit(2), now),
            Allowance::Limited { .. }
        ));
        // The neighbouring /64 has its own.
        assert_eq!(
            counter.try_reserve(&key("2001:db8:1:3::1"), limit(2), now),
            Allowance::Allowed
        );
        // IPv4 addresses stay exact, and their IPv6-mapped form is the same source.
        assert_eq!(key("192.0.2.1"), key("::ffff:192.0.2.1"));
        assert_ne!(key("192.0.2.1"), key("192.0.2.2"));
    }
}
