//! Which client addresses many principals use: a load balancer, a carrier-grade NAT, an
//! office. Blocking one automatically would cut off everyone behind it, so containment asks
//! here first and turns such a block into a recommendation for a human.
//!
//! Fed from the audit stream (successful logins, token issues, refreshes and allowed reads
//! with an address and a principal), per address it keeps the `threshold` principals seen most
//! recently (hashed), each with when it was last seen: an address is shared when all
//! `threshold` were seen within the last day, which is exact for "at least `threshold`
//! distinct principals in the last day". Memory is bounded: at most `capacity` addresses of at
//! most `threshold` entries each (16 bytes an entry; with the defaults of 100,000 addresses
//! and 20 principals, at worst about 40 MiB, typically a few entries an address); a full
//! table forgets addresses idle for a day, then the tenth used least recently.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;

use haechi_events::{Decision, EventKind, Principal, SecurityEvent, Timestamp};
use ipnet::IpNet;
use parking_lot::Mutex;

/// The window in which principals count: a day.
const WINDOW_MICROS: i64 = 24 * 3600 * 1_000_000;

/// How the check is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedAddressSettings {
    /// Distinct principals within a day that make an address shared (0: never shared).
    pub threshold: u32,
    /// Addresses tracked at most.
    pub capacity: usize,
}

/// The tracker.
#[derive(Debug)]
pub struct SharedAddresses {
    settings: SharedAddressSettings,
    hasher: RandomState,
    addresses: Mutex<HashMap<IpAddr, Users>>,
}

#[derive(Debug, Default)]
struct Users {
    /// (principal hash, last seen in µs), at most `threshold`.
    principals: Vec<(u64, i64)>,
    last_seen: i64,
}

impl Users {
    /// How many of its principals were seen at or after `since`.
    fn recent(&self, since: i64) -> usize {
        self.principals
            .iter()
            .filter(|(_, seen)| *seen >= since)
            .count()
    }
}

impl SharedAddresses {
    /// An empty tracker.
    pub fn new(settings: SharedAddressSettings) -> Self {
        SharedAddresses {
            settings,
            hasher: RandomState::new(),
            addresses: Mutex::new(HashMap::new()),
        }
    }

    /// Takes note of `event` if it is a successful use of its address by a principal.
    pub fn observe(&self, event: &SecurityEvent) {
        if self.settings.threshold == 0 || !is_successful_use(event) {
            return;
        }
        let Some(ip) = event.ip else { return };
        self.note(ip, &event.principal, event.time);
    }

    fn note(&self, ip: IpAddr, principal: &Principal, time: Timestamp) {
        let threshold = self.settings.threshold as usize;
        let capacity = self.settings.capacity.max(1);
        let hash = self.hasher.hash_one(principal.to_string());
        let now = time.as_micros();
        let mut addresses = self.addresses.lock();
        if !addresses.contains_key(&ip) && addresses.len() >= capacity {
            make_room(&mut addresses, capacity, now);
        }
        let users = addresses.entry(ip).or_default();
        users.last_seen = users.last_seen.max(now);
        if let Some(entry) = users
            .principals
            .iter_mut()
            .find(|(known, _)| *known == hash)
        {
            entry.1 = entry.1.max(now);
        } else if users.principals.len() < threshold {
            users.principals.push((hash, now));
        } else if let Some(oldest) = users.principals.iter_mut().min_by_key(|(_, seen)| *seen) {
            // Keeping the most recent `threshold` principals answers "at least `threshold` in
            // the last day" exactly.
            *oldest = (hash, now);
        }
    }

    /// If many principals used an address inside `network` successfully within the day
    /// before `now`: that address and how many (at least the threshold).
    pub fn shared_within(&self, network: &IpNet, now: Timestamp) -> Option<(IpAddr, usize)> {
        if self.settings.threshold == 0 {
            return None;
        }
        let threshold = self.settings.threshold as usize;
        let since = now.as_micros().saturating_sub(WINDOW_MICROS);
        let addresses = self.addresses.lock();
        let check = |ip: &IpAddr, users: &Users| {
            let recent = users.recent(since);
            (recent >= threshold).then_some((*ip, recent))
        };
        if network.prefix_len() == network.max_prefix_len() {
            let ip = network.addr();
            return addresses.get(&ip).and_then(|users| check(&ip, users));
        }
        addresses
            .iter()
            .filter(|(ip, _)| network.contains(*ip))
            .find_map(|(ip, users)| check(ip, users))
    }

