//! The move of an embedded store into PostgreSQL (`haechi_store::transfer`), against the real
//! PostgreSQL of `haechi-testbed` and real SQLite files.
//!
//! The embedded store is filled here straight through SQL, from its own schema (the column
//! types `pragma_table_info` reports), with every kind of value a column can hold — NULLs,
//! empty and 64 KiB byte strings, the extreme integers, non-ASCII text, a duplicate
//! blind-index entry — so every table, including one added later, is exercised. Content is
//! compared by an independent dump (hex and text rendered by each database itself), not by
//! the module's own digests.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod conflicts;
mod moves;
mod refusals;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use haechi_events::Timestamp;
use haechi_store::transfer::{
    self, EmbeddedSource, NoProgress, TransferError, TransferOptions, TransferReport,
};
use haechi_store::{PgStore, PolicyFiles, SqliteStore};
use sqlx::AssertSqlSafe;

/// An embedded data directory filled with `rows` rows per table, and its policy files.
pub struct Embedded {
    /// The data directory (`haechi.db`, `policy.toml`, `policy.d/`).
    pub dir: tempfile::TempDir,
}

impl Embedded {
    /// A fresh embedded store (schema only).
    pub async fn empty() -> Self {
        let dir = tempfile::tempdir().unwrap();
        SqliteStore::open(&dir.path().join("haechi.db"))
            .await
            .unwrap()
            .close()
            .await;
        Embedded { dir }
    }

    /// A store with `rows` rows in every table it has (three blind-index entries per record),
    /// and two policy versions.
    pub async fn filled(rows: usize) -> Self {
        let embedded = Embedded::empty().await;
        let store = SqliteStore::open(&embedded.database()).await.unwrap();
        let pool = sqlite_pool(&embedded.database()).await;
        let mut tables = sqlite_tables(&pool).await;
        // Parents before the tables whose foreign keys name them.
        tables.sort_by_key(|table| {
            (
                !matches!(table.as_str(), "accounts" | "customers"),
                table.clone(),
            )
        });
        for table in tables {
            fill(&pool, &table, rows).await;
        }
        pool.close().await;
        store.close().await;
        let policy = embedded.policy_files();
        use haechi_vault::PolicyStore as _;
        policy.save("# first\n[services]\n").await.unwrap();
        policy.save("# second, 한국어\n[services]\n").await.unwrap();
        embedded
    }

    /// The database file.
    pub fn database(&self) -> PathBuf {
        self.dir.path().join("haechi.db")
    }

    /// The policy files.
    pub fn policy_files(&self) -> PolicyFiles {
        PolicyFiles::new(self.dir.path().join("policy.toml"))
    }

    /// The store opened as a move's source.
    pub async fn source(&self) -> EmbeddedSource {
        EmbeddedSource::open(&self.database(), &self.policy_files())
            .await
            .unwrap()
    }
}

/// A fresh PostgreSQL database with the cluster schema, or `None` (skipped) without a server.
pub async fn postgres() -> Option<(PgStore, haechi_testbed::TestDatabase)> {
    let database = haechi_testbed::postgres().await?;
    let store = PgStore::open(&database.url).await.unwrap();
    Some((store, database))
}

/// The identity every test move uses for its deployment.
pub const SOURCE_ID: &str = "audit:test-deployment";

/// Moves `embedded` into `target` with `options`.
pub async fn move_with(
    embedded: &Embedded,
    target: &PgStore,
    options: TransferOptions,
) -> Result<TransferReport, TransferError> {
    let source = embedded.source().await;
    let report = transfer::transfer(
        &source,
        target,
        SOURCE_ID,
        options,
        &NoProgress,
        Timestamp::from_micros(1_750_000_000_000_000),
    )
    .await;
    source.close().await;
    report
}

/// Small batches, so every table spans several.
pub fn small_batches() -> TransferOptions {
    TransferOptions {
        batch_rows: 16,
        stop_after_batches: None,
    }
}

