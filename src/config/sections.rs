//! The sections of `haechi.toml`, one struct each, with their defaults and the checks that
//! belong to one section alone. Checks across sections live in [`super::Config`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use haechi_token::TokenPolicy;
use serde::{Deserialize, Serialize};

/// Facilities for breach drills (`haechi drill`) and tests, all off by default.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DrillSection {
    /// Run the server on a simulated clock that an administrator moves forward with
    /// `POST /v1/admin/drill/clock`, so that months of traffic replay in minutes. Dangerous:
    /// whoever holds an admin credential can then expire tokens, sessions, blocks and quota
    /// windows at will. Only for a drill's own server.
    pub dangerous_simulated_clock: bool,
    /// Where the simulated clock starts (RFC 3339; required with the simulated clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
}

/// The public exposure checks (see docs/exposure-check.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExposureSection {
    /// Evaluations of `POST /v1/exposure/check` one source (an IPv4 address, an IPv6 /64) may
    /// ask for a second, sustained. Each tests one guess of an identifier.
    pub check_per_source_per_second: f64,
    /// Evaluations one source may ask for at once.
    pub check_burst: u32,
    /// Evaluations a second for every source together (one takes ≈ 45–100 µs of a core,
    /// BENCHMARKS.md).
    pub check_global_per_second: f64,
    /// Treat `check_global_per_second` as a ceiling: while the threads answering the checks
    /// wait for the CPU, the node grants fewer evaluations a second (down to a tenth of the
    /// ceiling) and refuses the rest at once, so the crowd is answered in milliseconds rather
    /// than queued for seconds; it climbs back when the wait ends (docs/portal.md).
    pub check_follows_load: bool,
    /// Serve `GET /v1/exposure/range/{prefix}`, the Have I Been Pwned range format. Dangerous:
    /// the ranges are the SHA-1 of every exposed e-mail and phone, and there are only 10^8
    /// Korean mobile numbers, so anyone who downloads them inverts every exposed phone — it
    /// publishes the list. Off by default; `POST /v1/exposure/check` answers the same
    /// question without publishing anything.
    pub dangerous_public_sha1_ranges: bool,
}

impl Default for ExposureSection {
    fn default() -> Self {
        let budget = haechi_server::CheckBudget::default();
        ExposureSection {
            check_per_source_per_second: budget.per_source_per_second,
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "the default burst is a small whole number"
            )]
            check_burst: budget.per_source_burst as u32,
            check_global_per_second: budget.global_per_second,
            check_follows_load: budget.follows_load,
            dangerous_public_sha1_ranges: false,
        }
    }
}

impl ExposureSection {
    /// The check's budgets, validated.
    pub fn check_budget(&self) -> anyhow::Result<haechi_server::CheckBudget> {
        let rate = |name: &str, value: f64| {
            if value.is_finite() && value > 0.0 {
                Ok(value)
            } else {
                Err(anyhow::anyhow!(
                    "exposure.{name} must be a positive number of checks a second, not {value}"
                ))
            }
        };
        if self.check_burst == 0 {
            anyhow::bail!("exposure.check_burst must be at least 1");
        }
        Ok(haechi_server::CheckBudget {
            per_source_per_second: rate(
                "check_per_source_per_second",
                self.check_per_source_per_second,
            )?,
            per_source_burst: f64::from(self.check_burst),
            global_per_second: rate("check_global_per_second", self.check_global_per_second)?,
            follows_load: self.check_follows_load,
        })
    }
}

/// The exposure portal (see docs/portal.md): its signed-in lane — sign-in and a customer's
/// own exposures are admitted at a rate the node sustains, queued briefly beyond it and shed
/// at once beyond the queue (503, `Retry-After`, a page that retries by itself) — and, when
/// set, a listener of its own at a lower priority than the rest of the server.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PortalSection {
    /// A listener serving the portal alone (its pages, the anonymous check, the statements,
    /// "is this message from us?", a customer's own exposures, the probes), on threads of its
    /// own that run at `nice`: point the public hostname here, and a surge of the public then
    /// takes only the CPU the API, operators and detection leave. Unset: the portal is served
    /// on `listen` only, beside everything else.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// How much lower than the rest of the server the portal listener's threads run: a Linux
    /// nice value from 0 (the same) to 19 (the lowest). Default 10: under contention the
    /// kernel gives a thread at 0 about nine times the CPU of one at 10.
    pub nice: i32,
    /// The portal listener's worker threads (default: one per core, so the portal still
    /// uses every core the rest of the server leaves idle).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
    /// The public's requests (the portal's pages and JSON, the anonymous check, the
    /// statements, "is this message from us?") the node answers at once, on every listener
    /// together; one more is refused at once with 503 and `Retry-After` (default 256).
    pub max_in_flight: usize,
    /// Signed-in requests admitted a second, sustained.
    pub signed_in_per_second: f64,
    /// Admitted at once beyond the rate.
    pub signed_in_burst: u32,
    /// Requests that may wait for their turn.
    pub signed_in_queue: u32,
    /// The longest a request waits for its turn (`100ms`).
    #[serde(with = "humantime_serde")]
    pub signed_in_max_wait: Duration,
    /// What a shed answer's `Retry-After` says (`5s`).
    #[serde(with = "humantime_serde")]
    pub retry_after: Duration,
}

