//! `WatchLedger` over PostgreSQL: the same four tables as SQLite's, shared by the cluster so
//! that the node leading the watch (`try_lead("leak-watch")`) resumes where the last one
//! stopped.

use std::collections::HashSet;

use async_trait::async_trait;
use haechi_events::{StoreError, Timestamp};
use haechi_leak::watch_ledger::{FeedValidators, FinishedItem, RELISTED_EVERY, WatchLedger};
use sqlx::Row as _;

use super::{PgStore, backend};
use crate::watch_ledger::{IN_LIST, day_count};

#[async_trait]
impl WatchLedger for PgStore {
    async fn fetched_keys(
        &self,
        source: &str,
        keys: &[String],
        now: Timestamp,
    ) -> Result<HashSet<String>, StoreError> {
        let mut found = HashSet::new();
        let mut relisted = Vec::new();
        let stale = now.minus(RELISTED_EVERY).as_micros();
        for chunk in keys.chunks(IN_LIST) {
            let rows = sqlx::query(
                "SELECT key, at FROM leak_watch_fetched WHERE source = $1 AND key = ANY($2)",
            )
            .bind(source)
            .bind(chunk)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
            for row in rows {
                let key: String = row.try_get("key").map_err(backend)?;
                if row.try_get::<i64, _>("at").map_err(backend)? < stale {
                    relisted.push(key.clone());
                }
                found.insert(key);
            }
        }
        for chunk in relisted.chunks(IN_LIST) {
            sqlx::query(
                "UPDATE leak_watch_fetched SET at = $1 WHERE source = $2 AND key = ANY($3)",
            )
            .bind(now.as_micros())
            .bind(source)
            .bind(chunk)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        }
        Ok(found)
    }

    async fn count_fetch_failure(
        &self,
        source: &str,
        key: &str,
        at: Timestamp,
    ) -> Result<u32, StoreError> {
        let failures: i64 = sqlx::query_scalar(
            "INSERT INTO leak_watch_attempts (source, key, failures, at) VALUES ($1, $2, 1, $3) \
             ON CONFLICT (source, key) DO UPDATE \
             SET failures = leak_watch_attempts.failures + 1, at = excluded.at \
             RETURNING failures",
        )
        .bind(source)
        .bind(key)
        .bind(at.as_micros())
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        Ok(day_count(Some(failures)))
    }

    async fn digest_finished(&self, source: &str, digest: &str) -> Result<bool, StoreError> {
        let found: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM leak_watch_digests WHERE source = $1 AND digest = $2",
        )
        .bind(source)
        .bind(digest)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(found.is_some())
    }

    async fn finish_item(&self, source: &str, item: &FinishedItem) -> Result<(), StoreError> {
        let mut transaction = self.pool.begin().await.map_err(backend)?;
        sqlx::query(
            "INSERT INTO leak_watch_fetched (source, key, at) VALUES ($1, $2, $3) \
             ON CONFLICT (source, key) DO UPDATE SET at = excluded.at",
        )
        .bind(source)
        .bind(&item.key)
        .bind(item.at.as_micros())
        .execute(&mut *transaction)
        .await
        .map_err(backend)?;
        sqlx::query("DELETE FROM leak_watch_attempts WHERE source = $1 AND key = $2")
            .bind(source)
            .bind(&item.key)
            .execute(&mut *transaction)
            .await
            .map_err(backend)?;
        if let Some(digest) = &item.digest {
            sqlx::query(
                "INSERT INTO leak_watch_digests (source, digest, at) VALUES ($1, $2, $3) \
                 ON CONFLICT (source, digest) DO NOTHING",
            )
            .bind(source)
            .bind(digest)
            .bind(item.at.as_micros())
            .execute(&mut *transaction)
            .await
            .map_err(backend)?;
        }
        if let Some(day) = &item.matched_on {
            sqlx::query(
                "INSERT INTO leak_watch_days (source, day, matched) VALUES ($1, $2, 1) \
                 ON CONFLICT (source, day) DO UPDATE SET matched = leak_watch_days.matched + 1",
            )
            .bind(source)
            .bind(day)
            .execute(&mut *transaction)
            .await
            .map_err(backend)?;
        }
        transaction.commit().await.map_err(backend)
    }

    async fn matched_on(&self, source: &str, day: &str) -> Result<u32, StoreError> {
        let matched: Option<i64> = sqlx::query_scalar(
            "SELECT matched FROM leak_watch_days WHERE source = $1 AND day = $2",
        )
        .bind(source)
        .bind(day)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(day_count(matched))
    }

    async fn feed_validators(&self, source: &str) -> Result<FeedValidators, StoreError> {
        let row = sqlx::query("SELECT etag, last_modified FROM leak_watch_feeds WHERE source = $1")
            .bind(source)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        Ok(match row {
            Some(row) => FeedValidators {
                etag: row.try_get("etag").map_err(backend)?,
                last_modified: row.try_get("last_modified").map_err(backend)?,
            },
            None => FeedValidators::default(),
        })
    }

    async fn keep_feed_validators(
        &self,
        source: &str,
        validators: &FeedValidators,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO leak_watch_feeds (source, etag, last_modified) VALUES ($1, $2, $3) \
             ON CONFLICT (source) DO UPDATE SET etag = excluded.etag, \
             last_modified = excluded.last_modified",
        )
        .bind(source)
        .bind(&validators.etag)
        .bind(&validators.last_modified)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn forget_watch_before(&self, before: Timestamp) -> Result<u64, StoreError> {
        let mut transaction = self.pool.begin().await.map_err(backend)?;
        let mut forgotten = 0;
        for statement in [
            "DELETE FROM leak_watch_fetched WHERE at < $1",
            "DELETE FROM leak_watch_digests WHERE at < $1",
            "DELETE FROM leak_watch_attempts WHERE at < $1",
        ] {
            forgotten += sqlx::query(statement)
                .bind(before.as_micros())
                .execute(&mut *transaction)
                .await
                .map_err(backend)?
                .rows_affected();
        }
        forgotten += sqlx::query("DELETE FROM leak_watch_days WHERE day < $1")
            .bind(before.utc_date())
            .execute(&mut *transaction)
            .await
            .map_err(backend)?
            .rows_affected();
        transaction.commit().await.map_err(backend)?;
        Ok(forgotten)
    }
}
