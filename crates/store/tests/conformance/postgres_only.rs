//! What only the PostgreSQL store has: migrations under the advisory lock, the schema version,
//! policy versions as rows, the session settings it relies on, and URLs whose passwords never
//! reach an error or `Debug` output.

use haechi_events::StoreError;
use haechi_store::{KEPT_VERSIONS, PgStore, PgStoreOptions, redact_url};
use haechi_vault::{PolicyStore, policy_digest};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_opening_a_fresh_database_together_all_succeed() {
    let Some(database) = haechi_testbed::postgres().await else {
        return;
    };
    let opens: Vec<_> = (0..4)
        .map(|_| {
            let url = database.url.clone();
            tokio::spawn(async move { PgStore::open(&url).await })
        })
        .collect();
    let mut stores = Vec::new();
    for open in opens {
        stores.push(open.await.unwrap().unwrap());
    }
    let latest = PgStore::latest_schema_version();
    for store in &stores {
        assert_eq!(store.schema_version().await.unwrap(), Some(latest));
    }
    let applied: i64 =
        sqlx::query_scalar("SELECT count(*) FROM haechi_schema_migrations WHERE success")
            .fetch_one(stores[0].pool())
            .await
            .unwrap();
    assert_eq!(applied, latest, "each version applied once");
    // Migrating again finds nothing to do.
    assert_eq!(PgStore::migrate_only(&database.url).await.unwrap(), latest);
    for store in stores {
        store.close().await;
    }
}

#[tokio::test]
async fn a_database_migrated_by_a_newer_release_is_refused() {
    let Some(database) = haechi_testbed::postgres().await else {
        return;
    };
    let store = PgStore::open(&database.url).await.unwrap();
    sqlx::query(
        "INSERT INTO haechi_schema_migrations (version, description, success, checksum, \
         execution_time) VALUES (999, 'from the future', true, '\\x00', 0)",
    )
    .execute(store.pool())
    .await
    .unwrap();
    store.close().await;
    let refused = PgStore::open(&database.url).await.unwrap_err();
    assert!(
        matches!(&refused, StoreError::Corrupt(message) if message.contains("999")),
        "{refused}"
    );
}

#[tokio::test]
async fn policy_versions_count_up_and_keep_the_newest_hundred() {
    let Some(database) = haechi_testbed::postgres().await else {
        return;
    };
    let store = PgStore::open(&database.url).await.unwrap();
    assert_eq!(store.policy_in_force().await.unwrap(), None);
    let adopted = store
        .adopt_initial_policy("# from the file\n")
        .await
        .unwrap();
    assert_eq!(adopted.version, 1);
    assert_eq!(adopted.digest, policy_digest("# from the file\n"));
    assert_eq!(store.save("# second\n").await.unwrap(), 2);
    // Adopting again (the next node's start) keeps what was saved.
    let in_force = store
        .adopt_initial_policy("# from the file\n")
        .await
        .unwrap();
    assert_eq!(
        (in_force.version, in_force.text.as_str()),
        (2, "# second\n")
    );
    assert_eq!(store.policy_in_force().await.unwrap(), Some(in_force));
    for n in 3..=(KEPT_VERSIONS as u64 + 5) {
        assert_eq!(store.save(&format!("# {n}\n")).await.unwrap(), n);
    }
    let kept = store.policy_versions().await.unwrap();
    assert_eq!(kept.len(), KEPT_VERSIONS);
    assert_eq!(kept.first(), Some(&6));
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_policy_saves_get_distinct_versions() {
    let Some(database) = haechi_testbed::postgres().await else {
        return;
    };
    let store = PgStore::open(&database.url).await.unwrap();
    let saves: Vec<_> = (0..8)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move { store.save(&format!("# node {n}\n")).await.unwrap() })
        })
        .collect();
    let mut versions = Vec::new();
    for save in saves {
        versions.push(save.await.unwrap());
    }
    versions.sort_unstable();
    assert_eq!(versions, (1..=8).collect::<Vec<u64>>());
    store.close().await;
}

