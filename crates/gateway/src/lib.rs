//! Haechi as the authorizer of a reverse proxy: the services behind nginx (`auth_request`),
//! Traefik (`ForwardAuth`) or Envoy (`ext_authz`) verify tokens themselves, so a token signed
//! with a stolen key passes them — unless the proxy asks Haechi first, which checks the
//! issuance ledger as its own API does. This crate holds what that check decides with:
//!
//! - [`GatewayPolicy`]: which principals may call which upstream routes (host, path prefix,
//!   methods), from the `[gateway]` section of the policy file. A request for a route the
//!   policy does not list is denied: the gateway guards what it is put in front of.
//! - [`Upstream`]: the request the proxy is asking about, read from each proxy's headers
//!   ([`Convention`]). A path that could mean two things (`..`, encoded slashes or dots) is
//!   refused rather than normalised differently from the upstream.
//! - [`decide`]: allow (an [`Allowed`] only this crate makes, naming the route) or deny (why).
//!
//! # Architecture invariant
//! Decides, does no IO: the server verifies the token (signature, key state, ledger, session,
//! suspension), refuses blocked networks, records `gateway.allowed` / `gateway.denied`, and
//! answers the proxy.

#![forbid(unsafe_code)]

mod decision;
mod error;
mod policy;
#[cfg(test)]
mod tests;
pub mod upstream;

pub use decision::{Allowed, Denied, decide};
pub use error::Error;
pub use policy::{GatewayPolicy, MAX_CACHE_SECONDS, Route};
pub use upstream::{Convention, Upstream};
