//! The drill clock, for administrators of a server started with
//! `drill.dangerous_simulated_clock` (404 otherwise): read it, and move it forward.

use axum::extract::State;
use haechi_events::Timestamp;
use haechi_respond::pipeline::SettledSource;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::drill::{DetectionPart, DrillClock, DrillClockError, Move};
use crate::extract::{Admin, JsonBody};
use crate::openapi::{
    BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, Unauthorized, Unavailable,
    Unprocessable, UnsupportedMediaType,
};
use crate::{ApiError, AppState};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(read, advance))
}

fn drill_clock(state: &AppState) -> Result<&DrillClock, ApiError> {
    state.drill.as_deref().ok_or_else(|| {
        ApiError::not_found(
            "this server runs on the real clock (the drill clock is drill.dangerous_simulated_clock)",
        )
    })
}

/// The drill clock's time.
#[derive(Debug, Serialize, ToSchema)]
struct ClockReading {
    /// The simulated time, RFC 3339.
    now: String,
}

/// The drill clock's time
///
/// Only on a server started with `drill.dangerous_simulated_clock`; 404 otherwise.
#[utoipa::path(
    get,
    path = "/v1/admin/drill/clock",
    tag = "drill",
    operation_id = "read_drill_clock",
    security(("bearer" = ["admin"]), ("client_credentials" = ["admin"])),
    responses(
        (status = 200, description = "The simulated time.", body = ClockReading),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    )
)]
async fn read(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<axum::Json<ClockReading>, ApiError> {
    let clock = drill_clock(&state)?;
    Ok(axum::Json(ClockReading {
        now: clock.now().to_rfc3339(),
    }))
}

/// A move of the drill clock.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"now": "2025-06-24T09:00:00Z"}))]
struct Advance {
    /// The new simulated time, RFC 3339; never before the clock's.
    now: String,
    /// On a cluster's API node: the change-log position the detection nodes answered, to be
    /// applied here before the move returns (0 or more).
    #[schema(minimum = 0)]
    changes_through: Option<i64>,
}

/// The drill clock after a move (members in the order the API has always written them).
#[derive(Debug, Serialize, ToSchema)]
struct Moved {
    /// Alerts on the desk.
    alerts: usize,
    /// Blocks in force.
    blocks: usize,
    /// On a cluster node: the change-log position its memory holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    changes_through: Option<i64>,
    /// On a cluster's detection node: how its settle went.
    #[serde(skip_serializing_if = "Option::is_none")]
    detection: Option<DetectionSettle>,
    /// The simulated time now, RFC 3339.
    now: String,
}

/// How a detection node's settle went (members in the order the API has always written
/// them).
#[derive(Debug, Serialize, ToSchema)]
struct DetectionSettle {
    /// `settled`: every record at or below this stream sequence is evaluated.
    #[serde(skip_serializing_if = "Option::is_none")]
    evaluated_through: Option<u64>,
    /// `settled`: the stream's newest record when the settle began.
    #[serde(skip_serializing_if = "Option::is_none")]
    records_through: Option<u64>,
    /// `settled` (it leads detection) or `standby`.
    state: &'static str,
}

/// Move the drill clock forward and settle detection
///
/// Answers once detection has evaluated everything durable before the call and carried out
/// the resulting actions, so alerts and containment land at the simulated time they would
/// have in a live deployment. A cluster node adds `changes_through` (the change-log position
/// its memory holds) and, on a detection node, `detection`. Only on a server started with
/// `drill.dangerous_simulated_clock`; 404 otherwise.
#[utoipa::path(
    post,
    path = "/v1/admin/drill/clock",
    tag = "drill",
    operation_id = "advance_drill_clock",
    security(("bearer" = ["admin"]), ("client_credentials" = ["admin"])),
    request_body = Advance,
    responses(
        (status = 200, description = "Moved and settled.", body = Moved),
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
async fn advance(
    State(state): State<AppState>,
    _admin: Admin,
    JsonBody(request): JsonBody<Advance>,
) -> Result<axum::Json<Moved>, ApiError> {
    let clock = drill_clock(&state)?;
    let instant = Timestamp::parse(&request.now).ok_or_else(|| {
        ApiError::unprocessable(format!("now: {:?} is not an RFC 3339 time", request.now))
    })?;
    if request.changes_through.is_some_and(|position| position < 0) {
        return Err(ApiError::unprocessable(
            "changes_through: a change-log position is 0 or more",
        ));
    }
    // Every request answered before this one has its events durable: settle through them.
    let through_seq = state.audit.durable_seq();
    let moved = clock
        .advance(Move {
            instant,
            through_seq,
            changes_through: request.changes_through,
        })
        .await
        .map_err(refusal)?;
    // Key rotation and retirement follow simulated time, at the real ticker's cadence — where
    // detection settled: on a cluster that is one node (two rotating at once would make two
    // keys), and before the change log's head is read, so every API node learns the new key
    // states in the same move.
    if moved.settled_here() && clock.take_upkeep(moved.now()) {
        state.authority.maintain().await?;
    }
    let changes = clock.apply_changes(&moved).await.map_err(refusal)?;
    let (_, alert_count) = state.detection.alerts.list(&Default::default());
    let detection = match moved.detection() {
        DetectionPart::Settled(settled) => match settled.source() {
            SettledSource::Stream {
                records_through,
                evaluated_through,
            } => Some(DetectionSettle {
                evaluated_through: Some(evaluated_through),
                records_through: Some(records_through),
                state: "settled",
            }),
            _ => None,
        },
        DetectionPart::Standby => Some(DetectionSettle {
            evaluated_through: None,
            records_through: None,
            state: "standby",
        }),
        DetectionPart::NotHere => None,
    };
    Ok(axum::Json(Moved {
        alerts: alert_count,
        blocks: state.detection.containment.blocks().len(),
        changes_through: changes.map(|changes| changes.through()),
        detection,
        now: moved.now().to_rfc3339(),
    }))
}

/// The answer to a move that could not be made or settled.
fn refusal(error: DrillClockError) -> ApiError {
    match error {
        DrillClockError::Backwards { now } => ApiError::conflict(format!(
            "simulated time never runs backwards: the clock shows {}",
            now.to_rfc3339()
        )),
        DrillClockError::EngineBehind => ApiError::unavailable(
            "the clock moved, but the detection engine did not settle within a minute",
        ),
        DrillClockError::DetectionStopped => ApiError::unavailable(
            "detection is not running (detect.enabled = false, or the engine stopped — on a \
             cluster's detection node, or lost the lead — before it settled): a drill would \
             measure nothing",
        ),
        DrillClockError::NoDetectionHere => ApiError::unavailable(
            "this cluster node runs no detection engine (--role api): move the detection \
             nodes' clocks first and give this node the changes_through they answer \
             (haechi drill --target API_URL --detection DETECTION_URL does)",
        ),
        DrillClockError::NoChangeLog => ApiError::unprocessable(
            "changes_through: this node follows no change log (it is not a cluster node)",
        ),
        DrillClockError::ChangeLogUnreadable(detail) => {
            ApiError::part_unavailable("change log", detail)
        }
        DrillClockError::ChangesBehind(behind) => {
            ApiError::unavailable(format!("the clock moved, but {behind} within a minute"))
        }
    }
}
