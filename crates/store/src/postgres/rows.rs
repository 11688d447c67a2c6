//! Reading columns of PostgreSQL rows into domain values, in the encodings the SQLite store
//! uses (times as microseconds, principals as their text, hashes as exact-length bytes).

use haechi_events::{Principal, StoreError, Timestamp};
use sqlx::Row as _;
use sqlx::postgres::PgRow;

use super::backend;

/// A time as stored.
pub(super) fn micros(time: Timestamp) -> i64 {
    time.as_micros()
}

/// An optional time as stored.
pub(super) fn optional_micros(time: Option<Timestamp>) -> Option<i64> {
    time.map(Timestamp::as_micros)
}

/// A `BIGINT` time column.
pub(super) fn timestamp(row: &PgRow, column: &str) -> Result<Timestamp, StoreError> {
    let micros: i64 = row.try_get(column).map_err(backend)?;
    Ok(Timestamp::from_micros(micros))
}

/// A nullable `BIGINT` time column.
pub(super) fn optional_timestamp(
    row: &PgRow,
    column: &str,
) -> Result<Option<Timestamp>, StoreError> {
    let micros: Option<i64> = row.try_get(column).map_err(backend)?;
    Ok(micros.map(Timestamp::from_micros))
}

/// A `TEXT` column.
pub(super) fn text(row: &PgRow, column: &str) -> Result<String, StoreError> {
    row.try_get(column).map_err(backend)
}

/// A nullable `TEXT` column.
pub(super) fn optional_text(row: &PgRow, column: &str) -> Result<Option<String>, StoreError> {
    row.try_get(column).map_err(backend)
}

/// A `BYTEA` column.
pub(super) fn bytes(row: &PgRow, column: &str) -> Result<Vec<u8>, StoreError> {
    row.try_get(column).map_err(backend)
}

/// A `BYTEA` column that holds a SHA-256 or HMAC-SHA-256.
pub(super) fn hash32(row: &PgRow, column: &str) -> Result<[u8; 32], StoreError> {
    let bytes = bytes(row, column)?;
    bytes
        .as_slice()
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("{column} is not 32 bytes")))
}

/// A principal from its text.
pub(super) fn parse_principal(text: &str) -> Result<Principal, StoreError> {
    text.parse()
        .map_err(|error: haechi_events::PrincipalParseError| StoreError::Corrupt(error.to_string()))
}

/// A `TEXT` column holding a principal.
pub(super) fn principal(row: &PgRow, column: &str) -> Result<Principal, StoreError> {
    parse_principal(&text(row, column)?)
}

/// A nullable `TEXT` column holding a principal.
pub(super) fn optional_principal(
    row: &PgRow,
    column: &str,
) -> Result<Option<Principal>, StoreError> {
    optional_text(row, column)?
        .as_deref()
        .map(parse_principal)
        .transpose()
}

/// A count or a line number as stored (`BIGINT`), saturating where it would not fit.
pub(super) fn to_bigint(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A stored count back, zero where it is negative (a corrupt row counts nothing).
pub(super) fn from_bigint(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

impl crate::columns::Columns for PgRow {
    fn text(&self, name: &str) -> Result<String, StoreError> {
        self.try_get(name).map_err(backend)
    }
    fn optional_text(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.try_get(name).map_err(backend)
    }
    fn integer(&self, name: &str) -> Result<i64, StoreError> {
        self.try_get(name).map_err(backend)
    }
    fn optional_integer(&self, name: &str) -> Result<Option<i64>, StoreError> {
        self.try_get(name).map_err(backend)
    }
}
