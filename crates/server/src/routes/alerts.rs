//! Detection alerts, for administrators: list, live stream (SSE), acknowledge.

use std::convert::Infallible;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, Sse};
use futures::Stream;
use haechi_detect::Severity;
use haechi_events::EventKind;
use haechi_respond::{AlertFilter, AlertNotice, AlertState, AlertView};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{Admin, PathParam, RawBody};
use crate::openapi::{
    BadRequest, Forbidden, NotFound, PayloadTooLarge, Unauthorized, Unprocessable,
};
use crate::{ApiError, AppState, ErrorCode};

/// Alerts per page when `limit` is not given, and the most one page holds.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

pub(super) fn router() -> OpenApiRouter<AppState> {
    // Alert ids are `RULE_ID/SEQ`: the id comes with its slash as `%2F` (one path segment,
    // `{id}`) or raw (two segments, `{id}/{seq}`).
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(stream))
        .routes(routes!(one))
        .routes(routes!(one_raw))
        .routes(routes!(acknowledge))
        .routes(routes!(acknowledge_raw))
}

/// Which alerts to list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// `open`, `acknowledged` or `all` (default).
    #[param(example = "open")]
    state: Option<String>,
    /// Comma-separated severities: `low`, `medium`, `high`, `critical`.
    #[param(example = "high,critical")]
    severity: Option<String>,
    /// One rule id.
    rule: Option<String>,
    /// At most this many, 1 to 1000 (default 100).
    limit: Option<usize>,
}

/// A page of alerts (members in the order the API has always written them).
#[derive(Debug, Serialize, ToSchema)]
struct AlertList {
    /// The alerts, newest first.
    alerts: Vec<AlertView>,
    /// How many alerts match in all.
    total: usize,
}

/// Detection's alerts, newest first
#[utoipa::path(
    get,
    path = "/v1/admin/alerts",
    tag = "alerts",
    operation_id = "list_alerts",
    security(("bearer" = ["admin"]), ("client_credentials" = ["admin"])),
    params(ListQuery),
    responses(
        (status = 200, description = "The alerts.", body = AlertList),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    )
)]
async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<axum::Json<AlertList>, ApiError> {
    let Query(query) = query.map_err(|rejection| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidParameter,
            rejection.body_text(),
        )
    })?;
    let alert_state = match query.state.as_deref() {
        None | Some("all") => None,
        Some("open") => Some(AlertState::Open),
        Some("acknowledged") => Some(AlertState::Acknowledged),
        Some(other) => {
            return Err(invalid(format!(
                "state {other:?}: use open, acknowledged or all"
            )));
        }
    };
    let mut severities = Vec::new();
    for word in query
        .severity
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|word| !word.is_empty())
    {
        severities.push(match word {
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            other => {
                return Err(invalid(format!(
                    "severity {other:?}: use low, medium, high or critical"
                )));
            }
        });
    }
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(invalid(format!("limit must be 1 to {MAX_LIMIT}")));
    }
    let (alerts, total) = state.detection.alerts.list(&AlertFilter {
        state: alert_state,
        severities,
        rule_id: query.rule,
        limit,
    });
    Ok(axum::Json(AlertList { alerts, total }))
}

fn invalid(message: String) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        ErrorCode::InvalidParameter,
        message,
    )
}

/// One alert
#[utoipa::path(
    get,
    path = "/v1/admin/alerts/{id}",
    tag = "alerts",
    operation_id = "read_alert",
    security(("bearer" = ["admin"]), ("client_credentials" = ["admin"])),
    params(("id" = String, Path, description = "The alert's id, `RULE_ID/SEQ`, its slash as `%2F`.")),
    responses(
        (status = 200, description = "The alert.", body = AlertView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    )
)]
async fn one(
    State(state): State<AppState>,
    _admin: Admin,
    PathParam(id): PathParam,
) -> Result<axum::Json<AlertView>, ApiError> {
    find(&state, &id)
}

/// One alert, its id's slash raw
#[utoipa::path(
    get,
    path = "/v1/admin/alerts/{id}/{seq}",
    tag = "alerts",
    operation_id = "read_alert_by_parts",
    security(("bearer" = ["admin"]), ("client_credentials" = ["admin"])),
    params(
        ("id" = String, Path, description = "The alert id's rule part (before its slash)."),
        ("seq" = String, Path, description = "The alert id's sequence number (after its slash)."),
    ),
    responses(
        (status = 200, description = "The alert.", body = AlertView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    )
)]
async fn one_raw(
    State(state): State<AppState>,
    _admin: Admin,
    parts: Result<Path<(String, String)>, PathRejection>,
) -> Result<axum::Json<AlertView>, ApiError> {
    find(&state, &joined(parts)?)
}

fn find(state: &AppState, id: &str) -> Result<axum::Json<AlertView>, ApiError> {
    state
        .detection
        .alerts
        .get(id)
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found(format!("no alert {id}")))
}

/// The alert id `RULE_ID/SEQ` of a path that gives its two parts as two segments.
fn joined(parts: Result<Path<(String, String)>, PathRejection>) -> Result<String, ApiError> {
    let Path((rule, seq)) =
        parts.map_err(|_| ApiError::bad_request("the path is not valid UTF-8 text"))?;
    Ok(format!("{rule}/{seq}"))
}

