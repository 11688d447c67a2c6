//! The one error type of this crate: why a node cannot vouch for its view of the cluster's
//! shared decisions.

use std::time::Duration;

/// Why this node's memory cannot be trusted to hold every shared decision right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The node has not confirmed it is up to date within its bound ([`crate::Freshness`]):
    /// how long since it last did (`None`: never).
    #[error("this node has not confirmed the cluster's shared decisions for {since:?}")]
    Stale {
        /// Since the last confirmation, if there was one.
        since: Option<Duration>,
    },
    /// The follower did not apply the change log through the position asked for in time
    /// (the store is unreachable, or the follower stopped).
    #[error("this node applied the cluster's change log through {applied}, not through {wanted}")]
    NotApplied {
        /// The position asked for.
        wanted: i64,
        /// How far the follower got.
        applied: i64,
    },
}
