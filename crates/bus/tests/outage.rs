//! NATS killed while a node appends: the node fails closed, says why, and recovers by itself
//! once NATS is back; the stream ends up holding every acknowledged record exactly once.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use haechi_audit::Error;
use haechi_bus::NodeId;
use haechi_testbed::PrivateNats;

use crate::util::{audit_key, bus_at, event, open_node, stream_records};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_outage_fails_closed_and_recovers_by_itself() {
    let Some(mut nats) = PrivateNats::start() else {
        return;
    };
    let bus = bus_at(&nats.url, "outage").await;
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open_node(&bus, dir.path(), "api-1").await.unwrap();
    let log = Arc::new(log);
    let mut acknowledged = BTreeSet::new();
    for n in 0..50 {
        acknowledged.insert(log.append(event(n)).await.unwrap());
    }

    nats.kill();
    // The first append after the kill waits for its acknowledgement, then fails; the records
    // of that batch stay in the local chain and every later append is refused at once.
    let refused = log.append(event(50)).await.unwrap_err();
    assert!(matches!(refused, Error::Unreplicated { .. }), "{refused}");
    let Err(Error::Unreplicated {
        first_unreplicated, ..
    }) = log.health()
    else {
        panic!(
            "health must report the unreplicated records: {:?}",
            log.health()
        );
    };
    assert_eq!(first_unreplicated, 51);
    assert!(matches!(
        log.append(event(51)).await,
        Err(Error::Unreplicated { .. })
    ));
    // The refused batch stays in the local chain (unless the outage was already noticed
    // while replicating the checkpoint signed after seq 50, and the append refused outright).
    assert!((50..=51).contains(&log.durable_seq()));

    nats.resume();
    let deadline = Instant::now() + Duration::from_secs(60);
    while log.health().is_err() {
        assert!(
            Instant::now() < deadline,
            "the log did not recover within 60 s: {:?}",
            log.health()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for n in 52..80 {
        acknowledged.insert(log.append(event(n)).await.unwrap());
    }
    let head = log.durable_seq();
    assert_eq!(log.replicated_seq(), Some(head));
    log.shutdown().await.unwrap();

    let streamed = stream_records(&bus).await;
    let records = &streamed[&NodeId::new("api-1").unwrap()];
    let seqs: Vec<u64> = records.iter().map(|record| record.seq).collect();
    assert_eq!(
        seqs,
        (1..=head).collect::<Vec<_>>(),
        "exactly once, in order"
    );
    assert!(acknowledged.iter().all(|seq| *seq <= head));
    let report = bus.verify(&audit_key().verifying_key()).await.unwrap();
    assert!(report.is_intact(), "{report}");
}

/// NATS unreachable when a node's log opens: the log opens refusing records, says why, and
/// reconciles and accepts records once NATS is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_opened_while_nats_is_down_waits_for_it() {
    let Some(mut nats) = PrivateNats::start() else {
        return;
    };
    let bus = bus_at(&nats.url, "late").await;
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open_node(&bus, dir.path(), "api-1").await.unwrap();
    for n in 0..10 {
        log.append(event(n)).await.unwrap();
    }
    log.shutdown().await.unwrap();

    nats.kill();
    let (log, reconciled) = open_node(&bus, dir.path(), "api-1").await.unwrap();
    assert!(reconciled.unreachable.is_some(), "{reconciled:?}");
    assert!(matches!(log.health(), Err(Error::Unreplicated { .. })));
    assert!(matches!(
        log.append(event(10)).await,
        Err(Error::Unreplicated { .. })
    ));

    nats.resume();
    let deadline = Instant::now() + Duration::from_secs(60);
    while log.health().is_err() {
        assert!(Instant::now() < deadline, "no recovery: {:?}", log.health());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(log.append(event(11)).await.unwrap(), 11);
    log.shutdown().await.unwrap();
    let report = bus.verify(&audit_key().verifying_key()).await.unwrap();
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.records(), 11);
}
