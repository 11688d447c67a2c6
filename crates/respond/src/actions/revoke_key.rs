//! `revoke_key`: revokes a signing key, so nothing it signed verifies any more. The token
//! authority's act, which it records as `key.revoked`.

use async_trait::async_trait;
use haechi_custody::KeyState;
use haechi_detect::{ActionKind, ResponseAction};
use haechi_events::SecurityEvent;
use haechi_token::AdminGrant;

use super::{ActionExecutor, Executed};
use crate::Containment;

/// The executor of [`ActionKind::RevokeKey`].
pub(crate) struct RevokeKey;

#[async_trait]
impl ActionExecutor for RevokeKey {
    fn name(&self) -> &'static str {
        "revoke_key"
    }

    fn handles(&self, kind: &ActionKind) -> bool {
        matches!(kind, ActionKind::RevokeKey { .. })
    }

    fn describe(&self, kind: &ActionKind, event: SecurityEvent) -> SecurityEvent {
        match kind {
            ActionKind::RevokeKey { kid } => event.kid(kid),
            _ => event,
        }
    }

    async fn carry_out(
        &self,
        containment: &Containment,
        action: &ResponseAction,
        _alert_title: &str,
        grant: &AdminGrant,
    ) -> Executed {
        let ActionKind::RevokeKey { kid } = &action.kind else {
            return Executed::Outcome("unsupported");
        };
        let authority = containment.authority();
        match authority.key_state(kid) {
            None => Executed::Outcome("not_found"),
            Some(KeyState::Revoked) => Executed::Outcome("already"),
            Some(_) => match authority.revoke_key(kid, grant).await {
                Ok(_) => Executed::Outcome("done"),
                Err(error) => Executed::Failed(error.to_string()),
            },
        }
    }
}
