//! Customer logins: limits reserved before the password hash, bounded hashing, one answer
//! for unknown accounts and wrong passwords.
//!
//! A login is two steps, so that a caller with a capacity of its own (the portal's signed-in
//! lane) can ask for its turn between them: [`Accounts::begin_login`] reserves the limits, which
//! costs no hashing, and [`LoginAttempt::finish`] hashes the password. A flood of attempts from
//! a few sources is then refused by their limits before it takes any of the caller's turns.

use std::sync::Arc;

use haechi_events::{EventKind, Principal, RequestContext, SecurityEvent, Timestamp};
use zeroize::Zeroizing;

use super::{Accounts, LoginIdentifier};
use crate::authority::attempts::{LoginAdmission, LoginReservation, record_failed_login};
use crate::authority::issuance::TokenPair;
use crate::password::{self, Waiting};
use crate::{AuthFailure, Error};

/// `Retry-After` of a login refused because every hashing slot and queue place is taken.
const SATURATED_RETRY_SECS: u64 = 1;

/// A login whose limits are reserved and whose password is not yet checked: the only way to
/// a password hash. [`LoginAttempt::finish`] checks it; [`LoginAttempt::withdraw`] gives up
/// without hashing. Dropped before its hash began (the client hung up while waiting for the
/// portal's lane or a hashing slot), the account's reservation is taken back as `withdraw`
/// would, so people who give up during a surge and try again do not lock themselves out; the
/// source's attempt stays counted. Once the hash has begun, the attempt counts as the account's
/// failure whatever happens to the caller: the hash was spent on it.
#[must_use = "finish or withdraw the attempt"]
#[derive(Debug)]
pub struct LoginAttempt<'a> {
    accounts: &'a Accounts,
    login_hash: [u8; 32],
    reservation: LoginReservation,
    context: RequestContext,
    began: Timestamp,
    /// No password hash has begun and nothing has settled the reservation yet.
    before_hash: bool,
}

impl Accounts {
    /// Customer login with e-mail or phone and password: [`Accounts::begin_login`] then
    /// [`LoginAttempt::finish`].
    pub async fn login(
        &self,
        identifier: &LoginIdentifier,
        password: Zeroizing<String>,
        context: &RequestContext,
    ) -> Result<TokenPair, Error> {
        self.begin_login(identifier, context)
            .await?
            .finish(password)
            .await
    }

    /// The first step of a login: attempts are limited per account (failures) and per
    /// source (IPv4 address or IPv6 /64), and both are *reserved* here, before any password
    /// hash starts, so concurrent attempts cannot all pass the limit before any is counted —
    /// on one node, or on every node of a cluster when the limits are the store's. Refused
    /// with 429 when a limit is reached; a malformed identifier is refused like an unknown
    /// account (401). Either refusal is recorded.
    pub async fn begin_login(
        &self,
        identifier: &LoginIdentifier,
        context: &RequestContext,
    ) -> Result<LoginAttempt<'_>, Error> {
        let now = self.environment.clock.now();
        let login_hash = match self.login_hash(identifier) {
            Ok(hash) => hash,
            Err(_) => {
                // A malformed identifier is treated like an unknown account: same answer.
                record_failed_login(
                    &self.environment,
                    None,
                    "invalid_credentials",
                    401,
                    context,
                    now,
                )
                .await?;
                return Err(AuthFailure::InvalidCredentials.into());
            }
        };
        match self
            .throttle
            .reserve_login(context.ip, &login_hash, now)
            .await?
        {
            LoginAdmission::Reserved(reservation) => Ok(LoginAttempt {
                accounts: self,
                login_hash,
                reservation,
                context: context.clone(),
                began: now,
                before_hash: true,
            }),
            LoginAdmission::Limited { retry_after_secs } => {
                record_failed_login(&self.environment, None, "rate_limited", 429, context, now)
                    .await?;
                Err(AuthFailure::RateLimited { retry_after_secs }.into())
            }
        }
    }
}

impl LoginAttempt<'_> {
    /// Gives up before the password is hashed (the caller had no capacity for it): the
    /// account's reservation is taken back, the source's stays — it did send the attempt.
    /// Nothing is recorded; the caller answers for its own refusal.
    pub async fn withdraw(mut self) -> Result<(), Error> {
        self.before_hash = false;
        self.accounts
            .throttle
            .cancel_account_failure(&self.login_hash, self.reservation)
            .await
    }

    /// Checks the password. Unknown accounts and wrong passwords take the same time and get
    /// the same answer. Hashing is bounded ([`crate::TokenPolicy::login_hash_concurrency`]);
    /// a login that finds the queue full is refused with 429 and does not count against the
    /// account.
    pub async fn finish(mut self, password: Zeroizing<String>) -> Result<TokenPair, Error> {
        let accounts = self.accounts;
        let environment = &accounts.environment;
        let context = &self.context;
        let refuse = |customer_id: Option<String>, reason: &'static str, status: u16| {
            record_failed_login(
                environment,
                customer_id,
                reason,
                status,
                context,
                self.began,
            )
        };
        let Some(turn) = accounts.hashing.enter(Waiting::Bounded).await else {
            // Saturated, not wrong: the account's reservation is taken back.
            self.before_hash = false;
            accounts
                .throttle
                .cancel_account_failure(&self.login_hash, self.reservation)
                .await?;
            refuse(None, "hashing_saturated", 429).await?;
            return Err(AuthFailure::RateLimited {
                retry_after_secs: SATURATED_RETRY_SECS,
            }
            .into());
        };
        // From here the hash is spent: a caller that hangs up still pays for it.
        self.before_hash = false;
        let account = environment.store.account_by_login(&self.login_hash).await?;
        let stored_hash = account
            .as_ref()
            .and_then(|account| account.password_hash.clone());
        let matches = password::verify_password(
            accounts.password_params,
            password,
            stored_hash,
            accounts.decoy_password_hash.clone(),
            turn,
        )
        .await?;
        let account = match (matches, account) {
            (true, Some(account)) => account,
            (_, account) => {
                // The failure was counted when it was reserved.
                let customer = account.map(|account| account.customer_id);
                refuse(customer, "invalid_credentials", 401).await?;
                return Err(AuthFailure::InvalidCredentials.into());
            }
        };
        accounts
            .throttle
            .clear_account_failures(&self.login_hash)
            .await?;
        let principal = Principal::Customer(account.customer_id.clone());
        if accounts.suspensions.is_suspended(&principal) {
            refuse(Some(account.customer_id), "suspended", 403).await?;
            return Err(AuthFailure::Suspended.into());
        }
        let session = accounts
            .issuer
            .start_session(&principal, environment.policy.refresh_ttl)
            .await?;
        environment
            .emit(
                SecurityEvent::new(self.began, EventKind::LoginOk, principal.clone())
                    .context(context)
                    .sid(&session.sid)
                    .customer(&account.customer_id),
            )
            .await?;
        accounts
            .issuer
            .issue_with_refresh(&principal, session.sid, context)
            .await
    }
}

impl Drop for LoginAttempt<'_> {
    fn drop(&mut self) {
        if !self.before_hash {
            return;
        }
        // Dropped futures cannot await: the reservation is taken back on the runtime the
        // attempt was dropped on. Without one (never, inside the server) it stays counted.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let throttle = Arc::clone(self.accounts.throttle());
        let login_hash = self.login_hash;
        let reservation = self.reservation;
        runtime.spawn(async move {
            if let Err(error) = throttle
                .cancel_account_failure(&login_hash, reservation)
                .await
            {
                tracing::warn!(%error, "an abandoned login's reservation was not taken back");
            }
        });
    }
}
