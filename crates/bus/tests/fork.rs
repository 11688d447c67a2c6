//! Two processes claiming one node id cannot fork its chain.

use haechi_audit::Error;

use crate::util::{audit_key, copy_dir, event, open_node, shared_bus};

/// A copy of a node's disk started beside the original (a cloned machine): both open (they
/// agree with the stream), the first append wins, and the other one's append is refused and
/// fails its log closed with a reason naming the other writer. The stream keeps one chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_writer_with_the_same_node_id_is_refused() {
    let Some(bus) = shared_bus().await else {
        return;
    };
    let original = tempfile::tempdir().unwrap();
    let (log, _) = open_node(&bus, original.path(), "twin").await.unwrap();
    for n in 0..10 {
        log.append(event(n)).await.unwrap();
    }
    log.shutdown().await.unwrap();
    let clone = tempfile::tempdir().unwrap();
    copy_dir(original.path(), clone.path());

    let (first, _) = open_node(&bus, original.path(), "twin").await.unwrap();
    let (second, _) = open_node(&bus, clone.path(), "twin").await.unwrap();
    assert_eq!(first.append(event(100)).await.unwrap(), 11);
    let refused = second.append(event(200)).await.unwrap_err();
    let Error::Failed { reason } = &refused else {
        panic!("expected a failed log, got {refused}");
    };
    assert!(
        reason.contains("seq 11") && reason.contains("another process"),
        "{reason}"
    );
    assert!(matches!(second.health(), Err(Error::Failed { .. })));
    assert!(second.append(event(201)).await.is_err());
    // The first writer goes on.
    assert_eq!(first.append(event(101)).await.unwrap(), 12);
    first.shutdown().await.unwrap();
    let _ = second.shutdown().await;

    let report = bus.verify(&audit_key().verifying_key()).await.unwrap();
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.records(), 12);
}
