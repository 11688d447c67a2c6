//! What rules may ask of Haechi's own state, through a trait the server implements.

use std::net::IpAddr;

use haechi_events::Principal;

/// What the key registry says about a signing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum KeyStateView {
    /// The key signs new tokens.
    Active,
    /// The key no longer signs but still verifies until its window closes.
    Retiring,
    /// The key's verification window closed.
    Retired,
    /// The key was revoked as compromised.
    Revoked,
}

impl KeyStateView {
    /// `active`, `retiring`, `retired` or `revoked`: the values a rule's `state.key` field
    /// compares against (plus `unknown` for keys the registry has never heard of).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStateView::Active => "active",
            KeyStateView::Retiring => "retiring",
            KeyStateView::Retired => "retired",
            KeyStateView::Revoked => "revoked",
        }
    }
}

/// Read-only questions a rule may ask of Haechi's state while it evaluates an event. The server
/// implements it over the key registry, the issuance ledger, the vault's customer count and the
/// containment tables; replay over an archive can use [`NoState`].
///
/// Every method is called on the detection path, so each must answer from memory (a cache of
/// the registry, an in-memory block list) and never block on IO. The engine calls them only
/// when a rule names the matching `state.*` field, a `share` rule needs its population, or a
/// response action checks whether its target is already contained.
pub trait StateLookup {
    /// The registry's state of signing key `kid`; `None` if the registry has never heard of it
    /// (rules see `state.key: unknown`).
    fn key_state(&self, kid: &str) -> Option<KeyStateView>;

    /// How many customers the vault holds: the population `share` rules divide by. Zero turns
    /// `share` rules off.
    fn customer_count(&self) -> u64;

    /// Whether `ip` is inside a network that is blocked right now. A `block_network` action for
    /// an address already blocked is not repeated.
    fn is_blocked(&self, ip: IpAddr) -> bool;

    /// Whether `principal` is suspended right now. A `suspend_principal` action for a principal
    /// already suspended is not repeated.
    fn is_suspended(&self, principal: &Principal) -> bool;

    /// Whether the issuance ledger recorded token `jti`: `Some(true)` if Haechi issued it,
    /// `Some(false)` if the ledger knows it did not, `None` if it cannot say.
    fn token_issued(&self, jti: &str) -> Option<bool>;

    /// Whether session `sid` is already revoked. A `revoke_session` action for it is not
    /// repeated.
    fn is_session_revoked(&self, sid: &str) -> bool;
}

/// A [`StateLookup`] that knows nothing: every key unknown, no customers (so `share` rules stay
/// quiet), nothing blocked, suspended or revoked, the ledger silent. For replaying archives
/// without a live server, and for tests.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoState;

impl StateLookup for NoState {
    fn key_state(&self, _kid: &str) -> Option<KeyStateView> {
        None
    }

    fn customer_count(&self) -> u64 {
        0
    }

    fn is_blocked(&self, _ip: IpAddr) -> bool {
        false
    }

    fn is_suspended(&self, _principal: &Principal) -> bool {
        false
    }

    fn token_issued(&self, _jti: &str) -> Option<bool> {
        None
    }

    fn is_session_revoked(&self, _sid: &str) -> bool {
        false
    }
}
