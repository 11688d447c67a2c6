//! `AuthorityStore` over SQLite.

use async_trait::async_trait;
use haechi_custody::{KeyOrigin, KeyRecord, KeyState, SigningAlgorithm};
use haechi_events::{Principal, StoreError, Timestamp};
use haechi_token::{
    AccountRecord, AuthorityStore, ClientRecord, LedgerEntry, RefreshRecord, SessionRecord,
    StoredKey,
};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::SqliteStore;
use crate::sqlite::backend;

fn micros(time: Timestamp) -> i64 {
    time.as_micros()
}

fn optional_micros(time: Option<Timestamp>) -> Option<i64> {
    time.map(Timestamp::as_micros)
}

fn timestamp(row: &SqliteRow, column: &str) -> Result<Timestamp, StoreError> {
    let micros: i64 = row.try_get(column).map_err(backend)?;
    Ok(Timestamp::from_micros(micros))
}

fn optional_timestamp(row: &SqliteRow, column: &str) -> Result<Option<Timestamp>, StoreError> {
    let micros: Option<i64> = row.try_get(column).map_err(backend)?;
    Ok(micros.map(Timestamp::from_micros))
}

fn text(row: &SqliteRow, column: &str) -> Result<String, StoreError> {
    row.try_get(column).map_err(backend)
}

fn hash32(row: &SqliteRow, column: &str) -> Result<[u8; 32], StoreError> {
    let bytes: Vec<u8> = row.try_get(column).map_err(backend)?;
    bytes
        .as_slice()
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("{column} is not 32 bytes")))
}

fn principal(row: &SqliteRow, column: &str) -> Result<Principal, StoreError> {
    text(row, column)?
        .parse()
        .map_err(|error: haechi_events::PrincipalParseError| StoreError::Corrupt(error.to_string()))
}

fn key_record(row: &SqliteRow) -> Result<KeyRecord, StoreError> {
    let algorithm: String = text(row, "algorithm")?;
    let state: String = text(row, "state")?;
    let origin: String = text(row, "origin")?;
    let public_jwk: String = text(row, "public_jwk")?;
    Ok(KeyRecord {
        kid: text(row, "kid")?,
        algorithm: SigningAlgorithm::parse(&algorithm)
            .map_err(|error| StoreError::Corrupt(error.to_string()))?,
        state: KeyState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("key state {state:?}")))?,
        origin: KeyOrigin::parse(&origin)
            .ok_or_else(|| StoreError::Corrupt(format!("key origin {origin:?}")))?,
        public_jwk: serde_json::from_str(&public_jwk)
            .map_err(|error| StoreError::Corrupt(format!("public_jwk: {error}")))?,
        created_at: timestamp(row, "created_at")?,
        activated_at: optional_timestamp(row, "activated_at")?,
        retiring_at: optional_timestamp(row, "retiring_at")?,
        verify_until: optional_timestamp(row, "verify_until")?,
        ended_at: optional_timestamp(row, "ended_at")?,
    })
}

fn session_record(row: &SqliteRow) -> Result<SessionRecord, StoreError> {
    Ok(SessionRecord {
        sid: text(row, "sid")?,
        principal: principal(row, "principal")?,
        created_at: timestamp(row, "created_at")?,
        expires_at: timestamp(row, "expires_at")?,
        revoked_at: optional_timestamp(row, "revoked_at")?,
        revoke_reason: row.try_get("revoke_reason").map_err(backend)?,
    })
}

fn ledger_entry(row: &SqliteRow) -> Result<LedgerEntry, StoreError> {
    Ok(LedgerEntry {
        token_hash: hash32(row, "token_hash")?,
        jti: text(row, "jti")?,
        sid: text(row, "sid")?,
        kid: text(row, "kid")?,
        principal: principal(row, "principal")?,
        scope: text(row, "scope")?,
        issued_at: timestamp(row, "issued_at")?,
        expires_at: timestamp(row, "expires_at")?,
        revoked_at: optional_timestamp(row, "revoked_at")?,
    })
}

