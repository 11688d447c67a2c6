//! [`Containment`]: blocked networks and suspended principals, enforced in the request path,
//! and the carrying out of the response actions rules decide, behind their safeguards.
//!
//! Everything the request path asks — is this address blocked, is this principal suspended —
//! is answered from memory, written after the store. An action is carried out only with
//! disposition `enforce` (and server-wide enforcement on), under the response grant handed
//! out once at start, and every one is audited as `response.action`. What each kind of action
//! does, and its own safeguards, is its executor in [`crate::actions`].

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use haechi_detect::{Disposition, ResponseAction};
use haechi_events::{EventKind, EventSink, Principal, SecurityEvent, StoreError, Timestamp};
use haechi_token::{AdminGrant, TokenAuthority};
use ipnet::IpNet;
use parking_lot::RwLock;
use serde::Serialize;

use crate::actions::{self, Act, ActionExecutor, Executed, Withheld, action_name, describe_action};
use crate::detection_principal;
use crate::records::{BlockRecord, ContainmentStore, SuspensionRecord};

mod blocklist;
mod blocks;
mod shared_addresses;
mod suspensions;

pub use blocklist::{Blocklist, MIN_BLOCK_PREFIX_V4, MIN_BLOCK_PREFIX_V6, checked_block_network};
pub use blocks::BlockRequest;
pub use shared_addresses::{SharedAddressSettings, SharedAddresses};
pub use suspensions::SuspendRequest;

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
    /// Whether the action's `response.action` (or its failure's) is durable in the trail:
    /// the cluster's detection acknowledges the event that raised it only then.
    #[serde(skip)]
    pub audited: bool,
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

    /// Reloads blocks and suspensions from the store, for a cluster node that learned another
    /// node changed them. The store is the truth: what it holds replaces memory at once.
    pub async fn reload(&self) -> Result<(), StoreError> {
        let now = self.now();
        let mut blocks = Blocklist::new();
        for block in self.store.active_blocks(now).await? {
            blocks.insert(block);
        }
        let suspended = self.store.active_suspensions().await?;
        self.any_blocks.store(!blocks.is_empty(), Ordering::Release);
        *self.blocks.write() = blocks;
        self.authority
            .suspensions()
            .replace_all(suspended.into_iter().map(|suspension| suspension.principal));
        Ok(())
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

    /// The token authority (sessions, keys, suspensions), for the executors.
    pub(crate) fn authority(&self) -> &TokenAuthority {
        &self.authority
    }

    /// If many principals used an address inside `network` successfully within the last day:
    /// that address and how many.
    pub(crate) fn shared_within(&self, network: &IpNet) -> Option<(IpAddr, usize)> {
        self.shared.shared_within(network, self.now())
    }

    /// Whether any block is held: the request path skips the lookup when none is.
    pub fn has_blocks(&self) -> bool {
        self.any_blocks.load(Ordering::Acquire)
    }

    /// Carries out (or only records) one response action a rule decided, and audits it as
    /// `response.action` with its disposition and outcome. Never fails: what went wrong is in
    /// the outcome and the server log.
    ///
    /// The safeguards, in order: server-wide enforcement `dry_run` makes every action a dry
    /// run; then the action's executor may withhold it (a block of a protected network is
    /// `allowlisted`, of a shared address `recommended`). Only what is still `enforce` is
    /// carried out, under the response grant.
    pub async fn carry_out(&self, action: &ResponseAction, alert_title: &str) -> ActionOutcome {
        let executor = actions::executor(&action.kind);
        let (disposition, shared_address) = decide(action.disposition, self.enforcement, || {
            executor
                .as_ref()
                .and_then(|executor| executor.safeguard(self))
        });
        let actor = self.response_grant.actor().clone();
        let (outcome, audited) = if disposition == Disposition::Enforce {
            self.enforce(executor.as_deref(), action, alert_title, &actor)
                .await
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
            let audited = match self.events.record(event).await {
                Ok(_) => true,
                Err(error) => {
                    tracing::error!(%error, alert = %action.alert_id, "could not audit a response action");
                    false
                }
            };
            ("recorded", audited)
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
            audited,
        }
    }

    /// Has `executor` carry the action out under the response grant. Blocks and suspensions
    /// write their own `response.action` (an administrator's too); the other acts (the
    /// authority's revocations, which write `key.revoked`/`token.revoked`) get one here that
    /// ties them to the alert. Returns the outcome and whether its record is durable.
    async fn enforce(
        &self,
        executor: Option<&dyn ActionExecutor>,
        action: &ResponseAction,
        alert_title: &str,
        actor: &Principal,
    ) -> (&'static str, bool) {
        let executed = match executor {
            Some(executor) => {
                let act = Act {
                    containment: self,
                    action,
                    alert_title,
                };
                executor.carry_out(&self.response_grant, &act).await
            }
            None => Executed::Outcome("unsupported"),
        };
        match executed {
            Executed::Audited => ("done", true),
            Executed::Outcome(outcome) => {
                let event = describe_action(
                    SecurityEvent::new(self.now(), EventKind::ResponseAction, actor.clone()),
                    action,
                )
                .detail("disposition", "enforce")
                .detail("outcome", outcome);
                let audited = match self.events.record(event).await {
                    Ok(_) => true,
                    Err(error) => {
                        tracing::error!(%error, alert = %action.alert_id, "could not audit a response action");
                        false
                    }
                };
                (outcome, audited)
            }
            Executed::Failed(error) => {
                tracing::error!(%error, alert = %action.alert_id, action = action_name(&action.kind), "a response action failed");
                ("failed", self.audit_failure(action, &error).await)
            }
        }
    }

    /// Records a failed action; whether that record is durable.
    async fn audit_failure(&self, action: &ResponseAction, error: &str) -> bool {
        let event = describe_action(
            SecurityEvent::new(self.now(), EventKind::ResponseAction, detection_principal()),
            action,
        )
        .detail("disposition", "enforce")
        .detail("outcome", "failed")
        .detail("error", error.chars().take(200).collect::<String>());
        match self.events.record(event).await {
            Ok(_) => true,
            Err(error) => {
                tracing::error!(%error, alert = %action.alert_id, "could not audit a failed response action");
                false
            }
        }
    }
}

