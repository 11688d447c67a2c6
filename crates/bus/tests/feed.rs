//! The detection feed: every record once, acknowledged explicitly; unacknowledged ones come
//! back after the consumer restarts.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use haechi_bus::FeedOptions;

use crate::util::{append_concurrently, open_node, shared_bus, shut};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_detection_feed_delivers_each_record_once_and_redelivers_unacknowledged_ones() {
    let Some(bus) = shared_bus().await else {
        return;
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, _) = open_node(&bus, dir_a.path(), "api-a").await.unwrap();
    let (b, _) = open_node(&bus, dir_b.path(), "api-b").await.unwrap();
    let (a, b) = (Arc::new(a), Arc::new(b));
    append_concurrently(&a, 0..20, 4).await;
    append_concurrently(&b, 100..110, 2).await;
    shut(a).await;
    shut(b).await;

    let mut options = FeedOptions::new("detect");
    options.ack_wait = Duration::from_secs(1);
    let mut feed = bus.detection_feed_with(options.clone()).await.unwrap();
    let mut acknowledged = BTreeSet::new();
    let mut unacknowledged = BTreeSet::new();
    for index in 0..30 {
        let delivered = feed.next().await.unwrap();
        assert_eq!(delivered.delivered, 1);
        let key = (delivered.node.to_string(), delivered.record.seq);
        if index % 3 == 0 {
            unacknowledged.insert(key);
        } else {
            delivered.ack.ack().await.unwrap();
            assert!(acknowledged.insert(key));
        }
    }
    assert_eq!(acknowledged.len() + unacknowledged.len(), 30);
    drop(feed);

    // The detection node restarts: only what it did not acknowledge comes again.
    let mut feed = bus.detection_feed_with(options).await.unwrap();
    let mut redelivered = BTreeSet::new();
    while redelivered.len() < unacknowledged.len() {
        let delivered = feed.next().await.unwrap();
        let key = (delivered.node.to_string(), delivered.record.seq);
        assert!(
            !acknowledged.contains(&key),
            "acknowledged record delivered again: {key:?}"
        );
        assert!(delivered.delivered >= 2);
        delivered.ack.ack().await.unwrap();
        redelivered.insert(key);
    }
    assert_eq!(redelivered, unacknowledged);
    let info = bus.stream().consumer_info("detect").await.unwrap();
    assert_eq!((info.num_pending, info.num_ack_pending), (0, 0));
}
