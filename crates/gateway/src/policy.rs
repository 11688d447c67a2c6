//! The `[gateway]` section of the policy file: the routes the gateway guards and who may call
//! them. The vault reads the same file's `[[grant]]`, `[[deny]]` and `[quota]`; each reader
//! ignores the other's sections.
//!
//! ```toml
//! [gateway]
//! proxy = "nginx"                    # whose headers describe requests: nginx (default),
//!                                    # traefik or envoy — and no other's
//! cache_seconds = 1                  # how long a proxy may reuse an allow: 0 (default) or 1
//!
//! [[gateway.route]]
//! name = "orders"                    # the route in the audit trail (the request's path class)
//! host = "shop.example.com"          # optional: every host when absent
//! path_prefix = "/api/orders"        # this path and everything under it
//! methods = ["GET", "POST"]          # optional: every method when absent
//! principals = ["customer", "service:shipping"]
//! scopes = ["orders"]                # optional: the token must hold one of them
//! ```
//!
//! A principal pattern is `customer`, `service` or `admin` (any of that kind), or
//! `service:NAME` / `admin:NAME` (that one). The route a request takes is the one with the
//! longest matching prefix, a route naming the host before one for every host; a request no
//! route takes is denied. Prefixes match without regard to ASCII case and end at a `/` or a
//! `.` as well as at the path's end, so `/api/orders/ADMIN` and `/api/orders/admin.json` take
//! the route of `/api/orders/admin` (as case-insensitive routers and format suffixes would
//! serve them) rather than slipping under a shorter, laxer prefix.

use serde::Deserialize;
use toml::Spanned;

use crate::Error;

/// The longest a proxy may reuse an allow, in seconds: the cluster's revocation bound (a
/// session revoked anywhere is refused everywhere within a second), which a cached allow must
/// not outlast.
pub const MAX_CACHE_SECONDS: u64 = 1;
/// The most routes one policy holds.
const MAX_ROUTES: usize = 1000;

/// The gateway's part of the policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GatewayPolicy {
    routes: Vec<Route>,
    cache_seconds: u64,
    proxy: crate::Convention,
}

/// One guarded route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Its name in the audit trail.
    pub name: String,
    /// The host it is on (lowercase), or every host.
    pub host: Option<String>,
    /// The path it covers, and everything under it.
    pub path_prefix: String,
    /// The methods allowed (uppercase), or every method.
    pub methods: Option<Vec<String>>,
    pub(crate) principals: Vec<PrincipalPattern>,
    /// Scopes of which the token must hold one (none: no scope needed).
    pub scopes: Vec<String>,
}

/// Who a route lets through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PrincipalPattern {
    AnyCustomer,
    AnyService,
    AnyAdmin,
    Service(String),
    Admin(String),
}

