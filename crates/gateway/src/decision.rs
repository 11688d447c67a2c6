//! The decision: which route a request takes, and whether its verified principal may take it.

use haechi_events::Principal;

use crate::policy::GatewayPolicy;
use crate::upstream::Upstream;

/// An allowed request: the proof the server answers 200 with. Only [`decide`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowed {
    route: String,
}

impl Allowed {
    /// The route it took (its path class in the audit trail).
    pub fn route_name(&self) -> &str {
        &self.route
    }
}

/// Why a request is denied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// No route of the policy covers it: the gateway denies what it does not know.
    NoRoute,
    /// Its route does not take its method.
    Method {
        /// The route.
        route: String,
    },
    /// Its route does not let its principal through.
    Principal {
        /// The route.
        route: String,
    },
    /// Its token holds none of the scopes its route needs.
    Scope {
        /// The route.
        route: String,
    },
}

impl Denied {
    /// The reason recorded with `gateway.denied`: `no_route`, `method`, `principal`, `scope`.
    pub fn reason(&self) -> &'static str {
        match self {
            Denied::NoRoute => "no_route",
            Denied::Method { .. } => "method",
            Denied::Principal { .. } => "principal",
            Denied::Scope { .. } => "scope",
        }
    }

    /// The route it was denied on, if one covered it.
    pub fn route_name(&self) -> Option<&str> {
        match self {
            Denied::NoRoute => None,
            Denied::Method { route } | Denied::Principal { route } | Denied::Scope { route } => {
                Some(route)
            }
        }
    }

    /// A sentence for the proxy's client: the same for every denial, naming no route (the
    /// reason is on the record, `gateway.denied`).
    pub fn message(&self) -> &'static str {
        "the gateway's policy does not allow this request"
    }
}

/// Whether `principal`, holding `scopes` (its token verified by the caller), may make
/// `request` under `policy`.
pub fn decide(
    policy: &GatewayPolicy,
    request: &Upstream,
    principal: &Principal,
    scopes: &[String],
) -> Result<Allowed, Denied> {
    let route = policy
        .route_for(&request.host, &request.path)
        .ok_or(Denied::NoRoute)?;
    let name = || route.name.clone();
    if !route.allows_method(&request.method) {
        return Err(Denied::Method { route: name() });
    }
    if !route
        .principals
        .iter()
        .any(|pattern| pattern.matches(principal))
    {
        return Err(Denied::Principal { route: name() });
    }
    if !route.scopes.is_empty()
        && !route
            .scopes
            .iter()
            .any(|needed| scopes.iter().any(|held| held == needed))
    {
        return Err(Denied::Scope { route: name() });
    }
    Ok(Allowed { route: name() })
}
