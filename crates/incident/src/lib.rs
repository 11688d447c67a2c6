//! Haechi's incidents: one per attack, not one per alert.
//!
//! Detection raises alerts — one per forged session, one per address reading too many
//! customers. A responder needs the attack: this key, these networks, these user agents, these
//! customers, from–to, contained at T, with the alerts inside. [`IncidentBook`] groups alerts
//! by the indicators their rules say correlate (`incident.correlate`), live in `haechi serve`
//! and in `haechi detect replay`. An incident is also what an operator makes from a list of
//! affected customers ([`ImportedIncident`]); the portal and the notices work from either.
//! One model: [`Incident`].
//!
//! # Architecture invariants
//! - **Pure domain.** No IO, no clock: time is the alerts' event time or an `at` the caller
//!   passes. Storage comes in through [`IncidentStore`].
//! - **Deterministic.** The same alerts in the same order make the same incidents with the
//!   same ids ([`IncidentId::derive`] over the first alert's id or the import's digest).
//! - **Bounded.** Live incidents, listed values, alerts and actions are capped; past a cap
//!   the count still grows and nothing already listed is dropped.
//! - **No plaintext personal data.** Customers appear by id; an affected list holding
//!   plaintext contacts is refused.

#![forbid(unsafe_code)]

mod book;
mod change;
mod error;
mod grouped;
mod imported;
mod model;
mod statement;
mod store;

pub use book::{BookLimits, IncidentBook, MAX_REMEMBERED_CLOSED_ALERTS, PARENT_ALERT_FIELD};
pub use change::{ChangeKind, IncidentChange, coalesce};
pub use error::Error;
pub use grouped::group_alerts;
pub use imported::{ImportedIncident, parse_affected_line};
pub use model::{
    Closure, Incident, IncidentAction, IncidentAlert, IncidentId, IncidentIndicators,
    IncidentOrigin, IncidentState, MAX_LISTED_ACTIONS, MAX_LISTED_ALERTS, MAX_LISTED_VALUES,
    ValueSet,
};
pub use statement::{
    FaqEntry, IncidentStatement, MAX_ANSWER_CHARS, MAX_BODY_CHARS, MAX_FAQ_ENTRIES,
    MAX_QUESTION_CHARS, MAX_TITLE_CHARS, StatementDraft, StatementText, paragraphs,
    statement_key_id,
};
pub use store::{
    AffectedCustomer, CustomerExposure, IncidentFilter, IncidentStore, IncidentWrite,
    StatementStore,
};
