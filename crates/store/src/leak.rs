//! Leak watch over SQLite: `ExposureStore` (the `exposures` table, keyed by (range prefix, hash)
//! so a range is one contiguous primary-key scan) and bulk blind-index lookups for leak matching.

use async_trait::async_trait;
use haechi_events::{StoreError, Timestamp};
use std::collections::HashMap;

use haechi_leak::exposure::{ExposedHash, Exposure, ExposureHash, ExposureStore, RangePrefix};
use haechi_vault::{BlindIndexKind, EncryptedRecord, IndexEntry};
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
}
