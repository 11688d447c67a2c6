//! Opening a data directory: the master key, the database, the event sink, the authority.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::sync::Arc;

use anyhow::Context as _;
use haechi_custody::{MasterKey, OsRandom};
use haechi_events::{EventSink, SystemClock, TracingSink};
use haechi_store::SqliteStore;
use haechi_token::{AuthorityParts, TokenAuthority};
use haechi_vault::{BlindIndexer, Policy, Vault, VaultParts};

use crate::config::{Config, is_group_or_world_readable};

/// An opened data directory.
pub struct Runtime {
    pub store: Arc<SqliteStore>,
    pub authority: Arc<TokenAuthority>,
    pub vault: Arc<Vault>,
    pub events: Arc<dyn EventSink>,
    pub master_key: Arc<MasterKey>,
}

impl Runtime {
    /// Opens (creating on first use) the data directory described by `config`.
    pub async fn open(config: &Config) -> anyhow::Result<Self> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&config.data_dir)
            .with_context(|| format!("cannot create data dir {}", config.data_dir.display()))?;
        let master_key = Arc::new(load_master_key(config)?);
        let store = Arc::new(
            SqliteStore::open(&config.database_path())
                .await
                .with_context(|| format!("cannot open {}", config.database_path().display()))?,
        );
        let events: Arc<dyn EventSink> = Arc::new(TracingSink);
        let policy = load_policy(config)?;
        let authority = TokenAuthority::open(AuthorityParts {
            store: store.clone(),
            master_key: master_key.clone(),
            clock: Arc::new(SystemClock),
            events: events.clone(),
            random: Arc::new(OsRandom),
            policy: config.token_policy()?,
            password_params: config.password_params(),
        })
        .await
        .context("cannot open the token authority")?;
        let authority = Arc::new(authority);
        let index_key = authority
            .named_secret(BLIND_INDEX_SECRET)
            .await
            .context("cannot open the blind-index key")?;
        let vault = Vault::new(VaultParts {
            store: store.clone(),
            authority: authority.clone(),
            master_key: master_key.clone(),
            clock: Arc::new(SystemClock),
            events: events.clone(),
            random: Arc::new(OsRandom),
            policy,
            indexer: BlindIndexer::new(index_key, config.vault.blind_index_bits),
        });
        Ok(Runtime {
            store,
            authority,
            vault: Arc::new(vault),
            events,
            master_key,
        })
    }
}

/// Name of the wrapped secret that keys the vault's blind indexes (apart from every
/// encryption key).
const BLIND_INDEX_SECRET: &str = "blind-index-key";

/// The access policy: the configured file, or deny-all when there is none. A file that does
/// not parse stops startup with its line and problem.
fn load_policy(config: &Config) -> anyhow::Result<Policy> {
    let Some(path) = config.policy_path() else {
        tracing::info!("no access policy file: every service read is denied until one is set");
        return Ok(Policy::default());
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read policy file {}", path.display()))?;
    Ok(Policy::parse(&text, &path.display().to_string())?)
}

/// The master key from `HAECHI_MASTER_KEY`, else the key file, else a new key written to the
/// key file (mode 0600) with a loud warning.
fn load_master_key(config: &Config) -> anyhow::Result<MasterKey> {
    if let Some(text) = &config.master_key {
        return MasterKey::parse(text).context("HAECHI_MASTER_KEY");
    }
    let path = config.master_key_path();
    if path.exists() {
        if is_group_or_world_readable(&path) {
            tracing::warn!(
                path = %path.display(),
                "the master key file is readable by group or others; chmod 600 it"
            );
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read master key file {}", path.display()))?;
        return MasterKey::parse(&text)
            .with_context(|| format!("master key file {}", path.display()));
    }
    let key = MasterKey::generate(&OsRandom);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot create master key file {}", path.display()))?;
    file.write_all(key.to_hex().as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    tracing::warn!(
        path = %path.display(),
        key_id = key.id(),
        "GENERATED A NEW MASTER KEY and stored it next to the data it protects. This is for \
         trying Haechi out only: in production supply it from a KMS/HSM via HAECHI_MASTER_KEY \
         or a key file on separate storage. Losing it makes every stored key and record \
         unrecoverable."
    );
    eprintln!(
        "WARNING: generated a new master key at {} (mode 0600). Production deployments must \
         supply HAECHI_MASTER_KEY from a KMS/HSM instead.",
        path.display()
    );
    Ok(key)
}

/// An exclusive lock on the data directory, held by `haechi serve`. Commands that change keys
/// take it too, so they never act behind a running server's back (its in-memory key ring
/// would not see the change); with a server running they must go through the admin API.
pub struct DataDirLock {
    _file: File,
}

impl DataDirLock {
    /// Takes the lock or says who holds it.
    pub fn acquire(config: &Config, purpose: &str) -> anyhow::Result<Self> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&config.data_dir)?;
        let path = config.data_dir.join("serve.lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => Ok(DataDirLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
                "haechi serve is running on {}; {purpose} must go through its admin API \
                 (see README: /v1/admin/keys) or wait until it stops",
                config.data_dir.display()
            ),
            Err(std::fs::TryLockError::Error(error)) => {
                Err(error).with_context(|| format!("cannot lock {}", path.display()))
            }
        }
    }
}
