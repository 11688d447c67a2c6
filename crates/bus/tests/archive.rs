//! The cluster's archive against the real NATS and real files: export of several nodes'
//! chains, incremental and idempotent, recovery from an interrupted export; prune refusing
//! what is not archived and purging what is, with verify passing after it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use haechi_audit::{AuditRecord, ExportOptions, Notice, PruneMode, VerifySources};
use haechi_bus::{
    Bus, BusOptions, EXPORT_MARKER, Error, NodeId, Part, PruneBound, StreamRetention,
    node_archive_dir,
};

use crate::util::{append_concurrently, audit_key, open_node, shut, stream_records};

/// A bus on the shared NATS whose stream may be pruned; `None` (skip) without a server.
async fn prunable_bus() -> Option<Bus> {
    let nats = haechi_testbed::nats()?;
    let mut options = BusOptions::new(&nats.url, &nats.prefix, 1);
    options.retention = StreamRetention::Archive;
    Some(Bus::connect(options).await.expect("connect"))
}

/// Every record of the cluster archive in `dir`, by node, read back.
fn archived(dir: &Path) -> BTreeMap<NodeId, Vec<AuditRecord>> {
    haechi_bus::cluster_archive_nodes(dir)
        .unwrap()
        .expect("a cluster archive")
        .into_iter()
        .map(|(node, dir)| {
            let records = haechi_audit::read_archive(&dir)
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            (node, records)
        })
        .collect()
}

