//! `CheckTagStore`: untagged hashes found, tags kept once, read back by bucket, other keys'
//! dropped.

use std::collections::BTreeSet;
use std::sync::Arc;

use haechi_events::Timestamp;
use haechi_leak::exposure::{Exposure, ExposureKind};
use haechi_leak::private_check::{Bucket, CheckKey, MemberTag};

use crate::Store;

crate::conformance!(tags_are_made_once_per_key_and_read_back_by_bucket,);

async fn tags_are_made_once_per_key_and_read_back_by_bucket<S: Store>(store: Arc<S>) {
    let exposures: Vec<Exposure> = (0..1_500)
        .map(|n| Exposure::of_normalised(ExposureKind::Phone, &format!("010{n:08}")))
        .collect();
    store
        .record_exposures(&exposures, Timestamp::from_secs(1))
        .await
        .unwrap();
    let key = CheckKey::from_seed(&[1; 32]).unwrap();

    // Tagged in two rounds, as the server does (a bounded batch at a time).
    let mut made = Vec::new();
    loop {
        let untagged = store.untagged_exposures(key.id(), 1_000).await.unwrap();
        if untagged.is_empty() {
            break;
        }
        assert!(untagged.len() <= 1_000);
        let tags: Vec<_> = untagged
            .iter()
            .map(|hash| (*hash, key.member_tag(hash).unwrap()))
            .collect();
        store.record_check_tags(key.id(), &tags).await.unwrap();
        // Recording the same tags again changes nothing.
        store
            .record_check_tags(key.id(), &tags[..10])
            .await
            .unwrap();
        made.extend(tags);
    }
    assert_eq!(made.len(), 1_500);
    let expected: BTreeSet<(Bucket, MemberTag)> = exposures
        .iter()
        .map(|exposure| {
            (
                Bucket::of(&exposure.hash),
                key.member_tag(&exposure.hash).unwrap(),
            )
        })
        .collect();
    let stored: BTreeSet<(Bucket, MemberTag)> = store
        .check_tags(key.id())
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(stored, expected);

    // A new key starts untagged; dropping the others keeps only its tags.
    let next = CheckKey::from_seed(&[2; 32]).unwrap();
    assert_eq!(
        store.untagged_exposures(next.id(), 5).await.unwrap().len(),
        5
    );
    let first = exposures[0].hash;
    store
        .record_check_tags(next.id(), &[(first, next.member_tag(&first).unwrap())])
        .await
        .unwrap();
    assert_eq!(
        store.drop_check_tags_except(next.id()).await.unwrap(),
        1_500
    );
    assert!(store.check_tags(key.id()).await.unwrap().is_empty());
    assert_eq!(store.check_tags(next.id()).await.unwrap().len(), 1);
}
