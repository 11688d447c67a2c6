//! Auditor evidence, for administrators: the signed ISMS-P / PIPA report of a period, and the
//! monthly access review a named reviewer acknowledges.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use haechi_events::EventKind;
use haechi_evidence::review::{MonthlyReview, check_note};
use haechi_evidence::{EvidenceReport, Period, YearMonth};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{Admin, JsonBody, download_reason};
use crate::openapi::{
    BadRequest, Conflict, Forbidden, PayloadTooLarge, TooManyRequests, Unauthorized, Unavailable,
    Unprocessable, UnsupportedMediaType,
};
use crate::{ApiError, AppState, ErrorCode};

/// The header carrying the body's detached Ed25519 signature (base64) by the audit key.
pub const SIGNATURE_HEADER: &str = "x-haechi-signature";
/// The header naming the audit key that signed (`haechi audit public-key`'s key id).
pub const SIGNATURE_KEY_HEADER: &str = "x-haechi-signature-key";
/// The report page's policy: nothing loads, nothing runs; its style is inline.
const REPORT_CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'";

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(report))
        .routes(routes!(read_review, acknowledge_review))
}

/// Which report.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ReportQuery {
    /// First day, `YYYY-MM-DD` (KST).
    #[param(example = "2026-11-01")]
    from: String,
    /// Last day, `YYYY-MM-DD` (KST), inclusive; at most three years after `from`.
    #[param(example = "2026-11-30")]
    to: String,
    /// `json` (default) or `html`.
    #[param(example = "json")]
    format: Option<String>,
    /// Why the report is taken (recorded with the download; at most 200 characters).
    #[param(example = "ISMS-P renewal audit 2026")]
    reason: Option<String>,
}

/// The evidence report of a period
///
/// Gathers the facts now — principals and grants, sign-in and password settings, encryption
/// and a fresh plaintext scan of the data directory, the key register, the audit chain
/// verified, the monthly reviews, bulk reads and their reasons, alerts and drills — judges
/// each ISMS-P 2023 control (with its PIPA safeguard-standard articles) as met, partly, not
/// met or not applicable, and answers the report as JSON or as the printable HTML page. The
/// body's detached Ed25519 signature by the audit key is in `x-haechi-signature` (check it
/// against `haechi audit public-key`). The download is recorded (`admin.audit_read`, `what`
/// `evidence`, with the body's SHA-256 and the reason). One report is made at a time.
#[utoipa::path(
    get,
    path = "/v1/admin/evidence",
    tag = "evidence",
    operation_id = "evidence_report",
    security(("bearer" = ["admin"]), ("client_credentials" = ["admin"])),
    params(ReportQuery),
    responses(
        (status = 200, description = "The report; its signature in `x-haechi-signature`.",
            content(
                (EvidenceReport = "application/json"),
                (String = "text/html"),
            ),
            headers(
                ("x-haechi-signature" = String, description = "Base64 Ed25519 signature of the body by the audit key."),
                ("x-haechi-signature-key" = String, description = "The audit key's id."),
            )),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    )
)]
async fn report(
    State(state): State<AppState>,
    admin: Admin,
    query: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|rejection| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidParameter,
            rejection.body_text(),
        )
    })?;
    let now = state.authority.clock().now();
    let period = Period::parse(&query.from, &query.to)
        .and_then(|period| period.not_after(now))
        .map_err(|error| invalid(error.to_string()))?;
    let html = match query.format.as_deref() {
        None | Some("json") => false,
        Some("html") => true,
        Some(other) => return Err(invalid(format!("format {other:?}: use json or html"))),
    };
    let reason = match query.reason {
        Some(reason) => Some(download_reason(&reason)?),
        None => None,
    };
    let policy = state.vault.policy();
    let evidence = state
        .evidence
        .generate(period, admin.token.principal().to_string(), &policy, now)
        .await
        .map_err(desk_error)?;
    let (body, signature, content_type) = if html {
        (
            evidence.html,
            evidence.html_signature,
            "text/html; charset=utf-8",
        )
    } else {
        (evidence.json, evidence.json_signature, "application/json")
    };
    let mut event = admin
        .event(now, EventKind::AdminAuditRead)
        .detail("what", "evidence")
        .detail("period", format!("{}..{}", period.from(), period.to()))
        .detail("format", if html { "html" } else { "json" })
        .detail("sha256", hex::encode(Sha256::digest(&body)));
    if let Some(reason) = reason {
        event = event.reason(reason);
    }
    state
        .events
        .record(event)
        .await
        .map_err(ApiError::audit_unavailable)?;
    let key_id = haechi_audit::KeyId::of(&state.evidence.verifying_key()).to_string();
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(REPORT_CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    let signature = base64::engine::general_purpose::STANDARD.encode(signature);
    if let (Ok(signature), Ok(key_id)) = (
        HeaderValue::from_str(&signature),
        HeaderValue::from_str(&key_id),
    ) {
        headers.insert(SIGNATURE_HEADER, signature);
        headers.insert(SIGNATURE_KEY_HEADER, key_id);
    }
    Ok(response)
}

/// A month's review and its acknowledgements.
#[derive(Debug, Serialize, ToSchema)]
struct ReviewView {
    /// The summary, as the trail gives it now.
    review: MonthlyReview,
    /// Acknowledgements recorded for the month, oldest first.
    acknowledgements: Vec<AcknowledgementView>,
    /// The digest the review job recorded when the month ended (none before it ends).
    prepared_digest: Option<String>,
    /// Whether the review job recorded the review as overdue.
    overdue: bool,
}

