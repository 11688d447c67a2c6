//! `CheckTagStore` over PostgreSQL: the same table and anti-join as SQLite's.

use async_trait::async_trait;
use futures::TryStreamExt as _;
use haechi_events::StoreError;
use haechi_leak::exposure::ExposureHash;
use haechi_leak::private_check::{Bucket, CheckTagStore, MemberTag};
use sqlx::{Postgres, QueryBuilder, Row as _};

use super::{PgStore, backend};
use crate::check_tags::{decode_hash, decode_tag, limit};

/// Tags per insert statement (5 bound values each, under PostgreSQL's 65,535).
const INSERT_ROWS: usize = 10_000;

#[async_trait]
impl CheckTagStore for PgStore {
    async fn untagged_exposures(
        &self,
        key_id: &str,
        limit_rows: usize,
    ) -> Result<Vec<ExposureHash>, StoreError> {
        let rows = sqlx::query(
            "SELECT e.hash FROM exposures e WHERE NOT EXISTS (SELECT 1 FROM exposure_check_tags t \
             WHERE t.key_id = $1 AND t.prefix = e.prefix AND t.hash = e.hash) \
             ORDER BY e.prefix, e.hash LIMIT $2",
        )
        .bind(key_id)
        .bind(limit(limit_rows))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|row| decode_hash(row.try_get::<&[u8], _>("hash").map_err(backend)?))
            .collect()
    }

    async fn record_check_tags(
        &self,
        key_id: &str,
        tags: &[(ExposureHash, MemberTag)],
    ) -> Result<(), StoreError> {
        let mut transaction = self.pool.begin().await.map_err(backend)?;
        for rows in tags.chunks(INSERT_ROWS) {
            let mut insert = QueryBuilder::<Postgres>::new(
                "INSERT INTO exposure_check_tags (key_id, prefix, hash, bucket, tag) ",
            );
            insert.push_values(rows, |mut row, (hash, tag)| {
                row.push_bind(key_id)
                    .push_bind(i32::try_from(hash.prefix().value()).unwrap_or(i32::MAX))
                    .push_bind(hash.as_bytes().to_vec())
                    .push_bind(i64::from(Bucket::of(hash).value()))
                    .push_bind(tag.as_bytes().to_vec());
            });
            insert.push(" ON CONFLICT (key_id, prefix, hash) DO NOTHING");
            insert
                .build()
                .execute(&mut *transaction)
                .await
                .map_err(backend)?;
        }
        transaction.commit().await.map_err(backend)
    }

    async fn check_tags(&self, key_id: &str) -> Result<Vec<(Bucket, MemberTag)>, StoreError> {
        // Streamed, not fetched whole: tens of millions of rows would otherwise sit in memory
        // as rows before they became 14-byte tags.
        let mut rows = sqlx::query("SELECT bucket, tag FROM exposure_check_tags WHERE key_id = $1")
            .bind(key_id)
            .fetch(&self.pool);
        let mut tags = Vec::new();
        while let Some(row) = rows.try_next().await.map_err(backend)? {
            tags.push(decode_tag(
                row.try_get("bucket").map_err(backend)?,
                row.try_get::<&[u8], _>("tag").map_err(backend)?,
            )?);
        }
        Ok(tags)
    }

    async fn drop_check_tags_except(&self, key_id: &str) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM exposure_check_tags WHERE key_id <> $1")
            .bind(key_id)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected())
    }
}
