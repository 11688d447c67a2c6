//! Detection's state inside the server: the [`AlertDesk`] (alerts to list, stream and
//! acknowledge) and [`Containment`] (blocked networks and suspended principals, enforced in
//! the request path, and the carrying out of response actions).
//!
//! The engine itself runs beside the server (the binary's detection task): it feeds the desk
//! and hands response actions to [`Containment::carry_out`]. Everything the request path asks
//! — is this address blocked, is this principal suspended — is answered from memory.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use haechi_detect::containment::{
    AlertAck, BlockRecord, Blocklist, ContainmentStore, NewBlock, SuspensionRecord,
    checked_block_network,
};
use haechi_detect::{ActionKind, Alert, AlertBook, AlertGrowth, AlertUpdate, Disposition};
use haechi_detect::{ResponseAction, Severity};
use haechi_events::{Clock, EventKind, EventSink, Principal, SecurityEvent, StoreError, Timestamp};
use haechi_token::{AdminGrant, TokenAuthority};
use ipnet::IpNet;
use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use serde_json::json;
use tokio::sync::{broadcast, watch};

use crate::AppState;

mod eviction;
mod shared_addresses;

use eviction::{Desk, admit};
pub use eviction::{DropReason, DroppedAlert};
pub use shared_addresses::{SharedAddressSettings, SharedAddresses};

/// The principal detection acts as: in `response.action`, `alert.raised`, and in the
/// `key.revoked` / `token.revoked` events its actions cause.
pub fn detection_principal() -> Principal {
    Principal::Admin(haechi_token::DETECTION_ACTOR.into())
}

/// Detection's state shared by the engine task and the handlers.
#[derive(Debug)]
pub struct Detection {
    /// Alerts.
    pub alerts: AlertDesk,
    /// Blocks and suspensions.
    pub containment: Containment,
    closing: watch::Sender<bool>,
}

impl Detection {
    /// Detection over a desk and containment.
    pub fn new(alerts: AlertDesk, containment: Containment) -> Self {
        Detection {
            alerts,
            containment,
            closing: watch::Sender::new(false),
        }
    }

    /// Ends every alert stream (SSE), so a graceful shutdown does not wait for them.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Resolves once [`Detection::close`] was called.
    pub(crate) fn closed(&self) -> impl Future<Output = ()> + Send + use<> {
        let mut closing = self.closing.subscribe();
        async move {
            let _ = closing.wait_for(|closed| *closed).await;
        }
    }
}

// -------------------------------------------------------------------------------------------
// Alerts
// -------------------------------------------------------------------------------------------

/// Whether an alert still wants attention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// Nobody has acknowledged it.
    Open,
    /// An administrator acknowledged it.
    Acknowledged,
}

/// An alert as the API shows it: the engine's alert, its state and acknowledgement.
#[derive(Debug, Clone, Serialize)]
pub struct AlertView {
    /// The alert.
    #[serde(flatten)]
    pub alert: Alert,
    /// Open or acknowledged.
    pub state: AlertState,
    /// Who acknowledged it, when, with what note.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acknowledgement: Option<AlertAck>,
}

/// What alert streams (SSE) receive.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AlertNotice {
    /// A new alert.
    Raised {
        /// It.
        alert: Box<AlertView>,
    },
    /// An open alert matched again.
    Grew {
        /// The growth.
        growth: AlertGrowth,
    },
    /// An administrator acknowledged an alert.
    Acknowledged {
        /// The acknowledgement.
        acknowledgement: AlertAck,
    },
}

impl AlertNotice {
    /// The SSE event name: `raised`, `grew` or `acknowledged`.
    pub fn name(&self) -> &'static str {
        match self {
            AlertNotice::Raised { .. } => "raised",
            AlertNotice::Grew { .. } => "grew",
            AlertNotice::Acknowledged { .. } => "acknowledged",
        }
    }
}

/// Which alerts a listing wants.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    /// Only alerts in this state.
    pub state: Option<AlertState>,
    /// Only these severities (any, when empty).
    pub severities: Vec<Severity>,
    /// Only this rule.
    pub rule_id: Option<String>,
    /// At most this many, newest first.
    pub limit: usize,
}

