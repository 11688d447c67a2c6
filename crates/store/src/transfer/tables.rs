//! What moves: every table of the embedded store, column by column, in an order that
//! satisfies the foreign keys; and what deliberately does not.
//!
//! `tests/transfer/tables.rs` compares this list with the tables and columns both schemas
//! really have, so a table or column added to either schema without a line here fails the
//! tests instead of being left behind by `haechi migrate`.

/// How a column's values are read, compared and bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColumnKind {
    /// `INTEGER` in SQLite, `BIGINT` (or `INTEGER`) in PostgreSQL; read as `i64`.
    Integer,
    /// `TEXT` in both.
    Text,
    /// `BLOB` in SQLite, `BYTEA` in PostgreSQL.
    Bytes,
}

/// One column that moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Column {
    /// Its name, the same in both schemas.
    pub name: &'static str,
    /// Its type.
    pub kind: ColumnKind,
}

/// Where a table's rows come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The SQLite table of the same name.
    Sqlite,
    /// The policy files (`policy.toml`, `policy.d/<version>.toml`): the embedded store keeps
    /// policy versions as files, the cluster as rows.
    PolicyFiles,
}

/// A table whose rows have no key of their own and move with their parent's rows, in the
/// same transaction: a parent already in the target must have exactly the same children.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Parent {
    /// The parent table (moved before, with these rows in its batches).
    pub table: &'static str,
    /// The column naming the parent (its one key column, of the same name there).
    pub column: &'static str,
}

/// One table that moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Table {
    /// Its name, the same in both schemas.
    pub name: &'static str,
    /// Every column that moves, key columns first.
    pub columns: &'static [Column],
    /// The primary key's columns (the first `key` of `columns`); 0 for a table moved with its
    /// parent ([`Table::parent`]).
    pub key: usize,
    /// Where the rows come from.
    pub origin: Origin,
    /// A PostgreSQL identity column whose values are copied as they are (they are named
    /// elsewhere: a block is lifted by its id), after which its sequence is moved past them.
    pub identity: Option<&'static str>,
    /// Set for a table moved with its parent's rows.
    pub parent: Option<Parent>,
    /// PostgreSQL columns that do not move, with the reason (filled in by the target).
    pub target_only: &'static [&'static str],
}

impl Table {
    /// The key columns.
    pub fn key_columns(&self) -> &'static [Column] {
        &self.columns[..self.key]
    }

    /// The columns a digest orders rows by: the key, or every column for a table without one.
    pub fn order_columns(&self) -> &'static [Column] {
        if self.key == 0 {
            self.columns
        } else {
            self.key_columns()
        }
    }
}

const fn integer(name: &'static str) -> Column {
    Column {
        name,
        kind: ColumnKind::Integer,
    }
}

const fn text(name: &'static str) -> Column {
    Column {
        name,
        kind: ColumnKind::Text,
    }
}

const fn bytes(name: &'static str) -> Column {
    Column {
        name,
        kind: ColumnKind::Bytes,
    }
}

/// A table of the SQLite store with a key, moved as it is.
const fn plain(name: &'static str, columns: &'static [Column], key: usize) -> Table {
    Table {
        name,
        columns,
        key,
        origin: Origin::Sqlite,
        identity: None,
        parent: None,
        target_only: &[],
    }
}