impl Default for PortalSection {
    fn default() -> Self {
        let admission = haechi_server::admission::AdmissionSettings::default();
        PortalSection {
            listen: None,
            nice: 10,
            threads: None,
            max_in_flight: 256,
            signed_in_per_second: admission.per_second,
            signed_in_burst: admission.burst,
            signed_in_queue: admission.queue,
            signed_in_max_wait: admission.max_wait,
            retry_after: Duration::from_secs(admission.retry_after_secs),
        }
    }
}

impl PortalSection {
    /// `max_in_flight`, validated.
    pub fn crowd_in_flight(&self) -> anyhow::Result<usize> {
        if !(1..=1_000_000).contains(&self.max_in_flight) {
            anyhow::bail!(
                "portal.max_in_flight must be between 1 and 1000000, not {}",
                self.max_in_flight
            );
        }
        Ok(self.max_in_flight)
    }

    /// The portal listener's priority and threads, validated; `None` when it is not set.
    pub fn own_listener(&self) -> anyhow::Result<Option<PortalListener>> {
        if !(0..=19).contains(&self.nice) {
            anyhow::bail!(
                "portal.nice must be between 0 (the server's own priority) and 19 (the \
                 lowest), not {}: the portal may run below the rest of the server, never above",
                self.nice
            );
        }
        if self.threads == Some(0) || self.threads.is_some_and(|threads| threads > 1024) {
            anyhow::bail!("portal.threads must be between 1 and 1024");
        }
        let Some(address) = self.listen else {
            return Ok(None);
        };
        Ok(Some(PortalListener {
            address,
            nice: self.nice,
            threads: self.threads,
        }))
    }

    /// The signed-in lane's admission, validated.
    pub fn admission(&self) -> anyhow::Result<haechi_server::admission::AdmissionSettings> {
        let rate = self.signed_in_per_second;
        if !(rate.is_finite() && rate > 0.0) {
            anyhow::bail!("portal.signed_in_per_second must be a positive number, not {rate}");
        }
        if self.retry_after.is_zero() || self.retry_after > Duration::from_secs(3600) {
            anyhow::bail!("portal.retry_after must be between 1s and 1h");
        }
        if self.signed_in_max_wait > Duration::from_secs(30) {
            anyhow::bail!("portal.signed_in_max_wait must be at most 30s: a longer wait is a hang");
        }
        Ok(haechi_server::admission::AdmissionSettings {
            per_second: rate,
            burst: self.signed_in_burst,
            queue: self.signed_in_queue,
            max_wait: self.signed_in_max_wait,
            retry_after_secs: self.retry_after.as_secs().max(1),
        })
    }
}

/// Where and how the portal listener runs ([`PortalSection::own_listener`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortalListener {
    pub address: SocketAddr,
    /// The threads' nice value, 0–19.
    pub nice: i32,
    pub threads: Option<usize>,
}

/// The audit trail's archive, retention, witness and disk watch (see docs/audit.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSection {
    /// How long records stay in the live log (`30d`, `12h`, …). Unset: forever, nothing is
    /// pruned. When set, `haechi serve` deletes sealed segments whose records are all older,
    /// but only once they are in the Parquet archive; `haechi audit prune` uses it as its
    /// default age.
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub retention: Option<Duration>,
    /// Where sealed segments are exported as Parquet. When set, `haechi serve` exports each
    /// sealed segment there as it goes (so retention has something to prune), and it is the
    /// default of `haechi audit export --to`. Unset: export is up to the operator.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archive_dir: Option<PathBuf>,
    /// Where every signed checkpoint is also sent, outside the data directory:
    /// `file:///PATH` (an append-only file, one JSON checkpoint a line, fsynced) or
    /// `http://HOST/PATH` (each checkpoint POSTed as JSON). `haechi audit verify --witness` then
    /// catches records cut off the end of the log. Unset: no witness (a cut tail that takes
    /// its checkpoints with it goes unnoticed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub witness: Option<String>,
    /// A checkpoint is signed at most this long after the first unsigned record (default 1s).
    #[serde(with = "humantime_serde")]
    pub checkpoint_interval: Duration,
    /// `/readyz` warns and an `audit.disk_low` event (and alert) is raised when the volume
    /// holding the audit log has less free space than this share of its size, e.g. `"5%"`
    /// (default). `"0%"` turns the watch off.
    pub min_free_headroom: String,
}

