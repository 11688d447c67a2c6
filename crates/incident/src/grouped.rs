//! Grouping a finished list of alerts at once: what `haechi detect replay` and the drills
//! print.

use std::collections::BTreeMap;

use haechi_detect::{Alert, Rule};

use crate::book::{BookLimits, IncidentBook};
use crate::change::ChangeKind;
use crate::model::{Incident, IncidentId};

/// Groups `alerts` (in the order they were raised) into incidents, oldest first. Incidents
/// merged into others are left out; incidents the book retired along the way (quiet for
/// longer than their window) are kept with their last state.
pub fn group_alerts<'a>(
    rules: impl IntoIterator<Item = &'a Rule>,
    alerts: impl IntoIterator<Item = &'a Alert>,
) -> Vec<Incident> {
    let mut book = IncidentBook::new(rules, BookLimits::default());
    let mut departed: BTreeMap<IncidentId, Incident> = BTreeMap::new();
    let mut keep = |kind: &ChangeKind, incident: Option<Box<Incident>>| {
        if let Some(incident) = incident {
            if matches!(kind, ChangeKind::Merged { .. }) {
                departed.remove(&incident.id);
            } else {
                departed.insert(incident.id.clone(), *incident);
            }
        }
    };
    for alert in alerts {
        for change in book.observe(alert) {
            keep(&change.kind, change.departed);
        }
    }
    for change in book.drain() {
        keep(&change.kind, change.departed);
    }
    let mut incidents: Vec<Incident> = departed.into_values().collect();
    incidents.sort_by(|a, b| (a.first_seen, &a.id).cmp(&(b.first_seen, &b.id)));
    incidents
}
