//! Leak matching: which customers a leaked dump's rows belong to, found through the blind
//! indexes and confirmed by decryption, without the dump's values being stored or the
//! customers' values leaving the vault.
//!
//! The operator's `haechi leak match` hands rows of normalised identifiers to
//! [`LeakPass::confirm_leaked`]. E-mails and phones are hashed with the blind-index key and looked
//! up; every candidate is decrypted once per [`LeakSession`] and kept only as keyed 64-bit
//! digests (SipHash under a key drawn for the session and never stored), against which each
//! row's values are compared. Names have no index on purpose: they only confirm or contradict
//! a candidate found by e-mail or phone. What leaves is customer ids and, per field, whether
//! the row agrees — never a value.
//!
//! A dump with about as many rows as the vault has customers turns nearly every customer into
//! a candidate (truncated blind indexes are shared on purpose), and chasing them one by one
//! costs a random record fetch each. [`LeakPass::leak_session_over_vault`] instead opens every
//! record once, in storage order, keeping the same digests, and finds a row's customers by
//! digest in memory: no blind-index lookup and no database access per row.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::Arc;

use haechi_events::{EventKind, SecurityEvent};
use haechi_korean::{normalize_email, normalize_phone};
use haechi_token::AdminGrant;
use parking_lot::Mutex;
use zeroize::Zeroizing;

use crate::shared::VaultCore;
use crate::{
    BlindIndexKind, BlindIndexSnapshot, EncryptedRecord, Error, IdentifyingRecord, IndexEntry,
    RecordRef,
};

mod matching;

use matching::{
    BatchCandidates, OpenedRecord, OpenedVault, Prepared, RecordDigests, confirm, confirm_in_vault,
    name_key, unseen,
};

/// Record handles read per range when a session opens the whole vault (SQLite row ids,
/// dense after an import: about as many records).
const SCAN_RANGE: i64 = 8_192;
/// Ranges read and decrypted at once: enough to keep every core busy, fewer than the
/// store's pooled connections.
const SCAN_RANGES_IN_FLIGHT: usize = 3;

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
    /// Every record was opened once when the session started.
    Vault(OpenedVault),
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
    /// Every record was decrypted once, in storage order, when the session started: a pass
    /// over the vault to start, then neither a lookup nor a decryption per row.
    Vault,
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
            SessionIndex::Vault(_) => LeakIndexSource::Vault,
        }
    }

    fn digest(&self, value: &str) -> u64 {
        self.hasher.hash_one(value)
    }
}

/// The operator's leak pass: which customers a leaked dump's rows belong to.
#[derive(Debug)]
pub struct LeakPass {
    core: Arc<VaultCore>,
}

impl LeakPass {
    pub(crate) fn new(core: Arc<VaultCore>) -> Self {
        LeakPass { core }
    }

    /// Starts a leak-matching run that asks the store for each batch's index values: the
    /// right choice for a dump much smaller than the vault.
    pub fn leak_session(&self, _grant: &AdminGrant) -> LeakSession {
        LeakSession {
            hasher: RandomState::new(),
            index: SessionIndex::Lookups(Mutex::new(HashMap::new())),
            stats: Mutex::new(LeakStats::default()),
        }
    }

    /// Starts a leak-matching run over a snapshot of the whole blind index, read now: one pass
    /// over the index, then no database lookups — the right choice for a dump with more rows
    /// than a small fraction of the vault's customers. Falls back to
    /// [`LeakPass::leak_session`]'s lookups when the store has no snapshots (see
    /// [`LeakSession::index_source`]). Customers added during the run are not found; ones
    /// changed or shredded are judged by what their record holds when decrypted.
    pub async fn leak_session_over_snapshot(
        &self,
        grant: &AdminGrant,
    ) -> Result<LeakSession, Error> {
        Ok(match self.core.store.blind_index_snapshot().await? {
            Some(snapshot) => LeakSession {
                hasher: RandomState::new(),
                index: SessionIndex::Snapshot {
                    snapshot,
                    opened: Mutex::new(HashMap::new()),
                },
                stats: Mutex::new(LeakStats::default()),
            },
            None => self.leak_session(grant),
        })
    }

