//! The token authority: a token opens something only if Haechi issued it.
//!
//! A stateless JWT check (signature and expiry) accepts any token signed with the key, so
//! whoever steals the key can mint a token for any customer. Here a token verifies only if
//!
//! 1. its header names an algorithm Haechi signs with and a key that may still verify,
//! 2. its signature is good,
//! 3. the **issuance ledger** holds this exact token (keyed by a SHA-256 of the whole signed
//!    token, recorded *before* the token was handed out),
//! 4. its session is live and neither it nor its key was revoked, and it has not expired.
//!
//! A token with a good signature and no ledger entry is a forgery: it is refused and a
//! `token.forged` event is raised on its first use. Success yields a [`VerifiedToken`], a
//! proof value only [`Verifier::verify`] can build, which the code that reads personal
//! data requires.
//!
//! The [`TokenAuthority`] is built of single-concept parts, each handed out by it:
//! [`Verifier`], [`Sessions`], [`Accounts`], [`Clients`], [`KeyLifecycle`] and
//! [`Suspensions`]; it alone makes [`AdminGrant`]s.
//!
//! The authority does no IO itself: storage is an [`AuthorityStore`], events go to an
//! `EventSink`, time comes from a `Clock`, randomness from a `SecureRandom`.

#![forbid(unsafe_code)]

mod authority;
mod error;
mod grant;
mod jwt;
mod keyring;
mod ledger;
mod limiter;
mod password;
mod policy;
mod refusal;
mod sign_in_limits;
mod store;
#[cfg(test)]
mod testing;
mod verified;

pub use authority::{
    Accounts, AuthorityParts, ClientCredential, ClientKind, Clients, DETECTION_ACTOR,
    Introspection, KeyLifecycle, LEAK_WATCH_ACTOR, LoginAttempt, LoginIdentifier, NewAccount,
    REVIEW_ACTOR, RevokedKey, Sessions, Suspensions, TokenAuthority, TokenPair, Verifier,
    is_reserved_admin_name, named_secret,
};
pub use error::{AuthFailure, Error, Rejection};
pub use grant::{AdminGrant, GrantedVia, OperatorAccess};
pub use limiter::{Allowance, AttemptLimit};
pub use password::PasswordParams;
pub use policy::TokenPolicy;
pub use sign_in_limits::{MemorySignInLimits, SignInCounter, SignInLimits};
pub use store::{
    AccountRecord, AuthorityStore, ClientRecord, LedgerEntry, RefreshRecord, SessionRecord,
    StoredKey,
};
pub use verified::VerifiedToken;

/// A presented token taken apart as verification first does it — three base64url parts, a
/// JSON header naming a supported `alg` and a `kid`, no `crit` — without any key, store or
/// clock. [`Verifier::verify`] starts with exactly this; it is public for the
/// `token_presentation` fuzz target (`fuzz/`), which feeds it arbitrary text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentedParts {
    /// The header's `alg`.
    pub alg: String,
    /// The header's `kid`.
    pub kid: String,
    /// `header.claims`, the bytes the signature covers.
    pub signing_input: String,
    /// The base64url signature part (accepted only in its one canonical spelling).
    pub signature: String,
    /// Whether the claims part decodes to Haechi's claims (checked only after the signature,
    /// in verification).
    pub claims_decode: bool,
}

/// Parses a presented token's shape and header ([`PresentedParts`]).
///
/// # Errors
/// The [`Rejection`] verification would give for the shape: `Malformed` or
/// `UnsupportedAlgorithm`.
pub fn parse_presented(token: &str) -> Result<PresentedParts, Rejection> {
    let presented = jwt::Presented::parse(token)?;
    // What a refused token's record carries is derived from the same untrusted text.
    let _ = jwt::Claimed::read(token, 64);
    Ok(PresentedParts {
        alg: presented.alg.clone(),
        kid: presented.kid.clone(),
        signing_input: presented.signing_input.to_string(),
        signature: token.rsplit('.').next().unwrap_or_default().to_string(),
        claims_decode: presented.claims().is_ok(),
    })
}
