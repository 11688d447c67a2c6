//! Haechi's courier: delivers breach notices from the outbox.
//!
//! Workers ([`Courier`]) claim due notices (in a cluster, workers on every node share the
//! outbox without taking the same notice twice), look up their recipients in the vault
//! ([`ContactBook`]: decrypted here, for this send, and wiped), seal each notice with its
//! code in the outbox **before** it leaves, hand it to its channel's [`Sink`] at the sink's
//! pace, and record the outcome (`notice.sent`, `notice.failed`) in the audit trail and the
//! outbox. A refused hand-over is retried with backoff, up to a limit; a permanent refusal
//! (no phone on record, the gateway rejects the number) is given up at once.
//!
//! Sinks: an SMS gateway's webhook (HMAC-signed like the alert webhook), an SMTP relay
//! (lettre, TLS required), a JSON-lines file (opt-in: it holds recipients in plaintext).
//!
//! # Architecture invariants
//! - **Recorded before sent**: a notice no sink has seen may lack a code; a notice a sink has
//!   seen always has one, so every message that reached someone can be verified.
//! - **Contacts live for one send**: only `Zeroizing` strings inside one attempt; never in
//!   the outbox, logs, errors or records.

#![forbid(unsafe_code)]

mod sinks;
mod worker;

pub use sinks::{
    JsonlSink, Outgoing, Pace, Refusal, Routes, Sink, SmtpSecurity, SmtpSettings, SmtpSink,
    WebhookSettings, WebhookSink,
};
pub use worker::{Contact, ContactBook, Courier, CourierSettings, Tally};

/// What can go wrong delivering notices.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A sink that cannot be set up, or a batch that cannot be rendered.
    #[error("{0}")]
    Sink(String),
    /// The recipients could not be looked up.
    #[error("cannot look up the recipients: {0}")]
    Contacts(String),
    /// A notice's batch fails its checks.
    #[error(transparent)]
    Notice(#[from] haechi_notice::Error),
    /// The outbox failed.
    #[error(transparent)]
    Store(#[from] haechi_events::StoreError),
    /// The audit trail refused a record: nothing more is sent unrecorded.
    #[error(transparent)]
    Audit(#[from] haechi_events::SinkError),
}
