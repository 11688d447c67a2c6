//! Haechi's HTTP API.
//!
//! One [`AppState`], one router per resource merged by [`router`], one error type
//! ([`ApiError`]) that every handler returns and that never leaks internals: every failure a
//! caller causes is a 4xx JSON `{ "error": code, "message": text }`, and every response
//! carries `x-request-id`.

#![forbid(unsafe_code)]

pub mod admission;
mod blocked;
mod client_address;
pub mod console;
mod crowd;
pub mod drill;
mod error;
pub mod evidence;
mod extract;
mod freshness;
pub mod gateway;
mod middleware;
pub mod notices;
mod openapi;
mod pace;
pub mod portal;
mod routes;
mod source_limit;
mod state;

pub use client_address::TrustedProxies;
pub use error::{ApiError, ErrorCode, FieldProblem};
pub use state::{AppState, CheckBudget, ServerSettings, SharedState};

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;

/// The whole API.
pub fn router(state: AppState) -> Router {
    let routes = routes::router(state.clone());
    middleware::apply(routes, &state)
}

/// Serves `/metrics` alone, unauthenticated, on a listener of its own (`[server]
/// metrics_listen`); on the API's own address `/metrics` needs an administrator's token.
pub async fn serve_metrics(listener: TcpListener, state: AppState) -> std::io::Result<()> {
    axum::serve(listener, routes::metrics_router(state)).await
}

/// The API's OpenAPI 3.1 document, generated from the handlers and the types they serialise:
/// what `GET /openapi.json` serves. Every route of [`router`] is in it, and nothing else.
pub fn openapi() -> serde_json::Value {
    routes::document()
}

/// What a detection node (`--role detect`) serves: its probes (`/healthz`, `/readyz`,
/// `/metrics`), its alert desk and its drill clock for administrators; every other path is
/// a 404 naming the API nodes.
pub fn detection_node_router(state: AppState) -> Router {
    middleware::apply(routes::probes_router(state.clone()), &state)
}

/// What a portal node (`--role portal`) serves: the portal, the anonymous check, the
/// statements, "is this message from us?" and the probes; every other path is a 404 naming
/// the API nodes.
pub fn portal_node_router(state: AppState) -> Router {
    middleware::apply(routes::portal_router(state.clone()), &state)
}

/// Serves [`portal_node_router`] on `listener` until `shutdown` resolves.
pub async fn serve_portal(
    listener: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_until(listener, portal_node_router(state), shutdown).await
}

/// Serves [`detection_node_router`] on `listener` until `shutdown` resolves.
pub async fn serve_probes(
    listener: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_until(listener, detection_node_router(state), shutdown).await
}

/// Serves the API on `listener` until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_until(listener, router(state), shutdown).await
}

/// Serves `app` with each request's peer address until `shutdown` resolves, then finishes
/// in-flight requests.
async fn serve_until(
    listener: TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
