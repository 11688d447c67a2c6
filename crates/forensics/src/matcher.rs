//! The query compiled for evaluation, row by row over the archive and event by event over the
//! live log.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv6Addr};

use haechi_events::SecurityEvent;
use ipnet::IpNet;

use crate::indicators::IndicatorKind;
use crate::query::{MatchMode, Query, TimeWindow, is_exposure_kind};

/// A set of indicator values, tested once per row: a handful are compared directly (cheaper
/// than hashing a 43-byte key id), more go through a fast hash set.
#[derive(Debug, Clone, Default)]
pub(crate) struct TextSet {
    few: Vec<String>,
    many: ahash::AHashSet<String>,
}

/// Up to this many values are compared one by one.
const FEW_VALUES: usize = 4;

impl TextSet {
    fn of(values: &BTreeSet<String>) -> Self {
        if values.len() <= FEW_VALUES {
            TextSet {
                few: values.iter().cloned().collect(),
                many: ahash::AHashSet::new(),
            }
        } else {
            TextSet {
                few: Vec::new(),
                many: values.iter().cloned().collect(),
            }
        }
    }

    /// Whether `value` is one of the values.
    pub fn contains(&self, value: &str) -> bool {
        if self.many.is_empty() {
            self.few.iter().any(|known| known == value)
        } else {
            self.many.contains(value)
        }
    }

    /// Every value.
    pub fn iter(&self) -> impl Iterator<Item = &String> {
        self.few.iter().chain(self.many.iter())
    }
}

/// The query compiled for evaluation: networks as merged ranges of 128-bit addresses (IPv4
/// mapped into IPv6, as the archive's `ip_bin` stores them), strings as hash sets.
#[derive(Debug, Clone)]
pub(crate) struct Matcher {
    pub mode: MatchMode,
    pub window: TimeWindow,
    /// Sorted, non-overlapping inclusive ranges.
    pub networks: Vec<(u128, u128)>,
    /// The single addresses among the networks (and small networks expanded), for bloom
    /// filter probes; `None` when some network is too wide to enumerate.
    pub probe_addresses: Option<Vec<IpAddr>>,
    pub kids: TextSet,
    pub jtis: TextSet,
    pub sids: TextSet,
    pub principals: TextSet,
    pub user_agents: TextSet,
    /// Kinds given, in evaluation order.
    pub kinds: Vec<IndicatorKind>,
}

/// Networks with at most this many addresses in total are enumerated for bloom-filter probes.
const MAX_PROBED_ADDRESSES: u128 = 4096;

impl Matcher {
    pub fn new(query: &Query) -> Self {
        let indicators = &query.indicators;
        let mut ranges: Vec<(u128, u128)> = indicators
            .networks
            .iter()
            .map(|network| {
                let (start, end) = match network {
                    IpNet::V4(v4) => (IpAddr::V4(v4.network()), IpAddr::V4(v4.broadcast())),
                    IpNet::V6(v6) => (IpAddr::V6(v6.network()), IpAddr::V6(v6.broadcast())),
                };
                (address_key(start), address_key(end))
            })
            .collect();
        ranges.sort_unstable();
        let mut merged: Vec<(u128, u128)> = Vec::with_capacity(ranges.len());
        for (start, end) in ranges {
            match merged.last_mut() {
                Some(last) if start <= last.1.saturating_add(1) => last.1 = last.1.max(end),
                _ => merged.push((start, end)),
            }
        }
        let total: u128 = merged
            .iter()
            .map(|(start, end)| end - start + 1)
            .fold(0u128, u128::saturating_add);
        let probe_addresses = (!merged.is_empty() && total <= MAX_PROBED_ADDRESSES).then(|| {
            merged
                .iter()
                .flat_map(|&(start, end)| (start..=end).map(key_address))
                .collect()
        });
        let set = TextSet::of;
        Matcher {
            mode: query.mode,
            window: query.window,
            networks: merged,
            probe_addresses,
            kids: set(&indicators.kids),
            jtis: set(&indicators.jtis),
            sids: set(&indicators.sids),
            principals: set(&indicators.principals),
            user_agents: set(&indicators.user_agents),
            kinds: indicators.kinds(),
        }
    }

