//! Incident statements: an administrator publishes the company's official statement and FAQ
//! for an incident (each publication a new, signed version); anyone reads the current ones,
//! with the key to check them against.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use base64::Engine as _;
use haechi_events::{EventKind, StoreError};
use haechi_incident::{IncidentStatement, StatementDraft};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::incidents::{incident_id, store_error};
use crate::extract::{Admin, JsonBody, PathParam};
use crate::openapi::{
    BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, Unauthorized, Unavailable,
    Unprocessable, UnsupportedMediaType,
};
use crate::{ApiError, AppState};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(versions, publish))
}

/// The statements as the public reads them (a portal node serves these, not the admin's).
pub(super) fn public_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(current))
}

/// The key statements are signed with.
#[derive(Debug, Serialize, ToSchema)]
struct StatementKey {
    /// `sk-` and 12 hexadecimal digits.
    key_id: String,
    /// The Ed25519 public key, base64url without padding.
    public_key: String,
}

/// Statements with the key that signed them.
#[derive(Debug, Serialize, ToSchema)]
struct Statements {
    /// The statement key.
    key: StatementKey,
    /// The statements, newest first.
    statements: Vec<IncidentStatement>,
}

fn key(state: &AppState) -> StatementKey {
    StatementKey {
        key_id: state.portal.key_id(),
        public_key: base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(state.portal.verifying_key().as_bytes()),
    }
}

/// Every version of an incident's statement
#[utoipa::path(
    get,
    path = "/v1/admin/incidents/{id}/statement",
    tag = "incidents",
    operation_id = "incident_statements",
    security(("bearer" = ["admin"]), ("client_credentials" = ["admin"])),
    params(("id" = String, Path, description = "The incident's id.")),
    responses(
        (status = 200, description = "Its versions, newest first (none yet: an empty list).", body = Statements),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    )
)]
async fn versions(
    State(state): State<AppState>,
    _admin: Admin,
    PathParam(id): PathParam,
) -> Result<axum::Json<Statements>, ApiError> {
    let id = incident_id(&id)?;
    if state
        .store
        .incident(&id)
        .await
        .map_err(store_error)?
        .is_none()
    {
        return Err(ApiError::not_found(format!("no incident {id}")));
    }
    let statements = state.store.statements(&id).await.map_err(store_error)?;
    Ok(axum::Json(Statements {
        key: key(&state),
        statements,
    }))
}

/// Publish a new version of an incident's statement
///
/// Plain text in Korean (`ko`, required) and English (`en`, optional): a title, a body whose
/// paragraphs are separated by blank lines, and questions with answers. The new version
/// (one more than the newest) is signed with the statement key and shown on every portal page
/// while the incident is not closed. Versions are never changed. Recorded as
/// `admin.config_changed` (`detail.change = incident.statement`).
#[utoipa::path(
    post,
    path = "/v1/admin/incidents/{id}/statement",
    tag = "incidents",
    operation_id = "publish_incident_statement",
    security(("bearer" = ["admin"]), ("client_credentials" = ["admin"])),
    params(("id" = String, Path, description = "The incident's id.")),
    request_body(content = StatementDraft, example = json!({
        "ko": {
            "title": "개인정보 유출 안내",
            "body": "2025년 6월 11일, 고객님의 이름과 연락처가 유출되었습니다.\n\n통관부호는 유출되지 않았습니다.",
            "faq": [{"question": "통관부호를 재발급해야 하나요?", "answer": "아니요. 통관부호는 유출되지 않았습니다."}]
        }
    })),
    responses(
        (status = 201, description = "Published and signed.", body = IncidentStatement),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
async fn publish(
    State(state): State<AppState>,
    admin: Admin,
    PathParam(id): PathParam,
    JsonBody(draft): JsonBody<StatementDraft>,
) -> Result<impl IntoResponse, ApiError> {
    let id = incident_id(&id)?;
    let incident = state
        .store
        .incident(&id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::not_found(format!("no incident {id}")))?;
    if !incident.is_live() {
        return Err(ApiError::conflict(format!(
            "incident {id} is closed: its statement can no longer change"
        )));
    }
    let newest = state
        .store
        .statements(&id)
        .await
        .map_err(store_error)?
        .first()
        .map_or(0, |statement| statement.version);
    let now = state.authority.clock().now();
    let statement = IncidentStatement::publish(
        &id,
        newest + 1,
        draft,
        &admin.token.principal().to_string(),
        now,
        state.portal.statement_key(),
    )
    .map_err(|error| ApiError::unprocessable(error.to_string()))?;
    // Recorded before it is published: a statement the audit trail does not know of never
    // reaches a customer.
    let event = admin
        .event(now, EventKind::AdminConfigChanged)
        .detail("change", "incident.statement")
        .detail("incident_id", id.as_str())
        .detail("version", statement.version.to_string())
        .detail("signature", statement.signature.clone());
    state
        .events
        .record(event)
        .await
        .map_err(ApiError::audit_unavailable)?;
    state
        .store
        .publish_statement(&statement)
        .await
        .map_err(|error| match error {
            StoreError::Conflict(_) => ApiError::conflict(
                "another version was published meanwhile: read the statement again",
            ),
            other => store_error(other),
        })?;
    if let Err(error) = state.portal.refresh(state.store.as_ref()).await {
        tracing::warn!(%error, "statement published; the portal shows it at its next refresh");
    }
    Ok((axum::http::StatusCode::CREATED, axum::Json(statement)))
}

/// The statements the portal shows now
///
/// The newest statement of every incident that is not closed, most recently published first,
/// with the statement key: a copy of a statement can be checked against it (Ed25519 over the
/// context line `haechi incident statement v1` and the statement's JSON without `signature`;
/// `docs/portal.md`). Served from memory; caches may keep it for a minute.
#[utoipa::path(
    get,
    path = "/v1/portal/statements",
    tag = "portal",
    operation_id = "current_statements",
    security(()),
    responses(
        (status = 200, description = "The current statements.", body = Statements),
    )
)]
async fn current(State(state): State<AppState>) -> impl IntoResponse {
    let current = state.portal.current();
    let body = Statements {
        key: key(&state),
        statements: current.statements.clone(),
    };
    (
        [
            (header::CACHE_CONTROL, "public, max-age=60".to_string()),
            (header::ETAG, format!("\"{}\"", current.digest)),
        ],
        axum::Json(body),
    )
}
