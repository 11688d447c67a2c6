//! The facts a report is assessed from, as plain data.
//!
//! Whoever gathers them (the server's `EvidenceDesk`, for the API and the command line)
//! reads the store, the configuration, the audit trail and the data directory; the controls
//! only judge. So every judgement is a pure function of these values and is tested on them.

use std::collections::BTreeMap;

use haechi_events::Timestamp;

use crate::activity::Activity;
use crate::period::Period;

/// Everything the controls judge.
#[derive(Debug, Clone)]
pub struct Facts {
    /// The period assessed.
    pub period: Period,
    /// When the facts were gathered: the assessment date.
    pub generated_at: Timestamp,
    /// Who asked for the report.
    pub generated_by: String,
    /// The company's name.
    pub organisation: String,
    /// Customers in the vault now.
    pub customers: u64,
    /// Principals (services and administrators) and what they may read.
    pub principals: Vec<PrincipalFacts>,
    /// The access policy's grants in force.
    pub grants: Vec<GrantFacts>,
    /// Sign-in protections in force.
    pub authentication: AuthenticationFacts,
    /// How personal data and keys are protected.
    pub cryptography: CryptographyFacts,
    /// How the audit trail is kept.
    pub audit: AuditFacts,
    /// What the trail shows for the period (and before it, for grants and keys).
    pub activity: Activity,
    /// Breach drills found in the drill reports directory.
    pub drills: DrillFacts,
    /// The bulk-read threshold: distinct customers one principal reads in one day.
    pub bulk_read_customers: u64,
}

/// A service or an administrator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalFacts {
    /// `service:NAME` or `admin:NAME`.
    pub principal: String,
    /// Whether it is an administrator (a privileged account).
    pub privileged: bool,
    /// Purposes a service may declare (`admin` for an administrator).
    pub scopes: Vec<String>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When containment suspended it, if it is suspended.
    pub suspended_at: Option<Timestamp>,
}

/// One grant of the access policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantFacts {
    /// The service (`*` for every service).
    pub service: String,
    /// The purposes it covers.
    pub purposes: Vec<String>,
    /// The fields (`*` for every field).
    pub fields: Vec<String>,
    /// `masked` or `plaintext`.
    pub access: String,
}

/// Sign-in protections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticationFacts {
    /// Failed sign-ins per account before it is locked for the window.
    pub failures_per_account: u32,
    /// Sign-in attempts per source address in the window.
    pub attempts_per_source: u32,
    /// The window, in seconds.
    pub window_secs: u64,
    /// Access-token lifetime, in seconds.
    pub access_ttl_secs: u64,
    /// Refresh-token (session) lifetime, in seconds.
    pub refresh_ttl_secs: u64,
    /// Argon2id memory cost, KiB.
    pub password_memory_kib: u32,
    /// Argon2id iterations.
    pub password_iterations: u32,
    /// Argon2id lanes.
    pub password_parallelism: u32,
}

/// Encryption and keys.
#[derive(Debug, Clone, PartialEq)]
pub struct CryptographyFacts {
    /// Each personal field and how it is stored.
    pub fields: Vec<FieldProtection>,
    /// Bits of the truncated blind indexes.
    pub blind_index_bits: u32,
    /// The plaintext scan of the data directory made for this report.
    pub scan: ScanResult,
    /// Where the master key comes from.
    pub master_key_source: MasterKeySource,
    /// The token-signing keys ever in custody.
    pub signing_keys: Vec<SigningKeyFacts>,
    /// How often the active signing key is rotated, in days.
    pub rotation_interval_days: u64,
    /// Named secrets in custody (names only).
    pub named_secrets: Vec<String>,
}

/// How one personal field is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProtection {
    /// The field.
    pub field: String,
    /// How (`AES-256-GCM, per-customer data key`).
    pub encryption: String,
    /// Whether it has a blind index for lookups.
    pub blind_index: bool,
}

/// Where the master key (the key-encryption key) is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterKeySource {
    /// An environment variable (`HAECHI_MASTER_KEY`).
    Environment,
    /// `master_key = …` written in a configuration file.
    ConfigurationValue,
    /// A file outside the data directory.
    FileOutsideDataDir,
    /// The file a trial install generated inside the data directory: beside what it protects.
    GeneratedInDataDir,
}

/// A token-signing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyFacts {
    /// Key id.
    pub kid: String,
    /// `EdDSA` or `ES256`.
    pub algorithm: String,
    /// `active`, `retiring`, `retired`, `revoked`, `pending`.
    pub state: String,
    /// When it was generated or imported.
    pub created_at: Timestamp,
    /// Whether it was imported (copies made before the import may exist).
    pub imported: bool,
    /// When it stopped being usable (retired or revoked), if it has.
    pub ended_at: Option<Timestamp>,
}

/// The plaintext scan of the data directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanResult {
    /// Files read.
    pub files: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Files and what looked like personal data in them (kind and count; never the value).
    pub hits: Vec<ScanHit>,
    /// Files that could not be read, with why.
    pub unreadable: Vec<String>,
}

/// Personal data found in plaintext in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanHit {
    /// The file, relative to the data directory.
    pub file: String,
    /// What kind (`phone`, `email`, …) and how many.
    pub kinds: BTreeMap<String, u64>,
}

/// How the audit trail is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditFacts {
    /// How long the live log keeps archived segments (`None`: forever).
    pub retention_days: Option<u64>,
    /// Whether sealed segments are exported to an archive directory.
    pub archive_configured: bool,
    /// Whether signed checkpoints go to a witness outside the data directory.
    pub witness_configured: bool,
    /// The chain check made for this report.
    pub chain: ChainFacts,
    /// The oldest record the trail still holds (live log or archive).
    pub oldest_record: Option<Timestamp>,
    /// Whether this is a cluster's node, whose trail is its own chain (other nodes' acts are in
    /// theirs).
    pub cluster_node: bool,
}

/// The result of verifying the audit chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainFacts {
    /// Records checked.
    pub records: u64,
    /// The newest record's seq.
    pub last_seq: u64,
    /// Signed checkpoints checked.
    pub checkpoints: u64,
    /// The seq the newest signed checkpoint covers.
    pub last_signed_seq: u64,
    /// How many of the witness's checkpoints the log reached and agreed with (none without a
    /// witness, or when it could not be read back).
    pub witness_matched: Option<u64>,
    /// Why the witness could not be read back, if it could not.
    pub witness_unreadable: Option<String>,
    /// Problems found, as `haechi audit verify` words them.
    pub problems: Vec<String>,
}

/// Breach drills.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DrillFacts {
    /// The directory read, if one is configured.
    pub directory: Option<String>,
    /// Reports found, oldest first.
    pub runs: Vec<DrillRun>,
    /// Files named `report.json` that are not drill reports, with why.
    pub unreadable: Vec<String>,
}

/// One drill's report.
#[derive(Debug, Clone, PartialEq)]
pub struct DrillRun {
    /// Scenario.
    pub scenario: String,
    /// When the report was written.
    pub run_at: Timestamp,
    /// Whether every bar was met.
    pub passed: bool,
    /// Seconds from the attack's first step to its first alert.
    pub time_to_first_alert_secs: Option<f64>,
    /// Seconds from the attack's first step to containment.
    pub time_to_containment_secs: Option<f64>,
    /// Customers the attacker received before containment.
    pub customers_exposed_before_containment: u64,
    /// SHA-256 of the report file (hex): which file this is.
    pub digest: String,
}
