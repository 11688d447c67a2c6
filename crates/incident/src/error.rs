//! The incident crate's one error type.

use haechi_events::StoreError;

/// What can go wrong with incidents.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Text that is not an incident id (`INC-` and 12 hexadecimal digits).
    #[error("{0:?} is not an incident id (INC- and 12 hexadecimal digits)")]
    BadId(String),
    /// A list of affected customers that cannot be read; names the line.
    #[error("line {line}: {message}")]
    BadAffectedList {
        /// The 1-based line.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// No incident with that id.
    #[error("no incident {0}")]
    NotFound(String),
    /// The incident is closed already.
    #[error("incident {0} is closed already")]
    AlreadyClosed(String),
    /// A statement that cannot be published; names the member.
    #[error("{0}")]
    BadStatement(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}
