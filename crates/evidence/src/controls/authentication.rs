//! 2.5.3 사용자 인증, 2.5.4 비밀번호 관리 — sign-in limits and password hashing in force.

use super::{Assessment, Control};
use crate::facts::Facts;

const SUBDOMAIN: &str = "2.5. 인증 및 권한관리 (Authentication and privileges)";

/// Failed sign-ins per account beyond which the limit no longer protects (KISA's guidance
/// names five; ten is the loosest reading auditors accept).
const MAX_FAILURES_PER_ACCOUNT: u32 = 10;
/// A lockout shorter than this lets a guesser resume almost at once.
const MIN_WINDOW_SECS: u64 = 300;
/// Attempts per source beyond this are no limit for a guesser from one network.
const MAX_ATTEMPTS_PER_SOURCE: u32 = 1_000;
/// Access tokens living longer than this outlast the revocation story.
const MAX_ACCESS_TTL_SECS: u64 = 3600;
/// OWASP's minimum Argon2id configurations (memory KiB, iterations), any lane count.
const ARGON2ID_MINIMUMS: &[(u32, u32)] = &[
    (47_104, 1),
    (19_456, 2),
    (12_288, 3),
    (9_216, 4),
    (7_168, 5),
];

pub(super) const USER_AUTHENTICATION: Control = Control {
    id: "2.5.3",
    name: "사용자 인증 (User authentication)",
    description: "정보시스템과 개인정보에 대한 사용자의 접근은 안전한 인증절차와 필요에 따라 강화된 \
        인증방식을 적용하여야 한다. 또한 로그인 횟수 제한, 불법 로그인 시도 경고 등 비인가자 접근 \
        통제방안을 수립·이행하여야 한다. (Safe authentication, with login limits and warnings \
        against unauthorised attempts.)",
    subdomain: SUBDOMAIN,
    checklist: &[
        "로그인 실패 횟수 제한이 적용되는가 (failed sign-ins limited per account)",
        "출발지별 시도 제한이 적용되는가 (attempts limited per source)",
        "세션·토큰 유효시간이 제한되는가 (sessions and tokens expire)",
    ],
    regulations: &[
        "개인정보의 안전성 확보조치 기준 제5조 제6항 (access limited after repeated failures)",
        "개인정보의 안전성 확보조치 기준 제6조 (access control)",
    ],
    audit_evidence: &[
        "적용 중인 로그인 제한 설정 (login limits in force)",
        "기간 중 로그인 거부 현황 (refused sign-ins in the period)",
    ],
    non_compliance: &["로그인 실패 횟수 제한 미적용 (no limit on failed sign-ins)"],
    assess: assess_authentication,
};

pub(super) const PASSWORDS: Control = Control {
    id: "2.5.4",
    name: "비밀번호 관리 (Password management)",
    description: "법적 요구사항, 외부 위협요인 등을 고려하여 정보시스템 사용자 및 정보주체가 사용하는 \
        비밀번호 관리절차를 수립·이행하여야 한다. (Password rules for users and customers, \
        considering the law and current threats.)",
    subdomain: SUBDOMAIN,
    checklist: &[
        "비밀번호가 일방향 암호화(안전한 해시)로 저장되는가 (stored with a safe one-way hash)",
        "비밀번호 길이 규칙이 적용되는가 (length rule enforced)",
    ],
    regulations: &[
        "개인정보의 안전성 확보조치 기준 제7조 제2항 (passwords stored one-way encrypted)",
        "개인정보의 안전성 확보조치 기준 제5조 제5항 (password rules)",
    ],
    audit_evidence: &["해시 알고리즘과 파라미터 (hash algorithm and parameters)"],
    non_compliance: &[
        "평문 또는 취약한 해시(MD5, SHA-1, 솔트 없는 해시)로 저장 (plaintext or weak hashes)",
    ],
    assess: assess_passwords,
};

