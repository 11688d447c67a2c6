//! The Parquet archive: export of sealed segments, reading archives back, and retention.
//!
//! Layout: `<to_dir>/day=YYYY-MM-DD/part-<first_seq>-<last_seq>.parquet` (seqs zero-padded to
//! 12 digits), one file per run of consecutive records of one UTC day within one segment, so
//! every file holds a contiguous seq range and the archive reads back as one chain. The schema
//! is documented in `docs/audit.md` at the workspace root.
//!
//! The log directory keeps a manifest, `archived` (JSON lines), of which segment went to which
//! files of which archive directory; retention and the verifier read it.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::{IpAddr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{
    FixedSizeBinaryBuilder, ListBuilder, StringBuilder, TimestampMicrosecondBuilder, UInt16Builder,
    UInt64Builder,
};
use arrow_array::{
    Array, ArrayRef, FixedSizeBinaryArray, ListArray, RecordBatch, StringArray,
    TimestampMicrosecondArray, UInt16Array, UInt64Array,
};
use arrow_schema::{DataType, Field, FieldRef, Schema, SchemaRef, TimeUnit};
use haechi_events::{Decision, EventKind, Principal, SecurityEvent, Timestamp};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::basic::Compression;
use parquet::file::metadata::{KeyValue, SortingColumn};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{CHECKPOINTS_FILE, Checkpoint, ENTRY_LEN, read_checkpoints};
use crate::error::IoContext;
use crate::segment::{list_segments, read_records, sync_dir, write_atomically};
use crate::{AuditRecord, Error};

/// Name of the checkpoint copy in an archive directory. The leading underscore makes dataset
/// readers (pyarrow, Spark, DuckDB's hive partitioning) skip it when they scan the directory.
pub(crate) const ARCHIVE_CHECKPOINTS_FILE: &str = "_checkpoints";
/// Name of the manifest of archived segments in the log directory.
pub(crate) const MANIFEST_FILE: &str = "archived";
/// Key-value metadata key that marks a Parquet file as a Haechi audit archive.
const FORMAT_KEY: &str = "haechi.audit.format";
/// The archive schema version.
const FORMAT_VERSION: &str = "1";
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

/// How [`export`] writes Parquet.
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

/// What an export did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportReport {
    /// Sealed segments exported by this call.
    pub segments_exported: usize,
    /// Sealed segments already in this archive (export is idempotent).
    pub segments_already_archived: usize,
    /// Records written.
    pub records: u64,
    /// Parquet files written.
    pub files_written: Vec<PathBuf>,
    /// Files that already existed and were left alone.
    pub files_skipped: usize,
    /// Bytes of Parquet written.
    pub bytes_written: u64,
}

/// One line of the `archived` manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ManifestEntry {
    /// The segment's file name.
    pub segment: String,
    /// Its first seq.
    pub first_seq: u64,
    /// Its last seq (`first_seq - 1` for a segment without records).
    pub last_seq: u64,
    /// The archive directory (absolute).
    pub archive_dir: PathBuf,
    /// The Parquet files, relative to `archive_dir`, in seq order.
    pub files: Vec<PathBuf>,
}

/// Reads the manifest of archived segments (empty if there is none).
pub(crate) fn read_manifest(log_dir: &Path) -> Result<Vec<ManifestEntry>, Error> {
    let path = log_dir.join(MANIFEST_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if crate::segment::is_not_found(&error) => return Ok(Vec::new()),
        Err(error) => return Err(Error::io(path, error)),
    };
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            serde_json::from_str(line)
                .map_err(|error| Error::archive(&path, format!("bad manifest line: {error}")))
        })
        .collect()
}

fn write_manifest(log_dir: &Path, entries: &[ManifestEntry]) -> Result<(), Error> {
    let mut text = String::new();
    for entry in entries {
        let line = serde_json::to_string(entry)
            .map_err(|error| Error::archive(log_dir.join(MANIFEST_FILE), error))?;
        text.push_str(&line);
        text.push('\n');
    }
    write_atomically(&log_dir.join(MANIFEST_FILE), text.as_bytes())
}