#[tokio::test]
async fn every_connection_commits_synchronously_and_pings() {
    let Some(database) = haechi_testbed::postgres().await else {
        return;
    };
    let store = PgStore::open_with(
        &database.url,
        PgStoreOptions {
            max_connections: 2,
            ..PgStoreOptions::default()
        },
    )
    .await
    .unwrap();
    let setting: String = sqlx::query_scalar("SHOW synchronous_commit")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(setting, "on");
    store.ping().await.unwrap();
    store.close().await;
    assert!(matches!(store.ping().await, Err(StoreError::Backend(_))));
}

/// The test database's URL with a password in it (the test server trusts local connections,
/// so any password is accepted).
fn with_password(url: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (user, host) = rest.split_once('@').unwrap();
    format!("{scheme}://{user}:{password}@{host}")
}

#[tokio::test]
async fn a_password_in_the_url_never_reaches_errors_or_debug_output() {
    let Some(database) = haechi_testbed::postgres().await else {
        return;
    };
    let secret = "hunter2-do-not-print";
    let url = with_password(&database.url, secret);
    let store = PgStore::open(&url).await.unwrap();
    let debug = format!("{store:?} {:?}", store.pool());
    assert!(!debug.contains(secret), "{debug}");
    assert!(!redact_url(&url).contains(secret));
    store.close().await;

    // Nothing listens on port 1: the connection error must not repeat the URL's password.
    let unreachable = format!("postgres://haechi:{secret}@127.0.0.1:1/haechi");
    let refused = PgStore::open_with(
        &unreachable,
        PgStoreOptions {
            acquire_timeout: std::time::Duration::from_secs(1),
            ..PgStoreOptions::default()
        },
    )
    .await
    .unwrap_err();
    assert!(!refused.to_string().contains(secret), "{refused}");
    let malformed = format!("postgres://haechi:{secret}@127.0.0.1:notaport/haechi");
    let refused = PgStore::open(&malformed).await.unwrap_err();
    assert!(!refused.to_string().contains(secret), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_the_server_dropped_are_replaced_without_failing_a_request() {
    let Some(database) = haechi_testbed::postgres().await else {
        return;
    };
    let store = PgStore::open(&database.url).await.unwrap();
    // Several connections in the pool, all idle.
    let busy: Vec<_> = (0..4)
        .map(|_| {
            let pool = store.pool().clone();
            tokio::spawn(async move {
                sqlx::query("SELECT pg_sleep(0.05)")
                    .execute(&pool)
                    .await
                    .unwrap();
            })
        })
        .collect();
    for task in busy {
        task.await.unwrap();
    }
    // What a database restart does to them: the server ends every session.
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&database.url)
        .await
        .unwrap();
    let ended: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = 'haechi') AS ended",
    )
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert!(ended >= 1);
    // Past the idle time after which a connection is checked before use, every request is
    // answered: each dead connection is found and replaced inside `acquire`.
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    for _ in 0..8 {
        store.ping().await.unwrap();
    }
    store.close().await;
}

/// SQLite's `INSERT OR REPLACE` gives a replaced record a new row id, so a snapshot's handle
/// stops naming it; here the handle is an identity column an in-place update keeps.
#[tokio::test]
async fn a_replaced_record_keeps_its_handle() {
    use haechi_vault::VaultStore as _;
    let Some(database) = haechi_testbed::postgres().await else {
        return;
    };
    let store = PgStore::open(&database.url).await.unwrap();
    let original = crate::vault::record("c-a", 1);
    store
        .insert_record(&original, &[crate::vault::email(1)])
        .await
        .unwrap();
    let snapshot = store.blind_index_snapshot().await.unwrap().unwrap();
    let handles: Vec<_> = snapshot.candidates(crate::vault::email(1)).collect();
    let changed = crate::vault::record("c-a", 2);
    store
        .replace_record(&changed, &[crate::vault::email(2)])
        .await
        .unwrap();
    let fetched = store.records_by_ref(&handles).await.unwrap();
    assert_eq!(fetched, vec![(handles[0], changed)]);
    assert_eq!(
        store.record_span().await.unwrap(),
        Some((handles[0], handles[0]))
    );
    store.close().await;
}
