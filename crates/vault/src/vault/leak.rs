//! Leak matching: which customers a leaked dump's rows belong to, found through the blind
//! indexes and confirmed by decryption, without the dump's values being stored or the
//! customers' values leaving the vault.
//!
//! The operator's `haechi leak match` hands rows of normalised identifiers to
//! [`Vault::confirm_leaked`]. E-mails and phones are hashed with the blind-index key and looked
//! up; every candidate is decrypted once per [`LeakSession`] and kept only as keyed 64-bit
//! digests (SipHash under a key drawn for the session and never stored), against which each
//! row's values are compared. Names have no index on purpose: they only confirm or contradict
//! a candidate found by e-mail or phone. What leaves is customer ids and, per field, whether
//! the row agrees — never a value.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hash, RandomState};

use haechi_events::{EventKind, Principal, RequestContext, SecurityEvent};
use haechi_korean::{normalize_email, normalize_phone, normalize_text};
use parking_lot::Mutex;

use super::Vault;
use crate::{BlindIndexKind, BlindIndexSnapshot, EncryptedRecord, Error, IndexEntry, RecordRef};

/// The purpose recorded on the `pii.lookup` events of leak matching.
pub const PURPOSE_LEAK_MATCH: &str = "leak_match";

/// One dump row's identifiers. Values are normalised here again (normalising is idempotent),
/// so callers may pass them raw; values that do not normalise are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeakProbe {
    /// E-mail addresses.
    pub emails: Vec<String>,
    /// Phone numbers.
    pub phones: Vec<String>,
    /// Names (compared without case or whitespace, after NFC).
    pub names: Vec<String>,
}

/// How a row's values of one field compare with a customer's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Comparison {
    /// The row has no value of this field.
    Absent,
    /// One of the row's values equals the customer's.
    Same,
    /// The row has values of this field, none equal to the customer's.
    Different,
}

/// A customer confirmed for a row: their e-mail or phone equals one of the row's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeakConfirmation {
    /// Index of the row in the probes passed.
    pub probe: usize,
    /// The customer.
    pub customer_id: String,
    /// E-mail comparison.
    pub email: Comparison,
    /// Phone comparison.
    pub phone: Comparison,
    /// Name comparison.
    pub name: Comparison,
    /// Which of the row's e-mails (index into [`LeakProbe::emails`]) equals the customer's.
    pub matched_email: Option<usize>,
    /// Which of the row's phones equals the customer's.
    pub matched_phone: Option<usize>,
}

/// Counts of one matching run, for its summary and its events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LeakStats {
    /// Rows checked.
    pub rows: u64,
    /// Distinct blind-index values looked up.
    pub index_lookups: u64,
    /// Candidates those lookups returned (a customer may count in several).
    pub candidates: u64,
    /// Customer records decrypted (each at most once per session).
    pub decrypted: u64,
}

/// The state of one matching run: where candidates come from, and the digests of every record
/// already decrypted, under a key of the session's own. Dropped at the end of the run; never
/// stored.
pub struct LeakSession {
    hasher: RandomState,
    index: SessionIndex,
    stats: Mutex<LeakStats>,
}

/// Where a session finds candidates, and the records it has opened, by the key that source
/// names them with.
enum SessionIndex {
    /// The store is asked for each batch's index values; candidates are customer ids.
    Lookups(Mutex<HashMap<String, Option<OpenedRecord>>>),
    /// The whole index was read once; candidates are record handles.
    Snapshot {
        snapshot: BlindIndexSnapshot,
        opened: Mutex<HashMap<RecordRef, Option<OpenedRecord>>>,
    },
}

impl std::fmt::Debug for LeakSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeakSession")
            .field("index", &self.index_source())
            .field("stats", &*self.stats.lock())
            .finish_non_exhaustive()
    }
}

/// Where a [`LeakSession`] finds its candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeakIndexSource {
    /// Each batch's blind-index values are looked up in the store: cheap to start, a
    /// database probe per value.
    Lookups,
    /// The whole blind index was read into memory once: a pass over the index to start, then
    /// a binary search per value.
    Snapshot,
}

impl LeakSession {
    /// The counts so far.
    pub fn stats(&self) -> LeakStats {
        *self.stats.lock()
    }

    /// Where this session finds its candidates (a snapshot was asked for but the store could
    /// not give one: lookups).
    pub fn index_source(&self) -> LeakIndexSource {
        match self.index {
            SessionIndex::Lookups(_) => LeakIndexSource::Lookups,
            SessionIndex::Snapshot { .. } => LeakIndexSource::Snapshot,
        }
    }