/// The disposition an action is recorded with, from the rule's: server-wide `dry_run` first,
/// then the executor's safeguards (asked only of what would be enforced), and the shared
/// address behind a withheld block.
fn decide(
    rule: Disposition,
    enforcement: Enforcement,
    safeguard: impl FnOnce() -> Option<Withheld>,
) -> (Disposition, Option<(IpAddr, usize)>) {
    if rule != Disposition::Enforce {
        return (rule, None);
    }
    if enforcement == Enforcement::DryRun {
        return (Disposition::DryRun, None);
    }
    match safeguard() {
        Some(withheld) => (withheld.disposition, withheld.shared_address),
        None => (Disposition::Enforce, None),
    }
}

/// Marks `event` as detection's (with its rule and alert) or an administrator's act.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dry_run_comes_first_and_safeguards_are_asked_only_of_what_would_be_enforced() {
        let shared: IpAddr = [198, 51, 100, 7].into();
        let recommended = Withheld {
            disposition: Disposition::Recommended,
            shared_address: Some((shared, 20)),
        };
        let allowlisted = Withheld {
            disposition: Disposition::Allowlisted,
            shared_address: None,
        };
        // (rule's disposition, server-wide enforcement, what the safeguard says, expected)
        let cases = [
            (
                Disposition::Enforce,
                Enforcement::Enforce,
                None,
                (Disposition::Enforce, None),
            ),
            (
                Disposition::Enforce,
                Enforcement::Enforce,
                Some(recommended),
                (Disposition::Recommended, Some((shared, 20))),
            ),
            (
                Disposition::Enforce,
                Enforcement::Enforce,
                Some(allowlisted),
                (Disposition::Allowlisted, None),
            ),
            (
                Disposition::Enforce,
                Enforcement::DryRun,
                Some(recommended),
                (Disposition::DryRun, None),
            ),
            (
                Disposition::DryRun,
                Enforcement::Enforce,
                Some(recommended),
                (Disposition::DryRun, None),
            ),
            (
                Disposition::CapReached,
                Enforcement::Enforce,
                Some(allowlisted),
                (Disposition::CapReached, None),
            ),
        ];
        for (rule, enforcement, safeguard, expected) in cases {
            let mut asked = false;
            let decided = decide(rule, enforcement, || {
                asked = true;
                safeguard
            });
            assert_eq!(decided, expected, "{rule:?} under {enforcement:?}");
            let would_enforce = rule == Disposition::Enforce && enforcement == Enforcement::Enforce;
            assert_eq!(asked, would_enforce, "{rule:?} under {enforcement:?}");
        }
    }
}
