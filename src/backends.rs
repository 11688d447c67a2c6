//! Where a runtime keeps its state: the embedded SQLite file in the data directory (the
//! default), or PostgreSQL shared by the nodes of a cluster (`[store] url`); and the NATS
//! JetStream bus their audit trails go to (`[bus] url`). The binary is the one place that names
//! backends: every part above it holds the traits (`haechi_store::Store`).

use std::sync::Arc;

use anyhow::Context as _;
use async_trait::async_trait;
use haechi_bus::{Bus, BusOptions};
use haechi_store::{PgStore, PgStoreOptions, PolicyFiles, SqliteStore, Store};
use haechi_vault::{Policy, PolicyStore, Vault};

use crate::config::Config;

/// The opened store, by backend.
#[derive(Debug, Clone)]
pub enum Backend {
    /// One node, one SQLite file.
    Embedded(Arc<SqliteStore>),
    /// A cluster's shared PostgreSQL database.
    Postgres(Arc<PgStore>),
}

impl Backend {
    /// Opens the store `config` names, bringing a PostgreSQL schema up to date (under the
    /// migrations' advisory lock, so nodes starting together do not race).
    pub async fn open(config: &Config) -> anyhow::Result<Self> {
        let Some(url) = &config.store.url else {
            let path = config.database_path();
            let store = SqliteStore::open(&path)
                .await
                .with_context(|| format!("cannot open {}", path.display()))?;
            return Ok(Backend::Embedded(Arc::new(store)));
        };
        let shown = haechi_store::redact_url(url);
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            anyhow::bail!("store.url must be postgres://… (PostgreSQL), not {shown}");
        }
        let mut options = PgStoreOptions::default();
        if let Some(max) = config.store.max_connections {
            options.max_connections = max;
        }
        let store = PgStore::open_with(url, options)
            .await
            .with_context(|| format!("cannot open the store at {shown}"))?;
        tracing::info!(store = %shown, "state in PostgreSQL");
        Ok(Backend::Postgres(Arc::new(store)))
    }

    /// The store as every part sees it.
    pub fn store(&self) -> Arc<dyn Store> {
        match self {
            Backend::Embedded(store) => store.clone(),
            Backend::Postgres(store) => store.clone(),
        }
    }

    /// Where services' distinct-customer budgets are charged: this process's memory on one
    /// node, the shared store in a cluster (one budget per service, however many nodes).
    pub fn shared_budgets(&self) -> Option<Arc<dyn haechi_vault::SharedBudgets>> {
        match self {
            Backend::Embedded(_) => None,
            Backend::Postgres(store) => Some(store.clone()),
        }
    }

    /// Where the vault's lookup-miss limit and ten-minute lookup statistics are counted:
    /// this process's memory on one node (a new, empty one each call), the shared store in a
    /// cluster (one allowance per service, however many nodes it looks up through).
    pub fn lookup_limits(&self) -> Arc<dyn haechi_vault::LookupLimits> {
        match self {
            Backend::Embedded(_) => Arc::new(haechi_vault::MemoryLookupLimits::default()),
            Backend::Postgres(store) => store.clone(),
        }
    }

    /// Where the sign-in limits (attempts per source network, failed logins per account) are
    /// counted: this process's memory on one node (a new, empty one each call), the shared
    /// store in a cluster (one allowance per source and account, however many nodes).
    pub fn sign_in_limits(&self) -> Arc<dyn haechi_token::SignInLimits> {
        match self {
            Backend::Embedded(_) => Arc::new(haechi_token::MemorySignInLimits::default()),
            Backend::Postgres(store) => store.clone(),
        }
    }

    /// Where replaced policies are kept: `policy.d/` beside the policy file on one node, the
    /// shared store's policy versions in a cluster.
    pub fn policy_store(&self, config: &Config) -> Arc<dyn PolicyStore> {
        match self {
            Backend::Embedded(_) => Arc::new(PolicyFiles::new(config.policy_write_path())),
            Backend::Postgres(store) => store.clone(),
        }
    }

    /// The access policy to start with. One node: the policy file. A cluster: the newest
    /// version in the shared store — a policy replaced through the API on any node outlives
    /// the file every node was deployed with; the file seeds the first version only.
    pub async fn initial_policy(&self, config: &Config) -> anyhow::Result<Policy> {
        let file = match config.policy_path() {
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read policy file {}", path.display()))?;
                Some((text, path.display().to_string()))
            }
            None => None,
        };
        let store = match self {
            Backend::Embedded(_) => {
                let Some((text, origin)) = file else {
                    tracing::info!(
                        "no access policy file: every service read is denied until one is set"
                    );
                    return Ok(Policy::default());
                };
                return parse_policy(&text, &origin);
            }
            Backend::Postgres(store) => store,
        };
        let in_force = match file {
            Some((text, origin)) => {
                // Refuse a bad file before it could become version 1.
                parse_policy(&text, &origin)?;
                Some(store.adopt_initial_policy(&text).await?)
            }
            None => store.policy_in_force().await?,
        };
        match in_force {
            Some(stored) => {
                tracing::info!(
                    version = stored.version,
                    "access policy from the shared store"
                );
                parse_policy(&stored.text, &format!("policy version {}", stored.version))
            }
            None => {
                tracing::info!(
                    "no access policy yet: every service read is denied until one is set"
                );
                Ok(Policy::default())
            }
        }
    }
}

