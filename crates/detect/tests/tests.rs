//! Integration tests of haechi-detect: one binary, a shared harness.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly on purpose"
)]

mod engine;
mod loader;
mod pack;
mod properties;
mod sigma;
mod swap;
mod util;
