//! The trait storage implements for the outbox (`haechi-store`: SQLite on one node,
//! PostgreSQL in a cluster, where workers on several nodes claim rows without taking the same
//! one twice).

use async_trait::async_trait;
use haechi_events::{StoreError, Timestamp};
use haechi_incident::IncidentId;
use serde::{Deserialize, Serialize};

use crate::ids::{Channel, NoticeId};
use crate::model::{Notice, NoticeState, Seal};
use crate::templates::{Sender, TemplateSet};

/// One `haechi notify` run's templates and sender settings: every notice of the batch is
/// rendered from them, at sending and whenever it is shown or checked again, so the outbox
/// keeps each notice's facts, never its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeBatch {
    /// `NB-` and 16 hexadecimal digits of the templates' and settings' digest.
    pub id: String,
    /// The incident the batch notifies.
    pub incident_id: IncidentId,
    /// The templates.
    pub templates: TemplateSet,
    /// The sender's settings.
    pub sender: Sender,
    /// When it was first made.
    pub created_at: Timestamp,
    /// Who made it (`admin:NAME`, `operator`).
    pub created_by: String,
}

/// How a delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The sink accepted the notice.
    Sent {
        /// When.
        at: Timestamp,
    },
    /// It failed and will be tried again at `next_attempt_at`.
    Retry {
        /// When to try next.
        next_attempt_at: Timestamp,
        /// Why it failed.
        error: String,
    },
    /// It failed for good.
    Failed {
        /// Why.
        error: String,
    },
}

/// How many notices stand where, by channel.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OutboxCounts {
    /// `(channel, state, count)`, ordered.
    pub rows: Vec<(Channel, NoticeState, u64)>,
}

impl OutboxCounts {
    /// Notices in `state`, every channel.
    pub fn in_state(&self, state: NoticeState) -> u64 {
        self.rows
            .iter()
            .filter(|(_, row_state, _)| *row_state == state)
            .map(|(_, _, count)| count)
            .sum()
    }
}

/// Where notices wait, are claimed, sealed and finished.
#[async_trait]
pub trait NoticeStore: Send + Sync + std::fmt::Debug {
    /// Keeps a batch; one already kept under the same id is left as it is.
    async fn save_batch(&self, batch: &NoticeBatch) -> Result<(), StoreError>;

    /// A batch by id.
    async fn batch(&self, id: &str) -> Result<Option<NoticeBatch>, StoreError>;

    /// Queues notices, all or none; a notice whose id is already in the outbox (an earlier
    /// run for the same incident) is left as it is. Returns how many were new.
    async fn enqueue_notices(&self, notices: &[Notice]) -> Result<u64, StoreError>;

    /// Takes up to `limit` notices due at `now` — queued ones whose retry time came, and
    /// sending ones whose lease ended (their worker died) — marks them sending until
    /// `lease_until`, and returns them. Two workers never get the same notice in one lease.
    async fn claim_notices(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> Result<Vec<Notice>, StoreError>;

    /// Records claimed notices' codes, all in one write, before any of them is handed to a
    /// sink. Each seal names the lease it was claimed under (the claimed notice's
    /// `next_attempt_at`): a notice no longer held under it (the lease ended and another worker
    /// took it) is left out, and its new worker seals and sends it. Returns the ids sealed.
    async fn seal_notices(
        &self,
        seals: &[(NoticeId, Timestamp, Seal)],
    ) -> Result<Vec<NoticeId>, StoreError>;

    /// Records how attempts ended (and counts them), all in one write.
    async fn finish_notices(&self, outcomes: &[(NoticeId, Delivery)]) -> Result<(), StoreError>;

    /// The sealed notices whose code has these digits (40 bits: among tens of millions of
    /// notices a few share one, so the caller checks each).
    async fn notices_by_code(&self, digits: &str) -> Result<Vec<Notice>, StoreError>;

    /// A customer's sealed notices, newest first, at most `limit`: their portal inbox.
    async fn customer_notices(
        &self,
        customer_id: &str,
        limit: usize,
    ) -> Result<Vec<Notice>, StoreError>;

    /// How many notices stand where.
    async fn outbox_counts(&self) -> Result<OutboxCounts, StoreError>;
}
