//! The gateway's server side: the `[gateway]` section of the policy in force, parsed once per
//! policy (the vault holds the text; a new policy is parsed on its first check).

use std::sync::Arc;

use haechi_gateway::GatewayPolicy;
use haechi_vault::{Policy, Vault};
use parking_lot::RwLock;

/// What a policy's `[gateway]` section parsed to.
pub type Parsed = Arc<Result<GatewayPolicy, haechi_gateway::Error>>;

/// The gateway policy of the vault's policy in force.
#[derive(Debug, Default)]
pub struct GatewayDesk {
    /// The policy last parsed, and what its `[gateway]` section parsed to.
    parsed: RwLock<Option<(Arc<Policy>, Parsed)>>,
}

impl GatewayDesk {
    /// A desk that has parsed nothing yet.
    pub fn new() -> Self {
        GatewayDesk::default()
    }

    /// The gateway's part of `vault`'s policy in force. A section that does not parse (a
    /// policy written before the gateway checked it) is an error here, and the check fails
    /// closed.
    pub fn policy(&self, vault: &Vault) -> Parsed {
        let current = vault.policy();
        if let Some((policy, parsed)) = &*self.parsed.read()
            && Arc::ptr_eq(policy, &current)
        {
            return parsed.clone();
        }
        let parsed = Arc::new(GatewayPolicy::parse(
            current.source(),
            "the policy in force",
        ));
        *self.parsed.write() = Some((current, parsed.clone()));
        parsed
    }
}
