//! The scan of the Parquet archive: which files, which row groups, which columns, which rows.
//!
//! 1. **Partition pruning.** Files sit in `day=YYYY-MM-DD` directories and every row of a file
//!    lies in that UTC day (the exporter splits runs at midnight), so a window excludes whole
//!    days before a file is opened.
//! 2. **Row-group pruning.** Each remaining file's footer is read once. A row group is skipped
//!    when the `time` statistics lie outside the window, or when an indicator kind is provably
//!    absent from it: min/max statistics bound every value out, or the column's bloom filter
//!    answers "absent" for every value (bloom filters have false positives, never false
//!    negatives). Single addresses and small networks are probed in the bloom filters of
//!    *both* `ip_bin` and `ip`: the two filters err independently, so a 40-address set lets
//!    about 1 % of row groups through by accident instead of ~33 %. With [`MatchMode::Any`] a row
//!    group is skipped only when every kind is absent; with [`MatchMode::All`] when any is.
//! 3. **Predicate pushdown and projection.** Surviving row groups are read with two row
//!    filters — the indicator columns first, then `kind`, `decision`, `status`, `time` for the
//!    rows that passed — and only `seq`, `time`, `customer_id` and `fields` are decoded, for
//!    the rows that passed both.
//! 4. **Parallelism.** Footers and row groups are spread over the cores; results are put back
//!    in file and row-group order.
//!
//! [`MatchMode::Any`]: crate::MatchMode::Any
//! [`MatchMode::All`]: crate::MatchMode::All

use std::collections::HashMap;
use std::fs::File;
use std::io::Read as _;
use std::net::IpAddr;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arrow_array::{
    Array, BooleanArray, FixedSizeBinaryArray, ListArray, RecordBatch, StringArray,
    TimestampMicrosecondArray, UInt16Array, UInt64Array,
};
use arrow_schema::ArrowError;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowPredicate, ArrowPredicateFn, ArrowReaderMetadata, ArrowReaderOptions,
    ParquetRecordBatchReaderBuilder, RowFilter,
};
use parquet::bloom_filter::Sbbf;
use parquet::file::metadata::RowGroupMetaData;
use parquet::file::statistics::Statistics;
use sha2::{Digest, Sha256};

use crate::custody::{ArchiveFileCustody, DigestMode};
use crate::indicators::{IndicatorKind, Matcher};
use crate::scope::Progress;
use crate::{Error, parallel};

/// Key-value metadata that marks a Parquet file as a Haechi audit archive (see the audit
/// crate's `SCHEMA.md`).
const FORMAT_KEY: &str = "haechi.audit.format";
const FORMAT_VERSION: &str = "1";

/// The columns decoded for a matching row.
const OUTPUT_COLUMNS: [&str; 4] = ["seq", "time", "customer_id", "fields"];
/// The columns that decide whether a row is an exposure at all.
const EXPOSURE_COLUMNS: [&str; 4] = ["kind", "decision", "status", "time"];

/// Byte ranges `(offset, length)` of a file.
pub(crate) type ByteRanges = Vec<(u64, u64)>;

/// A file skipped by its day partition: archive index, relative path, seqs its name states.
pub(crate) type SkippedFile = (usize, String, Option<(u64, u64)>);

/// One matching event, as much of it as a scope needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hit {
    pub seq: u64,
    pub time: i64,
    pub customer: Option<Box<str>>,
    /// Bits of [`FieldTable`].
    pub fields: u64,
}

/// Field names met while scanning, each given one bit. Shared by all workers; the bits are
/// only ever turned back into names, so the order they were handed out in does not matter.
#[derive(Debug, Default)]
pub(crate) struct FieldTable {
    names: Mutex<Vec<String>>,
}

