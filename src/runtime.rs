//! Opening a data directory: the master key, the database, the audit log (the event sink),
//! the authority.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use async_trait::async_trait;
use haechi_audit::{AuditLog, AuditLogConfig};
use haechi_custody::{Hsm, MasterKey, MasterKeyRing, OsRandom, SecretContext, WrappedSecret};
use haechi_events::{
    Clock, EventReceipt, EventSink, RefusalBudget, RefusalGate, SecurityEvent, SimulatedClock,
    SinkError, SystemClock, Timestamp, TracingSink,
};
use haechi_store::Store;
use haechi_token::OperatorAccess;
use haechi_token::{AuthorityParts, TokenAuthority};
use haechi_vault::{BlindIndexer, Vault, VaultParts};
use zeroize::Zeroizing;

use crate::backends::{Backend, BusNode};
use crate::config::{Config, is_group_or_world_readable};

/// An opened data directory.
pub struct Runtime {
    /// The storage backend; parts get the trait they need from it.
    pub store: Arc<dyn Store>,
    /// The same store, by backend (the cluster's parts need PostgreSQL's own).
    pub backend: Backend,
    /// In a cluster, the change log's head read before this node loaded any shared state:
    /// where its follower starts, so nothing committed while it loaded is missed.
    pub change_head: Option<i64>,
    /// The bus this node's audit trail is replicated to, in a cluster (cluster detection
    /// reads every node's records from it).
    pub bus: Option<BusNode>,
    pub authority: Arc<TokenAuthority>,
    pub vault: Arc<Vault>,
    pub events: Arc<dyn EventSink>,
    /// The gate in front of the audit log that summarises floods of refusals; its summaries
    /// are flushed once a second by `haechi serve`.
    pub refusals: Arc<RefusalGate>,
    pub master_key: Arc<MasterKeyRing>,
    /// The durable audit log `events` writes to. Only one process may hold it open.
    pub audit: Arc<AuditLog>,
    /// The one clock every part reads: the system's, or a drill's simulated one.
    pub clock: Arc<dyn Clock>,
    /// The simulated clock, when `drill.dangerous_simulated_clock` is on.
    pub simulated_clock: Option<Arc<SimulatedClock>>,
    /// The PKCS#11 token keeping the signing keys or the master key, if one does.
    pub custody_token: Option<Arc<dyn Hsm>>,
}

impl Runtime {
    /// Opens (creating on first use) the data directory described by `config`, for a
    /// one-shot command: the process holds the data directory (the audit log's writer lock),
    /// so it may act as the local operator (`TokenAuthority::operator_grant`).
    pub async fn open(config: &Config) -> anyhow::Result<Self> {
        Self::open_as(config, OperatorAccess::LocalOperator).await
    }

    /// Opens the data directory for `haechi serve`: privileged acts need an administrator's
    /// token; nothing the server does can act as the local operator.
    pub async fn open_for_serving(config: &Config) -> anyhow::Result<Self> {
        Self::open_as(config, OperatorAccess::TokensOnly).await
    }

    async fn open_as(config: &Config, access: OperatorAccess) -> anyhow::Result<Self> {
        // The generated master key of a first start is written into the data dir.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&config.data_dir)
            .with_context(|| format!("cannot create data dir {}", config.data_dir.display()))?;
        let token = crate::custody::open_token(config)?;
        let keys = load_master_keys(config, token.as_ref())?;
        Self::open_with_keys(config, keys, token, access).await
    }

