//! Wiring the configuration to the evidence desk (`haechi_server::evidence`): what the report
//! says about settings comes from here, read from the effective configuration.

use std::path::Path;
use std::sync::Arc;

use haechi_events::Timestamp;
use haechi_evidence::facts::{AuthenticationFacts, MasterKeySource};
use haechi_server::evidence::{EvidenceDesk, EvidenceSettings};
use haechi_store::Store;

use crate::config::Config;

const DAY_SECS: u64 = 86_400;

/// The desk's settings, from `config`. Call before `haechi serve` wipes the master key's text
/// from the configuration: where the key came from is part of the evidence.
pub fn settings(config: &Config) -> anyhow::Result<EvidenceSettings> {
    let organisation = config
        .evidence
        .organisation
        .clone()
        .filter(|name| !name.trim().is_empty())
        .or_else(|| Some(config.notice.company.clone()).filter(|name| !name.trim().is_empty()))
        .unwrap_or_else(|| {
            config.data_dir.file_name().map_or_else(
                || "Haechi".into(),
                |name| name.to_string_lossy().into_owned(),
            )
        });
    Ok(EvidenceSettings {
        organisation,
        data_dir: config.data_dir.clone(),
        audit_dir: crate::runtime::audit_dir(config),
        drill_reports: config.evidence.drill_reports.clone(),
        bulk_read_customers: config.evidence.bulk_read_customers()?,
        authentication: AuthenticationFacts {
            failures_per_account: config.login.failures_per_account,
            attempts_per_source: config.login.attempts_per_source,
            window_secs: config.login.window.as_secs(),
            access_ttl_secs: config.token.access_ttl.as_secs(),
            refresh_ttl_secs: config.token.refresh_ttl.as_secs(),
            password_memory_kib: config.password.memory_kib,
            password_iterations: config.password.iterations,
            password_parallelism: config.password.parallelism,
        },
        retention_days: config
            .audit
            .retention
            .map(|retention| retention.as_secs() / DAY_SECS),
        archive_configured: config.audit.archive_dir.is_some(),
        witness: config.audit.witness.clone(),
        master_key_source: master_key_source(config),
        // Rounded up: a rotation every 12 hours is "within a day", not "every 0 days".
        rotation_interval_days: config.keys.rotation_interval.as_secs().div_ceil(DAY_SECS),
        blind_index_bits: config.vault.blind_index_bits,
        cluster_node: config.store.url.is_some(),
    })
}

fn master_key_source(config: &Config) -> MasterKeySource {
    if config.master_key.is_some() {
        // The value is the environment's when the variable is set; otherwise it was written in
        // a configuration file.
        return if std::env::var_os("HAECHI_MASTER_KEY").is_some() {
            MasterKeySource::Environment
        } else {
            MasterKeySource::ConfigurationValue
        };
    }
    let key = config.master_key_path();
    if inside(&key, &config.data_dir) {
        MasterKeySource::GeneratedInDataDir
    } else {
        MasterKeySource::FileOutsideDataDir
    }
}

fn inside(path: &Path, dir: &Path) -> bool {
    let canonical =
        |path: &Path| std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let path = match path.parent() {
        Some(parent) => canonical(parent).join(path.file_name().unwrap_or_default()),
        None => path.to_path_buf(),
    };
    path.starts_with(canonical(dir))
}

/// The desk over `store`, signing with the audit key.
pub fn desk(
    settings: EvidenceSettings,
    audit_key: ed25519_dalek::SigningKey,
    store: Arc<dyn Store>,
) -> Arc<EvidenceDesk> {
    Arc::new(EvidenceDesk::new(settings, audit_key, store))
}

