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

/// What a pass over the whole vault reads of a record: what unwraps its data key and the
/// sealed fields that identify a person (`nonce || ciphertext || tag`; empty when absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentifyingRecord {
    /// Customer id.
    pub customer_id: String,
    /// `WrappedSecret::to_bytes()` of the data key.
    pub wrapped_data_key: Vec<u8>,
    /// Data-key version bound into every field's associated data.
    pub key_version: u32,
    /// The sealed name.
    pub name: Vec<u8>,
    /// The sealed e-mail.
    pub email: Vec<u8>,
    /// The sealed phone.
    pub phone: Vec<u8>,
}

/// One blind-index entry of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    /// What it indexes.
    pub kind: BlindIndexKind,
    /// The truncated keyed hash.
    pub value: i64,
}

/// A backend's compact handle of one record (SQLite: the row id of the `customers` row), for
/// runs that hold millions of candidates: 8 bytes instead of a customer id string. Valid only
/// for the store that handed it out, and only while no record is deleted and re-added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordRef(pub i64);

/// Every blind-index entry of a store at one moment, sorted, with the record each belongs to:
/// 16 bytes an entry (≈ 320 MB at 10 M customers with an e-mail and a phone each). Leak
/// matching looks up millions of values; a binary search here costs nanoseconds where a
/// database lookup costs microseconds. Entries added after the snapshot was read are not in
/// it; entries removed since point at records that are gone or that no longer hold the value,
/// which decrypt-to-confirm rejects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlindIndexSnapshot {
    email: SortedEntries<RecordRef>,
    phone: SortedEntries<RecordRef>,
}

/// `(value, payload)` pairs, sorted, with a table of where each bucket of values starts, so a
/// lookup reads two table slots and a short run of entries instead of binary-searching the
/// whole array: at tens of millions of entries each step of a binary search is a cache miss.
/// The snapshot keeps one per blind-index kind; a leak session over the whole vault keeps one
/// per keyed digest of e-mails and phones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SortedEntries<T> {
    entries: Vec<(i64, T)>,
    /// Order key of the smallest value.
    lowest: u64,
    /// Bits dropped from `key - lowest` to get a bucket.
    shift: u32,
    /// `starts[b]..starts[b + 1]` are the entries of bucket `b`.
    starts: Vec<usize>,
}

/// A value's position in `i64` order as a `u64`, so offsets and shifts work on it.
fn order_key(value: i64) -> u64 {
    (value as u64) ^ (1 << 63)
}

impl<T> Default for SortedEntries<T> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
            lowest: 0,
            shift: 0,
            starts: Vec::new(),
        }
    }
}

impl<T: Copy + Ord> SortedEntries<T> {
    /// Adds one pair; [`SortedEntries::seal`] must follow before lookups.
    pub(crate) fn push(&mut self, value: i64, payload: T) {
        self.entries.push((value, payload));
    }

    /// Number of pairs.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Sorts (and dedups) the pairs and builds the bucket table.
    pub(crate) fn seal(&mut self) {
        self.entries.sort_unstable();
        self.entries.dedup();
        self.entries.shrink_to_fit();
        let (Some(first), Some(last)) = (self.entries.first(), self.entries.last()) else {
            self.starts = vec![0, 0];
            return;
        };
        self.lowest = order_key(first.0);
        let span = order_key(last.0) - self.lowest;
        // About four entries a bucket: the table costs a quarter of the entries' memory.
        let wanted_bits = (self.entries.len() / 4).max(1).ilog2().min(24) + 1;
        let span_bits = u64::BITS - span.leading_zeros();
        self.shift = span_bits.saturating_sub(wanted_bits);
        let buckets = usize::try_from(span >> self.shift).unwrap_or(usize::MAX - 1) + 1;
        let mut starts = Vec::with_capacity(buckets + 1);
        let mut index = 0;
        for bucket in 0..buckets {
            while index < self.entries.len() && self.bucket_of(self.entries[index].0) < bucket {
                index += 1;
            }
            starts.push(index);
        }
        starts.push(self.entries.len());
        self.starts = starts;
    }