    /// Opens the data directory with an explicit master-key ring (master-key rotation).
    pub async fn open_with_keys(
        config: &Config,
        keys: MasterKeyRing,
        custody_token: Option<Arc<dyn Hsm>>,
        access: OperatorAccess,
    ) -> anyhow::Result<Self> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&config.data_dir)
            .with_context(|| format!("cannot create data dir {}", config.data_dir.display()))?;
        let master_key = Arc::new(keys);
        let simulated_clock = simulated_clock(config)?;
        let clock: Arc<dyn Clock> = match &simulated_clock {
            Some(simulated) => simulated.clone(),
            None => Arc::new(SystemClock),
        };
        let backend = Backend::open(config).await?;
        let change_head = match &backend {
            Backend::Postgres(store) => Some(
                haechi_events::ChangeFeed::change_head(&**store)
                    .await
                    .context("cannot read the cluster's change log")?,
            ),
            Backend::Embedded(_) => None,
        };
        let store = backend.store();
        let bus = crate::backends::connect_bus(config).await?;
        // The audit log opens before the authority: opening the authority may already
        // generate or retire keys, and those acts must be on the record.
        let audit = Arc::new(
            open_audit_log(config, &*store, &master_key, clock.clone(), bus.as_ref()).await?,
        );
        let refusals = Arc::new(RefusalGate::new(
            Arc::new(TeeSink {
                durable: audit.clone(),
                echo: TracingSink,
            }),
            clock.clone(),
            RefusalBudget {
                records_per_source_per_second: config.server.refusal_records_per_source,
                shared_budget_records_per_second: config.server.shared_budget_refusals_per_second,
            },
        ));
        let events: Arc<dyn EventSink> = refusals.clone();
        let policy = backend.initial_policy(config).await?;
        // Nodes of a cluster open the authority one at a time: on an empty database each
        // would otherwise make a first signing key of its own.
        let opening = match &backend {
            Backend::Postgres(store) => Some(store.lead("authority-open").await?),
            Backend::Embedded(_) => None,
        };
        let authority = TokenAuthority::open(AuthorityParts {
            store: store.clone(),
            master_key: master_key.clone(),
            custody: crate::custody::signing_custody(config, custody_token.as_ref())?,
            clock: clock.clone(),
            events: events.clone(),
            random: Arc::new(OsRandom),
            policy: config.token_policy()?,
            password_params: config.password_params(),
            operator_access: access,
            sign_in_limits: backend.sign_in_limits(),
        })
        .await
        .context("cannot open the token authority")?;
        if let Some(opening) = opening {
            opening.resign().await;
        }
        let authority = Arc::new(authority);
        let index_key = authority
            .keys()
            .named_secret(BLIND_INDEX_SECRET)
            .await
            .context("cannot open the blind-index key")?;
        let vault = Vault::new(VaultParts {
            store: store.clone(),
            authority: authority.clone(),
            master_key: master_key.clone(),
            clock: clock.clone(),
            events: events.clone(),
            random: Arc::new(OsRandom),
            policy,
            indexer: BlindIndexer::new(index_key, config.vault.blind_index_bits),
            policy_store: Some(backend.policy_store(config)),
            shared_budgets: backend.shared_budgets(),
            lookup_limits: backend.lookup_limits(),
            record_cache_bytes: config.vault.record_cache_mib.saturating_mul(1024 * 1024),
        });
        Ok(Runtime {
            store,
            backend,
            change_head,
            bus,
            authority,
            vault: Arc::new(vault),
            events,
            refusals,
            master_key,
            audit,
            clock,
            simulated_clock,
            custody_token,
        })
    }

    /// Rebuilds the vault's budgets of distinct customers from the live audit log (the reads
    /// and lookups of the quota window before now), so that a restart does not hand a
    /// scraper a fresh budget. `haechi serve` calls this before it listens. Reads the log
    /// from its oldest record, like the detection warm-up.
    pub async fn restore_vault_budgets(&self) -> anyhow::Result<u64> {
        let dir = self.audit.dir().to_path_buf();
        let durable = self.audit.durable_seq();
        let vault = self.vault.clone();
        tokio::task::spawn_blocking(move || {
            let mut restored = 0;
            let mut batch = Vec::with_capacity(4096);
            for record in haechi_audit::read_log(&dir).context("cannot read the audit log")? {
                let record = record.context("cannot read the audit log")?;
                if record.seq > durable {
                    break;
                }
                if matches!(
                    record.event.kind,
                    haechi_events::EventKind::PiiRead | haechi_events::EventKind::PiiLookup
                ) {
                    batch.push(record.event);
                }
                if batch.len() == batch.capacity() {
                    restored += vault.service_reads().restore_budgets(&batch);
                    batch.clear();
                }
            }
            restored += vault.service_reads().restore_budgets(&batch);
            anyhow::Ok(restored)
        })
        .await
        .context("the budget restore thread failed")?
    }

    /// Closes the data directory: the audit log writes what is queued and signs a final
    /// checkpoint, then the database closes.
    pub async fn close(&self) -> anyhow::Result<()> {
        let audit = self
            .audit
            .shutdown()
            .await
            .context("cannot close the audit log cleanly");
        self.store.close().await;
        audit
    }
}