/// Months the review job looks back at when it starts: a server down for a month still
/// prepares (and, when due, records overdue) every review of the last year.
const LOOK_BACK_MONTHS: usize = 12;
/// How long after a month's end its review is prepared: requests in flight at midnight record
/// their acts after it, and a summary pinned before they land would differ from the trail.
const MONTH_END_GRACE: std::time::Duration = std::time::Duration::from_secs(10 * 60);
/// How soon the job tries again after it could not read the trail or record.
const RETRY: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// The monthly access review job of `haechi serve` (one node; on a cluster each node's trail
/// is its own and the job does not run: docs/evidence.md). Once a month has ended (KST), it
/// summarises the month from the trail and records `audit.review_prepared` with the summary's
/// digest, so the review is due and its content pinned; if no reviewer has acknowledged it `due`
/// after the month's end, it records `audit.review_overdue` once, which the built-in rule
/// `haechi.audit.review_overdue` raises as an alert. It reads the trail (one pass over the
/// months not yet settled) only when a month has ended or a review has fallen due since its
/// last look, and at start; a month is settled once acknowledged, recorded overdue, or ended
/// before the trail began.
pub async fn review_job(
    desk: Arc<EvidenceDesk>,
    events: Arc<dyn haechi_events::EventSink>,
    clock: Arc<dyn haechi_events::Clock>,
    due: std::time::Duration,
    tick: std::time::Duration,
) {
    use haechi_evidence::YearMonth;

    // Every month up to this one is settled.
    let mut settled_through: Option<YearMonth> = None;
    // The last look: the month that had just ended then, and the next due time it saw.
    let mut looked: Option<(YearMonth, Option<Timestamp>)> = None;
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let now = clock.now();
        let ended = YearMonth::of(now.minus(MONTH_END_GRACE)).previous();
        if let Some((month, next_due)) = looked
            && month == ended
            && next_due.is_none_or(|due| now < due)
        {
            continue;
        }
        let first = match settled_through {
            Some(month) => month.next(),
            None => (1..LOOK_BACK_MONTHS).fold(ended, |month, _| month.previous()),
        };
        if first > ended {
            looked = Some((ended, None));
            continue;
        }
        let states = match desk.reviews(first, ended, now).await {
            Ok(states) => states,
            Err(haechi_evidence::Error::Busy) => continue,
            Err(error) => {
                tracing::error!(%error, "the monthly review job could not read the trail");
                // Not every tick: the trail is read whole.
                looked = Some((ended, Some(now.plus(RETRY))));
                continue;
            }
        };
        let mut next_due: Option<Timestamp> = None;
        let mut settled_prefix = true;
        for state in states {
            let Ok(month) = state.review.month.parse::<YearMonth>() else {
                continue;
            };
            let (settled, look_again) = match settle(&state, month, now, due, events.as_ref()).await
            {
                Ok(settled) => (settled, month.end().plus(due)),
                Err(error) => {
                    tracing::error!(%error, %month, "the monthly review job could not record");
                    (false, now.plus(RETRY))
                }
            };
            if settled && settled_prefix {
                settled_through = Some(month);
            } else if !settled {
                settled_prefix = false;
                next_due =
                    Some(next_due.map_or(look_again, |next: Timestamp| next.min(look_again)));
            }
        }
        looked = Some((ended, next_due));
    }
}

/// Records what `month`'s review needs now; whether it is settled.
async fn settle(
    state: &haechi_server::evidence::ReviewState,
    month: haechi_evidence::YearMonth,
    now: Timestamp,
    due: std::time::Duration,
    events: &dyn haechi_events::EventSink,
) -> Result<bool, haechi_events::SinkError> {
    use haechi_events::{EventKind, Principal, SecurityEvent};

    // A month that ended before the trail began had nothing to review.
    if state.trail_began.is_none_or(|began| began >= month.end()) {
        return Ok(true);
    }
    let job = Principal::Admin(haechi_token::REVIEW_ACTOR.into());
    let review = &state.review;
    if state.prepared.is_none() {
        events
            .record(
                SecurityEvent::new(now, EventKind::AccessReviewPrepared, job.clone())
                    .detail("month", review.month.clone())
                    .detail("digest", review.digest.clone())
                    .detail("accesses", review.accesses().to_string())
                    .detail("bulk_reads", review.bulk_reads.len().to_string()),
            )
            .await?;
        tracing::info!(%month, digest = %review.digest, "monthly access review prepared");
    }
    if !state.acknowledgements.is_empty() || state.overdue {
        return Ok(true);
    }
    if now < month.end().plus(due) {
        return Ok(false);
    }
    events
        .record(
            SecurityEvent::new(now, EventKind::AccessReviewOverdue, job)
                .reason("not_acknowledged")
                .detail("month", review.month.clone())
                .detail("digest", review.digest.clone()),
        )
        .await?;
    tracing::warn!(%month, "monthly access review overdue: no reviewer acknowledged it");
    Ok(true)
}