    fn bucket_of(&self, value: i64) -> usize {
        usize::try_from((order_key(value) - self.lowest) >> self.shift).unwrap_or(usize::MAX)
    }

    /// The pairs with `value`, in payload order.
    pub(crate) fn candidates(&self, value: i64) -> &[(i64, T)] {
        if order_key(value) < self.lowest {
            return &[];
        }
        let bucket = self.bucket_of(value);
        let next = bucket.saturating_add(1);
        let (Some(&start), Some(&end)) = (self.starts.get(bucket), self.starts.get(next)) else {
            return &[];
        };
        let run = &self.entries[start..end];
        let from = run.partition_point(|(v, _)| *v < value);
        let to = from + run[from..].partition_point(|(v, _)| *v == value);
        &run[from..to]
    }
}

impl BlindIndexSnapshot {
    /// A snapshot of `entries`, in any order.
    pub fn new(entries: impl IntoIterator<Item = (IndexEntry, RecordRef)>) -> Self {
        let mut snapshot = BlindIndexSnapshot::default();
        for (entry, record) in entries {
            snapshot.push(entry, record);
        }
        snapshot.seal()
    }

    /// Adds one entry; [`BlindIndexSnapshot::seal`] must follow before lookups (backends
    /// stream entries in with this so no intermediate list is built).
    pub fn push(&mut self, entry: IndexEntry, record: RecordRef) {
        self.sorted_mut(entry.kind).push(entry.value, record);
    }

    /// Sorts the entries so [`BlindIndexSnapshot::candidates`] can find them.
    pub fn seal(mut self) -> Self {
        self.email.seal();
        self.phone.seal();
        self
    }

