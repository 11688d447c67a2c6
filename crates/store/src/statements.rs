//! `StatementStore` over SQLite, and the row encoding both backends share: the signed
//! statement as JSON in `body`, its incident, version and time in columns.

use async_trait::async_trait;
use haechi_events::StoreError;
use haechi_incident::{IncidentId, IncidentStatement, StatementStore};

use crate::SqliteStore;
use crate::sqlite::backend;

/// The statement as stored in `body`.
pub(crate) fn encode(statement: &IncidentStatement) -> Result<String, StoreError> {
    serde_json::to_string(statement).map_err(|error| StoreError::Backend(error.to_string()))
}

/// A statement from its `body`.
pub(crate) fn decode(body: &str) -> Result<IncidentStatement, StoreError> {
    serde_json::from_str(body).map_err(|error| StoreError::Corrupt(format!("statement: {error}")))
}

/// The refusal of a version that does not follow the newest kept.
pub(crate) fn out_of_turn(statement: &IncidentStatement, newest: i64) -> StoreError {
    StoreError::Conflict(format!(
        "statement version {} of {}: the newest published is {newest}",
        statement.version, statement.incident_id
    ))
}

/// Both backends' queries (SQLite reads `$N` as the N-th parameter too).
pub(crate) const NEWEST_VERSION: &str =
    "SELECT COALESCE(MAX(version), 0) FROM incident_statements WHERE incident_id = $1";
pub(crate) const INSERT: &str = "INSERT INTO incident_statements (incident_id, version, \
     published_at, body) VALUES ($1, $2, $3, $4)";
pub(crate) const ALL_VERSIONS: &str =
    "SELECT body FROM incident_statements WHERE incident_id = $1 ORDER BY version DESC";
pub(crate) const CURRENT: &str = "SELECT s.body FROM incident_statements s \
     JOIN incidents i ON i.id = s.incident_id \
     WHERE i.state <> 'closed' AND s.version = (SELECT MAX(version) FROM incident_statements \
     WHERE incident_id = s.incident_id) ORDER BY s.published_at DESC, s.incident_id";

#[async_trait]
impl StatementStore for SqliteStore {
    async fn publish_statement(&self, statement: &IncidentStatement) -> Result<(), StoreError> {
        // BEGIN IMMEDIATE in effect: the first statement writes nothing, but SQLite serialises
        // writers, so the version read here is still the newest when the row goes in.
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
