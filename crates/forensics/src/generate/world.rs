//! Facts derived from the seed: customer ids, their addresses and agents, signing-key ids,
//! service tokens, and the mixing functions behind them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

pub(super) const MICROS_PER_SECOND: i64 = 1_000_000;
pub(super) const MICROS_PER_HOUR: i64 = 3_600 * MICROS_PER_SECOND;

pub(super) const CUSTOMER_AGENTS: [&str; 10] = [
    "Coupang/7.41.2 (iPhone; iOS 18.5; Scale/3.00)",
    "Coupang/7.41.2 (iPhone; iOS 17.6.1; Scale/3.00)",
    "Coupang/7.40.0 (Android 14; SM-S921N)",
    "Coupang/7.41.2 (Android 15; SM-S938N)",
    "Coupang/7.39.1 (Android 13; SM-A536N)",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-S921N) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/27.0 Chrome/125.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/137.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:139.0) Gecko/20100101 Firefox/139.0",
];

/// First octets of Korean ISP address space customers come from.
pub(super) const CUSTOMER_OCTETS: [u8; 24] = [
    1, 14, 27, 39, 49, 58, 59, 61, 106, 110, 112, 115, 118, 121, 125, 175, 180, 182, 183, 211, 218,
    220, 221, 222,
];

/// splitmix64's finaliser: a bijection on u64 that mixes well.
pub(super) fn mix(mut value: u64) -> u64 {
    value = value.wrapping_add(0x9E37_79B9_7F4A_7C15);
    value = (value ^ (value >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    value = (value ^ (value >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    value ^ (value >> 31)
}

pub(super) fn mix3(seed: u64, a: u64, b: u64) -> u64 {
    mix(mix(seed ^ mix(a)) ^ b.wrapping_mul(0xD6E8_FEB8_6659_FD93))
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex_u64(out: &mut String, value: u64) {
    for shift in (0..16).rev() {
        out.push(HEX[((value >> (shift * 4)) & 0xf) as usize] as char);
    }
}

/// Facts derived from the seed: ids, addresses, agents, keys.
#[derive(Debug, Clone)]
pub(super) struct World {
    pub(super) seed: u64,
    pub(super) customers: u64,
    pub(super) start_micros: i64,
    pub(super) attacker_kid: String,
}

impl World {
    /// `c` + 32 hex digits, like the vault's ids; distinct for distinct indices (the first
    /// half is a bijection of the index).
    pub(super) fn customer_id(&self, index: u64) -> String {
        let mut id = String::with_capacity(33);
        id.push('c');
        hex_u64(&mut id, mix(index ^ mix(self.seed)));
        hex_u64(&mut id, mix3(self.seed, index, 7));
        id
    }

    pub(super) fn customer_address(&self, index: u64, day: i64) -> IpAddr {
        let traits = mix3(self.seed, index, 1);
        let mobile = traits % 10 < 3;
        let epoch = if mobile { day } else { day.div_euclid(14) };
        let bits = mix3(self.seed ^ epoch as u64, index, 2);
        if traits % 100 >= 84 {
            let segments = [
                0x2001,
                if traits.is_multiple_of(2) {
                    0x02d8
                } else {
                    0x0e60
                },
                (bits >> 48) as u16,
                (bits >> 32) as u16,
                0,
                0,
                (bits >> 16) as u16,
                (bits as u16) | 1,
            ];
            IpAddr::V6(Ipv6Addr::from(segments))
        } else {
            let first = CUSTOMER_OCTETS[(bits % CUSTOMER_OCTETS.len() as u64) as usize];
            IpAddr::V4(Ipv4Addr::new(
                first,
                (bits >> 8) as u8,
                (bits >> 16) as u8,
                1 + ((bits >> 24) % 254) as u8,
            ))
        }
    }

    pub(super) fn customer_agent(&self, index: u64) -> &'static str {
        CUSTOMER_AGENTS[(mix3(self.seed, index, 3) % CUSTOMER_AGENTS.len() as u64) as usize]
    }

    /// The signing key of a day (keys rotate daily): 43 base64url characters, like a JWK
    /// thumbprint.
    pub(super) fn kid_of_day(&self, day: i64) -> String {
        key_id(self.seed, &format!("day-{day}"))
    }

    pub(super) fn service_token(&self, service: usize, instance: u64, slot: i64) -> String {
        let mut jti = String::with_capacity(32);
        hex_u64(
            &mut jti,
            mix3(self.seed, service as u64 * 16 + instance, slot as u64),
        );
        hex_u64(
            &mut jti,
            mix3(self.seed ^ 0x5e, service as u64, slot as u64 ^ instance),
        );
        jti
    }
}

pub(super) fn key_id(seed: u64, label: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let digest = Sha256::new()
        .chain_update(b"haechi.forensics.generate.kid\0")
        .chain_update(seed.to_be_bytes())
        .chain_update(label.as_bytes())
        .finalize();
    let mut bits: u32 = 0;
    let mut held = 0;
    let mut out = String::with_capacity(43);
    for byte in digest {
        bits = (bits << 8) | u32::from(byte);
        held += 8;
        while held >= 6 {
            held -= 6;
            out.push(ALPHABET[((bits >> held) & 63) as usize] as char);
        }
    }
    if held > 0 {
        out.push(ALPHABET[((bits << (6 - held)) & 63) as usize] as char);
    }
    out
}

pub(super) fn random_hex(rng: &mut ChaCha8Rng) -> String {
    let mut out = String::with_capacity(32);
    hex_u64(&mut out, rng.r#gen());
    hex_u64(&mut out, rng.r#gen());
    out
}

pub(super) fn request_id(rng: &mut ChaCha8Rng) -> String {
    let high: u64 = rng.r#gen();
    let low: u64 = rng.r#gen();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xffff,
        high & 0xfff,
        0x8000 | (low >> 48) & 0x3fff,
        low & 0xffff_ffff_ffff
    )
}

pub(super) fn service_address(service: usize, instance: u64) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 20, service as u8, 10 + instance as u8))
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn ids_are_distinct_and_keys_look_like_thumbprints() {
        let world = World {
            seed: 9,
            customers: 10_000,
            start_micros: 0,
            attacker_kid: String::new(),
        };
        let ids: HashSet<String> = (0..10_000).map(|index| world.customer_id(index)).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(ids.iter().all(|id| id.len() == 33 && id.starts_with('c')));
        assert_eq!(world.kid_of_day(1).len(), 43);
        assert_ne!(world.kid_of_day(1), world.kid_of_day(2));
    }
}
