//! A generator of realistic audit archives with an injected attack and its ground truth, for
//! this crate's tests and benchmarks and for drills.
//!
//! The archive is written through the audit crate's archive writer
//! ([`haechi_audit::write_archive_file`]): the same schema, partitioning, row groups,
//! statistics and bloom filters as `haechi audit export`. Records are chained with
//! [`AuditRecord::chained`] and a checkpoint is signed over the end of every file with an audit
//! key derived from the seed, whose public half is written beside the data
//! (`_audit_key.pem`), so `haechi audit verify --archive DIR --key DIR/_audit_key.pem` checks it.
//!
//! # Normal traffic
//!
//! Events are spread over the days with a diurnal rhythm on Korean time (quiet at 4 a.m.,
//! busiest at 9 p.m.). A quarter of the actions are customer sessions (`auth.login_ok`,
//! `token.issued`, then one to four reads of their own profile or address book); most of the
//! rest are service reads with purposes (`shipping` plaintext name/phone/addresses, `support`
//! and `marketing` masked, `billing`), plus lookups, denied reads, failed logins, writes,
//! refreshes and rejected tokens. Customers come from a skewed popularity curve, live on one of
//! tens of thousands of Korean ISP networks (mobile ones change address daily, a sixth use
//! IPv6) and keep one app or browser; services use internal addresses, 15-minute tokens, and a
//! signing key that rotates daily.
//!
//! # The attack (`stolen-key`)
//!
//! As in the 2025 breach: an attacker holding a signing key (one legitimate traffic no longer
//! uses) forges a token for each victim and reads the victim's profile (name, e-mail, phone,
//! for a quarter also the customs code) and address book, at a steady rate (2.8 victims/s by
//! default), from a few dozen foreign addresses and two browser user agents no customer uses.
//! The ground truth (`_ground_truth.json`) lists the key, addresses, agents, window and every
//! victim with fields, times, reads, token and session id.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use ed25519_dalek::SigningKey;
use haechi_audit::{AuditRecord, Checkpoint, ExportOptions, GENESIS_HASH};
use haechi_events::{Decision, EventKind, Principal, SecurityEvent, Timestamp};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Error;
use crate::progress::Progress;
use crate::timestamps::format_time;

/// The ground-truth file written beside the data.
pub const GROUND_TRUTH_FILE: &str = "_ground_truth.json";
/// The audit public key (PEM) written beside the data.
pub const PUBLIC_KEY_FILE: &str = "_audit_key.pem";

const MICROS_PER_SECOND: i64 = 1_000_000;
const MICROS_PER_HOUR: i64 = 3_600 * MICROS_PER_SECOND;

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateOptions {
    /// Customers in the population.
    pub customers: u64,
    /// Events in total, attack included.
    pub events: u64,
    /// Days the archive spans.
    pub days: u32,
    /// The first day (UTC).
    pub start: time::Date,
    /// Seed: the same options and seed give the same archive, byte for byte.
    pub seed: u64,
    /// The injected attack.
    pub attack: Attack,
    /// Records per file before a day boundary cuts it (the records of one sealed segment).
    pub file_records: usize,
    /// Parquet layout (rows per row group).
    pub export: ExportOptions,
}

impl GenerateOptions {
    /// `customers` and `events` over 30 days from 2025-06-01, seed 1, a stolen-key attack on
    /// 5 % of the customers (at most what fits in a tenth of the events).
    pub fn new(customers: u64, events: u64) -> Self {
        let victims = (customers / 20).min(events / 20).max(1);
        GenerateOptions {
            customers,
            events,
            days: 30,
            start: time::macros::date!(2025 - 06 - 01),
            seed: 1,
            attack: Attack::StolenKey(StolenKeyAttack {
                victims,
                ..StolenKeyAttack::default()
            }),
            file_records: 1 << 18,
            export: ExportOptions::default(),
        }
    }
}

