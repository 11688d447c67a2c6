//! Routers per resource, merged into one, and the OpenAPI document they describe.
//!
//! Every route of the API is registered through `utoipa_axum::routes!`, which takes the
//! handler's `#[utoipa::path]` description with it: the axum router and the document are two
//! halves of one [`OpenApiRouter`], so a route cannot be served without being described.

mod admin;
mod admin_stream;
mod alerts;
mod audit;
mod auth;
mod blocks;
mod console;
mod console_alerts;
mod console_containment;
mod console_keys;
mod contract;
mod crowd;
mod customers;
mod drill;
mod evidence;
mod exposure;
mod exposure_check;
mod gateway;
mod health;
mod incidents;
mod notice_pages;
mod notices;
mod oauth;
mod own_records;
mod policy;
mod portal;
mod portal_pages;
mod rules;
mod statements;
mod well_known;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{Extension, Router};
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;

use crate::openapi::{ApiDoc, complete};
use crate::{ApiError, AppState, ErrorCode};

pub(crate) use health::metrics_router;

/// A detection node's listener: liveness, readiness and metrics; for administrators, the
/// alerts it raised and the incidents (their stream is this node's; API nodes run no engine),
/// the rules it runs, and, on the drill clock, the clock; every other path says where the API
/// is.
pub(crate) fn probes_router(state: AppState) -> Router {
    let (administered, _) = OpenApiRouter::new()
        .merge(alerts::router())
        .merge(incidents::router())
        .merge(rules::router())
        .merge(drill::router())
        .split_for_parts();
    let administered = administered
        // As on the API: a node not confirmed fresh decides nothing (an administrator's
        // token revoked elsewhere must not be accepted here either).
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::freshness::refuse_when_stale,
        ));
    let (probes, _) = health::router().split_for_parts();
    Router::new()
        .merge(probes)
        .merge(administered)
        .fallback(|| async {
            ApiError::not_found(
                "this is a detection node (--role detect): the API is served by the API nodes",
            )
            .into_response()
        })
        .with_state(state)
}

/// Every route of the API with its description.
fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(health::router())
        .merge(well_known::router())
        .merge(contract::router())
        .merge(auth::router())
        .merge(oauth::router())
        .merge(admin::router())
        .merge(audit::router())
        .merge(evidence::router())
        .merge(customers::router())
        .merge(own_records::router())
        .merge(policy::router())
        .merge(exposure::router())
        .merge(exposure_check::router())
        .merge(alerts::router())
        .merge(incidents::router())
        .merge(statements::router())
        .merge(statements::public_router())
        .merge(notices::router())
        .merge(portal::router())
        .merge(portal_pages::router())
        .merge(notice_pages::router())
        .merge(console::router())
        .merge(gateway::router())
        .merge(rules::router())
        .merge(blocks::router())
        .merge(drill::router())
}

/// What the public reaches on a portal node (`--role portal`): the portal's pages and assets,
/// the anonymous check, the statements, "is this message from us?", a customer's own
/// exposures, the keys tokens verify with, and the probes. Operators' and services' routes
/// are not there, so a surge on the portal nodes never queues them.
fn public() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(health::router())
        .merge(well_known::router())
        .merge(exposure::router())
        .merge(exposure_check::router())
        .merge(statements::public_router())
        .merge(notices::router())
        .merge(portal::router())
        .merge(portal_pages::router())
        .merge(notice_pages::router())
}

/// A portal node's listener (and `portal.listen` on any node): [`public`] with the API's protections (freshness, blocks, the
/// check's budgets); every other path says where the API is.
pub(crate) fn portal_router(state: AppState) -> Router {
    let (routes, _) = public().split_for_parts();
    protect(
        routes
            .layer(exposure_check::budgets(&state))
            .fallback(|| async {
                ApiError::not_found(
                    "this listener serves the portal only (--role portal, or portal.listen): \
                     the rest of the API is served on the API's address",
                )
                .into_response()
            }),
        &state,
    )
    .with_state(state)
}

/// The layers every public listener has, outermost last: the public's requests are bounded
/// in number (`crate::crowd`), a blocked network is refused before any route (or fallback)
/// sees the request, and a node whose view of the blocks (and everything else shared) is not
/// confirmed fresh decides nothing, not even who is blocked.
fn protect(routes: Router<AppState>, state: &AppState) -> Router<AppState> {
    routes
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crowd::bound,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::blocked::refuse_blocked,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::freshness::refuse_when_stale,
        ))
}

/// The API's OpenAPI 3.1 document, as `GET /openapi.json` serves it.
pub(crate) fn document() -> serde_json::Value {
    let (_, document) = api().split_for_parts();
    complete(serde_json::to_value(&document).unwrap_or_default())
}

pub(crate) fn router(state: AppState) -> Router {
    let (routes, document) = api().split_for_parts();
    let document = complete(serde_json::to_value(&document).unwrap_or_default());
    let document = serde_json::to_vec(&document).unwrap_or_default();
    let routes = routes
        // The document is made once, here, and served from memory.
        .layer(Extension(contract::Document(document.into())))
        .layer(exposure_check::budgets(&state))
        .fallback(|| async {
            ApiError::not_found("no such endpoint; see the API list in the README").into_response()
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                ErrorCode::MethodNotAllowed,
                "this endpoint does not take that method",
            )
            .into_response()
        });
    protect(routes, &state).with_state(state)
}
