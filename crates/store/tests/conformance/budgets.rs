//! Shared distinct-customer budgets (PostgreSQL only): exact under concurrent charges from
//! several nodes, all or nothing, repeat reads free, the window slides.

use std::sync::Arc;
use std::time::Duration;

use haechi_events::Timestamp;
use haechi_store::PgStore;
use haechi_vault::{ReadClass, SharedBudgets};

fn t(seconds: i64) -> Timestamp {
    Timestamp::from_secs(1_800_000_000 + seconds)
}

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_is_exact_across_nodes_charging_at_once() {
    let Some(database) = haechi_testbed::postgres().await else {
        return;
    };
    // Three nodes, each charging distinct customers as fast as it can.
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(Arc::new(PgStore::open(&database.url).await.unwrap()));
    }
    let tasks: Vec<_> = nodes
        .iter()
        .enumerate()
        .flat_map(|(node, store)| {
            (0..4).map(move |worker| {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut granted = 0;
                    for index in 0..20 {
                        let customer = format!("c-{node}-{worker}-{index}");
                        let charged = store
                            .charge(
                                "service:scraper",
                                ReadClass::Masked,
                                &[&customer],
                                100,
                                HOUR,
                                t(0),
                            )
                            .await
                            .unwrap();
                        granted += usize::from(charged);
                    }
                    granted
                })
            })
        })
        .collect();
    let mut granted = 0;
    for task in tasks {
        granted += task.await.unwrap();
    }
    assert_eq!(
        granted, 100,
        "240 distinct customers asked, a budget of 100"
    );
    // The other class is a budget of its own.
    assert!(
        nodes[0]
            .charge(
                "service:scraper",
                ReadClass::Plaintext,
                &["c-x"],
                1,
                HOUR,
                t(1)
            )
            .await
            .unwrap()
    );
    for node in nodes {
        node.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn charges_are_all_or_nothing_repeat_reads_are_free_and_the_window_slides() {
    let Some(database) = haechi_testbed::postgres().await else {
        return;
    };
    let store = PgStore::open(&database.url).await.unwrap();
    let charge = |customers: Vec<&'static str>, at: i64| {
        let store = &store;
        async move {
            store
                .charge(
                    "service:shop",
                    ReadClass::Plaintext,
                    &customers,
                    3,
                    HOUR,
                    t(at),
                )
                .await
                .unwrap()
        }
    };
    assert!(charge(vec!["a", "b"], 0).await);
    assert!(charge(vec!["a", "a", "b"], 10).await, "already read: free");
    assert!(
        !charge(vec!["c", "d"], 20).await,
        "two new over a budget of one left"
    );
    assert!(
        charge(vec!["c"], 30).await,
        "the refused charge charged nothing"
    );
    assert!(!charge(vec!["d"], 40).await);
    // An hour after "a" and "b" were first read, they leave the window.
    assert!(charge(vec!["d", "e"], 3601).await);
    assert!(
        charge(vec!["a"], 3631).await,
        "c leaves at 3630; a is new again"
    );
    assert!(!charge(vec!["b"], 3632).await);
    store.close().await;
}

/// The first key of the budgets' advisory locks ("Hbud", migration 11).
const BUDGET_LOCKS: i32 = 0x4862_7564;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeat_read_is_answered_without_the_budget_lock_and_a_new_customer_waits_for_it() {
    let Some(database) = haechi_testbed::postgres().await else {
        return;
    };
    let node = Arc::new(PgStore::open(&database.url).await.unwrap());
    let other_node = PgStore::open(&database.url).await.unwrap();
    let charge = |customers: &'static [&'static str], at: i64| {
        let node = node.clone();
        async move {
            node.charge("service:shop", ReadClass::Masked, customers, 3, HOUR, t(at))
                .await
                .unwrap()
        }
    };
    assert!(charge(&["a", "b"], 0).await);
    // Another node is charging this budget: it holds the lock.
    let mut holder = other_node.pool().begin().await.unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext('service:shop' || '/' || 'masked'))")
        .bind(BUDGET_LOCKS)
        .execute(&mut *holder)
        .await
        .unwrap();
    // Customers all read within the window: answered at once (a wait for the lock would
    // hang here until the guard below gives up).
    let repeat = tokio::time::timeout(Duration::from_secs(60), charge(&["b", "a", "a"], 10));
    assert!(repeat.await.expect("a repeat read waited for the lock"));
    // A new customer is charged under the lock: it waits for the holder.
    let fresh = tokio::spawn(charge(&["a", "c"], 20));
    let mut waiting = false;
    for _ in 0..600 {
        waiting = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' \
             AND classid = $1::oid AND NOT granted)",
        )
        .bind(i64::from(BUDGET_LOCKS))
        .fetch_one(other_node.pool())
        .await
        .unwrap();
        if waiting {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        waiting,
        "the new customer's charge never asked for the lock"
    );
    assert!(!fresh.is_finished());
    holder.commit().await.unwrap();
    assert!(fresh.await.unwrap(), "charged once the lock was free");
    // The budget of three is now full: a fourth customer is refused, repeats still free.
    assert!(!charge(&["d"], 30).await);
    assert!(charge(&["c", "b"], 40).await);
    other_node.close().await;
    node.close().await;
}
