//! Grouping a finished list of alerts at once: what `haechi detect replay` and the drills
//! print, and what a replay records with `--record-incidents`.

use haechi_detect::{Alert, Rule};

use crate::book::{BookLimits, IncidentBook};
use crate::change::{ChangeKind, IncidentChange, coalesce};
use crate::store::IncidentWrite;

/// Groups `alerts` (in the order they were raised) into incidents, oldest first, each with
/// every alert and customer tied to it — what a store would hold had the alerts been raised
/// live. Incidents merged into others are left out (their alerts and customers moved to the
/// survivor); incidents the book retired along the way (quiet for longer than their window)
/// are kept with their last state.
pub fn group_alerts<'a>(
    rules: impl IntoIterator<Item = &'a Rule>,
    alerts: impl IntoIterator<Item = &'a Alert>,
) -> Vec<IncidentWrite> {
    let mut book = IncidentBook::new(rules, BookLimits::default());
    let mut changes: Vec<IncidentChange> = Vec::new();
    for alert in alerts {
        changes.extend(book.observe(alert));
    }
    changes.extend(book.drain());
    let mut writes: Vec<IncidentWrite> = coalesce(changes)
        .into_iter()
        .filter(|change| !matches!(change.kind, ChangeKind::Merged { .. }))
        .filter_map(|change| {
            Some(IncidentWrite {
                incident: *change.departed?,
                alert_ids: change.alert_ids,
                customers: change.customers,
            })
        })
        .collect();
    writes.sort_by(|a, b| {
        (a.incident.first_seen, &a.incident.id).cmp(&(b.incident.first_seen, &b.incident.id))
    });
    writes
}
