//! What the vault keeps, and the trait storage implements for it.

use std::collections::BTreeMap;

use async_trait::async_trait;
use haechi_events::{StoreError, Timestamp};

use crate::BlindIndexKind;

/// A customer record at rest: every field sealed under the customer's data key, the data key
/// wrapped under the master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedRecord {
    /// Customer id.
    pub customer_id: String,
    /// `WrappedSecret::to_bytes()` of the data key.
    pub wrapped_data_key: Vec<u8>,
    /// Data-key version bound into every field's associated data.
    pub key_version: u32,
    /// Field name → `nonce || ciphertext || tag`.
    pub fields: BTreeMap<String, Vec<u8>>,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

/// One blind-index entry of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    /// What it indexes.
    pub kind: BlindIndexKind,
    /// The truncated keyed hash.
    pub value: i64,
}

/// Storage of the vault. Writes are atomic: a record and its index entries change together.
#[async_trait]
pub trait VaultStore: Send + Sync + std::fmt::Debug {
    /// Adds a record (conflict if the id exists).
    async fn insert_record(
        &self,
        record: &EncryptedRecord,
        indexes: &[IndexEntry],
    ) -> Result<(), StoreError>;
    /// Replaces a record's fields and index entries.
    async fn replace_record(
        &self,
        record: &EncryptedRecord,
        indexes: &[IndexEntry],
    ) -> Result<(), StoreError>;
    /// One record.
    async fn record(&self, customer_id: &str) -> Result<Option<EncryptedRecord>, StoreError>;
    /// Many records (missing ids are skipped).
    async fn records(&self, customer_ids: &[String]) -> Result<Vec<EncryptedRecord>, StoreError>;
    /// Ids of records with this index entry.
    async fn candidates(&self, entry: IndexEntry) -> Result<Vec<String>, StoreError>;
    /// [`VaultStore::candidates`] of many entries at once, in the order given (leak matching
    /// looks up thousands per batch). The default asks one entry at a time; backends answer
    /// in bulk.
    async fn candidates_of_many(
        &self,
        entries: &[IndexEntry],
    ) -> Result<Vec<Vec<String>>, StoreError> {
        let mut found = Vec::with_capacity(entries.len());
        for entry in entries {
            found.push(self.candidates(*entry).await?);
        }
        Ok(found)
    }
    /// [`VaultStore::records`] for large batches (missing ids are skipped, order is not
    /// kept). The default is `records`; backends fetch in bulk.
    async fn records_in_bulk(
        &self,
        customer_ids: &[String],
    ) -> Result<Vec<EncryptedRecord>, StoreError> {
        self.records(customer_ids).await
    }
    /// Crypto-shreds a record: deletes its wrapped data key, fields, index entries and login
    /// account, and makes sure no copy of the wrapped key survives in the database's journal.
    /// Returns whether it existed.
    async fn shred(&self, customer_id: &str) -> Result<bool, StoreError>;
    /// Number of records.
    async fn count(&self) -> Result<u64, StoreError>;
    /// Wrapped data keys in id order after `after`, at most `limit`.
    async fn wrapped_keys(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
    /// Replaces wrapped data keys (master-key rotation), atomically per call.
    async fn rewrap_keys(&self, keys: &[(String, Vec<u8>)]) -> Result<(), StoreError>;

    /// Bulk import: in one transaction, inserts every item whose login identifiers are not
    /// taken (returning `false` for those that are) and records `last_line` as the progress of
    /// `source`, so an interrupted import resumes exactly after the last committed batch.
    async fn import_batch(
        &self,
        source: &str,
        last_line: u64,
        items: &[ImportItem],
    ) -> Result<Vec<bool>, StoreError>;
    /// The last line of `source` committed by [`VaultStore::import_batch`].
    async fn import_progress(&self, source: &str) -> Result<Option<u64>, StoreError>;
}

/// One customer of a bulk import, ready to store.
#[derive(Debug, Clone)]
pub struct ImportItem {
    /// The sealed record.
    pub record: EncryptedRecord,
    /// Its blind-index entries.
    pub indexes: Vec<IndexEntry>,
    /// Its login account.
    pub account: haechi_token::AccountRecord,
}
