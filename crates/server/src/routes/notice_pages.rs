//! `/portal/verify`: "Is this message from us?" for people — a form to paste a message into,
//! answered with the verdict and its reasons in the page's language, without JavaScript. The
//! same check as `POST /v1/notices/verify`, with the same budget and record.

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use haechi_portal::{Lang, VerifyPage, VerifyResult};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::notices::check;
use super::portal_pages::{
    LangQuery, cross_site, html, render_failed, same_origin, secure_headers,
};
use crate::AppState;
use crate::extract::Caller;
use crate::notices::{MAX_TEXT_CHARS, Verdict, Verification};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(verify_form, verify_post))
        .layer(axum::middleware::map_response(secure_headers))
}

/// The form's field.
#[derive(Deserialize, ToSchema)]
pub(crate) struct VerifyForm {
    /// The message as received.
    text: String,
}

/// Is this message from us? (the form)
///
/// A form to paste a text message or e-mail into; posting it answers on the same page.
#[utoipa::path(
    get,
    path = "/portal/verify",
    tag = "portal",
    operation_id = "portal_verify_form",
    security(()),
    params(LangQuery),
    responses((status = 200, description = "The form.", content_type = "text/html", body = String))
)]
async fn verify_form(State(state): State<AppState>, Query(query): Query<LangQuery>) -> Response {
    page(&state, query.lang(), StatusCode::OK, &VerifyPage::default())
}

/// Is this message from us? (the answer)
///
/// The verdict — genuine (with the notice as sent), altered, or not ours — and why, in the
/// page's language. The same check, budget and record as `POST /v1/notices/verify`; 400 for an
/// empty or over-long text, 429 with `Retry-After` past the budget, 403 for a post from
/// another site's page.
#[utoipa::path(
    post,
    path = "/portal/verify",
    tag = "portal",
    operation_id = "portal_verify",
    security(()),
    params(LangQuery),
    request_body(content = VerifyForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The verdict.", content_type = "text/html", body = String),
        (status = 400, description = "No text, or too long: the form saying so.", content_type = "text/html", body = String),
        (status = 403, description = "Posted from another site.", content_type = "text/html", body = String),
        (status = 429, description = "Too many checks: the form saying so.", content_type = "text/html", body = String),
        (status = 503, description = "The check is unavailable.", content_type = "text/html", body = String),
    )
)]
async fn verify_post(
    State(state): State<AppState>,
    Query(query): Query<LangQuery>,
    request: HeaderMap,
    Caller(context): Caller,
    form: Result<Form<VerifyForm>, FormRejection>,
) -> Response {
    let lang = query.lang();
    if !same_origin(&request) {
        return cross_site(&state, lang);
    }
    let Ok(Form(form)) = form else {
        let problem = words(
            lang,
            "붙여 넣은 메시지를 읽을 수 없습니다.",
            "The message could not be read.",
        );
        return page(
            &state,
            lang,
            StatusCode::BAD_REQUEST,
            &problem_page(String::new(), problem),
        );
    };
    // The form shows the text again: cut to what the check reads.
    let shown: String = form.text.chars().take(MAX_TEXT_CHARS).collect();
    match check(&state, &context, &form.text).await {
        Ok(verification) => page(
            &state,
            lang,
            StatusCode::OK,
            &VerifyPage {
                text: shown,
                problem: None,
                result: Some(result(lang, verification)),
            },
        ),
        Err(error) => {
            let (status, problem) = match error.status() {
                StatusCode::TOO_MANY_REQUESTS => (
                    StatusCode::TOO_MANY_REQUESTS,
                    words(
                        lang,
                        "확인 요청이 너무 많습니다. 잠시 후 다시 시도해 주세요.",
                        "Too many checks. Please try again in a little while.",
                    ),
                ),
                StatusCode::BAD_REQUEST => (
                    StatusCode::BAD_REQUEST,
                    words(
                        lang,
                        "확인할 메시지를 붙여 넣어 주세요. 메시지는 8,000자까지 확인할 수 있습니다.",
                        "Paste the message to check; up to 8,000 characters are checked.",
                    ),
                ),
                _ => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    words(
                        lang,
                        "지금은 확인할 수 없습니다. 잠시 후 다시 시도해 주세요.",
                        "The check is unavailable right now. Please try again shortly.",
                    ),
                ),
            };
            let mut response = page(&state, lang, status, &problem_page(shown, problem));
            if let Some(seconds) = error.retry_after() {
                response.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from(seconds),
                );
            }
            response
        }
    }
}

fn problem_page(text: String, problem: String) -> VerifyPage {
    VerifyPage {
        text,
        problem: Some(problem),
        result: None,
    }
}

fn words(lang: Lang, ko: &str, en: &str) -> String {
    match lang {
        Lang::Ko => ko.to_string(),
        Lang::En => en.to_string(),
    }
}

fn result(lang: Lang, verification: Verification) -> VerifyResult {
    VerifyResult {
        verdict: match verification.verdict {
            Verdict::Genuine => "genuine",
            Verdict::Altered => "altered",
            Verdict::NotOurs => "not_ours",
        },
        notice: verification.notice.map(|notice| notice.text),
        reasons: verification
            .reasons
            .into_iter()
            .map(|reason| match lang {
                Lang::Ko => reason.ko,
                Lang::En => reason.en,
            })
            .collect(),
    }
}

fn page(state: &AppState, lang: Lang, status: StatusCode, form: &VerifyPage) -> Response {
    match state.portal.site().verify(lang, form) {
        Ok(body) => {
            let mut response = (status, html(body)).into_response();
            response.headers_mut().insert(
                axum::http::header::CACHE_CONTROL,
                axum::http::HeaderValue::from_static("no-store"),
            );
            response
        }
        Err(error) => render_failed(&error),
    }
}
