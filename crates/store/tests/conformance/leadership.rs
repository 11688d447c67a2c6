//! Leadership of a duty (PostgreSQL only): one node at a time, and a standby takes over the
//! moment the leader resigns or its connection dies.

use haechi_store::PgStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_node_leads_a_duty_and_a_standby_takes_over_when_it_goes() {
    let Some(database) = haechi_testbed::postgres().await else {
        return;
    };
    let first = PgStore::open(&database.url).await.unwrap();
    let second = PgStore::open(&database.url).await.unwrap();

    let mut lead = first.try_lead("key-maintenance").await.unwrap().unwrap();
    assert!(lead.still_held().await);
    assert!(second.try_lead("key-maintenance").await.unwrap().is_none());
    // Another duty is led independently.
    let other = second.try_lead("detection").await.unwrap().unwrap();
    assert_eq!(other.duty(), "detection");

    lead.resign().await;
    let standby = second.try_lead("key-maintenance").await.unwrap();
    assert!(standby.is_some());
    assert!(first.try_lead("key-maintenance").await.unwrap().is_none());

    // A leader whose process dies (its connection closes without resigning) frees the duty.
    drop(standby);
    let mut taken = None;
    for _ in 0..50 {
        taken = first.try_lead("key-maintenance").await.unwrap();
        if taken.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        taken.is_some(),
        "the lock of a dropped connection was not released"
    );
    other.resign().await;
    first.close().await;
    second.close().await;
}
