//! `VaultStore` over PostgreSQL: sealed customer records, their blind-index entries, the
//! login identifiers a changed record carries along, and bulk import.
//!
//! A record and its index entries change in one statement (data-modifying CTEs), which
//! PostgreSQL runs as one transaction: one round trip per write instead of five. Many-row
//! paths bind whole columns as arrays and `UNNEST` them, so a batch is a handful of
//! statements however many customers it holds. The bulk reads for leak matching are in
//! `bulk.rs`.

use std::collections::{BTreeMap, HashMap, HashSet};

use async_trait::async_trait;
use haechi_events::{Change, StoreError, Timestamp};
use haechi_vault::{
    BlindIndexSnapshot, EncryptedRecord, IdentifyingRecord, ImportItem, IndexEntry, RecordRef,
    VaultStore,
};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row as _};

use super::rows::{from_bigint, to_bigint};
use super::{PgStore, backend};

/// The encrypted field columns, in the order of the `customers` table.
pub(super) const FIELD_COLUMNS: [&str; 6] = [
    "name",
    "email",
    "phone",
    "birth_date",
    "customs_code",
    "addresses",
];

/// Customers per multi-row statement of a bulk import (each statement's arrays stay a few
/// megabytes).
const IMPORT_CHUNK: usize = 5_000;

/// A record, its old index entries replaced by `$12`/`$13`, in one statement. `$1`..`$11` are
/// the record's columns. The DELETE sees the entries as they were before the statement, so it
/// never removes the ones the last CTE adds.
const WRITE_RECORD: &str = "WITH record AS (INSERT INTO customers (customer_id, \
     wrapped_data_key, key_version, name, email, phone, birth_date, customs_code, addresses, \
     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING 1), \
     old AS (DELETE FROM blind_index WHERE customer_id = $1) \
     INSERT INTO blind_index (kind, value, customer_id) \
     SELECT kind, value, $1 FROM UNNEST($12::text[], $13::bigint[]) AS given (kind, value)";

/// [`WRITE_RECORD`] that replaces a record of the same id (every column, as SQLite's
/// `INSERT OR REPLACE` does), keeping its `record_ref`.
const REPLACE_RECORD: &str = "WITH record AS (INSERT INTO customers (customer_id, \
     wrapped_data_key, key_version, name, email, phone, birth_date, customs_code, addresses, \
     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
     ON CONFLICT (customer_id) DO UPDATE SET wrapped_data_key = EXCLUDED.wrapped_data_key, \
     key_version = EXCLUDED.key_version, name = EXCLUDED.name, email = EXCLUDED.email, \
     phone = EXCLUDED.phone, birth_date = EXCLUDED.birth_date, \
     customs_code = EXCLUDED.customs_code, addresses = EXCLUDED.addresses, \
     created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at RETURNING 1), \
     old AS (DELETE FROM blind_index WHERE customer_id = $1) \
     INSERT INTO blind_index (kind, value, customer_id) \
     SELECT kind, value, $1 FROM UNNEST($12::text[], $13::bigint[]) AS given (kind, value)";

/// A whole record from a row with the `customers` columns (`record_ref` need not be one).
pub(super) fn record_from_row(row: &PgRow) -> Result<EncryptedRecord, StoreError> {
    let mut fields = BTreeMap::new();
    for column in FIELD_COLUMNS {
        let value: Option<Vec<u8>> = row.try_get(column).map_err(backend)?;
        if let Some(value) = value {
            fields.insert(column.to_string(), value);
        }
    }
    let version: i64 = row.try_get("key_version").map_err(backend)?;
    Ok(EncryptedRecord {
        customer_id: row.try_get("customer_id").map_err(backend)?,
        wrapped_data_key: row.try_get("wrapped_data_key").map_err(backend)?,
        key_version: u32::try_from(version)
            .map_err(|_| StoreError::Corrupt("key_version out of range".into()))?,
        fields,
        created_at: Timestamp::from_micros(row.try_get("created_at").map_err(backend)?),
        updated_at: Timestamp::from_micros(row.try_get("updated_at").map_err(backend)?),
    })
}

/// Writes a record and its index entries ([`WRITE_RECORD`] or [`REPLACE_RECORD`]).
async fn write_record<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    sql: &'static str,
    record: &EncryptedRecord,
    indexes: &[IndexEntry],
) -> Result<(), StoreError> {
    let field = |name: &str| record.fields.get(name).map(Vec::as_slice);
    let kinds: Vec<&str> = indexes.iter().map(|entry| entry.kind.as_str()).collect();
    let values: Vec<i64> = indexes.iter().map(|entry| entry.value).collect();
    sqlx::query(sql)
        .bind(&record.customer_id)
        .bind(&record.wrapped_data_key)
        .bind(i64::from(record.key_version))
        .bind(field("name"))
        .bind(field("email"))
        .bind(field("phone"))
        .bind(field("birth_date"))
        .bind(field("customs_code"))
        .bind(field("addresses"))
        .bind(record.created_at.as_micros())
        .bind(record.updated_at.as_micros())
        .bind(kinds)
        .bind(values)
        .execute(executor)
        .await
        .map_err(backend)?;
    Ok(())
}

