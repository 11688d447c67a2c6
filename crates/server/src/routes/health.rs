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
use haechi_respond::FeedStatus;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::Admin;
use crate::openapi::{Forbidden, Unauthorized, Unavailable};
use crate::{ApiError, AppState};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics_for_admin))
}

/// `/metrics` alone, without authentication: for a listener of its own that only the
/// monitoring network reaches.
pub(crate) fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .fallback(|| async { ApiError::not_found("only /metrics is served here") })
        .with_state(state)
}

/// The answer of `/healthz`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"status": "ok"}))]
struct Health {
    /// Always `ok`: the process answers.
    status: &'static str,
}

/// Liveness: the process answers
///
/// Says nothing about the database or the audit trail (`/readyz` does).
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    operation_id = "healthz",
    security(()),
    responses((status = 200, description = "The process answers.", body = Health))
)]
async fn healthz() -> axum::Json<Health> {
    axum::Json(Health { status: "ok" })
}

/// The answer of `/readyz` when the node is ready (members in the order the API has always
/// written them).
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"status": "ready"}))]
struct Readiness {
    /// On a node in the cluster's detection: whether it leads, the feed's lag and the last
    /// position it evaluated.
    #[serde(skip_serializing_if = "Option::is_none")]
    detection: Option<FeedStatus>,
    /// Always `ready`.
    status: &'static str,
    /// Conditions an operator must act on before they stop the node (the audit volume below
    /// its headroom, the audit witness not taking checkpoints); absent when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
}

/// Readiness: database, audit trail, cluster state and a signing key
///
/// Ready when the database answers, the audit log accepts records (on a cluster: and its
/// stream acknowledges them), the node's view of the cluster's shared decisions is fresh, a
/// key can sign and, with the master key in an HSM, the HSM answers.
///
/// Conditions that do not stop the node but that an operator must act on before they do — the
/// audit volume below its free-space headroom, the audit witness not taking checkpoints, an
/// HSM holding the signing keys that does not answer (logins fail; tokens verify) — are
/// listed under `warnings` with status 200: a load balancer keeps the node (pulling every node
/// of a cluster for a filling disk would be an outage of its own), monitoring reads the list.
/// A node in the cluster's detection adds `detection`: `state` (`leading`, `warming_up`,
/// `standby`), `undelivered` and `unacknowledged` (the feed's lag) and `evaluated_through`.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    operation_id = "readyz",
    security(()),
    responses(
        (status = 200, description = "Ready.", body = Readiness),
        (status = 503, response = Unavailable),
    )
)]
async fn readyz(State(state): State<AppState>) -> Result<axum::Json<Readiness>, ApiError> {
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
    // The master key in an HSM that is away: nothing is unwrapped, so no record is read or
    // written — not ready. (The custody watch keeps the HSM's state; nothing here waits on it.)
    if let Some(outage) = state
        .authority
        .keys()
        .master_key_token()
        .and_then(|token| token.outage())
    {
        return Err(ApiError::part_unavailable("key custody", outage));
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
    let mut warnings = state.audit.warnings();
    // Signing keys in an HSM that is away: no token is issued (logins answer 503), but every
    // token issued verifies — still ready, since taking every node out (they share the HSM)
    // would stop verification too. The critical alert is the custody watch's.
    if let Some(token) = state.authority.keys().custody_token()
        && token.outage().is_some()
    {
        warnings.push(format!(
            "key custody unavailable: the HSM {:?} does not answer, so no token can be issued",
            token.label()
        ));
    }
    Ok(axum::Json(Readiness {
        // A node taking part in the cluster's detection says whether it leads, how far the
        // feed is behind and the last position it evaluated (a standby is ready: it stands
        // by).
        detection: state.detection.status.feed(),
        status: "ready",
        warnings,
    }))
}

/// Metrics in the Prometheus text format, for administrators
///
/// On the API's address `/metrics` needs an administrator's token: it tells whoever reads it
/// how many logins fail and which routes are refused. A scraper gets `[server]
/// metrics_listen`, a listener of its own serving `/metrics` without authentication.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "health",
    operation_id = "metrics",
    security(("bearer" = ["admin"]), ("client_credentials" = ["admin"])),
    responses(
        (
            status = 200,
            description = "Prometheus text exposition format 0.0.4.",
            body = String,
            content_type = "text/plain; version=0.0.4",
            example = "# TYPE haechi_live_tokens gauge\nhaechi_live_tokens 3\n"
        ),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    )
)]
async fn metrics_for_admin(state: State<AppState>, _admin: Admin) -> impl IntoResponse {
    metrics(state).await
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    metrics::gauge!("haechi_live_tokens").set(state.authority.verifier().live_token_count() as f64);
    if let Some(cache) = state.vault.record_cache() {
        let stats = cache.stats();
        metrics::gauge!("haechi_record_cache_hits").set(stats.hits as f64);
        metrics::gauge!("haechi_record_cache_misses").set(stats.misses as f64);
        metrics::gauge!("haechi_record_cache_forgotten").set(stats.forgotten as f64);
        metrics::gauge!("haechi_record_cache_bytes").set(cache.held_bytes() as f64);
    }
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
