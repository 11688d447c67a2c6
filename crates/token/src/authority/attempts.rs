//! Sign-in attempts: what customer logins and client-credentials grants share — the limits
//! per source network and per account, counted wherever [`SignInLimits`] keeps them (this
//! node's memory, or a cluster's store), and the record of a failed attempt.

use std::net::IpAddr;
use std::sync::Arc;

use haechi_events::{Decision, EventKind, Principal, RequestContext, SecurityEvent, Timestamp};
use zeroize::Zeroizing;

use super::environment::{Environment, keyed_hash};
use crate::limiter::{Allowance, AttemptLimit, SourceKey};
use crate::sign_in_limits::{SignInCounter, SignInLimits};
use crate::{Error, TokenPolicy};

/// The sign-in limits as the parts apply them: which counter, which subject, which limit.
/// Sources are named to the limits by a keyed hash of their network (under a key derived from
/// the login-index key), so no address is kept where the limits are counted.
#[derive(Debug)]
pub(crate) struct SignInThrottle {
    limits: Arc<dyn SignInLimits>,
    source_key: Zeroizing<[u8; 32]>,
    per_source: AttemptLimit,
    per_account: AttemptLimit,
}

/// A login's reservation: what to take back if the password hash never starts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoginReservation {
    reserved_at: Timestamp,
}

/// Whether a login may go on to the password hash.
#[derive(Debug, Clone, Copy)]
pub(crate) enum LoginAdmission {
    /// Both limits had room; each counted one attempt.
    Reserved(LoginReservation),
    /// A limit is reached: refused for this many seconds (at least 1).
    Limited { retry_after_secs: u64 },
}

impl SignInThrottle {
    pub fn new(
        limits: Arc<dyn SignInLimits>,
        login_index_key: &[u8; 32],
        policy: &TokenPolicy,
    ) -> Self {
        SignInThrottle {
            limits,
            source_key: Zeroizing::new(keyed_hash(login_index_key, "sign-in sources", &[])),
            per_source: AttemptLimit {
                attempts: policy.login_attempts_per_source,
                window: policy.login_window,
            },
            per_account: AttemptLimit {
                attempts: policy.login_failures_per_account,
                window: policy.login_window,
            },
        }
    }

    fn source(&self, ip: IpAddr) -> [u8; 32] {
        keyed_hash(&self.source_key, "source", &SourceKey::of(ip).bytes())
    }

    /// Reserves one attempt for the source and one (presumed) failure for the account, each
    /// checked and counted in one step. Limited if either limit is reached (then nothing is
    /// counted for the account).
    pub async fn reserve_login(
        &self,
        ip: Option<IpAddr>,
        login_hash: &[u8; 32],
        now: Timestamp,
    ) -> Result<LoginAdmission, Error> {
        if let Some(ip) = ip {
            let source = self.source(ip);
            let allowance = self
                .limits
                .try_reserve(SignInCounter::SourceAttempts, &source, self.per_source, now)
                .await?;
            if let Allowance::Limited { retry_after } = allowance {
                return Ok(LoginAdmission::Limited {
                    retry_after_secs: retry_after.as_secs().max(1),
                });
            }
        }
        let allowance = self
            .limits
            .try_reserve(
                SignInCounter::AccountFailures,
                login_hash,
                self.per_account,
                now,
            )
            .await?;
        Ok(match allowance {
            Allowance::Limited { retry_after } => LoginAdmission::Limited {
                retry_after_secs: retry_after.as_secs().max(1),
            },
            Allowance::Allowed => LoginAdmission::Reserved(LoginReservation { reserved_at: now }),
        })
    }

    /// Takes back the account's presumed failure (the hash never started; the source's
    /// attempt stays — it did send it).
    pub async fn cancel_account_failure(
        &self,
        login_hash: &[u8; 32],
        reservation: LoginReservation,
    ) -> Result<(), Error> {
        self.limits
            .cancel(
                SignInCounter::AccountFailures,
                login_hash,
                reservation.reserved_at,
            )
            .await?;
        Ok(())
    }

    /// Forgets the account's failures (the password was right).
    pub async fn clear_account_failures(&self, login_hash: &[u8; 32]) -> Result<(), Error> {
        self.limits
            .clear(SignInCounter::AccountFailures, login_hash)
            .await?;
        Ok(())
    }

    /// Whether the source may make another attempt, without counting one.
    pub async fn check_source(
        &self,
        ip: Option<IpAddr>,
        now: Timestamp,
    ) -> Result<Allowance, Error> {
        let Some(ip) = ip else {
            return Ok(Allowance::Allowed);
        };
        Ok(self
            .limits
            .check(
                SignInCounter::SourceAttempts,
                &self.source(ip),
                self.per_source,
                now,
            )
            .await?)
    }

    /// Counts a failed attempt of the source (a wrong client secret).
    pub async fn record_source_failure(
        &self,
        ip: Option<IpAddr>,
        now: Timestamp,
    ) -> Result<(), Error> {
        if let Some(ip) = ip {
            self.limits
                .record(
                    SignInCounter::SourceAttempts,
                    &self.source(ip),
                    self.per_source,
                    now,
                )
                .await?;
        }
        Ok(())
    }

    /// Forgets attempts that left both windows before `now` (scheduled upkeep).
    pub async fn prune(&self, now: Timestamp) -> Result<u64, Error> {
        let window = self.per_source.window.max(self.per_account.window);
        Ok(self.limits.prune(now.minus(window)).await?)
    }
}

/// Records a refused sign-in as `auth.login_failed` (anonymous: nothing was proved), naming
/// the customer when the account is known.
pub(super) async fn record_failed_login(
    environment: &Environment,
    customer_id: Option<String>,
    reason: &str,
    status: u16,
    context: &RequestContext,
    now: Timestamp,
) -> Result<(), Error> {
    let mut event = SecurityEvent::new(now, EventKind::LoginFailed, Principal::Anonymous)
        .context(context)
        .outcome(Decision::Deny, status)
        .reason(reason);
    if let Some(customer_id) = customer_id {
        event = event.customer(customer_id);
    }
    environment.emit(event).await
}
