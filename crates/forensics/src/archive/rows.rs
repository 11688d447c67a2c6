//! Predicate pushdown and projection: the rows of a row group that match, with only the
//! columns a scope needs decoded.

use std::collections::HashMap;
use std::fs::File;
use std::sync::Arc;

use arrow_array::{
    Array, BooleanArray, FixedSizeBinaryArray, ListArray, RecordBatch, StringArray,
    TimestampMicrosecondArray, UInt16Array, UInt64Array,
};
use arrow_schema::ArrowError;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowPredicate, ArrowPredicateFn, ParquetRecordBatchReaderBuilder, RowFilter,
};

use super::plan::{FilePlan, column_name};
use crate::Error;
use crate::hits::{FieldTable, Hit};
use crate::matcher::{Matcher, TextSet};
use crate::query::is_exposure_kind;

/// The columns decoded for a matching row.
const OUTPUT_COLUMNS: [&str; 4] = ["seq", "time", "customer_id", "fields"];
/// The columns that decide whether a row is an exposure at all.
const EXPOSURE_COLUMNS: [&str; 4] = ["kind", "decision", "status", "time"];

/// Byte ranges `(offset, length)` of a file.
pub(crate) type ByteRanges = Vec<(u64, u64)>;

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
        collect_hits(
            &batch,
            plan.file.node.as_ref(),
            fields,
            &mut cache,
            &mut hits,
        )
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

fn text_matches(array: &StringArray, row: usize, set: &TextSet) -> bool {
    !array.is_null(row) && set.contains(array.value(row))
}

/// Rows matching the indicators (combined by the match mode).
fn indicator_mask(batch: &RecordBatch, matcher: &Matcher) -> Result<BooleanArray, ArrowError> {
    enum Source<'a> {
        Network(&'a FixedSizeBinaryArray),
        Text(&'a StringArray, &'a TextSet),
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
                && is_exposure_kind(kind.value(row))
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
    node: Option<&Arc<str>>,
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
            node: node.cloned(),
            seq: seq.value(row),
            time: time.value(row),
            customer: (!customer.is_null(row)).then(|| customer.value(row).into()),
            fields: mask,
        });
    }
    Ok(())
}