impl FieldTable {
    /// The bit of `name`, handing out a new one on first sight.
    pub fn bit(&self, name: &str) -> Result<u64, Error> {
        let mut names = self
            .names
            .lock()
            .map_err(|_| Error::bad_input("fields", "a scan worker panicked"))?;
        if let Some(index) = names.iter().position(|known| known == name) {
            return Ok(1 << index);
        }
        if names.len() == 64 {
            return Err(Error::bad_input(
                "fields",
                "more than 64 distinct field names in the audit trail",
            ));
        }
        names.push(name.to_string());
        Ok(1 << (names.len() - 1))
    }

    /// The names of the bits set in `mask`, sorted.
    pub fn names(&self, mask: u64) -> Vec<String> {
        let names = match self.names.lock() {
            Ok(names) => names.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let mut out: Vec<String> = names
            .iter()
            .enumerate()
            .filter(|(index, _)| mask & (1 << index) != 0)
            .map(|(_, name)| name.clone())
            .collect();
        out.sort();
        out
    }
}

/// A worker's memo of field bits, so the shared table is locked once per name, not per row.
#[derive(Debug, Default)]
struct FieldCache {
    bits: HashMap<String, u64>,
}

impl FieldCache {
    fn bit(&mut self, table: &FieldTable, name: &str) -> Result<u64, Error> {
        if let Some(bit) = self.bits.get(name) {
            return Ok(*bit);
        }
        let bit = table.bit(name)?;
        self.bits.insert(name.to_string(), bit);
        Ok(bit)
    }
}

/// An archive file found under an archive directory.
#[derive(Debug, Clone)]
pub(crate) struct ArchiveFile {
    /// Index of the archive directory it was found in.
    pub archive: usize,
    /// Its path relative to that directory (`day=…/part-….parquet`).
    pub relative: String,
    pub path: PathBuf,
    /// `[start, end)` in µs of its `day=` partition, if it sits in one.
    pub day: Option<(i64, i64)>,
    /// The seq range its name states (`part-<first>-<last>`).
    pub named_seqs: Option<(u64, u64)>,
}

/// Every `*.parquet` file under `dir` (hidden temporaries skipped), in seq order of the names.
pub(crate) fn list_files(archive: usize, dir: &Path) -> Result<Vec<ArchiveFile>, Error> {
    let metadata = std::fs::metadata(dir).map_err(|error| Error::io(dir, error))?;
    if !metadata.is_dir() {
        return Err(Error::bad_input(
            format!("--archive {}", dir.display()),
            "not a directory",
        ));
    }
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let entries = std::fs::read_dir(&current).map_err(|error| Error::io(&current, error))?;
        for entry in entries {
            let entry = entry.map_err(|error| Error::io(&current, error))?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name.starts_with('_') {
                continue;
            }
            let kind = entry.file_type().map_err(|error| Error::io(&path, error))?;
            if kind.is_dir() {
                pending.push(path);
            } else if name.ends_with(".parquet") {
                let relative = path
                    .strip_prefix(dir)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .into_owned();
                let day = path
                    .parent()
                    .and_then(Path::file_name)
                    .and_then(|name| name.to_str())
                    .and_then(|name| name.strip_prefix("day="))
                    .and_then(day_range);
                files.push(ArchiveFile {
                    archive,
                    relative,
                    named_seqs: seqs_of_name(&name),
                    day,
                    path,
                });
            }
        }
    }
    files.sort_by(|a, b| {
        let key = |file: &ArchiveFile| file.named_seqs.map_or(u64::MAX, |(first, _)| first);
        key(a)
            .cmp(&key(b))
            .then_with(|| a.relative.cmp(&b.relative))
    });
    Ok(files)
}

