//! `VaultStore` over SQLite.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use haechi_events::{StoreError, Timestamp};
use haechi_vault::{
    BlindIndexSnapshot, EncryptedRecord, IdentifyingRecord, ImportItem, IndexEntry, RecordRef,
    VaultStore,
};
use sqlx::sqlite::SqliteRow;
use std::collections::HashSet;

use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, Transaction};

use crate::SqliteStore;
use crate::sqlite::backend;

/// Rows per multi-row statement: the `customers` insert binds 11 values a row, and SQLite
/// allows 32,766 bound values per statement.
const CHUNK_ROWS: usize = 1000;

/// The encrypted field columns, in the order of the `customers` table.
const FIELD_COLUMNS: [&str; 6] = [
    "name",
    "email",
    "phone",
    "birth_date",
    "customs_code",
    "addresses",
];

/// Page cache of the connection a bulk import writes on: 1 GiB, about the indexes of ten
/// million customers.
const IMPORT_CACHE_PRAGMA: &str = "PRAGMA cache_size = -1048576";
/// Checkpoints during an import: every 64 k pages (256 MiB of WAL) instead of SQLite's 1,000,
/// so an index page changed by many batches is copied into the database once per checkpoint
/// rather than once per batch.
const IMPORT_CHECKPOINT_PRAGMA: &str = "PRAGMA wal_autocheckpoint = 65536";

