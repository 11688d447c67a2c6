//! The durable log: group commit, reopening, rolling, crash recovery, fail closed, search.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use haechi_audit::{
    AppendFile, AuditLog, Error, FileStorage, Page, Repair, SearchFilter, Storage, VerifySources,
    verify,
};
use haechi_events::{EventKind, EventSink, Principal, SinkError, Timestamp};

use crate::util::{self, audit_key, clock, config, event, frames, open, segments, write};

/// A storage that counts syncs and can be told to fail appends, syncs or file creation.
#[derive(Debug, Default)]
struct FaultyStorage {
    syncs: AtomicUsize,
    fail_append: AtomicBool,
    fail_sync: AtomicBool,
    fail_create: AtomicBool,
}

struct FaultyFile {
    inner: Box<dyn AppendFile>,
    storage: Arc<FaultyStorage>,
}

impl AppendFile for FaultyFile {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.storage.fail_append.load(Ordering::SeqCst) {
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "no space left on device",
            ));
        }
        self.inner.append(bytes)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.storage.syncs.fetch_add(1, Ordering::SeqCst);
        if self.storage.fail_sync.load(Ordering::SeqCst) {
            return Err(io::Error::other("fsync failed"));
        }
        self.inner.sync_data()
    }
}

#[derive(Debug)]
struct Faulty(Arc<FaultyStorage>);

impl Storage for Faulty {
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn AppendFile>> {
        if self.0.fail_create.load(Ordering::SeqCst) {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "read-only file system",
            ));
        }
        Ok(Box::new(FaultyFile {
            inner: FileStorage.open_append(path)?,
            storage: Arc::clone(&self.0),
        }))
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        FileStorage.sync_dir(dir)
    }
}

fn open_faulty(config: haechi_audit::AuditLogConfig) -> (AuditLog, Arc<FaultyStorage>) {
    let faults = Arc::new(FaultyStorage::default());
    let (log, _) = AuditLog::open_with_storage(
        config,
        audit_key(),
        clock(),
        Arc::new(Faulty(Arc::clone(&faults))),
    )
    .unwrap();
    (log, faults)
}

fn assert_intact(dir: &Path, records: u64) {
    let report = verify(&VerifySources::log(dir), &audit_key().verifying_key()).unwrap();
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.records, records, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_with_1000_concurrent_writers_gives_dense_seqs_and_a_valid_chain() {
    let dir = tempfile::tempdir().unwrap();
    let (log, faults) = open_faulty(config(dir.path()));
    let log = Arc::new(log);
    let syncs_before = faults.syncs.load(Ordering::SeqCst);
    let mut tasks = Vec::new();
    for n in 1..=1000u64 {
        let log = Arc::clone(&log);
        tasks.push(tokio::spawn(async move {
            let sink: &dyn EventSink = &*log;
            sink.record(event(n)).await
        }));
    }
    let mut seqs = Vec::new();
    for task in tasks {
        seqs.push(task.await.unwrap().unwrap().seq.unwrap());
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=1000).collect::<Vec<_>>());
    let syncs = faults.syncs.load(Ordering::SeqCst) - syncs_before;
    // Concurrent callers share fsyncs; with 1000 callers on two cores far fewer than 1000.
    assert!(syncs < 1000, "{syncs} syncs for 1000 records");
    assert_eq!(log.durable_seq(), 1000);
    log.shutdown().await.unwrap();
    assert_intact(dir.path(), 1000);
    let report = verify(
        &VerifySources::log(dir.path()),
        &audit_key().verifying_key(),
    )
    .unwrap();
    assert_eq!(report.last_signed_seq, 1000, "shutdown signs the head");
    assert!(report.notices.is_empty(), "{report}");
}

#[tokio::test]
async fn reopened_log_continues_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let (log, report) = open(config(dir.path()));
    assert!(report.is_clean());
    assert_eq!(write(&log, 1..=10).await, (1..=10).collect::<Vec<_>>());
    log.shutdown().await.unwrap();
    assert!(matches!(log.append(event(11)).await, Err(Error::Closed)));

    let (log, report) = open(config(dir.path()));
    assert!(report.is_clean(), "{report:?}");
    assert_eq!((report.last_seq, report.last_checkpoint_seq), (10, 10));
    assert_eq!(report.unsigned_records(), None);
    assert_eq!(write(&log, 11..=15).await, (11..=15).collect::<Vec<_>>());
    log.shutdown().await.unwrap();
    assert_intact(dir.path(), 15);
}

