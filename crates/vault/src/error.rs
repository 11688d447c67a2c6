//! Vault errors.

use haechi_events::{SinkError, StoreError};

/// One field that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    /// The field's name as the API spells it (`phone`, `addresses[1].postal_code`).
    pub field: String,
    /// What is wrong, in a sentence (never containing the value).
    pub message: String,
}

/// Everything the vault refuses or fails at.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// One or more fields are invalid; nothing was written.
    #[error("invalid fields: {}", .0.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    /// The vault refused: why, as recorded and as answered (see [`crate::Denial`]).
    #[error(transparent)]
    Denied(#[from] crate::Denial),
    /// A record with this e-mail, phone or id exists.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Key custody failed (a data key would not unwrap: wrong master key or tampering).
    #[error(transparent)]
    Custody(#[from] haechi_custody::Error),
    /// A stored field failed authentication (tampered, or moved between rows or fields).
    #[error("a stored field failed authentication: {0}")]
    Tampered(String),
    /// The audit sink refused the event; the act was not carried out (fail closed).
    #[error(transparent)]
    Audit(#[from] SinkError),
    /// The token authority failed while creating a login.
    #[error(transparent)]
    Token(#[from] haechi_token::Error),
    /// A worker of a bulk run (decrypting a page of records) stopped before finishing: a bug,
    /// reported instead of a partial result.
    #[error("a vault worker stopped: {0}")]
    Worker(String),
}
