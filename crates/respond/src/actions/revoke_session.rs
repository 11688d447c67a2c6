//! `revoke_session`: ends a session, so its tokens stop verifying. The token authority's act,
//! which it records as `token.revoked`.

use async_trait::async_trait;
use haechi_detect::{ActionKind, ResponseAction};
use haechi_events::SecurityEvent;
use haechi_token::AdminGrant;

use super::{ActionExecutor, Executed};
use crate::Containment;

/// The executor of [`ActionKind::RevokeSession`].
pub(crate) struct RevokeSession;

#[async_trait]
impl ActionExecutor for RevokeSession {
    fn name(&self) -> &'static str {
        "revoke_session"
    }

    fn handles(&self, kind: &ActionKind) -> bool {
        matches!(kind, ActionKind::RevokeSession { .. })
    }

    fn describe(&self, kind: &ActionKind, event: SecurityEvent) -> SecurityEvent {
        match kind {
            ActionKind::RevokeSession { sid } => event.sid(sid),
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
        let ActionKind::RevokeSession { sid } = &action.kind else {
            return Executed::Outcome("unsupported");
        };
        match containment
            .authority()
            .revoke_session(sid, "detection", grant)
            .await
        {
            Ok(true) => Executed::Outcome("done"),
            Ok(false) => Executed::Outcome("not_found"),
            Err(error) => Executed::Failed(error.to_string()),
        }
    }
}
