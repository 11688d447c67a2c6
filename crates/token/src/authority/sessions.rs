//! Sessions: refresh rotation with reuse detection, logout, revocation of a session or a
//! token, and ending a customer's sessions when the customer is erased.

use std::sync::Arc;

use haechi_events::{Decision, EventKind, Principal, RequestContext, SecurityEvent};
use sha2::{Digest, Sha256};

use super::environment::{CustomerOf, Environment};
use super::issuance::{Issuer, REFRESH_PREFIX, TokenPair};
use super::suspensions::Suspensions;
use crate::ledger::{LiveLedger, LiveSession};
use crate::{AdminGrant, AuthFailure, Error, VerifiedToken};

/// Live sessions and what ends them. Every end is written to the store, then to memory,
/// before the caller is answered (the cache rule), so each token of the session stops
/// verifying at once.
#[derive(Debug)]
pub struct Sessions {
    environment: Arc<Environment>,
    ledger: Arc<LiveLedger>,
    issuer: Arc<Issuer>,
    suspensions: Arc<Suspensions>,
}

impl Sessions {
    pub(crate) fn new(
        environment: Arc<Environment>,
        ledger: Arc<LiveLedger>,
        issuer: Arc<Issuer>,
        suspensions: Arc<Suspensions>,
    ) -> Self {
        Sessions {
            environment,
            ledger,
            issuer,
            suspensions,
        }
    }

