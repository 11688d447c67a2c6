//! The plan: every request of a drill, legitimate and hostile, at its simulated time,
//! decided up front from the scenario and the seed, so the same seed replays the same drill.

use std::net::Ipv4Addr;
use std::time::Duration;

use haechi_events::Timestamp;
use rand::seq::SliceRandom as _;
use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha20Rng;

use crate::scenario::Scenario;

/// One planned act.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// When (simulated).
    pub at: Timestamp,
    /// What.
    pub action: Action,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// An active customer logs in, reads their profile and address book, logs out.
    CustomerSession {
        /// Customer index.
        customer: u64,
        /// From where.
        network: Ipv4Addr,
    },
    /// A service reads one customer for its first purpose.
    ServiceRead {
        /// Index into `normal.services`.
        service: usize,
        /// Customer index.
        customer: u64,
        /// From which of its hosts.
        network: Ipv4Addr,
    },
    /// One step of the attacker, which its kind plays (`attacker/`).
    Attack(AttackStep),
}

/// One step of the attacker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttackStep {
    /// What the step is about, as its kind reads it: a victim's customer index, or an index
    /// into [`Plan::leaked`].
    pub target: u64,
    /// From where.
    pub network: Ipv4Addr,
}

impl Action {
    /// Whether the attacker takes this step.
    pub fn is_attack(&self) -> bool {
        matches!(self, Action::Attack(_))
    }
}

/// One entry of the leaked list of a stuffing scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeakedEntry {
    /// A customer who reused the leaked password here.
    Reused {
        /// Customer index.
        customer: u64,
    },
    /// A customer whose password here is another one.
    OtherPassword {
        /// Customer index.
        customer: u64,
    },
    /// Someone who is not a customer.
    Stranger {
        /// Distinguishes strangers.
        number: u32,
    },
}

/// A whole drill, planned.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Every step, in time order.
    pub steps: Vec<Step>,
    /// Simulated start.
    pub start: Timestamp,
    /// The attacker's first step.
    pub attack_start: Timestamp,
    /// The attacker's last planned step.
    pub attack_end: Timestamp,
    /// The networks the attacker uses (none of them used by legitimate traffic).
    pub attacker_networks: Vec<Ipv4Addr>,
    /// The leaked list (stuffing only).
    pub leaked: Vec<LeakedEntry>,
    /// Customer indices that get a password: active customers and the stuffing list's.
    pub with_password: Vec<u64>,
    seed: u64,
}

/// Share of the daily traffic in each hour of the day, Korean time (UTC+9): quiet at night,
/// busy at lunch and in the evening. Averages 1.0.
const DIURNAL: [f64; 24] = [
    0.55, 0.35, 0.2, 0.15, 0.12, 0.15, 0.3, 0.6, 0.9, 1.1, 1.25, 1.4, 1.6, 1.45, 1.3, 1.25, 1.3,
    1.35, 1.45, 1.6, 1.75, 1.7, 1.3, 0.88,
];

/// What an attacker kind plans with, and what it plans: its steps, and for a list of leaked
/// credentials, the list and the customers it makes need a password.
pub(crate) struct Planning<'a> {
    /// Customers in the vault.
    pub customers: u64,
    /// The active customers (indices below it), who log in legitimately.
    pub active_customers: u64,
    /// The attacker's first step.
    pub attack_start: Timestamp,
    /// The attacker's networks.
    pub networks: &'a [Ipv4Addr],
    /// The plan's random source.
    pub random: &'a mut ChaCha20Rng,
    /// The attacker's steps, in time order.
    pub steps: Vec<Step>,
    /// The leaked list, for an attacker that holds one.
    pub leaked: Vec<LeakedEntry>,
    /// Customers who need a password beyond the active ones.
    pub with_password: Vec<u64>,
}

impl Planning<'_> {
    /// Adds the attacker's step at `at` about `target`, from its `index`-th network (round
    /// robin).
    pub fn attack(&mut self, at: Timestamp, target: u64, index: usize) {
        let network = self.networks[index % self.networks.len()];
        self.steps.push(Step {
            at,
            action: Action::Attack(AttackStep { target, network }),
        });
    }

    /// `share` of all customers, one after another at `per_second` for at most `duration`;
    /// the `index`-th from network `slot(index)` (round robin).
    pub fn paced_victims(
        &mut self,
        share: f64,
        per_second: f64,
        duration: Duration,
        slot: impl Fn(usize) -> usize,
    ) {
        let victims = self.victim_order(share);
        for (index, victim) in victims.into_iter().enumerate() {
            let Some(at) = attack_time(self.attack_start, index, per_second, duration) else {
                break;
            };
            self.attack(at, victim, slot(index));
        }
    }

    /// The customers the attacker goes after, in its order: `share` of all of them.
    fn victim_order(&mut self, share: f64) -> Vec<u64> {
        let customers = self.customers;
        let count = ((customers as f64) * share)
            .round()
            .clamp(0.0, customers as f64) as usize;
        let mut order: Vec<u64> = (0..customers).collect();
        order.shuffle(self.random);
        order.truncate(count);
        order
    }
}

