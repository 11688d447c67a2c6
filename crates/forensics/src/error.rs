//! The one error type of this crate.

use std::path::PathBuf;

/// Why a forensic query or an archive generation could not be answered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An indicator, time, window or option the caller gave cannot be used (an unknown
    /// indicator type, a malformed network or time, an empty window …). Nothing was read.
    #[error("{what}: {reason}")]
    BadInput {
        /// Which input (a flag or indicator type and its value).
        what: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A file under the archive directory is not a readable Haechi audit archive file: it is
    /// truncated or corrupt, not Parquet at all, or Parquet of another schema. A scope over
    /// such an archive would silently miss what the file holds, so the query stops.
    #[error("{}: {reason}", path.display())]
    BadArchiveFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },

    /// The audit crate refused: the live log is damaged, or an archive file could not be
    /// written.
    #[error(transparent)]
    Audit(#[from] haechi_audit::Error),

    /// `--alert ID` names an alert whose `alert.raised` event is in none of the sources read
    /// (the live log and the archive directories): a mistyped id, or an archive not given.
    #[error(
        "alert {id}: no alert.raised event with this id in the audit trail read (the live log \
         and the archive directories); check the id (GET /v1/admin/alerts) or give the archive \
         that holds it (--archive)"
    )]
    UnknownAlert {
        /// The alert id given.
        id: String,
    },

    /// The alert was found, but it gives no indicator a scope can select on: its group is made
    /// of fields a scope does not take (a customer id …) and it has no user agent, or the
    /// fields of its group key are unknown (an event recorded before alerts named them, of a
    /// rule that is not loaded).
    #[error("alert {id}: {reason}")]
    UnusableAlert {
        /// The alert id.
        id: String,
        /// Why it cannot be used.
        reason: String,
    },

    /// The archive and the live log (or two archive copies) hold different records under one
    /// seq: one of them was altered. `haechi audit verify` names which.
    #[error(
        "seq {seq} differs between {first} and {second}: the audit trail was altered; run \
         haechi audit verify"
    )]
    SourcesDisagree {
        /// The seq.
        seq: u64,
        /// Where the first copy was read.
        first: String,
        /// Where the second copy was read.
        second: String,
    },
}

impl Error {
    pub(crate) fn bad_input(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::BadInput {
            what: what.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn bad_file(path: impl Into<PathBuf>, reason: impl std::fmt::Display) -> Self {
        Error::BadArchiveFile {
            path: path.into(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// `text` cut to its first `chars` characters, for quoting a caller's input in an error.
pub(crate) fn truncate(text: &str, chars: usize) -> String {
    text.chars().take(chars).collect()
}
