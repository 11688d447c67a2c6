//! The drill clock: moving it settles detection on the server (on a cluster, every node's
//! clock moves: the detection nodes' first, then the API nodes'); the alerts it raised are
//! collected as seen at that simulated instant.

use std::collections::BTreeMap;

use haechi_events::Timestamp;
use reqwest::Method;
use serde_json::{Value, json};

use super::http::To;
use super::{Broken, Driver};
use crate::report::IncidentSeen;
use crate::truth::AlertSeen;

impl Driver {
    /// Moves the drill clock to `at`, waits for detection to settle, and records new alerts.
    /// A cluster's clocks all move: its detection nodes first, then its API nodes
    /// ([`Driver::settle_cluster`]).
    pub(super) async fn settle(&mut self, at: Timestamp) -> Result<(), Broken> {
        if at < self.now {
            return Ok(());
        }
        let body = if self.nodes.is_cluster() {
            self.settle_cluster(at).await?
        } else {
            self.move_clock(To::AnyApiNode, json!({ "now": at.to_rfc3339() }))
                .await?
        };
        self.now = at;
        let total = body["alerts"].as_u64().unwrap_or(0);
        if total != self.alerts_total {
            self.alerts_total = total;
            self.collect_alerts(at).await?;
        }
        Ok(())
    }

    /// Moves every clock of a cluster to `at` and settles it: each detection node's first —
    /// the leader answers once everything in the stream is evaluated and its actions are
    /// committed, with the change log's head after them (`changes_through`); a standby says
    /// it stands by — then each API node's, with that position, answering once its memory
    /// holds every change through it. The leader's answer (its alert count) is returned.
    async fn settle_cluster(&mut self, at: Timestamp) -> Result<Value, Broken> {
        let now = at.to_rfc3339();
        let mut leader: Option<(String, Value)> = None;
        let mut others = Vec::new();
        let mut changes_through = 0_i64;
        for node in self.nodes.detection().to_vec() {
            let body = self
                .move_clock(To::Node(&node), json!({ "now": now }))
                .await?;
            changes_through = changes_through.max(body["changes_through"].as_i64().unwrap_or(0));
            match body["detection"]["state"].as_str() {
                Some("settled") => leader = Some((node, body)),
                state => others.push(format!("{node}: {}", state.unwrap_or("no detection"))),
            }
        }
        let Some((leader, body)) = leader else {
            return Err(Broken(format!(
                "no detection node settled the cluster's detection (none of them leads it): {}",
                others.join("; ")
            )));
        };
        for node in self.nodes.api().to_vec() {
            self.move_clock(
                To::Node(&node),
                json!({ "now": now, "changes_through": changes_through }),
            )
            .await?;
        }
        self.nodes.alerts_from = Some(leader);
        Ok(body)
    }

    /// `POST /v1/admin/drill/clock` on `to`; its answer, or why it failed.
    async fn move_clock(&mut self, to: To<'_>, request: Value) -> Result<Value, Broken> {
        let (status, body) = self
            .admin_at(to, Method::POST, "/v1/admin/drill/clock", Some(&request))
            .await?;
        if !status.is_success() {
            let node = match to {
                To::Node(node) => format!(" on {node}"),
                To::AnyApiNode => String::new(),
            };
            return Err(Broken(format!(
                "moving the drill clock{node} failed ({status}): {body}"
            )));
        }
        Ok(body)
    }

    /// The incidents at the end of the drill, from the store (any API node answers).
    pub(super) async fn collect_incidents(&mut self) -> Result<(), Broken> {
        let (status, body) = self
            .admin_at(
                To::AnyApiNode,
                Method::GET,
                "/v1/admin/incidents?limit=1000",
                None,
            )
            .await?;
        if !status.is_success() {
            return Err(Broken(format!(
                "listing incidents failed ({status}): {body}"
            )));
        }
        self.observed.incidents = IncidentSeen::from_listing(&body);
        Ok(())
    }

    /// Records every alert not seen before as seen at `at`. A cluster's alerts are on the
    /// desk of the detection node that settled.
    async fn collect_alerts(&mut self, at: Timestamp) -> Result<(), Broken> {
        let from = self.nodes.alerts_from.clone();
        let to = from.as_deref().map_or(To::AnyApiNode, To::Node);
        let (status, body) = self
            .admin_at(to, Method::GET, "/v1/admin/alerts?limit=1000", None)
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
