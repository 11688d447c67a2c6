//! Audit events per second through the replicated log, against a raw JetStream publish loop
//! of the same messages, in the same run (issue 16's benchmark: "audit events/s through
//! JetStream vs raw `nats bench`-style publish").
//!
//! ```text
//! cargo run --release -p haechi-bus --example audit_throughput -- [nats://127.0.0.1:42229] [events] [writers]
//! ```
//!
//! The URL defaults to `HAECHI_TEST_NATS`. Prints, measures nothing it asserts:
//! - raw: one publisher, asynchronous publishes of records' stored bytes to the audit stream,
//!   acks awaited in a window (as the replica does), with and without `Nats-Msg-Id`;
//! - local: the audit log alone (write, fdatasync), `writers` concurrent callers;
//! - replicated: the same log with a `JetStreamReplica` (fdatasync and JetStream ack before
//!   each caller is answered).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ed25519_dalek::SigningKey;
use futures::StreamExt;
use futures::stream::FuturesOrdered;
use haechi_audit::record::encode_stored;
use haechi_audit::{AuditLog, AuditLogConfig, AuditRecord, GENESIS_HASH};
use haechi_bus::WINDOW;
use haechi_events::{EventKind, Principal, SecurityEvent, SystemClock, Timestamp};

type Outcome = Result<(), Box<dyn std::error::Error>>;

fn event(n: u64) -> SecurityEvent {
    SecurityEvent::new(
        Timestamp::from_micros(1_750_723_200_000_000 + n as i64),
        EventKind::PiiRead,
        Principal::Service("shipping".into()),
    )
    .customer(format!("c_{:08}", n % 100_000))
    .fields(["phone", "address"])
    .ip(Some([203, 0, 113, (n % 250) as u8].into()))
    .user_agent(Some("shipping-service/2.3"))
    .purpose("delivery")
    .request_id(Some(&format!("req-{n:012}")))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Outcome {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .or_else(|| std::env::var("HAECHI_TEST_NATS").ok())
        .ok_or("give a NATS URL or set HAECHI_TEST_NATS")?;
    let events: u64 = args.next().map_or(Ok(20_000), |text| text.parse())?;
    let writers: u64 = args.next().map_or(Ok(64), |text| text.parse())?;
    let prefix = format!("bench{}", std::process::id());
    let bus = haechi_bus::connect(&url, &prefix, 1).await?;

    let mut sample = Vec::new();
    encode_stored(
        &AuditRecord::chained(1, event(1), GENESIS_HASH),
        &mut sample,
    );
    println!(
        "{events} events of {} bytes, {writers} writers, NATS {}",
        sample.len(),
        haechi_bus::redact_url(&url)
    );

    for with_ids in [false, true] {
        let elapsed = raw_publish(&bus, events, &prefix, with_ids).await?;
        report(
            if with_ids {
                "raw JetStream publish, Nats-Msg-Id"
            } else {
                "raw JetStream publish"
            },
            events,
            elapsed,
        );
    }
    let elapsed = through_log(None, events, writers).await?;
    report("audit log, local only", events, elapsed);
    let replica = bus.replica("bench-node")?;
    let elapsed = through_log(Some(Box::new(replica)), events, writers).await?;
    report("audit log replicated to JetStream", events, elapsed);
    bus.jetstream().delete_stream(bus.names().stream()).await?;
    Ok(())
}

fn report(what: &str, events: u64, elapsed: Duration) {
    let per_second = events as f64 / elapsed.as_secs_f64();
    println!(
        "{what:<40} {per_second:>10.0} events/s  {:>8.1} µs/event  ({:.2} s)",
        elapsed.as_secs_f64() * 1e6 / events as f64,
        elapsed.as_secs_f64()
    );
}

/// Publishes `events` stored records as fast as acks come back, `WINDOW` in flight.
async fn raw_publish(
    bus: &haechi_bus::Bus,
    events: u64,
    prefix: &str,
    with_ids: bool,
) -> Result<Duration, Box<dyn std::error::Error>> {
    let mut payloads = Vec::with_capacity(events as usize);
    let mut prev = GENESIS_HASH;
    for n in 1..=events {
        let record = AuditRecord::chained(n, event(n), prev);
        prev = record.hash;
        let mut bytes = Vec::new();
        encode_stored(&record, &mut bytes);
        payloads.push(Bytes::from(bytes));
    }
    let subject = format!("{prefix}.audit.raw-{with_ids}.records");
    let context = bus.jetstream().clone();
    let started = Instant::now();
    let mut in_flight = FuturesOrdered::new();
    for (n, payload) in payloads.into_iter().enumerate() {
        let mut publish = async_nats::jetstream::message::PublishMessage::build().payload(payload);
        if with_ids {
            publish = publish.message_id(format!("raw:{n}"));
        }
        let ack = context.send_publish(subject.clone(), publish).await?;
        in_flight.push_back(ack.into_future());
        if in_flight.len() >= WINDOW
            && let Some(ack) = in_flight.next().await
        {
            ack?;
        }
    }
    while let Some(ack) = in_flight.next().await {
        ack?;
    }
    Ok(started.elapsed())
}

/// Appends `events` from `writers` concurrent callers to a fresh log, replicated or not.
async fn through_log(
    replica: Option<Box<dyn haechi_audit::Replica>>,
    events: u64,
    writers: u64,
) -> Result<Duration, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let config = AuditLogConfig::new(dir.path());
    let key = SigningKey::from_bytes(&[42; 32]);
    let log = match replica {
        Some(replica) => {
            AuditLog::open_replicated(config, key, Arc::new(SystemClock), replica)
                .await?
                .0
        }
        None => AuditLog::open(config, key, Arc::new(SystemClock))?.0,
    };
    let log = Arc::new(log);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for writer in 0..writers {
        let log = Arc::clone(&log);
        tasks.push(tokio::spawn(async move {
            let mut n = writer;
            while n < events {
                log.append(event(n)).await?;
                n += writers;
            }
            Ok::<(), haechi_audit::Error>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let elapsed = started.elapsed();
    log.shutdown().await?;
    Ok(elapsed)
}
