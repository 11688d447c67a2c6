//! The [`IncidentBook`]: alerts grouped into incidents by what they share, live and in replay.
//!
//! Each rule says which of its alerts' fields tie them together (`incident.correlate`,
//! `haechi_detect::IncidentLinks`) and how far apart in event time they may be. An alert's
//! values of those fields are looked up among the live incidents' values of the same fields;
//! it joins the incident it meets, or opens one; when it meets several, they are merged into
//! the oldest (union–find over indicator values, with time as the bound). Only correlating
//! values enter the index — an address a network rule saw, a key a forged session used — so
//! an alert's incidental context (a common browser's user agent) never ties two attacks.
//!
//! Bounded: at most [`BookLimits::max_live`] incidents stay joinable in memory; beyond it the
//! one with the lowest severity and oldest activity is retired (it stays in the store; it
//! only stops collecting alerts), and so is any incident quiet for longer than the longest
//! window. Per incident at most [`BookLimits::max_customers`] customer ids are tracked.

use std::collections::HashMap;

use ahash::{HashSet, HashSetExt};
use haechi_detect::{
    Alert, AlertGrowth, Disposition, IncidentLinks, LinkField, MAX_INCIDENT_WINDOW, Rule,
};
use haechi_events::Timestamp;

mod indicators;
mod live;

use indicators::{action_target, add_context, values_of};
use live::Live;

use crate::change::{ChangeKind, IncidentChange, coalesce};
use crate::model::{
    Closure, Incident, IncidentAction, IncidentAlert, IncidentId, IncidentState,
    MAX_LISTED_ACTIONS, MAX_LISTED_ALERTS,
};
use crate::store::{AffectedCustomer, IncidentWrite};

/// How much the book keeps in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookLimits {
    /// Incidents that can still collect alerts.
    pub max_live: usize,
    /// Customer ids tracked per incident (past it, `customers` counts only those tracked).
    pub max_customers: usize,
}

impl Default for BookLimits {
    fn default() -> Self {
        BookLimits {
            max_live: 10_000,
            max_customers: 2_000_000,
        }
    }
}

/// Alerts grouped into incidents. Pure: time is the alerts' event time (and the `at` the
/// caller passes for acts), nothing here does IO; the caller persists the
/// [`IncidentChange`]s it returns.
#[derive(Debug)]
pub struct IncidentBook {
    links: HashMap<String, IncidentLinks>,
    live: HashMap<IncidentId, Live>,
    index: HashMap<(LinkField, Box<str>), IncidentId>,
    by_alert: HashMap<Box<str>, IncidentId>,
    limits: BookLimits,
    latest: Timestamp,
    alerts_filed: u64,
    /// Alerts of closed incidents, remembered at a restart: the restarted engine raises them
    /// again from history, and they must not open a new incident (nor, by the derived id,
    /// reopen the closed one).
    closed_alerts: HashSet<Box<str>>,
}

/// The context field by which an alert names the alert it is about (containment's withheld
/// block): it joins that alert's incident.
pub const PARENT_ALERT_FIELD: &str = "alert_id";

/// Most alert ids of closed incidents a restart remembers.
pub const MAX_REMEMBERED_CLOSED_ALERTS: usize = 1_000_000;

/// How many alerts are filed between two sweeps for quiet incidents.
const QUIET_SWEEP_EVERY: u64 = 1024;

