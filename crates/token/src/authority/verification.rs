//! Verification of presented access tokens: shape → key → signature → ledger →
//! revocation, expiry, suspension, session; and the record of every refusal.

use std::sync::Arc;

use haechi_custody::KeyState;
use haechi_events::{Decision, EventKind, Principal, RequestContext, SecurityEvent, Timestamp};
use parking_lot::RwLock;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::LEDGER_RETENTION;
use super::environment::Environment;
use super::suspensions::Suspensions;
use crate::jwt::{Claimed, Claims, GoodSignature, Presented};
use crate::keyring::KeyRing;
use crate::ledger::{LiveLedger, LiveSession, LiveToken};
use crate::refusal::{LedgerKnowledge, Refusal};
use crate::{Rejection, VerifiedToken};

/// Longest unverified claim (`sub`, `jti`) copied into the record of a refused token.
const CLAIM_IN_EVENT_CHARS: usize = 64;

/// RFC 7662 introspection response.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
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

/// Token verification: the only maker of a [`VerifiedToken`]. It reads the signing keys
/// (their state first), the issuance ledger in memory with the store behind it, the sessions
/// and the suspensions; it changes nothing but the ledger's memory (a row read back from the
/// store, a signature seen to verify).
#[derive(Debug)]
pub struct Verifier {
    environment: Arc<Environment>,
    keys: Arc<RwLock<KeyRing>>,
    ledger: Arc<LiveLedger>,
    suspensions: Arc<Suspensions>,
}

impl Verifier {
    pub(crate) fn new(
        environment: Arc<Environment>,
        keys: Arc<RwLock<KeyRing>>,
        ledger: Arc<LiveLedger>,
        suspensions: Arc<Suspensions>,
    ) -> Self {
        Verifier {
            environment,
            keys,
            ledger,
            suspensions,
        }
    }

    /// Verifies a presented access token. Every refusal is reported as a `token.rejected` (or
    /// `token.forged`) event carrying the request's address and agent.
    pub async fn verify(
        &self,
        token: &str,
        context: &RequestContext,
    ) -> Result<VerifiedToken, Rejection> {
        match self.check(token).await {
            Ok(verified) => Ok(verified),
            Err(refusal) => {
                self.report_rejection(token, refusal, context).await;
                Err(refusal.rejection)
            }
        }
    }

    /// Reports a request that carried no token where one was required.
    pub async fn report_missing_token(&self, context: &RequestContext) {
        self.report_rejection("", Rejection::Missing.into(), context)
            .await;
    }

    async fn check(&self, token: &str) -> Result<VerifiedToken, Refusal> {
        let now = self.environment.clock.now();
        let presented = Presented::parse(token)?;
        let (public, dead_key) = {
            let keys = self.keys.read();
            let entry = keys.get(&presented.kid).ok_or(Rejection::UnknownKey)?;
            if entry.record.algorithm.jws_name() != presented.alg {
                // Algorithm confusion, whatever state the key is in: nothing was verified, so
                // this is no use of the key and must not count as one.
                return Err(Rejection::UnsupportedAlgorithm.into());
            }
            let dead_key = match entry.record.state {
                KeyState::Revoked => Some(Rejection::RevokedKey),
                KeyState::Retired => Some(Rejection::RetiredKey),
                _ if !entry.record.may_verify(now) => Some(Rejection::RetiredKey),
                _ => None,
            };
            (entry.public.clone(), dead_key)
        };
        let token_hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(dead_key) = dead_key {
            // Only a signature the dead key really made is a use of it. Anyone can write a
            // revoked key's `kid` into a header; refusing that as `revoked_key` would let them
            // get the relaying address blocked by the revoked-key rule.
            let signed = presented.verify_with(&public)?;
            return Err(self
                .dead_key_rejection(&signed, &presented, &token_hash, now, dead_key)
                .await);
        }
        let live = match self.ledger.token(&token_hash) {
            Some(live) => {
                if !live.signature_checked() {
                    presented.verify_with(&public)?;
                    live.mark_signature_checked();
                }
                live
            }
            None => {
                let signed = presented.verify_with(&public)?;
                self.ledger_fallback(&signed, &presented, &token_hash, now)
                    .await?
            }
        };
        if live.is_revoked() {
            return Err(Rejection::TokenRevoked.into());
        }
        if live.expires_at <= now {
            return Err(Rejection::Expired.into());
        }
        if live.kid != presented.kid {
            // The ledger row was written for another key: not a token this authority issued.
            return Err(Rejection::Forged.into());
        }
        if self.suspensions.is_suspended(&live.principal) {
            return Err(Rejection::PrincipalSuspended.into());
        }
        let session_live = match self.ledger.session(&live.sid) {
            Some(session) => session.is_live(now),
            None => {
                // A session another node opened: read through, and cache it unless a
                // revocation was applied meanwhile (see `LiveLedger::insert_read_session`).
                let mark = self.ledger.read_mark();
                match self.environment.store.session(&live.sid).await {
                    Ok(Some(record)) => {
                        let session = LiveSession::from_record(&record);
                        let live_now = session.is_live(now);
                        self.ledger
                            .insert_read_session(live.sid.clone(), session, mark);
                        live_now
                    }
                    Ok(None) => false,
                    Err(error) => {
                        tracing::error!(%error, "sessions unavailable during verification");
                        return Err(Rejection::Unconfirmed.into());
                    }
                }
            }
        };
        if !session_live {
            return Err(Rejection::SessionRevoked.into());
        }
        Ok(VerifiedToken {
            principal: live.principal.clone(),
            sid: live.sid.clone(),
            jti: live.jti.clone(),
            kid: live.kid.clone(),
            expires_at: live.expires_at,
            scopes: live.scopes.clone(),
            token_hash,
        })
    }

