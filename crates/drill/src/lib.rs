//! Breach drills: the Coupang attack and its harder cousins, replayed against a live Haechi on
//! a simulated clock, and scored.
//!
//! This crate is the drill's domain, with no IO: [`scenario`] (the YAML format and the
//! built-in scenarios), [`plan`] (every request at its simulated time, from a seed),
//! [`truth`] (what the attacker received, judged from its responses; which alerts are about
//! it) and [`report`] (scoring against the scenario's bar; JSON, Markdown, HTML). The binary's
//! `haechi drill` drives the HTTP traffic and runs `haechi scope`.

#![forbid(unsafe_code)]

pub mod plan;
pub mod report;
pub mod scenario;
pub mod truth;

pub use plan::{Action, LeakedEntry, Plan, Step};
pub use report::{Observations, Report, ScopeRun, scorecard};
pub use scenario::{Attacker, Expectations, Read, Scenario};
pub use truth::{AlertSeen, AttackerTraits, Disclosure, Receipt, judge};

/// What can go wrong before a drill runs.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// A scenario file that does not parse or does not make sense.
    #[error("{origin}: {message}")]
    Scenario {
        /// The file (or built-in scenario) it came from.
        origin: String,
        /// What is wrong, with line and column where the YAML says.
        message: String,
    },
    /// A scenario name that is neither built in nor a file.
    #[error(
        "no built-in scenario {0:?} (coupang, scraper, stuffing, lowslow, insider, or a YAML file)"
    )]
    UnknownScenario(String),
}
