//! The vault as a whole: built once from its parts, it hands out one service object per
//! concept and keeps what they share — the policy in force and the customer count.

use std::sync::Arc;

use haechi_custody::{MasterKeyRing, SecureRandom};
use haechi_events::{Clock, EventKind, EventSink, SecurityEvent};
use haechi_token::{AdminGrant, TokenAuthority};
use parking_lot::RwLock;

use crate::shared::VaultCore;
use crate::{
    BlindIndexer, BulkImport, DataKeyRewrap, Error, LeakPass, Lifecycle, NoticeContacts,
    OwnRecords, Policy, PolicyStore, PolicyVersion, ServiceReads, VaultStore,
};
use crate::{CachedVaultStore, LookupLimits, SharedBudgets};

/// Most ids in one batch read.
pub const MAX_BATCH: usize = 100;

/// Everything the vault is built from.
#[derive(Debug)]
pub struct VaultParts {
    /// Storage.
    pub store: Arc<dyn VaultStore>,
    /// The token authority (customer login accounts live there).
    pub authority: Arc<TokenAuthority>,
    /// The key-encryption keys (current, and previous ones during a rotation).
    pub master_key: Arc<MasterKeyRing>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Events.
    pub events: Arc<dyn EventSink>,
    /// Randomness.
    pub random: Arc<dyn SecureRandom>,
    /// Access policy.
    pub policy: Policy,
    /// Blind-index key and truncation.
    pub indexer: BlindIndexer,
    /// Where a policy replaced through the API is kept for the next start (`None`: in
    /// memory only, for embedded and test uses; `haechi serve` always gives one).
    pub policy_store: Option<Arc<dyn PolicyStore>>,
    /// Where services' budgets of distinct customers are charged when several nodes share
    /// them (a cluster's store); `None`: in this process's memory (one node).
    pub shared_budgets: Option<Arc<dyn SharedBudgets>>,
    /// Where the lookup-miss limit and the lookup statistics are counted:
    /// [`crate::MemoryLookupLimits`] on one node, the shared store in a cluster.
    pub lookup_limits: Arc<dyn LookupLimits>,
    /// Bytes of sealed records kept in memory in front of `store`
    /// ([`CachedVaultStore`]); 0 keeps none and every read goes to the store.
    pub record_cache_bytes: u64,
}

/// The PII vault: the composition root of its service objects. Each act belongs to one of
/// them; the vault itself only holds the policy in force and counts customers.
#[derive(Debug)]
pub struct Vault {
    core: Arc<VaultCore>,
    service_reads: ServiceReads,
    own_records: OwnRecords,
    lifecycle: Lifecycle,
    bulk_import: BulkImport,
    data_key_rewrap: DataKeyRewrap,
    notice_contacts: NoticeContacts,
    leak_pass: LeakPass,
    record_cache: Option<Arc<CachedVaultStore>>,
}

impl Vault {
    /// A vault over its parts.
    pub fn new(parts: VaultParts) -> Self {
        let record_cache = (parts.record_cache_bytes > 0).then(|| {
            Arc::new(CachedVaultStore::new(
                parts.store.clone(),
                parts.record_cache_bytes,
            ))
        });
        let store = match &record_cache {
            Some(cache) => Arc::clone(cache) as Arc<dyn VaultStore>,
            None => parts.store,
        };
        let core = Arc::new(VaultCore {
            store,
            authority: parts.authority,
            master_key: parts.master_key,
            clock: parts.clock,
            events: parts.events,
            random: parts.random,
            policy: RwLock::new(Arc::new(parts.policy)),
            indexer: parts.indexer,
            policy_store: parts.policy_store,
        });
        Vault {
            service_reads: ServiceReads::new(
                Arc::clone(&core),
                parts.shared_budgets,
                parts.lookup_limits,
            ),
            own_records: OwnRecords::new(Arc::clone(&core)),
            lifecycle: Lifecycle::new(Arc::clone(&core)),
            bulk_import: BulkImport::new(Arc::clone(&core)),
            data_key_rewrap: DataKeyRewrap::new(Arc::clone(&core)),
            notice_contacts: NoticeContacts::new(Arc::clone(&core)),
            leak_pass: LeakPass::new(Arc::clone(&core)),
            record_cache,
            core,
        }
    }