    /// How many addresses are tracked.
    pub fn len(&self) -> usize {
        self.addresses.lock().len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A successful act by a principal from an address: a login, a token issued or refreshed, an
/// allowed (or masked) read, write or lookup.
fn is_successful_use(event: &SecurityEvent) -> bool {
    matches!(
        event.kind,
        EventKind::LoginOk
            | EventKind::Refresh
            | EventKind::TokenIssued
            | EventKind::PiiRead
            | EventKind::PiiWrite
            | EventKind::PiiLookup
    ) && event.principal != Principal::Anonymous
        && event.decision != Decision::Deny
        && event.status < 400
}

/// Forgets addresses idle for a day; if that is not a tenth of `capacity`, also the ones used
/// least recently, down to nine tenths (so the sweep runs once per many new addresses).
fn make_room(addresses: &mut HashMap<IpAddr, Users>, capacity: usize, now: i64) {
    let since = now.saturating_sub(WINDOW_MICROS);
    addresses.retain(|_, users| users.last_seen >= since);
    let target = capacity
        .saturating_sub(capacity / 10)
        .max(1)
        .min(capacity - 1);
    if addresses.len() <= target {
        return;
    }
    let mut last_seen: Vec<i64> = addresses.values().map(|users| users.last_seen).collect();
    let excess = addresses.len() - target;
    let (_, cutoff, _) = last_seen.select_nth_unstable(excess - 1);
    let cutoff = *cutoff;
    let mut removed = 0;
    addresses.retain(|_, users| {
        if removed < excess && users.last_seen <= cutoff {
            removed += 1;
            false
        } else {
            true
        }
    });
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on the first surprise"
)]
mod tests {
    use super::*;

    fn login(seconds: i64, who: &str, ip: &str) -> SecurityEvent {
        let mut event = SecurityEvent::new(
            Timestamp::from_secs(seconds),
            EventKind::LoginOk,
            Principal::Customer(who.into()),
        );
        event.ip = Some(ip.parse().unwrap());
        event
    }

    fn net(text: &str) -> IpNet {
        text.parse().unwrap()
    }

    #[test]
    fn an_address_many_principals_used_today_is_shared() {
        let shared = SharedAddresses::new(SharedAddressSettings {
            threshold: 3,
            capacity: 100,
        });
        let now = Timestamp::from_secs(100_000);
        for who in ["a", "b", "a", "a"] {
            shared.observe(&login(90_000, who, "198.51.100.7"));
        }
        assert_eq!(shared.shared_within(&net("198.51.100.7/32"), now), None);
        shared.observe(&login(90_001, "c", "198.51.100.7"));
        assert_eq!(
            shared.shared_within(&net("198.51.100.7/32"), now),
            Some(("198.51.100.7".parse().unwrap(), 3))
        );
        // A wider network holding it is shared too; another address is not.
        assert!(shared.shared_within(&net("198.51.100.0/24"), now).is_some());
        assert_eq!(shared.shared_within(&net("203.0.113.9/32"), now), None);
        // A day later, the principals no longer count.
        assert_eq!(
            shared.shared_within(
                &net("198.51.100.7/32"),
                Timestamp::from_secs(90_000 + 86_401)
            ),
            None
        );
        // Refusals and anonymous acts do not count.
        let mut refused = login(90_002, "d", "203.0.113.9");
        refused.decision = Decision::Deny;
        shared.observe(&refused);
        let mut anonymous = login(90_002, "e", "203.0.113.9");
        anonymous.principal = Principal::Anonymous;
        shared.observe(&anonymous);
        assert!(
            !shared
                .addresses
                .lock()
                .contains_key(&"203.0.113.9".parse().unwrap())
        );
    }

    #[test]
    fn the_table_stays_within_its_capacity() {
        let shared = SharedAddresses::new(SharedAddressSettings {
            threshold: 2,
            capacity: 10,
        });
        for index in 0..1000 {
            shared.observe(&login(
                index,
                "a",
                &format!("10.0.{}.{}", index / 256, index % 256),
            ));
            assert!(shared.len() <= 10);
        }
        // The busiest, most recent address survives.
        shared.observe(&login(2000, "b", "10.0.3.231"));
        assert!(
            shared
                .shared_within(&net("10.0.3.231/32"), Timestamp::from_secs(2000))
                .is_some()
        );
    }
}
