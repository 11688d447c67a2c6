//! The Parquet archive: round trip, layout, idempotence, retention, tampering, foreign files,
//! and an independent reader.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use haechi_audit::{
    ActiveSegment, AuditLog, AuditRecord, Error, ExportOptions, Location, Problem, PruneMode,
    PruneOptions, VerifySources, prune_closed_log, prune_log, read_archive, verify,
};
use haechi_events::Timestamp;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::reader::{FileReader, SerializedFileReader};

use crate::util::{START, audit_key, config, event_at, frames, open};

const HOUR: i64 = 3_600_000_000;

/// A log of `count` records two hours apart (spanning days), in small segments.
async fn log_over_days(dir: &Path, count: u64) -> AuditLog {
    let mut settings = config(dir);
    settings.segment_max_bytes = 4096;
    let (log, _) = open(settings);
    for n in 1..=count {
        let time = Timestamp::from_micros(START + (n as i64) * 2 * HOUR);
        log.append(event_at(n, time)).await.unwrap();
    }
    log
}

fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for day in std::fs::read_dir(dir).unwrap() {
        let day = day.unwrap().path();
        if day.is_dir() {
            for file in std::fs::read_dir(&day).unwrap() {
                files.push(file.unwrap().path());
            }
        }
    }
    files.sort();
    files
}

fn verify_sources(sources: VerifySources) -> haechi_audit::VerifyReport {
    verify(&sources, &audit_key().verifying_key()).unwrap()
}

#[tokio::test]
async fn export_round_trips_partitioned_by_day_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let archive = tempfile::tempdir().unwrap();
    let log = log_over_days(dir.path(), 60).await;
    let report = log
        .export(
            archive.path(),
            ActiveSegment::Seal,
            ExportOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(report.records, 60);
    assert!(report.segments_exported > 1);
    let written = parquet_files(archive.path());
    assert_eq!(report.files_written.len(), written.len());
    // 60 records two hours apart from midnight: days 24..=29 June, 12 per day (11 on the first).
    let names: Vec<String> = written
        .iter()
        .map(|path| {
            path.strip_prefix(archive.path())
                .unwrap()
                .display()
                .to_string()
        })
        .collect();
    assert!(
        names.iter().all(|name| name.starts_with("day=2025-06-")),
        "{names:?}"
    );
    assert!(
        names
            .iter()
            .any(|name| name.starts_with("day=2025-06-24/part-000000000001-")),
        "{names:?}"
    );
    assert_eq!(
        names
            .iter()
            .map(|name| &name[..14])
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        6
    );

    // Every record comes back exactly, with its chain hashes.
    let expected: Vec<AuditRecord> = frames(dir.path())
        .into_iter()
        .map(|frame| frame.record)
        .collect();
    let read: Vec<AuditRecord> = read_archive(archive.path())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(read, expected);

    // Layout: statistics, bloom filters on the forensic columns, declared sort order.
    for file in &written {
        let reader = SerializedFileReader::new(File::open(file).unwrap()).unwrap();
        let metadata = reader.metadata();
        let row_group = metadata.row_group(0);
        assert!(row_group.sorting_columns().is_some());
        for (index, column) in row_group.columns().iter().enumerate() {
            let name = column.column_path().string();
            assert!(column.statistics().is_some(), "{name}");
            let bloom = [
                "ip",
                "ip_bin",
                "kid",
                "jti",
                "sid",
                "customer_id",
                "principal",
            ]
            .contains(&name.as_str());
            assert_eq!(
                column.bloom_filter_offset().is_some(),
                bloom,
                "{name} (column {index})"
            );
        }
    }

    // Re-exporting writes nothing new.
    let again = log
        .export(
            archive.path(),
            ActiveSegment::Leave,
            ExportOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(again.files_written.len(), 0);
    assert_eq!(again.segments_exported, 0);
    assert_eq!(again.segments_already_archived, report.segments_exported);
    log.shutdown().await.unwrap();

    // The archive verifies on its own (it carries the checkpoints that cover it).
    let alone = verify_sources(VerifySources::archive(archive.path()));
    assert!(alone.is_intact(), "{alone}");
    assert_eq!((alone.records, alone.last_signed_seq), (60, 60), "{alone}");

    // Retention deletes the archived segments; the log plus its archive still verify whole.
    let pruned = prune_log(dir.path(), u64::MAX).unwrap();
    assert_eq!(pruned.deleted.len(), report.segments_exported);
    assert_eq!(pruned.stopped_at_unarchived, None);
    let whole = verify_sources(VerifySources::log(dir.path()));
    assert!(whole.is_intact(), "{whole}");
    assert_eq!(whole.records, 60);
}

#[tokio::test]
async fn retention_never_deletes_what_is_not_archived() {
    let dir = tempfile::tempdir().unwrap();
    let archive = tempfile::tempdir().unwrap();
    let log = log_over_days(dir.path(), 30).await;
    let first = log
        .export(
            archive.path(),
            ActiveSegment::Leave,
            ExportOptions::default(),
        )
        .await
        .unwrap();
    assert!(first.segments_exported > 0);
    for n in 31..=60 {
        log.append(event_at(
            n,
            Timestamp::from_micros(START + n as i64 * 2 * HOUR),
        ))
        .await
        .unwrap();
    }
    let pruned = log.prune(u64::MAX).await.unwrap();
    assert_eq!(pruned.deleted.len(), first.segments_exported);
    assert!(pruned.stopped_at_unarchived.is_some());
    // The live log still holds everything not archived, and everything verifies.
    log.shutdown().await.unwrap();
    let report = verify_sources(VerifySources::log(dir.path()));
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.records, 60);
}

