//! The request path's side of the cluster's consistency promise: a node that cannot confirm
//! it has seen every shared decision (revocations, blocks, suspensions, key states, policy)
//! within the bound refuses to decide anything until it can (see `haechi-cluster`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::{ApiError, AppState};

/// Second (since the epoch) of the last "stale" log line: one a second is enough to explain a
/// burst of 503s.
static LAST_LOGGED: AtomicU64 = AtomicU64::new(0);

/// Middleware: on a cluster node whose memory is not confirmed fresh, every request but
/// liveness and readiness gets 503 `{"error":"unavailable"}` — a revocation it may not know of
/// must not be answered by accepting the revoked token. The reason goes to the log, not the
/// body. A single node (no follower) never refuses here.
pub(crate) async fn refuse_when_stale(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(freshness) = &state.freshness else {
        return next.run(request).await;
    };
    if let Err(stale) = freshness.check() {
        let path = request.uri().path();
        // Probes must still answer: /readyz says "not ready" itself, /healthz that the
        // process lives.
        if path != "/healthz" && path != "/readyz" {
            metrics::counter!("haechi_stale_refusals_total").increment(1);
            let second = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|since| since.as_secs())
                .unwrap_or(0);
            if LAST_LOGGED.swap(second, Ordering::Relaxed) != second {
                tracing::warn!(
                    %stale,
                    bound = ?freshness.bound(),
                    "refusing requests: this node cannot confirm the cluster's latest decisions"
                );
            }
            // Transient: a second is about how long a node takes to confirm again (or to
            // be taken out of the balancer's rotation by /readyz).
            return ApiError::unavailable(
                "this node cannot confirm the cluster's latest decisions right now; retry, or \
                 use another node",
            )
            .with_retry_after(1)
            .into_response();
        }
    }
    next.run(request).await
}
