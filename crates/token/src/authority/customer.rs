//! What the authority does when a customer is erased.

use haechi_events::{EventKind, Principal, RequestContext, SecurityEvent};

use super::TokenAuthority;
use crate::Error;

impl TokenAuthority {
    /// Ends every live session of customer `customer_id`: each session's access tokens and
    /// refresh token stop working at once (store first, then memory, as the cache rule asks).
    /// Crypto-shredding calls this, so an erased customer's tokens do not outlive their data.
    /// Each session ended is audited as `token.revoked` with `reason`, naming the customer.
    /// Returns how many sessions were ended.
    pub async fn end_customer_sessions(
        &self,
        customer_id: &str,
        reason: &str,
        actor: &Principal,
        context: &RequestContext,
    ) -> Result<usize, Error> {
        let principal = Principal::Customer(customer_id.to_string());
        let sessions = self
            .store
            .live_sessions_of(&principal, self.clock.now())
            .await?;
        for session in &sessions {
            self.revoke_session_inner(&session.sid, reason).await?;
            self.emit(
                SecurityEvent::new(self.clock.now(), EventKind::TokenRevoked, actor.clone())
                    .context(context)
                    .sid(&session.sid)
                    .customer(customer_id)
                    .reason(reason),
            )
            .await?;
        }
        Ok(sessions.len())
    }
}
