//! `revoke_session`: ends a session, so its tokens stop verifying. The token authority's act,
//! which it records as `token.revoked`.

use async_trait::async_trait;
use haechi_detect::ActionKind;
use haechi_events::SecurityEvent;
use haechi_token::AdminGrant;

use super::{Act, ActionExecutor, Executed};

/// The executor of a [`ActionKind::RevokeSession`].
pub(super) fn executor(kind: &ActionKind) -> Option<Box<dyn ActionExecutor + '_>> {
    match kind {
        ActionKind::RevokeSession { sid } => Some(Box::new(RevokeSession { sid })),
        _ => None,
    }
}

struct RevokeSession<'a> {
    sid: &'a str,
}

#[async_trait]
impl ActionExecutor for RevokeSession<'_> {
    fn name(&self) -> &'static str {
        "revoke_session"
    }

    fn describe(&self, event: SecurityEvent) -> SecurityEvent {
        event.sid(self.sid)
    }

    async fn carry_out(&self, grant: &AdminGrant, act: &Act<'_>) -> Executed {
        let revoked = act
            .containment
            .authority()
            .sessions()
            .revoke(self.sid, "detection", grant);
        match revoked.await {
            Ok(true) => Executed::Outcome("done"),
            Ok(false) => Executed::Outcome("not_found"),
            Err(error) => Executed::Failed(error.to_string()),
        }
    }
}
