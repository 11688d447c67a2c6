//! Copying one table in batches, each batch one PostgreSQL transaction: `INSERT … ON CONFLICT
//! DO NOTHING RETURNING` the keys it inserted; every row it did not insert is read back and
//! must be the same row, or the batch is rolled back and the run stops
//! ([`TransferError::Conflict`]). A table's children (rows without a key of their own) move in
//! their parent's transaction: a parent inserted gets its children, a parent already there
//! must already have exactly the same children.

use std::collections::{BTreeMap, HashSet};

use futures::TryStreamExt as _;
use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;
use sqlx::{AssertSqlSafe, PgConnection};

use super::rows::{
    Row, Value, bind_columns, from_postgres, from_postgres_columns, from_sqlite,
    postgres_select_list, sqlite_order, sqlite_select_list, unnest_arguments,
};
use super::tables::{TABLES, Table};
use super::{Phase, TransferError, TransferProgress};
use crate::postgres::backend as pg_error;
use crate::sqlite::backend as sqlite_error;

/// Rows a table's copy inserted, and rows it found already there, identical.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Copied {
    /// Rows this run inserted.
    pub inserted: u64,
    /// Rows already in the target with the same content (an earlier, interrupted or
    /// complete, run moved them).
    pub present: u64,
}

/// Copies tables from the embedded store to PostgreSQL and counts what it did.
pub(crate) struct Copier<'a> {
    pub source: &'a SqlitePool,
    pub target: &'a PgPool,
    pub batch_rows: usize,
    pub progress: &'a dyn TransferProgress,
    /// Stop with [`TransferError::Stopped`] once this many batches are committed.
    pub stop_after_batches: Option<u64>,
    pub batches: u64,
    pub counts: BTreeMap<&'static str, Copied>,
}

