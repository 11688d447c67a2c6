//! The API's contract as an OpenAPI 3.1 document, generated from the code: each handler's
//! `#[utoipa::path]` attribute, registered through `utoipa_axum::routes!` with the very call
//! that routes it (so no route is served undocumented), and the schemas of the types the
//! handlers serialise. This module holds what every operation shares: the error answers (one
//! reusable response per status, each with the [`ErrorBody`] schema and the codes it carries),
//! the security schemes, and [`complete`], which adds the answers any route can give to every
//! operation. `crate::routes` assembles the document and serves it at `/openapi.json`.

use serde_json::{Value, json};
use utoipa::openapi::security::{
    ClientCredentials, Flow, HttpAuthScheme, HttpBuilder, OAuth2, Scopes, SecurityScheme,
};
use utoipa::{Modify, OpenApi, ToResponse};

use crate::error::{ErrorBody, ErrorCode, FieldProblem};

/// The document's frame: title, security schemes, tags, and the shared error answers. The
/// operations come from the routers (`crate::routes`).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Haechi",
        description = "A guardian around customers' personal data: token authority, PII vault, \
                       audit trail, detection and containment.\n\n\
                       Every error is `{\"error\": code, \"message\": text}` (see the `ApiError` \
                       schema for every code); every response carries `x-request-id`, which \
                       names the request in the audit trail and the server log.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    components(
        schemas(ErrorBody, ErrorCode, FieldProblem),
        responses(
            BadRequest,
            Unauthorized,
            Forbidden,
            NotFound,
            Conflict,
            PayloadTooLarge,
            UnsupportedMediaType,
            Unprocessable,
            TooManyRequests,
            HeadersTooLarge,
            InternalError,
            Unavailable,
        ),
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "health", description = "Liveness, readiness, metrics."),
        (name = "discovery", description = "Public keys and authorization-server metadata."),
        (name = "auth", description = "Customer login, refresh, logout."),
        (name = "oauth", description = "OAuth 2.0: token, introspection, revocation."),
        (name = "customers", description = "The PII vault: customers' own records, service reads."),
        (name = "keys", description = "Signing keys in custody (administrators)."),
        (name = "services", description = "Service clients (administrators)."),
        (name = "sessions", description = "Sessions (administrators)."),
        (name = "policy", description = "The access policy (administrators)."),
        (name = "audit", description = "The audit trail's search (administrators)."),
        (name = "alerts", description = "Detection alerts (administrators)."),
        (name = "incidents", description = "Incidents: the alerts of one attack, or an imported breach (administrators)."),
        (name = "rules", description = "Detection rules: the set in force, changed without a restart (administrators)."),
        (name = "containment", description = "Blocked networks, suspended principals (administrators)."),
        (name = "drill", description = "The drill clock (administrators, drill servers only)."),
        (name = "exposure", description = "The public exposure check (HIBP range format)."),
        (name = "portal", description = "The exposure portal: the incident statements shown, and a customer's own exposures."),
        (name = "notices", description = "Breach notices: \"is this message from us?\" for anyone holding a text."),
        (name = "evidence", description = "Auditor evidence: the signed ISMS-P / PIPA report and the monthly access review (administrators)."),
        (name = "gateway", description = "Forward auth for nginx, Traefik and Envoy: whether a proxy may forward a request to a service that verifies tokens itself."),
        (name = "console", description = "The responder console: pages for administrators (alerts live, who was exposed, blocks and suspensions, keys, rules), signed in with a session cookie only the console reads."),
        (name = "contract", description = "This document."),
    )
)]
pub(crate) struct ApiDoc;

