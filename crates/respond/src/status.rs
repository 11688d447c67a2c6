//! What the cluster's detection task is doing, for `/readyz` and `/metrics`: whether this
//! node leads detection, how far the feed is behind the stream, and the last position it
//! evaluated.

use parking_lot::Mutex;
use serde::Serialize;

/// This node's part in the cluster's detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LeadState {
    /// Another node leads; this one asks for the lead every half second.
    Standby,
    /// This node took the lead and is warming its engine up from the stream.
    WarmingUp,
    /// This node evaluates the cluster's stream.
    Leading,
}

/// A snapshot of the cluster's detection on this node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FeedStatus {
    /// Leading, warming up, or standing by.
    pub state: LeadState,
    /// The audit stream's records not yet delivered to the detection feed (last read by the
    /// leader; `None` until it has read it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub undelivered: Option<u64>,
    /// Records delivered and not yet acknowledged (being evaluated, or left by a dead leader).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unacknowledged: Option<u64>,
    /// The last stream sequence this node evaluated and recorded the results of (0: none yet).
    pub evaluated_through: u64,
}

/// The cluster detection's state, written by its task and read by the probes. Empty on a
/// single node (whose detection reads its own log).
#[derive(Debug, Default)]
pub struct DetectionStatus {
    feed: Mutex<Option<FeedStatus>>,
}

impl DetectionStatus {
    /// The state now, if this node takes part in the cluster's detection.
    pub fn feed(&self) -> Option<FeedStatus> {
        self.feed.lock().clone()
    }

    /// Changes the state with `change` (starting from a standby's).
    pub(crate) fn update(&self, change: impl FnOnce(&mut FeedStatus)) {
        let mut feed = self.feed.lock();
        let status = feed.get_or_insert(FeedStatus {
            state: LeadState::Standby,
            undelivered: None,
            unacknowledged: None,
            evaluated_through: 0,
        });
        change(status);
        metrics::gauge!("haechi_detect_leader").set(if status.state == LeadState::Leading {
            1.0
        } else {
            0.0
        });
        metrics::gauge!("haechi_detect_evaluated_position").set(status.evaluated_through as f64);
        if let Some(undelivered) = status.undelivered {
            metrics::gauge!("haechi_detect_feed_undelivered").set(undelivered as f64);
        }
        if let Some(unacknowledged) = status.unacknowledged {
            metrics::gauge!("haechi_detect_feed_unacknowledged").set(unacknowledged as f64);
        }
    }
}
