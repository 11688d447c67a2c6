//! Sign-in attempts: what customer logins and client-credentials grants share — the limit per
//! source network and the record of a failed attempt.

use haechi_events::{Decision, EventKind, Principal, RequestContext, SecurityEvent, Timestamp};
use parking_lot::Mutex;

use super::environment::Environment;
use crate::Error;
use crate::limiter::{SlidingWindowCounter, SourceKey};

/// Most keys each login limiter tracks (accounts, source networks); a full table evicts the
/// longest-idle key. About 100 bytes a key.
pub(super) const LIMITER_KEYS: usize = 1_000_000;

/// Attempts per source (IPv4 address or IPv6 /64) within the login window, counted across
/// logins and client-credentials grants.
pub(crate) type SourceAttempts = Mutex<SlidingWindowCounter<SourceKey>>;

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
