//! The outbox worker: claims due notices, looks up their recipients, seals each with its code
//! (recorded before anything leaves), hands it to its channel's sink at the sink's pace, and
//! records how it went — in the outbox and in the audit trail. One round's steps are in
//! `round.rs`.

mod round;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use haechi_events::{Clock, EventSink, Principal};
use haechi_notice::{Channel, NoticeKey, NoticeStore, NoticeTemplates};
use zeroize::Zeroizing;

use crate::Error;
use crate::sinks::Routes;

/// A customer's channels, decrypted for one send and wiped when dropped.
#[derive(Debug, Default)]
pub struct Contact {
    /// The e-mail address on record.
    pub email: Option<Zeroizing<String>>,
    /// The phone number on record.
    pub phone: Option<Zeroizing<String>>,
}

/// Where recipients come from: the vault, read for the purpose `notification` (each read
/// recorded), by the worker that sends and nowhere else.
#[async_trait]
pub trait ContactBook: Send + Sync {
    /// The channels of each customer, in the order asked; a customer with no record (erased)
    /// has none.
    async fn contacts(&self, customer_ids: &[String]) -> Result<Vec<Contact>, Error>;
}

/// How the worker paces itself.
#[derive(Debug, Clone)]
pub struct CourierSettings {
    /// Notices handed over at once (across every sink).
    pub concurrency: usize,
    /// Notices claimed per round.
    pub claim: usize,
    /// Rounds run side by side.
    pub rounds_at_once: usize,
    /// How long a claim holds a notice before another worker may take it.
    pub lease: Duration,
    /// Attempts before a notice is given up.
    pub max_attempts: u32,
    /// The wait before the first retry; it doubles with each.
    pub first_backoff: Duration,
    /// The longest wait between attempts.
    pub max_backoff: Duration,
}

impl Default for CourierSettings {
    fn default() -> Self {
        CourierSettings {
            concurrency: 16,
            claim: 1_000,
            rounds_at_once: 2,
            lease: Duration::from_secs(300),
            max_attempts: 8,
            first_backoff: Duration::from_secs(5),
            max_backoff: Duration::from_secs(600),
        }
    }
}

/// What the worker did, by channel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Notices accepted by their sink.
    pub sent: HashMap<Channel, u64>,
    /// Notices given up.
    pub failed: HashMap<Channel, u64>,
    /// Attempts that failed and will be retried.
    pub retried: u64,
    /// Why notices were given up, and how many for each reason.
    pub reasons: std::collections::BTreeMap<String, u64>,
}

impl Tally {
    /// Sent, every channel.
    pub fn sent_total(&self) -> u64 {
        self.sent.values().sum()
    }

    /// Given up, every channel.
    pub fn failed_total(&self) -> u64 {
        self.failed.values().sum()
    }
}

/// The outbox worker.
pub struct Courier {
    store: Arc<dyn NoticeStore>,
    contacts: Arc<dyn ContactBook>,
    key: NoticeKey,
    routes: Routes,
    events: Arc<dyn EventSink>,
    clock: Arc<dyn Clock>,
    settings: CourierSettings,
    /// Who sends, in the records (`operator`, or the node).
    actor: Principal,
    templates: Mutex<HashMap<String, Arc<NoticeTemplates>>>,
    tally: Mutex<Tally>,
}

