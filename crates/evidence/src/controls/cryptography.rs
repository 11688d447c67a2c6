//! 2.7 암호화 적용 — what is encrypted and how, a fresh plaintext scan, and the key register.

use super::{Assessment, Control, days_between};
use crate::facts::{Facts, MasterKeySource};
use crate::period::kst_minute;

const SUBDOMAIN: &str = "2.7. 암호화 적용 (Cryptography)";
/// A signing key in use longer than a year is not rotated in any sense an auditor accepts.
const MAX_ROTATION_DAYS: u64 = 365;

pub(super) const CRYPTOGRAPHIC_POLICY: Control = Control {
    id: "2.7.1",
    name: "암호정책 적용 (Cryptographic policy)",
    description: "개인정보 및 주요정보 보호를 위하여 법적 요구사항을 반영한 암호화 대상, 암호 강도, 암호 \
        사용 정책을 수립하고 개인정보 및 주요정보의 저장·전송·전달 시 암호화를 적용하여야 한다. \
        (Encrypt personal data at rest and in transit, with strong algorithms, by policy.)",
    subdomain: SUBDOMAIN,
    checklist: &[
        "저장 시 암호화 대상과 알고리즘이 정해져 적용되는가 (what is encrypted at rest, and how)",
        "저장소에 평문 개인정보가 없는가 (no plaintext personal data at rest)",
    ],
    regulations: &[
        "개인정보의 안전성 확보조치 기준 제7조 (encryption of personal data)",
        "개인정보 보호법 시행령 제30조",
    ],
    audit_evidence: &[
        "필드별 암호화 방식 (encryption per field)",
        "데이터 디렉터리 평문 검사 결과 (plaintext scan of the data directory)",
    ],
    non_compliance: &[
        "DB·로그·백업 파일에 평문 개인정보 저장 (plaintext in the database, logs or backups)",
    ],
    assess: assess_policy,
};

pub(super) const KEY_MANAGEMENT: Control = Control {
    id: "2.7.2",
    name: "암호키 관리 (Cryptographic key management)",
    description: "암호키의 안전한 생성·이용·보관·배포·파기를 위한 관리 절차를 수립·이행하고, 필요 시 \
        복구방안을 마련하여야 한다. (Generate, use, keep, distribute and destroy keys safely.)",
    subdomain: SUBDOMAIN,
    checklist: &[
        "암호키 대장이 관리되는가 (a key register with ages and states)",
        "키 교체 주기가 지켜지는가 (rotation on schedule)",
        "마스터키가 데이터와 분리 보관되는가 (master key kept apart from the data)",
        "유출된 키가 폐기되는가 (compromised keys revoked)",
    ],
    regulations: &["개인정보의 안전성 확보조치 기준 제7조 제6항 (key management procedure)"],
    audit_evidence: &[
        "서명키 대장: 생성·활성·폐기 일자 (signing key register)",
        "키 교체·폐기 이력 (rotations and revocations)",
        "마스터키 보관 위치 (master key source)",
    ],
    non_compliance: &[
        "암호키를 데이터와 같은 위치에 평문 보관 (key stored in plaintext beside the data)",
        "키 교체 주기 미준수 (keys never rotated)",
    ],
    assess: assess_keys,
};

fn assess_policy(facts: &Facts) -> Assessment {
    let crypto = &facts.cryptography;
    let scan = &crypto.scan;
    let mut assessment = Assessment {
        met_because: format!(
            "Every personal field is encrypted with AES-256-GCM under a per-customer data key; a \
             scan of {} files ({} bytes) in the data directory found no plaintext personal data.",
            scan.files, scan.bytes
        ),
        ..Assessment::default()
    };
    assessment.table(
        "필드별 암호화 / Encryption per field",
        &["field", "at rest", "lookup"],
        crypto
            .fields
            .iter()
            .map(|field| {
                vec![
                    field.field.clone(),
                    field.encryption.clone(),
                    if field.blind_index {
                        format!(
                            "blind index: HMAC-SHA-256 truncated to {} bits",
                            crypto.blind_index_bits
                        )
                    } else {
                        "none".into()
                    },
                ]
            })
            .collect(),
        "vault",
    );
    assessment.text(
        "평문 검사 / Plaintext scan of the data directory",
        format!(
            "{} files, {} bytes read for this report with the leak scanner's recognisers \
             (phone numbers, e-mail addresses, resident and foreigner registration numbers, \
             passports, licences, cards, customs codes): {} files with hits.",
            scan.files,
            scan.bytes,
            scan.hits.len()
        ),
        "data directory, scanned now",
    );
    for hit in &scan.hits {
        let kinds: Vec<String> = hit
            .kinds
            .iter()
            .map(|(kind, count)| format!("{count} × {kind}"))
            .collect();
        assessment.failure(format!(
            "{} holds what looks like plaintext personal data: {}.",
            hit.file,
            kinds.join(", ")
        ));
    }
    for file in &scan.unreadable {
        assessment.gap(format!("{file} could not be scanned."));
    }
    if facts.audit.cluster_node {
        assessment.note(
            "The store is a cluster's PostgreSQL: its files are the database server's, outside \
             this data directory, and were not scanned here.",
        );
    }
    assessment.note(
        "Encryption in transit is the deployment's: Haechi listens on HTTP behind the \
         company's TLS-terminating proxy (server.trusted_proxies).",
    );
    assessment
}

