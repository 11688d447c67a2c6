//! Network blocks: put in place (by detection or an administrator) and lifted.

use std::sync::atomic::Ordering;
use std::time::Duration;

use haechi_events::{EventKind, SecurityEvent};
use haechi_token::AdminGrant;
use ipnet::IpNet;

use super::{Containment, with_origin};
use crate::Error;
use crate::containment::blocklist::checked_block_network;
use crate::records::{BlockRecord, NewBlock};

impl Containment {
    /// Whether an active block already covers `network` for at least `ttl` from now.
    pub(crate) fn is_covered(&self, network: &IpNet, ttl: Duration) -> bool {
        let now = self.now();
        self.blocks
            .read()
            .active(now)
            .iter()
            .any(|block| block.network.contains(network) && block.expires_at >= now.plus(ttl))
    }

    /// Blocks `network` for `ttl`: stored, in force at once, audited as `response.action`
    /// (`origin` says whether detection or an administrator asked).
    pub async fn block(
        &self,
        request: BlockRequest,
        grant: &AdminGrant,
    ) -> Result<BlockRecord, Error> {
        let (actor, context) = (grant.actor(), grant.context());
        let network = checked_block_network(request.network).map_err(Error::Invalid)?;
        if self.is_protected(&network) {
            return Err(Error::Invalid(format!(
                "{network} overlaps a network that is never blocked (detect.never_block)"
            )));
        }
        if request.ttl.is_zero() || request.ttl > haechi_detect::MAX_BLOCK_TTL {
            return Err(Error::Invalid(format!(
                "ttl must be between 1 s and {} s",
                haechi_detect::MAX_BLOCK_TTL.as_secs()
            )));
        }
        let now = self.now();
        let block = self
            .store
            .insert_block(&NewBlock {
                network,
                created_at: now,
                expires_at: now.plus(request.ttl),
                reason: request.reason.clone(),
                rule_id: request.rule_id.clone(),
                alert_id: request.alert_id.clone(),
                created_by: actor.clone(),
            })
            .await?;
        {
            let mut blocks = self.blocks.write();
            blocks.insert(block.clone());
            self.any_blocks.store(true, Ordering::Release);
        }
        let mut event = SecurityEvent::new(now, EventKind::ResponseAction, actor.clone())
            .context(context)
            .reason("block_network")
            .detail("disposition", "enforce")
            .detail("outcome", "done")
            .detail("network", network.to_string())
            .detail("block_id", block.id.to_string())
            .detail("ttl_secs", request.ttl.as_secs().to_string())
            .detail("expires_at", block.expires_at.to_rfc3339())
            // Why, as given (the rule's title for detection's blocks): on the record, not only
            // in the store's row.
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
        metrics::gauge!("haechi_blocked_networks").set(self.blocks.read().len() as f64);
        Ok(block)
    }

    /// Lifts block `id`: stored, out of force at once, audited as `response.lifted` (with the
    /// administrator's `note` saying why, when given). `None` if there is no such active block.
    pub async fn lift(
        &self,
        id: u64,
        note: Option<&str>,
        grant: &AdminGrant,
    ) -> Result<Option<BlockRecord>, Error> {
        let (actor, context) = (grant.actor(), grant.context());
        let now = self.now();
        let Some(block) = self.store.lift_block(id, now, actor).await? else {
            return Ok(None);
        };
        {
            let mut blocks = self.blocks.write();
            blocks.remove(id);
            self.any_blocks.store(!blocks.is_empty(), Ordering::Release);
        }
        let mut event = SecurityEvent::new(now, EventKind::ResponseLifted, actor.clone())
            .context(context)
            .reason("block_network")
            .detail("network", block.network.to_string())
            .detail("block_id", block.id.to_string())
            .detail("blocked_by", block.created_by.to_string());
        if let Some(note) = note {
            event = event.detail("note", note);
        }
        self.events
            .record(with_origin(
                event,
                block.rule_id.as_deref(),
                block.alert_id.as_deref(),
            ))
            .await?;
        Ok(Some(block))
    }
}

/// A block to put in place.
#[derive(Debug, Clone)]
pub struct BlockRequest {
    /// The network.
    pub network: IpNet,
    /// For how long.
    pub ttl: Duration,
    /// Why (shown in the list and the 403 body's log).
    pub reason: String,
    /// The rule, for automatic blocks.
    pub rule_id: Option<String>,
    /// The alert, for automatic blocks.
    pub alert_id: Option<String>,
    /// The event that triggered it, for automatic blocks.
    pub trigger_seq: Option<u64>,
}
