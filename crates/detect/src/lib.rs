//! Haechi's detection engine: Sigma-style rules evaluated over the audit stream.
//!
//! The server feeds every audit event to an [`Engine`] (`process(seq, &event, &lookup)`); the
//! engine returns [`AlertUpdate`]s — a new alert, or growth of an open one — each carrying the
//! [`ResponseAction`]s its rule decided. The server records alerts, carries out actions whose
//! [`Disposition`] is `Enforce`, and audits all of them. Replaying an archive is the same engine
//! over an iterator ([`Engine::replay`]).
//!
//! Rules are Sigma v2 YAML, with what Sigma lacks under the custom attribute `haechi:`, or
//! Haechi's older single-document format ([`load_str`], [`load_path`], [`builtin_rules`]); the
//! language is documented in `docs/rules.md`. What happens next — the alert desk, containment and the response
//! actions — is `haechi-respond`.
//!
//! # Architecture invariants
//! - **Pure domain.** No clock, no network, no threads. Time is the events' time; Haechi's own
//!   state is read through [`StateLookup`]; actions are returned as data. The only IO is
//!   [`load_path`], reading rule files from a path the caller names.
//! - **Deterministic.** The same events (in any arrival order the watermark tolerates) give the
//!   same alerts in the same order: events are evaluated in `(time, seq)` order, rules in load
//!   order, and no hash-map iteration order reaches the output.
//! - **Exact.** Windows keep every timestamp or distinct value they need; nothing is sampled.
//! - **Bounded.** State is capped ([`Limits::max_state_entries`]); at the cap new entries are
//!   refused and an `engine.state_cap` alert is raised; nothing is evicted silently.
//! - **A bad rule stays out.** Loading checks everything it can (fields, modifiers, regex size,
//!   window bounds, action conflicts) and reports per rule; the other rules load.

#![forbid(unsafe_code)]

mod alert;
mod detection;
mod engine;
mod error;
mod fields;
mod loader;
mod lookup;
mod pack;
mod rule;
mod sigma;
mod state;
mod yaml;

pub use alert::{
    ActionKind, Alert, AlertBook, AlertGrowth, AlertId, AlertUpdate, Disposition, MAX_EVIDENCE,
    ResponseAction,
};
pub use detection::{MAX_REGEX_COMPILED_BYTES, MAX_REGEX_LENGTH, MAX_VALUES_PER_TEST};
pub use engine::{Engine, EngineStats, Limits, RulesSwap, STATE_CAP_RULE_ID, replay};
pub use error::{Error, RuleError};
pub use loader::{LoadReport, MAX_RULE_FILE_BYTES, load_path, load_str};
pub use lookup::{KeyStateView, NoState, StateLookup};
pub use pack::{
    BUILTIN_FILES, DEFAULT_NEW_SERVICE_CUSTOMERS_PER_MINUTE, NEW_SERVICE_VELOCITY_RULE,
    PackSettings, builtin_rules, builtin_rules_with,
};
pub use rule::{
    DEFAULT_COOLDOWN, DEFAULT_INCIDENT_WINDOW, DEFAULT_MAX_ACTIONS, IncidentLinks, LinkField,
    MAX_BLOCK_TTL, MAX_COOLDOWN, MAX_GROUP_FIELDS, MAX_INCIDENT_WINDOW, MAX_LEARNING,
    MAX_RETENTION, MAX_SEQUENCE_STEPS, MAX_TIMESPAN, Rule, Severity,
};
pub use sigma::{LOGSOURCE_PRODUCT, LOGSOURCE_SERVICE};
