//! 2.9.4 로그 및 접속기록 관리, 2.9.5 로그 및 접속기록 점검 — keeping the access records, and
//! checking them every month with the reasons for downloads.

use super::{Assessment, Control};
use crate::facts::Facts;
use crate::period::kst_minute;
use crate::review::reviews;

const SUBDOMAIN: &str = "2.9. 시스템 및 서비스 운영관리 (Operations)";

/// PIPA safeguard standard art. 8(1): one year; two when the company handles 50,000 or more
/// data subjects (or unique identifiers or sensitive data).
const ONE_YEAR_DAYS: u64 = 365;
const TWO_YEARS_DAYS: u64 = 730;
const LARGE_COMPANY_CUSTOMERS: u64 = 50_000;
/// A bulk threshold above this lets a download of thousands pass unreviewed.
const MAX_BULK_THRESHOLD: u64 = 10_000;

pub(super) const RECORD_KEEPING: Control = Control {
    id: "2.9.4",
    name: "로그 및 접속기록 관리 (Keeping logs and access records)",
    description: "정보시스템에 대한 사용자 접속기록, 시스템로그, 권한부여 내역 등의 로그유형, 보존기간, \
        보존방법 등을 정하고 위·변조, 도난, 분실되지 않도록 안전하게 보존·관리하여야 한다. (Keep \
        access records for the required time, protected against forgery, theft and loss.)",
    subdomain: SUBDOMAIN,
    checklist: &[
        "접속기록을 1년(정보주체 5만명 이상 등은 2년) 이상 보관하는가 (kept one year, two for 50,000+ subjects)",
        "접속기록에 필수 항목(식별자, 일시, 접속지, 처리한 정보주체, 수행업무)이 있는가 (required fields present)",
        "위·변조 방지 조치가 되어 있는가 (protected against tampering)",
    ],
    regulations: &[
        "개인정보의 안전성 확보조치 기준 제8조 제1항 (keeping access records 1 or 2 years)",
        "개인정보의 안전성 확보조치 기준 제8조 제3항 (protected against forgery, theft, loss)",
        "개인정보의 안전성 확보조치 기준 제2조 (what an access record holds)",
    ],
    audit_evidence: &[
        "보존기간 설정 (retention configured)",
        "해시 체인·서명 검증 결과 (chain and signature verification)",
        "필수 항목 포함 현황 (required fields present)",
    ],
    non_compliance: &[
        "보존기간 미달 (kept shorter than required)",
        "접속기록에 처리한 정보주체·수행업무 누락 (whose data or what was done missing)",
        "관리자가 접속기록을 수정·삭제할 수 있음 (records an administrator can change)",
    ],
    assess: assess_keeping,
};

pub(super) const RECORD_REVIEW: Control = Control {
    id: "2.9.5",
    name: "로그 및 접속기록 점검 (Reviewing logs and access records)",
    description: "사용자 오·남용(비인가접속, 과다조회 등)을 최소화하기 위하여 접근 및 사용에 대한 로그 \
        검토기준을 수립하여 주기적으로 점검하며, 문제 발생 시 사후조치를 적시에 수행하여야 한다. \
        (Review access records periodically against criteria — unauthorised access, excessive \
        reads — and act on what is found.)",
    subdomain: SUBDOMAIN,
    checklist: &[
        "월 1회 이상 접속기록을 점검하고 기록하는가 (checked at least monthly, recorded)",
        "대량 조회·다운로드의 사유를 확인하는가 (reasons for bulk reads and downloads confirmed)",
        "이상 징후에 대한 경보와 조치가 있는가 (anomalies alerted and acted upon)",
    ],
    regulations: &[
        "개인정보의 안전성 확보조치 기준 제8조 제2항 (monthly check; reasons for downloads confirmed)",
    ],
    audit_evidence: &[
        "월별 점검 요약과 검토자 확인 (monthly summary and the reviewer's acknowledgement)",
        "대량 조회와 사유 (bulk reads and their recorded purposes)",
    ],
    non_compliance: &[
        "점검 기록 없음 (no record of the monthly check)",
        "대량 다운로드 사유 미확인 (bulk downloads without a reason)",
    ],
    assess: assess_review,
};

