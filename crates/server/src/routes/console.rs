//! The responder console under `/console/`: HTML for administrators. Its routes are in the
//! API's document (as `text/html`) and the hostile-input table like every route, but their
//! refusals are pages: a browser shows them.
//!
//! - Signed in by a form post of an administrator's client id and secret (the
//!   client-credentials grant); the session is a `__Host-` cookie only the console reads
//!   (see [`crate::console`]). Without one, every page is the sign-in page.
//! - Every act is a form post from the console's own page (`Sec-Fetch-Site`, or `Origin`)
//!   carrying the session's CSRF token, done through the same desks, with the same checks and
//!   the same audit records, as the bearer API's routes.
//! - The alert list is live: its script follows `/console/alerts/stream`, the alert stream
//!   of `/v1/admin/alerts/stream` with the cookie as credential.
//! - Every response carries the console's Content Security Policy and `no-store`.

use std::convert::Infallible;

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use futures::Stream;
use haechi_console::{CONTENT_SECURITY_POLICY, Problem};
use haechi_respond::{AlertFilter, AlertNotice};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zeroize::Zeroizing;

use crate::console::{
    ConsoleAdmin, cleared_cookie, csrf_matches, done_mark, from_console_or_typed,
    posted_by_console, session_cookie, signed_in,
};
use crate::extract::PathParam;
use crate::openapi::NotFound;
use crate::{ApiError, AppState};

/// The console's routes.
pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(console_root))
        .routes(routes!(alerts))
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(stream))
        .routes(routes!(asset))
        .merge(super::console_alerts::router())
        .merge(super::console_containment::router())
        .merge(super::console_keys::router())
        .layer(axum::middleware::map_response(secure_headers))
}

async fn secure_headers(mut response: Response) -> Response {
    super::portal_pages::page_security(&mut response, CONTENT_SECURITY_POLICY);
    let headers = response.headers_mut();
    // Assets are named by their content and cached for good; every page is one
    // administrator's, now.
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-store"),
        );
    }
    response
}

/// A page with `status`, or a plain 500 when it failed to render (a template bug the tests
/// would have caught).
pub(super) fn page(
    status: StatusCode,
    rendered: Result<String, haechi_console::Error>,
) -> Response {
    match rendered {
        Ok(body) => (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "console page failed to render");
            ApiError::internal("page").into_response()
        }
    }
}

/// The page saying what went wrong, with the navigation when signed in.
pub(super) fn error_page(
    state: &AppState,
    session: Option<&ConsoleAdmin>,
    status: StatusCode,
    message: &str,
) -> Response {
    let frame = session.map(|session| &session.frame);
    page(
        status,
        state.console.pages().error(frame, status.as_u16(), message),
    )
}

/// An API error as a form's problem: its status and sentence.
pub(super) fn problem(error: &ApiError) -> Problem {
    Problem {
        status: error.status().as_u16(),
        message: error.message().to_string(),
    }
}

/// The status a problem is answered with.
pub(super) fn status_of(problem: &Problem) -> StatusCode {
    StatusCode::from_u16(problem.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY)
}

/// Where an act done sends the browser: `path` with `?done=CODE.MARK`, marked for the session
/// that did it (the page says it was done only for that mark).
pub(super) fn done(path: &str, done: haechi_console::Done, session: &ConsoleAdmin) -> Response {
    let separator = if path.contains('?') { '&' } else { '?' };
    let mark = done_mark(&session.token, done);
    Redirect::to(&format!("{path}{separator}done={mark}")).into_response()
}

/// The act a page's `?done=` names, if this session did it.
pub(super) fn done_in(value: Option<&str>, session: &ConsoleAdmin) -> Option<haechi_console::Done> {
    value.and_then(|value| crate::console::done_of_mark(&session.token, value))
}

/// To the sign-in page (a page asked without a session, or with one that ended).
fn to_sign_in() -> Response {
    Redirect::to("/console/").into_response()
}

/// A console page's administrator: signed in, or the browser is sent to sign in. The page
/// must be asked for from the console itself (or typed): a page of another site — a sibling
/// subdomain's included, whose requests carry even a `SameSite=Strict` cookie — cannot make the
/// browser read the trail or run a scope in the administrator's name.
pub(super) struct Session(pub(super) ConsoleAdmin);

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let session = signed_in(state, parts).await.ok_or_else(to_sign_in)?;
        if !from_console_or_typed(&parts.headers) {
            return Err(error_page(
                state,
                Some(&session),
                StatusCode::FORBIDDEN,
                "this page opens from the console itself: start at /console/",
            ));
        }
        Ok(Session(session))
    }
}

/// A console form: its fields, and the CSRF token every form carries.
pub(super) trait ActForm: DeserializeOwned + Send {
    /// The token the form carried.
    fn csrf(&self) -> &str;
}

/// An act posted from the console: signed in, sent by the console's own page, carrying the
/// session's CSRF token, with a form that parses. Anything else is refused before the act.
pub(super) struct Act<T> {
    pub(super) session: ConsoleAdmin,
    pub(super) form: T,
}

