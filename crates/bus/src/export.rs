//! Export of the cluster's audit stream into the Parquet archive (`haechi audit export --bus`):
//! incremental from the marker, each node's chain checked link by link on the way, files
//! written whole before the marker that commits them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use async_nats::jetstream::stream::Stream;
use haechi_audit::{
    AuditRecord, Chain, Checkpoint, ExportOptions, GENESIS_HASH, write_archive_checkpoints,
    write_chain_files,
};

use crate::Error;
use crate::archive::{
    ExportMarker, NodeHead, node_archive_dir, node_checkpoints, read_marker, remove_uncommitted,
    write_marker,
};
use crate::names::{Names, NodeId};
use crate::reader::{ClusterAuditReader, EntryContent, StreamEntry};

/// Records held in memory before they are written out and committed: one row group's worth,
/// about 60 MB of records, so a long stream is exported in bounded memory.
const FLUSH_RECORDS: usize = 128 * 1024;

/// What [`crate::Bus::export`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamExportReport {
    /// The stream read.
    pub stream: String,
    /// The first stream sequence this export read (the one after the marker).
    pub from_sequence: u64,
    /// The last stream sequence now exported (the marker's).
    pub through_sequence: u64,
    /// Records written, over every node.
    pub records: u64,
    /// Checkpoints added to the nodes' `_checkpoints`.
    pub checkpoints: u64,
    /// Each node's seqs written by this export, first and last.
    pub nodes: BTreeMap<NodeId, (u64, u64)>,
    /// Parquet files written.
    pub files_written: Vec<PathBuf>,
    /// Their bytes.
    pub bytes_written: u64,
    /// Messages that are in no node's chain and were not archived (a message where no audit
    /// message belongs, a checkpoint that does not decode): stream sequence and subject.
    /// `haechi audit verify --bus` reports them as tampering.
    pub skipped: Vec<(u64, String)>,
    /// Files an interrupted export had left beyond the marker, removed before writing.
    pub uncommitted_removed: Vec<PathBuf>,
}

/// Exports every message of `stream` after the marker in `to_dir` (see
/// [`crate::Bus::export`]).
pub(crate) async fn export_stream(
    stream: &Stream,
    names: &Names,
    to_dir: &Path,
    options: &ExportOptions,
) -> Result<StreamExportReport, Error> {
    if options.row_group_rows == 0 {
        return Err(Error::config("row_group_rows must be at least 1"));
    }
    let archive_error = |reason: String| Error::Archive {
        dir: to_dir.to_path_buf(),
        reason,
    };
    std::fs::create_dir_all(to_dir).map_err(|error| archive_error(error.to_string()))?;
    let marker = match read_marker(to_dir)? {
        Some(marker) if marker.stream != names.stream() => {
            return Err(archive_error(format!(
                "it holds the export of stream {}, not {}",
                marker.stream,
                names.stream()
            )));
        }
        Some(marker) => marker,
        None => {
            refuse_foreign_files(to_dir)?;
            ExportMarker::empty(names.stream())
        }
    };
    let uncommitted_removed = remove_uncommitted(to_dir, &marker)?;

    let mut export = Export {
        to_dir: to_dir.to_path_buf(),
        options: *options,
        marker,
        buffered: BTreeMap::new(),
        buffered_records: 0,
        report: StreamExportReport {
            stream: names.stream().to_string(),
            uncommitted_removed,
            ..StreamExportReport::default()
        },
    };
    let from = export.marker.through + 1;
    export.report.from_sequence = from;
    let mut reader =
        ClusterAuditReader::open_from(stream, names, names.all_subjects(), from).await?;
    let mut read_through = export.marker.through;
    while let Some(entry) = reader.next_entry().await? {
        let sequence = entry.sequence;
        if let Err(reason) = export.take(entry) {
            // Everything before this message is whole: commit it, then stop.
            export.commit(read_through)?;
            return Err(reason);
        }
        read_through = sequence;
        if export.buffered_records >= FLUSH_RECORDS {
            export.commit(read_through)?;
        }
    }
    export.commit(read_through)?;
    Ok(export.report)
}

/// A directory without a marker must hold nothing an export could be confused with.
fn refuse_foreign_files(dir: &Path) -> Result<(), Error> {
    let entries = std::fs::read_dir(dir).map_err(|error| Error::Archive {
        dir: dir.to_path_buf(),
        reason: error.to_string(),
    })?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') {
            return Err(Error::Archive {
                dir: dir.to_path_buf(),
                reason: format!(
                    "it holds {name} but no export marker: it is not the cluster's archive \
                     (perhaps a single log's); export the stream into an empty directory"
                ),
            });
        }
    }
    Ok(())
}