fn assess_authentication(facts: &Facts) -> Assessment {
    let auth = &facts.authentication;
    let mut assessment = Assessment {
        met_because: format!(
            "An account is locked after {} failed sign-ins and a source after {} attempts within \
             {} s; access tokens live {} s.",
            auth.failures_per_account,
            auth.attempts_per_source,
            auth.window_secs,
            auth.access_ttl_secs
        ),
        ..Assessment::default()
    };
    assessment.table(
        "적용 중인 설정 / Settings in force",
        &["setting", "value"],
        vec![
            row("failed sign-ins per account", auth.failures_per_account),
            row(
                "attempts per source (IPv4, IPv6 /64)",
                auth.attempts_per_source,
            ),
            row("window (s)", auth.window_secs),
            row("access-token lifetime (s)", auth.access_ttl_secs),
            row("session (refresh) lifetime (s)", auth.refresh_ttl_secs),
        ],
        "configuration: [login], [token]",
    );
    assessment.table(
        "로그인 거부 / Sign-ins refused in the period",
        &["reason", "count"],
        facts
            .activity
            .sign_in_refusals
            .iter()
            .map(|(reason, count)| vec![reason.clone(), count.to_string()])
            .collect(),
        "audit trail: auth.login_failed",
    );
    if auth.failures_per_account == 0 || auth.attempts_per_source == 0 {
        assessment.failure("A sign-in limit is zero: it is switched off.");
    } else if auth.failures_per_account > MAX_FAILURES_PER_ACCOUNT {
        assessment.gap(format!(
            "An account is locked only after {} failures (at most {MAX_FAILURES_PER_ACCOUNT}; \
             KISA's guidance is five).",
            auth.failures_per_account
        ));
    }
    if auth.window_secs < MIN_WINDOW_SECS {
        assessment.gap(format!(
            "Failed sign-ins are counted over {} s only (at least {MIN_WINDOW_SECS} s): a guesser \
             resumes almost at once.",
            auth.window_secs
        ));
    }
    if auth.attempts_per_source > MAX_ATTEMPTS_PER_SOURCE {
        assessment.gap(format!(
            "A source may try {} sign-ins in the window (at most {MAX_ATTEMPTS_PER_SOURCE}).",
            auth.attempts_per_source
        ));
    }
    if auth.access_ttl_secs > MAX_ACCESS_TTL_SECS {
        assessment.gap(format!(
            "Access tokens live {} s (at most {MAX_ACCESS_TTL_SECS} s).",
            auth.access_ttl_secs
        ));
    }
    assessment.note(
        "Administrators and services authenticate with a client secret over TLS; a second \
         factor for administrators (mTLS or OTP at the gateway) is the deployment's to add.",
    );
    assessment
}

fn assess_passwords(facts: &Facts) -> Assessment {
    let auth = &facts.authentication;
    let mut assessment = Assessment {
        met_because: format!(
            "Customer passwords are hashed with Argon2id (m = {} KiB, t = {}, p = {}), at or \
             above OWASP's minimum; 8 to 256 characters are required.",
            auth.password_memory_kib, auth.password_iterations, auth.password_parallelism
        ),
        ..Assessment::default()
    };
    assessment.table(
        "비밀번호 저장 / How passwords are stored",
        &["what", "how"],
        vec![
            vec![
                "customer passwords".into(),
                format!(
                    "Argon2id, m = {} KiB, t = {}, p = {}, 16-byte random salt (PHC string)",
                    auth.password_memory_kib, auth.password_iterations, auth.password_parallelism
                ),
            ],
            vec![
                "length rule".into(),
                "8 to 256 characters (Unicode characters counted)".into(),
            ],
            vec![
                "service and admin secrets".into(),
                "256-bit random, shown once; HMAC-SHA-256 under a key in custody stored".into(),
            ],
        ],
        "configuration: [password]; token authority",
    );
    let strong = ARGON2ID_MINIMUMS.iter().any(|(memory, iterations)| {
        auth.password_memory_kib >= *memory && auth.password_iterations >= *iterations
    });
    if !strong {
        assessment.failure(format!(
            "Argon2id with m = {} KiB and t = {} is below OWASP's minimum (e.g. 19,456 KiB with \
             t = 2).",
            auth.password_memory_kib, auth.password_iterations
        ));
    }
    if auth.password_parallelism == 0 {
        assessment.failure("Argon2id parallelism is zero.");
    }
    assessment
}

fn row(setting: &str, value: impl ToString) -> Vec<String> {
    vec![setting.to_string(), value.to_string()]
}
