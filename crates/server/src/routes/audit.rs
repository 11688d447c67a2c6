//! The audit trail's search, for administrators. Reading the trail is itself on the record
//! (`admin.audit_read`), so whoever looks at whom is as visible as any other read.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use haechi_audit::{AuditRecord, BadParameter, SearchFilter};
use haechi_events::EventKind;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{Admin, download_reason};
use crate::openapi::{BadRequest, Forbidden, Unauthorized};
use crate::{ApiError, AppState, ErrorCode, FieldProblem};

/// Records per page when `limit` is not given.
const DEFAULT_PAGE: usize = 100;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(search))
}

/// A page of the audit trail (members in the order the API has always written them).
#[derive(Debug, Serialize, ToSchema)]
struct AuditPage {
    /// The `after` of the next page, or null when this page is the last.
    next_after: Option<u64>,
    /// The matching records, oldest first.
    records: Vec<AuditRecord>,
}

/// Search the audit trail
///
/// Matching records oldest first, a page at a time. The search is itself on the record
/// (`admin.audit_read`, with the filter), so whoever looks at whom is as visible as any other
/// read. An empty value counts as absent; every parameter but `kind` may appear once, and an
/// unknown one is refused.
#[utoipa::path(
    get,
    path = "/v1/admin/audit",
    tag = "audit",
    operation_id = "search_audit",
    security(("bearer" = ["admin"]), ("client_credentials" = ["admin"])),
    params(
        ("customer" = Option<String>, Query, description = "A customer id."),
        ("principal" = Option<String>, Query, description = "`customer:ID`, `service:NAME`, `admin:NAME` or `anonymous`.", example = "service:shipping"),
        ("ip" = Option<String>, Query, description = "An address or a network.", example = "203.0.113.0/24"),
        ("from" = Option<String>, Query, description = "RFC 3339 or `YYYY-MM-DD` (UTC), inclusive.", example = "2025-06-24"),
        ("to" = Option<String>, Query, description = "RFC 3339 or `YYYY-MM-DD` (UTC), exclusive.", example = "2025-06-25T12:00:00Z"),
        ("kind" = Option<String>, Query, description = "Event kinds, comma-separated (or the parameter repeated).", example = "pii.read,pii.lookup"),
        ("after" = Option<u64>, Query, description = "A seq: the page starts after it (a page's `next_after`)."),
        ("limit" = Option<u64>, Query, description = "Records per page, 1 to 10000 (default 100)."),
        ("reason" = Option<String>, Query, description = "Why the records are read (recorded with the search; the monthly review lists searches without one).", example = "INC-2041 investigation"),
    ),
    responses(
        (status = 200, description = "A page of records.", body = AuditPage),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    )
)]
async fn search(
    State(state): State<AppState>,
    admin: Admin,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<axum::Json<AuditPage>, ApiError> {
    let Query(pairs) = query.map_err(|rejection| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidParameter,
            rejection.body_text(),
        )
    })?;
    // The reason is the download's, not the filter's.
    let (reasons, pairs): (Vec<_>, Vec<_>) = pairs
        .iter()
        .partition(|(name, _)| name.as_str() == "reason");
    let reason = match reasons.as_slice() {
        [] => None,
        [(_, reason)] => Some(download_reason(reason)?),
        _ => {
            return Err(ApiError::bad_request(
                "query parameter reason: given more than once",
            ));
        }
    };
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

    let mut event = admin
        .event(state.authority.clock().now(), EventKind::AdminAuditRead)
        .detail("records", records.len().to_string());
    for (name, value) in describe(&filter) {
        event = event.detail(format!("filter.{name}"), value);
    }
    if let Some(customer) = &filter.customer_id {
        event = event.customer(customer);
    }
    if let Some(reason) = reason {
        event = event.reason(reason);
    }
    state
        .events
        .record(event)
        .await
        .map_err(ApiError::audit_unavailable)?;
    Ok(axum::Json(AuditPage {
        next_after,
        records,
    }))
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
        ErrorCode::InvalidParameter,
        format!("query parameter {error}"),
    )
    .with_fields(vec![FieldProblem {
        field: error.name.to_string(),
        message: error.reason.to_string(),
    }])
}