fn client_record(row: &SqliteRow) -> Result<ClientRecord, StoreError> {
    let scopes: String = text(row, "scopes")?;
    Ok(ClientRecord {
        client_id: text(row, "client_id")?,
        principal: principal(row, "principal")?,
        secret_hash: hash32(row, "secret_hash")?,
        scopes: scopes.split_whitespace().map(str::to_string).collect(),
        created_at: timestamp(row, "created_at")?,
        suspended_at: optional_timestamp(row, "suspended_at")?,
    })
}

#[async_trait]
impl AuthorityStore for SqliteStore {
    async fn keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        let rows = sqlx::query("SELECT * FROM signing_keys ORDER BY created_at")
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|row| {
                Ok(StoredKey {
                    record: key_record(row)?,
                    wrapped_private_key: row.try_get("wrapped_private_key").map_err(backend)?,
                })
            })
            .collect()
    }

    async fn insert_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        let record = &key.record;
        sqlx::query(
            "INSERT INTO signing_keys (kid, algorithm, state, origin, public_jwk, created_at, \
             activated_at, retiring_at, verify_until, ended_at, wrapped_private_key) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&record.kid)
        .bind(record.algorithm.jws_name())
        .bind(record.state.as_str())
        .bind(record.origin.as_str())
        .bind(record.public_jwk.to_string())
        .bind(micros(record.created_at))
        .bind(optional_micros(record.activated_at))
        .bind(optional_micros(record.retiring_at))
        .bind(optional_micros(record.verify_until))
        .bind(optional_micros(record.ended_at))
        .bind(&key.wrapped_private_key)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn update_keys(&self, records: &[KeyRecord]) -> Result<(), StoreError> {
        let mut transaction = self.pool.begin().await.map_err(backend)?;
        for record in records {
            sqlx::query(
                "UPDATE signing_keys SET state = ?, activated_at = ?, retiring_at = ?, \
                 verify_until = ?, ended_at = ? WHERE kid = ?",
            )
            .bind(record.state.as_str())
            .bind(optional_micros(record.activated_at))
            .bind(optional_micros(record.retiring_at))
            .bind(optional_micros(record.verify_until))
            .bind(optional_micros(record.ended_at))
            .bind(&record.kid)
            .execute(&mut *transaction)
            .await
            .map_err(backend)?;
        }
        transaction.commit().await.map_err(backend)
    }

    async fn secret(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        sqlx::query_scalar("SELECT wrapped FROM secrets WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)
    }

    async fn secrets(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let rows = sqlx::query("SELECT name, wrapped FROM secrets ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("name").map_err(backend)?,
                    row.try_get("wrapped").map_err(backend)?,
                ))
            })
            .collect()
    }

    async fn rewrap_authority_secrets(
        &self,
        secrets: &[(String, Vec<u8>)],
        keys: &[(String, Vec<u8>)],
    ) -> Result<(), StoreError> {
        let mut transaction = self.pool.begin().await.map_err(backend)?;
        for (name, wrapped) in secrets {
            sqlx::query("UPDATE secrets SET wrapped = ? WHERE name = ?")
                .bind(wrapped)
                .bind(name)
                .execute(&mut *transaction)
                .await
                .map_err(backend)?;
        }
        for (kid, wrapped) in keys {
            sqlx::query("UPDATE signing_keys SET wrapped_private_key = ? WHERE kid = ?")
                .bind(wrapped)
                .bind(kid)
                .execute(&mut *transaction)
                .await
                .map_err(backend)?;
        }
        transaction.commit().await.map_err(backend)
    }

    async fn insert_secret_if_absent(
        &self,
        name: &str,
        wrapped: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        sqlx::query("INSERT OR IGNORE INTO secrets (name, wrapped) VALUES (?, ?)")
            .bind(name)
            .bind(wrapped)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        sqlx::query_scalar("SELECT wrapped FROM secrets WHERE name = ?")
            .bind(name)
            .fetch_one(&self.pool)
            .await
            .map_err(backend)
    }

    async fn insert_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (sid, principal, created_at, expires_at, revoked_at, \
             revoke_reason) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&session.sid)
        .bind(session.principal.to_string())
        .bind(micros(session.created_at))
        .bind(micros(session.expires_at))
        .bind(optional_micros(session.revoked_at))
        .bind(&session.revoke_reason)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn session(&self, sid: &str) -> Result<Option<SessionRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM sessions WHERE sid = ?")
            .bind(sid)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref().map(session_record).transpose()
    }

    async fn revoke_session(
        &self,
        sid: &str,
        at: Timestamp,
        reason: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE sessions SET revoked_at = ?, revoke_reason = ? \
             WHERE sid = ? AND revoked_at IS NULL",
        )
        .bind(micros(at))
        .bind(reason)
        .bind(sid)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn live_sessions(&self, now: Timestamp) -> Result<Vec<SessionRecord>, StoreError> {
        let rows =
            sqlx::query("SELECT * FROM sessions WHERE expires_at > ? AND revoked_at IS NULL")
                .bind(micros(now))
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
        rows.iter().map(session_record).collect()
    }

    async fn live_sessions_of(
        &self,
        principal: &Principal,
        now: Timestamp,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM sessions WHERE principal = ? AND expires_at > ? AND revoked_at IS NULL",
        )
        .bind(principal.to_string())
        .bind(micros(now))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(session_record).collect()
    }

    async fn record_issued(&self, entry: &LedgerEntry) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO issued_tokens (token_hash, jti, sid, kid, principal, scope, issued_at, \
             expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(entry.token_hash.as_slice())
        .bind(&entry.jti)
        .bind(&entry.sid)
        .bind(&entry.kid)
        .bind(entry.principal.to_string())
        .bind(&entry.scope)
        .bind(micros(entry.issued_at))
        .bind(micros(entry.expires_at))
        .bind(optional_micros(entry.revoked_at))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn issued(&self, token_hash: &[u8; 32]) -> Result<Option<LedgerEntry>, StoreError> {
        let row = sqlx::query("SELECT * FROM issued_tokens WHERE token_hash = ?")
            .bind(token_hash.as_slice())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref().map(ledger_entry).transpose()
    }

    async fn issued_by_jti(&self, jti: &str) -> Result<Vec<LedgerEntry>, StoreError> {
        // No index on jti: this runs only for a well-signed token missing from the ledger (a
        // forgery or a re-spelled token), so a scan of the (pruned) ledger is affordable and
        // spares a schema migration.
        let rows = sqlx::query("SELECT * FROM issued_tokens WHERE jti = ? LIMIT 16")
            .bind(jti)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(ledger_entry).collect()
    }

    async fn revoke_issued(&self, token_hash: &[u8; 32], at: Timestamp) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE issued_tokens SET revoked_at = ? WHERE token_hash = ? AND revoked_at IS NULL",
        )
        .bind(micros(at))
        .bind(token_hash.as_slice())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn unexpired_issued(&self, now: Timestamp) -> Result<Vec<LedgerEntry>, StoreError> {
        let rows = sqlx::query("SELECT * FROM issued_tokens WHERE expires_at > ?")
            .bind(micros(now))
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(ledger_entry).collect()
    }

    async fn sessions_signed_by(
        &self,
        kid: &str,
        now: Timestamp,
    ) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar(
            "SELECT DISTINCT sid FROM issued_tokens WHERE kid = ? AND expires_at > ? ORDER BY sid",
        )
        .bind(kid)
        .bind(micros(now))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)
    }

    async fn prune_expired(&self, before: Timestamp) -> Result<u64, StoreError> {
        let mut transaction = self.pool.begin().await.map_err(backend)?;
        let tokens = sqlx::query("DELETE FROM issued_tokens WHERE expires_at < ?")
            .bind(micros(before))
            .execute(&mut *transaction)
            .await
            .map_err(backend)?
            .rows_affected();
        let refresh = sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < ?")
            .bind(micros(before))
            .execute(&mut *transaction)
            .await
            .map_err(backend)?
            .rows_affected();
        transaction.commit().await.map_err(backend)?;
        Ok(tokens + refresh)
    }

    async fn insert_refresh(&self, refresh: &RefreshRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, sid, issued_at, expires_at, spent_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(refresh.token_hash.as_slice())
        .bind(&refresh.sid)
        .bind(micros(refresh.issued_at))
        .bind(micros(refresh.expires_at))
        .bind(optional_micros(refresh.spent_at))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn refresh(&self, token_hash: &[u8; 32]) -> Result<Option<RefreshRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM refresh_tokens WHERE token_hash = ?")
            .bind(token_hash.as_slice())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.map(|row| {
            Ok(RefreshRecord {
                token_hash: hash32(&row, "token_hash")?,
                sid: text(&row, "sid")?,
                issued_at: timestamp(&row, "issued_at")?,
                expires_at: timestamp(&row, "expires_at")?,
                spent_at: optional_timestamp(&row, "spent_at")?,
            })
        })
        .transpose()
    }

    async fn spend_refresh(
        &self,
        token_hash: &[u8; 32],
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        // One conditional UPDATE is the compare-and-set: of two concurrent exchanges of the
        // same token, exactly one changes a row.
        let changed = sqlx::query(
            "UPDATE refresh_tokens SET spent_at = ? WHERE token_hash = ? AND spent_at IS NULL",
        )
        .bind(micros(at))
        .bind(token_hash.as_slice())
        .execute(&self.pool)
        .await
        .map_err(backend)?
        .rows_affected();
        Ok(changed == 1)
    }

    async fn insert_account(&self, account: &AccountRecord) -> Result<(), StoreError> {
        let mut transaction = self.pool.begin().await.map_err(backend)?;
        sqlx::query(
            "INSERT INTO accounts (customer_id, password_hash, created_at) VALUES (?, ?, ?)",
        )
        .bind(&account.customer_id)
        .bind(&account.password_hash)
        .bind(micros(account.created_at))
        .execute(&mut *transaction)
        .await
        .map_err(backend)?;
        for login_hash in &account.login_hashes {
            sqlx::query("INSERT INTO account_logins (login_hash, customer_id) VALUES (?, ?)")
                .bind(login_hash.as_slice())
                .bind(&account.customer_id)
                .execute(&mut *transaction)
                .await
                .map_err(backend)?;
        }
        transaction.commit().await.map_err(backend)?;
        Ok(())
    }

    async fn delete_account(&self, customer_id: &str) -> Result<bool, StoreError> {
        let mut transaction = self.pool.begin().await.map_err(backend)?;
        sqlx::query("DELETE FROM account_logins WHERE customer_id = ?")
            .bind(customer_id)
            .execute(&mut *transaction)
            .await
            .map_err(backend)?;
        let deleted = sqlx::query("DELETE FROM accounts WHERE customer_id = ?")
            .bind(customer_id)
            .execute(&mut *transaction)
            .await
            .map_err(backend)?
            .rows_affected();
        transaction.commit().await.map_err(backend)?;
        Ok(deleted > 0)
    }

    async fn account_by_login(
        &self,
        login_hash: &[u8; 32],
    ) -> Result<Option<AccountRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT a.customer_id, a.password_hash, a.created_at FROM account_logins l \
             JOIN accounts a ON a.customer_id = l.customer_id WHERE l.login_hash = ?",
        )
        .bind(login_hash.as_slice())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let customer_id = text(&row, "customer_id")?;
        let hashes: Vec<Vec<u8>> =
            sqlx::query_scalar("SELECT login_hash FROM account_logins WHERE customer_id = ?")
                .bind(&customer_id)
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
        Ok(Some(AccountRecord {
            customer_id,
            login_hashes: hashes
                .iter()
                .filter_map(|hash| hash.as_slice().try_into().ok())
                .collect(),
            password_hash: row.try_get("password_hash").map_err(backend)?,
            created_at: timestamp(&row, "created_at")?,
        }))
    }

    async fn insert_client(&self, client: &ClientRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO clients (client_id, principal, secret_hash, scopes, created_at, \
             suspended_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&client.client_id)
        .bind(client.principal.to_string())
        .bind(client.secret_hash.as_slice())
        .bind(client.scopes.join(" "))
        .bind(micros(client.created_at))
        .bind(optional_micros(client.suspended_at))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM clients WHERE client_id = ?")
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref().map(client_record).transpose()
    }

    async fn clients(&self) -> Result<Vec<ClientRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM clients ORDER BY client_id")
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(client_record).collect()
    }
}
