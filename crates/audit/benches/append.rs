//! Durable append throughput with group commit, against raw append + fsync of the same bytes
//! on the same disk; and the Parquet export rate.
//!
//! Run: `cargo bench -p haechi-audit --bench append -- --warm-up-time 1 --measurement-time 5`.
//! Files go under the target directory (`CARGO_TARGET_TMPDIR`), the disk the data dir is on.

#![allow(
    clippy::expect_used,
    reason = "a benchmark stops loudly when its setup fails"
)]

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_main};
use ed25519_dalek::SigningKey;
use haechi_audit::{AuditLog, AuditLogConfig, AuditRecord, ExportOptions, GENESIS_HASH, export};
use haechi_events::{EventKind, Principal, SecurityEvent, SystemClock, Timestamp};

fn bench_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("haechi-audit-bench");
    std::fs::create_dir_all(&dir).expect("bench dir");
    dir
}

/// A typical PII read event (about 250 bytes framed).
fn event(n: u64) -> SecurityEvent {
    SecurityEvent::new(
        Timestamp::from_micros(1_750_723_200_000_000 + n as i64 * 1000),
        EventKind::PiiRead,
        Principal::Service("shipping".into()),
    )
    .customer(format!("c_{:07}", n % 1_000_000))
    .sid(format!("s_{:06}", n % 50_000))
    .jti(format!("j_{n:012}"))
    .kid("k_2025_06")
    .ip(Some(
        format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255)
            .parse()
            .expect("ip"),
    ))
    .user_agent(Some("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"))
    .fields(["address", "phone"])
    .purpose("delivery")
    .request_id(Some(&format!("req-{n:012}")))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn open_log(dir: &std::path::Path, checkpoint_interval: Duration) -> AuditLog {
    let mut config = AuditLogConfig::new(dir);
    config.checkpoint_interval = checkpoint_interval;
    let (log, _) = AuditLog::open(
        config,
        SigningKey::from_bytes(&[9; 32]),
        Arc::new(SystemClock),
    )
    .expect("open");
    log
}

fn durable_append(c: &mut Criterion) {
    let runtime = runtime();
    let mut group = c.benchmark_group("durable_append");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);

    // The default checkpoint interval (1 s, so a witness sees the head at least every second)
    // against the old 60 s, at the same writer counts: the price of the tighter interval.
    for (name, interval, writers) in [
        ("group_commit", Duration::from_secs(1), 1u64),
        ("group_commit", Duration::from_secs(1), 16),
        ("group_commit", Duration::from_secs(1), 256),
        ("group_commit_checkpoint_60s", Duration::from_secs(60), 16),
        ("group_commit_checkpoint_60s", Duration::from_secs(60), 256),
    ] {
        let dir = tempfile::tempdir_in(bench_dir()).expect("tempdir");
        let log = Arc::new(open_log(dir.path(), interval));
        let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
        group.bench_function(BenchmarkId::new(name, writers), |bencher| {
            bencher.iter_custom(|iterations| {
                runtime.block_on(async {
                    let started = Instant::now();
                    let mut tasks = Vec::new();
                    for writer in 0..writers {
                        let share = iterations / writers + u64::from(writer < iterations % writers);
                        let log = Arc::clone(&log);
                        let counter = Arc::clone(&counter);
                        tasks.push(tokio::spawn(async move {
                            for _ in 0..share {
                                let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                log.append(event(n)).await.expect("append");
                            }
                        }));
                    }
                    for task in tasks {
                        task.await.expect("writer");
                    }
                    started.elapsed()
                })
            });
        });
        runtime.block_on(log.shutdown()).expect("shutdown");
    }

    // The same bytes the log writes, framed, written straight to a file.
    let frames: Vec<Vec<u8>> = (0..4096)
        .map(|n| {
            let record = AuditRecord::chained(n + 1, event(n), GENESIS_HASH);
            let mut payload = record.canonical_bytes();
            payload.extend_from_slice(&record.hash);
            let mut frame = Vec::with_capacity(payload.len() + 8);
            frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
            frame.extend_from_slice(&crc32fast::hash(&payload).to_be_bytes());
            frame.extend_from_slice(&payload);
            frame
        })
        .collect();
    let mean = frames.iter().map(Vec::len).sum::<usize>() / frames.len();
    eprintln!("frame size: {mean} bytes on average");

    for batch in [1usize, 256] {
        let dir = tempfile::tempdir_in(bench_dir()).expect("tempdir");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.path().join("raw.log"))
            .expect("raw file");
        let name = if batch == 1 {
            "raw_fsync_each".to_string()
        } else {
            format!("raw_fsync_per_{batch}")
        };
        group.bench_function(BenchmarkId::new(name, 1), |bencher| {
            bencher.iter_custom(|iterations| {
                let started = Instant::now();
                let mut buffer = Vec::with_capacity(batch * 300);
                for index in 0..iterations {
                    buffer.extend_from_slice(&frames[(index % 4096) as usize]);
                    if buffer.len() >= batch * mean || index + 1 == iterations {
                        file.write_all(&buffer).expect("write");
                        file.sync_data().expect("sync");
                        buffer.clear();
                    }
                }
                started.elapsed()
            });
        });
    }
    group.finish();
}

fn parquet_export(c: &mut Criterion) {
    const EVENTS: u64 = 200_000;
    let runtime = runtime();
    let dir = tempfile::tempdir_in(bench_dir()).expect("tempdir");
    let log = Arc::new(open_log(dir.path(), Duration::from_secs(1)));
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for writer in 0..256 {
            let log = Arc::clone(&log);
            tasks.push(tokio::spawn(async move {
                let mut n = writer;
                while n < EVENTS {
                    log.append(event(n)).await.expect("append");
                    n += 256;
                }
            }));
        }
        for task in tasks {
            task.await.expect("writer");
        }
        log.seal().await.expect("seal");
    });
    let log_bytes: u64 = std::fs::read_dir(dir.path())
        .expect("dir")
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("seg-"))
        .map(|entry| entry.metadata().map_or(0, |metadata| metadata.len()))
        .sum();

    let mut group = c.benchmark_group("parquet_export");
    group.throughput(Throughput::Elements(EVENTS));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    let mut reported = false;
    group.bench_function(BenchmarkId::new("export", EVENTS), |bencher| {
        bencher.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                let archive = tempfile::tempdir_in(bench_dir()).expect("tempdir");
                // Each run exports into a fresh archive; the manifest entry of the previous
                // run names another directory, so nothing is skipped.
                let started = Instant::now();
                let report = export(dir.path(), archive.path(), &ExportOptions::default()).expect("export");
                total += started.elapsed();
                if !reported {
                    reported = true;
                    eprintln!(
                        "export: {} records, {} files, {} Parquet bytes = {:.1} bytes/event (live log: {:.1} bytes/event)",
                        report.records,
                        report.files_written.len(),
                        report.bytes_written,
                        report.bytes_written as f64 / report.records as f64,
                        log_bytes as f64 / EVENTS as f64
                    );
                }
            }
            total
        });
    });
    group.finish();
    runtime.block_on(log.shutdown()).expect("shutdown");
}

/// Every benchmark of this file (written out rather than with `criterion_group!`, whose
/// generated function has no doc comment).
fn benches() {
    let mut criterion = Criterion::default().configure_from_args();
    durable_append(&mut criterion);
    parquet_export(&mut criterion);
}

criterion_main!(benches);
