//! "Is this message from us?": the check of a pasted message, for the API
//! (`POST /v1/notices/verify`) and the portal's page. The codes a text carries are looked up
//! in the outbox and recomputed under the notice key over the pasted text (genuine, or
//! altered); the smishing recogniser gives the reasons a person understands why a text that
//! is not genuine looks the way smishing does.
//!
//! Anonymous, so budgeted like the exposure check (per source, IPv6 by /64, and all sources
//! together): each check looks codes up, and an enumerator of codes meets the budget long
//! before the 2^40 codes. Answers say nothing about anyone: a genuine notice is shown as it was
//! sent (the text the person pasted, whole), without its recipient or id.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use haechi_events::{StoreError, Timestamp};
use haechi_notice::{Channel, Judgement, NoticeKey, NoticeStore, NoticeTemplates};
use haechi_smishing::{Profile, Recogniser};
use parking_lot::Mutex;
use serde::Serialize;
use utoipa::ToSchema;

use crate::source_limit::{GlobalLimiter, SourceLimiter};

/// Sources tracked by the per-source budget.
const TRACKED_SOURCES: usize = 100_000;
/// The longest text checked, in characters: an LMS is at most 2,000 bytes, an e-mail's text a
/// few thousand characters.
pub const MAX_TEXT_CHARS: usize = 8_000;
/// Notices an inbox shows (a customer gets one or two per incident).
const MAX_INBOX: usize = 20;
/// Batches whose compiled templates are kept (a company sends a handful).
const KEPT_BATCHES: usize = 64;

/// The budget of the public check (`[notice.verify]`).
#[derive(Debug, Clone, Copy)]
pub struct VerifyBudget {
    /// Checks a source may make a second, sustained.
    pub per_source_per_second: f64,
    /// At once.
    pub burst: f64,
    /// Every source together, a second.
    pub global_per_second: f64,
}

impl Default for VerifyBudget {
    fn default() -> Self {
        VerifyBudget {
            per_source_per_second: 0.2,
            burst: 5.0,
            global_per_second: 500.0,
        }
    }
}

/// What the check says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The company sent exactly this text.
    Genuine,
    /// A real code on a changed text: do not follow it.
    Altered,
    /// Not the company's.
    NotOurs,
}

/// One reason, in both languages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Reason {
    /// A stable code (`unknown_code`, `look_alike_domain`, `asks_for_secret`, …).
    pub code: String,
    /// In Korean.
    pub ko: String,
    /// In English.
    pub en: String,
}

/// A genuine notice, as it was sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SentNotice {
    /// `sms`, `lms` or `email`.
    #[schema(value_type = String, example = "lms")]
    pub channel: Channel,
    /// The incident it is about.
    #[schema(value_type = String, example = "INC-3f2a9c0b1d4e")]
    pub incident_id: String,
    /// When it was sealed for sending (RFC 3339).
    pub sent_at: String,
    /// Its text, as sent.
    pub text: String,
}

/// The answer of a check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Verification {
    /// Genuine, altered, or not ours.
    pub verdict: Verdict,
    /// What the codes said: `genuine`, `altered`, `unknown_code`, `no_code`.
    pub code_check: String,
    /// The notice as sent, when genuine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice: Option<SentNotice>,
    /// Why, when not genuine: the code's verdict first, then what the text itself shows.
    pub reasons: Vec<Reason>,
}

/// The check's key, recogniser, budgets and compiled templates.
pub struct NoticeDesk {
    key: NoticeKey,
    recogniser: Option<Recogniser>,
    per_source: SourceLimiter,
    global: GlobalLimiter,
    templates: Mutex<HashMap<String, Arc<NoticeTemplates>>>,
}

impl std::fmt::Debug for NoticeDesk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoticeDesk")
            .field("recogniser", &self.recogniser.is_some())
            .finish_non_exhaustive()
    }
}

impl NoticeDesk {
    /// A desk checking codes under `key`; with `profile` (the company's domains, names and
    /// numbers, `[notice]`), the texts are also read for smishing signals.
    pub fn new(
        key: NoticeKey,
        profile: Option<Profile>,
        budget: VerifyBudget,
    ) -> Result<NoticeDesk, haechi_smishing::Error> {
        Ok(NoticeDesk {
            key,
            recogniser: profile.map(Recogniser::new).transpose()?,
            per_source: SourceLimiter::new(
                budget.per_source_per_second,
                budget.burst,
                TRACKED_SOURCES,
            ),
            global: GlobalLimiter::new(budget.global_per_second, budget.global_per_second),
            templates: Mutex::new(HashMap::new()),
        })
    }

    /// Takes a turn from the budgets, or names the one spent and the seconds until a turn.
    pub(crate) fn admit(&self, source: Option<IpAddr>) -> Result<(), (&'static str, u64)> {
        let now = Instant::now();
        self.per_source
            .admit(source, now)
            .map_err(|retry| ("source_budget", retry))?;
        self.global
            .admit(now)
            .map_err(|retry| ("global_budget", retry))
    }

