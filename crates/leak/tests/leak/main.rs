//! Integration tests of haechi-leak: the labelled corpus with its precision and recall bar,
//! table-driven checks per kind, masking, and property tests.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly on purpose"
)]

mod corpus;
mod dump;
mod masks;
mod noise;
mod properties;
mod scan;
