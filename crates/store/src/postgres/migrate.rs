//! The PostgreSQL schema's versions, compiled in, and the migration run.
//!
//! sqlx's `Migrator` applies each version in a transaction together with its row in the
//! versions table, under `pg_advisory_lock` on a key derived from the database's name: of
//! several nodes starting together one migrates, the others wait for the lock, then find every
//! version applied. A version once released is never edited (its checksum is checked at every
//! start); a change of schema is a new file and a new line in [`MIGRATIONS`].

use std::borrow::Cow;

use haechi_events::StoreError;
use sqlx::SqlSafeStr as _;
use sqlx::migrate::{MigrateError, Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool};

use super::{backend, close_quietly, single_connection};

/// Every schema version: number, description, SQL.
const MIGRATIONS: [(i64, &str, &str); 17] = [
    (
        1,
        "token authority",
        include_str!("migrations/0001_authority.sql"),
    ),
    (2, "vault", include_str!("migrations/0002_vault.sql")),
    (
        3,
        "leak exposures",
        include_str!("migrations/0003_exposures.sql"),
    ),
    (
        4,
        "containment",
        include_str!("migrations/0004_containment.sql"),
    ),
    (
        5,
        "policy versions",
        include_str!("migrations/0005_policy_versions.sql"),
    ),
    (
        6,
        "change log",
        include_str!("migrations/0006_change_log.sql"),
    ),
    (
        7,
        "shared budgets",
        include_str!("migrations/0007_distinct_reads.sql"),
    ),
    (
        8,
        "embedded transfers",
        include_str!("migrations/0008_embedded_transfers.sql"),
    ),
    (
        9,
        "lookup limits",
        include_str!("migrations/0009_lookup_limits.sql"),
    ),
    (
        10,
        "sign-in limits",
        include_str!("migrations/0010_sign_in_attempts.sql"),
    ),
    (
        11,
        "repeat reads before the budget lock",
        include_str!("migrations/0011_repeat_reads.sql"),
    ),
    (
        12,
        "incidents",
        include_str!("migrations/0012_incidents.sql"),
    ),
    (
        13,
        "the API's detection rule sets",
        include_str!("migrations/0013_rule_sets.sql"),
    ),
    (
        14,
        "the exposure check's tags",
        include_str!("migrations/0014_exposure_check_tags.sql"),
    ),
    (
        15,
        "the portal's exposures by customer and incident statements",
        include_str!("migrations/0015_portal.sql"),
    ),
    (
        16,
        "breach notices: batches and the outbox",
        include_str!("migrations/0016_notices.sql"),
    ),
    (
        17,
        "the leak watch's ledger",
        include_str!("migrations/0017_leak_watch.sql"),
    ),
];

/// The newest version this build knows.
pub(super) const LATEST_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// Where applied versions are recorded: a name of Haechi's own, so a database shared with
/// another sqlx application never mixes the two histories.
const VERSIONS_TABLE: &str = "haechi_schema_migrations";

fn migrator() -> Migrator {
    let migrations = MIGRATIONS
        .iter()
        .map(|(version, description, sql)| {
            Migration::new(
                *version,
                Cow::Borrowed(*description),
                MigrationType::Simple,
                sql.into_sql_str(),
                false,
            )
        })
        .collect();
    let mut migrator = Migrator::with_migrations(migrations);
    migrator.dangerous_set_table_name(VERSIONS_TABLE);
    migrator
}

/// Applies the missing versions on a connection of its own (closed after, with the advisory
/// lock, even when a version fails); returns the version reached.
pub(super) async fn run(options: &PgConnectOptions) -> Result<i64, StoreError> {
    let mut connection = single_connection(options).await?;
    // `run_direct` is `run` on a connection already in hand; `run` itself, generic over
    // `Acquire`, makes every future that awaits it fail to prove `Send` for spawned tasks
    // (sqlx's own comment on `run_direct` says as much).
    let outcome = migrator().run_direct(None, &mut connection, false).await;
    close_quietly(connection).await;
    outcome.map_err(migration_error)?;
    Ok(LATEST_VERSION)
}

/// The newest version recorded as applied.
pub(super) async fn applied_version(pool: &PgPool) -> Result<Option<i64>, StoreError> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(VERSIONS_TABLE)
        .fetch_one(pool)
        .await
        .map_err(backend)?;
    if !exists {
        return Ok(None);
    }
    sqlx::query_scalar("SELECT max(version) FROM haechi_schema_migrations WHERE success")
        .fetch_one(pool)
        .await
        .map_err(backend)
}

/// A migration failure as the domain's error: a database ahead of this build, or one whose
/// applied versions differ from this build's, is not something to retry.
fn migration_error(error: MigrateError) -> StoreError {
    match error {
        MigrateError::VersionMissing(version) => StoreError::Corrupt(format!(
            "the database has schema version {version}, which this Haechi (newest {LATEST_VERSION}) \
             does not know: it was migrated by a newer release"
        )),
        MigrateError::VersionMismatch(version) => StoreError::Corrupt(format!(
            "schema version {version} in the database differs from this Haechi's"
        )),
        MigrateError::Dirty(version) => {
            StoreError::Corrupt(format!("schema version {version} was left half-applied"))
        }
        MigrateError::Execute(error) => backend(error),
        MigrateError::ExecuteMigration(error, version) => match backend(error) {
            StoreError::Backend(message) | StoreError::Conflict(message) => StoreError::Backend(
                format!("schema version {version} could not be applied: {message}"),
            ),
            corrupt => corrupt,
        },
        other => StoreError::Backend(format!("the schema could not be migrated: {other}")),
    }
}
