//! Facts about the request an act came in, shared by every event it causes.

use std::net::IpAddr;

use crate::SecurityEvent;

/// Where a request came from: the parts of an HTTP request (or CLI invocation) that every
/// security event it causes must carry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestContext {
    /// The client's network address.
    pub ip: Option<IpAddr>,
    /// The client's `User-Agent`.
    pub user_agent: Option<String>,
    /// The request id (`x-request-id`).
    pub request_id: Option<String>,
}

impl RequestContext {
    /// The context of a command-line act on this machine: no network, no agent.
    pub fn local() -> Self {
        RequestContext::default()
    }
}

impl SecurityEvent {
    /// Copies the request's address, agent and id into the event.
    pub fn context(self, context: &RequestContext) -> Self {
        self.ip(context.ip)
            .user_agent(context.user_agent.as_deref())
            .request_id(context.request_id.as_deref())
    }
}

/// A storage backend failed. Every store trait of the domain crates reports this one type,
/// so one backend (SQLite today, PostgreSQL later) serves them all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A uniqueness rule was violated (the thing already exists).
    #[error("already exists: {0}")]
    Conflict(String),
    /// The backend failed (IO, corruption, connection). The message is for operators.
    #[error("storage failed: {0}")]
    Backend(String),
    /// Stored data could not be decoded (corruption or a newer format).
    #[error("stored data is malformed: {0}")]
    Corrupt(String),
}
