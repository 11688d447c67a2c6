//! The portal's pages under `/portal/`: HTML for people. They are in the API's document like
//! every route (as `text/html`), and the hostile-input table covers them, but their refusals
//! are pages, not JSON: a browser shows them.
//!
//! - The start and incident pages are the same for everyone: rendered from memory, with an
//!   `ETag` and a minute of public caching, so a CDN in front absorbs a surge of visitors.
//! - The signed-in view needs no JavaScript: the sign-in form posts here, and the access
//!   token goes into a `__Host-` cookie (`HttpOnly`, `Secure`, `SameSite=Strict`), which the
//!   view verifies exactly as the API verifies a bearer token.
//! - Posts from another site are refused (`Sec-Fetch-Site`, or `Origin` without it), so nobody
//!   can sign a visitor in or out from their own page.
//! - Every response carries the portal's Content Security Policy.

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use bytes::Bytes;
use haechi_portal::{CONTENT_SECURITY_POLICY, Lang, LoginProblem};
use haechi_token::LoginIdentifier;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zeroize::Zeroizing;

use crate::extract::{Authenticated, Caller, PathParam, request_context};
use crate::openapi::NotFound;
use crate::{ApiError, AppState};

/// The portal session's cookie. `__Host-`: only ever set by this origin, over HTTPS (or
/// localhost), for the whole site.
const SESSION_COOKIE: &str = "__Host-haechi-portal";

/// The portal's routes.
pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(portal_root))
        .routes(routes!(home))
        .routes(routes!(incident))
        .routes(routes!(me))
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(asset))
        .layer(axum::middleware::map_response(secure_headers))
}

/// The page's language.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct LangQuery {
    /// `en` for English; anything else, or nothing, is Korean.
    #[param(example = "en")]
    lang: Option<String>,
}

/// `/portal` is `/portal/`
#[utoipa::path(
    get,
    path = "/portal",
    tag = "portal",
    operation_id = "portal_root",
    security(()),
    responses((status = 308, description = "To `/portal/`."))
)]
async fn portal_root() -> Redirect {
    Redirect::permanent("/portal/")
}

impl LangQuery {
    pub(super) fn lang(&self) -> Lang {
        Lang::from_query(self.lang.as_deref())
    }
}

pub(super) async fn secure_headers(mut response: Response) -> Response {
    page_security(&mut response, CONTENT_SECURITY_POLICY);
    response
}

/// The headers every page of the site's own (the portal's, the console's) carries: its
/// Content Security Policy `policy`, no sniffing, no referrer outside the site, no framing.
pub(super) fn page_security(response: &mut Response, policy: &'static str) {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(policy),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

/// A page the same for everyone, rendered ahead (`body`): public for a minute, validated by
/// `etag` — a matching `If-None-Match` is answered 304 without a body.
fn public_page(request: &HeaderMap, etag: String, body: Bytes) -> Response {
    let etag = format!("\"{etag}\"");
    let cache = [
        (header::CACHE_CONTROL, "public, max-age=60".to_string()),
        (header::ETAG, etag.clone()),
    ];
    if request
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|tag| tag.trim() == etag))
    {
        return (StatusCode::NOT_MODIFIED, cache).into_response();
    }
    (
        cache,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

/// The index of `lang` in the pages rendered ahead.
fn slot(lang: Lang) -> usize {
    match lang {
        Lang::Ko => 0,
        Lang::En => 1,
    }
}

pub(super) fn html(body: String) -> ([(header::HeaderName, &'static str); 1], String) {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body)
}

/// A page that failed to render (a template bug the tests would have caught): a plain 500.
pub(super) fn render_failed(error: &haechi_portal::Error) -> Response {
    tracing::error!(%error, "portal page failed to render");
    ApiError::internal("page").into_response()
}

/// The portal's start page
///
/// The current statements' headlines, the anonymous check (the form appears when the page's
/// script runs) and the sign-in form. The same for everyone: public for a minute, with an
/// `ETag`.
#[utoipa::path(
    get,
    path = "/portal/",
    tag = "portal",
    operation_id = "portal_home",
    security(()),
    params(LangQuery),
    responses(
        (status = 200, description = "The page.", content_type = "text/html", body = String),
        (status = 304, description = "Unchanged since the `ETag` given."),
    )
)]
async fn home(
    State(state): State<AppState>,
    Query(query): Query<LangQuery>,
    request: HeaderMap,
) -> Response {
    let lang = query.lang();
    let current = state.portal.current();
    let tag = format!("home-{}-{}", lang.code(), current.digest);
    public_page(&request, tag, current.home[slot(lang)].clone())
}

/// The incident page
///
/// Each current statement in full, with its FAQ, version, date and signing key. The same for
/// everyone: public for a minute, with an `ETag`.
#[utoipa::path(
    get,
    path = "/portal/incident",
    tag = "portal",
    operation_id = "portal_incident",
    security(()),
    params(LangQuery),
    responses(
        (status = 200, description = "The page.", content_type = "text/html", body = String),
        (status = 304, description = "Unchanged since the `ETag` given."),
    )
)]
async fn incident(
    State(state): State<AppState>,
    Query(query): Query<LangQuery>,
    request: HeaderMap,
) -> Response {
    let lang = query.lang();
    let current = state.portal.current();
    let tag = format!("incident-{}-{}", lang.code(), current.digest);
    public_page(&request, tag, current.incident[slot(lang)].clone())
}

