//! 2.5 인증 및 권한관리 — accounts, privileged accounts, and the review of access rights.

use super::{Assessment, Control, days_between};
use crate::facts::{Facts, PrincipalFacts};
use crate::period::kst_minute;

/// An account unused this long is dormant (the usual ISMS-P reading: a quarter).
const DORMANT_DAYS: u64 = 90;
/// PIPA safeguard standard art. 5(3): grant, change and revocation records kept 3 years.
const GRANT_HISTORY_DAYS: u64 = 3 * 365;

const SUBDOMAIN: &str = "2.5. 인증 및 권한관리 (Authentication and privileges)";

pub(super) const USER_ACCOUNTS: Control = Control {
    id: "2.5.1",
    name: "사용자 계정 관리 (User account management)",
    description: "정보시스템과 개인정보에 대한 비인가 접근을 통제하고 업무 목적에 따른 접근권한을 \
        최소한으로 부여할 수 있도록 사용자 등록·해지 및 접근권한 부여·변경·말소 절차를 수립·이행하여야 \
        한다. (Register and remove users and grant, change and revoke access by procedure, giving \
        each the least access its purpose needs.)",
    subdomain: SUBDOMAIN,
    checklist: &[
        "각 계정(서비스·관리자)이 식별되고 목적이 정해져 있는가 (every account identified, with its purposes)",
        "접근권한이 업무 목적별 최소한으로 부여되었는가 (least access per purpose)",
        "권한 부여·변경·말소 내역이 기록되고 3년 이상 보관되는가 (grant history kept three years)",
        "장기 미사용 계정이 식별·조치되는가 (dormant accounts found and removed)",
    ],
    regulations: &[
        "개인정보의 안전성 확보조치 기준 제5조 (access rights: least privilege, changes recorded and kept 3 years)",
        "개인정보 보호법 제29조 (duty of safeguards)",
    ],
    audit_evidence: &[
        "계정 목록과 목적 (principals and purposes)",
        "접근 정책 (the access policy's grants)",
        "권한 부여·변경 이력 (grant history from the audit trail)",
    ],
    non_compliance: &[
        "목적 없이 모든 필드를 평문으로 조회할 수 있는 계정 (an account reading every field in plaintext for any purpose)",
        "권한 변경 이력이 남지 않거나 3년 미만 보관 (grant history missing or kept < 3 years)",
        "퇴직자·미사용 계정 방치 (dormant accounts left enabled)",
    ],
    assess: assess_accounts,
};

pub(super) const PRIVILEGED_ACCOUNTS: Control = Control {
    id: "2.5.5",
    name: "특수 계정 및 권한 관리 (Privileged accounts)",
    description: "정보시스템 관리, 개인정보 관리 등 특수 목적을 위하여 사용하는 계정 및 권한은 최소한으로 \
        부여하고 별도로 식별하여 통제하여야 한다. (Accounts with special privileges are few, \
        identified separately and controlled.)",
    subdomain: SUBDOMAIN,
    checklist: &[
        "관리자 계정이 별도로 식별되는가 (administrators listed apart)",
        "관리자 자격증명이 안전하게 발급·보관되는가 (admin credentials issued and kept safely)",
        "미사용 관리자 계정이 없는가 (no unused administrators)",
    ],
    regulations: &["개인정보의 안전성 확보조치 기준 제5조 (access rights)"],
    audit_evidence: &[
        "관리자 목록, 생성일, 마지막 사용 (administrators, created, last use)",
        "자격증명 처리 방식 (how admin credentials are handled)",
    ],
    non_compliance: &[
        "공용 관리자 계정 사용, 미사용 관리자 계정 방치 (shared or unused administrators)",
    ],
    assess: assess_privileged,
};