impl Copier<'_> {
    /// Copies `table` from SQLite, with its children.
    pub async fn copy_from_sqlite(&mut self, table: &'static Table) -> Result<(), TransferError> {
        let sql = format!(
            "SELECT {} FROM {} ORDER BY {}",
            sqlite_select_list(table.columns),
            table.name,
            sqlite_order(table.key_columns())
        );
        let source = self.source;
        let mut rows = sqlx::query(AssertSqlSafe(sql)).fetch(source);
        let mut batch = Vec::with_capacity(self.batch_rows);
        while let Some(row) = rows.try_next().await.map_err(source_error)? {
            batch.push(from_sqlite(table, &row)?);
            if batch.len() == self.batch_rows {
                self.copy_batch(table, std::mem::take(&mut batch)).await?;
            }
        }
        if !batch.is_empty() {
            self.copy_batch(table, batch).await?;
        }
        self.after_table(table).await
    }

    /// Copies `table`'s rows given in memory (the policy versions read from files).
    pub async fn copy_rows(
        &mut self,
        table: &'static Table,
        rows: Vec<Row>,
    ) -> Result<(), TransferError> {
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let batch: Vec<Row> = rows.by_ref().take(self.batch_rows).collect();
            self.copy_batch(table, batch).await?;
        }
        self.after_table(table).await
    }

    /// One batch of `table` and its children, in one transaction.
    async fn copy_batch(
        &mut self,
        table: &'static Table,
        batch: Vec<Row>,
    ) -> Result<(), TransferError> {
        let mut transaction = self.target.begin().await.map_err(target_error)?;
        let inserted = insert_returning_keys(&mut transaction, table, &batch).await?;
        let key_width = table.key;
        let (fresh, existing): (Vec<&Row>, Vec<&Row>) = batch
            .iter()
            .partition(|row| inserted.contains(&row[..key_width]));
        if !existing.is_empty() {
            check_existing(&mut transaction, table, &existing).await?;
        }
        for child in TABLES.iter().filter(|child| {
            child
                .parent
                .is_some_and(|parent| parent.table == table.name)
        }) {
            let moved = self
                .copy_children(&mut transaction, table, child, &fresh, &existing)
                .await?;
            let counts = self.counts.entry(child.name).or_default();
            counts.inserted += moved.inserted;
            counts.present += moved.present;
            self.progress
                .advanced(Phase::Copy, child.name, moved.inserted + moved.present);
        }
        transaction.commit().await.map_err(target_error)?;
        let counts = self.counts.entry(table.name).or_default();
        counts.inserted += fresh.len() as u64;
        counts.present += existing.len() as u64;
        self.progress
            .advanced(Phase::Copy, table.name, batch.len() as u64);
        self.batches += 1;
        if self.stop_after_batches == Some(self.batches) {
            return Err(TransferError::Stopped {
                batches: self.batches,
            });
        }
        Ok(())
    }

    /// The children of the batch's parents: inserted under fresh parents, compared under
    /// parents that were there.
    async fn copy_children(
        &self,
        transaction: &mut PgConnection,
        parent: &'static Table,
        child: &'static Table,
        fresh: &[&Row],
        existing: &[&Row],
    ) -> Result<Copied, TransferError> {
        let Some(link) = child.parent else {
            return Ok(Copied::default());
        };
        let position = column_position(child, link.column)?;
        let mut wanted: Vec<&Value> = fresh.iter().map(|row| &row[0]).collect();
        wanted.extend(existing.iter().map(|row| &row[0]));
        let by_parent = self.source_children(child, position, &wanted).await?;
        let fresh_children: Vec<&Row> = fresh
            .iter()
            .filter_map(|row| by_parent.get(&row[0]))
            .flatten()
            .collect();
        if !fresh_children.is_empty() {
            let names = child.columns.iter().map(|column| column.name);
            let sql = format!(
                "INSERT INTO {} ({}) SELECT * FROM UNNEST({})",
                child.name,
                names.collect::<Vec<_>>().join(", "),
                unnest_arguments(child.columns, 1)
            );
            let positions: Vec<usize> = (0..child.columns.len()).collect();
            bind_columns(
                sqlx::query(AssertSqlSafe(sql)),
                child.columns,
                &positions,
                &fresh_children,
            )
            .execute(&mut *transaction)
            .await
            .map_err(target_error)?;
        }
        let mut present = 0;
        if !existing.is_empty() {
            let mut target = target_children(transaction, child, position, existing).await?;
            let mut differing = Vec::new();
            for row in existing {
                let mut source_rows = by_parent.get(&row[0]).cloned().unwrap_or_default();
                let mut target_rows = target.remove(&row[0]).unwrap_or_default();
                source_rows.sort();
                target_rows.sort();
                present += source_rows.len() as u64;
                if source_rows != target_rows {
                    differing.push(&row[..parent.key]);
                }
            }
            if let Some(first) = differing.first() {
                return Err(TransferError::Conflict {
                    table: child.name,
                    key: describe_key(first),
                    count: differing.len(),
                });
            }
        }
        Ok(Copied {
            inserted: fresh_children.len() as u64,
            present,
        })
    }

    /// The source's children of the parents `keys`, grouped by parent.
    async fn source_children(
        &self,
        child: &'static Table,
        position: usize,
        keys: &[&Value],
    ) -> Result<BTreeMap<Value, Vec<Row>>, TransferError> {
        let mut grouped: BTreeMap<Value, Vec<Row>> = BTreeMap::new();
        // SQLite's bound-parameter limit is far above a batch, but stay well below it.
        for chunk in keys.chunks(1000) {
            let placeholders = vec!["?"; chunk.len()].join(", ");
            let sql = format!(
                "SELECT {} FROM {} WHERE {} IN ({placeholders})",
                sqlite_select_list(child.columns),
                child.name,
                child.columns[position].name,
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for key in chunk {
                query = match key {
                    Value::Text(text) => query.bind(text.clone()),
                    Value::Integer(number) => query.bind(*number),
                    Value::Bytes(bytes) => query.bind(bytes.clone()),
                    Value::Null => query.bind(None::<String>),
                };
            }
            let rows = query.fetch_all(self.source).await.map_err(source_error)?;
            for row in rows {
                let row = from_sqlite(child, &row)?;
                grouped.entry(row[position].clone()).or_default().push(row);
            }
        }
        Ok(grouped)
    }

    /// After a table: its identity column's sequence moved past the copied ids, so the
    /// cluster's next block does not collide with a moved one.
    async fn after_table(&self, table: &'static Table) -> Result<(), TransferError> {
        self.progress.finished(Phase::Copy, table.name);
        let Some(identity) = table.identity else {
            return Ok(());
        };
        let sql = format!(
            "SELECT setval(pg_get_serial_sequence('{table}', '{identity}'), \
             COALESCE((SELECT max({identity}) FROM {table}), 0) + 1, false)",
            table = table.name
        );
        sqlx::query(AssertSqlSafe(sql))
            .execute(self.target)
            .await
            .map_err(target_error)?;
        Ok(())
    }
}

