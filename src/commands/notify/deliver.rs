//! Delivery: the sinks `[notice]` configures, the vault as the workers' contact book, and the
//! courier run until the outbox is done, with a progress bar and a summary.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use async_trait::async_trait;
use haechi_courier::{
    Contact, ContactBook, Courier, CourierSettings, JsonlSink, Pace, Routes, Sink, SmtpSecurity,
    SmtpSettings, SmtpSink, Tally, WebhookSettings, WebhookSink,
};
use haechi_notice::{Channel, NoticeKey, NoticeState, NoticeStore};
use haechi_token::AdminGrant;
use haechi_vault::{NoticeDisclosure, Vault};
use zeroize::Zeroizing;

use super::bar;
use crate::Outcome;
use crate::config::{Config, NoticeSection};
use crate::notices::NOTICE_KEY_SECRET;
use crate::runtime::Runtime;

/// Customers whose contacts one vault call reads; calls run side by side so the audit log
/// commits their `pii.read` records in groups.
const CONTACT_CHUNK: usize = 25;

/// The sink of each channel, as configured: SMS and LMS to the gateway's webhook, e-mail to
/// the SMTP relay, either to the plaintext file when that is configured instead.
pub(super) fn routes(config: &Config, channels: &[Channel]) -> anyhow::Result<Routes> {
    let notice = &config.notice;
    let file: Option<Arc<dyn Sink>> = match &notice.dangerous_plaintext_file {
        Some(path) => Some(Arc::new(JsonlSink::open(path)?)),
        None => None,
    };
    let file_pace = Arc::new(Pace::new(10_000));
    let webhook = match &notice.webhook {
        Some(section) => {
            let url = reqwest::Url::parse(&section.url)
                .with_context(|| format!("notice.webhook.url {:?} is not a URL", section.url))?;
            if !matches!(url.scheme(), "https" | "http") || !url.username().is_empty() {
                anyhow::bail!("notice.webhook.url must be https://HOST/PATH without credentials");
            }
            if url.scheme() == "http" {
                tracing::warn!(
                    "notice.webhook.url is http://: phone numbers and notices cross the network \
                     in clear (signed, not encrypted); use https:// unless the gateway is on \
                     this host"
                );
            }
            let sink: Arc<dyn Sink> = Arc::new(WebhookSink::new(WebhookSettings {
                url: section.url.clone(),
                trust: haechi_outbound::Trust {
                    ca_file: section.ca_file.clone(),
                    ca_file_only: section.ca_file_only,
                },
                secret: NoticeSection::webhook_secret(section)?,
                timeout: section.timeout,
            })?);
            Some((sink, Arc::new(Pace::new(section.per_second))))
        }
        None => None,
    };
    let smtp = match &notice.smtp {
        Some(section) => {
            let security = match section.security.as_str() {
                "starttls" => SmtpSecurity::StartTls,
                "tls" => SmtpSecurity::Tls,
                "dangerous_plaintext" => SmtpSecurity::DangerousPlaintext,
                other => anyhow::bail!(
                    "notice.smtp.security {other:?}: starttls, tls or dangerous_plaintext"
                ),
            };
            let credentials = match (&section.username, &section.password_file) {
                (Some(user), Some(path)) => Some((
                    user.clone(),
                    Zeroizing::new(
                        std::fs::read_to_string(path)
                            .with_context(|| format!("cannot read {}", path.display()))?
                            .trim()
                            .to_string(),
                    ),
                )),
                (None, None) => None,
                _ => anyhow::bail!("notice.smtp needs both username and password_file, or neither"),
            };
            let sink: Arc<dyn Sink> = Arc::new(SmtpSink::new(SmtpSettings {
                host: section.host.clone(),
                port: section.port,
                security,
                ca_file: section.ca_file.clone(),
                ca_file_only: section.ca_file_only,
                from: section.from.clone(),
                credentials,
                timeout: section.timeout,
            })?);
            Some((sink, Arc::new(Pace::new(section.per_second))))
        }
        None => None,
    };
    let mut routes = Routes::default();
    for channel in channels {
        let chosen = match (channel, &webhook, &smtp, &file) {
            (Channel::Sms | Channel::Lms, Some((sink, pace)), _, _)
            | (Channel::Email, _, Some((sink, pace)), _) => (sink.clone(), pace.clone()),
            (_, _, _, Some(sink)) => (sink.clone(), file_pace.clone()),
            (Channel::Sms | Channel::Lms, None, _, None) => anyhow::bail!(
                "notices by {} need [notice.webhook] (the SMS gateway) or \
                 notice.dangerous_plaintext_file",
                channel.as_str()
            ),
            (Channel::Email, _, None, None) => anyhow::bail!(
                "notices by e-mail need [notice.smtp] or notice.dangerous_plaintext_file"
            ),
        };
        routes = routes.route(*channel, chosen.0, chosen.1);
    }
    Ok(routes)
}

