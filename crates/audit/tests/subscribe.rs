//! The live stream: replay, live delivery, slow subscribers, resuming, shutdown, pruning.

use std::sync::Arc;
use std::time::Duration;

use haechi_audit::{ActiveSegment, Error, ExportOptions};

use crate::util::{config, event, open, write};

/// Reads `count` records and checks they are dense from `from`.
async fn expect_dense(subscription: &mut haechi_audit::Subscription, from: u64, count: u64) {
    for expected in from..from + count {
        let record = tokio::time::timeout(Duration::from_secs(10), subscription.next())
            .await
            .expect("subscriber stalled")
            .unwrap()
            .unwrap();
        assert_eq!(record.seq, expected);
        assert_eq!(record.event, event(expected));
        assert_eq!(record.hash, record.computed_hash());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriber_replays_from_disk_then_follows_live() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = config(dir.path());
    settings.segment_max_bytes = 4096;
    let (log, _) = open(settings);
    let log = Arc::new(log);
    write(&log, 1..=100).await;
    let mut subscription = log.subscribe(1);
    expect_dense(&mut subscription, 1, 100).await;
    let writer = {
        let log = Arc::clone(&log);
        tokio::spawn(async move { write(&log, 101..=150).await })
    };
    expect_dense(&mut subscription, 101, 50).await;
    writer.await.unwrap();
    // Records come with their chain links.
    log.shutdown().await.unwrap();
    assert!(
        subscription.next().await.unwrap().is_none(),
        "ends after shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_subscriber_never_blocks_the_log_nor_loses_a_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = config(dir.path());
    settings.subscriber_buffer = 4;
    settings.segment_max_bytes = 16 * 1024;
    let (log, _) = open(settings);
    let log = Arc::new(log);
    let mut subscription = log.subscribe(1);
    // Go live before anything is written: the subscriber is caught up and registered.
    let first = {
        let log = Arc::clone(&log);
        tokio::spawn(async move { write(&log, 1..=1).await })
    };
    assert_eq!(subscription.next().await.unwrap().unwrap().seq, 1);
    first.await.unwrap();

    let slow = tokio::spawn(async move {
        let mut seqs = Vec::new();
        while let Some(record) = subscription.next().await.unwrap() {
            seqs.push(record.seq);
            // At least 2 s for 2000 records: far slower than the writers.
            if seqs.len() % 5 == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        seqs
    });
    // The writers finish long before the subscriber: it does not hold them up.
    let started = std::time::Instant::now();
    let mut writers = Vec::new();
    for task in 0..8u64 {
        let log = Arc::clone(&log);
        writers.push(tokio::spawn(async move {
            for n in 0..250u64 {
                log.append(event(2 + task * 250 + n)).await.unwrap();
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let writing = started.elapsed();
    assert_eq!(log.durable_seq(), 2001);
    assert!(
        !slow.is_finished(),
        "the subscriber should still be behind after {writing:?}"
    );
    log.shutdown().await.unwrap();
    let seqs = tokio::time::timeout(Duration::from_secs(60), slow)
        .await
        .expect("subscriber stalled")
        .unwrap();
    assert_eq!(seqs, (2..=2001).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_restarted_subscriber_resumes_from_its_seq() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = config(dir.path());
    settings.segment_max_bytes = 2048;
    let (log, _) = open(settings);
    write(&log, 1..=80).await;
    let mut subscription = log.subscribe(1);
    expect_dense(&mut subscription, 1, 30).await;
    let resume_at = subscription.next_seq();
    assert_eq!(resume_at, 31);
    drop(subscription);
    // Resuming lands in the middle of an older segment.
    let mut subscription = log.subscribe(resume_at);
    expect_dense(&mut subscription, 31, 50).await;
    write(&log, 81..=90).await;
    expect_dense(&mut subscription, 81, 10).await;
    // Subscribing ahead of the log waits for the records to exist.
    let mut ahead = log.subscribe(95);
    write(&log, 91..=96).await;
    expect_dense(&mut ahead, 95, 2).await;
    log.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_subscriber_asking_for_pruned_records_is_told_so() {
    let dir = tempfile::tempdir().unwrap();
    let archive = tempfile::tempdir().unwrap();
    let mut settings = config(dir.path());
    settings.segment_max_bytes = 2048;
    let (log, _) = open(settings);
    write(&log, 1..=40).await;
    log.export(
        archive.path(),
        ActiveSegment::Seal,
        ExportOptions::default(),
    )
    .await
    .unwrap();
    let pruned = log.prune(30).await.unwrap();
    assert!(!pruned.deleted.is_empty());
    let mut subscription = log.subscribe(1);
    match subscription.next().await {
        Err(Error::Pruned {
            requested: 1,
            oldest,
        }) => assert!(oldest > 1),
        other => panic!("{other:?}"),
    }
    log.shutdown().await.unwrap();
}