/// Exports every sealed segment of the log in `log_dir` that is not yet in `to_dir` as
/// Parquet, partitioned by day. The active (last) segment is never touched; seal it first with
/// [`crate::AuditLog::export`] to include it. Idempotent: segments already exported there are
/// skipped, and files that exist are never rewritten. Each file is written to a temporary name
/// and renamed, so a crash leaves whole files only.
pub fn export(
    log_dir: &Path,
    to_dir: &Path,
    options: &ExportOptions,
) -> Result<ExportReport, Error> {
    if options.row_group_rows == 0 {
        return Err(Error::Config {
            reason: "row_group_rows must be at least 1".into(),
        });
    }
    std::fs::create_dir_all(to_dir).at(to_dir)?;
    let to_dir = to_dir.canonicalize().at(to_dir)?;
    let segments = list_segments(log_dir)?;
    let mut manifest = read_manifest(log_dir)?;
    let mut report = ExportReport::default();
    let mut max_archived_seq = 0;

    let sealed = segments.len().saturating_sub(1);
    for (index, segment) in segments.iter().take(sealed).enumerate() {
        let name = file_name(&segment.path);
        let last_seq = segments[index + 1].first_seq - 1;
        max_archived_seq = max_archived_seq.max(last_seq);
        let already = manifest.iter().any(|entry| {
            entry.segment == name
                && entry.archive_dir == to_dir
                && entry.files.iter().all(|file| to_dir.join(file).is_file())
        });
        if already {
            report.segments_already_archived += 1;
            continue;
        }
        let mut records = Vec::new();
        read_records(&segment.path, |stored| records.push(stored.record))?;
        let mut files = Vec::new();
        for run in day_runs(&records) {
            let (Some(first), Some(last)) = (run.first(), run.last()) else {
                continue;
            };
            let relative = PathBuf::from(format!("day={}", day_of(first.event.time)))
                .join(format!("part-{:012}-{:012}.parquet", first.seq, last.seq));
            let path = to_dir.join(&relative);
            files.push(relative);
            if path.exists() {
                report.files_skipped += 1;
                continue;
            }
            let bytes = write_parquet_file(&path, run, options)?;
            report.bytes_written += bytes;
            report.records += run.len() as u64;
            report.files_written.push(path);
        }
        manifest.retain(|entry| !(entry.segment == name && entry.archive_dir == to_dir));
        manifest.push(ManifestEntry {
            segment: name,
            first_seq: segment.first_seq,
            last_seq,
            archive_dir: to_dir.clone(),
            files,
        });
        write_manifest(log_dir, &manifest)?;
        report.segments_exported += 1;
    }

    // The archive carries the checkpoints that cover it, so an auditor given only the archive
    // can still check it against the audit key.
    copy_checkpoints(log_dir, &to_dir, max_archived_seq)?;
    Ok(report)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn copy_checkpoints(log_dir: &Path, to_dir: &Path, max_seq: u64) -> Result<(), Error> {
    if max_seq == 0 {
        return Ok(());
    }
    let checkpoints = read_checkpoints(&log_dir.join(CHECKPOINTS_FILE))?;
    let mut bytes = Vec::with_capacity(checkpoints.entries.len() * ENTRY_LEN);
    for (_, entry) in checkpoints.entries {
        // Damaged entries are left to the verifier of the log; the archive copy holds only
        // whole checkpoints of records it contains.
        if let Ok(checkpoint) = entry
            && checkpoint.seq <= max_seq
        {
            bytes.extend_from_slice(&checkpoint.encode());
        }
    }
    write_atomically(&to_dir.join(ARCHIVE_CHECKPOINTS_FILE), &bytes)
}

/// The UTC date of `time` as `YYYY-MM-DD` (`unknown` outside the calendar's range).
fn day_of(time: Timestamp) -> String {
    let nanos = i128::from(time.as_micros()) * 1000;
    match time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
        Ok(datetime) => {
            let date = datetime.date();
            format!(
                "{:04}-{:02}-{:02}",
                date.year(),
                u8::from(date.month()),
                date.day()
            )
        }
        Err(_) => "unknown".into(),
    }
}

