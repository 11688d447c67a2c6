//! What rules may ask of the running server's state, answered from memory.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use haechi_custody::KeyState;
use haechi_detect::{KeyStateView, StateLookup};
use haechi_events::Principal;
use haechi_token::TokenAuthority;

use crate::Detection;

/// The server's [`StateLookup`]: the authority's key ring, ledger and suspensions, the
/// containment blocklist, and the customer count the detection task refreshes every minute.
/// Nothing here waits on IO.
#[derive(Debug, Clone)]
pub(crate) struct ServerLookup {
    /// The token authority: keys, ledger, sessions, suspensions.
    pub authority: Arc<TokenAuthority>,
    /// The desk and containment.
    pub detection: Arc<Detection>,
    /// How many customers the vault holds (refreshed by the detection task).
    pub customers: Arc<AtomicU64>,
}

impl StateLookup for ServerLookup {
    fn key_state(&self, kid: &str) -> Option<KeyStateView> {
        self.authority.keys().state(kid).map(|state| match state {
            // A pending key signs nothing yet but verifies like the active one.
            KeyState::Pending | KeyState::Active => KeyStateView::Active,
            KeyState::Retiring => KeyStateView::Retiring,
            KeyState::Retired => KeyStateView::Retired,
            KeyState::Revoked => KeyStateView::Revoked,
        })
    }

    fn customer_count(&self) -> u64 {
        self.customers.load(Ordering::Relaxed)
    }

    fn is_blocked(&self, ip: IpAddr) -> bool {
        self.detection.containment.is_blocked(ip)
    }

    fn is_suspended(&self, principal: &Principal) -> bool {
        self.authority.suspensions().is_suspended(principal)
    }

    fn token_issued(&self, jti: &str) -> Option<bool> {
        self.authority.verifier().token_issued(jti)
    }

    fn is_session_revoked(&self, sid: &str) -> bool {
        self.authority.sessions().is_revoked(sid)
    }
}