/// A pool on the SQLite file at `path`.
pub async fn sqlite_pool(path: &Path) -> sqlx::SqlitePool {
    sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap()
}

/// The SQLite store's tables, without SQLite's and the store's own bookkeeping.
pub async fn sqlite_tables(pool: &sqlx::SqlitePool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         AND name <> 'schema_version' ORDER BY name",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// A column as SQLite declares it.
struct Declared {
    name: String,
    kind: String,
    not_null: bool,
    key: bool,
}

async fn declared_columns(pool: &sqlx::SqlitePool, table: &str) -> Vec<Declared> {
    let rows: Vec<(String, String, i64, i64)> =
        sqlx::query_as("SELECT name, type, \"notnull\", pk FROM pragma_table_info(?) ORDER BY cid")
            .bind(table)
            .fetch_all(pool)
            .await
            .unwrap();
    rows.into_iter()
        .map(|(name, kind, not_null, key)| Declared {
            name,
            kind,
            not_null: not_null != 0,
            key: key != 0,
        })
        .collect()
}

/// Fills `table` with `rows` rows (for `blind_index`, three per customer plus a duplicate).
async fn fill(pool: &sqlx::SqlitePool, table: &str, rows: usize) {
    let columns = declared_columns(pool, table).await;
    let count = if table == "blind_index" {
        rows * 3 + 1
    } else {
        rows
    };
    let names: Vec<&str> = columns.iter().map(|column| column.name.as_str()).collect();
    let placeholders = vec!["?"; columns.len()].join(", ");
    let sql = format!(
        "INSERT INTO {table} ({}) VALUES ({placeholders})",
        names.join(", ")
    );
    for row in 0..count {
        let mut query = sqlx::query(AssertSqlSafe(sql.clone()));
        for column in &columns {
            query = bind_value(query, table, column, row, rows);
        }
        query.execute(pool).await.unwrap();
    }
}

fn bind_value<'q>(
    query: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>,
    table: &str,
    column: &Declared,
    row: usize,
    rows: usize,
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments> {
    let nullable = !column.not_null && !column.key;
    if column.name == "customer_id" {
        // Children name an existing parent; the last blind-index row repeats the first.
        let parent = match table {
            "blind_index" => (row / 3) % rows,
            _ => row,
        };
        return query.bind(format!("c{parent:06}"));
    }
    match column.kind.as_str() {
        "INTEGER" if column.key => query.bind(row as i64 + 1),
        "INTEGER" if table == "blind_index" => query.bind(if row == rows * 3 {
            0
        } else {
            row as i64 * 7_919
        }),
        "INTEGER" => match row % 5 {
            0 => query.bind(i64::MAX),
            1 => query.bind(i64::MIN),
            2 if nullable => query.bind(None::<i64>),
            _ => query.bind(row as i64 * 1_000_003 - 42),
        },
        "TEXT" if column.key => query.bind(format!("{table}-{row:06}")),
        "TEXT" if table == "blind_index" => query.bind(if row == rows * 3 {
            "email".to_string()
        } else {
            ["email", "phone", "name"][row % 3].to_string()
        }),
        "TEXT" => match row % 5 {
            0 => query.bind(String::new()),
            1 => query.bind("홍길동 ✓ 'quote' \"double\" \\ back\nline".to_string()),
            2 if nullable => query.bind(None::<String>),
            _ => query.bind(format!("{}-{row}", column.name)),
        },
        "BLOB" if column.key => {
            let mut key = (row as u64).to_be_bytes().to_vec();
            key.extend_from_slice(table.as_bytes());
            query.bind(key)
        }
        "BLOB" => match row % 5 {
            0 => query.bind(Vec::<u8>::new()),
            1 => query.bind(
                (0..65_536u32)
                    .map(|i| (i * 31 % 251) as u8)
                    .collect::<Vec<_>>(),
            ),
            2 if nullable => query.bind(None::<Vec<u8>>),
            _ => query.bind(vec![0u8, 0xff, row as u8, 0]),
        },
        other => panic!(
            "{table}.{}: a column type the filler does not know: {other}",
            column.name
        ),
    }
}

/// One table's rows as each database renders them (bytes in hex, integers and text as
/// text, NULL apart), sorted: an independent view of the content.
pub type Dump = Vec<Vec<Option<String>>>;

/// `table` in the embedded store.
pub async fn sqlite_dump(path: &Path, table: &str) -> Dump {
    let pool = sqlite_pool(path).await;
    let columns = declared_columns(&pool, table).await;
    let select: Vec<String> = columns
        .iter()
        .map(|column| match column.kind.as_str() {
            "BLOB" => format!(
                "CASE WHEN {0} IS NULL THEN NULL ELSE lower(hex({0})) END",
                column.name
            ),
            _ => format!("CAST({} AS TEXT)", column.name),
        })
        .collect();
    let sql = format!("SELECT {} FROM {table}", select.join(", "));
    let dump = dump_rows(
        sqlx::query(AssertSqlSafe(sql))
            .fetch_all(&pool)
            .await
            .unwrap(),
    );
    pool.close().await;
    dump
}

/// `table` in the PostgreSQL store, the same columns (not those only PostgreSQL has).
pub async fn postgres_dump(store: &PgStore, table: &str, columns: &[String]) -> Dump {
    let kinds: BTreeMap<String, String> = sqlx::query_as(
        "SELECT column_name::text, data_type::text FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = $1",
    )
    .bind(table)
    .fetch_all(store.pool())
    .await
    .unwrap()
    .into_iter()
    .collect();
    let select: Vec<String> = columns
        .iter()
        .map(|column| match kinds[column].as_str() {
            "bytea" => format!("encode({column}, 'hex')"),
            _ => format!("{column}::text"),
        })
        .collect();
    let sql = format!("SELECT {} FROM {table}", select.join(", "));
    dump_rows(
        sqlx::query(AssertSqlSafe(sql))
            .fetch_all(store.pool())
            .await
            .unwrap(),
    )
}

fn dump_rows<R: sqlx::Row>(rows: Vec<R>) -> Dump
where
    usize: sqlx::ColumnIndex<R>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let mut dump: Dump = rows
        .iter()
        .map(|row| (0..row.len()).map(|index| row.get(index)).collect())
        .collect();
    dump.sort();
    dump
}

