//! Detection over the cluster's stream: the records of two API nodes evaluated by one
//! detection node, whose block reaches the store every API node reads; one leader among
//! detection nodes started together; and exactly-once evaluation when the leader crashes or
//! loses its lead mid-stream — every event evaluated, no alert raised or acted on twice.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use haechi_audit::AuditLog;
use haechi_events::{Clock as _, EventKind, SecurityEvent, SystemClock};
use haechi_respond::ContainmentStore as _;
use haechi_respond::LeadState;

use crate::util::{
    Cluster, DetectionNode, failed_login, raised_alerts, stream_records, wait_until,
};

const ATTACKER: &str = "203.0.113.7";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rule_needing_both_nodes_fires_once_and_its_block_reaches_the_store() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let a = cluster.api_node("api-a").await;
    let b = cluster.api_node("api-b").await;
    let mut detect = cluster.detection_node("detect-1").await;
    wait_until("the detection node leads", Duration::from_secs(10), || {
        detect.leads()
    })
    .await;

    // Three failed logins on each node: six from one address in the cluster, never more than
    // three on one node, so only an engine that sees both nodes' records counts six.
    for index in 0..3 {
        a.append(failed_login(ATTACKER, &format!("a{index}")))
            .await
            .unwrap();
        b.append(failed_login(ATTACKER, &format!("b{index}")))
            .await
            .unwrap();
    }
    a.append(failed_login("198.51.100.9", "bystander"))
        .await
        .unwrap();

    // The block is in the store the API nodes read (and learn from within a second).
    let api_view = cluster.store().await;
    let started = Instant::now();
    let block = loop {
        let blocks = api_view.active_blocks(SystemClock.now()).await.unwrap();
        if let Some(block) = blocks
            .into_iter()
            .find(|block| block.network.to_string() == format!("{ATTACKER}/32"))
        {
            break block;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no block of the attacker within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(block.rule_id.as_deref(), Some("test.burst"));

    let last = last_api_record(&cluster).await;
    wait_until(
        "the detection node evaluated everything",
        Duration::from_secs(10),
        || {
            detect
                .status()
                .is_some_and(|status| status.evaluated_through >= last)
        },
    )
    .await;
    detect.stop().await;

    let records = stream_records(&cluster.bus).await;
    let raised = raised_alerts(&records);
    let bursts: Vec<(&String, &usize)> = raised
        .iter()
        .filter(|(id, _)| id.starts_with("test.burst/"))
        .collect();
    assert_eq!(bursts.len(), 1, "{raised:?}");
    assert_eq!(*bursts[0].1, 1, "raised twice: {raised:?}");
    assert_eq!(block.alert_id.as_deref(), Some(bursts[0].0.as_str()));
    // The alert names stream positions: its id is the sixth failed login's.
    let sixth = records
        .iter()
        .filter(|(_, node, event)| {
            node.starts_with("api-") && event.ip.is_some_and(|ip| ip.to_string() == ATTACKER)
        })
        .nth(5)
        .unwrap()
        .0;
    assert_eq!(bursts[0].0, &format!("test.burst/{sixth}"));
    let alert = records
        .iter()
        .find(|(_, _, event)| {
            event.kind == EventKind::AlertRaised && event.detail["alert_id"] == *bursts[0].0
        })
        .unwrap();
    assert_eq!(
        alert.1, "detect-1",
        "recorded in the detection node's chain"
    );
    assert_eq!(
        alert.2.detail["evidence_stream"],
        cluster.bus.names().stream()
    );
    assert_every_event_evaluated_once(&records);
    for log in [a, b, detect.log.clone()] {
        log.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_standby_takes_over_a_crashed_leader_without_missing_or_repeating_anything() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let a = cluster.api_node("api-a").await;
    let b = cluster.api_node("api-b").await;
    // Two detection nodes started together: one leads, the other stands by.
    let (first, second) = tokio::join!(
        cluster.detection_node("detect-1"),
        cluster.detection_node("detect-2")
    );
    let mut nodes = [first, second];
    wait_until("one detection node leads", Duration::from_secs(10), || {
        nodes.iter().any(DetectionNode::leads)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(leaders(&nodes), 1, "{:?}", statuses(&nodes));
    let leader = nodes.iter().position(DetectionNode::leads).unwrap();
    let standby = 1 - leader;
    assert_eq!(
        nodes[standby].status().map(|status| status.state),
        Some(LeadState::Standby)
    );

    let appending = tokio::spawn(append_mixed(a.clone(), b.clone(), 1200));
    // Mid-stream: the leader has evaluated some of it and holds more.
    wait_until(
        "the leader evaluated part of the stream",
        Duration::from_secs(20),
        || {
            nodes[leader]
                .status()
                .is_some_and(|status| status.evaluated_through > 400)
        },
    )
    .await;
    let killed_at = Instant::now();
    let evaluated_by_the_dead = nodes[leader].status().unwrap().evaluated_through;
    nodes[leader].kill().await;
    wait_until("the standby leads", Duration::from_secs(20), || {
        nodes[standby].leads()
    })
    .await;
    let took_over = killed_at.elapsed();
    wait_until(
        "the standby evaluates past the dead leader",
        Duration::from_secs(20),
        || {
            nodes[standby]
                .status()
                .is_some_and(|status| status.evaluated_through > evaluated_by_the_dead)
        },
    )
    .await;
    eprintln!(
        "failover: the standby led {took_over:?} after the kill, evaluated past the dead \
         leader's point {:?} after it",
        killed_at.elapsed()
    );
    appending.await.unwrap();

    let last = last_api_record(&cluster).await;
    wait_until(
        "the standby evaluated everything",
        Duration::from_secs(30),
        || {
            nodes[standby]
                .status()
                .is_some_and(|status| status.evaluated_through >= last)
        },
    )
    .await;
    nodes[standby].stop().await;
    let records = stream_records(&cluster.bus).await;
    assert_every_event_evaluated_once(&records);
    assert_each_burst_blocked_once(&cluster, &records).await;
    for log in [a, b, nodes[0].log.clone(), nodes[1].log.clone()] {
        log.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leader_whose_lead_breaks_stops_pulling_and_the_cluster_still_evaluates_once() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let a = cluster.api_node("api-a").await;
    let b = cluster.api_node("api-b").await;
    let mut first = cluster.detection_node("detect-1").await;
    wait_until("the first node leads", Duration::from_secs(10), || {
        first.leads()
    })
    .await;
    let mut second = cluster.detection_node("detect-2").await;
    let appending = tokio::spawn(append_mixed(a.clone(), b.clone(), 1200));
    wait_until(
        "the leader evaluated part of the stream",
        Duration::from_secs(20),
        || {
            first
                .status()
                .is_some_and(|status| status.evaluated_through > 400)
        },
    )
    .await;
    // The leader's lock connection is cut (as a network fault or a database restart would).
    let broken_at = Instant::now();
    break_detection_lead(&cluster.database.url).await;
    wait_until("the leader steps down", Duration::from_secs(5), || {
        !first.leads()
    })
    .await;
    let stepped_down = broken_at.elapsed();
    wait_until("a node leads again", Duration::from_secs(20), || {
        first.leads() || second.leads()
    })
    .await;
    eprintln!(
        "lost lead: the leader stepped down {stepped_down:?} after its connection broke; a \
         node led again {:?} after it",
        broken_at.elapsed()
    );
    appending.await.unwrap();
    let last = last_api_record(&cluster).await;
    wait_until(
        "the cluster evaluated everything",
        Duration::from_secs(30),
        || {
            [&first, &second].iter().any(|node| {
                node.leads()
                    && node
                        .status()
                        .is_some_and(|status| status.evaluated_through >= last)
            })
        },
    )
    .await;
    assert!(!(first.leads() && second.leads()), "two leaders");
    first.stop().await;
    second.stop().await;
    let records = stream_records(&cluster.bus).await;
    assert_every_event_evaluated_once(&records);
    assert_each_burst_blocked_once(&cluster, &records).await;
    for log in [a, b, first.log.clone(), second.log.clone()] {
        log.shutdown().await.unwrap();
    }
}

/// Appends `count` failed logins, alternating between the two API nodes, from twenty
/// addresses, in small bursts (so a detection node is mid-stream whenever it is stopped).
async fn append_mixed(a: Arc<AuditLog>, b: Arc<AuditLog>, count: usize) {
    for index in 0..count {
        let node = if index % 2 == 0 { &a } else { &b };
        let event = failed_login(&format!("198.51.100.{}", index % 20), &format!("r{index}"));
        node.append(event).await.unwrap();
        if index % 20 == 19 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Every API node's failed login raised exactly one `test.each` alert, named after its
/// stream position, and no alert of any rule was raised twice.
fn assert_every_event_evaluated_once(records: &[(u64, String, SecurityEvent)]) {
    let raised = raised_alerts(records);
    let twice: Vec<_> = raised.iter().filter(|(_, count)| **count > 1).collect();
    assert!(twice.is_empty(), "alerts raised more than once: {twice:?}");
    let expected: BTreeSet<String> = records
        .iter()
        .filter(|(_, node, event)| node.starts_with("api-") && event.kind == EventKind::LoginFailed)
        .map(|(sequence, _, _)| format!("test.each/{sequence}"))
        .collect();
    let evaluated: BTreeSet<String> = raised
        .keys()
        .filter(|id| id.starts_with("test.each/"))
        .cloned()
        .collect();
    let missed: Vec<_> = expected.difference(&evaluated).collect();
    assert!(missed.is_empty(), "events never evaluated: {missed:?}");
    assert_eq!(evaluated, expected);
}

/// Each address that failed six times raised one burst alert, whose block was carried out
/// once (one `response.action` in the trail) and is in the store.
async fn assert_each_burst_blocked_once(
    cluster: &Cluster,
    records: &[(u64, String, SecurityEvent)],
) {
    let raised = raised_alerts(records);
    let bursts: BTreeSet<&String> = raised
        .keys()
        .filter(|id| id.starts_with("test.burst/"))
        .collect();
    assert_eq!(bursts.len(), 20, "one burst alert per address: {bursts:?}");
    let mut actions: BTreeMap<String, usize> = BTreeMap::new();
    for (_, _, event) in records {
        if event.kind == EventKind::ResponseAction
            && event
                .detail
                .get("origin")
                .is_some_and(|origin| origin == "detection")
        {
            *actions.entry(event.detail["alert_id"].clone()).or_insert(0) += 1;
        }
    }
    for burst in &bursts {
        assert_eq!(
            actions.get(*burst),
            Some(&1),
            "the block of {burst}: {actions:?}"
        );
    }
    let blocks = cluster
        .store()
        .await
        .active_blocks(SystemClock.now())
        .await
        .unwrap();
    let blocked: BTreeSet<String> = blocks
        .iter()
        .map(|block| block.network.to_string())
        .collect();
    let expected: BTreeSet<String> = (0..20)
        .map(|host| format!("198.51.100.{host}/32"))
        .collect();
    assert_eq!(blocked, expected);
    for block in &blocks {
        let alert = block.alert_id.as_ref().unwrap();
        assert!(
            bursts.contains(alert),
            "a block from {alert}, not a burst alert"
        );
    }
}

/// The stream sequence of the last record the API nodes appended.
async fn last_api_record(cluster: &Cluster) -> u64 {
    stream_records(&cluster.bus)
        .await
        .iter()
        .filter(|(_, node, _)| node.starts_with("api-"))
        .map(|(sequence, _, _)| *sequence)
        .max()
        .unwrap()
}

fn leaders(nodes: &[DetectionNode]) -> usize {
    nodes.iter().filter(|node| node.leads()).count()
}

fn statuses(nodes: &[DetectionNode]) -> Vec<Option<haechi_respond::FeedStatus>> {
    nodes.iter().map(DetectionNode::status).collect()
}

/// Cuts the connection holding the lead of detection (its advisory lock) in this test's
/// database, from outside. `pg_locks` shows every database's locks: the tests running beside
/// this one each hold the same lock in a database of their own.
async fn break_detection_lead(url: &str) {
    use sqlx::Connection as _;
    let mut connection = sqlx::PgConnection::connect(url).await.unwrap();
    let cut: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_locks \
         WHERE locktype = 'advisory' AND objsubid = 2 AND granted \
         AND objid = hashtext('detection')::oid \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .fetch_all(&mut connection)
    .await
    .unwrap();
    assert_eq!(cut, vec![true], "one connection held the lead");
    let _ = connection.close().await;
}
