//! Public discovery documents: JWKS (RFC 7517) and authorization-server metadata (RFC 8414).

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

use crate::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/.well-known/jwks.json", get(jwks))
        .route("/.well-known/oauth-authorization-server", get(metadata))
}

async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    (
        // Short caching: a relying party sees a pending key well before it signs.
        [(header::CACHE_CONTROL, "public, max-age=300")],
        axum::Json(state.authority.keys().jwks()),
    )
}

async fn metadata(State(state): State<AppState>) -> impl IntoResponse {
    let issuer = state
        .authority
        .policy()
        .issuer
        .trim_end_matches('/')
        .to_string();
    let algorithm = state.authority.policy().algorithm.jws_name();
    axum::Json(json!({
        "issuer": issuer,
        "token_endpoint": format!("{issuer}/v1/oauth/token"),
        "introspection_endpoint": format!("{issuer}/v1/oauth/introspect"),
        "revocation_endpoint": format!("{issuer}/v1/oauth/revoke"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "grant_types_supported": ["client_credentials", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "bearer"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "bearer"],
        "response_types_supported": [],
        "token_endpoint_auth_signing_alg_values_supported": [algorithm],
    }))
}