fn day_range(text: &str) -> Option<(i64, i64)> {
    let date = time::Date::parse(
        text,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()?;
    let start = date.midnight().assume_utc().unix_timestamp();
    Some((start * 1_000_000, (start + 86_400) * 1_000_000))
}

fn seqs_of_name(name: &str) -> Option<(u64, u64)> {
    let rest = name.strip_prefix("part-")?.strip_suffix(".parquet")?;
    let (first, last) = rest.split_once('-')?;
    Some((first.parse().ok()?, last.parse().ok()?))
}

/// What the footer said about one file, and which of its row groups may hold a match.
pub(crate) struct FilePlan {
    pub file: ArchiveFile,
    metadata: ArrowReaderMetadata,
    pub bytes: u64,
    pub seqs: Option<(u64, u64)>,
    pub candidates: Vec<usize>,
    pub pruned_by_time: usize,
    pub pruned_by_filter: usize,
    /// Byte ranges of the file the plan was made from: the footer, then each bloom filter
    /// read, in row-group and column order.
    consulted: Vec<(u64, u64)>,
}

/// Column positions (leaf indices) the scan needs.
#[derive(Debug, Clone, Copy)]
struct Columns {
    time: usize,
    ip: usize,
    ip_bin: usize,
    kid: usize,
    jti: usize,
    sid: usize,
    principal: usize,
    user_agent: usize,
}

impl Columns {
    fn of(metadata: &ArrowReaderMetadata, path: &Path) -> Result<Self, Error> {
        let schema = metadata.parquet_schema();
        let find = |name: &str| {
            schema
                .columns()
                .iter()
                .position(|column| column.path().parts() == [name.to_string()])
                .ok_or_else(|| Error::bad_file(path, format!("missing column {name}")))
        };
        Ok(Columns {
            time: find("time")?,
            ip: find("ip")?,
            ip_bin: find("ip_bin")?,
            kid: find("kid")?,
            jti: find("jti")?,
            sid: find("sid")?,
            principal: find("principal")?,
            user_agent: find("user_agent")?,
        })
    }

    fn of_kind(&self, kind: IndicatorKind) -> usize {
        match kind {
            IndicatorKind::Ip => self.ip_bin,
            IndicatorKind::Kid => self.kid,
            IndicatorKind::Jti => self.jti,
            IndicatorKind::Sid => self.sid,
            IndicatorKind::Principal => self.principal,
            IndicatorKind::UserAgent => self.user_agent,
        }
    }
}

fn column_name(kind: IndicatorKind) -> &'static str {
    match kind {
        IndicatorKind::Ip => "ip_bin",
        IndicatorKind::Kid => "kid",
        IndicatorKind::Jti => "jti",
        IndicatorKind::Sid => "sid",
        IndicatorKind::Principal => "principal",
        IndicatorKind::UserAgent => "user_agent",
    }
}

/// Reads a file's footer, checks it is a Haechi audit archive of the known schema, and
/// decides which row groups to read.
pub(crate) fn plan_file(file: ArchiveFile, matcher: &Matcher) -> Result<FilePlan, Error> {
    let path = file.path.clone();
    let handle = File::open(&path).map_err(|error| Error::io(&path, error))?;
    let bytes = handle
        .metadata()
        .map_err(|error| Error::io(&path, error))?
        .len();
    let metadata = ArrowReaderMetadata::load(&handle, ArrowReaderOptions::new())
        .map_err(|error| Error::bad_file(&path, format!("not a readable Parquet file: {error}")))?;
    check_schema(&metadata, &path)?;
    let footer = footer_range(&handle, bytes, &path)?;
    let columns = Columns::of(&metadata, &path)?;
    let seqs = seq_metadata(&metadata).or(file.named_seqs);

    let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(handle, metadata.clone());
    let mut plan = FilePlan {
        file,
        metadata: metadata.clone(),
        bytes,
        seqs,
        candidates: Vec::new(),
        pruned_by_time: 0,
        pruned_by_filter: 0,
        consulted: vec![footer],
    };
    // Kinds in the order that decides fastest: unique ids first, then keys, principals,
    // networks, agents.
    let mut kinds = matcher.kinds.clone();
    kinds.sort_by_key(|kind| match kind {
        IndicatorKind::Jti => 0,
        IndicatorKind::Sid => 1,
        IndicatorKind::Kid => 2,
        IndicatorKind::Principal => 3,
        IndicatorKind::Ip => 4,
        IndicatorKind::UserAgent => 5,
    });
    for index in 0..metadata.metadata().num_row_groups() {
        let row_group = metadata.metadata().row_group(index);
        if !time_may_match(row_group, columns.time, matcher) {
            plan.pruned_by_time += 1;
            continue;
        }
        let mut probe = Probe {
            builder: &builder,
            row_group: index,
            consulted: &mut plan.consulted,
            path: &path,
        };
        let mut keep = kinds.is_empty();
        if !keep {
            keep = match matcher.mode {
                crate::MatchMode::Any => {
                    let mut any = false;
                    for kind in &kinds {
                        if probe.may_hold(*kind, row_group, &columns, matcher)? {
                            any = true;
                            break;
                        }
                    }
                    any
                }
                crate::MatchMode::All => {
                    let mut all = true;
                    for kind in &kinds {
                        if !probe.may_hold(*kind, row_group, &columns, matcher)? {
                            all = false;
                            break;
                        }
                    }
                    all
                }
            };
        }
        if keep {
            plan.candidates.push(index);
        } else {
            plan.pruned_by_filter += 1;
        }
    }
    Ok(plan)
}

