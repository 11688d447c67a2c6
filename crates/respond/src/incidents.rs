//! The [`IncidentDesk`]: detection's alerts grouped into incidents as they are raised
//! (`haechi_incident::IncidentBook`), written to the store about once a second, and announced
//! to the incident streams (SSE) once written.
//!
//! The book lives on the node that runs the engine; the store is what every node reads, so
//! `GET /v1/admin/incidents` answers the same on any node of a cluster (at most one flush
//! behind the engine). Changes wait in memory between flushes, folded to one per incident when
//! they pile up (a store that is down does not grow memory with every alert); a flush that
//! fails keeps them for the next.

use std::sync::Arc;

use haechi_detect::{Alert, AlertGrowth, Disposition, ResponseAction, Rule};
use haechi_events::{StoreError, Timestamp};
use haechi_incident::{
    AffectedCustomer, BookLimits, Closure, Incident, IncidentAction, IncidentBook, IncidentChange,
    IncidentFilter, IncidentId, IncidentState, IncidentStore, IncidentWrite, coalesce,
};
use haechi_token::AdminGrant;
use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::broadcast;

use crate::ActionOutcome;

/// Pending changes past which they are folded to one per incident.
const FOLD_PENDING_AT: usize = 4096;
/// Customers restored per page when a live incident is put back in memory.
const RESTORE_PAGE: usize = 10_000;
/// Closed incidents (the most recently active) whose alerts a restart remembers.
const RESTORE_CLOSED: usize = 1_000;

/// What incident streams (SSE) receive: the change and the incident as written.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IncidentNotice {
    /// `opened`, `updated`, `merged` or `closed`.
    pub change: &'static str,
    /// The incident after it.
    pub incident: Incident,
}

/// Why closing an incident did not happen.
#[derive(Debug, thiserror::Error)]
pub enum CloseRefused {
    /// No such incident.
    #[error("no incident {0}")]
    NotFound(IncidentId),
    /// It is closed already.
    #[error("incident {0} is closed already")]
    AlreadyClosed(IncidentId),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Incidents: the book the engine's alerts are filed in, and the store behind it.
#[derive(Debug)]
pub struct IncidentDesk {
    book: Mutex<IncidentBook>,
    pending: Mutex<Vec<IncidentChange>>,
    /// One flush at a time, so writes reach the store in the order they were taken.
    flushing: tokio::sync::Mutex<()>,
    store: Arc<dyn IncidentStore>,
    notices: broadcast::Sender<IncidentNotice>,
}

impl IncidentDesk {
    /// A desk over `store`, with no rules yet ([`IncidentDesk::load`] gives them).
    pub fn new(store: Arc<dyn IncidentStore>) -> Self {
        IncidentDesk {
            book: Mutex::new(IncidentBook::new(std::iter::empty(), BookLimits::default())),
            pending: Mutex::new(Vec::new()),
            flushing: tokio::sync::Mutex::new(()),
            store,
            notices: broadcast::channel(1024).0,
        }
    }

    /// Takes the rules' correlation settings and puts the store's open and contained
    /// incidents back in memory, so alerts after a restart join them. Returns how many.
    pub async fn load(&self, rules: &[Rule]) -> Result<usize, StoreError> {
        self.book.lock().set_rules(rules);
        self.reload().await
    }

    /// Forgets what is in memory and puts the store's open and contained incidents back (a
    /// cluster node taking the lead of detection: another leader may have changed them).
    /// What was waiting to be written is written first.
    pub async fn reload(&self) -> Result<usize, StoreError> {
        self.flush().await?;
        self.book.lock().forget_all();
        let mut restored = 0;
        for state in [IncidentState::Open, IncidentState::Contained] {
            let filter = IncidentFilter {
                state: Some(state),
                limit: BookLimits::default().max_live,
            };
            for incident in self.store.list_incidents(&filter).await? {
                let alert_ids = self.store.incident_alert_ids(&incident.id).await?;
                let mut customers = Vec::new();
                let mut after: Option<String> = None;
                loop {
                    let page = self
                        .store
                        .incident_customers(&incident.id, after.as_deref(), RESTORE_PAGE)
                        .await?;
                    let Some(last) = page.last() else { break };
                    after = Some(last.customer_id.clone());
                    customers.extend(page.into_iter().map(|c| c.customer_id));
                }
                self.book.lock().restore(incident, alert_ids, customers);
                restored += 1;
            }
        }
        // The restarted engine raises recent alerts again from history; those of incidents a
        // responder closed must not open them anew.
        let closed = IncidentFilter {
            state: Some(IncidentState::Closed),
            limit: RESTORE_CLOSED,
        };
        for incident in self.store.list_incidents(&closed).await? {
            let alert_ids = self.store.incident_alert_ids(&incident.id).await?;
            self.book.lock().remember_closed(alert_ids);
        }
        Ok(restored)
    }

    /// Takes a new rule set's correlation settings (incidents keep what they hold).
    pub fn set_rules(&self, rules: &[Rule]) {
        self.book.lock().set_rules(rules);
    }

    /// Files a raised alert.
    pub fn alert_raised(&self, alert: &Alert) {
        let changes = self.book.lock().observe(alert);
        self.queue(changes);
    }