/// The security schemes: bearer tokens (which role an operation needs is the requirement's
/// role list, as OpenAPI 3.1 allows for non-OAuth schemes), the client-credentials grant that
/// issues service and administrator tokens, and HTTP Basic client authentication.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token (a JWT signed with a key of `/.well-known/jwks.json`). \
                         Customers get one from `POST /v1/auth/login`; services and \
                         administrators from `POST /v1/oauth/token` (client credentials). The \
                         role list names whose token an operation takes: `customer`, `service` \
                         or `admin` — an administrator's token is one issued to an `admin:` \
                         principal with the `admin` scope, and every privileged act needs it.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "client_credentials",
            SecurityScheme::OAuth2(OAuth2::with_description(
                [Flow::ClientCredentials(ClientCredentials::new(
                    "/v1/oauth/token",
                    Scopes::from_iter([
                        (
                            "admin",
                            "An administrator's token: key custody, services, policy, audit, \
                             alerts, containment.",
                        ),
                        (
                            "account",
                            "A service may create customers (the `account` purpose).",
                        ),
                        (
                            "erasure",
                            "A service may crypto-shred customers (the `erasure` purpose).",
                        ),
                    ]),
                ))],
                "Services and administrators: the client-credentials grant at \
                 `/v1/oauth/token` issues the bearer token. A service's scopes are the purposes \
                 it was created with.",
            )),
        );
        components.add_security_scheme(
            "client_basic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "A client's id and secret (RFC 6749 §2.3.1), for the token endpoint, \
                         introspection and revocation.",
                    ))
                    .build(),
            ),
        );
    }
}

/// 400: the request cannot be read. Codes: `bad_request` (a path or query that is not text,
/// a form that does not parse), `malformed_json`, `invalid_parameter` (a query parameter),
/// `invalid_request`, `unsupported_grant_type`, `invalid_scope` (OAuth).
#[derive(ToResponse)]
#[allow(dead_code, reason = "describes the body ApiError writes")]
pub(crate) struct BadRequest(ErrorBody);

/// 401: no valid credential. Codes: `missing_token`, `invalid_token` (why is in the audit
/// record only), `invalid_credentials` (login), `invalid_client`, `invalid_grant` (OAuth),
/// `unauthorized`. `WWW-Authenticate` names the scheme.
#[derive(ToResponse)]
#[response(headers(("www-authenticate" = String, description = "`Bearer realm=\"haechi\"` (with `error=\"invalid_token\"` when a token was refused), or `Basic realm=\"haechi\"` for client authentication.")))]
#[allow(dead_code, reason = "describes the body ApiError writes")]
pub(crate) struct Unauthorized(ErrorBody);

/// 403: refused. Codes: `forbidden` (the principal may not do this: not its record, not its
/// role, a purpose the policy does not grant, suspended), and on any route `blocked` (the
/// caller's network is blocked by containment; the body adds `block_id` and `until`).
#[derive(ToResponse)]
#[allow(dead_code, reason = "describes the body ApiError writes")]
pub(crate) struct Forbidden(ErrorBody);

/// 404: `not_found` — no such thing, or not one this caller may know of.
#[derive(ToResponse)]
#[allow(dead_code, reason = "describes the body ApiError writes")]
pub(crate) struct NotFound(ErrorBody);

/// 409: `conflict` — the act conflicts with the current state (an identifier another account
/// holds, a key state that does not allow the change, a clock that would run backwards).
#[derive(ToResponse)]
#[allow(dead_code, reason = "describes the body ApiError writes")]
pub(crate) struct Conflict(ErrorBody);

/// 413: `body_too_large` — the body is over `server.max_body_bytes`.
#[derive(ToResponse)]
#[allow(dead_code, reason = "describes the body ApiError writes")]
pub(crate) struct PayloadTooLarge(ErrorBody);

/// 415: `unsupported_media_type` — the body is not of a media type the endpoint reads.
#[derive(ToResponse)]
#[allow(dead_code, reason = "describes the body ApiError writes")]
pub(crate) struct UnsupportedMediaType(ErrorBody);

/// 422: well-formed but invalid. Codes: `invalid_field` (a member of the wrong type, or a
/// value that fails validation; `fields` names them), `invalid_policy`.
#[derive(ToResponse)]
#[allow(dead_code, reason = "describes the body ApiError writes")]
pub(crate) struct Unprocessable(ErrorBody);

/// 429: a limit. Codes: `rate_limited` (attempts per account or source, lookup misses,
/// exposure checks), `quota_exceeded` (a service's read quota). `Retry-After` says when.
#[derive(ToResponse)]
#[response(headers(("retry-after" = u64, description = "Seconds until a retry may succeed.")))]
#[allow(dead_code, reason = "describes the body ApiError writes")]
pub(crate) struct TooManyRequests(ErrorBody);

/// 431: `headers_too_large` — the request headers are over `server.max_header_bytes`.
#[derive(ToResponse)]
#[allow(dead_code, reason = "describes the body ApiError writes")]
pub(crate) struct HeadersTooLarge(ErrorBody);

