//! Errors and refusals of the token authority.

use haechi_events::{SinkError, StoreError};

/// Why a presented access token was refused. The string form is the `reason` of the
/// `token.rejected` event and what detection rules match on. It stays in the audit record: the
/// caller is only ever told `invalid_token`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rejection {
    /// Not a JWS compact token: wrong shape, bad or non-canonical base64url, bad JSON,
    /// oversized; or a high-S ES256 signature, or the claims of an issued token under another
    /// signature — a re-spelling of a token, never a forgery.
    Malformed,
    /// The header names an algorithm Haechi does not sign with (`none`, `HS256`, …), or one
    /// that does not match the key named by `kid` (algorithm confusion).
    UnsupportedAlgorithm,
    /// No key with this `kid` was ever in custody.
    UnknownKey,
    /// A good signature by a key whose verification window has closed.
    RetiredKey,
    /// A good signature by a key revoked as compromised.
    RevokedKey,
    /// The signature does not verify (whatever the state of the key its `kid` names).
    BadSignature,
    /// A good signature on a token Haechi never issued: a stolen or leaked key in use.
    Forged,
    /// Past `exp`.
    Expired,
    /// `iat` lies in the future beyond the allowed clock skew.
    NotYetValid,
    /// `aud` is not this authority's audience.
    WrongAudience,
    /// `iss` is not this authority.
    WrongIssuer,
    /// The token's session was ended (logout, refresh reuse, containment).
    SessionRevoked,
    /// The token itself was revoked (RFC 7009).
    TokenRevoked,
    /// The token's principal is suspended by containment.
    PrincipalSuspended,
    /// The request carried no bearer token.
    Missing,
    /// The token could not be checked: the issuance ledger (the store) did not answer. Not a
    /// verdict on the token — the caller should retry, not log in again.
    Unconfirmed,
}

impl Rejection {
    /// The reason string used in events (never in error bodies).
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::Malformed => "malformed",
            Rejection::UnsupportedAlgorithm => "unsupported_alg",
            Rejection::UnknownKey => "unknown_kid",
            Rejection::RetiredKey => "retired_key",
            Rejection::RevokedKey => "revoked_key",
            Rejection::BadSignature => "bad_signature",
            Rejection::Forged => "forged",
            Rejection::Expired => "expired",
            Rejection::NotYetValid => "not_yet_valid",
            Rejection::WrongAudience => "wrong_audience",
            Rejection::WrongIssuer => "wrong_issuer",
            Rejection::SessionRevoked => "session_revoked",
            Rejection::TokenRevoked => "token_revoked",
            Rejection::PrincipalSuspended => "principal_suspended",
            Rejection::Missing => "missing",
            Rejection::Unconfirmed => "unconfirmed",
        }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a login, refresh or client-credentials grant was refused. Unknown accounts and wrong
/// passwords are deliberately the same variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthFailure {
    /// Unknown account or wrong password (indistinguishable on purpose).
    #[error("the identifier or password is wrong")]
    InvalidCredentials,
    /// Unknown client or wrong secret.
    #[error("the client id or secret is wrong")]
    InvalidClient,
    /// Too many attempts for this account or from this source.
    #[error("too many attempts; retry after {retry_after_secs} s")]
    RateLimited {
        /// Seconds until the window allows another attempt.
        retry_after_secs: u64,
    },
    /// The refresh token is unknown, expired or its session ended.
    #[error("the refresh token is not valid")]
    InvalidRefreshToken,
    /// A refresh token that was already spent was presented again: the session is revoked.
    #[error("this refresh token was already used; the session has been revoked")]
    RefreshTokenReused,
    /// The client asked for a scope it does not hold.
    #[error("scope {0:?} is not granted to this client")]
    InvalidScope(String),
    /// The principal is suspended by containment.
    #[error("this principal is suspended")]
    Suspended,
    /// A privileged act was asked for without an administrator's token (or, on the command
    /// line, by a process that does not hold the data directory).
    #[error("this act is for administrators")]
    NotAdministrator,
}

/// A failure of the authority itself (storage, custody, audit), as opposed to a refusal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Key custody failed (a wrapped key did not open, a key could not be imported).
    #[error(transparent)]
    Custody(#[from] haechi_custody::Error),
    /// The audit sink refused the event; the act was not carried out (fail closed).
    #[error(transparent)]
    Audit(#[from] SinkError),
    /// The configuration is unsafe or inconsistent.
    #[error("invalid token configuration: {0}")]
    Config(String),
    /// Something asked for does not exist (a key id, a session).
    #[error("not found: {0}")]
    NotFound(String),
    /// The request is invalid (bad name, weak password, malformed identifier).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// A value that must be unique already exists.
    #[error("already exists: {0}")]
    Conflict(String),
    /// A refusal of credentials or tokens.
    #[error(transparent)]
    Auth(#[from] AuthFailure),
    /// Password hashing failed or its worker pool is gone.
    #[error("password hashing failed: {0}")]
    Hashing(String),
}