/// The drill's simulated clock, if the configuration turns it on (loudly).
fn simulated_clock(config: &Config) -> anyhow::Result<Option<Arc<SimulatedClock>>> {
    if !config.drill.dangerous_simulated_clock {
        return Ok(None);
    }
    // A simulated clock starts where the drill says, never "now": a clock that stood still
    // at boot would let tokens and blocks live for ever.
    let Some(text) = &config.drill.start else {
        anyhow::bail!(
            "drill.start is required with drill.dangerous_simulated_clock \
             (HAECHI_DRILL__START=2025-06-24T00:00:00Z): the simulated clock starts there"
        );
    };
    let start = Timestamp::parse(text)
        .with_context(|| format!("drill.start: {text:?} is not an RFC 3339 time"))?;
    tracing::warn!(
        start = %start.to_rfc3339(),
        "DANGEROUS: drill.dangerous_simulated_clock is on: time is whatever an administrator \
         sets with POST /v1/admin/drill/clock. Only for a drill's own server."
    );
    Ok(Some(Arc::new(SimulatedClock::new(start))))
}

/// Name of the wrapped secret whose 32 bytes are the Ed25519 seed of the audit checkpoint key
/// (a key of its own: it signs nothing but checkpoints).
const AUDIT_KEY_SECRET: &str = "audit-checkpoint-key";

/// The audit log directory of a data directory.
pub fn audit_dir(config: &Config) -> PathBuf {
    config.data_dir.join("audit")
}

/// Opens the audit log, creating its key on first use, and reports what recovery found.
async fn open_audit_log(
    config: &Config,
    store: &dyn Store,
    master_key: &MasterKeyRing,
    clock: Arc<dyn Clock>,
    bus: Option<&BusNode>,
) -> anyhow::Result<AuditLog> {
    let seed = haechi_token::named_secret(store, master_key, &OsRandom, AUDIT_KEY_SECRET)
        .await
        .context("cannot open the audit key")?;
    let signing_key = ed25519_dalek::SigningKey::from_bytes(&seed);
    let dir = audit_dir(config);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let mut log_config = AuditLogConfig::new(&dir);
    log_config.checkpoint_interval = config.audit.checkpoint_interval;
    if let Some(address) = &config.audit.witness {
        refuse_witness_inside(address, config)?;
        log_config.witness =
            Some(haechi_audit::open_witness(address).context("cannot open audit.witness")?);
    }
    let opened = match bus {
        None => AuditLog::open(log_config, signing_key, clock),
        Some(node) => {
            let replica = node
                .bus
                .replica(&node.node_id)
                .context("cannot replicate the audit log")?;
            AuditLog::open_replicated(log_config, signing_key, clock, Box::new(replica))
                .await
                .map(|(log, report, reconciled)| {
                    tracing::info!(
                        node = %node.node_id,
                        republished = ?reconciled,
                        "audit log reconciled with the cluster's stream"
                    );
                    (log, report)
                })
        }
    };
    let (log, report) = match opened {
        Ok(opened) => opened,
        Err(haechi_audit::Error::InUse { dir }) => anyhow::bail!(
            "the audit log in {} is held by a running haechi serve (or another haechi command): \
             while the server runs, act through its admin API, or stop it first",
            dir.display()
        ),
        Err(error) => return Err(error).context("cannot open the audit log"),
    };
    for repair in &report.repairs {
        tracing::warn!(%repair, "audit log repaired after a crash");
    }
    if let Some((first, last)) = report.unsigned_records() {
        tracing::warn!(
            first,
            last,
            "audit records after the last signed checkpoint (normal after a crash; after a \
             clean stop, someone appended to the log while it was closed): run haechi audit verify"
        );
    }
    tracing::info!(
        dir = %dir.display(),
        last_seq = report.last_seq,
        last_checkpoint_seq = report.last_checkpoint_seq,
        clean = report.is_clean(),
        "audit log open"
    );
    Ok(log)
}

