//! `NoticeStore` over PostgreSQL: the same rows and queries as SQLite (`crate::notices`).
//! Workers on several nodes claim with `FOR UPDATE SKIP LOCKED`, so each takes rows the
//! others are not taking, and none waits for another's lease; a batch of notices goes in as
//! one statement (`UNNEST`).

use async_trait::async_trait;
use haechi_events::{StoreError, Timestamp};
use haechi_notice::{Delivery, Notice, NoticeBatch, NoticeId, NoticeStore, OutboxCounts, Seal};

use super::{PgStore, backend};
use crate::incidents::sql_limit;
use crate::notices::{
    BY_CODE, COUNTS, INSERT_BATCH, OF_CUSTOMER, SELECT_BATCH, counts, decode_batch, encode_batch,
    insert_row, notice, notice_columns, split,
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
        let rows: Vec<_> = notices.iter().map(insert_row).collect();
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

    async fn seal_notices(
        &self,
        seals: &[(NoticeId, Timestamp, Seal)],
    ) -> Result<Vec<NoticeId>, StoreError> {
        if seals.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = sqlx::query_scalar(
            "UPDATE notices SET code = v.code, recipient_tag = v.tag, body_digest = v.digest, \
             sealed_at = v.at FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], \
             $5::bigint[], $6::bigint[]) AS v(id, code, tag, digest, at, lease) \
             WHERE notices.id = v.id AND notices.state = 'sending' \
             AND notices.next_attempt_at = v.lease RETURNING notices.id",
        )
        .bind(
            seals
                .iter()
                .map(|(id, _, _)| id.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            seals
                .iter()
                .map(|(_, _, seal)| seal.code.digits())
                .collect::<Vec<_>>(),
        )
        .bind(
            seals
                .iter()
                .map(|(_, _, seal)| seal.recipient_tag.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            seals
                .iter()
                .map(|(_, _, seal)| seal.body_digest.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            seals
                .iter()
                .map(|(_, _, seal)| seal.sealed_at.as_micros())
                .collect::<Vec<_>>(),
        )
        .bind(
            seals
                .iter()
                .map(|(_, lease, _)| lease.as_micros())
                .collect::<Vec<_>>(),
        )
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        ids.iter()
            .map(|id| {
                NoticeId::parse(id).map_err(|error| StoreError::Corrupt(format!("notice: {error}")))
            })
            .collect()
    }

    async fn finish_notices(&self, outcomes: &[(NoticeId, Delivery)]) -> Result<(), StoreError> {
        let (sent, retried, failed) = split(outcomes);
        let mut transaction = self.pool.begin().await.map_err(backend)?;
        if !sent.is_empty() {
            sqlx::query(
                "UPDATE notices SET state = 'sent', sent_at = v.at, attempts = attempts + 1, \
                 last_error = NULL FROM UNNEST($1::text[], $2::bigint[]) AS v(id, at) \
                 WHERE notices.id = v.id",
            )
            .bind(sent.iter().map(|row| row.0).collect::<Vec<_>>())
            .bind(sent.iter().map(|row| row.1).collect::<Vec<_>>())
            .execute(&mut *transaction)
            .await
            .map_err(backend)?;
        }
        if !retried.is_empty() {
            sqlx::query(
                "UPDATE notices SET state = 'queued', next_attempt_at = v.at, \
                 attempts = attempts + 1, last_error = v.error \
                 FROM UNNEST($1::text[], $2::bigint[], $3::text[]) AS v(id, at, error) \
                 WHERE notices.id = v.id AND notices.state = 'sending'",
            )
            .bind(retried.iter().map(|row| row.0).collect::<Vec<_>>())
            .bind(retried.iter().map(|row| row.1).collect::<Vec<_>>())
            .bind(retried.iter().map(|row| row.2).collect::<Vec<_>>())
            .execute(&mut *transaction)
            .await
            .map_err(backend)?;
        }
        if !failed.is_empty() {
            sqlx::query(
                "UPDATE notices SET state = 'failed', attempts = attempts + 1, \
                 last_error = v.error FROM UNNEST($1::text[], $2::text[]) AS v(id, error) \
                 WHERE notices.id = v.id AND notices.state <> 'sent'",
            )
            .bind(failed.iter().map(|row| row.0).collect::<Vec<_>>())
            .bind(failed.iter().map(|row| row.1).collect::<Vec<_>>())
            .execute(&mut *transaction)
            .await
            .map_err(backend)?;
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
