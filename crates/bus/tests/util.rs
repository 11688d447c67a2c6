//! Test harness: the bus, events, keys, and logs opened with a replica.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use haechi_audit::{AuditLog, AuditLogConfig, AuditRecord, Reconciled};
use haechi_bus::{Bus, BusOptions, EntryContent, NodeId};
use haechi_events::{EventKind, Principal, SecurityEvent, SystemClock, Timestamp};

/// The audit key of every node in these tests (one key per cluster).
pub fn audit_key() -> SigningKey {
    SigningKey::from_bytes(&[42; 32])
}

/// A varied event number `n`.
pub fn event(n: u64) -> SecurityEvent {
    let kind = [
        EventKind::PiiRead,
        EventKind::LoginOk,
        EventKind::TokenIssued,
    ][(n % 3) as usize];
    SecurityEvent::new(
        Timestamp::from_micros(1_750_723_200_000_000 + n as i64 * 1000),
        kind,
        Principal::Service("shipping".into()),
    )
    .customer(format!("c_{}", n % 10))
    .fields(["phone"])
    .request_id(Some(&format!("req-{n}")))
}

/// The shared NATS with a fresh prefix, connected; `None` (skip) without a server.
pub async fn shared_bus() -> Option<Bus> {
    let nats = haechi_testbed::nats()?;
    Some(
        haechi_bus::connect(&nats.url, &nats.prefix, 1)
            .await
            .expect("connect to the shared NATS"),
    )
}

/// A bus on `url` under `prefix` that gives up on acknowledgements after one second.
pub async fn bus_at(url: &str, prefix: &str) -> Bus {
    let mut options = BusOptions::new(url, prefix, 1);
    options.ack_timeout = Duration::from_secs(1);
    Bus::connect(options).await.expect("connect")
}

/// The log settings of these tests: a checkpoint every 25 records.
pub fn config(dir: &Path) -> AuditLogConfig {
    let mut config = AuditLogConfig::new(dir);
    config.checkpoint_every_records = 25;
    config.checkpoint_interval = Duration::from_secs(3600);
    config
}

/// Opens `dir` as node `node`'s log, replicated to `bus`.
pub async fn open_node(
    bus: &Bus,
    dir: &Path,
    node: &str,
) -> Result<(AuditLog, Reconciled), haechi_audit::Error> {
    let replica = bus.replica(node).expect("replica");
    AuditLog::open_replicated(
        config(dir),
        audit_key(),
        Arc::new(SystemClock),
        Box::new(replica),
    )
    .await
    .map(|(log, _, reconciled)| (log, reconciled))
}

/// Appends events `range` from `tasks` concurrent callers (so batches hold many records);
/// returns the seqs acknowledged.
pub async fn append_concurrently(
    log: &Arc<AuditLog>,
    range: std::ops::Range<u64>,
    tasks: u64,
) -> Vec<u64> {
    let mut handles = Vec::new();
    for task in 0..tasks {
        let log = Arc::clone(log);
        let numbers: Vec<u64> = range.clone().filter(|n| n % tasks == task).collect();
        handles.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for n in numbers {
                seqs.push(log.append(event(n)).await.expect("append"));
            }
            seqs
        }));
    }
    let mut seqs = Vec::new();
    for handle in handles {
        seqs.extend(handle.await.unwrap());
    }
    seqs.sort_unstable();
    seqs
}

/// Every record in the stream, by node, in stream order.
pub async fn stream_records(bus: &Bus) -> BTreeMap<NodeId, Vec<AuditRecord>> {
    let mut reader = bus.reader().await.unwrap();
    let mut records: BTreeMap<NodeId, Vec<AuditRecord>> = BTreeMap::new();
    while let Some(entry) = reader.next_entry().await.unwrap() {
        if let EntryContent::Record { node, record, .. } = entry.content {
            records.entry(node).or_default().push(record);
        }
    }
    records
}

/// Every record of the local log in `dir`.
pub fn local_records(dir: &Path) -> Vec<AuditRecord> {
    haechi_audit::read_log(dir)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Takes `log` out of its `Arc` and shuts it down.
pub async fn shut(log: Arc<AuditLog>) {
    log.shutdown().await.unwrap();
}

/// Copies a directory tree (a node's disk cloned).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
