//! Writing Parquet archive files: row groups, statistics, bloom filters and the format
//! marker, each file through a temporary name so a crash leaves whole files only.

use std::fs::File;
use std::path::{Path, PathBuf};

use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::{KeyValue, SortingColumn};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use super::layout::{ARCHIVE_CHECKPOINTS_FILE, CHAIN_KEY, day_of, day_runs, file_name};
use super::schema::{FORMAT_KEY, FORMAT_VERSION, archive_schema, to_record_batch};
use crate::checkpoint::{Checkpoint, ENTRY_LEN};
use crate::error::IoContext;
use crate::segment::{sync_dir, write_atomically};
use crate::{AuditRecord, Error};

/// Columns with bloom filters: the ones forensic questions select on ("everything this token,
/// key, session, network, customer or principal did").
const BLOOM_COLUMNS: &[&str] = &[
    "ip",
    "ip_bin",
    "kid",
    "jti",
    "sid",
    "customer_id",
    "principal",
];
/// False-positive rate of those bloom filters: a query by token id over 100 M events touches
/// ~760 row groups, and 1 % keeps the needless reads to a handful.
const BLOOM_FPP: f64 = 0.01;

/// How [`export`](crate::export) writes Parquet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportOptions {
    /// Rows per row group (default 131 072): large enough for good compression and few
    /// footers, small enough that statistics and bloom filters skip most of a file.
    pub row_group_rows: usize,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            row_group_rows: 128 * 1024,
        }
    }
}

fn writer_properties(
    records: &[AuditRecord],
    chain: Chain<'_>,
    options: &ExportOptions,
) -> WriterProperties {
    let first = records.first().map_or(0, |record| record.seq);
    let last = records.last().map_or(0, |record| record.seq);
    let rows_per_group = options.row_group_rows.min(records.len().max(1));
    let mut metadata = vec![
        KeyValue::new(FORMAT_KEY.to_string(), FORMAT_VERSION.to_string()),
        KeyValue::new("haechi.audit.first_seq".to_string(), first.to_string()),
        KeyValue::new("haechi.audit.last_seq".to_string(), last.to_string()),
    ];
    if let Chain::Node(node) = chain {
        metadata.push(KeyValue::new(CHAIN_KEY.to_string(), node.to_string()));
    }
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(options.row_group_rows))
        // Rows are in seq order; declaring it lets engines skip a sort.
        .set_sorting_columns(Some(vec![SortingColumn {
            column_idx: 0,
            descending: false,
            nulls_first: false,
        }]))
        .set_key_value_metadata(Some(metadata));
    for column in BLOOM_COLUMNS {
        let path = ColumnPath::from(*column);
        builder = builder
            .set_column_bloom_filter_enabled(path.clone(), true)
            .set_column_bloom_filter_fpp(path.clone(), BLOOM_FPP)
            // Sized for a full row group (or the whole file if smaller); the writer folds the
            // filter down to the distinct values it actually saw.
            .set_column_bloom_filter_max_ndv(path, rows_per_group as u64);
    }
    builder.build()
}

/// Writes `records` to `path` through a temporary file; returns the bytes written.
pub(super) fn write_parquet_file(
    path: &Path,
    records: &[AuditRecord],
    chain: Chain<'_>,
    options: &ExportOptions,
) -> Result<u64, Error> {
    let parent = path
        .parent()
        .ok_or_else(|| Error::archive(path, "archive file has no directory"))?;
    std::fs::create_dir_all(parent).at(parent)?;
    // A dot prefix hides a temporary left by a crash from dataset readers.
    let temporary = parent.join(format!(".{}.tmp", file_name(path)));
    let file = File::create(&temporary).at(&temporary)?;
    let properties = writer_properties(records, chain, options);
    let mut writer = ArrowWriter::try_new(file, archive_schema(), Some(properties))
        .map_err(|error| Error::archive(&temporary, error))?;
    // Batches of a row group each keep memory bounded for large segments.
    for chunk in records.chunks(options.row_group_rows) {
        let batch = to_record_batch(chunk).map_err(|error| Error::archive(&temporary, error))?;
        writer
            .write(&batch)
            .map_err(|error| Error::archive(&temporary, error))?;
    }
    let file = writer
        .into_inner()
        .map_err(|error| Error::archive(&temporary, error))?;
    file.sync_all().at(&temporary)?;
    let bytes = file.metadata().at(&temporary)?.len();
    drop(file);
    std::fs::rename(&temporary, path).at(path)?;
    sync_dir(parent)?;
    Ok(bytes)
}