impl Default for AuditSection {
    fn default() -> Self {
        AuditSection {
            retention: None,
            archive_dir: None,
            witness: None,
            checkpoint_interval: Duration::from_secs(1),
            min_free_headroom: "5%".into(),
        }
    }
}

impl AuditSection {
    /// `min_free_headroom` as a percentage, 0–100.
    pub fn min_free_headroom_percent(&self) -> anyhow::Result<f64> {
        let text = self.min_free_headroom.trim();
        let number = text.strip_suffix('%').map(str::trim).ok_or_else(|| {
            anyhow::anyhow!(
                "audit.min_free_headroom must be a percentage such as \"5%\", not {text:?}"
            )
        })?;
        let percent: f64 = number.parse().map_err(|_| {
            anyhow::anyhow!(
                "audit.min_free_headroom must be a percentage such as \"5%\", not {text:?}"
            )
        })?;
        if !(0.0..=100.0).contains(&percent) {
            anyhow::bail!("audit.min_free_headroom must be between 0% and 100%, not {text:?}");
        }
        Ok(percent)
    }
}

/// Detection and response in `haechi serve` (see docs/rules.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectSection {
    /// Run the detection engine over the audit stream.
    pub enabled: bool,
    /// `enforce`: carry out the actions rules enforce; `dry_run`: record them all as dry runs.
    pub response: haechi_respond::Enforcement,
    /// Load the built-in rule pack.
    pub builtin_rules: bool,
    /// Directory of extra rule files (`*.yaml`); default `<data_dir>/rules`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules_dir: Option<PathBuf>,
    /// Networks never blocked automatically (a block action overlapping one is recorded as
    /// `allowlisted`): the host itself by default, so a proxy on it is never cut off.
    pub never_block: Vec<String>,
    /// How late an event may arrive and still be evaluated in event-time order (every alert
    /// waits this long).
    #[serde(with = "humantime_serde")]
    pub allowed_lateness: Duration,
    /// The most window-state entries all rules together may hold (about 100 bytes each).
    pub max_state_entries: u64,
    /// Alerts kept in memory for the API. A full desk drops acknowledged alerts, then open
    /// low and medium ones, oldest first — never an open high or critical one (a newcomer is
    /// refused instead); every drop is counted and recorded as `alert.dropped`, and the
    /// alerts stay in the audit trail.
    pub max_alerts: usize,
    /// Distinct customers a service with no reading history (first read less than a day ago,
    /// or none for 30 days) may read within a minute before rule
    /// `haechi.service.new_velocity` suspends it. 0 turns the rule off.
    pub new_service_customers_per_minute: u64,
    /// An automatic network block is not enforced against an address that this many distinct
    /// principals used successfully within the last day (a load balancer, a carrier NAT): it
    /// is recorded as a recommendation and raised as an alert for a human instead. 0 turns the
    /// check off.
    pub shared_address_principals: u32,
    /// Addresses whose principals are tracked for that check (the busiest stay; the one used
    /// least recently is forgotten first).
    pub shared_address_tracked: usize,
    /// Also print each alert (raised and grown) as a JSON line on stdout.
    pub stdout: bool,
    /// HMAC-signed webhook for raised alerts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookSection>,
}

impl Default for DetectSection {
    fn default() -> Self {
        let limits = haechi_detect::Limits::default();
        DetectSection {
            enabled: true,
            response: haechi_respond::Enforcement::Enforce,
            builtin_rules: true,
            rules_dir: None,
            never_block: vec!["127.0.0.0/8".into(), "::1/128".into()],
            allowed_lateness: limits.allowed_lateness,
            max_state_entries: limits.max_state_entries,
            max_alerts: 10_000,
            new_service_customers_per_minute:
                haechi_detect::DEFAULT_NEW_SERVICE_CUSTOMERS_PER_MINUTE,
            shared_address_principals: 20,
            shared_address_tracked: 100_000,
            stdout: false,
            webhook: None,
        }
    }
}

impl DetectSection {
    /// The built-in pack's settings, or `None` when the pack is turned off.
    pub fn pack_settings(&self) -> Option<haechi_detect::PackSettings> {
        self.builtin_rules.then_some(haechi_detect::PackSettings {
            new_service_customers_per_minute: self.new_service_customers_per_minute,
        })
    }
}

