//! `WatchLedger`: the leak watch's memory. A finished item's key, digest and match are kept
//! together, keys are answered in bulk (past one `IN` list), an entry still listed is kept
//! fresh, fetch failures count until the item is finished, the day's matches count per
//! source, a feed's validators are replaced, and forgetting drops only what is older.

use std::sync::Arc;

use haechi_events::Timestamp;
use haechi_leak::watch_ledger::{FeedValidators, FinishedItem};

use crate::Store;

crate::conformance!(
    a_finished_item_is_remembered_by_key_and_digest,
    an_item_still_listed_is_never_forgotten,
    fetch_failures_are_counted_until_the_item_is_finished,
    matches_are_counted_per_source_and_day,
    feed_validators_are_kept_and_replaced,
    forgetting_drops_only_the_older,
);

fn item(key: &str, digest: Option<&str>, matched_on: Option<&str>, at: i64) -> FinishedItem {
    FinishedItem {
        key: key.into(),
        digest: digest.map(str::to_string),
        matched_on: matched_on.map(str::to_string),
        at: Timestamp::from_secs(at),
    }
}

async fn a_finished_item_is_remembered_by_key_and_digest<S: Store>(store: Arc<S>) {
    let keys: Vec<String> = (0..1_200).map(|n| format!("dump-{n}.csv|10|{n}")).collect();
    assert!(
        store
            .fetched_keys("drop", &keys, Timestamp::from_secs(1))
            .await
            .unwrap()
            .is_empty()
    );
    for key in keys.iter().step_by(3) {
        store
            .finish_item("drop", &item(key, Some(&format!("d-{key}")), None, 1))
            .await
            .unwrap();
    }
    // An item refused unread keeps its key only.
    store
        .finish_item("drop", &item(&keys[1], None, None, 1))
        .await
        .unwrap();
    let fetched = store
        .fetched_keys("drop", &keys, Timestamp::from_secs(1))
        .await
        .unwrap();
    assert_eq!(fetched.len(), 401);
    assert!(fetched.contains(&keys[0]) && fetched.contains(&keys[1197]));
    assert!(fetched.contains(&keys[1]) && !fetched.contains(&keys[2]));
    assert!(
        store
            .digest_finished("drop", &format!("d-{}", keys[3]))
            .await
            .unwrap()
    );
    assert!(
        !store
            .digest_finished("feed", &format!("d-{}", keys[3]))
            .await
            .unwrap()
    );
    assert!(
        store
            .fetched_keys("feed", &keys, Timestamp::from_secs(1))
            .await
            .unwrap()
            .is_empty()
    );
    // The same key finished again (a file dropped again under the same name) is no error.
    store
        .finish_item(
            "drop",
            &item(&keys[0], Some(&format!("d-{}", keys[0])), None, 2),
        )
        .await
        .unwrap();
}

async fn matches_are_counted_per_source_and_day<S: Store>(store: Arc<S>) {
    assert_eq!(store.matched_on("drop", "2026-12-07").await.unwrap(), 0);
    for n in 0..3 {
        store
            .finish_item(
                "drop",
                &item(
                    &format!("k{n}"),
                    Some(&format!("d{n}")),
                    Some("2026-12-07"),
                    1,
                ),
            )
            .await
            .unwrap();
    }
    store
        .finish_item("drop", &item("k9", Some("d9"), Some("2026-12-08"), 2))
        .await
        .unwrap();
    store
        .finish_item("feed", &item("k0", Some("d0"), Some("2026-12-07"), 1))
        .await
        .unwrap();
    assert_eq!(store.matched_on("drop", "2026-12-07").await.unwrap(), 3);
    assert_eq!(store.matched_on("drop", "2026-12-08").await.unwrap(), 1);
    assert_eq!(store.matched_on("feed", "2026-12-07").await.unwrap(), 1);
}

async fn feed_validators_are_kept_and_replaced<S: Store>(store: Arc<S>) {
    assert_eq!(
        store.feed_validators("feed").await.unwrap(),
        FeedValidators::default()
    );
    let first = FeedValidators {
        etag: Some("\"v1\"".into()),
        last_modified: Some("Mon, 07 Dec 2026 10:00:00 GMT".into()),
    };
    store.keep_feed_validators("feed", &first).await.unwrap();
    assert_eq!(store.feed_validators("feed").await.unwrap(), first);
    let second = FeedValidators {
        etag: Some("\"v2\"".into()),
        last_modified: None,
    };
    store.keep_feed_validators("feed", &second).await.unwrap();
    assert_eq!(store.feed_validators("feed").await.unwrap(), second);
    assert_eq!(
        store.feed_validators("other").await.unwrap(),
        FeedValidators::default()
    );
}

async fn forgetting_drops_only_the_older<S: Store>(store: Arc<S>) {
    let day = 86_400;
    store
        .finish_item("drop", &item("old", Some("d-old"), Some("1970-01-01"), 10))
        .await
        .unwrap();
    store
        .finish_item(
            "drop",
            &item("new", Some("d-new"), Some("1970-01-03"), 2 * day + 10),
        )
        .await
        .unwrap();
    let forgotten = store
        .forget_watch_before(Timestamp::from_secs(2 * day))
        .await
        .unwrap();
    assert_eq!(forgotten, 3, "the old key, its digest and its day");
    let keys = ["old".to_string(), "new".to_string()];
    let fetched = store
        .fetched_keys("drop", &keys, Timestamp::from_secs(1))
        .await
        .unwrap();
    assert!(!fetched.contains("old") && fetched.contains("new"));
    assert!(!store.digest_finished("drop", "d-old").await.unwrap());
    assert!(store.digest_finished("drop", "d-new").await.unwrap());
    assert_eq!(store.matched_on("drop", "1970-01-01").await.unwrap(), 0);
    assert_eq!(store.matched_on("drop", "1970-01-03").await.unwrap(), 1);
}

async fn an_item_still_listed_is_never_forgotten<S: Store>(store: Arc<S>) {
    let day = 86_400;
    for key in ["listed", "gone"] {
        store
            .finish_item("drop", &item(key, Some(&format!("d-{key}")), None, 10))
            .await
            .unwrap();
    }
    // Listed again three days later: "listed" is marked as seen then, "gone" is not.
    let keys = ["listed".to_string()];
    let found = store
        .fetched_keys("drop", &keys, Timestamp::from_secs(3 * day))
        .await
        .unwrap();
    assert!(found.contains("listed"));
    store
        .forget_watch_before(Timestamp::from_secs(2 * day))
        .await
        .unwrap();
    let both = ["listed".to_string(), "gone".to_string()];
    let kept = store
        .fetched_keys("drop", &both, Timestamp::from_secs(3 * day))
        .await
        .unwrap();
    assert!(
        kept.contains("listed") && !kept.contains("gone"),
        "{kept:?}"
    );
}

async fn fetch_failures_are_counted_until_the_item_is_finished<S: Store>(store: Arc<S>) {
    let at = Timestamp::from_secs(5);
    assert_eq!(
        store
            .count_fetch_failure("feed", "https://f/a", at)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .count_fetch_failure("feed", "https://f/a", at)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .count_fetch_failure("feed", "https://f/b", at)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .count_fetch_failure("drop", "https://f/a", at)
            .await
            .unwrap(),
        1
    );
    store
        .finish_item("feed", &item("https://f/a", None, None, 6))
        .await
        .unwrap();
    assert_eq!(
        store
            .count_fetch_failure("feed", "https://f/a", at)
            .await
            .unwrap(),
        1
    );
}