/// What [`AlertDesk::record`] did with an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// A new alert entered the desk.
    Raised,
    /// An alert already on the desk (raised now or before a restart) was raised again: the
    /// update was ignored.
    AlreadyRaised,
    /// An alert on the desk grew.
    Grew,
    /// A growth of an alert the desk does not hold.
    UnknownAlert,
    /// A new alert the desk could not hold: it was full of open high and critical alerts (the
    /// alert is in the audit trail and the streams; the drop is counted and recorded).
    Refused,
}

/// The alerts the server holds — at most `capacity` — their acknowledgements, and a
/// broadcast to the alert streams. A full desk makes room by dropping acknowledged alerts,
/// then open ones of the lowest severity (oldest first; see `eviction`); it never drops an
/// open high or critical alert to make room, and refuses a newcomer when nothing else can go.
/// Every drop is counted (`haechi_detect_alerts_dropped_total`) and handed to the detection
/// task ([`AlertDesk::take_dropped`]) to be recorded as `alert.dropped`; the alert's own
/// `alert.raised` stays in the audit trail.
#[derive(Debug)]
pub struct AlertDesk {
    inner: Mutex<Desk>,
    notices: broadcast::Sender<AlertNotice>,
    store: Arc<dyn ContainmentStore>,
    clock: Arc<dyn Clock>,
    capacity: usize,
}

/// How many notices a slow stream may fall behind before it is told it lagged.
const STREAM_BUFFER: usize = 1024;

impl AlertDesk {
    /// A desk keeping up to `capacity` alerts, with the acknowledgements `store` holds.
    pub async fn open(
        store: Arc<dyn ContainmentStore>,
        clock: Arc<dyn Clock>,
        capacity: usize,
    ) -> Result<Self, StoreError> {
        let acks = store
            .alert_acks(Timestamp::EPOCH)
            .await?
            .into_iter()
            .map(|ack| (ack.alert_id.clone(), ack))
            .collect();
        Ok(AlertDesk {
            inner: Mutex::new(Desk {
                book: AlertBook::new(),
                titles: HashMap::new(),
                acks,
                dropped: Vec::new(),
                dropped_uncounted: 0,
            }),
            notices: broadcast::Sender::new(STREAM_BUFFER),
            store,
            clock,
            capacity: capacity.max(1),
        })
    }

    /// Applies an update and tells the alert streams.
    pub fn record(&self, update: AlertUpdate) -> Recorded {
        let (recorded, notice) = self.apply(update);
        if let Some(notice) = notice {
            // No stream listening is not an error.
            let _ = self.notices.send(notice);
        }
        recorded
    }

    /// Applies an update without telling the streams: history replayed at start.
    pub fn record_quietly(&self, update: AlertUpdate) -> Recorded {
        self.apply(update).0
    }

    fn apply(&self, update: AlertUpdate) -> (Recorded, Option<AlertNotice>) {
        let mut desk = self.inner.lock();
        match update {
            AlertUpdate::Raised(alert) => {
                if desk.titles.contains_key(alert.id.as_str()) {
                    return (Recorded::AlreadyRaised, None);
                }
                let view = view(&desk, &alert);
                let recorded = if admit(&mut desk, alert, self.capacity) {
                    Recorded::Raised
                } else {
                    Recorded::Refused
                };
                // Streams hear of a refused alert too: someone watching should see it.
                (
                    recorded,
                    Some(AlertNotice::Raised {
                        alert: Box::new(view),
                    }),
                )
            }
            AlertUpdate::Grew(growth) => {
                if !desk.titles.contains_key(growth.id.as_str()) {
                    return (Recorded::UnknownAlert, None);
                }
                desk.book.apply(AlertUpdate::Grew(growth.clone()));
                (Recorded::Grew, Some(AlertNotice::Grew { growth }))
            }
        }
    }

    /// Whether the desk holds alert `id`.
    pub fn contains(&self, id: &str) -> bool {
        self.inner.lock().titles.contains_key(id)
    }

    /// The title of alert `id`, if the desk holds it.
    pub fn title(&self, id: &str) -> Option<String> {
        self.inner.lock().titles.get(id).cloned()
    }

