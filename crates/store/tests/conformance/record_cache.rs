//! The record cache (`haechi_vault::CachedVaultStore`) in front of each store: a read after a
//! replace, a shred or a re-wrap never answers the old record, and a read that fetched the old
//! record while a write was committing does not put it back afterwards. On PostgreSQL each of
//! those writes is also in the change log, which is how the other nodes of a cluster learn of
//! it (`tests/cluster/consistency.rs` checks that end to end).

use std::sync::Arc;

use async_trait::async_trait;
use haechi_events::{Change, ChangeFeed, StoreError};
use haechi_store::PgStore;
use haechi_vault::{CachedVaultStore, EncryptedRecord, ImportItem, IndexEntry, VaultStore};
use tokio::sync::{Mutex, oneshot};

use crate::Store;
use crate::vault::{email, record};

crate::conformance!(
    a_cached_record_is_never_answered_after_a_replace_a_shred_or_a_rewrap,
    a_read_that_raced_a_replace_does_not_put_the_old_record_back,
);

const CAPACITY: u64 = 1 << 20;

async fn a_cached_record_is_never_answered_after_a_replace_a_shred_or_a_rewrap<S: Store>(
    store: Arc<S>,
) {
    let cache = CachedVaultStore::new(store.clone(), CAPACITY);
    cache
        .insert_record(&record("c-a", 1), &[email(1)])
        .await
        .unwrap();
    assert_eq!(cache.record("c-a").await.unwrap(), Some(record("c-a", 1)));
    assert_eq!(cache.record("c-a").await.unwrap(), Some(record("c-a", 1)));
    assert_eq!((cache.stats().misses, cache.stats().hits), (1, 1));
    assert!(cache.held_bytes() > 3000, "the 3 kB addresses are counted");

    let mut replaced = record("c-a", 2);
    replaced
        .fields
        .insert("name".into(), b"sealed-new-name".to_vec());
    cache.replace_record(&replaced, &[email(1)]).await.unwrap();
    assert_eq!(cache.record("c-a").await.unwrap(), Some(replaced.clone()));
    assert_eq!(
        cache.records(&["c-a".to_string()]).await.unwrap(),
        [replaced.clone()]
    );
    // An id asked twice is answered as the store answers it, cached or not.
    let twice = ["c-a".to_string(), "c-a".to_string()];
    assert_eq!(
        cache.records(&twice).await.unwrap(),
        store.records(&twice).await.unwrap()
    );

    let rewrapped = b"wrapped-under-the-new-master-key".to_vec();
    cache
        .rewrap_keys(&[("c-a".to_string(), rewrapped.clone())])
        .await
        .unwrap();
    let read = cache.record("c-a").await.unwrap().unwrap();
    assert_eq!(read.wrapped_data_key, rewrapped);

    assert!(cache.shred("c-a").await.unwrap());
    assert_eq!(cache.record("c-a").await.unwrap(), None);
    assert!(
        cache
            .records(&["c-a".to_string()])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(cache.held_bytes(), 0);
}

async fn a_read_that_raced_a_replace_does_not_put_the_old_record_back<S: Store>(store: Arc<S>) {
    let gate = Arc::new(Gate::new(store.clone()));
    let cache = Arc::new(CachedVaultStore::new(gate.clone(), CAPACITY));
    cache
        .insert_record(&record("c-a", 1), &[email(1)])
        .await
        .unwrap();
    // The reader fetches the old record from the store and is held there...
    let (fetched, released) = gate.arm().await;
    let reader = {
        let cache = cache.clone();
        tokio::spawn(async move { cache.records(&["c-a".to_string()]).await })
    };
    fetched.await.unwrap();
    // ...while the record is replaced and the replace is answered...
    let replaced = record("c-a", 2);
    cache.replace_record(&replaced, &[email(1)]).await.unwrap();
    // ...then it finishes with what it fetched (it began before the write was answered).
    released.send(()).unwrap();
    assert_eq!(reader.await.unwrap().unwrap(), [record("c-a", 1)]);
    // A read that begins now gets the new record, not the one the racing read carried.
    assert_eq!(cache.record("c-a").await.unwrap(), Some(replaced.clone()));
    assert_eq!(cache.record("c-a").await.unwrap(), Some(replaced));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_writes_and_shreds_are_in_the_change_log_for_the_other_nodes() {
    let Some(database) = haechi_testbed::postgres().await else {
        return;
    };
    let store = PgStore::open(&database.url).await.unwrap();
    store
        .insert_record(&record("c-a", 1), &[email(1)])
        .await
        .unwrap();
    assert_eq!(
        store.change_head().await.unwrap(),
        0,
        "an insert is no change"
    );
    store
        .replace_record(&record("c-a", 2), &[email(1)])
        .await
        .unwrap();
    store
        .replace_record_and_logins(&record("c-a", 3), &[email(1)], &[[9; 32]])
        .await
        .unwrap();
    store
        .rewrap_keys(&[("c-a".to_string(), b"new".to_vec())])
        .await
        .unwrap();
    assert!(store.shred("c-a").await.unwrap());
    assert!(!store.shred("c-a").await.unwrap(), "already gone: no entry");
    let changed = Change::RecordChanged {
        customer_id: "c-a".into(),
    };
    let logged: Vec<Change> = store
        .changes_after(0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|entry| entry.change)
        .collect();
    assert_eq!(
        logged,
        [
            changed.clone(),
            changed.clone(),
            Change::RecordsRewrapped,
            changed
        ]
    );
    store.close().await;
}

/// A store whose next `records` call, once armed, reports that it has fetched and then waits
/// to be released: the window in which a write can commit under a read in flight.
#[derive(Debug)]
struct Gate {
    inner: Arc<dyn VaultStore>,
    armed: Mutex<Option<(oneshot::Sender<()>, oneshot::Receiver<()>)>>,
}

impl Gate {
    fn new(inner: Arc<dyn VaultStore>) -> Self {
        Gate {
            inner,
            armed: Mutex::new(None),
        }
    }

    /// Arms the gate; returns (fetched, release).
    async fn arm(&self) -> (oneshot::Receiver<()>, oneshot::Sender<()>) {
        let (fetched_sender, fetched) = oneshot::channel();
        let (release, released) = oneshot::channel();
        *self.armed.lock().await = Some((fetched_sender, released));
        (fetched, release)
    }
}

#[async_trait]
impl VaultStore for Gate {
    async fn insert_record(
        &self,
        record: &EncryptedRecord,
        indexes: &[IndexEntry],
    ) -> Result<(), StoreError> {
        self.inner.insert_record(record, indexes).await
    }
    async fn replace_record(
        &self,
        record: &EncryptedRecord,
        indexes: &[IndexEntry],
    ) -> Result<(), StoreError> {
        self.inner.replace_record(record, indexes).await
    }
    async fn replace_record_and_logins(
        &self,
        record: &EncryptedRecord,
        indexes: &[IndexEntry],
        login_hashes: &[[u8; 32]],
    ) -> Result<(), StoreError> {
        self.inner
            .replace_record_and_logins(record, indexes, login_hashes)
            .await
    }
    async fn record(&self, customer_id: &str) -> Result<Option<EncryptedRecord>, StoreError> {
        self.inner.record(customer_id).await
    }
    async fn records(&self, customer_ids: &[String]) -> Result<Vec<EncryptedRecord>, StoreError> {
        let fetched = self.inner.records(customer_ids).await?;
        let armed = self.armed.lock().await.take();
        if let Some((fetched_sender, released)) = armed {
            fetched_sender.send(()).unwrap();
            released.await.unwrap();
        }
        Ok(fetched)
    }
    async fn candidates(&self, entry: IndexEntry) -> Result<Vec<String>, StoreError> {
        self.inner.candidates(entry).await
    }
    async fn shred(&self, customer_id: &str) -> Result<bool, StoreError> {
        self.inner.shred(customer_id).await
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
        self.inner.rewrap_keys(keys).await
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
