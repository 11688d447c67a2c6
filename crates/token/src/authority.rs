//! The token authority itself.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use haechi_custody::{
    KeyOrigin, KeyRecord, KeyState, MasterKeyRing, PublicKey, SecretContext, SecureRandom,
    SigningKeyMaterial, WrappedSecret,
};
use haechi_events::{
    Clock, Decision, EventKind, EventSink, Principal, RequestContext, SecurityEvent, StoreError,
    Timestamp,
};
use hmac::{Hmac, Mac};
use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::grant::{AdminGrant, OperatorAccess};
use crate::jwt::{self, Claims};
use crate::keyring::{KeyEntry, KeyRing};
use crate::ledger::{LiveLedger, LiveSession, LiveToken};
use crate::limiter::{Allowance, SlidingWindowCounter, SourceKey};
use crate::password::{self, HashingGate, PasswordParams, Waiting};
use crate::{
    AccountRecord, AuthFailure, AuthorityStore, ClientRecord, Error, LedgerEntry, RefreshRecord,
    SessionRecord, StoredKey, TokenPolicy, VerifiedToken,
};

mod admin;

pub use admin::DETECTION_ACTOR;
mod customer;
mod login;
mod verification;

const LOGIN_INDEX_SECRET: &str = "login-index-key";
const CLIENT_SECRET_KEY: &str = "client-secret-key";
const REFRESH_PREFIX: &str = "hrt_";
const CLIENT_SECRET_PREFIX: &str = "hcs_";
/// How long ledger rows outlive their token. Within it, an unknown token with a good
/// signature is certainly a forgery; beyond it, an old token is reported as expired.
const LEDGER_RETENTION: Duration = Duration::from_secs(24 * 3600);
/// Most keys each login limiter tracks (accounts, source networks); a full table evicts the
/// longest-idle key. About 100 bytes a key.
const LIMITER_KEYS: usize = 1_000_000;
/// Longest unverified claim (`sub`, `jti`) copied into the record of a refused token.
const CLAIM_IN_EVENT_CHARS: usize = 64;
/// Most sessions listed in one `key.revoked` event (the count is always exact).
const MAX_SESSIONS_IN_EVENT: usize = 1000;

/// Everything the authority is built from. Storage, time, randomness and the audit sink come
/// from outside; the authority does no IO of its own.
#[derive(Debug)]
pub struct AuthorityParts {
    /// Storage.
    pub store: Arc<dyn AuthorityStore>,
    /// The key-encryption keys (current, and previous ones during a rotation).
    pub master_key: Arc<MasterKeyRing>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Where security events go.
    pub events: Arc<dyn EventSink>,
    /// Randomness.
    pub random: Arc<dyn SecureRandom>,
    /// Lifetimes and limits.
    pub policy: TokenPolicy,
    /// argon2id cost.
    pub password_params: PasswordParams,
    /// Whether this process may act as the data directory's local operator (see
    /// [`crate::AdminGrant`]).
    pub operator_access: OperatorAccess,
}

/// A login identifier as the customer typed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginIdentifier {
    /// An e-mail address.
    Email(String),
    /// A phone number, in any Korean spelling.
    Phone(String),
}

/// A new customer login account.
#[derive(Debug, Clone, Default)]
pub struct NewAccount {
    /// The customer id to use; generated when absent.
    pub customer_id: Option<String>,
    /// E-mail to log in with.
    pub email: Option<String>,
    /// Phone to log in with.
    pub phone: Option<String>,
    /// Initial password (8–256 characters); an account without one cannot log in yet.
    pub password: Option<Zeroizing<String>>,
}

/// What kind of client-credentials principal to create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    /// A service reading data for declared purposes.
    Service,
    /// An administrator.
    Admin,
}

/// A freshly created client credential. The secret is shown once and stored only hashed.
#[derive(Debug)]
pub struct ClientCredential {
    /// `service.NAME` or `admin.NAME`.
    pub client_id: String,
    /// The secret (256 random bits, base64url, prefixed `hcs_`).
    pub client_secret: Zeroizing<String>,
    /// The principal it acts as.
    pub principal: Principal,
}

/// Tokens handed out by a login, refresh or grant.
#[derive(Debug, Clone, Serialize)]
pub struct TokenPair {
    /// The JWT access token.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The opaque single-use refresh token (customers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The session id.
    pub session_id: String,
    /// Granted scopes, space-separated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// RFC 7662 introspection response.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Introspection {
    /// Whether the token verifies now.
    pub active: bool,
    /// Subject.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Session id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Token id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// Signing key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Expiry (seconds since the epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Scopes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// `access_token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
}

/// The outcome of revoking a signing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedKey {
    /// The key.
    pub kid: String,
    /// Sessions that held unexpired tokens it signed (those tokens stopped working).
    pub sessions: Vec<String>,
    /// The key now active, if the revoked key was the active one.
    pub replaced_by: Option<String>,
}

/// The token authority. See the crate documentation for what "verifies" means here.
#[derive(Debug)]
pub struct TokenAuthority {
    store: Arc<dyn AuthorityStore>,
    master_key: Arc<MasterKeyRing>,
    clock: Arc<dyn Clock>,
    events: Arc<dyn EventSink>,
    random: Arc<dyn SecureRandom>,
    policy: TokenPolicy,
    password_params: PasswordParams,
    keys: RwLock<KeyRing>,
    ledger: LiveLedger,
    login_index_key: Zeroizing<[u8; 32]>,
    client_secret_key: Zeroizing<[u8; 32]>,
    decoy_password_hash: String,
    account_failures: Mutex<SlidingWindowCounter<[u8; 32]>>,
    source_attempts: Mutex<SlidingWindowCounter<SourceKey>>,
    hashing: HashingGate,
    key_changes: tokio::sync::Mutex<()>,
    /// Principals suspended by containment (kept by the caller's store, held here so every
    /// verification, login and grant refuses them without IO).
    suspended: RwLock<HashSet<Principal>>,
    /// Whether [`TokenAuthority::operator_grant`] may hand out grants.
    operator_access: OperatorAccess,
    /// Whether [`TokenAuthority::take_response_grant`] was called.
    response_grant_taken: std::sync::Mutex<bool>,
}

