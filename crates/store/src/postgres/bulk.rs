//! The vault's bulk reads for leak matching over PostgreSQL: blind-index lookups of many
//! values, records of many ids or handles, the whole index as a snapshot, and the pass over
//! every record by ranges of handles.
//!
//! Every lookup of many keys is one statement per [`ARRAY_CHUNK`] keys with the keys bound as
//! one array (`= ANY($1)`), never a statement per key. A record's handle (`RecordRef`) is its
//! `record_ref`, an identity column that nothing outside this store sees.

use std::collections::HashMap;

use futures::TryStreamExt as _;
use haechi_events::StoreError;
use haechi_vault::{
    BlindIndexKind, BlindIndexSnapshot, EncryptedRecord, IdentifyingRecord, IndexEntry, RecordRef,
};
use sqlx::Row as _;

use super::vault::record_from_row;
use super::{PgStore, backend};

/// Keys per array-bound statement: large enough that round trips do not matter, small enough
/// that one answer stays a few megabytes.
const ARRAY_CHUNK: usize = 10_000;

/// Candidates of many blind-index entries: one `= ANY` query per kind and 10,000 values.
pub(super) async fn candidates_of_many(
    store: &PgStore,
    entries: &[IndexEntry],
) -> Result<Vec<Vec<String>>, StoreError> {
    let mut found: HashMap<(BlindIndexKind, i64), Vec<String>> = HashMap::new();
    for kind in [BlindIndexKind::Email, BlindIndexKind::Phone] {
        let mut values: Vec<i64> = entries
            .iter()
            .filter(|entry| entry.kind == kind)
            .map(|entry| entry.value)
            .collect();
        values.sort_unstable();
        values.dedup();
        for chunk in values.chunks(ARRAY_CHUNK) {
            let rows: Vec<(i64, String)> = sqlx::query_as(
                "SELECT value, customer_id FROM blind_index \
                 WHERE kind = $1 AND value = ANY($2::bigint[])",
            )
            .bind(kind.as_str())
            .bind(chunk)
            .fetch_all(&store.pool)
            .await
            .map_err(backend)?;
            for (value, id) in rows {
                found.entry((kind, value)).or_default().push(id);
            }
        }
    }
    Ok(entries
        .iter()
        .map(|entry| {
            let mut ids = found
                .get(&(entry.kind, entry.value))
                .cloned()
                .unwrap_or_default();
            ids.sort();
            ids
        })
        .collect())
}

/// Records of many ids (order not kept, missing ids skipped): one `= ANY` query per 10,000.
pub(super) async fn records_in_bulk(
    store: &PgStore,
    customer_ids: &[String],
) -> Result<Vec<EncryptedRecord>, StoreError> {
    let mut records = Vec::with_capacity(customer_ids.len());
    for chunk in customer_ids.chunks(ARRAY_CHUNK) {
        let rows = sqlx::query(
            "SELECT customer_id, wrapped_data_key, key_version, name, email, phone, birth_date, \
             customs_code, addresses, created_at, updated_at FROM customers \
             WHERE customer_id = ANY($1::text[])",
        )
        .bind(chunk)
        .fetch_all(&store.pool)
        .await
        .map_err(backend)?;
        for row in &rows {
            records.push(record_from_row(row)?);
        }
    }
    Ok(records)
}

/// The whole blind index, each entry with its record's handle, streamed into a snapshot
/// (never a list of rows) by one `COPY … TO STDOUT`: one statement, so one consistent moment
/// of the index, sent as tab-separated text in large chunks and parsed at tens of nanoseconds
/// an entry — where result rows would cost a message, a row object and a decode each.
pub(super) async fn blind_index_snapshot(
    store: &PgStore,
) -> Result<BlindIndexSnapshot, StoreError> {
    let mut connection = store.pool.acquire().await.map_err(backend)?;
    let mut stream = connection
        .copy_out_raw(
            "COPY (SELECT b.kind, b.value, c.record_ref FROM blind_index AS b \
             JOIN customers AS c ON c.customer_id = b.customer_id) TO STDOUT",
        )
        .await
        .map_err(backend)?;
    let mut snapshot = BlindIndexSnapshot::default();
    // A chunk may end inside a line: the unfinished tail waits for the next chunk.
    let mut pending: Vec<u8> = Vec::new();
    while let Some(chunk) = stream.try_next().await.map_err(backend)? {
        pending.extend_from_slice(&chunk);
        let complete = pending
            .iter()
            .rposition(|byte| *byte == b'\n')
            .map_or(0, |newline| newline + 1);
        for line in pending[..complete].split(|byte| *byte == b'\n') {
            if line.is_empty() {
                continue;
            }
            let (entry, record) = parse_snapshot_line(line).ok_or_else(|| {
                StoreError::Corrupt("a blind-index entry did not read back as expected".into())
            })?;
            snapshot.push(entry, record);
        }
        pending.drain(..complete);
    }
    if !pending.is_empty() {
        return Err(StoreError::Corrupt(
            "the blind-index snapshot ended inside an entry".into(),
        ));
    }
    Ok(snapshot.seal())
}

