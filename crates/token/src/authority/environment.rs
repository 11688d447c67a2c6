//! What every part of the authority is built on: storage, time, randomness, the audit sink,
//! the master key and the policy, all from outside (the authority does no IO of its own).

use std::sync::Arc;

use haechi_custody::{MasterKeyRing, SecureRandom, SigningCustody};
use haechi_events::{Clock, EventKind, EventSink, Principal, SecurityEvent};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::{AuthorityStore, Error, TokenPolicy, named_secret};

/// The outside world as the parts of the authority share it.
#[derive(Debug)]
pub(crate) struct Environment {
    pub store: Arc<dyn AuthorityStore>,
    pub master_key: Arc<MasterKeyRing>,
    /// Where signing keys are kept (wrapped under the master key, or in a PKCS#11 token).
    pub custody: SigningCustody,
    pub clock: Arc<dyn Clock>,
    pub events: Arc<dyn EventSink>,
    pub random: Arc<dyn SecureRandom>,
    pub policy: TokenPolicy,
}

impl Environment {
    /// A new event of `kind` by `principal`, stamped now.
    pub fn event(&self, kind: EventKind, principal: &Principal) -> SecurityEvent {
        SecurityEvent::new(self.clock.now(), kind, principal.clone())
    }

    /// A named 256-bit secret, created and wrapped under the master key on first use (see
    /// [`crate::named_secret`]).
    pub async fn named_secret(&self, name: &str) -> Result<Zeroizing<[u8; 32]>, Error> {
        named_secret(&*self.store, &self.master_key, &*self.random, name).await
    }

    /// Records a security event; an event that cannot be recorded fails the act.
    pub async fn emit(&self, event: SecurityEvent) -> Result<(), Error> {
        self.events.record(event).await?;
        Ok(())
    }
}

/// HMAC-SHA-256 under `key` of `label`, a zero byte and `value`: how login identifiers and
/// client secrets are stored.
pub(crate) fn keyed_hash(key: &[u8; 32], label: &str, value: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(label.as_bytes());
    mac.update(&[0]);
    mac.update(value);
    mac.finalize().into_bytes().into()
}

/// Names the customer on an event when the principal is one.
pub(crate) trait CustomerOf {
    fn customer_opt(self, principal: &Principal) -> Self;
}

impl CustomerOf for SecurityEvent {
    fn customer_opt(self, principal: &Principal) -> Self {
        match principal {
            Principal::Customer(id) => self.customer(id),
            _ => self,
        }
    }
}
