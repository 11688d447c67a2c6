//! Detection alerts, for administrators: list, live stream (SSE), acknowledge.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use futures::Stream;
use haechi_detect::Severity;
use haechi_events::{EventKind, SecurityEvent};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use crate::extract::{Admin, PathParam, RawBody};
use crate::{ApiError, AppState};
use haechi_respond::{AlertFilter, AlertState};

/// Alerts per page when `limit` is not given, and the most one page holds.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/admin/alerts", get(list))
        .route("/v1/admin/alerts/stream", get(stream))
        // Alert ids are `RULE_ID/SEQ`: the id may come with its slash raw or as `%2F`.
        .route("/v1/admin/alerts/{*rest}", get(one).post(acknowledge))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// `open`, `acknowledged` or `all` (default).
    state: Option<String>,
    /// Comma-separated severities.
    severity: Option<String>,
    /// One rule id.
    rule: Option<String>,
    limit: Option<usize>,
}

/// `GET /v1/admin/alerts?state=open|acknowledged|all&severity=high,critical&rule=ID&limit=N`:
/// `{alerts, total}`, newest first.
async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Query(query) = query.map_err(|rejection| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
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
    Ok(axum::Json(json!({ "alerts": alerts, "total": total })))
}

fn invalid(message: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_parameter", message)
}

/// `GET /v1/admin/alerts/{id}`.
async fn one(
    State(state): State<AppState>,
    _admin: Admin,
    PathParam(rest): PathParam,
) -> Result<impl IntoResponse, ApiError> {
    state
        .detection
        .alerts
        .get(&rest)
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found(format!("no alert {rest}")))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AckRequest {
    /// An incident reference, or why it is not one.
    note: Option<String>,
}

/// `POST /v1/admin/alerts/{id}/ack` `{note?}`: the alert, acknowledged. Recorded as
/// `admin.config_changed` (`detail.change = alert.ack`).
async fn acknowledge(
    State(state): State<AppState>,
    admin: Admin,
    PathParam(rest): PathParam,
    RawBody(body): RawBody,
) -> Result<impl IntoResponse, ApiError> {
    let Some(id) = rest.strip_suffix("/ack") else {
        return Err(ApiError::not_found(
            "no such endpoint; acknowledge with POST /v1/admin/alerts/{id}/ack",
        ));
    };
    // The body is optional: an acknowledgement without a note is fine.
    let request: AckRequest = if body.iter().all(u8::is_ascii_whitespace) {
        AckRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|error| {
            ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", error.to_string())
        })?
    };
    let note = request.note;
    if note
        .as_ref()
        .is_some_and(|note| note.chars().count() > 1000)
    {
        return Err(ApiError::unprocessable("note: at most 1000 characters"));
    }
    let event = SecurityEvent::new(
        state.authority.clock().now(),
        EventKind::AdminConfigChanged,
        admin.token.principal().clone(),
    )
    .context(&admin.context)
    .sid(admin.token.sid())
    .jti(admin.token.jti())
    .kid(admin.token.kid())
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
    Ok(axum::Json(acknowledged))
}

/// `GET /v1/admin/alerts/stream`: Server-Sent Events, one per notice (`raised`, `grew`,
/// `acknowledged`; `lagged` when this stream fell behind and missed some). Ends when the
/// administrator's token stops being in force — it expires, it or its session is revoked,
/// the administrator is suspended, its key is revoked (checked every second) — or the server
/// stops.
async fn stream(
    State(state): State<AppState>,
    admin: Admin,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let receiver = state.detection.alerts.subscribe();
    let authority = state.authority.clone();
    let token = admin.token;
    let end = Box::pin(async move {
        let mut ticker = tokio::time::interval(Duration::from_secs(1));
        loop {
            ticker.tick().await;
            if !authority.verifier().still_in_force(&token) {
                return;
            }
        }
    });
    let closed = Box::pin(state.detection.closed());
    let stream = futures::stream::unfold(
        (receiver, end, closed),
        |(mut receiver, mut end, mut closed)| async move {
            let event = tokio::select! {
                () = &mut end => return None,
                () = &mut closed => return None,
                received = receiver.recv() => match received {
                    Ok(notice) => Event::default()
                        .event(notice.name())
                        .json_data(&notice)
                        .unwrap_or_else(|_| Event::default().event("error")),
                    Err(RecvError::Lagged(missed)) => Event::default()
                        .event("lagged")
                        .data(missed.to_string()),
                    Err(RecvError::Closed) => return None,
                },
            };
            Some((Ok(event), (receiver, end, closed)))
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
