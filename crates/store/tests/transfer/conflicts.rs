//! A target that holds other content under the same keys is refused, batch rolled back,
//! never merged.

use haechi_store::transfer::TransferError;

use crate::{Embedded, assert_same_content, move_with, postgres, small_batches};

/// Changes one row of the moved content with `sql`, then moves again: refused, naming
/// `table`; and the target is left exactly as it was before the second run.
async fn check_refused_after(sql: &str, table: &str) {
    let Some((target, _database)) = postgres().await else {
        return;
    };
    let embedded = Embedded::filled(30).await;
    move_with(&embedded, &target, small_batches())
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(target.pool())
        .await
        .unwrap();
    let before = counts(&target).await;
    let refused = move_with(&embedded, &target, small_batches())
        .await
        .unwrap_err();
    match &refused {
        TransferError::Conflict {
            table: found,
            count,
            ..
        } => {
            assert_eq!(*found, table, "{refused}");
            assert_eq!(*count, 1, "{refused}");
        }
        other => panic!("{sql}: expected a conflict, got {other}"),
    }
    let text = refused.to_string();
    assert!(
        text.contains("other content") && text.contains(table),
        "{text}"
    );
    assert_eq!(
        counts(&target).await,
        before,
        "{sql}: the refused run wrote"
    );
}

async fn counts(target: &haechi_store::PgStore) -> Vec<i64> {
    let mut counts = Vec::new();
    for table in haechi_store::transfer::moved_tables() {
        counts.push(
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                .fetch_one(target.pool())
                .await
                .unwrap(),
        );
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_changed_in_the_target_is_a_conflict() {
    check_refused_after(
        "UPDATE sessions SET revoked_at = 12345 WHERE sid = 'sessions-000007'",
        "sessions",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrapped_key_changed_in_the_target_is_a_conflict() {
    check_refused_after(
        "UPDATE signing_keys SET wrapped_private_key = '\\x00' WHERE kid = 'signing_keys-000003'",
        "signing_keys",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blind_index_entry_changed_in_the_target_is_a_conflict() {
    check_refused_after(
        "UPDATE blind_index SET value = value + 1 \
         WHERE ctid = (SELECT ctid FROM blind_index WHERE customer_id = 'c000011' LIMIT 1)",
        "blind_index",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_version_changed_in_the_target_is_a_conflict() {
    check_refused_after(
        "UPDATE policy_versions SET text = '# edited' WHERE version = 1",
        "policy_versions",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_changed_in_the_source_since_the_first_run_is_a_conflict() {
    let Some((target, _database)) = postgres().await else {
        return;
    };
    let embedded = Embedded::filled(10).await;
    move_with(&embedded, &target, small_batches())
        .await
        .unwrap();
    // The embedded server ran between the runs and revoked a session.
    let pool = crate::sqlite_pool(&embedded.database()).await;
    let original: Option<i64> =
        sqlx::query_scalar("SELECT revoked_at FROM sessions WHERE sid = 'sessions-000004'")
            .fetch_one(&pool)
            .await
            .unwrap();
    sqlx::query("UPDATE sessions SET revoked_at = 1 WHERE sid = 'sessions-000004'")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let refused = move_with(&embedded, &target, small_batches())
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, TransferError::Conflict { table: "sessions", key, .. }
            if key == "\"sessions-000004\""),
        "{refused}"
    );
    // Rows added in the source since (not changed) are simply moved by the next run.
    let pool = crate::sqlite_pool(&embedded.database()).await;
    sqlx::query("UPDATE sessions SET revoked_at = ? WHERE sid = 'sessions-000004'")
        .bind(original)
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO alert_acks VALUES ('late-alert', 'admin:ops', 7, NULL)")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let resumed = move_with(&embedded, &target, small_batches())
        .await
        .unwrap();
    assert!(resumed.matches(), "{resumed:#?}");
    assert_same_content(&embedded, &target).await;
}
