//! Incidents, for administrators: list, one, its customers, a live stream (SSE), close.
//!
//! Listings read the store, so every node of a cluster answers them (at most a flush — about
//! a second — behind the detection node); the stream is the engine's node's, like the
//! alerts'.

use std::convert::Infallible;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, Sse};
use futures::Stream;
use haechi_events::EventKind;
use haechi_incident::{AffectedCustomer, Incident, IncidentFilter, IncidentId, IncidentState};
use haechi_respond::{CloseRefused, IncidentNotice};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{Admin, JsonBody, PathParam};
use crate::openapi::{
    BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, Unauthorized, Unavailable,
    Unprocessable, UnsupportedMediaType,
};
use crate::{ApiError, AppState, ErrorCode};

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;
/// Longest closing note.
const MAX_NOTE_CHARS: usize = 1000;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(stream))
        .routes(routes!(one))
        .routes(routes!(customers))
        .routes(routes!(close))
}

/// Which incidents to list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// `open`, `contained`, `closed` or `all` (default).
    #[param(example = "open")]
    state: Option<String>,
    /// At most this many, 1 to 1000 (default 100).
    limit: Option<usize>,
}

/// A page of incidents.
#[derive(Debug, Serialize, ToSchema)]
struct IncidentList {
    /// The incidents, most recently active first.
    incidents: Vec<Incident>,
}

fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    query.map(|Query(query)| query).map_err(|rejection| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidParameter,
            rejection.body_text(),
        )
    })
}

fn invalid(message: String) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        ErrorCode::InvalidParameter,
        message,
    )
}

fn limit(limit: Option<usize>) -> Result<usize, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(invalid(format!("limit must be 1 to {MAX_LIMIT}")));
    }
    Ok(limit)
}

pub(super) fn incident_id(text: &str) -> Result<IncidentId, ApiError> {
    IncidentId::parse(text).map_err(|error| invalid(error.to_string()))
}

pub(super) fn store_error(error: haechi_events::StoreError) -> ApiError {
    ApiError::part_unavailable("the incident store", error)
}

/// Incidents, most recently active first
///
/// One incident per attack: the alerts that share an indicator (a signing key, an address, a
/// principal — as each rule's `incident.correlate` says), with the indicators, the customers
/// the alerts named, the containment taken and the alerts inside.
#[utoipa::path(
    get,
    path = "/v1/admin/incidents",
    tag = "incidents",
    operation_id = "list_incidents",
    security(("bearer" = ["admin"]), ("client_credentials" = ["admin"])),
    params(ListQuery),
    responses(
        (status = 200, description = "The incidents.", body = IncidentList),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    )
)]
async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    raw: Result<Query<ListQuery>, QueryRejection>,
) -> Result<axum::Json<IncidentList>, ApiError> {
    let request = query(raw)?;
    let wanted = match request.state.as_deref() {
        None | Some("all") => None,
        Some(text) => Some(IncidentState::parse(text).ok_or_else(|| {
            invalid(format!(
                "state {:?}: use open, contained, closed or all",
                text.chars().take(40).collect::<String>()
            ))
        })?),
    };
    let incidents = state
        .detection
        .incidents
        .list(&IncidentFilter {
            state: wanted,
            limit: limit(request.limit)?,
        })
        .await
        .map_err(store_error)?;
    Ok(axum::Json(IncidentList { incidents }))
}

/// One incident
#[utoipa::path(
    get,
    path = "/v1/admin/incidents/{id}",
    tag = "incidents",
    operation_id = "read_incident",
    security(("bearer" = ["admin"]), ("client_credentials" = ["admin"])),
    params(("id" = String, Path, description = "The incident's id, `INC-` and 12 hexadecimal digits.")),
    responses(
        (status = 200, description = "The incident.", body = Incident),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    )
)]
async fn one(
    State(state): State<AppState>,
    _admin: Admin,
    PathParam(id): PathParam,
) -> Result<axum::Json<Incident>, ApiError> {
    let id = incident_id(&id)?;
    state
        .detection
        .incidents
        .get(&id)
        .await
        .map_err(store_error)?
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found(format!("no incident {id}")))
}

/// Which customers of an incident.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct CustomersQuery {
    /// Only customers whose id sorts after this one (the previous page's `next`).
    after: Option<String>,
    /// At most this many, 1 to 1000 (default 100).
    limit: Option<usize>,
}

/// A page of an incident's customers.
#[derive(Debug, Serialize, ToSchema)]
struct CustomerPage {
    /// The customers, by id.
    customers: Vec<AffectedCustomer>,
    /// The `after` of the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
}