/// The vault's policy in `text`, its `[gateway]` section checked too: a server does not start
/// on a policy whose gateway part would deny every check.
fn parse_policy(text: &str, origin: &str) -> anyhow::Result<Policy> {
    let policy = Policy::parse(text, origin)?;
    haechi_gateway::GatewayPolicy::parse(text, origin)?;
    Ok(policy)
}

/// Reloads the policy in force from the shared store when another node replaced it.
#[derive(Debug)]
pub struct SharedPolicy {
    pub store: Arc<PgStore>,
    pub vault: Arc<Vault>,
}

#[async_trait]
impl haechi_cluster::PolicyReload for SharedPolicy {
    async fn reload_policy(&self) -> Result<(), String> {
        let Some(stored) = self
            .store
            .policy_in_force()
            .await
            .map_err(|error| error.to_string())?
        else {
            return Ok(());
        };
        let policy = Policy::parse(&stored.text, &format!("policy version {}", stored.version))
            .map_err(|error| error.to_string())?;
        self.vault.learn_policy(policy);
        tracing::info!(
            version = stored.version,
            "access policy replaced on another node"
        );
        Ok(())
    }
}

/// This node on the bus: the connection and the node id its audit chain is named after.
#[derive(Debug, Clone)]
pub struct BusNode {
    pub bus: Bus,
    pub node_id: String,
}

/// Connects to the bus `config` names, if any, and makes sure the audit stream exists.
pub async fn connect_bus(config: &Config) -> anyhow::Result<Option<BusNode>> {
    let Some(url) = &config.bus.url else {
        return Ok(None);
    };
    let shown = haechi_bus::redact_url(url);
    let Some(node_id) = config.cluster.node_id.clone() else {
        anyhow::bail!(
            "a node on a bus needs a name of its own, kept across restarts: --node-id or \
             [cluster] node_id (its audit chain in the stream is named after it)"
        );
    };
    haechi_bus::NodeId::new(&node_id).context("cluster.node_id")?;
    let mut options = BusOptions::new(url, &config.bus.prefix, config.bus.replicas);
    options.ack_timeout = config.bus.ack_timeout;
    options.retention = config.bus.retention.into();
    options.connection_name = format!("haechi {node_id}");
    let bus = Bus::connect(options)
        .await
        .with_context(|| format!("cannot reach the bus at {shown}"))?;
    tracing::info!(bus = %shown, node = %node_id, "audit trail replicated to JetStream");
    Ok(Some(BusNode { bus, node_id }))
}

/// The parts of a node whose memory follows the change log.
pub struct FollowingNode {
    pub backend: Backend,
    /// The log's head read before the node loaded its state.
    pub change_head: Option<i64>,
    pub authority: Arc<haechi_token::TokenAuthority>,
    pub vault: Arc<Vault>,
    pub detection: Arc<haechi_respond::Detection>,
}

/// A node following the shared store's change log.
pub struct Following {
    /// How fresh the node's view is; the server checks it on every request.
    pub freshness: Arc<haechi_cluster::Freshness>,
    /// The change log, and the follower's handle (the drill clock settles through them).
    pub links: haechi_server::drill::ClusterLinks,
}

/// On a node of a shared store: reads the change log once (so the node starts fresh), then
/// follows it in the background until `closing`. `None` on the embedded store (one node:
/// always fresh).
pub async fn follow_changes(
    config: &Config,
    node: FollowingNode,
    closing: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Option<Following>> {
    let Backend::Postgres(store) = &node.backend else {
        return Ok(None);
    };
    let freshness = Arc::new(haechi_cluster::Freshness::new(
        config.cluster.freshness_bound,
    ));
    let record_cache = node.vault.record_cache().cloned();
    let policy = SharedPolicy {
        store: store.clone(),
        vault: node.vault,
    };
    let mut follower = haechi_cluster::Follower::new(
        store.clone(),
        node.authority,
        node.detection,
        Some(Arc::new(policy)),
        freshness.clone(),
        haechi_cluster::FollowerSettings {
            poll_interval: config.cluster.follow_interval,
            batch: 1000,
        },
        node.change_head.unwrap_or(0),
    );
    if let Some(cache) = record_cache {
        follower = follower.with_record_cache(cache);
    }
    follower
        .catch_up()
        .await
        .map_err(|error| anyhow::anyhow!("cannot read the cluster's change log: {error}"))?;
    let links = haechi_server::drill::ClusterLinks {
        changes: store.clone(),
        follower: follower.handle(),
    };
    tokio::spawn(follower.run(closing));
    Ok(Some(Following { freshness, links }))
}
