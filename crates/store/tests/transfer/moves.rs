//! Moves that succeed: every table row for row, idempotent, resumable after a stop or a lost
//! connection, and the schemas held to the list of what moves.

use haechi_events::Timestamp;
use haechi_store::transfer::{self, Claim, TransferError, TransferOptions};
use sqlx::AssertSqlSafe;

use crate::{
    Embedded, SOURCE_ID, assert_same_content, move_with, postgres, small_batches, sqlite_pool,
    sqlite_tables,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_table_of_both_schemas_is_moved_or_deliberately_left() {
    let Some((target, _database)) = postgres().await else {
        return;
    };
    let embedded = Embedded::empty().await;
    let source = embedded.source().await;
    let gaps = transfer::schema_gaps(&source, &target).await.unwrap();
    assert!(
        gaps.is_empty(),
        "tables or columns no move accounts for: {gaps:?}"
    );

    // A table or column added later without a line in the list is found on either side, and
    // a move refuses to start rather than leave it behind.
    let pool = sqlite_pool(&embedded.database()).await;
    sqlx::query("CREATE TABLE later_records (id TEXT PRIMARY KEY)")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("ALTER TABLE sessions ADD COLUMN device TEXT")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    sqlx::query("ALTER TABLE clients ADD COLUMN contact TEXT")
        .execute(target.pool())
        .await
        .unwrap();
    let gaps = transfer::schema_gaps(&source, &target).await.unwrap();
    let gaps: Vec<String> = gaps
        .into_iter()
        .map(|(database, what)| format!("{database}: {what}"))
        .collect();
    assert_eq!(
        gaps,
        [
            "embedded: table later_records",
            "embedded: column sessions.device",
            "PostgreSQL: column clients.contact",
        ],
    );
    source.close().await;
    let refused = move_with(&embedded, &target, small_batches())
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, TransferError::UnknownSchema { database: "embedded", what }
            if what == "table later_records"),
        "{refused}"
    );
    let moved: i64 = sqlx::query_scalar("SELECT count(*) FROM embedded_transfers")
        .fetch_one(target.pool())
        .await
        .unwrap();
    assert_eq!(moved, 0, "nothing was claimed or written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_table_moves_row_for_row_and_byte_for_byte() {
    let Some((target, _database)) = postgres().await else {
        return;
    };
    let embedded = Embedded::filled(60).await;
    let report = move_with(&embedded, &target, small_batches())
        .await
        .unwrap();
    assert_eq!(report.claim, Claim::Fresh);
    assert!(report.matches(), "{report:#?}");
    // Every table the embedded store has took part, with rows (a new table would be empty
    // here only if the filler skipped it).
    let pool = sqlite_pool(&embedded.database()).await;
    let tables = sqlite_tables(&pool).await;
    pool.close().await;
    for table in &tables {
        let moved = report
            .tables
            .iter()
            .find(|report| report.table == table)
            .unwrap_or_else(|| panic!("{table} was not moved"));
        assert!(moved.source.rows >= 60, "{table}: {moved:?}");
        assert_eq!(moved.copied.inserted, moved.source.rows, "{table}");
    }
    assert_same_content(&embedded, &target).await;

    // Block ids moved as they were, and the next block of the cluster gets a new one.
    let next: i64 = sqlx::query_scalar(
        "INSERT INTO network_blocks (network, created_at, expires_at, reason, created_by) \
         VALUES ('192.0.2.0/24', 0, 1, 'after the move', 'admin:ops') RETURNING id",
    )
    .fetch_one(target.pool())
    .await
    .unwrap();
    assert_eq!(next, 61);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_inserts_nothing_and_still_matches() {
    let Some((target, _database)) = postgres().await else {
        return;
    };
    let embedded = Embedded::filled(20).await;
    let first = move_with(&embedded, &target, small_batches())
        .await
        .unwrap();
    transfer::finish_transfer(&target, SOURCE_ID, Timestamp::from_micros(1))
        .await
        .unwrap();
    let second = move_with(&embedded, &target, TransferOptions::default())
        .await
        .unwrap();
    assert_eq!(second.claim, Claim::Resumed { finished: true });
    assert!(second.matches(), "{second:#?}");
    for (first, second) in first.tables.iter().zip(&second.tables) {
        assert_eq!(second.copied.inserted, 0, "{}", second.table);
        assert_eq!(second.copied.present, first.source.rows, "{}", second.table);
        assert_eq!(first.target, second.target, "{}", second.table);
    }
    assert_same_content(&embedded, &target).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_stopped_anywhere_resumes_to_exactly_the_uninterrupted_content() {
    let Some((reference, _reference_database)) = postgres().await else {
        return;
    };
    let embedded = Embedded::filled(40).await;
    let whole = move_with(&embedded, &reference, small_batches())
        .await
        .unwrap();
    // Batches of 16: stops inside the signing keys, inside the records (with their blind
    // index), and among the last tables.
    for stop in [1, 9, 17, 30] {
        let (target, _database) = postgres().await.unwrap();
        let options = TransferOptions {
            stop_after_batches: Some(stop),
            ..small_batches()
        };
        let stopped = move_with(&embedded, &target, options).await.unwrap_err();
        assert!(
            matches!(stopped, TransferError::Stopped { batches } if batches == stop),
            "{stopped}"
        );
        let resumed = move_with(&embedded, &target, small_batches())
            .await
            .unwrap();
        assert_eq!(resumed.claim, Claim::Resumed { finished: false });
        assert!(resumed.matches(), "stop {stop}: {resumed:#?}");
        let inserted: u64 = resumed
            .tables
            .iter()
            .map(|table| table.copied.inserted)
            .sum();
        let present: u64 = resumed
            .tables
            .iter()
            .map(|table| table.copied.present)
            .sum();
        assert!(
            present > 0 && inserted > 0,
            "stop {stop}: {present} {inserted}"
        );
        for (whole, resumed) in whole.tables.iter().zip(&resumed.tables) {
            assert_eq!(whole.target, resumed.target, "stop {stop}: {}", whole.table);
        }
        assert_same_content(&embedded, &target).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_whose_connections_are_killed_resumes() {
    let Some((target, database)) = postgres().await else {
        return;
    };
    let embedded = Embedded::filled(200).await;
    // Kill every connection of the move as soon as some rows are in, from outside.
    let killer = {
        let url = database.url.clone();
        tokio::spawn(async move {
            let killer = sqlx::PgPool::connect(&url).await.unwrap();
            loop {
                let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM customers")
                    .fetch_one(&killer)
                    .await
                    .unwrap_or(0);
                if rows > 0 {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
            let killed: Vec<bool> = sqlx::query_scalar(AssertSqlSafe(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    .to_string(),
            ))
            .fetch_all(&killer)
            .await
            .unwrap();
            killer.close().await;
            killed.len()
        })
    };
    let interrupted = move_with(&embedded, &target, small_batches()).await;
    let killed = killer.await.unwrap();
    assert!(killed > 0, "no connection was there to kill");
    // Killed mid-move it fails with the database's error; a move that happened to be past
    // its last statement has finished. Either way, the next run completes it exactly.
    if let Err(error) = &interrupted {
        assert!(matches!(error, TransferError::Target(_)), "{error}");
    }
    // The run after: a new process, so new connections.
    target.close().await;
    let target = haechi_store::PgStore::open(&database.url).await.unwrap();
    let resumed = move_with(&embedded, &target, small_batches())
        .await
        .unwrap();
    assert!(resumed.matches(), "{resumed:#?}");
    assert_same_content(&embedded, &target).await;
}
