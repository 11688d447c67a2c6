//! Routers per resource, merged into one.

mod admin;
mod audit;
mod auth;
mod customers;
mod exposure;
mod health;
mod oauth;
mod well_known;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;

use crate::{ApiError, AppState};

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
        .with_state(state)
}
