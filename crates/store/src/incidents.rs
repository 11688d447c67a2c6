//! `IncidentStore` over SQLite, and the row encoding both backends share: the incident as
//! JSON in `body`, its state, severity and times in columns listings filter and sort on.

use async_trait::async_trait;
use haechi_events::{StoreError, Timestamp};
use haechi_incident::{
    AffectedCustomer, CustomerExposure, Incident, IncidentFilter, IncidentId, IncidentStore,
    IncidentWrite,
};
use sqlx::Row;

use crate::SqliteStore;
use crate::columns::Columns;
use crate::sqlite::backend;

/// The incident as stored in `body`.
pub(crate) fn encode(incident: &Incident) -> Result<String, StoreError> {
    serde_json::to_string(incident).map_err(|error| StoreError::Backend(error.to_string()))
}

/// An incident from its `body`.
pub(crate) fn decode(body: &str) -> Result<Incident, StoreError> {
    serde_json::from_str(body).map_err(|error| StoreError::Corrupt(format!("incident: {error}")))
}

/// A customer's fields as stored: comma-separated names (names are `[a-z0-9_]`).
pub(crate) fn fields_text(customer: &AffectedCustomer) -> String {
    customer.fields.join(",")
}

/// A customer row back.
pub(crate) fn affected(
    customer_id: String,
    fields: &str,
    first_seen: Option<i64>,
    last_seen: Option<i64>,
    reads: i64,
) -> AffectedCustomer {
    AffectedCustomer {
        customer_id,
        fields: fields
            .split(',')
            .filter(|name| !name.is_empty())
            .map(str::to_string)
            .collect(),
        first_seen: first_seen.map(Timestamp::from_micros),
        last_seen: last_seen.map(Timestamp::from_micros),
        reads: u64::try_from(reads).unwrap_or(0),
    }
}

/// A customer's exposure from a row of `incident_customers` joined with its incident.
pub(crate) fn exposure_row(row: &impl Columns) -> Result<CustomerExposure, StoreError> {
    Ok(CustomerExposure {
        incident: decode(&row.text("body")?)?,
        customer: affected(
            row.text("customer_id")?,
            &row.text("fields")?,
            row.optional_integer("first_seen")?,
            row.optional_integer("last_seen")?,
            row.integer("reads")?,
        ),
    })
}

/// The query both backends run for a customer's exposures (placeholders differ).
pub(crate) const CUSTOMER_EXPOSURES: &str = "SELECT c.customer_id, c.fields, c.first_seen, \
     c.last_seen, c.reads, i.body FROM incident_customers c JOIN incidents i \
     ON i.id = c.incident_id WHERE c.customer_id = $1 ORDER BY i.last_seen DESC, i.id LIMIT $2";

/// A listing's limit as SQL wants it.
pub(crate) fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit.max(1)).unwrap_or(i64::MAX)
}

#[async_trait]
impl IncidentStore for SqliteStore {
    async fn write_incidents(&self, writes: &[IncidentWrite]) -> Result<(), StoreError> {
        let mut transaction = self.pool.begin().await.map_err(backend)?;
        for write in writes {
            let incident = &write.incident;
            sqlx::query(
                "INSERT INTO incidents (id, state, severity, first_seen, last_seen, updated_at, \
                 body) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET \
                 state = excluded.state, severity = excluded.severity, \
                 first_seen = excluded.first_seen, last_seen = excluded.last_seen, \
                 updated_at = excluded.updated_at, body = excluded.body \
                 WHERE incidents.state <> 'closed'",
            )
            .bind(incident.id.as_str())
            .bind(incident.state.as_str())
            .bind(incident.severity.as_str())
            .bind(incident.first_seen.as_micros())
            .bind(incident.last_seen.as_micros())
            .bind(incident.updated_at.as_micros())
            .bind(encode(incident)?)
            .execute(&mut *transaction)
            .await
            .map_err(backend)?;
            for alert_id in &write.alert_ids {
                sqlx::query(
                    "INSERT INTO incident_alerts (alert_id, incident_id) VALUES (?, ?) \
                     ON CONFLICT (alert_id) DO UPDATE SET incident_id = excluded.incident_id",
                )
                .bind(alert_id)
                .bind(incident.id.as_str())
                .execute(&mut *transaction)
                .await
                .map_err(backend)?;
            }
            for customer in &write.customers {
                sqlx::query(
                    "INSERT INTO incident_customers (incident_id, customer_id, fields, \
                     first_seen, last_seen, reads) VALUES (?, ?, ?, ?, ?, ?) \
                     ON CONFLICT (incident_id, customer_id) DO NOTHING",
                )
                .bind(incident.id.as_str())
                .bind(&customer.customer_id)
                .bind(fields_text(customer))
                .bind(customer.first_seen.map(Timestamp::as_micros))
                .bind(customer.last_seen.map(Timestamp::as_micros))
                .bind(i64::try_from(customer.reads).unwrap_or(i64::MAX))
                .execute(&mut *transaction)
                .await
                .map_err(backend)?;
            }
        }
        transaction.commit().await.map_err(backend)
    }

    async fn incident(&self, id: &IncidentId) -> Result<Option<Incident>, StoreError> {
        let body: Option<String> = sqlx::query_scalar("SELECT body FROM incidents WHERE id = ?")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        body.as_deref().map(decode).transpose()
    }

    async fn list_incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>, StoreError> {
        let bodies: Vec<String> = sqlx::query_scalar(
            "SELECT body FROM incidents WHERE (?1 IS NULL OR state = ?1) \
             ORDER BY last_seen DESC, id LIMIT ?2",
        )
        .bind(filter.state.map(|state| state.as_str()))
        .bind(sql_limit(filter.limit))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        bodies.iter().map(|body| decode(body)).collect()
    }

    async fn incident_alert_ids(&self, id: &IncidentId) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar(
            "SELECT alert_id FROM incident_alerts WHERE incident_id = ? ORDER BY alert_id",
        )
        .bind(id.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)
    }

    async fn incident_customers(
        &self,
        id: &IncidentId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AffectedCustomer>, StoreError> {
        let rows = sqlx::query(
            "SELECT customer_id, fields, first_seen, last_seen, reads FROM incident_customers \
             WHERE incident_id = ? AND customer_id > ? ORDER BY customer_id LIMIT ?",
        )
        .bind(id.as_str())
        .bind(after.unwrap_or(""))
        .bind(sql_limit(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|row| {
                Ok(affected(
                    row.try_get("customer_id").map_err(backend)?,
                    &row.try_get::<String, _>("fields").map_err(backend)?,
                    row.try_get("first_seen").map_err(backend)?,
                    row.try_get("last_seen").map_err(backend)?,
                    row.try_get("reads").map_err(backend)?,
                ))
            })
            .collect()
    }

    async fn customer_exposures(
        &self,
        customer_id: &str,
        limit: usize,
    ) -> Result<Vec<CustomerExposure>, StoreError> {
        let rows = sqlx::query(CUSTOMER_EXPOSURES)
            .bind(customer_id)
            .bind(sql_limit(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(exposure_row).collect()
    }
}
