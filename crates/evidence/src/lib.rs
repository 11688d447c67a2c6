//! Auditor evidence: the ISMS-P 2023 and PIPA safeguard-standard controls Haechi implements,
//! each judged from the running system's facts, as signed JSON and a printable HTML report.
//!
//! Certification evidence is usually screenshots and spreadsheets prepared for the auditor.
//! Haechi holds the facts themselves — who can read what, every read, every key's age — so the
//! report is generated from them, and a gap shows as a finding in red rather than being left
//! out.
//!
//! - [`Facts`]: what is judged, gathered by the caller (the server's evidence desk) from the
//!   store and configuration, and by [`collect`] from the audit trail, the data directory's
//!   bytes and the drill reports.
//! - [`Activity`]: one bounded pass over the trail.
//! - [`controls::CONTROLS`]: the catalogue; each control judges facts into findings, and the
//!   findings decide its status.
//! - [`assess`] → [`EvidenceReport`]; [`render::render_html`]; [`signature`]: detached Ed25519
//!   signatures with the audit key; [`json_schema`]: the report's schema.
//! - [`MonthlyReview`]: the monthly access review a named reviewer acknowledges.
//!
//! # Architecture invariants
//! - **Judgement is pure.** Controls see only [`Facts`]; no control reads a file or a clock.
//! - **A status never says more than its findings.** Status follows from the findings: a
//!   failure is not met, a gap partly; nothing is hidden to improve a status.
//! - **Reads only.** [`collect`] reads the trail without its lock and writes nothing; no
//!   personal data enters the report (customers are counted, never named; a plaintext hit is
//!   a file, a kind and a count).

#![forbid(unsafe_code)]

pub mod activity;
mod assemble;
pub mod collect;
pub mod controls;
pub mod facts;
pub mod period;
pub mod render;
pub mod report;
pub mod review;
mod schema;
pub mod signature;

pub use activity::Activity;
pub use assemble::{FRAMEWORK, assess};
pub use facts::Facts;
pub use period::{Period, YearMonth};
pub use report::{EvidenceReport, REPORT_FORMAT, Status};
pub use review::MonthlyReview;
pub use schema::json_schema;

/// What can go wrong gathering, rendering or checking evidence.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A period or month that is not one.
    #[error("{0}")]
    Period(String),
    /// The audit trail could not be read or verified.
    #[error("audit trail: {0}")]
    Audit(#[from] haechi_audit::Error),
    /// A file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// Which.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The HTML could not be rendered (a template error: a bug, not an input problem).
    #[error("cannot render the report: {0}")]
    Render(String),
    /// The store could not be read.
    #[error("store: {0}")]
    Store(#[from] haechi_events::StoreError),
    /// Another report or review is being gathered: they read the whole trail, one at a time.
    #[error("another evidence report or review is being gathered; try again when it is done")]
    Busy,
    /// A signature is malformed or does not match.
    #[error("{0}")]
    Signature(String),
}
