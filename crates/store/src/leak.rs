//! Leak watch over SQLite: `ExposureStore` (the `exposures` table, keyed by (range prefix, hash)
//! so a range is one contiguous primary-key scan) and bulk blind-index lookups for leak matching.

use async_trait::async_trait;
use haechi_events::{StoreError, Timestamp};
use std::collections::HashMap;

use haechi_leak::exposure::{ExposedHash, Exposure, ExposureHash, ExposureStore, RangePrefix};
use haechi_vault::{BlindIndexKind, BlindIndexSnapshot, EncryptedRecord, IndexEntry, RecordRef};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite};

use crate::SqliteStore;
use crate::sqlite::backend;

/// Values per `IN (…)` list: well under SQLite's limit on bound parameters.
const IN_LIST: usize = 500;
/// Page cache of the connection that answers bulk lookups: 128 MiB (SQLite's default is
/// 2 MiB, far less than the blind index of a million customers; each miss is a `pread`).
const BULK_CACHE_PRAGMA: &str = "PRAGMA cache_size = -131072";

/// A pooled connection with a page cache large enough for bulk lookups.
async fn bulk_connection(
    store: &SqliteStore,
) -> Result<sqlx::pool::PoolConnection<Sqlite>, StoreError> {
    let mut connection = store.pool.acquire().await.map_err(backend)?;
    sqlx::query(BULK_CACHE_PRAGMA)
        .execute(&mut *connection)
        .await
        .map_err(backend)?;
    Ok(connection)
}

