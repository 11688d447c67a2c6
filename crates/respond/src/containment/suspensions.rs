//! Principal suspensions: put in place (by detection or an administrator) and lifted. The
//! token authority refuses a suspended principal at once; the store keeps the suspension
//! across restarts.

use haechi_events::{EventKind, Principal, SecurityEvent};
use haechi_token::AdminGrant;

use super::{Containment, with_origin};
use crate::Error;
use crate::records::SuspensionRecord;

impl Containment {
    /// Suspends `principal`: stored, then refused by the authority at once, audited as
    /// `response.action`. Returns `false` if it was suspended already.
    pub async fn suspend(
        &self,
        request: SuspendRequest,
        grant: &AdminGrant,
    ) -> Result<bool, Error> {
        let (actor, context) = (grant.actor(), grant.context());
        if request.principal == Principal::Anonymous {
            return Err(Error::Invalid(
                "anonymous is not a principal that can be suspended".into(),
            ));
        }
        if self
            .authority
            .suspensions()
            .is_suspended(&request.principal)
        {
            return Ok(false);
        }
        let now = self.now();
        self.store
            .insert_suspension(&SuspensionRecord {
                principal: request.principal.clone(),
                suspended_at: now,
                reason: request.reason.clone(),
                rule_id: request.rule_id.clone(),
                alert_id: request.alert_id.clone(),
                suspended_by: actor.clone(),
            })
            .await?;
        // Memory after the store (the cache rule).
        self.authority
            .suspensions()
            .suspend(request.principal.clone());
        let mut event = SecurityEvent::new(now, EventKind::ResponseAction, actor.clone())
            .context(context)
            .reason("suspend_principal")
            .detail("disposition", "enforce")
            .detail("outcome", "done")
            .detail("target_principal", request.principal.to_string())
            .detail("note", request.reason.clone());
        event = with_origin(
            event,
            request.rule_id.as_deref(),
            request.alert_id.as_deref(),
        );
        if let Some(seq) = request.trigger_seq {
            event = event.detail("trigger_seq", seq.to_string());
        }
        self.events.record(event).await?;
        Ok(true)
    }

    /// Lifts the suspension of `principal`, audited as `response.lifted` (with the
    /// administrator's `note` saying why, when given). Returns whether there was one.
    pub async fn lift_suspension(
        &self,
        principal: &Principal,
        note: Option<&str>,
        grant: &AdminGrant,
    ) -> Result<bool, Error> {
        let (actor, context) = (grant.actor(), grant.context());
        let now = self.now();
        let stored = self.store.lift_suspension(principal, now, actor).await?;
        let held = self.authority.suspensions().lift(principal);
        if !stored && !held {
            return Ok(false);
        }
        let mut event = SecurityEvent::new(now, EventKind::ResponseLifted, actor.clone())
            .context(context)
            .reason("suspend_principal")
            .detail("target_principal", principal.to_string());
        if let Some(note) = note {
            event = event.detail("note", note);
        }
        self.events.record(event).await?;
        Ok(true)
    }
}

/// A suspension to put in place.
#[derive(Debug, Clone)]
pub struct SuspendRequest {
    /// Who.
    pub principal: Principal,
    /// Why.
    pub reason: String,
    /// The rule, for automatic suspensions.
    pub rule_id: Option<String>,
    /// The alert.
    pub alert_id: Option<String>,
    /// The triggering event.
    pub trigger_seq: Option<u64>,
}
