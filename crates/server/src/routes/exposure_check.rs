//! `POST /v1/exposure/check`: the anonymous exposure check that publishes nothing (an
//! oblivious PRF, RFC 9497; see `haechi_leak::private_check` and docs/exposure-check.md).
//!
//! The request carries a blinded element and 16 bits of the identifier's hash; neither is
//! logged nor recorded, and the answer is computed from memory (no database on the path).
//! Every guess costs an evaluation here, so evaluations are budgeted (`[exposure]`, see
//! [`crate::state::CheckBudget`]): per source (IPv6 by /64) and for all sources together. Refusals are
//! recorded through the refusal gate, which bounds how many a source can write, and the
//! built-in rules raise an alert on the volume an enumeration makes.

use std::sync::Arc;
use std::time::Instant;

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use haechi_events::{Decision, EventKind, Principal, SecurityEvent};
use haechi_leak::private_check::{Bucket, ELEMENT_BYTES, SUITE, TAG_BYTES};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{Caller, JsonBody};
use crate::openapi::{
    BadRequest, PayloadTooLarge, TooManyRequests, Unprocessable, UnsupportedMediaType,
};
use crate::state::CheckBudgets;
use crate::{ApiError, AppState};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(check))
}

/// The budgets the check draws on, as configured (`[exposure]`).
pub(super) fn budgets(state: &AppState) -> Extension<Arc<CheckBudgets>> {
    Extension(Arc::clone(state.check_budgets()))
}

/// A blinded check.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"bucket": "3f2a", "blinded": "4vKuCmq8TnGohKlhxQBRX1jjC2qlgt2NtqZZReCNLXY"}))]
pub(crate) struct CheckRequest {
    /// The first 16 bits of the identifier's SHA-1 (normalised as Haechi does), as 4 hex
    /// digits: which bucket's tags to return.
    #[schema(example = "3f2a")]
    bucket: String,
    /// The blinded element (RFC 9497 `Blind` of the 20-byte SHA-1, suite ristretto255-SHA512):
    /// 32 bytes, base64url without padding.
    #[schema(example = "4vKuCmq8TnGohKlhxQBRX1jjC2qlgt2NtqZZReCNLXY")]
    blinded: String,
}

/// The evaluated element and the bucket's exposed entries, as PRF tags.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CheckResponse {
    /// The ciphersuite (`ristretto255-SHA512`).
    suite: &'static str,
    /// The name of the key the element was evaluated under and the tags computed with.
    key_id: String,
    /// RFC 9497 `BlindEvaluate` of the blinded element, base64url without padding.
    evaluated: String,
    /// How many bytes of a finalised output a tag keeps.
    tag_bytes: usize,
    /// The tags of every exposed identifier in the bucket (the first `tag_bytes` of its PRF
    /// output), base64url without padding, sorted. The identifier was exposed if its own
    /// finalised output's tag is among them.
    tags: Vec<String>,
}

/// The anonymous exposure check that publishes nothing
///
/// Was this e-mail or phone exposed? Without telling anyone which: the client hashes the
/// normalised identifier (SHA-1, as the exposure ranges do), blinds the hash with an oblivious
/// PRF (RFC 9497, OPRF mode, ristretto255-SHA512) and sends the blinded element with the
/// hash's first 16 bits. The answer is the element evaluated under Haechi's key and the PRF
/// tags of the bucket's exposed identifiers; the client unblinds, finalises and looks for its
/// own tag. Haechi never sees the identifier or its hash, and the tags cannot be tested
/// offline. Anonymous; each source (IPv6 by /64) has a budget of evaluations, and all sources
/// together one more.
#[utoipa::path(
    post,
    path = "/v1/exposure/check",
    tag = "exposure",
    operation_id = "exposure_check",
    security(()),
    request_body = CheckRequest,
    responses(
        (status = 200, description = "The evaluated element and the bucket's tags.", body = CheckResponse),
        (status = 400, response = BadRequest),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = Unprocessable),
        (status = 429, response = TooManyRequests),
    )
)]
async fn check(
    State(state): State<AppState>,
    Extension(budgets): Extension<Arc<CheckBudgets>>,
    Caller(context): Caller,
    JsonBody(request): JsonBody<CheckRequest>,
) -> Result<impl IntoResponse, ApiError> {
    // A malformed request is refused before it spends anyone's budget. (Whether 32 bytes are a
    // point on the curve is only known by decoding it, which is part of the evaluation.)
    let bucket =
        Bucket::parse(&request.bucket).map_err(|error| ApiError::bad_request(error.to_string()))?;
    let blinded = URL_SAFE_NO_PAD
        .decode(request.blinded.as_bytes())
        .ok()
        .filter(|bytes| bytes.len() == ELEMENT_BYTES)
        .ok_or_else(|| {
            ApiError::bad_request("blinded must be base64url without padding (32 bytes)")
        })?;
    let now = Instant::now();
    let refused = match budgets.per_source.admit(context.ip, now) {
        Err(retry) => Some(("source_budget", retry)),
        Ok(()) => budgets.global.admit(now).err().map(|retry| {
            // Refused for everyone's budget, not the source's own: its token is given back.
            budgets.per_source.refund(context.ip);
            (haechi_events::SHARED_BUDGET_SPENT, retry)
        }),
    };
    if let Some((reason, retry_after)) = refused {
        let event = SecurityEvent::new(
            state.authority.clock().now(),
            EventKind::ExposureCheckRefused,
            Principal::Anonymous,
        )
        .ip(context.ip)
        .outcome(Decision::Deny, 429)
        .reason(reason);
        // The refusal gate bounds what one source writes; a refusal unrecorded still refuses.
        if let Err(error) = state.events.record(event).await {
            tracing::warn!(%error, "an exposure check refusal was not recorded");
        }
        return Err(ApiError::too_many(
            "too many exposure checks; try again later",
            retry_after,
        ));
    }
    let answer = state
        .exposure_check
        .answer(bucket, &blinded)
        .map_err(|error| ApiError::bad_request(error.to_string()))?;
    let body = CheckResponse {
        suite: SUITE,
        key_id: answer.key_id,
        evaluated: URL_SAFE_NO_PAD.encode(answer.evaluated),
        tag_bytes: TAG_BYTES,
        tags: answer
            .tags
            .iter()
            .map(|tag| URL_SAFE_NO_PAD.encode(tag.as_bytes()))
            .collect(),
    };
    Ok((
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        axum::Json(body),
    ))
}