    /// Checks `text`.
    pub(crate) async fn verify(
        &self,
        store: &dyn NoticeStore,
        text: &str,
    ) -> Result<Verification, StoreError> {
        let mut candidates = Vec::new();
        for code in haechi_notice::codes_to_look_up(text) {
            candidates.extend(store.notices_by_code(&code.digits()).await?);
        }
        let judgement = haechi_notice::judge(text, &self.key, &candidates);
        let code_check = judgement.as_str().to_string();
        if let Judgement::Genuine(notice) = &judgement
            && let Some(shown) = self.as_sent(store, notice).await?
        {
            return Ok(Verification {
                verdict: Verdict::Genuine,
                code_check,
                notice: Some(shown),
                reasons: Vec::new(),
            });
        }
        let (verdict, first) = match judgement {
            Judgement::Genuine(_) | Judgement::Altered => (
                Verdict::Altered,
                reason(
                    "altered",
                    "확인코드는 실제로 발송된 안내의 것이지만, 내용이 발송된 안내와 다릅니다. \
                     문자 속 링크나 전화번호를 이용하지 마세요.",
                    "The code belongs to a notice we sent, but the text was changed. Do not \
                     follow its links or call its numbers.",
                ),
            ),
            Judgement::UnknownCode => (
                Verdict::NotOurs,
                reason(
                    "unknown_code",
                    "이 확인코드로 발송된 안내가 없습니다.",
                    "No notice was sent with this code.",
                ),
            ),
            Judgement::NoCode => (
                Verdict::NotOurs,
                reason(
                    "no_code",
                    "확인코드가 없습니다. 저희가 보내는 안내에는 모두 HC-로 시작하는 확인코드가 \
                     있습니다.",
                    "There is no code. Every notice we send carries a code starting with HC-.",
                ),
            ),
        };
        let mut reasons = vec![first];
        if let Some(recogniser) = &self.recogniser {
            let assessment = recogniser.assess(text);
            let name = recogniser.company_name();
            reasons.extend(
                assessment
                    .signals
                    .iter()
                    .zip(
                        assessment
                            .reasons_ko(name)
                            .into_iter()
                            .zip(assessment.reasons_en(name)),
                    )
                    .map(|(signal, (ko, en))| Reason {
                        code: signal.code().to_string(),
                        ko,
                        en,
                    }),
            );
        }
        Ok(Verification {
            verdict,
            code_check,
            notice: None,
            reasons,
        })
    }

    /// The notices sent to `customer_id`, newest first, as sent: the portal's inbox.
    pub(crate) async fn inbox(
        &self,
        store: &dyn NoticeStore,
        customer_id: &str,
    ) -> Result<Vec<haechi_portal::InboxNotice>, StoreError> {
        let mut inbox = Vec::new();
        for notice in store.customer_notices(customer_id, MAX_INBOX).await? {
            // Given up (the gateway refused it for good): never delivered, so not in the
            // inbox. A notice still `sending` may have reached the customer: it is.
            if notice.state == haechi_notice::NoticeState::Failed {
                continue;
            }
            if let Some((sent_at, text)) = self.text_as_sent(store, &notice).await? {
                inbox.push(haechi_portal::InboxNotice {
                    channel: notice.channel.as_str(),
                    sent_at,
                    text,
                });
            }
        }
        Ok(inbox)
    }

    /// A genuine notice as sent.
    async fn as_sent(
        &self,
        store: &dyn NoticeStore,
        notice: &haechi_notice::Notice,
    ) -> Result<Option<SentNotice>, StoreError> {
        Ok(self
            .text_as_sent(store, notice)
            .await?
            .map(|(sent_at, text)| SentNotice {
                channel: notice.channel,
                incident_id: notice.incident_id.as_str().to_string(),
                sent_at: sent_at.to_rfc3339(),
                text,
            }))
    }

    /// A sealed notice's text as sent, rendered again from its batch (`None` when the batch
    /// is gone or no longer renders: then it is not shown, nor judged genuine).
    async fn text_as_sent(
        &self,
        store: &dyn NoticeStore,
        notice: &haechi_notice::Notice,
    ) -> Result<Option<(Timestamp, String)>, StoreError> {
        let Some(seal) = &notice.seal else {
            return Ok(None);
        };
        let cached = self.templates.lock().get(&notice.batch).cloned();
        let templates = match cached {
            Some(templates) => templates,
            None => {
                let Some(batch) = store.batch(&notice.batch).await? else {
                    return Ok(None);
                };
                let Ok(compiled) = NoticeTemplates::new(batch.templates, batch.sender) else {
                    return Ok(None);
                };
                let compiled = Arc::new(compiled);
                let mut kept = self.templates.lock();
                if kept.len() >= KEPT_BATCHES {
                    kept.clear();
                }
                kept.insert(notice.batch.clone(), compiled.clone());
                compiled
            }
        };
        let Ok(rendered) = templates.render(notice.channel, &notice.facts, Some(&seal.code)) else {
            return Ok(None);
        };
        Ok(Some((
            notice.sent_at.unwrap_or(seal.sealed_at),
            rendered.text,
        )))
    }
}

fn reason(code: &str, ko: &str, en: &str) -> Reason {
    Reason {
        code: code.into(),
        ko: ko.into(),
        en: en.into(),
    }
}
