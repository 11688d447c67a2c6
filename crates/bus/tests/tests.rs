//! Integration tests of the cluster bus against real NATS servers (haechi-testbed): one
//! binary, one harness. A test without a server says SKIPPED and passes, unless
//! HAECHI_REQUIRE_SERVERS=1.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

mod util;

mod archive;
mod feed;
mod fork;
mod outage;
mod reconcile;
mod replication;
mod republish;
mod stream_rules;
mod tamper;
