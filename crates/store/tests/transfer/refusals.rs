//! What a move refuses before it writes anything: a file that is not an embedded Haechi
//! database, a database a cluster already uses, another deployment's move, a move already
//! running; and how the policy in force is kept.

use haechi_events::Timestamp;
use haechi_store::transfer::{self, EmbeddedSource, NoProgress, TransferError};
use haechi_store::{PolicyFiles, SqliteStore};

use crate::{Embedded, move_with, postgres, small_batches, sqlite_pool};

#[tokio::test]
async fn a_file_that_is_not_an_embedded_haechi_database_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let policy = PolicyFiles::new(dir.path().join("policy.toml"));
    let check = |path: std::path::PathBuf, want: &'static str| {
        let policy = policy.clone();
        async move {
            let refused = EmbeddedSource::open(&path, &policy).await.unwrap_err();
            assert!(
                matches!(&refused, TransferError::NotEmbedded { reason, .. } if reason.contains(want)),
                "{}: {refused}",
                path.display()
            );
        }
    };
    check(dir.path().join("missing.db"), "no such file").await;
    std::fs::write(dir.path().join("text.db"), b"hello, not a database\n").unwrap();
    check(dir.path().join("text.db"), "SQLite").await;
    // Another application's SQLite database: refused, and left without a Haechi table.
    let other = dir.path().join("other.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=rwc", other.display()))
        .await
        .unwrap();
    sqlx::query("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    check(other.clone(), "no Haechi tables").await;
    let pool = sqlite_pool(&other).await;
    assert_eq!(crate::sqlite_tables(&pool).await, ["invoices"]);
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_a_cluster_already_uses_is_refused() {
    let Some((target, _database)) = postgres().await else {
        return;
    };
    // A node started on the database first and made its keys.
    sqlx::query("INSERT INTO secrets (name, wrapped) VALUES ('blind-index-key', '\\x01')")
        .execute(target.pool())
        .await
        .unwrap();
    let embedded = Embedded::filled(3).await;
    let refused = move_with(&embedded, &target, small_batches())
        .await
        .unwrap_err();
    assert!(
        matches!(refused, TransferError::TargetInUse { table: "secrets" }),
        "{refused}"
    );
    let sessions: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions")
        .fetch_one(target.pool())
        .await
        .unwrap();
    assert_eq!(sessions, 0, "nothing was moved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_deployment_is_not_merged_into_the_first() {
    let Some((target, _database)) = postgres().await else {
        return;
    };
    let first = Embedded::filled(3).await;
    move_with(&first, &target, small_batches()).await.unwrap();
    let second = Embedded::filled(3).await;
    let source = second.source().await;
    let refused = transfer::transfer(
        &source,
        &target,
        "audit:another-deployment",
        small_batches(),
        &NoProgress,
        Timestamp::from_micros(2),
    )
    .await
    .unwrap_err();
    source.close().await;
    assert!(
        matches!(&refused, TransferError::OtherDeployment { other, .. } if other == crate::SOURCE_ID),
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_moves_into_one_database_do_not_run_at_once() {
    let Some((target, database)) = postgres().await else {
        return;
    };
    // The advisory lock a running move holds ("haechimv").
    use sqlx::Connection as _;
    let mut holder = sqlx::PgConnection::connect(&database.url).await.unwrap();
    sqlx::query("SELECT pg_advisory_lock(7521404330313346422)")
        .execute(&mut holder)
        .await
        .unwrap();
    let embedded = Embedded::filled(2).await;
    let refused = move_with(&embedded, &target, small_batches())
        .await
        .unwrap_err();
    assert!(matches!(refused, TransferError::Busy), "{refused}");
    holder.close().await.unwrap();
    move_with(&embedded, &target, small_batches())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_edited_by_hand_after_its_last_save_stays_the_one_in_force() {
    let Some((target, _database)) = postgres().await else {
        return;
    };
    let embedded = Embedded::filled(2).await;
    std::fs::write(
        embedded.dir.path().join("policy.toml"),
        "# edited by hand\n",
    )
    .unwrap();
    let report = move_with(&embedded, &target, small_batches())
        .await
        .unwrap();
    assert!(report.matches());
    let in_force = target.policy_in_force().await.unwrap().unwrap();
    assert_eq!(
        (in_force.version, in_force.text.as_str()),
        (3, "# edited by hand\n")
    );
    assert_eq!(target.policy_versions().await.unwrap(), [1, 2, 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_store_without_policy_files_moves_none() {
    let Some((target, _database)) = postgres().await else {
        return;
    };
    let embedded = Embedded::empty().await;
    SqliteStore::open(&embedded.database())
        .await
        .unwrap()
        .close()
        .await;
    let report = move_with(&embedded, &target, small_batches())
        .await
        .unwrap();
    assert!(report.matches());
    assert!(report.tables.iter().all(|table| table.source.rows == 0));
    assert_eq!(target.policy_in_force().await.unwrap(), None);
}