/// A witness in the data directory witnesses nothing: whoever can cut the log can cut it too.
fn refuse_witness_inside(address: &str, config: &Config) -> anyhow::Result<()> {
    let Some(path) = address
        .strip_prefix("file://")
        .map(|rest| rest.strip_prefix("localhost").unwrap_or(rest))
    else {
        return Ok(());
    };
    let path = std::path::Path::new(path);
    // The file may not exist yet; its directory must.
    let parent = path.parent().unwrap_or(path);
    let parent = parent.canonicalize().with_context(|| {
        format!(
            "audit.witness {address}: the directory {} does not exist",
            parent.display()
        )
    })?;
    let data_dir = config
        .data_dir
        .canonicalize()
        .unwrap_or_else(|_| config.data_dir.clone());
    if parent.starts_with(&data_dir) {
        anyhow::bail!(
            "audit.witness {address} is inside the data directory {}: a witness must be kept \
             where whoever can change the data directory cannot (another volume, machine or account)",
            data_dir.display()
        );
    }
    Ok(())
}

/// The audit public key of the data directory, read without opening anything for writing (so
/// it works beside a running server): the wrapped seed from the database, unwrapped under the
/// master key.
pub async fn audit_public_key(config: &Config) -> anyhow::Result<ed25519_dalek::VerifyingKey> {
    let in_token = config
        .keys
        .pkcs11
        .as_ref()
        .is_some_and(|pkcs11| pkcs11.master_key);
    if config.master_key.is_none() && !config.master_key_path().exists() && !in_token {
        anyhow::bail!(
            "no master key for {} (HAECHI_MASTER_KEY, master_key_file or {}): the audit key \
             cannot be read; pass the auditor's copy of the public key with --key",
            config.data_dir.display(),
            config.master_key_path().display()
        );
    }
    if config.store.url.is_none() && !config.database_path().exists() {
        anyhow::bail!(
            "no Haechi database at {}: nothing has been audited here",
            config.database_path().display()
        );
    }
    let token = crate::custody::open_token(config)?;
    let master_key = load_master_keys(config, token.as_ref())?;
    let store = Backend::open(config).await?.store();
    let key = read_audit_key(&*store, &master_key).await;
    store.close().await;
    Ok(key?.verifying_key())
}

/// The audit key as stored in `store` (never created here), unwrapped under `master_key`:
/// what a reader beside a running server (`haechi audit public-key`, `haechi evidence`) uses.
pub async fn read_audit_key(
    store: &dyn Store,
    master_key: &MasterKeyRing,
) -> anyhow::Result<ed25519_dalek::SigningKey> {
    let Some(stored) = store.secret(AUDIT_KEY_SECRET).await? else {
        anyhow::bail!(
            "this data directory has no audit key yet (it is made when the audit log is first opened)"
        );
    };
    let seed = master_key
        .unwrap(
            &SecretContext::named(AUDIT_KEY_SECRET),
            &WrappedSecret::from_bytes(&stored)?,
        )
        .context("cannot unwrap the audit key (is this the data directory's master key?)")?;
    let seed = zeroize::Zeroizing::new(
        <[u8; 32]>::try_from(seed.as_slice())
            .map_err(|_| anyhow::anyhow!("the stored audit key has the wrong length"))?,
    );
    Ok(ed25519_dalek::SigningKey::from_bytes(&seed))
}

