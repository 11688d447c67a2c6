//! Layers every request passes through: request ids, size limits, panic containment, metrics.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};

use crate::{ApiError, AppState};

/// Applies the common layers to `router`.
pub(crate) fn apply(router: Router, state: &AppState) -> Router {
    {
        let header_limit = state.settings.max_header_bytes;
        router
            .layer(DefaultBodyLimit::max(state.settings.max_body_bytes))
            .layer(middleware::from_fn(record_metrics))
            .layer(middleware::from_fn(move |request: Request, next: Next| {
                limit_headers(request, next, header_limit)
            }))
            .layer(CatchPanicLayer::custom(
                |_panic: Box<dyn std::any::Any + Send>| {
                    tracing::error!("a request handler panicked");
                    ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "internal",
                        "internal error",
                    )
                    .into_response()
                },
            ))
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(SetRequestIdLayer::x_request_id(SequentialRequestId::new()))
    }
}

/// Request ids: a random per-process prefix and a counter, so ids are unique across restarts
/// without a UUID dependency. A client-supplied `x-request-id` is kept.
#[derive(Debug, Clone)]
struct SequentialRequestId {
    prefix: std::sync::Arc<str>,
    counter: std::sync::Arc<AtomicU64>,
}

impl SequentialRequestId {
    fn new() -> Self {
        use haechi_custody::SecureRandom as _;
        let bytes = haechi_custody::OsRandom.bytes16();
        let prefix: String = bytes[..6].iter().map(|b| format!("{b:02x}")).collect();
        SequentialRequestId {
            prefix: prefix.into(),
            counter: std::sync::Arc::new(AtomicU64::new(1)),
        }
    }
}

impl MakeRequestId for SequentialRequestId {
    fn make_request_id<B>(&mut self, _request: &http::Request<B>) -> Option<RequestId> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{}-{n}", self.prefix))
            .ok()
            .map(RequestId::new)
    }
}

async fn limit_headers(request: Request, next: Next, max_bytes: usize) -> Response {
    let total: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if total > max_bytes {
        return ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!("request headers exceed {max_bytes} bytes"),
        )
        .into_response();
    }
    next.run(request).await
}

async fn record_metrics(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    // Known methods only: any other token would be a new label series per distinct method an
    // outsider sends, kept for the life of the process.
    let method = match *request.method() {
        http::Method::GET => "GET",
        http::Method::POST => "POST",
        http::Method::PUT => "PUT",
        http::Method::PATCH => "PATCH",
        http::Method::DELETE => "DELETE",
        http::Method::HEAD => "HEAD",
        http::Method::OPTIONS => "OPTIONS",
        _ => "other",
    };
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("haechi_http_requests_total", "route" => route.clone(), "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!("haechi_http_request_duration_seconds", "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}
