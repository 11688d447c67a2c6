//! Test harness: "API nodes" (audit logs replicated to the bus) and "detection nodes" (the
//! detection pipeline over the cluster's stream, with a token authority, a vault, a desk and
//! containment on PostgreSQL, opened as `haechi serve` opens them), on the real servers of
//! haechi-testbed.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use ed25519_dalek::SigningKey;
use haechi_audit::{AuditLog, AuditLogConfig};
use haechi_bus::{Bus, EntryContent, FeedOptions};
use haechi_custody::{MasterKey, MasterKeyRing, OsRandom};
use haechi_detect::{Engine, Limits};
use haechi_events::{
    Clock, EventKind, EventSink, Principal, SecurityEvent, StoreError, SystemClock,
};
use haechi_respond::pipeline::{
    self, ClusterSource, DetectionLead, HeldLead, PipelineParts, Running, Source,
};
use haechi_respond::sinks::Sinks;
use haechi_respond::{
    AlertDesk, Containment, ContainmentParts, ContainmentStore, Detection, Enforcement, FeedStatus,
    LeadState, SharedAddressSettings,
};
use haechi_store::{Leadership, PgStore};
use haechi_token::{AuthorityParts, OperatorAccess, PasswordParams, TokenAuthority, TokenPolicy};
use haechi_vault::{BlindIndexer, Policy, Vault, VaultParts};

/// The rules of these tests: one alert per failed login (so every event evaluated shows as
/// exactly one alert, `test.each/<stream sequence>`), and a burst of failed logins from one
/// address, counted across every node, that blocks it.
pub const RULES: &str = r#"
id: test.each
title: A failed login
description: Every failed login, one alert each, so each evaluation shows.
false_positives: All of them.
severity: low
fields: [ip, request_id]
detection:
  failed:
    kind: auth.login_failed
  condition: failed
correlation:
  type: event_count
  group-by: [request_id]
  timespan: 1m
  condition: {gte: 1}
  max_groups: 100000
---
id: test.burst
title: Failed logins from one address across the cluster
description: Six failed logins from one address in ten minutes, on any nodes.
false_positives: None in these tests.
severity: high
fields: [ip]
detection:
  failed:
    kind: auth.login_failed
  condition: failed
correlation:
  type: event_count
  group-by: [ip]
  timespan: 10m
  condition: {gte: 6}
cooldown: 1h
response:
  dry_run: false
  actions:
    - block_network: {prefix_len: 32, ttl: 1h}
"#;

/// The audit key of every node (one key per cluster).
pub fn audit_key() -> SigningKey {
    SigningKey::from_bytes(&[42; 32])
}

/// A failed login from `ip` with request id `request_id`, now.
pub fn failed_login(ip: &str, request_id: &str) -> SecurityEvent {
    SecurityEvent::new(
        SystemClock.now(),
        EventKind::LoginFailed,
        Principal::Anonymous,
    )
    .ip(Some(ip.parse().unwrap()))
    .request_id(Some(request_id))
}

/// The servers of one test: a fresh database and the shared NATS under a fresh prefix.
pub struct Cluster {
    pub database: haechi_testbed::TestDatabase,
    pub bus: Bus,
    pub master_key: Arc<MasterKeyRing>,
    pub dir: tempfile::TempDir,
}

impl Cluster {
    /// `None` (skip) without the servers.
    pub async fn start() -> Option<Cluster> {
        let database = haechi_testbed::postgres().await?;
        let nats = haechi_testbed::nats()?;
        let bus = haechi_bus::connect(&nats.url, &nats.prefix, 1)
            .await
            .expect("connect to the shared NATS");
        Some(Cluster {
            database,
            bus,
            master_key: Arc::new(
                MasterKeyRing::new(MasterKey::generate(&OsRandom), Vec::new()).unwrap(),
            ),
            dir: tempfile::tempdir().unwrap(),
        })
    }

    /// Node `node`'s audit log, replicated to the bus.
    pub async fn api_node(&self, node: &str) -> Arc<AuditLog> {
        Arc::new(open_log(&self.bus, &self.dir.path().join(node), node).await)
    }

    /// A store on the cluster's database (an API node's view of it).
    pub async fn store(&self) -> Arc<PgStore> {
        Arc::new(PgStore::open(&self.database.url).await.unwrap())
    }

    /// A detection node `node` over the cluster's stream with the test rules, started; it
    /// stands by until it leads.
    pub async fn detection_node(&self, node: &str) -> DetectionNode {
        let report = haechi_detect::load_str("test-rules.yaml", RULES);
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        let engine = Engine::new(report.rules, Limits::default()).unwrap();
        self.detection_node_with(node, engine, |bus, store| {
            Source::Cluster(Box::new(ClusterSource {
                bus: bus.clone(),
                feed: FeedOptions::new("detection"),
                lead: Arc::new(PgLead(store)),
                lead_check: Duration::from_millis(100),
                settles: None,
            }))
        })
        .await
    }

