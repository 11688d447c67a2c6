//! Records per second exported from the cluster's audit stream into the Parquet archive,
//! against reading the same stream without writing anything, in the same run.
//!
//! ```text
//! cargo run --release -p haechi-bus --example export_throughput -- [nats://127.0.0.1:42229] [records per node] [nodes] [keep-archive-dir]
//! ```
//!
//! The URL defaults to `HAECHI_TEST_NATS`. Fills a fresh stream (its own prefix) with
//! `nodes` chains of realistic records, interleaved, each with a signed checkpoint every 1000
//! records, then measures: a read of the whole stream (decode only), `Bus::export` into an
//! empty archive, a second export with nothing new, and a verify of stream and archive
//! together (what prune does first). Prints; asserts nothing.

use std::future::IntoFuture as _;
use std::time::Instant;

use ed25519_dalek::SigningKey;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use haechi_audit::record::encode_stored;
use haechi_audit::{AuditRecord, Checkpoint, ExportOptions, GENESIS_HASH};
use haechi_bus::{BusOptions, NodeId, Part, StreamRetention};
use haechi_events::{EventKind, Principal, SecurityEvent, Timestamp};

type Outcome = Result<(), Box<dyn std::error::Error>>;

fn event(n: u64) -> SecurityEvent {
    SecurityEvent::new(
        Timestamp::from_micros(1_750_723_200_000_000 + n as i64 * 1000),
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
    let per_node: u64 = args.next().map_or(Ok(50_000), |text| text.parse())?;
    let node_count: usize = args.next().map_or(Ok(2), |text| text.parse())?;
    let keep = args.next();
    let prefix = format!("exportbench{}", std::process::id());
    let mut options = BusOptions::new(&url, &prefix, 1);
    options.retention = StreamRetention::Archive;
    let bus = haechi_bus::Bus::connect(options).await?;
    let key = SigningKey::from_bytes(&[42; 32]);
    let nodes: Vec<NodeId> = (0..node_count)
        .map(|index| NodeId::new(&format!("api-{index}")))
        .collect::<Result<_, _>>()?;

    let started = Instant::now();
    let mut heads = vec![GENESIS_HASH; node_count];
    let mut acks = FuturesUnordered::new();
    for n in 0..per_node {
        for (index, node) in nodes.iter().enumerate() {
            let record = AuditRecord::chained(n + 1, event(n), heads[index]);
            heads[index] = record.hash;
            let mut bytes = Vec::new();
            encode_stored(&record, &mut bytes);
            let subject = bus.names().subject(node, Part::Records);
            acks.push(
                bus.jetstream()
                    .publish(subject, bytes.into())
                    .await?
                    .into_future(),
            );
            if (n + 1) % 1000 == 0 || n + 1 == per_node {
                let checkpoint = Checkpoint::sign(n + 1, record.hash, record.event.time, &key);
                let subject = bus.names().subject(node, Part::Checkpoints);
                let payload = checkpoint.encode().to_vec();
                acks.push(
                    bus.jetstream()
                        .publish(subject, payload.into())
                        .await?
                        .into_future(),
                );
            }
            while acks.len() > 4096 {
                if let Some(ack) = acks.next().await {
                    ack?;
                }
            }
        }
    }
    while let Some(ack) = acks.next().await {
        ack?;
    }
    let records = per_node * node_count as u64;
    println!(
        "filled: {records} records of {node_count} nodes in {:.1?}",
        started.elapsed()
    );

    let started = Instant::now();
    let mut reader = bus.reader().await?;
    let mut read = 0u64;
    while reader.next_record().await?.is_some() {
        read += 1;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "read only:   {read} records in {seconds:.2} s = {:.0} records/s",
        read as f64 / seconds
    );

    let temporary = tempfile::tempdir()?;
    let archive = keep.map_or_else(|| temporary.path().to_path_buf(), Into::into);
    let started = Instant::now();
    let report = bus.export(&archive, &ExportOptions::default()).await?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "export:      {} records in {seconds:.2} s = {:.0} records/s ({} files, {} bytes)",
        report.records,
        report.records as f64 / seconds,
        report.files_written.len(),
        report.bytes_written
    );
    let started = Instant::now();
    let again = bus.export(&archive, &ExportOptions::default()).await?;
    println!(
        "export again (nothing new): {} records in {:.1?}",
        again.records,
        started.elapsed()
    );
    let started = Instant::now();
    let verified = bus
        .verify_with_archive(&key.verifying_key(), &archive)
        .await?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "verify stream + archive: {} records, intact {}, in {seconds:.2} s",
        verified.records(),
        verified.is_intact()
    );
    bus.jetstream().delete_stream(bus.names().stream()).await?;
    Ok(())
}
