//! `PolicyStore` over PostgreSQL: every version of the access policy in `policy_versions`, the
//! newest one in force, so each node of a cluster starts with the policy the last save made
//! durable — the embedded store's `policy.toml` and `policy.d/`, as rows.
//!
//! A save is one transaction (the new version is there whole, or not at all) under a lock of
//! the table that orders concurrent saves, so two nodes never hand out the same number.

use async_trait::async_trait;
use haechi_events::{Change, StoreError};
use haechi_vault::{PolicyStore, policy_digest};
use sqlx::{PgConnection, Row as _};

use super::rows::{from_bigint, to_bigint};
use super::{PgStore, backend, changes};
use crate::KEPT_VERSIONS;

/// A kept policy version with its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPolicy {
    /// 1, 2, …, as [`haechi_vault::PolicyVersion::version`].
    pub version: u64,
    /// Hex SHA-256 of the text.
    pub digest: String,
    /// The policy (TOML) as it was saved.
    pub text: String,
}

impl PgStore {
    /// The newest policy version, the one a node starts with (`None` before the first save).
    pub async fn policy_in_force(&self) -> Result<Option<StoredPolicy>, StoreError> {
        let row = sqlx::query(
            "SELECT version, digest, text FROM policy_versions ORDER BY version DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.map(|row| {
            Ok(StoredPolicy {
                version: from_bigint(row.try_get("version").map_err(backend)?),
                digest: row.try_get("digest").map_err(backend)?,
                text: row.try_get("text").map_err(backend)?,
            })
        })
        .transpose()
    }

    /// The version numbers kept, in order.
    pub async fn policy_versions(&self) -> Result<Vec<u64>, StoreError> {
        let versions: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM policy_versions ORDER BY version")
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
        Ok(versions.into_iter().map(from_bigint).collect())
    }

    /// Keeps `text` as version 1 if no version is kept yet — the policy a cluster started
    /// from (its configuration file), so the first save through the API keeps it the way the
    /// file store keeps the live file as `policy.d/1.toml`. Returns the policy in force
    /// afterwards: `text` itself, or what an earlier save (of any node) made durable.
    pub async fn adopt_initial_policy(&self, text: &str) -> Result<StoredPolicy, StoreError> {
        let mut transaction = self.pool.begin().await.map_err(backend)?;
        lock_versions(&mut transaction).await?;
        sqlx::query(
            "INSERT INTO policy_versions (version, digest, text) SELECT 1, $1, $2 \
             WHERE NOT EXISTS (SELECT 1 FROM policy_versions)",
        )
        .bind(policy_digest(text))
        .bind(text)
        .execute(&mut *transaction)
        .await
        .map_err(backend)?;
        transaction.commit().await.map_err(backend)?;
        self.policy_in_force().await?.ok_or_else(|| {
            StoreError::Corrupt("the policy versions vanished while one was kept".into())
        })
    }
}

/// Orders saves: the lock conflicts with itself and with writes, not with reads.
async fn lock_versions(connection: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query("LOCK TABLE policy_versions IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *connection)
        .await
        .map_err(backend)?;
    Ok(())
}

#[async_trait]
impl PolicyStore for PgStore {
    async fn save(&self, text: &str) -> Result<u64, StoreError> {
        let mut transaction = self.pool.begin().await.map_err(backend)?;
        lock_versions(&mut transaction).await?;
        let version: i64 = sqlx::query_scalar(
            "INSERT INTO policy_versions (version, digest, text) \
             SELECT COALESCE(max(version), 0) + 1, $1, $2 FROM policy_versions \
             RETURNING version",
        )
        .bind(policy_digest(text))
        .bind(text)
        .fetch_one(&mut *transaction)
        .await
        .map_err(backend)?;
        // The newest KEPT_VERSIONS stay, as in `policy.d/`.
        let kept = to_bigint(u64::try_from(KEPT_VERSIONS).unwrap_or(u64::MAX));
        sqlx::query("DELETE FROM policy_versions WHERE version <= $1")
            .bind(version.saturating_sub(kept))
            .execute(&mut *transaction)
            .await
            .map_err(backend)?;
        changes::append(&mut transaction, &Change::PolicyChanged).await?;
        transaction.commit().await.map_err(backend)?;
        Ok(from_bigint(version))
    }
}