/// The customers tied to an incident, by id
///
/// For detection's incidents, the customers its alerts named (ids only); for imported ones,
/// the list as imported, with fields and times. No contact channel is ever here.
#[utoipa::path(
    get,
    path = "/v1/admin/incidents/{id}/customers",
    tag = "incidents",
    operation_id = "list_incident_customers",
    security(("bearer" = ["admin"]), ("client_credentials" = ["admin"])),
    params(
        ("id" = String, Path, description = "The incident's id."),
        CustomersQuery,
    ),
    responses(
        (status = 200, description = "A page of customers.", body = CustomerPage),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    )
)]
async fn customers(
    State(state): State<AppState>,
    _admin: Admin,
    PathParam(id): PathParam,
    raw: Result<Query<CustomersQuery>, QueryRejection>,
) -> Result<axum::Json<CustomerPage>, ApiError> {
    let id = incident_id(&id)?;
    let request = query(raw)?;
    let limit = limit(request.limit)?;
    if request
        .after
        .as_ref()
        .is_some_and(|after| after.len() > 256)
    {
        return Err(invalid("after: at most 256 bytes".into()));
    }
    let desk = &state.detection.incidents;
    if desk.get(&id).await.map_err(store_error)?.is_none() {
        return Err(ApiError::not_found(format!("no incident {id}")));
    }
    let customers = desk
        .customers(&id, request.after.as_deref(), limit)
        .await
        .map_err(store_error)?;
    let next = (customers.len() == limit)
        .then(|| customers.last().map(|c| c.customer_id.clone()))
        .flatten();
    Ok(axum::Json(CustomerPage { customers, next }))
}

/// Why an incident is closed.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"note": "key revoked, 40 networks blocked; notices sent"}))]
struct CloseRequest {
    /// What was found and done (1 to 1000 characters).
    #[schema(min_length = 1, max_length = 1000)]
    note: String,
}

/// Close an incident
///
/// It stops collecting alerts (a new alert with the same indicators opens a new incident).
/// Recorded as `admin.config_changed` (`detail.change = incident.close`).
#[utoipa::path(
    post,
    path = "/v1/admin/incidents/{id}/close",
    tag = "incidents",
    operation_id = "close_incident",
    security(("bearer" = ["admin"]), ("client_credentials" = ["admin"])),
    params(("id" = String, Path, description = "The incident's id.")),
    request_body = CloseRequest,
    responses(
        (status = 200, description = "The incident, closed.", body = Incident),
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
async fn close(
    State(state): State<AppState>,
    admin: Admin,
    PathParam(id): PathParam,
    JsonBody(request): JsonBody<CloseRequest>,
) -> Result<axum::Json<Incident>, ApiError> {
    let id = incident_id(&id)?;
    let note = request.note.trim().to_string();
    if note.is_empty() || note.chars().count() > MAX_NOTE_CHARS {
        return Err(ApiError::unprocessable(format!(
            "note: 1 to {MAX_NOTE_CHARS} characters"
        )));
    }
    let now = state.authority.clock().now();
    let closed = state
        .detection
        .incidents
        .close(&id, &admin.grant, note, now)
        .await
        .map_err(|refused| match refused {
            CloseRefused::NotFound(id) => ApiError::not_found(format!("no incident {id}")),
            CloseRefused::AlreadyClosed(id) => {
                ApiError::conflict(format!("incident {id} is closed already"))
            }
            CloseRefused::Store(error) => store_error(error),
        })?;
    let event = admin
        .event(now, EventKind::AdminConfigChanged)
        .detail("change", "incident.close")
        .detail("incident_id", id.as_str());
    state
        .events
        .record(event)
        .await
        .map_err(ApiError::audit_unavailable)?;
    // A closed incident's statement leaves the portal now on this node, on the others at
    // their next refresh.
    if let Err(error) = state.portal.refresh(state.store.as_ref()).await {
        tracing::warn!(%error, "incident closed; the portal drops its statement at its next refresh");
    }
    Ok(axum::Json(closed))
}

/// Incidents as they change (Server-Sent Events)
///
/// One event per change once written: `opened`, `updated`, `merged`, `closed` (data: `{change,
/// incident}`), and `lagged` (data: how many were missed) when this stream fell behind. Served
/// by the node that runs detection. Ends when the administrator's token stops being in force
/// (checked every second) or the server stops.
#[utoipa::path(
    get,
    path = "/v1/admin/incidents/stream",
    tag = "incidents",
    operation_id = "stream_incidents",
    security(("bearer" = ["admin"]), ("client_credentials" = ["admin"])),
    responses(
        (
            status = 200,
            description = "An open event stream.",
            body = String,
            content_type = "text/event-stream",
            example = "event: opened\ndata: {\"change\":\"opened\",\"incident\":{}}\n\n"
        ),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    )
)]
async fn stream(
    State(state): State<AppState>,
    admin: Admin,
) -> Sse<impl Stream<Item = Result<Event, Infallible>> + use<>> {
    let receiver = state.detection.incidents.subscribe();
    super::admin_stream::admin_stream(&state, admin.token, receiver, |notice: &IncidentNotice| {
        notice.change
    })
}
