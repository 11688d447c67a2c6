//! Integration tests of the detection pipeline against real PostgreSQL and NATS servers
//! (haechi-testbed): one binary, one harness. A test without the servers says SKIPPED and
//! passes, unless HAECHI_REQUIRE_SERVERS=1.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

mod util;

mod cluster_detection;
mod cluster_measurements;
mod cluster_settle;
mod incident_desk;
