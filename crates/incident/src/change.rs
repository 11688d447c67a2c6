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

/// One change: which incident, and the alerts and customers newly tied to it (what the store
/// adds beside it). The incident itself is the book's to hand out ([`IncidentBook::get`]) —
/// cloning a large incident for each of its alerts would cost more than the grouping — except
/// when it left the book (merged, closed, retired): then the change carries its last state.
///
/// [`IncidentBook::get`]: crate::IncidentBook::get
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentChange {
    /// What happened.
    pub kind: ChangeKind,
    /// The incident.
    pub id: IncidentId,
    /// Its last state, when it left the book with this change.
    pub departed: Option<Box<Incident>>,
    /// Alert ids newly tied to it (its own new alert, or a merged incident's alerts).
    pub alert_ids: Vec<String>,
    /// Customers newly tied to it.
    pub customers: Vec<AffectedCustomer>,
}

impl IncidentChange {
    /// An update with nothing newly tied.
    pub fn updated(id: IncidentId) -> Self {
        IncidentChange {
            kind: ChangeKind::Updated,
            id,
            departed: None,
            alert_ids: Vec::new(),
            customers: Vec::new(),
        }
    }

    /// A change that takes the incident out of the book, carrying its last state.
    pub fn departed(kind: ChangeKind, incident: Incident) -> Self {
        IncidentChange {
            kind,
            id: incident.id.clone(),
            departed: Some(Box::new(incident)),
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
        if later.departed.is_some() {
            self.departed = later.departed;
        }
        self.alert_ids.extend(later.alert_ids);
        self.customers.extend(later.customers);
    }
}

/// Folds changes into one per incident, in the order each incident first changed.
pub fn coalesce(changes: Vec<IncidentChange>) -> Vec<IncidentChange> {
    let mut folded: Vec<IncidentChange> = Vec::new();
    let mut position: std::collections::HashMap<IncidentId, usize> = Default::default();
    for change in changes {
        match position.get(&change.id) {
            Some(&at) => folded[at].absorb(change),
            None => {
                position.insert(change.id.clone(), folded.len());
                folded.push(change);
            }
        }
    }
    folded
}
