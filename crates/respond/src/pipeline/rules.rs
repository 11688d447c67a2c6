//! The engine task's side of rule changes: a set the API accepted on this node, taken between
//! two events; and, once a second, whatever changed in the sources (a version another node
//! stored, the rules directory), swapped in the same way.

use haechi_detect::{Engine, RulesSwap};
use haechi_events::{EventKind, Principal, SecurityEvent};
use tokio::sync::mpsc;

use super::alerts::Outlets;
use crate::rules::{RuleSet, RulesRequest};

/// The next set the API hands this node's engine; pending forever where none can come.
pub(super) async fn next_request(
    requests: &mut Option<mpsc::Receiver<RulesRequest>>,
) -> Option<RulesRequest> {
    match requests {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

/// Swaps in a set the API accepted (and recorded) and answers the request.
pub(super) fn take_request(engine: &mut Engine, request: RulesRequest, outlets: &Outlets) {
    let RulesRequest { set, reply } = request;
    let result = swap(engine, &set, outlets);
    let _ = reply.send(result);
}

/// Swaps in what changed in the sources since the set in force, if anything did. A change of
/// the rules directory is recorded here (`admin.config_changed`, reason `rules_changed`, by
/// nobody authenticated: the host's file system); a new API version was recorded by the node
/// that accepted it.
pub(super) async fn poll(engine: &mut Engine, outlets: &Outlets) {
    let Some(desk) = &outlets.rules else { return };
    let set = match desk.changed_sources().await {
        Ok(Some(set)) => set,
        Ok(None) => return,
        Err(error) => {
            tracing::warn!(%error, "cannot ask the store for a newer rule set");
            return;
        }
    };
    let from_directory = set.api_version == desk.in_force().api_version;
    if from_directory {
        let event = SecurityEvent::new(
            outlets.clock.now(),
            EventKind::AdminConfigChanged,
            Principal::Anonymous,
        )
        .reason("rules_changed")
        .detail("source", "directory")
        .detail("rules_sha256", set.digest.clone())
        .detail("rules", set.rules.len().to_string());
        if let Err(error) = outlets.events.record(event).await {
            // Unrecorded, the change is not made: the next poll tries again.
            tracing::error!(%error, "the trail refused the rules change; the rules in force keep running");
            return;
        }
    }
    if let Err(error) = swap(engine, &set, outlets) {
        tracing::error!(%error, "changed rules not taken; the rules in force keep running");
    }
}

/// Swaps `set` into `engine`, then tells the incident desk and the rule desk.
fn swap(engine: &mut Engine, set: &RuleSet, outlets: &Outlets) -> Result<RulesSwap, String> {
    let swap = engine
        .replace_rules(set.rules.clone())
        .map_err(|error| error.to_string())?;
    let detection = &outlets.lookup.detection;
    detection.incidents.set_rules(engine.rules());
    if let Some(desk) = &outlets.rules {
        desk.swapped(set, outlets.clock.now());
    }
    metrics::counter!("haechi_rules_changes_total").increment(1);
    metrics::gauge!("haechi_rules_loaded").set(engine.rules().len() as f64);
    tracing::info!(
        digest = %set.digest,
        unchanged = swap.unchanged.len(),
        changed = swap.changed.len(),
        added = swap.added.len(),
        removed = swap.removed.len(),
        windows_restarted = swap.windows_restarted.len(),
        "detection rules changed between two events"
    );
    Ok(swap)
}