/// Records and checkpoints waiting to be written, per node.
#[derive(Default)]
struct Pending {
    records: Vec<AuditRecord>,
    checkpoints: Vec<Checkpoint>,
}

/// One export in progress: the marker as last committed, and what is read since.
struct Export {
    to_dir: PathBuf,
    options: ExportOptions,
    marker: ExportMarker,
    buffered: BTreeMap<NodeId, Pending>,
    buffered_records: usize,
    report: StreamExportReport,
}

impl Export {
    /// The chain's head after what is buffered for `node`.
    fn head(&self, node: &NodeId) -> (u64, [u8; 32]) {
        if let Some(last) = self
            .buffered
            .get(node)
            .and_then(|pending| pending.records.last())
        {
            return (last.seq, last.hash);
        }
        self.marker
            .nodes
            .get(node.as_str())
            .map_or((0, GENESIS_HASH), |head| (head.last_seq, head.last_hash))
    }

    /// Takes one message: a record must continue its node's chain exactly.
    fn take(&mut self, entry: StreamEntry) -> Result<(), Error> {
        let stopped = |reason: String| Error::ExportStopped {
            stream: self.report.stream.clone(),
            sequence: entry.sequence,
            subject: entry.subject.clone(),
            reason,
        };
        match entry.content {
            EntryContent::Record {
                node,
                record,
                computed_hash,
            } => {
                let (last_seq, last_hash) = self.head(&node);
                if computed_hash != record.hash {
                    return Err(stopped(format!(
                        "node {node}'s record seq {} does not match its stored hash (altered)",
                        record.seq
                    )));
                }
                if record.seq != last_seq + 1 {
                    let reason = if last_seq == 0 {
                        format!(
                            "node {node}'s chain begins here at seq {}, not 1: its earlier \
                             records were pruned into another archive; export into that one",
                            record.seq
                        )
                    } else {
                        format!(
                            "node {node}'s record seq {} where seq {} was expected",
                            record.seq,
                            last_seq + 1
                        )
                    };
                    return Err(stopped(reason));
                }
                if record.prev_hash != last_hash {
                    return Err(stopped(format!(
                        "node {node}'s record seq {} does not link to seq {last_seq}",
                        record.seq
                    )));
                }
                self.buffered.entry(node).or_default().records.push(record);
                self.buffered_records += 1;
            }
            EntryContent::Checkpoint { node, checkpoint } => {
                self.buffered
                    .entry(node)
                    .or_default()
                    .checkpoints
                    .push(checkpoint);
            }
            EntryContent::Undecodable { .. } | EntryContent::Foreign => {
                self.report.skipped.push((entry.sequence, entry.subject));
            }
        }
        Ok(())
    }

    /// Writes what is buffered — every node's Parquet files, then its checkpoints — and then
    /// the marker saying the stream is exported through `through`.
    fn commit(&mut self, through: u64) -> Result<(), Error> {
        for (node, pending) in std::mem::take(&mut self.buffered) {
            let dir = node_archive_dir(&self.to_dir, &node);
            if let (Some(first), Some(last)) = (pending.records.first(), pending.records.last()) {
                let written = write_chain_files(
                    &dir,
                    Chain::Node(node.as_str()),
                    &pending.records,
                    &self.options,
                )?;
                for file in written {
                    self.report.records += file.records;
                    self.report.bytes_written += file.bytes;
                    self.report.files_written.push(file.path);
                }
                let span = self
                    .report
                    .nodes
                    .entry(node.clone())
                    .or_insert((first.seq, last.seq));
                span.1 = last.seq;
                self.marker.nodes.insert(
                    node.as_str().to_string(),
                    NodeHead {
                        last_seq: last.seq,
                        last_hash: last.hash,
                    },
                );
            }
            if !pending.checkpoints.is_empty() {
                std::fs::create_dir_all(&dir).map_err(|error| Error::Archive {
                    dir: dir.clone(),
                    reason: error.to_string(),
                })?;
                let mut checkpoints = node_checkpoints(&dir)?;
                for checkpoint in pending.checkpoints {
                    if !checkpoints.contains(&checkpoint) {
                        checkpoints.push(checkpoint);
                        self.report.checkpoints += 1;
                    }
                }
                write_archive_checkpoints(&dir, &checkpoints)?;
            }
        }
        self.buffered_records = 0;
        self.marker.through = self.marker.through.max(through);
        self.report.through_sequence = self.marker.through;
        write_marker(&self.to_dir, &self.marker)
    }
}