/// Splits seq-ordered records into maximal runs of one day. Event times of concurrent requests
/// can straddle midnight out of seq order; splitting into runs (rather than grouping by day)
/// keeps every file a contiguous seq range.
fn day_runs(records: &[AuditRecord]) -> Vec<&[AuditRecord]> {
    let mut runs = Vec::new();
    let mut start = 0;
    for index in 1..=records.len() {
        let boundary = index == records.len()
            || day_of(records[index].event.time) != day_of(records[start].event.time);
        if boundary {
            runs.push(&records[start..index]);
            start = index;
        }
    }
    runs
}

/// The archive's Arrow schema; column names are the spec's audit-event fields.
pub fn archive_schema() -> SchemaRef {
    let text = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        Field::new("seq", DataType::UInt64, false),
        Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        text("kind", false),
        text("principal", false),
        text("sid", true),
        text("jti", true),
        text("kid", true),
        text("ip", true),
        Field::new("ip_bin", DataType::FixedSizeBinary(16), true),
        text("user_agent", true),
        text("customer_id", true),
        Field::new("fields", DataType::List(fields_item()), false),
        text("purpose", true),
        text("decision", false),
        Field::new("status", DataType::UInt16, false),
        text("request_id", true),
        text("reason", true),
        text("detail", true),
        Field::new("prev_hash", DataType::FixedSizeBinary(32), false),
        Field::new("hash", DataType::FixedSizeBinary(32), false),
    ]))
}

fn fields_item() -> FieldRef {
    Arc::new(Field::new("item", DataType::Utf8, false))
}

