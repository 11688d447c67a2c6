//! `RuleStore` over PostgreSQL: every version of the API rule set in `rule_sets`, the newest in
//! force. A cluster's detection node asks for the newest version every second and takes a new
//! one within that second, whichever API node accepted it. A save is one transaction under a
//! lock of the table, so two nodes never hand out the same number.

use async_trait::async_trait;
use haechi_events::StoreError;
use haechi_respond::rules::{RuleFile, RuleStore, StoredRules};
use sqlx::Row as _;

use super::{PgStore, backend};
use crate::rule_sets::{decode, encode, kept};

#[async_trait]
impl RuleStore for PgStore {
    async fn stored_rules(&self) -> Result<Option<StoredRules>, StoreError> {
        let row = sqlx::query(
            "SELECT version, digest, files FROM rule_sets ORDER BY version DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.map(|row| {
            decode(
                row.try_get("version").map_err(backend)?,
                row.try_get("digest").map_err(backend)?,
                row.try_get::<&str, _>("files").map_err(backend)?,
            )
        })
        .transpose()
    }

    async fn stored_rules_version(&self) -> Result<u64, StoreError> {
        let version: i64 = sqlx::query_scalar("SELECT COALESCE(max(version), 0) FROM rule_sets")
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?;
        Ok(u64::try_from(version).unwrap_or(0))
    }

    async fn store_rules(&self, files: &[RuleFile], digest: &str) -> Result<u64, StoreError> {
        let mut transaction = self.pool.begin().await.map_err(backend)?;
        sqlx::query("LOCK TABLE rule_sets IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *transaction)
            .await
            .map_err(backend)?;
        let version: i64 = sqlx::query_scalar(
            "INSERT INTO rule_sets (version, digest, files) \
             SELECT COALESCE(max(version), 0) + 1, $1, $2 FROM rule_sets RETURNING version",
        )
        .bind(digest)
        .bind(encode(files)?)
        .fetch_one(&mut *transaction)
        .await
        .map_err(backend)?;
        sqlx::query("DELETE FROM rule_sets WHERE version <= $1")
            .bind(version.saturating_sub(kept()))
            .execute(&mut *transaction)
            .await
            .map_err(backend)?;
        transaction.commit().await.map_err(backend)?;
        Ok(u64::try_from(version).unwrap_or(0))
    }
}
