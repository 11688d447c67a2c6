//! Liveness, readiness, metrics.
//!
//! `/metrics` tells whoever reads it how many logins fail, which routes are refused and how
//! many tokens are live: reconnaissance for an attacker. On the API's address it needs an
//! administrator's token; a Prometheus scraper gets its own listener instead
//! (`[server] metrics_listen`, [`metrics_router`]), bound to an address only it reaches.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

use crate::extract::Admin;
use crate::{ApiError, AppState};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_for_admin))
}

/// `/metrics` alone, without authentication: for a listener of its own that only the
/// monitoring network reaches.
pub(crate) fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .fallback(|| async { ApiError::not_found("only /metrics is served here") })
        .with_state(state)
}

async fn healthz() -> impl IntoResponse {
    axum::Json(json!({ "status": "ok" }))
}

/// Ready when the database answers, the audit log accepts records (on a cluster: and its
/// stream acknowledges them), the node's view of the cluster's shared decisions is fresh and a
/// key can sign.
///
/// Conditions that do not stop the node but that an operator must act on before they do — the
/// audit volume below its free-space headroom, the audit witness not taking checkpoints — are
/// listed under `warnings` with status 200: a load balancer keeps the node (pulling every node
/// of a cluster for a filling disk would be an outage of its own), monitoring reads the list.
/// A node in the cluster's detection adds `detection`: `state` (`leading`, `warming_up`,
/// `standby`), `undelivered` and `unacknowledged` (the feed's lag) and `evaluated_through`.
async fn readyz(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    state
        .store
        .ping()
        .await
        .map_err(|error| ApiError::part_unavailable("database", error))?;
    // A failed audit log refuses every audited act (fail closed); say so before a load
    // balancer sends traffic that would only get 503s.
    state
        .audit
        .health()
        .map_err(|error| ApiError::part_unavailable("audit log", error))?;
    // A cluster node behind on the shared decisions refuses every decision (see
    // `crate::freshness`): not ready until it has caught up.
    if let Some(freshness) = &state.freshness {
        freshness
            .check()
            .map_err(|stale| ApiError::part_unavailable("cluster state", stale))?;
    }
    let signing = state
        .authority
        .keys()
        .records()
        .iter()
        .any(|key| key.state == haechi_custody::KeyState::Active);
    if !signing {
        return Err(ApiError::unavailable("no active signing key"));
    }
    let mut body = json!({ "status": "ready" });
    let warnings = state.audit.warnings();
    if !warnings.is_empty() {
        body["warnings"] = json!(warnings);
    }
    // A node taking part in the cluster's detection says whether it leads, how far the feed
    // is behind and the last position it evaluated (a standby is ready: it stands by).
    if let Some(detection) = state.detection.status.feed() {
        body["detection"] = json!(detection);
    }
    Ok(axum::Json(body))
}

async fn metrics_for_admin(state: State<AppState>, _admin: Admin) -> impl IntoResponse {
    metrics(state).await
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    metrics::gauge!("haechi_live_tokens").set(state.authority.verifier().live_token_count() as f64);
    let body = state
        .metrics
        .as_ref()
        .map(|handle| handle.render())
        .unwrap_or_default();
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        body,
    )
}
