//! Configuration: `haechi.toml` < `HAECHI_*` environment < command-line flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use haechi_custody::SigningAlgorithm;
use haechi_server::{ServerSettings, TrustedProxies};
use haechi_token::{PasswordParams, TokenPolicy};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

mod cluster;
mod custody;
mod evidence;
mod leakwatch;
mod notice;
mod sections;

pub use cluster::{BusSection, ClusterSection, Role, StoreSection};
pub use custody::{CustodyMode, Pkcs11Section};
pub use evidence::EvidenceSection;
pub use leakwatch::LeakWatchSection;
pub use notice::NoticeSection;
pub use sections::*;
use sections::{default_refusal_records, default_shared_budget_refusals};

/// Flags every subcommand understands.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Directory holding all state (database, key file, audit log).
    #[arg(long, global = true, env = "HAECHI_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Configuration file (default: ./haechi.toml when it exists).
    #[arg(long, global = true, env = "HAECHI_CONFIG")]
    pub config: Option<PathBuf>,
    /// The state store: `postgres://…` for a cluster (default: the embedded SQLite database
    /// in the data directory). Same as `[store] url`.
    #[arg(long, global = true, env = "HAECHI_STORE", value_name = "URL")]
    pub store: Option<String>,
    /// The event bus: `nats://…` (JetStream) carries the audit trail of every node. Same as
    /// `[bus] url`.
    #[arg(long, global = true, env = "HAECHI_BUS", value_name = "URL")]
    pub bus: Option<String>,
    /// This node's name in the cluster, kept across restarts: its audit chain in the bus's
    /// stream is named after it (an operator's machine running commands is a node too). Same
    /// as `[cluster] node_id`.
    #[arg(long, global = true, env = "HAECHI_NODE_ID", value_name = "NAME")]
    pub node_id: Option<String>,
}

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
    pub exposure: ExposureSection,
    #[serde(default)]
    pub portal: PortalSection,
    #[serde(default)]
    pub notice: NoticeSection,
    #[serde(default)]
    pub evidence: EvidenceSection,
    #[serde(default)]
    pub leakwatch: LeakWatchSection,
    #[serde(default)]
    pub audit: AuditSection,
    #[serde(default)]
    pub store: StoreSection,
    #[serde(default)]
    pub bus: BusSection,
    #[serde(default)]
    pub cluster: ClusterSection,
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
                custody: CustodyMode::MasterKey,
                pkcs11: None,
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
                shared_budget_refusals_per_second: default_shared_budget_refusals(),
                metrics_listen: None,
                operator_listen: None,
            },
            vault: VaultSection {
                policy_file: None,
                blind_index_bits: 24,
                record_cache_mib: 64,
            },
            detect: DetectSection::default(),
            drill: DrillSection::default(),
            exposure: ExposureSection::default(),
            portal: PortalSection::default(),
            notice: NoticeSection::default(),
            evidence: EvidenceSection::default(),
            leakwatch: LeakWatchSection::default(),
            audit: AuditSection::default(),
            store: StoreSection::default(),
            bus: BusSection::default(),
            cluster: ClusterSection::default(),
        }
    }
}

/// Flags that override the file and the environment.
#[derive(Debug, Default, Serialize)]
struct FlagOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    store: Option<UrlOverride>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bus: Option<UrlOverride>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster: Option<NodeOverride>,
}

/// `--node-id NAME` as `cluster.node_id`.
#[derive(Debug, Serialize)]
struct NodeOverride {
    node_id: String,
}

/// `--store URL` / `--bus URL` as `store.url` / `bus.url`.
#[derive(Debug, Serialize)]
struct UrlOverride {
    url: String,
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
            // HAECHI_DATA_DIR are read by clap and merged as flags, and so are `haechi
            // migrate`'s HAECHI_MIGRATE_TO and HAECHI_MIGRATE_BUS.
            .merge(
                Env::prefixed("HAECHI_")
                    .ignore(&[
                        "CONFIG",
                        "DATA_DIR",
                        "LISTEN",
                        "STORE",
                        "BUS",
                        "NODE_ID",
                        "ROLE",
                        "REQUIRE_SERVERS",
                        // The PKCS#11 PIN is read where the token is opened, never kept in
                        // the configuration.
                        "PKCS11_PIN",
                        "MIGRATE_TO",
                        "MIGRATE_BUS",
                    ])
                    // HAECHI_TEST_POSTGRES / HAECHI_TEST_NATS belong to the test bed
                    // (crates/testbed), not to the configuration.
                    .filter(|key| !key.as_str().to_ascii_uppercase().starts_with("TEST_"))
                    .split("__"),
            )
            .merge(Serialized::defaults(FlagOverrides {
                data_dir: global.data_dir.clone(),
                store: global.store.clone().map(|url| UrlOverride { url }),
                bus: global.bus.clone().map(|url| UrlOverride { url }),
                cluster: global
                    .node_id
                    .clone()
                    .map(|node_id| NodeOverride { node_id }),
            }));
        let config: Config = figment
            .extract()
            .map_err(|error| anyhow::anyhow!("invalid configuration ({origin}): {error}"))?;
        config.token_policy().context("invalid configuration")?;
        if let Some(url) = &config.store.url
            && config.token.issuer.is_none()
        {
            // Derived from each node's own address, the issuer would differ between nodes,
            // and every node would refuse the others' tokens as forgeries.
            anyhow::bail!(
                "invalid configuration: the nodes of a shared store ({}) issue tokens as one \
                 authority: set token.issuer (HAECHI_TOKEN__ISSUER=https://auth.example.com), \
                 the same on every node",
                haechi_store::redact_url(url)
            );
        }
        config.server_settings().context("invalid configuration")?;
        config
            .portal
            .own_listener()
            .context("invalid configuration")?;
        config
            .leakwatch
            .validate()
            .context("invalid configuration")?;
        match (&config.keys.pkcs11, config.keys.custody) {
            (Some(pkcs11), _) => pkcs11.validate().context("invalid configuration")?,
            (None, CustodyMode::Pkcs11) => anyhow::bail!(
                "invalid configuration: keys.custody = \"pkcs11\" needs a [keys.pkcs11] section \
                 (module, token_label, and the PIN in pin_file or HAECHI_PKCS11_PIN)"
            ),
            (None, CustodyMode::MasterKey) => {}
        }
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
            dangerous_public_sha1_ranges: self.exposure.dangerous_public_sha1_ranges,
            exposure_check: self.exposure.check_budget()?,
            crowd_in_flight: self.portal.crowd_in_flight()?,
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
        if let Some(url) = shown.store.url.as_mut() {
            *url = haechi_store::redact_url(url);
        }
        if let Some(url) = shown.bus.url.as_mut() {
            *url = haechi_bus::redact_url(url);
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
