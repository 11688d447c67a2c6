//! One suite, two stores: every test body here runs against `SqliteStore` (in a temporary
//! directory) and against `PgStore` (a fresh database on the PostgreSQL server that
//! `HAECHI_TEST_POSTGRES` names; see `haechi-testbed`). A body is a generic `async fn` over
//! [`Store`]; [`conformance!`] turns a list of them into a `sqlite::NAME` and a
//! `postgres::NAME` test each, so a difference between the backends is a failing test with the
//! backend in its name.
//!
//! Modules: one per trait (`authority`, `vault`, `bulk` for the vault's leak-matching reads,
//! `containment`, `exposure`), the limits a cluster shares (`budgets`; `lookup_limits` and
//! `sign_in_limits`, each checked against the embedded one in memory), `postgres_only` for
//! what only the PostgreSQL store has (migrations under the advisory lock, policy versions,
//! secrets in URLs), and `measure` for timings printed by an ignored test.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::sync::Arc;

use haechi_store::{PgStore, SqliteStore};

mod authority;
mod budgets;
mod bulk;
mod changes;
mod check_tags;
mod containment;
mod exposure;
mod incidents;
mod leadership;
mod lookup_limits;
mod measure;
mod notices;
mod postgres_only;
mod record_cache;
mod rule_sets;
mod sign_in_limits;
mod statements;
mod vault;
mod watch_ledger;

/// Everything a backend implements; the test bodies are generic over it (and spawn tasks
/// holding it, hence `'static`).
pub trait Store: haechi_store::Store + 'static {}

impl<S: haechi_store::Store + 'static> Store for S {}

/// A fresh SQLite store and the directory it lives in (dropped after the store).
pub async fn sqlite() -> (Arc<SqliteStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("haechi.db"))
        .await
        .unwrap();
    (Arc::new(store), dir)
}

/// A fresh PostgreSQL store on a database of its own (dropped after the store), or `None`
/// when no server is configured (the testbed says so; CI requires one).
pub async fn postgres() -> Option<(Arc<PgStore>, haechi_testbed::TestDatabase)> {
    let database = haechi_testbed::postgres().await?;
    let store = PgStore::open(&database.url).await.unwrap();
    Some((Arc::new(store), database))
}

/// Instantiates each listed generic test body (`async fn NAME<S: Store>(store: Arc<S>)`) for
/// both backends, as `sqlite::NAME` and `postgres::NAME` in the calling module.
#[macro_export]
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (store, _dir) = $crate::sqlite().await;
                    super::$name(store.clone()).await;
                    store.close().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some((store, _database)) = $crate::postgres().await else {
                        return;
                    };
                    super::$name(store.clone()).await;
                    store.close().await;
                }
            )*
        }
    };
}
