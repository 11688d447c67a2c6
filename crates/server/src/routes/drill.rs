//! The drill clock, for administrators of a server started with
//! `drill.dangerous_simulated_clock` (404 otherwise): read it, and move it forward.

use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use haechi_events::Timestamp;
use serde::Deserialize;
use serde_json::json;

use crate::drill::{DrillClock, DrillClockError};
use crate::extract::{Admin, JsonBody};
use crate::{ApiError, AppState};

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/v1/admin/drill/clock", get(read).post(advance))
}

fn drill_clock(state: &AppState) -> Result<&DrillClock, ApiError> {
    state.drill.as_deref().ok_or_else(|| {
        ApiError::not_found(
            "this server runs on the real clock (the drill clock is drill.dangerous_simulated_clock)",
        )
    })
}

/// `GET /v1/admin/drill/clock` → `{now}`.
async fn read(State(state): State<AppState>, _admin: Admin) -> Result<impl IntoResponse, ApiError> {
    let clock = drill_clock(&state)?;
    Ok(axum::Json(json!({ "now": clock.now().to_rfc3339() })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    /// The new simulated time, RFC 3339.
    now: String,
}

/// `POST /v1/admin/drill/clock {now}` → `{now, alerts, blocks}` once detection has settled.
async fn advance(
    State(state): State<AppState>,
    _admin: Admin,
    JsonBody(request): JsonBody<Advance>,
) -> Result<impl IntoResponse, ApiError> {
    let clock = drill_clock(&state)?;
    let instant = Timestamp::parse(&request.now).ok_or_else(|| {
        ApiError::unprocessable(format!("now: {:?} is not an RFC 3339 time", request.now))
    })?;
    // Every request answered before this one has its events durable: settle through them.
    let through_seq = state.audit.durable_seq();
    let now = clock
        .advance(instant, through_seq)
        .await
        .map_err(|error| match error {
            DrillClockError::Backwards { now } => ApiError::conflict(format!(
                "simulated time never runs backwards: the clock shows {}",
                now.to_rfc3339()
            )),
            DrillClockError::EngineBehind => ApiError::unavailable(
                "the clock moved, but the detection engine did not settle within a minute",
            ),
            DrillClockError::DetectionStopped => ApiError::unavailable(
                "detection is not running (detect.enabled = false, or the engine stopped): a \
                 drill would measure nothing",
            ),
        })?;
    // Key rotation and retirement follow simulated time, at the real ticker's cadence.
    if clock.take_upkeep(now) {
        state.authority.maintain().await?;
    }
    let (_, alert_count) = state.detection.alerts.list(&Default::default());
    Ok(axum::Json(json!({
        "now": now.to_rfc3339(),
        "alerts": alert_count,
        "blocks": state.detection.containment.blocks().len(),
    })))
}
