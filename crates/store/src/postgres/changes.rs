//! The change log every node of a cluster follows (`haechi_events::ChangeFeed`).
//!
//! A shared decision and its log entry commit together or not at all: each writer below
//! appends inside the decision's own transaction. Appenders take one transaction-scoped
//! advisory lock before reading the next position and hold it to commit, so a later position
//! is never visible before an earlier one — a follower that has read up to `p` never finds an
//! entry below `p` afterwards. (A sequence would not do: its numbers are taken in call order
//! and committed in any order.) The lock serialises only decisions — revocations, key states,
//! blocks, suspensions, policies — never reads or token issues.

use async_trait::async_trait;
use haechi_events::{Change, ChangeFeed, LoggedChange, StoreError, Timestamp};
use sqlx::{PgConnection, Row as _};

use super::{PgStore, backend};

/// The advisory lock appends serialise on (one key of its own: "Hcha").
const APPEND_LOCK: i64 = 0x4863_6861;

/// Appends `change` within the caller's transaction.
pub(super) async fn append(
    connection: &mut PgConnection,
    change: &Change,
) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(APPEND_LOCK)
        .execute(&mut *connection)
        .await
        .map_err(backend)?;
    sqlx::query(
        "INSERT INTO haechi_changes (position, kind, subject, recorded_at) \
         SELECT COALESCE(max(position), 0) + 1, $1, $2, \
                (extract(epoch FROM clock_timestamp()) * 1000000)::bigint FROM haechi_changes",
    )
    .bind(change.kind())
    .bind(change.subject())
    .execute(&mut *connection)
    .await
    .map_err(backend)?;
    Ok(())
}

#[async_trait]
impl ChangeFeed for PgStore {
    async fn change_head(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT COALESCE(max(position), 0) FROM haechi_changes")
            .fetch_one(&self.pool)
            .await
            .map_err(backend)
    }

    async fn changes_after(
        &self,
        position: i64,
        limit: u32,
    ) -> Result<Vec<LoggedChange>, StoreError> {
        let rows = sqlx::query(
            "SELECT position, kind, subject FROM haechi_changes WHERE position > $1 \
             ORDER BY position LIMIT $2",
        )
        .bind(position)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|row| {
                let kind: String = row.try_get("kind").map_err(backend)?;
                let subject: String = row.try_get("subject").map_err(backend)?;
                Ok(LoggedChange {
                    position: row.try_get("position").map_err(backend)?,
                    change: Change::from_columns(&kind, &subject)?,
                })
            })
            .collect()
    }
}

impl PgStore {
    /// Deletes entries recorded before `before`, keeping the newest one whatever its age (the
    /// head a starting node follows from must stay readable). A node that was away longer than
    /// the kept history reloads everything when it starts, which it does anyway.
    pub async fn prune_changes(&self, before: Timestamp) -> Result<u64, StoreError> {
        let deleted = sqlx::query(
            "DELETE FROM haechi_changes WHERE recorded_at < $1 \
             AND position < (SELECT max(position) FROM haechi_changes)",
        )
        .bind(before.as_micros())
        .execute(&self.pool)
        .await
        .map_err(backend)?
        .rows_affected();
        Ok(deleted)
    }
}
