//! The security-event interface every part of Haechi reports through.
//!
//! A [`SecurityEvent`] is one security-relevant act: a login, a token issued or refused, a read
//! of personal data, a key change, an admin act. Its field names are the spec's audit-event
//! columns, so the audit trail, detection rules and the Parquet archive all speak the same
//! vocabulary. Events go to an [`EventSink`]; the token authority and the vault never know
//! whether the sink is a log line or a durable, hash-chained audit log.
//!
//! The crate also owns the [`Clock`]: domain code never reads the system time directly, so
//! drills can run 137 days of traffic on a simulated clock.

#![forbid(unsafe_code)]

mod change;
mod clock;
mod context;
mod event;
mod kind;
mod refusals;
mod sink;

pub use change::{Change, ChangeFeed, LoggedChange};
pub use clock::{Clock, SimulatedClock, SystemClock, Timestamp};
pub use context::{RequestContext, StoreError};
pub use event::{Decision, Principal, PrincipalParseError, SecurityEvent};
pub use kind::EventKind;
pub use refusals::{RefusalBudget, RefusalGate, SHARED_BUDGET_SPENT};
pub use sink::{EventReceipt, EventSink, MemorySink, SinkError, TracingSink};
