//! The drill clock: moving it settles detection on the server; the alerts it raised are
//! collected as seen at that simulated instant.

use std::collections::BTreeMap;

use haechi_events::Timestamp;
use reqwest::Method;
use serde_json::{Value, json};

use super::{Broken, Driver};
use crate::truth::AlertSeen;

impl Driver {
    /// Moves the drill clock to `at`, waits for detection to settle, and records new alerts.
    pub(super) async fn settle(&mut self, at: Timestamp) -> Result<(), Broken> {
        if at < self.now {
            return Ok(());
        }
        let (status, body) = self
            .admin(
                Method::POST,
                "/v1/admin/drill/clock",
                Some(&json!({ "now": at.to_rfc3339() })),
            )
            .await?;
        if !status.is_success() {
            return Err(Broken(format!(
                "moving the drill clock failed ({status}): {body}"
            )));
        }
        self.now = at;
        let total = body["alerts"].as_u64().unwrap_or(0);
        if total != self.alerts_total {
            self.alerts_total = total;
            self.collect_alerts(at).await?;
        }
        Ok(())
    }

    /// Records every alert not seen before as seen at `at`.
    async fn collect_alerts(&mut self, at: Timestamp) -> Result<(), Broken> {
        let (status, body) = self
            .admin(Method::GET, "/v1/admin/alerts?limit=1000", None)
            .await?;
        if !status.is_success() {
            return Err(Broken(format!("listing alerts failed ({status}): {body}")));
        }
        let alerts = body["alerts"].as_array().cloned().unwrap_or_default();
        // Oldest first, so the report lists them in order.
        for alert in alerts.iter().rev() {
            let Some(id) = alert["id"].as_str() else {
                continue;
            };
            if !self.alerts_seen.insert(id.to_string()) {
                continue;
            }
            let seen = alert_seen(alert, at);
            self.observed.alerts.push(seen);
        }
        Ok(())
    }
}

/// An alert from the admin API, as the drill records it.
fn alert_seen(alert: &Value, at: Timestamp) -> AlertSeen {
    let context: BTreeMap<String, String> = alert["context"]
        .as_object()
        .map(|map| {
            map.iter()
                .filter_map(|(name, value)| Some((name.clone(), value.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let actions: Vec<&Value> = alert["actions"]
        .as_array()
        .map(|list| list.iter().collect())
        .unwrap_or_default();
    let enforced = actions
        .iter()
        .any(|action| action["disposition"] == "enforce");
    AlertSeen {
        id: alert["id"].as_str().unwrap_or_default().to_string(),
        rule_id: alert["rule_id"].as_str().unwrap_or_default().to_string(),
        severity: alert["severity"].as_str().unwrap_or_default().to_string(),
        title: alert["title"].as_str().unwrap_or_default().to_string(),
        group_key: alert["group_key"].as_str().unwrap_or_default().to_string(),
        context,
        seen_at: at,
        actions: actions
            .iter()
            .map(|action| {
                format!(
                    "{} ({})",
                    action["kind"]["action"].as_str().unwrap_or("?"),
                    action["disposition"].as_str().unwrap_or("?")
                )
            })
            .collect(),
        enforced,
    }
}