/// An address as 16 bytes, IPv4 mapped into IPv6 (`::ffff:a.b.c.d`), so one fixed-width column
/// answers predicates on both families.
pub fn ip_to_bin(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

fn to_record_batch(records: &[AuditRecord]) -> Result<RecordBatch, String> {
    let rows = records.len();
    let mut seq = UInt64Builder::with_capacity(rows);
    let mut time = TimestampMicrosecondBuilder::with_capacity(rows).with_timezone("UTC");
    let mut kind = StringBuilder::new();
    let mut principal = StringBuilder::new();
    let mut sid = StringBuilder::new();
    let mut jti = StringBuilder::new();
    let mut kid = StringBuilder::new();
    let mut ip = StringBuilder::new();
    let mut ip_bin = FixedSizeBinaryBuilder::with_capacity(rows, 16);
    let mut user_agent = StringBuilder::new();
    let mut customer_id = StringBuilder::new();
    let mut fields = ListBuilder::new(StringBuilder::new()).with_field(fields_item());
    let mut purpose = StringBuilder::new();
    let mut decision = StringBuilder::new();
    let mut status = UInt16Builder::with_capacity(rows);
    let mut request_id = StringBuilder::new();
    let mut reason = StringBuilder::new();
    let mut detail = StringBuilder::new();
    let mut prev_hash = FixedSizeBinaryBuilder::with_capacity(rows, 32);
    let mut hash = FixedSizeBinaryBuilder::with_capacity(rows, 32);
    for record in records {
        let event = &record.event;
        seq.append_value(record.seq);
        time.append_value(event.time.as_micros());
        kind.append_value(event.kind.as_str());
        principal.append_value(event.principal.to_string());
        sid.append_option(event.sid.as_deref());
        jti.append_option(event.jti.as_deref());
        kid.append_option(event.kid.as_deref());
        ip.append_option(event.ip.map(|address| address.to_string()));
        match event.ip {
            Some(address) => ip_bin
                .append_value(ip_to_bin(address))
                .map_err(|error| error.to_string())?,
            None => ip_bin.append_null(),
        }
        user_agent.append_option(event.user_agent.as_deref());
        customer_id.append_option(event.customer_id.as_deref());
        for field in &event.fields {
            fields.values().append_value(field);
        }
        fields.append(true);
        purpose.append_option(event.purpose.as_deref());
        decision.append_value(event.decision.as_str());
        status.append_value(event.status);
        request_id.append_option(event.request_id.as_deref());
        reason.append_option(event.reason.as_deref());
        if event.detail.is_empty() {
            detail.append_null();
        } else {
            // A BTreeMap serialises with sorted keys: one JSON text per map.
            let json = serde_json::to_string(&event.detail).map_err(|error| error.to_string())?;
            detail.append_value(json);
        }
        prev_hash
            .append_value(record.prev_hash)
            .map_err(|error| error.to_string())?;
        hash.append_value(record.hash)
            .map_err(|error| error.to_string())?;
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(seq.finish()),
        Arc::new(time.finish()),
        Arc::new(kind.finish()),
        Arc::new(principal.finish()),
        Arc::new(sid.finish()),
        Arc::new(jti.finish()),
        Arc::new(kid.finish()),
        Arc::new(ip.finish()),
        Arc::new(ip_bin.finish()),
        Arc::new(user_agent.finish()),
        Arc::new(customer_id.finish()),
        Arc::new(fields.finish()),
        Arc::new(purpose.finish()),
        Arc::new(decision.finish()),
        Arc::new(status.finish()),
        Arc::new(request_id.finish()),
        Arc::new(reason.finish()),
        Arc::new(detail.finish()),
        Arc::new(prev_hash.finish()),
        Arc::new(hash.finish()),
    ];
    RecordBatch::try_new(archive_schema(), columns).map_err(|error| error.to_string())
}

fn writer_properties(records: &[AuditRecord], options: &ExportOptions) -> WriterProperties {
    let first = records.first().map_or(0, |record| record.seq);
    let last = records.last().map_or(0, |record| record.seq);
    let rows_per_group = options.row_group_rows.min(records.len().max(1));
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
        .set_key_value_metadata(Some(vec![
            KeyValue::new(FORMAT_KEY.to_string(), FORMAT_VERSION.to_string()),
            KeyValue::new("haechi.audit.first_seq".to_string(), first.to_string()),
            KeyValue::new("haechi.audit.last_seq".to_string(), last.to_string()),
        ]));
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
fn write_parquet_file(
    path: &Path,
    records: &[AuditRecord],
    options: &ExportOptions,
) -> Result<u64, Error> {
    let parent = path
        .parent()
        .ok_or_else(|| Error::archive(path, "archive file has no directory"))?;
    std::fs::create_dir_all(parent).at(parent)?;
    // A dot prefix hides a temporary left by a crash from dataset readers.
    let temporary = parent.join(format!(".{}.tmp", file_name(path)));
    let file = File::create(&temporary).at(&temporary)?;
    let properties = writer_properties(records, options);
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

/// Every Parquet file under an archive directory, in seq order (by the first seq in the file
/// name; files not named by the exporter sort last, by path).
pub(crate) fn list_archive_files(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).at(&current)? {
            let entry = entry.at(&current)?;
            let path = entry.path();
            let kind = entry.file_type().at(&path)?;
            if kind.is_dir() {
                pending.push(path);
            } else if path
                .extension()
                .is_some_and(|extension| extension == "parquet")
            {
                files.push(path);
            }
        }
    }
    files.sort_by_key(|path| (first_seq_of_name(path).unwrap_or(u64::MAX), path.clone()));
    Ok(files)
}

fn first_seq_of_name(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    let rest = name.strip_prefix("part-")?.strip_suffix(".parquet")?;
    let (first, _) = rest.split_once('-')?;
    first.parse().ok()
}

/// One archive row: its index in the file, and its record or why it does not decode.
pub(crate) type ArchiveRow = (u64, Result<AuditRecord, String>);

/// Reads one archive file's rows in order, each decoded into a record or the reason it does
/// not decode.
pub(crate) struct ArchiveFileReader {
    path: PathBuf,
    batches: ParquetRecordBatchReader,
    current: Option<(RecordBatch, usize)>,
    row: u64,
    /// The Parquet decoder failed inside (see [`ArchiveFileReader::next_row`]); nothing more
    /// is read from this file.
    broken: bool,
}

impl ArchiveFileReader {
    /// Opens `path`, refusing a file whose columns are not the archive schema.
    pub fn open(path: &Path) -> Result<Self, Error> {
        let file = File::open(path).at(path)?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|error| {
            Error::archive(path, format!("not a readable Parquet file: {error}"))
        })?;
        let marked = builder
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .is_some_and(|pairs| {
                pairs.iter().any(|pair| {
                    pair.key == FORMAT_KEY && pair.value.as_deref() == Some(FORMAT_VERSION)
                })
            });
        if !marked {
            return Err(Error::archive(
                path,
                "not a Haechi audit archive (no haechi.audit.format marker)",
            ));
        }
        let expected = archive_schema();
        let schema = builder.schema();
        for field in expected.fields() {
            match schema.field_with_name(field.name()) {
                Ok(found) if found.data_type() == field.data_type() => {}
                Ok(found) => {
                    return Err(Error::archive(
                        path,
                        format!(
                            "column {} has type {}, expected {}",
                            field.name(),
                            found.data_type(),
                            field.data_type()
                        ),
                    ));
                }
                Err(_) => {
                    return Err(Error::archive(
                        path,
                        format!("missing column {}", field.name()),
                    ));
                }
            }
        }
        let batches = builder
            .with_batch_size(8192)
            .build()
            .map_err(|error| Error::archive(path, error))?;
        Ok(ArchiveFileReader {
            path: path.to_path_buf(),
            batches,
            current: None,
            row: 0,
            broken: false,
        })
    }

    /// The next row: its index in the file and the record (or why it does not decode).
    pub fn next_row(&mut self) -> Result<Option<ArchiveRow>, Error> {
        loop {
            if let Some((batch, index)) = self.current.as_mut() {
                if *index < batch.num_rows() {
                    let record = row_to_record(batch, *index);
                    *index += 1;
                    let row = self.row;
                    self.row += 1;
                    return Ok(Some((row, record)));
                }
                self.current = None;
            }
            if self.broken {
                return Ok(None);
            }
            // parquet 60 panics on some corrupt pages ("Decoder for dict should have been
            // set") instead of returning an error. Archives are read to find tampering, so a
            // corrupt file is a problem to report, never a crash of the verifier or the
            // server; the decoder's state after the panic is not trusted again.
            let next =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.batches.next()));
            match next {
                Ok(Some(Ok(batch))) => self.current = Some((batch, 0)),
                Ok(Some(Err(error))) => return Err(Error::archive(&self.path, error)),
                Ok(None) => return Ok(None),
                Err(_) => {
                    self.broken = true;
                    return Err(Error::archive(
                        &self.path,
                        "corrupt Parquet data: the decoder failed",
                    ));
                }
            }
        }
    }
}

fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> Result<&'a T, String> {
    batch
        .column_by_name(name)
        .and_then(|column| column.as_any().downcast_ref::<T>())
        .ok_or_else(|| format!("column {name} missing or of the wrong type"))
}

fn text(batch: &RecordBatch, name: &str, row: usize) -> Result<Option<String>, String> {
    let array = column::<StringArray>(batch, name)?;
    Ok((!array.is_null(row)).then(|| array.value(row).to_string()))
}

fn required_text(batch: &RecordBatch, name: &str, row: usize) -> Result<String, String> {
    text(batch, name, row)?.ok_or_else(|| format!("{name} is null"))
}

fn hash_value(batch: &RecordBatch, name: &str, row: usize) -> Result<[u8; 32], String> {
    let array = column::<FixedSizeBinaryArray>(batch, name)?;
    if array.is_null(row) {
        return Err(format!("{name} is null"));
    }
    array
        .value(row)
        .try_into()
        .map_err(|_| format!("{name} is not 32 bytes"))
}

/// Reads a principal from its text form without the id validation of `Principal::from_str`:
/// the archive must give back exactly what the log held, whatever id the caller used.
fn principal_from_text(text: &str) -> Result<Principal, String> {
    if text == "anonymous" {
        return Ok(Principal::Anonymous);
    }
    match text.split_once(':') {
        Some(("customer", id)) => Ok(Principal::Customer(id.to_string())),
        Some(("service", name)) => Ok(Principal::Service(name.to_string())),
        Some(("admin", name)) => Ok(Principal::Admin(name.to_string())),
        _ => Err(format!("not a principal: {text:?}")),
    }
}

