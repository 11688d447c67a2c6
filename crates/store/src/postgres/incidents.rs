//! `IncidentStore` over PostgreSQL: the same rows as SQLite (`crate::incidents`); a write's
//! alerts and customers go in one statement each (`UNNEST`), so an incident that took tens of
//! thousands of customers in a second is one round trip per table.

use async_trait::async_trait;
use haechi_events::{StoreError, Timestamp};
use haechi_incident::{
    AffectedCustomer, CustomerExposure, Incident, IncidentFilter, IncidentId, IncidentStore,
    IncidentWrite,
};
use sqlx::Row as _;

use super::{PgStore, backend};
use crate::incidents::{
    CUSTOMER_EXPOSURES, affected, decode, encode, exposure_row, fields_text, sql_limit,
};

#[async_trait]
impl IncidentStore for PgStore {
    async fn write_incidents(&self, writes: &[IncidentWrite]) -> Result<(), StoreError> {
        let mut transaction = self.pool.begin().await.map_err(backend)?;
        for write in writes {
            let incident = &write.incident;
            sqlx::query(
                "INSERT INTO incidents (id, state, severity, first_seen, last_seen, updated_at, \
                 body) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO UPDATE SET \
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
            if !write.alert_ids.is_empty() {
                sqlx::query(
                    "INSERT INTO incident_alerts (alert_id, incident_id) \
                     SELECT DISTINCT ON (alert_id) alert_id, $2 FROM UNNEST($1::text[]) AS a(alert_id) \
                     ON CONFLICT (alert_id) DO UPDATE SET incident_id = excluded.incident_id",
                )
                .bind(&write.alert_ids)
                .bind(incident.id.as_str())
                .execute(&mut *transaction)
                .await
                .map_err(backend)?;
            }
            if !write.customers.is_empty() {
                let ids: Vec<&str> = write
                    .customers
                    .iter()
                    .map(|c| c.customer_id.as_str())
                    .collect();
                let fields: Vec<String> = write.customers.iter().map(fields_text).collect();
                let first: Vec<Option<i64>> = write
                    .customers
                    .iter()
                    .map(|c| c.first_seen.map(Timestamp::as_micros))
                    .collect();
                let last: Vec<Option<i64>> = write
                    .customers
                    .iter()
                    .map(|c| c.last_seen.map(Timestamp::as_micros))
                    .collect();
                let reads: Vec<i64> = write
                    .customers
                    .iter()
                    .map(|c| i64::try_from(c.reads).unwrap_or(i64::MAX))
                    .collect();
                sqlx::query(
                    "INSERT INTO incident_customers (incident_id, customer_id, fields, \
                     first_seen, last_seen, reads) \
                     SELECT $1, * FROM UNNEST($2::text[], $3::text[], $4::bigint[], \
                     $5::bigint[], $6::bigint[]) \
                     ON CONFLICT (incident_id, customer_id) DO NOTHING",
                )
                .bind(incident.id.as_str())
                .bind(&ids)
                .bind(&fields)
                .bind(&first)
                .bind(&last)
                .bind(&reads)
                .execute(&mut *transaction)
                .await
                .map_err(backend)?;
            }
        }
        transaction.commit().await.map_err(backend)
    }

    async fn incident(&self, id: &IncidentId) -> Result<Option<Incident>, StoreError> {
        let body: Option<String> = sqlx::query_scalar("SELECT body FROM incidents WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        body.as_deref().map(decode).transpose()
    }

    async fn list_incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>, StoreError> {
        let bodies: Vec<String> = sqlx::query_scalar(
            "SELECT body FROM incidents WHERE ($1::text IS NULL OR state = $1) \
             ORDER BY last_seen DESC, id LIMIT $2",
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
            "SELECT alert_id FROM incident_alerts WHERE incident_id = $1 ORDER BY alert_id",
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
             WHERE incident_id = $1 AND customer_id > $2 ORDER BY customer_id LIMIT $3",
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
