//! `RuleStore` over SQLite, and the row encoding both backends share: every version of the
//! rule set administrators put through the API, its files as JSON, the newest in force (the
//! newest [`KEPT_VERSIONS`] are kept, as for the access policy).

use async_trait::async_trait;
use haechi_events::StoreError;
use haechi_respond::rules::{RuleFile, RuleStore, StoredRules};
use sqlx::Row as _;

use crate::sqlite::backend;
use crate::{KEPT_VERSIONS, SqliteStore};

/// The files as stored in `files`.
pub(crate) fn encode(files: &[RuleFile]) -> Result<String, StoreError> {
    serde_json::to_string(files).map_err(|error| StoreError::Backend(error.to_string()))
}

/// A stored row back.
pub(crate) fn decode(version: i64, digest: String, files: &str) -> Result<StoredRules, StoreError> {
    Ok(StoredRules {
        version: u64::try_from(version)
            .map_err(|_| StoreError::Corrupt(format!("rule set version {version}")))?,
        files: serde_json::from_str(files)
            .map_err(|error| StoreError::Corrupt(format!("rule set {version}: {error}")))?,
        digest,
    })
}

/// How many versions back a save deletes from.
pub(crate) fn kept() -> i64 {
    i64::try_from(KEPT_VERSIONS).unwrap_or(i64::MAX)
}

#[async_trait]
impl RuleStore for SqliteStore {
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
        // One writer at a time: the embedded store's transactions take the write lock at once.
        let mut transaction = self.pool.begin().await.map_err(backend)?;
        let version: i64 = sqlx::query_scalar(
            "INSERT INTO rule_sets (version, digest, files) \
             SELECT COALESCE(max(version), 0) + 1, ?, ? FROM rule_sets RETURNING version",
        )
        .bind(digest)
        .bind(encode(files)?)
        .fetch_one(&mut *transaction)
        .await
        .map_err(backend)?;
        sqlx::query("DELETE FROM rule_sets WHERE version <= ?")
            .bind(version.saturating_sub(kept()))
            .execute(&mut *transaction)
            .await
            .map_err(backend)?;
        transaction.commit().await.map_err(backend)?;
        Ok(u64::try_from(version).unwrap_or(0))
    }
}