#[async_trait]
impl VaultStore for PgStore {
    async fn insert_record(
        &self,
        record: &EncryptedRecord,
        indexes: &[IndexEntry],
    ) -> Result<(), StoreError> {
        write_record(&self.pool, WRITE_RECORD, record, indexes).await
    }

    async fn replace_record(
        &self,
        record: &EncryptedRecord,
        indexes: &[IndexEntry],
    ) -> Result<(), StoreError> {
        let mut transaction = self.pool.begin().await.map_err(backend)?;
        write_record(&mut *transaction, REPLACE_RECORD, record, indexes).await?;
        record_changed(&mut transaction, &record.customer_id).await?;
        transaction.commit().await.map_err(backend)
    }

    async fn replace_record_and_logins(
        &self,
        record: &EncryptedRecord,
        indexes: &[IndexEntry],
        login_hashes: &[[u8; 32]],
    ) -> Result<(), StoreError> {
        let hashes: Vec<&[u8]> = login_hashes.iter().map(|hash| hash.as_slice()).collect();
        let mut transaction = self.pool.begin().await.map_err(backend)?;
        let held_by_another: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM account_logins \
             WHERE login_hash = ANY($1::bytea[]) AND customer_id <> $2)",
        )
        .bind(&hashes)
        .bind(&record.customer_id)
        .fetch_one(&mut *transaction)
        .await
        .map_err(backend)?;
        if held_by_another {
            // Dropping the transaction rolls it back: nothing changed.
            return Err(StoreError::Conflict(
                "this e-mail or phone belongs to another account".into(),
            ));
        }
        write_record(&mut *transaction, REPLACE_RECORD, record, indexes).await?;
        let has_account: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM accounts WHERE customer_id = $1)")
                .bind(&record.customer_id)
                .fetch_one(&mut *transaction)
                .await
                .map_err(backend)?;
        if has_account {
            sqlx::query("DELETE FROM account_logins WHERE customer_id = $1")
                .bind(&record.customer_id)
                .execute(&mut *transaction)
                .await
                .map_err(backend)?;
            // Another node may have given one of these to another account since the check
            // above: the unique key refuses it (a Conflict) and the rollback undoes the rest.
            sqlx::query(
                "INSERT INTO account_logins (login_hash, customer_id) \
                 SELECT hash, $2 FROM UNNEST($1::bytea[]) AS hash",
            )
            .bind(&hashes)
            .bind(&record.customer_id)
            .execute(&mut *transaction)
            .await
            .map_err(backend)?;
        }
        record_changed(&mut transaction, &record.customer_id).await?;
        transaction.commit().await.map_err(backend)
    }

    async fn record(&self, customer_id: &str) -> Result<Option<EncryptedRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT customer_id, wrapped_data_key, key_version, name, email, phone, birth_date, \
             customs_code, addresses, created_at, updated_at FROM customers WHERE customer_id = $1",
        )
        .bind(customer_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.as_ref().map(record_from_row).transpose()
    }

    async fn records(&self, customer_ids: &[String]) -> Result<Vec<EncryptedRecord>, StoreError> {
        // One query for the batch; the answer is put back in the order asked (an id asked
        // twice comes back twice), as SQLite's one-lookup-per-id does.
        let rows = sqlx::query(
            "SELECT customer_id, wrapped_data_key, key_version, name, email, phone, birth_date, \
             customs_code, addresses, created_at, updated_at FROM customers \
             WHERE customer_id = ANY($1::text[])",
        )
        .bind(customer_ids)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        let mut found: HashMap<String, EncryptedRecord> = HashMap::with_capacity(rows.len());
        for row in &rows {
            let record = record_from_row(row)?;
            found.insert(record.customer_id.clone(), record);
        }
        Ok(customer_ids
            .iter()
            .filter_map(|id| found.get(id).cloned())
            .collect())
    }

    async fn candidates(&self, entry: IndexEntry) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar(
            "SELECT customer_id FROM blind_index WHERE kind = $1 AND value = $2 \
             ORDER BY customer_id",
        )
        .bind(entry.kind.as_str())
        .bind(entry.value)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)
    }

    async fn candidates_of_many(
        &self,
        entries: &[IndexEntry],
    ) -> Result<Vec<Vec<String>>, StoreError> {
        super::bulk::candidates_of_many(self, entries).await
    }

    async fn records_in_bulk(
        &self,
        customer_ids: &[String],
    ) -> Result<Vec<EncryptedRecord>, StoreError> {
        super::bulk::records_in_bulk(self, customer_ids).await
    }

    async fn blind_index_snapshot(&self) -> Result<Option<BlindIndexSnapshot>, StoreError> {
        super::bulk::blind_index_snapshot(self).await.map(Some)
    }

    async fn records_by_ref(
        &self,
        records: &[RecordRef],
    ) -> Result<Vec<(RecordRef, EncryptedRecord)>, StoreError> {
        super::bulk::records_by_ref(self, records).await
    }

    async fn record_span(&self) -> Result<Option<(RecordRef, RecordRef)>, StoreError> {
        super::bulk::record_span(self).await
    }

    async fn identifying_records_between(
        &self,
        first: RecordRef,
        last: RecordRef,
    ) -> Result<Vec<IdentifyingRecord>, StoreError> {
        super::bulk::identifying_records_between(self, first, last).await
    }

    async fn shred(&self, customer_id: &str) -> Result<bool, StoreError> {
        // The record; its index entries go by the foreign key's cascade. (The login account
        // is the authority's: `AuthorityStore::delete_account`, called first by erasure.)
        //
        // What PostgreSQL cannot promise: the deleted row versions stay in the table's pages
        // until vacuum reuses the space, and in the write-ahead log (and any WAL archive or
        // base backup) until those are recycled. The wrapped data key in them opens nothing
        // without the master key, which is never in the database; an operator who must also
        // erase those copies limits WAL archive and backup retention (docs/postgres-store.md).
        let mut transaction = self.pool.begin().await.map_err(backend)?;
        let deleted = sqlx::query("DELETE FROM customers WHERE customer_id = $1")
            .bind(customer_id)
            .execute(&mut *transaction)
            .await
            .map_err(backend)?
            .rows_affected();
        if deleted > 0 {
            record_changed(&mut transaction, customer_id).await?;
        }
        transaction.commit().await.map_err(backend)?;
        Ok(deleted > 0)
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM customers")
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?;
        Ok(from_bigint(count))
    }

    async fn wrapped_keys(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        sqlx::query_as(
            "SELECT customer_id, wrapped_data_key FROM customers WHERE customer_id > $1 \
             ORDER BY customer_id LIMIT $2",
        )
        .bind(after.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)
    }

    async fn rewrap_keys(&self, keys: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        let (ids, wrapped): (Vec<&str>, Vec<&[u8]>) = keys
            .iter()
            .map(|(id, wrapped)| (id.as_str(), wrapped.as_slice()))
            .unzip();
        let mut transaction = self.pool.begin().await.map_err(backend)?;
        sqlx::query(
            "UPDATE customers SET wrapped_data_key = given.wrapped \
             FROM UNNEST($1::text[], $2::bytea[]) AS given (customer_id, wrapped) \
             WHERE customers.customer_id = given.customer_id",
        )
        .bind(ids)
        .bind(wrapped)
        .execute(&mut *transaction)
        .await
        .map_err(backend)?;
        // One entry per batch, not per key: nodes forget every cached record.
        super::changes::append(&mut transaction, &Change::RecordsRewrapped).await?;
        transaction.commit().await.map_err(backend)
    }

    async fn import_batch(
        &self,
        source: &str,
        last_line: u64,
        items: &[ImportItem],
    ) -> Result<Vec<bool>, StoreError> {
        let mut transaction = self.pool.begin().await.map_err(backend)?;
        let taken = taken_logins(&mut transaction, items).await?;
        let (inserted, accepted) = crate::vault::accept_new_logins(items, taken);
        for chunk in accepted.chunks(IMPORT_CHUNK) {
            insert_accounts(&mut transaction, chunk).await?;
            insert_records(&mut transaction, chunk).await?;
        }
        sqlx::query(
            "INSERT INTO import_progress (source, last_line) VALUES ($1, $2) \
             ON CONFLICT (source) DO UPDATE SET last_line = EXCLUDED.last_line",
        )
        .bind(source)
        .bind(to_bigint(last_line))
        .execute(&mut *transaction)
        .await
        .map_err(backend)?;
        transaction.commit().await.map_err(backend)?;
        Ok(inserted)
    }

    async fn import_progress(&self, source: &str) -> Result<Option<u64>, StoreError> {
        let line: Option<i64> =
            sqlx::query_scalar("SELECT last_line FROM import_progress WHERE source = $1")
                .bind(source)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
        Ok(line.and_then(|line| u64::try_from(line).ok()))
    }
}

