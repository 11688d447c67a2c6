//! Routers per resource, merged into one.

mod admin;
mod alerts;
mod audit;
mod auth;
mod blocks;
mod customers;
mod drill;
mod exposure;
mod health;
mod oauth;
mod well_known;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;

use crate::{ApiError, AppState};

pub(crate) use health::metrics_router;

/// A detection node's listener: liveness, readiness and metrics; for administrators, the
/// alerts it raised (its desk is the cluster's: API nodes run no engine) and, on the drill
/// clock, the clock; every other path says where the API is.
pub(crate) fn probes_router(state: AppState) -> Router {
    let administered = Router::new()
        .merge(alerts::router())
        .merge(drill::router())
        // As on the API: a node not confirmed fresh decides nothing (an administrator's
        // token revoked elsewhere must not be accepted here either).
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::freshness::refuse_when_stale,
        ));
    Router::new()
        .merge(health::router())
        .merge(administered)
        .fallback(|| async {
            ApiError::not_found(
                "this is a detection node (--role detect): the API is served by the API nodes",
            )
            .into_response()
        })
        .with_state(state)
}

pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .merge(health::router())
        .merge(well_known::router())
        .merge(auth::router())
        .merge(oauth::router())
        .merge(admin::router())
        .merge(audit::router())
        .merge(customers::router())
        .merge(exposure::router())
        .merge(alerts::router())
        .merge(blocks::router())
        .merge(drill::router())
        .fallback(|| async {
            ApiError::not_found("no such endpoint; see the API list in the README").into_response()
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this endpoint does not take that method",
            )
            .into_response()
        })
        // A blocked network is refused before any route (or fallback) sees the request.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::blocked::refuse_blocked,
        ))
        // Outermost: a node whose view of the blocks (and everything else shared) is not
        // confirmed fresh decides nothing, not even who is blocked.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::freshness::refuse_when_stale,
        ))
        .with_state(state)
}