impl Plan {
    /// Plans `scenario` with `customers` customers and `seed`.
    pub fn new(scenario: &Scenario, customers: u64, seed: u64) -> Plan {
        let mut random = ChaCha20Rng::seed_from_u64(seed);
        let start = scenario.start_time();
        let attack_start = start.plus(scenario.normal.warmup);
        let active = scenario.normal.active_customers.min(customers);

        // The attacker first, so its length bounds the legitimate traffic around it.
        let attacker = scenario.attacker.kind();
        let attacker_networks = attacker_networks(attacker.habits().networks, seed);
        let mut planning = Planning {
            customers,
            active_customers: active,
            attack_start,
            networks: &attacker_networks,
            random: &mut random,
            steps: Vec::new(),
            leaked: Vec::new(),
            with_password: Vec::new(),
        };
        attacker.plan(&mut planning);
        let Planning {
            mut steps,
            leaked,
            with_password: listed,
            ..
        } = planning;
        let attack_end = steps.last().map_or(attack_start, |step| step.at);

        // Legitimate traffic from the start to the attacker's planned end and the tail.
        let end = attack_end.plus(scenario.normal.tail);
        legitimate_traffic(
            scenario,
            customers,
            active,
            (start, end),
            &mut random,
            &mut steps,
        );
        // Stable: steps at the same instant keep their planned order.
        steps.sort_by_key(|step| step.at);
        let mut with_password: Vec<u64> = (0..active).chain(listed).collect();
        with_password.sort_unstable();
        with_password.dedup();
        Plan {
            steps,
            start,
            attack_start,
            attack_end,
            attacker_networks,
            leaked,
            with_password,
            seed,
        }
    }

    /// The password of a customer who has one (active customers, and the leaked list's).
    pub fn password(&self, customer: u64) -> String {
        // The leaked list's reused entries carry exactly this password, so reuse is by
        // construction; others differ in their last part.
        format!("Drill-{:x}-{customer}-pw", self.seed)
    }

    /// The password the leaked list holds for an entry.
    pub fn leaked_password(&self, entry: &LeakedEntry) -> String {
        match entry {
            LeakedEntry::Reused { customer } => self.password(*customer),
            LeakedEntry::OtherPassword { customer } => {
                format!("Leaked-{:x}-{customer}-old", self.seed)
            }
            LeakedEntry::Stranger { number } => format!("Leaked-{:x}-s{number}", self.seed),
        }
    }

    /// The e-mail the leaked list holds for a stranger.
    pub fn stranger_email(&self, number: u32) -> String {
        format!("nobody{number}.{:x}@example.net", self.seed)
    }

    /// How many steps the attacker takes.
    pub fn attack_steps(&self) -> usize {
        self.steps
            .iter()
            .filter(|step| step.action.is_attack())
            .count()
    }
}

/// Customer sessions and service reads, hour by hour over `span`, with the day's rhythm.
fn legitimate_traffic(
    scenario: &Scenario,
    customers: u64,
    active: u64,
    (start, end): (Timestamp, Timestamp),
    random: &mut ChaCha20Rng,
    steps: &mut Vec<Step>,
) {
    let normal = &scenario.normal;
    let mut hour = start;
    while hour < end {
        let kst_hour = ((hour.as_secs() / 3600 + 9) % 24) as usize;
        let weight = DIURNAL[kst_hour];
        if active > 0 {
            for _ in 0..draw_count(normal.logins_per_hour * weight, random) {
                let customer = random.gen_range(0..active);
                let network = customer_network(customer % u64::from(normal.networks.max(1)));
                steps.push(Step {
                    at: within_hour(hour, end, random),
                    action: Action::CustomerSession { customer, network },
                });
            }
        }
        for (service, traffic) in normal.services.iter().enumerate() {
            for _ in 0..draw_count(traffic.reads_per_hour * weight, random) {
                let host = random.gen_range(0..traffic.networks);
                steps.push(Step {
                    at: within_hour(hour, end, random),
                    action: Action::ServiceRead {
                        service,
                        customer: random.gen_range(0..customers),
                        network: service_network(service, host),
                    },
                });
            }
        }
        hour = hour.plus(Duration::from_secs(3600));
    }
}

/// When the attacker's `index`-th step happens, if within the campaign.
fn attack_time(
    attack_start: Timestamp,
    index: usize,
    per_second: f64,
    duration: Duration,
) -> Option<Timestamp> {
    let offset = Duration::from_secs_f64(index as f64 / per_second);
    (offset <= duration).then(|| attack_start.plus(offset))
}

