//! Which address a request came from, when proxies stand in between.
//!
//! Every per-network decision — login throttling, blocks, the detection rules that count
//! networks — rests on this answer, so it must not be something a client can write. A client
//! can put anything into `X-Forwarded-For`; only the entries appended by proxies the operator
//! trusts are facts. Each proxy appends the address it received the request from, so reading
//! the header from the right, past every trusted proxy, reaches the first address that no
//! trusted party vouches for beyond: the client. Everything left of it is the client's own
//! claim and is ignored (the same rule as nginx's `real_ip_recursive` and the
//! `X-Forwarded-For` guidance in RFC 7239 §8.3).

use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The networks of the proxies whose `X-Forwarded-For` entries are believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// No proxy is trusted: `X-Forwarded-For` is ignored and the peer address is the client.
    pub fn none() -> Self {
        TrustedProxies(Vec::new())
    }

    /// Trusts proxies in `networks`.
    pub fn new(networks: Vec<IpNet>) -> Self {
        TrustedProxies(networks)
    }

    /// The configured networks.
    pub fn networks(&self) -> &[IpNet] {
        &self.0
    }

    /// Whether `address` is one of the trusted proxies.
    pub fn trusts(&self, address: IpAddr) -> bool {
        let address = canonical_ip(address);
        self.0.iter().any(|network| network.contains(&address))
    }

    /// The client of a request received from `peer` with `headers`: `peer` itself unless it
    /// is a trusted proxy; then the rightmost `X-Forwarded-For` entry that is not a trusted
    /// proxy. When every entry is trusted, the leftmost of them is the best that is known. An
    /// entry that is not an address ends the walk at the hop that wrote it.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical_ip(peer);
        if !self.trusts(peer) {
            return peer;
        }
        let entries: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .collect();
        let mut client = peer;
        for entry in entries.iter().rev() {
            let Some(address) = parse_entry(entry) else {
                return client;
            };
            client = canonical_ip(address);
            if !self.trusts(client) {
                return client;
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, possibly bracketed or with a port, as proxies
/// write them (`203.0.113.7`, `203.0.113.7:4711`, `[2001:db8::1]:4711`).
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if let Ok(address) = entry.parse::<IpAddr>() {
        return Some(address);
    }
    if let Ok(socket) = entry.parse::<std::net::SocketAddr>() {
        return Some(socket.ip());
    }
    entry
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|inner| inner.parse().ok())
}

/// IPv4-mapped IPv6 addresses are the IPv4 address they carry.
fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;
    use axum::http::HeaderValue;

    fn check(trusted: &[&str], peer: &str, forwarded: &[&str], expected: &str) {
        let proxies = TrustedProxies::new(trusted.iter().map(|n| n.parse().unwrap()).collect());
        let mut headers = HeaderMap::new();
        for value in forwarded {
            headers.append("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        }
        let client = proxies.client(peer.parse().unwrap(), &headers);
        assert_eq!(
            client,
            expected.parse::<IpAddr>().unwrap(),
            "trusted {trusted:?}, peer {peer}, X-Forwarded-For {forwarded:?}"
        );
    }

    #[test]
    fn the_header_is_ignored_unless_the_peer_is_a_trusted_proxy() {
        check(&[], "198.51.100.9", &["203.0.113.7"], "198.51.100.9");
        check(
            &["10.0.0.0/8"],
            "198.51.100.9",
            &["203.0.113.7"],
            "198.51.100.9",
        );
    }

    #[test]
    fn the_client_is_the_rightmost_untrusted_entry() {
        // The client claimed 1.2.3.4; the load balancer appended what it saw.
        check(
            &["10.0.0.0/8"],
            "10.0.0.5",
            &["1.2.3.4, 203.0.113.7"],
            "203.0.113.7",
        );
        // Two trusted hops, the second header line appended by the inner proxy.
        check(
            &["10.0.0.0/8"],
            "10.0.0.5",
            &["1.2.3.4, 203.0.113.7", "10.0.0.9"],
            "203.0.113.7",
        );
    }

    #[test]
    fn a_spoofed_leftmost_entry_never_wins() {
        check(
            &["127.0.0.0/8"],
            "127.0.0.1",
            &["9.9.9.9, 8.8.8.8"],
            "8.8.8.8",
        );
    }

    #[test]
    fn all_trusted_or_garbage_stops_at_the_last_known_hop() {
        check(&["10.0.0.0/8"], "10.0.0.5", &["10.0.0.7"], "10.0.0.7");
        check(&["10.0.0.0/8"], "10.0.0.5", &["not-an-address"], "10.0.0.5");
        check(&["10.0.0.0/8"], "10.0.0.5", &[], "10.0.0.5");
    }

    #[test]
    fn ports_brackets_and_mapped_addresses_are_understood() {
        check(
            &["10.0.0.0/8"],
            "10.0.0.5",
            &["203.0.113.7:4711"],
            "203.0.113.7",
        );
        check(
            &["10.0.0.0/8"],
            "10.0.0.5",
            &["[2001:db8::1]:4711"],
            "2001:db8::1",
        );
        check(
            &["10.0.0.0/8"],
            "::ffff:10.0.0.5",
            &["203.0.113.7"],
            "203.0.113.7",
        );
    }
}
