//! Rows as values both databases agree on: read from SQLite or PostgreSQL by the table's
//! column list, bound to PostgreSQL as one array per column, and folded into a digest whose
//! bytes do not depend on the database they came from.

use sha2::{Digest as _, Sha256};
use sqlx::Row as _;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::sqlite::SqliteRow;

use super::tables::{Column, ColumnKind, Table};
use crate::transfer::TransferError;

/// One column's value in one row.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Value {
    /// SQL `NULL`.
    Null,
    /// An integer.
    Integer(i64),
    /// Text.
    Text(String),
    /// Bytes.
    Bytes(Vec<u8>),
}

/// One row: its values in the table's column order.
pub(crate) type Row = Vec<Value>;

/// The row of `table` in a SQLite result with its columns in order.
pub(crate) fn from_sqlite(table: &Table, row: &SqliteRow) -> Result<Row, TransferError> {
    table
        .columns
        .iter()
        .enumerate()
        .map(|(index, column)| {
            let value = match column.kind {
                ColumnKind::Integer => row
                    .try_get::<Option<i64>, _>(index)
                    .map(|value| value.map_or(Value::Null, Value::Integer)),
                ColumnKind::Text => row
                    .try_get::<Option<String>, _>(index)
                    .map(|value| value.map_or(Value::Null, Value::Text)),
                ColumnKind::Bytes => row
                    .try_get::<Option<Vec<u8>>, _>(index)
                    .map(|value| value.map_or(Value::Null, Value::Bytes)),
            };
            value.map_err(|error| unreadable(table, column, &error))
        })
        .collect()
}

/// The row of `table` in a PostgreSQL result with its columns in order (integers as `int8`).
pub(crate) fn from_postgres(table: &Table, row: &PgRow) -> Result<Row, TransferError> {
    from_postgres_columns(table, table.columns, row)
}

/// The values of `columns` (of `table`) in a PostgreSQL result holding exactly them.
pub(crate) fn from_postgres_columns(
    table: &Table,
    columns: &[Column],
    row: &PgRow,
) -> Result<Row, TransferError> {
    columns
        .iter()
        .enumerate()
        .map(|(index, column)| {
            let value = match column.kind {
                ColumnKind::Integer => row
                    .try_get::<Option<i64>, _>(index)
                    .map(|value| value.map_or(Value::Null, Value::Integer)),
                ColumnKind::Text => row
                    .try_get::<Option<String>, _>(index)
                    .map(|value| value.map_or(Value::Null, Value::Text)),
                ColumnKind::Bytes => row
                    .try_get::<Option<Vec<u8>>, _>(index)
                    .map(|value| value.map_or(Value::Null, Value::Bytes)),
            };
            value.map_err(|error| unreadable(table, column, &error))
        })
        .collect()
}

fn unreadable(table: &Table, column: &Column, error: &sqlx::Error) -> TransferError {
    TransferError::Unreadable {
        table: table.name,
        reason: format!("column {}: {error}", column.name),
    }
}