impl<T: ActForm> FromRequest<AppState> for Act<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (parts, body) = request.into_parts();
        let Some(session) = signed_in(state, &parts).await else {
            return Err(to_sign_in());
        };
        if !posted_by_console(&parts.headers) {
            return Err(error_page(
                state,
                Some(&session),
                StatusCode::FORBIDDEN,
                "cross-site form posts are refused",
            ));
        }
        let request = Request::from_parts(parts, body);
        let form: Result<Form<T>, FormRejection> = Form::from_request(request, state).await;
        let Ok(Form(form)) = form else {
            return Err(error_page(
                state,
                Some(&session),
                StatusCode::BAD_REQUEST,
                "the form is incomplete or malformed",
            ));
        };
        if !csrf_matches(&session.token, form.csrf()) {
            return Err(error_page(
                state,
                Some(&session),
                StatusCode::FORBIDDEN,
                "the form's session token does not match: reload the page and try again",
            ));
        }
        Ok(Act { session, form })
    }
}

/// `/console` is `/console/`
#[utoipa::path(
    get,
    path = "/console",
    tag = "console",
    operation_id = "console_root",
    security(()),
    responses((status = 308, description = "To `/console/`."))
)]
async fn console_root() -> Redirect {
    Redirect::permanent("/console/")
}

/// The alert list (or the sign-in page)
///
/// Signed in: the alerts the desk holds, newest first, kept live by the page's script.
/// Without a session: the sign-in form.
#[utoipa::path(
    get,
    path = "/console/",
    tag = "console",
    operation_id = "console_alerts",
    security(()),
    responses(
        (status = 200, description = "The alert list, or the sign-in page.", content_type = "text/html", body = String),
    )
)]
async fn alerts(State(state): State<AppState>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let Some(session) = signed_in(&state, &parts).await else {
        return page(StatusCode::OK, state.console.pages().sign_in(None));
    };
    let (alerts, total) = state.detection.alerts.list(&AlertFilter {
        state: None,
        severities: Vec::new(),
        rule_id: None,
        limit: 500,
    });
    page(
        StatusCode::OK,
        state.console.pages().alerts(&session.frame, &alerts, total),
    )
}

/// The sign-in form's fields.
#[derive(Deserialize, ToSchema)]
pub(crate) struct SignIn {
    /// An administrator's client id.
    client_id: String,
    /// Its secret.
    #[schema(value_type = String)]
    client_secret: Zeroizing<String>,
}

/// Sign in to the console
///
/// The client-credentials grant of an administrator's client (its `admin` scope). Signed in:
/// a `__Host-` session cookie (`HttpOnly`, `Secure`, `SameSite=Strict`) and a redirect to
/// the alerts. Otherwise the sign-in page again (401, or 429 with `Retry-After`). A post from
/// another site's page is refused (403).
#[utoipa::path(
    post,
    path = "/console/login",
    tag = "console",
    operation_id = "console_login",
    security(()),
    request_body(content = SignIn, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed in: to `/console/`, with the session cookie."),
        (status = 401, description = "Not signed in: the sign-in page saying so.", content_type = "text/html", body = String),
        (status = 403, description = "Posted from another site.", content_type = "text/html", body = String),
        (status = 429, description = "Too many attempts: the sign-in page saying so.", content_type = "text/html", body = String),
    )
)]
async fn login(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let context = crate::extract::request_context(&parts, &state);
    if !posted_by_console(&parts.headers) {
        return error_page(
            &state,
            None,
            StatusCode::FORBIDDEN,
            "cross-site form posts are refused",
        );
    }
    // Signing in again ends the session this browser had: no token is left alive unused.
    if let Some(previous) = signed_in(&state, &parts).await {
        let _ = state
            .authority
            .sessions()
            .logout(&previous.admin.token, &previous.admin.context)
            .await;
    }
    let form: Result<Form<SignIn>, FormRejection> =
        Form::from_request(Request::from_parts(parts, body), &state).await;
    let again = |status: StatusCode, message: &str| {
        let problem = Problem {
            status: status.as_u16(),
            message: message.to_string(),
        };
        page(status, state.console.pages().sign_in(Some(&problem)))
    };
    let form = match form {
        Ok(Form(form)) if form.client_id.len() <= 200 && form.client_secret.len() <= 1024 => form,
        _ => return again(StatusCode::UNAUTHORIZED, "give the client id and secret"),
    };
    let pair = state
        .authority
        .clients()
        .client_credentials(
            &form.client_id,
            &form.client_secret,
            Some("admin"),
            &context,
        )
        .await;
    let pair = match pair {
        Ok(pair) => pair,
        Err(error) => {
            let error = ApiError::from(error);
            return match error.status() {
                StatusCode::TOO_MANY_REQUESTS => {
                    let mut response = again(StatusCode::TOO_MANY_REQUESTS, error.message());
                    if let Some(seconds) = error.retry_after()
                        && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
                    {
                        response.headers_mut().insert(header::RETRY_AFTER, value);
                    }
                    response
                }
                status if status.is_server_error() => error.into_response(),
                // A wrong secret, an unknown client and a client without the admin scope
                // are not told apart.
                _ => again(StatusCode::UNAUTHORIZED, NOT_AN_ADMINISTRATOR),
            };
        }
    };
    // Only an administrator's client: a service's that holds a scope named `admin` is
    // answered as a wrong secret is, its session ended at once.
    let verified = state
        .authority
        .verifier()
        .verify(&pair.access_token, &context)
        .await;
    let Ok(verified) = verified else {
        return again(StatusCode::UNAUTHORIZED, NOT_AN_ADMINISTRATOR);
    };
    if state
        .authority
        .authorize_admin(&verified, &context)
        .is_err()
    {
        let _ = state.authority.sessions().logout(&verified, &context).await;
        return again(StatusCode::UNAUTHORIZED, NOT_AN_ADMINISTRATOR);
    }
    let Some(sealed) = state.console.seal(&pair.access_token) else {
        return ApiError::internal("the console session could not be sealed").into_response();
    };
    (
        [(header::SET_COOKIE, session_cookie(&sealed, pair.expires_in))],
        Redirect::to("/console/"),
    )
        .into_response()
}