    /// The alerts `filter` selects, newest first, and how many matched in all.
    pub fn list(&self, filter: &AlertFilter) -> (Vec<AlertView>, usize) {
        let desk = self.inner.lock();
        let mut total = 0;
        let mut selected = Vec::new();
        for alert in desk.book.alerts().iter().rev() {
            let acknowledged = desk.acks.contains_key(alert.id.as_str());
            let state = if acknowledged {
                AlertState::Acknowledged
            } else {
                AlertState::Open
            };
            if filter.state.is_some_and(|wanted| wanted != state)
                || (!filter.severities.is_empty() && !filter.severities.contains(&alert.severity))
                || filter
                    .rule_id
                    .as_ref()
                    .is_some_and(|rule| *rule != alert.rule_id)
            {
                continue;
            }
            total += 1;
            if selected.len() < filter.limit {
                selected.push(view(&desk, alert));
            }
        }
        (selected, total)
    }

    /// One alert.
    pub fn get(&self, id: &str) -> Option<AlertView> {
        let desk = self.inner.lock();
        desk.book
            .alerts()
            .iter()
            .find(|alert| alert.id.as_str() == id)
            .map(|alert| view(&desk, alert))
    }

    /// Acknowledges alert `id` for the holder of `grant`: stored, then shown. `None` if the
    /// desk does not hold it.
    pub async fn acknowledge(
        &self,
        id: &str,
        grant: &AdminGrant,
        note: Option<String>,
    ) -> Result<Option<AlertView>, StoreError> {
        if !self.contains(id) {
            return Ok(None);
        }
        let ack = AlertAck {
            alert_id: id.to_string(),
            acknowledged_by: grant.actor().clone(),
            acknowledged_at: self.clock.now(),
            note,
        };
        self.store.acknowledge_alert(&ack).await?;
        self.inner.lock().acks.insert(id.to_string(), ack.clone());
        let _ = self.notices.send(AlertNotice::Acknowledged {
            acknowledgement: ack,
        });
        Ok(self.get(id))
    }

    /// A receiver of every notice from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<AlertNotice> {
        self.notices.subscribe()
    }

    /// The alerts dropped since the last call, and how many more were dropped beyond what
    /// the desk keeps for recording: the detection task records them as `alert.dropped`.
    pub fn take_dropped(&self) -> (Vec<DroppedAlert>, u64) {
        let mut desk = self.inner.lock();
        let uncounted = std::mem::take(&mut desk.dropped_uncounted);
        (std::mem::take(&mut desk.dropped), uncounted)
    }

    /// Forgets acknowledgements of alerts the desk does not hold (they stay in the store):
    /// called once the desk is filled at start, so memory holds at most one per alert.
    pub fn forget_other_acks(&self) {
        let mut desk = self.inner.lock();
        let Desk { titles, acks, .. } = &mut *desk;
        acks.retain(|id, _| titles.contains_key(id));
    }

    /// How many alerts the desk holds.
    pub fn len(&self) -> usize {
        self.inner.lock().book.alerts().len()
    }

    /// Whether the desk holds no alert.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn view(desk: &Desk, alert: &Alert) -> AlertView {
    let acknowledgement = desk.acks.get(alert.id.as_str()).cloned();
    AlertView {
        alert: alert.clone(),
        state: if acknowledgement.is_some() {
            AlertState::Acknowledged
        } else {
            AlertState::Open
        },
        acknowledgement,
    }
}

// -------------------------------------------------------------------------------------------
// Containment
// -------------------------------------------------------------------------------------------

/// Whether response actions the rules enforce are carried out, server-wide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Enforcement {
    /// Carry out actions whose disposition is `enforce`.
    Enforce,
    /// Record every action as a dry run, whatever the rule says.
    DryRun,
}

