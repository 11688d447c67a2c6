//! `NoticeStore` over SQLite, and what both backends share: the columns, the row decoding,
//! the queries that read the same in both dialects. A batch is kept as JSON; a notice as
//! columns (its facts are field names and times: no personal data, and no text — texts are
//! rendered from the batch).

use async_trait::async_trait;
use haechi_events::{StoreError, Timestamp};
use haechi_incident::IncidentId;
use haechi_notice::{
    Channel, Delivery, Notice, NoticeBatch, NoticeCode, NoticeFacts, NoticeId, NoticeState,
    NoticeStore, OutboxCounts, Seal,
};
use sqlx::{QueryBuilder, Sqlite};

use crate::SqliteStore;
use crate::columns::Columns;
use crate::incidents::sql_limit;
use crate::sqlite::backend;

/// Notices per `INSERT` or `UPDATE` on SQLite: at most ten parameters each, well under its
/// 32,766.
const ROWS_PER_INSERT: usize = 1_000;

/// Every column of `notices` (queries are `&'static str`: sqlx refuses SQL built at run time).
macro_rules! notice_columns {
    () => {
        "id, batch_id, incident_id, customer_id, channel, fields, first_seen, last_seen, state, \
         attempts, next_attempt_at, created_at, sent_at, last_error, code, recipient_tag, \
         body_digest, sealed_at"
    };
}
pub(crate) use notice_columns;

pub(crate) const INSERT_BATCH: &str = "INSERT INTO notice_batches (id, incident_id, created_at, \
     body) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING";
pub(crate) const SELECT_BATCH: &str = "SELECT body FROM notice_batches WHERE id = $1";
pub(crate) const COUNTS: &str = "SELECT channel, state, COUNT(*) AS n FROM notices GROUP BY channel, state ORDER BY channel, state";

pub(crate) const BY_CODE: &str = concat!(
    "SELECT ",
    notice_columns!(),
    " FROM notices WHERE code = $1 AND sealed_at IS NOT NULL"
);
pub(crate) const OF_CUSTOMER: &str = concat!(
    "SELECT ",
    notice_columns!(),
    " FROM notices WHERE customer_id = $1 AND sealed_at IS NOT NULL \
     ORDER BY sealed_at DESC, id LIMIT $2"
);

pub(crate) fn encode_batch(batch: &NoticeBatch) -> Result<String, StoreError> {
    serde_json::to_string(batch).map_err(|error| StoreError::Backend(error.to_string()))
}

pub(crate) fn decode_batch(body: &str) -> Result<NoticeBatch, StoreError> {
    serde_json::from_str(body)
        .map_err(|error| StoreError::Corrupt(format!("notice batch: {error}")))
}

/// A notice's columns for an insert.
pub(crate) struct InsertRow<'a> {
    pub id: &'a str,
    pub batch: &'a str,
    pub incident: &'a str,
    pub customer: &'a str,
    pub channel: &'static str,
    pub fields: String,
    pub first_seen: i64,
    pub last_seen: i64,
    pub next_attempt_at: i64,
    pub created_at: i64,
}

pub(crate) fn insert_row(notice: &Notice) -> InsertRow<'_> {
    InsertRow {
        id: notice.id.as_str(),
        batch: &notice.batch,
        incident: notice.incident_id.as_str(),
        customer: &notice.customer_id,
        channel: notice.channel.as_str(),
        fields: notice.facts.fields.join(","),
        first_seen: notice.facts.first_seen.as_micros(),
        last_seen: notice.facts.last_seen.as_micros(),
        next_attempt_at: notice.next_attempt_at.as_micros(),
        created_at: notice.created_at.as_micros(),
    }
}