/// Every table that moves, parents before children (the order of the foreign keys).
pub(crate) const TABLES: &[Table] = &[
    // The token authority. Signing keys and secrets move still wrapped under the master key:
    // their bytes are copied, never opened.
    plain(
        "signing_keys",
        &[
            text("kid"),
            text("algorithm"),
            text("state"),
            text("origin"),
            text("public_jwk"),
            integer("created_at"),
            integer("activated_at"),
            integer("retiring_at"),
            integer("verify_until"),
            integer("ended_at"),
            bytes("wrapped_private_key"),
        ],
        1,
    ),
    plain("secrets", &[text("name"), bytes("wrapped")], 1),
    plain(
        "sessions",
        &[
            text("sid"),
            text("principal"),
            integer("created_at"),
            integer("expires_at"),
            integer("revoked_at"),
            text("revoke_reason"),
        ],
        1,
    ),
    plain(
        "issued_tokens",
        &[
            bytes("token_hash"),
            text("jti"),
            text("sid"),
            text("kid"),
            text("principal"),
            text("scope"),
            integer("issued_at"),
            integer("expires_at"),
            integer("revoked_at"),
        ],
        1,
    ),
    plain(
        "refresh_tokens",
        &[
            bytes("token_hash"),
            text("sid"),
            integer("issued_at"),
            integer("expires_at"),
            integer("spent_at"),
        ],
        1,
    ),
    plain(
        "accounts",
        &[
            text("customer_id"),
            text("password_hash"),
            integer("created_at"),
        ],
        1,
    ),
    plain(
        "account_logins",
        &[bytes("login_hash"), text("customer_id")],
        1,
    ),
    plain(
        "clients",
        &[
            text("client_id"),
            text("principal"),
            bytes("secret_hash"),
            text("scopes"),
            integer("created_at"),
            integer("suspended_at"),
        ],
        1,
    ),
    // The vault: sealed records (ciphertext and wrapped data keys, copied as bytes) and their
    // blind-index entries, which have no key of their own and move with their record.
    Table {
        target_only: &["record_ref"],
        ..plain(
            "customers",
            &[
                text("customer_id"),
                bytes("wrapped_data_key"),
                integer("key_version"),
                bytes("name"),
                bytes("email"),
                bytes("phone"),
                bytes("birth_date"),
                bytes("customs_code"),
                bytes("addresses"),
                integer("created_at"),
                integer("updated_at"),
            ],
            1,
        )
    },
    Table {
        parent: Some(Parent {
            table: "customers",
            column: "customer_id",
        }),
        ..plain(
            "blind_index",
            &[text("customer_id"), text("kind"), integer("value")],
            0,
        )
    },
    plain(
        "import_progress",
        &[text("source"), integer("last_line")],
        1,
    ),
    // Leak watch.
    plain(
        "exposures",
        &[
            integer("prefix"),
            bytes("hash"),
            text("kind"),
            integer("count"),
            integer("first_seen"),
            integer("last_seen"),
        ],
        2,
    ),
    // The exposure check's tags: derived, but minutes of PRF evaluations to recompute.
    plain(
        "exposure_check_tags",
        &[
            text("key_id"),
            integer("prefix"),
            bytes("hash"),
            integer("bucket"),
            bytes("tag"),
        ],
        3,
    ),
    // Containment: blocks keep their ids (an administrator lifts a block by id, and the audit
    // trail names it).
    Table {
        identity: Some("id"),
        ..plain(
            "network_blocks",
            &[
                integer("id"),
                text("network"),
                integer("created_at"),
                integer("expires_at"),
                text("reason"),
                text("rule_id"),
                text("alert_id"),
                text("created_by"),
                integer("lifted_at"),
                text("lifted_by"),
            ],
            1,
        )
    },
    plain(
        "principal_suspensions",
        &[
            text("principal"),
            integer("suspended_at"),
            text("reason"),
            text("rule_id"),
            text("alert_id"),
            text("suspended_by"),
            integer("lifted_at"),
            text("lifted_by"),
        ],
        1,
    ),
    plain(
        "alert_acks",
        &[
            text("alert_id"),
            text("acknowledged_by"),
            integer("acknowledged_at"),
            text("note"),
        ],
        1,
    ),
    plain(
        "incidents",
        &[
            text("id"),
            text("state"),
            text("severity"),
            integer("first_seen"),
            integer("last_seen"),
            integer("updated_at"),
            text("body"),
        ],
        1,
    ),
    plain(
        "incident_alerts",
        &[text("alert_id"), text("incident_id")],
        1,
    ),
    plain(
        "incident_customers",
        &[
            text("incident_id"),
            text("customer_id"),
            text("fields"),
            integer("first_seen"),
            integer("last_seen"),
            integer("reads"),
        ],
        2,
    ),
    plain(
        "incident_statements",
        &[
            text("incident_id"),
            integer("version"),
            integer("published_at"),
            text("body"),
        ],
        2,
    ),
    plain(
        "notice_batches",
        &[
            text("id"),
            text("incident_id"),
            integer("created_at"),
            text("body"),
        ],
        1,
    ),
    plain(
        "notices",
        &[
            text("id"),
            text("batch_id"),
            text("incident_id"),
            text("customer_id"),
            text("channel"),
            text("fields"),
            integer("first_seen"),
            integer("last_seen"),
            text("state"),
            integer("attempts"),
            integer("next_attempt_at"),
            integer("created_at"),
            integer("sent_at"),
            text("last_error"),
            text("code"),
            text("recipient_tag"),
            text("body_digest"),
            integer("sealed_at"),
        ],
        1,
    ),
    plain(
        "rule_sets",
        &[integer("version"), text("digest"), text("files")],
        1,
    ),
    // The leak watch's ledger: a cluster's watch resumes where the node's left off.
    plain(
        "leak_watch_fetched",
        &[text("source"), text("key"), integer("at")],
        2,
    ),
    plain(
        "leak_watch_digests",
        &[text("source"), text("digest"), integer("at")],
        2,
    ),
    plain(
        "leak_watch_feeds",
        &[text("source"), text("etag"), text("last_modified")],
        1,
    ),
    plain(
        "leak_watch_days",
        &[text("source"), text("day"), integer("matched")],
        2,
    ),
    plain(
        "leak_watch_attempts",
        &[
            text("source"),
            text("key"),
            integer("failures"),
            integer("at"),
        ],
        2,
    ),
    // The access policy's versions, from the files.
    Table {
        origin: Origin::PolicyFiles,
        ..plain(
            "policy_versions",
            &[integer("version"), text("digest"), text("text")],
            1,
        )
    },
];