/// `kind<TAB>value<TAB>record_ref` as an entry and its handle.
fn parse_snapshot_line(line: &[u8]) -> Option<(IndexEntry, RecordRef)> {
    let mut parts = line.split(|byte| *byte == b'\t');
    let kind = match parts.next()? {
        b"email" => BlindIndexKind::Email,
        b"phone" => BlindIndexKind::Phone,
        _ => return None,
    };
    let value = parse_i64(parts.next()?)?;
    let record = parse_i64(parts.next()?)?;
    if parts.next().is_some() {
        return None;
    }
    Some((IndexEntry { kind, value }, RecordRef(record)))
}

fn parse_i64(digits: &[u8]) -> Option<i64> {
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Records by handle, each with its handle (order not kept, records gone since skipped): one
/// `= ANY` query per 10,000 handles, each a probe of the `record_ref` index.
pub(super) async fn records_by_ref(
    store: &PgStore,
    records: &[RecordRef],
) -> Result<Vec<(RecordRef, EncryptedRecord)>, StoreError> {
    let mut found = Vec::with_capacity(records.len());
    for chunk in records.chunks(ARRAY_CHUNK) {
        let handles: Vec<i64> = chunk.iter().map(|record| record.0).collect();
        let rows = sqlx::query(
            "SELECT record_ref, customer_id, wrapped_data_key, key_version, name, email, phone, \
             birth_date, customs_code, addresses, created_at, updated_at FROM customers \
             WHERE record_ref = ANY($1::bigint[])",
        )
        .bind(handles)
        .fetch_all(&store.pool)
        .await
        .map_err(backend)?;
        for row in &rows {
            let record: i64 = row.try_get("record_ref").map_err(backend)?;
            found.push((RecordRef(record), record_from_row(row)?));
        }
    }
    Ok(found)
}

/// The smallest and the largest handle (`None` when there is no record): two probes of the
/// `record_ref` index's ends.
pub(super) async fn record_span(
    store: &PgStore,
) -> Result<Option<(RecordRef, RecordRef)>, StoreError> {
    let (first, last): (Option<i64>, Option<i64>) =
        sqlx::query_as("SELECT min(record_ref), max(record_ref) FROM customers")
            .fetch_one(&store.pool)
            .await
            .map_err(backend)?;
    Ok(first
        .zip(last)
        .map(|(first, last)| (RecordRef(first), RecordRef(last))))
}

/// The records whose handles lie in `first..=last`, in handle order, with only their
/// identifying fields (the wide columns, addresses above all, are not sent).
pub(super) async fn identifying_records_between(
    store: &PgStore,
    first: RecordRef,
    last: RecordRef,
) -> Result<Vec<IdentifyingRecord>, StoreError> {
    let rows = sqlx::query(
        "SELECT customer_id, wrapped_data_key, key_version, name, email, phone FROM customers \
         WHERE record_ref BETWEEN $1 AND $2 ORDER BY record_ref",
    )
    .bind(first.0)
    .bind(last.0)
    .fetch_all(&store.pool)
    .await
    .map_err(backend)?;
    let corrupt =
        || StoreError::Corrupt("a customer record did not read back in the expected shape".into());
    rows.iter()
        .map(|row| {
            // By position: a name lookup per column per row is measurable at millions of rows.
            let version: i64 = row.try_get(2).map_err(backend)?;
            let sealed = |index: usize| -> Result<Vec<u8>, StoreError> {
                let value: Option<Vec<u8>> = row.try_get(index).map_err(backend)?;
                Ok(value.unwrap_or_default())
            };
            Ok(IdentifyingRecord {
                customer_id: row.try_get(0).map_err(backend)?,
                wrapped_data_key: row.try_get(1).map_err(backend)?,
                key_version: u32::try_from(version).map_err(|_| corrupt())?,
                name: sealed(3)?,
                email: sealed(4)?,
                phone: sealed(5)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_lines_parse_and_anything_else_is_refused() {
        let entry = |kind, value| IndexEntry { kind, value };
        assert_eq!(
            parse_snapshot_line(b"email\t-9223372036854775808\t7"),
            Some((entry(BlindIndexKind::Email, i64::MIN), RecordRef(7)))
        );
        assert_eq!(
            parse_snapshot_line(b"phone\t42\t9223372036854775807"),
            Some((entry(BlindIndexKind::Phone, 42), RecordRef(i64::MAX)))
        );
        for bad in [
            &b"fax\t1\t2"[..],
            b"email\t1",
            b"email\t1\t2\t3",
            b"email\t\\N\t2",
            b"email\tx\t2",
        ] {
            assert_eq!(parse_snapshot_line(bad), None, "{bad:?}");
        }
    }
}