/// A notice from its row.
pub(crate) fn notice(row: &impl Columns) -> Result<Notice, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("notice: {what}"));
    let id = NoticeId::parse(&row.text("id")?).map_err(|error| corrupt(&error.to_string()))?;
    let incident_id = IncidentId::parse(&row.text("incident_id")?)
        .map_err(|error| corrupt(&error.to_string()))?;
    let channel =
        Channel::parse(&row.text("channel")?).map_err(|error| corrupt(&error.to_string()))?;
    let state = NoticeState::parse(&row.text("state")?).ok_or_else(|| corrupt("state"))?;
    let seal = match (
        row.optional_text("code")?,
        row.optional_text("recipient_tag")?,
        row.optional_text("body_digest")?,
        row.optional_integer("sealed_at")?,
    ) {
        (Some(code), Some(recipient_tag), Some(body_digest), Some(sealed_at)) => Some(Seal {
            code: NoticeCode::from_digits(&code).ok_or_else(|| corrupt("code"))?,
            recipient_tag,
            body_digest,
            sealed_at: Timestamp::from_micros(sealed_at),
        }),
        _ => None,
    };
    Ok(Notice {
        id,
        batch: row.text("batch_id")?,
        incident_id,
        customer_id: row.text("customer_id")?,
        channel,
        facts: NoticeFacts {
            fields: row
                .text("fields")?
                .split(',')
                .filter(|field| !field.is_empty())
                .map(str::to_string)
                .collect(),
            first_seen: Timestamp::from_micros(row.integer("first_seen")?),
            last_seen: Timestamp::from_micros(row.integer("last_seen")?),
        },
        state,
        attempts: u32::try_from(row.integer("attempts")?).unwrap_or(u32::MAX),
        next_attempt_at: Timestamp::from_micros(row.integer("next_attempt_at")?),
        created_at: Timestamp::from_micros(row.integer("created_at")?),
        sent_at: row.optional_integer("sent_at")?.map(Timestamp::from_micros),
        last_error: row.optional_text("last_error")?,
        seal,
    })
}

/// Counts from the rows of [`COUNTS`].
pub(crate) fn counts(
    rows: impl IntoIterator<Item = (String, String, i64)>,
) -> Result<OutboxCounts, StoreError> {
    let mut counts = OutboxCounts::default();
    for (channel, state, n) in rows {
        let channel = Channel::parse(&channel)
            .map_err(|error| StoreError::Corrupt(format!("notice: {error}")))?;
        let state = NoticeState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("notice state {state:?}")))?;
        counts
            .rows
            .push((channel, state, u64::try_from(n).unwrap_or(0)));
    }
    Ok(counts)
}

/// Outcomes by kind, as the updates take them: sent `(id, at)`, retried `(id, next attempt,
/// error)`, given up `(id, error)`.
#[allow(clippy::type_complexity, reason = "three row shapes, named by the doc")]
pub(crate) fn split(
    outcomes: &[(NoticeId, Delivery)],
) -> (Vec<(&str, i64)>, Vec<(&str, i64, &str)>, Vec<(&str, &str)>) {
    let (mut sent, mut retried, mut failed) = (Vec::new(), Vec::new(), Vec::new());
    for (id, delivery) in outcomes {
        match delivery {
            Delivery::Sent { at } => sent.push((id.as_str(), at.as_micros())),
            Delivery::Retry {
                next_attempt_at,
                error,
            } => retried.push((id.as_str(), next_attempt_at.as_micros(), error.as_str())),
            Delivery::Failed { error } => failed.push((id.as_str(), error.as_str())),
        }
    }
    (sent, retried, failed)
}

