//! The gateway check (forward auth): nginx `auth_request`, Traefik `ForwardAuth` and Envoy
//! HTTP `ext_authz` ask here before forwarding a request to a service that verifies tokens
//! itself. The token is verified exactly as Haechi's own API verifies it — signature, key
//! state, issuance ledger, session, suspension; the network was already checked against the
//! blocks — and the request's route against the policy's `[gateway]` section. Fails closed:
//! anything but 200 denies.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use haechi_events::EventKind;
use haechi_gateway::upstream::HeaderRead;
use haechi_gateway::{Upstream, decide};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::Authenticated;
use crate::openapi::{BadRequest, Forbidden, Unauthorized, Unavailable};
use crate::{ApiError, AppState};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(check))
        .routes(routes!(check_envoy))
        // Only a 200 may be reused by a proxy: every refusal — the token's, the block's, the
        // policy's — is `no-store`, whoever made it.
        .layer(axum::middleware::map_response(
            |mut response: Response| async move {
                if response.status() != axum::http::StatusCode::OK {
                    response
                        .headers_mut()
                        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                }
                response
            },
        ))
}

/// Whether to forward a request (forward auth for nginx and Traefik)
///
/// The request is the one the proxy describes: nginx's `X-Original-URI`, `X-Original-Method`
/// and `Host` (or `X-Original-Host`), else Traefik's `X-Forwarded-Uri`, `-Method`, `-Host`.
/// 200 forwards it, with `X-Haechi-Subject`, `X-Haechi-Principal`, `X-Haechi-Session`,
/// `X-Haechi-Scopes` and `X-Haechi-Route` for the upstream, and a `Cache-Control` saying how long
/// the proxy may reuse the answer (`no-store`, or at most a second: the revocation bound).
/// 401: no token, or one that does not verify (a forged token is recorded and alerted on as at
/// the API). 403: the policy does not let this principal take this route, or the network is
/// blocked. 400: the request is not described, or its path is ambiguous. Recorded as
/// `gateway.allowed` / `gateway.denied`.
#[utoipa::path(
    method(get, post, put, patch, delete, options),
    path = "/v1/gateway/check",
    tag = "gateway",
    operation_id = "gateway_check",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Forward it. The identity headers are set."),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    )
)]
async fn check(State(state): State<AppState>, request: Request) -> Response {
    let (mut parts, _) = request.into_parts();
    answer(&state, &mut parts, None).await
}

/// Whether to forward a request (Envoy HTTP `ext_authz`)
///
/// Envoy sends the original method and appends the original path to the check's:
/// `/v1/gateway/check` + `/api/orders/17`. Otherwise as `/v1/gateway/check`. (`HEAD` is
/// answered as `GET`, without a body, on both.)
#[utoipa::path(
    method(get, post, put, patch, delete, options),
    path = "/v1/gateway/check/{*upstream}",
    tag = "gateway",
    operation_id = "gateway_check_envoy",
    security(("bearer" = [])),
    params(("upstream" = String, Path, description = "The original request's path, slashes and all (Envoy appends it).")),
    responses(
        (status = 200, description = "Forward it. The identity headers are set."),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    )
)]
async fn check_envoy(State(state): State<AppState>, request: Request) -> Response {
    let (mut parts, _) = request.into_parts();
    // The path as it came, not percent-decoded: decoding it here and again in the gateway
    // crate would let `%253F` become a `?` that cuts the path short.
    let suffix = parts
        .uri
        .path()
        .strip_prefix(CHECK_PATH)
        .unwrap_or_default()
        .to_string();
    answer(&state, &mut parts, Some(&suffix)).await
}

/// The check's own path.
const CHECK_PATH: &str = "/v1/gateway/check";

/// Whether `parts` came from a proxy: its peer is one of `server.trusted_proxies`. The check is
/// the proxies' to ask; a client asking it directly could write decisions on the record and
/// learn the policy's shape.
fn from_a_proxy(state: &AppState, parts: &Parts) -> bool {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|ConnectInfo(peer)| state.settings.trusted_proxies.trusts(peer.ip()))
}

/// A header the check reads: absent, or its one value as text; repeated or not text is an
/// error (so a client cannot make the proxy's header unreadable and have it passed over).
fn read_header<'a>(headers: &'a HeaderMap, name: &str) -> HeaderRead<'a> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (None, _) => Ok(None),
        (Some(value), None) => value.to_str().map(Some).map_err(|_| ()),
        (Some(_), Some(_)) => Err(()),
    }
}