/// The login hashes among `items`' that an account already holds: one query.
async fn taken_logins(
    connection: &mut PgConnection,
    items: &[ImportItem],
) -> Result<HashSet<Vec<u8>>, StoreError> {
    let hashes: Vec<&[u8]> = items
        .iter()
        .flat_map(|item| item.account.login_hashes.iter().map(|hash| hash.as_slice()))
        .collect();
    let taken: Vec<Vec<u8>> = sqlx::query_scalar(
        "SELECT login_hash FROM account_logins WHERE login_hash = ANY($1::bytea[])",
    )
    .bind(hashes)
    .fetch_all(&mut *connection)
    .await
    .map_err(backend)?;
    Ok(taken.into_iter().collect())
}

/// The login accounts of a chunk of accepted items: one statement per table.
async fn insert_accounts(
    connection: &mut PgConnection,
    chunk: &[&ImportItem],
) -> Result<(), StoreError> {
    let ids: Vec<&str> = chunk
        .iter()
        .map(|item| item.account.customer_id.as_str())
        .collect();
    let passwords: Vec<Option<&str>> = chunk
        .iter()
        .map(|item| item.account.password_hash.as_deref())
        .collect();
    let created: Vec<i64> = chunk
        .iter()
        .map(|item| item.account.created_at.as_micros())
        .collect();
    sqlx::query(
        "INSERT INTO accounts (customer_id, password_hash, created_at) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[])",
    )
    .bind(ids)
    .bind(passwords)
    .bind(created)
    .execute(&mut *connection)
    .await
    .map_err(backend)?;
    let (hashes, owners): (Vec<&[u8]>, Vec<&str>) = chunk
        .iter()
        .flat_map(|item| {
            item.account
                .login_hashes
                .iter()
                .map(|hash| (hash.as_slice(), item.account.customer_id.as_str()))
        })
        .unzip();
    sqlx::query(
        "INSERT INTO account_logins (login_hash, customer_id) \
         SELECT * FROM UNNEST($1::bytea[], $2::text[])",
    )
    .bind(hashes)
    .bind(owners)
    .execute(&mut *connection)
    .await
    .map_err(backend)?;
    Ok(())
}