#[async_trait]
impl NoticeStore for SqliteStore {
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
        let mut transaction = self.pool.begin().await.map_err(backend)?;
        let mut inserted = 0;
        // Many rows per statement: SQLite's cost is per statement as much as per row.
        for chunk in notices.chunks(ROWS_PER_INSERT) {
            let mut query = QueryBuilder::<Sqlite>::new(
                "INSERT INTO notices (id, batch_id, incident_id, customer_id, channel, fields, \
                 first_seen, last_seen, state, attempts, next_attempt_at, created_at) ",
            );
            query.push_values(chunk.iter().map(insert_row), |mut row, notice| {
                row.push_bind(notice.id)
                    .push_bind(notice.batch)
                    .push_bind(notice.incident)
                    .push_bind(notice.customer)
                    .push_bind(notice.channel)
                    .push_bind(notice.fields)
                    .push_bind(notice.first_seen)
                    .push_bind(notice.last_seen)
                    .push("'queued'")
                    .push("0")
                    .push_bind(notice.next_attempt_at)
                    .push_bind(notice.created_at);
            });
            query.push(" ON CONFLICT (id) DO NOTHING");
            let done = query
                .build()
                .execute(&mut *transaction)
                .await
                .map_err(backend)?;
            inserted += done.rows_affected();
        }
        transaction.commit().await.map_err(backend)?;
        Ok(inserted)
    }

    async fn claim_notices(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> Result<Vec<Notice>, StoreError> {
        // One statement: SQLite runs it under its single writer lock, so two workers of one
        // node never take the same row.
        let rows = sqlx::query(concat!(
            "UPDATE notices SET state = 'sending', next_attempt_at = ?1 WHERE id IN (SELECT id \
             FROM notices WHERE state IN ('queued', 'sending') AND next_attempt_at <= ?2 \
             ORDER BY next_attempt_at, id LIMIT ?3) RETURNING ",
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
        let mut transaction = self.pool.begin().await.map_err(backend)?;
        let mut sealed = Vec::with_capacity(seals.len());
        // One statement per thousand notices: a statement is a round trip to SQLite's thread.
        for chunk in seals.chunks(ROWS_PER_INSERT) {
            let mut query =
                QueryBuilder::<Sqlite>::new("WITH v(id, lease, code, tag, digest, at) AS (");
            query.push_values(chunk, |mut row, (id, lease, seal)| {
                row.push_bind(id.as_str())
                    .push_bind(lease.as_micros())
                    .push_bind(seal.code.digits())
                    .push_bind(seal.recipient_tag.as_str())
                    .push_bind(seal.body_digest.as_str())
                    .push_bind(seal.sealed_at.as_micros());
            });
            query.push(
                ") UPDATE notices SET code = v.code, recipient_tag = v.tag, \
                 body_digest = v.digest, sealed_at = v.at FROM v \
                 WHERE notices.id = v.id AND notices.state = 'sending' \
                 AND notices.next_attempt_at = v.lease RETURNING notices.id",
            );
            let ids: Vec<String> = query
                .build_query_scalar()
                .fetch_all(&mut *transaction)
                .await
                .map_err(backend)?;
            for id in ids {
                sealed.push(
                    NoticeId::parse(&id)
                        .map_err(|error| StoreError::Corrupt(format!("notice: {error}")))?,
                );
            }
        }
        transaction.commit().await.map_err(backend)?;
        Ok(sealed)
    }

    async fn finish_notices(&self, outcomes: &[(NoticeId, Delivery)]) -> Result<(), StoreError> {
        let (sent, retried, failed) = split(outcomes);
        let mut transaction = self.pool.begin().await.map_err(backend)?;
        for chunk in sent.chunks(ROWS_PER_INSERT) {
            let mut query = QueryBuilder::<Sqlite>::new("WITH v(id, at) AS (");
            query.push_values(chunk, |mut row, (id, at)| {
                row.push_bind(*id).push_bind(*at);
            });
            query.push(
                ") UPDATE notices SET state = 'sent', sent_at = v.at, attempts = attempts + 1, \
                 last_error = NULL FROM v WHERE notices.id = v.id",
            );
            query
                .build()
                .execute(&mut *transaction)
                .await
                .map_err(backend)?;
        }
        for chunk in retried.chunks(ROWS_PER_INSERT) {
            let mut query = QueryBuilder::<Sqlite>::new("WITH v(id, at, error) AS (");
            query.push_values(chunk, |mut row, (id, at, error)| {
                row.push_bind(*id).push_bind(*at).push_bind(*error);
            });
            query.push(
                ") UPDATE notices SET state = 'queued', next_attempt_at = v.at, \
                 attempts = attempts + 1, last_error = v.error FROM v \
                 WHERE notices.id = v.id AND notices.state = 'sending'",
            );
            query
                .build()
                .execute(&mut *transaction)
                .await
                .map_err(backend)?;
        }
        for chunk in failed.chunks(ROWS_PER_INSERT) {
            let mut query = QueryBuilder::<Sqlite>::new("WITH v(id, error) AS (");
            query.push_values(chunk, |mut row, (id, error)| {
                row.push_bind(*id).push_bind(*error);
            });
            query.push(
                ") UPDATE notices SET state = 'failed', attempts = attempts + 1, \
                 last_error = v.error FROM v WHERE notices.id = v.id AND notices.state <> 'sent'",
            );
            query
                .build()
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
