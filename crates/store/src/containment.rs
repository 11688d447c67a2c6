//! `ContainmentStore` over SQLite: network blocks, principal suspensions, alert
//! acknowledgements.

use async_trait::async_trait;
use haechi_events::{Principal, StoreError, Timestamp};
use haechi_respond::{AlertAck, BlockRecord, ContainmentStore, NewBlock, SuspensionRecord};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::SqliteStore;
use crate::sqlite::backend;

fn timestamp(row: &SqliteRow, column: &str) -> Result<Timestamp, StoreError> {
    let micros: i64 = row.try_get(column).map_err(backend)?;
    Ok(Timestamp::from_micros(micros))
}

fn optional_timestamp(row: &SqliteRow, column: &str) -> Result<Option<Timestamp>, StoreError> {
    let micros: Option<i64> = row.try_get(column).map_err(backend)?;
    Ok(micros.map(Timestamp::from_micros))
}

fn principal(text: &str) -> Result<Principal, StoreError> {
    text.parse()
        .map_err(|error: haechi_events::PrincipalParseError| StoreError::Corrupt(error.to_string()))
}

fn optional_principal(row: &SqliteRow, column: &str) -> Result<Option<Principal>, StoreError> {
    let text: Option<String> = row.try_get(column).map_err(backend)?;
    text.as_deref().map(principal).transpose()
}

fn block_record(row: &SqliteRow) -> Result<BlockRecord, StoreError> {
    let id: i64 = row.try_get("id").map_err(backend)?;
    let network: String = row.try_get("network").map_err(backend)?;
    let created_by: String = row.try_get("created_by").map_err(backend)?;
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
        created_by: principal(&created_by)?,
        lifted_at: optional_timestamp(row, "lifted_at")?,
        lifted_by: optional_principal(row, "lifted_by")?,
    })
}

fn suspension_record(row: &SqliteRow) -> Result<SuspensionRecord, StoreError> {
    let suspended: String = row.try_get("principal").map_err(backend)?;
    let by: String = row.try_get("suspended_by").map_err(backend)?;
    Ok(SuspensionRecord {
        principal: principal(&suspended)?,
        suspended_at: timestamp(row, "suspended_at")?,
        reason: row.try_get("reason").map_err(backend)?,
        rule_id: row.try_get("rule_id").map_err(backend)?,
        alert_id: row.try_get("alert_id").map_err(backend)?,
        suspended_by: principal(&by)?,
    })
}

