//! How a leak session confirms rows: a row's values and the candidates' values as keyed
//! digests, compared; sharing a truncated index value proves nothing.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;

use haechi_korean::normalize_text;
use parking_lot::Mutex;

use super::{Comparison, LeakConfirmation};
use crate::BlindIndexKind;
use crate::store::SortedEntries;

/// Every record of the vault as keyed digests, found by the digest of its e-mail or phone.
/// About 100 bytes a customer (digests 24, id ≈ 40, two sorted tables ≈ 40): ≈ 1 GB at
/// 10 M. No value in it.
#[derive(Default)]
pub(super) struct OpenedVault {
    pub(super) digests: Vec<RecordDigests>,
    /// Every customer id, end to end; `id_ends[i]` is where record `i`'s ends.
    pub(super) ids: String,
    pub(super) id_ends: Vec<usize>,
    pub(super) by_email: SortedEntries<usize>,
    pub(super) by_phone: SortedEntries<usize>,
}

/// Keyed digests of one record's e-mail, phone and name key.
#[derive(Debug, Clone, Copy)]
pub(super) struct RecordDigests {
    pub(super) email: u64,
    pub(super) phone: u64,
    pub(super) name: u64,
}

impl OpenedVault {
    pub(super) fn add(&mut self, page: Vec<(String, RecordDigests)>) {
        for (customer_id, digests) in page {
            let index = self.digests.len();
            self.by_email.push(digests.email as i64, index);
            self.by_phone.push(digests.phone as i64, index);
            self.digests.push(digests);
            self.ids.push_str(&customer_id);
            self.id_ends.push(self.ids.len());
        }
    }

    /// Sorts both digest tables, one per core (ten million entries each take a second).
    pub(super) fn seal(&mut self) {
        let (by_email, by_phone) = (&mut self.by_email, &mut self.by_phone);
        std::thread::scope(|scope| {
            scope.spawn(|| by_email.seal());
            by_phone.seal();
        });
        self.digests.shrink_to_fit();
        self.ids.shrink_to_fit();
        self.id_ends.shrink_to_fit();
    }

    pub(super) fn customer_id(&self, index: usize) -> &str {
        let start = index
            .checked_sub(1)
            .and_then(|before| self.id_ends.get(before))
            .copied()
            .unwrap_or(0);
        let end = self.id_ends.get(index).copied().unwrap_or(start);
        self.ids.get(start..end).unwrap_or("")
    }

    /// The records whose e-mail or phone digest is one of the probe's, each once, in customer-id
    /// order, and how many index hits that took.
    pub(super) fn candidates(&self, prepared: &Prepared, found: &mut Vec<usize>) -> u64 {
        found.clear();
        for (_, digest) in &prepared.emails {
            found.extend(self.by_email.candidates(*digest as i64).iter().map(|e| e.1));
        }
        for (_, digest) in &prepared.phones {
            found.extend(self.by_phone.candidates(*digest as i64).iter().map(|e| e.1));
        }
        let hits = found.len() as u64;
        found.sort_unstable_by(|a, b| self.customer_id(*a).cmp(self.customer_id(*b)));
        found.dedup();
        hits
    }
}

/// What a session keeps of a decrypted record: its id and keyed digests of its values.
#[derive(Debug, Clone)]
pub(super) struct OpenedRecord {
    pub(super) customer_id: String,
    pub(super) digests: RecordDigests,
}

/// A probe's values as digests, and its index entries.
/// Digests keep the index of the value they came from in the probe.
pub(super) struct Prepared {
    pub(super) emails: Vec<(usize, u64)>,
    pub(super) phones: Vec<(usize, u64)>,
    pub(super) names: Vec<(usize, u64)>,
    pub(super) entries: Vec<(BlindIndexKind, i64)>,
}

/// Candidates of one batch's distinct index values, by the key the session's source uses.
pub(super) type BatchCandidates<K> = HashMap<(BlindIndexKind, i64), Vec<K>>;

