//! The trait storage implements for incidents (`haechi-store`: SQLite on one node,
//! PostgreSQL in a cluster), and what it keeps beside each incident.

use async_trait::async_trait;
use haechi_events::{StoreError, Timestamp};
use serde::{Deserialize, Serialize};

use crate::model::{Incident, IncidentId, IncidentState};

/// A customer tied to an incident: by detection (the alerts named them) or by an import or a
/// scope result (which also say which fields, when, and how many reads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AffectedCustomer {
    /// The customer's id.
    pub customer_id: String,
    /// The fields exposed, when known.
    #[serde(default)]
    pub fields: Vec<String>,
    /// The first exposure, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<Timestamp>,
    /// The last exposure, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<Timestamp>,
    /// Reads of the customer's data within the incident, when known (0: unknown).
    #[serde(default)]
    pub reads: u64,
}

impl AffectedCustomer {
    /// A customer known only by id (an alert named them).
    pub fn named(customer_id: impl Into<String>, seen: Option<(Timestamp, Timestamp)>) -> Self {
        AffectedCustomer {
            customer_id: customer_id.into(),
            fields: Vec::new(),
            first_seen: seen.map(|(first, _)| first),
            last_seen: seen.map(|(_, last)| last),
            reads: 0,
        }
    }
}

/// Which incidents a listing wants.
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    /// Only incidents in this state.
    pub state: Option<IncidentState>,
    /// At most this many, most recently active first.
    pub limit: usize,
}

/// What the store writes for one incident: the incident as it now is, and the alerts and
/// customers newly tied to it.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentWrite {
    /// The incident.
    pub incident: Incident,
    /// Alert ids newly tied to it.
    pub alert_ids: Vec<String>,
    /// Customers newly tied to it.
    pub customers: Vec<AffectedCustomer>,
}

/// Where incidents are kept.
#[async_trait]
pub trait IncidentStore: Send + Sync + std::fmt::Debug {
    /// Writes changes, all or none: each incident as it now is, the alerts newly tied to it
    /// (an alert belongs to one incident; a merge moves it) and the customers newly tied to it
    /// (a customer already tied keeps its first record). A closed incident is final: a write
    /// of it after it was closed (a detection node that had not heard of the closing) leaves
    /// it as it is.
    async fn write_incidents(&self, writes: &[IncidentWrite]) -> Result<(), StoreError>;

    /// One incident.
    async fn incident(&self, id: &IncidentId) -> Result<Option<Incident>, StoreError>;

    /// Incidents, most recently active first.
    async fn list_incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>, StoreError>;

    /// Every alert id tied to an incident.
    async fn incident_alert_ids(&self, id: &IncidentId) -> Result<Vec<String>, StoreError>;

    /// The customers tied to an incident, ordered by id, `limit` after `after`.
    async fn incident_customers(
        &self,
        id: &IncidentId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AffectedCustomer>, StoreError>;
}
