//! Issuance: signing access tokens (ledger row durable before the token is returned),
//! starting sessions and handing out refresh tokens. Shared by the parts that let a principal
//! in: logins, refreshes and client-credentials grants.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use haechi_events::{EventKind, Principal, RequestContext, SecurityEvent, Timestamp};
use parking_lot::RwLock;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::environment::{CustomerOf, Environment};
use crate::jwt::{self, Claims};
use crate::keyring::KeyRing;
use crate::ledger::{LiveLedger, LiveSession, LiveToken};
use crate::{Error, LedgerEntry, RefreshRecord, SessionRecord};

/// What every refresh token starts with.
pub(super) const REFRESH_PREFIX: &str = "hrt_";

/// Tokens handed out by a login, refresh or grant.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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

/// An access token signed and not yet recorded: it is no token until [`Issuer::record`]
/// writes its ledger row.
#[derive(Debug)]
pub(crate) struct SignedToken {
    token: String,
    entry: LedgerEntry,
}

/// Signs tokens with the active key and records them in the ledger (store first, then
/// memory, as the cache rule asks).
#[derive(Debug)]
pub(crate) struct Issuer {
    environment: Arc<Environment>,
    keys: Arc<RwLock<KeyRing>>,
    ledger: Arc<LiveLedger>,
}

impl Issuer {
    pub fn new(
        environment: Arc<Environment>,
        keys: Arc<RwLock<KeyRing>>,
        ledger: Arc<LiveLedger>,
    ) -> Self {
        Issuer {
            environment,
            keys,
            ledger,
        }
    }

    /// Signs a token and records it in the ledger before returning it.
    pub async fn issue_access_token(
        &self,
        principal: &Principal,
        sid: &str,
        scopes: &[String],
        context: &RequestContext,
    ) -> Result<(String, Timestamp), Error> {
        let signed = self.sign_access_token(principal, sid, scopes).await?;
        self.record(signed, context).await
    }

    /// Signs an access token with the active key, recording nothing yet: a caller that must
    /// spend something for it (a refresh token) signs first, so that a signing key that is
    /// away (an HSM outage) spends nothing.
    pub async fn sign_access_token(
        &self,
        principal: &Principal,
        sid: &str,
        scopes: &[String],
    ) -> Result<SignedToken, Error> {
        let environment = &*self.environment;
        let now = environment.clock.now();
        let (kid, signer) = {
            let keys = self.keys.read();
            let (record, signer) = keys
                .active()
                .ok_or_else(|| Error::Config("no active signing key".into()))?;
            (record.kid.clone(), signer)
        };
        let jti = hex::encode(environment.random.bytes16());
        let expires_at = now.plus(environment.policy.access_ttl);
        let scope = scopes.join(" ");
        let claims = Claims {
            iss: environment.policy.issuer.clone(),
            aud: environment.policy.audience.clone(),
            sub: principal.to_string(),
            sid: sid.to_string(),
            jti: jti.clone(),
            iat: now.as_secs(),
            exp: expires_at.as_secs(),
            scope: (!scope.is_empty()).then(|| scope.clone()),
        };
        let token = if signer.is_in_token() {
            // A module call blocks (and an HSM that hangs would hold a runtime worker): off
            // the runtime.
            let kid = kid.clone();
            tokio::task::spawn_blocking(move || jwt::encode(&signer, &kid, &claims))
                .await
                .map_err(|_| {
                    haechi_custody::Error::HsmUnavailable("the signing task did not finish".into())
                })??
        } else {
            jwt::encode(&signer, &kid, &claims)?
        };
        Ok(SignedToken {
            token,
            entry: LedgerEntry {
                token_hash: [0; 32],
                jti,
                sid: sid.to_string(),
                kid,
                principal: principal.clone(),
                scope,
                issued_at: now,
                expires_at,
                revoked_at: None,
            },
        })
    }

    /// Records a signed token in the ledger (store, then memory) and as `token.issued`, then
    /// hands it out.
    pub async fn record(
        &self,
        signed: SignedToken,
        context: &RequestContext,
    ) -> Result<(String, Timestamp), Error> {
        let environment = &*self.environment;
        let SignedToken { token, mut entry } = signed;
        let token_hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        entry.token_hash = token_hash;
        environment.store.record_issued(&entry).await?;
        self.ledger
            .insert_token(token_hash, LiveToken::from_entry(&entry, true));
        let principal = &entry.principal;
        environment
            .emit(
                SecurityEvent::new(entry.issued_at, EventKind::TokenIssued, principal.clone())
                    .context(context)
                    .sid(&entry.sid)
                    .jti(&entry.jti)
                    .kid(&entry.kid)
                    .customer_opt(principal),
            )
            .await?;
        Ok((token, entry.expires_at))
    }

    /// Starts a session of `principal` that lasts `lifetime`.
    pub async fn start_session(
        &self,
        principal: &Principal,
        lifetime: Duration,
    ) -> Result<SessionRecord, Error> {
        let environment = &*self.environment;
        let now = environment.clock.now();
        let session = SessionRecord {
            sid: hex::encode(environment.random.bytes16()),
            principal: principal.clone(),
            created_at: now,
            expires_at: now.plus(lifetime),
            revoked_at: None,
            revoke_reason: None,
        };
        environment.store.insert_session(&session).await?;
        self.ledger
            .insert_session(session.sid.clone(), LiveSession::from_record(&session));
        Ok(session)
    }

    /// An access token and a fresh refresh token for session `sid` (a customer's login or
    /// refresh; customers' tokens carry no scopes).
    pub async fn issue_with_refresh(
        &self,
        principal: &Principal,
        sid: String,
        context: &RequestContext,
    ) -> Result<TokenPair, Error> {
        let signed = self.sign_access_token(principal, &sid, &[]).await?;
        self.issue_signed_with_refresh(signed, sid, context).await
    }

    /// [`Issuer::issue_with_refresh`] for an access token already signed.
    pub async fn issue_signed_with_refresh(
        &self,
        signed: SignedToken,
        sid: String,
        context: &RequestContext,
    ) -> Result<TokenPair, Error> {
        let (access_token, _) = self.record(signed, context).await?;
        let refresh_token = self.issue_refresh_token(&sid).await?;
        Ok(TokenPair {
            access_token,
            token_type: "Bearer",
            expires_in: self.environment.policy.access_ttl.as_secs(),
            refresh_token: Some(refresh_token),
            session_id: sid,
            scope: None,
        })
    }

    /// A fresh single-use refresh token for session `sid`, stored as its SHA-256.
    async fn issue_refresh_token(&self, sid: &str) -> Result<String, Error> {
        let environment = &*self.environment;
        let now = environment.clock.now();
        let token = format!(
            "{REFRESH_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(environment.random.bytes32())
        );
        let record = RefreshRecord {
            token_hash: Sha256::digest(token.as_bytes()).into(),
            sid: sid.to_string(),
            issued_at: now,
            expires_at: now.plus(environment.policy.refresh_ttl),
            spent_at: None,
        };
        environment.store.insert_refresh(&record).await?;
        Ok(token)
    }
}
