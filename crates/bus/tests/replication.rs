//! A replicated log round trip, and two nodes in one stream.

use std::sync::Arc;

use crate::util::{
    append_concurrently, audit_key, local_records, open_node, shared_bus, shut, stream_records,
};

/// Every acknowledged record is in the stream, byte for byte the local one, and the chain
/// (with its checkpoints) verifies from the stream alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replicated_log_round_trips_through_the_stream() {
    let Some(bus) = shared_bus().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (log, reconciled) = open_node(&bus, dir.path(), "api-1").await.unwrap();
    assert_eq!(reconciled.replica_seq, 0);
    let log = Arc::new(log);
    let seqs = append_concurrently(&log, 0..400, 16).await;
    assert_eq!(seqs, (1..=400).collect::<Vec<_>>());
    assert_eq!(log.replicated_seq(), Some(400));
    shut(log).await;

    let streamed = stream_records(&bus).await;
    assert_eq!(streamed.len(), 1);
    let records = &streamed[&haechi_bus::NodeId::new("api-1").unwrap()];
    assert_eq!(records, &local_records(dir.path()));

    let report = bus.verify(&audit_key().verifying_key()).await.unwrap();
    assert!(report.is_intact(), "{report}");
    let node = &report.nodes[&haechi_bus::NodeId::new("api-1").unwrap()];
    assert_eq!((node.first_seq, node.last_seq), (1, 400));
    assert_eq!(node.last_signed_seq, 400, "{report}");
    assert!(node.checkpoints_verified >= 2, "{report}");
}

/// Two nodes' chains share one stream and verify together, each on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_in_one_stream_verify_together() {
    let Some(bus) = shared_bus().await else {
        return;
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, _) = open_node(&bus, dir_a.path(), "api-a").await.unwrap();
    let (b, _) = open_node(&bus, dir_b.path(), "api-b").await.unwrap();
    let (a, b) = (Arc::new(a), Arc::new(b));
    let (seqs_a, seqs_b) = tokio::join!(
        append_concurrently(&a, 0..150, 4),
        append_concurrently(&b, 1000..1090, 4)
    );
    assert_eq!((seqs_a.len(), seqs_b.len()), (150, 90));
    shut(a).await;
    shut(b).await;

    let report = bus.verify(&audit_key().verifying_key()).await.unwrap();
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.nodes.len(), 2);
    assert_eq!(report.records(), 240);
    let streamed = stream_records(&bus).await;
    assert_eq!(
        streamed[&haechi_bus::NodeId::new("api-b").unwrap()],
        local_records(dir_b.path())
    );

    // The wrong audit key: every checkpoint is reported, for both nodes.
    let other = ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key();
    let report = bus.verify(&other).await.unwrap();
    assert!(!report.is_intact());
    assert!(report.nodes.values().all(|node| !node.is_intact()));
}
