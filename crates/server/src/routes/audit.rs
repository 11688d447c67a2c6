//! The audit trail's search, for administrators. Reading the trail is itself on the record
//! (`admin.audit_read`), so whoever looks at whom is as visible as any other read.

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use haechi_audit::{BadParameter, SearchFilter};
use haechi_events::{EventKind, SecurityEvent};
use serde_json::json;

use crate::extract::Admin;
use crate::{ApiError, AppState};

/// Records per page when `limit` is not given.
const DEFAULT_PAGE: usize = 100;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/v1/admin/audit", get(search))
}

/// `GET /v1/admin/audit?customer=&principal=&ip=&from=&to=&kind=&after=&limit=`: matching
/// records oldest first, `{records, next_after}`; `next_after` is the `after` of the next page,
/// or null when this page is the last.
async fn search(
    State(state): State<AppState>,
    admin: Admin,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Query(pairs) = query.map_err(|rejection| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            rejection.body_text(),
        )
    })?;
    let (filter, page) = haechi_audit::parse_search(
        pairs
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str())),
        DEFAULT_PAGE,
    )
    .map_err(bad_parameter)?;
    let records = state
        .audit
        .search(filter.clone(), page)
        .await
        .map_err(ApiError::internal)?;
    let next_after = (records.len() == page.limit)
        .then(|| records.last().map(|record| record.seq))
        .flatten();

    let mut event = SecurityEvent::new(
        state.authority.clock().now(),
        EventKind::AdminAuditRead,
        admin.token.principal().clone(),
    )
    .context(&admin.context)
    .sid(admin.token.sid())
    .jti(admin.token.jti())
    .kid(admin.token.kid())
    .detail("records", records.len().to_string());
    for (name, value) in describe(&filter) {
        event = event.detail(format!("filter.{name}"), value);
    }
    if let Some(customer) = &filter.customer_id {
        event = event.customer(customer);
    }
    state
        .events
        .record(event)
        .await
        .map_err(ApiError::audit_unavailable)?;
    Ok(axum::Json(
        json!({ "records": records, "next_after": next_after }),
    ))
}

/// The filter as `(name, value)` pairs for the event's detail.
fn describe(filter: &SearchFilter) -> Vec<(&'static str, String)> {
    let mut parts = Vec::new();
    if let Some(principal) = &filter.principal {
        parts.push(("principal", principal.to_string()));
    }
    if let Some(ip) = &filter.ip {
        parts.push(("ip", ip.to_string()));
    }
    if let Some(from) = filter.from {
        parts.push(("from", from.to_rfc3339()));
    }
    if let Some(to) = filter.to {
        parts.push(("to", to.to_rfc3339()));
    }
    if !filter.kinds.is_empty() {
        let kinds: Vec<&str> = filter.kinds.iter().map(|kind| kind.as_str()).collect();
        parts.push(("kind", kinds.join(",")));
    }
    parts
}

fn bad_parameter(error: BadParameter) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
        format!("query parameter {error}"),
    )
    .with_fields(json!([{ "field": error.name, "message": error.reason }]))
}
