//! Haechi's state in PostgreSQL, for a cluster of nodes sharing one database.
//!
//! [`PgStore`] implements the same traits as [`crate::SqliteStore`] with the same semantics:
//! the same conflicts ([`StoreError::Conflict`] on a unique violation), the same atomicity (one
//! transaction where SQLite uses one) and the same encodings (times as microseconds since the
//! epoch in `BIGINT`, hashes and sealed values as `BYTEA`, identifiers compared bytewise), so
//! a value written by one store reads back identically from the other.
//!
//! Durability: a write returns after PostgreSQL's commit, and every connection runs with
//! `synchronous_commit = on` whatever the server's default, so the commit has reached the
//! write-ahead log on disk (and the synchronous standbys, where the operator configured any).
//!
//! The schema is versioned (`migrations/`, compiled into the binary) and brought up to date by
//! [`PgStore::open`] or [`PgStore::migrate_only`] under PostgreSQL's advisory lock, so nodes
//! starting together migrate once and the others wait, then find nothing to do.
//!
//! Secrets in the URL: the connection URL may carry a password. It is parsed once into
//! connection options and never formatted into an error, a log line or `Debug` output; use
//! [`redact_url`] to name the database in a message.

mod authority;
mod budgets;
mod bulk;
mod changes;
mod check_tags;
mod containment;
mod exposure;
mod incidents;
mod leadership;
mod lookups;
mod migrate;
mod notices;
mod policy;
mod rows;
mod rule_sets;
mod sign_in;
mod statements;
mod vault;
mod watch_ledger;

use std::str::FromStr as _;
use std::time::Duration;

use haechi_events::StoreError;
use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

pub use leadership::Leadership;
pub use policy::StoredPolicy;

/// Haechi's state in one PostgreSQL database, reached through a pool of connections.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

/// A pooled connection idle longer than this is pinged before it is used.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(1);

/// How many connections a node keeps, and how long a request waits for one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgStoreOptions {
    /// The most connections the pool opens. The default, 16, keeps a two-core node's
    /// request handlers and background tasks from queueing for a connection while leaving a
    /// server's default `max_connections` (100) room for several nodes.
    pub max_connections: u32,
    /// How long an operation waits for a free connection (or for the server to accept one)
    /// before failing with [`StoreError::Backend`]: a node that cannot reach its database
    /// answers 503 within this bound instead of hanging.
    pub acquire_timeout: Duration,
}

