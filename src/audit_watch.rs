//! The audit log's watch in `haechi serve`: free space of its volume and delivery to its
//! witness, checked every few seconds.
//!
//! Neither stops the log, so neither is a readiness failure; both are conditions an operator
//! must see before they become one (a full disk fails the log closed; a dead witness leaves a
//! cut tail unprovable). Each is shown three ways: a warning in `/readyz` (status stays 200,
//! so a load balancer does not pull the node), gauges and counters in `/metrics`, and — once
//! per crossing, not at every check — a security event (`audit.disk_low`,
//! `audit.witness_failing`) that the built-in rules turn into a high alert, through the same
//! events → rules → alerts path as everything else.

use std::sync::Arc;
use std::time::Duration;

use haechi_audit::{AuditLog, Crossing};
use haechi_events::{Clock, EventKind, EventSink, Principal, SecurityEvent};

/// How often the watch looks.
pub const PERIOD: Duration = Duration::from_secs(5);

/// The principal of events Haechi records about itself (as key upkeep does).
const SYSTEM: &str = "haechi-scheduler";

/// Runs the watch until the task is aborted. The first check is at once, so a server started
/// on a nearly full volume says so immediately.
pub async fn run(
    audit: Arc<AuditLog>,
    events: Arc<dyn EventSink>,
    clock: Arc<dyn Clock>,
    min_free_percent: f64,
) {
    let mut ticker = tokio::time::interval(PERIOD);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut witness_failing = false;
    loop {
        ticker.tick().await;
        if min_free_percent > 0.0 {
            check_volume(&audit, &*events, &*clock, min_free_percent).await;
        }
        if let Some(status) = audit.witness_status() {
            metrics::counter!("haechi_audit_witness_failures_total").absolute(status.failures);
            metrics::counter!("haechi_audit_witness_skipped_total").absolute(status.skipped);
            metrics::gauge!("haechi_audit_witness_delivered_seq").set(status.delivered_seq as f64);
            metrics::gauge!("haechi_audit_witness_signed_seq").set(status.signed_seq as f64);
            let failing = status.is_failing();
            metrics::gauge!("haechi_audit_witness_failing").set(if failing { 1.0 } else { 0.0 });
            if failing && !witness_failing {
                let event = SecurityEvent::new(
                    clock.now(),
                    EventKind::AuditWitnessFailing,
                    Principal::Admin(SYSTEM.into()),
                )
                .reason("witness_failing")
                .detail("witness", status.address.clone())
                .detail("delivered_seq", status.delivered_seq.to_string())
                .detail("signed_seq", status.signed_seq.to_string())
                .detail("error", status.last_error.clone().unwrap_or_default());
                record(&*events, event).await;
            }
            witness_failing = failing;
        }
    }
}

async fn check_volume(
    audit: &AuditLog,
    events: &dyn EventSink,
    clock: &dyn Clock,
    min_free_percent: f64,
) {
    let check = match audit.check_volume(min_free_percent) {
        Ok(check) => check,
        Err(error) => {
            tracing::error!(%error, "cannot measure the free space of the audit volume");
            return;
        }
    };
    let free = check.space.free_percent();
    metrics::gauge!("haechi_audit_volume_free_bytes").set(check.space.free_bytes as f64);
    metrics::gauge!("haechi_audit_volume_free_percent").set(free);
    match check.crossing {
        Crossing::BecameLow => {
            tracing::warn!(
                free_percent = free,
                free_bytes = check.space.free_bytes,
                min_free_headroom = min_free_percent,
                "the audit volume is below its free-space headroom: when it is full the audit log \
                 fails closed and every audited act answers 503"
            );
            let event = SecurityEvent::new(
                clock.now(),
                EventKind::AuditDiskLow,
                Principal::Admin(SYSTEM.into()),
            )
            .reason("disk_low")
            .detail("free_percent", format!("{free:.2}"))
            .detail("free_bytes", check.space.free_bytes.to_string())
            .detail("total_bytes", check.space.total_bytes.to_string())
            .detail("min_free_headroom", format!("{min_free_percent}%"));
            record(events, event).await;
        }
        Crossing::Recovered => tracing::info!(
            free_percent = free,
            "the audit volume is above its free-space headroom again"
        ),
        Crossing::Unchanged => {}
    }
}

async fn record(events: &dyn EventSink, event: SecurityEvent) {
    if let Err(error) = events.record(event).await {
        // The log itself has failed; /readyz already answers 503 for that.
        tracing::error!(%error, "cannot record an audit health event");
    }
}
