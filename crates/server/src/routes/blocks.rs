//! Containment, for administrators: blocked networks and suspended principals — see them,
//! add them, lift them. Every change is audited (`response.action`, `response.lifted`).

use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use haechi_events::Principal;
use haechi_respond::{BlockRecord, BlockRequest, SuspendRequest, SuspensionRecord};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{Admin, JsonBody, PathParam};
use crate::openapi::{
    BadRequest, Forbidden, NotFound, PayloadTooLarge, Unauthorized, Unavailable, Unprocessable,
    UnsupportedMediaType,
};
use crate::{ApiError, AppState};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_blocks, add_block))
        .routes(routes!(lift_block))
        .routes(routes!(list_suspensions, suspend))
        .routes(routes!(lift_suspension))
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

/// The blocks in force.
#[derive(Debug, Serialize, ToSchema)]
struct BlockList {
    /// The blocks.
    blocks: Vec<BlockRecord>,
}

/// The network blocks in force
#[utoipa::path(
    get,
    path = "/v1/admin/blocks",
    tag = "containment",
    operation_id = "list_blocks",
    security(("bearer" = ["admin"]), ("client_credentials" = ["admin"])),
    responses(
        (status = 200, description = "The blocks.", body = BlockList),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    )
)]
async fn list_blocks(State(state): State<AppState>, _admin: Admin) -> axum::Json<BlockList> {
    axum::Json(BlockList {
        blocks: state.detection.containment.blocks(),
    })
}

/// A network to block.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"network": "203.0.113.0/24", "ttl_secs": 3600, "reason": "credential stuffing, INC-2041"}))]
struct AddBlock {
    /// An address or CIDR network.
    network: String,
    /// Seconds the block lasts.
    ttl_secs: u64,
    /// Why (1 to 500 characters).
    reason: String,
}

/// Block a network
///
/// Every request from it is refused with 403 `blocked` before anything else looks at it,
/// until the block expires or is lifted. Audited as `response.action`.
#[utoipa::path(
    post,
    path = "/v1/admin/blocks",
    tag = "containment",
    operation_id = "add_block",
    security(("bearer" = ["admin"]), ("client_credentials" = ["admin"])),
    request_body = AddBlock,
    responses(
        (
            status = 201,
            description = "The block, in force.",
            body = BlockRecord,
            links(("lift" = (
                operation_id = "lift_block",
                parameters(("id" = "$response.body#/id")),
                description = "Lift the block added."
            )))
        ),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
async fn add_block(
    State(state): State<AppState>,
    admin: Admin,
    JsonBody(request): JsonBody<AddBlock>,
) -> Result<impl IntoResponse, ApiError> {
    let request = block_request(&request.network, request.ttl_secs, request.reason)?;
    let block = state
        .detection
        .containment
        .block(request, &admin.grant)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(block)))
}

/// An administrator's block of `network` (an address or CIDR network) for `ttl_secs`, with
/// `reason` (1 to 500 characters): the API's body and the console's form alike.
pub(super) fn block_request(
    network: &str,
    ttl_secs: u64,
    reason: String,
) -> Result<BlockRequest, ApiError> {
    let network = match network.parse::<ipnet::IpNet>() {
        Ok(network) => network,
        Err(_) => network
            .parse::<std::net::IpAddr>()
            .map(ipnet::IpNet::from)
            .map_err(|_| {
                ApiError::unprocessable(format!(
                    "network {:?}: give an address or a CIDR network",
                    network.chars().take(64).collect::<String>()
                ))
            })?,
    };
    Ok(BlockRequest {
        network,
        ttl: Duration::from_secs(ttl_secs),
        reason: checked_reason("reason", reason)?,
        rule_id: None,
        alert_id: None,
        trigger_seq: None,
    })
}

/// `text` as a reason: 1 to 500 characters, not only spaces.
pub(super) fn checked_reason(name: &str, text: String) -> Result<String, ApiError> {
    if text.trim().is_empty() || text.chars().count() > 500 {
        return Err(ApiError::unprocessable(format!(
            "{name}: 1 to 500 characters"
        )));
    }
    Ok(text)
}

/// Why a block or suspension is lifted (`?reason=`), recorded with the lift.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct LiftQuery {
    /// Why (1 to 500 characters); recorded with the lift. The console requires it.
    #[param(example = "INC-2041 closed: the partner's batch job, confirmed by phone")]
    reason: Option<String>,
}

impl LiftQuery {
    fn note(query: Result<Query<LiftQuery>, QueryRejection>) -> Result<Option<String>, ApiError> {
        let Query(query) =
            query.map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
        query
            .reason
            .map(|reason| checked_reason("reason", reason))
            .transpose()
    }
}

/// A block lifted.
#[derive(Debug, Serialize, ToSchema)]
struct Lifted {
    /// The block as it was.
    lifted: BlockRecord,
}

