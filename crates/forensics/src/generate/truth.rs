//! The ground truth written beside a generated archive (`_ground_truth.json`): the facts a
//! test or drill checks a scope against.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::Error;

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

/// Reads a ground-truth file written by [`generate`](super::generate()).
pub fn read_ground_truth(path: &Path) -> Result<GroundTruth, Error> {
    let bytes = std::fs::read(path).map_err(|error| Error::io(path, error))?;
    serde_json::from_slice(&bytes)
        .map_err(|error| Error::bad_input(path.display().to_string(), error.to_string()))
}
