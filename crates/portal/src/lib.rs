//! Haechi's exposure portal as a website: the pages a customer sees during a breach, Korean
//! first, readable without JavaScript, and the assets they load.
//!
//! # Architecture invariants
//! - **Renders, does no IO.** The server reads the store and the vault and hands this crate
//!   what to show; this crate returns HTML and bytes.
//! - **Escaped by construction.** Templates are compiled into the binary and minijinja
//!   escapes every value they print; statements are plain text split into paragraphs here.
//! - **Nothing from elsewhere.** No third-party asset, font or script: the Content Security
//!   Policy ([`CONTENT_SECURITY_POLICY`]) allows only the portal's own origin, and no inline
//!   script or style.
//! - **One word table.** Every string a page shows is in `words.rs` in both languages.

#![forbid(unsafe_code)]

mod assets;
mod exposures;
mod site;
#[cfg(test)]
mod tests;
mod views;
mod words;

pub use assets::Asset;
pub use exposures::{ExposureReport, IncidentExposure, Measure};
pub use site::{Error, InboxNotice, LoginProblem, Site, VerifyPage, VerifyResult};
pub use words::Lang;

/// The portal's Content Security Policy: its own scripts, styles and API only; no inline
/// code, no framing, forms posted only to itself.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";
