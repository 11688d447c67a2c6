//! The portal's pages under `/portal/`: HTML for people, not part of the API's document (the
//! data behind them is: `/v1/portal/…`, `/v1/exposure/check`).
//!
//! - The start and incident pages are the same for everyone: rendered from memory, with an
//!   `ETag` and a minute of public caching, so a CDN in front absorbs a surge of visitors.
//! - The signed-in view needs no JavaScript: the sign-in form posts here, and the access
//!   token goes into a `__Host-` cookie (`HttpOnly`, `Secure`, `SameSite=Strict`), which the
//!   view verifies exactly as the API verifies a bearer token.
//! - Posts from another site are refused (`Origin` and `Sec-Fetch-Site`), so nobody can sign
//!   a visitor in or out from their own page.
//! - Every response carries the portal's Content Security Policy.

use axum::extract::rejection::FormRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use haechi_portal::{CONTENT_SECURITY_POLICY, Lang, LoginProblem};
use haechi_token::LoginIdentifier;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::extract::{Authenticated, Caller, request_context};
use crate::{ApiError, AppState};

/// The portal session's cookie. `__Host-`: only ever set by this origin, over HTTPS (or
/// localhost), for the whole site.
const SESSION_COOKIE: &str = "__Host-haechi-portal";

/// The portal's routes.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/portal", get(|| async { Redirect::permanent("/portal/") }))
        .route("/portal/", get(home))
        .route("/portal/incident", get(incident))
        .route("/portal/me", get(me))
        .route("/portal/login", post(login))
        .route("/portal/logout", post(logout))
        .route("/portal/assets/{file}", get(asset))
        .layer(axum::middleware::map_response(secure_headers))
}

/// `?lang=en`, or Korean.
#[derive(Debug, Deserialize)]
pub(crate) struct LangQuery {
    lang: Option<String>,
}

impl LangQuery {
    fn lang(&self) -> Lang {
        Lang::from_query(self.lang.as_deref())
    }
}

async fn secure_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// A page the same for everyone: public for a minute, validated by `etag`.
fn public_page(request: &HeaderMap, etag: String, render: impl FnOnce() -> String) -> Response {
    let etag = format!("\"{etag}\"");
    let cache = [
        (header::CACHE_CONTROL, "public, max-age=60".to_string()),
        (header::ETAG, etag.clone()),
        (header::VARY, "Accept-Encoding".to_string()),
    ];
    if request
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|tag| tag.trim() == etag))
    {
        return (StatusCode::NOT_MODIFIED, cache).into_response();
    }
    (cache, html(render())).into_response()
}

fn html(body: String) -> ([(header::HeaderName, &'static str); 1], String) {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body)
}

/// A page that failed to render (a template bug the tests would have caught): a plain 500.
fn render_failed(error: &haechi_portal::Error) -> Response {
    tracing::error!(%error, "portal page failed to render");
    ApiError::internal("page").into_response()
}

async fn home(
    State(state): State<AppState>,
    Query(query): Query<LangQuery>,
    request: HeaderMap,
) -> Response {
    let lang = query.lang();
    let current = state.portal.current();
    let tag = format!("home-{}-{}", lang.code(), current.digest);
    match state.portal.site().home(lang, &current.statements, None) {
        Ok(page) => public_page(&request, tag, || page),
        Err(error) => render_failed(&error),
    }
}

async fn incident(
    State(state): State<AppState>,
    Query(query): Query<LangQuery>,
    request: HeaderMap,
) -> Response {
    let lang = query.lang();
    let current = state.portal.current();
    let tag = format!("incident-{}-{}", lang.code(), current.digest);
    match state.portal.site().incident(lang, &current.statements) {
        Ok(page) => public_page(&request, tag, || page),
        Err(error) => render_failed(&error),
    }
}

async fn asset(
    State(state): State<AppState>,
    axum::extract::Path(file): axum::extract::Path<String>,
) -> Response {
    let Some(asset) = state.portal.site().asset(&format!("/portal/assets/{file}")) else {
        return ApiError::not_found("no such asset").into_response();
    };
    (
        [
            (header::CONTENT_TYPE, asset.content_type.to_string()),
            (
                header::CACHE_CONTROL,
                "public, max-age=31536000, immutable".to_string(),
            ),
            (header::ETAG, asset.etag.clone()),
        ],
        asset.body,
    )
        .into_response()
}

/// Whether a form post comes from the portal's own pages: a browser says where a post comes
/// from (`Sec-Fetch-Site`, `Origin`); a post another site's page made is refused.
fn same_origin(request: &HeaderMap) -> bool {
    let fetch_site = request
        .get("sec-fetch-site")
        .and_then(|value| value.to_str().ok());
    if fetch_site.is_some_and(|site| site != "same-origin" && site != "none") {
        return false;
    }
    match (
        request.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
        request.get(header::HOST).and_then(|v| v.to_str().ok()),
    ) {
        (None, _) => true,
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority == host),
        (Some(_), None) => false,
    }
}

fn cross_site(state: &AppState, lang: Lang) -> Response {
    let page = state
        .portal
        .site()
        .error(lang, 403, "cross-site form posts are refused");
    match page {
        Ok(page) => (StatusCode::FORBIDDEN, html(page)).into_response(),
        Err(error) => render_failed(&error),
    }
}

/// The sign-in form's fields.
#[derive(Deserialize)]
pub(crate) struct LoginForm {
    identifier: String,
    password: Zeroizing<String>,
}

async fn login(
    State(state): State<AppState>,
    Query(query): Query<LangQuery>,
    request: HeaderMap,
    Caller(context): Caller,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let lang = query.lang();
    if !same_origin(&request) {
        return cross_site(&state, lang);
    }
    let form = match form {
        Ok(Form(form)) if form.identifier.len() <= 254 && form.password.len() <= 1024 => form,
        _ => return sign_in_again(&state, lang, LoginProblem::Failed, None),
    };
    let identifier = if form.identifier.contains('@') {
        LoginIdentifier::Email(form.identifier)
    } else {
        LoginIdentifier::Phone(form.identifier)
    };
    let pair = state
        .authority
        .accounts()
        .login(&identifier, form.password, &context)
        .await;
    match pair {
        Ok(pair) => {
            let cookie = format!(
                "{SESSION_COOKIE}={}; Path=/; Max-Age={}; HttpOnly; Secure; SameSite=Strict",
                pair.access_token, pair.expires_in
            );
            (
                [(header::SET_COOKIE, cookie)],
                Redirect::to(&format!("/portal/me{}", lang_query(lang))),
            )
                .into_response()
        }
        Err(error) => {
            let error = ApiError::from(error);
            if error.status() == StatusCode::TOO_MANY_REQUESTS {
                sign_in_again(&state, lang, LoginProblem::Throttled, error.retry_after())
            } else if error.status().is_server_error() {
                error.into_response()
            } else {
                sign_in_again(&state, lang, LoginProblem::Failed, None)
            }
        }
    }
}

fn lang_query(lang: Lang) -> &'static str {
    match lang {
        Lang::Ko => "",
        Lang::En => "?lang=en",
    }
}

