//! Containment, for administrators: blocked networks and suspended principals — see them,
//! add them, lift them. Every change is audited (`response.action`, `response.lifted`).

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get};
use haechi_events::Principal;
use serde::Deserialize;
use serde_json::json;

use haechi_respond::{BlockRequest, SuspendRequest};

use crate::extract::{Admin, JsonBody, PathParam};
use crate::{ApiError, AppState};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/admin/blocks", get(list_blocks).post(add_block))
        .route("/v1/admin/blocks/{id}", delete(lift_block))
        .route("/v1/admin/suspensions", get(list_suspensions).post(suspend))
        .route("/v1/admin/suspensions/{principal}", delete(lift_suspension))
}

impl From<haechi_respond::Error> for ApiError {
    fn from(error: haechi_respond::Error) -> Self {
        match error {
            haechi_respond::Error::Invalid(message) => ApiError::unprocessable(message),
            haechi_respond::Error::Audit(error) => {
                tracing::error!(%error, "a containment act is done but unrecorded");
                ApiError::unavailable(
                    "the act was done but the audit trail cannot record it; see the server log",
                )
            }
            // Storage (the pipeline's other errors never reach a handler).
            error => ApiError::internal(error),
        }
    }
}

/// `GET /v1/admin/blocks`: `{blocks}`, the blocks in force.
async fn list_blocks(State(state): State<AppState>, _admin: Admin) -> impl IntoResponse {
    axum::Json(json!({ "blocks": state.detection.containment.blocks() }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddBlock {
    /// An address or CIDR network.
    network: String,
    /// Seconds the block lasts.
    ttl_secs: u64,
    /// Why.
    reason: String,
}

/// `POST /v1/admin/blocks` `{network, ttl_secs, reason}` → 201 with the block.
async fn add_block(
    State(state): State<AppState>,
    admin: Admin,
    JsonBody(request): JsonBody<AddBlock>,
) -> Result<impl IntoResponse, ApiError> {
    let network = match request.network.parse::<ipnet::IpNet>() {
        Ok(network) => network,
        Err(_) => request
            .network
            .parse::<std::net::IpAddr>()
            .map(ipnet::IpNet::from)
            .map_err(|_| {
                ApiError::unprocessable(format!(
                    "network {:?}: give an address or a CIDR network",
                    request.network.chars().take(64).collect::<String>()
                ))
            })?,
    };
    if request.reason.trim().is_empty() || request.reason.chars().count() > 500 {
        return Err(ApiError::unprocessable("reason: 1 to 500 characters"));
    }
    let block = state
        .detection
        .containment
        .block(
            BlockRequest {
                network,
                ttl: Duration::from_secs(request.ttl_secs),
                reason: request.reason,
                rule_id: None,
                alert_id: None,
                trigger_seq: None,
            },
            &admin.grant,
        )
        .await?;
    Ok((StatusCode::CREATED, axum::Json(block)))
}

/// `DELETE /v1/admin/blocks/{id}`: `{lifted}` with the block as it was; 404 when there is
/// no such block in force.
async fn lift_block(
    State(state): State<AppState>,
    admin: Admin,
    PathParam(id): PathParam,
) -> Result<impl IntoResponse, ApiError> {
    let id: u64 = id
        .parse()
        .map_err(|_| ApiError::not_found(format!("no block {id}")))?;
    let lifted = state
        .detection
        .containment
        .lift(id, &admin.grant)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no block {id} in force")))?;
    Ok(axum::Json(json!({ "lifted": lifted })))
}

/// `GET /v1/admin/suspensions`: `{suspensions}`.
async fn list_suspensions(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<impl IntoResponse, ApiError> {
    let suspensions = state
        .detection
        .containment
        .suspensions()
        .await
        .map_err(ApiError::internal)?;
    Ok(axum::Json(json!({ "suspensions": suspensions })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Suspend {
    principal: String,
    reason: String,
}

/// `POST /v1/admin/suspensions` `{principal, reason}` → 201, or 200 if already suspended.
async fn suspend(
    State(state): State<AppState>,
    admin: Admin,
    JsonBody(request): JsonBody<Suspend>,
) -> Result<impl IntoResponse, ApiError> {
    let principal: Principal =
        request
            .principal
            .parse()
            .map_err(|error: haechi_events::PrincipalParseError| {
                ApiError::unprocessable(error.to_string())
            })?;
    if &principal == admin.token.principal() {
        return Err(ApiError::unprocessable(
            "an administrator cannot suspend themselves",
        ));
    }
    if request.reason.trim().is_empty() || request.reason.chars().count() > 500 {
        return Err(ApiError::unprocessable("reason: 1 to 500 characters"));
    }
    let added = state
        .detection
        .containment
        .suspend(
            SuspendRequest {
                principal: principal.clone(),
                reason: request.reason,
                rule_id: None,
                alert_id: None,
                trigger_seq: None,
            },
            &admin.grant,
        )
        .await?;
    let status = if added {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        axum::Json(json!({ "principal": principal, "suspended": true })),
    ))
}

/// `DELETE /v1/admin/suspensions/{principal}`: 404 when it is not suspended.
async fn lift_suspension(
    State(state): State<AppState>,
    admin: Admin,
    PathParam(principal): PathParam,
) -> Result<impl IntoResponse, ApiError> {
    let parsed: Principal = principal
        .parse()
        .map_err(|_| ApiError::not_found(format!("no suspension of {principal}")))?;
    let lifted = state
        .detection
        .containment
        .lift_suspension(&parsed, &admin.grant)
        .await?;
    if !lifted {
        return Err(ApiError::not_found(format!("no suspension of {parsed}")));
    }
    Ok(axum::Json(
        json!({ "principal": parsed, "suspended": false }),
    ))
}
