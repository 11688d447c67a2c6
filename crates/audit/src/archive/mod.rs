//! The Parquet archive: export of sealed segments, reading archives back, and retention.
//!
//! Layout: `<to_dir>/day=YYYY-MM-DD/part-<first_seq>-<last_seq>.parquet` (seqs zero-padded to
//! 12 digits), one file per run of consecutive records of one UTC day within one segment, so
//! every file holds a contiguous seq range and the archive reads back as one chain. The schema
//! is documented in `docs/audit.md` at the workspace root.
//!
//! The log directory keeps a manifest, `archived` (JSON lines), of which segment went to which
//! files of which archive directory; retention and the verifier read it.

//!
//! Inside, each file is one step: `layout` (directory and file names), `schema` (columns, and
//! a record as a row and back), `write` (Parquet files), `read` (files back into records),
//! `events` (projected, time-pruned events for a hunt, decoded ahead on a thread),
//! `manifest` (the `archived` file), then `export` and `prune` on top of them.

mod events;
mod export;
mod layout;
mod manifest;
mod prune;
mod read;
mod schema;
mod write;

pub use events::{ArchiveEvents, EventQuery, ReadCounters, read_archive_events};
pub use export::{ExportReport, export};
pub(crate) use layout::ARCHIVE_CHECKPOINTS_FILE;
pub use layout::CHAIN_KEY;
pub(crate) use manifest::read_manifest;
pub use prune::{
    PruneMode, PruneOptions, PruneReport, prune_closed_log, prune_log, prune_log_with,
};
pub use read::{
    ArchiveCheckpoints, ArchiveRecords, ArchivedRecord, read_archive, read_archive_checkpoints,
};
pub(crate) use read::{ArchiveFileReader, list_archive_files};
pub use schema::{archive_schema, ip_from_bin, ip_to_bin};
pub use write::{
    Chain, ExportOptions, WrittenFile, write_archive_checkpoints, write_archive_file,
    write_chain_files,
};