    /// The cache of sealed records in front of the store, if one is kept: a cluster node's
    /// change-log follower tells it which records other nodes changed.
    pub fn record_cache(&self) -> Option<&Arc<CachedVaultStore>> {
        self.record_cache.as_ref()
    }

    /// Services' reads and lookups under policy and budget.
    pub fn service_reads(&self) -> &ServiceReads {
        &self.service_reads
    }

    /// Customers' access to their own records.
    pub fn own_records(&self) -> &OwnRecords {
        &self.own_records
    }

    /// Services creating and crypto-shredding customers.
    pub fn lifecycle(&self) -> &Lifecycle {
        &self.lifecycle
    }

    /// The operator's bulk import.
    pub fn bulk_import(&self) -> &BulkImport {
        &self.bulk_import
    }

    /// Re-wrapping data keys during a master-key rotation.
    pub fn data_key_rewrap(&self) -> &DataKeyRewrap {
        &self.data_key_rewrap
    }

    /// The operator's read of contact channels for breach notices.
    pub fn notice_contacts(&self) -> &NoticeContacts {
        &self.notice_contacts
    }

    /// The operator's leak pass (`haechi leak match`).
    pub fn leak_pass(&self) -> &LeakPass {
        &self.leak_pass
    }

    /// The policy in force.
    pub fn policy(&self) -> Arc<Policy> {
        self.core.policy()
    }

    /// Replaces the policy (already parsed and validated), recording who did it. With a
    /// policy store, the policy is first made durable (so a restart keeps it — an emergency
    /// deny must not be undone by the next deploy), then audited with its version and digest,
    /// then put in force. Nothing changes if the store or the audit log refuses; if the audit
    /// log refuses after the store kept the new policy, the previous text is saved back.
    pub async fn replace_policy(
        &self,
        policy: Policy,
        grant: &AdminGrant,
    ) -> Result<PolicyVersion, Error> {
        let core = &self.core;
        let (actor, context) = (grant.actor(), grant.context());
        let digest = crate::policy_digest(policy.source());
        let version = match &core.policy_store {
            Some(store) => store.save(policy.source()).await?,
            None => 0,
        };
        let recorded = core
            .emit(
                SecurityEvent::new(
                    core.clock.now(),
                    EventKind::AdminConfigChanged,
                    actor.clone(),
                )
                .context(context)
                .reason("policy_replaced")
                .detail("policy_version", version.to_string())
                .detail("policy_sha256", digest.clone()),
            )
            .await;
        if let Err(error) = recorded {
            if let Some(store) = &core.policy_store {
                let previous = core.policy();
                if let Err(undo) = store.save(previous.source()).await {
                    tracing::error!(error = %undo, "the unaudited policy could not be undone on disk");
                }
            }
            return Err(error);
        }
        *core.policy.write() = Arc::new(policy);
        Ok(PolicyVersion { version, digest })
    }

    /// Puts in force a policy another node of the cluster replaced (already durable in the
    /// shared store and audited there): nothing is saved or recorded again here.
    pub fn learn_policy(&self, policy: Policy) {
        *self.core.policy.write() = Arc::new(policy);
    }

    /// Number of customers (for share-of-base detection and metrics).
    pub async fn customer_count(&self) -> Result<u64, Error> {
        Ok(self.core.store.count().await?)
    }

    /// About the number of customers, cheaply: the span of record handles where the store
    /// has them (exact after imports and creations, high by the number shredded since), else
    /// the count. Counting ten million rows in SQLite takes seconds; the span, two index
    /// probes.
    pub async fn customer_count_estimate(&self) -> Result<u64, Error> {
        let store = &self.core.store;
        Ok(match store.record_span().await? {
            Some((first, last)) => u64::try_from(last.0.saturating_sub(first.0))
                .unwrap_or(0)
                .saturating_add(1),
            None => store.count().await?,
        })
    }
}
