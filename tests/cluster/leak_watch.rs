//! The leak watch in a cluster (`haechi serve --role leakwatch`): two watch nodes on one drop
//! directory, one PostgreSQL database and one NATS stream, and a detection node. One node
//! leads the watch at a time, so a dump is examined once; its findings reach the detection
//! node over the bus and are raised there; when the leader dies the standby takes over from
//! the shared ledger — the new dump is examined, the old one is not examined again.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::Cluster;
use crate::leak::{CUSTOMERS, import_customers};
use crate::leak_watch::{configure, drop_file, dump};
use crate::util::Server;

/// Waits up to `limit` for `probe` to hold.
fn wait(limit: Duration, what: &str, mut probe: impl FnMut() -> bool) {
    let started = Instant::now();
    while !probe() {
        assert!(
            started.elapsed() < limit,
            "{what} did not happen in {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn scanned(server: &Server) -> Vec<Value> {
    server.events_of("leak.item_scanned")
}

fn leak_alerts(detector: &Server) -> usize {
    detector
        .events_of("alert.raised")
        .iter()
        .filter(|event| event["detail"]["rule_id"] == "haechi.leak.confirmed_match")
        .count()
}

#[tokio::test]
async fn one_watch_node_leads_a_standby_takes_over_and_nothing_is_examined_twice() {
    let Some(cluster) = Cluster::new().await else {
        return;
    };
    import_customers(&cluster.ops);
    let drop = cluster.ops.dir.path().join("drop");
    std::fs::create_dir(&drop).unwrap();
    let source = format!(
        "[[leakwatch.source]]\nname = \"analysts\"\ndirectory = \"{}\"\n",
        drop.display()
    );
    // A watch node needs sources: without them it says so and does not start.
    let bare = cluster.node_instance("watch-0");
    let (code, _, stderr) = bare.run(&["serve", "--role", "leakwatch"], None);
    assert_ne!(code, 0);
    assert!(stderr.contains("[[leakwatch.source]]"), "{stderr}");

    let detector = cluster.start_node(&cluster.node_instance("detect-1"), "detect");
    let watchers: Vec<Server> = ["watch-1", "watch-2"]
        .into_iter()
        .map(|id| {
            let instance = cluster.node_instance(id);
            configure(&instance, &source);
            cluster.start_node(&instance, "leakwatch")
        })
        .collect();

    drop_file(&drop, "shop-dump.csv", dump().as_bytes());
    wait(Duration::from_secs(30), "the leak alert", || {
        leak_alerts(&detector) == 1
    });
    let leader = watchers
        .iter()
        .position(|watcher| !scanned(watcher).is_empty())
        .expect("a watch node examined the dump");
    let standby = 1 - leader;
    // Examined once, by the leader only; the standby never touched it.
    assert_eq!(scanned(&watchers[leader]).len(), 1);
    assert_eq!(scanned(&watchers[leader])[0]["reason"], "matched");
    std::thread::sleep(Duration::from_secs(3));
    assert!(scanned(&watchers[standby]).is_empty());

    // The leader dies (its lock goes with its connection); a new dump appears.
    let mut watchers = watchers;
    let standby_server = watchers.remove(standby);
    let leader_server = watchers.remove(0);
    leader_server.terminate();
    let second = format!("email\n{}\n", CUSTOMERS[1].1);
    drop_file(&drop, "second.csv", second.as_bytes());
    wait(Duration::from_secs(40), "the standby's takeover", || {
        leak_alerts(&detector) == 2
    });
    let taken: Vec<Value> = scanned(&standby_server);
    assert_eq!(taken.len(), 1, "only the new dump: {taken:#?}");
    assert_eq!(taken[0]["detail"]["item"], "second.csv");

    // While a node leads, `haechi leak watch` elsewhere is refused rather than fetching the
    // same items beside it.
    let late = cluster.node_instance("watch-3");
    configure(&late, &source);
    let (code, _, stderr) = late.run(&["leak", "watch", "--once"], None);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("another node leads the leak watch"),
        "{stderr}"
    );
}