impl TokenAuthority {
    /// Opens the authority over its store: unwraps the keys that may sign, loads live
    /// sessions and the unexpired ledger into memory, and makes sure an active and a pending
    /// key exist (generating them on first start).
    pub async fn open(parts: AuthorityParts) -> Result<Self, Error> {
        parts.policy.validate()?;
        let AuthorityParts {
            store,
            master_key,
            clock,
            events,
            random,
            policy,
            password_params,
            operator_access,
        } = parts;
        let login_index_key =
            named_secret(&*store, &master_key, &*random, LOGIN_INDEX_SECRET).await?;
        let client_secret_key =
            named_secret(&*store, &master_key, &*random, CLIENT_SECRET_KEY).await?;
        let decoy_password = Zeroizing::new(URL_SAFE_NO_PAD.encode(random.bytes32()));
        let decoy_password_hash =
            password::hash_password(password_params, decoy_password, random.bytes16(), None)
                .await?;

        let mut ring = KeyRing::default();
        for stored in store.keys().await? {
            ring.insert(load_key(&master_key, stored)?);
        }
        let now = clock.now();
        let ledger = LiveLedger::default();
        for session in store.live_sessions(now).await? {
            ledger.insert_session(session.sid.clone(), LiveSession::from_record(&session));
        }
        for entry in store.unexpired_issued(now).await? {
            // Rows read back from the database get their signature checked on first use.
            ledger.insert_token(entry.token_hash, LiveToken::from_entry(&entry, false));
        }
        let authority = TokenAuthority {
            account_failures: Mutex::new(SlidingWindowCounter::new(
                policy.login_window,
                policy.login_failures_per_account,
                LIMITER_KEYS,
            )),
            source_attempts: Mutex::new(SlidingWindowCounter::new(
                policy.login_window,
                policy.login_attempts_per_source,
                LIMITER_KEYS,
            )),
            hashing: HashingGate::new(policy.login_hash_concurrency, policy.login_hash_queue),
            store,
            master_key,
            clock,
            events,
            random,
            policy,
            password_params,
            keys: RwLock::new(ring),
            ledger,
            login_index_key,
            client_secret_key,
            decoy_password_hash,
            key_changes: tokio::sync::Mutex::new(()),
            suspended: RwLock::new(HashSet::new()),
            operator_access,
            response_grant_taken: std::sync::Mutex::new(false),
        };
        authority.maintain().await?;
        Ok(authority)
    }

    /// The policy in force.
    pub fn policy(&self) -> &TokenPolicy {
        &self.policy
    }

    /// The clock the authority reads.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    // ---------------------------------------------------------------------------------------
    // Verification
    // ---------------------------------------------------------------------------------------

    /// RFC 7662 introspection. Inactive tokens are reported like any refused token.
    pub async fn introspect(&self, token: &str, context: &RequestContext) -> Introspection {
        match self.verify(token, context).await {
            Ok(verified) => Introspection {
                active: true,
                sub: Some(verified.principal.to_string()),
                sid: Some(verified.sid.clone()),
                jti: Some(verified.jti.clone()),
                kid: Some(verified.kid.clone()),
                exp: Some(verified.expires_at.as_secs()),
                scope: (!verified.scopes.is_empty()).then(|| verified.scopes.join(" ")),
                token_type: Some("access_token"),
            },
            Err(_) => Introspection {
                active: false,
                sub: None,
                sid: None,
                jti: None,
                kid: None,
                exp: None,
                scope: None,
                token_type: None,
            },
        }
    }

    // ---------------------------------------------------------------------------------------
    // Issuance
    // ---------------------------------------------------------------------------------------

    /// Signs a token and records it in the ledger before returning it.
    async fn issue_access_token(
        &self,
        principal: &Principal,
        sid: &str,
        scopes: &[String],
        context: &RequestContext,
    ) -> Result<(String, Timestamp), Error> {
        let now = self.clock.now();
        let (kid, signer) = {
            let keys = self.keys.read();
            let (record, signer) = keys
                .active()
                .ok_or_else(|| Error::Config("no active signing key".into()))?;
            (record.kid.clone(), signer)
        };
        let jti = hex::encode(self.random.bytes16());
        let expires_at = now.plus(self.policy.access_ttl);
        let scope = scopes.join(" ");
        let claims = Claims {
            iss: self.policy.issuer.clone(),
            aud: self.policy.audience.clone(),
            sub: principal.to_string(),
            sid: sid.to_string(),
            jti: jti.clone(),
            iat: now.as_secs(),
            exp: expires_at.as_secs(),
            scope: (!scope.is_empty()).then(|| scope.clone()),
        };
        let token = jwt::encode(&signer, &kid, &claims);
        let token_hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let entry = LedgerEntry {
            token_hash,
            jti: jti.clone(),
            sid: sid.to_string(),
            kid: kid.clone(),
            principal: principal.clone(),
            scope,
            issued_at: now,
            expires_at,
            revoked_at: None,
        };
        self.store.record_issued(&entry).await?;
        self.ledger
            .insert_token(token_hash, LiveToken::from_entry(&entry, true));
        self.emit(
            SecurityEvent::new(now, EventKind::TokenIssued, principal.clone())
                .context(context)
                .sid(sid)
                .jti(jti)
                .kid(kid)
                .customer_opt(principal),
        )
        .await?;
        Ok((token, expires_at))
    }

