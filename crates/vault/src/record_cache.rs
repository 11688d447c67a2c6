//! A bounded cache of *sealed* records in front of a [`VaultStore`], so a read of a record
//! read recently skips the store: on the embedded default a round trip to SQLite's worker
//! thread, on a cluster a PostgreSQL query.
//!
//! What it holds is what the store holds — field ciphertexts and the data key wrapped under
//! the master key — never plaintext: a read still unwraps the key and opens the fields it
//! needs. It is bounded by bytes (`[vault] record_cache_mib`), evicts by quick_cache's
//! CLOCK-Pro policy (scan-resistant: a leak pass reading every record once does not flush
//! the hot ones), and never caches a miss, so an insert needs no invalidation.
//!
//! **Staleness.** Every write through this store — replace, shred, re-wrap — forgets the
//! record *after* the store committed and *before* the caller is answered, so a read that
//! starts after a write was answered never sees the old record on this node. A read that
//! fetched the old record concurrently with a write must not put it back after the write
//! forgot it: inserts carry the generation read before the fetch and are dropped when a
//! forget happened since (checked under the fence that forgetting takes exclusively). On a
//! cluster, other nodes' writes arrive through the change log (`Change::RecordChanged`),
//! applied within the follower's poll interval; a node whose view is older than the
//! freshness bound refuses reads altogether (`haechi-cluster`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use haechi_events::StoreError;
use parking_lot::RwLock;
use quick_cache::Weighter;
use quick_cache::sync::Cache;

use crate::{
    BlindIndexSnapshot, EncryptedRecord, IdentifyingRecord, ImportItem, IndexEntry, RecordRef,
    VaultStore,
};

/// Bytes an entry is charged beyond its payload: the map nodes, the `Arc`, the key.
const ENTRY_OVERHEAD_BYTES: u64 = 160;
/// Bytes charged per sealed field beyond its ciphertext (its name and the map node).
const FIELD_OVERHEAD_BYTES: u64 = 64;
/// A guess at a record's size, only for sizing the cache's table up front.
const TYPICAL_RECORD_BYTES: u64 = 1024;

/// How many cached reads were served and missed (for `/metrics` and benchmarks).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordCacheStats {
    /// Reads answered from the cache.
    pub hits: u64,
    /// Reads that went to the store.
    pub misses: u64,
    /// Records forgotten because they were written, shredded or re-wrapped.
    pub forgotten: u64,
}

#[derive(Debug, Clone, Copy)]
struct SealedSize;

impl Weighter<String, Arc<EncryptedRecord>> for SealedSize {
    fn weight(&self, key: &String, record: &Arc<EncryptedRecord>) -> u64 {
        let fields: u64 = record
            .fields
            .iter()
            .map(|(name, sealed)| (name.len() + sealed.len()) as u64 + FIELD_OVERHEAD_BYTES)
            .sum();
        ENTRY_OVERHEAD_BYTES + key.len() as u64 + record.wrapped_data_key.len() as u64 + fields
    }
}

/// A [`VaultStore`] that answers record reads from memory when it can (see the module
/// documentation for what it holds and how it stays fresh).
#[derive(Debug)]
pub struct CachedVaultStore {
    inner: Arc<dyn VaultStore>,
    cached: Cache<String, Arc<EncryptedRecord>, SealedSize>,
    /// Bumped by every forget; an insert whose fetch began before a forget is dropped.
    generation: AtomicU64,
    /// Held shared by inserts (check generation, then insert) and exclusively by forgets, so
    /// the two never interleave.
    fence: RwLock<()>,
    hits: AtomicU64,
    misses: AtomicU64,
    forgotten: AtomicU64,
}

impl CachedVaultStore {
    /// A cache of at most `capacity_bytes` of sealed records in front of `inner`.
    pub fn new(inner: Arc<dyn VaultStore>, capacity_bytes: u64) -> Self {
        let estimated_items = (capacity_bytes / TYPICAL_RECORD_BYTES).clamp(16, 1 << 24) as usize;
        CachedVaultStore {
            inner,
            cached: Cache::with_weighter(estimated_items, capacity_bytes.max(1), SealedSize),
            generation: AtomicU64::new(0),
            fence: RwLock::new(()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            forgotten: AtomicU64::new(0),
        }
    }

    /// Forgets one record (written, or shredded, here or on another node).
    pub fn forget(&self, customer_id: &str) {
        let _fence = self.fence.write();
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.cached.remove(customer_id);
        self.forgotten.fetch_add(1, Ordering::Relaxed);
    }

    /// Forgets every record (data keys re-wrapped, or the change log had a gap).
    pub fn forget_all(&self) {
        let _fence = self.fence.write();
        self.generation.fetch_add(1, Ordering::AcqRel);
        let count = self.cached.len() as u64;
        self.cached.clear();
        self.forgotten.fetch_add(count, Ordering::Relaxed);
    }

    /// Hits, misses and forgets so far.
    pub fn stats(&self) -> RecordCacheStats {
        RecordCacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            forgotten: self.forgotten.load(Ordering::Relaxed),
        }
    }

