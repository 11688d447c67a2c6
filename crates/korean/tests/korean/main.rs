//! Integration tests of haechi-korean: table-driven checks through one `check` helper per
//! concern, then property tests.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly on purpose"
)]

mod generate;
mod identity;
mod masks;
mod normalize;
mod properties;
mod validate;
