//! Storage backends for Haechi.
//!
//! The domain crates define what they keep as traits (`haechi_token::AuthorityStore`, …) and
//! never see SQL. This crate implements those traits twice with sqlx: over one SQLite file
//! ([`SqliteStore`], the embedded default) and over a PostgreSQL database shared by a
//! cluster's nodes ([`PgStore`], `postgres/`). Both give the same answers to the same calls;
//! `tests/conformance/` runs one suite against each.
//!
//! [`transfer`] moves an embedded deployment's store into PostgreSQL (`haechi migrate`): every
//! table, resumable and idempotent, refusing to merge, compared table by table at the end.
//!
//! Durability: SQLite runs in WAL mode with `synchronous = FULL`, so a write has reached the
//! disk when its `await` returns — the token authority relies on that to record a token before
//! handing it out. `secure_delete` is on, so deleted rows (shredded data keys) are overwritten
//! rather than left in free pages.

#![forbid(unsafe_code)]

mod authority;
mod check_tags;
mod columns;
mod containment;
mod incidents;
mod leak;
mod notices;
mod policy_file;
mod postgres;
mod rule_sets;
mod sqlite;
mod statements;
mod store;
pub mod transfer;
mod vault;
mod watch_ledger;

pub use policy_file::{KEPT_VERSIONS, PolicyFiles};
pub use postgres::{Leadership, PgStore, PgStoreOptions, StoredPolicy, redact_url};
pub use sqlite::SqliteStore;
pub use store::Store;
