//! Reading an archive to hunt over it: projected columns, row groups pruned by time, several
//! decoders handing events over in seq order, and spent events refilled.

use std::collections::BTreeSet;
use std::path::Path;

use haechi_audit::{
    ActiveSegment, AuditRecord, EventQuery, ExportOptions, read_archive, read_archive_events,
};
use haechi_events::{Principal, SecurityEvent, Timestamp};

use crate::util::{START, config, event_at, open};

const MINUTE: i64 = 60_000_000;

/// An archive of `count` varied records half an hour apart (over days), in row groups of 16.
async fn archive(count: u64) -> (tempfile::TempDir, Vec<AuditRecord>) {
    let dir = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut settings = config(dir.path());
    settings.segment_max_bytes = 16 * 1024;
    let (log, _) = open(settings);
    for n in 1..=count {
        let time = Timestamp::from_micros(START + (n as i64) * 30 * MINUTE);
        log.append(event_at(n, time)).await.unwrap();
    }
    log.export(
        out.path(),
        ActiveSegment::Seal,
        ExportOptions { row_group_rows: 16 },
    )
    .await
    .unwrap();
    log.shutdown().await.unwrap();
    let records = read_archive(out.path())
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    assert_eq!(records.len() as u64, count);
    (out, records)
}

fn all_columns() -> BTreeSet<String> {
    [
        "principal",
        "sid",
        "jti",
        "kid",
        "ip",
        "user_agent",
        "customer_id",
        "fields",
        "purpose",
        "decision",
        "status",
        "request_id",
        "reason",
        "detail",
    ]
    .map(String::from)
    .into()
}

fn query(columns: BTreeSet<String>, decoders: usize) -> EventQuery {
    EventQuery {
        columns,
        decoders,
        ..EventQuery::default()
    }
}

/// Reads every event, giving each back to be refilled as soon as it was compared.
fn read(dir: &Path, query: &EventQuery) -> Vec<(u64, SecurityEvent)> {
    let mut events = read_archive_events(dir, query).unwrap();
    let mut out = Vec::new();
    while let Some(event) = events.next() {
        let (seq, event) = event.unwrap();
        out.push((seq, (*event).clone()));
        events.recycle([event]);
    }
    out
}

#[tokio::test]
async fn every_column_read_gives_back_exactly_what_the_log_held_in_seq_order() {
    let (dir, records) = archive(200).await;
    let expected: Vec<(u64, SecurityEvent)> = records
        .iter()
        .map(|record| (record.seq, record.event.clone()))
        .collect();
    // One decoder, and more decoders than cores, on row groups of 16: the same sequence, every
    // field refilled from a recycled event (the events alternate kinds, principals, null
    // columns and detail, so a field left over from the event before would show).
    for decoders in [1, 3, 7] {
        assert_eq!(
            read(dir.path(), &query(all_columns(), decoders)),
            expected,
            "{decoders} decoders"
        );
    }
}

#[tokio::test]
async fn columns_not_asked_for_keep_a_new_events_values() {
    let (dir, records) = archive(60).await;
    let columns = ["customer_id", "ip"].map(String::from).into();
    let read = read(dir.path(), &query(columns, 2));
    assert_eq!(read.len(), records.len());
    for ((seq, event), record) in read.iter().zip(&records) {
        let full = &record.event;
        assert_eq!(*seq, record.seq);
        assert_eq!((event.time, event.kind), (full.time, full.kind));
        assert_eq!(event.customer_id, full.customer_id);
        assert_eq!(event.ip, full.ip);
        let blank = SecurityEvent::new(full.time, full.kind, Principal::Anonymous)
            .customer(full.customer_id.clone().unwrap())
            .ip(full.ip);
        assert_eq!(*event, blank);
    }
}

#[tokio::test]
async fn a_time_window_skips_row_groups_by_their_statistics_and_keeps_exactly_the_window() {
    let (dir, records) = archive(200).await;
    let from = Timestamp::from_micros(START + 40 * 30 * MINUTE + 1);
    let to = Timestamp::from_micros(START + 70 * 30 * MINUTE);
    let window = EventQuery {
        from: Some(from),
        to: Some(to),
        ..query(all_columns(), 2)
    };
    let expected: Vec<(u64, SecurityEvent)> = records
        .iter()
        .filter(|record| record.event.time >= from && record.event.time <= to)
        .map(|record| (record.seq, record.event.clone()))
        .collect();
    assert_eq!(expected.len(), 30);
    assert_eq!(read(dir.path(), &window), expected);
    let events = read_archive_events(dir.path(), &window).unwrap();
    let counters = events.counters();
    // 200 records in groups of 16 (per file): only the groups around 41..=70 are read.
    assert!(counters.row_groups_read <= 4, "{counters:?}");
    assert!(counters.row_groups_pruned >= 9, "{counters:?}");
}

#[tokio::test]
async fn an_unknown_column_is_refused_by_name() {
    let (dir, _) = archive(10).await;
    for name in ["customer", "hash"] {
        let error = read_archive_events(dir.path(), &query([name.to_string()].into(), 1))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(&format!("{name:?} is not an event column")),
            "{error}"
        );
    }
}

/// The corrupt file of `archive.rs`'s own test, behind a good one, read by several decoders:
/// the reading ends with an error naming the file, and never hangs or panics.
#[tokio::test]
async fn a_corrupt_file_ends_the_reading_with_its_name() {
    let (dir, records) = archive(40).await;
    let day = dir.path().join("day=2099-01-01");
    std::fs::create_dir_all(&day).unwrap();
    std::fs::write(
        day.join("part-000000009001-000000009100.parquet"),
        include_bytes!("data/corrupt_dictionary_page.parquet"),
    )
    .unwrap();
    let results: Vec<_> = read_archive_events(dir.path(), &query(all_columns(), 3))
        .unwrap()
        .collect();
    let (good, bad): (Vec<_>, Vec<_>) = results.into_iter().partition(Result::is_ok);
    assert_eq!(good.len(), records.len());
    assert_eq!(bad.len(), 1);
    let error = bad[0].as_ref().unwrap_err().to_string();
    assert!(error.contains("part-000000009001"), "{error}");
}
