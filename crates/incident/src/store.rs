//! The trait storage implements for incidents (`haechi-store`: SQLite on one node,
//! PostgreSQL in a cluster), and what it keeps beside each incident.

use async_trait::async_trait;
use haechi_events::{StoreError, Timestamp};
use serde::{Deserialize, Serialize};

use crate::model::{Incident, IncidentId, IncidentState};
use crate::statement::IncidentStatement;

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

/// One incident's record of one customer: what the customer's own portal page shows.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerExposure {
    /// The incident.
    pub incident: Incident,
    /// What it records of the customer (fields, when, how many reads).
    pub customer: AffectedCustomer,
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

    /// Every incident that records `customer_id`, most recently active first, at most
    /// `limit`: the customer's own exposures.
    async fn customer_exposures(
        &self,
        customer_id: &str,
        limit: usize,
    ) -> Result<Vec<CustomerExposure>, StoreError>;
}

/// Where published incident statements are kept. Versions are never changed or removed.
#[async_trait]
pub trait StatementStore: Send + Sync + std::fmt::Debug {
    /// Keeps `statement`, whose version must be exactly one more than the newest kept for its
    /// incident (1 for the first); otherwise [`StoreError::Conflict`] and nothing is kept:
    /// two administrators publishing at once cannot both become version N.
    async fn publish_statement(&self, statement: &IncidentStatement) -> Result<(), StoreError>;

    /// Every version of an incident's statement, newest first.
    async fn statements(&self, incident: &IncidentId)
    -> Result<Vec<IncidentStatement>, StoreError>;

    /// The newest statement of each incident that is not closed, most recently published
    /// first: what the portal shows on every page.
    async fn current_statements(&self) -> Result<Vec<IncidentStatement>, StoreError>;
}
