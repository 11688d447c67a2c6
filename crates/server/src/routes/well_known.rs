//! Public discovery documents: JWKS (RFC 7517) and authorization-server metadata (RFC 8414).

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(jwks))
        .routes(routes!(metadata))
}

/// A JSON Web Key Set (RFC 7517): the public halves of the pending, active and retiring
/// signing keys. Written by the token authority (`KeyLifecycle::jwks`); this type only
/// describes it.
#[derive(Debug, ToSchema)]
#[schema(example = json!({"keys": [{
    "alg": "EdDSA", "crv": "Ed25519", "kid": "Jc3qPOMBkmHnYbUT1Dpw3hSyEdp3WEjTkQoa4-VWvCY",
    "kty": "OKP", "use": "sig", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
}]}))]
#[allow(dead_code, reason = "describes the JSON the token authority writes")]
struct JwkSet {
    /// The keys.
    keys: Vec<Jwk>,
}

/// One public key of the set.
#[derive(Debug, ToSchema)]
#[allow(dead_code, reason = "describes the JSON the token authority writes")]
struct Jwk {
    /// `OKP` (Ed25519) or `EC` (P-256).
    kty: String,
    /// `Ed25519` or `P-256`.
    crv: String,
    /// The public key (its x coordinate for P-256), base64url.
    x: String,
    /// P-256 only: the y coordinate, base64url.
    y: Option<String>,
    /// The key id: its RFC 7638 thumbprint.
    kid: String,
    /// `EdDSA` or `ES256`.
    alg: String,
    /// Always `sig`.
    #[serde(rename = "use")]
    usage: String,
}

/// The public signing keys (JWKS)
///
/// Pending, active and retiring keys: a relying party caches this for five minutes and sees a
/// pending key well before it signs anything.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "discovery",
    operation_id = "jwks",
    security(()),
    responses((
        status = 200,
        description = "The key set.",
        body = JwkSet,
        headers(("cache-control" = String, description = "`public, max-age=300`"))
    ))
)]
async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    (
        // Short caching: a relying party sees a pending key well before it signs.
        [(header::CACHE_CONTROL, "public, max-age=300")],
        axum::Json(state.authority.keys().jwks()),
    )
}

/// Authorization-server metadata (RFC 8414), members in the order the API has always written
/// them.
#[derive(Debug, Serialize, ToSchema)]
struct AuthorizationServerMetadata {
    /// Grants the token endpoint accepts.
    grant_types_supported: Vec<&'static str>,
    /// RFC 7662 introspection.
    introspection_endpoint: String,
    /// How introspection callers authenticate.
    introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    /// The `iss` of every token.
    issuer: String,
    /// The key set.
    jwks_uri: String,
    /// Empty: no authorization endpoint (no browser flows).
    response_types_supported: Vec<&'static str>,
    /// RFC 7009 revocation.
    revocation_endpoint: String,
    /// How revocation callers authenticate.
    revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    /// The token endpoint.
    token_endpoint: String,
    /// How clients authenticate at the token endpoint.
    token_endpoint_auth_methods_supported: Vec<&'static str>,
    /// The JWS algorithm tokens are signed with.
    token_endpoint_auth_signing_alg_values_supported: Vec<&'static str>,
}

/// Authorization-server metadata (RFC 8414)
#[utoipa::path(
    get,
    path = "/.well-known/oauth-authorization-server",
    tag = "discovery",
    operation_id = "authorization_server_metadata",
    security(()),
    responses((status = 200, description = "The metadata.", body = AuthorizationServerMetadata))
)]
async fn metadata(State(state): State<AppState>) -> axum::Json<AuthorizationServerMetadata> {
    let issuer = state
        .authority
        .policy()
        .issuer
        .trim_end_matches('/')
        .to_string();
    let algorithm = state.authority.policy().algorithm.jws_name();
    axum::Json(AuthorizationServerMetadata {
        grant_types_supported: vec!["client_credentials", "refresh_token"],
        introspection_endpoint: format!("{issuer}/v1/oauth/introspect"),
        introspection_endpoint_auth_methods_supported: vec!["client_secret_basic", "bearer"],
        jwks_uri: format!("{issuer}/.well-known/jwks.json"),
        response_types_supported: Vec::new(),
        revocation_endpoint: format!("{issuer}/v1/oauth/revoke"),
        revocation_endpoint_auth_methods_supported: vec!["client_secret_basic", "bearer"],
        token_endpoint: format!("{issuer}/v1/oauth/token"),
        token_endpoint_auth_methods_supported: vec!["client_secret_basic", "client_secret_post"],
        token_endpoint_auth_signing_alg_values_supported: vec![algorithm],
        issuer,
    })
}