/// `a, b, c`: the column list of a SELECT on SQLite.
pub(crate) fn sqlite_select_list(columns: &[Column]) -> String {
    columns
        .iter()
        .map(|column| column.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The column list of a SELECT on PostgreSQL: integers widened to `int8` (an `INTEGER`
/// column reads as the same `i64` as SQLite's).
pub(crate) fn postgres_select_list(columns: &[Column], alias: &str) -> String {
    columns
        .iter()
        .map(|column| match column.kind {
            ColumnKind::Integer => format!("{alias}{}::int8", column.name),
            _ => format!("{alias}{}", column.name),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `ORDER BY` for SQLite: its `TEXT` compares bytewise by default.
pub(crate) fn sqlite_order(columns: &[Column]) -> String {
    sqlite_select_list(columns)
}

/// `ORDER BY` for PostgreSQL, bytewise for text (`COLLATE "C"`) like SQLite's, so both
/// databases list rows in the same order.
pub(crate) fn postgres_order(columns: &[Column]) -> String {
    columns
        .iter()
        .map(|column| match column.kind {
            ColumnKind::Text => format!("{} COLLATE \"C\"", column.name),
            _ => column.name.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `$1::int8[], $2::text[], …` starting at `$first`, one array per column.
pub(crate) fn unnest_arguments(columns: &[Column], first: usize) -> String {
    columns
        .iter()
        .enumerate()
        .map(|(index, column)| format!("${}::{}", first + index, array_type(column.kind)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn array_type(kind: ColumnKind) -> &'static str {
    match kind {
        ColumnKind::Integer => "int8[]",
        ColumnKind::Text => "text[]",
        ColumnKind::Bytes => "bytea[]",
    }
}

/// Binds the values of `rows` at `positions` (indices into each row) as one array per
/// column, in the order of `columns` (the columns at those positions).
pub(crate) fn bind_columns<'q>(
    mut query: Query<'q, sqlx::Postgres, PgArguments>,
    columns: &[Column],
    positions: &[usize],
    rows: &[&Row],
) -> Query<'q, sqlx::Postgres, PgArguments> {
    for (column, &position) in columns.iter().zip(positions) {
        query = match column.kind {
            ColumnKind::Integer => query.bind(
                rows.iter()
                    .map(|row| match &row[position] {
                        Value::Integer(value) => Some(*value),
                        _ => None,
                    })
                    .collect::<Vec<Option<i64>>>(),
            ),
            ColumnKind::Text => query.bind(
                rows.iter()
                    .map(|row| match &row[position] {
                        Value::Text(value) => Some(value.clone()),
                        _ => None,
                    })
                    .collect::<Vec<Option<String>>>(),
            ),
            ColumnKind::Bytes => query.bind(
                rows.iter()
                    .map(|row| match &row[position] {
                        Value::Bytes(value) => Some(value.clone()),
                        _ => None,
                    })
                    .collect::<Vec<Option<Vec<u8>>>>(),
            ),
        };
    }
    query
}

/// A table's content as a count and a SHA-256 over its rows in order, each value encoded
/// with its type and length, so two databases holding the same rows give the same digest.
#[derive(Debug, Clone, Default)]
pub(crate) struct ContentDigest {
    rows: u64,
    hasher: Sha256,
}

impl ContentDigest {
    /// Adds the next row (rows must come in the table's order).
    pub fn add(&mut self, row: &Row) {
        self.rows += 1;
        self.hasher.update((row.len() as u64).to_be_bytes());
        for value in row {
            match value {
                Value::Null => self.hasher.update([0]),
                Value::Integer(number) => {
                    self.hasher.update([1]);
                    self.hasher.update(number.to_be_bytes());
                }
                Value::Text(text) => {
                    self.hasher.update([2]);
                    self.hasher.update((text.len() as u64).to_be_bytes());
                    self.hasher.update(text.as_bytes());
                }
                Value::Bytes(bytes) => {
                    self.hasher.update([3]);
                    self.hasher.update((bytes.len() as u64).to_be_bytes());
                    self.hasher.update(bytes);
                }
            }
        }
    }

    /// The rows added and the digest.
    pub fn finish(self) -> (u64, [u8; 32]) {
        (self.rows, self.hasher.finalize().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(rows: &[Row]) -> [u8; 32] {
        let mut digest = ContentDigest::default();
        for row in rows {
            digest.add(row);
        }
        digest.finish().1
    }

    #[test]
    fn values_that_concatenate_alike_digest_apart() {
        let text = |value: &str| Value::Text(value.into());
        assert_ne!(
            digest(&[vec![text("ab"), text("c")]]),
            digest(&[vec![text("a"), text("bc")]])
        );
        assert_ne!(
            digest(&[vec![Value::Null]]),
            digest(&[vec![Value::Bytes(Vec::new())]])
        );
        assert_ne!(
            digest(&[vec![text("1")]]),
            digest(&[vec![Value::Integer(1)]])
        );
        assert_ne!(
            digest(&[vec![text("a")], vec![text("b")]]),
            digest(&[vec![text("b")], vec![text("a")]])
        );
    }
}