/// Candidates of many blind-index entries: one `IN` query per kind and 500 values.
pub(crate) async fn candidates_of_many(
    store: &SqliteStore,
    entries: &[IndexEntry],
) -> Result<Vec<Vec<String>>, StoreError> {
    let mut found: HashMap<(BlindIndexKind, i64), Vec<String>> = HashMap::new();
    let mut connection = bulk_connection(store).await?;
    for kind in [BlindIndexKind::Email, BlindIndexKind::Phone] {
        let mut values: Vec<i64> = entries
            .iter()
            .filter(|entry| entry.kind == kind)
            .map(|entry| entry.value)
            .collect();
        values.sort_unstable();
        values.dedup();
        for chunk in values.chunks(IN_LIST) {
            let mut query = QueryBuilder::<Sqlite>::new(
                "SELECT value, customer_id FROM blind_index WHERE kind = ",
            );
            query.push_bind(kind.as_str()).push(" AND value IN (");
            let mut separated = query.separated(", ");
            for value in chunk {
                separated.push_bind(*value);
            }
            separated.push_unseparated(")");
            let rows = query
                .build()
                .fetch_all(&mut *connection)
                .await
                .map_err(backend)?;
            for row in rows {
                let value: i64 = row.try_get("value").map_err(backend)?;
                let id: String = row.try_get("customer_id").map_err(backend)?;
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

/// Records of many ids: one `IN` query per 500.
pub(crate) async fn records_in_bulk(
    store: &SqliteStore,
    customer_ids: &[String],
    from_row: fn(&SqliteRow) -> Result<EncryptedRecord, StoreError>,
) -> Result<Vec<EncryptedRecord>, StoreError> {
    let mut records = Vec::with_capacity(customer_ids.len());
    let mut connection = bulk_connection(store).await?;
    for chunk in customer_ids.chunks(IN_LIST) {
        let mut query =
            QueryBuilder::<Sqlite>::new("SELECT * FROM customers WHERE customer_id IN (");
        let mut separated = query.separated(", ");
        for id in chunk {
            separated.push_bind(id.as_str());
        }
        separated.push_unseparated(")");
        let rows = query
            .build()
            .fetch_all(&mut *connection)
            .await
            .map_err(backend)?;
        for row in &rows {
            records.push(from_row(row)?);
        }
    }
    Ok(records)
}

/// `blind_index` row ids read per snapshot query.
const SNAPSHOT_RANGE: i64 = 65_536;

/// The whole blind index, each entry with the row id of its customer's record, streamed into a
/// snapshot (never a list of rows): one sequential pass over the `blind_index` table in ranges
/// of row ids, probing the customers' primary-key index (which holds the row id, so the
/// customers table itself is not read).
///
/// Each range comes back as **one** row of text, `value,rowid value,rowid …`, built by
/// `group_concat`: sqlx hands every result row from its SQLite worker thread to the caller
/// separately, which costs microseconds a row — more than the lookup itself, and minutes at
/// tens of millions of entries. Parsing the text costs tens of nanoseconds an entry.
pub(crate) async fn blind_index_snapshot(
    store: &SqliteStore,
) -> Result<BlindIndexSnapshot, StoreError> {
    let mut snapshot = BlindIndexSnapshot::default();
    let mut connection = bulk_connection(store).await?;
    let bounds: (Option<i64>, Option<i64>) =
        sqlx::query_as("SELECT min(rowid), max(rowid) FROM blind_index")
            .fetch_one(&mut *connection)
            .await
            .map_err(backend)?;
    let (Some(lowest), Some(last)) = bounds else {
        return Ok(snapshot.seal());
    };
    for kind in [BlindIndexKind::Email, BlindIndexKind::Phone] {
        let mut first = lowest;
        while first <= last {
            let end = first.saturating_add(SNAPSHOT_RANGE - 1).max(first);
            let entries: Option<String> = sqlx::query_scalar(
                // `+b.kind`: filter on the kind without its index, so the scan follows the
                // row-id range through the table in order.
                "SELECT group_concat(b.value || ',' || c.rowid, ' ') FROM blind_index AS b \
                 JOIN customers AS c ON c.customer_id = b.customer_id \
                 WHERE b.rowid BETWEEN ? AND ? AND +b.kind = ?",
            )
            .bind(first)
            .bind(end)
            .bind(kind.as_str())
            .fetch_one(&mut *connection)
            .await
            .map_err(backend)?;
            for pair in entries.as_deref().unwrap_or("").split_ascii_whitespace() {
                let (value, record) = parse_pair(pair).ok_or_else(|| {
                    StoreError::Corrupt("a blind-index entry did not read back as integers".into())
                })?;
                snapshot.push(IndexEntry { kind, value }, RecordRef(record));
            }
            if end == i64::MAX {
                break;
            }
            first = end + 1;
        }
    }
    Ok(snapshot.seal())
}

/// `value,rowid` as two integers.
fn parse_pair(pair: &str) -> Option<(i64, i64)> {
    let (value, record) = pair.split_once(',')?;
    Some((value.parse().ok()?, record.parse().ok()?))
}

/// Records by row id, each with its handle: one `IN` query per 500 (integer keys: one probe of
/// the table's own B-tree each, no detour through the customer-id index).
pub(crate) async fn records_by_ref(
    store: &SqliteStore,
    records: &[RecordRef],
    from_row: fn(&SqliteRow) -> Result<EncryptedRecord, StoreError>,
) -> Result<Vec<(RecordRef, EncryptedRecord)>, StoreError> {
    let mut found = Vec::with_capacity(records.len());
    let mut connection = bulk_connection(store).await?;
    for chunk in records.chunks(IN_LIST) {
        let mut query = QueryBuilder::<Sqlite>::new(
            "SELECT rowid AS record_ref, * FROM customers WHERE rowid IN (",
        );
        let mut separated = query.separated(", ");
        for record in chunk {
            separated.push_bind(record.0);
        }
        separated.push_unseparated(")");
        let rows = query
            .build()
            .fetch_all(&mut *connection)
            .await
            .map_err(backend)?;
        for row in &rows {
            let record: i64 = row.try_get("record_ref").map_err(backend)?;
            found.push((RecordRef(record), from_row(row)?));
        }
    }
    Ok(found)
}

/// The records in a range of row ids with only their identifying fields: one range scan of
/// the table's own B-tree (the columns after `phone`, addresses above all, are not read).
///
/// Like the snapshot, the range comes back as **one** value, built by `group_concat`: per
/// record a text header `rowid version created updated` and the byte lengths of the id, the
/// wrapped key, name, e-mail and phone, a `:`, then those bytes as they are stored (SQLite
/// concatenates bytes without looking at them). Handing sqlx ten million rows one by one cost
/// ~10 µs each here (a channel send and a wake-up per row, and SQLite's copies freed on
/// another thread) — more than decrypting them; text with hex in it still cost a third of the
/// pass in decoding.
pub(crate) async fn identifying_records_between(
    store: &SqliteStore,
    first: RecordRef,
    last: RecordRef,
) -> Result<Vec<(RecordRef, EncryptedRecord)>, StoreError> {
    let mut connection = bulk_connection(store).await?;
    let page: Option<Vec<u8>> = sqlx::query_scalar(
        "SELECT CAST(group_concat(rowid || ' ' || key_version || ' ' || created_at || ' ' || \
         updated_at || ' ' || length(CAST(customer_id AS BLOB)) || ' ' || \
         length(wrapped_data_key) || ' ' || ifnull(length(name), 0) || ' ' || \
         ifnull(length(email), 0) || ' ' || ifnull(length(phone), 0) || ':' || \
         CAST(customer_id AS BLOB) || wrapped_data_key || ifnull(name, x'') || \
         ifnull(email, x'') || ifnull(phone, x''), '') AS BLOB) \
         FROM customers WHERE rowid BETWEEN ? AND ?",
    )
    .bind(first.0)
    .bind(last.0)
    .fetch_one(&mut *connection)
    .await
    .map_err(backend)?;
    let corrupt =
        || StoreError::Corrupt("a customer record did not read back in the expected shape".into());
    let mut records = Vec::new();
    let mut rest = page.as_deref().unwrap_or_default();
    while !rest.is_empty() {
        let (record, after_record) = parse_identifying_record(rest).ok_or_else(corrupt)?;
        records.push(record);
        rest = after_record;
    }
    // The aggregate's order is SQLite's to choose.
    records.sort_unstable_by_key(|(record, _)| *record);
    Ok(records)
}

/// The smallest and largest row id of `customers` (`None` when it is empty).
pub(crate) async fn record_span(
    store: &SqliteStore,
) -> Result<Option<(RecordRef, RecordRef)>, StoreError> {
    let (first, last): (Option<i64>, Option<i64>) =
        sqlx::query_as("SELECT min(rowid), max(rowid) FROM customers")
            .fetch_one(&store.pool)
            .await
            .map_err(backend)?;
    Ok(first
        .zip(last)
        .map(|(first, last)| (RecordRef(first), RecordRef(last))))
}

/// The first record of [`identifying_records_between`]'s bytes, and the bytes after it.
fn parse_identifying_record(bytes: &[u8]) -> Option<((RecordRef, EncryptedRecord), &[u8])> {
    let colon = bytes.iter().position(|&b| b == b':')?;
    let header = std::str::from_utf8(&bytes[..colon]).ok()?;
    let mut numbers = header.split(' ').map(|n| n.parse::<i64>().ok());
    let mut next = || numbers.next().flatten();
    let handle = next()?;
    let key_version = u32::try_from(next()?).ok()?;
    let created_at = next()?;
    let updated_at = next()?;
    let mut lengths = [0usize; 5];
    for length in &mut lengths {
        *length = usize::try_from(next()?).ok()?;
    }
    if next().is_some() {
        return None;
    }
    let mut rest = &bytes[colon + 1..];
    let mut take = |length: usize| {
        let (taken, after) = rest.split_at_checked(length)?;
        rest = after;
        Some(taken)
    };
    let customer_id = String::from_utf8(take(lengths[0])?.to_vec()).ok()?;
    let wrapped_data_key = take(lengths[1])?.to_vec();
    let mut fields = std::collections::BTreeMap::new();
    for (column, length) in ["name", "email", "phone"].into_iter().zip(&lengths[2..]) {
        let value = take(*length)?;
        if !value.is_empty() {
            fields.insert(column.to_string(), value.to_vec());
        }
    }
    let record = EncryptedRecord {
        customer_id,
        wrapped_data_key,
        key_version,
        fields,
        created_at: Timestamp::from_micros(created_at),
        updated_at: Timestamp::from_micros(updated_at),
    };
    Some(((RecordRef(handle), record), rest))
}

/// Rows written per transaction when recording many exposures.
const RECORD_BATCH: usize = 10_000;

#[async_trait]
impl ExposureStore for SqliteStore {
    async fn record_exposures(
        &self,
        exposures: &[Exposure],
        at: Timestamp,
    ) -> Result<u64, StoreError> {
        let mut new = 0u64;
        for chunk in exposures.chunks(RECORD_BATCH) {
            let mut transaction = self.pool.begin().await.map_err(backend)?;
            for exposure in chunk {
                let prefix = i64::from(exposure.hash.prefix().value());
                let updated = sqlx::query(
                    "UPDATE exposures SET count = count + 1, last_seen = ? \
                     WHERE prefix = ? AND hash = ?",
                )
                .bind(at.as_micros())
                .bind(prefix)
                .bind(exposure.hash.as_bytes().as_slice())
                .execute(&mut *transaction)
                .await
                .map_err(backend)?
                .rows_affected();
                if updated == 0 {
                    sqlx::query(
                        "INSERT INTO exposures (prefix, hash, kind, count, first_seen, last_seen) \
                         VALUES (?, ?, ?, 1, ?, ?)",
                    )
                    .bind(prefix)
                    .bind(exposure.hash.as_bytes().as_slice())
                    .bind(exposure.kind.as_str())
                    .bind(at.as_micros())
                    .bind(at.as_micros())
                    .execute(&mut *transaction)
                    .await
                    .map_err(backend)?;
                    new += 1;
                }
            }
            transaction.commit().await.map_err(backend)?;
        }
        Ok(new)
    }

    async fn exposure_range(&self, prefix: RangePrefix) -> Result<Vec<ExposedHash>, StoreError> {
        let rows = sqlx::query("SELECT hash, count FROM exposures WHERE prefix = ? ORDER BY hash")
            .bind(i64::from(prefix.value()))
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|row| {
                let bytes: Vec<u8> = row.try_get("hash").map_err(backend)?;
                let count: i64 = row.try_get("count").map_err(backend)?;
                let hash = ExposureHash::from_bytes(&bytes).ok_or_else(|| {
                    StoreError::Corrupt("an exposure hash is not 20 bytes".into())
                })?;
                Ok(ExposedHash {
                    hash,
                    count: u64::try_from(count).unwrap_or(0),
                })
            })
            .collect()
    }

    async fn exposure_count(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM exposures")
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?;
        Ok(u64::try_from(count).unwrap_or(0))
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

    #[tokio::test]
    async fn sightings_count_up_and_ranges_come_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db.sqlite"))
            .await
            .unwrap();
        let a = Exposure::of_normalised(haechi_leak::exposure::ExposureKind::Email, "a@b.kr");
        let b = Exposure::of_normalised(haechi_leak::exposure::ExposureKind::Phone, "01023456789");
        let t = Timestamp::from_micros(1);
        assert_eq!(store.record_exposures(&[a, b], t).await.unwrap(), 2);
        assert_eq!(store.record_exposures(&[a], t).await.unwrap(), 0);
        let range = store.exposure_range(a.hash.prefix()).await.unwrap();
        assert_eq!(
            range,
            [ExposedHash {
                hash: a.hash,
                count: 2
            }]
        );
        assert_eq!(store.exposure_count().await.unwrap(), 2);
    }

    fn record(id: &str) -> EncryptedRecord {
        EncryptedRecord {
            customer_id: id.into(),
            wrapped_data_key: vec![1, 2, 3],
            key_version: 1,
            fields: [("email".to_string(), id.as_bytes().to_vec())].into(),
            created_at: Timestamp::from_micros(1),
            updated_at: Timestamp::from_micros(1),
        }
    }

    fn entry(kind: BlindIndexKind, value: i64) -> IndexEntry {
        IndexEntry { kind, value }
    }

    /// The snapshot answers every entry as the per-entry lookup does, its handles fetch the
    /// records they name, and a record shredded after the snapshot was read is skipped.
    #[tokio::test]
    async fn snapshots_agree_with_lookups_and_handles_fetch_their_records() {
        use haechi_vault::VaultStore as _;
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db.sqlite"))
            .await
            .unwrap();
        let (email, phone) = (BlindIndexKind::Email, BlindIndexKind::Phone);
        // c-a and c-b share an e-mail index value (truncated indexes collide); c-c's phone
        // value equals their e-mail value under the other kind.
        let customers = [
            ("c-a", vec![entry(email, 7), entry(phone, -3)]),
            ("c-b", vec![entry(email, 7), entry(phone, 11)]),
            ("c-c", vec![entry(email, i64::MAX), entry(phone, 7)]),
        ];
        for (id, indexes) in &customers {
            store.insert_record(&record(id), indexes).await.unwrap();
        }
        let snapshot = store.blind_index_snapshot().await.unwrap().unwrap();
        assert_eq!(snapshot.len(), 6);
        let probes = [
            entry(email, 7),
            entry(phone, 7),
            entry(phone, -3),
            entry(email, i64::MAX),
            entry(phone, 12),
            entry(email, i64::MIN),
        ];
        for probe in probes {
            let handles: Vec<RecordRef> = snapshot.candidates(probe).collect();
            let mut ids: Vec<String> = store
                .records_by_ref(&handles)
                .await
                .unwrap()
                .into_iter()
                .map(|(_, record)| record.customer_id)
                .collect();
            ids.sort();
            assert_eq!(ids, store.candidates(probe).await.unwrap(), "{probe:?}");
        }
        let handles: Vec<RecordRef> = snapshot.candidates(entry(email, 7)).collect();
        let fetched = store.records_by_ref(&handles).await.unwrap();
        for (handle, fetched) in &fetched {
            assert!(handles.contains(handle));
            let id = fetched.customer_id.as_str();
            assert_eq!(*fetched, record(id));
        }
        assert!(store.shred("c-a").await.unwrap());
        let after: Vec<String> = store
            .records_by_ref(&handles)
            .await
            .unwrap()
            .into_iter()
            .map(|(_, record)| record.customer_id)
            .collect();
        assert_eq!(after, ["c-b"]);
    }
}
