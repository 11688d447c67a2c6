//! Configuration: `haechi.toml` < `HAECHI_*` environment < command-line flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use haechi_custody::SigningAlgorithm;
use haechi_server::{ServerSettings, TrustedProxies};
use haechi_token::{PasswordParams, TokenPolicy};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::cli::GlobalArgs;

/// The effective configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where `haechi serve` listens.
    pub listen: SocketAddr,
    /// Where all state lives.
    pub data_dir: PathBuf,
    /// The master key itself (hex or base64); normally from `HAECHI_MASTER_KEY`. Secret: held
    /// in a buffer wiped on drop, and dropped once the key is loaded (`haechi serve` keeps
    /// only the parsed key, in custody).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_key: Option<Zeroizing<String>>,
    /// File holding the master key (default: `<data_dir>/master.key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_key_file: Option<PathBuf>,
    /// The previous master key during an online rotation (normally from
    /// `HAECHI_PREVIOUS_MASTER_KEY`). Secret. Only unwraps; the server re-wraps everything under
    /// the current key in the background, after which it can be removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_master_key: Option<Zeroizing<String>>,
    /// Files holding previous master keys (same role as `previous_master_key`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous_master_key_files: Vec<PathBuf>,
    /// Log filter (`info`, `haechi=debug`, …).
    pub log: String,
    /// `text` or `json`.
    pub log_format: LogFormat,
    pub token: TokenSection,
    pub keys: KeysSection,
    pub login: LoginSection,
    pub password: PasswordSection,
    pub server: ServerSection,
    pub vault: VaultSection,
    #[serde(default)]
    pub detect: DetectSection,
    #[serde(default)]
    pub drill: DrillSection,
    #[serde(default)]
    pub audit: AuditSection,
}

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
    /// `http://…` (this build has no TLS client: send HTTPS through an egress proxy).
    pub url: String,
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
    /// A second listener serving only `/metrics`, without authentication, for a Prometheus
    /// scraper (bind it to an address only the monitoring network reaches). Unset: `/metrics`
    /// is served on the API's address to administrators only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<SocketAddr>,
}

fn default_refusal_records() -> u32 {
    haechi_events::RefusalBudget::default().records_per_source_per_second
}

impl Default for Config {
    fn default() -> Self {
        let token = TokenPolicy::default();
        let password = PasswordParams::default();
        let server = ServerSettings::default();
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8730)),
            data_dir: PathBuf::from("./haechi-data"),
            master_key: None,
            master_key_file: None,
            previous_master_key: None,
            previous_master_key_files: Vec::new(),
            log: "info".into(),
            log_format: LogFormat::Text,
            token: TokenSection {
                issuer: None,
                audience: token.audience,
                access_ttl: token.access_ttl,
                refresh_ttl: token.refresh_ttl,
                clock_skew: token.clock_skew,
            },
            keys: KeysSection {
                algorithm: token.algorithm.jws_name().into(),
                rotation_interval: token.rotation_interval,
                verify_window: token.verify_window,
            },
            login: LoginSection {
                failures_per_account: token.login_failures_per_account,
                attempts_per_source: token.login_attempts_per_source,
                window: token.login_window,
                hash_concurrency: token.login_hash_concurrency,
                hash_queue: token.login_hash_queue,
            },
            password: PasswordSection {
                memory_kib: password.memory_kib,
                iterations: password.iterations,
                parallelism: password.parallelism,
            },
            server: ServerSection {
                max_body_bytes: server.max_body_bytes,
                max_header_bytes: server.max_header_bytes,
                trusted_proxies: Vec::new(),
                refusal_records_per_source: default_refusal_records(),
                metrics_listen: None,
            },
            vault: VaultSection {
                policy_file: None,
                blind_index_bits: 24,
            },
            detect: DetectSection::default(),
            drill: DrillSection::default(),
            audit: AuditSection::default(),
        }
    }
}

/// Flags that override the file and the environment.
#[derive(Debug, Default, Serialize)]
struct FlagOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    data_dir: Option<PathBuf>,
}

impl Config {
    /// Merges defaults, the file, the environment and the global flags.
    pub fn load(global: &GlobalArgs) -> anyhow::Result<Self> {
        let explicit_file = global.config.clone();
        let file = explicit_file
            .clone()
            .unwrap_or_else(|| PathBuf::from("haechi.toml"));
        if explicit_file.is_some() && !file.exists() {
            anyhow::bail!("configuration file {} does not exist", file.display());
        }
        Self::from_file_provider(Toml::file(&file), &file.display().to_string(), global)
    }