#[tokio::test]
async fn segments_roll_at_the_size_limit_and_seal_with_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = config(dir.path());
    settings.segment_max_bytes = 2048;
    let (log, _) = open(settings);
    write(&log, 1..=60).await;
    log.shutdown().await.unwrap();
    let files = segments(dir.path());
    assert!(files.len() > 3, "{files:?}");
    for file in &files {
        assert!(std::fs::metadata(file).unwrap().len() <= 2048, "{file:?}");
    }
    // Names follow the first seq they hold.
    let frames = frames(dir.path());
    for file in &files {
        let first = frames.iter().find(|frame| &frame.segment == file).unwrap();
        assert_eq!(
            file.file_name().unwrap().to_string_lossy(),
            format!("seg-{:012}.log", first.record.seq)
        );
    }
    let report = verify(
        &VerifySources::log(dir.path()),
        &audit_key().verifying_key(),
    )
    .unwrap();
    assert!(report.is_intact(), "{report}");
    // One checkpoint per seal plus the final one.
    assert_eq!(report.checkpoints_verified, files.len() as u64);
}

#[tokio::test]
async fn checkpoints_follow_the_record_count() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = config(dir.path());
    settings.checkpoint_every_records = 10;
    let (log, _) = open(settings);
    write(&log, 1..=35).await;
    let report = verify(
        &VerifySources::log(dir.path()),
        &audit_key().verifying_key(),
    )
    .unwrap();
    assert_eq!(report.last_signed_seq, 30, "{report}");
    assert_eq!(report.checkpoints_verified, 3);
    assert_eq!(
        report.notices,
        vec![haechi_audit::Notice::UnsignedTail {
            first: 31,
            last: 35
        }]
    );
    log.shutdown().await.unwrap();
}

#[tokio::test]
async fn checkpoints_follow_the_timer() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = config(dir.path());
    settings.checkpoint_interval = std::time::Duration::from_millis(50);
    let (log, _) = open(settings);
    write(&log, 1..=3).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let report = verify(
        &VerifySources::log(dir.path()),
        &audit_key().verifying_key(),
    )
    .unwrap();
    assert_eq!(report.last_signed_seq, 3, "{report}");
    log.shutdown().await.unwrap();
}

/// A crash loses what was not yet signed: simulate it by removing the final checkpoint entry
/// that the clean shutdown wrote.
fn forget_last_checkpoint(dir: &Path) {
    let path = dir.join("checkpoints");
    let length = std::fs::metadata(&path).unwrap().len();
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(length - 128).unwrap();
}

#[tokio::test]
async fn a_torn_last_frame_is_truncated_and_reported() {
    // (what the crash left, records expected after recovery)
    type Tear = fn(&Path, &util::Frame);
    let cases: Vec<(&str, Tear, u64)> = vec![
        (
            "cut mid-frame",
            |_, last| {
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&last.segment)
                    .unwrap();
                file.set_len(last.offset + (last.len as u64) / 2).unwrap();
            },
            9,
        ),
        (
            "cut inside the frame header",
            |_, last| {
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&last.segment)
                    .unwrap();
                file.set_len(last.offset + 5).unwrap();
            },
            9,
        ),
        (
            "garbage appended",
            |_, last| {
                let mut bytes = std::fs::read(&last.segment).unwrap();
                bytes.extend_from_slice(&[0xA5; 100]);
                std::fs::write(&last.segment, bytes).unwrap();
            },
            10,
        ),
        (
            "zeros appended (file extended, never written)",
            |_, last| {
                let mut bytes = std::fs::read(&last.segment).unwrap();
                bytes.extend_from_slice(&[0; 4096]);
                std::fs::write(&last.segment, bytes).unwrap();
            },
            10,
        ),
        (
            "last frame damaged in place",
            |_, last| {
                let mut bytes = std::fs::read(&last.segment).unwrap();
                let at = (last.offset as usize) + last.len - 3;
                bytes[at..].fill(0);
                std::fs::write(&last.segment, bytes).unwrap();
            },
            9,
        ),
    ];
    for (name, tear, expected_records) in cases {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = open(config(dir.path()));
        write(&log, 1..=10).await;
        log.shutdown().await.unwrap();
        forget_last_checkpoint(dir.path());
        let last = frames(dir.path()).pop().unwrap();
        tear(dir.path(), &last);

        let (log, report) = open(config(dir.path()));
        let torn_offset = if expected_records == 9 {
            last.offset
        } else {
            last.offset + last.len as u64
        };
        match report.repairs.as_slice() {
            [
                Repair::TruncatedTornFrame {
                    offset,
                    discarded_bytes,
                    ..
                },
            ] => {
                assert_eq!(*offset, torn_offset, "{name}");
                assert!(*discarded_bytes > 0, "{name}");
            }
            other => panic!("{name}: {other:?}"),
        }
        assert_eq!(report.last_seq, expected_records, "{name}");
        // The log goes on from the last whole record, and everything verifies.
        assert_eq!(
            log.append(event(99)).await.unwrap(),
            expected_records + 1,
            "{name}"
        );
        log.shutdown().await.unwrap();
        assert_intact(dir.path(), expected_records + 1);
    }
}

