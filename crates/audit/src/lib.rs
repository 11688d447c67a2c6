//! Haechi's audit trail: every security event, durable before the response that caused it,
//! tamper-evident, streamed live, searchable and archived as Parquet.
//!
//! # Bird's-eye view
//!
//! - [`AuditLog`] is the durable [`haechi_events::EventSink`]. `record` hands the event to one
//!   writer thread that takes everything queued (group commit), assigns seqs, chains hashes,
//!   writes one buffer and `fdatasync`s it once, and only then answers every caller. If a write
//!   or sync fails, the log fails closed: every later `record` is refused, and the server
//!   answers 503 rather than serve a read it cannot audit.
//! - Records ([`AuditRecord`]) have one canonical binary encoding ([`record`] module docs);
//!   `hash = SHA-256(domain tag ‖ canonical bytes)` and each record carries the previous hash.
//!   Every N records or T seconds, at every segment seal and at shutdown, the chain head is
//!   signed with a dedicated Ed25519 audit key ([`Checkpoint`]).
//! - On disk: `<dir>/seg-<first seq>.log` segments of framed records (length, CRC32, bytes),
//!   sealed at a size limit and never changed after, plus `<dir>/checkpoints`. Opening the log
//!   truncates a torn final frame and reports it ([`RecoveryReport`]); damage anywhere else is
//!   an error.
//! - [`verify`] checks a log and its Parquet archives against the auditor's public key and
//!   names the exact record altered, removed, inserted or reordered ([`VerifyReport`]).
//! - [`AuditLog::subscribe`] streams records from any seq: replayed from disk, then live; a slow
//!   subscriber falls back to disk and never holds up the writer or misses a record.
//! - Every signed checkpoint also goes to a [`witness`] outside the data directory, so a log
//!   cut back together with its own checkpoints is still caught by `verify` with the witness.
//! - [`read_history`] reads a closed log's whole chain from seq 1 (archived records first),
//!   [`log_checkpoints`] its signed checkpoints, [`hold_log`] takes its writer's lock: what a
//!   move of the deployment to a cluster needs (`haechi migrate`).
//! - [`search`] scans the live log; [`export`] writes sealed segments as day-partitioned
//!   Parquet ([`read_archive`] reads them back); [`prune_log`] deletes only archived segments.
//!
//! # Architecture invariants
//!
//! - Nothing is acknowledged before it is durable, and nothing durable is ever rewritten:
//!   sealed segments are read-only to this crate; the active segment is only appended to, and
//!   only truncated by recovery, and only where a crash tore it.
//! - One writer: seqs and hashes are assigned in exactly one place, in file order.
//! - The crate never holds the audit key's custody: the caller passes a `SigningKey` in.
//!   Disk access of the writer goes through the small [`Storage`] trait so failures can be
//!   injected.

#![forbid(unsafe_code)]

mod archive;
mod checkpoint;
mod error;
mod history;
mod lock;
mod log;
mod openapi;
mod reader;
pub mod record;
mod search;
mod segment;
mod storage;
mod verify;
mod volume;
pub mod witness;

pub use archive::{ArchiveEvents, EventQuery, ReadCounters, read_archive_events};
pub use archive::{
    ArchiveRecords, ExportOptions, ExportReport, PruneMode, PruneOptions, PruneReport,
    archive_schema, export, ip_from_bin, ip_to_bin, prune_closed_log, prune_log, prune_log_with,
    read_archive,
};
pub use checkpoint::{
    CHECKPOINTS_FILE, Checkpoint, KeyId, SignatureCheck, parse_public_key, public_key_hex,
    public_key_jwk, public_key_pem,
};
pub use error::Error;
// A closed log's whole history, for moving a deployment (`haechi migrate`).
pub use history::{HeldLog, HistoryRecords, hold_log, log_checkpoints, read_history};
pub use log::{
    ActiveSegment, AuditLog, AuditLogConfig, Reconciled, RecoveryReport, Repair, Replica,
    ReplicaBatch, ReplicaError, ReplicaHead, ReplicaPosition, Subscription,
};
pub use record::{AuditRecord, GENESIS_HASH, RECORD_FORMAT_VERSION};
// Read-only access to the live log, and archive writing for generators (haechi-forensics).
pub use archive::{write_archive_checkpoints, write_archive_file};
// The cluster's archive, written from its stream (haechi-bus): one chain per node.
pub use archive::{
    ArchiveCheckpoints, ArchivedRecord, CHAIN_KEY, Chain, WrittenFile, read_archive_checkpoints,
    write_chain_files,
};
pub use reader::{LogRecords, read_log};
pub use search::{
    BadParameter, MAX_PAGE, Page, SEARCH_PARAMETERS, SearchFilter, parse_search, search,
};
pub use storage::{AppendFile, FileStorage, Storage};
pub use verify::{ChainVerifier, Location, Notice, Problem, VerifyReport, VerifySources, verify};
pub use volume::{Crossing, VolumeCheck, VolumeSpace, volume_space};
pub use witness::{Witness, WitnessStatus, WitnessedCheckpoints, open_witness};
