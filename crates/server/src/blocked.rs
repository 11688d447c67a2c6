//! The request path's side of containment: a request from a blocked network is refused before
//! anything else looks at it. Whether an address is blocked is `haechi-respond`'s answer.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::{AppState, ErrorCode};

/// The answer to a request from a blocked network: the API's error body with the block's id
/// and end (members in the order the API has always written them).
#[derive(Debug, Serialize)]
struct Blocked {
    /// The block that refuses the request.
    block_id: u64,
    /// Always `blocked`.
    error: ErrorCode,
    /// Which network is refused until when.
    message: String,
    /// When the block ends, RFC 3339.
    until: String,
}

/// Middleware: refuses every request from a blocked network with 403
/// `{"error":"blocked",…}` before anything else looks at it (no token is verified, nothing
/// is audited: a blocked attacker cannot flood the trail).
pub(crate) async fn refuse_blocked(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let containment = &state.detection.containment;
    if !containment.has_blocks() {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let context = crate::extract::request_context(&parts, &state);
    if let Some(block) = context.ip.and_then(|ip| containment.blocking(ip)) {
        metrics::counter!("haechi_blocked_requests_total").increment(1);
        return (
            StatusCode::FORBIDDEN,
            axum::Json(Blocked {
                block_id: block.id,
                error: ErrorCode::Blocked,
                message: format!(
                    "requests from {} are refused until {}",
                    block.network,
                    block.expires_at.to_rfc3339()
                ),
                until: block.expires_at.to_rfc3339(),
            }),
        )
            .into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}
