//! What containment keeps: blocked networks, suspended principals and acknowledged alerts, and
//! the trait storage implements for them.
//!
//! Like the domain crates, this module does no IO: storage comes in through
//! [`ContainmentStore`], time as a [`Timestamp`] argument.

use async_trait::async_trait;
use haechi_events::{Principal, StoreError, Timestamp};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// A network block as stored: who blocked what, why, until when, and whether it was lifted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BlockRecord {
    /// The store's id for it (what `DELETE /v1/admin/blocks/{id}` names).
    pub id: u64,
    /// The network refused (its address bits past the prefix are zero).
    #[serde(with = "network_text")]
    #[schema(value_type = String)]
    pub network: IpNet,
    /// When the block began.
    pub created_at: Timestamp,
    /// When it ends by itself.
    pub expires_at: Timestamp,
    /// Why: the rule's title, or the administrator's note.
    pub reason: String,
    /// The rule that asked for it, for automatic blocks.
    pub rule_id: Option<String>,
    /// The alert it belongs to, for automatic blocks.
    pub alert_id: Option<String>,
    /// Who blocked it (`admin:haechi-detect` for detection).
    pub created_by: Principal,
    /// When it was lifted before expiring, if it was.
    pub lifted_at: Option<Timestamp>,
    /// Who lifted it.
    pub lifted_by: Option<Principal>,
}

impl BlockRecord {
    /// Whether the block refuses requests at `now`: not lifted, not expired.
    pub fn is_active(&self, now: Timestamp) -> bool {
        self.lifted_at.is_none() && now < self.expires_at
    }
}

/// A block about to be stored (the store assigns the id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBlock {
    /// The network, truncated to its prefix.
    pub network: IpNet,
    /// When it begins.
    pub created_at: Timestamp,
    /// When it ends.
    pub expires_at: Timestamp,
    /// Why.
    pub reason: String,
    /// The rule, for automatic blocks.
    pub rule_id: Option<String>,
    /// The alert, for automatic blocks.
    pub alert_id: Option<String>,
    /// Who.
    pub created_by: Principal,
}

/// A principal suspended by containment: its tokens stop verifying and it cannot log in or be
/// granted tokens until the suspension is lifted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SuspensionRecord {
    /// Who is suspended.
    pub principal: Principal,
    /// Since when.
    pub suspended_at: Timestamp,
    /// Why.
    pub reason: String,
    /// The rule that asked for it, for automatic suspensions.
    pub rule_id: Option<String>,
    /// The alert it belongs to.
    pub alert_id: Option<String>,
    /// Who suspended it.
    pub suspended_by: Principal,
}

/// An administrator's acknowledgement of an alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AlertAck {
    /// The alert (`RULE_ID/SEQ`).
    pub alert_id: String,
    /// Who acknowledged it.
    pub acknowledged_by: Principal,
    /// When.
    pub acknowledged_at: Timestamp,
    /// Their note (an incident reference, "false positive: …").
    pub note: Option<String>,
}

/// Storage of containment state. Every write is durable on return: a block survives a restart
/// the moment it is answered.
#[async_trait]
pub trait ContainmentStore: Send + Sync + std::fmt::Debug {
    /// Stores a block and returns it with its id.
    async fn insert_block(&self, block: &NewBlock) -> Result<BlockRecord, StoreError>;
    /// Marks block `id` lifted; returns it as it was before, or `None` if there is no such
    /// block or it was already lifted.
    async fn lift_block(
        &self,
        id: u64,
        at: Timestamp,
        by: &Principal,
    ) -> Result<Option<BlockRecord>, StoreError>;
    /// Blocks neither lifted nor expired at `now`.
    async fn active_blocks(&self, now: Timestamp) -> Result<Vec<BlockRecord>, StoreError>;

    /// Stores a suspension (replacing a lifted one of the same principal).
    async fn insert_suspension(&self, suspension: &SuspensionRecord) -> Result<(), StoreError>;
    /// Lifts the suspension of `principal`; returns whether there was one.
    async fn lift_suspension(
        &self,
        principal: &Principal,
        at: Timestamp,
        by: &Principal,
    ) -> Result<bool, StoreError>;
    /// Suspensions not lifted.
    async fn active_suspensions(&self) -> Result<Vec<SuspensionRecord>, StoreError>;

    /// Records an acknowledgement (a second one replaces the first).
    async fn acknowledge_alert(&self, ack: &AlertAck) -> Result<(), StoreError>;
    /// Acknowledgements made at or after `since`.
    async fn alert_acks(&self, since: Timestamp) -> Result<Vec<AlertAck>, StoreError>;
}

mod network_text {
    use ipnet::IpNet;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        network: &IpNet,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_str(network)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<IpNet, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}