    /// The records holding `entry`, in handle order (empty when none does).
    pub fn candidates(&self, entry: IndexEntry) -> impl Iterator<Item = RecordRef> + '_ {
        let sorted = match entry.kind {
            BlindIndexKind::Email => &self.email,
            BlindIndexKind::Phone => &self.phone,
        };
        sorted
            .candidates(entry.value)
            .iter()
            .map(|(_, record)| *record)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.email.len() + self.phone.len()
    }

    /// Whether the snapshot holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn sorted_mut(&mut self, kind: BlindIndexKind) -> &mut SortedEntries<RecordRef> {
        match kind {
            BlindIndexKind::Email => &mut self.email,
            BlindIndexKind::Phone => &mut self.phone,
        }
    }
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
    /// Replaces a record's fields and index entries and, in the same transaction, the login
    /// identifiers (keyed hashes) of the customer's account, so a changed e-mail or phone is
    /// the one they log in with. Refuses with [`StoreError::Conflict`], changing nothing, when
    /// another account holds one of `login_hashes`.
    async fn replace_record_and_logins(
        &self,
        record: &EncryptedRecord,
        indexes: &[IndexEntry],
        login_hashes: &[[u8; 32]],
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
    /// The whole blind index as a [`BlindIndexSnapshot`], read in one pass, for runs that look
    /// up more values than the index holds entries (leak matching of a large dump). `None`
    /// when the backend has no compact record handles; callers then use
    /// [`VaultStore::candidates_of_many`].
    async fn blind_index_snapshot(&self) -> Result<Option<BlindIndexSnapshot>, StoreError> {
        Ok(None)
    }
    /// The records behind handles of this store's [`VaultStore::blind_index_snapshot`], each
    /// with its handle (records deleted since are skipped, order is not kept). Only called
    /// with handles from a snapshot, so a backend without snapshots never sees it.
    async fn records_by_ref(
        &self,
        records: &[RecordRef],
    ) -> Result<Vec<(RecordRef, EncryptedRecord)>, StoreError> {
        let _ = records;
        Err(StoreError::Backend(
            "this store hands out no record handles".into(),
        ))
    }
    /// The first and the last record handle, so a pass over the whole vault (leak matching
    /// of a dump with rows of the order of the customers) can read it in ranges of handles,
    /// several at once. `None` when the store is empty or hands out no handles.
    async fn record_span(&self) -> Result<Option<(RecordRef, RecordRef)>, StoreError> {
        Ok(None)
    }
    /// The records whose handles lie in `first..=last`, in handle order, each as an
    /// [`IdentifyingRecord`]. Only called by a store that gave a
    /// [`VaultStore::record_span`].
    async fn identifying_records_between(
        &self,
        first: RecordRef,
        last: RecordRef,
    ) -> Result<Vec<IdentifyingRecord>, StoreError> {
        let _ = (first, last);
        Err(StoreError::Backend(
            "this store hands out no record handles".into(),
        ))
    }
    /// Crypto-shreds a record: deletes its wrapped data key, fields and index entries (the
    /// login account is the token authority's, erased through its API), and makes sure no copy of the wrapped key survives in the database's journal.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn check(entries: &[(BlindIndexKind, i64, i64)], probe: (BlindIndexKind, i64), want: &[i64]) {
        let snapshot = BlindIndexSnapshot::new(
            entries
                .iter()
                .map(|&(kind, value, record)| (IndexEntry { kind, value }, RecordRef(record))),
        );
        let found: Vec<i64> = snapshot
            .candidates(IndexEntry {
                kind: probe.0,
                value: probe.1,
            })
            .map(|record| record.0)
            .collect();
        assert_eq!(found, want, "{probe:?} in {entries:?}");
    }

    #[test]
    fn snapshot_candidates_are_every_record_with_the_value_of_that_kind() {
        use BlindIndexKind::{Email, Phone};
        let entries = [
            (Email, 5, 30),
            (Phone, 5, 31),
            (Email, -1, 32),
            (Email, 5, 10),
            (Email, i64::MAX, 33),
            (Email, i64::MIN, 34),
            (Email, 5, 10),
        ];
        check(&entries, (Email, 5), &[10, 30]);
        check(&entries, (Phone, 5), &[31]);
        check(&entries, (Email, -1), &[32]);
        check(&entries, (Email, i64::MAX), &[33]);
        check(&entries, (Email, i64::MIN), &[34]);
        check(&entries, (Email, 6), &[]);
        check(&entries, (Phone, -1), &[]);
        check(&[], (Phone, 0), &[]);
    }

    /// Buckets never hide an entry: every value of a spread of 24-bit and 64-bit values is
    /// found, and values next to them are not.
    #[test]
    fn every_entry_is_found_whatever_its_bucket() {
        for bits in [24u32, 64] {
            let values: Vec<i64> = (0..5000u64)
                .map(|i| {
                    let mixed = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
                    (mixed >> (64 - bits)) as i64
                })
                .collect();
            let snapshot = BlindIndexSnapshot::new(values.iter().enumerate().map(|(i, v)| {
                (
                    IndexEntry {
                        kind: BlindIndexKind::Email,
                        value: *v,
                    },
                    RecordRef(i as i64),
                )
            }));
            for (i, value) in values.iter().enumerate() {
                let found: Vec<RecordRef> = snapshot
                    .candidates(IndexEntry {
                        kind: BlindIndexKind::Email,
                        value: *value,
                    })
                    .collect();
                assert!(found.contains(&RecordRef(i as i64)), "{bits}: {value}");
                for near in [value.wrapping_add(1), value.wrapping_sub(1)] {
                    let expected = values.iter().filter(|v| **v == near).count();
                    let found = snapshot
                        .candidates(IndexEntry {
                            kind: BlindIndexKind::Email,
                            value: near,
                        })
                        .count();
                    assert_eq!(found, expected, "{bits}: {near}");
                }
            }
        }
    }
}