    async fn start_session(
        &self,
        principal: &Principal,
        lifetime: Duration,
    ) -> Result<SessionRecord, Error> {
        let now = self.clock.now();
        let session = SessionRecord {
            sid: hex::encode(self.random.bytes16()),
            principal: principal.clone(),
            created_at: now,
            expires_at: now.plus(lifetime),
            revoked_at: None,
            revoke_reason: None,
        };
        self.store.insert_session(&session).await?;
        self.ledger
            .insert_session(session.sid.clone(), LiveSession::from_record(&session));
        Ok(session)
    }

    async fn issue_refresh_token(&self, sid: &str) -> Result<String, Error> {
        let now = self.clock.now();
        let token = format!(
            "{REFRESH_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(self.random.bytes32())
        );
        let record = RefreshRecord {
            token_hash: Sha256::digest(token.as_bytes()).into(),
            sid: sid.to_string(),
            issued_at: now,
            expires_at: now.plus(self.policy.refresh_ttl),
            spent_at: None,
        };
        self.store.insert_refresh(&record).await?;
        Ok(token)
    }

    /// Exchanges a refresh token for a new pair. The old refresh token is spent; presenting it
    /// again revokes the whole session (the token was stolen, or the client is broken — either
    /// way the session can no longer be trusted).
    pub async fn refresh(
        &self,
        refresh_token: &str,
        context: &RequestContext,
    ) -> Result<TokenPair, Error> {
        let now = self.clock.now();
        let refused = |reason: &'static str| {
            SecurityEvent::new(now, EventKind::TokenRejected, Principal::Anonymous)
                .context(context)
                .outcome(Decision::Deny, 401)
                .reason(reason)
        };
        if !refresh_token.starts_with(REFRESH_PREFIX) || refresh_token.len() > 128 {
            self.emit(refused("invalid_refresh")).await?;
            return Err(AuthFailure::InvalidRefreshToken.into());
        }
        let token_hash: [u8; 32] = Sha256::digest(refresh_token.as_bytes()).into();
        let Some(record) = self.store.refresh(&token_hash).await? else {
            self.emit(refused("invalid_refresh")).await?;
            return Err(AuthFailure::InvalidRefreshToken.into());
        };
        let session = match self.ledger.session(&record.sid) {
            Some(session) => Some(session),
            None => self
                .store
                .session(&record.sid)
                .await?
                .map(|record| LiveSession::from_record(&record)),
        };
        let Some(session) = session else {
            self.emit(refused("invalid_refresh")).await?;
            return Err(AuthFailure::InvalidRefreshToken.into());
        };
        if self.is_suspended(&session.principal) {
            self.emit(refused("principal_suspended").sid(&record.sid))
                .await?;
            return Err(AuthFailure::Suspended.into());
        }
        if record.spent_at.is_some() || !self.store.spend_refresh(&token_hash, now).await? {
            self.revoke_session_inner(&record.sid, "refresh_reuse")
                .await?;
            self.emit(
                SecurityEvent::new(now, EventKind::RefreshReused, session.principal.clone())
                    .context(context)
                    .sid(&record.sid)
                    .customer_opt(&session.principal)
                    .outcome(Decision::Deny, 401)
                    .reason("refresh_reuse"),
            )
            .await?;
            return Err(AuthFailure::RefreshTokenReused.into());
        }
        if !session.is_live(now) || record.expires_at <= now {
            self.emit(refused("session_revoked").sid(&record.sid))
                .await?;
            return Err(AuthFailure::InvalidRefreshToken.into());
        }
        self.emit(
            SecurityEvent::new(now, EventKind::Refresh, session.principal.clone())
                .context(context)
                .sid(&record.sid)
                .customer_opt(&session.principal),
        )
        .await?;
        let (access_token, _) = self
            .issue_access_token(&session.principal, &record.sid, &[], context)
            .await?;
        let refresh_token = self.issue_refresh_token(&record.sid).await?;
        Ok(TokenPair {
            access_token,
            token_type: "Bearer",
            expires_in: self.policy.access_ttl.as_secs(),
            refresh_token: Some(refresh_token),
            session_id: record.sid,
            scope: None,
        })
    }

    /// Ends the session of `token`: every token of it stops working at once.
    pub async fn logout(
        &self,
        token: &VerifiedToken,
        context: &RequestContext,
    ) -> Result<(), Error> {
        self.revoke_session_inner(&token.sid, "logout").await?;
        self.emit(
            SecurityEvent::new(self.clock.now(), EventKind::Logout, token.principal.clone())
                .context(context)
                .sid(&token.sid)
                .jti(&token.jti)
                .kid(&token.kid)
                .customer_opt(&token.principal),
        )
        .await
    }

    /// Revokes a session (containment, admin act). Returns whether it existed.
    pub async fn revoke_session(
        &self,
        sid: &str,
        reason: &str,
        grant: &AdminGrant,
    ) -> Result<bool, Error> {
        let (actor, context) = (grant.actor(), grant.context());
        let exists = self.store.session(sid).await?.is_some();
        if exists {
            self.revoke_session_inner(sid, reason).await?;
            self.emit(
                SecurityEvent::new(self.clock.now(), EventKind::TokenRevoked, actor.clone())
                    .context(context)
                    .sid(sid)
                    .reason(reason),
            )
            .await?;
        }
        Ok(exists)
    }

    async fn revoke_session_inner(&self, sid: &str, reason: &str) -> Result<(), Error> {
        self.store
            .revoke_session(sid, self.clock.now(), reason)
            .await?;
        self.ledger.revoke_session(sid);
        Ok(())
    }

    /// RFC 7009 revocation of an access or refresh token by its holder (or an admin). Unknown
    /// tokens and tokens of others are ignored without saying so, as the RFC asks.
    pub async fn revoke_token(
        &self,
        token: &str,
        caller: &Principal,
        context: &RequestContext,
    ) -> Result<(), Error> {
        let now = self.clock.now();
        let token_hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let is_admin = matches!(caller, Principal::Admin(_));
        if token.starts_with(REFRESH_PREFIX) {
            if let Some(record) = self.store.refresh(&token_hash).await? {
                let owner = self.store.session(&record.sid).await?.map(|s| s.principal);
                if is_admin || owner.as_ref() == Some(caller) {
                    self.revoke_session_inner(&record.sid, "revoked").await?;
                    self.emit(
                        SecurityEvent::new(now, EventKind::TokenRevoked, caller.clone())
                            .context(context)
                            .sid(&record.sid)
                            .reason("refresh_token_revoked"),
                    )
                    .await?;
                }
            }
            return Ok(());
        }
        let entry = self.store.issued(&token_hash).await?;
        if let Some(entry) = entry.filter(|entry| is_admin || &entry.principal == caller) {
            self.store.revoke_issued(&token_hash, now).await?;
            self.ledger.revoke_token(&token_hash);
            self.emit(
                SecurityEvent::new(now, EventKind::TokenRevoked, caller.clone())
                    .context(context)
                    .sid(&entry.sid)
                    .jti(&entry.jti)
                    .kid(&entry.kid)
                    .reason("access_token_revoked"),
            )
            .await?;
        }
        Ok(())
    }

    /// OAuth 2.0 client-credentials grant for services and administrators.
    pub async fn client_credentials(
        &self,
        client_id: &str,
        client_secret: &str,
        requested_scope: Option<&str>,
        context: &RequestContext,
    ) -> Result<TokenPair, Error> {
        let now = self.clock.now();
        let source_allowance = context
            .ip
            .map(|ip| self.source_attempts.lock().check(&SourceKey::of(ip), now));
        if let Some(Allowance::Limited { retry_after }) = source_allowance {
            self.record_failed_login(None, "rate_limited", 429, context, now)
                .await?;
            return Err(AuthFailure::RateLimited {
                retry_after_secs: retry_after.as_secs().max(1),
            }
            .into());
        }
        let presented_hash = self.client_secret_hash(client_secret);
        let client = if client_id.len() <= 140 {
            self.store.client(client_id).await?
        } else {
            None
        };
        let secret_matches = client
            .as_ref()
            .map(|client| bool::from(client.secret_hash.ct_eq(&presented_hash)))
            .unwrap_or(false);
        let Some(client) = client.filter(|_| secret_matches) else {
            if let Some(ip) = context.ip {
                self.source_attempts.lock().record(SourceKey::of(ip), now);
            }
            self.record_failed_login(None, "invalid_client", 401, context, now)
                .await?;
            return Err(AuthFailure::InvalidClient.into());
        };
        if client.suspended_at.is_some() || self.is_suspended(&client.principal) {
            self.emit(
                SecurityEvent::new(now, EventKind::LoginFailed, client.principal.clone())
                    .context(context)
                    .outcome(Decision::Deny, 403)
                    .reason("suspended"),
            )
            .await?;
            return Err(AuthFailure::Suspended.into());
        }
        let scopes: Vec<String> = match requested_scope.map(str::trim).filter(|s| !s.is_empty()) {
            None => client.scopes.clone(),
            Some(requested) => {
                let mut granted = Vec::new();
                for scope in requested.split_whitespace() {
                    if !client.scopes.iter().any(|held| held == scope) {
                        return Err(
                            AuthFailure::InvalidScope(scope.chars().take(64).collect()).into()
                        );
                    }
                    granted.push(scope.to_string());
                }
                granted
            }
        };
        let session = self
            .start_session(&client.principal, self.policy.access_ttl)
            .await?;
        self.emit(
            SecurityEvent::new(now, EventKind::LoginOk, client.principal.clone())
                .context(context)
                .sid(&session.sid)
                .detail("grant", "client_credentials"),
        )
        .await?;
        let (access_token, _) = self
            .issue_access_token(&client.principal, &session.sid, &scopes, context)
            .await?;
        Ok(TokenPair {
            access_token,
            token_type: "Bearer",
            expires_in: self.policy.access_ttl.as_secs(),
            refresh_token: None,
            session_id: session.sid,
            scope: (!scopes.is_empty()).then(|| scopes.join(" ")),
        })
    }

    // ---------------------------------------------------------------------------------------
    // Principals
    // ---------------------------------------------------------------------------------------

    /// Creates a customer login account. Identifiers are stored only as keyed hashes.
    pub async fn create_account(
        &self,
        account: NewAccount,
        actor: &Principal,
        context: &RequestContext,
    ) -> Result<String, Error> {
        let mut login_hashes = Vec::new();
        if let Some(email) = &account.email {
            login_hashes.push(self.login_hash(&LoginIdentifier::Email(email.clone()))?);
        }
        if let Some(phone) = &account.phone {
            login_hashes.push(self.login_hash(&LoginIdentifier::Phone(phone.clone()))?);
        }
        if login_hashes.is_empty() {
            return Err(Error::Invalid(
                "an account needs an e-mail or a phone to log in with".into(),
            ));
        }
        let customer_id = match account.customer_id {
            Some(id) => validate_customer_id(&id)?,
            None => self.new_customer_id(),
        };
        let password_hash = match account.password {
            Some(password) => {
                let length = password.chars().count();
                if !(8..=256).contains(&length) {
                    return Err(Error::Invalid(
                        "password: must be 8 to 256 characters".into(),
                    ));
                }
                let turn = self.hashing.enter(Waiting::Unbounded).await;
                Some(
                    password::hash_password(
                        self.password_params,
                        password,
                        self.random.bytes16(),
                        turn,
                    )
                    .await?,
                )
            }
            None => None,
        };
        let record = AccountRecord {
            customer_id: customer_id.clone(),
            login_hashes,
            password_hash,
            created_at: self.clock.now(),
        };
        self.store
            .insert_account(&record)
            .await
            .map_err(|error| match error {
                StoreError::Conflict(_) => {
                    Error::Conflict("a customer with this e-mail, phone or id exists".into())
                }
                other => Error::Store(other),
            })?;
        self.emit(
            SecurityEvent::new(
                self.clock.now(),
                EventKind::AdminPrincipalCreated,
                actor.clone(),
            )
            .context(context)
            .customer(&customer_id)
            .detail("created", "customer_account"),
        )
        .await?;
        Ok(customer_id)
    }

    /// A fresh customer id: `c` and 32 hex digits (128 random bits, so ids cannot be guessed).
    pub fn new_customer_id(&self) -> String {
        format!("c{}", hex::encode(self.random.bytes16()))
    }

    /// Creates a service principal or administrator and returns its one-time credential.
    pub async fn create_client(
        &self,
        kind: ClientKind,
        name: &str,
        scopes: &[String],
        grant: &AdminGrant,
    ) -> Result<ClientCredential, Error> {
        let (actor, context) = (grant.actor(), grant.context());
        validate_name(name)?;
        for scope in scopes {
            validate_name(scope).map_err(|_| {
                Error::Invalid(format!("purpose {scope:?}: use a-z, 0-9, '-' or '_'"))
            })?;
        }
        let (client_id, principal, scopes) = match kind {
            ClientKind::Service => (
                format!("service.{name}"),
                Principal::Service(name.to_string()),
                scopes.to_vec(),
            ),
            ClientKind::Admin => (
                format!("admin.{name}"),
                Principal::Admin(name.to_string()),
                vec!["admin".to_string()],
            ),
        };
        let secret = Zeroizing::new(format!(
            "{CLIENT_SECRET_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(self.random.bytes32())
        ));
        let record = ClientRecord {
            client_id: client_id.clone(),
            principal: principal.clone(),
            secret_hash: self.client_secret_hash(&secret),
            scopes,
            created_at: self.clock.now(),
            suspended_at: None,
        };
        self.store
            .insert_client(&record)
            .await
            .map_err(|error| match error {
                StoreError::Conflict(_) => Error::Conflict(format!("{client_id} already exists")),
                other => Error::Store(other),
            })?;
        self.emit(
            SecurityEvent::new(
                self.clock.now(),
                EventKind::AdminPrincipalCreated,
                actor.clone(),
            )
            .context(context)
            .detail("created", principal.to_string()),
        )
        .await?;
        Ok(ClientCredential {
            client_id,
            client_secret: secret,
            principal,
        })
    }

    /// Every service and admin client (without secrets).
    pub async fn clients(&self) -> Result<Vec<ClientRecord>, Error> {
        Ok(self.store.clients().await?)
    }

    /// The keyed hash a login identifier is stored and looked up by.
    pub fn login_hash(&self, identifier: &LoginIdentifier) -> Result<[u8; 32], Error> {
        let (label, normalised) = match identifier {
            LoginIdentifier::Email(email) => (
                "email",
                haechi_korean::normalize_email(email)
                    .map_err(|error| Error::Invalid(error.to_string()))?,
            ),
            LoginIdentifier::Phone(phone) => (
                "phone",
                haechi_korean::normalize_phone(phone)
                    .map_err(|error| Error::Invalid(error.to_string()))?,
            ),
        };
        Ok(keyed_hash(
            &self.login_index_key,
            label,
            normalised.as_bytes(),
        ))
    }

    fn client_secret_hash(&self, secret: &str) -> [u8; 32] {
        keyed_hash(&self.client_secret_key, "client-secret", secret.as_bytes())
    }

    // ---------------------------------------------------------------------------------------
    // Keys
    // ---------------------------------------------------------------------------------------

    /// The JWKS: public keys of pending, active and retiring keys (RFC 7517).
    pub fn jwks(&self) -> serde_json::Value {
        let now = self.clock.now();
        let keys = self.keys.read();
        let published: Vec<serde_json::Value> = keys
            .published(now)
            .into_iter()
            .map(|entry| entry.public.jwk(&entry.record.kid))
            .collect();
        serde_json::json!({ "keys": published })
    }

    /// Every key's lifecycle record (never private material).
    pub fn keys(&self) -> Vec<KeyRecord> {
        self.keys.read().records()
    }

    /// Scheduled upkeep: retires keys whose window closed, makes sure an active and a pending
    /// key exist, rotates when the interval has passed, and prunes expired tokens from memory.
    pub async fn maintain(&self) -> Result<(), Error> {
        let _serialised = self.key_changes.lock().await;
        let now = self.clock.now();
        let actor = Principal::Admin("haechi-scheduler".into());
        let context = RequestContext::local();
        let retiring = self.keys.read().in_state(KeyState::Retiring);
        for mut record in retiring {
            if !record.may_verify(now) {
                record.retire(now)?;
                self.save_key_record(&record).await?;
                self.emit_key_event(
                    EventKind::KeyRetired,
                    &record.kid,
                    &actor,
                    &context,
                    "window_closed",
                )
                .await?;
            }
        }
        let has_active = !self.keys.read().in_state(KeyState::Active).is_empty();
        if !has_active {
            self.promote_pending(&actor, &context, "no_active_key")
                .await?;
        }
        self.ensure_pending(&actor, &context).await?;
        let due = self
            .keys
            .read()
            .in_state(KeyState::Active)
            .first()
            .and_then(|record| record.activated_at)
            .is_some_and(|since| now.since(since) >= self.policy.rotation_interval);
        if due {
            self.rotate_locked(&actor, &context, "scheduled").await?;
        }
        self.ledger.prune(now);
        if let Err(error) = self.store.prune_expired(now.minus(LEDGER_RETENTION)).await {
            tracing::warn!(%error, "pruning the issuance ledger failed");
        }
        Ok(())
    }

    /// Rotates now: the pending key (published since the last rotation) starts signing, the
    /// active key starts retiring, and a new pending key is generated. Returns the new active
    /// key's record.
    pub async fn rotate_keys(&self, grant: &AdminGrant) -> Result<KeyRecord, Error> {
        let (actor, context) = (grant.actor(), grant.context());
        let _serialised = self.key_changes.lock().await;
        self.rotate_locked(actor, context, "manual").await
    }

    async fn rotate_locked(
        &self,
        actor: &Principal,
        context: &RequestContext,
        reason: &str,
    ) -> Result<KeyRecord, Error> {
        self.ensure_pending(actor, context).await?;
        // Retire first, then promote: a crash in between leaves no active key, which the next
        // start repairs, rather than two.
        let active = self.keys.read().in_state(KeyState::Active);
        for mut record in active {
            record.start_retiring(self.clock.now(), self.policy.verify_window)?;
            self.save_key_record(&record).await?;
            self.emit_key_event(EventKind::KeyRetiring, &record.kid, actor, context, reason)
                .await?;
        }
        let active = self.promote_pending(actor, context, reason).await?;
        self.ensure_pending(actor, context).await?;
        Ok(active)
    }

    async fn promote_pending(
        &self,
        actor: &Principal,
        context: &RequestContext,
        reason: &str,
    ) -> Result<KeyRecord, Error> {
        let pending = self
            .keys
            .read()
            .in_state(KeyState::Pending)
            .into_iter()
            .next();
        let mut record = match pending {
            Some(record) => record,
            None => self.generate_key(actor, context).await?,
        };
        record.activate(self.clock.now())?;
        self.save_key_record(&record).await?;
        self.emit_key_event(EventKind::KeyActivated, &record.kid, actor, context, reason)
            .await?;
        Ok(record)
    }

    async fn ensure_pending(
        &self,
        actor: &Principal,
        context: &RequestContext,
    ) -> Result<(), Error> {
        if self.keys.read().in_state(KeyState::Pending).is_empty() {
            self.generate_key(actor, context).await?;
        }
        Ok(())
    }

    async fn generate_key(
        &self,
        actor: &Principal,
        context: &RequestContext,
    ) -> Result<KeyRecord, Error> {
        let material = SigningKeyMaterial::generate(self.policy.algorithm, &*self.random);
        let record = self
            .take_into_custody(material, KeyOrigin::Generated)
            .await?;
        self.emit_key_event(
            EventKind::KeyGenerated,
            &record.kid,
            actor,
            context,
            "generated",
        )
        .await?;
        Ok(record)
    }

    async fn take_into_custody(
        &self,
        material: SigningKeyMaterial,
        origin: KeyOrigin,
    ) -> Result<KeyRecord, Error> {
        let public = material.public_key();
        let kid = public.thumbprint();
        if self.keys.read().get(&kid).is_some() {
            return Err(Error::Conflict(format!("key {kid} is already in custody")));
        }
        let der = material.to_pkcs8_der()?;
        let wrapped =
            self.master_key
                .wrap(&SecretContext::signing_key(&kid), &der, &*self.random)?;
        let record = KeyRecord::pending(
            kid,
            material.algorithm(),
            origin,
            public.members().clone(),
            self.clock.now(),
        );
        self.store
            .insert_key(&StoredKey {
                record: record.clone(),
                wrapped_private_key: wrapped.to_bytes(),
            })
            .await?;
        self.keys.write().insert(KeyEntry {
            record: record.clone(),
            public,
            private: Some(Arc::new(material)),
        });
        Ok(record)
    }

    async fn save_key_record(&self, record: &KeyRecord) -> Result<(), Error> {
        self.store.update_key(record).await?;
        self.keys.write().update(record.clone());
        Ok(())
    }

    /// Revokes a key as compromised: every token it signed stops verifying at once (the key
    /// check precedes everything else), the sessions that held its tokens are listed in the
    /// `key.revoked` event, and if it was the active key the pending key takes over.
    pub async fn revoke_key(&self, kid: &str, grant: &AdminGrant) -> Result<RevokedKey, Error> {
        let (actor, context) = (grant.actor(), grant.context());
        let _serialised = self.key_changes.lock().await;
        let now = self.clock.now();
        let mut record = self
            .keys
            .read()
            .get(kid)
            .map(|entry| entry.record.clone())
            .ok_or_else(|| Error::NotFound(format!("key {kid}")))?;
        let was_active = record.state == KeyState::Active;
        record.revoke(now)?;
        self.save_key_record(&record).await?;
        let sessions = self.store.sessions_signed_by(kid, now).await?;
        let listed: Vec<&str> = sessions
            .iter()
            .take(MAX_SESSIONS_IN_EVENT)
            .map(String::as_str)
            .collect();
        self.emit(
            SecurityEvent::new(now, EventKind::KeyRevoked, actor.clone())
                .context(context)
                .kid(kid)
                .reason("compromise")
                .detail("session_count", sessions.len().to_string())
                .detail("sessions", listed.join(",")),
        )
        .await?;
        let replaced_by = if was_active {
            let active = self.promote_pending(actor, context, "revocation").await?;
            self.ensure_pending(actor, context).await?;
            Some(active.kid)
        } else {
            self.ensure_pending(actor, context).await?;
            None
        };
        Ok(RevokedKey {
            kid: kid.to_string(),
            sessions,
            replaced_by,
        })
    }

    /// Imports the signing key of an existing identity provider (PEM or private JWK) so that
    /// relying services keep working during a migration. The key becomes the active signer
    /// unless `activate` is false (then it waits as the pending key). The import is recorded
    /// as a `key.imported` event. Copies of an imported key may exist elsewhere — which is why
    /// tokens only verify through the issuance ledger.
    pub async fn import_key(
        &self,
        key_text: &str,
        activate: bool,
        grant: &AdminGrant,
    ) -> Result<KeyRecord, Error> {
        let (actor, context) = (grant.actor(), grant.context());
        let _serialised = self.key_changes.lock().await;
        let material = SigningKeyMaterial::import(key_text)?;
        // Any pending key is retired unused first, so the imported key is the next to sign.
        let pending = self.keys.read().in_state(KeyState::Pending);
        for mut pending in pending {
            pending.retire(self.clock.now())?;
            self.save_key_record(&pending).await?;
        }
        let record = self
            .take_into_custody(material, KeyOrigin::Imported)
            .await?;
        self.emit_key_event(
            EventKind::KeyImported,
            &record.kid,
            actor,
            context,
            "import",
        )
        .await?;
        if activate {
            return self.rotate_locked(actor, context, "import").await;
        }
        Ok(record)
    }

    async fn emit_key_event(
        &self,
        kind: EventKind,
        kid: &str,
        actor: &Principal,
        context: &RequestContext,
        reason: &str,
    ) -> Result<(), Error> {
        self.emit(
            SecurityEvent::new(self.clock.now(), kind, actor.clone())
                .context(context)
                .kid(kid)
                .reason(reason),
        )
        .await
    }

    async fn emit(&self, event: SecurityEvent) -> Result<(), Error> {
        self.events.record(event).await?;
        Ok(())
    }

    /// Hashes a password with the authority's argon2id parameters (for bulk imports).
    pub async fn hash_password(&self, password: Zeroizing<String>) -> Result<String, Error> {
        let length = password.chars().count();
        if !(8..=256).contains(&length) {
            return Err(Error::Invalid(
                "password: must be 8 to 256 characters".into(),
            ));
        }
        let turn = self.hashing.enter(Waiting::Unbounded).await;
        password::hash_password(self.password_params, password, self.random.bytes16(), turn).await
    }

    /// A named 256-bit secret (an index key, …), created and wrapped under the master key on
    /// first use.
    pub async fn named_secret(&self, name: &str) -> Result<Zeroizing<[u8; 32]>, Error> {
        named_secret(&*self.store, &self.master_key, &*self.random, name).await
    }

    /// Re-wraps every signing key and named secret that is not under the current master key.
    /// Idempotent, so an interrupted rotation is finished by running it again. Returns how
    /// many were re-wrapped.
    pub async fn rewrap_to_current(&self) -> Result<usize, Error> {
        let mut secrets = Vec::new();
        for (name, bytes) in self.store.secrets().await? {
            let wrapped = WrappedSecret::from_bytes(&bytes)?;
            let context = SecretContext::named(&name);
            if let Some(moved) =
                self.master_key
                    .rewrap_to_current(&context, &wrapped, &*self.random)?
            {
                secrets.push((name, moved.to_bytes()));
            }
        }
        let mut keys = Vec::new();
        for stored in self.store.keys().await? {
            let wrapped = WrappedSecret::from_bytes(&stored.wrapped_private_key)?;
            let context = SecretContext::signing_key(&stored.record.kid);
            if let Some(moved) =
                self.master_key
                    .rewrap_to_current(&context, &wrapped, &*self.random)?
            {
                keys.push((stored.record.kid.clone(), moved.to_bytes()));
            }
        }
        self.store.rewrap_authority_secrets(&secrets, &keys).await?;
        Ok(secrets.len() + keys.len())
    }

    /// Records that the master key was replaced.
    pub async fn record_master_rotation(
        &self,
        rewrapped: u64,
        actor: &Principal,
        context: &RequestContext,
    ) -> Result<(), Error> {
        self.emit(
            SecurityEvent::new(self.clock.now(), EventKind::MasterKeyRotated, actor.clone())
                .context(context)
                .detail("previous", self.master_key.previous_ids().join(","))
                .detail("current", self.master_key.id())
                .detail("rewrapped", rewrapped.to_string()),
        )
        .await
    }

    /// Number of unexpired tokens held in memory (a metric).
    pub fn live_token_count(&self) -> usize {
        self.ledger.token_count()
    }

    // ---------------------------------------------------------------------------------------
    // Containment and what detection may ask (memory only: these answer on the detection
    // path and in every verification, so they never wait on IO)
    // ---------------------------------------------------------------------------------------

    /// Suspends `principal`: from now on its tokens are refused (`principal_suspended`), its
    /// logins, refreshes and client-credentials grants fail with [`AuthFailure::Suspended`].
    /// Its sessions are not ended, so lifting the suspension restores them. Memory only: the
    /// caller stores the suspension first (so a restart restores it through this method, as
    /// the cache rule asks) and audits it. Returns whether it was not suspended already.
    pub fn suspend_principal(&self, principal: Principal) -> bool {
        self.suspended.write().insert(principal)
    }

    /// Lifts a suspension (memory only, like [`TokenAuthority::suspend_principal`]). Returns
    /// whether there was one.
    pub fn lift_suspension(&self, principal: &Principal) -> bool {
        self.suspended.write().remove(principal)
    }

    /// Whether `principal` is suspended now.
    pub fn is_suspended(&self, principal: &Principal) -> bool {
        let suspended = self.suspended.read();
        !suspended.is_empty() && suspended.contains(principal)
    }

    /// Whether a token verified earlier would still be accepted now: not expired, not revoked
    /// itself, its session not ended, its principal not suspended, its key not revoked. For
    /// uses of a [`VerifiedToken`] that outlive the request that verified it (an alert stream
    /// held open for minutes), which must end when revocation says so. Memory only.
    pub fn still_in_force(&self, token: &VerifiedToken) -> bool {
        let now = self.clock.now();
        token.expires_at > now
            && !self
                .ledger
                .token(&token.token_hash)
                .is_some_and(|live| live.is_revoked())
            && !self.is_session_revoked(&token.sid)
            && !self.is_suspended(&token.principal)
            && self.key_state(&token.kid) != Some(KeyState::Revoked)
    }

    /// The lifecycle state of key `kid`, if it was ever in custody.
    pub fn key_state(&self, kid: &str) -> Option<KeyState> {
        self.keys.read().get(kid).map(|entry| entry.record.state)
    }

    /// Whether session `sid` is known to be revoked. Answers from memory, which holds the
    /// sessions that were live at start or began since; an unknown session is not reported as
    /// revoked.
    pub fn is_session_revoked(&self, sid: &str) -> bool {
        self.ledger
            .session(sid)
            .is_some_and(|session| session.revoked)
    }

    /// Whether the issuance ledger recorded a token with this `jti`: `Some(true)` if an
    /// unexpired token with it is in memory, `None` otherwise — memory holds only unexpired
    /// tokens, so absence proves nothing about old ones.
    pub fn token_issued(&self, jti: &str) -> Option<bool> {
        self.ledger.holds_jti(jti).then_some(true)
    }
}

