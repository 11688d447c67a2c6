//! The life of a signing key: pending → active → retiring → retired, or revoked at any point.

use std::time::Duration;

use haechi_events::Timestamp;
use serde::{Deserialize, Serialize};

use crate::{Error, SigningAlgorithm};

/// Where a signing key is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Published in the JWKS but not signing yet, so that relying parties have fetched it
    /// before the first token it signs reaches them.
    Pending,
    /// The one key that signs new tokens.
    Active,
    /// No longer signs; verifies tokens it signed until `verify_until` (the longest token
    /// lifetime after it stopped signing).
    Retiring,
    /// Its window closed: verifies nothing, not published.
    Retired,
    /// Compromised: verifies nothing from the moment of revocation; every token it signed
    /// stopped working at once.
    Revoked,
}

impl KeyState {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Pending => "pending",
            KeyState::Active => "active",
            KeyState::Retiring => "retiring",
            KeyState::Retired => "retired",
            KeyState::Revoked => "revoked",
        }
    }

    /// Parses the lower-case name.
    pub fn parse(text: &str) -> Option<Self> {
        [
            KeyState::Pending,
            KeyState::Active,
            KeyState::Retiring,
            KeyState::Retired,
            KeyState::Revoked,
        ]
        .into_iter()
        .find(|state| state.as_str() == text)
    }
}

/// How a key came into custody.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyOrigin {
    /// Generated inside the authority; its private half never existed anywhere else.
    Generated,
    /// Imported from an existing identity provider: copies may exist outside, which is
    /// exactly why the issuance ledger, not the signature, decides what is valid.
    Imported,
}

impl KeyOrigin {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyOrigin::Generated => "generated",
            KeyOrigin::Imported => "imported",
        }
    }

    /// Parses the lower-case name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "generated" => Some(KeyOrigin::Generated),
            "imported" => Some(KeyOrigin::Imported),
            _ => None,
        }
    }
}

/// What custody knows about a signing key, apart from its (wrapped) private half.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KeyRecord {
    /// Key id: the RFC 7638 thumbprint of the public key.
    pub kid: String,
    /// Signing algorithm.
    pub algorithm: SigningAlgorithm,
    /// Current state.
    pub state: KeyState,
    /// Generated or imported.
    pub origin: KeyOrigin,
    /// Public JWK members (`kty`, `crv`, `x`, `y`).
    pub public_jwk: serde_json::Value,
    /// When it entered custody.
    pub created_at: Timestamp,
    /// When it started signing.
    pub activated_at: Option<Timestamp>,
    /// When it stopped signing.
    pub retiring_at: Option<Timestamp>,
    /// Until when a retiring key still verifies.
    pub verify_until: Option<Timestamp>,
    /// When it was retired or revoked.
    pub ended_at: Option<Timestamp>,
}

impl KeyRecord {
    /// A new pending key.
    pub fn pending(
        kid: String,
        algorithm: SigningAlgorithm,
        origin: KeyOrigin,
        public_jwk: serde_json::Value,
        now: Timestamp,
    ) -> Self {
        KeyRecord {
            kid,
            algorithm,
            state: KeyState::Pending,
            origin,
            public_jwk,
            created_at: now,
            activated_at: None,
            retiring_at: None,
            verify_until: None,
            ended_at: None,
        }
    }

    /// Whether a token signed by this key may still be accepted at `now` (signature-wise;
    /// the ledger decides the rest). Pending keys count: a "valid" signature by a key that
    /// never signed anything is the clearest sign of a stolen key, and must reach the ledger
    /// check to be reported as a forgery.
    pub fn may_verify(&self, now: Timestamp) -> bool {
        match self.state {
            KeyState::Pending | KeyState::Active => true,
            KeyState::Retiring => self.verify_until.is_some_and(|until| now < until),
            KeyState::Retired | KeyState::Revoked => false,
        }
    }

    /// Whether the key belongs in the published JWKS at `now`.
    pub fn is_published(&self, now: Timestamp) -> bool {
        self.may_verify(now)
    }

    /// Pending → active.
    pub fn activate(&mut self, now: Timestamp) -> Result<(), Error> {
        self.transition(KeyState::Active, &[KeyState::Pending])?;
        self.activated_at = Some(now);
        Ok(())
    }

    /// Active → retiring, verifying for `window` more.
    pub fn start_retiring(&mut self, now: Timestamp, window: Duration) -> Result<(), Error> {
        self.transition(KeyState::Retiring, &[KeyState::Active])?;
        self.retiring_at = Some(now);
        self.verify_until = Some(now.plus(window));
        Ok(())
    }

    /// Retiring (window closed) or pending (never used) → retired.
    pub fn retire(&mut self, now: Timestamp) -> Result<(), Error> {
        self.transition(KeyState::Retired, &[KeyState::Retiring, KeyState::Pending])?;
        self.ended_at = Some(now);
        Ok(())
    }

    /// Any state but revoked → revoked.
    pub fn revoke(&mut self, now: Timestamp) -> Result<(), Error> {
        self.transition(
            KeyState::Revoked,
            &[
                KeyState::Pending,
                KeyState::Active,
                KeyState::Retiring,
                KeyState::Retired,
            ],
        )?;
        self.ended_at = Some(now);
        Ok(())
    }

    fn transition(&mut self, to: KeyState, allowed_from: &[KeyState]) -> Result<(), Error> {
        if !allowed_from.contains(&self.state) {
            return Err(Error::Transition {
                kid: self.kid.clone(),
                from: self.state.as_str(),
                to: to.as_str(),
            });
        }
        self.state = to;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> KeyRecord {
        KeyRecord::pending(
            "k".into(),
            SigningAlgorithm::EdDsa,
            KeyOrigin::Generated,
            serde_json::Value::Null,
            Timestamp::from_secs(0),
        )
    }

    #[test]
    fn a_key_verifies_through_its_window_and_not_after() {
        let mut key = record();
        key.activate(Timestamp::from_secs(10)).unwrap();
        key.start_retiring(Timestamp::from_secs(100), Duration::from_secs(60))
            .unwrap();
        assert!(key.may_verify(Timestamp::from_secs(159)));
        assert!(!key.may_verify(Timestamp::from_secs(160)));
        key.retire(Timestamp::from_secs(160)).unwrap();
        assert!(!key.may_verify(Timestamp::from_secs(0)));
    }

    #[test]
    fn revoked_keys_verify_nothing_and_stay_revoked() {
        let mut key = record();
        key.activate(Timestamp::from_secs(1)).unwrap();
        key.revoke(Timestamp::from_secs(2)).unwrap();
        assert!(!key.may_verify(Timestamp::from_secs(2)));
        assert!(key.activate(Timestamp::from_secs(3)).is_err());
        assert!(key.revoke(Timestamp::from_secs(3)).is_err());
    }

    #[test]
    fn only_pending_keys_activate_and_only_active_keys_retire() {
        let mut key = record();
        assert!(
            key.start_retiring(Timestamp::EPOCH, Duration::ZERO)
                .is_err()
        );
        key.activate(Timestamp::EPOCH).unwrap();
        assert!(key.activate(Timestamp::EPOCH).is_err());
    }
}