    /// Bytes of sealed records held now.
    pub fn held_bytes(&self) -> u64 {
        self.cached.weight()
    }

    /// Caches records fetched after `generation` was read, unless a forget happened since.
    fn remember(&self, generation: u64, records: &[EncryptedRecord]) {
        let _fence = self.fence.read();
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        for record in records {
            self.cached
                .insert(record.customer_id.clone(), Arc::new(record.clone()));
        }
    }

    fn cached(&self, customer_id: &str) -> Option<EncryptedRecord> {
        let found = self.cached.get(customer_id).map(|record| (*record).clone());
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }
}

#[async_trait]
impl VaultStore for CachedVaultStore {
    async fn insert_record(
        &self,
        record: &EncryptedRecord,
        indexes: &[IndexEntry],
    ) -> Result<(), StoreError> {
        // Misses are never cached, so a new record has nothing to forget.
        self.inner.insert_record(record, indexes).await
    }

    async fn replace_record(
        &self,
        record: &EncryptedRecord,
        indexes: &[IndexEntry],
    ) -> Result<(), StoreError> {
        let result = self.inner.replace_record(record, indexes).await;
        // Forgotten even when the store reports a failure: it may have committed.
        self.forget(&record.customer_id);
        result
    }

    async fn replace_record_and_logins(
        &self,
        record: &EncryptedRecord,
        indexes: &[IndexEntry],
        login_hashes: &[[u8; 32]],
    ) -> Result<(), StoreError> {
        let result = self
            .inner
            .replace_record_and_logins(record, indexes, login_hashes)
            .await;
        self.forget(&record.customer_id);
        result
    }

    async fn record(&self, customer_id: &str) -> Result<Option<EncryptedRecord>, StoreError> {
        if let Some(record) = self.cached(customer_id) {
            return Ok(Some(record));
        }
        let generation = self.generation.load(Ordering::Acquire);
        let record = self.inner.record(customer_id).await?;
        if let Some(record) = &record {
            self.remember(generation, std::slice::from_ref(record));
        }
        Ok(record)
    }

    async fn records(&self, customer_ids: &[String]) -> Result<Vec<EncryptedRecord>, StoreError> {
        let mut found = Vec::with_capacity(customer_ids.len());
        let mut absent = Vec::new();
        for id in customer_ids {
            match self.cached(id) {
                Some(record) => found.push(record),
                None => absent.push(id.clone()),
            }
        }
        if absent.is_empty() {
            return Ok(found);
        }
        let generation = self.generation.load(Ordering::Acquire);
        let fetched = self.inner.records(&absent).await?;
        self.remember(generation, &fetched);
        found.extend(fetched);
        Ok(found)
    }

    async fn candidates(&self, entry: IndexEntry) -> Result<Vec<String>, StoreError> {
        self.inner.candidates(entry).await
    }

    async fn candidates_of_many(
        &self,
        entries: &[IndexEntry],
    ) -> Result<Vec<Vec<String>>, StoreError> {
        self.inner.candidates_of_many(entries).await
    }

    async fn records_in_bulk(
        &self,
        customer_ids: &[String],
    ) -> Result<Vec<EncryptedRecord>, StoreError> {
        // Passes over large parts of the vault (leak matching) bypass the cache: they would
        // only push the records people are reading out of it.
        self.inner.records_in_bulk(customer_ids).await
    }

    async fn blind_index_snapshot(&self) -> Result<Option<BlindIndexSnapshot>, StoreError> {
        self.inner.blind_index_snapshot().await
    }

    async fn records_by_ref(
        &self,
        records: &[RecordRef],
    ) -> Result<Vec<(RecordRef, EncryptedRecord)>, StoreError> {
        self.inner.records_by_ref(records).await
    }

    async fn record_span(&self) -> Result<Option<(RecordRef, RecordRef)>, StoreError> {
        self.inner.record_span().await
    }

    async fn identifying_records_between(
        &self,
        first: RecordRef,
        last: RecordRef,
    ) -> Result<Vec<IdentifyingRecord>, StoreError> {
        self.inner.identifying_records_between(first, last).await
    }

    async fn shred(&self, customer_id: &str) -> Result<bool, StoreError> {
        let result = self.inner.shred(customer_id).await;
        self.forget(customer_id);
        result
    }

    async fn count(&self) -> Result<u64, StoreError> {
        self.inner.count().await
    }

    async fn wrapped_keys(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.inner.wrapped_keys(after, limit).await
    }

    async fn rewrap_keys(&self, keys: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        let result = self.inner.rewrap_keys(keys).await;
        for (customer_id, _) in keys {
            self.forget(customer_id);
        }
        result
    }

    async fn import_batch(
        &self,
        source: &str,
        last_line: u64,
        items: &[ImportItem],
    ) -> Result<Vec<bool>, StoreError> {
        self.inner.import_batch(source, last_line, items).await
    }

    async fn import_progress(&self, source: &str) -> Result<Option<u64>, StoreError> {
        self.inner.import_progress(source).await
    }
}
