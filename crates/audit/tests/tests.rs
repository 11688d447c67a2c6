//! Integration tests of the audit trail over real files: one binary, one harness.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

mod util;

mod archive;
mod history;
mod hunt;
mod log;
mod records_at;
mod subscribe;
mod tamper;
mod witness;