/// The sealed records and blind-index entries of a chunk of accepted items: one statement
/// each, the records' columns as arrays (a record's `record_ref`s follow the items' order).
async fn insert_records(
    connection: &mut PgConnection,
    chunk: &[&ImportItem],
) -> Result<(), StoreError> {
    let records: Vec<&EncryptedRecord> = chunk.iter().map(|item| &item.record).collect();
    let column = |name: &str| -> Vec<Option<&[u8]>> {
        records
            .iter()
            .map(|record| record.fields.get(name).map(Vec::as_slice))
            .collect()
    };
    sqlx::query(
        "INSERT INTO customers (customer_id, wrapped_data_key, key_version, name, email, phone, \
         birth_date, customs_code, addresses, created_at, updated_at) \
         SELECT * FROM UNNEST($1::text[], $2::bytea[], $3::bigint[], $4::bytea[], $5::bytea[], \
         $6::bytea[], $7::bytea[], $8::bytea[], $9::bytea[], $10::bigint[], $11::bigint[])",
    )
    .bind(
        records
            .iter()
            .map(|r| r.customer_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        records
            .iter()
            .map(|r| r.wrapped_data_key.as_slice())
            .collect::<Vec<_>>(),
    )
    .bind(
        records
            .iter()
            .map(|r| i64::from(r.key_version))
            .collect::<Vec<_>>(),
    )
    .bind(column("name"))
    .bind(column("email"))
    .bind(column("phone"))
    .bind(column("birth_date"))
    .bind(column("customs_code"))
    .bind(column("addresses"))
    .bind(
        records
            .iter()
            .map(|r| r.created_at.as_micros())
            .collect::<Vec<_>>(),
    )
    .bind(
        records
            .iter()
            .map(|r| r.updated_at.as_micros())
            .collect::<Vec<_>>(),
    )
    .execute(&mut *connection)
    .await
    .map_err(backend)?;
    let mut kinds = Vec::new();
    let mut values = Vec::new();
    let mut owners = Vec::new();
    for item in chunk {
        for entry in &item.indexes {
            kinds.push(entry.kind.as_str());
            values.push(entry.value);
            owners.push(item.record.customer_id.as_str());
        }
    }
    sqlx::query(
        "INSERT INTO blind_index (kind, value, customer_id) \
         SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[])",
    )
    .bind(kinds)
    .bind(values)
    .bind(owners)
    .execute(&mut *connection)
    .await
    .map_err(backend)?;
    Ok(())
}

/// Logs, in the write's transaction, that a record changed, so every node forgets its cached
/// copy (`haechi_vault::CachedVaultStore`).
async fn record_changed(
    connection: &mut PgConnection,
    customer_id: &str,
) -> Result<(), StoreError> {
    let change = Change::RecordChanged {
        customer_id: customer_id.to_string(),
    };
    super::changes::append(connection, &change).await
}