#[tokio::test]
async fn retention_by_age_deletes_only_archived_segments_wholly_older_than_the_cutoff() {
    let dir = tempfile::tempdir().unwrap();
    let archive = tempfile::tempdir().unwrap();
    let log = log_over_days(dir.path(), 60).await;
    let exported = log
        .export(
            archive.path(),
            ActiveSegment::Seal,
            ExportOptions::default(),
        )
        .await
        .unwrap();
    assert!(exported.segments_exported > 2);
    // Records are two hours apart from START: a cutoff at record 30's time keeps every segment
    // that holds record 30 or later, however old its first records are.
    let cutoff = Timestamp::from_micros(START + 30 * 2 * HOUR);
    let by_age = PruneOptions {
        recorded_before: Some(cutoff),
        mode: PruneMode::DryRun,
        ..PruneOptions::everything_archived()
    };
    let planned = log.prune_with(by_age).await.unwrap();
    assert!(!planned.deleted.is_empty());
    assert!(
        planned.deleted.iter().all(|path| path.exists()),
        "a dry run deletes nothing"
    );
    let (first, last) = planned.seqs.unwrap();
    assert_eq!(first, 1);
    assert!(last < 30, "{planned:?}");
    assert_eq!(planned.records, last);
    assert_eq!(planned.stopped_at_unarchived, None);

    let pruned = log
        .prune_with(PruneOptions {
            mode: PruneMode::Delete,
            ..by_age
        })
        .await
        .unwrap();
    assert_eq!(pruned, planned);
    assert!(pruned.deleted.iter().all(|path| !path.exists()));
    // Nothing left is old enough: a second run finds nothing.
    let again = log.prune_with(by_age).await.unwrap();
    assert_eq!(again.deleted, Vec::<PathBuf>::new());
    assert_eq!(again.seqs, None);

    // The writer holds the log: pruning it as a closed log is refused.
    let closed = prune_closed_log(dir.path(), &PruneOptions::everything_archived());
    assert!(matches!(closed, Err(Error::InUse { .. })), "{closed:?}");
    log.shutdown().await.unwrap();
    let rest = prune_closed_log(dir.path(), &PruneOptions::everything_archived()).unwrap();
    assert_eq!(rest.seqs.map(|(first, _)| first), Some(last + 1));

    // With the archive the log still verifies from seq 1.
    let whole = verify_sources(VerifySources {
        log_dir: Some(dir.path().to_path_buf()),
        archive_dirs: vec![archive.path().to_path_buf()],
        witness: None,
    });
    assert!(whole.is_intact(), "{whole}");
    assert_eq!(whole.records, 60);
}

