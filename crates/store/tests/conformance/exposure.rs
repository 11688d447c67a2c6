//! `ExposureStore`: sightings count up, ranges come back in hash order.

use std::collections::BTreeMap;
use std::sync::Arc;

use haechi_events::Timestamp;
use haechi_leak::exposure::{ExposedHash, Exposure, ExposureKind, RangePrefix};

use crate::Store;

crate::conformance!(
    sightings_count_up_and_ranges_come_back_in_order,
    many_exposures_in_one_call_are_counted_once_each,
);

fn exposure(kind: ExposureKind, normalised: &str) -> Exposure {
    Exposure::of_normalised(kind, normalised)
}

async fn sightings_count_up_and_ranges_come_back_in_order<S: Store>(store: Arc<S>) {
    let a = exposure(ExposureKind::Email, "a@b.kr");
    let b = exposure(ExposureKind::Phone, "01023456789");
    let t = Timestamp::from_micros(1);
    assert_eq!(store.exposure_count().await.unwrap(), 0);
    assert_eq!(store.record_exposures(&[a, b], t).await.unwrap(), 2);
    assert_eq!(store.record_exposures(&[a], t).await.unwrap(), 0);
    // Twice in one call: one new hash, two sightings.
    let c = exposure(ExposureKind::Email, "c@d.kr");
    assert_eq!(store.record_exposures(&[c, a, c], t).await.unwrap(), 1);
    assert_eq!(
        store.exposure_range(a.hash.prefix()).await.unwrap(),
        [ExposedHash {
            hash: a.hash,
            count: 3
        }]
    );
    assert_eq!(
        store.exposure_range(c.hash.prefix()).await.unwrap(),
        [ExposedHash {
            hash: c.hash,
            count: 2
        }]
    );
    assert_eq!(store.exposure_count().await.unwrap(), 3);
    assert!(store.record_exposures(&[], t).await.unwrap() == 0);
}

async fn many_exposures_in_one_call_are_counted_once_each<S: Store>(store: Arc<S>) {
    // Enough hashes that several share a range and the backends' statement chunks split.
    let all: Vec<Exposure> = (0..25_000)
        .map(|n| exposure(ExposureKind::Email, &format!("user{n}@example.kr")))
        .collect();
    let t = Timestamp::from_secs(100);
    assert_eq!(store.record_exposures(&all, t).await.unwrap(), 25_000);
    assert_eq!(store.exposure_count().await.unwrap(), 25_000);
    assert_eq!(store.record_exposures(&all[..10], t).await.unwrap(), 0);

    // A range holding several of them (25,000 hashes over 2^20 ranges share some).
    let mut by_prefix: BTreeMap<RangePrefix, Vec<ExposedHash>> = BTreeMap::new();
    for e in &all {
        by_prefix
            .entry(e.hash.prefix())
            .or_default()
            .push(ExposedHash {
                hash: e.hash,
                count: 1 + u64::from(all[..10].contains(e)),
            });
    }
    let (prefix, mut expected) = by_prefix
        .into_iter()
        .find(|(_, hashes)| hashes.len() > 1)
        .unwrap();
    expected.sort_by_key(|e| e.hash);
    assert_eq!(store.exposure_range(prefix).await.unwrap(), expected);
    let first = all[0].hash.prefix();
    assert!(
        store
            .exposure_range(first)
            .await
            .unwrap()
            .iter()
            .any(|e| e.hash == all[0].hash && e.count == 2)
    );
}