/// Writes `records` as one archive file under `to_dir`, exactly as [`export`](crate::export) writes a run
/// (`day=YYYY-MM-DD/part-<first>-<last>.parquet`, same schema, row groups, statistics, bloom
/// filters and markers), and returns its path. For writers of archives that do not come from
/// a live log — the forensics crate's benchmark and drill generator. The records must be
/// non-empty, have consecutive seqs and lie in one UTC day; the chain is the caller's (write
/// records made with [`AuditRecord::chained`] and `haechi audit verify` checks them). A file
/// that exists is never rewritten.
pub fn write_archive_file(
    to_dir: &Path,
    records: &[AuditRecord],
    options: &ExportOptions,
) -> Result<PathBuf, Error> {
    let (Some(first), Some(last)) = (records.first(), records.last()) else {
        return Err(Error::archive(to_dir, "no records to write"));
    };
    if options.row_group_rows == 0 {
        return Err(Error::Config {
            reason: "row_group_rows must be at least 1".into(),
        });
    }
    let day = day_of(first.event.time);
    let consecutive = records
        .windows(2)
        .all(|pair| pair[1].seq == pair[0].seq + 1);
    if !consecutive
        || records
            .iter()
            .any(|record| day_of(record.event.time) != day)
    {
        return Err(Error::archive(
            to_dir,
            "an archive file holds consecutive seqs of one UTC day",
        ));
    }
    let path = to_dir
        .join(format!("day={day}"))
        .join(format!("part-{:012}-{:012}.parquet", first.seq, last.seq));
    if path.exists() {
        return Err(Error::archive(&path, "archive file exists already"));
    }
    write_parquet_file(&path, records, Chain::Log, options)?;
    Ok(path)
}

/// Whose chain an archive file holds. Seqs are unique only within one chain: readers that
/// join records across files (`haechi scope`) join by chain and seq.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chain<'a> {
    /// The chain of the log the archive was exported from (a single node's own log): files
    /// carry no chain name, exactly as before cluster archives existed.
    Log,
    /// Node `id`'s chain in a cluster's audit stream: each file carries the footer key
    /// `haechi.audit.node = id`, and sits under `node=<id>/` of the archive.
    Node(&'a str),
}

/// One file [`write_chain_files`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenFile {
    /// Its path.
    pub path: PathBuf,
    /// Records in it.
    pub records: u64,
    /// Its size in bytes.
    pub bytes: u64,
}

/// Writes seq-consecutive `records` of one chain under `to_dir` as [`export`](crate::export)
/// writes a segment: split into runs of one UTC day, each a
/// `day=YYYY-MM-DD/part-<first>-<last>.parquet` file with the same schema, row groups,
/// statistics, bloom filters and markers, through a temporary name. For the cluster's export
/// from its stream (`haechi-bus`), which passes [`Chain::Node`] and `to_dir` =
/// `<archive>/node=<id>`. A file that exists is never rewritten (an error).
pub fn write_chain_files(
    to_dir: &Path,
    chain: Chain<'_>,
    records: &[AuditRecord],
    options: &ExportOptions,
) -> Result<Vec<WrittenFile>, Error> {
    if options.row_group_rows == 0 {
        return Err(Error::Config {
            reason: "row_group_rows must be at least 1".into(),
        });
    }
    if records
        .windows(2)
        .any(|pair| pair[1].seq != pair[0].seq + 1)
    {
        return Err(Error::archive(
            to_dir,
            "an archive file holds consecutive seqs of one chain",
        ));
    }
    let mut written = Vec::new();
    for run in day_runs(records) {
        let (Some(first), Some(last)) = (run.first(), run.last()) else {
            continue;
        };
        let path = to_dir
            .join(format!("day={}", day_of(first.event.time)))
            .join(format!("part-{:012}-{:012}.parquet", first.seq, last.seq));
        if path.exists() {
            return Err(Error::archive(&path, "archive file exists already"));
        }
        let bytes = write_parquet_file(&path, run, chain, options)?;
        written.push(WrittenFile {
            path,
            records: run.len() as u64,
            bytes,
        });
    }
    Ok(written)
}

/// Writes the `_checkpoints` copy of an archive directory from checkpoints the caller signed
/// (the generator's counterpart of the copy [`export`](crate::export) makes), replacing any there.
pub fn write_archive_checkpoints(to_dir: &Path, checkpoints: &[Checkpoint]) -> Result<(), Error> {
    std::fs::create_dir_all(to_dir).at(to_dir)?;
    let mut bytes = Vec::with_capacity(checkpoints.len() * ENTRY_LEN);
    for checkpoint in checkpoints {
        bytes.extend_from_slice(&checkpoint.encode());
    }
    write_atomically(&to_dir.join(ARCHIVE_CHECKPOINTS_FILE), &bytes)
}
