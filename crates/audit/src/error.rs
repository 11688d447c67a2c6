//! The one error type of the audit crate.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong in the audit trail, in the terms an operator or auditor acts on.
///
/// Tampering found by [`crate::verify`] is not an error: it is a finding in the
/// [`crate::VerifyReport`]. An `Error` means the operation itself could not be carried out.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a file of the audit directory or archive failed (disk full, file
    /// missing, permissions). The path says which file.
    #[error("audit file {path}: {source}")]
    Io {
        /// The file or directory the operation was on.
        path: PathBuf,
        /// What the operating system reported.
        #[source]
        source: io::Error,
    },

    /// Bytes that should hold one canonical audit record do not: wrong version, truncated, an
    /// unknown tag, invalid UTF-8 or trailing bytes. Haechi never writes such bytes, so they
    /// were damaged or were not written by Haechi.
    #[error("malformed audit record: {reason}")]
    MalformedRecord {
        /// What exactly is wrong.
        reason: String,
    },

    /// A segment is damaged somewhere other than its very end. A crash can only tear the last
    /// frame of the last segment; anything else is disk corruption or tampering, so the log
    /// refuses to open rather than guess.
    #[error("audit segment {path} is corrupt at byte {offset}: {reason}")]
    CorruptSegment {
        /// The segment file.
        path: PathBuf,
        /// Byte offset of the damaged frame or header.
        offset: u64,
        /// What is wrong there.
        reason: String,
    },

    /// The `checkpoints` file is damaged before its end, or a checkpoint signs a record the
    /// log no longer has (the log was cut back after it was signed).
    #[error("audit checkpoints {path}: {reason}")]
    CorruptCheckpoints {
        /// The checkpoints file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// The log stopped accepting records after a write or `fsync` failed (fail closed): no
    /// later record is accepted until the process restarts and the log is reopened.
    #[error("the audit log has failed and accepts no records: {reason}")]
    Failed {
        /// The first failure, which put the log in this state.
        reason: String,
    },

    /// The log has records its replica (the cluster's stream) has not acknowledged: the
    /// replica is unreachable or was, and the records from `first_unreplicated` on are durable
    /// on this node's disk only. Until the writer has republished them (it retries on its own,
    /// with backoff), every new record is refused, so the server answers 503 rather than
    /// acknowledge an act the cluster has no record of.
    #[error(
        "the audit log's records from seq {first_unreplicated} are not replicated ({reason}); \
         new records are refused until the replica has caught up"
    )]
    Unreplicated {
        /// The first seq the replica has not acknowledged.
        first_unreplicated: u64,
        /// Why the last attempt failed.
        reason: String,
    },

    /// The replica holds records of this log up to `replica_seq`, beyond the local log's end
    /// at `local_seq`: this node's disk lost records it had acknowledged (restored from an old
    /// backup, or a new disk), or another process writes under the same node id. Writing on
    /// would fork the chain, so the log refuses to open (or, running, fails closed).
    #[error(
        "the audit replica {replica} holds this node's records up to seq {replica_seq}, but the \
         local log ends at seq {local_seq}: the local disk lost acknowledged records or another \
         process uses this node id; refusing to fork the chain"
    )]
    ReplicaAhead {
        /// The replica, as it names itself (no credentials).
        replica: String,
        /// The last seq the replica holds for this log.
        replica_seq: u64,
        /// The last seq of the local log.
        local_seq: u64,
    },

    /// The replica holds a record under one of this log's seqs that is not the local record
    /// there: another process wrote under the same node id, or the stream was tampered with.
    /// The log refuses to open (or, running, fails closed) rather than continue either chain.
    #[error("the audit replica {replica} disagrees with the local log: {reason}")]
    ReplicaDiverged {
        /// The replica, as it names itself (no credentials).
        replica: String,
        /// Which seq disagrees and how.
        reason: String,
    },

    /// Another writer (this process or another) has the log directory open; two writers would
    /// interleave their records and break the chain.
    #[error("the audit log in {dir} is already open for writing")]
    InUse {
        /// The log directory.
        dir: PathBuf,
    },

    /// A checkpoint witness could not be set up or read back: an unknown scheme, a malformed
    /// address, or a witness file that cannot be read. (A witness that fails to *receive* a
    /// checkpoint is not an error of the log: it is retried and reported, see
    /// [`crate::WitnessStatus`].)
    #[error("audit witness {witness}: {reason}")]
    Witness {
        /// The witness address as configured.
        witness: String,
        /// What is wrong.
        reason: String,
    },

    /// The log was shut down; it accepts no records and delivers no live events.
    #[error("the audit log is shut down")]
    Closed,

    /// Records that were asked for were deleted from the live log by retention
    /// ([`crate::prune_log`]); they are only in the Parquet archive now.
    #[error(
        "audit records from seq {requested} were pruned from the live log, which now starts at seq {oldest}"
    )]
    Pruned {
        /// The first sequence number asked for.
        requested: u64,
        /// The oldest sequence number the live log still holds.
        oldest: u64,
    },

    /// A Parquet archive file could not be written, or a file in an archive directory is not a
    /// Haechi audit archive (wrong columns, wrong types, values that do not decode).
    #[error("audit archive {path}: {reason}")]
    Archive {
        /// The archive file or directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// A public key for checking checkpoints could not be parsed or encoded.
    #[error("audit public key: {reason}")]
    Key {
        /// What is wrong with the key text.
        reason: String,
    },

    /// The configuration cannot work (for example a zero queue capacity).
    #[error("invalid audit configuration: {reason}")]
    Config {
        /// Which setting and why.
        reason: String,
    },

    /// A background task of the audit crate (the writer thread or a blocking reader) stopped
    /// without answering; the log must be treated as failed.
    #[error("an audit background task stopped unexpectedly: {reason}")]
    Task {
        /// What stopped.
        reason: String,
    },
}

impl Error {
    /// Wraps an I/O error with the path it happened on.
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// A malformed-record error with the given reason.
    pub(crate) fn malformed(reason: impl Into<String>) -> Self {
        Error::MalformedRecord {
            reason: reason.into(),
        }
    }

    /// An archive error for `path`.
    pub(crate) fn archive(path: impl Into<PathBuf>, reason: impl std::fmt::Display) -> Self {
        Error::Archive {
            path: path.into(),
            reason: reason.to_string(),
        }
    }
}

/// Adds the path to an `io::Result`, so every I/O error says which file it was about.
pub(crate) trait IoContext<T> {
    /// Maps the error into [`Error::Io`] for `path`.
    fn at(self, path: &std::path::Path) -> Result<T, Error>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, path: &std::path::Path) -> Result<T, Error> {
        self.map_err(|source| Error::io(path, source))
    }
}