/// Refuses a file without the archive marker or with a column of another type.
pub(crate) fn check_schema(metadata: &ArrowReaderMetadata, path: &Path) -> Result<(), Error> {
    let marked = metadata
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .is_some_and(|pairs| {
            pairs
                .iter()
                .any(|pair| pair.key == FORMAT_KEY && pair.value.as_deref() == Some(FORMAT_VERSION))
        });
    if !marked {
        return Err(Error::bad_file(
            path,
            "not a Haechi audit archive file (no haechi.audit.format = 1 marker)",
        ));
    }
    let schema = metadata.schema();
    for expected in haechi_audit::archive_schema().fields() {
        match schema.field_with_name(expected.name()) {
            Ok(found) if found.data_type() == expected.data_type() => {}
            Ok(found) => {
                return Err(Error::bad_file(
                    path,
                    format!(
                        "column {} has type {}, expected {}",
                        expected.name(),
                        found.data_type(),
                        expected.data_type()
                    ),
                ));
            }
            Err(_) => {
                return Err(Error::bad_file(
                    path,
                    format!("missing column {}", expected.name()),
                ));
            }
        }
    }
    Ok(())
}

fn seq_metadata(metadata: &ArrowReaderMetadata) -> Option<(u64, u64)> {
    let pairs = metadata.metadata().file_metadata().key_value_metadata()?;
    let value = |key: &str| {
        pairs
            .iter()
            .find(|pair| pair.key == key)
            .and_then(|pair| pair.value.as_deref())
            .and_then(|value| value.parse().ok())
    };
    Some((
        value("haechi.audit.first_seq")?,
        value("haechi.audit.last_seq")?,
    ))
}

/// The byte range of the footer (metadata, its length and the closing magic).
fn footer_range(file: &File, bytes: u64, path: &Path) -> Result<(u64, u64), Error> {
    let mut tail = [0u8; 8];
    if bytes < 8 {
        return Err(Error::bad_file(path, "too short for Parquet"));
    }
    file.read_exact_at(&mut tail, bytes - 8)
        .map_err(|error| Error::io(path, error))?;
    let length = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    let start = bytes
        .checked_sub(8 + length)
        .ok_or_else(|| Error::bad_file(path, "footer longer than the file"))?;
    Ok((start, bytes - start))
}

fn time_may_match(row_group: &RowGroupMetaData, column: usize, matcher: &Matcher) -> bool {
    if matcher.window.from.is_none() && matcher.window.to.is_none() {
        return true;
    }
    match row_group.column(column).statistics() {
        Some(Statistics::Int64(stats)) => match (stats.min_opt(), stats.max_opt()) {
            (Some(min), Some(max)) => matcher.window.overlaps(*min, *max),
            _ => true,
        },
        _ => true,
    }
}

/// Bloom-filter and statistics probes of one row group.
struct Probe<'a> {
    builder: &'a ParquetRecordBatchReaderBuilder<File>,
    row_group: usize,
    consulted: &'a mut Vec<(u64, u64)>,
    path: &'a Path,
}