/// What containment is built from.
#[derive(Debug)]
pub struct ContainmentParts {
    /// Where blocks and suspensions are kept.
    pub store: Arc<dyn ContainmentStore>,
    /// The token authority (sessions, keys, suspensions in memory).
    pub authority: Arc<TokenAuthority>,
    /// Where `response.*` events go.
    pub events: Arc<dyn EventSink>,
    /// Networks never blocked automatically (the host itself, the proxy in front): a block
    /// action overlapping one is recorded as `allowlisted`.
    pub never_block: Vec<IpNet>,
    /// Server-wide enforcement.
    pub enforcement: Enforcement,
    /// The grant automatic response acts under
    /// ([`TokenAuthority::take_response_grant`]).
    pub response_grant: AdminGrant,
    /// When an address counts as shared by many principals (never blocked automatically).
    pub shared_addresses: SharedAddressSettings,
}

/// Why containment refused a request to act.
#[derive(Debug, thiserror::Error)]
pub enum ContainmentError {
    /// The request itself is wrong (a network too wide, a protected network, a bad ttl).
    #[error("{0}")]
    Invalid(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The audit trail refused the event (the act itself was done and is kept).
    #[error("the audit trail cannot record this act: {0}")]
    Audit(#[from] haechi_events::SinkError),
}

/// Blocked networks and suspended principals, and the carrying out of response actions.
#[derive(Debug)]
pub struct Containment {
    store: Arc<dyn ContainmentStore>,
    authority: Arc<TokenAuthority>,
    events: Arc<dyn EventSink>,
    blocks: RwLock<Blocklist>,
    /// Whether any block is held: the request path skips the lookup when none is.
    any_blocks: AtomicBool,
    never_block: Vec<IpNet>,
    enforcement: Enforcement,
    response_grant: AdminGrant,
    /// Addresses many principals use: automatic blocks of them become recommendations.
    shared: SharedAddresses,
}

/// What carrying out one action came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionOutcome {
    /// The disposition recorded (the rule's, or `dry_run` when the server overrides,
    /// `allowlisted` for a protected network, `recommended` for a shared address).
    pub disposition: Disposition,
    /// `done`, `already` (nothing left to do), `not_found`, `recorded` (not enforced) or
    /// `failed`.
    pub outcome: &'static str,
    /// For a block withheld because its network holds a shared address: that address and how
    /// many principals used it successfully within the last day. The caller raises it as an
    /// alert for a human.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_address: Option<(IpAddr, usize)>,
}

impl Containment {
    /// Opens containment: loads active blocks, and restores active suspensions into the
    /// authority's memory.
    pub async fn open(parts: ContainmentParts) -> Result<Self, StoreError> {
        let now = parts.authority.clock().now();
        let mut blocks = Blocklist::new();
        for block in parts.store.active_blocks(now).await? {
            blocks.insert(block);
        }
        for suspension in parts.store.active_suspensions().await? {
            parts.authority.suspensions().suspend(suspension.principal);
        }
        let any_blocks = AtomicBool::new(!blocks.is_empty());
        Ok(Containment {
            store: parts.store,
            authority: parts.authority,
            events: parts.events,
            blocks: RwLock::new(blocks),
            any_blocks,
            never_block: parts.never_block,
            enforcement: parts.enforcement,
            response_grant: parts.response_grant,
            shared: SharedAddresses::new(parts.shared_addresses),
        })
    }

    fn now(&self) -> Timestamp {
        self.authority.clock().now()
    }

    /// The active block refusing `ip`, if any.
    pub fn blocking(&self, ip: IpAddr) -> Option<BlockRecord> {
        if !self.any_blocks.load(Ordering::Acquire) {
            return None;
        }
        self.blocks.read().blocking(ip, self.now()).cloned()
    }

    /// Whether `ip` is blocked now.
    pub fn is_blocked(&self, ip: IpAddr) -> bool {
        self.any_blocks.load(Ordering::Acquire) && self.blocks.read().is_blocked(ip, self.now())
    }

    /// The active blocks.
    pub fn blocks(&self) -> Vec<BlockRecord> {
        self.blocks.read().active(self.now())
    }

    /// Drops expired blocks from memory (the store keeps them for the record).
    pub fn prune(&self) {
        let now = self.now();
        let mut blocks = self.blocks.write();
        if blocks.is_empty() {
            return;
        }
        blocks.prune(now);
        self.any_blocks.store(!blocks.is_empty(), Ordering::Release);
    }