/// Sends each event to the durable log and, once it is durable, echoes it as a structured log
/// line. If the durable write fails, its error is returned and nothing is logged: no trace of
/// an act that is not on the record.
#[derive(Debug)]
struct TeeSink {
    durable: Arc<AuditLog>,
    echo: TracingSink,
}

#[async_trait]
impl EventSink for TeeSink {
    async fn record(&self, event: SecurityEvent) -> Result<EventReceipt, SinkError> {
        let receipt = self.durable.record(event.clone()).await?;
        // The event is on the record; a failure to echo it loses nothing.
        let _ = self.echo.record(event).await;
        Ok(receipt)
    }
}

/// Name of the wrapped secret that keys the vault's blind indexes (apart from every
/// encryption key).
const BLIND_INDEX_SECRET: &str = "blind-index-key";

/// The access policy: the configured file, or deny-all when there is none. A file that does
/// not parse stops startup with its line and problem.
/// The master key from `HAECHI_MASTER_KEY`, else the key file, else a new key written to the
/// key file (mode 0600) with a loud warning.
/// The master-key ring: the current key (see [`load_master_key`]) and any previous keys still
/// needed while a rotation re-wraps (`previous_master_key` / `HAECHI_PREVIOUS_MASTER_KEY`, and
/// `previous_master_key_files`).
pub fn load_master_keys(
    config: &Config,
    token: Option<&Arc<dyn Hsm>>,
) -> anyhow::Result<MasterKeyRing> {
    let current = match crate::custody::master_key_in_token(config, token)? {
        Some(in_token) => in_token,
        None => load_master_key(config)?,
    };
    let mut previous = Vec::new();
    if let Some(text) = &config.previous_master_key {
        previous.push(MasterKey::parse(text).context("HAECHI_PREVIOUS_MASTER_KEY")?);
    }
    for path in &config.previous_master_key_files {
        let text =
            Zeroizing::new(std::fs::read_to_string(path).with_context(|| {
                format!("cannot read previous master key file {}", path.display())
            })?);
        previous.push(
            MasterKey::parse(&text)
                .with_context(|| format!("previous master key file {}", path.display()))?,
        );
    }
    Ok(MasterKeyRing::new(current, previous)?)
}

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
        let text = Zeroizing::new(
            std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read master key file {}", path.display()))?,
        );
        return MasterKey::parse(&text)
            .with_context(|| format!("master key file {}", path.display()));
    }
    if let Some(url) = &config.store.url {
        anyhow::bail!(
            "no master key for a node of the shared store {}: every node of a cluster needs the \
             same master key (HAECHI_MASTER_KEY or master_key_file); a node never generates one, \
             since a key of its own would wrap keys the other nodes cannot open",
            haechi_store::redact_url(url)
        );
    }
    let key = MasterKey::generate(&OsRandom);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot create master key file {}", path.display()))?;
    let hex = key
        .to_hex()
        .context("a generated master key has its value")?;
    file.write_all(hex.as_bytes())?;
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
        Self::acquire_or_explain(
            config,
            &format!(
                "{purpose} must go through its admin API (see README: /v1/admin/keys) or wait \
                 until it stops"
            ),
        )
    }

    /// Takes the lock, or fails with "haechi serve is running on DIR; " and `while_serving`,
    /// which tells the operator what to do instead.
    pub fn acquire_or_explain(config: &Config, while_serving: &str) -> anyhow::Result<Self> {
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
                "haechi serve is running on {}; {while_serving}",
                config.data_dir.display()
            ),
            Err(std::fs::TryLockError::Error(error)) => {
                Err(error).with_context(|| format!("cannot lock {}", path.display()))
            }
        }
    }
}