/// What a failed sign-in says, whatever failed.
const NOT_AN_ADMINISTRATOR: &str =
    "not signed in: the client id and secret are not those of an administrator's client";

/// The sign-out form.
#[derive(Deserialize, ToSchema)]
pub(crate) struct SignOut {
    /// The session's CSRF token.
    csrf: String,
}

impl ActForm for SignOut {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Sign out of the console
///
/// Ends the session (every token of it), clears the cookie and returns to the sign-in page.
#[utoipa::path(
    post,
    path = "/console/logout",
    tag = "console",
    operation_id = "console_logout",
    security(()),
    request_body(content = SignOut, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed out (or not signed in): to `/console/`."),
        (status = 400, description = "A malformed form.", content_type = "text/html", body = String),
        (status = 403, description = "Posted from another site, or without the session's token.", content_type = "text/html", body = String),
    )
)]
async fn logout(State(state): State<AppState>, act: Act<SignOut>) -> Response {
    let admin = &act.session.admin;
    if let Err(error) = state
        .authority
        .sessions()
        .logout(&admin.token, &admin.context)
        .await
    {
        let error = ApiError::from(error);
        if error.status().is_server_error() {
            return error.into_response();
        }
    }
    (
        [(header::SET_COOKIE, cleared_cookie())],
        Redirect::to("/console/"),
    )
        .into_response()
}

/// The alert stream, for the console (Server-Sent Events)
///
/// `/v1/admin/alerts/stream` with the console's session as credential: `raised`, `grew`,
/// `acknowledged`, `lagged`. Ends when the session does.
#[utoipa::path(
    get,
    path = "/console/alerts/stream",
    tag = "console",
    operation_id = "console_alert_stream",
    security(()),
    responses(
        (status = 200, description = "An open event stream.", body = String, content_type = "text/event-stream"),
        (status = 401, description = "No console session.", content_type = "text/html", body = String),
    )
)]
async fn stream(
    State(state): State<AppState>,
    request: Request,
) -> Result<
    (
        [(header::HeaderName, &'static str); 1],
        Sse<impl Stream<Item = Result<Event, Infallible>> + use<>>,
    ),
    Response,
> {
    let (parts, _) = request.into_parts();
    let Some(session) = signed_in(&state, &parts).await else {
        // An EventSource does not follow a redirect to a page; it stops on a 401.
        return Err(error_page(
            &state,
            None,
            StatusCode::UNAUTHORIZED,
            "sign in to the console first",
        ));
    };
    let receiver = state.detection.alerts.subscribe();
    // A proxy in front (nginx) passes each event on as it comes instead of buffering.
    Ok((
        [(header::HeaderName::from_static("x-accel-buffering"), "no")],
        super::admin_stream::admin_stream(&state, session.admin.token, receiver, AlertNotice::name),
    ))
}

/// A static file of the console
///
/// Named by a digest of its content, so kept by browsers for a year (`immutable`).
#[utoipa::path(
    get,
    path = "/console/assets/{file}",
    tag = "console",
    operation_id = "console_asset",
    security(()),
    params(("file" = String, Path, description = "`NAME.DIGEST.EXT`, as the pages name it.")),
    responses(
        (status = 200, description = "The file.", content(
            (String = "text/css"), (String = "text/javascript"), (String = "image/svg+xml")
        )),
        (status = 404, response = NotFound),
    )
)]
async fn asset(State(state): State<AppState>, PathParam(file): PathParam) -> Response {
    super::portal_pages::asset_response(
        state
            .console
            .pages()
            .asset(&format!("/console/assets/{file}")),
    )
}