    /// Merges defaults, `file` (a TOML provider: the configuration file, or a string), the
    /// environment and the global flags, and validates the result. `origin` names the file in
    /// errors. [`Config::load`] passes the file; the `config` fuzz target (`fuzz/`) passes
    /// arbitrary text through `Toml::string`, so it checks exactly what a file goes through.
    pub fn from_file_provider(
        file: impl figment::Provider,
        origin: &str,
        global: &GlobalArgs,
    ) -> anyhow::Result<Self> {
        let figment = Figment::from(Serialized::defaults(Config::default()))
            .merge(file)
            // HAECHI_TOKEN__ACCESS_TTL=5m sets token.access_ttl; HAECHI_CONFIG and
            // HAECHI_DATA_DIR are read by clap and merged as flags.
            .merge(
                Env::prefixed("HAECHI_")
                    .ignore(&["CONFIG", "DATA_DIR", "LISTEN"])
                    .split("__"),
            )
            .merge(Serialized::defaults(FlagOverrides {
                data_dir: global.data_dir.clone(),
            }));
        let config: Config = figment
            .extract()
            .map_err(|error| anyhow::anyhow!("invalid configuration ({origin}): {error}"))?;
        config.token_policy().context("invalid configuration")?;
        config.server_settings().context("invalid configuration")?;
        config
            .audit
            .min_free_headroom_percent()
            .context("invalid configuration")?;
        if config.audit.checkpoint_interval.is_zero() {
            anyhow::bail!(
                "invalid configuration: audit.checkpoint_interval must be longer than zero"
            );
        }
        if let Some(witness) = &config.audit.witness {
            haechi_audit::open_witness(witness).context("invalid configuration: audit.witness")?;
        }
        if config.audit.retention == Some(Duration::ZERO) {
            anyhow::bail!(
                "invalid configuration: audit.retention must be longer than zero (leave it unset \
                 to keep every record in the live log)"
            );
        }
        Ok(config)
    }

    /// The token policy this configuration describes, validated.
    pub fn token_policy(&self) -> anyhow::Result<TokenPolicy> {
        let policy = TokenPolicy {
            issuer: self
                .token
                .issuer
                .clone()
                .unwrap_or_else(|| format!("http://{}", self.listen)),
            audience: self.token.audience.clone(),
            access_ttl: self.token.access_ttl,
            refresh_ttl: self.token.refresh_ttl,
            verify_window: self.keys.verify_window,
            rotation_interval: self.keys.rotation_interval,
            algorithm: SigningAlgorithm::parse(&self.keys.algorithm)?,
            clock_skew: self.token.clock_skew,
            login_failures_per_account: self.login.failures_per_account,
            login_attempts_per_source: self.login.attempts_per_source,
            login_window: self.login.window,
            login_hash_concurrency: self.login.hash_concurrency,
            login_hash_queue: self.login.hash_queue,
        };
        policy.validate()?;
        Ok(policy)
    }

    /// argon2id parameters.
    pub fn password_params(&self) -> PasswordParams {
        PasswordParams {
            memory_kib: self.password.memory_kib,
            iterations: self.password.iterations,
            parallelism: self.password.parallelism,
        }
    }

    /// HTTP settings.
    pub fn server_settings(&self) -> anyhow::Result<ServerSettings> {
        Ok(ServerSettings {
            max_body_bytes: self.server.max_body_bytes,
            max_header_bytes: self.server.max_header_bytes,
            trusted_proxies: TrustedProxies::new(parse_networks(
                "server.trusted_proxies",
                &self.server.trusted_proxies,
            )?),
        })
    }

    /// The master key file in use.
    pub fn master_key_path(&self) -> PathBuf {
        self.master_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("master.key"))
    }

    /// The policy file in use, if any.
    pub fn policy_path(&self) -> Option<PathBuf> {
        match &self.vault.policy_file {
            Some(path) => Some(path.clone()),
            None => {
                let default = self.data_dir.join("policy.toml");
                default.exists().then_some(default)
            }
        }
    }

    /// Where `PUT /v1/admin/policy` writes the policy (versions go to `policy.d/` beside
    /// it): the configured file, else `<data_dir>/policy.toml`, which the next start loads.
    pub fn policy_write_path(&self) -> PathBuf {
        self.vault
            .policy_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("policy.toml"))
    }

    /// The directory of extra detection rules.
    pub fn rules_dir(&self) -> PathBuf {
        self.detect
            .rules_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("rules"))
    }

    /// The database file.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("haechi.db")
    }

    /// The configuration as TOML with every secret replaced by `<redacted>`.
    pub fn redacted_toml(&self) -> anyhow::Result<String> {
        let mut shown = self.clone();
        if shown.master_key.is_some() {
            shown.master_key = Some(Zeroizing::new("<redacted>".into()));
        }
        if shown.previous_master_key.is_some() {
            shown.previous_master_key = Some(Zeroizing::new("<redacted>".into()));
        }
        if let Some(webhook) = shown.detect.webhook.as_mut()
            && webhook.secret.is_some()
        {
            webhook.secret = Some("<redacted>".into());
        }
        Ok(toml::to_string_pretty(&shown)?)
    }
}

/// Whether `path` is a file readable by others than its owner.
pub fn is_group_or_world_readable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path)
        .map(|metadata| metadata.permissions().mode() & 0o077 != 0)
        .unwrap_or(false)
}

/// Networks written as CIDR (`10.0.0.0/8`) or single addresses (`192.0.2.1`), for the
/// configuration option named `field`.
pub fn parse_networks(field: &str, entries: &[String]) -> anyhow::Result<Vec<ipnet::IpNet>> {
    entries
        .iter()
        .map(|text| {
            text.parse::<ipnet::IpNet>()
                .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .with_context(|| format!("{field}: {text:?} is not a network"))
        })
        .collect()
}