/// A recorded acknowledgement.
#[derive(Debug, Serialize, ToSchema)]
struct AcknowledgementView {
    /// The reviewer.
    reviewer: String,
    /// When (RFC 3339, UTC).
    at: String,
    /// The digest of the summary acknowledged.
    digest: String,
    /// Whether it is the summary the trail gives now.
    digest_matches: bool,
    /// The reviewer's note.
    note: String,
}

/// A month's access review
///
/// The summary of a month (KST) from the trail: accesses per principal, refused accesses,
/// alerts by rule, bulk reads with how many of their accesses carried no purpose, and the
/// summary's digest, which an acknowledgement names.
#[utoipa::path(
    get,
    path = "/v1/admin/evidence/reviews/{month}",
    tag = "evidence",
    operation_id = "read_access_review",
    security(("bearer" = ["admin"]), ("client_credentials" = ["admin"])),
    params(("month" = String, Path, description = "`YYYY-MM`.", example = "2026-11")),
    responses(
        (status = 200, description = "The month's review.", body = ReviewView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    )
)]
async fn read_review(
    State(state): State<AppState>,
    admin: Admin,
    month: Result<Path<String>, PathRejection>,
) -> Result<axum::Json<ReviewView>, ApiError> {
    let month = parse_month(month)?;
    let now = state.authority.clock().now();
    let found = state
        .evidence
        .review(month, now)
        .await
        .map_err(desk_error)?;
    // The review reads the trail's content: on the record like any other read of it.
    state
        .events
        .record(
            admin
                .event(now, EventKind::AdminAuditRead)
                .detail("what", "review")
                .detail("month", month.to_string())
                // Reading the review is the review itself: that is its reason.
                .reason(format!("the monthly review of {month}")),
        )
        .await
        .map_err(ApiError::audit_unavailable)?;
    let review = found.review;
    let acknowledgements = found
        .acknowledgements
        .into_iter()
        .map(|ack| AcknowledgementView {
            digest_matches: ack.digest == review.digest,
            reviewer: ack.reviewer,
            at: ack.at.to_rfc3339(),
            digest: ack.digest,
            note: ack.note,
        })
        .collect();
    Ok(axum::Json(ReviewView {
        prepared_digest: found.prepared,
        overdue: found.overdue,
        review,
        acknowledgements,
    }))
}

/// An acknowledgement of a month's review.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"digest": "3f1c…(the review's digest)", "note": "Bulk reads of 11-03 were the shipping label run (ticket OPS-4411)."}))]
struct AcknowledgeRequest {
    /// The digest of the summary reviewed (from `GET …/reviews/{month}`).
    digest: String,
    /// What the reviewer concluded (at most 500 characters; no personal data).
    #[serde(default)]
    note: String,
}

/// Acknowledge a month's access review
///
/// Records that the calling administrator reviewed the month's summary with exactly this
/// digest (`audit.review_acknowledged`, with the month, digest and note). A month that is not
/// over, or a digest that is not the summary's now, is refused with 409: review what the trail
/// holds, not a page that has gone stale.
#[utoipa::path(
    post,
    path = "/v1/admin/evidence/reviews/{month}",
    tag = "evidence",
    operation_id = "acknowledge_access_review",
    security(("bearer" = ["admin"]), ("client_credentials" = ["admin"])),
    params(("month" = String, Path, description = "`YYYY-MM`.", example = "2026-11")),
    request_body = AcknowledgeRequest,
    responses(
        (status = 201, description = "Recorded.", body = AcknowledgementView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = Unprocessable),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    )
)]
async fn acknowledge_review(
    State(state): State<AppState>,
    admin: Admin,
    month: Result<Path<String>, PathRejection>,
    JsonBody(request): JsonBody<AcknowledgeRequest>,
) -> Result<(StatusCode, axum::Json<AcknowledgementView>), ApiError> {
    let month = parse_month(month)?;
    check_note(&request.note).map_err(ApiError::unprocessable)?;
    let now = state.authority.clock().now();
    let review = state
        .evidence
        .review(month, now)
        .await
        .map_err(desk_error)?
        .review;
    if !review.closed {
        return Err(ApiError::conflict(format!(
            "{month} is not over yet: its review is due once it ends"
        )));
    }
    if request.digest != review.digest {
        return Err(ApiError::conflict(
            "the digest is not the month's summary as the trail gives it now: read the review \
             again and acknowledge what it shows",
        ));
    }
    let reviewer = admin.token.principal().to_string();
    let event = admin
        .event(now, EventKind::AccessReviewAcknowledged)
        .detail("month", month.to_string())
        .detail("digest", review.digest.clone())
        .detail("note", request.note.clone());
    state
        .events
        .record(event)
        .await
        .map_err(ApiError::audit_unavailable)?;
    Ok((
        StatusCode::CREATED,
        axum::Json(AcknowledgementView {
            reviewer,
            at: now.to_rfc3339(),
            digest: review.digest,
            digest_matches: true,
            note: request.note,
        }),
    ))
}

fn parse_month(month: Result<Path<String>, PathRejection>) -> Result<YearMonth, ApiError> {
    let Path(month) =
        month.map_err(|_| ApiError::bad_request("the path is not valid UTF-8 text"))?;
    month
        .parse::<YearMonth>()
        .map_err(|error| invalid(error.to_string()))
}

/// One gathering at a time: a second meanwhile is told to come back; anything else is a
/// source that could not be read (logged, not shown).
fn desk_error(error: haechi_evidence::Error) -> ApiError {
    match error {
        haechi_evidence::Error::Busy => ApiError::too_many(error.to_string(), 5),
        other => ApiError::part_unavailable("the evidence sources", other),
    }
}

fn invalid(message: String) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        ErrorCode::InvalidParameter,
        message,
    )
}