    /// Starts a leak-matching run by opening **every** record once, now, in storage order,
    /// keeping only keyed digests of its e-mail, phone and name: one pass over the vault
    /// (decrypting on every core while the next page is read), then each row costs a few
    /// lookups in memory and no database access — the right choice for a dump with rows of
    /// the order of the vault's customers or more. `progress` is told how many records are
    /// open so far. One `pii.lookup` event (purpose `leak_match`, `source` `vault`) records
    /// the pass before any record is opened, with the span of record handles it covers (the
    /// number of records, or more when some were shredded). Falls back to
    /// [`LeakPass::leak_session_over_snapshot`] when the store hands out no record handles.
    /// Customers added during the run are not found; ones changed or shredded during it are
    /// judged by what their record held when it was read.
    pub async fn leak_session_over_vault(
        &self,
        grant: &AdminGrant,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<LeakSession, Error> {
        let (actor, context) = (grant.actor(), grant.context());
        let Some((first, last)) = self.core.store.record_span().await? else {
            // An empty store, or one without record handles: the snapshot copes with both.
            return self.leak_session_over_snapshot(grant).await;
        };
        self.core
            .emit(
                SecurityEvent::new(self.core.clock.now(), EventKind::PiiLookup, actor.clone())
                    .context(context)
                    .fields(["email", "phone", "name"])
                    .purpose(PURPOSE_LEAK_MATCH)
                    .detail("source", "vault")
                    .detail("first_record", first.0.to_string())
                    .detail("last_record", last.0.to_string()),
            )
            .await?;
        let hasher = RandomState::new();
        let mut vault = OpenedVault::default();
        let mut in_flight = VecDeque::new();
        let mut next = Some(first.0);
        while next.is_some() || !in_flight.is_empty() {
            while in_flight.len() < SCAN_RANGES_IN_FLIGHT
                && let Some(start) = next
            {
                let end = start.saturating_add(SCAN_RANGE - 1).min(last.0);
                next = (end < last.0).then(|| end + 1);
                let core = Arc::clone(&self.core);
                let hasher = hasher.clone();
                // Each range reads on a connection of its own and decrypts on the blocking
                // pool, so reading, parsing and decrypting use every core.
                in_flight.push_back(tokio::spawn(async move {
                    let records = core
                        .store
                        .identifying_records_between(RecordRef(start), RecordRef(end))
                        .await?;
                    tokio::task::spawn_blocking(move || digest_page(&core, &hasher, records))
                        .await
                        .map_err(|error| Error::Worker(error.to_string()))?
                }));
            }
            if let Some(task) = in_flight.pop_front() {
                vault.add(
                    task.await
                        .map_err(|error| Error::Worker(error.to_string()))??,
                );
                progress(vault.digests.len() as u64);
            }
        }
        let vault = tokio::task::spawn_blocking(move || {
            vault.seal();
            vault
        })
        .await
        .map_err(|error| Error::Worker(error.to_string()))?;
        let stats = LeakStats {
            decrypted: vault.digests.len() as u64,
            ..LeakStats::default()
        };
        Ok(LeakSession {
            hasher,
            index: SessionIndex::Vault(vault),
            stats: Mutex::new(stats),
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
        grant: &AdminGrant,
    ) -> Result<Vec<LeakConfirmation>, Error> {
        let (actor, context) = (grant.actor(), grant.context());
        // A session over the whole vault finds candidates by digest, not by blind index.
        let with_index = !matches!(session.index, SessionIndex::Vault(_));
        let prepared: Vec<Prepared> = probes
            .iter()
            .map(|probe| self.prepare(session, probe, with_index))
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
                let found = self.core.store.candidates_of_many(&entries).await?;
                let candidates: BatchCandidates<String> = entries
                    .iter()
                    .map(|entry| (entry.kind, entry.value))
                    .zip(found)
                    .collect();
                let unseen = unseen(&candidates, opened);
                let records = if unseen.is_empty() {
                    Vec::new()
                } else {
                    self.core.store.records_in_bulk(&unseen).await?
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
                    self.core.store.records_by_ref(&unseen).await?
                };
                let decrypted = self.open_candidates(session, opened, unseen, records)?;
                let count: u64 = candidates.values().map(|found| found.len() as u64).sum();
                (confirm(&prepared, &candidates, opened), count, decrypted)
            }
            SessionIndex::Vault(vault) => {
                let (confirmations, count) = confirm_in_vault(&prepared, vault);
                (confirmations, count, 0)
            }
        };
        {
            let mut stats = session.stats.lock();
            stats.rows += probes.len() as u64;
            stats.index_lookups += index_lookups;
            stats.candidates += candidate_count;
            stats.decrypted += decrypted;
        }
        self.core
            .emit(
                SecurityEvent::new(self.core.clock.now(), EventKind::PiiLookup, actor.clone())
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
            let record = self.core.open_fields(&stored, &[])?;
            digests.push((
                key,
                OpenedRecord {
                    digests: RecordDigests {
                        email: session.digest(record.email.as_str()),
                        phone: session.digest(record.phone.as_str()),
                        name: session.digest(&name_key(record.name.as_str())),
                    },
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

    fn prepare(&self, session: &LeakSession, probe: &LeakProbe, with_index: bool) -> Prepared {
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
            if !with_index {
                continue;
            }
            prepared.entries.push((
                BlindIndexKind::Email,
                self.core
                    .indexer
                    .index_normalised(BlindIndexKind::Email, &email),
            ));
        }
        for (index, phone) in probe
            .phones
            .iter()
            .enumerate()
            .filter_map(|(index, p)| Some((index, normalize_phone(p).ok()?)))
        {
            prepared.phones.push((index, session.digest(&phone)));
            if !with_index {
                continue;
            }
            prepared.entries.push((
                BlindIndexKind::Phone,
                self.core
                    .indexer
                    .index_normalised(BlindIndexKind::Phone, &phone),
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

/// Decrypts a page of records (name, e-mail and phone only) into their digests, values
/// normalised exactly as a probe's are.
fn digest_page(
    core: &VaultCore,
    hasher: &RandomState,
    page: Vec<IdentifyingRecord>,
) -> Result<Vec<(String, RecordDigests)>, Error> {
    let mut digested = Vec::with_capacity(page.len());
    for stored in page {
        let id = stored.customer_id.as_str();
        let data_key = core.unwrap_key_of(id, &stored.wrapped_data_key, stored.key_version)?;
        let open = |name: &str, sealed: &[u8]| -> Result<Zeroizing<Vec<u8>>, Error> {
            if sealed.is_empty() {
                return Err(Error::Tampered(format!("{name} of {id} is missing")));
            }
            data_key.open(id, name, sealed)
        };
        let text = |name: &str, plain: &[u8]| -> Result<String, Error> {
            std::str::from_utf8(plain)
                .map(str::to_string)
                .map_err(|_| Error::Tampered(format!("{name} of {id} is not UTF-8")))
        };
        let bad = |name: &str| Error::Tampered(format!("stored {name} of {id} does not parse"));
        let email = open("email", &stored.email)?;
        let email = Zeroizing::new(text("email", &email)?);
        let email = Zeroizing::new(normalize_email(&email).map_err(|_| bad("email"))?);
        let phone = open("phone", &stored.phone)?;
        let phone = Zeroizing::new(text("phone", &phone)?);
        let phone = Zeroizing::new(normalize_phone(&phone).map_err(|_| bad("phone"))?);
        let name = open("name", &stored.name)?;
        let name = Zeroizing::new(name_key(&Zeroizing::new(text("name", &name)?)));
        digested.push((
            stored.customer_id,
            RecordDigests {
                email: hasher.hash_one(email.as_str()),
                phone: hasher.hash_one(phone.as_str()),
                name: hasher.hash_one(name.as_str()),
            },
        ));
    }
    Ok(digested)
}
