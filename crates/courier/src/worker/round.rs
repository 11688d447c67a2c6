//! One round of the worker, in steps that each touch the outbox once: look the recipients up,
//! prepare every notice (render, code), **seal them all** (one write: no notice leaves before
//! its code is recorded), hand them over at their sinks' pace, settle the sinks that buffer
//! (the file's fsync), record each outcome in the audit trail, then finish them all (one
//! write). A worker that dies after a hand-over and before the finish leaves its notices
//! `sending`: when the lease ends they are tried again, with the same notice id (the
//! idempotency key) and the same code. No hand-over starts after two thirds of the lease (a
//! hanging gateway slows a round down): what is left is another attempt's once the lease ends,
//! so two workers never hand the same notice over.

use std::collections::{HashMap, HashSet};
use std::sync::PoisonError;

use futures::StreamExt as _;
use haechi_events::{Decision, EventKind, SecurityEvent, Timestamp};
use haechi_notice::{Channel, Delivery, Notice, NoticeCode, NoticeId, Seal};

use super::{Contact, Courier, Tally, recipient};
use crate::Error;
use crate::sinks::{Outgoing, Refusal};

/// Audit records written side by side: the log commits them in groups.
const RECORDS_AT_ONCE: usize = 256;

/// Where one notice's attempt ended.
enum Outcome {
    Sent(NoticeCode),
    Retry(String),
    Failed(String),
}

/// A notice ready to leave, with what it is sealed with.
struct Prepared<'a> {
    notice: &'a Notice,
    seal: Seal,
    message: Outgoing,
}

/// A notice's attempt, ended.
struct Ended<'a> {
    notice: &'a Notice,
    sink: &'static str,
    outcome: Outcome,
}

impl Courier {
    /// One claimed round.
    pub(super) async fn round(
        &self,
        claimed: Vec<Notice>,
        deadline: Timestamp,
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

        let mut ended = Vec::new();
        let mut prepared = Vec::new();
        for notice in &claimed {
            let contact = contacts.get(notice.customer_id.as_str()).unwrap_or(&none);
            match self.prepare(notice, contact).await? {
                Ok(ready) => prepared.push(ready),
                Err((sink, reason)) => ended.push(Ended {
                    notice,
                    sink,
                    outcome: Outcome::Failed(reason),
                }),
            }
        }
        drop(contacts);

        // Each under the lease it was claimed with (a claimed notice's `next_attempt_at`).
        let seals: Vec<(NoticeId, Timestamp, Seal)> = prepared
            .iter()
            .map(|ready| {
                let notice = ready.notice;
                (
                    notice.id.clone(),
                    notice.next_attempt_at,
                    ready.seal.clone(),
                )
            })
            .collect();
        let sealed: HashSet<NoticeId> =
            self.store.seal_notices(&seals).await?.into_iter().collect();
        // A notice whose lease ended meanwhile is another worker's now: it seals and sends it.
        prepared.retain(|ready| sealed.contains(&ready.notice.id));

        // A notice not handed over before the deadline is neither recorded nor finished: it
        // stays `sending` until its lease ends, and another attempt takes it.
        let handed: Vec<Option<Ended<'_>>> = futures::stream::iter(prepared)
            .map(|ready| self.hand_over(ready, deadline))
            .buffer_unordered(self.settings.concurrency.max(1))
            .collect()
            .await;
        ended.extend(handed.into_iter().flatten());
        self.settle(&mut ended).await;

        for chunk in ended.chunks(RECORDS_AT_ONCE) {
            futures::future::try_join_all(chunk.iter().map(|end| self.record(end))).await?;
        }
        let deliveries: Vec<(NoticeId, Delivery)> = ended
            .iter()
            .map(|end| (end.notice.id.clone(), self.delivery(end)))
            .collect();
        self.store.finish_notices(&deliveries).await?;
        for end in &ended {
            self.count(end.notice.channel, &end.outcome);
        }
        progress(&self.tally());
        Ok(())
    }