    /// Why a token that a revoked or retired key really signed is refused. A key that stopped
    /// signing still tells a forgery from a stale token: a good signature that the issuance
    /// ledger never recorded was minted by whoever holds a copy of the key — the Coupang
    /// attacker after the key was rotated out — and is reported as [`Rejection::Forged`], so
    /// that the holder of the copy is found, not just refused. The refusal says what the
    /// ledger knew (`detail.ledger`), which the revoked-key rule acts on.
    async fn dead_key_rejection(
        &self,
        _signed: &GoodSignature,
        presented: &Presented<'_>,
        token_hash: &[u8; 32],
        now: Timestamp,
        dead_key: Rejection,
    ) -> Refusal {
        if self.ledger.token(token_hash).is_some() {
            return Refusal::ledger(dead_key, LedgerKnowledge::Issued);
        }
        let Ok(claims) = presented.claims() else {
            return Rejection::Malformed.into();
        };
        match self.environment.store.issued(token_hash).await {
            Ok(Some(_)) => Refusal::ledger(dead_key, LedgerKnowledge::Issued),
            Ok(None) => match self.reencoded_issued(presented, &claims).await {
                Some(true) => Rejection::Malformed.into(),
                Some(false) if Timestamp::from_secs(claims.exp) >= now.minus(LEDGER_RETENTION) => {
                    Rejection::Forged.into()
                }
                Some(false) => Refusal::ledger(dead_key, LedgerKnowledge::NotIssued),
                None => Refusal::ledger(dead_key, LedgerKnowledge::Unknown),
            },
            // The ledger cannot be asked: the key's state is all that can be said.
            Err(_) => Refusal::ledger(dead_key, LedgerKnowledge::Unknown),
        }
    }

    /// A well-signed token not in memory: ask the store (another node may have issued it, or
    /// memory was pruned). No row means the token was never issued.
    async fn ledger_fallback(
        &self,
        _signed: &GoodSignature,
        presented: &Presented<'_>,
        token_hash: &[u8; 32],
        now: Timestamp,
    ) -> Result<Arc<LiveToken>, Refusal> {
        let claims = presented.claims()?;
        if claims.iss != self.environment.policy.issuer
            || claims.aud != self.environment.policy.audience
        {
            // A good signature with a foreign issuer or audience is still a token Haechi never
            // issued.
            return Err(self.forged_or_expired(&claims, now).into());
        }
        let mark = self.ledger.read_mark();
        match self.environment.store.issued(token_hash).await {
            Ok(Some(entry)) => Ok(self.ledger.insert_read_token(
                *token_hash,
                LiveToken::from_entry(&entry, true),
                mark,
            )),
            Ok(None) => match self.reencoded_issued(presented, &claims).await {
                Some(true) => Err(Rejection::Malformed.into()),
                Some(false) => Err(self.forged_or_expired(&claims, now).into()),
                None => Err(Rejection::Unconfirmed.into()),
            },
            // The ledger cannot be consulted: refuse rather than guess (fail closed).
            Err(error) => {
                tracing::error!(%error, "issuance ledger unavailable during verification");
                Err(Rejection::Unconfirmed.into())
            }
        }
    }

