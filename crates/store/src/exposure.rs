//! `ExposureStore` over SQLite: the `exposures` table, keyed by (range prefix, hash) so a
//! range is one contiguous primary-key scan.

use async_trait::async_trait;
use haechi_events::{StoreError, Timestamp};
use haechi_leak::exposure::{ExposedHash, Exposure, ExposureHash, ExposureStore, RangePrefix};
use sqlx::Row;

use crate::SqliteStore;
use crate::sqlite::backend;

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
                let hash = ExposureHash::from_bytes(&bytes)
                    .ok_or_else(|| StoreError::Corrupt("an exposure hash is not 20 bytes".into()))?;
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
mod tests {
    use super::*;

    #[tokio::test]
    async fn sightings_count_up_and_ranges_come_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db.sqlite")).await.unwrap();
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
