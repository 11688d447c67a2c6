//! Moving an embedded deployment's store into the cluster's PostgreSQL database
//! (`haechi migrate --from DIR --to postgres://…`; docs/migration.md).
//!
//! Every table moves ([`tables`] lists them and what deliberately does not; a test compares
//! the list with both real schemas), row for row and byte for byte: signing keys and secrets
//! still wrapped under the master key — this module never sees a key — and sealed records as
//! ciphertext. Rows are read from the SQLite pool in key order and written through sqlx in
//! batches, each batch one PostgreSQL transaction (`INSERT … SELECT * FROM UNNEST(…) ON
//! CONFLICT DO NOTHING`).
//!
//! # Idempotent and resumable
//! A row already in the target is read back and must be identical, so a run interrupted at any
//! point and run again finishes with exactly the content of an uninterrupted one, and a second
//! run over a finished move inserts nothing. A row with the same key and other content stops the
//! run ([`TransferError::Conflict`]), its batch rolled back: nothing is merged silently.
//!
//! # Whose data
//! Before the first row, the move is recorded in the target (`embedded_transfers`) under the
//! deployment's identity, which the caller gives (the binary uses the hash of the audit chain's
//! first record). A database is accepted when it is empty or holds this deployment's earlier
//! move; one that holds another deployment's move, or Haechi rows with no record of a move (a
//! cluster already running), is refused before anything is written. One move at a time per
//! database (an advisory lock).
//!
//! # Proof
//! At the end every table is counted and digested on both sides in the same order
//! ([`TableReport::matches`]); the caller exits non-zero on any difference.

mod check;
mod copy;
mod error;
mod ledger;
mod rows;
mod schema;
mod tables;

use std::path::{Path, PathBuf};
use std::str::FromStr as _;

use haechi_events::Timestamp;
use sha2::{Digest as _, Sha256};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection as _, SqliteConnection};

pub use check::TableContent;
pub use copy::Copied;
pub use error::TransferError;
pub use ledger::{AuditReference, Claim, TransferRecord};

use crate::{PgStore, PolicyFiles, SqliteStore};
use copy::{Copier, source_error};
use rows::{Row, Value};
use tables::{Origin, TABLES};

/// Which part of a move progress is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Copying rows.
    Copy,
    /// Counting and digesting the source for the comparison.
    Verify,
}