/// Where raised alerts are POSTed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSection {
    /// `https://…` (certificates verified against the system's roots and `ca_file`), or
    /// `http://…` (warned about: alerts would cross the network in clear).
    pub url: String,
    /// A PEM file of certificate authorities to trust besides the system's (a private CA in
    /// front of the SIEM or gateway).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Trust only `ca_file`, not the system's roots.
    #[serde(default)]
    pub ca_file_only: bool,
    /// The HMAC-SHA256 key (normally from `HAECHI_DETECT__WEBHOOK__SECRET`). Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// File holding the key instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<PathBuf>,
    /// Only alerts of this severity or worse.
    #[serde(default = "default_webhook_severity")]
    pub min_severity: haechi_detect::Severity,
    /// Alerts waiting for delivery; beyond it new ones are dropped (and counted).
    #[serde(default = "default_webhook_queue")]
    pub queue: usize,
    /// Delivery attempts per alert (backoff 1 s, 2 s, 4 s, … up to a minute).
    #[serde(default = "default_webhook_attempts")]
    pub max_attempts: u32,
    /// Per-attempt timeout.
    #[serde(default = "default_webhook_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

fn default_webhook_severity() -> haechi_detect::Severity {
    haechi_detect::Severity::Low
}

fn default_webhook_queue() -> usize {
    1000
}

fn default_webhook_attempts() -> u32 {
    6
}

fn default_webhook_timeout() -> Duration {
    Duration::from_secs(5)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultSection {
    /// Access-policy file (default: `<data_dir>/policy.toml` when it exists; otherwise every
    /// service read is denied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_file: Option<PathBuf>,
    /// Bits kept of each blind-index value (see docs/vault.md for the trade-off).
    pub blind_index_bits: u32,
    /// Memory for sealed records recently read, in MiB (ciphertext and wrapped keys only;
    /// 0 turns the cache off). See docs/vault.md, "Record cache".
    pub record_cache_mib: u64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSection {
    /// `iss` of tokens (default: `http://<listen>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    pub audience: String,
    #[serde(with = "humantime_serde")]
    pub access_ttl: Duration,
    #[serde(with = "humantime_serde")]
    pub refresh_ttl: Duration,
    #[serde(with = "humantime_serde")]
    pub clock_skew: Duration,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysSection {
    /// `EdDSA` (Ed25519) or `ES256`.
    pub algorithm: String,
    #[serde(with = "humantime_serde")]
    pub rotation_interval: Duration,
    /// How long a key verifies after it stops signing; must be ≥ token.access_ttl.
    #[serde(with = "humantime_serde")]
    pub verify_window: Duration,
    /// Where signing keys are kept: `master-key` (wrapped, in memory to sign) or `pkcs11`.
    #[serde(default)]
    pub custody: super::custody::CustodyMode,
    /// The PKCS#11 token, for `custody = "pkcs11"` or a master key kept there.
    #[serde(default)]
    pub pkcs11: Option<super::custody::Pkcs11Section>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginSection {
    pub failures_per_account: u32,
    /// Per IPv4 address or IPv6 /64.
    pub attempts_per_source: u32,
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// Password hashes running at once.
    #[serde(default = "default_hash_concurrency")]
    pub hash_concurrency: usize,
    /// Logins waiting for a hashing slot before 429.
    #[serde(default = "default_hash_queue")]
    pub hash_queue: usize,
}

fn default_hash_concurrency() -> usize {
    TokenPolicy::default().login_hash_concurrency
}

fn default_hash_queue() -> usize {
    TokenPolicy::default().login_hash_queue
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordSection {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    pub max_body_bytes: usize,
    pub max_header_bytes: usize,
    /// Networks of the proxies (load balancers) in front of Haechi whose `X-Forwarded-For`
    /// entries are believed: the client is the rightmost entry not in these networks. Empty
    /// (the default): the header is ignored. See the README, "Behind a load balancer".
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Refusals of unauthenticated requests (bad tokens, failed logins) written to the audit
    /// trail per source (IPv4 address or IPv6 /64) and second; beyond it they are counted into
    /// one `request.refusals_summarized` record per source and second.
    #[serde(default = "default_refusal_records")]
    pub refusal_records_per_source: u32,
    /// Refusals because a budget every source shares was spent (the exposure check's global
    /// budget during a surge: no source's own doing) written per second, all sources together;
    /// beyond it they are counted into one overflow summary a second.
    #[serde(default = "default_shared_budget_refusals")]
    pub shared_budget_refusals_per_second: u32,
    /// A second listener serving only `/metrics`, without authentication, for a Prometheus
    /// scraper (bind it to an address only the monitoring network reaches). Unset: `/metrics`
    /// is served on the API's address to administrators only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<SocketAddr>,
    /// A second listener for operators, served by a thread of its own: the whole API, as on
    /// the main address, but a surge there (the portal's crowd during a breach) never queues
    /// an operator's request behind it. Bind it to an address only operators reach. Unset:
    /// operators share the main address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_listen: Option<SocketAddr>,
}

pub(super) fn default_refusal_records() -> u32 {
    haechi_events::RefusalBudget::default().records_per_source_per_second
}

pub(super) fn default_shared_budget_refusals() -> u32 {
    haechi_events::RefusalBudget::default().shared_budget_records_per_second
}
