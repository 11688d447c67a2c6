//! The signing keys in memory: lifecycle records, parsed public keys, and the signers of the
//! keys that may sign (pending and active) — a private half unwrapped into memory, or a
//! reference to a key in a PKCS#11 token; nothing else is ever unwrapped.

use std::collections::BTreeMap;
use std::sync::Arc;

use haechi_custody::{KeyRecord, KeyState, PublicKey, Signer};

/// One key in memory.
#[derive(Debug, Clone)]
pub(crate) struct KeyEntry {
    pub record: KeyRecord,
    pub public: PublicKey,
    /// Present only while the key is pending or active; dropped (and so zeroized, once the
    /// last signer finishes) when it starts retiring.
    pub private: Option<Arc<Signer>>,
}

/// Every key in custody, by kid.
#[derive(Debug, Default)]
pub(crate) struct KeyRing {
    entries: BTreeMap<String, KeyEntry>,
}

impl KeyRing {
    pub fn get(&self, kid: &str) -> Option<&KeyEntry> {
        self.entries.get(kid)
    }

    pub fn insert(&mut self, entry: KeyEntry) {
        self.entries.insert(entry.record.kid.clone(), entry);
    }

    /// Replaces a key's record, dropping its private half if it may no longer sign.
    pub fn update(&mut self, record: KeyRecord) {
        if let Some(entry) = self.entries.get_mut(&record.kid) {
            if !matches!(record.state, KeyState::Pending | KeyState::Active) {
                entry.private = None;
            }
            entry.record = record;
        }
    }

    /// The key that signs, with its private half.
    pub fn active(&self) -> Option<(&KeyRecord, Arc<Signer>)> {
        self.entries.values().find_map(|entry| {
            (entry.record.state == KeyState::Active)
                .then(|| {
                    entry
                        .private
                        .clone()
                        .map(|private| (&entry.record, private))
                })
                .flatten()
        })
    }

    /// Records of keys in `state`, oldest first.
    pub fn in_state(&self, state: KeyState) -> Vec<KeyRecord> {
        let mut records: Vec<KeyRecord> = self
            .entries
            .values()
            .filter(|entry| entry.record.state == state)
            .map(|entry| entry.record.clone())
            .collect();
        records.sort_by_key(|record| record.created_at);
        records
    }

    /// Every record, oldest first.
    pub fn records(&self) -> Vec<KeyRecord> {
        let mut records: Vec<KeyRecord> = self
            .entries
            .values()
            .map(|entry| entry.record.clone())
            .collect();
        records.sort_by_key(|record| record.created_at);
        records
    }

    /// Public keys in the JWKS at `now`.
    pub fn published(&self, now: haechi_events::Timestamp) -> Vec<&KeyEntry> {
        let mut entries: Vec<&KeyEntry> = self
            .entries
            .values()
            .filter(|entry| entry.record.is_published(now))
            .collect();
        entries.sort_by_key(|entry| entry.record.created_at);
        entries
    }
}
