//! The crowd's bound as a layer of every public listener (`crate::crowd` keeps the permits
//! and says which routes are the public's): a public request holds a permit while it is
//! answered, or is refused at once.

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::{ApiError, AppState, crowd};

/// The middleware: a public request holds a permit while it is answered, or is refused at
/// once when none is free. Its body is received first, so a client that sends one slowly
/// holds a connection, never a permit: 256 slow senders would otherwise shut the public out.
pub(super) async fn bound(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if !crowd::is_crowd_facing(request.uri().path()) {
        return next.run(request).await;
    }
    let request = match crowd::received(request, state.settings.max_body_bytes).await {
        Ok(request) => request,
        Err(refusal) => return refusal,
    };
    let Some(permit) = state.crowd_bound().enter() else {
        metrics::counter!("haechi_portal_admissions_total", "outcome" => "shed_in_flight")
            .increment(1);
        return refusal(&state, &request);
    };
    let response = next.run(request).await;
    drop(permit);
    response
}

/// A browser asking for a page gets the waiting page, which tries again by itself; anything
/// else a JSON 503. Both say `Retry-After` as `portal.retry_after` does (5 s by default):
/// waiting pages that all came back after the same second would arrive together again.
fn refusal(state: &AppState, request: &Request) -> Response {
    let retry_after = state.portal.admission().retry_after_secs();
    let path = request.uri().path();
    if path == "/portal" || path.starts_with("/portal/") {
        // A refused form post (the sign-in) waits on the start page, where the form is.
        let retry_path = if request.method() == Method::GET {
            path
        } else {
            "/portal/"
        };
        return super::portal_pages::waiting_page(state, request.uri(), retry_path, retry_after);
    }
    ApiError::unavailable("the portal is at capacity; try again after the time Retry-After says")
        .with_retry_after(retry_after)
        .into_response()
}