/// Rewrites `file` with `customer_id` of `row` replaced, keeping everything else (including
/// the archive marker), as someone editing the archive would.
fn edit_customer(file: &Path, row: usize, value: &str) {
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(file).unwrap()).unwrap();
    let metadata = reader
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .cloned();
    let batches: Vec<RecordBatch> = reader.build().unwrap().map(Result::unwrap).collect();
    let schema = batches[0].schema();
    let properties = parquet::file::properties::WriterProperties::builder()
        .set_key_value_metadata(metadata)
        .build();
    let mut writer = ArrowWriter::try_new(
        File::create(file.with_extension("edited")).unwrap(),
        schema.clone(),
        Some(properties),
    )
    .unwrap();
    let mut offset = 0;
    for batch in batches {
        let index = schema.index_of("customer_id").unwrap();
        let column = batch
            .column(index)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        let edited: StringArray = (0..column.len())
            .map(|i| {
                if offset + i == row {
                    Some(value.to_string())
                } else {
                    (!column.is_null(i)).then(|| column.value(i).to_string())
                }
            })
            .collect();
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        columns[index] = Arc::new(edited);
        offset += batch.num_rows();
        writer
            .write(&RecordBatch::try_new(schema.clone(), columns).unwrap())
            .unwrap();
    }
    writer.close().unwrap();
    std::fs::rename(file.with_extension("edited"), file).unwrap();
}

#[tokio::test]
async fn an_edited_parquet_value_is_caught_at_its_row() {
    for prune_first in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let archive = tempfile::tempdir().unwrap();
        let log = log_over_days(dir.path(), 40).await;
        log.export(
            archive.path(),
            ActiveSegment::Seal,
            ExportOptions::default(),
        )
        .await
        .unwrap();
        log.shutdown().await.unwrap();
        let file = parquet_files(archive.path())[1].clone();
        let first_seq: u64 = file
            .file_name()
            .unwrap()
            .to_string_lossy()
            .split('-')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        if prune_first {
            prune_log(dir.path(), u64::MAX).unwrap();
        }
        edit_customer(&file, 2, "c_someone_else");
        let report = verify_sources(VerifySources::log(dir.path()));
        let row = Location::Archive {
            path: file.canonicalize().unwrap(),
            row: 2,
        };
        let seq = first_seq + 2;
        let mut expected = vec![Problem::RecordAltered {
            seq,
            location: row.clone(),
        }];
        if !prune_first {
            // The live log still has the original: the two sources disagree too.
            let original = frames(dir.path())
                .into_iter()
                .find(|frame| frame.record.seq == seq)
                .unwrap();
            expected.insert(
                0,
                Problem::SourcesDisagree {
                    seq,
                    log: Location::Segment {
                        path: original.segment,
                        offset: original.offset,
                    },
                    archive: row,
                },
            );
        }
        assert_eq!(
            report.problems, expected,
            "pruned first: {prune_first}\n{report}"
        );
        if !prune_first {
            // Retention refuses to delete a segment whose archive copy does not match.
            let pruned = prune_log(dir.path(), u64::MAX).unwrap();
            assert!(pruned.stopped_at_unarchived.is_some());
        }
    }
}