/// Two nodes, each with `count` records appended by 8 concurrent callers.
async fn two_nodes(bus: &Bus, dirs: &[&Path; 2], range: std::ops::Range<u64>) {
    for (node, dir) in ["api-a", "api-b"].iter().zip(dirs) {
        let (log, _) = open_node(bus, dir, node).await.unwrap();
        let log = Arc::new(log);
        append_concurrently(&log, range.clone(), 8).await;
        shut(log).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_writes_each_node_chain_once_and_only_what_is_new() {
    let Some(bus) = prunable_bus().await else {
        return;
    };
    let (a, b, archive) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let to = archive.path().join("cluster");
    two_nodes(&bus, &[a.path(), b.path()], 0..300).await;
    let options = ExportOptions::default();

    let first = bus.export(&to, &options).await.unwrap();
    assert_eq!(first.records, 600);
    assert_eq!(first.from_sequence, 1);
    assert!(first.skipped.is_empty());
    let in_stream = stream_records(&bus).await;
    assert_eq!(
        archived(&to),
        in_stream,
        "the archive is the stream's chains"
    );
    // Both nodes have seqs 1..=300: each chain under its own directory, none overwritten.
    assert!(node_archive_dir(&to, &NodeId::new("api-a").unwrap()).is_dir());
    assert_eq!(first.nodes.len(), 2);

    // Nothing new: nothing written. Then more records: only those.
    let again = bus.export(&to, &options).await.unwrap();
    assert_eq!((again.records, again.files_written.len()), (0, 0));
    two_nodes(&bus, &[a.path(), b.path()], 300..400).await;
    let second = bus.export(&to, &options).await.unwrap();
    assert_eq!(second.records, 200);
    assert_eq!(second.from_sequence, first.through_sequence + 1);
    for (first_seq, last_seq) in second.nodes.values() {
        assert_eq!((*first_seq, *last_seq), (301, 400));
    }
    assert_eq!(archived(&to), stream_records(&bus).await);

    // Each node's directory verifies on its own as an archive, checkpoints included.
    let key = audit_key().verifying_key();
    for (node, dir) in haechi_bus::cluster_archive_nodes(&to).unwrap().unwrap() {
        let report = haechi_audit::verify(&VerifySources::archive(&dir), &key).unwrap();
        assert!(report.is_intact(), "{node}: {report}");
        assert_eq!(report.last_seq, 400);
        assert!(report.checkpoints_verified > 0, "{report}");
    }
    let report = bus.verify_with_archive(&key, &to).await.unwrap();
    assert!(report.is_intact(), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_export_leaves_nothing_taken_for_complete() {
    let Some(bus) = prunable_bus().await else {
        return;
    };
    let (a, b, archive) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let to = archive.path().to_path_buf();
    two_nodes(&bus, &[a.path(), b.path()], 0..50).await;
    bus.export(&to, &ExportOptions::default()).await.unwrap();
    let marker = std::fs::read(to.join(EXPORT_MARKER)).unwrap();
    two_nodes(&bus, &[a.path(), b.path()], 50..80).await;
    bus.export(&to, &ExportOptions::default()).await.unwrap();
    // The crash: the second export's files were written, its marker was not.
    std::fs::write(to.join(EXPORT_MARKER), &marker).unwrap();
    std::fs::write(to.join(".x.parquet.tmp"), b"half").unwrap();

    let redone = bus.export(&to, &ExportOptions::default()).await.unwrap();
    assert_eq!(redone.uncommitted_removed.len(), 3, "{redone:?}");
    assert_eq!(redone.records, 60);
    assert_eq!(archived(&to), stream_records(&bus).await);

    // A directory holding something else is not taken for the cluster's archive.
    let other = tempfile::tempdir().unwrap();
    std::fs::create_dir(other.path().join("day=2025-06-24")).unwrap();
    let error = bus
        .export(other.path(), &ExportOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Archive { .. }), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_purges_only_what_the_archive_holds_and_verify_still_passes() {
    let Some(bus) = prunable_bus().await else {
        return;
    };
    let (a, b, archive) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let to = archive.path().to_path_buf();
    let key = audit_key().verifying_key();
    two_nodes(&bus, &[a.path(), b.path()], 0..200).await;
    let exported = bus.export(&to, &ExportOptions::default()).await.unwrap();
    two_nodes(&bus, &[a.path(), b.path()], 200..260).await;
    let last = bus.stream().get_info().await.unwrap().state.last_sequence;
    let messages = bus.stream().get_info().await.unwrap().state.messages;

    // Beyond what is exported: refused, nothing purged (also in a dry run).
    for mode in [PruneMode::DryRun, PruneMode::Delete] {
        let error = bus
            .prune(&key, &to, PruneBound::BeforeSequence(last), mode)
            .await
            .unwrap_err();
        assert!(
            matches!(&error, Error::PruneRefused { reason, .. } if reason.contains("export")),
            "{error}"
        );
    }
    for bad in [0, last + 2] {
        let error = bus
            .prune(
                &key,
                &to,
                PruneBound::BeforeSequence(bad),
                PruneMode::Delete,
            )
            .await
            .unwrap_err();
        assert!(matches!(error, Error::PruneRefused { .. }), "{error}");
    }
    assert_eq!(
        bus.stream().get_info().await.unwrap().state.messages,
        messages
    );

    // A dry run says what; the prune does it, each node up to a signed checkpoint.
    let bound = PruneBound::BeforeSequence(exported.through_sequence + 1);
    let dry = bus
        .prune(&key, &to, bound, PruneMode::DryRun)
        .await
        .unwrap();
    assert_eq!(dry.nodes.len(), 2, "{dry:?}");
    assert_eq!(
        bus.stream().get_info().await.unwrap().state.messages,
        messages
    );
    let pruned = bus
        .prune(&key, &to, bound, PruneMode::Delete)
        .await
        .unwrap();
    assert_eq!(pruned.nodes.len(), 2);
    for (node, result) in &pruned.nodes {
        assert!(
            result.through_seq >= 100 && result.through_seq <= 200,
            "{node}: {result:?}"
        );
        assert_eq!(result.records_purged, result.through_seq);
        assert!(result.checkpoints_purged > 0);
    }
    let remaining = stream_records(&bus).await;
    for (node, records) in &remaining {
        assert_eq!(records[0].seq, pruned.nodes[node].through_seq + 1);
        assert_eq!(records.last().unwrap().seq, 260);
    }

    // The stream alone verifies, the pruned prefix noted; with the archive, from seq 1.
    let report = bus.verify(&key).await.unwrap();
    assert!(report.is_intact(), "{report}");
    for chain in report.nodes.values() {
        assert!(
            chain
                .notices
                .iter()
                .any(|notice| matches!(notice, Notice::PrunedPrefix { .. })),
            "{chain}"
        );
    }
    let whole = bus.verify_with_archive(&key, &to).await.unwrap();
    assert!(whole.is_intact(), "{whole}");
    assert!(
        whole
            .nodes
            .values()
            .all(|chain| chain.first_seq == 1 && chain.last_seq == 260)
    );

    // The nodes write on; the export goes on; pruning again purges nothing more.
    two_nodes(&bus, &[a.path(), b.path()], 260..270).await;
    let more = bus.export(&to, &ExportOptions::default()).await.unwrap();
    assert_eq!(more.records, 140);
    let again = bus
        .prune(&key, &to, bound, PruneMode::Delete)
        .await
        .unwrap();
    assert!(
        again.nodes.values().all(|node| node.records_purged == 0),
        "{again:?}"
    );
    assert!(
        bus.verify_with_archive(&key, &to)
            .await
            .unwrap()
            .is_intact()
    );

    // Someone with purge rights removes a node's subjects: verify with the archive says so.
    for part in [Part::Records, Part::Checkpoints] {
        bus.stream()
            .purge()
            .filter(bus.names().subject(&NodeId::new("api-b").unwrap(), part))
            .await
            .unwrap();
    }
    let report = bus.verify_with_archive(&key, &to).await.unwrap();
    assert!(!report.is_intact());
    assert_eq!(
        report.vanished,
        vec![NodeId::new("api-b").unwrap()],
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_denies_purges_is_never_pruned() {
    let Some(nats) = haechi_testbed::nats() else {
        return;
    };
    let bus = haechi_bus::connect(&nats.url, &nats.prefix, 1)
        .await
        .unwrap();
    let (a, b, archive) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    two_nodes(&bus, &[a.path(), b.path()], 0..60).await;
    let exported = bus
        .export(archive.path(), &ExportOptions::default())
        .await
        .unwrap();
    let error = bus
        .prune(
            &audit_key().verifying_key(),
            archive.path(),
            PruneBound::BeforeSequence(exported.through_sequence),
            PruneMode::Delete,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::PruneRefused { reason, .. } if reason.contains("denies purges")),
        "{error}"
    );
}