async fn answer(state: &AppState, parts: &mut Parts, suffix: Option<&str>) -> Response {
    if !from_a_proxy(state, parts) {
        return ApiError::forbidden(
            "the gateway check answers the proxies listed in server.trusted_proxies",
        )
        .into_response();
    }
    let caller = match Authenticated::from_request_parts(parts, state).await {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    let policy = state.gateway.policy(&state.vault);
    let policy = match policy.as_ref() {
        Ok(policy) => policy,
        Err(error) => {
            tracing::error!(%error, "the gateway's policy does not parse: every check is denied");
            return ApiError::unavailable("the gateway's policy is not usable; see the server log")
                .into_response();
        }
    };
    let token = &caller.token;
    let described = Upstream::describe(
        policy.proxy(),
        |name| read_header(&parts.headers, name),
        parts.method.as_str(),
        suffix,
    );
    let upstream = match described {
        Ok(upstream) => upstream,
        Err(error) => {
            // A verified principal asking about a request nobody can read is on the record too.
            let event = caller_event(state, &caller, EventKind::GatewayDenied)
                .outcome(haechi_events::Decision::Deny, 400)
                .reason("undescribed")
                .detail("proxy", policy.proxy().as_str());
            if let Err(error) = state.events.record(event).await {
                return ApiError::audit_unavailable(error).into_response();
            }
            return ApiError::bad_request(error.to_string()).into_response();
        }
    };
    let decision = decide(policy, &upstream, token.principal(), token.scopes());
    let (kind, route) = match &decision {
        Ok(allowed) => (EventKind::GatewayAllowed, Some(allowed.route_name())),
        Err(denied) => (EventKind::GatewayDenied, denied.route_name()),
    };
    let mut event = caller_event(state, &caller, kind)
        .detail("host", upstream.host.clone())
        .detail("method", upstream.method.clone())
        .detail("route", route.unwrap_or("-"))
        .detail("proxy", upstream.convention.as_str());
    event = match &decision {
        Ok(_) => event.outcome(haechi_events::Decision::Allow, 200),
        Err(denied) => event
            .outcome(haechi_events::Decision::Deny, 403)
            .reason(denied.reason()),
    };
    // Durable before the answer, as every decision Haechi makes (fail closed).
    if let Err(error) = state.events.record(event).await {
        return ApiError::audit_unavailable(error).into_response();
    }
    let allowed = match decision {
        Ok(allowed) => allowed,
        Err(denied) => return ApiError::forbidden(denied.message()).into_response(),
    };
    let principal = token.principal();
    let subject = match principal {
        haechi_events::Principal::Customer(id)
        | haechi_events::Principal::Service(id)
        | haechi_events::Principal::Admin(id) => id.clone(),
        haechi_events::Principal::Anonymous => String::new(),
    };
    let identity = [
        ("x-haechi-subject", subject),
        ("x-haechi-principal", principal.to_string()),
        ("x-haechi-session", token.sid().to_string()),
        ("x-haechi-scopes", token.scopes().join(" ")),
        ("x-haechi-route", allowed.route_name().to_string()),
    ];
    let mut response = axum::http::StatusCode::OK.into_response();
    let response_headers = response.headers_mut();
    for (name, value) in identity {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response_headers.insert(HeaderName::from_static(name), value);
        }
    }
    // How long the proxy may reuse the allow: never, or at most the revocation bound.
    // `X-Accel-Expires` is nginx's own header for its cache, and it must come first: nginx
    // reads the headers in order, and a `Cache-Control` it reads first that says `private`
    // keeps it from caching at all. Other proxies read `Cache-Control`.
    match policy.cache_seconds() {
        0 => {
            response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        seconds => {
            for (name, value) in [
                (
                    HeaderName::from_static("x-accel-expires"),
                    seconds.to_string(),
                ),
                (header::CACHE_CONTROL, format!("private, max-age={seconds}")),
            ] {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    response_headers.insert(name, value);
                }
            }
        }
    }
    response
}

/// An event of `kind` about `caller`'s token.
fn caller_event(
    state: &AppState,
    caller: &Authenticated,
    kind: EventKind,
) -> haechi_events::SecurityEvent {
    let token = &caller.token;
    haechi_events::SecurityEvent::new(
        state.authority.clock().now(),
        kind,
        token.principal().clone(),
    )
    .context(&caller.context)
    .sid(token.sid())
    .jti(token.jti())
    .kid(token.kid())
}
