//! The proof that a privileged act is allowed.
//!
//! Key rotation, revocation and import, the access policy, blocks and suspensions, principals,
//! bulk imports, notice lists and leak passes change what everyone may do or reveal what no
//! single read would. Each such act takes an [`AdminGrant`], which only the token authority
//! builds: from a verified administrator's token ([`crate::TokenAuthority::authorize_admin`]),
//! or for a command-line operator from an authority opened with
//! [`OperatorAccess::LocalOperator`] — one that holds the data directory's single-writer lock,
//! which `haechi serve` never hands to its HTTP side. Code that acts cannot forget the check,
//! and nothing that reaches the server over the network can act as the local operator.

use haechi_events::{Principal, RequestContext};

/// Whether the authority being opened may hand out operator grants (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OperatorAccess {
    /// Only administrators' tokens grant privileged acts (`haechi serve`).
    #[default]
    TokensOnly,
    /// The process holds the data directory exclusively (a one-shot command with the server
    /// stopped); [`crate::TokenAuthority::operator_grant`] works.
    LocalOperator,
}

/// How a grant was obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GrantedVia {
    /// A verified access token of an `admin:` principal with the `admin` scope.
    AdminToken {
        /// The token's session.
        sid: String,
        /// The token's id.
        jti: String,
        /// The key that signed it.
        kid: String,
    },
    /// The local operator of a data directory the process holds exclusively.
    LocalOperator,
    /// Detection's automatic response (containment decided by a rule).
    AutomaticResponse,
    /// The leak watch service's passes over the items of its sources.
    LeakWatch,
}

/// Permission for one privileged act, carrying who acts and from where. It has no public
/// constructor: see the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminGrant {
    pub(crate) actor: Principal,
    pub(crate) context: RequestContext,
    pub(crate) via: GrantedVia,
}

impl AdminGrant {
    /// Who acts: an `admin:` principal (`admin:cli` for the local operator).
    pub fn actor(&self) -> &Principal {
        &self.actor
    }

    /// Where the request came from (local for the operator).
    pub fn context(&self) -> &RequestContext {
        &self.context
    }

    /// How the grant was obtained.
    pub fn via(&self) -> &GrantedVia {
        &self.via
    }
}