    /// Whether a well-signed token that is not in the ledger byte for byte carries exactly
    /// the claims and key of a token that is: the same issued token spelled differently, by
    /// its holder. The parser and the low-S rule already leave a holder no second spelling,
    /// so this is the last line: whatever re-encoding is found next, it is refused as
    /// `malformed` and never raised as a forgery — a forgery revokes the signing key and
    /// would log every customer out on any customer's demand. Only a different claim (a new
    /// `sub`, `exp`, `sid`, …) makes a forgery. `None` when the ledger cannot be asked.
    async fn reencoded_issued(&self, presented: &Presented<'_>, claims: &Claims) -> Option<bool> {
        if claims.jti.len() > 128 {
            return Some(false);
        }
        let entries = match self.environment.store.issued_by_jti(&claims.jti).await {
            Ok(entries) => entries,
            Err(error) => {
                tracing::error!(%error, "issuance ledger unavailable during verification");
                return None;
            }
        };
        let scope = claims.scope.clone().unwrap_or_default();
        Some(entries.iter().any(|entry| {
            entry.kid == presented.kid
                && entry.principal.to_string() == claims.sub
                && entry.sid == claims.sid
                && entry.issued_at.as_secs() == claims.iat
                && entry.expires_at.as_secs() == claims.exp
                && entry.scope == scope
                && claims.iss == self.environment.policy.issuer
                && claims.aud == self.environment.policy.audience
        }))
    }

    /// A signed token with no ledger row is a forgery, unless it expired so long ago that its
    /// row would have been pruned anyway.
    fn forged_or_expired(&self, claims: &Claims, now: Timestamp) -> Rejection {
        if Timestamp::from_secs(claims.exp) < now.minus(LEDGER_RETENTION) {
            Rejection::Expired
        } else {
            Rejection::Forged
        }
    }

    async fn report_rejection(&self, token: &str, refusal: Refusal, context: &RequestContext) {
        let now = self.environment.clock.now();
        let rejection = refusal.rejection;
        let kind = if rejection == Rejection::Forged {
            EventKind::TokenForged
        } else {
            EventKind::TokenRejected
        };
        // Principal and customer stay empty: nothing in a refused token is verified. What it
        // claims is kept as clearly-named, truncated details for the investigator.
        let mut event = SecurityEvent::new(now, kind, Principal::Anonymous)
            .context(context)
            .outcome(Decision::Deny, 401)
            .reason(rejection.as_str());
        if let Some(knowledge) = refusal.ledger {
            event = event.detail("ledger", knowledge.as_str());
        }
        let claimed = Claimed::read(token, CLAIM_IN_EVENT_CHARS);
        if let Some(kid) = claimed.kid {
            event = event.kid(kid);
        }
        if let Some(jti) = claimed.jti {
            event = event.jti(jti);
        }
        if let Some(sub) = claimed.sub {
            event = event.detail("claimed_sub", sub);
        }
        if let Err(error) = self.environment.events.record(event).await {
            tracing::error!(%error, "could not record a token refusal");
        }
    }

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

    // Memory only from here: these answer on the detection path and for long-lived uses of a
    // proof, so they never wait on IO.

    /// Whether a token verified earlier would still be accepted now: not expired, not revoked
    /// itself, its session not ended, its principal not suspended, its key not revoked. For
    /// uses of a [`VerifiedToken`] that outlive the request that verified it (an alert stream
    /// held open for minutes), which must end when revocation says so.
    pub fn still_in_force(&self, token: &VerifiedToken) -> bool {
        let now = self.environment.clock.now();
        let key_state = self
            .keys
            .read()
            .get(&token.kid)
            .map(|entry| entry.record.state);
        token.expires_at > now
            && !self
                .ledger
                .token(&token.token_hash)
                .is_some_and(|live| live.is_revoked())
            && !self.ledger.is_session_revoked(&token.sid)
            && !self.suspensions.is_suspended(&token.principal)
            && key_state != Some(KeyState::Revoked)
    }

