//! The in-memory [`Blocklist`] the request path asks, and the check of a network someone asks
//! to block.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use haechi_events::Timestamp;
use ipnet::IpNet;

use crate::records::BlockRecord;

/// The shortest IPv4 prefix a block may have: a /16 is 65,536 addresses; anything wider is a
/// firewall's job, not an automatic containment.
pub const MIN_BLOCK_PREFIX_V4: u8 = 16;
/// The shortest IPv6 prefix a block may have.
pub const MIN_BLOCK_PREFIX_V6: u8 = 32;

/// The blocked networks, in memory, answering "is this address blocked now?" in a few hash
/// lookups: one per distinct prefix length in use, however many blocks there are.
#[derive(Debug, Default, Clone)]
pub struct Blocklist {
    blocks: BTreeMap<u64, BlockRecord>,
    by_network: HashMap<IpNet, BTreeSet<u64>>,
    /// Prefix lengths in use, per family (`false` IPv4, `true` IPv6), with how many blocks use
    /// each.
    prefixes: BTreeMap<(bool, u8), usize>,
}

impl Blocklist {
    /// An empty list.
    pub fn new() -> Self {
        Blocklist::default()
    }

    /// Adds (or replaces) a block.
    pub fn insert(&mut self, block: BlockRecord) {
        self.remove(block.id);
        let network = block.network.trunc();
        self.by_network.entry(network).or_default().insert(block.id);
        *self.prefixes.entry(family_prefix(network)).or_default() += 1;
        self.blocks.insert(block.id, block);
    }

    /// Removes block `id`, returning it.
    pub fn remove(&mut self, id: u64) -> Option<BlockRecord> {
        let block = self.blocks.remove(&id)?;
        let network = block.network.trunc();
        if let Some(ids) = self.by_network.get_mut(&network) {
            ids.remove(&id);
            if ids.is_empty() {
                self.by_network.remove(&network);
            }
        }
        let key = family_prefix(network);
        if let Some(count) = self.prefixes.get_mut(&key) {
            *count -= 1;
            if *count == 0 {
                self.prefixes.remove(&key);
            }
        }
        Some(block)
    }

    /// The active block covering `ip` at `now` that lasts longest, if any.
    pub fn blocking(&self, ip: IpAddr, now: Timestamp) -> Option<&BlockRecord> {
        let ip = canonical(ip);
        let family = ip.is_ipv6();
        let mut found: Option<&BlockRecord> = None;
        for &(_, prefix) in self
            .prefixes
            .range((family, 0)..=(family, u8::MAX))
            .map(|(key, _)| key)
        {
            let Ok(network) = IpNet::new(ip, prefix) else {
                continue;
            };
            let Some(ids) = self.by_network.get(&network.trunc()) else {
                continue;
            };
            for id in ids {
                if let Some(block) = self.blocks.get(id).filter(|block| block.is_active(now))
                    && found.is_none_or(|best| block.expires_at > best.expires_at)
                {
                    found = Some(block);
                }
            }
        }
        found
    }

    /// Whether any active block covers `ip` at `now`.
    pub fn is_blocked(&self, ip: IpAddr, now: Timestamp) -> bool {
        self.blocking(ip, now).is_some()
    }

    /// Removes blocks that are no longer active at `now`, returning them.
    pub fn prune(&mut self, now: Timestamp) -> Vec<BlockRecord> {
        let ended: Vec<u64> = self
            .blocks
            .values()
            .filter(|block| !block.is_active(now))
            .map(|block| block.id)
            .collect();
        ended.into_iter().filter_map(|id| self.remove(id)).collect()
    }

    /// The blocks active at `now`, by id.
    pub fn active(&self, now: Timestamp) -> Vec<BlockRecord> {
        self.blocks
            .values()
            .filter(|block| block.is_active(now))
            .cloned()
            .collect()
    }

    /// How many blocks the list holds (active or not yet pruned).
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Whether the list holds no block.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }
}

