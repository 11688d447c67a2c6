//! `ContainmentStore`: network blocks with their ids, lifting, suspensions, acknowledgements.

use std::sync::Arc;

use haechi_events::{Principal, Timestamp};
use haechi_respond::{AlertAck, NewBlock, SuspensionRecord};

use crate::Store;

crate::conformance!(
    blocks_get_ids_expire_and_lift_once,
    racing_lifts_of_one_block_report_it_once,
    suspensions_lift_and_come_back,
    acknowledgements_replace_and_filter_by_time,
);

fn t(seconds: i64) -> Timestamp {
    Timestamp::from_secs(seconds)
}

fn admin() -> Principal {
    Principal::Admin("root".into())
}

fn block(network: &str, expires: i64, rule: Option<&str>) -> NewBlock {
    NewBlock {
        network: network.parse().unwrap(),
        created_at: t(10),
        expires_at: t(expires),
        reason: "test".into(),
        rule_id: rule.map(str::to_string),
        alert_id: rule.map(|rule| format!("{rule}/7")),
        created_by: admin(),
    }
}

async fn blocks_get_ids_expire_and_lift_once<S: Store>(store: Arc<S>) {
    let first = store
        .insert_block(&block("203.0.113.0/24", 100, Some("haechi.token.forged")))
        .await
        .unwrap();
    let second = store
        .insert_block(&block("2001:db8::/64", 100, None))
        .await
        .unwrap();
    let short = store
        .insert_block(&block("198.51.100.7/32", 30, None))
        .await
        .unwrap();
    assert!(first.id < second.id && second.id < short.id);
    assert_eq!(first.network.to_string(), "203.0.113.0/24");
    assert_eq!(second.network.to_string(), "2001:db8::/64");
    assert_eq!(first.rule_id.as_deref(), Some("haechi.token.forged"));
    assert_eq!(first.alert_id.as_deref(), Some("haechi.token.forged/7"));
    assert_eq!((first.lifted_at, first.lifted_by.clone()), (None, None));
    assert_eq!(
        store.active_blocks(t(20)).await.unwrap(),
        vec![first.clone(), second.clone(), short.clone()]
    );
    assert_eq!(
        store.active_blocks(t(30)).await.unwrap(),
        vec![first.clone(), second.clone()]
    );
    assert!(store.active_blocks(t(100)).await.unwrap().is_empty());

    let lifted = store.lift_block(first.id, t(20), &admin()).await.unwrap();
    assert_eq!(lifted, Some(first.clone()), "the block as it was before");
    assert_eq!(
        store.lift_block(first.id, t(21), &admin()).await.unwrap(),
        None
    );
    assert_eq!(
        store.lift_block(9_999, t(21), &admin()).await.unwrap(),
        None
    );
    assert_eq!(
        store.lift_block(u64::MAX, t(21), &admin()).await.unwrap(),
        None
    );
    assert_eq!(
        store.active_blocks(t(25)).await.unwrap(),
        vec![second, short.clone()]
    );
    // Ids are never reused.
    let next = store
        .insert_block(&block("192.0.2.0/24", 100, None))
        .await
        .unwrap();
    assert!(next.id > short.id);
}

async fn racing_lifts_of_one_block_report_it_once<S: Store>(store: Arc<S>) {
    for round in 0..5 {
        let target = store
            .insert_block(&block("203.0.113.0/24", 100, None))
            .await
            .unwrap();
        let tasks: Vec<_> = (0..6)
            .map(|contender| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .lift_block(target.id, t(20 + contender), &admin())
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut reported = 0;
        for task in tasks {
            reported += usize::from(task.await.unwrap().is_some());
        }
        assert_eq!(reported, 1, "round {round}");
    }
}

fn suspension(principal: &Principal, at: i64, reason: &str) -> SuspensionRecord {
    SuspensionRecord {
        principal: principal.clone(),
        suspended_at: t(at),
        reason: reason.into(),
        rule_id: Some("haechi.pii.volume".into()),
        alert_id: None,
        suspended_by: Principal::Admin("haechi-detect".into()),
    }
}

async fn suspensions_lift_and_come_back<S: Store>(store: Arc<S>) {
    let shipping = Principal::Service("shipping".into());
    let alice = Principal::Customer("c-alice".into());
    store
        .insert_suspension(&suspension(&shipping, 11, "volume"))
        .await
        .unwrap();
    store
        .insert_suspension(&suspension(&alice, 5, "reuse"))
        .await
        .unwrap();
    assert_eq!(
        store.active_suspensions().await.unwrap(),
        vec![
            suspension(&alice, 5, "reuse"),
            suspension(&shipping, 11, "volume")
        ]
    );
    assert!(
        store
            .lift_suspension(&shipping, t(30), &admin())
            .await
            .unwrap()
    );
    assert!(
        !store
            .lift_suspension(&shipping, t(31), &admin())
            .await
            .unwrap()
    );
    assert!(
        !store
            .lift_suspension(&Principal::Service("none".into()), t(31), &admin())
            .await
            .unwrap()
    );
    assert_eq!(
        store.active_suspensions().await.unwrap(),
        vec![suspension(&alice, 5, "reuse")]
    );
    // Suspended again: the new record replaces the lifted one.
    store
        .insert_suspension(&suspension(&shipping, 40, "again"))
        .await
        .unwrap();
    assert_eq!(
        store.active_suspensions().await.unwrap(),
        vec![
            suspension(&alice, 5, "reuse"),
            suspension(&shipping, 40, "again")
        ]
    );
}

fn ack(alert: &str, at: i64, note: Option<&str>) -> AlertAck {
    AlertAck {
        alert_id: alert.into(),
        acknowledged_by: admin(),
        acknowledged_at: t(at),
        note: note.map(str::to_string),
    }
}

async fn acknowledgements_replace_and_filter_by_time<S: Store>(store: Arc<S>) {
    store
        .acknowledge_alert(&ack("haechi.token.forged/7", 12, Some("INC-1")))
        .await
        .unwrap();
    store
        .acknowledge_alert(&ack("haechi.pii.volume/3", 5, None))
        .await
        .unwrap();
    assert_eq!(
        store.alert_acks(Timestamp::EPOCH).await.unwrap(),
        vec![
            ack("haechi.pii.volume/3", 5, None),
            ack("haechi.token.forged/7", 12, Some("INC-1")),
        ]
    );
    store
        .acknowledge_alert(&ack("haechi.pii.volume/3", 20, Some("false positive")))
        .await
        .unwrap();
    assert_eq!(
        store.alert_acks(t(12)).await.unwrap(),
        vec![
            ack("haechi.token.forged/7", 12, Some("INC-1")),
            ack("haechi.pii.volume/3", 20, Some("false positive")),
        ]
    );
    assert!(store.alert_acks(t(21)).await.unwrap().is_empty());
}
