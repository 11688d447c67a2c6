//! The SQLite database: opening, pragmas, schema.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use haechi_events::StoreError;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// Haechi's state in one SQLite database file (plus its WAL).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pub(crate) pool: SqlitePool,
}

/// Schema migrations, applied in order; the index is the version reached.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    algorithm TEXT NOT NULL,
    state TEXT NOT NULL,
    origin TEXT NOT NULL,
    public_jwk TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    activated_at INTEGER,
    retiring_at INTEGER,
    verify_until INTEGER,
    ended_at INTEGER,
    wrapped_private_key BLOB NOT NULL
);
CREATE TABLE secrets (
    name TEXT PRIMARY KEY,
    wrapped BLOB NOT NULL
);
CREATE TABLE sessions (
    sid TEXT PRIMARY KEY,
    principal TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER,
    revoke_reason TEXT
);
CREATE INDEX sessions_expiry ON sessions (expires_at);
CREATE TABLE issued_tokens (
    token_hash BLOB PRIMARY KEY,
    jti TEXT NOT NULL,
    sid TEXT NOT NULL,
    kid TEXT NOT NULL,
    principal TEXT NOT NULL,
    scope TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX issued_tokens_kid ON issued_tokens (kid, expires_at);
CREATE INDEX issued_tokens_expiry ON issued_tokens (expires_at);
CREATE TABLE refresh_tokens (
    token_hash BLOB PRIMARY KEY,
    sid TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    spent_at INTEGER
);
CREATE INDEX refresh_tokens_expiry ON refresh_tokens (expires_at);
CREATE TABLE accounts (
    customer_id TEXT PRIMARY KEY,
    password_hash TEXT,
    created_at INTEGER NOT NULL
);
CREATE TABLE account_logins (
    login_hash BLOB PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES accounts (customer_id) ON DELETE CASCADE
);
CREATE INDEX account_logins_customer ON account_logins (customer_id);
CREATE TABLE clients (
    client_id TEXT PRIMARY KEY,
    principal TEXT NOT NULL,
    secret_hash BLOB NOT NULL,
    scopes TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    suspended_at INTEGER
);
"#,
    r#"
CREATE TABLE customers (
    customer_id TEXT PRIMARY KEY,
    wrapped_data_key BLOB NOT NULL,
    key_version INTEGER NOT NULL,
    name BLOB,
    email BLOB,
    phone BLOB,
    birth_date BLOB,
    customs_code BLOB,
    addresses BLOB,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE blind_index (
    kind TEXT NOT NULL,
    value INTEGER NOT NULL,
    customer_id TEXT NOT NULL REFERENCES customers (customer_id) ON DELETE CASCADE
);
CREATE INDEX blind_index_lookup ON blind_index (kind, value);
CREATE INDEX blind_index_customer ON blind_index (customer_id);
CREATE TABLE import_progress (
    source TEXT PRIMARY KEY,
    last_line INTEGER NOT NULL
);
"#,
    // Leak watch (issue 8): SHA-1 hashes of normalised identifiers known to be exposed, served
    // by range (`prefix` = the hash's first 20 bits). No identifier and no customer id.
    r#"
CREATE TABLE exposures (
    prefix INTEGER NOT NULL,
    hash BLOB NOT NULL,
    kind TEXT NOT NULL,
    count INTEGER NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (prefix, hash)
) WITHOUT ROWID;
"#,
    // Detection and response (issue 5): network blocks (kept after lifting or expiry, for the
    // record), principal suspensions and alert acknowledgements. Times in µs since the epoch.
    r#"
CREATE TABLE network_blocks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    network TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    reason TEXT NOT NULL,
    rule_id TEXT,
    alert_id TEXT,
    created_by TEXT NOT NULL,
    lifted_at INTEGER,
    lifted_by TEXT
);
CREATE INDEX network_blocks_active ON network_blocks (expires_at) WHERE lifted_at IS NULL;
CREATE TABLE principal_suspensions (
    principal TEXT PRIMARY KEY,
    suspended_at INTEGER NOT NULL,
    reason TEXT NOT NULL,
    rule_id TEXT,
    alert_id TEXT,
    suspended_by TEXT NOT NULL,
    lifted_at INTEGER,
    lifted_by TEXT
);
CREATE TABLE alert_acks (
    alert_id TEXT PRIMARY KEY,
    acknowledged_by TEXT NOT NULL,
    acknowledged_at INTEGER NOT NULL,
    note TEXT
);
"#,
    // Incidents (haechi-incident): the incident as JSON beside the columns listings filter
    // and sort on; the alerts and customers tied to it.
    r#"
CREATE TABLE incidents (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    severity TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX incidents_by_activity ON incidents (last_seen);
CREATE TABLE incident_alerts (
    alert_id TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL
);
CREATE INDEX incident_alerts_by_incident ON incident_alerts (incident_id);
CREATE TABLE incident_customers (
    incident_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    fields TEXT NOT NULL,
    first_seen INTEGER,
    last_seen INTEGER,
    reads INTEGER NOT NULL,
    PRIMARY KEY (incident_id, customer_id)
);
"#,
    // The detection rule set administrators put through the API, every version (the newest
    // ones) kept, the newest in force.
    r#"
CREATE TABLE rule_sets (
    version INTEGER PRIMARY KEY CHECK (version > 0),
    digest TEXT NOT NULL,
    files TEXT NOT NULL
);
"#,
    // The anonymous exposure check: each exposed hash's tag (its truncated PRF output) under
    // the check key named key_id, with the bucket it is served in.
    r#"
CREATE TABLE exposure_check_tags (
    key_id TEXT NOT NULL,
    prefix INTEGER NOT NULL,
    hash BLOB NOT NULL,
    bucket INTEGER NOT NULL,
    tag BLOB NOT NULL,
    PRIMARY KEY (key_id, prefix, hash)
) WITHOUT ROWID;
"#,
    // The portal: a customer's own exposures are found by customer id; incidents' official
    // statements, every published version kept.
    r#"
CREATE INDEX incident_customers_by_customer ON incident_customers (customer_id);
CREATE TABLE incident_statements (
    incident_id TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (version > 0),
    published_at INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (incident_id, version)
);
"#,
    // Breach notices: each run's templates and sender settings (a batch), and the outbox —
    // one row per customer and channel, its facts, state and, once sealed, its code. No
    // personal data and no text: texts are rendered from the batch.
    r#"
CREATE TABLE notice_batches (
    id TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE notices (
    id TEXT PRIMARY KEY,
    batch_id TEXT NOT NULL,
    incident_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    fields TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    sent_at INTEGER,
    last_error TEXT,
    code TEXT,
    recipient_tag TEXT,
    body_digest TEXT,
    sealed_at INTEGER
);
CREATE INDEX notices_due ON notices (next_attempt_at) WHERE state IN ('queued', 'sending');
CREATE INDEX notices_by_code ON notices (code) WHERE code IS NOT NULL;
CREATE INDEX notices_by_customer ON notices (customer_id);
"#,
    // The leak watch's ledger (issue 25): listing entries fetched, digests of items
    // finished, feeds' validators and matches per source and day. Never an item's content.
    r#"
CREATE TABLE leak_watch_fetched (
    source TEXT NOT NULL,
    key TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (source, key)
) WITHOUT ROWID;
CREATE TABLE leak_watch_digests (
    source TEXT NOT NULL,
    digest TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (source, digest)
) WITHOUT ROWID;
CREATE TABLE leak_watch_feeds (
    source TEXT PRIMARY KEY,
    etag TEXT,
    last_modified TEXT
);
CREATE TABLE leak_watch_days (
    source TEXT NOT NULL,
    day TEXT NOT NULL,
    matched INTEGER NOT NULL,
    PRIMARY KEY (source, day)
) WITHOUT ROWID;
CREATE TABLE leak_watch_attempts (
    source TEXT NOT NULL,
    key TEXT NOT NULL,
    failures INTEGER NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (source, key)
) WITHOUT ROWID;
CREATE INDEX leak_watch_fetched_by_time ON leak_watch_fetched (at);
CREATE INDEX leak_watch_digests_by_time ON leak_watch_digests (at);
"#,
];

/// Connections to the database file, all opened at [`SqliteStore::open`].
const CONNECTIONS: u32 = 4;

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let url = format!("sqlite://{}", path.display());
        let options = SqliteConnectOptions::from_str(&url)
            .map_err(backend)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            .pragma("secure_delete", "ON")
            // 64 MiB of page cache per connection instead of SQLite's 2 MiB: imports and reads
            // touch random B-tree pages (ids and index values are random).
            .pragma("cache_size", "-65536");
        // Every connection is opened here, by the caller (the server's start): a SQLite
        // connection is a worker thread, and a thread inherits its creator's scheduling
        // priority. Opened on demand, a connection could be born on the portal's lower-priority
        // threads (`portal.nice`) and then serve the API's queries at that priority. Those the
        // pool retires when idle or old are replaced by its maintenance task, which runs where
        // the pool was made; only one closed for an error is reopened where it was dropped.
        let pool = SqlitePoolOptions::new()
            .max_connections(CONNECTIONS)
            .min_connections(CONNECTIONS)
            .connect_with(options)
            .await
            .map_err(backend)?;
        let store = SqliteStore { pool };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut connection = self.pool.acquire().await.map_err(backend)?;
        sqlx::query("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            .execute(&mut *connection)
            .await
            .map_err(backend)?;
        let current: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_version")
            .fetch_one(&mut *connection)
            .await
            .map_err(backend)?;
        let current = usize::try_from(current.unwrap_or(0)).unwrap_or(0);
        if current > MIGRATIONS.len() {
            return Err(StoreError::Corrupt(format!(
                "the database is at schema version {current}, newer than this Haechi ({})",
                MIGRATIONS.len()
            )));
        }
        for (index, migration) in MIGRATIONS.iter().enumerate().skip(current) {
            let mut transaction = self.pool.begin().await.map_err(backend)?;
            sqlx::raw_sql(*migration)
                .execute(&mut *transaction)
                .await
                .map_err(backend)?;
            sqlx::query("INSERT INTO schema_version (version) VALUES (?)")
                .bind(i64::try_from(index + 1).unwrap_or(i64::MAX))
                .execute(&mut *transaction)
                .await
                .map_err(backend)?;
            transaction.commit().await.map_err(backend)?;
        }
        Ok(())
    }

    /// Checkpoints the WAL into the main file and truncates it (used after shredding, so old
    /// pages do not linger in the WAL).
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// Whether the database answers (readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// Closes the pool, flushing everything.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Maps a sqlx error to the domain's storage error, keeping uniqueness violations apart.
pub(crate) fn backend(error: sqlx::Error) -> StoreError {
    match error {
        sqlx::Error::Database(database) if database.is_unique_violation() => {
            StoreError::Conflict(database.message().to_string())
        }
        error => StoreError::Backend(error.to_string()),
    }
}

impl crate::columns::Columns for sqlx::sqlite::SqliteRow {
    fn text(&self, name: &str) -> Result<String, StoreError> {
        sqlx::Row::try_get(self, name).map_err(backend)
    }
    fn optional_text(&self, name: &str) -> Result<Option<String>, StoreError> {
        sqlx::Row::try_get(self, name).map_err(backend)
    }
    fn integer(&self, name: &str) -> Result<i64, StoreError> {
        sqlx::Row::try_get(self, name).map_err(backend)
    }
    fn optional_integer(&self, name: &str) -> Result<Option<i64>, StoreError> {
        sqlx::Row::try_get(self, name).map_err(backend)
    }
}
