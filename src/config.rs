//! Configuration: `haechi.toml` < `HAECHI_*` environment < command-line flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use haechi_custody::SigningAlgorithm;
use haechi_server::ServerSettings;
use haechi_token::{PasswordParams, TokenPolicy};
use serde::{Deserialize, Serialize};

use crate::cli::GlobalArgs;

/// The effective configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where `haechi serve` listens.
    pub listen: SocketAddr,
    /// Where all state lives.
    pub data_dir: PathBuf,
    /// The master key itself (hex or base64); normally from `HAECHI_MASTER_KEY`. Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_key: Option<String>,
    /// File holding the master key (default: `<data_dir>/master.key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_key_file: Option<PathBuf>,
    /// The previous master key during an online rotation (normally from
    /// `HAECHI_PREVIOUS_MASTER_KEY`). Secret. Only unwraps; the server re-wraps everything under
    /// the current key in the background, after which it can be removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_master_key: Option<String>,
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

/// The audit trail's archive and retention (see docs/audit.md).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
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
}

/// Detection and response in `haechi serve` (see docs/rules.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectSection {
    /// Run the detection engine over the audit stream.
    pub enabled: bool,
    /// `enforce`: carry out the actions rules enforce; `dry_run`: record them all as dry runs.
    pub response: haechi_server::detection::Enforcement,
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
    /// Alerts kept in memory for the API (older ones stay in the audit trail).
    pub max_alerts: usize,
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
            response: haechi_server::detection::Enforcement::Enforce,
            builtin_rules: true,
            rules_dir: None,
            never_block: vec!["127.0.0.0/8".into(), "::1/128".into()],
            allowed_lateness: limits.allowed_lateness,
            max_state_entries: limits.max_state_entries,
            max_alerts: 10_000,
            stdout: false,
            webhook: None,
        }
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
    pub attempts_per_source: u32,
    #[serde(with = "humantime_serde")]
    pub window: Duration,
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
    /// Trust `X-Forwarded-For` for the client address. Dangerous: see the README.
    pub dangerous_trust_forwarded_for: bool,
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
            },
            password: PasswordSection {
                memory_kib: password.memory_kib,
                iterations: password.iterations,
                parallelism: password.parallelism,
            },
            server: ServerSection {
                max_body_bytes: server.max_body_bytes,
                max_header_bytes: server.max_header_bytes,
                dangerous_trust_forwarded_for: server.dangerous_trust_forwarded_for,
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
    pub fn server_settings(&self) -> ServerSettings {
        ServerSettings {
            max_body_bytes: self.server.max_body_bytes,
            max_header_bytes: self.server.max_header_bytes,
            dangerous_trust_forwarded_for: self.server.dangerous_trust_forwarded_for,
        }
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
            shown.master_key = Some("<redacted>".into());
        }
        if shown.previous_master_key.is_some() {
            shown.previous_master_key = Some("<redacted>".into());
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