impl Probe<'_> {
    fn bloom(
        &mut self,
        row_group: &RowGroupMetaData,
        column: usize,
    ) -> Result<Option<Sbbf>, Error> {
        let chunk = row_group.column(column);
        let filter = self
            .builder
            .get_row_group_column_bloom_filter(self.row_group, column)
            .map_err(|error| Error::bad_file(self.path, format!("bloom filter: {error}")))?;
        if filter.is_some()
            && let (Some(offset), Some(length)) =
                (chunk.bloom_filter_offset(), chunk.bloom_filter_length())
            && let (Ok(offset), Ok(length)) = (u64::try_from(offset), u64::try_from(length))
        {
            self.consulted.push((offset, length));
        }
        Ok(filter)
    }

    /// Whether the row group may hold a value of `kind` (false only when provably not).
    fn may_hold(
        &mut self,
        kind: IndicatorKind,
        row_group: &RowGroupMetaData,
        columns: &Columns,
        matcher: &Matcher,
    ) -> Result<bool, Error> {
        let column = columns.of_kind(kind);
        let bounds = byte_bounds(row_group, column);
        if kind == IndicatorKind::Ip {
            if let Some((min, max)) = &bounds {
                let (Ok(min), Ok(max)) = (
                    <[u8; 16]>::try_from(min.as_slice()),
                    <[u8; 16]>::try_from(max.as_slice()),
                ) else {
                    return Ok(true);
                };
                let (min, max) = (u128::from_be_bytes(min), u128::from_be_bytes(max));
                let overlaps = matcher
                    .networks
                    .iter()
                    .any(|&(start, end)| start <= max && end >= min);
                if !overlaps {
                    return Ok(false);
                }
            }
            let Some(addresses) = &matcher.probe_addresses else {
                return Ok(true);
            };
            let by_bin = self.bloom(row_group, columns.ip_bin)?;
            let mut by_text = None;
            for address in addresses {
                let bin = haechi_audit::ip_to_bin(*address);
                if by_bin
                    .as_ref()
                    .is_some_and(|filter| !filter.check(&bin[..]))
                {
                    continue;
                }
                // The ip_bin filter lets this address through; ask the ip filter too.
                if by_text.is_none() {
                    by_text = Some(self.bloom(row_group, columns.ip)?);
                }
                // The text column holds what the server saw: an IPv4 client on a dual-stack
                // socket may appear as ::ffff:a.b.c.d, with the same ip_bin.
                let mut texts = vec![address.to_string()];
                if let IpAddr::V4(v4) = address {
                    texts.push(format!("::ffff:{v4}"));
                }
                if let Some(Some(filter)) = &by_text
                    && !texts.iter().any(|text| filter.check(text.as_str()))
                {
                    continue;
                }
                return Ok(true);
            }
            return Ok(false);
        }
        let Some(values) = matcher.strings(kind) else {
            return Ok(true);
        };
        let in_bounds = |value: &String| {
            bounds.as_ref().is_none_or(|(min, max)| {
                value.as_bytes() >= min.as_slice() && value.as_bytes() <= max.as_slice()
            })
        };
        let candidates: Vec<&String> = values.iter().filter(|value| in_bounds(value)).collect();
        if candidates.is_empty() {
            return Ok(false);
        }
        if kind == IndicatorKind::UserAgent {
            // No bloom filter on user_agent.
            return Ok(true);
        }
        match self.bloom(row_group, column)? {
            Some(filter) => Ok(candidates.iter().any(|value| filter.check(value.as_str()))),
            None => Ok(true),
        }
    }
}

/// The min and max statistics of a byte-array column chunk, if written.
pub(crate) fn byte_bounds(
    row_group: &RowGroupMetaData,
    column: usize,
) -> Option<(Vec<u8>, Vec<u8>)> {
    let statistics = row_group.column(column).statistics()?;
    // Exact bounds only: a truncated max could exclude a value that is there.
    if !statistics.min_is_exact() || !statistics.max_is_exact() {
        return None;
    }
    Some((
        statistics.min_bytes_opt()?.to_vec(),
        statistics.max_bytes_opt()?.to_vec(),
    ))
}

