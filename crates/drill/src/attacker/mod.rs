//! The kinds of attacker a scenario can name. Each kind is one file: its part of the scenario
//! format (a struct under its YAML key), its checks, its plan (which victims or list entries,
//! when, from where) and how the driver plays one of its steps against the server. A new kind
//! is that file, its `mod` line and one line in the `attacker_kinds!` list below; the helpers
//! here (the checks kinds share, the attacker reading a victim's own data) serve them all.

use futures::future::LocalBoxFuture;
use haechi_events::Timestamp;
use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::driver::{Broken, Driver, StepResult};
use crate::plan::{AttackStep, Plan, Planning};
use crate::scenario::Scenario;

mod forged_tokens;
mod stolen_service;
mod stuffing;

/// Declares the registry: the [`Attacker`] enum of the scenario format, one variant per kind
/// under its snake_case YAML key, and the dispatch to each kind's [`AttackerKind`].
macro_rules! attacker_kinds {
    ($($module:ident::$kind:ident,)*) => {
        $(pub use $module::$kind;)*

        /// What the attacker holds and does: exactly one kind, under its key in the YAML.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields, rename_all = "snake_case")]
        pub enum Attacker {
            $(
                #[doc = concat!("`", stringify!($module), "`: see [`", stringify!($kind), "`].")]
                $kind($kind),
            )*
        }

        impl Attacker {
            /// The kind behind the variant.
            pub(crate) fn kind(&self) -> &dyn AttackerKind {
                match self {
                    $(Attacker::$kind(kind) => kind,)*
                }
            }
        }
    };
}

attacker_kinds! {
    forged_tokens::ForgedTokens,
    stolen_service::StolenService,
    stuffing::Stuffing,
}

/// One kind of attacker. Everything but [`AttackerKind::set_up`] and [`AttackerKind::play`]
/// is the domain (no IO); those two go through the driver's HTTP client.
pub(crate) trait AttackerKind {
    /// What every attacker has: networks, patience, user agent.
    fn habits(&self) -> Habits<'_>;
    /// The checks serde cannot make, after the scenario's own; messages name the field
    /// (`attacker.FIELD`).
    fn check(&self, scenario: &Scenario) -> Result<(), String>;
    /// The longest its campaign can last, in seconds: it bounds the plan's size.
    fn campaign_seconds(&self) -> f64;
    /// Its steps, drawn from `planning`'s random source (before the legitimate traffic).
    fn plan(&self, planning: &mut Planning<'_>);
    /// What the drill prepares on the server for it before the traffic (default: nothing).
    fn set_up<'a>(&'a self, _driver: &'a mut Driver) -> LocalBoxFuture<'a, Result<(), Error>> {
        Box::pin(async { Ok(()) })
    }
    /// Plays one of its steps at simulated time `at`.
    fn play<'a>(
        &'a self,
        driver: &'a mut Driver,
        scenario: &'a Scenario,
        plan: &'a Plan,
        step: AttackStep,
        at: Timestamp,
    ) -> LocalBoxFuture<'a, Result<StepResult, Broken>>;
}

/// What every kind of attacker has.
pub(crate) struct Habits<'a> {
    /// How many networks it rotates through.
    pub networks: u32,
    /// It stops after this many refusals in a row (as written; the driver takes at least 1).
    pub give_up_after: u32,
    /// Its user agent.
    pub user_agent: &'a str,
}

impl<'a> Habits<'a> {
    /// Networks, refusals before giving up, user agent.
    pub fn new(networks: u32, give_up_after: u32, user_agent: &'a str) -> Habits<'a> {
        Habits {
            networks,
            give_up_after,
            user_agent,
        }
    }
}

/// The attacker reads `paths` as a customer, with `token` (one it minted or logged in for):
/// each request counted, each refusal counted, what it received about `victim` recorded.
/// Whether it received anything.
pub(crate) async fn read_as_customer(
    driver: &mut Driver,
    paths: &[&str],
    token: &str,
    victim: u64,
    step: AttackStep,
    agent: &str,
    at: Timestamp,
) -> Result<bool, Broken> {
    let mut received = false;
    for path in paths {
        driver.observed.attacker_requests += 1;
        let (status, body) = driver
            .send(
                Method::GET,
                path,
                Some(step.network),
                agent,
                Some(token),
                None,
            )
            .await?;
        if status.is_success() {
            received |= driver.receive(victim, &body, at);
        } else {
            driver.observed.attacker_refused += 1;
        }
    }
    Ok(received)
}

/// The default share of customers an attacker goes after: all of them.
pub(crate) fn all() -> f64 {
    1.0
}

/// Slowest and fastest attacker rates, per second.
const MIN_RATE: f64 = 0.0001;
const MAX_RATE: f64 = 100_000.0;

/// An attacker's rate per second, within [`MIN_RATE`]..=[`MAX_RATE`].
pub(crate) fn check_rate(field: &str, value: f64) -> Result<(), String> {
    if value.is_finite() && (MIN_RATE..=MAX_RATE).contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "attacker.{field}: {value} is not a rate in {MIN_RATE}..={MAX_RATE} per second"
        ))
    }
}

/// A campaign paced over victims: its rate, its share of customers, its networks.
pub(crate) fn check_paced(per_second: f64, victims: f64, networks: u32) -> Result<(), String> {
    check_rate("per_second", per_second)?;
    check_share("victims", victims)?;
    check_networks(networks)
}

/// A share in 0..=1.
pub(crate) fn check_share(field: &str, value: f64) -> Result<(), String> {
    if value.is_finite() && (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(format!("attacker.{field}: {value} is not a share in 0..=1"))
    }
}

/// How many networks an attacker may use.
pub(crate) fn check_networks(networks: u32) -> Result<(), String> {
    if (1..=1_000_000).contains(&networks) {
        Ok(())
    } else {
        Err(format!(
            "attacker.networks: {networks} is not in 1..=1000000"
        ))
    }
}
