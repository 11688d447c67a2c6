//! Haechi's responder console as a website: what an administrator on call works in — the live
//! alert list, an alert with its events and "who was exposed", the blocks and suspensions in
//! force, the signing keys, the rules loaded.
//!
//! # Architecture invariants
//! - **Renders, does no IO.** The server verifies the administrator, reads the desks, runs the
//!   scope and carries out every act; this crate turns what it is handed into HTML.
//! - **Escaped by construction.** Templates are compiled into the binary and minijinja escapes
//!   every value they print, attacker-chosen ones included (user agents, rule groups, notes).
//! - **Nothing from elsewhere, nothing inline.** The Content Security Policy
//!   ([`CONTENT_SECURITY_POLICY`]) allows the console's own script, style and stream only: no
//!   inline script or style, no framing, forms posted only to the console.
//! - **Every form carries the session's CSRF token.** The pages print the token they are given
//!   into each form; the server checks it (and where the post came from) before any act.

#![forbid(unsafe_code)]

mod assets;
mod chart;
mod site;
#[cfg(test)]
mod tests;
mod views;

pub use haechi_portal::Asset;
pub use site::{Console, Error, Frame, Outcome, Section};
pub use views::{Done, KeyRevocation, LeakSourceRow, Problem, ScopeSummary};

/// The console's Content Security Policy: its own script, style and event stream only; no
/// inline code, no framing, forms posted only to itself.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// Where the console is served.
pub const ROOT: &str = "/console/";
