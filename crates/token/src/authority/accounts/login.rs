//! Customer logins: limits reserved before the password hash, bounded hashing, one answer
//! for unknown accounts and wrong passwords.

use haechi_events::{EventKind, Principal, RequestContext, SecurityEvent};
use zeroize::Zeroizing;

use super::{Accounts, LoginIdentifier};
use crate::authority::attempts::{LoginAdmission, record_failed_login};
use crate::authority::issuance::TokenPair;
use crate::password::{self, Waiting};
use crate::{AuthFailure, Error};

/// `Retry-After` of a login refused because every hashing slot and queue place is taken.
const SATURATED_RETRY_SECS: u64 = 1;

impl Accounts {
    /// Customer login with e-mail or phone and password. Unknown accounts and wrong passwords
    /// take the same time and get the same answer. Attempts are limited per account (failures)
    /// and per source (IPv4 address or IPv6 /64); both are *reserved* before the password
    /// hash starts, so concurrent attempts cannot all pass the limit before any is counted —
    /// on one node, or on every node of a cluster when the limits are the store's.
    /// Hashing itself is bounded ([`crate::TokenPolicy::login_hash_concurrency`]); a login
    /// that finds the queue full is refused with 429 and does not count against the account.
    pub async fn login(
        &self,
        identifier: &LoginIdentifier,
        password: Zeroizing<String>,
        context: &RequestContext,
    ) -> Result<TokenPair, Error> {
        let now = self.environment.clock.now();
        let refuse = |customer_id: Option<String>, reason: &'static str, status: u16| {
            record_failed_login(&self.environment, customer_id, reason, status, context, now)
        };
        let login_hash = match self.login_hash(identifier) {
            Ok(hash) => hash,
            Err(_) => {
                // A malformed identifier is treated like an unknown account: same answer.
                refuse(None, "invalid_credentials", 401).await?;
                return Err(AuthFailure::InvalidCredentials.into());
            }
        };
        let reservation = match self
            .throttle
            .reserve_login(context.ip, &login_hash, now)
            .await?
        {
            LoginAdmission::Reserved(reservation) => reservation,
            LoginAdmission::Limited { retry_after_secs } => {
                refuse(None, "rate_limited", 429).await?;
                return Err(AuthFailure::RateLimited { retry_after_secs }.into());
            }
        };
        let Some(turn) = self.hashing.enter(Waiting::Bounded).await else {
            // Saturated, not wrong: the account's reservation is taken back (the source's
            // stays — it did send the attempt).
            self.throttle
                .cancel_account_failure(&login_hash, reservation)
                .await?;
            refuse(None, "hashing_saturated", 429).await?;
            return Err(AuthFailure::RateLimited {
                retry_after_secs: SATURATED_RETRY_SECS,
            }
            .into());
        };
        let account = self.environment.store.account_by_login(&login_hash).await?;
        let stored_hash = account
            .as_ref()
            .and_then(|account| account.password_hash.clone());
        let matches = password::verify_password(
            self.password_params,
            password,
            stored_hash,
            self.decoy_password_hash.clone(),
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
        self.throttle.clear_account_failures(&login_hash).await?;
        let principal = Principal::Customer(account.customer_id.clone());
        if self.suspensions.is_suspended(&principal) {
            refuse(Some(account.customer_id), "suspended", 403).await?;
            return Err(AuthFailure::Suspended.into());
        }
        let session = self
            .issuer
            .start_session(&principal, self.environment.policy.refresh_ttl)
            .await?;
        self.environment
            .emit(
                SecurityEvent::new(now, EventKind::LoginOk, principal.clone())
                    .context(context)
                    .sid(&session.sid)
                    .customer(&account.customer_id),
            )
            .await?;
        self.issuer
            .issue_with_refresh(&principal, session.sid, context)
            .await
    }
}
