//! The exposure check: `GET /v1/exposure/range/{prefix}` in the format of the Have I Been Pwned
//! range API, so existing HIBP clients query it by changing their base URL. Opt-in
//! (`[exposure] dangerous_public_sha1_ranges`): what it serves is invertible for phone
//! numbers; `exposure_check.rs` is the check that publishes nothing.
//!
//! Anonymous by design: a person checks whether their e-mail or phone was exposed by sending
//! five hex digits of its SHA-1, never the identifier. Nothing about the request is logged or
//! audited beyond the route's request counter (which carries the route template, not the
//! prefix). Each source address (IPv6 by /64) gets a token bucket of
//! [`REQUESTS_PER_SECOND`] with bursts of [`BURST`]; answers carry an `ETag` (a matching
//! `If-None-Match` gets 304) and `Cache-Control`, and are cached in memory for
//! [`CACHE_TTL`] so a panic's repeated queries do not reach the database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Extension;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use haechi_leak::exposure::{Padding, RangePrefix, entity_tag, render_range};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::Caller;
use crate::openapi::{BadRequest, NotFound, TooManyRequests};
use crate::source_limit::SourceLimiter;
use crate::{ApiError, AppState};

/// Sustained requests per second one source may make.
pub const REQUESTS_PER_SECOND: f64 = 20.0;
/// Requests one source may make at once before the sustained rate applies.
pub const BURST: f64 = 100.0;
/// How long a rendered range is served from memory.
pub const CACHE_TTL: Duration = Duration::from_secs(10);
/// What clients and proxies may cache, and for how long.
const CACHE_CONTROL: &str = "public, max-age=300";
/// Most ranges held in memory; past it the cache starts over.
const CACHE_ENTRIES: usize = 65_536;
/// Most sources tracked by the rate limiter before idle ones are forgotten.
const TRACKED_SOURCES: usize = 100_000;
/// Shards of the cache, so concurrent requests rarely share a lock.
const SHARDS: usize = 16;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(range))
        .layer(Extension(Arc::new(Exposure::default())))
}

#[derive(Debug)]
struct Exposure {
    limiter: SourceLimiter,
    cache: Vec<Mutex<HashMap<(u32, Padding), Cached>>>,
}

impl Default for Exposure {
    fn default() -> Self {
        Exposure {
            limiter: SourceLimiter::new(REQUESTS_PER_SECOND, BURST, TRACKED_SOURCES),
            cache: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }
}

#[derive(Debug, Clone)]
struct Cached {
    body: axum::body::Bytes,
    etag: HeaderValue,
    loaded: Instant,
}

impl Exposure {
    fn cached(&self, key: (u32, Padding), now: Instant) -> Option<Cached> {
        let shard = self.cache[key.0 as usize % SHARDS]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        shard
            .get(&key)
            .filter(|cached| now.duration_since(cached.loaded) < CACHE_TTL)
            .cloned()
    }

