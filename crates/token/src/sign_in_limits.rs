//! Where the sign-in limits are counted: attempts per source network and failed logins per
//! account.
//!
//! One node counts them in its memory ([`MemorySignInLimits`], the embedded default). The
//! nodes of a cluster must count in one place, or a password guesser spreading its attempts
//! round-robin over N nodes gets N times the guesses: a cluster's store implements
//! [`SignInLimits`] over its database, and the authority is handed that one
//! ([`crate::AuthorityParts::sign_in_limits`]). Every method is a decision a sign-in waits on,
//! so limits that cannot answer fail the sign-in (`Error::Store`, a 503) rather than let it
//! through.
//!
//! Subjects are keyed hashes (32 bytes): an account by the keyed hash of its login
//! identifier, a source network by a keyed hash of the network. A store never sees an
//! address or an identifier.

use async_trait::async_trait;
use haechi_events::{StoreError, Timestamp};
use parking_lot::Mutex;

use crate::limiter::{Allowance, AttemptLimit, SlidingWindowCounter};

/// Most keys each in-memory counter tracks (accounts, source networks); a full table evicts
/// the longest-idle key. About 100 bytes a key.
pub(crate) const LIMITER_KEYS: usize = 1_000_000;

/// Which sign-in limit a count belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignInCounter {
    /// Attempts from one source (an IPv4 address or an IPv6 /64), customer logins and
    /// client-credentials grants together.
    SourceAttempts,
    /// Failed logins of one customer account (reserved before the password hash as
    /// presumed failures; cleared by a successful login).
    AccountFailures,
}

impl SignInCounter {
    /// The counter's name in a shared store (`source`, `account`).
    pub fn as_str(self) -> &'static str {
        match self {
            SignInCounter::SourceAttempts => "source",
            SignInCounter::AccountFailures => "account",
        }
    }
}

/// The sign-in limits' counts, per counter and subject (a 32-byte keyed hash).
#[async_trait]
pub trait SignInLimits: Send + Sync + std::fmt::Debug {
    /// Checks and, if allowed, counts one attempt of `subject` at `now`, in one step: the
    /// attempt is reserved before the work it guards (a password hash) starts. Exact under
    /// concurrent reservations of one subject: of attempts racing for the last places, the
    /// ones allowed add up to at most `limit.attempts` in the window.
    async fn try_reserve(
        &self,
        counter: SignInCounter,
        subject: &[u8; 32],
        limit: AttemptLimit,
        now: Timestamp,
    ) -> Result<Allowance, StoreError>;

    /// Takes back a reservation made at `reserved_at` (the guarded work never started).
    async fn cancel(
        &self,
        counter: SignInCounter,
        subject: &[u8; 32],
        reserved_at: Timestamp,
    ) -> Result<(), StoreError>;

    /// Whether another attempt of `subject` is allowed at `now`, without counting one.
    async fn check(
        &self,
        counter: SignInCounter,
        subject: &[u8; 32],
        limit: AttemptLimit,
        now: Timestamp,
    ) -> Result<Allowance, StoreError>;

    /// Counts one attempt of `subject` at `now` (after the fact: a failed client secret).
    async fn record(
        &self,
        counter: SignInCounter,
        subject: &[u8; 32],
        limit: AttemptLimit,
        now: Timestamp,
    ) -> Result<(), StoreError>;

    /// Forgets every attempt of `subject` (an account's failures, after a successful login).
    async fn clear(&self, counter: SignInCounter, subject: &[u8; 32]) -> Result<(), StoreError>;

    /// Forgets attempts made at or before `before`, of every subject (scheduled upkeep).
    /// Returns how many were forgotten.
    async fn prune(&self, before: Timestamp) -> Result<u64, StoreError>;
}

/// The embedded limits: this process's memory, exact for one node, bounded by
/// [`LIMITER_KEYS`] keys per counter. Never fails.
#[derive(Debug)]
pub struct MemorySignInLimits {
    sources: Mutex<SlidingWindowCounter<[u8; 32]>>,
    accounts: Mutex<SlidingWindowCounter<[u8; 32]>>,
}

impl Default for MemorySignInLimits {
    fn default() -> Self {
        MemorySignInLimits {
            sources: Mutex::new(SlidingWindowCounter::new(LIMITER_KEYS)),
            accounts: Mutex::new(SlidingWindowCounter::new(LIMITER_KEYS)),
        }
    }
}

impl MemorySignInLimits {
    fn counter(&self, counter: SignInCounter) -> &Mutex<SlidingWindowCounter<[u8; 32]>> {
        match counter {
            SignInCounter::SourceAttempts => &self.sources,
            SignInCounter::AccountFailures => &self.accounts,
        }
    }
}

#[async_trait]
impl SignInLimits for MemorySignInLimits {
    async fn try_reserve(
        &self,
        counter: SignInCounter,
        subject: &[u8; 32],
        limit: AttemptLimit,
        now: Timestamp,
    ) -> Result<Allowance, StoreError> {
        Ok(self
            .counter(counter)
            .lock()
            .try_reserve(subject, limit, now))
    }

    async fn cancel(
        &self,
        counter: SignInCounter,
        subject: &[u8; 32],
        reserved_at: Timestamp,
    ) -> Result<(), StoreError> {
        self.counter(counter).lock().cancel(subject, reserved_at);
        Ok(())
    }

    async fn check(
        &self,
        counter: SignInCounter,
        subject: &[u8; 32],
        limit: AttemptLimit,
        now: Timestamp,
    ) -> Result<Allowance, StoreError> {
        Ok(self.counter(counter).lock().check(subject, limit, now))
    }

    async fn record(
        &self,
        counter: SignInCounter,
        subject: &[u8; 32],
        limit: AttemptLimit,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.counter(counter).lock().record(*subject, limit, now);
        Ok(())
    }

    async fn clear(&self, counter: SignInCounter, subject: &[u8; 32]) -> Result<(), StoreError> {
        self.counter(counter).lock().clear(subject);
        Ok(())
    }

    async fn prune(&self, _before: Timestamp) -> Result<u64, StoreError> {
        // Memory is bounded by the key cap and each key's window, checked on use.
        Ok(0)
    }
}