#[tokio::test]
async fn a_torn_checkpoint_entry_is_truncated_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(config(dir.path()));
    write(&log, 1..=5).await;
    log.shutdown().await.unwrap();
    let path = dir.path().join("checkpoints");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(&[1; 50]);
    std::fs::write(&path, bytes).unwrap();
    let (log, report) = open(config(dir.path()));
    assert!(
        matches!(
            report.repairs.as_slice(),
            [Repair::TruncatedTornCheckpoint {
                discarded_bytes: 50,
                ..
            }]
        ),
        "{report:?}"
    );
    log.shutdown().await.unwrap();
    assert_intact(dir.path(), 5);
}

#[tokio::test]
async fn damage_before_the_end_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(config(dir.path()));
    write(&log, 1..=10).await;
    log.shutdown().await.unwrap();
    let third = frames(dir.path())[2].clone();
    let mut bytes = std::fs::read(&third.segment).unwrap();
    bytes[third.offset as usize + 20] ^= 0x40;
    std::fs::write(&third.segment, bytes).unwrap();
    match AuditLog::open(config(dir.path()), audit_key(), clock()) {
        Err(Error::CorruptSegment { offset, .. }) => assert_eq!(offset, third.offset),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn records_cut_off_after_being_signed_refuse_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(config(dir.path()));
    write(&log, 1..=10).await;
    log.shutdown().await.unwrap();
    // Cut exactly at a frame boundary: the file looks whole, only the checkpoint knows better.
    let last = frames(dir.path()).pop().unwrap();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&last.segment)
        .unwrap();
    file.set_len(last.offset).unwrap();
    match AuditLog::open(config(dir.path()), audit_key(), clock()) {
        Err(Error::CorruptCheckpoints { reason, .. }) => {
            assert!(reason.contains("seq 10"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_failed_write_or_sync_fails_closed_for_good() {
    #[derive(Debug, Clone, Copy)]
    enum Fault {
        DiskFull,
        SyncFails,
        CannotStartSegment,
    }
    for fault in [Fault::DiskFull, Fault::SyncFails, Fault::CannotStartSegment] {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = config(dir.path());
        settings.segment_max_bytes = 1024;
        let (log, faults) = open_faulty(settings);
        let sink: &dyn EventSink = &log;
        for n in 1..=3 {
            sink.record(event(n)).await.unwrap();
        }
        let switch = match fault {
            Fault::DiskFull => &faults.fail_append,
            Fault::SyncFails => &faults.fail_sync,
            Fault::CannotStartSegment => &faults.fail_create,
        };
        switch.store(true, Ordering::SeqCst);
        // Enough records that the 1 KiB segment must roll for the third fault.
        let mut refused = None;
        for n in 4..=20 {
            if let Err(error) = sink.record(event(n)).await {
                refused = Some(error);
                break;
            }
        }
        let Some(SinkError::Unavailable(reason)) = refused else {
            panic!("{fault:?}: no record was refused");
        };
        assert!(!reason.is_empty());
        // The fault clears, but the log stays failed: no record may go unaudited in between.
        switch.store(false, Ordering::SeqCst);
        for n in 21..=23 {
            assert!(
                sink.record(event(n)).await.is_err(),
                "{fault:?}: accepted after failing"
            );
        }
        assert!(
            matches!(log.append(event(24)).await, Err(Error::Failed { .. })),
            "{fault:?}"
        );
        let mut subscription = log.subscribe(1);
        // A subscriber gets what is durable, then learns of the failure.
        let mut delivered = 0;
        loop {
            match subscription.next().await {
                Ok(Some(_)) => delivered += 1,
                Err(Error::Failed { .. }) => break,
                other => panic!("{fault:?}: {other:?}"),
            }
        }
        assert_eq!(delivered, log.durable_seq(), "{fault:?}");
        assert!(log.shutdown().await.is_err(), "{fault:?}");
        drop(log);

        // What was durable is intact, and reopening (the operator's fix) works again.
        let report = verify(
            &VerifySources::log(dir.path()),
            &audit_key().verifying_key(),
        )
        .unwrap();
        assert!(report.is_intact(), "{fault:?}: {report}");
        let (log, _) = open(config(dir.path()));
        log.append(event(30)).await.unwrap();
        log.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn search_filters_and_pages_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = config(dir.path());
    settings.segment_max_bytes = 4096;
    let (log, _) = open(settings);
    write(&log, 1..=100).await;

    let all = log
        .search(SearchFilter::default(), Page::first(1000))
        .await
        .unwrap();
    assert_eq!(all.len(), 100);
    assert!(all.windows(2).all(|pair| pair[0].seq + 1 == pair[1].seq));

    let check = |filter: SearchFilter, expected: Vec<u64>| {
        let log = &log;
        async move {
            let found = log.search(filter.clone(), Page::first(1000)).await.unwrap();
            let seqs: Vec<u64> = found.iter().map(|record| record.seq).collect();
            assert_eq!(seqs, expected, "{filter:?}");
        }
    };
    // Event n is seq n here.
    check(
        SearchFilter {
            customer_id: Some("c_3".into()),
            ..Default::default()
        },
        (1..=100).filter(|n| n % 10 == 3).collect(),
    )
    .await;
    check(
        SearchFilter {
            principal: Some(Principal::Admin("kim".into())),
            ..Default::default()
        },
        (1..=100).filter(|n| n % 3 == 2).collect(),
    )
    .await;
    check(
        SearchFilter {
            ip: Some("2001:db8::/32".parse().unwrap()),
            ..Default::default()
        },
        (1..=100).filter(|n| n % 5 == 0).collect(),
    )
    .await;
    check(
        SearchFilter {
            ip: Some("203.0.113.17/32".parse().unwrap()),
            ..Default::default()
        },
        vec![17],
    )
    .await;
    check(
        SearchFilter {
            from: Some(Timestamp::from_micros(util::START + 10_000_000)),
            to: Some(Timestamp::from_micros(util::START + 15_000_000)),
            ..Default::default()
        },
        (10..15).collect(),
    )
    .await;
    check(
        SearchFilter {
            kinds: vec![EventKind::LoginOk],
            customer_id: Some("c_1".into()),
            ..Default::default()
        },
        (1..=100).filter(|n| n % 4 == 1 && n % 10 == 1).collect(),
    )
    .await;

    // Paging: each page starts after the last seq of the one before.
    let filter = SearchFilter {
        kinds: vec![EventKind::PiiRead],
        ..Default::default()
    };
    let mut pages = Vec::new();
    let mut after_seq = 0;
    loop {
        let page = log
            .search(
                filter.clone(),
                Page {
                    after_seq,
                    limit: 7,
                },
            )
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after_seq = last.seq;
        pages.extend(page.iter().map(|record| record.seq));
    }
    assert_eq!(pages, (1..=100).filter(|n| n % 4 == 0).collect::<Vec<_>>());

    // The offline search over the directory agrees.
    let offline = haechi_audit::search(dir.path(), &filter, Page::first(1000)).unwrap();
    assert_eq!(offline.len(), 25);
    log.shutdown().await.unwrap();
}

#[tokio::test]
async fn invalid_configuration_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = config(dir.path());
    settings.queue_capacity = 0;
    assert!(matches!(
        AuditLog::open(settings, audit_key(), clock()),
        Err(Error::Config { .. })
    ));
}

#[tokio::test]
async fn a_second_writer_on_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(config(dir.path()));
    assert!(matches!(
        AuditLog::open(config(dir.path()), audit_key(), clock()),
        Err(Error::InUse { .. })
    ));
    log.shutdown().await.unwrap();
    // Released once the writer has stopped.
    let (log, _) = open(config(dir.path()));
    log.shutdown().await.unwrap();
}
