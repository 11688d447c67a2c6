//! The one error type of the crate.

use haechi_events::{SinkError, StoreError};

/// Why containment refused to act, or the detection pipeline could not do its work.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request itself is wrong (a network too wide, a protected network, a bad ttl, a
    /// principal that cannot be suspended).
    #[error("{0}")]
    Invalid(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The audit trail refused the event (the act itself was done and is kept).
    #[error("the audit trail cannot record this act: {0}")]
    Audit(#[from] SinkError),
    /// The audit log could not be read (the warm-up).
    #[error("cannot read the audit log")]
    AuditLog(#[source] haechi_audit::Error),
    /// The warm-up thread failed.
    #[error("the warm-up thread failed")]
    WarmUp(#[source] tokio::task::JoinError),
    /// A file could not be read or written (detection's resume point).
    #[error("{context}")]
    File {
        /// What was being done, with the path.
        context: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Detection's resume point does not hold a sequence number.
    #[error("{path} does not hold a sequence number")]
    ResumePoint {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::num::ParseIntError,
    },
    /// The cluster's bus failed (taking the detection feed over, reading the stream's
    /// history).
    #[error("the cluster's bus failed")]
    Bus(#[source] haechi_bus::Error),
    /// The webhook's HTTP client could not be built.
    #[error("cannot build the webhook client")]
    WebhookClient(#[source] reqwest::Error),
    /// The webhook's TLS could not be set up (a CA file that cannot be read, no roots).
    #[error("cannot set up the webhook's TLS")]
    WebhookTls(#[source] haechi_outbound::Error),
}

/// `error` with its causes, `: `-separated, for the log.
pub(crate) fn report(error: &Error) -> String {
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(source) = cause {
        text.push_str(": ");
        text.push_str(&source.to_string());
        cause = source.source();
    }
    text
}
