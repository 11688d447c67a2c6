//! The deployment and the cluster store compared table by table, independently of the
//! migration's own digests: each database renders its rows itself (bytes as hex, numbers and
//! text as text), and the sorted renderings must be equal.

use std::collections::BTreeMap;
use std::path::Path;

use sqlx::AssertSqlSafe;

/// One table's rows as rendered, sorted.
type Dump = Vec<Vec<Option<String>>>;

/// Row counts of every SQLite table of the deployment in `data_dir`.
pub async fn sqlite_counts(data_dir: &Path) -> BTreeMap<String, i64> {
    let pool = sqlite(data_dir).await;
    let mut counts = BTreeMap::new();
    for table in tables(&pool).await {
        let count: i64 = sqlx::query_scalar(AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
            .fetch_one(&pool)
            .await
            .unwrap();
        counts.insert(table, count);
    }
    pool.close().await;
    counts
}

/// Asserts that every table of the deployment in `data_dir` holds, in the database at `url`,
/// exactly the same rows, and the policy versions the same texts; returns the row counts.
pub async fn assert_moved(data_dir: &Path, url: &str) -> BTreeMap<String, i64> {
    let pool = sqlite(data_dir).await;
    let target = sqlx::PgPool::connect(url).await.unwrap();
    let mut counts = BTreeMap::new();
    for table in tables(&pool).await {
        let columns: Vec<(String, String)> =
            sqlx::query_as("SELECT name, type FROM pragma_table_info(?) ORDER BY cid")
                .bind(&table)
                .fetch_all(&pool)
                .await
                .unwrap();
        let source_select: Vec<String> = columns
            .iter()
            .map(|(name, kind)| match kind.as_str() {
                "BLOB" => format!("CASE WHEN {name} IS NULL THEN NULL ELSE lower(hex({name})) END"),
                _ => format!("CAST({name} AS TEXT)"),
            })
            .collect();
        let target_select: Vec<String> = columns
            .iter()
            .map(|(name, kind)| match kind.as_str() {
                "BLOB" => format!("encode({name}, 'hex')"),
                _ => format!("{name}::text"),
            })
            .collect();
        let source = dump(
            sqlx::query(AssertSqlSafe(format!(
                "SELECT {} FROM {table}",
                source_select.join(", ")
            )))
            .fetch_all(&pool)
            .await
            .unwrap(),
        );
        let moved = dump(
            sqlx::query(AssertSqlSafe(format!(
                "SELECT {} FROM {table}",
                target_select.join(", ")
            )))
            .fetch_all(&target)
            .await
            .unwrap(),
        );
        assert_eq!(source.len(), moved.len(), "{table}: row counts differ");
        assert!(source == moved, "{table}: content differs");
        counts.insert(table, source.len() as i64);
    }
    let versions: Vec<(i64, String)> =
        sqlx::query_as("SELECT version, text FROM policy_versions ORDER BY version")
            .fetch_all(&target)
            .await
            .unwrap();
    for (version, text) in &versions {
        let file = data_dir.join(format!("policy.d/{version}.toml"));
        assert_eq!(
            &std::fs::read_to_string(file).unwrap(),
            text,
            "policy {version}"
        );
    }
    assert_eq!(
        versions.last().map(|(_, text)| text.clone()),
        std::fs::read_to_string(data_dir.join("policy.toml")).ok(),
        "the policy in force"
    );
    counts.insert("policy_versions".into(), versions.len() as i64);
    pool.close().await;
    target.close().await;
    counts
}

async fn sqlite(data_dir: &Path) -> sqlx::SqlitePool {
    let url = format!("sqlite://{}?mode=ro", data_dir.join("haechi.db").display());
    sqlx::SqlitePool::connect(&url).await.unwrap()
}

async fn tables(pool: &sqlx::SqlitePool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         AND name <> 'schema_version' ORDER BY name",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

fn dump<R: sqlx::Row>(rows: Vec<R>) -> Dump
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
