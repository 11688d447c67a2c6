//! The crate's one error type.

use std::io;

/// What can stop a leak-watch pipeline. Messages name the input, never its content.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input could not be read.
    #[error("cannot read {name}")]
    Read {
        /// The input's name.
        name: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The input starts with a UTF-16 byte-order mark.
    #[error(
        "{name} is UTF-16, which cannot be read line by line: convert it first \
         (iconv -f UTF-16 -t UTF-8)"
    )]
    Utf16 {
        /// The input's name.
        name: String,
    },
    /// The input's first lines are not text.
    #[error(
        "{name} does not look like text (its first {sampled_lines} lines hold NUL or control \
         bytes, or bytes that are neither UTF-8 nor CP949/EUC-KR); nothing was read. If it is \
         compressed, decompress it first; to read it anyway, name its encoding with --encoding"
    )]
    NotText {
        /// The input's name.
        name: String,
        /// How many lines were sampled.
        sampled_lines: usize,
    },
    /// No plan for reading the dump (no recognisable column, a bad `--columns`).
    #[error("{name}: {reason}")]
    Plan {
        /// The input's name.
        name: String,
        /// Why.
        reason: haechi_leak::Error,
    },
    /// `--out` names a file of an unknown kind.
    #[error("--out must end in .csv or .jsonl")]
    OutExtension,
    /// The `--out` file could not be created.
    #[error("cannot create {path}")]
    CreateOut {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Writing a report or `--out` failed.
    #[error(transparent)]
    Write(#[from] io::Error),
    /// Encoding a JSON line failed.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// The vault could not estimate its number of customers.
    #[error("cannot count the customers")]
    CountCustomers(#[source] haechi_vault::Error),
    /// The pass over every record failed.
    #[error("cannot open the vault's records")]
    OpenRecords(#[source] haechi_vault::Error),
    /// The snapshot of the blind index could not be read.
    #[error("cannot read the blind index")]
    ReadBlindIndex(#[source] haechi_vault::Error),
    /// The vault refused or failed to confirm a batch.
    #[error(transparent)]
    Confirm(haechi_vault::Error),
    /// A matching task failed.
    #[error(transparent)]
    Task(#[from] tokio::task::JoinError),
    /// The reader thread panicked.
    #[error("the dump reader thread panicked")]
    ReaderPanicked,
    /// The audit log refused a `leak.matched` event.
    #[error("the audit log refused a leak.matched event")]
    Audit(#[source] haechi_events::SinkError),
    /// The exposed identifiers could not be stored.
    #[error("cannot record the exposed identifiers")]
    Exposures(#[source] haechi_events::StoreError),
    /// A scanning thread stopped before the end.
    #[error("a scanning thread stopped")]
    ScannerStopped,
    /// The exposure check's tags could not be read or kept.
    #[error("cannot read or keep the exposure check's tags")]
    CheckTags(#[source] haechi_events::StoreError),
    /// The leak watch's ledger (what it finished) could not be read or written.
    #[error("the leak watch's ledger: {0}")]
    WatchLedger(#[source] haechi_events::StoreError),
    /// A feed's HTTP client could not be built (its CA file).
    #[error("a leak watch source's client: {0}")]
    WatchClient(#[source] haechi_outbound::Error),
    /// The exposure check's key could not evaluate (see [`haechi_leak::Error::CheckKey`]).
    #[error(transparent)]
    Check(haechi_leak::Error),
}
