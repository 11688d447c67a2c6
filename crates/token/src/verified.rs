//! The proof that a token was verified.

use haechi_events::{Principal, Timestamp};

/// An access token that passed every check of [`crate::Verifier::verify`]. Its fields
/// are private and it has no public constructor, so code that requires one cannot be reached
/// with an unverified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    pub(crate) principal: Principal,
    pub(crate) sid: String,
    pub(crate) jti: String,
    pub(crate) kid: String,
    pub(crate) expires_at: Timestamp,
    pub(crate) scopes: Vec<String>,
    /// SHA-256 of the presented token: its key in the issuance ledger, so a long-lived use of
    /// the proof (an alert stream) can ask whether the token was revoked since.
    pub(crate) token_hash: [u8; 32],
}

impl VerifiedToken {
    /// Who the token speaks for.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// Its session.
    pub fn sid(&self) -> &str {
        &self.sid
    }

    /// Its id.
    pub fn jti(&self) -> &str {
        &self.jti
    }

    /// The key that signed it.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// When it expires.
    pub fn expires_at(&self) -> Timestamp {
        self.expires_at
    }

    /// The scopes granted (a service's purposes, `admin` for administrators).
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// Whether `scope` was granted.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|granted| granted == scope)
    }

    /// The customer id, if the token speaks for a customer.
    pub fn customer_id(&self) -> Option<&str> {
        match &self.principal {
            Principal::Customer(id) => Some(id),
            _ => None,
        }
    }
}
