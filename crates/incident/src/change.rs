//! What the book hands its caller to persist and announce.

use serde::Serialize;

use crate::model::{Incident, IncidentId};
use crate::store::AffectedCustomer;

/// What happened to an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum ChangeKind {
    /// A new incident.
    Opened,
    /// It took an alert, grew, or recorded an action.
    Updated,
    /// It was merged into another (and is closed).
    Merged {
        /// The incident it was merged into.
        into: IncidentId,
    },
    /// A responder closed it.
    Closed,
}

impl ChangeKind {
    /// The SSE event name: `opened`, `updated`, `merged` or `closed`.
    pub fn name(&self) -> &'static str {
        match self {
            ChangeKind::Opened => "opened",
            ChangeKind::Updated => "updated",
            ChangeKind::Merged { .. } => "merged",
            ChangeKind::Closed => "closed",
        }
    }
}

/// One change: the incident as it now is, and the alerts and customers newly tied to it (what
/// the store adds beside it).
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentChange {
    /// What happened.
    pub kind: ChangeKind,
    /// The incident after it.
    pub incident: Incident,
    /// Alert ids newly tied to it (its own new alert, or a merged incident's alerts).
    pub alert_ids: Vec<String>,
    /// Customers newly tied to it.
    pub customers: Vec<AffectedCustomer>,
}

impl IncidentChange {
    /// An update with nothing newly tied.
    pub fn updated(incident: Incident) -> Self {
        IncidentChange {
            kind: ChangeKind::Updated,
            incident,
            alert_ids: Vec::new(),
            customers: Vec::new(),
        }
    }

    /// Folds a later change of the same incident into this one: the later snapshot wins, the
    /// newly tied alerts and customers add up, and an `opened` stays `opened` (what a writer
    /// flushing once a second wants).
    pub fn absorb(&mut self, later: IncidentChange) {
        let kind = match (&self.kind, later.kind) {
            (ChangeKind::Opened, ChangeKind::Updated) => ChangeKind::Opened,
            (_, kind) => kind,
        };
        self.kind = kind;
        self.incident = later.incident;
        self.alert_ids.extend(later.alert_ids);
        self.customers.extend(later.customers);
    }
}

/// Folds changes into one per incident, in the order each incident first changed.
pub fn coalesce(changes: Vec<IncidentChange>) -> Vec<IncidentChange> {
    let mut folded: Vec<IncidentChange> = Vec::new();
    let mut position: std::collections::HashMap<IncidentId, usize> = Default::default();
    for change in changes {
        match position.get(&change.incident.id) {
            Some(&at) => folded[at].absorb(change),
            None => {
                position.insert(change.incident.id.clone(), folded.len());
                folded.push(change);
            }
        }
    }
    folded
}