/// A static file of the portal
///
/// Named by a digest of its content, so kept by browsers and caches for a year
/// (`immutable`).
#[utoipa::path(
    get,
    path = "/portal/assets/{file}",
    tag = "portal",
    operation_id = "portal_asset",
    security(()),
    params(("file" = String, Path, description = "`NAME.DIGEST.EXT`, as the pages name it.")),
    responses(
        (status = 200, description = "The file.", content(
            (String = "text/css"), (String = "text/javascript")
        )),
        (status = 404, response = NotFound),
    )
)]
async fn asset(State(state): State<AppState>, PathParam(file): PathParam) -> Response {
    asset_response(state.portal.site().asset(&format!("/portal/assets/{file}")))
}

/// A static file named by its content's digest (the portal's, the console's): kept by
/// browsers and caches for a year (`immutable`); none is a 404.
pub(super) fn asset_response(asset: Option<&haechi_portal::Asset>) -> Response {
    let Some(asset) = asset else {
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

/// Whether a form post comes from the portal's own pages. A browser says where a post comes
/// from in `Sec-Fetch-Site`, which no page can set: when it is there it decides. Without it (an
/// older browser), `Origin`, when sent, must be this host. A post another site's page made is
/// refused.
pub(super) fn same_origin(request: &HeaderMap) -> bool {
    if let Some(site) = request.get("sec-fetch-site") {
        return matches!(site.to_str(), Ok("same-origin" | "none"));
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

pub(super) fn cross_site(state: &AppState, lang: Lang) -> Response {
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
#[derive(Deserialize, ToSchema)]
pub(crate) struct LoginForm {
    /// The account's e-mail or phone number, as typed.
    identifier: String,
    /// The password.
    #[schema(value_type = String)]
    password: Zeroizing<String>,
}

/// Sign in to the portal
///
/// The form of the start page. Signed in: a `__Host-` session cookie (`HttpOnly`, `Secure`,
/// `SameSite=Strict`) and a redirect to `/portal/me`. Otherwise the start page again saying
/// why (401, or 429 with `Retry-After`). A post from another site's page is refused (403).
#[utoipa::path(
    post,
    path = "/portal/login",
    tag = "portal",
    operation_id = "portal_login",
    security(()),
    params(LangQuery),
    request_body(content = LoginForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed in: to `/portal/me`, with the session cookie."),
        (status = 401, description = "Not signed in: the start page saying so.", content_type = "text/html", body = String),
        (status = 403, description = "Posted from another site.", content_type = "text/html", body = String),
        (status = 429, description = "Too many attempts: the start page saying so.", content_type = "text/html", body = String),
        (status = 503, description = "At capacity: a page that retries by itself after `Retry-After`.", content_type = "text/html", body = String),
    )
)]
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
    // The source's and the account's limits first: they cost no hashing, so a flood of
    // attempts from a few sources is refused by its own limits and takes none of the lane's
    // turns from other people. Then the lane, before the password is hashed.
    let accounts = state.authority.accounts();
    let pair = match accounts.begin_login(&identifier, &context).await {
        Ok(attempt) => {
            if state.portal.admission().admit().await.is_err() {
                if let Err(error) = attempt.withdraw().await {
                    return ApiError::from(error).into_response();
                }
                return shed(&state, lang, "/portal/");
            }
            attempt.finish(form.password).await
        }
        Err(error) => Err(error),
    };
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

/// The signed-in customer's exposures, as a page
///
/// What `/v1/portal/me/exposures` says, for the customer whose session cookie this is: the
/// fields exposed, as plainly the ones not exposed, when, and what was done. Without a valid
/// session: back to the start page.
#[utoipa::path(
    get,
    path = "/portal/me",
    tag = "portal",
    operation_id = "portal_me",
    security(()),
    params(LangQuery),
    responses(
        (status = 200, description = "The page.", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to the start page."),
        (status = 429, description = "Over the customer's own rate: a page that retries by itself.", content_type = "text/html", body = String),
        (status = 503, description = "At capacity: a page that retries by itself after `Retry-After`.", content_type = "text/html", body = String),
    )
)]
async fn me(
    State(state): State<AppState>,
    Query(query): Query<LangQuery>,
    request: axum::extract::Request,
) -> Response {
    let lang = query.lang();
    let (parts, _) = request.into_parts();
    // The session first: a flood without one must not take the signed-in lane's turns.
    let Some(caller) = signed_in(&state, &parts).await else {
        return signed_out(lang);
    };
    if state.portal.admission().admit().await.is_err() {
        return shed(&state, lang, "/portal/me");
    }
    let (report, inbox) = match super::portal::own_view(&state, &caller, true).await {
        Ok(view) => view,
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
    match state
        .portal
        .site()
        .me(lang, &current.statements, &report, &inbox)
    {
        Ok(page) => ([(header::CACHE_CONTROL, "private, no-store")], html(page)).into_response(),
        Err(error) => render_failed(&error),
    }
}

/// The answer to a request the signed-in lane has no room for: 503 and the waiting page,
/// which tries `path` again by itself.
fn shed(state: &AppState, lang: Lang, path: &str) -> Response {
    let retry_after = state.portal.admission().retry_after_secs();
    busy(
        state,
        lang,
        path,
        retry_after,
        StatusCode::SERVICE_UNAVAILABLE,
    )
}

/// The waiting page for a request the node had no room for (`crate::crowd`): 503, and a page
/// that tries `path` again by itself after `retry_after` seconds, in the language `uri`'s
/// query asks for.
pub(super) fn waiting_page(
    state: &AppState,
    uri: &axum::http::Uri,
    path: &str,
    retry_after: u64,
) -> Response {
    // The language as the page itself reads it; a query it cannot read is Korean.
    let lang = Query::<LangQuery>::try_from_uri(uri)
        .map(|Query(query)| query.lang())
        .unwrap_or(Lang::Ko);
    busy(
        state,
        lang,
        path,
        retry_after,
        StatusCode::SERVICE_UNAVAILABLE,
    )
}

/// The waiting page: it retries by itself after `retry_after` seconds.
fn busy(
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

/// Sign out of the portal
///
/// Ends the session itself (every token of it), clears the cookie and returns to the start
/// page. A post from another site's page is refused (403).
#[utoipa::path(
    post,
    path = "/portal/logout",
    tag = "portal",
    operation_id = "portal_logout",
    security(()),
    params(LangQuery),
    responses(
        (status = 303, description = "Signed out: to the start page."),
        (status = 403, description = "Posted from another site.", content_type = "text/html", body = String),
    )
)]
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