fn record_from_row(row: &SqliteRow) -> Result<EncryptedRecord, StoreError> {
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

async fn write_record(
    transaction: &mut Transaction<'_, Sqlite>,
    record: &EncryptedRecord,
    indexes: &[IndexEntry],
    replace: bool,
) -> Result<(), StoreError> {
    let field = |name: &str| record.fields.get(name).cloned();
    let sql = if replace {
        "INSERT OR REPLACE INTO customers (customer_id, wrapped_data_key, key_version, name, \
         email, phone, birth_date, customs_code, addresses, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    } else {
        "INSERT INTO customers (customer_id, wrapped_data_key, key_version, name, email, phone, \
         birth_date, customs_code, addresses, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    };
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
        .execute(&mut **transaction)
        .await
        .map_err(backend)?;
    sqlx::query("DELETE FROM blind_index WHERE customer_id = ?")
        .bind(&record.customer_id)
        .execute(&mut **transaction)
        .await
        .map_err(backend)?;
    for entry in indexes {
        sqlx::query("INSERT INTO blind_index (kind, value, customer_id) VALUES (?, ?, ?)")
            .bind(entry.kind.as_str())
            .bind(entry.value)
            .bind(&record.customer_id)
            .execute(&mut **transaction)
            .await
            .map_err(backend)?;
    }
    Ok(())
}

#[async_trait]
impl VaultStore for SqliteStore {
    async fn insert_record(
        &self,
        record: &EncryptedRecord,
        indexes: &[IndexEntry],
    ) -> Result<(), StoreError> {
        let mut transaction = self.pool.begin().await.map_err(backend)?;
        write_record(&mut transaction, record, indexes, false).await?;
        transaction.commit().await.map_err(backend)
    }

    async fn replace_record(
        &self,
        record: &EncryptedRecord,
        indexes: &[IndexEntry],
    ) -> Result<(), StoreError> {
        let mut transaction = self.pool.begin().await.map_err(backend)?;
        write_record(&mut transaction, record, indexes, true).await?;
        transaction.commit().await.map_err(backend)
    }

    async fn replace_record_and_logins(
        &self,
        record: &EncryptedRecord,
        indexes: &[IndexEntry],
        login_hashes: &[[u8; 32]],
    ) -> Result<(), StoreError> {
        let mut transaction = self.pool.begin().await.map_err(backend)?;
        for hash in login_hashes {
            let owner: Option<String> =
                sqlx::query_scalar("SELECT customer_id FROM account_logins WHERE login_hash = ?")
                    .bind(hash.as_slice())
                    .fetch_optional(&mut *transaction)
                    .await
                    .map_err(backend)?;
            if owner.is_some_and(|owner| owner != record.customer_id) {
                // Dropping the transaction rolls it back: nothing changed.
                return Err(StoreError::Conflict(
                    "this e-mail or phone belongs to another account".into(),
                ));
            }
        }
        write_record(&mut transaction, record, indexes, true).await?;
        let has_account: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM accounts WHERE customer_id = ?")
                .bind(&record.customer_id)
                .fetch_optional(&mut *transaction)
                .await
                .map_err(backend)?;
        if has_account.is_some() {
            sqlx::query("DELETE FROM account_logins WHERE customer_id = ?")
                .bind(&record.customer_id)
                .execute(&mut *transaction)
                .await
                .map_err(backend)?;
            for hash in login_hashes {
                sqlx::query("INSERT INTO account_logins (login_hash, customer_id) VALUES (?, ?)")
                    .bind(hash.as_slice())
                    .bind(&record.customer_id)
                    .execute(&mut *transaction)
                    .await
                    .map_err(backend)?;
            }
        }
        transaction.commit().await.map_err(backend)
    }

    async fn record(&self, customer_id: &str) -> Result<Option<EncryptedRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM customers WHERE customer_id = ?")
            .bind(customer_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref().map(record_from_row).transpose()
    }

    async fn records(&self, customer_ids: &[String]) -> Result<Vec<EncryptedRecord>, StoreError> {
        let mut records = Vec::with_capacity(customer_ids.len());
        // One indexed lookup per id: batches are small (at most 100) and SQLite's prepared
        // statement cache makes each a few microseconds.
        for id in customer_ids {
            if let Some(record) = self.record(id).await? {
                records.push(record);
            }
        }
        Ok(records)
    }

    async fn candidates(&self, entry: IndexEntry) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar(
            "SELECT customer_id FROM blind_index WHERE kind = ? AND value = ? ORDER BY customer_id",
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
        crate::leak::candidates_of_many(self, entries).await
    }

    async fn records_in_bulk(
        &self,
        customer_ids: &[String],
    ) -> Result<Vec<EncryptedRecord>, StoreError> {
        crate::leak::records_in_bulk(self, customer_ids, record_from_row).await
    }

    async fn blind_index_snapshot(&self) -> Result<Option<BlindIndexSnapshot>, StoreError> {
        crate::leak::blind_index_snapshot(self).await.map(Some)
    }

    async fn records_by_ref(
        &self,
        records: &[RecordRef],
    ) -> Result<Vec<(RecordRef, EncryptedRecord)>, StoreError> {
        crate::leak::records_by_ref(self, records, record_from_row).await
    }

    async fn record_span(&self) -> Result<Option<(RecordRef, RecordRef)>, StoreError> {
        crate::leak::record_span(self).await
    }

    async fn identifying_records_between(
        &self,
        first: RecordRef,
        last: RecordRef,
    ) -> Result<Vec<IdentifyingRecord>, StoreError> {
        crate::leak::identifying_records_between(self, first, last).await
    }

    async fn shred(&self, customer_id: &str) -> Result<bool, StoreError> {
        let mut transaction = self.pool.begin().await.map_err(backend)?;
        let deleted = sqlx::query("DELETE FROM customers WHERE customer_id = ?")
            .bind(customer_id)
            .execute(&mut *transaction)
            .await
            .map_err(backend)?
            .rows_affected();
        sqlx::query("DELETE FROM blind_index WHERE customer_id = ?")
            .bind(customer_id)
            .execute(&mut *transaction)
            .await
            .map_err(backend)?;
        transaction.commit().await.map_err(backend)?;
        // secure_delete zeroed the freed pages; copy them over the main file and empty the
        // WAL, which still holds the pages as they were before the delete.
        for _ in 0..100 {
            let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
                .fetch_one(&self.pool)
                .await
                .map_err(backend)?;
            if busy == 0 {
                return Ok(deleted > 0);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tracing::warn!(
            "the WAL could not be truncated after a shred (readers busy); it will be on the next checkpoint"
        );
        Ok(deleted > 0)
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM customers")
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn wrapped_keys(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT customer_id, wrapped_data_key FROM customers WHERE customer_id > ? \
             ORDER BY customer_id LIMIT ?",
        )
        .bind(after.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("customer_id").map_err(backend)?,
                    row.try_get("wrapped_data_key").map_err(backend)?,
                ))
            })
            .collect()
    }

    async fn rewrap_keys(&self, keys: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        let mut transaction = self.pool.begin().await.map_err(backend)?;
        for (customer_id, wrapped) in keys {
            sqlx::query("UPDATE customers SET wrapped_data_key = ? WHERE customer_id = ?")
                .bind(wrapped)
                .bind(customer_id)
                .execute(&mut *transaction)
                .await
                .map_err(backend)?;
        }
        transaction.commit().await.map_err(backend)
    }

    async fn import_batch(
        &self,
        source: &str,
        last_line: u64,
        items: &[ImportItem],
    ) -> Result<Vec<bool>, StoreError> {
        // A handful of multi-row statements per batch instead of nine statements per customer:
        // each sqlx statement is a round trip to SQLite's worker thread, which dominated. On a
        // connection with a large page cache: every customer adds entries at random places of
        // five indexes, and past a few million customers SQLite's default 2 MiB cache turned
        // nearly every one of them into a read.
        let mut connection = crate::leak::connection_with_cache(self, IMPORT_CACHE_PRAGMA).await?;
        sqlx::query(IMPORT_CHECKPOINT_PRAGMA)
            .execute(&mut *connection)
            .await
            .map_err(backend)?;
        let mut transaction = sqlx::Connection::begin(&mut *connection)
            .await
            .map_err(backend)?;
        let taken = taken_logins(&mut transaction, items).await?;
        let (inserted, mut accepted) = accept_new_logins(items, taken);
        // In the order the indexes want: customer ids are time-ordered, so sorted they append
        // at the end of the four indexes keyed by them (the batch was sealed on several cores
        // at once, which interleaves their ids).
        accepted.sort_unstable_by(|a, b| a.record.customer_id.cmp(&b.record.customer_id));
        for chunk in accepted.chunks(CHUNK_ROWS) {
            insert_accounts(&mut transaction, chunk).await?;
            insert_records(&mut transaction, chunk).await?;
        }
        sqlx::query(
            "INSERT INTO import_progress (source, last_line) VALUES (?, ?) \
             ON CONFLICT (source) DO UPDATE SET last_line = excluded.last_line",
        )
        .bind(source)
        .bind(i64::try_from(last_line).unwrap_or(i64::MAX))
        .execute(&mut *transaction)
        .await
        .map_err(backend)?;
        transaction.commit().await.map_err(backend)?;
        Ok(inserted)
    }

    async fn import_progress(&self, source: &str) -> Result<Option<u64>, StoreError> {
        let line: Option<i64> =
            sqlx::query_scalar("SELECT last_line FROM import_progress WHERE source = ?")
                .bind(source)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
        Ok(line.and_then(|line| u64::try_from(line).ok()))
    }
}

/// The login hashes among `items`' that an account already holds.
async fn taken_logins(
    connection: &mut SqliteConnection,
    items: &[ImportItem],
) -> Result<HashSet<Vec<u8>>, StoreError> {
    let mut taken: HashSet<Vec<u8>> = HashSet::new();
    let all_hashes: Vec<&[u8; 32]> = items
        .iter()
        .flat_map(|item| item.account.login_hashes.iter())
        .collect();
    for chunk in all_hashes.chunks(CHUNK_ROWS) {
        let mut query = QueryBuilder::<Sqlite>::new(
            "SELECT login_hash FROM account_logins WHERE login_hash IN (",
        );
        let mut separated = query.separated(", ");
        for hash in chunk {
            separated.push_bind(hash.as_slice());
        }
        query.push(")");
        let existing: Vec<Vec<u8>> = query
            .build_query_scalar()
            .fetch_all(&mut *connection)
            .await
            .map_err(backend)?;
        taken.extend(existing);
    }
    Ok(taken)
}

/// Which items go in (`true` per item, in order) and those items: an item whose e-mail or phone
/// is taken — by an account, or by an earlier item of the batch — is refused.
pub(crate) fn accept_new_logins(
    items: &[ImportItem],
    mut taken: HashSet<Vec<u8>>,
) -> (Vec<bool>, Vec<&ImportItem>) {
    // An e-mail or phone twice in one batch keeps the first.
    let mut inserted = Vec::with_capacity(items.len());
    let mut accepted: Vec<&ImportItem> = Vec::with_capacity(items.len());
    for item in items {
        let clash = item
            .account
            .login_hashes
            .iter()
            .any(|hash| taken.contains(hash.as_slice()));
        inserted.push(!clash);
        if !clash {
            taken.extend(item.account.login_hashes.iter().map(|hash| hash.to_vec()));
            accepted.push(item);
        }
    }
    (inserted, accepted)
}

/// The login accounts of a chunk of accepted items: one multi-row statement per table.
async fn insert_accounts(
    connection: &mut SqliteConnection,
    chunk: &[&ImportItem],
) -> Result<(), StoreError> {
    let mut accounts = QueryBuilder::<Sqlite>::new(
        "INSERT INTO accounts (customer_id, password_hash, created_at) ",
    );
    accounts.push_values(chunk, |mut row, item| {
        row.push_bind(&item.account.customer_id)
            .push_bind(&item.account.password_hash)
            .push_bind(item.account.created_at.as_micros());
    });
    accounts
        .build()
        .execute(&mut *connection)
        .await
        .map_err(backend)?;
    let mut logins: Vec<(&[u8; 32], &String)> = chunk
        .iter()
        .flat_map(|item| {
            item.account
                .login_hashes
                .iter()
                .map(move |hash| (hash, &item.account.customer_id))
        })
        .collect();
    // Keyed hashes land at random places of their index; in key order, each page the
    // statement touches is visited once.
    logins.sort_unstable_by_key(|(hash, _)| *hash);
    if logins.is_empty() {
        // A chunk of customers without an e-mail or phone: no statement (sqlx's builder
        // panics on an empty VALUES list).
        return Ok(());
    }
    let mut login_rows =
        QueryBuilder::<Sqlite>::new("INSERT INTO account_logins (login_hash, customer_id) ");
    login_rows.push_values(&logins, |mut row, (hash, customer_id)| {
        row.push_bind(hash.as_slice()).push_bind(*customer_id);
    });
    login_rows
        .build()
        .execute(&mut *connection)
        .await
        .map_err(backend)?;
    Ok(())
}

/// The sealed records and blind-index entries of a chunk of accepted items.
async fn insert_records(
    connection: &mut SqliteConnection,
    chunk: &[&ImportItem],
) -> Result<(), StoreError> {
    let mut customers = QueryBuilder::<Sqlite>::new(
        "INSERT INTO customers (customer_id, wrapped_data_key, key_version, name, email, \
         phone, birth_date, customs_code, addresses, created_at, updated_at) ",
    );
    customers.push_values(chunk, |mut row, item| {
        let record = &item.record;
        row.push_bind(&record.customer_id)
            .push_bind(&record.wrapped_data_key)
            .push_bind(i64::from(record.key_version));
        for column in FIELD_COLUMNS {
            row.push_bind(record.fields.get(column));
        }
        row.push_bind(record.created_at.as_micros())
            .push_bind(record.updated_at.as_micros());
    });
    customers
        .build()
        .execute(&mut *connection)
        .await
        .map_err(backend)?;
    let mut entries: Vec<(&IndexEntry, &String)> = chunk
        .iter()
        .flat_map(|item| {
            item.indexes
                .iter()
                .map(move |entry| (entry, &item.record.customer_id))
        })
        .collect();
    entries.sort_unstable_by_key(|(entry, _)| (entry.kind.as_str(), entry.value));
    if !entries.is_empty() {
        let mut index_rows =
            QueryBuilder::<Sqlite>::new("INSERT INTO blind_index (kind, value, customer_id) ");
        index_rows.push_values(&entries, |mut row, (entry, customer_id)| {
            row.push_bind(entry.kind.as_str())
                .push_bind(entry.value)
                .push_bind(*customer_id);
        });
        index_rows
            .build()
            .execute(&mut *connection)
            .await
            .map_err(backend)?;
    }
    Ok(())
}
