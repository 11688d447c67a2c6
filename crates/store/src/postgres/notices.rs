//! `NoticeStore` over PostgreSQL: the same rows and queries as SQLite (`crate::notices`).
//! Workers on several nodes claim with `FOR UPDATE SKIP LOCKED`, so each takes rows the
//! others are not taking, and none waits for another's lease; a batch of notices goes in as
//! one statement (`UNNEST`).

use async_trait::async_trait;
use haechi_events::{StoreError, Timestamp};
use haechi_notice::{Delivery, Notice, NoticeBatch, NoticeId, NoticeStore, OutboxCounts, Seal};
use sqlx::Row as _;

use super::{PgStore, backend};
use crate::incidents::sql_limit;
use crate::notices::{
    BY_CODE, COUNTS, FAILED, Finish, INSERT_BATCH, NoticeRow, OF_CUSTOMER, RETRY, SEAL,
    SELECT_BATCH, SENT, columns, counts, decode_batch, encode_batch, finish, notice,
    notice_columns,
};

#[async_trait]
impl NoticeStore for PgStore {
    async fn save_batch(&self, batch: &NoticeBatch) -> Result<(), StoreError> {
        sqlx::query(INSERT_BATCH)
            .bind(&batch.id)
            .bind(batch.incident_id.as_str())
            .bind(batch.created_at.as_micros())
            .bind(encode_batch(batch)?)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn batch(&self, id: &str) -> Result<Option<NoticeBatch>, StoreError> {
        let body: Option<String> = sqlx::query_scalar(SELECT_BATCH)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        body.as_deref().map(decode_batch).transpose()
    }

    async fn enqueue_notices(&self, notices: &[Notice]) -> Result<u64, StoreError> {
        if notices.is_empty() {
            return Ok(0);
        }
        let rows: Vec<_> = notices.iter().map(columns).collect();
        let done = sqlx::query(
            "INSERT INTO notices (id, batch_id, incident_id, customer_id, channel, fields, \
             first_seen, last_seen, state, attempts, next_attempt_at, created_at) \
             SELECT id, batch_id, incident_id, customer_id, channel, fields, first_seen, \
             last_seen, 'queued', 0, next_attempt_at, created_at FROM UNNEST($1::text[], \
             $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], \
             $8::bigint[], $9::bigint[], $10::bigint[]) AS n(id, batch_id, incident_id, \
             customer_id, channel, fields, first_seen, last_seen, next_attempt_at, created_at) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(rows.iter().map(|row| row.id).collect::<Vec<_>>())
        .bind(rows.iter().map(|row| row.batch).collect::<Vec<_>>())
        .bind(rows.iter().map(|row| row.incident).collect::<Vec<_>>())
        .bind(rows.iter().map(|row| row.customer).collect::<Vec<_>>())
        .bind(rows.iter().map(|row| row.channel).collect::<Vec<_>>())
        .bind(
            rows.iter()
                .map(|row| row.fields.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(rows.iter().map(|row| row.first_seen).collect::<Vec<_>>())
        .bind(rows.iter().map(|row| row.last_seen).collect::<Vec<_>>())
        .bind(
            rows.iter()
                .map(|row| row.next_attempt_at)
                .collect::<Vec<_>>(),
        )
        .bind(rows.iter().map(|row| row.created_at).collect::<Vec<_>>())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected())
    }

    async fn claim_notices(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> Result<Vec<Notice>, StoreError> {
        let rows = sqlx::query(concat!(
            "UPDATE notices SET state = 'sending', next_attempt_at = $1 WHERE id IN (SELECT id \
             FROM notices WHERE state IN ('queued', 'sending') AND next_attempt_at <= $2 \
             ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING ",
            notice_columns!()
        ))
        .bind(lease_until.as_micros())
        .bind(now.as_micros())
        .bind(sql_limit(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(notice).collect()
    }

    async fn seal_notices(&self, seals: &[(NoticeId, Seal)]) -> Result<Vec<NoticeId>, StoreError> {
        let mut transaction = self.pool.begin().await.map_err(backend)?;
        let mut sealed = Vec::with_capacity(seals.len());
        for (id, seal) in seals {
            let done = sqlx::query(SEAL)
                .bind(id.as_str())
                .bind(seal.code.digits())
                .bind(&seal.recipient_tag)
                .bind(&seal.body_digest)
                .bind(seal.sealed_at.as_micros())
                .execute(&mut *transaction)
                .await
                .map_err(backend)?;
            if done.rows_affected() > 0 {
                sealed.push(id.clone());
            }
        }
        transaction.commit().await.map_err(backend)?;
        Ok(sealed)
    }

    async fn finish_notices(&self, outcomes: &[(NoticeId, Delivery)]) -> Result<(), StoreError> {
        let mut transaction = self.pool.begin().await.map_err(backend)?;
        for (id, delivery) in outcomes {
            let query = match finish(delivery) {
                Finish::Sent(at) => sqlx::query(SENT).bind(id.as_str()).bind(at),
                Finish::Retry(at, error) => {
                    sqlx::query(RETRY).bind(id.as_str()).bind(at).bind(error)
                }
                Finish::Failed(error) => sqlx::query(FAILED).bind(id.as_str()).bind(error),
            };
            query.execute(&mut *transaction).await.map_err(backend)?;
        }
        transaction.commit().await.map_err(backend)
    }

    async fn notices_by_code(&self, digits: &str) -> Result<Vec<Notice>, StoreError> {
        let rows = sqlx::query(BY_CODE)
            .bind(digits)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(notice).collect()
    }

    async fn customer_notices(
        &self,
        customer_id: &str,
        limit: usize,
    ) -> Result<Vec<Notice>, StoreError> {
        let rows = sqlx::query(OF_CUSTOMER)
            .bind(customer_id)
            .bind(sql_limit(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(notice).collect()
    }

    async fn outbox_counts(&self) -> Result<OutboxCounts, StoreError> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(COUNTS)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        counts(rows)
    }
}

impl NoticeRow for sqlx::postgres::PgRow {
    fn text(&self, name: &str) -> Result<String, StoreError> {
        self.try_get(name).map_err(backend)
    }
    fn optional_text(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.try_get(name).map_err(backend)
    }
    fn integer(&self, name: &str) -> Result<i64, StoreError> {
        self.try_get(name).map_err(backend)
    }
    fn optional_integer(&self, name: &str) -> Result<Option<i64>, StoreError> {
        self.try_get(name).map_err(backend)
    }
}