/// Told how a move advances, table by table (the binary draws progress bars from it).
pub trait TransferProgress: Send + Sync {
    /// `table` starts, with `rows` rows in the source.
    fn started(&self, phase: Phase, table: &'static str, rows: u64);
    /// `rows` more rows of `table` are done.
    fn advanced(&self, phase: Phase, table: &'static str, rows: u64);
    /// `table` is done.
    fn finished(&self, phase: Phase, table: &'static str);
}

/// Progress nobody watches.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl TransferProgress for NoProgress {
    fn started(&self, _: Phase, _: &'static str, _: u64) {}
    fn advanced(&self, _: Phase, _: &'static str, _: u64) {}
    fn finished(&self, _: Phase, _: &'static str) {}
}

/// How a move runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferOptions {
    /// Rows per batch (one PostgreSQL transaction each). Default 2,000.
    pub batch_rows: usize,
    /// Stop with [`TransferError::Stopped`] after this many batches: how the tests interrupt a
    /// move at a chosen point to prove it resumes. `None` in normal use.
    pub stop_after_batches: Option<u64>,
}

impl Default for TransferOptions {
    fn default() -> Self {
        TransferOptions {
            batch_rows: 2_000,
            stop_after_batches: None,
        }
    }
}

/// An embedded deployment's store, opened as the source of a move: its database and its
/// policy files. The caller holds the data directory (no server or command writes to it).
#[derive(Debug)]
pub struct EmbeddedSource {
    store: SqliteStore,
    dir: PathBuf,
    policy_rows: Vec<Row>,
}

impl EmbeddedSource {
    /// Opens the embedded database at `database` (refusing a file that is not one) and reads
    /// the policy versions `policy` keeps. The schema is brought up to date first, as every
    /// Haechi command does when it opens a data directory.
    pub async fn open(database: &Path, policy: &PolicyFiles) -> Result<Self, TransferError> {
        probe(database).await?;
        let store = SqliteStore::open(database)
            .await
            .map_err(TransferError::Source)?;
        let policy_rows = policy_rows(policy)?;
        Ok(EmbeddedSource {
            store,
            dir: database
                .parent()
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
            policy_rows,
        })
    }

    /// An identity for a deployment whose audit log holds no record: a digest of its wrapped
    /// secrets (random per deployment, copied as they are).
    pub async fn secrets_fingerprint(&self) -> Result<String, TransferError> {
        let rows: Vec<(String, Vec<u8>)> =
            sqlx::query_as("SELECT name, wrapped FROM secrets ORDER BY name")
                .fetch_all(&self.store.pool)
                .await
                .map_err(source_error)?;
        let mut hasher = Sha256::new();
        for (name, wrapped) in rows {
            hasher.update((name.len() as u64).to_be_bytes());
            hasher.update(name.as_bytes());
            hasher.update((wrapped.len() as u64).to_be_bytes());
            hasher.update(&wrapped);
        }
        Ok(format!("store:{}", hex(&hasher.finalize())))
    }

    /// Closes the database.
    pub async fn close(&self) {
        self.store.close().await;
    }
}

/// What a move did and found, table by table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferReport {
    /// Whether the database was empty or held this deployment's earlier move.
    pub claim: Claim,
    /// Every table, in the order moved.
    pub tables: Vec<TableReport>,
}

impl TransferReport {
    /// Whether every table holds the same rows on both sides.
    pub fn matches(&self) -> bool {
        self.tables.iter().all(TableReport::matches)
    }
}

/// One table's move and its comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableReport {
    /// The table.
    pub table: &'static str,
    /// Rows this run inserted, and rows found already there.
    pub copied: Copied,
    /// The embedded store's content.
    pub source: TableContent,
    /// The PostgreSQL database's content after the move.
    pub target: TableContent,
}

impl TableReport {
    /// Same count and same digest on both sides.
    pub fn matches(&self) -> bool {
        self.source == self.target
    }
}

/// Moves every table of `source` into `target`, then compares them; see the module's
/// documentation. `source_id` names the deployment (the same on every run of one move).
pub async fn transfer(
    source: &EmbeddedSource,
    target: &PgStore,
    source_id: &str,
    options: TransferOptions,
    progress: &dyn TransferProgress,
    now: Timestamp,
) -> Result<TransferReport, TransferError> {
    let pool = &source.store.pool;
    schema::check_schemas(pool, target.pool()).await?;
    let lock = ledger::TransferLock::take(target.pool()).await?;
    let outcome = run(source, target, source_id, options, progress, now).await;
    lock.release().await;
    outcome
}

async fn run(
    source: &EmbeddedSource,
    target: &PgStore,
    source_id: &str,
    options: TransferOptions,
    progress: &dyn TransferProgress,
    now: Timestamp,
) -> Result<TransferReport, TransferError> {
    let pool = &source.store.pool;
    let dir = source.dir.display().to_string();
    let claim = ledger::claim(target.pool(), source_id, &dir, now).await?;
    let mut copier = Copier {
        source: pool,
        target: target.pool(),
        batch_rows: options.batch_rows.max(1),
        progress,
        stop_after_batches: options.stop_after_batches,
        batches: 0,
        counts: Default::default(),
    };
    // A table without a key of its own moves with its parent's batches: its progress starts
    // and ends with the parent's.
    for table in TABLES.iter().filter(|table| table.parent.is_none()) {
        let children: Vec<&'static tables::Table> = TABLES
            .iter()
            .filter(|child| {
                child
                    .parent
                    .is_some_and(|parent| parent.table == table.name)
            })
            .collect();
        for started in std::iter::once(table).chain(children.iter().copied()) {
            let rows = check::source_rows(pool, started, &source.policy_rows).await?;
            progress.started(Phase::Copy, started.name, rows);
        }
        match table.origin {
            Origin::Sqlite => copier.copy_from_sqlite(table).await?,
            Origin::PolicyFiles => {
                copier.copy_rows(table, source.policy_rows.clone()).await?;
            }
        }
        for child in children {
            progress.finished(Phase::Copy, child.name);
        }
    }
    let mut tables = Vec::with_capacity(TABLES.len());
    for table in TABLES {
        let rows = check::source_rows(pool, table, &source.policy_rows).await?;
        progress.started(Phase::Verify, table.name, rows);
        let (source_content, target_content) = tokio::try_join!(
            check::source_content(pool, table, &source.policy_rows, progress),
            check::target_content(target.pool(), table),
        )?;
        progress.finished(Phase::Verify, table.name);
        tables.push(TableReport {
            table: table.name,
            copied: copier.counts.get(table.name).copied().unwrap_or_default(),
            source: source_content,
            target: target_content,
        });
    }
    Ok(TransferReport { claim, tables })
}

/// Records in the target where the deployment's audit history is now.
pub async fn record_audit_reference(
    target: &PgStore,
    source_id: &str,
    audit: &AuditReference,
) -> Result<(), TransferError> {
    ledger::record_audit(target.pool(), source_id, audit).await
}

/// Marks the deployment's move finished (after its rows and its audit history are in place
/// and verified).
pub async fn finish_transfer(
    target: &PgStore,
    source_id: &str,
    now: Timestamp,
) -> Result<(), TransferError> {
    ledger::finish(target.pool(), source_id, now).await
}

/// Every move recorded in the database.
pub async fn transfer_records(target: &PgStore) -> Result<Vec<TransferRecord>, TransferError> {
    ledger::records(target.pool()).await
}

/// The tables a move copies, in order, and those of each schema it deliberately leaves, with
/// the reason — for documentation and for the tests that hold the list to both schemas.
pub fn moved_tables() -> Vec<&'static str> {
    TABLES.iter().map(|table| table.name).collect()
}

/// Every way the two databases' schemas differ from what this build moves (each as the
/// database and a sentence); empty when every table and column of both is accounted for.
pub async fn schema_gaps(
    source: &EmbeddedSource,
    target: &PgStore,
) -> Result<Vec<(&'static str, String)>, TransferError> {
    schema::schema_gaps(&source.store.pool, target.pool()).await
}

/// Refuses a file that is not an embedded Haechi database, before anything writes to it.
async fn probe(database: &Path) -> Result<(), TransferError> {
    let not_embedded = |reason: String| TransferError::NotEmbedded {
        path: database.to_path_buf(),
        reason,
    };
    if !database.is_file() {
        return Err(not_embedded("there is no such file".into()));
    }
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", database.display()))
        .map_err(|error| not_embedded(error.to_string()))?
        .read_only(true);
    let mut connection = SqliteConnection::connect_with(&options)
        .await
        .map_err(|error| not_embedded(format!("it does not open as SQLite: {error}")))?;
    let found: Result<Vec<String>, _> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name IN ('schema_version', 'signing_keys', 'secrets')",
    )
    .fetch_all(&mut connection)
    .await;
    let _ = connection.close().await;
    match found {
        Ok(names) if names.len() == 3 => Ok(()),
        Ok(_) => Err(not_embedded(
            "it has no Haechi tables (schema_version, signing_keys, secrets)".into(),
        )),
        Err(error) => Err(not_embedded(format!("it does not read as SQLite: {error}"))),
    }
}

/// The policy versions as `policy_versions` rows: every kept version, and the live file as
/// one more version when it differs from the newest kept one (edited by hand since the last
/// save), so the version in force stays the one in force.
fn policy_rows(policy: &PolicyFiles) -> Result<Vec<Row>, TransferError> {
    let (mut kept, live) = policy.read_all().map_err(TransferError::Source)?;
    if let Some(live) = live
        && kept.last().is_none_or(|(_, newest)| *newest != live)
    {
        let next = kept.last().map_or(1, |(version, _)| version + 1);
        kept.push((next, live));
    }
    kept.into_iter()
        .map(|(version, text)| {
            let version = i64::try_from(version).map_err(|_| TransferError::Unreadable {
                table: "policy_versions",
                reason: format!("policy version {version} is out of range"),
            })?;
            Ok(vec![
                Value::Integer(version),
                Value::Text(haechi_vault::policy_digest(&text)),
                Value::Text(text),
            ])
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