pub(super) const ACCESS_RIGHTS_REVIEW: Control = Control {
    id: "2.5.6",
    name: "접근권한 검토 (Review of access rights)",
    description: "사용자 계정의 등록·이용·삭제 및 접근권한의 부여·변경·삭제 이력을 남기고, 주기적으로 \
        검토하여 적정성 여부를 점검하여야 한다. (Keep the history of accounts and grants and \
        review it periodically.)",
    subdomain: SUBDOMAIN,
    checklist: &[
        "접근권한 검토가 주기적으로(월 1회) 수행되고 검토자가 기록되는가 (monthly review by a named reviewer, recorded)",
        "검토 결과 이상(과다 조회, 대량 조회)에 조치하는가 (findings acted upon)",
    ],
    regulations: &[
        "개인정보의 안전성 확보조치 기준 제5조 (access rights)",
        "개인정보의 안전성 확보조치 기준 제8조 제2항 (monthly check of access records)",
    ],
    audit_evidence: &["월별 검토 요약과 확인 기록 (monthly summaries and acknowledgements)"],
    non_compliance: &["검토 기록이 없거나 형식적인 검토 (no record of review)"],
    assess: assess_review,
};

fn principal_row(facts: &Facts, principal: &PrincipalFacts) -> Vec<String> {
    let last_used = facts.activity.last_used.get(&principal.principal);
    vec![
        principal.principal.clone(),
        if principal.privileged {
            "administrator".into()
        } else {
            "service".into()
        },
        principal.scopes.join(", "),
        kst_minute(principal.created_at),
        last_used.map_or_else(|| "never (in the trail)".into(), |at| kst_minute(*at)),
        principal
            .suspended_at
            .map_or_else(String::new, |at| format!("suspended {}", kst_minute(at))),
    ]
}

const PRINCIPAL_COLUMNS: &[&str] = &[
    "principal",
    "kind",
    "purposes",
    "created",
    "last use",
    "state",
];

/// Dormancy and unrecorded creations, for the principals `which` selects.
fn judge_principals(
    facts: &Facts,
    assessment: &mut Assessment,
    which: impl Fn(&PrincipalFacts) -> bool,
) {
    let oldest = facts.audit.oldest_record;
    let created = &facts.activity.created;
    for principal in facts.principals.iter().filter(|p| which(p)) {
        if principal.suspended_at.is_some() {
            continue;
        }
        let last = facts
            .activity
            .last_used
            .get(&principal.principal)
            .copied()
            .unwrap_or(principal.created_at);
        let idle = days_between(last, facts.generated_at);
        if idle >= DORMANT_DAYS {
            assessment.gap(format!(
                "{} has not been used for {idle} days (dormant after {DORMANT_DAYS}): disable or remove it.",
                principal.principal
            ));
        }
        let trail_covers_creation = oldest.is_some_and(|oldest| oldest <= principal.created_at);
        if trail_covers_creation && !created.contains(&principal.principal) {
            assessment.failure(format!(
                "{} exists but its creation is not in the audit trail.",
                principal.principal
            ));
        }
    }
}