#[tokio::test]
async fn a_parquet_file_from_elsewhere_is_reported() {
    let archive = tempfile::tempdir().unwrap();
    let day = archive.path().join("day=2025-06-24");
    std::fs::create_dir_all(&day).unwrap();
    let path = day.join("part-000000000001-000000000002.parquet");
    let batch = RecordBatch::try_from_iter([(
        "seq",
        Arc::new(arrow_array::UInt64Array::from(vec![1u64, 2])) as ArrayRef,
    )])
    .unwrap();
    let mut writer =
        ArrowWriter::try_new(File::create(&path).unwrap(), batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let report = verify_sources(VerifySources::archive(archive.path()));
    assert!(
        matches!(report.problems.as_slice(), [Problem::UnreadableArchive { reason, .. }] if reason.contains("not a Haechi audit archive")),
        "{report}"
    );
    assert!(
        read_archive(archive.path())
            .unwrap()
            .next()
            .unwrap()
            .is_err()
    );
}

/// Reads the archive with pyarrow, a reader that shares no code with this crate. Skipped when
/// pyarrow is not installed, unless `HAECHI_REQUIRE_PYARROW` is set (as CI does).
#[tokio::test]
async fn an_independent_reader_sees_the_same_rows() {
    let available = std::process::Command::new("python3")
        .args(["-c", "import pyarrow.parquet"])
        .status()
        .is_ok_and(|status| status.success());
    if !available {
        assert!(
            std::env::var_os("HAECHI_REQUIRE_PYARROW").is_none(),
            "pyarrow is required but not installed"
        );
        eprintln!("skipping: python3 with pyarrow is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let archive = tempfile::tempdir().unwrap();
    let log = log_over_days(dir.path(), 50).await;
    log.export(
        archive.path(),
        ActiveSegment::Seal,
        ExportOptions::default(),
    )
    .await
    .unwrap();
    log.shutdown().await.unwrap();
    let script = r#"
import sys, json, pyarrow.dataset as ds
table = ds.dataset(sys.argv[1], format="parquet", partitioning="hive").to_table()
table = table.sort_by("seq")
rows = table.to_pylist()
out = {
    "count": table.num_rows,
    "columns": table.schema.names,
    "time_type": str(table.schema.field("time").type),
    "first": {k: rows[0][k] for k in ["seq", "kind", "principal", "customer_id", "ip", "fields", "decision", "status", "jti"]},
    "first_time_us": int(rows[0]["time"].timestamp() * 1_000_000),
    "first_ip_bin": rows[0]["ip_bin"].hex(),
    "last_hash": rows[-1]["hash"].hex(),
    "seqs_dense": [r["seq"] for r in rows] == list(range(1, table.num_rows + 1)),
}
print(json.dumps(out))
"#;
    let output = std::process::Command::new("python3")
        .args(["-c", script, &archive.path().display().to_string()])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let records: Vec<AuditRecord> = frames(dir.path())
        .into_iter()
        .map(|frame| frame.record)
        .collect();
    let first = &records[0].event;
    assert_eq!(seen["count"], 50);
    assert_eq!(seen["seqs_dense"], true);
    assert_eq!(seen["time_type"], "timestamp[us, tz=UTC]");
    for column in [
        "seq",
        "time",
        "kind",
        "principal",
        "sid",
        "jti",
        "kid",
        "ip",
        "ip_bin",
        "user_agent",
        "customer_id",
        "fields",
        "purpose",
        "decision",
        "status",
        "request_id",
        "reason",
        "detail",
        "prev_hash",
        "hash",
    ] {
        assert!(
            seen["columns"]
                .as_array()
                .unwrap()
                .iter()
                .any(|name| name == column),
            "{column}"
        );
    }
    assert_eq!(seen["first"]["seq"], 1);
    assert_eq!(seen["first"]["kind"], first.kind.as_str());
    assert_eq!(seen["first"]["principal"], first.principal.to_string());
    assert_eq!(
        seen["first"]["customer_id"],
        first.customer_id.clone().unwrap()
    );
    assert_eq!(seen["first"]["ip"], first.ip.unwrap().to_string());
    assert_eq!(seen["first"]["fields"], serde_json::json!(first.fields));
    assert_eq!(seen["first"]["status"], first.status);
    assert_eq!(seen["first"]["jti"], first.jti.clone().unwrap());
    assert_eq!(seen["first_time_us"], first.time.as_micros());
    assert_eq!(
        seen["first_ip_bin"],
        hex::encode(haechi_audit::ip_to_bin(first.ip.unwrap()))
    );
    assert_eq!(seen["last_hash"], hex::encode(records[49].hash));
}

/// Found by the `audit_archive` fuzz target: an archive file whose dictionary page is corrupt
/// made the Parquet decoder panic (parquet 60: "Decoder for dict should have been set"),
/// taking `read_archive` and `verify` down with it. It is now a read error naming the file.
#[test]
fn a_corrupt_dictionary_page_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let day = dir.path().join("day=2025-06-24");
    std::fs::create_dir_all(&day).unwrap();
    std::fs::write(
        day.join("part-000000000001-000000000100.parquet"),
        include_bytes!("data/corrupt_dictionary_page.parquet"),
    )
    .unwrap();
    let results: Vec<Result<AuditRecord, Error>> = read_archive(dir.path()).unwrap().collect();
    assert!(
        results.iter().any(|result| result
            .as_ref()
            .is_err_and(|error| error.to_string().contains("corrupt Parquet data"))),
        "{:?}",
        results.iter().filter(|r| r.is_err()).collect::<Vec<_>>()
    );
    let _ = verify(
        &VerifySources::archive(dir.path()),
        &audit_key().verifying_key(),
    );
}