/// A whole number of events whose expectation is `expected`.
fn draw_count(expected: f64, random: &mut ChaCha20Rng) -> u64 {
    let whole = expected.floor();
    let extra = u64::from(random.gen_bool((expected - whole).clamp(0.0, 1.0)));
    whole as u64 + extra
}

fn within_hour(hour: Timestamp, end: Timestamp, random: &mut ChaCha20Rng) -> Timestamp {
    let at = hour.plus(Duration::from_micros(random.gen_range(0..3_600_000_000)));
    if at < end { at } else { hour }
}

/// Home network `index` of the legitimate customers: 172.16.0.0/12.
pub fn customer_network(index: u64) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(172, 16, 1, 1)) + (index % 1_000_000) as u32)
}

/// Host `host` of service `service`: 10.20.0.0/16.
pub fn service_network(service: usize, host: u32) -> Ipv4Addr {
    Ipv4Addr::new(10, 20, (service % 250) as u8, (host % 250) as u8 + 1)
}

/// `count` distinct attacker networks in 45.0.0.0/8, scattered (an odd multiplier is a
/// bijection modulo 2^24, so they never repeat).
fn attacker_networks(count: u32, seed: u64) -> Vec<Ipv4Addr> {
    let offset = (seed.wrapping_mul(0x9E37_79B9) & 0x00FF_FFFF) as u32;
    (0..count)
        .map(|index| {
            let spread = index.wrapping_mul(2_654_435_761).wrapping_add(offset) & 0x00FF_FFFF;
            Ipv4Addr::from(0x2D00_0000 | spread)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::scenario::built_in;

    #[test]
    fn the_same_seed_plans_the_same_drill() {
        let scenario = built_in("coupang").unwrap();
        let one = Plan::new(&scenario, 300, 7);
        let two = Plan::new(&scenario, 300, 7);
        assert_eq!(one.steps, two.steps);
        let other = Plan::new(&scenario, 300, 8);
        assert_ne!(one.steps, other.steps);
    }

    #[test]
    fn the_attacker_starts_after_the_warmup_and_uses_its_own_networks() {
        let scenario = built_in("lowslow").unwrap();
        let plan = Plan::new(&scenario, 500, 1);
        assert_eq!(
            plan.attack_start,
            scenario.start_time().plus(scenario.normal.warmup)
        );
        let attacker: HashSet<Ipv4Addr> = plan.attacker_networks.iter().copied().collect();
        assert_eq!(attacker.len(), 2000, "distinct networks");
        for step in &plan.steps {
            let network = match &step.action {
                Action::CustomerSession { network, .. }
                | Action::ServiceRead { network, .. }
                | Action::Attack(AttackStep { network, .. }) => *network,
            };
            assert_eq!(step.action.is_attack(), attacker.contains(&network));
            if step.action.is_attack() {
                assert!(step.at >= plan.attack_start);
            }
        }
        // 500 victims, three reads per network.
        assert_eq!(plan.attack_steps(), 500);
        assert!(plan.steps.windows(2).all(|pair| pair[0].at <= pair[1].at));
    }

    #[test]
    fn the_leaked_list_has_the_asked_shares_and_passwords() {
        let scenario = built_in("stuffing").unwrap();
        let plan = Plan::new(&scenario, 2000, 3);
        assert_eq!(plan.leaked.len(), 200);
        let reused = plan
            .leaked
            .iter()
            .filter(|entry| matches!(entry, LeakedEntry::Reused { .. }))
            .count();
        assert_eq!(reused, 10);
        for entry in &plan.leaked {
            match entry {
                LeakedEntry::Reused { customer } => {
                    assert_eq!(plan.leaked_password(entry), plan.password(*customer));
                    assert!(plan.with_password.contains(customer));
                    assert!(*customer >= scenario.normal.active_customers);
                }
                LeakedEntry::OtherPassword { customer } => {
                    assert_ne!(plan.leaked_password(entry), plan.password(*customer));
                }
                LeakedEntry::Stranger { .. } => {}
            }
        }
    }

    #[test]
    fn legitimate_traffic_follows_the_day() {
        let scenario = built_in("coupang").unwrap();
        let plan = Plan::new(&scenario, 300, 1);
        let mut per_hour = [0_u64; 24];
        for step in plan.steps.iter().filter(|step| !step.action.is_attack()) {
            per_hour[((step.at.as_secs() / 3600 + 9) % 24) as usize] += 1;
        }
        // Evening (20:00 KST) is busier than the small hours (03:00 KST).
        assert!(per_hour[20] > 3 * per_hour[3], "{per_hour:?}");
    }
}
