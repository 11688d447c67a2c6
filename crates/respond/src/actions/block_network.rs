//! `block_network`: refuse every request from a network for a while.
//!
//! Safeguards: a network overlapping one that is never blocked (`detect.never_block`: the host
//! itself, the proxy in front) is recorded as `allowlisted`; a network holding an address many
//! principals used successfully within the last day (a load balancer, a carrier NAT) is
//! recorded as `recommended`, and raised as a [`WITHHELD_BLOCK_RULE`] alert for a human.

use std::net::IpAddr;
use std::time::Duration;

use async_trait::async_trait;
use haechi_detect::{ActionKind, Alert, AlertId, Disposition, ResponseAction, Severity};
use haechi_events::{SecurityEvent, Timestamp};
use haechi_token::AdminGrant;
use ipnet::IpNet;

use super::{Act, ActionExecutor, Executed, Withheld};
use crate::{BlockRequest, Containment};

/// The rule id of the alert containment raises for a block it withheld.
pub const WITHHELD_BLOCK_RULE: &str = "haechi.response.block_withheld";

/// The executor of a [`ActionKind::BlockNetwork`].
pub(super) fn executor(kind: &ActionKind) -> Option<Box<dyn ActionExecutor + '_>> {
    match kind {
        ActionKind::BlockNetwork { network, ttl } => Some(Box::new(BlockNetwork {
            network: *network,
            ttl: *ttl,
        })),
        _ => None,
    }
}

struct BlockNetwork {
    network: IpNet,
    ttl: Duration,
}

#[async_trait]
impl ActionExecutor for BlockNetwork {
    fn name(&self) -> &'static str {
        "block_network"
    }

    fn describe(&self, event: SecurityEvent) -> SecurityEvent {
        event
            .detail("network", self.network.to_string())
            .detail("ttl_secs", self.ttl.as_secs().to_string())
    }

    fn safeguard(&self, containment: &Containment) -> Option<Withheld> {
        if containment.is_protected(&self.network) {
            return Some(Withheld {
                disposition: Disposition::Allowlisted,
                shared_address: None,
            });
        }
        // A load balancer or a carrier NAT: blocking it would cut off everyone behind it, so
        // the block waits for a human.
        containment
            .shared_within(&self.network)
            .map(|shared| Withheld {
                disposition: Disposition::Recommended,
                shared_address: Some(shared),
            })
    }

    async fn carry_out(&self, grant: &AdminGrant, act: &Act<'_>) -> Executed {
        if act.containment.is_covered(&self.network, self.ttl) {
            return Executed::Outcome("already");
        }
        let request = BlockRequest {
            network: self.network,
            ttl: self.ttl,
            reason: act.alert_title.to_string(),
            rule_id: Some(act.action.rule_id.clone()),
            alert_id: Some(act.action.alert_id.to_string()),
            trigger_seq: Some(act.action.seq),
        };
        match act.containment.block(request, grant).await {
            Ok(_) => Executed::Audited,
            Err(error) => Executed::Failed(error.to_string()),
        }
    }
}

/// The alert for a human about a block withheld because `address`, inside the network, was
/// used successfully by `principals` principals within the last day (a load balancer, a
/// carrier NAT). Its id is `haechi.response.block_withheld/SEQ` of the triggering event; its
/// one action is the block, as a recommendation.
pub(crate) fn withheld_block_alert(
    action: &ResponseAction,
    title: &str,
    address: IpAddr,
    principals: usize,
    now: Timestamp,
) -> Alert {
    let network = match &action.kind {
        ActionKind::BlockNetwork { network, .. } => network.to_string(),
        _ => address.to_string(),
    };
    let context = [
        ("ip", address.to_string()),
        ("network", network.clone()),
        ("principals", principals.to_string()),
        // The alert it is about: the incident book files it with that alert's incident.
        (
            haechi_incident::PARENT_ALERT_FIELD,
            action.alert_id.to_string(),
        ),
        ("rule_id", action.rule_id.clone()),
        ("reason", title.to_string()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value))
    .collect();
    Alert {
        id: AlertId::new(WITHHELD_BLOCK_RULE, action.seq),
        rule_id: WITHHELD_BLOCK_RULE.to_string(),
        title: format!(
            "Automatic block withheld: {principals} principals used {address} in the last day"
        ),
        severity: Severity::High,
        first_time: now,
        last_time: now,
        group_key: network,
        group_by: vec!["network".to_string()],
        evidence_seqs: vec![action.seq],
        count: 1,
        window_count: u64::try_from(principals).unwrap_or(u64::MAX),
        context,
        actions: vec![ResponseAction {
            disposition: Disposition::Recommended,
            ..action.clone()
        }],
    }
}