fn row_to_record(batch: &RecordBatch, row: usize) -> Result<AuditRecord, String> {
    let seq = column::<UInt64Array>(batch, "seq")?.value(row);
    let time =
        Timestamp::from_micros(column::<TimestampMicrosecondArray>(batch, "time")?.value(row));
    let kind_text = required_text(batch, "kind", row)?;
    let kind: EventKind = kind_text
        .parse()
        .map_err(|_| format!("unknown kind {kind_text:?}"))?;
    let principal = principal_from_text(&required_text(batch, "principal", row)?)?;
    let ip = match text(batch, "ip", row)? {
        Some(address) => Some(
            address
                .parse::<IpAddr>()
                .map_err(|_| format!("not an address: {address:?}"))?,
        ),
        None => None,
    };
    let fields_array = column::<ListArray>(batch, "fields")?;
    let values = fields_array.value(row);
    let values = values
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or("fields is not a list of strings")?;
    let fields = (0..values.len())
        .map(|index| values.value(index).to_string())
        .collect();
    let decision = match required_text(batch, "decision", row)?.as_str() {
        "allow" => Decision::Allow,
        "mask" => Decision::Mask,
        "deny" => Decision::Deny,
        other => return Err(format!("unknown decision {other:?}")),
    };
    let detail: BTreeMap<String, String> = match text(batch, "detail", row)? {
        Some(json) => serde_json::from_str(&json).map_err(|error| format!("detail: {error}"))?,
        None => BTreeMap::new(),
    };
    let event = SecurityEvent {
        time,
        kind,
        principal,
        sid: text(batch, "sid", row)?,
        jti: text(batch, "jti", row)?,
        kid: text(batch, "kid", row)?,
        ip,
        user_agent: text(batch, "user_agent", row)?,
        customer_id: text(batch, "customer_id", row)?,
        fields,
        purpose: text(batch, "purpose", row)?,
        decision,
        status: column::<UInt16Array>(batch, "status")?.value(row),
        request_id: text(batch, "request_id", row)?,
        reason: text(batch, "reason", row)?,
        detail,
    };
    // ip_bin is derived from ip; a row where they disagree was edited.
    let ip_bin = column::<FixedSizeBinaryArray>(batch, "ip_bin")?;
    let stored_bin = (!ip_bin.is_null(row)).then(|| ip_bin.value(row).to_vec());
    if stored_bin != ip.map(|address| ip_to_bin(address).to_vec()) {
        return Err("ip_bin does not match ip".into());
    }
    Ok(AuditRecord {
        seq,
        event,
        prev_hash: hash_value(batch, "prev_hash", row)?,
        hash: hash_value(batch, "hash", row)?,
    })
}

/// Records read back from an archive directory, in seq order. Each record's `hash` is the one
/// stored in the archive; compare it with [`AuditRecord::computed_hash`] (or run
/// [`crate::verify`]) to check it.
pub struct ArchiveRecords {
    files: std::vec::IntoIter<PathBuf>,
    current: Option<ArchiveFileReader>,
}

impl std::fmt::Debug for ArchiveRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveRecords").finish_non_exhaustive()
    }
}

impl Iterator for ArchiveRecords {
    type Item = Result<AuditRecord, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.current.is_none() {
                let path = self.files.next()?;
                match ArchiveFileReader::open(&path) {
                    Ok(reader) => self.current = Some(reader),
                    Err(error) => return Some(Err(error)),
                }
            }
            let reader = self.current.as_mut()?;
            match reader.next_row() {
                Ok(Some((row, record))) => {
                    let path = reader.path.clone();
                    return Some(
                        record
                            .map_err(|reason| Error::archive(path, format!("row {row}: {reason}"))),
                    );
                }
                Ok(None) => self.current = None,
                Err(error) => {
                    self.current = None;
                    return Some(Err(error));
                }
            }
        }
    }
}

