//! The exposure check's directory over a real SQLite store: loaded, grown by a refresh,
//! rebuilt under a new key with the old key's tags dropped.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

use std::sync::Arc;

use haechi_events::Timestamp;
use haechi_leak::exposure::{Exposure, ExposureKind, ExposureStore as _};
use haechi_leak::private_check::{Bucket, CheckKey, CheckTagStore as _};
use haechi_leakwatch::ExposureCheck;
use haechi_store::SqliteStore;

fn phones(range: std::ops::Range<u32>) -> Vec<Exposure> {
    range
        .map(|n| Exposure::of_normalised(ExposureKind::Phone, &format!("010{n:08}")))
        .collect()
}

#[tokio::test]
async fn a_refresh_serves_new_exposures_and_a_new_key_replaces_the_old_tags() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("haechi.db"))
            .await
            .unwrap(),
    );
    let at = Timestamp::from_secs(1);
    store.record_exposures(&phones(0..500), at).await.unwrap();

    let check = ExposureCheck::new(CheckKey::from_seed(&[1; 32]).unwrap(), store.clone()).unwrap();
    assert_eq!(check.serving(), 0, "nothing until the first refresh");
    let first = check.refresh().await.unwrap();
    assert_eq!((first.tagged, first.serving, first.dropped), (500, 500, 0));

    // Recorded since: tagged and merged by the next refresh; nothing else is tagged twice.
    let later = phones(500..800);
    store.record_exposures(&later, at).await.unwrap();
    let second = check.refresh().await.unwrap();
    assert_eq!((second.tagged, second.serving), (300, 800));
    assert_eq!(check.refresh().await.unwrap().tagged, 0);
    let key = CheckKey::from_seed(&[1; 32]).unwrap();
    let hash = later[0].hash;
    let tag = key.member_tag(&hash).unwrap();
    // Any canonical element will do for the evaluation; the bucket's tags are the point.
    let element = {
        let mut bytes = [0; 32];
        bytes.copy_from_slice(&hex_bytes(
            "e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76",
        ));
        bytes
    };
    let answer = check.answer(Bucket::of(&hash), &element).unwrap();
    assert!(answer.tags.contains(&tag));
    assert_eq!(answer.key_id, key.id());

    // A server started with another key tags everything again and drops the old tags.
    let next = ExposureCheck::new(CheckKey::from_seed(&[2; 32]).unwrap(), store.clone()).unwrap();
    let rebuilt = next.refresh().await.unwrap();
    assert_eq!(
        (rebuilt.tagged, rebuilt.serving, rebuilt.dropped),
        (800, 800, 800)
    );
    assert!(store.check_tags(key.id()).await.unwrap().is_empty());
}

fn hex_bytes(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(&text[index..index + 2], 16).unwrap())
        .collect()
}
