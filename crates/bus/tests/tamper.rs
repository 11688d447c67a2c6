//! Messages forged into the stream are found by verify, and stop the node they impersonate.

use haechi_audit::record::encode_stored;
use haechi_audit::{AuditRecord, Checkpoint, Error, Problem};
use haechi_bus::{NodeId, Part};

use crate::util::{audit_key, event, open_node, shared_bus, stream_records};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_messages_in_the_stream_are_detected() {
    let Some(bus) = shared_bus().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open_node(&bus, dir.path(), "api-1").await.unwrap();
    for n in 0..30 {
        log.append(event(n)).await.unwrap();
    }
    log.shutdown().await.unwrap();
    let node = NodeId::new("api-1").unwrap();
    let original = stream_records(&bus).await[&node][6].clone();
    assert_eq!(original.seq, 7);

    // Someone with publish rights rewrites seq 7 (properly re-chained and re-hashed) and
    // publishes it on the node's subject.
    let forged = AuditRecord::chained(
        7,
        original.event.clone().customer("c_someone_else"),
        original.prev_hash,
    );
    let subject = bus.names().subject(&node, Part::Records);
    let publish = |bytes: Vec<u8>, subject: String| {
        let context = bus.jetstream().clone();
        async move {
            context
                .publish(subject, bytes.into())
                .await
                .unwrap()
                .await
                .unwrap()
        }
    };
    let mut bytes = Vec::new();
    encode_stored(&forged, &mut bytes);
    publish(bytes, subject.clone()).await;

    let report = bus.verify(&audit_key().verifying_key()).await.unwrap();
    assert!(!report.is_intact());
    let problems = &report.nodes[&node].problems;
    assert!(
        problems
            .iter()
            .any(|problem| matches!(problem, Problem::Duplicate { seq: 7, .. })),
        "{report}"
    );

    // An altered record whose stored hash was not recomputed, a checkpoint signed with
    // another key, and a message where none belongs.
    let mut altered = original.clone();
    altered.event.status = 500;
    let mut bytes = Vec::new();
    encode_stored(&altered, &mut bytes);
    publish(bytes, subject.clone()).await;
    let wrong_key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let checkpoint = Checkpoint::sign(30, [1; 32], original.event.time, &wrong_key);
    publish(
        checkpoint.encode().to_vec(),
        bus.names().subject(&node, Part::Checkpoints),
    )
    .await;
    publish(
        b"hello".to_vec(),
        format!("{}.audit.api-1.extra", bus.names().prefix()),
    )
    .await;
    let report = bus.verify(&audit_key().verifying_key()).await.unwrap();
    let problems = &report.nodes[&node].problems;
    assert!(
        problems
            .iter()
            .any(|problem| matches!(problem, Problem::RecordAltered { seq: 7, .. })),
        "{report}"
    );
    assert!(
        problems
            .iter()
            .any(|problem| matches!(problem, Problem::CheckpointWrongKey { seq: 30, .. })),
        "{report}"
    );
    assert_eq!(report.foreign.len(), 1, "{report}");

    // The node itself refuses to write on: its chain in the stream is not its own any more.
    let refused = open_node(&bus, dir.path(), "api-1").await.unwrap_err();
    assert!(
        matches!(refused, Error::ReplicaDiverged { .. }),
        "{refused}"
    );
    assert!(refused.to_string().contains("seq 7"), "{refused}");
}
