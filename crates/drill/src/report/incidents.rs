//! Incidents in a drill: the attack should be one incident, however many alerts it raised.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;

use crate::truth::AlertSeen;

/// An incident as the drill saw it on the admin API at the end.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IncidentSeen {
    /// Its id.
    pub id: String,
    /// `open`, `contained` or `closed`.
    pub state: String,
    /// The alerts it lists.
    pub alert_ids: BTreeSet<String>,
    /// Its alert count.
    pub alert_count: u64,
}

impl IncidentSeen {
    /// From `GET /v1/admin/incidents`' body; incidents merged into others are left out.
    pub fn from_listing(body: &Value) -> Vec<IncidentSeen> {
        body["incidents"]
            .as_array()
            .map(|incidents| {
                incidents
                    .iter()
                    .filter(|incident| incident["closure"]["merged_into"].is_null())
                    .map(|incident| IncidentSeen {
                        id: incident["id"].as_str().unwrap_or_default().to_string(),
                        state: incident["state"].as_str().unwrap_or_default().to_string(),
                        alert_ids: incident["alerts"]
                            .as_array()
                            .map(|alerts| {
                                alerts
                                    .iter()
                                    .filter_map(|alert| alert["id"].as_str().map(str::to_string))
                                    .collect()
                            })
                            .unwrap_or_default(),
                        alert_count: incident["alert_count"].as_u64().unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// How the attack's alerts were grouped.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IncidentScore {
    /// Incidents holding at least one alert about the attacker.
    pub attack_incidents: Vec<String>,
    /// Alerts about the attacker no incident lists.
    pub attack_alerts_without_incident: usize,
    /// Incidents in all.
    pub incidents: usize,
}

/// Which incidents hold the true alerts.
pub fn score_incidents(incidents: &[IncidentSeen], true_alerts: &[&AlertSeen]) -> IncidentScore {
    let mut attack_incidents = Vec::new();
    let mut without = 0;
    for alert in true_alerts {
        match incidents
            .iter()
            .find(|incident| incident.alert_ids.contains(&alert.id))
        {
            Some(incident) if !attack_incidents.contains(&incident.id) => {
                attack_incidents.push(incident.id.clone());
            }
            Some(_) => {}
            None => without += 1,
        }
    }
    IncidentScore {
        attack_incidents,
        attack_alerts_without_incident: without,
        incidents: incidents.len(),
    }
}
