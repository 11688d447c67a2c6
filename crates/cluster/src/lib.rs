//! Many Haechi nodes as one.
//!
//! Every node serves from memory written after the store (the token authority's cache rule).
//! On one node that is enough; in a cluster a decision made on node B — a revocation, a key's
//! new state, a block, a suspension — must reach node A's memory too. The store appends each
//! such decision to its change log in the same transaction as the decision itself
//! ([`haechi_events::ChangeFeed`]); the [`Follower`] on every node reads the log a few times a
//! second and applies what it finds; [`Freshness`] says how long ago the node last confirmed
//! it had seen everything, and when that is longer than the bound, the node refuses every
//! decision (503) until it has caught up again — a node that cannot confirm it knows about a
//! revocation must not accept the revoked token.

#![forbid(unsafe_code)]

mod error;
mod follower;
mod freshness;

pub use error::Error;
pub use follower::{ChangesApplied, Follower, FollowerHandle, FollowerSettings, PolicyReload};
pub use freshness::Freshness;