    fn remember(&self, key: (u32, Padding), cached: Cached) {
        let mut shard = self.cache[key.0 as usize % SHARDS]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if shard.len() >= CACHE_ENTRIES / SHARDS {
            shard.clear();
        }
        shard.insert(key, cached);
    }
}

/// The exposure check: hash suffixes of exposed identifiers under a prefix
///
/// The Have I Been Pwned range format: give the first five hex digits of the SHA-1 of a
/// normalised e-mail or phone, get every exposed suffix under it (`SUFFIX:COUNT` lines), and
/// look for yours — the identifier itself is never sent. Anonymous; rate-limited per source
/// (IPv6 by /64). `Add-Padding: true` pads the answer with zero-count lines so its size says
/// nothing. Off unless `[exposure] dangerous_public_sha1_ranges = true` (404 otherwise): for
/// phone numbers (10^8 candidates) the ranges publish the exposed list; `POST
/// /v1/exposure/check` answers without publishing anything.
#[utoipa::path(
    get,
    path = "/v1/exposure/range/{prefix}",
    tag = "exposure",
    operation_id = "exposure_range",
    security(()),
    params(
        ("prefix" = String, Path, description = "Five hex digits of a SHA-1.", example = "21BD1", pattern = "^[0-9A-Fa-f]{5}$"),
        ("add-padding" = Option<String>, Header, description = "`true` pads the answer (as HIBP does)."),
        ("if-none-match" = Option<String>, Header, description = "An entity tag from an earlier answer."),
    ),
    responses(
        (
            status = 200,
            description = "`SUFFIX:COUNT` lines (35 hex digits of the hash's rest, upper case).",
            body = String,
            content_type = "text/plain; charset=utf-8",
            headers(
                ("etag" = String, description = "The answer's entity tag."),
                ("cache-control" = String, description = "`public, max-age=300`"),
                ("vary" = String, description = "`Add-Padding`"),
            ),
            example = json!("0018A45C4D1DEF81644B54AB7F969B88D65:1\r\n00D4F6E8FA6EECAD2A3AA415EEC418D38EC:2")
        ),
        (
            status = 304,
            description = "Not modified: `If-None-Match` named this answer's tag.",
            headers(
                ("etag" = String, description = "The answer's entity tag."),
                ("cache-control" = String, description = "`public, max-age=300`"),
                ("vary" = String, description = "`Add-Padding`"),
            )
        ),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 429, response = TooManyRequests),
    )
)]
async fn range(
    State(state): State<AppState>,
    Extension(exposure): Extension<Arc<Exposure>>,
    Caller(context): Caller,
    prefix: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if !state.settings.dangerous_public_sha1_ranges {
        return Err(ApiError::not_found(
            "the SHA-1 range API is off: its ranges would publish every exposed phone number \
             (there are only 10^8 to try); use POST /v1/exposure/check, or turn the ranges on \
             with [exposure] dangerous_public_sha1_ranges = true",
        ));
    }
    let now = Instant::now();
    if let Err(retry_after) = exposure.limiter.admit(context.ip, now) {
        return Err(ApiError::too_many(
            "too many exposure checks from this address; slow down",
            retry_after,
        ));
    }
    let Ok(Path(prefix)) = prefix else {
        return Err(ApiError::bad_request(
            haechi_leak::Error::BadRangePrefix.to_string(),
        ));
    };
    let prefix =
        RangePrefix::parse(&prefix).map_err(|error| ApiError::bad_request(error.to_string()))?;
    let padding = match headers.get("add-padding").and_then(|v| v.to_str().ok()) {
        Some(value) if value.trim().eq_ignore_ascii_case("true") => Padding::Padded,
        _ => Padding::Unpadded,
    };
    let key = (prefix.value(), padding);
    let cached = match exposure.cached(key, now) {
        Some(cached) => cached,
        None => {
            let rows = state
                .store
                .exposure_range(prefix)
                .await
                .map_err(|error| ApiError::part_unavailable("exposure store", error))?;
            let body = render_range(prefix, &rows, padding);
            let etag = HeaderValue::from_str(&entity_tag(&body)).map_err(ApiError::internal)?;
            let cached = Cached {
                body: body.into(),
                etag,
                loaded: now,
            };
            exposure.remember(key, cached.clone());
            cached
        }
    };
    let common = [
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static(CACHE_CONTROL),
        ),
        (header::VARY, HeaderValue::from_static("Add-Padding")),
        (header::ETAG, cached.etag.clone()),
    ];
    if not_modified(&headers, &cached.etag) {
        return Ok((StatusCode::NOT_MODIFIED, common).into_response());
    }
    Ok((
        StatusCode::OK,
        common,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        cached.body,
    )
        .into_response())
}

/// Whether `If-None-Match` lists `etag` (weak comparison, as RFC 9110 asks for it) or `*`.
fn not_modified(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let Ok(ours) = etag.to_str() else {
        return false;
    };
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == "*" || tag == ours)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_lists() {
        let etag = HeaderValue::from_static("\"ABC\"");
        let mut headers = HeaderMap::new();
        headers.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"X\", W/\"ABC\""),
        );
        assert!(not_modified(&headers, &etag));
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"X\""));
        assert!(!not_modified(&headers, &etag));
    }
}