impl std::fmt::Debug for Courier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Courier")
            .field("routes", &self.routes)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Courier {
    /// A worker over `store`, sealing with `key`, sending by `routes`.
    #[allow(
        clippy::too_many_arguments,
        reason = "each is a distinct part the worker joins"
    )]
    pub fn new(
        store: Arc<dyn NoticeStore>,
        contacts: Arc<dyn ContactBook>,
        key: NoticeKey,
        routes: Routes,
        events: Arc<dyn EventSink>,
        clock: Arc<dyn Clock>,
        settings: CourierSettings,
        actor: Principal,
    ) -> Courier {
        Courier {
            store,
            contacts,
            key,
            routes,
            events,
            clock,
            settings,
            actor,
            templates: Mutex::new(HashMap::new()),
            tally: Mutex::new(Tally::default()),
        }
    }

    /// What the worker did so far.
    pub fn tally(&self) -> Tally {
        self.tally
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Delivers every due notice, round after round, until none is due; with
    /// `wait_for_retries`, until none is queued or being sent either (retries waited for).
    /// `rounds_at_once` rounds run side by side, each on notices of its own claim: a round
    /// spends most of its time waiting (the disk, the gateway), so one round's sending
    /// overlaps another's sealing. `progress` is called after each round.
    pub async fn drain(
        &self,
        wait_for_retries: bool,
        progress: &(dyn Fn(&Tally) + Sync),
    ) -> Result<Tally, Error> {
        let lanes = (0..self.settings.rounds_at_once.max(1))
            .map(|_| self.drain_lane(wait_for_retries, progress));
        futures::future::try_join_all(lanes).await?;
        Ok(self.tally())
    }

    async fn drain_lane(
        &self,
        wait_for_retries: bool,
        progress: &(dyn Fn(&Tally) + Sync),
    ) -> Result<(), Error> {
        loop {
            let now = self.clock.now();
            let claimed = self
                .store
                .claim_notices(now, now.plus(self.settings.lease), self.claim_size())
                .await?;
            if claimed.is_empty() {
                if !wait_for_retries {
                    break;
                }
                let counts = self.store.outbox_counts().await?;
                let pending = counts.in_state(haechi_notice::NoticeState::Queued)
                    + counts.in_state(haechi_notice::NoticeState::Sending);
                if pending == 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
            // No hand-over starts after two thirds of the lease: whatever is left then is
            // another worker's to take once the lease ends (a hanging gateway cannot make two
            // workers send the same notice).
            let deadline = now.plus(self.settings.lease.mul_f64(2.0 / 3.0));
            self.round(claimed, deadline, progress).await?;
        }
        Ok(())
    }

    /// Notices claimed per round: at most `settings.claim`, and no more than the slowest sink
    /// hands over in a third of the lease — a round must end long before its lease does, or
    /// another worker would take (and send again) notices this one is still handing over.
    fn claim_size(&self) -> usize {
        let within_lease = self.routes.slowest().map_or(usize::MAX, |per_second| {
            let notices = per_second * self.settings.lease.as_secs_f64() / 3.0;
            // Saturating: a pace of millions a second only leaves `settings.claim`.
            if notices >= usize::MAX as f64 {
                usize::MAX
            } else {
                notices as usize
            }
        });
        self.settings.claim.min(within_lease).max(1)
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let doubled = self
            .settings
            .first_backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
        doubled.min(self.settings.max_backoff)
    }

    /// A batch's templates, compiled once per worker.
    async fn templates(&self, batch: &str) -> Result<Arc<NoticeTemplates>, Error> {
        if let Some(found) = self
            .templates
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(batch)
        {
            return Ok(found.clone());
        }
        let stored = self
            .store
            .batch(batch)
            .await?
            .ok_or_else(|| Error::Sink(format!("notice batch {batch} is missing")))?;
        let compiled = Arc::new(NoticeTemplates::new(stored.templates, stored.sender)?);
        self.templates
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(batch.to_string(), compiled.clone());
        Ok(compiled)
    }
}

/// The recipient of `channel` from `contact`, normalised as the code binds it: the phone
/// number's digits, the lower-cased address.
fn recipient(channel: Channel, contact: &Contact) -> Result<Zeroizing<String>, &'static str> {
    if channel.uses_phone() {
        let phone = contact
            .phone
            .as_ref()
            .filter(|phone| !phone.is_empty())
            .ok_or("no phone number on record")?;
        haechi_korean::normalize_phone(phone)
            .map(Zeroizing::new)
            .map_err(|_| "the phone number on record is not valid")
    } else {
        let email = contact
            .email
            .as_ref()
            .filter(|email| !email.is_empty())
            .ok_or("no e-mail address on record")?;
        haechi_korean::normalize_email(email)
            .map(Zeroizing::new)
            .map_err(|_| "the e-mail address on record is not valid")
    }
}
