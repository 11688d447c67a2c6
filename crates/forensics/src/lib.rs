//! Haechi's forensics: who was exposed, which fields, when — exactly, in seconds, over tens of
//! millions of audit events.
//!
//! # Bird's-eye view
//!
//! - [`Indicators`] are what an investigator knows about an attacker: networks, signing-key
//!   ids, token ids, session ids, principals, user agents, and a time window. [`Query`] adds
//!   how indicators combine ([`MatchMode`]) and is what the chain of custody records.
//! - [`scope`] answers a query over the Parquet archive ([`archive`] module: pruning by day
//!   partition, row-group statistics and bloom filters, column projection, predicate
//!   pushdown, parallel over the cores) and over the live log that is not archived yet, and
//!   joins the two by seq so nothing falls between them. The result ([`Scope`]) is exact — no
//!   sketches anywhere — and deterministically ordered; it carries a [`Custody`] block: every
//!   file and row group consulted, digests of the bytes the result was computed from, the
//!   query, the tool version.
//! - [`find_alert`] reads a detection alert's `alert.raised` event back from the same sources,
//!   and [`alert_source`] turns it into indicators (its group and user agent, all of which must
//!   match): `haechi scope --alert ID`.
//! - [`report`] renders a scope as a table, JSON, CSV or JSON lines.
//! - [`generate`] writes a realistic archive (normal traffic plus an injected stolen-key
//!   attack) through the audit crate's archive writer, with its ground truth, for tests,
//!   benchmarks and drills.
//!
//! # What "exposed" means
//!
//! A customer is exposed by an audit event of kind `pii.read` or `pii.lookup` whose decision
//! is `allow` or `mask` and whose status is 200 (the vault answered with the customer's data,
//! in plaintext or masked, or named them as the holder of a searched e-mail or phone), that lies in the time window and matches the indicators. Within one indicator
//! type the values are alternatives (OR); across types [`MatchMode::Any`] (the default) takes
//! an event matching any type, [`MatchMode::All`] one matching every type given.
//!
//! # Architecture invariant
//!
//! The result path is exact: pruning only ever skips data that provably holds no match
//! (statistics bound it out, or a bloom filter says a value is absent — bloom filters have no
//! false negatives), and every row that could match is decoded and tested.

#![forbid(unsafe_code)]

mod alert;
pub mod archive;
mod custody;
mod error;
pub mod generate;
mod hits;
mod indicators;
mod live;
mod lookup;
mod matcher;
mod parallel;
mod progress;
mod query;
pub mod report;
mod scope;
mod sources;
mod timestamps;

pub use alert::{
    AlertIndicator, AlertSource, GroupByOrigin, IndicatorOrigin, RaisedAlert, SkippedField,
    alert_source,
};
pub use custody::{ArchiveFileCustody, Coverage, Custody, DigestMode, LiveLogCustody};
pub use error::Error;
pub use generate::{
    Attack, AttackTruth, GenerateOptions, GenerateReport, GroundTruth, StolenKeyAttack, Victim,
    read_ground_truth,
};
pub use indicators::{IndicatorKind, Indicators, parse_indicator_file};
pub use lookup::find_alert;
pub use progress::{NoProgress, Progress};
pub use query::{IncidentSource, MatchMode, Query, TimeWindow};
pub use scope::{DayCount, Exposure, FieldCount, Scope, ScopeOptions, Summary, scope};
pub use sources::Sources;
pub use timestamps::{format_time, parse_date, parse_time};