fn assess_accounts(facts: &Facts) -> Assessment {
    let mut assessment = Assessment {
        met_because: format!(
            "Every principal ({}) is named, with its purposes; the policy grants by service, \
             purpose and field; every creation and policy change is in the trail.",
            facts.principals.len()
        ),
        ..Assessment::default()
    };
    assessment.table(
        "계정 목록 / Principals",
        PRINCIPAL_COLUMNS,
        facts
            .principals
            .iter()
            .map(|principal| principal_row(facts, principal))
            .collect(),
        "store: clients; audit trail: last act",
    );
    assessment.table(
        "접근 정책 / Grants in force",
        &["service", "purposes", "fields", "access"],
        facts
            .grants
            .iter()
            .map(|grant| {
                vec![
                    grant.service.clone(),
                    grant.purposes.join(", "),
                    grant.fields.join(", "),
                    grant.access.clone(),
                ]
            })
            .collect(),
        "policy in force",
    );
    let changes = &facts.activity.grant_changes;
    let rows: Vec<Vec<String>> = changes
        .items
        .iter()
        .rev()
        .map(|change| {
            vec![
                kst_minute(change.at),
                change.actor.clone(),
                change.change.clone(),
            ]
        })
        .collect();
    assessment.table(
        "권한 부여·변경 이력 / Grant history (newest first)",
        &["when", "by", "change"],
        rows,
        "audit trail: admin.principal_created, admin.config_changed (policy_replaced)",
    );
    history_kept(facts, &mut assessment);
    let known: Vec<&str> = facts
        .cryptography
        .fields
        .iter()
        .map(|field| field.field.as_str())
        .collect();
    for grant in &facts.grants {
        // Every field, by `*` or by naming each one.
        let everything = grant.fields.iter().any(|field| field == "*")
            || (!known.is_empty()
                && known
                    .iter()
                    .all(|field| grant.fields.iter().any(|f| f == field)));
        let any_purpose = grant.purposes.iter().any(|purpose| purpose == "*");
        if grant.access == "plaintext" && (everything || grant.service == "*") && any_purpose {
            assessment.gap(format!(
                "The policy lets {} read {} in plaintext for any purpose: grant by purpose and field.",
                grant.service,
                grant.fields.join(", ")
            ));
        }
    }
    judge_principals(facts, &mut assessment, |principal| !principal.privileged);
    assessment
}

/// Grant history must outlive three years: kept when nothing is ever pruned, or when pruned
/// segments go to an archive first.
fn history_kept(facts: &Facts, assessment: &mut Assessment) {
    let kept = match facts.audit.retention_days {
        None => "kept forever in the live log (no retention configured)".to_string(),
        Some(days) if facts.audit.archive_configured => format!(
            "the live log keeps {days} days; older segments are kept in the archive, read back \
             identical before they leave the log"
        ),
        Some(days) => format!("the live log keeps {days} days and no archive is configured"),
    };
    let since = facts
        .audit
        .oldest_record
        .map_or_else(|| "no record yet".into(), kst_minute);
    assessment.text(
        "이력 보관 / How long the history is kept",
        format!("{kept}; oldest record held: {since}."),
        "configuration: [audit]; audit trail",
    );
    if let Some(days) = facts.audit.retention_days
        && !facts.audit.archive_configured
        && days < GRANT_HISTORY_DAYS
    {
        assessment.failure(format!(
            "Grant history is pruned after {days} days without an archive: PIPA safeguard \
             standard art. 5 asks for three years."
        ));
    }
}

fn assess_privileged(facts: &Facts) -> Assessment {
    let admins: Vec<&PrincipalFacts> = facts.principals.iter().filter(|p| p.privileged).collect();
    let mut assessment = Assessment {
        met_because: format!(
            "Administrators ({}): each a named account of its own, created on the record and in use.",
            admins.len()
        ),
        ..Assessment::default()
    };
    assessment.table(
        "관리자 계정 / Administrators",
        PRINCIPAL_COLUMNS,
        admins
            .iter()
            .map(|admin| principal_row(facts, admin))
            .collect(),
        "store: clients; audit trail: last act",
    );
    assessment.text(
        "관리자 자격증명 / Admin credential handling",
        "Each administrator is a client of its own (no shared account): a 256-bit random secret \
         shown once at creation, stored only as HMAC-SHA-256 under a key in custody, exchanged for \
         short-lived access tokens whose every use is recorded. The network never acts as the \
         local operator: `haechi serve` accepts privileged acts only with an administrator's token.",
        "token authority (clients)",
    );
    if admins.is_empty() {
        assessment.note("No administrator exists: privileged acts are only possible locally.");
    }
    judge_principals(facts, &mut assessment, |principal| principal.privileged);
    assessment
}

fn assess_review(facts: &Facts) -> Assessment {
    let mut assessment = Assessment::default();
    if super::access_records::judge_reviews(facts, &mut assessment) {
        assessment.met_because = format!(
            "Every closed month was reviewed by a named reviewer, with the principals, their \
             grants and {} recorded grant changes before them.",
            facts.activity.grant_changes.total()
        );
    }
    assessment
}