#[derive(Deserialize)]
struct PolicyFile {
    #[serde(default)]
    gateway: Option<Spanned<SectionFile>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SectionFile {
    #[serde(default)]
    proxy: Option<Spanned<String>>,
    #[serde(default)]
    cache_seconds: Option<Spanned<u64>>,
    #[serde(default)]
    route: Vec<Spanned<RouteFile>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteFile {
    name: String,
    #[serde(default)]
    host: Option<String>,
    path_prefix: String,
    #[serde(default)]
    methods: Option<Vec<String>>,
    principals: Vec<String>,
    #[serde(default)]
    scopes: Vec<String>,
}

impl GatewayPolicy {
    /// The `[gateway]` section of policy `text` (`file` names it in errors); an empty policy
    /// when there is none, which guards nothing: every gateway check is denied.
    pub fn parse(text: &str, file: &str) -> Result<Self, Error> {
        let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
        let error_at = |offset: Option<usize>, problem: String| Error::Policy {
            file: file.to_string(),
            line: offset.map_or(0, line_of),
            problem,
        };
        let parsed: PolicyFile = toml::from_str(text).map_err(|error| {
            error_at(
                error.span().map(|span| span.start),
                error.message().to_string(),
            )
        })?;
        let Some(section) = parsed.gateway else {
            return Ok(GatewayPolicy::default());
        };
        let start = section.span().start;
        let section = section.into_inner();
        let cache_seconds = match section.cache_seconds {
            Some(seconds) if *seconds.get_ref() > MAX_CACHE_SECONDS => {
                return Err(error_at(
                    Some(seconds.span().start),
                    format!(
                        "cache_seconds is at most {MAX_CACHE_SECONDS}: a cached allow must not \
                         outlast the revocation bound"
                    ),
                ));
            }
            Some(seconds) => seconds.into_inner(),
            None => 0,
        };
        let proxy = match section.proxy {
            None => crate::Convention::default(),
            Some(name) => crate::Convention::parse(name.get_ref()).ok_or_else(|| {
                error_at(
                    Some(name.span().start),
                    format!("proxy {:?}: use nginx, traefik or envoy", name.get_ref()),
                )
            })?,
        };
        if section.route.len() > MAX_ROUTES {
            return Err(error_at(
                Some(start),
                format!("at most {MAX_ROUTES} routes"),
            ));
        }
        let mut routes = Vec::with_capacity(section.route.len());
        for route in section.route {
            let at = route.span().start;
            let route = Route::from_file(route.into_inner())
                .map_err(|problem| error_at(Some(at), problem))?;
            if routes.iter().any(|known: &Route| known.name == route.name) {
                return Err(error_at(
                    Some(at),
                    format!("route name {:?} is used twice", route.name),
                ));
            }
            routes.push(route);
        }
        Ok(GatewayPolicy {
            routes,
            cache_seconds,
            proxy,
        })
    }

    /// The routes, as written.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// How long a proxy may reuse an allow (0: not at all).
    pub fn cache_seconds(&self) -> u64 {
        self.cache_seconds
    }

    /// Whose headers describe the requests.
    pub fn proxy(&self) -> crate::Convention {
        self.proxy
    }

    /// The route `host` and `path` take: the longest matching prefix, a route naming the host
    /// before one for every host.
    pub(crate) fn route_for(&self, host: &str, path: &str) -> Option<&Route> {
        self.routes
            .iter()
            .filter(|route| route.covers(host, path))
            .max_by_key(|route| {
                (
                    route.path_prefix.trim_end_matches('/').len(),
                    route.host.is_some(),
                )
            })
    }
}

impl Route {
    fn from_file(file: RouteFile) -> Result<Route, String> {
        let name = file.name.trim().to_string();
        if name.is_empty()
            || name.len() > 64
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(format!(
                "route name {:?}: 1 to 64 letters, digits, '-', '_' or '.'",
                file.name
            ));
        }
        if !file.path_prefix.starts_with('/')
            || file.path_prefix.contains(['?', '#', '%', '\\'])
            || file
                .path_prefix
                .split('/')
                .any(|segment| segment == ".." || segment == ".")
        {
            return Err(format!(
                "route {name}: path_prefix {:?} must be a plain absolute path",
                file.path_prefix
            ));
        }
        let host = match file.host {
            Some(host) if host.trim().is_empty() || host.contains(['/', ' ']) => {
                return Err(format!("route {name}: host {host:?} is not a host name"));
            }
            Some(host) => Some(host.trim().to_ascii_lowercase()),
            None => None,
        };
        let methods = match file.methods {
            Some(methods) if methods.is_empty() => {
                return Err(format!(
                    "route {name}: methods is empty (leave it out for every method)"
                ));
            }
            Some(methods) => Some(
                methods
                    .into_iter()
                    .map(|method| {
                        let upper = method.trim().to_ascii_uppercase();
                        if upper.is_empty() || !upper.bytes().all(|b| b.is_ascii_uppercase()) {
                            Err(format!("route {name}: method {method:?}"))
                        } else {
                            Ok(upper)
                        }
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            None => None,
        };
        if file.principals.is_empty() {
            return Err(format!(
                "route {name}: principals is empty: name who may call it"
            ));
        }
        let principals = file
            .principals
            .iter()
            .map(|pattern| {
                PrincipalPattern::parse(pattern)
                    .ok_or_else(|| format!("route {name}: principal {pattern:?}: use customer, service, admin, service:NAME or admin:NAME"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Route {
            name,
            host,
            path_prefix: file.path_prefix,
            methods,
            principals,
            scopes: file.scopes,
        })
    }

    /// Whether the route covers `path` on `host` (`host` lowercase, without a port when the
    /// route's host has none).
    fn covers(&self, host: &str, path: &str) -> bool {
        let host_matches = self.host.as_deref().is_none_or(|wanted| {
            wanted == host
                || (!wanted.contains(':')
                    && host.rsplit_once(':').is_some_and(|(name, port)| {
                        name == wanted && port.bytes().all(|b| b.is_ascii_digit())
                    }))
        });
        let prefix = self.path_prefix.trim_end_matches('/');
        let path_matches = prefix.is_empty()
            || path
                .get(..prefix.len())
                .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
                && path[prefix.len()..]
                    .chars()
                    .next()
                    .is_none_or(|next| next == '/' || next == '.');
        host_matches && path_matches
    }

    /// Whether the route lets `method` through.
    pub(crate) fn allows_method(&self, method: &str) -> bool {
        self.methods
            .as_ref()
            .is_none_or(|methods| methods.iter().any(|allowed| allowed == method))
    }
}

impl PrincipalPattern {
    fn parse(text: &str) -> Option<Self> {
        let name_ok = |name: &str| {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        };
        match text.trim() {
            "customer" => Some(PrincipalPattern::AnyCustomer),
            "service" => Some(PrincipalPattern::AnyService),
            "admin" => Some(PrincipalPattern::AnyAdmin),
            other => match other.split_once(':') {
                Some(("service", name)) if name_ok(name) => {
                    Some(PrincipalPattern::Service(name.to_string()))
                }
                Some(("admin", name)) if name_ok(name) => {
                    Some(PrincipalPattern::Admin(name.to_string()))
                }
                _ => None,
            },
        }
    }

    /// Whether `principal` is one this pattern names.
    pub(crate) fn matches(&self, principal: &haechi_events::Principal) -> bool {
        use haechi_events::Principal;
        match (self, principal) {
            (PrincipalPattern::AnyCustomer, Principal::Customer(_))
            | (PrincipalPattern::AnyService, Principal::Service(_))
            | (PrincipalPattern::AnyAdmin, Principal::Admin(_)) => true,
            (PrincipalPattern::Service(wanted), Principal::Service(name))
            | (PrincipalPattern::Admin(wanted), Principal::Admin(name)) => wanted == name,
            _ => false,
        }
    }
}
