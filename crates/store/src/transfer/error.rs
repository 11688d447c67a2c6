//! What can stop a transfer, in terms an operator acts on.

use std::path::PathBuf;

use haechi_events::StoreError;

/// Why a transfer from the embedded store to PostgreSQL stopped. Nothing names a customer's
/// data: a conflicting row is named by its table and key (an id or a hash prefix).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransferError {
    /// The source is not an embedded Haechi database.
    #[error("{} is not a Haechi database: {reason}", path.display())]
    NotEmbedded {
        /// The file looked at.
        path: PathBuf,
        /// What is missing or wrong.
        reason: String,
    },

    /// Reading the embedded store (or its policy files) failed.
    #[error("the embedded store: {0}")]
    Source(StoreError),

    /// The PostgreSQL database failed or refused.
    #[error("the PostgreSQL database: {0}")]
    Target(StoreError),

    /// A stored value does not have the type its column should hold.
    #[error("table {table}: {reason}")]
    Unreadable {
        /// The table.
        table: &'static str,
        /// Which column and what is wrong.
        reason: String,
    },

    /// One of the databases has a table or a column this Haechi does not know how to move
    /// (a newer release made it): nothing is moved rather than leaving it behind.
    #[error("the {database} database has {what}, which this Haechi does not know how to move")]
    UnknownSchema {
        /// `embedded` or `PostgreSQL`.
        database: &'static str,
        /// The table or column.
        what: String,
    },

    /// The PostgreSQL database already holds Haechi data that did not come from this
    /// deployment (a cluster already running, or another deployment): merging would mix two
    /// deployments' keys and records.
    #[error(
        "the PostgreSQL database already holds data in {table} that did not come from this \
         deployment (a running cluster, or another deployment): migrate into an empty database"
    )]
    TargetInUse {
        /// The first table found holding rows.
        table: &'static str,
    },

    /// The PostgreSQL database holds a move of another embedded deployment.
    #[error(
        "the PostgreSQL database holds a move of another embedded deployment ({other}, from \
         {dir}): migrate into an empty database"
    )]
    OtherDeployment {
        /// That deployment's identity.
        other: String,
        /// The directory it came from.
        dir: String,
    },

    /// Another `haechi migrate` is moving data into the same database.
    #[error("another haechi migrate is writing to this PostgreSQL database; wait for it to end")]
    Busy,

    /// A row with the same key is already in the target with other content: the source
    /// changed since an earlier run (the embedded server ran in between), or the target was
    /// changed (a cluster node ran on it). Nothing of the batch was written.
    #[error(
        "table {table}: the row {key} is already in the PostgreSQL database with other content \
         ({count} such rows in this batch); the embedded deployment or the database changed \
         since the earlier run. Nothing was merged: move again into an empty database"
    )]
    Conflict {
        /// The table.
        table: &'static str,
        /// The first conflicting row's key (an id, or the first bytes of a hash, in hex).
        key: String,
        /// Conflicting rows in the batch.
        count: usize,
    },

    /// The run stopped after the number of batches it was told to (a test of resumption).
    #[error("stopped after {batches} batches, as asked")]
    Stopped {
        /// Batches written.
        batches: u64,
    },
}
