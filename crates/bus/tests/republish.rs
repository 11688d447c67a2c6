//! A closed log moved into the stream under a node id of its own (`haechi migrate --bus`):
//! from seq 1 even where retention pruned the live log into the archive, resumable, refused
//! over another chain, and verified from the stream alone.

use std::sync::Arc;

use haechi_audit::{AuditLog, ExportOptions, PruneOptions};
use haechi_bus::{Error, NodeId, republish_log, verify_node};
use haechi_events::SystemClock;

use crate::util::{append_concurrently, audit_key, config, local_records, shared_bus, shut};

/// A closed log of `records` records in small segments; with `pruned`, its sealed segments
/// exported to an archive and pruned from the live log.
async fn closed_log(records: u64, pruned: bool) -> (tempfile::TempDir, tempfile::TempDir) {
    closed_log_of(0..records, pruned).await
}

/// A closed log of the events numbered `events` (their content follows their numbers).
async fn closed_log_of(
    events: std::ops::Range<u64>,
    pruned: bool,
) -> (tempfile::TempDir, tempfile::TempDir) {
    let (dir, archive) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut settings = config(dir.path());
    settings.segment_max_bytes = 16 * 1024;
    let (log, _) = AuditLog::open(settings, audit_key(), Arc::new(SystemClock)).unwrap();
    let log = Arc::new(log);
    append_concurrently(&log, events, 8).await;
    shut(log).await;
    if pruned {
        let exported =
            haechi_audit::export(dir.path(), archive.path(), &ExportOptions::default()).unwrap();
        assert!(exported.segments_exported > 1, "{exported:?}");
        let pruned =
            haechi_audit::prune_closed_log(dir.path(), &PruneOptions::everything_archived())
                .unwrap();
        assert!(
            pruned.seqs.is_some_and(|(first, _)| first == 1),
            "{pruned:?}"
        );
    }
    (dir, archive)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pruned_log_moves_whole_and_verifies_from_the_stream() {
    let Some(bus) = shared_bus().await else {
        return;
    };
    let (dir, _archive) = closed_log(600, true).await;
    let history: Vec<_> = haechi_audit::read_history(dir.path())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(history.len(), 600, "the archived part comes first");
    assert!(
        local_records(dir.path()).len() < 600,
        "the live log was pruned"
    );

    let handled = std::sync::atomic::AtomicU64::new(0);
    let report = republish_log(&bus, "embedded", dir.path(), &|records| {
        handled.store(records, std::sync::atomic::Ordering::Relaxed)
    })
    .await
    .unwrap();
    assert_eq!(
        (report.records, report.published_records),
        (600, 600),
        "{report:?}"
    );
    assert_eq!(handled.load(std::sync::atomic::Ordering::Relaxed), 600);
    assert_eq!(report.head.map(|(seq, _)| seq), Some(600));
    assert!(report.checkpoints >= 2 && report.published_checkpoints == report.checkpoints);

    let verified = verify_node(&bus, "embedded", &audit_key().verifying_key())
        .await
        .unwrap();
    assert!(verified.is_intact(), "{verified}");
    assert_eq!((verified.first_seq, verified.last_seq), (1, 600));
    assert_eq!(verified.checkpoints_verified, report.checkpoints);
    let everything = bus.verify(&audit_key().verifying_key()).await.unwrap();
    assert!(everything.is_intact(), "{everything}");
    let streamed = crate::util::stream_records(&bus).await;
    assert_eq!(streamed[&NodeId::new("embedded").unwrap()], history);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn republishing_again_sends_nothing_and_resumes_a_partial_copy() {
    let Some(bus) = shared_bus().await else {
        return;
    };
    let (dir, _archive) = closed_log(300, false).await;
    // A partial copy, as an interrupted move leaves it: the first 100 records only.
    let records = local_records(dir.path());
    let mut replica = bus.replica("embedded").unwrap();
    use haechi_audit::Replica as _;
    replica.position().await.unwrap();
    replica
        .append_records(haechi_audit::ReplicaBatch::from_records(&records[..100]))
        .await
        .unwrap();

    let resumed = republish_log(&bus, "embedded", dir.path(), &|_| {})
        .await
        .unwrap();
    assert_eq!((resumed.records, resumed.published_records), (300, 200));
    let again = republish_log(&bus, "embedded", dir.path(), &|_| {})
        .await
        .unwrap();
    assert_eq!(
        (again.published_records, again.published_checkpoints),
        (0, 0)
    );
    let verified = verify_node(&bus, "embedded", &audit_key().verifying_key())
        .await
        .unwrap();
    assert!(verified.is_intact(), "{verified}");
    assert_eq!(verified.records, 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_chain_under_the_node_id_is_refused_untouched() {
    let Some(bus) = shared_bus().await else {
        return;
    };
    let (first, _a) = closed_log(50, false).await;
    // Another deployment's chain: other events. (Two logs of the same events can come out in
    // the same order from the concurrent appends, and then they are the same chain.)
    let (second, _b) = closed_log_of(1_000..1_080, false).await;
    republish_log(&bus, "embedded", first.path(), &|_| {})
        .await
        .unwrap();
    let refused = republish_log(&bus, "embedded", second.path(), &|_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, Error::ChainConflict { node, .. } if node == "embedded"),
        "{refused}"
    );
    // A shorter log than the stream's copy is refused too (another deployment's, or cut).
    let (short, _c) = closed_log(20, false).await;
    let refused = republish_log(&bus, "embedded", short.path(), &|_| {})
        .await
        .unwrap_err();
    assert!(matches!(refused, Error::ChainConflict { .. }), "{refused}");
    let verified = verify_node(&bus, "embedded", &audit_key().verifying_key())
        .await
        .unwrap();
    assert!(verified.is_intact(), "{verified}");
    assert_eq!(verified.records, 50, "the first chain is untouched");
}
