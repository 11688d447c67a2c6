//! Detection rules, for administrators: the set in force, and a new API set checked as a whole
//! and swapped into the engine without a restart.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use haechi_events::EventKind;
use haechi_respond::rules::{Applied, RuleFile, RuleProblem, RulesInForce};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{Admin, JsonBody};
use crate::openapi::{
    BadRequest, Forbidden, PayloadTooLarge, Unauthorized, Unavailable, Unprocessable,
    UnsupportedMediaType,
};
use crate::{ApiError, AppState, ErrorCode, FieldProblem};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(read_rules, replace_rules))
}

/// The rules in force and the API set's files.
#[derive(Debug, Serialize, ToSchema)]
struct RulesView {
    /// What the engine runs (or, on a cluster's API node, what the sources hold).
    in_force: RulesInForce,
    /// The files of the newest API set, to edit and put back (empty when none was put).
    api_files: Vec<RuleFile>,
}

/// The rules in force
///
/// Every rule with its id, Sigma UUID, severity and file; the digest of the whole set; the
/// files of the API set; and the rules of the sources that did not load at start.
#[utoipa::path(
    get,
    path = "/v1/admin/rules",
    tag = "rules",
    operation_id = "read_rules",
    security(("bearer" = ["admin"]), ("client_credentials" = ["admin"])),
    responses(
        (status = 200, description = "The rules in force.", body = RulesView),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    )
)]
async fn read_rules(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<axum::Json<RulesView>, ApiError> {
    let api_files = state
        .rules
        .api_files()
        .await
        .map_err(|error| ApiError::part_unavailable("the rule store", error))?;
    Ok(axum::Json(RulesView {
        in_force: state.rules.in_force(),
        api_files,
    }))
}

/// A new API rule set.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"files": [{"name": "hunt.yaml", "text": "title: Reads signed by a leaked key\nid: 2f6d8e1a-4b3c-4d5e-9f60-7a8b9c0d1e2f\nname: hunt.leaked_key_reads\ndescription: Reads with tokens of the leaked key.\nlogsource: {product: haechi, service: audit}\ndetection:\n  read: {kind: pii.read, kid: k-2025-01}\n  condition: read\nfalsepositives: [None.]\nlevel: high\n"}]}))]
struct RulesPut {
    /// The whole API set: it replaces the previous one (an empty list removes it).
    files: Vec<RuleFile>,
}

/// What a change did.
#[derive(Debug, Serialize, ToSchema)]
struct RulesChanged {
    /// Whether this node's engine runs the new set now (`false`: a cluster's detection node
    /// takes the stored version within a second).
    applied: bool,
    /// The API set's version.
    version: u64,
    /// Hex SHA-256 of the whole new set (as recorded).
    digest: String,
    /// Rules that carry on with their windows.
    unchanged: Vec<String>,
    /// Rules of the same id that changed: their windows start empty.
    changed: Vec<String>,
    /// New rules.
    added: Vec<String>,
    /// Rules no longer loaded.
    removed: Vec<String>,
    /// Unchanged rules whose window starts empty anyway (a rule sharing it changed).
    windows_restarted: Vec<String>,
}

/// Replace the API rule set
///
/// The set is checked as a whole together with the built-in pack and the rules directory: any
/// problem (YAML, Sigma, a rule that does not load, an id taken twice) refuses it with every
/// problem as `FILE:LINE:COLUMN` in `fields`, and the rules in force keep running. An accepted
/// set is kept as the next version, recorded (`admin.config_changed`, reason `rules_changed`,
/// with its digest) and swapped into the engine between two events: unchanged rules keep their
/// windows, no event is missed.
#[utoipa::path(
    put,
    path = "/v1/admin/rules",
    tag = "rules",
    operation_id = "replace_rules",
    security(("bearer" = ["admin"]), ("client_credentials" = ["admin"])),
    request_body = RulesPut,
    responses(
        (status = 200, description = "In force on this node.", body = RulesChanged),
        (status = 202, description = "Kept and recorded; the cluster's detection node takes it within a second.", body = RulesChanged),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
async fn replace_rules(
    State(state): State<AppState>,
    admin: Admin,
    JsonBody(request): JsonBody<RulesPut>,
) -> Result<impl IntoResponse, ApiError> {
    let desk = &state.rules;
    let _one_change_at_a_time = desk.lock_changes().await;
    let mut set = desk.check(&request.files).map_err(refused)?;
    let previous = desk
        .api_files()
        .await
        .map_err(|error| ApiError::part_unavailable("the rule store", error))?;
    let version = desk
        .store(&request.files, &mut set)
        .await
        .map_err(|error| ApiError::part_unavailable("the rule store", error))?;
    let event = admin
        .event(state.authority.clock().now(), EventKind::AdminConfigChanged)
        .reason("rules_changed")
        .detail("source", "api")
        .detail("rules_version", version.to_string())
        .detail("rules_sha256", set.digest.clone())
        .detail("rules", set.rules.len().to_string());
    if let Err(error) = state.events.record(event).await {
        // Unrecorded, the change is not made: the previous files become the newest version
        // again, so no detection node takes the unrecorded set.
        let mut undo = set.clone();
        if let Err(undo_error) = desk.store(&previous, &mut undo).await {
            tracing::error!(error = %undo_error, "the unrecorded rule set could not be undone");
        }
        return Err(ApiError::audit_unavailable(error));
    }
    let digest = set.digest.clone();
    let applied = desk.apply(set).await.map_err(|message| {
        ApiError::unavailable(format!("detection did not take the rules: {message}"))
    })?;
    let (status, swap, applied) = match applied {
        Applied::Here(swap) => (StatusCode::OK, swap, true),
        Applied::Elsewhere => (StatusCode::ACCEPTED, Default::default(), false),
    };
    Ok((
        status,
        axum::Json(RulesChanged {
            applied,
            version,
            digest,
            unchanged: swap.unchanged,
            changed: swap.changed,
            added: swap.added,
            removed: swap.removed,
            windows_restarted: swap.windows_restarted,
        }),
    ))
}

/// A refused set: 422 with every problem.
fn refused(problems: Vec<RuleProblem>) -> ApiError {
    let first = problems
        .first()
        .map(ToString::to_string)
        .unwrap_or_default();
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::InvalidRules,
        format!(
            "the rule set is refused ({} problem{}; the rules in force keep running): {first}",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" }
        ),
    )
    .with_fields(
        problems
            .into_iter()
            .map(|problem| FieldProblem {
                field: problem.location,
                message: problem.message,
            })
            .collect(),
    )
}
