//! A live incident and what the book keeps beside it.

use std::time::Duration;

use ahash::{HashSet, HashSetExt};
use haechi_detect::{Alert, LinkField};

use crate::model::{Incident, IncidentId, IncidentIndicators, IncidentOrigin, IncidentState};

/// A live incident and what is kept beside it.
#[derive(Debug)]
pub(super) struct Live {
    pub(super) incident: Incident,
    pub(super) customers: HashSet<Box<str>>,
    pub(super) alert_ids: Vec<Box<str>>,
    /// The correlating values it holds in the index.
    pub(super) keys: Vec<(LinkField, Box<str>)>,
    /// The widest window of its alerts' rules.
    pub(super) window: Duration,
}

impl Live {
    pub(super) fn opened(id: IncidentId, alert: &Alert) -> Self {
        Live {
            incident: Incident {
                id,
                title: alert.title.clone(),
                state: IncidentState::Open,
                severity: alert.severity,
                origin: IncidentOrigin::Detection,
                first_seen: alert.first_time,
                last_seen: alert.last_time,
                contained_at: None,
                closure: None,
                indicators: IncidentIndicators::default(),
                customers: 0,
                rules: Default::default(),
                alert_count: 0,
                alerts: Vec::new(),
                actions: Vec::new(),
                merged: Vec::new(),
                updated_at: alert.last_time,
            },
            customers: HashSet::new(),
            alert_ids: Vec::new(),
            keys: Vec::new(),
            window: Duration::ZERO,
        }
    }
}
