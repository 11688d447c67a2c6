//! Breach drills: the Coupang attack and its harder cousins, replayed against a live Haechi on
//! a simulated clock, and scored.
//!
//! The drill's domain, with no IO: [`scenario`] (the YAML format and the built-in
//! scenarios), [`attacker`] (one file per kind of attacker: its part of the format, its
//! checks, its plan), [`plan`] (every request at its simulated time, from a seed), [`truth`]
//! (what the attacker received, judged from its responses; which alerts are about it) and
//! [`report`] (scoring against the scenario's bar; JSON, Markdown, HTML).
//!
//! The IO, at the edge: [`run::drill`] runs one scenario against a server under test — one it
//! starts (`server.rs`: `haechi serve` from the binary it is given) or a `--target` — through
//! the driver (`driver/`: set-up over the admin API, the plan played on the drill clock, each
//! attacker step played by its kind), then runs `haechi scope` and scores.

#![forbid(unsafe_code)]

pub mod attacker;
mod driver;
pub mod plan;
pub mod report;
pub mod run;
pub mod scenario;
mod server;
pub mod truth;

pub use attacker::Attacker;
pub use plan::{Action, AttackStep, LeakedEntry, Plan, Step};
pub use report::{Observations, Report, ScopeRun, scorecard};
pub use run::{Options, Progress, ServerUnderTest, drill};
pub use scenario::{Expectations, Read, Scenario};
pub use server::Credential;
pub use truth::{AlertSeen, AttackerTraits, Disclosure, Receipt, judge};

/// What can go wrong in a drill: before it runs (the scenario), or while it runs (the server
/// under test, the drill's own server, this machine). A drill that merely fails its bar is not
/// an error; it is a report that did not pass.
#[derive(Debug, thiserror::Error)]
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
    /// The server under test is not a drill server, refused the drill's set-up (a wrong
    /// administrator credential, services it already has), or stopped answering during it.
    #[error("{0}")]
    Target(String),
    /// The drill's own server (the `haechi serve` it starts) did not start or stop.
    #[error("{0}")]
    LocalServer(String),
    /// Something on this machine failed (a file, a child process, the drill server's audit
    /// log), with what the drill was doing.
    #[error("{what}")]
    Local {
        /// What the drill was doing.
        what: String,
        /// Why it failed.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An IO error with nothing to add (the async runtime, a child's status).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A report that does not serialise.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

impl Error {
    /// `map_err` for a local failure: `what` the drill was doing, and the cause.
    pub(crate) fn local<E>(what: impl Into<String>) -> impl FnOnce(E) -> Error
    where
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let what = what.into();
        move |source| Error::Local {
            what,
            source: source.into(),
        }
    }
}