impl IncidentBook {
    /// A book for alerts of `rules`. Alerts of other rules (the engine's own, containment's)
    /// each open their own incident unless an alert id ties them.
    pub fn new<'a>(rules: impl IntoIterator<Item = &'a Rule>, limits: BookLimits) -> Self {
        let mut book = IncidentBook {
            links: HashMap::new(),
            live: HashMap::new(),
            index: HashMap::new(),
            by_alert: HashMap::new(),
            limits,
            latest: Timestamp::EPOCH,
            alerts_filed: 0,
            closed_alerts: HashSet::new(),
        };
        book.set_rules(rules);
        book
    }

    /// Takes the links of a new rule set (a rule reload); incidents keep what they hold.
    pub fn set_rules<'a>(&mut self, rules: impl IntoIterator<Item = &'a Rule>) {
        self.links = rules
            .into_iter()
            .map(|rule| (rule.id().to_string(), rule.incident_links().clone()))
            .collect();
    }

    /// Forgets every live incident (they are in the store); the rules' settings stay.
    pub fn forget_all(&mut self) {
        self.live.clear();
        self.index.clear();
        self.by_alert.clear();
        self.closed_alerts.clear();
    }

    /// Remembers the alerts of a closed incident (a restart): raised again, they are ignored.
    /// At most [`MAX_REMEMBERED_CLOSED_ALERTS`] in all (the most recent incidents come first).
    pub fn remember_closed(&mut self, alert_ids: impl IntoIterator<Item = String>) {
        let room = MAX_REMEMBERED_CLOSED_ALERTS.saturating_sub(self.closed_alerts.len());
        self.closed_alerts
            .extend(alert_ids.into_iter().take(room).map(String::into_boxed_str));
    }

    /// Incidents that can still collect alerts.
    pub fn live_count(&self) -> usize {
        self.live.len()
    }

    /// A live incident.
    pub fn get(&self, id: &IncidentId) -> Option<&Incident> {
        self.live.get(id).map(|live| &live.incident)
    }

    /// The incident an alert belongs to, while it is live.
    pub fn incident_of(&self, alert_id: &str) -> Option<&IncidentId> {
        self.by_alert.get(alert_id)
    }

    /// What the store should write for `changes` (coalesced to one write per incident), with
    /// each incident as it now is, and each change's kind (for the streams).
    pub fn writes(&self, changes: Vec<IncidentChange>) -> Vec<(ChangeKind, IncidentWrite)> {
        coalesce(changes)
            .into_iter()
            .filter_map(|change| {
                let incident = match change.departed {
                    Some(incident) => *incident,
                    None => self.get(&change.id)?.clone(),
                };
                Some((
                    change.kind,
                    IncidentWrite {
                        incident,
                        alert_ids: change.alert_ids,
                        customers: change.customers,
                    },
                ))
            })
            .collect()
    }

    /// Every live incident, oldest first.
    pub fn live_incidents(&self) -> Vec<&Incident> {
        let mut incidents: Vec<&Incident> = self.live.values().map(|live| &live.incident).collect();
        incidents.sort_by(|a, b| (a.first_seen, &a.id).cmp(&(b.first_seen, &b.id)));
        incidents
    }

    /// Puts a stored incident back in memory (a restart), with its alerts and customers, so
    /// new alerts join it. Closed incidents are ignored.
    pub fn restore(&mut self, incident: Incident, alert_ids: Vec<String>, customers: Vec<String>) {
        if !incident.is_live() || self.live.contains_key(&incident.id) {
            return;
        }
        let id = incident.id.clone();
        let mut live = Live {
            window: incident
                .rules
                .iter()
                .filter_map(|rule| self.links.get(rule))
                .map(|links| links.window)
                .max()
                .unwrap_or(haechi_detect::DEFAULT_INCIDENT_WINDOW),
            incident,
            customers: customers.into_iter().map(String::into_boxed_str).collect(),
            alert_ids: alert_ids.into_iter().map(String::into_boxed_str).collect(),
            keys: Vec::new(),
        };
        for alert_id in &live.alert_ids {
            self.by_alert.insert(alert_id.clone(), id.clone());
        }
        let indicators = &live.incident.indicators;
        let correlating: Vec<LinkField> = {
            let mut fields: Vec<LinkField> = live
                .incident
                .rules
                .iter()
                .filter_map(|rule| self.links.get(rule))
                .flat_map(|links| links.correlate.iter().copied())
                .collect();
            fields.sort();
            fields.dedup();
            fields
        };
        for field in correlating {
            for value in &values_of(indicators, field).values {
                let key = (field, Box::<str>::from(value.as_str()));
                self.index.entry(key.clone()).or_insert_with(|| id.clone());
                live.keys.push(key);
            }
        }
        self.latest = self.latest.max(live.incident.last_seen);
        self.live.insert(id, live);
        // Restoring never exceeds what was live before the restart; a smaller limit retires
        // the weakest (they are in the store already).
        let _ = self.enforce_capacity();
    }

    /// Files a new alert: it joins the incident its correlating values meet (merging the
    /// incidents it ties), or opens one. Returns what changed, the incident the alert joined
    /// last. An alert filed before is ignored.
    pub fn observe(&mut self, alert: &Alert) -> Vec<IncidentChange> {
        if self.by_alert.contains_key(alert.id.as_str())
            || self.closed_alerts.contains(alert.id.as_str())
        {
            return Vec::new();
        }
        self.latest = self.latest.max(alert.last_time);
        let links = self
            .links
            .get(&alert.rule_id)
            .cloned()
            .unwrap_or(IncidentLinks {
                correlate: Vec::new(),
                window: haechi_detect::DEFAULT_INCIDENT_WINDOW,
                affected_customers: false,
            });
        let keys: Vec<(LinkField, Box<str>)> = links
            .correlate
            .iter()
            .filter_map(|field| {
                let value = alert.context.get(field.name())?;
                (!value.is_empty() && value != "-").then(|| (*field, value.as_str().into()))
            })
            .collect();
        let mut met: Vec<IncidentId> = Vec::new();
        for key in &keys {
            let Some(id) = self.index.get(key) else {
                continue;
            };
            let Some(live) = self.live.get(id) else {
                continue;
            };
            let window = links.window.max(live.window);
            let near = alert.first_time <= live.incident.last_seen.plus(window)
                && live.incident.first_seen <= alert.last_time.plus(window);
            if near && live.incident.is_live() && !met.contains(id) {
                met.push(id.clone());
            }
        }
        // An alert raised about another alert (containment's withheld block names the alert
        // whose action it withheld) belongs to that alert's incident, whatever its time.
        if let Some(parent) = alert.context.get(PARENT_ALERT_FIELD)
            && let Some(id) = self.by_alert.get(parent.as_str())
            && self.live.contains_key(id)
            && !met.contains(id)
        {
            met.push(id.clone());
        }
        met.sort_by_key(|id| {
            let incident = &self.live[id].incident;
            (incident.first_seen, incident.id.clone())
        });
        let mut changes = Vec::new();
        let target = match met.first() {
            Some(id) => id.clone(),
            None => {
                let id = IncidentId::derive(alert.id.as_str());
                self.live
                    .insert(id.clone(), Live::opened(id.clone(), alert));
                id
            }
        };
        let opened = met.is_empty();
        let mut moved_alerts: Vec<String> = Vec::new();
        let mut moved_customers: Vec<String> = Vec::new();
        for other in met.iter().skip(1) {
            let (merged, alerts, customers) = self.merge(other, &target, alert.last_time);
            changes.push(merged);
            moved_alerts.extend(alerts);
            moved_customers.extend(customers);
        }
        let mut new_customers = self.attach(&target, alert, &links, keys);
        for customer in moved_customers {
            if self.track_customer(&target, &customer) {
                new_customers.push(AffectedCustomer::named(customer, None));
            }
        }
        moved_alerts.push(alert.id.as_str().to_string());
        changes.push(IncidentChange {
            kind: if opened {
                ChangeKind::Opened
            } else {
                ChangeKind::Updated
            },
            id: target,
            departed: None,
            alert_ids: moved_alerts,
            customers: new_customers,
        });
        self.alerts_filed += 1;
        if self.alerts_filed.is_multiple_of(QUIET_SWEEP_EVERY) {
            changes.extend(self.retire_quiet());
        }
        changes.extend(self.enforce_capacity());
        changes
    }

    /// An open alert matched again: its incident's last activity moves, and the match's
    /// customer (a rule that names them) joins it.
    pub fn observe_growth(&mut self, growth: &AlertGrowth) -> Option<IncidentChange> {
        let id = self.by_alert.get(growth.id.as_str())?.clone();
        let new_customer = match &growth.customer {
            Some(customer) if self.track_customer(&id, customer) => Some(customer.clone()),
            _ => None,
        };
        let live = self.live.get_mut(&id)?;
        let later = growth.time > live.incident.last_seen;
        if !later && new_customer.is_none() {
            return None;
        }
        if later {
            live.incident.last_seen = growth.time;
            live.incident.updated_at = live.incident.updated_at.max(growth.time);
        }
        let mut change = IncidentChange::updated(id);
        if let Some(customer) = new_customer {
            change.customers.push(AffectedCustomer::named(
                customer,
                Some((growth.time, growth.time)),
            ));
        }
        Some(change)
    }

    /// Records a containment action of one of the incident's alerts; one carried out marks
    /// the incident contained.
    pub fn record_action(
        &mut self,
        alert_id: &str,
        action: IncidentAction,
    ) -> Option<IncidentChange> {
        let id = self.by_alert.get(alert_id)?.clone();
        let live = self.live.get_mut(&id)?;
        // An open alert's later matches carry no context, but the actions they decide name
        // their targets: the new address blocked, the key revoked. They are the attacker's
        // too, and a later alert about that address joins this incident.
        // A block withheld (a shared address) or allowlisted (the company's own network) names
        // an address many use, not the attacker's.
        let names_attacker = !matches!(
            action.disposition,
            Disposition::Recommended | Disposition::Allowlisted
        );
        if names_attacker
            && let Some((field, value)) = action_target(&mut live.incident.indicators, &action.kind)
        {
            let key = (field, Box::<str>::from(value.as_str()));
            if !self.index.contains_key(&key) {
                self.index.insert(key.clone(), id.clone());
                live.keys.push(key);
            }
        }
        let incident = &mut live.incident;
        if action.carried_out && incident.state == IncidentState::Open {
            incident.state = IncidentState::Contained;
            incident.contained_at = Some(action.at);
        }
        incident.updated_at = incident.updated_at.max(action.at);
        if incident.actions.len() < MAX_LISTED_ACTIONS {
            incident.actions.push(action);
        }
        Some(IncidentChange::updated(id))
    }

    /// Closes a live incident (a responder's act): it stops collecting alerts and leaves
    /// memory. `None` when it is not live here.
    pub fn close(&mut self, id: &IncidentId, closure: Closure) -> Option<IncidentChange> {
        let mut live = self.retire(id)?;
        live.incident.close(closure);
        Some(IncidentChange::departed(ChangeKind::Closed, live.incident))
    }

    /// Files the alert into `target`: indicators, severity, times, the alert list, the index.
    /// Returns the customers new to the incident.
    fn attach(
        &mut self,
        target: &IncidentId,
        alert: &Alert,
        links: &IncidentLinks,
        keys: Vec<(LinkField, Box<str>)>,
    ) -> Vec<AffectedCustomer> {
        let Some(live) = self.live.get_mut(target) else {
            return Vec::new();
        };
        live.window = live.window.max(links.window);
        let incident = &mut live.incident;
        if alert.severity > incident.severity || incident.alert_count == 0 {
            incident.title = alert.title.clone();
        }
        incident.severity = incident.severity.max(alert.severity);
        incident.first_seen = incident.first_seen.min(alert.first_time);
        incident.last_seen = incident.last_seen.max(alert.last_time);
        incident.updated_at = incident.updated_at.max(alert.last_time);
        incident.rules.insert(alert.rule_id.clone());
        incident.alert_count += 1;
        if incident.alerts.len() < MAX_LISTED_ALERTS {
            incident.alerts.push(IncidentAlert {
                id: alert.id.as_str().to_string(),
                rule_id: alert.rule_id.clone(),
                severity: alert.severity,
                first_time: alert.first_time,
                group_key: alert.group_key.clone(),
            });
        }
        // An alert about another alert (containment's withheld block) carries the context of
        // its own decision — a shared address many use — which says nothing of the attacker.
        let derived = !self.links.contains_key(&alert.rule_id)
            && alert.context.contains_key(PARENT_ALERT_FIELD);
        let customer = if derived {
            None
        } else {
            add_context(&mut incident.indicators, alert, links.affected_customers)
        };
        live.alert_ids.push(alert.id.as_str().into());
        self.by_alert
            .insert(alert.id.as_str().into(), target.clone());
        for key in keys {
            if !self.index.contains_key(&key) || self.index.get(&key) != Some(target) {
                self.index.insert(key.clone(), target.clone());
                live.keys.push(key);
            }
        }
        match customer {
            Some(customer) if self.track_customer(target, &customer) => {
                vec![AffectedCustomer::named(
                    customer,
                    Some((alert.first_time, alert.last_time)),
                )]
            }
            _ => Vec::new(),
        }
    }

    fn track_customer(&mut self, target: &IncidentId, customer: &str) -> bool {
        let Some(live) = self.live.get_mut(target) else {
            return false;
        };
        if live.customers.len() >= self.limits.max_customers || live.customers.contains(customer) {
            return false;
        }
        live.customers.insert(customer.into());
        live.incident.customers = live.customers.len() as u64;
        true
    }

    /// Merges `from` into `into`; returns the merged incident's change, its alerts and its
    /// customers (for `into` to take).
    fn merge(
        &mut self,
        from: &IncidentId,
        into: &IncidentId,
        at: Timestamp,
    ) -> (IncidentChange, Vec<String>, Vec<String>) {
        let Some(mut gone) = self.retire(from) else {
            return (
                IncidentChange::updated(into.clone()),
                Vec::new(),
                Vec::new(),
            );
        };
        if let Some(survivor) = self.live.get_mut(into) {
            let incident = &mut survivor.incident;
            let other = &gone.incident;
            if other.severity > incident.severity {
                incident.title = other.title.clone();
            }
            incident.severity = incident.severity.max(other.severity);
            incident.first_seen = incident.first_seen.min(other.first_seen);
            incident.last_seen = incident.last_seen.max(other.last_seen);
            incident.indicators.absorb(&other.indicators);
            incident.rules.extend(other.rules.iter().cloned());
            incident.alert_count += other.alert_count;
            let room = MAX_LISTED_ALERTS.saturating_sub(incident.alerts.len());
            incident
                .alerts
                .extend(other.alerts.iter().take(room).cloned());
            incident.alerts.sort_by_key(|alert| alert.first_time);
            let room = MAX_LISTED_ACTIONS.saturating_sub(incident.actions.len());
            incident
                .actions
                .extend(other.actions.iter().take(room).cloned());
            if other.state == IncidentState::Contained {
                incident.state = IncidentState::Contained;
                incident.contained_at = match (incident.contained_at, other.contained_at) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            incident.merged.push(other.id.clone());
            incident.merged.extend(other.merged.iter().cloned());
            survivor.window = survivor.window.max(gone.window);
            for alert_id in &gone.alert_ids {
                self.by_alert.insert(alert_id.clone(), into.clone());
                survivor.alert_ids.push(alert_id.clone());
            }
            for key in gone.keys.drain(..) {
                self.index.insert(key.clone(), into.clone());
                survivor.keys.push(key);
            }
        }
        let alerts = gone.alert_ids.iter().map(|id| id.to_string()).collect();
        let customers = gone.customers.iter().map(|id| id.to_string()).collect();
        gone.incident.close(Closure {
            at,
            by: "detection".into(),
            note: format!("merged into {into}: its alerts share an indicator"),
            merged_into: Some(into.clone()),
        });
        let change =
            IncidentChange::departed(ChangeKind::Merged { into: into.clone() }, gone.incident);
        (change, alerts, customers)
    }

    /// Takes an incident out of memory (it stays in the store).
    fn retire(&mut self, id: &IncidentId) -> Option<Live> {
        let live = self.live.remove(id)?;
        for key in &live.keys {
            if self.index.get(key) == Some(id) {
                self.index.remove(key);
            }
        }
        for alert_id in &live.alert_ids {
            if self.by_alert.get(alert_id) == Some(id) {
                self.by_alert.remove(alert_id);
            }
        }
        Some(live)
    }

    /// Takes every incident out of memory, each as a change carrying its last state (the end
    /// of a replay).
    pub fn drain(&mut self) -> Vec<IncidentChange> {
        let ids: Vec<IncidentId> = self.live_incidents().iter().map(|i| i.id.clone()).collect();
        ids.iter().filter_map(|id| self.departure(id)).collect()
    }

    fn departure(&mut self, id: &IncidentId) -> Option<IncidentChange> {
        let live = self.retire(id)?;
        Some(IncidentChange::departed(ChangeKind::Updated, live.incident))
    }

    /// Retires incidents no alert can join any more: quiet for longer than the longest window.
    fn retire_quiet(&mut self) -> Vec<IncidentChange> {
        let horizon = self.latest.minus(MAX_INCIDENT_WINDOW);
        let quiet: Vec<IncidentId> = self
            .live
            .values()
            .filter(|live| live.incident.last_seen.plus(live.window) < horizon)
            .map(|live| live.incident.id.clone())
            .collect();
        quiet.iter().filter_map(|id| self.departure(id)).collect()
    }

    fn enforce_capacity(&mut self) -> Vec<IncidentChange> {
        let mut departed = Vec::new();
        while self.live.len() > self.limits.max_live {
            let Some(weakest) = self
                .live
                .values()
                .min_by_key(|live| {
                    (
                        live.incident.severity,
                        live.incident.last_seen,
                        live.incident.id.clone(),
                    )
                })
                .map(|live| live.incident.id.clone())
            else {
                break;
            };
            departed.extend(self.departure(&weakest));
        }
        departed
    }
}
