//! Administration: key custody and session revocation.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use haechi_custody::KeyRecord;
use haechi_events::Principal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{Admin, JsonBody, PathParam, SecretJsonBody};
use crate::openapi::{
    BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, Unauthorized, Unavailable,
    Unprocessable, UnsupportedMediaType,
};
use crate::{ApiError, AppState};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_keys, import_key))
        .routes(routes!(rotate_keys))
        .routes(routes!(revoke_key))
        .routes(routes!(revoke_session))
        .routes(routes!(list_services, create_service))
}

/// A service client as listed (never its secret; members in the order the API has always
/// written them).
#[derive(Debug, Serialize, ToSchema)]
struct ServiceSummary {
    /// `service.NAME`.
    client_id: String,
    /// When it was created, RFC 3339.
    created_at: String,
    /// `service:NAME`.
    principal: Principal,
    /// The purposes it may declare.
    purposes: Vec<String>,
    /// Whether containment suspended it.
    suspended: bool,
}

/// Every service client.
#[derive(Debug, Serialize, ToSchema)]
struct ServiceList {
    /// The services.
    services: Vec<ServiceSummary>,
}

/// Every service client, without secrets
#[utoipa::path(
    get,
    path = "/v1/admin/services",
    tag = "services",
    operation_id = "list_services",
    security(("bearer" = ["admin"]), ("client_credentials" = ["admin"])),
    responses(
        (status = 200, description = "The services.", body = ServiceList),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    )
)]
async fn list_services(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<axum::Json<ServiceList>, ApiError> {
    let services = state
        .authority
        .clients()
        .list()
        .await?
        .into_iter()
        .filter(|client| matches!(client.principal, Principal::Service(_)))
        .map(|client| ServiceSummary {
            client_id: client.client_id,
            created_at: client.created_at.to_rfc3339(),
            principal: client.principal,
            purposes: client.scopes,
            suspended: client.suspended_at.is_some(),
        })
        .collect();
    Ok(axum::Json(ServiceList { services }))
}

/// A new service.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "billing", "purposes": ["billing", "support"]}))]
struct CreateService {
    /// The service's name: `service:NAME`, client id `service.NAME`.
    name: String,
    /// The purposes it may declare when reading personal data.
    purposes: Vec<String>,
}

/// A new service's credential; the secret is shown this once (members in the order the API
/// has always written them).
#[derive(Serialize, ToSchema)]
struct CreatedService {
    /// `service.NAME`.
    client_id: String,
    /// The secret: shown once, never stored in the clear.
    client_secret: String,
    /// `service:NAME`.
    principal: Principal,
}

/// Create a service client
///
/// The same as `haechi service create`, for a running server. The secret is shown once, with
/// `Cache-Control: no-store`.
#[utoipa::path(
    post,
    path = "/v1/admin/services",
    tag = "services",
    operation_id = "create_service",
    security(("bearer" = ["admin"]), ("client_credentials" = ["admin"])),
    request_body = CreateService,
    responses(
        (
            status = 201,
            description = "Created.",
            body = CreatedService,
            headers(("cache-control" = String, description = "`no-store`"))
        ),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
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
        StatusCode::CREATED,
        // The secret is shown once; no cache may keep it.
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(CreatedService {
            client_id: credential.client_id.clone(),
            client_secret: credential.client_secret.as_str().to_string(),
            principal: credential.principal.clone(),
        }),
    ))
}

/// Every signing key in custody.
#[derive(Debug, Serialize, ToSchema)]
struct KeyList {
    /// Their lifecycle records (never private material).
    keys: Vec<KeyRecord>,
}

/// Every signing key's lifecycle record
#[utoipa::path(
    get,
    path = "/v1/admin/keys",
    tag = "keys",
    operation_id = "list_keys",
    security(("bearer" = ["admin"]), ("client_credentials" = ["admin"])),
    responses(
        (status = 200, description = "The keys.", body = KeyList),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    )
)]
async fn list_keys(State(state): State<AppState>, _admin: Admin) -> axum::Json<KeyList> {
    axum::Json(KeyList {
        keys: state.authority.keys().records(),
    })
}

