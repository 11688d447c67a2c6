//! Opening a node's log reconciles it with the stream.

use std::sync::Arc;

use haechi_audit::{AuditLog, Error};
use haechi_bus::NodeId;
use haechi_events::SystemClock;

use crate::util::{audit_key, config, event, local_records, open_node, shared_bus, stream_records};

/// Records synced locally but never acknowledged by the stream (a crash in between, played
/// here by appending with the replica left out) are republished at the next open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_the_stream_lacks_are_republished_at_open() {
    let Some(bus) = shared_bus().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open_node(&bus, dir.path(), "api-1").await.unwrap();
    for n in 0..30 {
        log.append(event(n)).await.unwrap();
    }
    log.shutdown().await.unwrap();
    let (local_only, _) =
        AuditLog::open(config(dir.path()), audit_key(), Arc::new(SystemClock)).unwrap();
    for n in 30..42 {
        local_only.append(event(n)).await.unwrap();
    }
    local_only.shutdown().await.unwrap();

    let (log, reconciled) = open_node(&bus, dir.path(), "api-1").await.unwrap();
    assert_eq!(reconciled.replica_seq, 30);
    assert_eq!(reconciled.republished_records, 12);
    assert!(reconciled.republished_checkpoints >= 1, "{reconciled:?}");
    assert_eq!(log.append(event(42)).await.unwrap(), 43);
    log.shutdown().await.unwrap();

    let streamed = stream_records(&bus).await;
    assert_eq!(
        streamed[&NodeId::new("api-1").unwrap()],
        local_records(dir.path())
    );
    let report = bus.verify(&audit_key().verifying_key()).await.unwrap();
    assert!(report.is_intact(), "{report}");
    assert_eq!(
        report.nodes[&NodeId::new("api-1").unwrap()].last_signed_seq,
        43
    );

    // Reopening again finds nothing to do.
    let (log, reconciled) = open_node(&bus, dir.path(), "api-1").await.unwrap();
    assert_eq!(
        (reconciled.replica_seq, reconciled.republished_records),
        (43, 0)
    );
    log.shutdown().await.unwrap();
}

/// A node whose disk lost records the stream holds (a new disk, an old backup, or a node id
/// reused) refuses to open, naming both seqs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_ahead_of_the_local_disk_refuses_to_open() {
    let Some(bus) = shared_bus().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open_node(&bus, dir.path(), "api-1").await.unwrap();
    for n in 0..20 {
        log.append(event(n)).await.unwrap();
    }
    log.shutdown().await.unwrap();
    let backup = tempfile::tempdir().unwrap();
    crate::util::copy_dir(dir.path(), backup.path());
    let (log, _) = open_node(&bus, dir.path(), "api-1").await.unwrap();
    for n in 20..25 {
        log.append(event(n)).await.unwrap();
    }
    log.shutdown().await.unwrap();

    let empty = tempfile::tempdir().unwrap();
    let refused = open_node(&bus, empty.path(), "api-1").await.unwrap_err();
    let Error::ReplicaAhead {
        replica_seq,
        local_seq,
        ..
    } = &refused
    else {
        panic!("expected ReplicaAhead, got {refused}");
    };
    assert_eq!((*replica_seq, *local_seq), (25, 0));
    let text = refused.to_string();
    assert!(
        text.contains("seq 25") && text.contains("seq 0") && text.contains("node id"),
        "{text}"
    );

    let refused = open_node(&bus, backup.path(), "api-1").await.unwrap_err();
    assert!(
        matches!(
            refused,
            Error::ReplicaAhead {
                replica_seq: 25,
                local_seq: 20,
                ..
            }
        ),
        "{refused}"
    );
    // The refusal released the directory: the node can open it once the cause is fixed.
    let (log, _) = open_node(&bus, dir.path(), "api-1").await.unwrap();
    log.shutdown().await.unwrap();
}
