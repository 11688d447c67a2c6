//! The detection feed: every record once, acknowledged explicitly; unacknowledged ones come
//! back after the consumer restarts, or at once and in order when a leader takes it over; the
//! history a new leader warms up from.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use haechi_bus::{FeedOptions, Takeover};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_takes_the_feed_over_after_its_ack_floor_at_once_and_in_order() {
    let Some(bus) = shared_bus().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open_node(&bus, dir.path(), "api-a").await.unwrap();
    let log = Arc::new(log);

    // A first start on an empty stream: nothing is history, the feed starts at the beginning.
    let options = FeedOptions::new("detect");
    let (mut feed, takeover) = bus.take_over_detection_feed(options.clone()).await.unwrap();
    assert_eq!(
        takeover,
        Takeover {
            acknowledged_through: 0,
            stream_end: 0,
            first_start: true
        }
    );
    append_concurrently(&log, 0..30, 1).await;
    // The leader acknowledges the first ten, takes five more and dies without acknowledging.
    let mut sequences = Vec::new();
    for index in 0..15 {
        let delivered = feed.next().await.unwrap();
        sequences.push(delivered.stream_sequence);
        if index < 10 {
            delivered.ack.ack().await.unwrap();
        }
    }
    drop(feed);

    // The next leader gets everything after the tenth at once (no ack wait), in order.
    let (mut feed, takeover) = bus.take_over_detection_feed(options.clone()).await.unwrap();
    assert_eq!(takeover.acknowledged_through, sequences[9]);
    assert!(!takeover.first_start);
    let mut after = Vec::new();
    for _ in 10..30 {
        let delivered = tokio::time::timeout(Duration::from_secs(5), feed.next())
            .await
            .expect("delivered at once, not after the ack wait")
            .unwrap();
        assert_eq!(delivered.delivered, 1);
        after.push((delivered.stream_sequence, delivered.record.seq));
        delivered.ack.ack().await.unwrap();
    }
    assert_eq!(after[0].0, sequences[10]);
    assert!(after.windows(2).all(|pair| pair[0].0 < pair[1].0));
    assert_eq!(
        after.iter().map(|(_, seq)| *seq).collect::<Vec<_>>(),
        (11..=30).collect::<Vec<_>>()
    );
    let lag = bus.detection_feed_lag("detect").await.unwrap();
    assert_eq!(
        (
            lag.undelivered,
            lag.unacknowledged,
            lag.acknowledged_through
        ),
        (0, 0, after[19].0)
    );
    drop(feed);

    // The history a new leader warms up with: records since a time, through a sequence.
    let mut history = bus
        .record_history(std::time::UNIX_EPOCH, sequences[9])
        .await
        .unwrap();
    let mut read = Vec::new();
    while let Some(record) = history.next().await.unwrap() {
        read.push((record.stream_sequence, record.record.seq));
    }
    assert_eq!(
        read,
        sequences[..10]
            .iter()
            .copied()
            .zip(1..=10)
            .collect::<Vec<_>>()
    );
    let later = std::time::SystemTime::now() + Duration::from_secs(60);
    let mut none = bus.record_history(later, sequences[9]).await.unwrap();
    assert!(none.next().await.unwrap().is_none());
    shut(log).await;
}

/// The drill clock settles a cluster's detection through the newest record in the stream:
/// every record acknowledged before the read is at or below it, and a checkpoint published
/// after the last record (the feed never delivers one) does not count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_record_sequence_is_the_newest_record_of_any_node_not_a_checkpoint() {
    let Some(bus) = shared_bus().await else {
        return;
    };
    assert_eq!(
        bus.last_record_sequence().await.unwrap(),
        0,
        "an empty stream"
    );
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, _) = open_node(&bus, dir_a.path(), "api-a").await.unwrap();
    let (b, _) = open_node(&bus, dir_b.path(), "api-b").await.unwrap();
    let (a, b) = (Arc::new(a), Arc::new(b));
    append_concurrently(&a, 0..30, 3).await;
    append_concurrently(&b, 100..110, 2).await;
    let acknowledged = bus.last_record_sequence().await.unwrap();
    // A clean close signs a final checkpoint: it lands after every record.
    shut(a).await;
    shut(b).await;

    let mut reader = bus.reader().await.unwrap();
    let (mut newest_record, mut newest_message) = (0, 0);
    while let Some(entry) = reader.next_entry().await.unwrap() {
        newest_message = entry.sequence;
        if matches!(entry.content, haechi_bus::EntryContent::Record { .. }) {
            newest_record = entry.sequence;
        }
    }
    assert!(newest_message > newest_record, "a checkpoint came last");
    assert_eq!(acknowledged, newest_record);
    assert_eq!(bus.last_record_sequence().await.unwrap(), newest_record);
}