/// A private key to take into custody.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "key": "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n-----END PRIVATE KEY-----\n",
    "activate": false
}))]
struct ImportRequest {
    /// PEM (PKCS#8 or SEC1) or private JWK text of an Ed25519 or P-256 key; wiped from memory
    /// when the request is done.
    #[schema(value_type = String, write_only)]
    key: zeroize::Zeroizing<String>,
    /// Whether it starts signing at once (default true); otherwise it waits as pending.
    #[serde(default = "default_true")]
    activate: bool,
}

fn default_true() -> bool {
    true
}

/// Import a signing key (migrating from another identity provider)
///
/// The body is wiped from memory once parsed. Tokens the key signed elsewhere are not
/// accepted: the issuance ledger, not the signature, decides what is valid.
#[utoipa::path(
    post,
    path = "/v1/admin/keys",
    tag = "keys",
    operation_id = "import_key",
    security(("bearer" = ["admin"]), ("client_credentials" = ["admin"])),
    request_body = ImportRequest,
    responses(
        (status = 201, description = "In custody.", body = KeyRecord),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
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
    Ok((StatusCode::CREATED, axum::Json(record)))
}

/// The key now signing.
#[derive(Debug, Serialize, ToSchema)]
struct Rotated {
    /// The key that became active.
    active: KeyRecord,
}

/// Rotate the signing keys
///
/// The pending key starts signing and the active key retires (it still verifies for the
/// access-token lifetime).
#[utoipa::path(
    post,
    path = "/v1/admin/keys/rotate",
    tag = "keys",
    operation_id = "rotate_keys",
    security(("bearer" = ["admin"]), ("client_credentials" = ["admin"])),
    responses(
        (status = 200, description = "Rotated.", body = Rotated),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 503, response = Unavailable),
    )
)]
async fn rotate_keys(
    State(state): State<AppState>,
    admin: Admin,
) -> Result<axum::Json<Rotated>, ApiError> {
    let active = state.authority.keys().rotate(&admin.grant).await?;
    Ok(axum::Json(Rotated { active }))
}

/// A key revoked (members in the order the API has always written them).
#[derive(Debug, Serialize, ToSchema)]
struct KeyRevoked {
    /// The key.
    kid: String,
    /// The key now active, if the revoked key was the active one.
    replaced_by: Option<String>,
    /// Sessions that held unexpired tokens it signed (those tokens stopped working).
    sessions: Vec<String>,
}

/// Revoke a signing key (compromise)
///
/// Every token it signed stops working at once; the answer lists their sessions.
#[utoipa::path(
    post,
    path = "/v1/admin/keys/{kid}/revoke",
    tag = "keys",
    operation_id = "revoke_key",
    security(("bearer" = ["admin"]), ("client_credentials" = ["admin"])),
    params(("kid" = String, Path, description = "The key's id (`GET /v1/admin/keys`).")),
    responses(
        (status = 200, description = "Revoked.", body = KeyRevoked),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 503, response = Unavailable),
    )
)]
async fn revoke_key(
    State(state): State<AppState>,
    admin: Admin,
    PathParam(kid): PathParam,
) -> Result<axum::Json<KeyRevoked>, ApiError> {
    let revoked = state.authority.keys().revoke(&kid, &admin.grant).await?;
    Ok(axum::Json(KeyRevoked {
        kid: revoked.kid,
        replaced_by: revoked.replaced_by,
        sessions: revoked.sessions,
    }))
}

/// A session ended (members in the order the API has always written them).
#[derive(Debug, Serialize, ToSchema)]
struct SessionRevoked {
    /// Always true.
    revoked: bool,
    /// The session.
    sid: String,
}

/// End a session
///
/// Its tokens stop working at once, and its refresh token with them.
#[utoipa::path(
    post,
    path = "/v1/admin/sessions/{sid}/revoke",
    tag = "sessions",
    operation_id = "revoke_session",
    security(("bearer" = ["admin"]), ("client_credentials" = ["admin"])),
    params(("sid" = String, Path, description = "The session id (a token's `sid`).")),
    responses(
        (status = 200, description = "Ended.", body = SessionRevoked),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    )
)]
async fn revoke_session(
    State(state): State<AppState>,
    admin: Admin,
    PathParam(sid): PathParam,
) -> Result<axum::Json<SessionRevoked>, ApiError> {
    let existed = state
        .authority
        .sessions()
        .revoke(&sid, "admin", &admin.grant)
        .await?;
    if !existed {
        return Err(ApiError::not_found(format!("session {sid}")));
    }
    Ok(axum::Json(SessionRevoked { revoked: true, sid }))
}
