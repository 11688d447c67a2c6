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

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::{ApiError, AppState};

/// What a refusal's `Retry-After` says: a second, since the bound frees as fast as the node
/// answers.
const RETRY_AFTER_SECS: u64 = 1;

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
}

/// Whether `path` is one of the public's routes. Matched by whole segments: `/portal` and
/// below, and below `/v1/portal/`, `/v1/exposure/` and `/v1/notices/`.
pub(crate) fn is_crowd_facing(path: &str) -> bool {
    path == "/portal"
        || ["/portal/", "/v1/portal/", "/v1/exposure/", "/v1/notices/"]
            .iter()
            .any(|prefix| path.starts_with(prefix))
}

/// The middleware: a public request holds a permit while it is answered, or is refused at
/// once when none is free.
pub(crate) async fn bound(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if !is_crowd_facing(request.uri().path()) {
        return next.run(request).await;
    }
    let Ok(permit) = Arc::clone(&state.crowd_bound().permits).try_acquire_owned() else {
        metrics::counter!("haechi_portal_admissions_total", "outcome" => "shed_in_flight")
            .increment(1);
        return refusal(&state, &request);
    };
    let response = next.run(request).await;
    drop(permit);
    response
}

/// A browser asking for a page gets the waiting page, which tries again by itself; anything
/// else a JSON 503.
fn refusal(state: &AppState, request: &Request) -> Response {
    let path = request.uri().path();
    if path == "/portal" || path.starts_with("/portal/") {
        // A refused form post (the sign-in) waits on the start page, where the form is.
        let retry_path = if request.method() == Method::GET {
            path
        } else {
            "/portal/"
        };
        return crate::routes::waiting_page(
            state,
            request.uri().query(),
            retry_path,
            RETRY_AFTER_SECS,
        );
    }
    ApiError::unavailable("the portal is at capacity; try again after the time Retry-After says")
        .with_retry_after(RETRY_AFTER_SECS)
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