/// Inserts the rows that are not there yet; returns the keys of those inserted.
async fn insert_returning_keys(
    transaction: &mut PgConnection,
    table: &'static Table,
    batch: &[Row],
) -> Result<HashSet<Vec<Value>>, TransferError> {
    let names: Vec<&str> = table.columns.iter().map(|column| column.name).collect();
    let sql = format!(
        "INSERT INTO {} ({}) {}SELECT * FROM UNNEST({}) ON CONFLICT DO NOTHING RETURNING {}",
        table.name,
        names.join(", "),
        if table.identity.is_some() {
            "OVERRIDING SYSTEM VALUE "
        } else {
            ""
        },
        unnest_arguments(table.columns, 1),
        postgres_select_list(table.key_columns(), "")
    );
    let rows: Vec<&Row> = batch.iter().collect();
    let positions: Vec<usize> = (0..table.columns.len()).collect();
    let returned = bind_columns(
        sqlx::query(AssertSqlSafe(sql)),
        table.columns,
        &positions,
        &rows,
    )
    .fetch_all(&mut *transaction)
    .await
    .map_err(target_error)?;
    returned
        .iter()
        .map(|row| from_postgres_columns(table, table.key_columns(), row))
        .collect()
}

/// Reads back the target's rows with the keys of `existing` and compares them.
async fn check_existing(
    transaction: &mut PgConnection,
    table: &'static Table,
    existing: &[&Row],
) -> Result<(), TransferError> {
    let keys = table.key_columns();
    let key_names: Vec<&str> = keys.iter().map(|column| column.name).collect();
    let sql = format!(
        "SELECT {} FROM {} WHERE ({}) IN (SELECT * FROM UNNEST({}))",
        postgres_select_list(table.columns, ""),
        table.name,
        key_names.join(", "),
        unnest_arguments(keys, 1)
    );
    let positions: Vec<usize> = (0..keys.len()).collect();
    let found = bind_columns(sqlx::query(AssertSqlSafe(sql)), keys, &positions, existing)
        .fetch_all(&mut *transaction)
        .await
        .map_err(target_error)?;
    let mut target: BTreeMap<Vec<Value>, Row> = BTreeMap::new();
    for row in &found {
        let row = from_postgres(table, row)?;
        target.insert(row[..table.key].to_vec(), row);
    }
    let differing: Vec<&Row> = existing
        .iter()
        .copied()
        .filter(|row| target.get(&row[..table.key]) != Some(*row))
        .collect();
    match differing.first() {
        None => Ok(()),
        Some(first) => Err(TransferError::Conflict {
            table: table.name,
            key: describe_key(&first[..table.key]),
            count: differing.len(),
        }),
    }
}

/// The target's children of the parents `parents` (their key is their first value).
async fn target_children(
    transaction: &mut PgConnection,
    child: &'static Table,
    position: usize,
    parents: &[&Row],
) -> Result<BTreeMap<Value, Vec<Row>>, TransferError> {
    let link = &child.columns[position..=position];
    let sql = format!(
        "SELECT {} FROM {} WHERE {} IN (SELECT * FROM UNNEST({}))",
        postgres_select_list(child.columns, ""),
        child.name,
        link[0].name,
        unnest_arguments(link, 1)
    );
    let found = bind_columns(sqlx::query(AssertSqlSafe(sql)), link, &[0], parents)
        .fetch_all(&mut *transaction)
        .await
        .map_err(target_error)?;
    let mut grouped: BTreeMap<Value, Vec<Row>> = BTreeMap::new();
    for row in &found {
        let row = from_postgres(child, row)?;
        grouped.entry(row[position].clone()).or_default().push(row);
    }
    Ok(grouped)
}

fn column_position(table: &Table, name: &str) -> Result<usize, TransferError> {
    table
        .columns
        .iter()
        .position(|column| column.name == name)
        .ok_or_else(|| TransferError::UnknownSchema {
            database: "embedded",
            what: format!("no column {name} in {}", table.name),
        })
}

/// A key as an operator may see it: ids and numbers as they are, hashes by their first
/// bytes in hex (never a whole secret-derived value).
fn describe_key(key: &[Value]) -> String {
    key.iter()
        .map(|value| match value {
            Value::Null => "NULL".to_string(),
            Value::Integer(number) => number.to_string(),
            Value::Text(text) => format!("{text:?}"),
            Value::Bytes(bytes) => {
                let shown: String = bytes.iter().take(6).map(|b| format!("{b:02x}")).collect();
                format!("{shown}…")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn source_error(error: sqlx::Error) -> TransferError {
    TransferError::Source(sqlite_error(error))
}

pub(crate) fn target_error(error: sqlx::Error) -> TransferError {
    TransferError::Target(pg_error(error))
}