    fn digest(&self, value: &str) -> u64 {
        self.hasher.hash_one(value)
    }
}

/// What a session keeps of a decrypted record: its id and keyed digests of its values.
#[derive(Debug, Clone)]
struct OpenedRecord {
    customer_id: String,
    email: u64,
    phone: u64,
    name: u64,
}

/// A probe's values as digests, and its index entries.
/// Digests keep the index of the value they came from in the probe.
struct Prepared {
    emails: Vec<(usize, u64)>,
    phones: Vec<(usize, u64)>,
    names: Vec<(usize, u64)>,
    entries: Vec<(BlindIndexKind, i64)>,
}

/// Candidates of one batch's distinct index values, by the key the session's source uses.
type BatchCandidates<K> = HashMap<(BlindIndexKind, i64), Vec<K>>;

/// Names compare without case and without whitespace: `홍 길동` and `홍길동`, `KIM Minjun` and
/// `Kim Minjun` are the same name.
fn name_key(name: &str) -> String {
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
fn unseen<K: Clone + Eq + Hash>(
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
fn confirm<K: Eq + Hash>(
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
        for customer in &customers {
            let (email, matched_email) = compare(&prepared.emails, customer.email);
            let (phone, matched_phone) = compare(&prepared.phones, customer.phone);
            if email != Comparison::Same && phone != Comparison::Same {
                continue;
            }
            let (name, _) = compare(&prepared.names, customer.name);
            confirmations.push(LeakConfirmation {
                probe: index,
                customer_id: customer.customer_id.clone(),
                email,
                phone,
                name,
                matched_email,
                matched_phone,
            });
        }
    }
    confirmations
}

impl Vault {
    /// Starts a leak-matching run that asks the store for each batch's index values: the
    /// right choice for a dump much smaller than the vault.
    pub fn leak_session(&self) -> LeakSession {
        LeakSession {
            hasher: RandomState::new(),
            index: SessionIndex::Lookups(Mutex::new(HashMap::new())),
            stats: Mutex::new(LeakStats::default()),
        }
    }

    /// Starts a leak-matching run over a snapshot of the whole blind index, read now: one pass
    /// over the index, then no database lookups — the right choice for a dump with more rows
    /// than a small fraction of the vault's customers. Falls back to
    /// [`Vault::leak_session`]'s lookups when the store has no snapshots (see
    /// [`LeakSession::index_source`]). Customers added during the run are not found; ones
    /// changed or shredded are judged by what their record holds when decrypted.
    pub async fn leak_session_over_snapshot(&self) -> Result<LeakSession, Error> {
        Ok(match self.store.blind_index_snapshot().await? {
            Some(snapshot) => LeakSession {
                hasher: RandomState::new(),
                index: SessionIndex::Snapshot {
                    snapshot,
                    opened: Mutex::new(HashMap::new()),
                },
                stats: Mutex::new(LeakStats::default()),
            },
            None => self.leak_session(),
        })
    }

    /// Finds the customers `probes` belong to (operator only: `actor` is the administrator
    /// or the CLI). Each probe's e-mails and phones are looked up by blind index; candidates
    /// are decrypted (once per session) and confirmed when their e-mail or phone equals one
    /// of the probe's; the probe's names then confirm or contradict. One `pii.lookup` event
    /// (purpose `leak_match`) records the call with its counts.
    pub async fn confirm_leaked(
        &self,
        session: &LeakSession,
        probes: &[LeakProbe],
        actor: &Principal,
        context: &RequestContext,
    ) -> Result<Vec<LeakConfirmation>, Error> {
        let prepared: Vec<Prepared> = probes
            .iter()
            .map(|probe| self.prepare(session, probe))
            .collect();
        let distinct: HashSet<(BlindIndexKind, i64)> = prepared
            .iter()
            .flat_map(|prepared| prepared.entries.iter().copied())
            .collect();
        let index_lookups = distinct.len() as u64;
        let (confirmations, candidate_count, decrypted) = match &session.index {
            SessionIndex::Lookups(opened) => {
                let entries: Vec<IndexEntry> = distinct
                    .iter()
                    .map(|(kind, value)| IndexEntry {
                        kind: *kind,
                        value: *value,
                    })
                    .collect();
                let found = self.store.candidates_of_many(&entries).await?;
                let candidates: BatchCandidates<String> = entries
                    .iter()
                    .map(|entry| (entry.kind, entry.value))
                    .zip(found)
                    .collect();
                let unseen = unseen(&candidates, opened);
                let records = if unseen.is_empty() {
                    Vec::new()
                } else {
                    self.store.records_in_bulk(&unseen).await?
                };
                let records = records
                    .into_iter()
                    .map(|record| (record.customer_id.clone(), record));
                let decrypted = self.open_candidates(session, opened, unseen, records)?;
                let count: u64 = candidates.values().map(|found| found.len() as u64).sum();
                (confirm(&prepared, &candidates, opened), count, decrypted)
            }
            SessionIndex::Snapshot { snapshot, opened } => {
                let candidates: BatchCandidates<RecordRef> = distinct
                    .into_iter()
                    .map(|(kind, value)| {
                        let found = snapshot.candidates(IndexEntry { kind, value }).collect();
                        ((kind, value), found)
                    })
                    .collect();
                let unseen = unseen(&candidates, opened);
                let records = if unseen.is_empty() {
                    Vec::new()
                } else {
                    self.store.records_by_ref(&unseen).await?
                };
                let decrypted = self.open_candidates(session, opened, unseen, records)?;
                let count: u64 = candidates.values().map(|found| found.len() as u64).sum();
                (confirm(&prepared, &candidates, opened), count, decrypted)
            }
        };
        {
            let mut stats = session.stats.lock();
            stats.rows += probes.len() as u64;
            stats.index_lookups += index_lookups;
            stats.candidates += candidate_count;
            stats.decrypted += decrypted;
        }
        self.emit(
            SecurityEvent::new(self.clock.now(), EventKind::PiiLookup, actor.clone())
                .context(context)
                .fields(["email", "phone", "name"])
                .purpose(PURPOSE_LEAK_MATCH)
                .detail("rows", probes.len().to_string())
                .detail("index_lookups", index_lookups.to_string())
                .detail("candidates", candidate_count.to_string())
                .detail("decrypted", decrypted.to_string())
                .detail("matches", confirmations.len().to_string()),
        )
        .await?;
        Ok(confirmations)
    }

    /// Decrypts `records` (the `unseen` candidates the store still has) and keeps their digests
    /// in the session; candidates the store no longer has (shredded meanwhile) are remembered
    /// as gone. Returns how many records were decrypted.
    fn open_candidates<K: Eq + Hash>(
        &self,
        session: &LeakSession,
        opened: &Mutex<HashMap<K, Option<OpenedRecord>>>,
        unseen: Vec<K>,
        records: impl IntoIterator<Item = (K, EncryptedRecord)>,
    ) -> Result<u64, Error> {
        let mut digests: Vec<(K, OpenedRecord)> = Vec::with_capacity(unseen.len());
        for (key, stored) in records {
            let record = self.open_fields(&stored, &[])?;
            digests.push((
                key,
                OpenedRecord {
                    email: session.digest(record.email.as_str()),
                    phone: session.digest(record.phone.as_str()),
                    name: session.digest(&name_key(record.name.as_str())),
                    customer_id: stored.customer_id,
                },
            ));
        }
        let decrypted = digests.len() as u64;
        let mut opened = opened.lock();
        for (key, record) in digests {
            opened.insert(key, Some(record));
        }
        for key in unseen {
            opened.entry(key).or_insert(None);
        }
        Ok(decrypted)
    }

    fn prepare(&self, session: &LeakSession, probe: &LeakProbe) -> Prepared {
        let mut prepared = Prepared {
            emails: Vec::new(),
            phones: Vec::new(),
            names: Vec::new(),
            entries: Vec::new(),
        };
        for (index, email) in probe
            .emails
            .iter()
            .enumerate()
            .filter_map(|(index, e)| Some((index, normalize_email(e).ok()?)))
        {
            prepared.emails.push((index, session.digest(&email)));
            prepared.entries.push((
                BlindIndexKind::Email,
                self.indexer.index_normalised(BlindIndexKind::Email, &email),
            ));
        }
        for (index, phone) in probe
            .phones
            .iter()
            .enumerate()
            .filter_map(|(index, p)| Some((index, normalize_phone(p).ok()?)))
        {
            prepared.phones.push((index, session.digest(&phone)));
            prepared.entries.push((
                BlindIndexKind::Phone,
                self.indexer.index_normalised(BlindIndexKind::Phone, &phone),
            ));
        }
        for (index, name) in probe.names.iter().enumerate() {
            let key = name_key(name);
            if !key.is_empty() {
                prepared.names.push((index, session.digest(&key)));
            }
        }
        prepared
    }
}
