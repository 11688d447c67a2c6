//! Test support for the cluster: a fresh PostgreSQL database per test, and NATS servers.
//!
//! The servers are real ones, started outside the tests (`scripts/cluster-servers start`
//! prints the two variables this crate reads; `.ci/run` does the same):
//! - `HAECHI_TEST_POSTGRES`: a URL whose role may `CREATE DATABASE`;
//! - `HAECHI_TEST_NATS`: a NATS server with JetStream.
//!
//! When a variable is unset, the test that needs it says so on stderr and passes without
//! running — unless `HAECHI_REQUIRE_SERVERS=1` (CI sets it), which turns a missing server
//! into a failure, so CI can never pass by skipping.
//!
//! Tests that must stop and restart a server (NATS restarted mid-load) start a private one
//! with [`PrivateNats`].

#![forbid(unsafe_code)]
#![allow(
    clippy::expect_used,
    reason = "test support: a server that cannot be set up fails the test loudly"
)]

mod nats;
mod postgres;
mod private_postgres;

pub use nats::{PrivateNats, TestNats, nats};
pub use postgres::{TestDatabase, postgres};
pub use private_postgres::PrivatePostgres;

/// Whether a missing server fails the test instead of skipping it.
fn servers_required() -> bool {
    std::env::var("HAECHI_REQUIRE_SERVERS").is_ok_and(|value| value == "1")
}

/// Reads a server variable; `None` (with a note on stderr) when it is unset and servers are
/// not required.
fn server_url(variable: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if servers_required() => panic!(
            "{variable} is unset and HAECHI_REQUIRE_SERVERS=1: start the servers with \
             `eval \"$(scripts/cluster-servers start)\"`"
        ),
        _ => {
            eprintln!(
                "SKIPPED: {variable} is unset; `eval \"$(scripts/cluster-servers start)\"` \
                 runs this test against real servers"
            );
            None
        }
    }
}

/// A short random name part, so concurrent tests never share a database or a stream.
fn unique_suffix() -> String {
    use rand::Rng as _;
    let value: u64 = rand::thread_rng().r#gen();
    format!("{value:016x}")
}