/// The attack injected into the normal traffic.
#[derive(Debug, Clone, PartialEq)]
pub enum Attack {
    /// Normal traffic only.
    None,
    /// A stolen signing key forging a token per victim.
    StolenKey(StolenKeyAttack),
}

/// The shape of a stolen-key attack.
#[derive(Debug, Clone, PartialEq)]
pub struct StolenKeyAttack {
    /// Distinct customers read.
    pub victims: u64,
    /// Attacker addresses.
    pub addresses: usize,
    /// Victims per second.
    pub victims_per_second: f64,
    /// When it starts; default: 01:00 UTC on the day a third into the archive.
    pub start: Option<Timestamp>,
}

impl Default for StolenKeyAttack {
    fn default() -> Self {
        StolenKeyAttack {
            victims: 1000,
            addresses: 40,
            victims_per_second: 2.8,
            start: None,
        }
    }
}

/// One victim of the injected attack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Victim {
    /// Customer id.
    pub customer_id: String,
    /// Fields the attacker read, sorted.
    pub fields: Vec<String>,
    /// First read (RFC 3339).
    pub first: String,
    /// Last read.
    pub last: String,
    /// Reads.
    pub reads: u64,
    /// The forged token's id.
    pub jti: String,
    /// The forged session id.
    pub sid: String,
    /// The address used.
    pub ip: String,
    /// The user agent used.
    pub user_agent: String,
}

/// The attack as injected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttackTruth {
    /// `stolen_key`.
    pub kind: String,
    /// The stolen key's id.
    pub kid: String,
    /// Every attacker address.
    pub ips: Vec<String>,
    /// Every attacker user agent.
    pub user_agents: Vec<String>,
    /// First attack read.
    pub first: String,
    /// Last attack read.
    pub last: String,
    /// Attack reads.
    pub reads: u64,
    /// Victims by customer id.
    pub victims: Vec<Victim>,
}

/// What was generated: the facts a test or drill checks a scope against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroundTruth {
    /// The seed.
    pub seed: u64,
    /// Customers in the population.
    pub customers: u64,
    /// Events written.
    pub events: u64,
    /// First event time.
    pub start: String,
    /// End of the archive's span (exclusive).
    pub end: String,
    /// Normal traffic's service principals (`service:NAME`).
    pub services: Vec<String>,
    /// The attack, if one was injected.
    pub attack: Option<AttackTruth>,
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateReport {
    /// The archive directory.
    pub dir: PathBuf,
    /// Parquet files.
    pub files: usize,
    /// Bytes of Parquet.
    pub bytes: u64,
    /// The ground truth (also in `_ground_truth.json`).
    pub truth: GroundTruth,
}

const SERVICES: [(&str, &str, &[&str], Decision, u32); 4] = [
    (
        "shipping",
        "shipping",
        &["addresses", "name", "phone"],
        Decision::Allow,
        40,
    ),
    (
        "support",
        "support",
        &["email", "name", "phone"],
        Decision::Mask,
        25,
    ),
    ("marketing", "marketing", &["email"], Decision::Mask, 20),
    (
        "billing",
        "billing",
        &["email", "name"],
        Decision::Allow,
        15,
    ),
];
const SERVICE_INSTANCES: u64 = 3;

const CUSTOMER_AGENTS: [&str; 10] = [
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
const ATTACKER_AGENTS: [&str; 2] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0.5993.118 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
];
/// First octets of Korean ISP address space customers come from.
const CUSTOMER_OCTETS: [u8; 24] = [
    1, 14, 27, 39, 49, 58, 59, 61, 106, 110, 112, 115, 118, 121, 125, 175, 180, 182, 183, 211, 218,
    220, 221, 222,
];
/// First octets of the attacker's (foreign hosting) addresses: disjoint from the above.
const ATTACKER_OCTETS: [u8; 8] = [45, 89, 91, 103, 146, 185, 193, 194];
/// Relative traffic per hour of the day, Korean time (UTC+9).
const KST_HOUR_WEIGHTS: [f64; 24] = [
    4.0, 2.5, 1.6, 1.1, 0.9, 1.0, 1.8, 3.5, 5.5, 6.5, 7.0, 7.5, 8.5, 8.0, 7.0, 6.8, 7.0, 7.8, 8.8,
    9.8, 10.5, 11.0, 9.5, 6.5,
];