/// An acknowledgement; the body is optional.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"note": "INC-2041: the load test, not an attack"}))]
struct AckRequest {
    /// An incident reference, or why it is not one (at most 1000 characters).
    #[schema(max_length = 1000)]
    note: Option<String>,
}

/// Acknowledge an alert
///
/// Recorded as `admin.config_changed` (`detail.change = alert.ack`). The body `{note?}` is
/// optional.
#[utoipa::path(
    post,
    path = "/v1/admin/alerts/{id}/ack",
    tag = "alerts",
    operation_id = "acknowledge_alert",
    security(("bearer" = ["admin"]), ("client_credentials" = ["admin"])),
    params(("id" = String, Path, description = "The alert's id, `RULE_ID/SEQ`, its slash as `%2F`.")),
    request_body(
        content = Option<AckRequest>,
        description = "An optional note.",
        example = json!({"note": "INC-2041: the load test, not an attack"})
    ),
    responses(
        (status = 200, description = "The alert, acknowledged.", body = AlertView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = Unprocessable),
    )
)]
async fn acknowledge(
    State(state): State<AppState>,
    admin: Admin,
    PathParam(id): PathParam,
    RawBody(body): RawBody,
) -> Result<axum::Json<AlertView>, ApiError> {
    acknowledge_alert(&state, &admin, &id, &body).await
}

/// Acknowledge an alert, its id's slash raw
#[utoipa::path(
    post,
    path = "/v1/admin/alerts/{id}/{seq}/ack",
    tag = "alerts",
    operation_id = "acknowledge_alert_by_parts",
    security(("bearer" = ["admin"]), ("client_credentials" = ["admin"])),
    params(
        ("id" = String, Path, description = "The alert id's rule part (before its slash)."),
        ("seq" = String, Path, description = "The alert id's sequence number (after its slash)."),
    ),
    request_body(
        content = Option<AckRequest>,
        description = "An optional note.",
        example = json!({"note": "INC-2041: the load test, not an attack"})
    ),
    responses(
        (status = 200, description = "The alert, acknowledged.", body = AlertView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = Unprocessable),
    )
)]
async fn acknowledge_raw(
    State(state): State<AppState>,
    admin: Admin,
    parts: Result<Path<(String, String)>, PathRejection>,
    RawBody(body): RawBody,
) -> Result<axum::Json<AlertView>, ApiError> {
    let id = joined(parts)?;
    acknowledge_alert(&state, &admin, &id, &body).await
}

async fn acknowledge_alert(
    state: &AppState,
    admin: &Admin,
    id: &str,
    body: &[u8],
) -> Result<axum::Json<AlertView>, ApiError> {
    // The body is optional: an acknowledgement without a note is fine.
    let request: AckRequest = if body.iter().all(u8::is_ascii_whitespace) {
        AckRequest::default()
    } else {
        serde_json::from_slice(body).map_err(|error| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::MalformedJson,
                error.to_string(),
            )
        })?
    };
    acknowledge_with_note(state, admin, id, request.note)
        .await
        .map(axum::Json)
}

/// Acknowledges alert `id` with `note` (at most 1000 characters), recorded as
/// `admin.config_changed` (`alert.ack`): the API's route and the console's form.
pub(super) async fn acknowledge_with_note(
    state: &AppState,
    admin: &Admin,
    id: &str,
    note: Option<String>,
) -> Result<AlertView, ApiError> {
    if note
        .as_ref()
        .is_some_and(|note| note.chars().count() > 1000)
    {
        return Err(ApiError::unprocessable("note: at most 1000 characters"));
    }
    let event = admin
        .event(state.authority.clock().now(), EventKind::AdminConfigChanged)
        .detail("change", "alert.ack")
        .detail("alert_id", id);
    let acknowledged = state
        .detection
        .alerts
        .acknowledge(id, &admin.grant, note)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found(format!("no alert {id}")))?;
    state
        .events
        .record(event)
        .await
        .map_err(ApiError::audit_unavailable)?;
    Ok(acknowledged)
}

/// Alerts as they happen (Server-Sent Events)
///
/// One event per notice: `raised`, `grew`, `acknowledged` (data: the notice as JSON), and
/// `lagged` (data: how many were missed) when this stream fell behind. Ends when the
/// administrator's token stops being in force — it expires, it or its session is revoked,
/// the administrator is suspended, its key is revoked (checked every second) — or the server
/// stops.
#[utoipa::path(
    get,
    path = "/v1/admin/alerts/stream",
    tag = "alerts",
    operation_id = "stream_alerts",
    security(("bearer" = ["admin"]), ("client_credentials" = ["admin"])),
    responses(
        (
            status = 200,
            description = "An open event stream.",
            body = String,
            content_type = "text/event-stream",
            example = "event: raised\ndata: {\"type\":\"raised\",\"alert\":{}}\n\n"
        ),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    )
)]
async fn stream(
    State(state): State<AppState>,
    admin: Admin,
) -> Sse<impl Stream<Item = Result<Event, Infallible>> + use<>> {
    let receiver = state.detection.alerts.subscribe();
    super::admin_stream::admin_stream(&state, admin.token, receiver, AlertNotice::name)
}
