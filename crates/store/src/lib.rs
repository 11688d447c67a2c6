//! Storage backends for Haechi.
//!
//! The domain crates define what they keep as traits (`haechi_token::AuthorityStore`, …) and
//! never see SQL. This crate implements those traits over SQLite files with sqlx; a PostgreSQL
//! backend implements the same traits beside it.
//!
//! Durability: SQLite runs in WAL mode with `synchronous = FULL`, so a write has reached the
//! disk when its `await` returns — the token authority relies on that to record a token before
//! handing it out. `secure_delete` is on, so deleted rows (shredded data keys) are overwritten
//! rather than left in free pages.

#![forbid(unsafe_code)]

mod authority;
mod containment;
mod leak;
mod policy_file;
mod sqlite;
mod store;
mod vault;

pub use policy_file::{KEPT_VERSIONS, PolicyFiles};
pub use sqlite::SqliteStore;
pub use store::Store;
