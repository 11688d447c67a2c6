//! Leak watch over SQLite: `ExposureStore` (the `exposures` table, keyed by (range prefix, hash)
//! so a range is one contiguous primary-key scan), and the vault's bulk reads for leak
//! matching: blind-index lookups, the index snapshot, and the pass over every record.

use async_trait::async_trait;
use haechi_events::{StoreError, Timestamp};
use std::collections::HashMap;

use haechi_leak::exposure::{ExposedHash, Exposure, ExposureHash, ExposureStore, RangePrefix};
use haechi_vault::{
    BlindIndexKind, BlindIndexSnapshot, EncryptedRecord, IdentifyingRecord, IndexEntry, RecordRef,
};
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
    connection_with_cache(store, BULK_CACHE_PRAGMA).await
}

/// A pooled connection after `pragma` (a `cache_size`): the cache stays with the connection.
pub(crate) async fn connection_with_cache(
    store: &SqliteStore,
    pragma: &'static str,
) -> Result<sqlx::pool::PoolConnection<Sqlite>, StoreError> {
    let mut connection = store.pool.acquire().await.map_err(backend)?;
    sqlx::query(pragma)
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
    // Two subqueries: a lone min() or max() is read off the B-tree's edge; both in one SELECT
    // scan the table.
    let bounds: (Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT (SELECT min(rowid) FROM blind_index), (SELECT max(rowid) FROM blind_index)",
    )
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
/// Like the snapshot, the range comes back as **one** row, of `group_concat` aggregates: one
/// per integer column (decimal, space-separated), and per byte column its byte lengths and
/// its bytes end to end (SQLite concatenates bytes without looking at them). The aggregates
/// of one query see the rows in the same order (row-id order, from the subquery), so the
/// n-th entries belong together. Handing sqlx ten million rows one by one cost ~10 µs each
/// here (a channel send and a wake-up per row, and SQLite's copies freed on another thread) —
/// more than decrypting them.
pub(crate) async fn identifying_records_between(
    store: &SqliteStore,
    first: RecordRef,
    last: RecordRef,
) -> Result<Vec<IdentifyingRecord>, StoreError> {
    let mut connection = bulk_connection(store).await?;
    let row = sqlx::query(
        "SELECT group_concat(key_version, ' ') AS versions, \
         group_concat(length(CAST(customer_id AS BLOB)), ' ') AS id_lengths, \
         CAST(group_concat(customer_id, '') AS BLOB) AS ids, \
         group_concat(length(wrapped_data_key), ' ') AS key_lengths, \
         CAST(group_concat(wrapped_data_key, '') AS BLOB) AS keys, \
         group_concat(ifnull(length(name), 0), ' ') AS name_lengths, \
         CAST(group_concat(ifnull(name, x''), '') AS BLOB) AS names, \
         group_concat(ifnull(length(email), 0), ' ') AS email_lengths, \
         CAST(group_concat(ifnull(email, x''), '') AS BLOB) AS emails, \
         group_concat(ifnull(length(phone), 0), ' ') AS phone_lengths, \
         CAST(group_concat(ifnull(phone, x''), '') AS BLOB) AS phones \
         FROM (SELECT * FROM customers WHERE rowid BETWEEN ? AND ? ORDER BY rowid)",
    )
    .bind(first.0)
    .bind(last.0)
    .fetch_one(&mut *connection)
    .await
    .map_err(backend)?;
    drop(connection);
    let corrupt =
        || StoreError::Corrupt("a customer record did not read back in the expected shape".into());
    let numbers = |column: &str| -> Result<Vec<i64>, StoreError> {
        let text: Option<String> = row.try_get(column).map_err(backend)?;
        text.as_deref()
            .unwrap_or("")
            .split(' ')
            .filter(|n| !n.is_empty())
            .map(|n| n.parse().map_err(|_| corrupt()))
            .collect()
    };
    let slicer = |lengths: &str, values: &str| -> Result<Slicer, StoreError> {
        let bytes: Option<Vec<u8>> = row.try_get(values).map_err(backend)?;
        Ok(Slicer::new(bytes.unwrap_or_default(), numbers(lengths)?))
    };
    let versions = numbers("versions")?;
    let mut ids = slicer("id_lengths", "ids")?;
    let mut keys = slicer("key_lengths", "keys")?;
    let mut names = slicer("name_lengths", "names")?;
    let mut emails = slicer("email_lengths", "emails")?;
    let mut phones = slicer("phone_lengths", "phones")?;
    let mut records = Vec::with_capacity(versions.len());
    for version in versions {
        records.push(IdentifyingRecord {
            customer_id: String::from_utf8(ids.next().ok_or_else(corrupt)?.to_vec())
                .map_err(|_| corrupt())?,
            wrapped_data_key: keys.next().ok_or_else(corrupt)?.to_vec(),
            key_version: u32::try_from(version).map_err(|_| corrupt())?,
            name: names.next().ok_or_else(corrupt)?.to_vec(),
            email: emails.next().ok_or_else(corrupt)?.to_vec(),
            phone: phones.next().ok_or_else(corrupt)?.to_vec(),
        });
    }
    if [&ids, &keys, &names, &emails, &phones]
        .iter()
        .any(|s| !s.is_done())
    {
        return Err(corrupt());
    }
    Ok(records)
}

/// Cuts a concatenation of values into the values, by their lengths.
struct Slicer {
    bytes: Vec<u8>,
    lengths: std::vec::IntoIter<i64>,
    at: usize,
}

impl Slicer {
    fn new(bytes: Vec<u8>, lengths: Vec<i64>) -> Self {
        Slicer {
            bytes,
            lengths: lengths.into_iter(),
            at: 0,
        }
    }

    fn next(&mut self) -> Option<&[u8]> {
        let length = usize::try_from(self.lengths.next()?).ok()?;
        let end = self.at.checked_add(length)?;
        let value = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(value)
    }

    fn is_done(&self) -> bool {
        self.at == self.bytes.len() && self.lengths.len() == 0
    }
}

/// The smallest and largest row id of `customers` (`None` when it is empty).
pub(crate) async fn record_span(
    store: &SqliteStore,
) -> Result<Option<(RecordRef, RecordRef)>, StoreError> {
    // Two subqueries: SQLite answers a lone min() or max() from the B-tree's edge, but both
    // in one SELECT scan the table.
    let (first, last): (Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT (SELECT min(rowid) FROM customers), (SELECT max(rowid) FROM customers)",
    )
    .fetch_one(&store.pool)
    .await
    .map_err(backend)?;
    Ok(first
        .zip(last)
        .map(|(first, last)| (RecordRef(first), RecordRef(last))))
}

/// Hashes per statement when recording exposures (6 bound values each: well under SQLite's
/// limit of bound parameters).
const UPSERT_ROWS: usize = 500;
/// Rows written per transaction when recording many exposures.
const RECORD_BATCH: usize = 10_000;

#[async_trait]
impl ExposureStore for SqliteStore {
    async fn record_exposures(
        &self,
        exposures: &[Exposure],
        at: Timestamp,
    ) -> Result<u64, StoreError> {
        // One transaction per RECORD_BATCH, two statements per UPSERT_ROWS: how many of the
        // hashes exist already, then one upsert of them all. (A statement per hash cost a
        // round trip to sqlx's worker thread each: tens of seconds for millions.) In key order,
        // on a connection with a large page cache, so the inserts walk the table's B-tree
        // once instead of landing on random pages.
        let mut sorted: Vec<&Exposure> = exposures.iter().collect();
        sorted.sort_unstable_by_key(|exposure| {
            (exposure.hash.prefix().value(), *exposure.hash.as_bytes())
        });
        let mut connection = bulk_connection(self).await?;
        let mut new = 0u64;
        for chunk in sorted.chunks(RECORD_BATCH) {
            let mut transaction = sqlx::Connection::begin(&mut *connection)
                .await
                .map_err(backend)?;
            for rows in chunk.chunks(UPSERT_ROWS) {
                let mut existing = QueryBuilder::<Sqlite>::new(
                    "SELECT count(*) FROM exposures WHERE (prefix, hash) IN (VALUES ",
                );
                let mut separated = existing.separated(", ");
                for exposure in rows {
                    separated.push("(");
                    separated.push_bind_unseparated(i64::from(exposure.hash.prefix().value()));
                    separated.push_unseparated(", ");
                    separated.push_bind_unseparated(exposure.hash.as_bytes().to_vec());
                    separated.push_unseparated(")");
                }
                existing.push(")");
                let found: i64 = existing
                    .build_query_scalar()
                    .fetch_one(&mut *transaction)
                    .await
                    .map_err(backend)?;
                let mut upsert = QueryBuilder::<Sqlite>::new(
                    "INSERT INTO exposures (prefix, hash, kind, count, first_seen, last_seen) ",
                );
                upsert.push_values(rows, |mut row, exposure| {
                    row.push_bind(i64::from(exposure.hash.prefix().value()))
                        .push_bind(exposure.hash.as_bytes().to_vec())
                        .push_bind(exposure.kind.as_str())
                        .push_bind(1i64)
                        .push_bind(at.as_micros())
                        .push_bind(at.as_micros());
                });
                upsert.push(
                    " ON CONFLICT (prefix, hash) DO UPDATE SET count = count + 1, \
                     last_seen = excluded.last_seen",
                );
                upsert
                    .build()
                    .execute(&mut *transaction)
                    .await
                    .map_err(backend)?;
                let distinct: std::collections::HashSet<&[u8; 20]> = rows
                    .iter()
                    .map(|exposure| exposure.hash.as_bytes())
                    .collect();
                new += (distinct.len() as u64).saturating_sub(u64::try_from(found).unwrap_or(0));
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
