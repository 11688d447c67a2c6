//! A closed log's whole history (what `haechi migrate` moves): from seq 1 across the archive
//! and the live log, a hole named rather than skipped, and the writer's lock held without
//! opening the log.

use haechi_audit::{ExportOptions, PruneOptions, hold_log, log_checkpoints, read_history};

use crate::util::{config, open, write};

/// A closed log of 200 records in small segments, its sealed segments archived and pruned.
async fn pruned_log() -> (tempfile::TempDir, tempfile::TempDir) {
    let (dir, archive) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut settings = config(dir.path());
    settings.segment_max_bytes = 4096;
    settings.checkpoint_every_records = 50;
    let (log, _) = open(settings);
    write(&log, 1..=200).await;
    log.shutdown().await.unwrap();
    haechi_audit::export(dir.path(), archive.path(), &ExportOptions::default()).unwrap();
    let pruned =
        haechi_audit::prune_closed_log(dir.path(), &PruneOptions::everything_archived()).unwrap();
    assert!(
        pruned
            .seqs
            .is_some_and(|(first, last)| first == 1 && last > 50)
    );
    (dir, archive)
}

#[tokio::test]
async fn the_history_of_a_pruned_log_runs_from_seq_1_through_archive_and_log() {
    let (dir, _archive) = pruned_log().await;
    let history: Vec<_> = read_history(dir.path())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let seqs: Vec<u64> = history.iter().map(|record| record.seq).collect();
    assert_eq!(seqs, (1..=200).collect::<Vec<_>>());
    // As stored: every stored hash is the content's, and each links to the one before.
    for pair in history.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash);
    }
    assert!(
        history
            .iter()
            .all(|record| record.computed_hash() == record.hash)
    );
    let checkpoints = log_checkpoints(dir.path()).unwrap();
    assert!(checkpoints.len() >= 4, "{}", checkpoints.len());
    assert_eq!(checkpoints.last().unwrap().seq, 200);
}

#[tokio::test]
async fn a_history_whose_archive_is_gone_names_the_hole_and_stops() {
    let (dir, archive) = pruned_log().await;
    drop(archive);
    let mut history = read_history(dir.path()).unwrap();
    let error = history.next().unwrap().unwrap_err().to_string();
    assert!(
        error.contains("No such file") || error.contains("seq"),
        "{error}"
    );
    assert!(history.next().is_none(), "nothing after the hole");
}

#[tokio::test]
async fn holding_a_log_keeps_writers_out_and_lets_go_on_drop() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(config(dir.path()));
    write(&log, 1..=3).await;
    assert!(matches!(
        hold_log(dir.path()),
        Err(haechi_audit::Error::InUse { .. })
    ));
    log.shutdown().await.unwrap();
    drop(log);
    let held = hold_log(dir.path()).unwrap();
    assert!(matches!(
        haechi_audit::AuditLog::open(
            config(dir.path()),
            crate::util::audit_key(),
            crate::util::clock()
        ),
        Err(haechi_audit::Error::InUse { .. })
    ));
    drop(held);
    let (log, report) = open(config(dir.path()));
    assert_eq!(report.last_seq, 3);
    log.shutdown().await.unwrap();
}
