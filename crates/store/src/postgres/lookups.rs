//! The lookup-miss limit and the lookup statistics shared by every node
//! (`haechi_vault::LookupLimits`, migration 9).
//!
//! An admission is one statement, `haechi_admit_lookup`: under the principal's advisory lock
//! it counts the misses of the last minute — and the lookups admitted but not yet settled,
//! each of which reserves a miss — and reserves one if there is room. So the limit is exact
//! across nodes even for lookups admitted at the same moment: of those racing for the last
//! places, at most the limit get through. Settling a hit takes its reservation back; a miss
//! keeps it. The ten-minute statistics are counted per ten-second bucket by an upsert, which
//! concurrent settlements on any node add to without losing a count.

use async_trait::async_trait;
use haechi_events::{StoreError, Timestamp};
use haechi_vault::{
    LOOKUP_BUCKET_SECS, LOOKUP_MISS_WINDOW, LOOKUP_STATS_WINDOW, LookupAdmission, LookupLimits,
    LookupResult, LookupStats,
};
use sqlx::Row as _;

use super::{PgStore, backend};

fn count(value: i64) -> u32 {
    u32::try_from(value.max(0)).unwrap_or(u32::MAX)
}

#[async_trait]
impl LookupLimits for PgStore {
    async fn admit(
        &self,
        principal: &str,
        limit: u32,
        now: Timestamp,
    ) -> Result<LookupAdmission, StoreError> {
        if limit == 0 {
            // Lookups are off.
            return Ok(LookupAdmission::Limited {
                retry_after_secs: LOOKUP_MISS_WINDOW.as_secs(),
            });
        }
        let limit = i32::try_from(limit).unwrap_or(i32::MAX);
        let limiting: Option<i64> =
            sqlx::query_scalar("SELECT haechi_admit_lookup($1, $2, $3, $4)")
                .bind(principal)
                .bind(limit)
                .bind(now.minus(LOOKUP_MISS_WINDOW).as_micros())
                .bind(now.as_micros())
                .fetch_one(&self.pool)
                .await
                .map_err(backend)?;
        Ok(match limiting {
            None => LookupAdmission::Admitted,
            Some(missed_at) => LookupAdmission::Limited {
                retry_after_secs: Timestamp::from_micros(missed_at)
                    .plus(LOOKUP_MISS_WINDOW)
                    .since(now)
                    .as_secs()
                    .max(1),
            },
        })
    }

    async fn settle(
        &self,
        principal: &str,
        admitted_at: Timestamp,
        result: LookupResult,
        _limit: u32,
        now: Timestamp,
    ) -> Result<LookupStats, StoreError> {
        let bucket = now.as_secs().div_euclid(LOOKUP_BUCKET_SECS);
        let buckets_kept =
            i64::try_from(LOOKUP_STATS_WINDOW.as_secs()).unwrap_or(i64::MAX) / LOOKUP_BUCKET_SECS;
        let oldest = bucket - buckets_kept;
        let miss = i32::from(result == LookupResult::Miss);
        // One statement: a hit's reservation taken back (a miss keeps it: it is the miss),
        // the bucket counted up, buckets older than the window deleted, and the sums over the
        // window — this bucket's new counts from the upsert, the others from the statement's
        // snapshot.
        let row = sqlx::query(
            "WITH released AS (DELETE FROM lookup_misses WHERE ctid IN ( \
                                 SELECT ctid FROM lookup_misses \
                                 WHERE principal = $1 AND missed_at = $2 AND $5 = 0 LIMIT 1)), \
             aged AS (DELETE FROM lookup_buckets WHERE principal = $1 AND bucket <= $4), \
             counted AS (INSERT INTO lookup_buckets (principal, bucket, lookups, misses) \
                         VALUES ($1, $3, 1, $5) ON CONFLICT (principal, bucket) DO UPDATE \
                         SET lookups = lookup_buckets.lookups + 1, \
                             misses = lookup_buckets.misses + EXCLUDED.misses \
                         RETURNING lookups, misses), \
             others AS (SELECT coalesce(sum(lookups), 0) AS lookups, \
                               coalesce(sum(misses), 0) AS misses FROM lookup_buckets \
                        WHERE principal = $1 AND bucket > $4 AND bucket <> $3) \
             SELECT (counted.lookups + others.lookups)::BIGINT AS lookups, \
                    (counted.misses + others.misses)::BIGINT AS misses \
             FROM counted, others",
        )
        .bind(principal)
        .bind(admitted_at.as_micros())
        .bind(bucket)
        .bind(oldest)
        .bind(miss)
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        Ok(LookupStats {
            lookups: count(row.try_get("lookups").map_err(backend)?),
            misses: count(row.try_get("misses").map_err(backend)?),
        })
    }

    async fn abandon(&self, principal: &str, admitted_at: Timestamp) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM lookup_misses WHERE ctid IN (SELECT ctid FROM lookup_misses \
             WHERE principal = $1 AND missed_at = $2 LIMIT 1)",
        )
        .bind(principal)
        .bind(admitted_at.as_micros())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }
}
