//! The one error type of the bus crate.
//!
//! No variant ever carries the NATS URL's user, password or token: addresses appear redacted
//! ([`crate::redact_url`]), and errors of the client are reduced to their kind where their text
//! could hold the address.

/// Everything that can go wrong on the cluster bus, in terms an operator acts on.
///
/// Tampering found by [`crate::verify_cluster`] is not an error: it is a finding in the
/// [`crate::ClusterVerifyReport`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting cannot work: a malformed URL, an unsupported scheme, a prefix or node id that
    /// is not one NATS subject token, zero replicas.
    #[error("invalid bus setting: {reason}")]
    Config {
        /// Which setting and why.
        reason: String,
    },

    /// The NATS server could not be reached or refused the connection.
    #[error("cannot connect to NATS at {url}: {reason}")]
    Connect {
        /// The address, without credentials.
        url: String,
        /// What failed (the client's error kind).
        reason: String,
    },

    /// A JetStream API request failed: the server is unreachable, timed out, or refused it.
    #[error("JetStream {operation} failed: {reason}")]
    JetStream {
        /// What was asked (e.g. "creating stream haechi_audit").
        operation: String,
        /// What the client or server said.
        reason: String,
    },

    /// The audit stream exists with settings that break the audit trail's guarantees (it
    /// would drop or let someone delete records, or has another replica count than
    /// configured). Nothing is changed on the server: an operator decides.
    #[error("JetStream stream {stream} does not fit the audit trail: {reason}")]
    StreamMismatch {
        /// The stream.
        stream: String,
        /// Which setting and what it should be.
        reason: String,
    },

    /// A message of the audit stream that should hold an audit record or checkpoint does
    /// not decode as one: it was not written by Haechi, or was damaged.
    #[error("stream {stream} message {sequence} ({subject}) is not an audit {expected}: {reason}")]
    Undecodable {
        /// The stream.
        stream: String,
        /// The message's sequence in the stream.
        sequence: u64,
        /// Its subject.
        subject: String,
        /// "record" or "checkpoint".
        expected: &'static str,
        /// What is wrong.
        reason: String,
    },

    /// The detection feed's subscription ended (its consumer was deleted, or the connection
    /// was closed for good).
    #[error("the detection feed {name} ended: {reason}")]
    FeedEnded {
        /// The feed's (durable consumer's) name.
        name: String,
        /// Why, as far as is known.
        reason: String,
    },

    /// The audit stream already holds, under a node id, a chain that is not the one being
    /// published there (`haechi migrate --bus`): another log was moved or written under that
    /// id. Nothing was overwritten; choose another node id or find out whose chain it is.
    #[error("the audit stream {stream} already holds another chain under node id {node}: {reason}")]
    ChainConflict {
        /// The node id.
        node: String,
        /// The stream.
        stream: String,
        /// Where the chains part.
        reason: String,
    },

    /// A directory given as the cluster's archive cannot be one: it holds a local archive or
    /// other files, or the export of another stream, or its export marker is damaged.
    #[error("{dir} is not usable as the cluster's archive: {reason}")]
    Archive {
        /// The directory.
        dir: std::path::PathBuf,
        /// Why.
        reason: String,
    },

    /// The export from the stream stopped at a message that does not continue its node's
    /// chain (altered, out of order, a seq used twice): everything before it is archived and
    /// the marker says so; nothing after it is. `haechi audit verify --bus` says more.
    #[error(
        "export stopped at stream {stream} message {sequence} ({subject}): {reason}; \
         everything before it is archived (run haechi audit verify --bus)"
    )]
    ExportStopped {
        /// The stream.
        stream: String,
        /// The message's sequence.
        sequence: u64,
        /// Its subject.
        subject: String,
        /// What is wrong with it.
        reason: String,
    },

    /// `prune` refused, deleting nothing: the stream cannot be purged, or what the bound
    /// selects is not all in the archive, or the stream and the archive do not verify.
    #[error("nothing pruned from stream {stream}: {reason}")]
    PruneRefused {
        /// The stream.
        stream: String,
        /// Why.
        reason: String,
    },

    /// An error of the audit trail itself (reading or verifying records).
    #[error(transparent)]
    Audit(#[from] haechi_audit::Error),
}

impl Error {
    /// A [`Error::JetStream`] for `operation`.
    pub(crate) fn jetstream(operation: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        Error::JetStream {
            operation: operation.into(),
            reason: reason.to_string(),
        }
    }

    /// A [`Error::Config`] with `reason`.
    pub(crate) fn config(reason: impl Into<String>) -> Self {
        Error::Config {
            reason: reason.into(),
        }
    }
}
