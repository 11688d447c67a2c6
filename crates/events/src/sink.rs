//! Where events go.

use async_trait::async_trait;

use crate::SecurityEvent;

/// What a sink reports back once an event is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventReceipt {
    /// The event's position in a durable log, if the sink keeps one.
    pub seq: Option<u64>,
}

/// A sink could not record an event. Callers that act on personal data must then refuse the
/// act (fail closed) rather than let it go unrecorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// The sink cannot accept events now (disk full, log sealed, shutting down).
    #[error("the audit sink is unavailable: {0}")]
    Unavailable(String),
}

/// The one place security events are sent. `record` returns only once the event is as
/// durable as the sink makes it; the response that caused the event is sent after that.
#[async_trait]
pub trait EventSink: Send + Sync + std::fmt::Debug {
    /// Records one event.
    async fn record(&self, event: SecurityEvent) -> Result<EventReceipt, SinkError>;
}

/// A sink that writes each event as one structured `tracing` line (target `haechi::audit`).
/// Not durable: the audit trail replaces it with a hash-chained log.
#[derive(Debug, Default, Clone, Copy)]
pub struct TracingSink;

#[async_trait]
impl EventSink for TracingSink {
    async fn record(&self, event: SecurityEvent) -> Result<EventReceipt, SinkError> {
        // Encoding costs more than the rest of a read; skip it when the line would be dropped.
        if !tracing::enabled!(target: "haechi::audit", tracing::Level::INFO) {
            return Ok(EventReceipt { seq: None });
        }
        let json = serde_json::to_string(&event)
            .map_err(|error| SinkError::Unavailable(format!("cannot encode event: {error}")))?;
        tracing::info!(target: "haechi::audit", kind = event.kind.as_str(), event = %json);
        Ok(EventReceipt { seq: None })
    }
}

/// A sink that keeps events in memory, in order. For tests and for tools that inspect what an
/// act recorded; not durable.
#[derive(Debug, Default)]
pub struct MemorySink {
    events: std::sync::Mutex<Vec<SecurityEvent>>,
}

impl MemorySink {
    /// Everything recorded so far.
    pub fn events(&self) -> Vec<SecurityEvent> {
        self.events
            .lock()
            .map(|events| events.clone())
            .unwrap_or_default()
    }
}

#[async_trait]
impl EventSink for MemorySink {
    async fn record(&self, event: SecurityEvent) -> Result<EventReceipt, SinkError> {
        let mut events = self
            .events
            .lock()
            .map_err(|_| SinkError::Unavailable("memory sink poisoned".into()))?;
        events.push(event);
        let seq = u64::try_from(events.len()).unwrap_or(u64::MAX);
        Ok(EventReceipt { seq: Some(seq) })
    }
}