/// Reads every record of the archive in `dir` back, file by file in seq order.
pub fn read_archive(dir: &Path) -> Result<ArchiveRecords, Error> {
    Ok(ArchiveRecords {
        files: list_archive_files(dir)?.into_iter(),
        current: None,
    })
}

/// Writes `records` as one archive file under `to_dir`, exactly as [`export`] writes a run
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
    write_parquet_file(&path, records, options)?;
    Ok(path)
}

/// Writes the `_checkpoints` copy of an archive directory from checkpoints the caller signed
/// (the generator's counterpart of the copy [`export`] makes), replacing any there.
pub fn write_archive_checkpoints(to_dir: &Path, checkpoints: &[Checkpoint]) -> Result<(), Error> {
    std::fs::create_dir_all(to_dir).at(to_dir)?;
    let mut bytes = Vec::with_capacity(checkpoints.len() * ENTRY_LEN);
    for checkpoint in checkpoints {
        bytes.extend_from_slice(&checkpoint.encode());
    }
    write_atomically(&to_dir.join(ARCHIVE_CHECKPOINTS_FILE), &bytes)
}

/// Which sealed segments retention deletes: those wholly before a seq *and* wholly recorded
/// before a time. Both bounds hold together; [`PruneOptions::everything_archived`] sets neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PruneOptions {
    /// Only segments whose records all have a seq below this (`u64::MAX`: no seq bound).
    pub before_seq: u64,
    /// Only segments whose records were all recorded (event time) before this instant
    /// (`None`: no time bound). Event times of concurrent requests can be out of seq order by
    /// a little, so the newest time in the segment decides, not the last record's.
    pub recorded_before: Option<Timestamp>,
    /// Delete, or only report what would be deleted.
    pub mode: PruneMode,
}

impl PruneOptions {
    /// Every archived sealed segment, whatever its seqs or age.
    pub fn everything_archived() -> Self {
        PruneOptions {
            before_seq: u64::MAX,
            recorded_before: None,
            mode: PruneMode::Delete,
        }
    }
}

/// Whether [`prune_log_with`] deletes or only looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PruneMode {
    /// Delete the segments.
    Delete,
    /// Check everything exactly as for a deletion (archive copies read back and compared) and
    /// report what would be deleted, deleting nothing.
    DryRun,
}

/// What [`prune_log`] did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Segments deleted, oldest first (in a dry run: that would be deleted).
    pub deleted: Vec<PathBuf>,
    /// Records in those segments.
    pub records: u64,
    /// The seqs those segments held, `(first, last)`; `None` when nothing was deleted.
    pub seqs: Option<(u64, u64)>,
    /// The first segment that would have been pruned but is not (yet) archived, or whose
    /// archive copy does not match it, which stopped pruning there.
    pub stopped_at_unarchived: Option<PathBuf>,
}

/// Retention for the live log: deletes sealed segments whose records all have seq <
/// `before_seq`, oldest first, but only segments that are archived. Before deleting a segment
/// its archive files (from the `archived` manifest) are read back and must hold exactly its
/// records — the same seqs with the same hashes. The first segment that is not archived, or
/// whose archive does not match, stops pruning: the live log never gets a hole, and nothing is
/// deleted that exists nowhere else. The active segment is never deleted.
///
/// This does not take the writer's lock: call it while the log is closed, or use
/// [`crate::AuditLog::prune`] from the process that holds it, or [`prune_closed_log`].
pub fn prune_log(log_dir: &Path, before_seq: u64) -> Result<PruneReport, Error> {
    prune_log_with(
        log_dir,
        &PruneOptions {
            before_seq,
            ..PruneOptions::everything_archived()
        },
    )
}

