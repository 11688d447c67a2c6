//! The drill clock's settle on a cluster's detection nodes: the leader answers only once
//! every record the stream held when the request arrived is evaluated and what it raised is
//! carried out — the block is in the store when the answer comes, with no waiting on the
//! test's side — and a standby answers that it stands by.

use std::sync::Arc;
use std::time::Duration;

use haechi_bus::FeedOptions;
use haechi_events::{Clock as _, SystemClock};
use haechi_respond::ContainmentStore as _;
use haechi_respond::pipeline::{ClusterSource, Settle, SettleAnswer, SettledSource, Source};
use tokio::sync::{mpsc, oneshot};

use crate::util::{Cluster, PgLead, RULES, failed_login, wait_until};

const ATTACKER: &str = "203.0.113.9";

/// A detection node's source with a settle line, as `haechi serve` on the drill clock has it.
fn settling(
    settles: mpsc::Receiver<Settle>,
) -> impl FnOnce(&haechi_bus::Bus, Arc<haechi_store::PgStore>) -> Source {
    move |bus, store| {
        Source::Cluster(Box::new(ClusterSource {
            bus: bus.clone(),
            feed: FeedOptions::new("detection"),
            lead: Arc::new(PgLead(store)),
            lead_check: Duration::from_millis(100),
            settles: Some(settles),
        }))
    }
}

fn engine() -> haechi_detect::Engine {
    let report = haechi_detect::load_str("test-rules.yaml", RULES);
    haechi_detect::Engine::new(report.rules, haechi_detect::Limits::default()).unwrap()
}

async fn settle(line: &mpsc::Sender<Settle>) -> SettleAnswer {
    let (done, answered) = oneshot::channel();
    line.send(Settle {
        through_seq: 0,
        done,
    })
    .await
    .unwrap();
    tokio::time::timeout(Duration::from_secs(30), answered)
        .await
        .expect("answered within 30 s")
        .expect("answered, not dropped")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_settle_answers_once_the_streams_records_are_evaluated_and_acted_on() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let a = cluster.api_node("api-a").await;
    let b = cluster.api_node("api-b").await;
    let (leader_line, leader_settles) = mpsc::channel(4);
    let mut leader = cluster
        .detection_node_with("detect-1", engine(), settling(leader_settles))
        .await;
    wait_until("the detection node leads", Duration::from_secs(10), || {
        leader.leads()
    })
    .await;
    let (standby_line, standby_settles) = mpsc::channel(4);
    let mut standby = cluster
        .detection_node_with("detect-2", engine(), settling(standby_settles))
        .await;
    wait_until("the second node stands by", Duration::from_secs(10), || {
        standby.status().is_some()
    })
    .await;

    // Six failed logins from one address, three on each API node, stamped a minute ago so
    // the allowed lateness has passed: the burst rule blocks the address.
    let minute_ago = SystemClock.now().minus(Duration::from_secs(60));
    for index in 0..3 {
        for (node, log) in [("a", &a), ("b", &b)] {
            let mut event = failed_login(ATTACKER, &format!("{node}{index}"));
            event.time = minute_ago;
            log.append(event).await.unwrap();
        }
    }
    let last = cluster.bus.last_record_sequence().await.unwrap();
    assert!(last > 0);

    // The answer comes once the block is carried out: the store has it when it comes.
    let SettleAnswer::Settled(settled) = settle(&leader_line).await else {
        panic!("the leader did not settle");
    };
    let SettledSource::Stream {
        records_through,
        evaluated_through,
    } = settled.source()
    else {
        panic!("a cluster's detection node settles the stream: {settled:?}");
    };
    assert!(records_through >= last, "{records_through} < {last}");
    assert!(evaluated_through >= last, "{evaluated_through} < {last}");
    let store = cluster.store().await;
    let blocks = store.active_blocks(SystemClock.now()).await.unwrap();
    assert!(
        blocks
            .iter()
            .any(|block| block.network.to_string() == format!("{ATTACKER}/32")),
        "{blocks:?}"
    );
    let every = haechi_respond::AlertFilter {
        limit: 100,
        ..Default::default()
    };
    let (alerts, _) = leader.detection.alerts.list(&every);
    let rules: Vec<&str> = alerts
        .iter()
        .map(|alert| alert.alert.rule_id.as_str())
        .collect();
    assert!(rules.contains(&"test.burst"), "{rules:?}");

    // A standby settles nothing and says so.
    assert_eq!(settle(&standby_line).await, SettleAnswer::Standby);

    // A leader that stops drops what waits: the drill clock answers that it did not settle.
    leader.stop().await;
    let (done, answered) = oneshot::channel();
    let sent = leader_line
        .send(Settle {
            through_seq: 0,
            done,
        })
        .await;
    assert!(sent.is_err() || answered.await.is_err());
    standby.stop().await;
}