    /// A detection node `node` running `engine` over the source `source` makes, started.
    pub async fn detection_node_with(
        &self,
        node: &str,
        engine: Engine,
        source: impl FnOnce(&Bus, Arc<PgStore>) -> Source,
    ) -> DetectionNode {
        let store = self.store().await;
        let log = Arc::new(open_log(&self.bus, &self.dir.path().join(node), node).await);
        let events: Arc<dyn EventSink> = log.clone();
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        // As `haechi serve` does: nodes open the authority one at a time.
        let opening = store.lead("authority-open").await.unwrap();
        let authority = Arc::new(
            TokenAuthority::open(AuthorityParts {
                store: store.clone(),
                custody: haechi_custody::SigningCustody::MasterKey,
                master_key: self.master_key.clone(),
                clock: clock.clone(),
                events: events.clone(),
                random: Arc::new(OsRandom),
                policy: TokenPolicy::default(),
                password_params: PasswordParams {
                    memory_kib: 1024,
                    iterations: 1,
                    parallelism: 1,
                },
                operator_access: OperatorAccess::TokensOnly,
                sign_in_limits: store.clone(),
            })
            .await
            .unwrap(),
        );
        opening.resign().await;
        let index_key = authority
            .keys()
            .named_secret("blind-index-key")
            .await
            .unwrap();
        let vault = Arc::new(Vault::new(VaultParts {
            store: store.clone(),
            authority: authority.clone(),
            master_key: self.master_key.clone(),
            clock: clock.clone(),
            events: events.clone(),
            random: Arc::new(OsRandom),
            policy: Policy::default(),
            indexer: BlindIndexer::new(index_key, 24),
            policy_store: None,
            // A node of the cluster: its limits are the shared store's.
            shared_budgets: Some(store.clone()),
            lookup_limits: store.clone(),
            // As `haechi serve` keeps it, so every test reads through the cache.
            record_cache_bytes: 64 * 1024 * 1024,
        }));
        let containment_store: Arc<dyn ContainmentStore> = store.clone();
        let alerts = AlertDesk::open(containment_store.clone(), clock.clone(), 100_000)
            .await
            .unwrap();
        let containment = Containment::open(ContainmentParts {
            store: containment_store,
            authority: authority.clone(),
            events: events.clone(),
            never_block: Vec::new(),
            enforcement: Enforcement::Enforce,
            response_grant: authority.take_response_grant().unwrap(),
            shared_addresses: SharedAddressSettings {
                threshold: 20,
                capacity: 1000,
            },
        })
        .await
        .unwrap();
        let detection = Arc::new(Detection::new(
            alerts,
            containment,
            haechi_respond::IncidentDesk::new(store.clone()),
        ));
        let running = pipeline::spawn(
            PipelineParts {
                source: source(&self.bus, store.clone()),
                events,
                vault,
                authority,
                detection: detection.clone(),
                sinks: Sinks::start(None, false).unwrap(),
                clock,
                rules: None,
            },
            engine,
        )
        .await;
        DetectionNode {
            detection,
            running: Some(running),
            log,
        }
    }
}

/// A detection node of a test.
pub struct DetectionNode {
    pub detection: Arc<Detection>,
    pub running: Option<Running>,
    pub log: Arc<AuditLog>,
}

impl DetectionNode {
    /// What its detection task says now.
    pub fn status(&self) -> Option<FeedStatus> {
        self.detection.status.feed()
    }

    /// Whether it leads.
    pub fn leads(&self) -> bool {
        self.status()
            .is_some_and(|status| status.state == LeadState::Leading)
    }

    /// Stops its pipeline cleanly (flush, acknowledge, resign).
    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop(Duration::from_secs(10)).await;
        }
    }

    /// Kills its pipeline as a crash would: nothing more evaluated or acknowledged.
    pub async fn kill(&mut self) {
        if let Some(running) = self.running.take() {
            running.abort().await;
        }
    }
}

/// Waits up to `limit` for `condition`; panics with `what` otherwise.
pub async fn wait_until(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Opens `dir` as node `node`'s audit log, replicated to `bus`.
pub async fn open_log(bus: &Bus, dir: &Path, node: &str) -> AuditLog {
    std::fs::create_dir_all(dir).unwrap();
    let replica = bus.replica(node).unwrap();
    let (log, _, _) = AuditLog::open_replicated(
        AuditLogConfig::new(dir),
        audit_key(),
        Arc::new(SystemClock),
        Box::new(replica),
    )
    .await
    .unwrap();
    log
}

/// What the stream holds: every record with its stream sequence, in order.
pub async fn stream_records(bus: &Bus) -> Vec<(u64, String, SecurityEvent)> {
    let mut reader = bus.reader().await.unwrap();
    let mut records = Vec::new();
    while let Some(entry) = reader.next_entry().await.unwrap() {
        if let EntryContent::Record { node, record, .. } = entry.content {
            records.push((entry.sequence, node.to_string(), record.event));
        }
    }
    records
}

/// How many `alert.raised` records the stream holds for each alert id.
pub fn raised_alerts(records: &[(u64, String, SecurityEvent)]) -> BTreeMap<String, usize> {
    let mut raised = BTreeMap::new();
    for (_, _, event) in records {
        if event.kind == EventKind::AlertRaised {
            *raised.entry(event.detail["alert_id"].clone()).or_insert(0) += 1;
        }
    }
    raised
}

/// The lead of detection as `haechi serve` takes it: a PostgreSQL advisory lock.
pub struct PgLead(pub Arc<PgStore>);

#[async_trait]
impl DetectionLead for PgLead {
    async fn try_lead(&self) -> Result<Option<Box<dyn HeldLead>>, StoreError> {
        Ok(self
            .0
            .try_lead("detection")
            .await?
            .map(|held| Box::new(PgHeld(held)) as Box<dyn HeldLead>))
    }
}

struct PgHeld(Leadership);

#[async_trait]
impl HeldLead for PgHeld {
    async fn still_held(&mut self) -> bool {
        self.0.still_held().await
    }

    async fn resign(self: Box<Self>) {
        self.0.resign().await;
    }
}