fn assess_keeping(facts: &Facts) -> Assessment {
    let audit = &facts.audit;
    let required = if facts.customers >= LARGE_COMPANY_CUSTOMERS {
        TWO_YEARS_DAYS
    } else {
        ONE_YEAR_DAYS
    };
    let mut assessment = Assessment {
        met_because: format!(
            "Access records are kept at least {required} days; the hash chain and {} signed \
             checkpoints verify over {} records; every personal-data record names who, when, \
             from where, whose data and what.",
            audit.chain.checkpoints, audit.chain.records
        ),
        ..Assessment::default()
    };
    let retention = match audit.retention_days {
        None => "forever (no retention configured)".to_string(),
        Some(days) if audit.archive_configured => {
            format!("{days} days in the live log, then in the archive (not deleted by Haechi)")
        }
        Some(days) => format!("{days} days, no archive"),
    };
    assessment.table(
        "보존 / Retention",
        &["what", "value"],
        vec![
            vec![
                "customers (data subjects)".into(),
                facts.customers.to_string(),
            ],
            vec!["required".into(), format!("{required} days")],
            vec!["configured".into(), retention],
            vec![
                "oldest record held".into(),
                audit
                    .oldest_record
                    .map_or_else(|| "none".into(), kst_minute),
            ],
            vec![
                "checkpoint witness outside the data directory".into(),
                if audit.witness_configured {
                    "yes"
                } else {
                    "no"
                }
                .into(),
            ],
        ],
        "configuration: [audit]",
    );
    if let Some(days) = audit.retention_days
        && !audit.archive_configured
        && days < required
    {
        assessment.failure(format!(
            "Records are deleted after {days} days: {required} are required for {} data subjects.",
            facts.customers
        ));
    }
    trail_covers_the_store(facts, &mut assessment);
    assessment.note(
        "The vault holds no unique identifiers (resident, foreigner, passport or licence \
         numbers) and no sensitive data: the two-year rule applies by the number of data \
         subjects.",
    );
    let chain = &audit.chain;
    assessment.text(
        "위·변조 검증 / Chain verification",
        if chain.problems.is_empty() {
            format!(
                "{} records and {} signed checkpoints verified now: intact.",
                chain.records, chain.checkpoints
            )
        } else {
            format!(
                "{} records and {} checkpoints verified now: {} problems.",
                chain.records,
                chain.checkpoints,
                chain.problems.len()
            )
        },
        "haechi audit verify, run for this report",
    );
    for problem in &chain.problems {
        assessment.failure(format!("Audit chain: {problem}"));
    }
    match (&chain.witness_unreadable, chain.witness_matched) {
        (Some(why), _) => assessment.gap(format!(
            "The witness could not be read back to check the log's tail against it: {why}."
        )),
        (None, Some(matched)) => assessment.text(
            "증인 / Witness",
            format!("The log reaches and agrees with all {matched} checkpoints the witness holds."),
            "audit.witness, read back now",
        ),
        (None, None) => {}
    }
    if !audit.witness_configured {
        assessment.note(
            "No audit witness is configured: a cut of the log's tail together with its \
             checkpoints could not be proven (audit.witness).",
        );
    }
    let fields = &facts.activity.record_fields;
    assessment.table(
        "필수 항목 / Required fields in the period's personal-data records",
        &["field", "records missing it", "of"],
        vec![
            vec![
                "identifier (principal)".into(),
                fields.missing_principal.to_string(),
                fields.events.to_string(),
            ],
            vec!["time".into(), "0".into(), fields.events.to_string()],
            vec![
                "network address".into(),
                fields.missing_address.to_string(),
                fields.events.to_string(),
            ],
            vec![
                "data subject (customer)".into(),
                fields.missing_customer.to_string(),
                fields.events.to_string(),
            ],
            vec![
                "what was done (kind, fields)".into(),
                "none: part of every record".into(),
                fields.events.to_string(),
            ],
        ],
        "audit trail",
    );
    if fields.missing_principal > 0 || fields.missing_customer > 0 {
        assessment.gap(format!(
            "{} personal-data records lack the principal and {} the customer.",
            fields.missing_principal, fields.missing_customer
        ));
    }
    if fields.missing_address > 0 {
        assessment.note(format!(
            "{} personal-data records have no network address: acts of the local operator's \
             commands, which run on the host itself.",
            fields.missing_address
        ));
    }
    assessment
}