/// splitmix64's finaliser: a bijection on u64 that mixes well.
fn mix(mut value: u64) -> u64 {
    value = value.wrapping_add(0x9E37_79B9_7F4A_7C15);
    value = (value ^ (value >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    value = (value ^ (value >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    value ^ (value >> 31)
}

fn mix3(seed: u64, a: u64, b: u64) -> u64 {
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
struct World {
    seed: u64,
    customers: u64,
    start_micros: i64,
    attacker_kid: String,
}

impl World {
    /// `c` + 32 hex digits, like the vault's ids; distinct for distinct indices (the first
    /// half is a bijection of the index).
    fn customer_id(&self, index: u64) -> String {
        let mut id = String::with_capacity(33);
        id.push('c');
        hex_u64(&mut id, mix(index ^ mix(self.seed)));
        hex_u64(&mut id, mix3(self.seed, index, 7));
        id
    }

    fn customer_address(&self, index: u64, day: i64) -> IpAddr {
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

    fn customer_agent(&self, index: u64) -> &'static str {
        CUSTOMER_AGENTS[(mix3(self.seed, index, 3) % CUSTOMER_AGENTS.len() as u64) as usize]
    }

    /// The signing key of a day (keys rotate daily): 43 base64url characters, like a JWK
    /// thumbprint.
    fn kid_of_day(&self, day: i64) -> String {
        key_id(self.seed, &format!("day-{day}"))
    }

    fn service_token(&self, service: usize, instance: u64, slot: i64) -> String {
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

fn key_id(seed: u64, label: &str) -> String {
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

fn random_hex(rng: &mut ChaCha8Rng) -> String {
    let mut out = String::with_capacity(32);
    hex_u64(&mut out, rng.r#gen());
    hex_u64(&mut out, rng.r#gen());
    out
}

fn request_id(rng: &mut ChaCha8Rng) -> String {
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

/// The attack's schedule and state, generated lazily hour by hour.
struct AttackRun {
    victims: u64,
    next_victim: u64,
    start: i64,
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
    fn new(world: &World, attack: &StolenKeyAttack, default_start: i64) -> Self {
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

    fn end(&self) -> i64 {
        self.start + (self.victims as f64 * self.interval) as i64 + 2 * MICROS_PER_SECOND
    }

    /// Moves every attack event before `until` into `out`.
    fn take_until(&mut self, world: &World, until: i64, out: &mut Vec<SecurityEvent>) {
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
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Normal traffic of one hour: exactly `quota` events, sorted by time.
fn normal_hour(world: &World, hour: i64, quota: u64, out: &mut Vec<SecurityEvent>) {
    let mut rng = ChaCha8Rng::seed_from_u64(mix3(world.seed, 0x40_u64, hour as u64));
    let start = world.start_micros + hour * MICROS_PER_HOUR;
    let last = start + MICROS_PER_HOUR - 1;
    let day = (start - world.start_micros).div_euclid(24 * MICROS_PER_HOUR);
    let day_index = start.div_euclid(24 * MICROS_PER_HOUR);
    let kid = world.kid_of_day(day_index);
    let quota = usize::try_from(quota).unwrap_or(usize::MAX);
    let begin = out.len();
    let clamp = |time: i64| time.min(last);

    // Service tokens: one per instance per 15-minute slot.
    for (service_index, (name, ..)) in SERVICES.iter().enumerate() {
        for instance in 0..SERVICE_INSTANCES {
            for quarter in 0..4 {
                if out.len() - begin >= quota {
                    break;
                }
                let slot = hour * 4 + quarter;
                out.push(
                    SecurityEvent::new(
                        Timestamp::from_micros(
                            start + quarter * 15 * 60 * MICROS_PER_SECOND + 1_000 * instance as i64,
                        ),
                        EventKind::TokenIssued,
                        Principal::Service((*name).to_string()),
                    )
                    .jti(world.service_token(service_index, instance, slot))
                    .kid(kid.clone())
                    .ip(Some(service_address(service_index, instance)))
                    .user_agent(Some(&format!("{name}-svc/4.2 haechi-client")))
                    .request_id(Some(&request_id(&mut rng))),
                );
            }
        }
    }

    let customers = world.customers.max(1);
    while out.len() - begin < quota {
        let at = start + rng.gen_range(0..MICROS_PER_HOUR);
        let action: f64 = rng.r#gen();
        // Popular customers act more: a skewed pick over the population.
        let skewed = {
            let u: f64 = rng.r#gen();
            ((u * u) * customers as f64) as u64 % customers
        };
        let customer_id = world.customer_id(skewed);
        let ip = world.customer_address(skewed, day);
        let agent = world.customer_agent(skewed);
        let customer = || Principal::Customer(customer_id.clone());
        if action < 0.25 {
            // A customer session: log in, get a token, read their own data.
            let sid = random_hex(&mut rng);
            let jti = random_hex(&mut rng);
            out.push(
                SecurityEvent::new(Timestamp::from_micros(at), EventKind::LoginOk, customer())
                    .sid(sid.clone())
                    .ip(Some(ip))
                    .user_agent(Some(agent))
                    .customer(customer_id.clone())
                    .request_id(Some(&request_id(&mut rng))),
            );
            out.push(
                SecurityEvent::new(
                    Timestamp::from_micros(clamp(at + 4_000)),
                    EventKind::TokenIssued,
                    customer(),
                )
                .sid(sid.clone())
                .jti(jti.clone())
                .kid(kid.clone())
                .ip(Some(ip))
                .user_agent(Some(agent))
                .customer(customer_id.clone())
                .request_id(Some(&request_id(&mut rng))),
            );
            let mut time = at;
            for _ in 0..rng.gen_range(1..=4) {
                time = clamp(time + rng.gen_range(300_000..40 * MICROS_PER_SECOND));
                let fields: &[&str] = match rng.gen_range(0..3) {
                    0 => &["addresses"],
                    1 => &["email", "name", "phone"],
                    _ => &["birth_date", "customs_code", "email", "name", "phone"],
                };
                out.push(
                    SecurityEvent::new(
                        Timestamp::from_micros(time),
                        EventKind::PiiRead,
                        customer(),
                    )
                    .sid(sid.clone())
                    .jti(jti.clone())
                    .kid(kid.clone())
                    .ip(Some(ip))
                    .user_agent(Some(agent))
                    .customer(customer_id.clone())
                    .fields(fields.iter().copied())
                    .request_id(Some(&request_id(&mut rng))),
                );
            }
        } else if action < 0.80 {
            // A service read with a purpose, for a random customer.
            let pick = rng.gen_range(0..100);
            let mut cumulative = 0;
            let mut service_index = 0;
            for (index, service) in SERVICES.iter().enumerate() {
                cumulative += service.4;
                if pick < cumulative {
                    service_index = index;
                    break;
                }
            }
            let (name, purpose, fields, decision, _) = SERVICES[service_index];
            let instance = rng.gen_range(0..SERVICE_INSTANCES);
            let slot = (at - world.start_micros).div_euclid(15 * 60 * MICROS_PER_SECOND);
            let target = world.customer_id(rng.gen_range(0..customers));
            out.push(
                SecurityEvent::new(
                    Timestamp::from_micros(at),
                    EventKind::PiiRead,
                    Principal::Service(name.to_string()),
                )
                .jti(world.service_token(service_index, instance, slot))
                .kid(kid.clone())
                .ip(Some(service_address(service_index, instance)))
                .user_agent(Some(&format!("{name}-svc/4.2 haechi-client")))
                .customer(target)
                .fields(fields.iter().copied())
                .purpose(purpose)
                .outcome(decision, 200)
                .request_id(Some(&request_id(&mut rng))),
            );
        } else if action < 0.84 {
            let slot = (at - world.start_micros).div_euclid(15 * 60 * MICROS_PER_SECOND);
            out.push(
                SecurityEvent::new(
                    Timestamp::from_micros(at),
                    EventKind::PiiLookup,
                    Principal::Service("support".into()),
                )
                .jti(world.service_token(1, 0, slot))
                .kid(kid.clone())
                .ip(Some(service_address(1, 0)))
                .customer(customer_id.clone())
                .fields(["phone"])
                .purpose("support")
                .request_id(Some(&request_id(&mut rng))),
            );
        } else if action < 0.86 {
            // Marketing asks for addresses it is not granted.
            let slot = (at - world.start_micros).div_euclid(15 * 60 * MICROS_PER_SECOND);
            out.push(
                SecurityEvent::new(
                    Timestamp::from_micros(at),
                    EventKind::PiiRead,
                    Principal::Service("marketing".into()),
                )
                .jti(world.service_token(2, 1, slot))
                .kid(kid.clone())
                .ip(Some(service_address(2, 1)))
                .customer(customer_id.clone())
                .fields(["addresses"])
                .purpose("marketing")
                .outcome(Decision::Deny, 403)
                .reason("policy")
                .request_id(Some(&request_id(&mut rng))),
            );
        } else if action < 0.90 {
            out.push(
                SecurityEvent::new(
                    Timestamp::from_micros(at),
                    EventKind::LoginFailed,
                    Principal::Anonymous,
                )
                .ip(Some(ip))
                .user_agent(Some(agent))
                .outcome(Decision::Deny, 401)
                .reason("bad_password")
                .request_id(Some(&request_id(&mut rng))),
            );
        } else if action < 0.93 {
            out.push(
                SecurityEvent::new(Timestamp::from_micros(at), EventKind::PiiWrite, customer())
                    .sid(random_hex(&mut rng))
                    .jti(random_hex(&mut rng))
                    .kid(kid.clone())
                    .ip(Some(ip))
                    .user_agent(Some(agent))
                    .customer(customer_id.clone())
                    .fields([if rng.gen_bool(0.7) {
                        "addresses"
                    } else {
                        "phone"
                    }])
                    .request_id(Some(&request_id(&mut rng))),
            );
        } else if action < 0.95 {
            out.push(
                SecurityEvent::new(
                    Timestamp::from_micros(at),
                    EventKind::TokenRejected,
                    Principal::Anonymous,
                )
                .kid(kid.clone())
                .ip(Some(ip))
                .user_agent(Some(agent))
                .outcome(Decision::Deny, 401)
                .reason("expired")
                .request_id(Some(&request_id(&mut rng))),
            );
        } else {
            let sid = random_hex(&mut rng);
            out.push(
                SecurityEvent::new(Timestamp::from_micros(at), EventKind::Refresh, customer())
                    .sid(sid.clone())
                    .ip(Some(ip))
                    .user_agent(Some(agent))
                    .customer(customer_id.clone())
                    .request_id(Some(&request_id(&mut rng))),
            );
            out.push(
                SecurityEvent::new(
                    Timestamp::from_micros(clamp(at + 3_000)),
                    EventKind::TokenIssued,
                    customer(),
                )
                .sid(sid)
                .jti(random_hex(&mut rng))
                .kid(kid.clone())
                .ip(Some(ip))
                .user_agent(Some(agent))
                .customer(customer_id.clone())
                .request_id(Some(&request_id(&mut rng))),
            );
        }
    }
    out.truncate(begin + quota);
}

fn service_address(service: usize, instance: u64) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 20, service as u8, 10 + instance as u8))
}

/// Splits `total` events over the hours by the diurnal weights; the parts add up exactly.
fn hourly_quotas(total: u64, hours: i64) -> Vec<u64> {
    let weights: Vec<f64> = (0..hours)
        .map(|hour| KST_HOUR_WEIGHTS[((hour + 9) % 24) as usize])
        .collect();
    let sum: f64 = weights.iter().sum();
    let mut quotas = Vec::with_capacity(weights.len());
    let mut cumulative = 0.0;
    let mut assigned = 0u64;
    for weight in weights {
        cumulative += weight;
        let upto = ((cumulative / sum) * total as f64).round() as u64;
        let upto = upto.min(total);
        quotas.push(upto - assigned.min(upto));
        assigned = assigned.max(upto);
    }
    if let Some(last) = quotas.last_mut() {
        *last += total - assigned;
    }
    quotas
}

/// A file's worth of records, on its way to a writer thread.
type Batch = Vec<AuditRecord>;

/// Writes the archive described by `options` into `dir`, which must not exist yet. Everything
/// is written under a hidden sibling directory and renamed into place at the end, so a failed
/// or interrupted run leaves no partial archive at `dir`.
pub fn generate(
    dir: &Path,
    options: &GenerateOptions,
    progress: &dyn Progress,
) -> Result<GenerateReport, Error> {
    check_options(options)?;
    if dir.exists() {
        return Err(Error::bad_input(
            format!("--out {}", dir.display()),
            "exists already; generate into a new directory",
        ));
    }
    let name = dir.file_name().ok_or_else(|| {
        Error::bad_input(format!("--out {}", dir.display()), "names no directory")
    })?;
    let parent = dir
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let staging = parent.join(format!(".{}.generating", name.to_string_lossy()));
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(|error| Error::io(&staging, error))?;
    }
    std::fs::create_dir_all(&staging).map_err(|error| Error::io(&staging, error))?;
    let result = generate_into(&staging, options, progress);
    match result {
        Ok(mut report) => {
            std::fs::rename(&staging, dir).map_err(|error| Error::io(dir, error))?;
            report.dir = dir.to_path_buf();
            Ok(report)
        }
        Err(error) => {
            let _ = std::fs::remove_dir_all(&staging);
            Err(error)
        }
    }
}

fn check_options(options: &GenerateOptions) -> Result<(), Error> {
    if options.customers == 0 {
        return Err(Error::bad_input("--customers", "must be at least 1"));
    }
    if options.days == 0 || options.days > 3660 {
        return Err(Error::bad_input("--days", "must be 1 to 3660"));
    }
    if options.file_records == 0 || options.export.row_group_rows == 0 {
        return Err(Error::bad_input("--file-records", "must be at least 1"));
    }
    if let Attack::StolenKey(attack) = &options.attack {
        if attack.victims == 0 || attack.victims > options.customers {
            return Err(Error::bad_input(
                "--victims",
                format!(
                    "must be 1 to the number of customers ({})",
                    options.customers
                ),
            ));
        }
        if attack.addresses == 0 || attack.addresses > 100_000 {
            return Err(Error::bad_input("--attack-ips", "must be 1 to 100000"));
        }
        if !(attack.victims_per_second > 0.0 && attack.victims_per_second <= 100_000.0) {
            return Err(Error::bad_input(
                "--attack-rate",
                "must be above 0 and at most 100000",
            ));
        }
        if attack.victims.saturating_mul(2) >= options.events {
            return Err(Error::bad_input(
                "--events",
                format!(
                    "{} events leave no room for normal traffic beside the attack's {} reads",
                    options.events,
                    attack.victims * 2
                ),
            ));
        }
    }
    Ok(())
}

fn generate_into(
    dir: &Path,
    options: &GenerateOptions,
    progress: &dyn Progress,
) -> Result<GenerateReport, Error> {
    let start_micros = options.start.midnight().assume_utc().unix_timestamp() * MICROS_PER_SECOND;
    let hours = i64::from(options.days) * 24;
    let end_micros = start_micros + hours * MICROS_PER_HOUR;
    let world = World {
        seed: options.seed,
        customers: options.customers,
        start_micros,
        attacker_kid: key_id(options.seed, "stolen-legacy-key"),
    };
    let mut attack = match &options.attack {
        Attack::None => None,
        Attack::StolenKey(attack) => {
            let default_start =
                start_micros + i64::from(options.days / 3) * 24 * MICROS_PER_HOUR + MICROS_PER_HOUR;
            let run = AttackRun::new(&world, attack, default_start);
            if run.start < start_micros || run.end() > end_micros {
                return Err(Error::bad_input(
                    "--attack",
                    format!(
                        "the attack ({} victims at {}/s, from {}) does not fit in the archive's \
                         {} days: give more --days, fewer --victims or a higher --attack-rate",
                        attack.victims,
                        attack.victims_per_second,
                        format_time(Timestamp::from_micros(run.start)),
                        options.days
                    ),
                ));
            }
            Some(run)
        }
    };
    let attack_events = attack.as_ref().map_or(0, |run| run.victims * 2);
    let quotas = hourly_quotas(options.events - attack_events, hours);

    let signing_key = SigningKey::from_bytes(
        &Sha256::new()
            .chain_update(b"haechi.forensics.generate.audit-key\0")
            .chain_update(options.seed.to_be_bytes())
            .finalize()
            .into(),
    );

    // Writers: files are encoded on the other cores while this thread generates and chains.
    let (sender, receiver): (SyncSender<Batch>, Receiver<Batch>) = sync_channel(2);
    let receiver = Arc::new(Mutex::new(receiver));
    let writers = crate::parallel::threads().max(2);
    // Only the writers hold the receiver: if they all stop, sending fails instead of blocking.
    let receivers: Vec<_> = (0..writers).map(|_| Arc::clone(&receiver)).collect();
    drop(receiver);
    let export = options.export;
    let written: Arc<Mutex<Vec<(PathBuf, u64)>>> = Arc::new(Mutex::new(Vec::new()));
    let failure: Arc<Mutex<Option<Error>>> = Arc::new(Mutex::new(None));

    let mut checkpoints = Vec::new();
    let mut records = 0u64;
    let produce = std::thread::scope(|scope| -> Result<(), Error> {
        for receiver in receivers {
            let written = Arc::clone(&written);
            let failure = Arc::clone(&failure);
            scope.spawn(move || {
                loop {
                    let batch = match receiver.lock() {
                        Ok(receiver) => receiver.recv(),
                        Err(_) => return,
                    };
                    let Ok(batch) = batch else {
                        return;
                    };
                    match haechi_audit::write_archive_file(dir, &batch, &export) {
                        Ok(path) => {
                            let bytes = std::fs::metadata(&path).map_or(0, |meta| meta.len());
                            if let Ok(mut written) = written.lock() {
                                written.push((path, bytes));
                            }
                        }
                        Err(error) => {
                            if let Ok(mut failure) = failure.lock() {
                                failure.get_or_insert(Error::Audit(error));
                            }
                            return;
                        }
                    }
                }
            });
        }

        progress.phase("generating", options.events);
        let mut prev_hash = GENESIS_HASH;
        let mut batch: Batch = Vec::with_capacity(options.file_records);
        let mut batch_day = i64::MIN;
        let mut hour_events = Vec::new();
        let flush = |batch: &mut Batch, checkpoints: &mut Vec<Checkpoint>| -> Result<(), Error> {
            if let Some(last) = batch.last() {
                checkpoints.push(Checkpoint::sign(
                    last.seq,
                    last.hash,
                    last.event.time,
                    &signing_key,
                ));
                let full = std::mem::replace(batch, Vec::with_capacity(options.file_records));
                if sender.send(full).is_err() {
                    return Err(failure_or(&failure));
                }
            }
            Ok(())
        };
        for (hour, quota) in quotas.iter().enumerate() {
            let hour = hour as i64;
            hour_events.clear();
            normal_hour(&world, hour, *quota, &mut hour_events);
            if let Some(run) = attack.as_mut() {
                run.take_until(
                    &world,
                    start_micros + (hour + 1) * MICROS_PER_HOUR,
                    &mut hour_events,
                );
            }
            hour_events.sort_by_key(|event| event.time);
            for event in hour_events.drain(..) {
                let day = event.time.as_micros().div_euclid(24 * MICROS_PER_HOUR);
                if day != batch_day || batch.len() >= options.file_records {
                    flush(&mut batch, &mut checkpoints)?;
                    batch_day = day;
                }
                records += 1;
                let record = AuditRecord::chained(records, event, prev_hash);
                prev_hash = record.hash;
                batch.push(record);
            }
            progress.advance(*quota);
            if failure
                .lock()
                .map(|failure| failure.is_some())
                .unwrap_or(true)
            {
                return Err(failure_or(&failure));
            }
        }
        flush(&mut batch, &mut checkpoints)?;
        drop(sender);
        Ok(())
    });
    progress.finish();
    produce?;
    if let Ok(mut failure) = failure.lock()
        && let Some(error) = failure.take()
    {
        return Err(error);
    }
    haechi_audit::write_archive_checkpoints(dir, &checkpoints)?;
    let pem = haechi_audit::public_key_pem(&signing_key.verifying_key())?;
    write_file(&dir.join(PUBLIC_KEY_FILE), pem.as_bytes())?;

    let attack_truth = attack.map(|run| {
        let mut victims = run.truth;
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
            kid: run.kid,
            ips: run.ips.iter().map(ToString::to_string).collect(),
            user_agents: ATTACKER_AGENTS
                .iter()
                .map(|agent| (*agent).to_string())
                .collect(),
            first,
            last,
            reads: run.reads,
            victims,
        }
    });
    let truth = GroundTruth {
        seed: options.seed,
        customers: options.customers,
        events: records,
        start: format_time(Timestamp::from_micros(start_micros)),
        end: format_time(Timestamp::from_micros(end_micros)),
        services: SERVICES
            .iter()
            .map(|(name, ..)| format!("service:{name}"))
            .collect(),
        attack: attack_truth,
    };
    let json = serde_json::to_vec(&truth)
        .map_err(|error| Error::bad_input("ground truth", error.to_string()))?;
    write_file(&dir.join(GROUND_TRUTH_FILE), &json)?;
    let written = written
        .lock()
        .map(|written| written.clone())
        .unwrap_or_default();
    Ok(GenerateReport {
        dir: dir.to_path_buf(),
        files: written.len(),
        bytes: written.iter().map(|(_, bytes)| bytes).sum(),
        truth,
    })
}

fn failure_or(failure: &Mutex<Option<Error>>) -> Error {
    failure
        .lock()
        .ok()
        .and_then(|mut failure| failure.take())
        .unwrap_or_else(|| Error::bad_input("generate", "an archive writer stopped"))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    std::fs::write(path, bytes).map_err(|error| Error::io(path, error))
}

/// Reads a ground-truth file written by [`generate`].
pub fn read_ground_truth(path: &Path) -> Result<GroundTruth, Error> {
    let bytes = std::fs::read(path).map_err(|error| Error::io(path, error))?;
    serde_json::from_slice(&bytes)
        .map_err(|error| Error::bad_input(path.display().to_string(), error.to_string()))
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
    fn quotas_add_up_and_follow_the_day() {
        let quotas = hourly_quotas(1_000_003, 48);
        assert_eq!(quotas.iter().sum::<u64>(), 1_000_003);
        // 12:00 UTC is 21:00 KST (busy); 19:00 UTC is 04:00 KST (quiet).
        assert!(quotas[12] > 5 * quotas[19]);
    }

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