    /// Whether `network` overlaps a network that is never blocked.
    pub fn is_protected(&self, network: &IpNet) -> bool {
        self.never_block
            .iter()
            .any(|protected| protected.contains(network) || network.contains(protected))
    }

    /// Blocks `network` for `ttl`: stored, in force at once, audited as `response.action`
    /// (`origin` says whether detection or an administrator asked).
    pub async fn block(
        &self,
        request: BlockRequest,
        grant: &AdminGrant,
    ) -> Result<BlockRecord, ContainmentError> {
        let (actor, context) = (grant.actor(), grant.context());
        let network = checked_block_network(request.network).map_err(ContainmentError::Invalid)?;
        if self.is_protected(&network) {
            return Err(ContainmentError::Invalid(format!(
                "{network} overlaps a network that is never blocked (detect.never_block)"
            )));
        }
        if request.ttl.is_zero() || request.ttl > haechi_detect::MAX_BLOCK_TTL {
            return Err(ContainmentError::Invalid(format!(
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
            .detail("expires_at", block.expires_at.to_rfc3339());
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

    /// Lifts block `id`: stored, out of force at once, audited as `response.lifted`. `None`
    /// if there is no such active block.
    pub async fn lift(
        &self,
        id: u64,
        grant: &AdminGrant,
    ) -> Result<Option<BlockRecord>, ContainmentError> {
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
        let event = SecurityEvent::new(now, EventKind::ResponseLifted, actor.clone())
            .context(context)
            .reason("block_network")
            .detail("network", block.network.to_string())
            .detail("block_id", block.id.to_string())
            .detail("blocked_by", block.created_by.to_string());
        self.events
            .record(with_origin(
                event,
                block.rule_id.as_deref(),
                block.alert_id.as_deref(),
            ))
            .await?;
        Ok(Some(block))
    }

    /// Suspends `principal`: stored, then refused by the authority at once, audited as
    /// `response.action`. Returns `false` if it was suspended already.
    pub async fn suspend(
        &self,
        request: SuspendRequest,
        grant: &AdminGrant,
    ) -> Result<bool, ContainmentError> {
        let (actor, context) = (grant.actor(), grant.context());
        if request.principal == Principal::Anonymous {
            return Err(ContainmentError::Invalid(
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
            .detail("target_principal", request.principal.to_string());
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

    /// Lifts the suspension of `principal`, audited as `response.lifted`. Returns whether
    /// there was one.
    pub async fn lift_suspension(
        &self,
        principal: &Principal,
        grant: &AdminGrant,
    ) -> Result<bool, ContainmentError> {
        let (actor, context) = (grant.actor(), grant.context());
        let now = self.now();
        let stored = self.store.lift_suspension(principal, now, actor).await?;
        let held = self.authority.suspensions().lift(principal);
        if !stored && !held {
            return Ok(false);
        }
        self.events
            .record(
                SecurityEvent::new(now, EventKind::ResponseLifted, actor.clone())
                    .context(context)
                    .reason("suspend_principal")
                    .detail("target_principal", principal.to_string()),
            )
            .await?;
        Ok(true)
    }

    /// Takes note of an audited event for the shared-address check (a successful use of an
    /// address by a principal). Called by the detection task for every record, live and
    /// replayed.
    pub fn observe(&self, event: &SecurityEvent) {
        self.shared.observe(event);
    }

    /// How many addresses the shared-address check tracks.
    pub fn tracked_addresses(&self) -> usize {
        self.shared.len()
    }

    /// The active suspensions.
    pub async fn suspensions(&self) -> Result<Vec<SuspensionRecord>, StoreError> {
        self.store.active_suspensions().await
    }

    /// Carries out (or only records) one response action a rule decided, and audits it as
    /// `response.action` with its disposition and outcome. Never fails: what went wrong is in
    /// the outcome and the server log.
    pub async fn carry_out(&self, action: &ResponseAction, alert_title: &str) -> ActionOutcome {
        let mut disposition = action.disposition;
        if disposition == Disposition::Enforce && self.enforcement == Enforcement::DryRun {
            disposition = Disposition::DryRun;
        }
        if let ActionKind::BlockNetwork { network, .. } = &action.kind
            && disposition == Disposition::Enforce
            && self.is_protected(network)
        {
            disposition = Disposition::Allowlisted;
        }
        // A load balancer or a carrier NAT: blocking it would cut off everyone behind it, so
        // the block waits for a human.
        let mut shared_address = None;
        if let ActionKind::BlockNetwork { network, .. } = &action.kind
            && disposition == Disposition::Enforce
            && let Some(shared) = self.shared.shared_within(network, self.now())
        {
            disposition = Disposition::Recommended;
            shared_address = Some(shared);
        }
        let actor = self.response_grant.actor().clone();
        let outcome = if disposition == Disposition::Enforce {
            self.enforce(action, alert_title, &actor).await
        } else {
            let mut event = describe_action(
                SecurityEvent::new(self.now(), EventKind::ResponseAction, actor.clone()),
                action,
            )
            .detail("disposition", disposition_name(disposition))
            .detail("outcome", "recorded");
            if let Some((address, principals)) = shared_address {
                event = event
                    .detail("shared_address", address.to_string())
                    .detail("shared_address_principals", principals.to_string());
            }
            if let Err(error) = self.events.record(event).await {
                tracing::error!(%error, alert = %action.alert_id, "could not audit a response action");
            }
            "recorded"
        };
        metrics::counter!(
            "haechi_response_actions_total",
            "action" => action_name(&action.kind),
            "disposition" => disposition_name(disposition),
            "outcome" => outcome,
        )
        .increment(1);
        ActionOutcome {
            disposition,
            outcome,
            shared_address,
        }
    }

    async fn enforce(
        &self,
        action: &ResponseAction,
        alert_title: &str,
        actor: &Principal,
    ) -> &'static str {
        let alert_id = Some(action.alert_id.to_string());
        let rule_id = Some(action.rule_id.clone());
        // Blocks and suspensions write their own `response.action` (an administrator's too);
        // revocations are the authority's acts, which write `key.revoked`/`token.revoked`,
        // and get a `response.action` here that ties them to the alert.
        let result: Result<&'static str, String> = match &action.kind {
            ActionKind::BlockNetwork { network, ttl } => {
                if self.blocks.read().active(self.now()).iter().any(|block| {
                    block.network.contains(network) && block.expires_at >= self.now().plus(*ttl)
                }) {
                    Ok("already")
                } else {
                    let request = BlockRequest {
                        network: *network,
                        ttl: *ttl,
                        reason: alert_title.to_string(),
                        rule_id,
                        alert_id,
                        trigger_seq: Some(action.seq),
                    };
                    return match self.block(request, &self.response_grant).await {
                        Ok(_) => "done",
                        Err(error) => {
                            tracing::error!(%error, %network, "could not block a network");
                            self.audit_failure(action, &error.to_string()).await;
                            "failed"
                        }
                    };
                }
            }
            ActionKind::SuspendPrincipal { principal } => {
                let request = SuspendRequest {
                    principal: principal.clone(),
                    reason: alert_title.to_string(),
                    rule_id,
                    alert_id,
                    trigger_seq: Some(action.seq),
                };
                match self.suspend(request, &self.response_grant).await {
                    Ok(true) => return "done",
                    Ok(false) => Ok("already"),
                    Err(error) => Err(error.to_string()),
                }
            }
            ActionKind::RevokeSession { sid } => {
                match self
                    .authority
                    .sessions()
                    .revoke(sid, "detection", &self.response_grant)
                    .await
                {
                    Ok(true) => Ok("done"),
                    Ok(false) => Ok("not_found"),
                    Err(error) => Err(error.to_string()),
                }
            }
            ActionKind::RevokeKey { kid } => match self.authority.keys().state(kid) {
                None => Ok("not_found"),
                Some(haechi_custody::KeyState::Revoked) => Ok("already"),
                Some(_) => match self
                    .authority
                    .keys()
                    .revoke(kid, &self.response_grant)
                    .await
                {
                    Ok(_) => Ok("done"),
                    Err(error) => Err(error.to_string()),
                },
            },
            _ => Ok("unsupported"),
        };
        match result {
            Ok(outcome) => {
                let event = describe_action(
                    SecurityEvent::new(self.now(), EventKind::ResponseAction, actor.clone()),
                    action,
                )
                .detail("disposition", "enforce")
                .detail("outcome", outcome);
                if let Err(error) = self.events.record(event).await {
                    tracing::error!(%error, alert = %action.alert_id, "could not audit a response action");
                }
                outcome
            }
            Err(error) => {
                tracing::error!(%error, alert = %action.alert_id, "a response action failed");
                self.audit_failure(action, &error).await;
                "failed"
            }
        }
    }

    async fn audit_failure(&self, action: &ResponseAction, error: &str) {
        let event = describe_action(
            SecurityEvent::new(self.now(), EventKind::ResponseAction, detection_principal()),
            action,
        )
        .detail("disposition", "enforce")
        .detail("outcome", "failed")
        .detail("error", error.chars().take(200).collect::<String>());
        if let Err(error) = self.events.record(event).await {
            tracing::error!(%error, alert = %action.alert_id, "could not audit a failed response action");
        }
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

fn with_origin(
    event: SecurityEvent,
    rule_id: Option<&str>,
    alert_id: Option<&str>,
) -> SecurityEvent {
    match (rule_id, alert_id) {
        (Some(rule), Some(alert)) => event
            .detail("origin", "detection")
            .detail("rule_id", rule)
            .detail("alert_id", alert),
        _ => event.detail("origin", "admin"),
    }
}

/// `block_network`, `revoke_session`, `revoke_key` or `suspend_principal`.
pub fn action_name(kind: &ActionKind) -> &'static str {
    match kind {
        ActionKind::BlockNetwork { .. } => "block_network",
        ActionKind::RevokeSession { .. } => "revoke_session",
        ActionKind::RevokeKey { .. } => "revoke_key",
        ActionKind::SuspendPrincipal { .. } => "suspend_principal",
        _ => "unknown",
    }
}

/// `enforce`, `dry_run`, `allowlisted`, `cap_reached` or `recommended`.
pub fn disposition_name(disposition: Disposition) -> &'static str {
    match disposition {
        Disposition::Enforce => "enforce",
        Disposition::DryRun => "dry_run",
        Disposition::Allowlisted => "allowlisted",
        Disposition::CapReached => "cap_reached",
        Disposition::Recommended => "recommended",
    }
}

fn describe_action(event: SecurityEvent, action: &ResponseAction) -> SecurityEvent {
    let event = event
        .reason(action_name(&action.kind))
        .detail("origin", "detection")
        .detail("rule_id", &action.rule_id)
        .detail("alert_id", action.alert_id.as_str())
        .detail("trigger_seq", action.seq.to_string());
    match &action.kind {
        ActionKind::BlockNetwork { network, ttl } => event
            .detail("network", network.to_string())
            .detail("ttl_secs", ttl.as_secs().to_string()),
        ActionKind::RevokeSession { sid } => event.sid(sid),
        ActionKind::RevokeKey { kid } => event.kid(kid),
        ActionKind::SuspendPrincipal { principal } => {
            event.detail("target_principal", principal.to_string())
        }
        _ => event,
    }
}

// -------------------------------------------------------------------------------------------
// The request path
// -------------------------------------------------------------------------------------------

/// Middleware: refuses every request from a blocked network with 403
/// `{"error":"blocked",…}` before anything else looks at it (no token is verified, nothing
/// is audited: a blocked attacker cannot flood the trail).
pub(crate) async fn refuse_blocked(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let containment = &state.detection.containment;
    if !containment.any_blocks.load(Ordering::Acquire) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let context = crate::extract::request_context(&parts, &state);
    if let Some(block) = context.ip.and_then(|ip| containment.blocking(ip)) {
        metrics::counter!("haechi_blocked_requests_total").increment(1);
        return (
            StatusCode::FORBIDDEN,
            axum::Json(json!({
                "error": "blocked",
                "message": format!(
                    "requests from {} are refused until {}",
                    block.network,
                    block.expires_at.to_rfc3339()
                ),
                "block_id": block.id,
                "until": block.expires_at.to_rfc3339(),
            })),
        )
            .into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}