/// The matching rows of one row group.
pub(crate) fn read_row_group(
    plan: &FilePlan,
    row_group: usize,
    matcher: &Arc<Matcher>,
    fields: &FieldTable,
) -> Result<(Vec<Hit>, ByteRanges), Error> {
    let path = &plan.file.path;
    let handle = File::open(path).map_err(|error| Error::io(path, error))?;
    let schema = plan.metadata.parquet_schema();
    let mut predicates: Vec<Box<dyn ArrowPredicate>> = Vec::new();
    let mut read_columns: Vec<&str> = Vec::new();
    if !matcher.kinds.is_empty() {
        let names: Vec<&str> = matcher
            .kinds
            .iter()
            .map(|kind| column_name(*kind))
            .collect();
        read_columns.extend(&names);
        let by_indicators = Arc::clone(matcher);
        predicates.push(Box::new(ArrowPredicateFn::new(
            ProjectionMask::columns(schema, names.iter().copied()),
            move |batch: RecordBatch| indicator_mask(&batch, &by_indicators),
        )));
    }
    read_columns.extend(EXPOSURE_COLUMNS);
    let by_exposure = Arc::clone(matcher);
    predicates.push(Box::new(ArrowPredicateFn::new(
        ProjectionMask::columns(schema, EXPOSURE_COLUMNS),
        move |batch: RecordBatch| exposure_mask(&batch, &by_exposure),
    )));
    read_columns.extend(OUTPUT_COLUMNS);
    let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(handle, plan.metadata.clone())
        .with_row_groups(vec![row_group])
        .with_projection(ProjectionMask::columns(schema, OUTPUT_COLUMNS))
        .with_row_filter(RowFilter::new(predicates))
        .with_batch_size(8192)
        .build()
        .map_err(|error| Error::bad_file(path, error))?;
    let mut hits = Vec::new();
    let mut cache = FieldCache::default();
    for batch in reader {
        let batch = batch
            .map_err(|error| Error::bad_file(path, format!("row group {row_group}: {error}")))?;
        collect_hits(&batch, fields, &mut cache, &mut hits)
            .map_err(|reason| Error::bad_file(path, format!("row group {row_group}: {reason}")))?;
    }
    // The byte ranges of every column chunk the reader may have touched, for the digest.
    let meta = plan.metadata.metadata().row_group(row_group);
    let mut ranges: Vec<(u64, u64)> = schema
        .columns()
        .iter()
        .enumerate()
        .filter(|(_, column)| {
            column
                .path()
                .parts()
                .first()
                .is_some_and(|root| read_columns.contains(&root.as_str()))
        })
        .map(|(index, _)| meta.column(index).byte_range())
        .collect();
    ranges.sort_unstable();
    ranges.dedup();
    Ok((hits, ranges))
}

fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> Result<&'a T, ArrowError> {
    batch
        .column_by_name(name)
        .and_then(|column| column.as_any().downcast_ref::<T>())
        .ok_or_else(|| {
            ArrowError::SchemaError(format!("column {name} missing or of the wrong type"))
        })
}

fn text_matches(array: &StringArray, row: usize, set: &crate::indicators::TextSet) -> bool {
    !array.is_null(row) && set.contains(array.value(row))
}

/// Rows matching the indicators (combined by the match mode).
fn indicator_mask(batch: &RecordBatch, matcher: &Matcher) -> Result<BooleanArray, ArrowError> {
    enum Source<'a> {
        Network(&'a FixedSizeBinaryArray),
        Text(&'a StringArray, &'a crate::indicators::TextSet),
    }
    let mut sources = Vec::with_capacity(matcher.kinds.len());
    for kind in &matcher.kinds {
        let name = column_name(*kind);
        match matcher.strings(*kind) {
            None => sources.push(Source::Network(column::<FixedSizeBinaryArray>(
                batch, name,
            )?)),
            Some(set) => sources.push(Source::Text(column::<StringArray>(batch, name)?, set)),
        }
    }
    let mask: Vec<bool> = (0..batch.num_rows())
        .map(|row| {
            matcher.combine(sources.iter().map(|source| match source {
                Source::Network(array) => {
                    !array.is_null(row) && matcher.network_contains(array.value(row))
                }
                Source::Text(array, set) => text_matches(array, row, set),
            }))
        })
        .collect();
    Ok(BooleanArray::from(mask))
}