/// [`prune_log`] with a time bound and a dry run (see [`PruneOptions`]). Same rules: only
/// sealed, archived segments whose archive copy reads back identical, oldest first, stopping
/// at the first one that is not.
pub fn prune_log_with(log_dir: &Path, options: &PruneOptions) -> Result<PruneReport, Error> {
    let segments = list_segments(log_dir)?;
    let manifest = read_manifest(log_dir)?;
    let mut report = PruneReport::default();
    let sealed = segments.len().saturating_sub(1);
    for (index, segment) in segments.iter().take(sealed).enumerate() {
        let last_seq = segments[index + 1].first_seq - 1;
        if last_seq >= options.before_seq {
            break;
        }
        let mut records = Vec::new();
        let mut newest = None;
        read_records(&segment.path, |stored| {
            newest = newest.max(Some(stored.record.event.time));
            records.push((stored.record.seq, stored.record.hash));
        })?;
        if let (Some(cutoff), Some(newest)) = (options.recorded_before, newest)
            && newest >= cutoff
        {
            break;
        }
        let name = file_name(&segment.path);
        let archived = manifest
            .iter()
            .filter(|entry| entry.segment == name)
            .any(|entry| archive_matches(&records, entry).unwrap_or(false));
        if !archived {
            report.stopped_at_unarchived = Some(segment.path.clone());
            break;
        }
        if options.mode == PruneMode::Delete {
            std::fs::remove_file(&segment.path).at(&segment.path)?;
            sync_dir(log_dir)?;
        }
        report.deleted.push(segment.path.clone());
        report.records += records.len() as u64;
        if let (Some(first), Some(last)) = (records.first(), records.last()) {
            let first_seq = report.seqs.map_or(first.0, |(earlier, _)| earlier);
            report.seqs = Some((first_seq, last.0));
        }
    }
    Ok(report)
}

/// [`prune_log_with`] for a log no process has open: takes the writer's lock for the duration
/// (so no writer opens the log meanwhile) and fails with [`Error::InUse`] if one has it.
pub fn prune_closed_log(log_dir: &Path, options: &PruneOptions) -> Result<PruneReport, Error> {
    let _lock = crate::log::lock_dir(log_dir)?;
    prune_log_with(log_dir, options)
}

/// Whether the archive files of `entry` hold exactly `expected` (seq, hash) pairs.
fn archive_matches(expected: &[(u64, [u8; 32])], entry: &ManifestEntry) -> Result<bool, Error> {
    let mut found = Vec::with_capacity(expected.len());
    for file in &entry.files {
        let mut reader = ArchiveFileReader::open(&entry.archive_dir.join(file))?;
        while let Some((_, record)) = reader.next_row()? {
            let Ok(record) = record else {
                return Ok(false);
            };
            // The stored hash must also be the record's own, or the archive copy was edited.
            if record.computed_hash() != record.hash {
                return Ok(false);
            }
            found.push((record.seq, record.hash));
        }
    }
    Ok(found == expected)
}

/// The IPv6 form of a 16-byte `ip_bin` value (for readers that want to print it).
pub fn ip_from_bin(bytes: [u8; 16]) -> IpAddr {
    let v6 = Ipv6Addr::from(bytes);
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]
mod tests {
    use super::*;

    #[test]
    fn days_and_runs() {
        assert_eq!(
            day_of(Timestamp::from_micros(1_750_734_765_123_456)),
            "2025-06-24"
        );
        let at = |seq: u64, secs: i64| {
            AuditRecord::chained(
                seq,
                SecurityEvent::new(
                    Timestamp::from_secs(secs),
                    EventKind::PiiRead,
                    Principal::Anonymous,
                ),
                crate::GENESIS_HASH,
            )
        };
        let day = 86_400;
        let records = vec![
            at(1, day - 2),
            at(2, day + 1),
            at(3, day - 1),
            at(4, day + 2),
        ];
        let runs: Vec<Vec<u64>> = day_runs(&records)
            .iter()
            .map(|run| run.iter().map(|record| record.seq).collect())
            .collect();
        assert_eq!(runs, vec![vec![1], vec![2], vec![3], vec![4]]);
        assert!(day_runs(&[]).is_empty());
    }

    #[test]
    fn ip_bin_maps_v4_into_v6() {
        let v4: IpAddr = "203.0.113.7".parse().unwrap();
        assert_eq!(
            &ip_to_bin(v4)[..12],
            &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]
        );
        assert_eq!(ip_from_bin(ip_to_bin(v4)), v4);
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(ip_from_bin(ip_to_bin(v6)), v6);
    }
}
