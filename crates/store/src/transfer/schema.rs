//! Both schemas checked against the list of what moves ([`super::tables`]) before anything
//! is copied: a table or column this build does not know, on either side, stops the run
//! instead of being silently left behind.

use std::collections::BTreeSet;

use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;

use super::TransferError;
use super::copy::{source_error, target_error};
use super::tables::{Origin, POSTGRES_ONLY, SQLITE_ONLY, TABLES};

/// Every way the two schemas differ from the list, as sentences (empty: they agree).
pub(crate) async fn schema_gaps(
    source: &SqlitePool,
    target: &PgPool,
) -> Result<Vec<(&'static str, String)>, TransferError> {
    let mut gaps = Vec::new();
    let sqlite_tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .fetch_all(source)
            .await
            .map_err(source_error)?;
    for name in &sqlite_tables {
        let known = TABLES
            .iter()
            .any(|table| table.origin == Origin::Sqlite && table.name == name)
            || SQLITE_ONLY.iter().any(|(only, _)| only == name);
        if !known {
            gaps.push(("embedded", format!("table {name}")));
        }
    }
    let postgres_tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1",
    )
    .fetch_all(target)
    .await
    .map_err(target_error)?;
    for name in &postgres_tables {
        let known = TABLES.iter().any(|table| table.name == name)
            || POSTGRES_ONLY.iter().any(|(only, _)| only == name);
        if !known {
            gaps.push(("PostgreSQL", format!("table {name}")));
        }
    }
    for table in TABLES {
        let wanted: BTreeSet<&str> = table.columns.iter().map(|column| column.name).collect();
        if table.origin == Origin::Sqlite {
            if !sqlite_tables.iter().any(|name| name == table.name) {
                gaps.push(("embedded", format!("no table {}", table.name)));
            } else {
                let found: Vec<String> =
                    sqlx::query_scalar("SELECT name FROM pragma_table_info(?) ORDER BY name")
                        .bind(table.name)
                        .fetch_all(source)
                        .await
                        .map_err(source_error)?;
                column_gaps("embedded", table.name, &wanted, &[], &found, &mut gaps);
            }
        }
        if !postgres_tables.iter().any(|name| name == table.name) {
            gaps.push(("PostgreSQL", format!("no table {}", table.name)));
        } else {
            let found: Vec<String> = sqlx::query_scalar(
                "SELECT column_name::text FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = $1 ORDER BY 1",
            )
            .bind(table.name)
            .fetch_all(target)
            .await
            .map_err(target_error)?;
            column_gaps(
                "PostgreSQL",
                table.name,
                &wanted,
                table.target_only,
                &found,
                &mut gaps,
            );
        }
    }
    Ok(gaps)
}

/// Refuses to start when [`schema_gaps`] finds any.
pub(crate) async fn check_schemas(
    source: &SqlitePool,
    target: &PgPool,
) -> Result<(), TransferError> {
    match schema_gaps(source, target).await?.into_iter().next() {
        None => Ok(()),
        Some((database, what)) => Err(TransferError::UnknownSchema { database, what }),
    }
}

fn column_gaps(
    database: &'static str,
    table: &str,
    wanted: &BTreeSet<&str>,
    ignored: &[&str],
    found: &[String],
    gaps: &mut Vec<(&'static str, String)>,
) {
    for name in found {
        if !wanted.contains(name.as_str()) && !ignored.contains(&name.as_str()) {
            gaps.push((database, format!("column {table}.{name}")));
        }
    }
    for name in wanted {
        if !found.iter().any(|found| found == name) {
            gaps.push((database, format!("no column {table}.{name}")));
        }
    }
}
