//! What can go wrong reading the gateway's policy or a proxy's description of a request.

/// The crate's error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The `[gateway]` section of the policy file is wrong, at `line` (0: the whole section).
    #[error("{file}:{line}: gateway: {problem}")]
    Policy {
        /// Where the policy came from.
        file: String,
        /// The line, 1-based (0 when no line is known).
        line: usize,
        /// What is wrong.
        problem: String,
    },
    /// The proxy did not say which request it asks about, or said it ambiguously.
    #[error("upstream request: {0}")]
    Upstream(String),
}
