//! Where state lives when Haechi runs as a cluster: the store (`[store]`), the bus (`[bus]`)
//! and this node's place in the cluster (`[cluster]`). All unset: the embedded default, one
//! node on the SQLite file in the data directory. See docs/cluster.md.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The state store.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSection {
    /// `postgres://user:password@host:port/database` (also `--store`, `HAECHI_STORE`). Unset:
    /// the embedded SQLite database in the data directory. May hold a password: never
    /// printed or logged as it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Connections this node keeps to PostgreSQL (default 16).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<u32>,
}

/// The event bus: NATS JetStream, carrying every node's audit trail.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BusSection {
    /// `nats://[user:password@]host:port` (also `--bus`, `HAECHI_BUS`). Unset: the audit trail
    /// stays on this node's disk only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Prefix of the subjects and of the audit stream's name (default `haechi`): several
    /// deployments may share one NATS server.
    pub prefix: String,
    /// Replicas of the audit stream: 1 on a single NATS server, 3 on a NATS cluster.
    pub replicas: usize,
    /// How long an audit append waits for JetStream's acknowledgement before the node fails
    /// closed (default 5s).
    #[serde(with = "humantime_serde")]
    pub ack_timeout: Duration,
    /// Whether the audit stream may ever be pruned, decided when it is created (default
    /// `forever`): `archive` lets `haechi audit prune --bus` purge what the cluster's archive
    /// holds; `forever` denies purges for good. Every node must say the same
    /// (docs/cluster-audit.md).
    pub retention: StreamRetentionSetting,
}

/// `[bus] retention`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamRetentionSetting {
    /// Nothing ever leaves the stream.
    #[default]
    Forever,
    /// Records leave only through `haechi audit prune --bus`, once archived.
    Archive,
}

impl From<StreamRetentionSetting> for haechi_bus::StreamRetention {
    fn from(setting: StreamRetentionSetting) -> Self {
        match setting {
            StreamRetentionSetting::Forever => haechi_bus::StreamRetention::Forever,
            StreamRetentionSetting::Archive => haechi_bus::StreamRetention::Archive,
        }
    }
}

impl Default for BusSection {
    fn default() -> Self {
        BusSection {
            url: None,
            prefix: "haechi".into(),
            replicas: 1,
            ack_timeout: haechi_bus::DEFAULT_ACK_TIMEOUT,
            retention: StreamRetentionSetting::Forever,
        }
    }
}

/// This node in the cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterSection {
    /// This node's name, unique in the cluster and kept across restarts (also `--node-id`,
    /// `HAECHI_NODE_ID`): its audit chain in the stream is named after it. Required with a
    /// bus.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    /// How far behind the cluster's shared decisions (revocations, blocks, suspensions, key
    /// states, policy) this node's memory may be before it refuses to decide (503) until it
    /// has caught up (default 1s).
    #[serde(with = "humantime_serde")]
    pub freshness_bound: Duration,
    /// How often the node reads the shared decisions it has not seen (default 100ms).
    #[serde(with = "humantime_serde")]
    pub follow_interval: Duration,
}

impl Default for ClusterSection {
    fn default() -> Self {
        ClusterSection {
            node_id: None,
            freshness_bound: Duration::from_secs(1),
            follow_interval: Duration::from_millis(100),
        }
    }
}

/// What a node does (`haechi serve --role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Role {
    /// Serve the HTTP API only; detection runs elsewhere.
    Api,
    /// Run detection over the cluster's audit stream only (and `/healthz`, `/readyz`,
    /// `/metrics`); response actions reach the API nodes through the store's change log.
    Detect,
    /// Serve the public's part only — the portal, the anonymous check, the statements, "is
    /// this message from us?" — so a surge there never queues operators and services, which
    /// the API nodes serve.
    Portal,
    /// Watch the leak sources of `[leakwatch]` only (and `/healthz`, `/readyz`, `/metrics`):
    /// one such node leads the watch at a time, a second stands by.
    #[value(name = "leakwatch")]
    LeakWatch,
    /// Everything (the single-node default): the API, detection, and the leak watch when
    /// sources are configured.
    #[default]
    All,
}

impl Role {
    /// Whether this node answers the API.
    pub fn serves_api(self) -> bool {
        matches!(self, Role::Api | Role::All)
    }

    /// The role as `--role` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Role::Api => "api",
            Role::Detect => "detect",
            Role::Portal => "portal",
            Role::LeakWatch => "leakwatch",
            Role::All => "all",
        }
    }

    /// Whether this node serves the portal and the anonymous check.
    pub fn serves_portal(self) -> bool {
        matches!(self, Role::Api | Role::Portal | Role::All)
    }

    /// Whether this node runs detection.
    pub fn detects(self) -> bool {
        matches!(self, Role::Detect | Role::All)
    }

    /// Whether this node watches the leak sources (when any are configured).
    pub fn watches_leaks(self) -> bool {
        matches!(self, Role::LeakWatch | Role::All)
    }

    /// Whether `config` gives this role what it needs. Roles split a cluster: an API node
    /// without a shared store would keep decisions no other node sees.
    pub fn check(self, config: &super::Config) -> anyhow::Result<()> {
        if self != Role::All && config.store.url.is_none() {
            anyhow::bail!(
                "--role {} is for a node of a cluster: give it the shared store (--store \
                 postgres://…) and the bus (--bus nats://…); a single node runs --role all",
                self.name()
            );
        }
        if matches!(self, Role::Detect | Role::LeakWatch | Role::Portal) && config.bus.url.is_none()
        {
            // A detection node without the bus would read only its own (empty) log: it would
            // look like coverage and give none. A watch node's findings, and a portal node's
            // sign-ins and checks, are judged by the detection nodes, which read them from
            // the bus.
            anyhow::bail!(
                "--role {} needs the bus that carries every node's audit records to detection: \
                 give it --bus nats://… as well as the shared store",
                self.name()
            );
        }
        if self == Role::LeakWatch && config.leakwatch.sources.is_empty() {
            anyhow::bail!(
                "--role leakwatch watches the sources of [leakwatch]: configure at least one \
                 [[leakwatch.source]] (docs/leak-watch.md)"
            );
        }
        Ok(())
    }
}
