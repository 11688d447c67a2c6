//! The pipeline's sources: the audit log's live records, and the customer count `share`
//! rules read.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use haechi_audit::{AuditLog, AuditRecord};
use haechi_vault::Vault;
use tokio::sync::mpsc;

use super::CUSTOMER_COUNT_REFRESH;

/// Forwards the log's records from `from` to the engine task, re-subscribing after errors.
pub(super) async fn read_records(
    audit: Arc<AuditLog>,
    from: u64,
    sender: mpsc::Sender<AuditRecord>,
) {
    let mut subscription = audit.subscribe(from);
    loop {
        match subscription.next().await {
            Ok(Some(record)) => {
                if sender.send(record).await.is_err() {
                    return;
                }
            }
            Ok(None) => return,
            Err(haechi_audit::Error::Pruned { requested, oldest }) => {
                tracing::warn!(
                    requested,
                    oldest,
                    "audit records pruned before detection saw them; continuing from the oldest"
                );
                subscription = audit.subscribe(oldest);
            }
            Err(error) => {
                tracing::error!(%error, "detection cannot read the audit stream; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                subscription = audit.subscribe(subscription.next_seq());
            }
        }
    }
}

/// Refreshes `customers` from the vault every [`CUSTOMER_COUNT_REFRESH`].
pub(super) async fn refresh_customer_count(vault: Arc<Vault>, customers: Arc<AtomicU64>) {
    let mut ticker = tokio::time::interval(CUSTOMER_COUNT_REFRESH);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match vault.customer_count().await {
            Ok(count) => customers.store(count, Ordering::Relaxed),
            Err(error) => tracing::warn!(%error, "cannot count customers for detection"),
        }
    }
}