/// Lift a block
#[utoipa::path(
    delete,
    path = "/v1/admin/blocks/{id}",
    tag = "containment",
    operation_id = "lift_block",
    security(("bearer" = ["admin"]), ("client_credentials" = ["admin"])),
    params(
        ("id" = String, Path, description = "The block's id (a number; `GET /v1/admin/blocks`)."),
        LiftQuery,
    ),
    responses(
        (status = 200, description = "Lifted.", body = Lifted),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
async fn lift_block(
    State(state): State<AppState>,
    admin: Admin,
    PathParam(id): PathParam,
    query: Result<Query<LiftQuery>, QueryRejection>,
) -> Result<axum::Json<Lifted>, ApiError> {
    let note = LiftQuery::note(query)?;
    let id: u64 = id
        .parse()
        .map_err(|_| ApiError::not_found(format!("no block {id}")))?;
    let lifted = state
        .detection
        .containment
        .lift(id, note.as_deref(), &admin.grant)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no block {id} in force")))?;
    Ok(axum::Json(Lifted { lifted }))
}

/// The suspensions in force.
#[derive(Debug, Serialize, ToSchema)]
struct SuspensionList {
    /// The suspensions.
    suspensions: Vec<SuspensionRecord>,
}

/// The principals suspended
#[utoipa::path(
    get,
    path = "/v1/admin/suspensions",
    tag = "containment",
    operation_id = "list_suspensions",
    security(("bearer" = ["admin"]), ("client_credentials" = ["admin"])),
    responses(
        (status = 200, description = "The suspensions.", body = SuspensionList),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    )
)]
async fn list_suspensions(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<axum::Json<SuspensionList>, ApiError> {
    let suspensions = state
        .detection
        .containment
        .suspensions()
        .await
        .map_err(ApiError::internal)?;
    Ok(axum::Json(SuspensionList { suspensions }))
}

/// A principal to suspend.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"principal": "service:legacy-export", "reason": "bulk reads at night, INC-2042"}))]
struct Suspend {
    /// `customer:ID`, `service:NAME` or `admin:NAME` (not the caller).
    principal: String,
    /// Why (1 to 500 characters).
    reason: String,
}

/// A principal's suspension (members in the order the API has always written them).
#[derive(Debug, Serialize, ToSchema)]
struct SuspensionState {
    /// The principal.
    principal: Principal,
    /// Whether it is suspended now.
    suspended: bool,
}

/// Suspend a principal
///
/// Its tokens stop verifying and it cannot log in or be granted tokens until the suspension
/// is lifted. 201 when suspended now, 200 when it already was.
#[utoipa::path(
    post,
    path = "/v1/admin/suspensions",
    tag = "containment",
    operation_id = "suspend",
    security(("bearer" = ["admin"]), ("client_credentials" = ["admin"])),
    request_body = Suspend,
    responses(
        (
            status = 201,
            description = "Suspended now.",
            body = SuspensionState,
            links(("lift" = (
                operation_id = "lift_suspension",
                parameters(("principal" = "$response.body#/principal")),
                description = "Lift the suspension."
            )))
        ),
        (status = 200, description = "Already suspended.", body = SuspensionState),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
async fn suspend(
    State(state): State<AppState>,
    admin: Admin,
    JsonBody(request): JsonBody<Suspend>,
) -> Result<impl IntoResponse, ApiError> {
    let request = suspend_request(&admin, &request.principal, request.reason)?;
    let principal = request.principal.clone();
    let added = state
        .detection
        .containment
        .suspend(request, &admin.grant)
        .await?;
    let status = if added {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        axum::Json(SuspensionState {
            principal,
            suspended: true,
        }),
    ))
}

/// An administrator's suspension of `principal` with `reason`: the API's body and the
/// console's form alike. Nobody suspends themselves.
pub(super) fn suspend_request(
    admin: &Admin,
    principal: &str,
    reason: String,
) -> Result<SuspendRequest, ApiError> {
    let principal: Principal =
        principal
            .parse()
            .map_err(|error: haechi_events::PrincipalParseError| {
                ApiError::unprocessable(error.to_string())
            })?;
    if &principal == admin.token.principal() {
        return Err(ApiError::unprocessable(
            "an administrator cannot suspend themselves",
        ));
    }
    Ok(SuspendRequest {
        principal,
        reason: checked_reason("reason", reason)?,
        rule_id: None,
        alert_id: None,
        trigger_seq: None,
    })
}

/// Lift a suspension
#[utoipa::path(
    delete,
    path = "/v1/admin/suspensions/{principal}",
    tag = "containment",
    operation_id = "lift_suspension",
    security(("bearer" = ["admin"]), ("client_credentials" = ["admin"])),
    params(
        ("principal" = String, Path, description = "The suspended principal, e.g. `service:legacy-export`."),
        LiftQuery,
    ),
    responses(
        (status = 200, description = "Lifted.", body = SuspensionState),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
async fn lift_suspension(
    State(state): State<AppState>,
    admin: Admin,
    PathParam(principal): PathParam,
    query: Result<Query<LiftQuery>, QueryRejection>,
) -> Result<axum::Json<SuspensionState>, ApiError> {
    let note = LiftQuery::note(query)?;
    let parsed: Principal = principal
        .parse()
        .map_err(|_| ApiError::not_found(format!("no suspension of {principal}")))?;
    let lifted = state
        .detection
        .containment
        .lift_suspension(&parsed, note.as_deref(), &admin.grant)
        .await?;
    if !lifted {
        return Err(ApiError::not_found(format!("no suspension of {parsed}")));
    }
    Ok(axum::Json(SuspensionState {
        principal: parsed,
        suspended: false,
    }))
}
