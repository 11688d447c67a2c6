//! The signed-in customer's own exposures (`/v1/portal/me/exposures`): what the portal's
//! signed-in view shows, as JSON.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::Authenticated;
use crate::openapi::{Forbidden, TooManyRequests, Unauthorized, Unavailable};
use crate::{ApiError, AppState};
use haechi_portal::ExposureReport;

/// Most incidents one report lists.
const MAX_INCIDENTS: usize = 100;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(own_exposures))
}

/// The customer's own exposures
///
/// Which of the customer's fields each recorded incident exposed, when, and what was done —
/// and which fields no recorded incident exposed. Counts against the customer's own request
/// rate; recorded as a read of their own record (`detail.view = exposures`). In the portal's
/// signed-in lane: at capacity, 503 with `Retry-After` at once.
#[utoipa::path(
    get,
    path = "/v1/portal/me/exposures",
    tag = "portal",
    operation_id = "own_exposures",
    security(("bearer" = ["customer"])),
    responses(
        (status = 200, description = "The report.", body = ExposureReport),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    )
)]
async fn own_exposures(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<impl IntoResponse, ApiError> {
    if state.portal.admission().admit().await.is_err() {
        let retry_after = state.portal.admission().retry_after_secs();
        return Err(ApiError::unavailable(
            "the portal is at capacity; try again after the time Retry-After says",
        )
        .with_retry_after(retry_after));
    }
    let report = exposure_report(&state, &caller).await?;
    Ok((
        [(header::CACHE_CONTROL, "private, no-store")],
        axum::Json(report),
    ))
}

/// The report for the customer `caller` is, through the vault's gate.
pub(crate) async fn exposure_report(
    state: &AppState,
    caller: &Authenticated,
) -> Result<ExposureReport, ApiError> {
    Ok(own_view(state, caller, false).await?.0)
}

/// The report and, with `with_inbox`, the notices sent to the customer `caller` is (the
/// signed-in page shows both), through the vault's gate once.
pub(crate) async fn own_view(
    state: &AppState,
    caller: &Authenticated,
    with_inbox: bool,
) -> Result<(ExposureReport, Vec<haechi_portal::InboxNotice>), ApiError> {
    let own = state
        .vault
        .own_records()
        .open_exposures(&caller.token, &caller.context)
        .await?;
    let inbox = if with_inbox {
        state
            .notices
            .inbox(state.store.as_ref(), own.customer_id())
            .await
            .map_err(|error| ApiError::part_unavailable("the notice outbox", error))?
    } else {
        Vec::new()
    };
    let exposures = state
        .store
        .customer_exposures(own.customer_id(), MAX_INCIDENTS)
        .await
        .map_err(|error| ApiError::part_unavailable("the incident store", error))?;
    let current = state.portal.current();
    let report = ExposureReport::new(&exposures, |id| {
        current
            .statements
            .iter()
            .find(|statement| &statement.incident_id == id)
            .map(|statement| statement.ko.title.as_str())
    });
    Ok((report, inbox))
}
