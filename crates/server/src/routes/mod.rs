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
        .with_state(state)
}