/// Checks a network someone asks to block: truncated to its prefix, and no wider than
/// [`MIN_BLOCK_PREFIX_V4`] / [`MIN_BLOCK_PREFIX_V6`].
pub fn checked_block_network(network: IpNet) -> Result<IpNet, String> {
    let network = match network {
        IpNet::V6(v6) => match v6.addr().to_ipv4_mapped() {
            Some(v4) if v6.prefix_len() >= 96 => IpNet::new(IpAddr::V4(v4), v6.prefix_len() - 96)
                .map_err(|error| error.to_string())?,
            _ => network,
        },
        IpNet::V4(_) => network,
    }
    .trunc();
    let minimum = match network {
        IpNet::V4(_) => MIN_BLOCK_PREFIX_V4,
        IpNet::V6(_) => MIN_BLOCK_PREFIX_V6,
    };
    if network.prefix_len() < minimum {
        return Err(format!(
            "{network} is wider than /{minimum}; block narrower networks (or use a firewall)"
        ));
    }
    Ok(network)
}

fn family_prefix(network: IpNet) -> (bool, u8) {
    (matches!(network, IpNet::V6(_)), network.prefix_len())
}

/// IPv4-mapped IPv6 addresses are the IPv4 address they carry.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use haechi_events::Principal;

    use super::*;

    fn block(id: u64, network: &str, expires: i64) -> BlockRecord {
        BlockRecord {
            id,
            network: network.parse().unwrap(),
            created_at: Timestamp::from_secs(0),
            expires_at: Timestamp::from_secs(expires),
            reason: "test".into(),
            rule_id: None,
            alert_id: None,
            created_by: Principal::Admin("root".into()),
            lifted_at: None,
            lifted_by: None,
        }
    }

    /// Each case: blocks, then (address, time, expected blocking id).
    #[test]
    fn addresses_are_blocked_by_the_networks_covering_them_until_expiry() {
        let mut list = Blocklist::new();
        list.insert(block(1, "203.0.113.7/32", 100));
        list.insert(block(2, "198.51.100.0/24", 50));
        list.insert(block(3, "198.51.0.0/16", 80));
        list.insert(block(4, "2001:db8:1::/48", 100));
        let check = |ip: &str, at: i64, expected: Option<u64>| {
            let found = list
                .blocking(ip.parse().unwrap(), Timestamp::from_secs(at))
                .map(|block| block.id);
            assert_eq!(found, expected, "{ip} at {at}");
        };
        check("203.0.113.7", 10, Some(1));
        check("203.0.113.8", 10, None);
        check("::ffff:203.0.113.7", 10, Some(1));
        check("198.51.100.9", 10, Some(3));
        check("198.51.7.9", 10, Some(3));
        check("198.51.100.9", 90, None);
        check("203.0.113.7", 100, None);
        check("2001:db8:1:2::1", 10, Some(4));
        check("2001:db8:2::1", 10, None);
    }

    #[test]
    fn removing_and_pruning_keep_the_index_consistent() {
        let mut list = Blocklist::new();
        list.insert(block(1, "203.0.113.7/32", 100));
        list.insert(block(2, "203.0.113.7/32", 10));
        assert_eq!(list.remove(1).map(|block| block.id), Some(1));
        assert!(list.is_blocked("203.0.113.7".parse().unwrap(), Timestamp::from_secs(5)));
        let pruned = list.prune(Timestamp::from_secs(20));
        assert_eq!(pruned.len(), 1);
        assert!(list.is_empty());
        assert!(list.prefixes.is_empty());
        assert!(list.by_network.is_empty());
    }

    #[test]
    fn networks_wider_than_the_minimum_are_refused() {
        let ok = |text: &str, expected: &str| {
            assert_eq!(
                checked_block_network(text.parse().unwrap())
                    .unwrap()
                    .to_string(),
                expected
            );
        };
        ok("203.0.113.77/24", "203.0.113.0/24");
        ok("::ffff:203.0.113.77/128", "203.0.113.77/32");
        ok("2001:db8::1/64", "2001:db8::/64");
        assert!(checked_block_network("10.0.0.0/8".parse().unwrap()).is_err());
        assert!(checked_block_network("2001:db8::/16".parse().unwrap()).is_err());
    }
}
