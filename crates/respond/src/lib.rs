//! Haechi's response to detection: what happens once the engine (`haechi-detect`) has
//! decided.
//!
//! ```text
//! audit log ──▶ pipeline (source) ──▶ Engine ──▶ AlertUpdate ──┬──▶ AlertDesk (API, SSE)
//!                                                              ├──▶ sinks (webhook, stdout)
//!                                                              └──▶ Containment::carry_out
//!                                                                     └──▶ actions/ (executors)
//! ```
//!
//! - [`AlertDesk`] (`desk.rs`): the alerts the API lists, streams and acknowledges; a full
//!   desk evicts as `desk/eviction.rs` says.
//! - [`IncidentDesk`] (`incidents.rs`): the alerts grouped into incidents as they are raised,
//!   written to the store once a second and streamed once written.
//! - [`Containment`] (`containment.rs`): blocks and suspensions, answered from memory in the
//!   request path, and the carrying out of response actions behind their safeguards; one
//!   executor per kind of action in `actions/`, registered in one list.
//! - [`records`]: what containment keeps and the [`ContainmentStore`] trait storage implements.
//! - [`rules`]: the rules of a running server, their sources (pack, directory, the API set the
//!   [`rules::RuleStore`] keeps), checked as a whole and swapped into the engine between two
//!   events.
//! - [`pipeline`]: the detection task of `haechi serve`, from the audit stream through the
//!   engine to the desk, the [`sinks`] and containment — this node's own log on a single node,
//!   the cluster's stream (led by one node at a time) on a detection node.
//!
//! # Architecture invariants
//! - Actions are carried out only by [`Containment`], only with disposition `enforce` (and
//!   server-wide enforcement on), under the response grant handed out once at start, and each
//!   is audited as `response.action`.
//! - Containment never blocks automatically an address many principals used successfully
//!   within the last day: such a block is recorded as `recommended` and raised as
//!   [`WITHHELD_BLOCK_RULE`] for a human. A network overlapping `detect.never_block` is
//!   recorded as `allowlisted`.
//! - Detection never consumes its own output ([`pipeline::is_engine_input`]).
//! - Everything the request path asks (blocked? suspended?) is answered from memory written
//!   after the store.
//! - The desk never evicts an open high or critical alert; every drop is counted and recorded
//!   as `alert.dropped`.

#![forbid(unsafe_code)]

mod actions;
pub mod board;
mod containment;
mod desk;
mod error;
mod incidents;
mod lookup;
pub mod pipeline;
pub mod records;
pub mod rules;
pub mod sinks;
mod status;

use haechi_events::Principal;
use tokio::sync::watch;

pub use actions::action_name;
pub use actions::block_network::WITHHELD_BLOCK_RULE;
pub use containment::{
    ActionOutcome, BlockRequest, Blocklist, Containment, ContainmentParts, Enforcement,
    MIN_BLOCK_PREFIX_V4, MIN_BLOCK_PREFIX_V6, SharedAddressSettings, SharedAddresses,
    SuspendRequest, checked_block_network, disposition_name,
};
pub use desk::{
    AlertDesk, AlertFilter, AlertNotice, AlertState, AlertView, DropReason, DroppedAlert, Recorded,
};
pub use error::Error;
pub use incidents::{CloseRefused, IncidentDesk, IncidentNotice};
pub(crate) use lookup::ServerLookup;
pub use records::{AlertAck, BlockRecord, ContainmentStore, NewBlock, SuspensionRecord};
pub use status::{DetectionStatus, FeedStatus, LeadState};

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
    /// Incidents: the alerts grouped by attack.
    pub incidents: IncidentDesk,
    /// What the cluster's detection task is doing on this node (empty on a single node).
    pub status: DetectionStatus,
    closing: watch::Sender<bool>,
}

impl Detection {
    /// Detection over an alert desk, containment and an incident desk.
    pub fn new(alerts: AlertDesk, containment: Containment, incidents: IncidentDesk) -> Self {
        Detection {
            alerts,
            containment,
            incidents,
            status: DetectionStatus::default(),
            closing: watch::Sender::new(false),
        }
    }

    /// Ends every alert stream (SSE), so a graceful shutdown does not wait for them.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Resolves once [`Detection::close`] was called.
    pub fn closed(&self) -> impl Future<Output = ()> + Send + use<> {
        let mut closing = self.closing.subscribe();
        async move {
            let _ = closing.wait_for(|closed| *closed).await;
        }
    }
}
