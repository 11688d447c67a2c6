//! Wiring the configuration to the evidence desk (`haechi_server::evidence`): what the report
//! says about settings comes from here, read from the effective configuration.

use std::path::Path;
use std::sync::Arc;

use haechi_evidence::facts::{AuthenticationFacts, MasterKeySource};
use haechi_server::evidence::{EvidenceDesk, EvidenceSettings};
use haechi_store::Store;

use crate::config::Config;

const DAY_SECS: u64 = 86_400;

/// The desk's settings, from `config`. Call before `haechi serve` wipes the master key's text
/// from the configuration: where the key came from is part of the evidence.
pub fn settings(config: &Config) -> EvidenceSettings {
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
    EvidenceSettings {
        organisation,
        data_dir: config.data_dir.clone(),
        audit_dir: crate::runtime::audit_dir(config),
        drill_reports: config.evidence.drill_reports.clone(),
        bulk_read_customers: config.evidence.bulk_read_customers.max(1),
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
        witness_configured: config.audit.witness.is_some(),
        master_key_source: master_key_source(config),
        rotation_interval_days: config.keys.rotation_interval.as_secs() / DAY_SECS,
        blind_index_bits: config.vault.blind_index_bits,
    }
}

fn master_key_source(config: &Config) -> MasterKeySource {
    if config.master_key.is_some() {
        return MasterKeySource::Environment;
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

/// Who the review job acts as in the trail.
const REVIEW_JOB: &str = "review-job";

/// The monthly access review job of `haechi serve`: once a month has ended (KST) it summarises
/// the month from the trail and records `audit.review_prepared` with the summary's digest, so
/// the review is due and its content is pinned; if no reviewer has acknowledged it `due` after
/// the month's end, it records `audit.review_overdue` once, which the built-in rule
/// `haechi.audit.review_overdue` raises as an alert. Checks every `tick`; reads the trail only
/// when a month has just ended or its review has just fallen due.
pub async fn review_job(
    desk: Arc<EvidenceDesk>,
    events: Arc<dyn haechi_events::EventSink>,
    clock: Arc<dyn haechi_events::Clock>,
    due: std::time::Duration,
    tick: std::time::Duration,
) {
    use haechi_events::{EventKind, Principal, SecurityEvent};
    use haechi_evidence::YearMonth;

    let mut prepared: Option<YearMonth> = None;
    let mut settled: Option<YearMonth> = None;
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let now = clock.now();
        let month = YearMonth::of(now).previous();
        let due_now = now >= month.end().plus(due);
        if prepared == Some(month) && (settled == Some(month) || !due_now) {
            continue;
        }
        let state = match desk.review(month, now).await {
            Ok(state) => state,
            Err(error) => {
                tracing::warn!(%error, %month, "the monthly review job could not read the trail");
                continue;
            }
        };
        // A month that ended before the trail began had nothing to review.
        if state.trail_began.is_none_or(|began| began >= month.end()) {
            prepared = Some(month);
            settled = Some(month);
            continue;
        }
        let job = Principal::Admin(REVIEW_JOB.into());
        let review = &state.review;
        if state.prepared.is_none() {
            let event = SecurityEvent::new(now, EventKind::AccessReviewPrepared, job.clone())
                .detail("month", review.month.clone())
                .detail("digest", review.digest.clone())
                .detail("accesses", review.accesses().to_string())
                .detail("bulk_reads", review.bulk_reads.len().to_string());
            if let Err(error) = events.record(event).await {
                tracing::warn!(%error, %month, "the monthly review could not be recorded");
                continue;
            }
            tracing::info!(%month, digest = %review.digest, "monthly access review prepared");
        }
        prepared = Some(month);
        if !state.acknowledgements.is_empty() || state.overdue {
            settled = Some(month);
        } else if due_now {
            let event = SecurityEvent::new(now, EventKind::AccessReviewOverdue, job)
                .reason("not_acknowledged")
                .detail("month", review.month.clone())
                .detail("digest", review.digest.clone());
            if let Err(error) = events.record(event).await {
                tracing::warn!(%error, %month, "the overdue review could not be recorded");
                continue;
            }
            tracing::warn!(%month, "monthly access review overdue: no reviewer acknowledged it");
            settled = Some(month);
        }
    }
}
