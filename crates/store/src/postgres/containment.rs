//! `ContainmentStore` over PostgreSQL: network blocks, principal suspensions, alert
//! acknowledgements.

use async_trait::async_trait;
use haechi_events::{Change, Principal, StoreError, Timestamp};
use haechi_respond::{AlertAck, BlockRecord, ContainmentStore, NewBlock, SuspensionRecord};
use sqlx::Row as _;
use sqlx::postgres::PgRow;

use super::rows::{optional_principal, optional_timestamp, principal, timestamp};
use super::{PgStore, backend, changes};

fn block_record(row: &PgRow) -> Result<BlockRecord, StoreError> {
    let id: i64 = row.try_get("id").map_err(backend)?;
    let network: String = row.try_get("network").map_err(backend)?;
    Ok(BlockRecord {
        id: u64::try_from(id).map_err(|_| StoreError::Corrupt(format!("block id {id}")))?,
        network: network
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("blocked network {network:?}")))?,
        created_at: timestamp(row, "created_at")?,
        expires_at: timestamp(row, "expires_at")?,
        reason: row.try_get("reason").map_err(backend)?,
        rule_id: row.try_get("rule_id").map_err(backend)?,
        alert_id: row.try_get("alert_id").map_err(backend)?,
        created_by: principal(row, "created_by")?,
        lifted_at: optional_timestamp(row, "lifted_at")?,
        lifted_by: optional_principal(row, "lifted_by")?,
    })
}

fn suspension_record(row: &PgRow) -> Result<SuspensionRecord, StoreError> {
    Ok(SuspensionRecord {
        principal: principal(row, "principal")?,
        suspended_at: timestamp(row, "suspended_at")?,
        reason: row.try_get("reason").map_err(backend)?,
        rule_id: row.try_get("rule_id").map_err(backend)?,
        alert_id: row.try_get("alert_id").map_err(backend)?,
        suspended_by: principal(row, "suspended_by")?,
    })
}

#[async_trait]
impl ContainmentStore for PgStore {
    async fn insert_block(&self, block: &NewBlock) -> Result<BlockRecord, StoreError> {
        let mut transaction = self.pool.begin().await.map_err(backend)?;
        let row = sqlx::query(
            "INSERT INTO network_blocks (network, created_at, expires_at, reason, rule_id, \
             alert_id, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *",
        )
        .bind(block.network.to_string())
        .bind(block.created_at.as_micros())
        .bind(block.expires_at.as_micros())
        .bind(&block.reason)
        .bind(&block.rule_id)
        .bind(&block.alert_id)
        .bind(block.created_by.to_string())
        .fetch_one(&mut *transaction)
        .await
        .map_err(backend)?;
        let record = block_record(&row)?;
        changes::append(&mut transaction, &Change::BlocksChanged).await?;
        transaction.commit().await.map_err(backend)?;
        Ok(record)
    }

    async fn lift_block(
        &self,
        id: u64,
        at: Timestamp,
        by: &Principal,
    ) -> Result<Option<BlockRecord>, StoreError> {
        let Ok(id) = i64::try_from(id) else {
            return Ok(None);
        };
        // One statement returns the block as it was and lifts it. The row lock of
        // `FOR UPDATE` makes a concurrent lift of the same block wait, re-read the row, find
        // it lifted and return nothing: exactly one lift reports the block.
        let mut transaction = self.pool.begin().await.map_err(backend)?;
        let row = sqlx::query(
            "WITH before AS (SELECT * FROM network_blocks \
                             WHERE id = $1 AND lifted_at IS NULL FOR UPDATE) \
             UPDATE network_blocks SET lifted_at = $2, lifted_by = $3 FROM before \
             WHERE network_blocks.id = before.id RETURNING before.*",
        )
        .bind(id)
        .bind(at.as_micros())
        .bind(by.to_string())
        .fetch_optional(&mut *transaction)
        .await
        .map_err(backend)?;
        let lifted = row.as_ref().map(block_record).transpose()?;
        if lifted.is_some() {
            changes::append(&mut transaction, &Change::BlocksChanged).await?;
        }
        transaction.commit().await.map_err(backend)?;
        Ok(lifted)
    }

