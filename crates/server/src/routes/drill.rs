//! The drill clock, for administrators of a server started with
//! `drill.dangerous_simulated_clock` (404 otherwise): read it, and move it forward.

use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use haechi_events::Timestamp;
use haechi_respond::pipeline::SettledSource;
use serde::Deserialize;
use serde_json::json;

use crate::drill::{DetectionPart, DrillClock, DrillClockError, Move};
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
    /// On a cluster's API node: the change-log position the detection nodes answered, to be
    /// applied here before the move returns.
    changes_through: Option<i64>,
}

/// `POST /v1/admin/drill/clock {now, changes_through?}` → `{now, alerts, blocks}` once
/// detection has settled. A cluster node adds `changes_through` (the change-log position its
/// memory holds) and, on a detection node, `detection` (`settled` with `records_through` and
/// `evaluated_through`, or `standby`). See `crate::drill`.
async fn advance(
    State(state): State<AppState>,
    _admin: Admin,
    JsonBody(request): JsonBody<Advance>,
) -> Result<impl IntoResponse, ApiError> {
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
    let mut body = json!({
        "now": moved.now().to_rfc3339(),
        "alerts": alert_count,
        "blocks": state.detection.containment.blocks().len(),
    });
    if let Some(changes) = changes {
        body["changes_through"] = json!(changes.through());
    }
    match moved.detection() {
        DetectionPart::Settled(settled) => {
            if let SettledSource::Stream {
                records_through,
                evaluated_through,
            } = settled.source()
            {
                body["detection"] = json!({
                    "state": "settled",
                    "records_through": records_through,
                    "evaluated_through": evaluated_through,
                });
            }
        }
        DetectionPart::Standby => body["detection"] = json!({ "state": "standby" }),
        DetectionPart::NotHere => {}
    }
    Ok(axum::Json(body))
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