/// The vault, read by the local operator for the purpose `notification`.
struct VaultContacts {
    vault: Arc<Vault>,
    grant: AdminGrant,
}

#[async_trait]
impl ContactBook for VaultContacts {
    async fn contacts(
        &self,
        customer_ids: &[String],
    ) -> Result<Vec<Contact>, haechi_courier::Error> {
        let mut tasks = tokio::task::JoinSet::new();
        for (index, chunk) in customer_ids.chunks(CONTACT_CHUNK).enumerate() {
            let (vault, grant, chunk) = (self.vault.clone(), self.grant.clone(), chunk.to_vec());
            tasks.spawn(async move {
                let found = vault
                    .notice_contacts()
                    .contacts(&grant, &chunk, NoticeDisclosure::Plaintext)
                    .await;
                (index, found)
            });
        }
        let mut chunks = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let (index, found) =
                joined.map_err(|error| haechi_courier::Error::Contacts(error.to_string()))?;
            chunks.push((
                index,
                found.map_err(|error| haechi_courier::Error::Contacts(error.to_string()))?,
            ));
        }
        chunks.sort_by_key(|(index, _)| *index);
        Ok(chunks
            .into_iter()
            .flat_map(|(_, found)| found)
            .map(|contact| Contact {
                email: contact.email,
                phone: contact.phone,
            })
            .collect())
    }
}

/// Opens the data directory and delivers what the outbox holds.
pub(super) async fn deliver_queued(config: &Config, quiet: bool) -> anyhow::Result<Outcome> {
    let runtime = Runtime::open(config).await?;
    let result = deliver(&runtime, config, quiet).await;
    runtime.close().await?;
    result
}

/// Runs the courier until no notice is queued or being sent, then prints a summary; a notice
/// given up makes the outcome "findings" (exit status 1).
pub(super) async fn deliver(
    runtime: &Runtime,
    config: &Config,
    quiet: bool,
) -> anyhow::Result<Outcome> {
    let store: Arc<dyn NoticeStore> = runtime.store.clone();
    let counts = store.outbox_counts().await?;
    let pending = counts.in_state(NoticeState::Queued) + counts.in_state(NoticeState::Sending);
    if pending == 0 {
        eprintln!("the outbox holds nothing to deliver");
        return Ok(Outcome::Clean);
    }
    let channels: Vec<Channel> = counts
        .rows
        .iter()
        .filter(|(_, state, _)| matches!(state, NoticeState::Queued | NoticeState::Sending))
        .map(|(channel, _, _)| *channel)
        .collect();
    let routes = routes(config, &channels)?;
    let grant = runtime.authority.operator_grant()?;
    let key = runtime
        .authority
        .keys()
        .named_secret(NOTICE_KEY_SECRET)
        .await
        .context("cannot open the notice key")?;
    let defaults = CourierSettings::default();
    let courier = Courier::new(
        store,
        Arc::new(VaultContacts {
            vault: runtime.vault.clone(),
            grant: grant.clone(),
        }),
        NoticeKey::from_bytes(&key),
        routes,
        runtime.events.clone(),
        runtime.clock.clone(),
        CourierSettings {
            concurrency: config.notice.concurrency.unwrap_or(defaults.concurrency),
            max_attempts: config.notice.max_attempts.unwrap_or(defaults.max_attempts),
            first_backoff: config.notice.first_retry.unwrap_or(defaults.first_backoff),
            ..defaults
        },
        grant.actor().clone(),
    );
    let bar = bar(quiet, pending, "deliver");
    let started = Instant::now();
    let progress = |tally: &Tally| {
        bar.set_position(tally.sent_total() + tally.failed_total());
    };
    let tally = courier.drain(true, &progress).await?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "delivered {} notices, gave up {}, {} attempts retried, in {seconds:.1}s ({:.0}/s)",
        tally.sent_total(),
        tally.failed_total(),
        tally.retried,
        tally.sent_total() as f64 / seconds.max(0.001)
    );
    for channel in Channel::ALL {
        let (sent, failed) = (
            tally.sent.get(&channel).copied().unwrap_or(0),
            tally.failed.get(&channel).copied().unwrap_or(0),
        );
        if sent + failed > 0 {
            eprintln!("  {:<5} sent {sent}, gave up {failed}", channel.as_str());
        }
    }
    for (reason, count) in &tally.reasons {
        eprintln!("  gave up {count}: {reason}");
    }
    Ok(if tally.failed_total() > 0 {
        Outcome::Findings
    } else {
        Outcome::Clean
    })
}