/// The start page again, saying why, with the status the API would have answered.
fn sign_in_again(
    state: &AppState,
    lang: Lang,
    problem: LoginProblem,
    retry_after: Option<u64>,
) -> Response {
    let current = state.portal.current();
    let page = match state
        .portal
        .site()
        .home(lang, &current.statements, Some(problem))
    {
        Ok(page) => page,
        Err(error) => return render_failed(&error),
    };
    let status = match problem {
        LoginProblem::Failed => StatusCode::UNAUTHORIZED,
        LoginProblem::Throttled => StatusCode::TOO_MANY_REQUESTS,
    };
    let mut response = (status, [(header::CACHE_CONTROL, "no-store")], html(page)).into_response();
    if let Some(seconds) = retry_after
        && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// The session cookie's token, if the request carries one.
fn session_token(request: &HeaderMap) -> Option<String> {
    request
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == SESSION_COOKIE && !value.is_empty()).then(|| value.to_string())
        })
}

/// The signed-in customer, verified from the cookie exactly as a bearer token is.
async fn signed_in(state: &AppState, parts: &axum::http::request::Parts) -> Option<Authenticated> {
    let token = session_token(&parts.headers)?;
    let context = request_context(parts, state);
    let verified = state
        .authority
        .verifier()
        .verify(&token, &context)
        .await
        .ok()?;
    Some(Authenticated {
        token: verified,
        context,
    })
}

fn signed_out(lang: Lang) -> Response {
    let clear = format!("{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict");
    (
        [(header::SET_COOKIE, clear)],
        Redirect::to(&format!("/portal/{}", lang_query(lang))),
    )
        .into_response()
}

async fn me(
    State(state): State<AppState>,
    Query(query): Query<LangQuery>,
    request: axum::extract::Request,
) -> Response {
    let lang = query.lang();
    let (parts, _) = request.into_parts();
    let Some(caller) = signed_in(&state, &parts).await else {
        return signed_out(lang);
    };
    let report = match super::portal::exposure_report(&state, &caller).await {
        Ok(report) => report,
        Err(error) if error.status() == StatusCode::TOO_MANY_REQUESTS => {
            let retry_after = error.retry_after().unwrap_or(5);
            return busy(
                &state,
                lang,
                "/portal/me",
                retry_after,
                StatusCode::TOO_MANY_REQUESTS,
            );
        }
        Err(error) if error.status() == StatusCode::FORBIDDEN => return signed_out(lang),
        Err(error) => return error.into_response(),
    };
    let current = state.portal.current();
    match state.portal.site().me(lang, &current.statements, &report) {
        Ok(page) => ([(header::CACHE_CONTROL, "private, no-store")], html(page)).into_response(),
        Err(error) => render_failed(&error),
    }
}

/// The waiting page: it retries by itself after `retry_after` seconds.
pub(crate) fn busy(
    state: &AppState,
    lang: Lang,
    path: &str,
    retry_after: u64,
    status: StatusCode,
) -> Response {
    let retry_path = format!("{path}{}", lang_query(lang));
    match state.portal.site().busy(lang, &retry_path, retry_after) {
        Ok(page) => {
            let mut response =
                (status, [(header::CACHE_CONTROL, "no-store")], html(page)).into_response();
            if let Ok(value) = HeaderValue::from_str(&retry_after.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
        Err(error) => render_failed(&error),
    }
}

async fn logout(
    State(state): State<AppState>,
    Query(query): Query<LangQuery>,
    request: axum::extract::Request,
) -> Response {
    let lang = query.lang();
    let (parts, _) = request.into_parts();
    if !same_origin(&parts.headers) {
        return cross_site(&state, lang);
    }
    if let Some(caller) = signed_in(&state, &parts).await
        && let Err(error) = state
            .authority
            .sessions()
            .logout(&caller.token, &caller.context)
            .await
    {
        let error = ApiError::from(error);
        if error.status().is_server_error() {
            return error.into_response();
        }
    }
    signed_out(lang)
}
