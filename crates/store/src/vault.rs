//! `VaultStore` over SQLite.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use haechi_events::{StoreError, Timestamp};
use haechi_vault::{EncryptedRecord, ImportItem, IndexEntry, VaultStore};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite, Transaction};

use crate::SqliteStore;
use crate::sqlite::backend;

/// The encrypted field columns, in the order of the `customers` table.
const FIELD_COLUMNS: [&str; 6] = [
    "name",
    "email",
    "phone",
    "birth_date",
    "customs_code",
    "addresses",
];

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
        let account = sqlx::query("DELETE FROM accounts WHERE customer_id = ?")
            .bind(customer_id)
            .execute(&mut *transaction)
            .await
            .map_err(backend)?
            .rows_affected();
        sqlx::query("DELETE FROM account_logins WHERE customer_id = ?")
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
                return Ok(deleted + account > 0);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tracing::warn!(
            "the WAL could not be truncated after a shred (readers busy); it will be on the next checkpoint"
        );
        Ok(deleted + account > 0)
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
        let mut transaction = self.pool.begin().await.map_err(backend)?;
        let mut inserted = Vec::with_capacity(items.len());
        for item in items {
            let mut taken = false;
            for hash in &item.account.login_hashes {
                let exists: Option<i64> =
                    sqlx::query_scalar("SELECT 1 FROM account_logins WHERE login_hash = ?")
                        .bind(hash.as_slice())
                        .fetch_optional(&mut *transaction)
                        .await
                        .map_err(backend)?;
                taken |= exists.is_some();
            }
            if taken {
                inserted.push(false);
                continue;
            }
            sqlx::query(
                "INSERT INTO accounts (customer_id, password_hash, created_at) VALUES (?, ?, ?)",
            )
            .bind(&item.account.customer_id)
            .bind(&item.account.password_hash)
            .bind(item.account.created_at.as_micros())
            .execute(&mut *transaction)
            .await
            .map_err(backend)?;
            for hash in &item.account.login_hashes {
                sqlx::query("INSERT INTO account_logins (login_hash, customer_id) VALUES (?, ?)")
                    .bind(hash.as_slice())
                    .bind(&item.account.customer_id)
                    .execute(&mut *transaction)
                    .await
                    .map_err(backend)?;
            }
            write_record(&mut transaction, &item.record, &item.indexes, false).await?;
            inserted.push(true);
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
