//! One handle on everything a deployment keeps.

use async_trait::async_trait;
use haechi_events::StoreError;
use haechi_incident::{IncidentStore, StatementStore};
use haechi_leak::exposure::ExposureStore;
use haechi_leak::private_check::CheckTagStore;
use haechi_leak::watch_ledger::WatchLedger;
use haechi_notice::NoticeStore;
use haechi_respond::ContainmentStore;
use haechi_respond::rules::RuleStore;
use haechi_token::AuthorityStore;
use haechi_vault::VaultStore;

/// A storage backend: every domain trait, plus what the process itself needs (readiness,
/// shutdown). The runtime and the server hold an `Arc<dyn Store>` and hand each part the
/// trait it needs (trait upcasting), so no part of Haechi above this crate names a backend.
#[async_trait]
pub trait Store:
    AuthorityStore
    + VaultStore
    + ContainmentStore
    + ExposureStore
    + CheckTagStore
    + IncidentStore
    + StatementStore
    + RuleStore
    + NoticeStore
    + WatchLedger
    + std::fmt::Debug
    + Send
    + Sync
{
    /// Which backend this is (`sqlite`, `postgres`), for logs and readiness.
    fn backend_name(&self) -> &'static str;
    /// Whether the database answers (readiness).
    async fn ping(&self) -> Result<(), StoreError>;
    /// Closes the connections, flushing everything.
    async fn close(&self);
}

#[async_trait]
impl Store for crate::SqliteStore {
    fn backend_name(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        crate::SqliteStore::ping(self).await
    }

    async fn close(&self) {
        crate::SqliteStore::close(self).await;
    }
}

#[async_trait]
impl Store for crate::PgStore {
    fn backend_name(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        crate::PgStore::ping(self).await
    }

    async fn close(&self) {
        crate::PgStore::close(self).await;
    }
}
