//! `suspend_principal`: the principal's tokens stop verifying and it cannot log in or be
//! granted tokens until an administrator lifts the suspension.

use async_trait::async_trait;
use haechi_detect::ActionKind;
use haechi_events::{Principal, SecurityEvent};
use haechi_token::AdminGrant;

use super::{Act, ActionExecutor, Executed};
use crate::SuspendRequest;

/// The executor of a [`ActionKind::SuspendPrincipal`].
pub(super) fn executor(kind: &ActionKind) -> Option<Box<dyn ActionExecutor + '_>> {
    match kind {
        ActionKind::SuspendPrincipal { principal } => {
            Some(Box::new(SuspendPrincipal { principal }))
        }
        _ => None,
    }
}

struct SuspendPrincipal<'a> {
    principal: &'a Principal,
}

#[async_trait]
impl ActionExecutor for SuspendPrincipal<'_> {
    fn name(&self) -> &'static str {
        "suspend_principal"
    }

    fn describe(&self, event: SecurityEvent) -> SecurityEvent {
        event.detail("target_principal", self.principal.to_string())
    }

    async fn carry_out(&self, grant: &AdminGrant, act: &Act<'_>) -> Executed {
        let request = SuspendRequest {
            principal: self.principal.clone(),
            reason: act.alert_title.to_string(),
            rule_id: Some(act.action.rule_id.clone()),
            alert_id: Some(act.action.alert_id.to_string()),
            trigger_seq: Some(act.action.seq),
        };
        match act.containment.suspend(request, grant).await {
            Ok(true) => Executed::Audited,
            Ok(false) => Executed::Outcome("already"),
            Err(error) => Executed::Failed(error.to_string()),
        }
    }
}