    async fn active_blocks(&self, now: Timestamp) -> Result<Vec<BlockRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM network_blocks WHERE lifted_at IS NULL AND expires_at > $1 \
             ORDER BY id",
        )
        .bind(now.as_micros())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(block_record).collect()
    }

    async fn insert_suspension(&self, suspension: &SuspensionRecord) -> Result<(), StoreError> {
        let mut transaction = self.pool.begin().await.map_err(backend)?;
        sqlx::query(
            "INSERT INTO principal_suspensions (principal, suspended_at, reason, rule_id, \
             alert_id, suspended_by, lifted_at, lifted_by) \
             VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL) \
             ON CONFLICT (principal) DO UPDATE SET suspended_at = EXCLUDED.suspended_at, \
             reason = EXCLUDED.reason, rule_id = EXCLUDED.rule_id, alert_id = EXCLUDED.alert_id, \
             suspended_by = EXCLUDED.suspended_by, lifted_at = NULL, lifted_by = NULL",
        )
        .bind(suspension.principal.to_string())
        .bind(suspension.suspended_at.as_micros())
        .bind(&suspension.reason)
        .bind(&suspension.rule_id)
        .bind(&suspension.alert_id)
        .bind(suspension.suspended_by.to_string())
        .execute(&mut *transaction)
        .await
        .map_err(backend)?;
        changes::append(&mut transaction, &Change::SuspensionsChanged).await?;
        transaction.commit().await.map_err(backend)
    }

    async fn lift_suspension(
        &self,
        principal: &Principal,
        at: Timestamp,
        by: &Principal,
    ) -> Result<bool, StoreError> {
        let mut transaction = self.pool.begin().await.map_err(backend)?;
        let lifted = sqlx::query(
            "UPDATE principal_suspensions SET lifted_at = $1, lifted_by = $2 \
             WHERE principal = $3 AND lifted_at IS NULL",
        )
        .bind(at.as_micros())
        .bind(by.to_string())
        .bind(principal.to_string())
        .execute(&mut *transaction)
        .await
        .map_err(backend)?
        .rows_affected()
            > 0;
        if lifted {
            changes::append(&mut transaction, &Change::SuspensionsChanged).await?;
        }
        transaction.commit().await.map_err(backend)?;
        Ok(lifted)
    }

    async fn active_suspensions(&self) -> Result<Vec<SuspensionRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM principal_suspensions WHERE lifted_at IS NULL ORDER BY suspended_at",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(suspension_record).collect()
    }

    async fn acknowledge_alert(&self, ack: &AlertAck) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO alert_acks (alert_id, acknowledged_by, acknowledged_at, note) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (alert_id) DO UPDATE SET \
             acknowledged_by = EXCLUDED.acknowledged_by, \
             acknowledged_at = EXCLUDED.acknowledged_at, note = EXCLUDED.note",
        )
        .bind(&ack.alert_id)
        .bind(ack.acknowledged_by.to_string())
        .bind(ack.acknowledged_at.as_micros())
        .bind(&ack.note)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn alert_acks(&self, since: Timestamp) -> Result<Vec<AlertAck>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM alert_acks WHERE acknowledged_at >= $1 ORDER BY acknowledged_at",
        )
        .bind(since.as_micros())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|row| {
                Ok(AlertAck {
                    alert_id: row.try_get("alert_id").map_err(backend)?,
                    acknowledged_by: principal(row, "acknowledged_by")?,
                    acknowledged_at: timestamp(row, "acknowledged_at")?,
                    note: row.try_get("note").map_err(backend)?,
                })
            })
            .collect()
    }
}