    /// Whether the issuance ledger recorded a token with this `jti`: `Some(true)` if an
    /// unexpired token with it is in memory, `None` otherwise — memory holds only unexpired
    /// tokens, so absence proves nothing about old ones.
    pub fn token_issued(&self, jti: &str) -> Option<bool> {
        self.ledger.holds_jti(jti).then_some(true)
    }

    /// Number of unexpired tokens held in memory (a metric).
    pub fn live_token_count(&self) -> usize {
        self.ledger.token_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt;
    use crate::testing::Fixture;

    #[tokio::test]
    async fn an_issued_token_verifies_and_one_signed_with_the_real_key_but_never_issued_is_forged()
    {
        let f = Fixture::open().await;
        let customer = f.customer("kim@example.com", "correct horse").await;
        let pair = f
            .authority
            .accounts()
            .login(
                &crate::LoginIdentifier::Email("kim@example.com".into()),
                zeroize::Zeroizing::new("correct horse".into()),
                &f.context,
            )
            .await
            .unwrap();
        let verifier = f.authority.verifier();
        let verified = verifier
            .verify(&pair.access_token, &f.context)
            .await
            .unwrap();
        assert_eq!(verified.customer_id(), Some(customer.as_str()));

        // Whoever holds a copy of the signing key mints a token for another customer.
        let (kid, signer) = {
            let ring = f.authority.keys.ring().read();
            let (record, signer) = ring.active().unwrap();
            (record.kid.clone(), signer)
        };
        let now = haechi_events::Clock::now(&*f.clock);
        let policy = f.authority.policy();
        let forged = jwt::encode(
            &signer,
            &kid,
            &Claims {
                iss: policy.issuer.clone(),
                aud: policy.audience.clone(),
                sub: "customer:someone-else".into(),
                sid: verified.sid().into(),
                jti: "0123".into(),
                iat: now.as_secs(),
                exp: now.plus(policy.access_ttl).as_secs(),
                scope: None,
            },
        )
        .unwrap();
        assert_eq!(
            verifier.verify(&forged, &f.context).await,
            Err(Rejection::Forged)
        );
        let record = f.events.events().pop().unwrap();
        assert_eq!(record.kind, EventKind::TokenForged);
        assert_eq!(record.principal, Principal::Anonymous);
        assert_eq!(
            record.detail.get("claimed_sub").map(String::as_str),
            Some("customer:someone-else")
        );
    }

    #[tokio::test]
    async fn a_token_verified_earlier_stops_being_in_force_when_revocation_says_so() {
        let f = Fixture::open().await;
        let (_, pair) = f.client(crate::ClientKind::Service, "shipping").await;
        let verifier = f.authority.verifier();
        let token = verifier
            .verify(&pair.access_token, &f.context)
            .await
            .unwrap();
        assert!(verifier.still_in_force(&token));
        assert_eq!(verifier.token_issued(token.jti()), Some(true));

        f.authority.suspensions().suspend(token.principal().clone());
        assert!(!verifier.still_in_force(&token));
        assert_eq!(
            verifier.verify(&pair.access_token, &f.context).await,
            Err(Rejection::PrincipalSuspended)
        );
        f.authority.suspensions().lift(token.principal());
        assert!(verifier.still_in_force(&token));

        f.clock.advance_by(f.authority.policy().access_ttl);
        assert!(!verifier.still_in_force(&token));
        assert_eq!(
            verifier.verify(&pair.access_token, &f.context).await,
            Err(Rejection::Expired)
        );
    }

    #[tokio::test]
    async fn a_missing_token_is_recorded_as_a_refusal() {
        let f = Fixture::open().await;
        f.authority
            .verifier()
            .report_missing_token(&f.context)
            .await;
        let record = f.events.events().pop().unwrap();
        assert_eq!(record.kind, EventKind::TokenRejected);
        assert_eq!(record.reason.as_deref(), Some("missing"));
    }
}
