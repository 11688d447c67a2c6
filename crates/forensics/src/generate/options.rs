//! What to generate: the population, the span, the seed, the injected attack and the
//! Parquet layout.

use haechi_audit::ExportOptions;
use haechi_events::Timestamp;

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
