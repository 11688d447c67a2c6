//! The access policy, for administrators: read it, replace it.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use haechi_vault::Policy;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{Admin, RawBody};
use crate::openapi::{BadRequest, Forbidden, PayloadTooLarge, Unauthorized, Unprocessable};
use crate::{ApiError, AppState, ErrorCode};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(read_policy, replace_policy))
}

/// The access policy in force (TOML)
#[utoipa::path(
    get,
    path = "/v1/admin/policy",
    tag = "policy",
    operation_id = "read_policy",
    security(("bearer" = ["admin"]), ("client_credentials" = ["admin"])),
    responses(
        (
            status = 200,
            description = "The policy's TOML text.",
            body = String,
            content_type = "application/toml",
            example = "[[grant]]\nservice = \"shipping\"\npurposes = [\"shipping\"]\nfields = [\"name\", \"phone\", \"addresses\"]\naccess = \"masked\"\n"
        ),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    )
)]
async fn read_policy(State(state): State<AppState>, _admin: Admin) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/toml")],
        state.vault.policy().source().to_string(),
    )
}

/// An access policy, for the document's examples.
const POLICY_EXAMPLE: &str = "[[grant]]\nservice = \"shipping\"\npurposes = [\"shipping\"]\n\
                              fields = [\"name\", \"phone\"]\naccess = \"masked\"\n";

/// A policy put in force (members in the order the API has always written them).
#[derive(Debug, Serialize, ToSchema)]
struct PolicyReplaced {
    /// Always true.
    replaced: bool,
    /// Hex SHA-256 of the policy text (as audited).
    sha256: String,
    /// The version number it was kept under.
    version: u64,
}

/// Replace the access policy
///
/// The body is the policy's TOML (whatever the content type says). A policy that does not
/// parse is refused with the line and problem, and the old policy stays in force. The new
/// policy is written to the policy file (atomically, the previous version kept) before it is
/// put in force, and the change is audited with its version and digest. An empty policy is
/// valid: it denies everything.
#[utoipa::path(
    put,
    path = "/v1/admin/policy",
    tag = "policy",
    operation_id = "replace_policy",
    security(("bearer" = ["admin"]), ("client_credentials" = ["admin"])),
    request_body(
        description = "The policy's TOML text (as `application/toml` or `text/plain`).",
        content(
            (String = "application/toml", example = json!(POLICY_EXAMPLE)),
            (String = "text/plain", example = json!(POLICY_EXAMPLE)),
        )
    ),
    responses(
        (status = 200, description = "In force.", body = PolicyReplaced),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = Unprocessable),
    )
)]
async fn replace_policy(
    State(state): State<AppState>,
    admin: Admin,
    RawBody(body): RawBody,
) -> Result<axum::Json<PolicyReplaced>, ApiError> {
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("the policy must be UTF-8 TOML"))?;
    let invalid = |message: String| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidPolicy,
            message,
        )
    };
    let policy = Policy::parse(text, "request body").map_err(|error| invalid(error.to_string()))?;
    // The same file's [gateway] section is the gateway's: refused whole with the rest.
    haechi_gateway::GatewayPolicy::parse(text, "request body")
        .map_err(|error| invalid(error.to_string()))?;
    let kept = state.vault.replace_policy(policy, &admin.grant).await?;
    Ok(axum::Json(PolicyReplaced {
        replaced: true,
        sha256: kept.digest,
        version: kept.version,
    }))
}