/// The trail must reach back to the store's oldest principal and key: a trail that begins
/// later lost its start (a wiped or replaced log starts a fresh, intact chain).
fn trail_covers_the_store(facts: &Facts, assessment: &mut Assessment) {
    if facts.audit.cluster_node {
        assessment.note(
            "This is a cluster node: the report reads this node's own chain; other nodes' acts \
             are in theirs.",
        );
        return;
    }
    let earliest = facts
        .principals
        .iter()
        .map(|principal| principal.created_at)
        .chain(
            facts
                .cryptography
                .signing_keys
                .iter()
                .map(|key| key.created_at),
        )
        .min();
    let Some(earliest) = earliest else {
        return;
    };
    // The log opens before the first key is made; a minute absorbs clocks read apart.
    let tolerance = std::time::Duration::from_secs(60);
    match facts.audit.oldest_record {
        Some(oldest) if oldest <= earliest.plus(tolerance) => {}
        Some(oldest) => assessment.failure(format!(
            "The trail begins at {}, after the store's oldest principal or key ({}): the \
             records of its start are missing.",
            kst_minute(oldest),
            kst_minute(earliest)
        )),
        None => assessment
            .failure("The trail holds no record, yet the store holds principals and keys."),
    }
}

fn assess_review(facts: &Facts) -> Assessment {
    let mut assessment = Assessment::default();
    if !judge_reviews(facts, &mut assessment) {
        return assessment;
    }
    let months = reviews(&facts.activity, facts.generated_at);
    let bulk: Vec<Vec<String>> = months
        .iter()
        .flat_map(|month| month.bulk_reads.iter())
        .map(|read| {
            vec![
                read.day.clone(),
                read.principal.clone(),
                format!(
                    "{}{}",
                    if read.at_least { "≥ " } else { "" },
                    read.customers
                ),
                if read.without_purpose == 0 {
                    "every access carried a purpose".into()
                } else {
                    format!("{} accesses without a purpose", read.without_purpose)
                },
            ]
        })
        .collect();
    assessment.table(
        &format!(
            "대량 조회 / Bulk reads (≥ {} customers by one principal in a day)",
            facts.bulk_read_customers
        ),
        &["day", "principal", "customers", "reason on record"],
        bulk,
        "audit trail: pii.read, pii.lookup",
    );
    if facts.bulk_read_customers > MAX_BULK_THRESHOLD {
        assessment.gap(format!(
            "A bulk read is counted from {} customers a day (at most {MAX_BULK_THRESHOLD}): \
             downloads below it go unreviewed.",
            facts.bulk_read_customers
        ));
    }
    for read in months.iter().flat_map(|month| month.bulk_reads.iter()) {
        if read.without_purpose > 0 {
            assessment.gap(format!(
                "{} read {} customers on {} and {} of those accesses carry no purpose: the \
                 download's reason is not on the record.",
                read.principal, read.customers, read.day, read.without_purpose
            ));
        }
    }
    let reads = &facts.activity.audit_reads;
    assessment.table(
        "접속기록 조회·반출 / Searches and exports of the trail",
        &["when", "who", "what", "reason"],
        reads
            .items
            .iter()
            .map(|read| {
                vec![
                    kst_minute(read.at),
                    read.principal.clone(),
                    read.what.clone(),
                    read.reason
                        .clone()
                        .unwrap_or_else(|| "none recorded".into()),
                ]
            })
            .collect(),
        "audit trail: admin.audit_read",
    );
    let unexplained = reads
        .items
        .iter()
        .filter(|read| read.reason.is_none())
        .count();
    if unexplained > 0 {
        assessment.gap(format!(
            "{unexplained} searches or exports of the trail were made without a recorded reason."
        ));
    }
    assessment
}

