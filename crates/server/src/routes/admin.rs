//! Administration: key custody and session revocation.

use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use crate::extract::{Admin, JsonBody, PathParam, SecretJsonBody};
use crate::{ApiError, AppState};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/admin/keys", get(list_keys).post(import_key))
        .route("/v1/admin/keys/rotate", post(rotate_keys))
        .route("/v1/admin/keys/{kid}/revoke", post(revoke_key))
        .route("/v1/admin/sessions/{sid}/revoke", post(revoke_session))
        .route(
            "/v1/admin/services",
            get(list_services).post(create_service),
        )
}

/// `GET /v1/admin/services` → `{services}`: every service client, without secrets.
async fn list_services(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<impl IntoResponse, ApiError> {
    let services: Vec<_> = state
        .authority
        .clients()
        .list()
        .await?
        .into_iter()
        .filter(|client| matches!(client.principal, haechi_events::Principal::Service(_)))
        .map(|client| {
            json!({
                "client_id": client.client_id,
                "principal": client.principal.to_string(),
                "purposes": client.scopes,
                "created_at": client.created_at.to_rfc3339(),
                "suspended": client.suspended_at.is_some(),
            })
        })
        .collect();
    Ok(axum::Json(json!({ "services": services })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateService {
    /// The service's name: `service:NAME`, client id `service.NAME`.
    name: String,
    /// The purposes it may declare when reading personal data.
    purposes: Vec<String>,
}

/// `POST /v1/admin/services {name, purposes}` → 201 `{client_id, client_secret, principal}`:
/// the same as `haechi service create`, for a running server. The secret is shown once.
async fn create_service(
    State(state): State<AppState>,
    admin: Admin,
    JsonBody(request): JsonBody<CreateService>,
) -> Result<impl IntoResponse, ApiError> {
    let credential = state
        .authority
        .clients()
        .create(
            haechi_token::ClientKind::Service,
            &request.name,
            &request.purposes,
            &admin.grant,
        )
        .await?;
    Ok((
        axum::http::StatusCode::CREATED,
        // The secret is shown once; no cache may keep it.
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        axum::Json(json!({
            "client_id": credential.client_id,
            "client_secret": credential.client_secret.as_str(),
            "principal": credential.principal.to_string(),
        })),
    ))
}

async fn list_keys(State(state): State<AppState>, _admin: Admin) -> impl IntoResponse {
    axum::Json(json!({ "keys": state.authority.keys().records() }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportRequest {
    /// PEM or private JWK text; wiped from memory when the request is done.
    key: zeroize::Zeroizing<String>,
    #[serde(default = "default_true")]
    activate: bool,
}

fn default_true() -> bool {
    true
}

async fn import_key(
    State(state): State<AppState>,
    admin: Admin,
    SecretJsonBody(request): SecretJsonBody<ImportRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let record = state
        .authority
        .keys()
        .import(&request.key, request.activate, &admin.grant)
        .await?;
    Ok((axum::http::StatusCode::CREATED, axum::Json(record)))
}

async fn rotate_keys(
    State(state): State<AppState>,
    admin: Admin,
) -> Result<impl IntoResponse, ApiError> {
    let active = state.authority.keys().rotate(&admin.grant).await?;
    Ok(axum::Json(json!({ "active": active })))
}

async fn revoke_key(
    State(state): State<AppState>,
    admin: Admin,
    PathParam(kid): PathParam,
) -> Result<impl IntoResponse, ApiError> {
    let revoked = state.authority.keys().revoke(&kid, &admin.grant).await?;
    Ok(axum::Json(json!({
        "kid": revoked.kid,
        "sessions": revoked.sessions,
        "replaced_by": revoked.replaced_by,
    })))
}

async fn revoke_session(
    State(state): State<AppState>,
    admin: Admin,
    PathParam(sid): PathParam,
) -> Result<impl IntoResponse, ApiError> {
    let existed = state
        .authority
        .sessions()
        .revoke(&sid, "admin", &admin.grant)
        .await?;
    if !existed {
        return Err(ApiError::not_found(format!("session {sid}")));
    }
    Ok(axum::Json(json!({ "sid": sid, "revoked": true })))
}
