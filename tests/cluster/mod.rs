//! The cluster tests: several `haechi serve` processes on one PostgreSQL database and one
//! NATS JetStream stream, driven over real HTTP. The servers come from the environment
//! (`haechi-testbed`; `scripts/cluster-servers start`); without them each test says SKIPPED,
//! and CI (`HAECHI_REQUIRE_SERVERS=1`) fails instead.

mod archive;
mod budgets;
mod consistency;
mod crash;
mod detection;
mod drill;
mod leak_watch;
mod limits;
mod outage;
mod portal_node;

use std::time::{Duration, Instant};

use haechi_testbed::{TestDatabase, TestNats};

use crate::util::{Instance, Server};

/// A cluster under test: its database, its stream prefix, the one master key every node
/// shares, and an operator's node for one-shot commands.
pub struct Cluster {
    /// The test database (dropped with the cluster).
    _database: TestDatabase,
    /// The store every node uses (the test database, unless a test gives its own server).
    pub store_url: String,
    pub nats: TestNats,
    master_key: String,
    /// The operator's machine (its own data dir and audit chain, `ops`): `admin create`,
    /// `service create`, `customers create`.
    pub ops: Instance,
}

impl Cluster {
    /// A fresh database and stream prefix, or `None` when no servers are configured.
    pub async fn new() -> Option<Cluster> {
        let database = haechi_testbed::postgres().await?;
        let nats = haechi_testbed::nats()?;
        let master_key = hex::encode(rand::random::<[u8; 32]>());
        let mut cluster = Cluster {
            store_url: database.url.clone(),
            _database: database,
            nats,
            master_key,
            ops: Instance::new(),
        };
        cluster.ops = cluster.node_instance("ops");
        Some(cluster)
    }

    /// The same cluster on another NATS server (a private one a test stops and restarts).
    pub fn on_bus(mut self, url: &str) -> Cluster {
        self.nats.url = url.to_string();
        self.ops = self.node_instance("ops");
        self
    }

    /// The same cluster on another PostgreSQL server (a private one a test restarts).
    pub fn on_store(mut self, url: &str) -> Cluster {
        self.store_url = url.to_string();
        self.ops = self.node_instance("ops");
        self
    }

    /// The environment of node `node_id`, on a data dir of its own.
    pub fn node_instance(&self, node_id: &str) -> Instance {
        Instance::new()
            .with_env("HAECHI_MASTER_KEY", &self.master_key)
            .with_env("HAECHI_STORE", &self.store_url)
            .with_env("HAECHI_BUS", &self.nats.url)
            .with_env("HAECHI_BUS__PREFIX", &self.nats.prefix)
            .with_env("HAECHI_NODE_ID", node_id)
            .with_env("HAECHI_TOKEN__ISSUER", "https://auth.haechi.test")
    }

    /// Writes an access policy granting `service` masked reads of every field (purpose
    /// `support`) and of the name (purpose `account`), with `quota` (TOML lines of the
    /// `[quota]` table); returns its path, for `HAECHI_VAULT__POLICY_FILE`.
    pub fn write_policy(&self, service: &str, quota: &str) -> String {
        let policy = format!(
            r#"
[[grant]]
service = "{service}"
purposes = ["support"]
fields = ["*"]
access = "masked"

[[grant]]
service = "{service}"
purposes = ["account"]
fields = ["name"]
access = "masked"

[quota]
{quota}
"#
        );
        let path = self.ops.dir.path().join("policy.toml");
        std::fs::write(&path, policy).unwrap();
        path.display().to_string()
    }

    /// Starts a node with `role` (`api`, `detect`, `all`).
    pub fn start_node(&self, instance: &Instance, role: &str) -> Server {
        instance.start_with(instance.command(&["serve", "--listen", "127.0.0.1:0", "--role", role]))
    }
}

/// Polls `probe` until it answers true or `limit` passes; returns how long it took.
pub async fn time_until<F, Fut>(limit: Duration, mut probe: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while started.elapsed() < limit {
        if probe().await {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    None
}

/// A customer record for `POST /v1/customers`, different for each `index`.
pub fn customer(index: u32) -> serde_json::Value {
    serde_json::json!({
        "name": "김민준",
        "email": format!("customer{index}@example.com"),
        "phone": format!("010-{}-{:04}", 2000 + index, 1000 + index),
        "birth_date": "1990-04-01",
        "addresses": [{
            "recipient": "김민준",
            "phone": format!("010-{}-{:04}", 2000 + index, 1000 + index),
            "road_address": "서울특별시 송파구 올림픽로 300",
            "detail": "101동 1203호",
            "postal_code": "05551",
        }],
    })
}