/// Every table the embedded store has, compared with the PostgreSQL store's; the policy
/// versions compared with the files. Panics naming the first difference.
pub async fn assert_same_content(embedded: &Embedded, target: &PgStore) {
    let pool = sqlite_pool(&embedded.database()).await;
    let tables = sqlite_tables(&pool).await;
    let mut columns_of = BTreeMap::new();
    for table in &tables {
        let columns: Vec<String> = declared_columns(&pool, table)
            .await
            .into_iter()
            .map(|column| column.name)
            .collect();
        columns_of.insert(table.clone(), columns);
    }
    pool.close().await;
    for table in &tables {
        let source = sqlite_dump(&embedded.database(), table).await;
        let moved = postgres_dump(target, table, &columns_of[table]).await;
        assert_eq!(source.len(), moved.len(), "{table}: row counts differ");
        assert!(source == moved, "{table}: content differs");
    }
    let files = embedded.policy_files();
    let kept: Vec<(i64, String)> =
        sqlx::query_as("SELECT version, text FROM policy_versions ORDER BY version")
            .fetch_all(target.pool())
            .await
            .unwrap();
    let on_disk: Vec<(i64, String)> = (1..=kept.len() as i64)
        .map(|version| {
            let path = embedded.dir.path().join(format!("policy.d/{version}.toml"));
            (version, std::fs::read_to_string(path).unwrap())
        })
        .collect();
    assert_eq!(kept, on_disk, "policy versions");
    drop(files);
}
