//! The record of a move in the target (`embedded_transfers`): claimed before the first row is
//! copied, so a re-run knows the rows it finds are its own; finished at the end; and the
//! reference to where the audit history is.
//!
//! Only one move writes to a database at a time (a session advisory lock on a connection of
//! its own, released when that connection closes, even if the process dies).

use haechi_events::Timestamp;
use sqlx::postgres::PgPool;
use sqlx::{AssertSqlSafe, Connection as _, PgConnection, Row as _};

use super::TransferError;
use super::copy::target_error;
use super::tables::TABLES;

/// The advisory-lock key of `haechi migrate` ("haechimv"), apart from the migrations' own.
const TRANSFER_LOCK: i64 = 0x6861_6563_6869_6d76;

/// Holds the database for one move; dropping it closes the connection and frees the lock.
pub(crate) struct TransferLock {
    connection: PgConnection,
}

impl TransferLock {
    /// Takes the lock, or [`TransferError::Busy`] when another move holds it.
    pub async fn take(target: &PgPool) -> Result<Self, TransferError> {
        let mut connection = target.acquire().await.map_err(target_error)?.detach();
        let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(TRANSFER_LOCK)
            .fetch_one(&mut connection)
            .await
            .map_err(target_error)?;
        if !taken {
            let _ = connection.close().await;
            return Err(TransferError::Busy);
        }
        Ok(TransferLock { connection })
    }

    /// Frees the lock.
    pub async fn release(self) {
        let _ = self.connection.close().await;
    }
}

/// Whether this deployment was moved into the database before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The database was empty; this is the first run.
    Fresh,
    /// An earlier run of this same deployment started (and maybe finished) here.
    Resumed {
        /// Whether that run finished.
        finished: bool,
    },
}

/// Where a deployment's audit history is, as recorded in the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditReference {
    /// The stream and node id it was republished under, or the embedded log's directory.
    pub location: String,
    /// Records of the chain.
    pub records: u64,
    /// The chain's last record hash.
    pub head: Option<[u8; 32]>,
    /// Its last signed checkpoint, as the 128-byte entry of the log's `checkpoints` file.
    pub checkpoint: Option<Vec<u8>>,
}

/// A move as recorded in the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRecord {
    /// The deployment's identity.
    pub source_id: String,
    /// The data directory it came from.
    pub source_dir: String,
    /// When the first run started.
    pub started_at: Timestamp,
    /// When a run last finished.
    pub finished_at: Option<Timestamp>,
    /// Where its audit history is.
    pub audit: Option<AuditReference>,
}

/// Claims the database for the deployment `source_id`: accepted when it is empty (recorded
/// now) or holds this deployment's earlier move; refused when it holds another's, or Haechi
/// data with no record of a move.
pub(crate) async fn claim(
    target: &PgPool,
    source_id: &str,
    source_dir: &str,
    now: Timestamp,
) -> Result<Claim, TransferError> {
    if let Some(record) = other_or_own(target, source_id).await? {
        if record.source_id != source_id {
            return Err(TransferError::OtherDeployment {
                other: record.source_id,
                dir: record.source_dir,
            });
        }
        return Ok(Claim::Resumed {
            finished: record.finished_at.is_some(),
        });
    }
    for table in TABLES {
        let holds: bool = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT EXISTS (SELECT 1 FROM {})",
            table.name
        )))
        .fetch_one(target)
        .await
        .map_err(target_error)?;
        if holds {
            return Err(TransferError::TargetInUse { table: table.name });
        }
    }
    sqlx::query(
        "INSERT INTO embedded_transfers (source_id, source_dir, started_at) VALUES ($1, $2, $3)",
    )
    .bind(source_id)
    .bind(source_dir)
    .bind(now.as_micros())
    .execute(target)
    .await
    .map_err(target_error)?;
    Ok(Claim::Fresh)
}

/// This deployment's record if there is one, else any other's.
async fn other_or_own(
    target: &PgPool,
    source_id: &str,
) -> Result<Option<TransferRecord>, TransferError> {
    let records = records(target).await?;
    Ok(records
        .iter()
        .find(|record| record.source_id == source_id)
        .or_else(|| records.first())
        .cloned())
}

/// Marks this deployment's move finished now.
pub(crate) async fn finish(
    target: &PgPool,
    source_id: &str,
    now: Timestamp,
) -> Result<(), TransferError> {
    sqlx::query("UPDATE embedded_transfers SET finished_at = $2 WHERE source_id = $1")
        .bind(source_id)
        .bind(now.as_micros())
        .execute(target)
        .await
        .map_err(target_error)?;
    Ok(())
}

/// Records where the deployment's audit history is.
pub(crate) async fn record_audit(
    target: &PgPool,
    source_id: &str,
    audit: &AuditReference,
) -> Result<(), TransferError> {
    sqlx::query(
        "UPDATE embedded_transfers SET audit_location = $2, audit_records = $3, \
         audit_head = $4, audit_checkpoint = $5 WHERE source_id = $1",
    )
    .bind(source_id)
    .bind(&audit.location)
    .bind(i64::try_from(audit.records).unwrap_or(i64::MAX))
    .bind(audit.head.map(|head| head.to_vec()))
    .bind(audit.checkpoint.clone())
    .execute(target)
    .await
    .map_err(target_error)?;
    Ok(())
}

/// Every move recorded in the database.
pub(crate) async fn records(target: &PgPool) -> Result<Vec<TransferRecord>, TransferError> {
    let rows = sqlx::query(
        "SELECT source_id, source_dir, started_at, finished_at, audit_location, audit_records, \
         audit_head, audit_checkpoint FROM embedded_transfers ORDER BY started_at, source_id",
    )
    .fetch_all(target)
    .await
    .map_err(target_error)?;
    rows.iter()
        .map(|row| {
            let get = |error: sqlx::Error| target_error(error);
            let location: Option<String> = row.try_get("audit_location").map_err(get)?;
            let head: Option<Vec<u8>> = row.try_get("audit_head").map_err(get)?;
            let audit = match location {
                None => None,
                Some(location) => Some(AuditReference {
                    location,
                    records: u64::try_from(
                        row.try_get::<Option<i64>, _>("audit_records")
                            .map_err(get)?
                            .unwrap_or(0),
                    )
                    .unwrap_or(0),
                    head: head.and_then(|head| <[u8; 32]>::try_from(head.as_slice()).ok()),
                    checkpoint: row.try_get("audit_checkpoint").map_err(get)?,
                }),
            };
            Ok(TransferRecord {
                source_id: row.try_get("source_id").map_err(get)?,
                source_dir: row.try_get("source_dir").map_err(get)?,
                started_at: Timestamp::from_micros(row.try_get("started_at").map_err(get)?),
                finished_at: row
                    .try_get::<Option<i64>, _>("finished_at")
                    .map_err(get)?
                    .map(Timestamp::from_micros),
                audit,
            })
        })
        .collect()
}