fn load_key(master_key: &MasterKeyRing, stored: StoredKey) -> Result<KeyEntry, Error> {
    let public = PublicKey::from_jwk(stored.record.algorithm, &stored.record.public_jwk)?;
    let private = match stored.record.state {
        KeyState::Pending | KeyState::Active => {
            let wrapped = WrappedSecret::from_bytes(&stored.wrapped_private_key)?;
            let der =
                master_key.unwrap(&SecretContext::signing_key(&stored.record.kid), &wrapped)?;
            Some(Arc::new(SigningKeyMaterial::from_pkcs8_der(&der)?))
        }
        _ => None,
    };
    Ok(KeyEntry {
        record: stored.record,
        public,
        private,
    })
}

/// Loads a named 256-bit secret, creating and wrapping it on first use. The same as
/// [`TokenAuthority::named_secret`], for secrets needed before the authority exists (the audit
/// key: the authority's own events go to the audit log it signs).
pub async fn named_secret(
    store: &dyn AuthorityStore,
    master_key: &MasterKeyRing,
    random: &dyn SecureRandom,
    name: &str,
) -> Result<Zeroizing<[u8; 32]>, Error> {
    let context = SecretContext::named(name);
    let stored = match store.secret(name).await? {
        Some(stored) => stored,
        None => {
            let fresh = Zeroizing::new(random.bytes32());
            let wrapped = master_key.wrap(&context, fresh.as_slice(), random)?;
            store
                .insert_secret_if_absent(name, &wrapped.to_bytes())
                .await?
        }
    };
    let plaintext = master_key.unwrap(&context, &WrappedSecret::from_bytes(&stored)?)?;
    let bytes: [u8; 32] = plaintext
        .as_slice()
        .try_into()
        .map_err(|_| Error::Config(format!("stored secret {name} has the wrong length")))?;
    Ok(Zeroizing::new(bytes))
}

fn keyed_hash(key: &[u8; 32], label: &str, value: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(label.as_bytes());
    mac.update(&[0]);
    mac.update(value);
    mac.finalize().into_bytes().into()
}

fn validate_name(name: &str) -> Result<(), Error> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "name {:?}: use 1-63 of a-z, 0-9, '-' or '_'",
            name.chars().take(70).collect::<String>()
        )))
    }
}

fn validate_customer_id(id: &str) -> Result<String, Error> {
    let valid = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        Ok(id.to_string())
    } else {
        Err(Error::Invalid(
            "customer id: use 1-64 of A-Z, a-z, 0-9, '-' or '_'".into(),
        ))
    }
}

trait CustomerOf {
    fn customer_opt(self, principal: &Principal) -> Self;
}

impl CustomerOf for SecurityEvent {
    fn customer_opt(self, principal: &Principal) -> Self {
        match principal {
            Principal::Customer(id) => self.customer(id),
            _ => self,
        }
    }
}