/// Rows that are exposures in the window: `pii.read` or `pii.lookup` (a lookup that returned
/// a customer disclosed their id and the identifier searched), allowed or masked, status 200.
fn exposure_mask(batch: &RecordBatch, matcher: &Matcher) -> Result<BooleanArray, ArrowError> {
    let kind = column::<StringArray>(batch, "kind")?;
    let decision = column::<StringArray>(batch, "decision")?;
    let status = column::<UInt16Array>(batch, "status")?;
    let time = column::<TimestampMicrosecondArray>(batch, "time")?;
    let mask: Vec<bool> = (0..batch.num_rows())
        .map(|row| {
            !kind.is_null(row)
                && crate::indicators::is_exposure_kind(kind.value(row))
                && !decision.is_null(row)
                && matches!(decision.value(row), "allow" | "mask")
                && !status.is_null(row)
                && status.value(row) == 200
                && !time.is_null(row)
                && matcher.window.contains(time.value(row))
        })
        .collect();
    Ok(BooleanArray::from(mask))
}

fn collect_hits(
    batch: &RecordBatch,
    fields: &FieldTable,
    cache: &mut FieldCache,
    hits: &mut Vec<Hit>,
) -> Result<(), String> {
    let err = |error: ArrowError| error.to_string();
    let seq = column::<UInt64Array>(batch, "seq").map_err(err)?;
    let time = column::<TimestampMicrosecondArray>(batch, "time").map_err(err)?;
    let customer = column::<StringArray>(batch, "customer_id").map_err(err)?;
    let list = column::<ListArray>(batch, "fields").map_err(err)?;
    let names = list
        .values()
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or("fields is not a list of strings")?;
    let offsets = list.value_offsets();
    for row in 0..batch.num_rows() {
        let mut mask = 0u64;
        let (start, end) = (offsets[row], offsets[row + 1]);
        for index in start..end {
            let index = usize::try_from(index).map_err(|_| "bad list offset")?;
            mask |= cache
                .bit(fields, names.value(index))
                .map_err(|error| error.to_string())?;
        }
        hits.push(Hit {
            seq: seq.value(row),
            time: time.value(row),
            customer: (!customer.is_null(row)).then(|| customer.value(row).into()),
            fields: mask,
        });
    }
    Ok(())
}

/// The result of scanning all archive directories.
pub(crate) struct ArchiveScan {
    pub hits: Vec<Hit>,
    pub files: Vec<ArchiveFileCustody>,
    pub skipped_by_day: Vec<SkippedFile>,
}