    /// Renders `notice` for its recipient and makes its code; or why it cannot be sent (the
    /// sink's name and the reason).
    async fn prepare<'a>(
        &self,
        notice: &'a Notice,
        contact: &Contact,
    ) -> Result<Result<Prepared<'a>, (&'static str, String)>, Error> {
        let Some((sink, _)) = self.routes.sink(notice.channel) else {
            return Ok(Err((
                "none",
                "no sink is configured for this channel".into(),
            )));
        };
        let templates = self.templates(&notice.batch).await?;
        let recipient = match recipient(notice.channel, contact) {
            Ok(recipient) => recipient,
            Err(reason) => return Ok(Err((sink.name(), reason.into()))),
        };
        let draft = match templates.render(notice.channel, &notice.facts, None) {
            Ok(draft) => draft,
            Err(error) => return Ok(Err((sink.name(), error.to_string()))),
        };
        let recipient_tag = self.key.recipient_tag(notice.channel, &recipient);
        let code = self
            .key
            .code(&notice.id, &recipient_tag, &draft.body_digest);
        let seal = Seal {
            code,
            recipient_tag,
            body_digest: draft.body_digest.clone(),
            sealed_at: self.clock.now(),
        };
        // The draft with its code in place of the placeholder: rendered once.
        let rendered = draft.with_code(&code);
        Ok(Ok(Prepared {
            notice,
            seal,
            message: Outgoing {
                notice_id: notice.id.clone(),
                channel: notice.channel,
                recipient,
                subject: rendered.subject,
                text: rendered.text,
                html: rendered.html,
                code,
            },
        }))
    }

    /// Hands one sealed notice to its sink, at the sink's pace; `None` when its turn came
    /// after `deadline`.
    async fn hand_over<'a>(&self, ready: Prepared<'a>, deadline: Timestamp) -> Option<Ended<'a>> {
        let notice = ready.notice;
        let Some((sink, pace)) = self.routes.sink(notice.channel) else {
            return Some(Ended {
                notice,
                sink: "none",
                outcome: Outcome::Failed("no sink is configured for this channel".into()),
            });
        };
        pace.turn().await;
        if self.clock.now() >= deadline {
            return None;
        }
        let outcome = match sink.deliver(&ready.message).await {
            Ok(()) => Outcome::Sent(ready.message.code),
            Err(Refusal::Permanent(reason)) => Outcome::Failed(reason),
            Err(Refusal::Retry(reason)) if notice.attempts + 1 >= self.settings.max_attempts => {
                Outcome::Failed(reason)
            }
            Err(Refusal::Retry(reason)) => Outcome::Retry(reason),
        };
        Some(Ended {
            notice,
            sink: sink.name(),
            outcome,
        })
    }

    /// Settles every sink that buffers; what a sink failed to settle was not handed over.
    async fn settle(&self, ended: &mut [Ended<'_>]) {
        for sink in self.routes.sinks() {
            if let Err(refusal) = sink.settle().await {
                for end in ended.iter_mut() {
                    if end.sink == sink.name() && matches!(end.outcome, Outcome::Sent(_)) {
                        end.outcome = Outcome::Retry(refusal.to_string());
                    }
                }
            }
        }
    }

    fn delivery(&self, end: &Ended<'_>) -> Delivery {
        match &end.outcome {
            Outcome::Sent(_) => Delivery::Sent {
                at: self.clock.now(),
            },
            Outcome::Retry(reason) => Delivery::Retry {
                next_attempt_at: self.clock.now().plus(self.backoff(end.notice.attempts + 1)),
                error: reason.clone(),
            },
            Outcome::Failed(reason) => Delivery::Failed {
                error: reason.clone(),
            },
        }
    }

    /// Records `end` (`notice.sent`, or `notice.failed` with whether it will be retried),
    /// durable before the outbox moves on.
    async fn record(&self, end: &Ended<'_>) -> Result<(), Error> {
        let notice = end.notice;
        let event = SecurityEvent::new(self.clock.now(), kind(&end.outcome), self.actor.clone())
            .customer(&notice.customer_id)
            .detail("notice_id", notice.id.as_str())
            .detail("incident_id", notice.incident_id.as_str())
            .detail("channel", notice.channel.as_str())
            .detail("sink", end.sink)
            .detail("attempt", (notice.attempts + 1).to_string());
        let event = match &end.outcome {
            Outcome::Sent(code) => event
                .outcome(Decision::Allow, 0)
                .detail("code", code.to_string()),
            Outcome::Retry(reason) => event
                .outcome(Decision::Deny, 0)
                .reason(reason)
                .detail("will_retry", "true"),
            Outcome::Failed(reason) => event
                .outcome(Decision::Deny, 0)
                .reason(reason)
                .detail("will_retry", "false"),
        };
        self.events.record(event).await?;
        Ok(())
    }

    fn count(&self, channel: Channel, outcome: &Outcome) {
        let mut tally = self.tally.lock().unwrap_or_else(PoisonError::into_inner);
        let label = match outcome {
            Outcome::Sent(_) => {
                *tally.sent.entry(channel).or_default() += 1;
                "sent"
            }
            Outcome::Failed(reason) => {
                *tally.failed.entry(channel).or_default() += 1;
                *tally.reasons.entry(reason.clone()).or_default() += 1;
                "failed"
            }
            Outcome::Retry(_) => {
                tally.retried += 1;
                "retry"
            }
        };
        metrics::counter!("haechi_notices_total", "channel" => channel.as_str(), "outcome" => label)
            .increment(1);
    }
}

fn kind(outcome: &Outcome) -> EventKind {
    match outcome {
        Outcome::Sent(_) => EventKind::NoticeSent,
        Outcome::Retry(_) | Outcome::Failed(_) => EventKind::NoticeFailed,
    }
}
