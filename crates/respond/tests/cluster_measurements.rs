//! Measurements, not checks (ignored by default): how fast the built-in rules evaluate the
//! same events from the cluster's feed and from the local log, in the same run, and how long a
//! standby takes to lead with those events as history.
//!
//! ```text
//! cargo test --release -p haechi-respond --test integration -- --ignored --nocapture measure
//! ```
//! (`HAECHI_MEASURE_EVENTS`, default 50 000.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use haechi_audit::AuditLog;
use haechi_bus::FeedOptions;
use haechi_detect::{Engine, Limits};
use haechi_events::{Clock as _, EventKind, Principal, SecurityEvent, SystemClock};
use haechi_respond::pipeline::{ClusterSource, LocalLog, Settle, Source};
use tokio::sync::{mpsc, oneshot};

use crate::util::{Cluster, PgLead, stream_records, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run with --ignored --nocapture, in release"]
async fn measure_evaluation_from_the_feed_and_from_the_local_log() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let count: u64 = std::env::var("HAECHI_MEASURE_EVENTS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(50_000);
    let api = cluster.api_node("api-a").await;
    let cluster_source = |bus: &haechi_bus::Bus, store| {
        Source::Cluster(Box::new(ClusterSource {
            bus: bus.clone(),
            feed: FeedOptions::new("detection"),
            lead: Arc::new(PgLead(store)),
            lead_check: Duration::from_millis(100),
            settles: None,
        }))
    };
    // The feed exists before the events arrive: a first leader on the empty stream.
    let mut first = cluster
        .detection_node_with("detect-0", builtin_engine(), cluster_source)
        .await;
    wait_until("the first node leads", Duration::from_secs(10), || {
        first.leads()
    })
    .await;
    first.stop().await;

    let appended = Instant::now();
    append_concurrently(&api, count, 64).await;
    let append_time = appended.elapsed();

    // The local log: a single node's pipeline over the API node's own log, from seq 1.
    let seq_dir = tempfile::tempdir().unwrap();
    let seq_file = seq_dir.path().join("detect.seq");
    std::fs::write(&seq_file, "1\n").unwrap();
    let (settles, settle_requests) = mpsc::channel(1);
    let started = Instant::now();
    let mut local = cluster
        .detection_node_with("detect-local", builtin_engine(), |_, _| {
            Source::LocalLog(LocalLog {
                audit: api.clone(),
                seq_file,
                settles: Some(settle_requests),
            })
        })
        .await;
    let (done, answered) = oneshot::channel();
    settles
        .send(Settle {
            through_seq: api.durable_seq(),
            done,
        })
        .await
        .unwrap();
    answered.await.unwrap();
    let local_time = started.elapsed();
    local.stop().await;

    // The feed: a new leader takes it over, warms up from the stream and evaluates it all.
    let last = stream_records(&cluster.bus)
        .await
        .iter()
        .filter(|(_, node, _)| node == "api-a")
        .map(|(sequence, _, _)| *sequence)
        .max()
        .unwrap();
    let started = Instant::now();
    let mut feed = cluster
        .detection_node_with("detect-feed", builtin_engine(), cluster_source)
        .await;
    let mut led = None;
    wait_until("the feed is evaluated", Duration::from_secs(600), || {
        if led.is_none() && feed.leads() {
            led = Some(started.elapsed());
        }
        feed.leads()
            && feed
                .status()
                .is_some_and(|status| status.evaluated_through >= last)
    })
    .await;
    let feed_time = started.elapsed();

    // A standby taking over from a leader that crashed, with every event as history.
    feed.kill().await;
    let killed = Instant::now();
    let standby = cluster
        .detection_node_with("detect-standby", builtin_engine(), cluster_source)
        .await;
    wait_until("the standby leads", Duration::from_secs(600), || {
        standby.leads()
    })
    .await;
    let failover = killed.elapsed();

    let rate = |time: Duration| count as f64 / time.as_secs_f64();
    eprintln!(
        "{count} events appended (replicated) in {append_time:.2?} ({:.0}/s)",
        rate(append_time)
    );
    eprintln!(
        "local log: evaluated in {local_time:.2?} ({:.0} events/s), opening and scan included",
        rate(local_time)
    );
    let led = led.unwrap_or_default();
    eprintln!(
        "cluster feed: evaluated in {feed_time:.2?} ({:.0} events/s), opening, takeover and \
         warm-up scan included; led after {led:.2?}, then {:.0} events/s from the feed",
        rate(feed_time),
        rate(feed_time.saturating_sub(led))
    );
    eprintln!(
        "failover with {count} events of history: the standby led {failover:.2?} after the \
         leader was killed (opening, lead poll, grace, takeover, warm-up)"
    );
    api.shutdown().await.unwrap();
}

/// The built-in rules with their defaults.
fn builtin_engine() -> Engine {
    let report = haechi_detect::builtin_rules();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    Engine::new(report.rules, Limits::default()).unwrap()
}

/// Event `n` of a plausible mix: a service's reads of many customers, logins, tokens.
fn event(n: u64) -> SecurityEvent {
    let kind = [
        EventKind::PiiRead,
        EventKind::PiiRead,
        EventKind::LoginOk,
        EventKind::TokenIssued,
    ][(n % 4) as usize];
    SecurityEvent::new(
        SystemClock.now(),
        kind,
        Principal::Service(format!("service-{}", n % 7)),
    )
    .customer(format!("c_{}", n % 5000))
    .fields(["phone"])
    .ip(Some(format!("10.0.{}.{}", n % 7, n % 200).parse().unwrap()))
    .request_id(Some(&format!("req-{n}")))
}

/// Appends `count` events from `tasks` concurrent callers.
async fn append_concurrently(log: &Arc<AuditLog>, count: u64, tasks: u64) {
    let mut handles = Vec::new();
    for task in 0..tasks {
        let log = log.clone();
        handles.push(tokio::spawn(async move {
            for n in (task..count).step_by(tasks as usize) {
                log.append(event(n)).await.unwrap();
            }
        }));
    }
    for handle in handles {
        handle.await.unwrap();
    }
}