/// Scans every archive directory for the query's exposures.
pub(crate) fn scan(
    directories: &[PathBuf],
    matcher: &Arc<Matcher>,
    fields: &FieldTable,
    digest: DigestMode,
    progress: &dyn Progress,
) -> Result<ArchiveScan, Error> {
    let mut files = Vec::new();
    for (index, dir) in directories.iter().enumerate() {
        files.extend(list_files(index, dir)?);
    }
    let mut skipped_by_day = Vec::new();
    let mut opened = Vec::new();
    for file in files {
        let inside = file
            .day
            .is_none_or(|(start, end)| matcher.window.overlaps(start, end - 1));
        if inside {
            opened.push(file);
        } else {
            skipped_by_day.push((file.archive, file.relative.clone(), file.named_seqs));
        }
    }

    progress.phase("reading footers", opened.len() as u64);
    let plans = parallel::map(&opened, |_, file| {
        let plan = plan_file(file.clone(), matcher);
        progress.advance(1);
        plan
    })?;

    let work: Vec<(usize, usize)> = plans
        .iter()
        .enumerate()
        .flat_map(|(file, plan)| plan.candidates.iter().map(move |group| (file, *group)))
        .collect();
    progress.phase("scanning row groups", work.len() as u64);
    let results = parallel::map(&work, |_, &(file, group)| {
        let result = read_row_group(&plans[file], group, matcher, fields);
        progress.advance(1);
        result
    })?;

    let mut hits = Vec::new();
    let mut read_ranges: Vec<Vec<(usize, ByteRanges)>> = plans.iter().map(|_| Vec::new()).collect();
    for ((file, group), (found, ranges)) in work.iter().zip(results) {
        hits.extend(found);
        read_ranges[*file].push((*group, ranges));
    }

    progress.phase("hashing", plans.len() as u64);
    let indexed: Vec<usize> = (0..plans.len()).collect();
    let files = parallel::map(&indexed, |_, &index| {
        let custody = file_custody(&plans[index], &read_ranges[index], digest);
        progress.advance(1);
        custody
    })?;
    progress.finish();
    Ok(ArchiveScan {
        hits,
        files,
        skipped_by_day,
    })
}

/// The custody entry of one file: what was consulted and its digest.
fn file_custody(
    plan: &FilePlan,
    read: &[(usize, ByteRanges)],
    digest: DigestMode,
) -> Result<ArchiveFileCustody, Error> {
    let path = &plan.file.path;
    let handle = File::open(path).map_err(|error| Error::io(path, error))?;
    let mut ranges = plan.consulted.clone();
    for (_, chunk_ranges) in read {
        ranges.extend(chunk_ranges);
    }
    let mut hasher = Sha256::new();
    let mut consulted_bytes = 0u64;
    let mut buffer = vec![0u8; 1 << 20];
    for (start, length) in &ranges {
        hash_range(&handle, *start, *length, &mut hasher, &mut buffer)
            .map_err(|error| Error::io(path, error))?;
        consulted_bytes += length;
    }
    let sha256 = match digest {
        DigestMode::Consulted => None,
        DigestMode::Full => {
            let mut full = Sha256::new();
            let mut reader = File::open(path).map_err(|error| Error::io(path, error))?;
            loop {
                let read = reader
                    .read(&mut buffer)
                    .map_err(|error| Error::io(path, error))?;
                if read == 0 {
                    break;
                }
                full.update(&buffer[..read]);
            }
            Some(hex::encode(full.finalize()))
        }
    };
    Ok(ArchiveFileCustody {
        archive: plan.file.archive,
        path: plan.file.relative.clone(),
        bytes: plan.bytes,
        first_seq: plan.seqs.map(|(first, _)| first),
        last_seq: plan.seqs.map(|(_, last)| last),
        row_groups: plan.metadata.metadata().num_row_groups(),
        row_groups_read: read.iter().map(|(group, _)| *group).collect(),
        pruned_by_time: plan.pruned_by_time,
        pruned_by_filter: plan.pruned_by_filter,
        consulted_bytes,
        consulted_sha256: hex::encode(hasher.finalize()),
        sha256,
    })
}

fn hash_range(
    file: &File,
    start: u64,
    length: u64,
    hasher: &mut Sha256,
    buffer: &mut [u8],
) -> std::io::Result<()> {
    let mut offset = start;
    let end = start + length;
    while offset < end {
        let want = usize::try_from((end - offset).min(buffer.len() as u64)).unwrap_or(buffer.len());
        file.read_exact_at(&mut buffer[..want], offset)?;
        hasher.update(&buffer[..want]);
        offset += want as u64;
    }
    Ok(())
}

/// The archive files under `dir` in seq order (for tests that damage one).
#[doc(hidden)]
pub fn list_files_for_tests(dir: &Path) -> Vec<PathBuf> {
    list_files(0, dir)
        .map(|files| files.into_iter().map(|file| file.path).collect())
        .unwrap_or_default()
}