/// SQLite tables that do not move, each with the reason.
pub(crate) const SQLITE_ONLY: &[(&str, &str)] = &[
    (
        "schema_version",
        "the embedded store's own migration bookkeeping; PostgreSQL has its own",
    ),
    (
        "sqlite_sequence",
        "SQLite's AUTOINCREMENT counters; block ids move and the identity is moved past them",
    ),
];

/// PostgreSQL tables that are not filled from the embedded store, each with the reason.
pub(crate) const POSTGRES_ONLY: &[(&str, &str)] = &[
    (
        "haechi_schema_migrations",
        "the cluster store's migration bookkeeping",
    ),
    (
        "embedded_transfers",
        "the record of this move itself (which deployment, when, where its audit history is)",
    ),
    (
        "haechi_changes",
        "the cluster's change log: decisions nodes make from now on, nothing an embedded \
         deployment has to tell (its state moves whole)",
    ),
    (
        "distinct_reads",
        "the cluster's shared budgets; an embedded node keeps its budgets in memory, rebuilt \
         from its own log, so services start the cluster with fresh windows",
    ),
    (
        "lookup_misses",
        "the cluster's lookup-miss limit; an embedded node counts misses in memory and forgets \
         them at restart, so services start the cluster with a fresh minute",
    ),
    (
        "lookup_buckets",
        "the cluster's ten-minute lookup statistics; an embedded node keeps them in memory \
         only, so the lookup rules start the cluster from zero",
    ),
    (
        "sign_in_attempts",
        "the cluster's sign-in limits; an embedded node counts attempts in memory and forgets \
         them at restart, so sources and accounts start the cluster with fresh windows",
    ),
];
