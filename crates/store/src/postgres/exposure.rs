//! `ExposureStore` over PostgreSQL: the `exposures` table, keyed by (range prefix, hash) so a
//! range is one contiguous primary-key scan.

use std::collections::BTreeMap;

use async_trait::async_trait;
use haechi_events::{StoreError, Timestamp};
use haechi_leak::exposure::{
    ExposedHash, Exposure, ExposureHash, ExposureKind, ExposureStore, RangePrefix,
};
use sqlx::Row as _;

use super::rows::from_bigint;
use super::{PgStore, backend};

/// Distinct hashes per upsert statement.
const UPSERT_ROWS: usize = 10_000;

#[async_trait]
impl ExposureStore for PgStore {
    async fn record_exposures(
        &self,
        exposures: &[Exposure],
        at: Timestamp,
    ) -> Result<u64, StoreError> {
        // One sighting each: a hash given n times counts up by n, as SQLite's row-by-row
        // upsert does; its kind is the one given first. Grouped here because one upsert may
        // not touch a row twice. In key order, so concurrent recorders lock rows in the same
        // order and cannot deadlock.
        let mut sightings: BTreeMap<(u32, [u8; 20]), (ExposureKind, i64)> = BTreeMap::new();
        for exposure in exposures {
            sightings
                .entry((exposure.hash.prefix().value(), *exposure.hash.as_bytes()))
                .or_insert((exposure.kind, 0))
                .1 += 1;
        }
        let sightings: Vec<_> = sightings.into_iter().collect();
        // All or nothing, as the trait asks: one transaction for every chunk.
        let mut transaction = self.pool.begin().await.map_err(backend)?;
        let mut new = 0u64;
        for chunk in sightings.chunks(UPSERT_ROWS) {
            let mut prefixes = Vec::with_capacity(chunk.len());
            let mut hashes = Vec::with_capacity(chunk.len());
            let mut kinds = Vec::with_capacity(chunk.len());
            let mut counts = Vec::with_capacity(chunk.len());
            for ((prefix, hash), (kind, count)) in chunk {
                prefixes.push(i32::try_from(*prefix).unwrap_or(i32::MAX));
                hashes.push(hash.as_slice());
                kinds.push(kind.as_str());
                counts.push(*count);
            }
            // `xmax = 0` on a returned row: this statement inserted it (an updated row
            // carries the updating transaction's id).
            let inserted: Vec<bool> = sqlx::query_scalar(
                "INSERT INTO exposures (prefix, hash, kind, count, first_seen, last_seen) \
                 SELECT prefix, hash, kind, count, $5, $5 \
                 FROM UNNEST($1::integer[], $2::bytea[], $3::text[], $4::bigint[]) \
                      AS given (prefix, hash, kind, count) \
                 ON CONFLICT (prefix, hash) DO UPDATE SET \
                 count = exposures.count + EXCLUDED.count, last_seen = EXCLUDED.last_seen \
                 RETURNING (xmax = 0)",
            )
            .bind(prefixes)
            .bind(hashes)
            .bind(kinds)
            .bind(counts)
            .bind(at.as_micros())
            .fetch_all(&mut *transaction)
            .await
            .map_err(backend)?;
            new += inserted.iter().filter(|inserted| **inserted).count() as u64;
        }
        transaction.commit().await.map_err(backend)?;
        Ok(new)
    }

    async fn exposure_range(&self, prefix: RangePrefix) -> Result<Vec<ExposedHash>, StoreError> {
        let rows = sqlx::query("SELECT hash, count FROM exposures WHERE prefix = $1 ORDER BY hash")
            .bind(i32::try_from(prefix.value()).unwrap_or(i32::MAX))
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
                    count: from_bigint(count),
                })
            })
            .collect()
    }

    async fn exposure_count(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM exposures")
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?;
        Ok(from_bigint(count))
    }
}
