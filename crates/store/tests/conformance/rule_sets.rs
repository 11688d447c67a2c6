//! `RuleStore`: the API rule set's versions, numbered from 1, the newest read back whole, the
//! oldest beyond the kept ones forgotten; saves from two writers never share a number.

use std::sync::Arc;

use haechi_respond::rules::RuleFile;
use haechi_store::KEPT_VERSIONS;

use crate::Store;

crate::conformance!(
    rule_sets_are_versioned_and_read_back_whole,
    concurrent_saves_take_distinct_versions,
);

fn files(text: &str) -> Vec<RuleFile> {
    vec![
        RuleFile {
            name: "hunt.yaml".into(),
            text: text.into(),
        },
        RuleFile {
            name: "더.yml".into(),
            text: "title: 한국어 제목\n".into(),
        },
    ]
}

async fn rule_sets_are_versioned_and_read_back_whole<S: Store>(store: Arc<S>) {
    assert_eq!(store.stored_rules().await.unwrap(), None);
    assert_eq!(store.stored_rules_version().await.unwrap(), 0);
    assert_eq!(store.store_rules(&files("a"), "digest-a").await.unwrap(), 1);
    assert_eq!(store.store_rules(&[], "digest-empty").await.unwrap(), 2);
    let newest = store.stored_rules().await.unwrap().unwrap();
    assert_eq!(newest.version, 2);
    assert!(newest.files.is_empty(), "an empty set is a set");
    assert_eq!(store.store_rules(&files("b"), "digest-b").await.unwrap(), 3);
    let newest = store.stored_rules().await.unwrap().unwrap();
    assert_eq!((newest.version, newest.digest.as_str()), (3, "digest-b"));
    assert_eq!(newest.files, files("b"));
    assert_eq!(store.stored_rules_version().await.unwrap(), 3);
    for _ in 0..KEPT_VERSIONS {
        store.store_rules(&files("c"), "digest-c").await.unwrap();
    }
    // Numbers keep counting after old versions are forgotten.
    let version = store.store_rules(&files("d"), "digest-d").await.unwrap();
    assert_eq!(version, 4 + u64::try_from(KEPT_VERSIONS).unwrap());
}

async fn concurrent_saves_take_distinct_versions<S: Store>(store: Arc<S>) {
    let saves = (0..8).map(|index| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .store_rules(&files(&index.to_string()), "digest")
                .await
                .unwrap()
        })
    });
    let mut versions = Vec::new();
    for save in saves {
        versions.push(save.await.unwrap());
    }
    versions.sort_unstable();
    assert_eq!(versions, (1..=8).collect::<Vec<u64>>());
}
