//! `AuthorityStore` over PostgreSQL: signing keys, named secrets, sessions, the issuance
//! ledger, refresh tokens, login accounts and clients.
//!
//! Every compare-and-set is one conditional statement, which PostgreSQL re-checks against the
//! row's newest version after waiting for a concurrent writer's lock: of two nodes spending
//! the same refresh token at once, exactly one changes the row.

use async_trait::async_trait;
use haechi_custody::{KeyOrigin, KeyRecord, KeyState, SigningAlgorithm};
use haechi_events::{Change, Principal, StoreError, Timestamp};
use haechi_token::{
    AccountRecord, AuthorityStore, ClientRecord, LedgerEntry, RefreshRecord, SessionRecord,
    StoredKey,
};
use sqlx::Row as _;
use sqlx::postgres::PgRow;

use super::rows::{
    bytes, hash32, micros, optional_micros, optional_text, optional_timestamp, principal, text,
    timestamp,
};
use super::{PgStore, backend, changes};

fn key_record(row: &PgRow) -> Result<KeyRecord, StoreError> {
    let algorithm = text(row, "algorithm")?;
    let state = text(row, "state")?;
    let origin = text(row, "origin")?;
    let public_jwk = text(row, "public_jwk")?;
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

fn session_record(row: &PgRow) -> Result<SessionRecord, StoreError> {
    Ok(SessionRecord {
        sid: text(row, "sid")?,
        principal: principal(row, "principal")?,
        created_at: timestamp(row, "created_at")?,
        expires_at: timestamp(row, "expires_at")?,
        revoked_at: optional_timestamp(row, "revoked_at")?,
        revoke_reason: optional_text(row, "revoke_reason")?,
    })
}

fn ledger_entry(row: &PgRow) -> Result<LedgerEntry, StoreError> {
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

fn client_record(row: &PgRow) -> Result<ClientRecord, StoreError> {
    let scopes = text(row, "scopes")?;
    Ok(ClientRecord {
        client_id: text(row, "client_id")?,
        principal: principal(row, "principal")?,
        secret_hash: hash32(row, "secret_hash")?,
        scopes: scopes.split_whitespace().map(str::to_string).collect(),
        created_at: timestamp(row, "created_at")?,
        suspended_at: optional_timestamp(row, "suspended_at")?,
    })
}

/// `(names, values)` of `(name, wrapped)` pairs, as two arrays for one `UNNEST`.
fn columns(pairs: &[(String, Vec<u8>)]) -> (Vec<&str>, Vec<&[u8]>) {
    pairs
        .iter()
        .map(|(name, wrapped)| (name.as_str(), wrapped.as_slice()))
        .unzip()
}

#[async_trait]
impl AuthorityStore for PgStore {
    async fn keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        let rows = sqlx::query("SELECT * FROM signing_keys ORDER BY created_at")
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|row| {
                Ok(StoredKey {
                    record: key_record(row)?,
                    wrapped_private_key: bytes(row, "wrapped_private_key")?,
                })
            })
            .collect()
    }

    async fn insert_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        let record = &key.record;
        let mut transaction = self.pool.begin().await.map_err(backend)?;
        sqlx::query(
            "INSERT INTO signing_keys (kid, algorithm, state, origin, public_jwk, created_at, \
             activated_at, retiring_at, verify_until, ended_at, wrapped_private_key) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
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
        .execute(&mut *transaction)
        .await
        .map_err(backend)?;
        changes::append(&mut transaction, &Change::KeysChanged).await?;
        transaction.commit().await.map_err(backend)
    }

    async fn update_keys(&self, records: &[KeyRecord]) -> Result<(), StoreError> {
        let mut transaction = self.pool.begin().await.map_err(backend)?;
        for record in records {
            sqlx::query(
                "UPDATE signing_keys SET state = $1, activated_at = $2, retiring_at = $3, \
                 verify_until = $4, ended_at = $5 WHERE kid = $6",
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
        changes::append(&mut transaction, &Change::KeysChanged).await?;
        transaction.commit().await.map_err(backend)
    }

    async fn secret(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        sqlx::query_scalar("SELECT wrapped FROM secrets WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)
    }

    async fn secrets(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        sqlx::query_as("SELECT name, wrapped FROM secrets ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(backend)
    }

    async fn rewrap_authority_secrets(
        &self,
        secrets: &[(String, Vec<u8>)],
        keys: &[(String, Vec<u8>)],
    ) -> Result<(), StoreError> {
        let mut transaction = self.pool.begin().await.map_err(backend)?;
        let (names, wrapped) = columns(secrets);
        sqlx::query(
            "UPDATE secrets SET wrapped = given.wrapped \
             FROM UNNEST($1::text[], $2::bytea[]) AS given (name, wrapped) \
             WHERE secrets.name = given.name",
        )
        .bind(names)
        .bind(wrapped)
        .execute(&mut *transaction)
        .await
        .map_err(backend)?;
        let (kids, wrapped) = columns(keys);
        sqlx::query(
            "UPDATE signing_keys SET wrapped_private_key = given.wrapped \
             FROM UNNEST($1::text[], $2::bytea[]) AS given (kid, wrapped) \
             WHERE signing_keys.kid = given.kid",
        )
        .bind(kids)
        .bind(wrapped)
        .execute(&mut *transaction)
        .await
        .map_err(backend)?;
        transaction.commit().await.map_err(backend)
    }

    async fn insert_secret_if_absent(
        &self,
        name: &str,
        wrapped: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        // Two statements, each its own snapshot: a concurrent insert that made this one do
        // nothing has committed by the time ON CONFLICT gave way, so the SELECT sees it. (One
        // statement with a CTE would read the table as it was before that commit.)
        sqlx::query("INSERT INTO secrets (name, wrapped) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(name)
            .bind(wrapped)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        sqlx::query_scalar("SELECT wrapped FROM secrets WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await
            .map_err(backend)
    }

    async fn insert_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (sid, principal, created_at, expires_at, revoked_at, \
             revoke_reason) VALUES ($1, $2, $3, $4, $5, $6)",
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
        let row = sqlx::query("SELECT * FROM sessions WHERE sid = $1")
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
        let mut transaction = self.pool.begin().await.map_err(backend)?;
        let revoked = sqlx::query(
            "UPDATE sessions SET revoked_at = $1, revoke_reason = $2 \
             WHERE sid = $3 AND revoked_at IS NULL",
        )
        .bind(micros(at))
        .bind(reason)
        .bind(sid)
        .execute(&mut *transaction)
        .await
        .map_err(backend)?
        .rows_affected();
        // A session revoked before is in the log already.
        if revoked > 0 {
            let change = Change::SessionRevoked {
                sid: sid.to_string(),
            };
            changes::append(&mut transaction, &change).await?;
        }
        transaction.commit().await.map_err(backend)
    }

    async fn live_sessions(&self, now: Timestamp) -> Result<Vec<SessionRecord>, StoreError> {
        let rows =
            sqlx::query("SELECT * FROM sessions WHERE expires_at > $1 AND revoked_at IS NULL")
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
            "SELECT * FROM sessions \
             WHERE principal = $1 AND expires_at > $2 AND revoked_at IS NULL",
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
             expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
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
        let row = sqlx::query("SELECT * FROM issued_tokens WHERE token_hash = $1")
            .bind(token_hash.as_slice())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref().map(ledger_entry).transpose()
    }

    async fn issued_by_jti(&self, jti: &str) -> Result<Vec<LedgerEntry>, StoreError> {
        let rows = sqlx::query("SELECT * FROM issued_tokens WHERE jti = $1 LIMIT 16")
            .bind(jti)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(ledger_entry).collect()
    }

    async fn revoke_issued(&self, token_hash: &[u8; 32], at: Timestamp) -> Result<(), StoreError> {
        let mut transaction = self.pool.begin().await.map_err(backend)?;
        let revoked = sqlx::query(
            "UPDATE issued_tokens SET revoked_at = $1 \
             WHERE token_hash = $2 AND revoked_at IS NULL",
        )
        .bind(micros(at))
        .bind(token_hash.as_slice())
        .execute(&mut *transaction)
        .await
        .map_err(backend)?
        .rows_affected();
        if revoked > 0 {
            let change = Change::TokenRevoked {
                token_hash: *token_hash,
            };
            changes::append(&mut transaction, &change).await?;
        }
        transaction.commit().await.map_err(backend)
    }

    async fn unexpired_issued(&self, now: Timestamp) -> Result<Vec<LedgerEntry>, StoreError> {
        let rows = sqlx::query("SELECT * FROM issued_tokens WHERE expires_at > $1")
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
            "SELECT DISTINCT sid FROM issued_tokens WHERE kid = $1 AND expires_at > $2 \
             ORDER BY sid",
        )
        .bind(kid)
        .bind(micros(now))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)
    }

    async fn prune_expired(&self, before: Timestamp) -> Result<u64, StoreError> {
        let mut transaction = self.pool.begin().await.map_err(backend)?;
        let tokens = sqlx::query("DELETE FROM issued_tokens WHERE expires_at < $1")
            .bind(micros(before))
            .execute(&mut *transaction)
            .await
            .map_err(backend)?
            .rows_affected();
        let refresh = sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < $1")
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
             VALUES ($1, $2, $3, $4, $5)",
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
        let row = sqlx::query("SELECT * FROM refresh_tokens WHERE token_hash = $1")
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
        // The compare-and-set: a second concurrent UPDATE waits for the first's row lock,
        // then re-reads the row, finds it spent and changes nothing.
        let changed = sqlx::query(
            "UPDATE refresh_tokens SET spent_at = $1 \
             WHERE token_hash = $2 AND spent_at IS NULL",
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
            "INSERT INTO accounts (customer_id, password_hash, created_at) VALUES ($1, $2, $3)",
        )
        .bind(&account.customer_id)
        .bind(&account.password_hash)
        .bind(micros(account.created_at))
        .execute(&mut *transaction)
        .await
        .map_err(backend)?;
        let hashes: Vec<&[u8]> = account.login_hashes.iter().map(|h| h.as_slice()).collect();
        sqlx::query(
            "INSERT INTO account_logins (login_hash, customer_id) \
             SELECT hash, $2 FROM UNNEST($1::bytea[]) AS hash",
        )
        .bind(hashes)
        .bind(&account.customer_id)
        .execute(&mut *transaction)
        .await
        .map_err(backend)?;
        transaction.commit().await.map_err(backend)
    }

    async fn delete_account(&self, customer_id: &str) -> Result<bool, StoreError> {
        // The login identifiers go with it (ON DELETE CASCADE).
        let deleted = sqlx::query("DELETE FROM accounts WHERE customer_id = $1")
            .bind(customer_id)
            .execute(&self.pool)
            .await
            .map_err(backend)?
            .rows_affected();
        Ok(deleted > 0)
    }

    async fn account_by_login(
        &self,
        login_hash: &[u8; 32],
    ) -> Result<Option<AccountRecord>, StoreError> {
        // One statement, so the account and its identifiers are read at one moment.
        let row = sqlx::query(
            "SELECT a.customer_id, a.password_hash, a.created_at, \
             ARRAY(SELECT o.login_hash FROM account_logins o \
                   WHERE o.customer_id = a.customer_id ORDER BY o.login_hash) AS login_hashes \
             FROM account_logins l JOIN accounts a ON a.customer_id = l.customer_id \
             WHERE l.login_hash = $1",
        )
        .bind(login_hash.as_slice())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let hashes: Vec<Vec<u8>> = row.try_get("login_hashes").map_err(backend)?;
        Ok(Some(AccountRecord {
            customer_id: text(&row, "customer_id")?,
            login_hashes: hashes
                .iter()
                .filter_map(|hash| hash.as_slice().try_into().ok())
                .collect(),
            password_hash: optional_text(&row, "password_hash")?,
            created_at: timestamp(&row, "created_at")?,
        }))
    }

    async fn insert_client(&self, client: &ClientRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO clients (client_id, principal, secret_hash, scopes, created_at, \
             suspended_at) VALUES ($1, $2, $3, $4, $5, $6)",
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
        let row = sqlx::query("SELECT * FROM clients WHERE client_id = $1")
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
