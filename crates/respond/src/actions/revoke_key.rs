//! `revoke_key`: revokes a signing key, so nothing it signed verifies any more. The token
//! authority's act, which it records as `key.revoked`.

use async_trait::async_trait;
use haechi_custody::KeyState;
use haechi_detect::ActionKind;
use haechi_events::SecurityEvent;
use haechi_token::AdminGrant;

use super::{Act, ActionExecutor, Executed};

/// The executor of a [`ActionKind::RevokeKey`].
pub(super) fn executor(kind: &ActionKind) -> Option<Box<dyn ActionExecutor + '_>> {
    match kind {
        ActionKind::RevokeKey { kid } => Some(Box::new(RevokeKey { kid })),
        _ => None,
    }
}

struct RevokeKey<'a> {
    kid: &'a str,
}

#[async_trait]
impl ActionExecutor for RevokeKey<'_> {
    fn name(&self) -> &'static str {
        "revoke_key"
    }

    fn describe(&self, event: SecurityEvent) -> SecurityEvent {
        event.kid(self.kid)
    }

    async fn carry_out(&self, grant: &AdminGrant, act: &Act<'_>) -> Executed {
        let authority = act.containment.authority();
        match authority.keys().state(self.kid) {
            None => Executed::Outcome("not_found"),
            // Revoked already, perhaps by a detection node that died before it could promote
            // the next key: make sure one signs.
            Some(KeyState::Revoked) => match authority.keys().ensure_active(grant).await {
                Ok(_) => Executed::Outcome("already"),
                Err(error) => Executed::Failed(error.to_string()),
            },
            Some(_) => match authority.keys().revoke(self.kid, grant).await {
                Ok(_) => Executed::Outcome("done"),
                Err(error) => Executed::Failed(error.to_string()),
            },
        }
    }
}
