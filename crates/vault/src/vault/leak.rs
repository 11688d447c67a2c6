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
use std::hash::{BuildHasher, RandomState};

use haechi_events::{EventKind, Principal, RequestContext, SecurityEvent};
use haechi_korean::{normalize_email, normalize_phone, normalize_text};
use parking_lot::Mutex;

use super::Vault;
use crate::{BlindIndexKind, Error, IndexEntry};

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

/// The state of one matching run: the digests of every record already decrypted, under a key
/// of the session's own. Dropped at the end of the run; never stored.
pub struct LeakSession {
    hasher: RandomState,
    opened: Mutex<HashMap<String, Option<RecordDigests>>>,
    stats: Mutex<LeakStats>,
}

impl std::fmt::Debug for LeakSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeakSession")
            .field("stats", &*self.stats.lock())
            .finish_non_exhaustive()
    }
}

impl LeakSession {
    /// The counts so far.
    pub fn stats(&self) -> LeakStats {
        *self.stats.lock()
    }

    fn digest(&self, value: &str) -> u64 {
        self.hasher.hash_one(value)
    }
}

#[derive(Debug, Clone, Copy)]
struct RecordDigests {
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

impl Vault {
    /// Starts a leak-matching run.
    pub fn leak_session(&self) -> LeakSession {
        LeakSession {
            hasher: RandomState::new(),
            opened: Mutex::new(HashMap::new()),
            stats: Mutex::new(LeakStats::default()),
        }
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
        let mut lookups: HashMap<(BlindIndexKind, i64), Vec<String>> = HashMap::new();
        for prepared in &prepared {
            for entry in &prepared.entries {
                lookups.entry(*entry).or_default();
            }
        }
        let entries: Vec<IndexEntry> = lookups
            .keys()
            .map(|(kind, value)| IndexEntry {
                kind: *kind,
                value: *value,
            })
            .collect();
        let mut candidate_count = 0u64;
        for (entry, found) in entries
            .iter()
            .zip(self.store.candidates_of_many(&entries).await?)
        {
            candidate_count += found.len() as u64;
            lookups.insert((entry.kind, entry.value), found);
        }
        // Decrypt the candidates this session has not seen.
        let unseen: Vec<String> = {
            let opened = session.opened.lock();
            let mut unseen: HashSet<&String> = HashSet::new();
            for found in lookups.values() {
                for id in found {
                    if !opened.contains_key(id) {
                        unseen.insert(id);
                    }
                }
            }
            unseen.into_iter().cloned().collect()
        };
        let mut decrypted = 0u64;
        if !unseen.is_empty() {
            let records = self.store.records_in_bulk(&unseen).await?;
            let mut digests: Vec<(String, Option<RecordDigests>)> =
                Vec::with_capacity(unseen.len());
            for stored in &records {
                let record = self.open_fields(stored, &[])?;
                decrypted += 1;
                digests.push((
                    stored.customer_id.clone(),
                    Some(RecordDigests {
                        email: session.digest(record.email.as_str()),
                        phone: session.digest(record.phone.as_str()),
                        name: session.digest(&name_key(record.name.as_str())),
                    }),
                ));
            }
            let mut opened = session.opened.lock();
            for (id, digest) in digests {
                opened.insert(id, digest);
            }
            // Ids the index named but whose record is gone (shredded meanwhile).
            for id in unseen {
                opened.entry(id).or_insert(None);
            }
        }
        let mut confirmations = Vec::new();
        {
            let opened = session.opened.lock();
            for (index, prepared) in prepared.iter().enumerate() {
                let mut candidates: Vec<&String> = prepared
                    .entries
                    .iter()
                    .filter_map(|entry| lookups.get(entry))
                    .flatten()
                    .collect();
                candidates.sort();
                candidates.dedup();
                for id in candidates {
                    let Some(Some(customer)) = opened.get(id) else {
                        continue;
                    };
                    let (email, matched_email) = compare(&prepared.emails, customer.email);
                    let (phone, matched_phone) = compare(&prepared.phones, customer.phone);
                    if email != Comparison::Same && phone != Comparison::Same {
                        continue;
                    }
                    let (name, _) = compare(&prepared.names, customer.name);
                    confirmations.push(LeakConfirmation {
                        probe: index,
                        customer_id: id.clone(),
                        email,
                        phone,
                        name,
                        matched_email,
                        matched_phone,
                    });
                }
            }
        }
        {
            let mut stats = session.stats.lock();
            stats.rows += probes.len() as u64;
            stats.index_lookups += lookups.len() as u64;
            stats.candidates += candidate_count;
            stats.decrypted += decrypted;
        }
        self.emit(
            SecurityEvent::new(self.clock.now(), EventKind::PiiLookup, actor.clone())
                .context(context)
                .fields(["email", "phone", "name"])
                .purpose(PURPOSE_LEAK_MATCH)
                .detail("rows", probes.len().to_string())
                .detail("index_lookups", lookups.len().to_string())
                .detail("candidates", candidate_count.to_string())
                .detail("decrypted", decrypted.to_string())
                .detail("matches", confirmations.len().to_string()),
        )
        .await?;
        Ok(confirmations)
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