fn assess_keys(facts: &Facts) -> Assessment {
    let crypto = &facts.cryptography;
    let now = facts.generated_at;
    let mut assessment = Assessment {
        met_because: format!(
            "{} signing keys are registered with their states and ages; the active key is younger \
             than its {}-day rotation; the master key is kept outside the data directory.",
            crypto.signing_keys.len(),
            crypto.rotation_interval_days
        ),
        ..Assessment::default()
    };
    assessment.table(
        "서명키 대장 / Signing key register",
        &[
            "kid",
            "algorithm",
            "state",
            "created",
            "age (days)",
            "origin",
            "ended",
        ],
        crypto
            .signing_keys
            .iter()
            .map(|key| {
                vec![
                    key.kid.clone(),
                    key.algorithm.clone(),
                    key.state.clone(),
                    kst_minute(key.created_at),
                    days_between(key.created_at, now).to_string(),
                    if key.imported {
                        "imported".into()
                    } else {
                        "generated in custody".into()
                    },
                    key.ended_at.map_or_else(String::new, kst_minute),
                ]
            })
            .collect(),
        "store: signing keys",
    );
    assessment.table(
        "키 교체·폐기 이력 / Key lifecycle events (newest first)",
        &["when", "event", "kid", "reason"],
        crypto_events(facts),
        "audit trail: key.*",
    );
    assessment.text(
        "보관 중인 비밀 / Named secrets in custody",
        format!(
            "{} (each wrapped with AES-256-GCM under the master key, bound to its name).",
            crypto.named_secrets.join(", ")
        ),
        "store: secrets (names only)",
    );
    let source = match crypto.master_key_source {
        MasterKeySource::Environment => "the HAECHI_MASTER_KEY environment variable",
        MasterKeySource::ConfigurationValue => "a value written in the configuration",
        MasterKeySource::FileOutsideDataDir => "a file outside the data directory",
        MasterKeySource::GeneratedInDataDir => {
            "the file a trial install generated inside the data directory"
        }
    };
    assessment.text(
        "마스터키 / Master key",
        format!(
            "Read from {source}; it wraps every data key and secret and is never stored by Haechi."
        ),
        "configuration",
    );
    if crypto.master_key_source == MasterKeySource::ConfigurationValue {
        assessment.gap(
            "The master key is written in a configuration file: configuration is copied into \
             backups and repositories. Give it as HAECHI_MASTER_KEY or in a file of its own.",
        );
    }
    if crypto.master_key_source == MasterKeySource::GeneratedInDataDir {
        assessment.failure(
            "The master key lies in the data directory beside what it protects: a copy of the \
             directory is a copy of every key. Move it to a file outside or the environment.",
        );
    }
    if crypto.rotation_interval_days > MAX_ROTATION_DAYS {
        assessment.gap(format!(
            "Signing keys rotate every {} days (at most {MAX_ROTATION_DAYS}).",
            crypto.rotation_interval_days
        ));
    }
    let active: Vec<_> = crypto
        .signing_keys
        .iter()
        .filter(|key| key.state == "active")
        .collect();
    if active.is_empty() {
        assessment.failure("No signing key is active.");
    }
    for key in active {
        let age = days_between(key.created_at, now);
        if age > crypto.rotation_interval_days {
            assessment.gap(format!(
                "The active signing key {} is {age} days old, past its {}-day rotation.",
                key.kid, crypto.rotation_interval_days
            ));
        }
        if key.imported {
            assessment.note(format!(
                "The active key {} was imported: copies made before the import may exist; the \
                 issuance ledger refuses tokens it did not issue.",
                key.kid
            ));
        }
    }
    assessment
}

fn crypto_events(facts: &Facts) -> Vec<Vec<String>> {
    facts
        .activity
        .key_events
        .items
        .iter()
        .rev()
        .map(|event| {
            vec![
                kst_minute(event.at),
                event.kind.clone(),
                event.kid.clone().unwrap_or_default(),
                event.reason.clone().unwrap_or_default(),
            ]
        })
        .collect()
}
