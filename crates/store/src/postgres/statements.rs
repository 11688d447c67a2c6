//! `StatementStore` over PostgreSQL: the same rows and queries as SQLite
//! (`crate::statements`). Two administrators publishing the same version at once both read
//! the same newest version; the primary key lets one in and the other gets the conflict.

use async_trait::async_trait;
use haechi_events::StoreError;
use haechi_incident::{IncidentId, IncidentStatement, StatementStore};

use super::{PgStore, backend};
use crate::statements::{
    ALL_VERSIONS, CURRENT, INSERT, NEWEST_VERSION, decode, encode, out_of_turn,
};

#[async_trait]
impl StatementStore for PgStore {
    async fn publish_statement(&self, statement: &IncidentStatement) -> Result<(), StoreError> {
        let mut transaction = self.pool.begin().await.map_err(backend)?;
        let newest: i64 = sqlx::query_scalar(NEWEST_VERSION)
            .bind(statement.incident_id.as_str())
            .fetch_one(&mut *transaction)
            .await
            .map_err(backend)?;
        if i64::from(statement.version) != newest + 1 {
            return Err(out_of_turn(statement, newest));
        }
        sqlx::query(INSERT)
            .bind(statement.incident_id.as_str())
            .bind(i64::from(statement.version))
            .bind(statement.published_at.as_micros())
            .bind(encode(statement)?)
            .execute(&mut *transaction)
            .await
            .map_err(backend)?;
        transaction.commit().await.map_err(backend)
    }

    async fn statements(
        &self,
        incident: &IncidentId,
    ) -> Result<Vec<IncidentStatement>, StoreError> {
        let bodies: Vec<String> = sqlx::query_scalar(ALL_VERSIONS)
            .bind(incident.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        bodies.iter().map(|body| decode(body)).collect()
    }

    async fn current_statements(&self) -> Result<Vec<IncidentStatement>, StoreError> {
        let bodies: Vec<String> = sqlx::query_scalar(CURRENT)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        bodies.iter().map(|body| decode(body)).collect()
    }
}