    /// Exchanges a refresh token for a new pair. The old refresh token is spent; presenting it
    /// again revokes the whole session (the token was stolen, or the client is broken — either
    /// way the session can no longer be trusted).
    pub async fn refresh(
        &self,
        refresh_token: &str,
        context: &RequestContext,
    ) -> Result<TokenPair, Error> {
        let environment = &*self.environment;
        let now = environment.clock.now();
        let refused = |reason: &'static str| {
            SecurityEvent::new(now, EventKind::TokenRejected, Principal::Anonymous)
                .context(context)
                .outcome(Decision::Deny, 401)
                .reason(reason)
        };
        if !refresh_token.starts_with(REFRESH_PREFIX) || refresh_token.len() > 128 {
            environment.emit(refused("invalid_refresh")).await?;
            return Err(AuthFailure::InvalidRefreshToken.into());
        }
        let token_hash: [u8; 32] = Sha256::digest(refresh_token.as_bytes()).into();
        let Some(record) = environment.store.refresh(&token_hash).await? else {
            environment.emit(refused("invalid_refresh")).await?;
            return Err(AuthFailure::InvalidRefreshToken.into());
        };
        let session = match self.ledger.session(&record.sid) {
            Some(session) => Some(session),
            None => environment
                .store
                .session(&record.sid)
                .await?
                .map(|record| LiveSession::from_record(&record)),
        };
        let Some(session) = session else {
            environment.emit(refused("invalid_refresh")).await?;
            return Err(AuthFailure::InvalidRefreshToken.into());
        };
        if self.suspensions.is_suspended(&session.principal) {
            environment
                .emit(refused("principal_suspended").sid(&record.sid))
                .await?;
            return Err(AuthFailure::Suspended.into());
        }
        if record.spent_at.is_some() || !environment.store.spend_refresh(&token_hash, now).await? {
            self.end(&record.sid, "refresh_reuse").await?;
            environment
                .emit(
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
            environment
                .emit(refused("session_revoked").sid(&record.sid))
                .await?;
            return Err(AuthFailure::InvalidRefreshToken.into());
        }
        environment
            .emit(
                SecurityEvent::new(now, EventKind::Refresh, session.principal.clone())
                    .context(context)
                    .sid(&record.sid)
                    .customer_opt(&session.principal),
            )
            .await?;
        let (access_token, _) = self
            .issuer
            .issue_access_token(&session.principal, &record.sid, &[], context)
            .await?;
        let refresh_token = self.issuer.issue_refresh_token(&record.sid).await?;
        Ok(TokenPair {
            access_token,
            token_type: "Bearer",
            expires_in: environment.policy.access_ttl.as_secs(),
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
        self.end(&token.sid, "logout").await?;
        self.environment
            .emit(
                SecurityEvent::new(
                    self.environment.clock.now(),
                    EventKind::Logout,
                    token.principal.clone(),
                )
                .context(context)
                .sid(&token.sid)
                .jti(&token.jti)
                .kid(&token.kid)
                .customer_opt(&token.principal),
            )
            .await
    }

    /// Revokes a session (containment, admin act). Returns whether it existed.
    pub async fn revoke(&self, sid: &str, reason: &str, grant: &AdminGrant) -> Result<bool, Error> {
        let (actor, context) = (grant.actor(), grant.context());
        let exists = self.environment.store.session(sid).await?.is_some();
        if exists {
            self.end(sid, reason).await?;
            self.environment
                .emit(
                    SecurityEvent::new(
                        self.environment.clock.now(),
                        EventKind::TokenRevoked,
                        actor.clone(),
                    )
                    .context(context)
                    .sid(sid)
                    .reason(reason),
                )
                .await?;
        }
        Ok(exists)
    }

    /// RFC 7009 revocation of an access or refresh token by its holder (or an admin). Unknown
    /// tokens and tokens of others are ignored without saying so, as the RFC asks.
    pub async fn revoke_token(
        &self,
        token: &str,
        caller: &Principal,
        context: &RequestContext,
    ) -> Result<(), Error> {
        let environment = &*self.environment;
        let now = environment.clock.now();
        let token_hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let is_admin = matches!(caller, Principal::Admin(_));
        if token.starts_with(REFRESH_PREFIX) {
            if let Some(record) = environment.store.refresh(&token_hash).await? {
                let owner = environment
                    .store
                    .session(&record.sid)
                    .await?
                    .map(|s| s.principal);
                if is_admin || owner.as_ref() == Some(caller) {
                    self.end(&record.sid, "revoked").await?;
                    environment
                        .emit(
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
        let entry = environment.store.issued(&token_hash).await?;
        if let Some(entry) = entry.filter(|entry| is_admin || &entry.principal == caller) {
            environment.store.revoke_issued(&token_hash, now).await?;
            self.ledger.revoke_token(&token_hash);
            environment
                .emit(
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

    /// Ends every live session of customer `customer_id`: each session's access tokens and
    /// refresh token stop working at once (store first, then memory, as the cache rule asks).
    /// Crypto-shredding calls this, so an erased customer's tokens do not outlive their data.
    /// Each session ended is audited as `token.revoked` with `reason`, naming the customer.
    /// Returns how many sessions were ended.
    pub async fn end_customer_sessions(
        &self,
        customer_id: &str,
        reason: &str,
        actor: &Principal,
        context: &RequestContext,
    ) -> Result<usize, Error> {
        let environment = &*self.environment;
        let principal = Principal::Customer(customer_id.to_string());
        let sessions = environment
            .store
            .live_sessions_of(&principal, environment.clock.now())
            .await?;
        for session in &sessions {
            self.end(&session.sid, reason).await?;
            environment
                .emit(
                    SecurityEvent::new(
                        environment.clock.now(),
                        EventKind::TokenRevoked,
                        actor.clone(),
                    )
                    .context(context)
                    .sid(&session.sid)
                    .customer(customer_id)
                    .reason(reason),
                )
                .await?;
        }
        Ok(sessions.len())
    }

    /// Whether session `sid` is known to be revoked. Answers from memory, which holds the
    /// sessions that were live at start or began since; an unknown session is not reported as
    /// revoked.
    pub fn is_revoked(&self, sid: &str) -> bool {
        self.ledger.is_session_revoked(sid)
    }

    /// Ends session `sid` in the store, then in memory.
    async fn end(&self, sid: &str, reason: &str) -> Result<(), Error> {
        self.environment
            .store
            .revoke_session(sid, self.environment.clock.now(), reason)
            .await?;
        self.ledger.revoke_session(sid);
        Ok(())
    }
}
