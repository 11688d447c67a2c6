//! `suspend_principal`: the principal's tokens stop verifying and it cannot log in or be
//! granted tokens until an administrator lifts the suspension.

use async_trait::async_trait;
use haechi_detect::{ActionKind, ResponseAction};
use haechi_events::SecurityEvent;
use haechi_token::AdminGrant;

use super::{ActionExecutor, Executed};
use crate::{Containment, SuspendRequest};

/// The executor of [`ActionKind::SuspendPrincipal`].
pub(crate) struct SuspendPrincipal;

#[async_trait]
impl ActionExecutor for SuspendPrincipal {
    fn name(&self) -> &'static str {
        "suspend_principal"
    }

    fn handles(&self, kind: &ActionKind) -> bool {
        matches!(kind, ActionKind::SuspendPrincipal { .. })
    }

    fn describe(&self, kind: &ActionKind, event: SecurityEvent) -> SecurityEvent {
        match kind {
            ActionKind::SuspendPrincipal { principal } => {
                event.detail("target_principal", principal.to_string())
            }
            _ => event,
        }
    }

    async fn carry_out(
        &self,
        containment: &Containment,
        action: &ResponseAction,
        alert_title: &str,
        grant: &AdminGrant,
    ) -> Executed {
        let ActionKind::SuspendPrincipal { principal } = &action.kind else {
            return Executed::Outcome("unsupported");
        };
        let request = SuspendRequest {
            principal: principal.clone(),
            reason: alert_title.to_string(),
            rule_id: Some(action.rule_id.clone()),
            alert_id: Some(action.alert_id.to_string()),
            trigger_seq: Some(action.seq),
        };
        match containment.suspend(request, grant).await {
            Ok(true) => Executed::Audited,
            Ok(false) => Executed::Outcome("already"),
            Err(error) => Executed::Failed(error.to_string()),
        }
    }
}
