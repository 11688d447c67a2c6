//! Layers every request passes through: request ids, size limits, panic containment, metrics.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};

use crate::{ApiError, AppState, ErrorCode};

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
                        ErrorCode::Internal,
                        "internal error",
                    )
                    .into_response()
                },
            ))
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(SetRequestIdLayer::x_request_id(SequentialRequestId::new()))
            .layer(middleware::from_fn(drop_unsafe_request_id))
    }
}

/// The longest client-supplied request id that is kept.
const MAX_REQUEST_ID_CHARS: usize = 128;

/// A client's `x-request-id` lands in every audit record of the request and in the logs, so
/// only a short id of a safe alphabet is kept (letters, digits, `-`, `_`, `.`, `:`); anything
/// else is removed and a fresh id is issued in its place. Without this, any client could write
/// kilobytes of its own text into the durable record on every request.
async fn drop_unsafe_request_id(mut request: Request, next: Next) -> Response {
    let unsafe_ids = request.headers().get_all("x-request-id").iter().count() > 1
        || request
            .headers()
            .get("x-request-id")
            .is_some_and(|value| !is_safe_request_id(value.as_bytes()));
    if unsafe_ids {
        request.headers_mut().remove("x-request-id");
    }
    next.run(request).await
}

fn is_safe_request_id(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID_CHARS
        && id
            .iter()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b':'))
}

/// Request ids: a random per-process prefix and a counter, so ids are unique across restarts
/// without a UUID dependency. A client-supplied `x-request-id` is kept if it is safe
/// (see [`drop_unsafe_request_id`]).
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
            ErrorCode::HeadersTooLarge,
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
    // Known methods only: a label per arbitrary extension method would let any client grow
    // the metrics registry without bound.
    let method = match *request.method() {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
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

#[cfg(test)]
mod tests {
    use super::is_safe_request_id;

    #[test]
    fn only_short_ids_of_a_safe_alphabet_are_kept() {
        for (id, kept) in [
            ("trace-7f3a_01.2:9", true),
            ("", false),
            ("with space", false),
            ("new\nline", false),
            ("{\"json\":1}", false),
            ("한글", false),
        ] {
            assert_eq!(is_safe_request_id(id.as_bytes()), kept, "{id:?}");
        }
        assert!(is_safe_request_id("a".repeat(128).as_bytes()));
        assert!(!is_safe_request_id("a".repeat(129).as_bytes()));
    }
}
