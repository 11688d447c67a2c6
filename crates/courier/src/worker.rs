//! The outbox worker: claims due notices, looks up their recipients, seals each with its code
//! (recorded before anything leaves), hands it to its channel's sink at the sink's pace, and
//! records how it went — in the outbox and in the audit trail.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt as _;
use haechi_events::{Clock, Decision, EventKind, EventSink, Principal, SecurityEvent, StoreError};
use haechi_notice::{Channel, Delivery, Notice, NoticeKey, NoticeStore, NoticeTemplates, Seal};
use zeroize::Zeroizing;

use crate::Error;
use crate::sinks::{Outgoing, Refusal, Routes};

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
            claim: 200,
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

/// Where one notice's attempt ended.
enum Outcome {
    Sent,
    Retry,
    Failed(String),
    /// Another worker holds it now (this one's lease ended).
    Lost,
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
    /// `progress` is called after each notice.
    pub async fn drain(
        &self,
        wait_for_retries: bool,
        progress: &(dyn Fn(&Tally) + Sync),
    ) -> Result<Tally, Error> {
        loop {
            let now = self.clock.now();
            let claimed = self
                .store
                .claim_notices(now, now.plus(self.settings.lease), self.settings.claim)
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
            self.round(claimed, progress).await?;
        }
        Ok(self.tally())
    }

    /// One claimed round: the recipients looked up once for all, then each notice handed
    /// over, `concurrency` at a time.
    async fn round(
        &self,
        claimed: Vec<Notice>,
        progress: &(dyn Fn(&Tally) + Sync),
    ) -> Result<(), Error> {
        // A customer notified by two channels is looked up (and recorded as read) once.
        let mut ids: Vec<String> = claimed
            .iter()
            .map(|notice| notice.customer_id.clone())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let found = self.contacts.contacts(&ids).await?;
        let contacts: HashMap<&str, Contact> = ids.iter().map(String::as_str).zip(found).collect();
        let none = Contact::default();
        let results: Vec<Result<(), Error>> = futures::stream::iter(&claimed)
            .map(|notice| async {
                let contact = contacts.get(notice.customer_id.as_str()).unwrap_or(&none);
                let outcome = self.attempt(notice, contact).await?;
                self.count(notice.channel, &outcome);
                progress(&self.tally());
                Ok(())
            })
            .buffer_unordered(self.settings.concurrency.max(1))
            .collect()
            .await;
        results.into_iter().collect()
    }

    fn count(&self, channel: Channel, outcome: &Outcome) {
        let mut tally = self.tally.lock().unwrap_or_else(PoisonError::into_inner);
        match outcome {
            Outcome::Sent => *tally.sent.entry(channel).or_default() += 1,
            Outcome::Failed(reason) => {
                *tally.failed.entry(channel).or_default() += 1;
                *tally.reasons.entry(reason.clone()).or_default() += 1;
            }
            Outcome::Retry => tally.retried += 1,
            Outcome::Lost => {}
        }
        metrics::counter!(
            "haechi_notices_total",
            "channel" => channel.as_str(),
            "outcome" => match outcome {
                Outcome::Sent => "sent",
                Outcome::Failed(_) => "failed",
                Outcome::Retry => "retry",
                Outcome::Lost => "lost",
            }
        )
        .increment(1);
    }

    /// One attempt at one notice. Errors are the store's and the audit trail's: the worker
    /// stops (the notice stays claimed until its lease ends, then another attempt takes it).
    async fn attempt(&self, notice: &Notice, contact: &Contact) -> Result<Outcome, Error> {
        let Some((sink, pace)) = self.routes.sink(notice.channel) else {
            return self
                .give_up(notice, "none", "no sink is configured for this channel")
                .await;
        };
        let templates = self.templates(&notice.batch).await?;
        let recipient = match recipient(notice.channel, contact) {
            Ok(recipient) => recipient,
            Err(reason) => return self.give_up(notice, sink.name(), reason).await,
        };
        let draft = match templates.render(notice.channel, &notice.facts, None) {
            Ok(draft) => draft,
            Err(error) => return self.give_up(notice, sink.name(), &error.to_string()).await,
        };
        let recipient_tag = self.key.recipient_tag(notice.channel, &recipient);
        let code = self
            .key
            .code(&notice.id, &recipient_tag, &draft.body_digest);
        let seal = Seal {
            code,
            recipient_tag,
            body_digest: draft.body_digest,
            sealed_at: self.clock.now(),
        };
        match self.store.seal_notice(&notice.id, &seal).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => return Ok(Outcome::Lost),
            Err(error) => return Err(error.into()),
        }
        let rendered = templates
            .render(notice.channel, &notice.facts, Some(&code))
            .map_err(|error| Error::Sink(error.to_string()))?;
        let message = Outgoing {
            notice_id: notice.id.clone(),
            channel: notice.channel,
            recipient,
            subject: rendered.subject,
            text: rendered.text,
            html: rendered.html,
            code,
        };
        pace.turn().await;
        match sink.deliver(&message).await {
            Ok(()) => {
                self.record(notice, sink.name(), EventKind::NoticeSent, None, |event| {
                    event.detail("code", code.to_string())
                })
                .await?;
                let at = self.clock.now();
                self.store
                    .finish_notice(&notice.id, &Delivery::Sent { at })
                    .await?;
                Ok(Outcome::Sent)
            }
            Err(Refusal::Permanent(reason)) => self.give_up(notice, sink.name(), &reason).await,
            Err(Refusal::Retry(reason)) => {
                let attempt = notice.attempts + 1;
                if attempt >= self.settings.max_attempts {
                    return self.give_up(notice, sink.name(), &reason).await;
                }
                self.record(
                    notice,
                    sink.name(),
                    EventKind::NoticeFailed,
                    Some(&reason),
                    |event| event.detail("will_retry", "true"),
                )
                .await?;
                let next_attempt_at = self.clock.now().plus(self.backoff(attempt));
                self.store
                    .finish_notice(
                        &notice.id,
                        &Delivery::Retry {
                            next_attempt_at,
                            error: reason,
                        },
                    )
                    .await?;
                Ok(Outcome::Retry)
            }
        }
    }

    async fn give_up(&self, notice: &Notice, sink: &str, reason: &str) -> Result<Outcome, Error> {
        self.record(
            notice,
            sink,
            EventKind::NoticeFailed,
            Some(reason),
            |event| event.detail("will_retry", "false"),
        )
        .await?;
        self.store
            .finish_notice(
                &notice.id,
                &Delivery::Failed {
                    error: reason.to_string(),
                },
            )
            .await?;
        Ok(Outcome::Failed(reason.to_string()))
    }

    /// Records `kind` for `notice`, durable before the outbox moves on.
    async fn record(
        &self,
        notice: &Notice,
        sink: &str,
        kind: EventKind,
        reason: Option<&str>,
        more: impl FnOnce(SecurityEvent) -> SecurityEvent,
    ) -> Result<(), Error> {
        let mut event = SecurityEvent::new(self.clock.now(), kind, self.actor.clone())
            .customer(&notice.customer_id)
            .detail("notice_id", notice.id.as_str())
            .detail("incident_id", notice.incident_id.as_str())
            .detail("channel", notice.channel.as_str())
            .detail("sink", sink)
            .detail("attempt", (notice.attempts + 1).to_string());
        event = match reason {
            Some(reason) => event.reason(reason).outcome(Decision::Deny, 0),
            None => event.outcome(Decision::Allow, 0),
        };
        self.events.record(more(event)).await?;
        Ok(())
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
