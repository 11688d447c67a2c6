//! Leak watch's pipelines: the work of `haechi leak match` and `haechi leak scan`, from an
//! opened input to what the operator reads.
//!
//! - [`match_dump`]: a leaked dump matched against the vault. A reader thread decodes and
//!   parses lines in order ([`haechi_leak::dump`]), tasks on every core normalise rows and
//!   ask the vault to confirm them ([`haechi_vault::Vault::confirm_leaked`]), a few batches in
//!   flight at once, and the confirmations fold into customers; then one `leak.matched` event
//!   per customer and the exposed identifiers are recorded, `--out` is written and the summary
//!   printed. [`PreparedDump`] decides the encoding and the plan from the first lines before
//!   any of this starts.
//! - [`scan_text`]: free text scanned for Korean personal data in chunks on every core and
//!   printed in input order.
//! - [`LeakWatch`]: leak sources (drop directories, HTTP feeds) polled continuously, each new
//!   item put through `match_dump`, its outcome recorded, poisoned items quarantined.
//!
//! Both read their input through [`Input`]: lines held to at most [`LINE_CAP`] bytes, longer
//! ones cut and reported. Progress goes to a [`Progress`] the caller supplies (the binary's
//! progress bars).
//!
//! The crate does the IO that [`haechi_leak`] does not — threads, the tokio runtime's tasks,
//! reading the input, writing `--out` — but opens nothing itself: the caller hands it an
//! opened reader, the vault, the event sink, the exposure store and an [`AdminGrant`].
//!
//! **Architecture invariant:** nothing of the input is written anywhere: reports, events and
//! `--out` name line numbers, customer ids and field names; `scan_text` prints findings
//! masked unless told to reveal them. The reader thread and the matching tasks are joined by
//! bounded channels, so memory stays bounded whatever the input's size.
//!
//! [`AdminGrant`]: haechi_token::AdminGrant

#![forbid(unsafe_code)]

mod check;
mod error;
mod input;
mod lines;
mod out;
mod pipeline;
mod progress;
mod scan;
mod watch;
mod words;

pub use check::{CheckAnswer, CheckRefresh, ExposureCheck};
pub use error::Error;
pub use input::{Input, LINE_CAP};
pub use out::{OutFile, OutFormat};
pub use pipeline::{
    IndexChoice, MatchOutcome, MatchServices, MatchSettings, PreparedDump, match_dump,
};
pub use progress::Progress;
pub use scan::{
    FindingFormat, ScanSettings, ScanSummary, Shown, SmishingSummary, scan_messages, scan_text,
};
pub use watch::{
    ItemOutcome, LeakWatch, SourceHealth, SourceKind, SourceSettings, WatchHealth, WatchServices,
    WatchSettings,
};
