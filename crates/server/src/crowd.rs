//! The crowd's bound: how many of the public's requests (the portal's pages and JSON, the
//! anonymous check, the statements, "is this message from us?") a node works on at once.
//!
//! The budgets and the signed-in lane bound what each kind of request may take, but not the
//! node's capacity as a whole: offered more than its cores can answer, a server without a
//! bound takes every request in, each waits longer for the CPU, the crowd's clients open more
//! connections to send the next ones, and latency climbs to seconds (measured: an open-loop
//! crowd at 10,000 requests a second on one core). With the bound, a request arriving while
//! `portal.max_in_flight` others are being answered is refused at once — 503, `Retry-After`,
//! the waiting page for a page — at the cost of reading its head, so those admitted are
//! answered at the node's pace. Operators', services' and the probes' routes are never in it.
//! Here: the permits and which routes are the public's; `routes/crowd.rs` is the layer.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::ApiError;
use crate::error::ErrorCode;

/// How long a public request's body may take to arrive before it is refused: a form or a
/// check is a few hundred bytes.
const BODY_PATIENCE: Duration = Duration::from_secs(10);

/// The permits of the crowd's requests in flight, one set per node.
#[derive(Debug)]
pub(crate) struct CrowdBound {
    permits: Arc<Semaphore>,
}

impl CrowdBound {
    pub(crate) fn new(max_in_flight: usize) -> Self {
        CrowdBound {
            permits: Arc::new(Semaphore::new(max_in_flight.max(1))),
        }
    }

    /// A permit for one public request, held while it is answered; `None` when every one is
    /// taken.
    pub(crate) fn enter(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.permits).try_acquire_owned().ok()
    }
}

/// Whether `path` is one of the public's routes. Matched by whole segments: `/portal` and
/// below, and below `/v1/portal/`, `/v1/exposure/` and `/v1/notices/`.
pub(crate) fn is_crowd_facing(path: &str) -> bool {
    path == "/portal"
        || ["/portal/", "/v1/portal/", "/v1/exposure/", "/v1/notices/"]
            .iter()
            .any(|prefix| path.starts_with(prefix))
}

/// `request` with its body received whole, if it has one. A body declared or found larger
/// than `max_bytes` is refused (413), and so is one that does not arrive within
/// [`BODY_PATIENCE`] (408).
pub(crate) async fn received(request: Request, max_bytes: usize) -> Result<Request, Response> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|length| length.to_str().ok()?.parse::<u64>().ok());
    let chunked = request.headers().contains_key(header::TRANSFER_ENCODING);
    let within = |length: u64| usize::try_from(length).is_ok_and(|length| length <= max_bytes);
    match declared {
        None if !chunked => return Ok(request),
        Some(0) => return Ok(request),
        // Refused here, from the length alone: passed on, it would wait for a body that
        // may never come while holding a permit.
        Some(length) if !within(length) => return Err(too_large()),
        _ => {}
    }
    let (parts, body) = request.into_parts();
    match tokio::time::timeout(BODY_PATIENCE, axum::body::to_bytes(body, max_bytes)).await {
        Ok(Ok(bytes)) => Ok(Request::from_parts(parts, Body::from(bytes))),
        // Past the limit (a chunked body) or cut off by the client.
        Ok(Err(_)) => Err(too_large()),
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            ErrorCode::InvalidRequest,
            format!(
                "the request body did not arrive within {} s",
                BODY_PATIENCE.as_secs()
            ),
        )
        .into_response()),
    }
}

fn too_large() -> Response {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::BodyTooLarge,
        "the request body is too large, or it was cut off",
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::is_crowd_facing;

    #[test]
    fn the_publics_routes_are_matched_by_whole_segments() {
        for path in [
            "/portal",
            "/portal/",
            "/portal/me",
            "/portal/assets/check.js",
            "/v1/portal/statements",
            "/v1/portal/me/exposures",
            "/v1/exposure/check",
            "/v1/exposure/range/ABCDE",
            "/v1/notices/verify",
        ] {
            assert!(is_crowd_facing(path), "{path}");
        }
        for path in [
            "/portalx",
            "/v1/portals",
            "/v1/admin/incidents",
            "/v1/customers/lookup",
            "/healthz",
            "/console/",
            "/.well-known/jwks.json",
            "/v1/oauth/token",
        ] {
            assert!(!is_crowd_facing(path), "{path}");
        }
    }
}
