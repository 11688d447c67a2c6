//! The proof of a move: every table's rows counted and digested on both sides, in the same
//! order (the key, text compared bytewise), so equal digests mean equal content.

use futures::TryStreamExt as _;
use sqlx::AssertSqlSafe;
use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;

use super::copy::{source_error, target_error};
use super::rows::{
    ContentDigest, Row, from_postgres, from_sqlite, postgres_order, postgres_select_list,
    sqlite_order, sqlite_select_list,
};
use super::tables::{Origin, Table};
use super::{Phase, TransferError, TransferProgress};

/// A table's content on one side: how many rows, and a SHA-256 over them in key order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableContent {
    /// Rows.
    pub rows: u64,
    /// The digest (type- and length-prefixed values, rows in key order).
    pub digest: [u8; 32],
}

/// The embedded store's content of `table` (`files`: the rows of a table kept in files).
pub(crate) async fn source_content(
    source: &SqlitePool,
    table: &'static Table,
    files: &[Row],
    progress: &dyn TransferProgress,
) -> Result<TableContent, TransferError> {
    let mut digest = ContentDigest::default();
    match table.origin {
        Origin::PolicyFiles => {
            for row in files {
                digest.add(row);
            }
        }
        Origin::Sqlite => {
            let sql = format!(
                "SELECT {} FROM {} ORDER BY {}",
                sqlite_select_list(table.columns),
                table.name,
                sqlite_order(table.order_columns())
            );
            let mut rows = sqlx::query(AssertSqlSafe(sql)).fetch(source);
            let mut pending = 0;
            while let Some(row) = rows.try_next().await.map_err(source_error)? {
                digest.add(&from_sqlite(table, &row)?);
                pending += 1;
                if pending == 10_000 {
                    progress.advanced(Phase::Verify, table.name, pending);
                    pending = 0;
                }
            }
            progress.advanced(Phase::Verify, table.name, pending);
        }
    }
    let (rows, digest) = digest.finish();
    Ok(TableContent { rows, digest })
}

/// The PostgreSQL database's content of `table`, in the same order and encoding.
pub(crate) async fn target_content(
    target: &PgPool,
    table: &'static Table,
) -> Result<TableContent, TransferError> {
    let sql = format!(
        "SELECT {} FROM {} ORDER BY {}",
        postgres_select_list(table.columns, ""),
        table.name,
        postgres_order(table.order_columns())
    );
    let mut rows = sqlx::query(AssertSqlSafe(sql)).fetch(target);
    let mut digest = ContentDigest::default();
    while let Some(row) = rows.try_next().await.map_err(target_error)? {
        digest.add(&from_postgres(table, &row)?);
    }
    let (rows, digest) = digest.finish();
    Ok(TableContent { rows, digest })
}

/// Rows of `table` in the embedded store, for progress.
pub(crate) async fn source_rows(
    source: &SqlitePool,
    table: &'static Table,
    files: &[Row],
) -> Result<u64, TransferError> {
    match table.origin {
        Origin::PolicyFiles => Ok(files.len() as u64),
        Origin::Sqlite => {
            let count: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
                "SELECT count(*) FROM {}",
                table.name
            )))
            .fetch_one(source)
            .await
            .map_err(source_error)?;
            Ok(u64::try_from(count).unwrap_or(0))
        }
    }
}
