//! `WatchLedger` over SQLite: the leak watch's ledger in four keyed tables
//! (`leak_watch_fetched`, `leak_watch_digests`, `leak_watch_feeds`, `leak_watch_days`).
//! Finishing an item is one transaction, so a crash between its key and its digest cannot
//! leave it half-remembered.

use std::collections::HashSet;

use async_trait::async_trait;
use haechi_events::{StoreError, Timestamp};
use haechi_leak::watch_ledger::{FeedValidators, FinishedItem, RELISTED_EVERY, WatchLedger};
use sqlx::{QueryBuilder, Row as _, Sqlite};

use crate::SqliteStore;
use crate::sqlite::backend;

/// Keys per `IN (…)` list.
pub(crate) const IN_LIST: usize = 500;

/// A stored count back (never negative, never past `u32`).
pub(crate) fn day_count(matched: Option<i64>) -> u32 {
    u32::try_from(matched.unwrap_or(0).max(0)).unwrap_or(u32::MAX)
}

#[async_trait]
impl WatchLedger for SqliteStore {
    async fn fetched_keys(
        &self,
        source: &str,
        keys: &[String],
        now: Timestamp,
    ) -> Result<HashSet<String>, StoreError> {
        let mut found = HashSet::new();
        let mut relisted = Vec::new();
        let stale = now.minus(RELISTED_EVERY).as_micros();
        let mut connection = self.pool.acquire().await.map_err(backend)?;
        for chunk in keys.chunks(IN_LIST) {
            let mut query = QueryBuilder::<Sqlite>::new(
                "SELECT key, at FROM leak_watch_fetched WHERE source = ",
            );
            query.push_bind(source).push(" AND key IN (");
            let mut separated = query.separated(", ");
            for key in chunk {
                separated.push_bind(key);
            }
            separated.push_unseparated(")");
            for row in query
                .build()
                .fetch_all(&mut *connection)
                .await
                .map_err(backend)?
            {
                let key: String = row.try_get("key").map_err(backend)?;
                if row.try_get::<i64, _>("at").map_err(backend)? < stale {
                    relisted.push(key.clone());
                }
                found.insert(key);
            }
        }
        for chunk in relisted.chunks(IN_LIST) {
            let mut update = QueryBuilder::<Sqlite>::new("UPDATE leak_watch_fetched SET at = ");
            update
                .push_bind(now.as_micros())
                .push(" WHERE source = ")
                .push_bind(source)
                .push(" AND key IN (");
            let mut separated = update.separated(", ");
            for key in chunk {
                separated.push_bind(key);
            }
            separated.push_unseparated(")");
            update
                .build()
                .execute(&mut *connection)
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
            "INSERT INTO leak_watch_attempts (source, key, failures, at) VALUES (?, ?, 1, ?) \
             ON CONFLICT (source, key) DO UPDATE SET failures = failures + 1, at = excluded.at \
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
        let found: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM leak_watch_digests WHERE source = ? AND digest = ?")
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
            "INSERT INTO leak_watch_fetched (source, key, at) VALUES (?, ?, ?) \
             ON CONFLICT (source, key) DO UPDATE SET at = excluded.at",
        )
        .bind(source)
        .bind(&item.key)
        .bind(item.at.as_micros())
        .execute(&mut *transaction)
        .await
        .map_err(backend)?;
        sqlx::query("DELETE FROM leak_watch_attempts WHERE source = ? AND key = ?")
            .bind(source)
            .bind(&item.key)
            .execute(&mut *transaction)
            .await
            .map_err(backend)?;
        if let Some(digest) = &item.digest {
            sqlx::query(
                "INSERT INTO leak_watch_digests (source, digest, at) VALUES (?, ?, ?) \
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
                "INSERT INTO leak_watch_days (source, day, matched) VALUES (?, ?, 1) \
                 ON CONFLICT (source, day) DO UPDATE SET matched = matched + 1",
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
        let matched: Option<i64> =
            sqlx::query_scalar("SELECT matched FROM leak_watch_days WHERE source = ? AND day = ?")
                .bind(source)
                .bind(day)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
        Ok(day_count(matched))
    }

    async fn feed_validators(&self, source: &str) -> Result<FeedValidators, StoreError> {
        let row = sqlx::query("SELECT etag, last_modified FROM leak_watch_feeds WHERE source = ?")
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
            "INSERT INTO leak_watch_feeds (source, etag, last_modified) VALUES (?, ?, ?) \
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
            "DELETE FROM leak_watch_fetched WHERE at < ?",
            "DELETE FROM leak_watch_digests WHERE at < ?",
            "DELETE FROM leak_watch_attempts WHERE at < ?",
        ] {
            forgotten += sqlx::query(statement)
                .bind(before.as_micros())
                .execute(&mut *transaction)
                .await
                .map_err(backend)?
                .rows_affected();
        }
        forgotten += sqlx::query("DELETE FROM leak_watch_days WHERE day < ?")
            .bind(before.utc_date())
            .execute(&mut *transaction)
            .await
            .map_err(backend)?
            .rows_affected();
        transaction.commit().await.map_err(backend)?;
        Ok(forgotten)
    }
}
