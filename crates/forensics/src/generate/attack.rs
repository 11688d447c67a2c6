//! The injected stolen-key attack: its schedule, its events and its victims, generated hour by
//! hour beside the normal traffic.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};

use haechi_events::{EventKind, Principal, SecurityEvent, Timestamp};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::options::StolenKeyAttack;
use super::truth::{AttackTruth, Victim};
use super::world::{MICROS_PER_SECOND, World, mix, random_hex, request_id};
use crate::timestamps::format_time;

const ATTACKER_AGENTS: [&str; 2] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0.5993.118 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
];

/// First octets of the attacker's (foreign hosting) addresses: disjoint from the above.
const ATTACKER_OCTETS: [u8; 8] = [45, 89, 91, 103, 146, 185, 193, 194];

/// The attack's schedule and state, generated lazily hour by hour.
pub(super) struct AttackRun {
    pub(super) victims: u64,
    next_victim: u64,
    pub(super) start: i64,
    interval: f64,
    multiplier: u64,
    offset: u64,
    kid: String,
    ips: Vec<IpAddr>,
    rng: ChaCha8Rng,
    /// Events generated for a later hour than asked.
    pending: Vec<SecurityEvent>,
    truth: Vec<Victim>,
    reads: u64,
}

impl AttackRun {
    pub(super) fn new(world: &World, attack: &StolenKeyAttack, default_start: i64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(mix(world.seed ^ 0xA77A_C4E5));
        let mut ips = Vec::new();
        let mut seen = HashSet::new();
        while ips.len() < attack.addresses {
            let bits: u64 = rng.r#gen();
            let address = IpAddr::V4(Ipv4Addr::new(
                ATTACKER_OCTETS[(bits % ATTACKER_OCTETS.len() as u64) as usize],
                (bits >> 8) as u8,
                (bits >> 16) as u8,
                1 + ((bits >> 24) % 254) as u8,
            ));
            if seen.insert(address) {
                ips.push(address);
            }
        }
        // Victims: an affine permutation of the customer indices, so they are distinct.
        let mut multiplier = (mix(world.seed ^ 0x71C7) % world.customers.max(1)) | 1;
        while gcd(multiplier, world.customers) != 1 {
            multiplier += 2;
        }
        AttackRun {
            victims: attack.victims,
            next_victim: 0,
            start: attack.start.map_or(default_start, Timestamp::as_micros),
            interval: MICROS_PER_SECOND as f64 / attack.victims_per_second,
            multiplier,
            offset: mix(world.seed ^ 0x0FF5) % world.customers.max(1),
            kid: world.attacker_kid.clone(),
            ips,
            rng,
            pending: Vec::new(),
            truth: Vec::with_capacity(usize::try_from(attack.victims).unwrap_or(0)),
            reads: 0,
        }
    }

    pub(super) fn end(&self) -> i64 {
        self.start + (self.victims as f64 * self.interval) as i64 + 2 * MICROS_PER_SECOND
    }

    /// Moves every attack event before `until` into `out`.
    pub(super) fn take_until(&mut self, world: &World, until: i64, out: &mut Vec<SecurityEvent>) {
        while self.next_victim < self.victims {
            let base = self.start + (self.next_victim as f64 * self.interval) as i64;
            if base >= until {
                break;
            }
            let index = (self
                .next_victim
                .wrapping_mul(self.multiplier)
                .wrapping_add(self.offset))
                % world.customers;
            self.next_victim += 1;
            let customer = world.customer_id(index);
            let jitter = self.rng.gen_range(0..(self.interval as i64 / 2).max(1));
            let first = base + jitter;
            let second = first + self.rng.gen_range(200_000..900_000);
            let ip = self.ips[self.rng.gen_range(0..self.ips.len())];
            let agent = ATTACKER_AGENTS[self.rng.gen_range(0..ATTACKER_AGENTS.len())];
            let jti = random_hex(&mut self.rng);
            let sid = random_hex(&mut self.rng);
            let mut profile = vec!["email", "name", "phone"];
            if index.is_multiple_of(4) {
                profile.push("customs_code");
            }
            let read = |time: i64, fields: &[&str], rng: &mut ChaCha8Rng| {
                SecurityEvent::new(
                    Timestamp::from_micros(time),
                    EventKind::PiiRead,
                    Principal::Customer(customer.clone()),
                )
                .sid(sid.clone())
                .jti(jti.clone())
                .kid(self.kid.clone())
                .ip(Some(ip))
                .user_agent(Some(agent))
                .customer(customer.clone())
                .fields(fields.iter().copied())
                .request_id(Some(&request_id(rng)))
            };
            let events = [
                read(first, &profile, &mut self.rng),
                read(second, &["addresses"], &mut self.rng),
            ];
            let mut fields: Vec<String> = profile
                .iter()
                .chain(["addresses"].iter())
                .map(|field| (*field).to_string())
                .collect();
            fields.sort();
            self.truth.push(Victim {
                customer_id: customer.clone(),
                fields,
                first: format_time(Timestamp::from_micros(first)),
                last: format_time(Timestamp::from_micros(second)),
                reads: 2,
                jti: jti.clone(),
                sid: sid.clone(),
                ip: ip.to_string(),
                user_agent: agent.to_string(),
            });
            self.reads += 2;
            self.pending.extend(events);
        }
        let (now, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|event| event.time.as_micros() < until);
        out.extend(now);
        self.pending = later;
    }

    /// What the attack did, victims sorted by customer id.
    pub(super) fn into_truth(self) -> AttackTruth {
        let mut victims = self.truth;
        victims.sort_by(|a, b| a.customer_id.cmp(&b.customer_id));
        let first = victims
            .iter()
            .map(|victim| victim.first.clone())
            .min()
            .unwrap_or_default();
        let last = victims
            .iter()
            .map(|victim| victim.last.clone())
            .max()
            .unwrap_or_default();
        AttackTruth {
            kind: "stolen_key".into(),
            kid: self.kid,
            ips: self.ips.iter().map(ToString::to_string).collect(),
            user_agents: ATTACKER_AGENTS
                .iter()
                .map(|agent| (*agent).to_string())
                .collect(),
            first,
            last,
            reads: self.reads,
            victims,
        }
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]
mod tests {
    use super::super::world::{CUSTOMER_AGENTS, CUSTOMER_OCTETS};
    use super::*;

    #[test]
    fn attacker_addresses_are_never_customer_addresses() {
        for octet in ATTACKER_OCTETS {
            assert!(!CUSTOMER_OCTETS.contains(&octet) && octet != 10);
        }
        for agent in ATTACKER_AGENTS {
            assert!(!CUSTOMER_AGENTS.contains(&agent));
        }
    }
}
