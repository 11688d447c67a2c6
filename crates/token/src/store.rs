//! What the token authority keeps, and the trait a storage backend implements for it.

use async_trait::async_trait;
use haechi_custody::KeyRecord;
use haechi_events::{Principal, StoreError, Timestamp};

/// A signing key as stored: its record and its private half wrapped under the master key.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredKey {
    /// Lifecycle record.
    pub record: KeyRecord,
    /// `WrappedSecret::to_bytes()` of the PKCS#8 private key.
    pub wrapped_private_key: Vec<u8>,
}

/// A session: a login (customer) or a client-credentials grant (service, admin).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// Session id (random 128 bits, hex).
    pub sid: String,
    /// Who it belongs to.
    pub principal: Principal,
    /// When it began.
    pub created_at: Timestamp,
    /// When it ends at the latest.
    pub expires_at: Timestamp,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
    /// Why it was revoked.
    pub revoke_reason: Option<String>,
}

/// One issued access token in the issuance ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// SHA-256 of the whole signed token (header, claims and signature).
    pub token_hash: [u8; 32],
    /// Token id.
    pub jti: String,
    /// Session.
    pub sid: String,
    /// Signing key.
    pub kid: String,
    /// Subject.
    pub principal: Principal,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// `iat`.
    pub issued_at: Timestamp,
    /// `exp`.
    pub expires_at: Timestamp,
    /// When it was revoked (RFC 7009), if it was.
    pub revoked_at: Option<Timestamp>,
}

/// An opaque, single-use refresh token, stored only as a SHA-256 of its 256 random bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshRecord {
    /// SHA-256 of the refresh token.
    pub token_hash: [u8; 32],
    /// Its session.
    pub sid: String,
    /// When it was issued.
    pub issued_at: Timestamp,
    /// When it expires.
    pub expires_at: Timestamp,
    /// When it was exchanged; a second exchange is reuse.
    pub spent_at: Option<Timestamp>,
}

/// A customer's login account: no plaintext identifier, only keyed hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRecord {
    /// Customer id.
    pub customer_id: String,
    /// Keyed hashes (HMAC-SHA-256 under the login-index key) of the normalised e-mail and/or
    /// phone the customer logs in with.
    pub login_hashes: Vec<[u8; 32]>,
    /// argon2id PHC string, if the customer has a password.
    pub password_hash: Option<String>,
    /// When it was created.
    pub created_at: Timestamp,
}

/// A service principal or administrator with client credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRecord {
    /// `service.NAME` or `admin.NAME`.
    pub client_id: String,
    /// The principal it acts as.
    pub principal: Principal,
    /// HMAC-SHA-256 of the secret under the client-secret key (secrets are 256-bit random,
    /// so a keyed hash suffices; a slow hash would only slow every token grant).
    pub secret_hash: [u8; 32],
    /// Scopes it may request: a service's purposes, or `admin`.
    pub scopes: Vec<String>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When containment suspended it, if it did.
    pub suspended_at: Option<Timestamp>,
}

/// Storage of the token authority. Every write returns only once durable, because the
/// authority hands out a token only after its ledger entry is written.
#[async_trait]
pub trait AuthorityStore: Send + Sync + std::fmt::Debug {
    /// Every signing key ever in custody.
    async fn keys(&self) -> Result<Vec<StoredKey>, StoreError>;
    /// Adds a key (conflict if the kid exists).
    async fn insert_key(&self, key: &StoredKey) -> Result<(), StoreError>;
    /// Saves keys' changed lifecycle records, all or none: a revocation and the promotion
    /// that replaces the revoked key, or a rotation's retirement and promotion, are one write,
    /// so no crash between them leaves the cluster without a signing key.
    async fn update_keys(&self, records: &[KeyRecord]) -> Result<(), StoreError>;

