//! `POST /v1/notices/verify`: "is this message from us?" for anyone holding a text that
//! claims to be the company's (see `crate::notices` and docs/notices.md). The portal's page
//! `/portal/verify` answers the same question for people.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use haechi_events::{Decision, EventKind, Principal, RequestContext, SecurityEvent};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{Caller, JsonBody};
use crate::notices::{MAX_TEXT_CHARS, Verification};
use crate::openapi::{
    BadRequest, PayloadTooLarge, TooManyRequests, Unprocessable, UnsupportedMediaType,
};
use crate::{ApiError, AppState};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(verify))
}

/// A pasted message.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"text": "[Web발신]\n[해치몰] 개인정보 노출 안내 HC-7K2M-9QXD 확인: https://portal.haechi-mall.co.kr"}))]
pub(crate) struct VerifyRequest {
    /// The message as received: SMS prefixes, line breaks and spacing are tolerated. At most
    /// 8,000 characters.
    text: String,
}

/// Is this message from us?
///
/// Checks a pasted text message or e-mail: **genuine** (a code on it was made by the notice
/// key for exactly this text, after formatting damage; the notice is shown as sent),
/// **altered** (a real code on a changed text), or **not ours** (no code, or an unknown one),
/// with the reasons a person understands (links to other or look-alike domains, requests for a
/// password, card number or app install, callback numbers not the company's, lures).
/// Anonymous; budgeted per source (IPv6 by /64) and for all sources together; each check is
/// recorded (`notice.verified`), never its text.
#[utoipa::path(
    post,
    path = "/v1/notices/verify",
    tag = "notices",
    operation_id = "notice_verify",
    security(()),
    request_body = VerifyRequest,
    responses(
        (status = 200, description = "The verdict and its reasons.", body = Verification),
        (status = 400, response = BadRequest),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = Unprocessable),
        (status = 429, response = TooManyRequests),
    )
)]
async fn verify(
    State(state): State<AppState>,
    Caller(context): Caller,
    JsonBody(request): JsonBody<VerifyRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let verification = check(&state, &context, &request.text).await?;
    Ok((
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        axum::Json(verification),
    ))
}

/// Admits, checks and records one check (the API's and the page's).
pub(crate) async fn check(
    state: &AppState,
    context: &RequestContext,
    text: &str,
) -> Result<Verification, ApiError> {
    if let Err((reason, retry_after)) = state.notices.admit(context.ip) {
        let event = SecurityEvent::new(
            state.authority.clock().now(),
            EventKind::NoticeVerified,
            Principal::Anonymous,
        )
        .ip(context.ip)
        .outcome(Decision::Deny, 429)
        .reason(reason);
        // The refusal gate bounds what one source writes; a refusal unrecorded still refuses.
        if let Err(error) = state.events.record(event).await {
            tracing::warn!(%error, "a notice check refusal was not recorded");
        }
        return Err(ApiError::too_many(
            "too many message checks; try again later",
            retry_after,
        ));
    }
    if text.trim().is_empty() {
        return Err(ApiError::bad_request("text is empty: paste the message"));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(ApiError::bad_request(format!(
            "text is longer than {MAX_TEXT_CHARS} characters: paste one message"
        )));
    }
    let verification = state
        .notices
        .verify(state.store.as_ref(), text)
        .await
        .map_err(|error| {
            tracing::error!(%error, "notice check: the outbox could not be read");
            ApiError::unavailable("the message check is unavailable; try again shortly")
        })?;
    let event = SecurityEvent::new(
        state.authority.clock().now(),
        EventKind::NoticeVerified,
        Principal::Anonymous,
    )
    .ip(context.ip)
    .request_id(context.request_id.as_deref())
    .outcome(Decision::Allow, 200)
    .reason(verification.code_check.clone());
    state
        .events
        .record(event)
        .await
        .map_err(|_| ApiError::unavailable("the audit trail is unavailable; try again shortly"))?;
    Ok(verification)
}