/// The monthly reviews' table and findings, shared by 2.5.6 and 2.9.5. False when no month
/// of the period is over (the control is then not applicable yet).
pub(super) fn judge_reviews(facts: &Facts, assessment: &mut Assessment) -> bool {
    let reviews = reviews(&facts.activity, facts.generated_at);
    let entries: Vec<_> = reviews
        .iter()
        .map(|review| review.entry(&facts.activity))
        .collect();
    assessment.table(
        "월별 점검 / Monthly reviews",
        &[
            "month",
            "accesses",
            "principals",
            "bulk reads",
            "alerts",
            "acknowledged",
        ],
        entries
            .iter()
            .map(|entry| {
                vec![
                    entry.month.clone(),
                    entry.accesses.to_string(),
                    entry.principals.to_string(),
                    entry.bulk_reads.to_string(),
                    entry.alerts.to_string(),
                    match (&entry.acknowledged, entry.closed) {
                        (Some(ack), _) => format!("{} at {}", ack.reviewer, ack.at),
                        (None, true) => "not acknowledged".into(),
                        (None, false) => "month not over".into(),
                    },
                ]
            })
            .collect(),
        "review job over the audit trail; audit.review_acknowledged",
    );
    // A month is due once it is over, if the trail had begun by its end: before its first
    // record there was nothing to review.
    let began = facts.audit.oldest_record;
    let closed: Vec<_> = entries
        .iter()
        .filter(|entry| entry.closed)
        .filter(|entry| {
            let month_end = entry
                .month
                .parse::<crate::period::YearMonth>()
                .map(|month| month.end());
            matches!((began, month_end), (Some(began), Ok(end)) if began < end)
        })
        .collect();
    if closed.is_empty() {
        assessment.not_applicable = Some(
            "No month of the period is both over and covered by the trail: no review is due yet."
                .into(),
        );
        return false;
    }
    let mut acknowledged = 0;
    for entry in &closed {
        if let Some(ack) = &entry.acknowledged
            && let Ok(month) = entry.month.parse::<crate::period::YearMonth>()
            && facts
                .activity
                .months
                .get(&month)
                .is_some_and(|activity| activity.per_principal.contains_key(&ack.reviewer))
        {
            assessment.gap(format!(
                "{}: acknowledged by {}, who read personal data that month: a review of one's \
                 own access is no review; another administrator should.",
                entry.month, ack.reviewer
            ));
        }
        if let Some(prepared) = &entry.prepared_digest
            && *prepared != entry.digest
        {
            assessment.gap(format!(
                "{}: the summary differs from the one the review job recorded when the month \
                 ended: records of a closed month changed.",
                entry.month
            ));
        }
        match &entry.acknowledged {
            None => assessment.gap(format!(
                "{}: the access review was not acknowledged by a reviewer.",
                entry.month
            )),
            Some(ack) if !ack.digest_matches => assessment.gap(format!(
                "{}: {} acknowledged a summary that differs from the trail now: review it again.",
                entry.month, ack.reviewer
            )),
            Some(_) => acknowledged += 1,
        }
    }
    if acknowledged == 0 {
        assessment.failure(format!(
            "None of the {} closed months' access reviews was acknowledged.",
            closed.len()
        ));
    }
    assessment.met_because = format!(
        "Every closed month ({}) was reviewed and acknowledged by a named reviewer; every bulk \
         read and export carries its reason.",
        closed.len()
    );
    true
}
