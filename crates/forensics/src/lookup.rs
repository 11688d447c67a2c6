//! Finding a detection alert's `alert.raised` event in the audit trail: the live log (read
//! without a lock, like a scope) and the archive directories.
//!
//! In the archive only the `seq`, `kind` and `detail` columns are read, only in files whose
//! seqs lie after the event that raised the alert (its id ends in that seq, and the
//! `alert.raised` record is written after it), only in row groups whose `kind` statistics can
//! hold `alert.raised`, and only the `detail` of `alert.raised` rows is decoded.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

use arrow_array::{Array, BooleanArray, RecordBatch, StringArray, UInt64Array};
use arrow_schema::ArrowError;
use haechi_events::EventKind;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowPredicateFn, ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
    RowFilter,
};

use crate::Error;
use crate::alert::RaisedAlert;
use crate::archive::{byte_bounds, check_schema, list_files};
use crate::sources::Sources;

/// The `kind` of the events searched for.
const ALERT_RAISED: &str = "alert.raised";

/// Finds the `alert.raised` event of alert `id` in `sources`: the live log first (recent
/// alerts are there), then each archive directory. An alert exported but not pruned yet is in
/// both, as the same record; the first found is taken.
///
/// Fails with [`Error::UnknownAlert`] when no source holds it, and with the errors a scope
/// gives for a damaged live log or archive file.
pub fn find_alert(sources: &Sources, id: &str) -> Result<RaisedAlert, Error> {
    if let Some(dir) = &sources.live_log
        && dir.is_dir()
        && let Some(found) = find_in_log(dir, id)?
    {
        return Ok(found);
    }
    let after = RaisedAlert::raising_seq(id);
    for (index, dir) in sources.archives.iter().enumerate() {
        for file in list_files(index, dir)? {
            // A file whose name says it ends before the raising event cannot hold the alert.
            if let (Some(raising), Some((_, last))) = (after, file.named_seqs)
                && last <= raising
            {
                continue;
            }
            if let Some(found) = find_in_file(&file.path, id)? {
                return Ok(found);
            }
        }
    }
    Err(Error::UnknownAlert { id: id.to_string() })
}

fn find_in_log(dir: &Path, id: &str) -> Result<Option<RaisedAlert>, Error> {
    for record in haechi_audit::read_log(dir)? {
        let record = record?;
        if record.event.kind == EventKind::AlertRaised
            && record.event.detail.get("alert_id").map(String::as_str) == Some(id)
        {
            return Ok(RaisedAlert::from_detail(record.seq, &record.event.detail));
        }
    }
    Ok(None)
}

fn find_in_file(path: &Path, id: &str) -> Result<Option<RaisedAlert>, Error> {
    let handle = File::open(path).map_err(|error| Error::io(path, error))?;
    let metadata = ArrowReaderMetadata::load(&handle, ArrowReaderOptions::new())
        .map_err(|error| Error::bad_file(path, format!("not a readable Parquet file: {error}")))?;
    check_schema(&metadata, path)?;
    let schema = metadata.parquet_schema();
    let kind_column = schema
        .columns()
        .iter()
        .position(|column| column.path().parts() == ["kind".to_string()])
        .ok_or_else(|| Error::bad_file(path, "missing column kind"))?;
    let row_groups: Vec<usize> = (0..metadata.metadata().num_row_groups())
        .filter(|&index| {
            // Exact min/max statistics that bound `alert.raised` out prove it absent.
            match byte_bounds(metadata.metadata().row_group(index), kind_column) {
                Some((min, max)) => {
                    min.as_slice() <= ALERT_RAISED.as_bytes()
                        && ALERT_RAISED.as_bytes() <= max.as_slice()
                }
                None => true,
            }
        })
        .collect();
    if row_groups.is_empty() {
        return Ok(None);
    }
    let predicate = ArrowPredicateFn::new(
        ProjectionMask::columns(schema, ["kind"]),
        |batch: RecordBatch| {
            let kind = text_column(&batch, "kind")?;
            Ok(BooleanArray::from(
                (0..batch.num_rows())
                    .map(|row| !kind.is_null(row) && kind.value(row) == ALERT_RAISED)
                    .collect::<Vec<bool>>(),
            ))
        },
    );
    let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(handle, metadata.clone())
        .with_row_groups(row_groups)
        .with_projection(ProjectionMask::columns(schema, ["seq", "detail"]))
        .with_row_filter(RowFilter::new(vec![Box::new(predicate)]))
        .build()
        .map_err(|error| Error::bad_file(path, error))?;
    for batch in reader {
        let batch = batch.map_err(|error| Error::bad_file(path, error))?;
        let seqs = batch
            .column_by_name("seq")
            .and_then(|column| column.as_any().downcast_ref::<UInt64Array>())
            .ok_or_else(|| Error::bad_file(path, "column seq missing or of the wrong type"))?;
        let details =
            text_column(&batch, "detail").map_err(|error| Error::bad_file(path, error))?;
        for row in 0..batch.num_rows() {
            if details.is_null(row) {
                continue;
            }
            let text = details.value(row);
            // Cheap test before parsing: JSON writes an id verbatim unless it holds a quote, a
            // backslash or a control character, so without those a detail that does not
            // contain it is not this alert's.
            let escaped = id.chars().any(|c| c == '"' || c == '\\' || c.is_control());
            if !escaped && !text.contains(id) {
                continue;
            }
            let detail: BTreeMap<String, String> = serde_json::from_str(text).map_err(|error| {
                Error::bad_file(path, format!("seq {}: detail: {error}", seqs.value(row)))
            })?;
            if detail.get("alert_id").map(String::as_str) == Some(id) {
                return Ok(RaisedAlert::from_detail(seqs.value(row), &detail));
            }
        }
    }
    Ok(None)
}

fn text_column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a StringArray, ArrowError> {
    batch
        .column_by_name(name)
        .and_then(|column| column.as_any().downcast_ref::<StringArray>())
        .ok_or_else(|| {
            ArrowError::SchemaError(format!("column {name} missing or of the wrong type"))
        })
}