    /// Whether an address (as its 16-byte `ip_bin` form) lies in one of the networks.
    pub fn network_contains(&self, bin: &[u8]) -> bool {
        let Ok(bytes) = <[u8; 16]>::try_from(bin) else {
            return false;
        };
        let key = u128::from_be_bytes(bytes);
        // The last range starting at or before the key.
        let index = self.networks.partition_point(|&(start, _)| start <= key);
        index > 0 && key <= self.networks[index - 1].1
    }

    /// The string set of a text kind (`None` for `Ip`, which is matched by range).
    pub fn strings(&self, kind: IndicatorKind) -> Option<&TextSet> {
        match kind {
            IndicatorKind::Kid => Some(&self.kids),
            IndicatorKind::Jti => Some(&self.jtis),
            IndicatorKind::Sid => Some(&self.sids),
            IndicatorKind::Principal => Some(&self.principals),
            IndicatorKind::UserAgent => Some(&self.user_agents),
            IndicatorKind::Ip => None,
        }
    }

    /// Combines per-kind results by the match mode. With no indicator kinds, everything
    /// matches (a window-only query).
    pub fn combine(&self, mut per_kind: impl Iterator<Item = bool>) -> bool {
        if self.kinds.is_empty() {
            return true;
        }
        match self.mode {
            MatchMode::Any => per_kind.any(|hit| hit),
            MatchMode::All => per_kind.all(|hit| hit),
        }
    }

    /// Whether `event` is an exposure this query selects (the same decision the archive scan
    /// makes column by column; used for the live log).
    pub fn matches_event(&self, event: &SecurityEvent) -> bool {
        if !is_exposure_kind(event.kind.as_str())
            || !matches!(
                event.decision,
                haechi_events::Decision::Allow | haechi_events::Decision::Mask
            )
            || event.status != 200
            || !self.window.contains(event.time.as_micros())
        {
            return false;
        }
        let text_in = |set: &TextSet, value: &Option<String>| {
            value.as_deref().is_some_and(|value| set.contains(value))
        };
        self.combine(self.kinds.iter().map(|kind| {
            match kind {
                IndicatorKind::Ip => event
                    .ip
                    .is_some_and(|ip| self.network_contains(&haechi_audit::ip_to_bin(ip))),
                IndicatorKind::Kid => text_in(&self.kids, &event.kid),
                IndicatorKind::Jti => text_in(&self.jtis, &event.jti),
                IndicatorKind::Sid => text_in(&self.sids, &event.sid),
                IndicatorKind::Principal => self.principals.contains(&event.principal.to_string()),
                IndicatorKind::UserAgent => text_in(&self.user_agents, &event.user_agent),
            }
        }))
    }
}

/// An address as the 128-bit number of its `ip_bin` form.
fn address_key(address: IpAddr) -> u128 {
    u128::from_be_bytes(haechi_audit::ip_to_bin(address))
}

fn key_address(key: u128) -> IpAddr {
    let v6 = Ipv6Addr::from(key);
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]
mod tests {
    use super::*;

    #[test]
    fn networks_merge_and_contain() {
        let mut query = Query::default();
        for network in [
            "203.0.113.0/25",
            "203.0.113.128/25",
            "198.51.100.9",
            "2001:db8::1",
        ] {
            query.indicators.add(IndicatorKind::Ip, network).unwrap();
        }
        let matcher = Matcher::new(&query);
        assert_eq!(matcher.networks.len(), 3);
        let bin = |text: &str| haechi_audit::ip_to_bin(text.parse().unwrap());
        assert!(matcher.network_contains(&bin("203.0.113.200")));
        assert!(matcher.network_contains(&bin("198.51.100.9")));
        assert!(!matcher.network_contains(&bin("198.51.100.10")));
        assert!(matcher.network_contains(&bin("2001:db8::1")));
        assert!(!matcher.network_contains(&bin("2001:db8::2")));
        assert_eq!(matcher.probe_addresses.as_ref().map(Vec::len), Some(258));
    }
}