impl Default for PgStoreOptions {
    fn default() -> Self {
        PgStoreOptions {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`) with
    /// the default [`PgStoreOptions`] and brings its schema up to date.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with(url, PgStoreOptions::default()).await
    }

    /// [`PgStore::open`] with pool settings of the caller's.
    pub async fn open_with(url: &str, options: PgStoreOptions) -> Result<Self, StoreError> {
        let connect = connect_options(url)?;
        migrate::run(&connect).await?;
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            // sqlx pings every connection before handing it out: a second round trip per
            // query (a ledger lookup went from ~140 to ~230 µs). A connection idle for a
            // moment is pinged still, so one left broken by a database restart is replaced
            // instead of failing a request; one in steady use has just proved itself (and is
            // pinged again when it goes back to the pool).
            .test_before_acquire(false)
            .before_acquire(|connection, metadata| {
                Box::pin(async move {
                    if metadata.idle_for < IDLE_BEFORE_PING {
                        return Ok(true);
                    }
                    Ok(connection.ping().await.is_ok())
                })
            })
            .connect_with(connect)
            .await
            .map_err(backend)?;
        Ok(PgStore { pool })
    }

    /// Brings the schema of the database at `url` up to date without opening a pool
    /// (`haechi migrate`); returns the schema version reached.
    pub async fn migrate_only(url: &str) -> Result<i64, StoreError> {
        migrate::run(&connect_options(url)?).await
    }

    /// The newest schema version applied to the database (`None` before the first
    /// migration).
    pub async fn schema_version(&self) -> Result<Option<i64>, StoreError> {
        migrate::applied_version(&self.pool).await
    }

    /// The newest schema version this build knows.
    pub fn latest_schema_version() -> i64 {
        migrate::LATEST_VERSION
    }

    /// Whether the database answers (readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// Closes the pool: waits for the connections in use to come back, then closes them all.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The connection pool, for the cluster's other PostgreSQL parts (shared state, change
    /// notification) that live beside this store and share its connections.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// The connection options of `url`, with the session settings Haechi relies on. A URL that
/// does not parse is refused with a message that does not repeat it (it may hold a password).
fn connect_options(url: &str) -> Result<PgConnectOptions, StoreError> {
    let options = PgConnectOptions::from_str(url).map_err(|error| {
        // The parse errors name the part at fault (port, UTF-8, ssl mode), never its text.
        StoreError::Backend(format!(
            "the PostgreSQL URL {} is not valid: {error}",
            redact_url(url)
        ))
    })?;
    Ok(options
        .application_name("haechi")
        // Durable on return: a server (or role) default of `off` would acknowledge a token's
        // ledger entry before it is on disk.
        .options([("synchronous_commit", "on")]))
}

/// `url` without its password (and without its query, where a `password=` may hide), for
/// messages and logs: `postgres://haechi@db.internal:5432/haechi`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "(a URL without a scheme)".to_string();
    };
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let (authority, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((user_info, host)) => {
            let user = user_info.split(':').next().unwrap_or("");
            format!("{user}@{host}")
        }
        None => authority.to_string(),
    };
    format!("{scheme}://{authority}{path}")
}

/// Maps a sqlx error to the domain's storage error, keeping uniqueness violations apart.
/// PostgreSQL's messages name the constraint, never the statement or the values (those are
/// in the error's detail, which is dropped).
pub(crate) fn backend(error: sqlx::Error) -> StoreError {
    match error {
        sqlx::Error::Database(database) if database.is_unique_violation() => {
            StoreError::Conflict(database.message().to_string())
        }
        sqlx::Error::Database(database) => StoreError::Backend(format!(
            "PostgreSQL refused: {} (SQLSTATE {})",
            database.message(),
            database.code().as_deref().unwrap_or("unknown")
        )),
        error => StoreError::Backend(error.to_string()),
    }
}

/// Opens one connection outside any pool (the migration's, which holds the advisory lock and
/// is closed after, so the lock can never linger in a pooled connection).
async fn single_connection(options: &PgConnectOptions) -> Result<sqlx::PgConnection, StoreError> {
    sqlx::PgConnection::connect_with(options)
        .await
        .map_err(backend)
}

/// Closes a connection, ignoring a failure (the server drops a broken one by itself).
async fn close_quietly(connection: sqlx::PgConnection) {
    let _ = connection.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redacted_url_keeps_user_host_and_database_but_no_password() {
        let check = |url: &str, want: &str| assert_eq!(redact_url(url), want, "{url}");
        check(
            "postgres://haechi:s3cret@db:5432/haechi",
            "postgres://haechi@db:5432/haechi",
        );
        check(
            "postgres://haechi@127.0.0.1:54329/postgres?password=s3cret",
            "postgres://haechi@127.0.0.1:54329/postgres",
        );
        check("postgresql://db/haechi", "postgresql://db/haechi");
        check("postgres://u:p@a@b/c", "postgres://u@b/c");
        check("not a url", "(a URL without a scheme)");
    }

    #[test]
    fn a_url_that_does_not_parse_is_refused_without_repeating_its_password() {
        let error = connect_options("postgres://haechi:s3cret@db:notaport/haechi").unwrap_err();
        let text = error.to_string();
        assert!(!text.contains("s3cret"), "{text}");
        assert!(
            text.contains("postgres://haechi@db:notaport/haechi"),
            "{text}"
        );
    }
}