#[async_trait]
impl ContainmentStore for SqliteStore {
    async fn insert_block(&self, block: &NewBlock) -> Result<BlockRecord, StoreError> {
        let row = sqlx::query(
            "INSERT INTO network_blocks (network, created_at, expires_at, reason, rule_id, \
             alert_id, created_by) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *",
        )
        .bind(block.network.to_string())
        .bind(block.created_at.as_micros())
        .bind(block.expires_at.as_micros())
        .bind(&block.reason)
        .bind(&block.rule_id)
        .bind(&block.alert_id)
        .bind(block.created_by.to_string())
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        block_record(&row)
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
        // IMMEDIATE: the write lock is taken before the read, so two concurrent lifts queue on
        // the busy timeout. A deferred transaction would read, then fail to upgrade to a
        // writer ("database is locked") when the other lift committed in between.
        let mut transaction = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)?;
        let row = sqlx::query("SELECT * FROM network_blocks WHERE id = ? AND lifted_at IS NULL")
            .bind(id)
            .fetch_optional(&mut *transaction)
            .await
            .map_err(backend)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let block = block_record(&row)?;
        sqlx::query("UPDATE network_blocks SET lifted_at = ?, lifted_by = ? WHERE id = ?")
            .bind(at.as_micros())
            .bind(by.to_string())
            .bind(id)
            .execute(&mut *transaction)
            .await
            .map_err(backend)?;
        transaction.commit().await.map_err(backend)?;
        Ok(Some(block))
    }

    async fn active_blocks(&self, now: Timestamp) -> Result<Vec<BlockRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM network_blocks WHERE lifted_at IS NULL AND expires_at > ? ORDER BY id",
        )
        .bind(now.as_micros())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(block_record).collect()
    }

    async fn insert_suspension(&self, suspension: &SuspensionRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO principal_suspensions (principal, suspended_at, reason, rule_id, \
             alert_id, suspended_by, lifted_at, lifted_by) VALUES (?, ?, ?, ?, ?, ?, NULL, NULL) \
             ON CONFLICT (principal) DO UPDATE SET suspended_at = excluded.suspended_at, \
             reason = excluded.reason, rule_id = excluded.rule_id, alert_id = excluded.alert_id, \
             suspended_by = excluded.suspended_by, lifted_at = NULL, lifted_by = NULL",
        )
        .bind(suspension.principal.to_string())
        .bind(suspension.suspended_at.as_micros())
        .bind(&suspension.reason)
        .bind(&suspension.rule_id)
        .bind(&suspension.alert_id)
        .bind(suspension.suspended_by.to_string())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn lift_suspension(
        &self,
        principal: &Principal,
        at: Timestamp,
        by: &Principal,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE principal_suspensions SET lifted_at = ?, lifted_by = ? \
             WHERE principal = ? AND lifted_at IS NULL",
        )
        .bind(at.as_micros())
        .bind(by.to_string())
        .bind(principal.to_string())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(result.rows_affected() > 0)
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
             VALUES (?, ?, ?, ?) ON CONFLICT (alert_id) DO UPDATE SET \
             acknowledged_by = excluded.acknowledged_by, \
             acknowledged_at = excluded.acknowledged_at, note = excluded.note",
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
            "SELECT * FROM alert_acks WHERE acknowledged_at >= ? ORDER BY acknowledged_at",
        )
        .bind(since.as_micros())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|row| {
                let by: String = row.try_get("acknowledged_by").map_err(backend)?;
                Ok(AlertAck {
                    alert_id: row.try_get("alert_id").map_err(backend)?,
                    acknowledged_by: principal(&by)?,
                    acknowledged_at: timestamp(row, "acknowledged_at")?,
                    note: row.try_get("note").map_err(backend)?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;

    #[tokio::test]
    async fn blocks_suspensions_and_acks_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("haechi.db");
        let admin = Principal::Admin("root".into());
        let store = SqliteStore::open(&path).await.unwrap();
        let block = store
            .insert_block(&NewBlock {
                network: "203.0.113.0/24".parse().unwrap(),
                created_at: Timestamp::from_secs(10),
                expires_at: Timestamp::from_secs(100),
                reason: "test".into(),
                rule_id: Some("haechi.token.forged".into()),
                alert_id: Some("haechi.token.forged/7".into()),
                created_by: admin.clone(),
            })
            .await
            .unwrap();
        let other = store
            .insert_block(&NewBlock {
                network: "198.51.100.7/32".parse().unwrap(),
                created_at: Timestamp::from_secs(10),
                expires_at: Timestamp::from_secs(100),
                reason: "by hand".into(),
                rule_id: None,
                alert_id: None,
                created_by: admin.clone(),
            })
            .await
            .unwrap();
        assert_ne!(block.id, other.id);
        let suspended = Principal::Service("shipping".into());
        store
            .insert_suspension(&SuspensionRecord {
                principal: suspended.clone(),
                suspended_at: Timestamp::from_secs(11),
                reason: "volume".into(),
                rule_id: None,
                alert_id: None,
                suspended_by: admin.clone(),
            })
            .await
            .unwrap();
        store
            .acknowledge_alert(&AlertAck {
                alert_id: "haechi.token.forged/7".into(),
                acknowledged_by: admin.clone(),
                acknowledged_at: Timestamp::from_secs(12),
                note: Some("INC-1".into()),
            })
            .await
            .unwrap();
        store.close().await;

        let store = SqliteStore::open(&path).await.unwrap();
        let active = store.active_blocks(Timestamp::from_secs(50)).await.unwrap();
        assert_eq!(active, vec![block.clone(), other.clone()]);
        assert!(
            store
                .active_blocks(Timestamp::from_secs(100))
                .await
                .unwrap()
                .is_empty()
        );
        let lifted = store
            .lift_block(block.id, Timestamp::from_secs(20), &admin)
            .await
            .unwrap();
        assert_eq!(lifted, Some(block.clone()));
        assert_eq!(
            store
                .lift_block(block.id, Timestamp::from_secs(21), &admin)
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            store.active_blocks(Timestamp::from_secs(50)).await.unwrap(),
            vec![other]
        );
        assert_eq!(store.active_suspensions().await.unwrap().len(), 1);
        assert!(
            store
                .lift_suspension(&suspended, Timestamp::from_secs(30), &admin)
                .await
                .unwrap()
        );
        assert!(store.active_suspensions().await.unwrap().is_empty());
        let acks = store.alert_acks(Timestamp::EPOCH).await.unwrap();
        assert_eq!(acks.len(), 1);
        assert_eq!(acks[0].note.as_deref(), Some("INC-1"));
    }
}