/// Names compare without case and without whitespace: `홍 길동` and `홍길동`, `KIM Minjun` and
/// `Kim Minjun` are the same name.
pub(super) fn name_key(name: &str) -> String {
    normalize_text(name)
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

fn compare(row: &[(usize, u64)], customer: u64) -> (Comparison, Option<usize>) {
    if row.is_empty() {
        return (Comparison::Absent, None);
    }
    match row.iter().find(|(_, digest)| *digest == customer) {
        Some((index, _)) => (Comparison::Same, Some(*index)),
        None => (Comparison::Different, None),
    }
}

/// The candidates of a batch that the session has not opened yet.
pub(super) fn unseen<K: Clone + Eq + Hash>(
    candidates: &BatchCandidates<K>,
    opened: &Mutex<HashMap<K, Option<OpenedRecord>>>,
) -> Vec<K> {
    let opened = opened.lock();
    let mut unseen: HashSet<&K> = HashSet::new();
    for found in candidates.values() {
        for key in found {
            if !opened.contains_key(key) {
                unseen.insert(key);
            }
        }
    }
    unseen.into_iter().cloned().collect()
}

/// Confirms each prepared probe against its opened candidates. A candidate is confirmed only
/// when a decrypted value's digest equals one of the probe's: sharing a (truncated) index value
/// proves nothing. Candidates of one probe come out in customer-id order, once each.
pub(super) fn confirm<K: Eq + Hash>(
    prepared: &[Prepared],
    candidates: &BatchCandidates<K>,
    opened: &Mutex<HashMap<K, Option<OpenedRecord>>>,
) -> Vec<LeakConfirmation> {
    let opened = opened.lock();
    let mut confirmations = Vec::new();
    let mut customers: Vec<&OpenedRecord> = Vec::new();
    for (index, prepared) in prepared.iter().enumerate() {
        customers.clear();
        customers.extend(
            prepared
                .entries
                .iter()
                .filter_map(|entry| candidates.get(entry))
                .flatten()
                .filter_map(|key| opened.get(key))
                .flatten(),
        );
        customers.sort_by(|a, b| a.customer_id.cmp(&b.customer_id));
        customers.dedup_by(|a, b| a.customer_id == b.customer_id);
        confirmations.extend(customers.iter().filter_map(|customer| {
            confirmation(index, prepared, customer.digests, &customer.customer_id)
        }));
    }
    confirmations
}

/// The confirmation of one candidate for a probe: `None` unless its e-mail or phone equals
/// one of the probe's.
fn confirmation(
    probe: usize,
    prepared: &Prepared,
    customer: RecordDigests,
    customer_id: &str,
) -> Option<LeakConfirmation> {
    let (email, matched_email) = compare(&prepared.emails, customer.email);
    let (phone, matched_phone) = compare(&prepared.phones, customer.phone);
    if email != Comparison::Same && phone != Comparison::Same {
        return None;
    }
    let (name, _) = compare(&prepared.names, customer.name);
    Some(LeakConfirmation {
        probe,
        customer_id: customer_id.to_string(),
        email,
        phone,
        name,
        matched_email,
        matched_phone,
    })
}

/// [`confirm`] for a session over the whole vault; also returns the candidates counted.
pub(super) fn confirm_in_vault(
    prepared: &[Prepared],
    vault: &OpenedVault,
) -> (Vec<LeakConfirmation>, u64) {
    let mut confirmations = Vec::new();
    let mut found = Vec::new();
    let mut count = 0;
    for (index, prepared) in prepared.iter().enumerate() {
        count += vault.candidates(prepared, &mut found);
        confirmations.extend(found.iter().filter_map(|&record| {
            let customer = *vault.digests.get(record)?;
            confirmation(index, prepared, customer, vault.customer_id(record))
        }));
    }
    (confirmations, count)
}
