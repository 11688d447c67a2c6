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
        // Signed before the refresh token is spent: a signing key that is away (an HSM
        // outage) fails the refresh with nothing spent, so the client's retry is no "reuse".
        let signed = match record.spent_at {
            Some(_) => None,
            None => Some(
                self.issuer
                    .sign_access_token(&session.principal, &record.sid, &[])
                    .await?,
            ),
        };
        let spent = match &signed {
            Some(_) => environment.store.spend_refresh(&token_hash, now).await?,
            None => false,
        };
        let Some(signed) = signed.filter(|_| spent) else {
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
        };
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
        self.issuer
            .issue_signed_with_refresh(signed, record.sid, context)
            .await
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
                self.environment
                    .event(EventKind::Logout, &token.principal)
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
                    self.environment
                        .event(EventKind::TokenRevoked, actor)
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
                    environment
                        .event(EventKind::TokenRevoked, actor)
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

    /// Applies a revocation another node made (the store already holds it): memory only,
    /// and only ever less permissive. Used by a cluster node following the change log.
    pub fn learn_session_revoked(&self, sid: &str) {
        self.ledger.revoke_session(sid);
    }

    /// Applies a token revocation another node made (memory only, see
    /// [`Sessions::learn_session_revoked`]).
    pub fn learn_token_revoked(&self, token_hash: &[u8; 32]) {
        self.ledger.revoke_token(token_hash);
    }

    /// Forgets every token and session cached in memory, revoked or not: a cluster node that
    /// missed part of the change log cannot know which it holds are stale, so it reads them
    /// all from the store again.
    pub fn forget_cached(&self) {
        self.ledger.forget_cached();
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

#[cfg(test)]
mod tests {
    use zeroize::Zeroizing;

    use super::*;
    use crate::testing::Fixture;
    use crate::{AuthorityStore, LoginIdentifier, Rejection};

    async fn login(f: &Fixture, email: &str) -> TokenPair {
        f.authority
            .accounts()
            .login(
                &LoginIdentifier::Email(email.into()),
                Zeroizing::new("correct horse".into()),
                &f.context,
            )
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_refresh_rotates_and_a_reused_refresh_token_ends_the_session() {
        let f = Fixture::open().await;
        f.customer("kim@example.com", "correct horse").await;
        let first = login(&f, "kim@example.com").await;
        let sessions = f.authority.sessions();
        let old_refresh = first.refresh_token.unwrap();
        let second = sessions.refresh(&old_refresh, &f.context).await.unwrap();
        assert_eq!(second.session_id, first.session_id);
        assert_ne!(second.refresh_token.as_deref(), Some(old_refresh.as_str()));

        assert!(matches!(
            sessions.refresh(&old_refresh, &f.context).await,
            Err(Error::Auth(AuthFailure::RefreshTokenReused))
        ));
        assert!(f.kinds().contains(&EventKind::RefreshReused));
        assert!(sessions.is_revoked(&second.session_id));
        assert_eq!(
            f.authority
                .verifier()
                .verify(&second.access_token, &f.context)
                .await,
            Err(Rejection::SessionRevoked)
        );
    }

    #[tokio::test]
    async fn a_token_is_revoked_by_its_holder_but_silently_not_by_another_customer() {
        let f = Fixture::open().await;
        let kim = f.customer("kim@example.com", "correct horse").await;
        let lee = f.customer("lee@example.com", "correct horse").await;
        let pair = login(&f, "kim@example.com").await;
        let sessions = f.authority.sessions();
        let verifier = f.authority.verifier();

        let other = Principal::Customer(lee);
        sessions
            .revoke_token(&pair.access_token, &other, &f.context)
            .await
            .unwrap();
        assert!(
            verifier
                .verify(&pair.access_token, &f.context)
                .await
                .is_ok()
        );

        let holder = Principal::Customer(kim);
        sessions
            .revoke_token(&pair.access_token, &holder, &f.context)
            .await
            .unwrap();
        assert_eq!(
            verifier.verify(&pair.access_token, &f.context).await,
            Err(Rejection::TokenRevoked)
        );
    }

    #[tokio::test]
    async fn erasing_a_customer_ends_every_session_and_an_admin_revocation_needs_a_grant() {
        let f = Fixture::open().await;
        let kim = f.customer("kim@example.com", "correct horse").await;
        let first = login(&f, "kim@example.com").await;
        let second = login(&f, "kim@example.com").await;
        let sessions = f.authority.sessions();
        let ended = sessions
            .end_customer_sessions(&kim, "erased", &Principal::Admin("test".into()), &f.context)
            .await
            .unwrap();
        assert_eq!(ended, 2);
        for pair in [&first, &second] {
            // The store first, then memory (the cache rule).
            let stored = f.store.session(&pair.session_id).await.unwrap().unwrap();
            assert_eq!(stored.revoke_reason.as_deref(), Some("erased"));
            assert!(sessions.is_revoked(&pair.session_id));
        }

        let grant = f.grant();
        assert!(
            !sessions
                .revoke("no-such-session", "admin", &grant)
                .await
                .unwrap()
        );
        let third = login(&f, "kim@example.com").await;
        assert!(
            sessions
                .revoke(&third.session_id, "admin", &grant)
                .await
                .unwrap()
        );
        assert!(sessions.is_revoked(&third.session_id));
    }
}