    /// Notes an alert's growth.
    pub fn alert_grew(&self, growth: &AlertGrowth) {
        let change = self.book.lock().observe_growth(growth);
        self.queue(change.into_iter().collect());
    }

    /// Notes an action containment took (or only recorded) for an alert.
    pub fn action_taken(&self, action: &ResponseAction, outcome: &ActionOutcome, at: Timestamp) {
        let carried_out = outcome.disposition == Disposition::Enforce
            && matches!(outcome.outcome, "done" | "already");
        let change = self.book.lock().record_action(
            action.alert_id.as_str(),
            IncidentAction {
                alert_id: action.alert_id.as_str().to_string(),
                kind: action.kind.clone(),
                disposition: outcome.disposition,
                carried_out,
                at,
            },
        );
        self.queue(change.into_iter().collect());
    }

    fn queue(&self, changes: Vec<IncidentChange>) {
        if changes.is_empty() {
            return;
        }
        let mut pending = self.pending.lock();
        pending.extend(changes);
        if pending.len() >= FOLD_PENDING_AT {
            let folded = coalesce(std::mem::take(&mut *pending));
            *pending = folded;
        }
    }

    /// Writes what changed since the last flush, then announces it. On a store error the
    /// changes wait for the next flush.
    pub async fn flush(&self) -> Result<usize, StoreError> {
        let _one_at_a_time = self.flushing.lock().await;
        let changes = std::mem::take(&mut *self.pending.lock());
        if changes.is_empty() {
            return Ok(0);
        }
        let (kinds, writes): (Vec<_>, Vec<IncidentWrite>) =
            self.book.lock().writes(changes).into_iter().unzip();
        if let Err(error) = self.store.write_incidents(&writes).await {
            metrics::counter!("haechi_incident_write_failures_total").increment(1);
            // The changes go back in front of what came since: an incident still in the book
            // is written as it is then, one that left it as it left.
            let retry: Vec<IncidentChange> = {
                let book = self.book.lock();
                kinds
                    .into_iter()
                    .zip(writes)
                    .map(|(kind, write)| IncidentChange {
                        kind,
                        id: write.incident.id.clone(),
                        departed: book
                            .get(&write.incident.id)
                            .is_none()
                            .then(|| Box::new(write.incident)),
                        alert_ids: write.alert_ids,
                        customers: write.customers,
                    })
                    .collect()
            };
            let mut pending = self.pending.lock();
            let later = std::mem::take(&mut *pending);
            *pending = retry;
            pending.extend(later);
            return Err(error);
        }
        let written = writes.len();
        metrics::counter!("haechi_incident_writes_total").increment(written as u64);
        for kind in &kinds {
            if matches!(kind, haechi_incident::ChangeKind::Opened) {
                metrics::counter!("haechi_incidents_opened_total").increment(1);
            }
        }
        for (kind, write) in kinds.into_iter().zip(writes) {
            let _ = self.notices.send(IncidentNotice {
                change: kind.name(),
                incident: write.incident,
            });
        }
        Ok(written)
    }

    /// Closes an incident (a responder's act, under an administrator's grant): it stops
    /// collecting alerts. Live in this node's book or only in the store, either way.
    pub async fn close(
        &self,
        id: &IncidentId,
        grant: &AdminGrant,
        note: String,
        at: Timestamp,
    ) -> Result<Incident, CloseRefused> {
        let closure = Closure {
            at,
            by: grant.actor().to_string(),
            note,
            merged_into: None,
        };
        let live = self.book.lock().close(id, closure.clone());
        if let Some(change) = live {
            let incident = change.departed.as_deref().cloned();
            self.queue(vec![change]);
            self.flush().await?;
            return incident.ok_or_else(|| CloseRefused::NotFound(id.clone()));
        }
        let Some(mut incident) = self.store.incident(id).await? else {
            return Err(CloseRefused::NotFound(id.clone()));
        };
        if incident.state == IncidentState::Closed {
            return Err(CloseRefused::AlreadyClosed(id.clone()));
        }
        incident.close(closure);
        let write = IncidentWrite {
            incident: incident.clone(),
            alert_ids: Vec::new(),
            customers: Vec::new(),
        };
        self.store.write_incidents(&[write]).await?;
        let _ = self.notices.send(IncidentNotice {
            change: "closed",
            incident: incident.clone(),
        });
        Ok(incident)
    }

    /// Incidents from the store, most recently active first.
    pub async fn list(&self, filter: &IncidentFilter) -> Result<Vec<Incident>, StoreError> {
        self.store.list_incidents(filter).await
    }

    /// One incident from the store.
    pub async fn get(&self, id: &IncidentId) -> Result<Option<Incident>, StoreError> {
        self.store.incident(id).await
    }

    /// A page of an incident's customers.
    pub async fn customers(
        &self,
        id: &IncidentId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AffectedCustomer>, StoreError> {
        self.store.incident_customers(id, after, limit).await
    }

    /// Incidents collecting alerts on this node.
    pub fn live_count(&self) -> usize {
        self.book.lock().live_count()
    }

    /// A receiver of every notice from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<IncidentNotice> {
        self.notices.subscribe()
    }
}