    /// A named wrapped secret.
    async fn secret(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Every named wrapped secret (master-key rotation).
    async fn secrets(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
    /// Replaces named secrets and wrapped signing keys in one transaction (master-key
    /// rotation): `(name, wrapped)` and `(kid, wrapped)` pairs.
    async fn rewrap_authority_secrets(
        &self,
        secrets: &[(String, Vec<u8>)],
        keys: &[(String, Vec<u8>)],
    ) -> Result<(), StoreError>;
    /// Stores a named wrapped secret if none exists; returns the one stored (an existing one
    /// wins, so two processes starting together agree on one secret).
    async fn insert_secret_if_absent(
        &self,
        name: &str,
        wrapped: &[u8],
    ) -> Result<Vec<u8>, StoreError>;

    /// Adds a session.
    async fn insert_session(&self, session: &SessionRecord) -> Result<(), StoreError>;
    /// A session by id.
    async fn session(&self, sid: &str) -> Result<Option<SessionRecord>, StoreError>;
    /// Marks a session revoked (idempotent).
    async fn revoke_session(
        &self,
        sid: &str,
        at: Timestamp,
        reason: &str,
    ) -> Result<(), StoreError>;
    /// Sessions neither expired nor revoked at `now`.
    async fn live_sessions(&self, now: Timestamp) -> Result<Vec<SessionRecord>, StoreError>;
    /// The live sessions of one principal. The default filters [`AuthorityStore::live_sessions`];
    /// backends answer from an index.
    async fn live_sessions_of(
        &self,
        principal: &Principal,
        now: Timestamp,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let mut sessions = self.live_sessions(now).await?;
        sessions.retain(|session| &session.principal == principal);
        Ok(sessions)
    }

    /// Records an issued token. Must be durable on return.
    async fn record_issued(&self, entry: &LedgerEntry) -> Result<(), StoreError>;
    /// The ledger entry of a token hash.
    async fn issued(&self, token_hash: &[u8; 32]) -> Result<Option<LedgerEntry>, StoreError>;
    /// Ledger rows with this `jti` (at most a few). Asked only for a well-signed token that is
    /// not in the ledger byte for byte, to tell a re-spelled issued token from a forgery.
    async fn issued_by_jti(&self, jti: &str) -> Result<Vec<LedgerEntry>, StoreError>;
    /// Marks one issued token revoked.
    async fn revoke_issued(&self, token_hash: &[u8; 32], at: Timestamp) -> Result<(), StoreError>;
    /// Ledger entries not yet expired at `now`.
    async fn unexpired_issued(&self, now: Timestamp) -> Result<Vec<LedgerEntry>, StoreError>;
    /// Ids of sessions holding unexpired tokens signed by `kid`.
    async fn sessions_signed_by(
        &self,
        kid: &str,
        now: Timestamp,
    ) -> Result<Vec<String>, StoreError>;
    /// Deletes ledger entries and refresh tokens that expired before `before`.
    async fn prune_expired(&self, before: Timestamp) -> Result<u64, StoreError>;

    /// Adds a refresh token.
    async fn insert_refresh(&self, refresh: &RefreshRecord) -> Result<(), StoreError>;
    /// A refresh token by hash.
    async fn refresh(&self, token_hash: &[u8; 32]) -> Result<Option<RefreshRecord>, StoreError>;
    /// Marks a refresh token spent, atomically: `true` if this call spent it, `false` if it was
    /// already spent (reuse).
    async fn spend_refresh(&self, token_hash: &[u8; 32], at: Timestamp)
    -> Result<bool, StoreError>;

    /// Adds a customer account (conflict if any login hash is taken).
    async fn insert_account(&self, account: &AccountRecord) -> Result<(), StoreError>;
    /// The account a login hash belongs to.
    async fn account_by_login(
        &self,
        login_hash: &[u8; 32],
    ) -> Result<Option<AccountRecord>, StoreError>;

    /// Deletes a customer's login account and its login identifiers (erasure); returns
    /// whether there was one.
    async fn delete_account(&self, customer_id: &str) -> Result<bool, StoreError>;

    /// Adds a client (conflict if the id exists).
    async fn insert_client(&self, client: &ClientRecord) -> Result<(), StoreError>;
    /// A client by id.
    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError>;
    /// Every client.
    async fn clients(&self) -> Result<Vec<ClientRecord>, StoreError>;
}
