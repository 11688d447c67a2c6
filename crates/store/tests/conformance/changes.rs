//! The change log (PostgreSQL only): each shared decision appends exactly its change in its
//! own transaction, a repeated decision appends nothing, and concurrent appenders produce
//! positions without holes that become visible in order.

use std::sync::Arc;

use haechi_events::{Change, ChangeFeed, Principal, Timestamp};
use haechi_respond::{ContainmentStore, NewBlock, SuspensionRecord};
use haechi_store::PgStore;
use haechi_token::{AuthorityStore, SessionRecord};
use haechi_vault::PolicyStore;

fn t(seconds: i64) -> Timestamp {
    Timestamp::from_secs(1_800_000_000 + seconds)
}

async fn store() -> Option<(Arc<PgStore>, haechi_testbed::TestDatabase)> {
    let database = haechi_testbed::postgres().await?;
    let store = PgStore::open(&database.url).await.unwrap();
    Some((Arc::new(store), database))
}

fn session(sid: &str) -> SessionRecord {
    SessionRecord {
        sid: sid.into(),
        principal: Principal::Customer("c-1".into()),
        created_at: t(1),
        expires_at: t(1000),
        revoked_at: None,
        revoke_reason: None,
    }
}

async fn changes(store: &PgStore) -> Vec<Change> {
    store
        .changes_after(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|entry| entry.change)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_shared_decision_appends_its_change_once() {
    let Some((store, _database)) = store().await else {
        return;
    };
    assert_eq!(store.change_head().await.unwrap(), 0);
    // Session creation is not a shared decision: other nodes read it through.
    store.insert_session(&session("s-1")).await.unwrap();
    assert!(changes(&store).await.is_empty());

    store.revoke_session("s-1", t(5), "logout").await.unwrap();
    store.revoke_session("s-1", t(6), "again").await.unwrap();
    store.revoke_issued(&[7; 32], t(5)).await.unwrap(); // no such token: nothing changed
    let admin = Principal::Admin("root".into());
    let block = store
        .insert_block(&NewBlock {
            network: "203.0.113.0/24".parse().unwrap(),
            created_at: t(10),
            expires_at: t(100),
            reason: "test".into(),
            rule_id: None,
            alert_id: None,
            created_by: admin.clone(),
        })
        .await
        .unwrap();
    store.lift_block(block.id, t(20), &admin).await.unwrap();
    store.lift_block(block.id, t(21), &admin).await.unwrap(); // already lifted
    let scraper = Principal::Service("scraper".into());
    store
        .insert_suspension(&SuspensionRecord {
            principal: scraper.clone(),
            suspended_at: t(30),
            reason: "test".into(),
            rule_id: None,
            alert_id: None,
            suspended_by: admin.clone(),
        })
        .await
        .unwrap();
    store
        .lift_suspension(&scraper, t(40), &admin)
        .await
        .unwrap();
    store.save("# policy\n").await.unwrap();

    assert_eq!(
        changes(&store).await,
        [
            Change::SessionRevoked { sid: "s-1".into() },
            Change::BlocksChanged,
            Change::BlocksChanged,
            Change::SuspensionsChanged,
            Change::SuspensionsChanged,
            Change::PolicyChanged,
        ]
    );
    assert_eq!(store.change_head().await.unwrap(), 6);
    let after = store.changes_after(4, 10).await.unwrap();
    assert_eq!(after.iter().map(|e| e.position).collect::<Vec<_>>(), [5, 6]);
    // Pruning keeps the newest entry whatever its age, so a starting node's head stays.
    assert_eq!(
        store
            .prune_changes(Timestamp::from_secs(4_000_000_000))
            .await
            .unwrap(),
        5
    );
    assert_eq!(store.change_head().await.unwrap(), 6);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_decisions_get_positions_without_holes_visible_in_order() {
    let Some((store, database)) = store().await else {
        return;
    };
    const WRITERS: usize = 8;
    const EACH: usize = 25;
    for writer in 0..WRITERS {
        for index in 0..EACH {
            store
                .insert_session(&session(&format!("s-{writer}-{index}")))
                .await
                .unwrap();
        }
    }
    // A reader polling meanwhile must never see position N+1 while N is still missing.
    let reader_store = PgStore::open(&database.url).await.unwrap();
    let reader = tokio::spawn(async move {
        let mut seen = 0i64;
        while seen < (WRITERS * EACH) as i64 {
            for entry in reader_store.changes_after(seen, 1000).await.unwrap() {
                assert_eq!(
                    entry.position,
                    seen + 1,
                    "a later position became visible first"
                );
                seen = entry.position;
            }
        }
        reader_store.close().await;
    });
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let store = store.clone();
            tokio::spawn(async move {
                for index in 0..EACH {
                    store
                        .revoke_session(&format!("s-{writer}-{index}"), t(5), "test")
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    reader.await.unwrap();
    assert_eq!(store.change_head().await.unwrap(), (WRITERS * EACH) as i64);
    store.close().await;
}