/// 500: `internal` — a fault of the server; nothing about it is in the body, the request id
/// names it in the server log.
#[derive(ToResponse)]
#[allow(dead_code, reason = "describes the body ApiError writes")]
pub(crate) struct InternalError(ErrorBody);

/// 503: `unavailable` — a part the act needs cannot answer (the database, the audit trail, a
/// cluster node's view of the shared decisions), so nothing was done; retry, or use another
/// node.
#[derive(ToResponse)]
#[allow(dead_code, reason = "describes the body ApiError writes")]
pub(crate) struct Unavailable(ErrorBody);

/// Answers any route can give, whatever its handler does: a blocked network (403), headers
/// over the limit (431), a fault (500), a cluster node not confirmed fresh (503).
const ANY_ROUTE: &[(&str, &str)] = &[
    ("403", "Forbidden"),
    ("431", "HeadersTooLarge"),
    ("500", "InternalError"),
    ("503", "Unavailable"),
];

/// Completes the generated document: every operation gets the answers [`ANY_ROUTE`] lists,
/// every response (inline or shared) the `x-request-id` header, and every link the member
/// names OpenAPI gives them (utoipa 5.5 writes a Link's `operationId`, `operationRef` and
/// `requestBody` in snake case, which no validator or tool reads).
pub(crate) fn complete(mut document: Value) -> Value {
    let request_id = json!({
        "description": "The request's id: the client's own if short and of a safe alphabet, \
                        else one the server made. It names the request in the audit trail.",
        "schema": {"type": "string"},
    });
    if let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) {
        // axum's catch-all `{*name}` is OpenAPI's `{name}` (its value may hold slashes: the
        // operation says so).
        let catch_alls: Vec<String> = paths
            .keys()
            .filter(|path| path.contains("{*"))
            .cloned()
            .collect();
        for path in catch_alls {
            if let Some(item) = paths.remove(&path) {
                paths.insert(path.replace("{*", "{"), item);
            }
        }
        for item in paths.values_mut().filter_map(Value::as_object_mut) {
            // One handler for several methods (the gateway check takes whatever method a
            // proxy forwards) is one operation per method: each gets its own id.
            let shared_ids = item.len() > 1
                && item
                    .values()
                    .filter_map(|operation| operation.get("operationId")?.as_str())
                    .collect::<std::collections::BTreeSet<_>>()
                    .len()
                    < item.len();
            for (method, operation) in item.iter_mut() {
                if let Some(Value::String(id)) = operation.get_mut("operationId")
                    && shared_ids
                    && method != "get"
                {
                    *id = format!("{id}_{method}");
                }
            }
            for operation in item.values_mut().filter_map(Value::as_object_mut) {
                let Some(responses) = operation
                    .get_mut("responses")
                    .and_then(Value::as_object_mut)
                else {
                    continue;
                };
                for (status, name) in ANY_ROUTE {
                    responses.entry(status.to_string()).or_insert_with(
                        || json!({ "$ref": format!("#/components/responses/{name}") }),
                    );
                }
                for response in responses.values_mut() {
                    add_header(response, &request_id);
                    name_link_members(response);
                }
            }
        }
    }
    if let Some(shared) = document
        .pointer_mut("/components/responses")
        .and_then(Value::as_object_mut)
    {
        for response in shared.values_mut() {
            add_header(response, &request_id);
        }
    }
    document
}

/// Renames the snake-case members of a response's links to OpenAPI's camel case.
fn name_link_members(response: &mut Value) {
    let Some(links) = response.get_mut("links").and_then(Value::as_object_mut) else {
        return;
    };
    for link in links.values_mut().filter_map(Value::as_object_mut) {
        for (snake, camel) in [
            ("operation_id", "operationId"),
            ("operation_ref", "operationRef"),
            ("request_body", "requestBody"),
        ] {
            if let Some(value) = link.remove(snake) {
                link.insert(camel.to_string(), value);
            }
        }
    }
}

/// Adds `x-request-id` to a response object (a `$ref` is completed where it points).
fn add_header(response: &mut Value, header: &Value) {
    let Some(response) = response.as_object_mut() else {
        return;
    };
    if response.contains_key("$ref") {
        return;
    }
    let headers = response
        .entry("headers")
        .or_insert_with(|| json!({}))
        .as_object_mut();
    if let Some(headers) = headers {
        headers.insert("x-request-id".to_string(), header.clone());
    }
}
