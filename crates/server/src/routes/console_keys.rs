//! The console's keys and rules: the signing keys with their state and age, rotation, and a
//! revocation that first lists the sessions it will end; the rules in force with their last
//! alerts.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use haechi_console::{Done, KeyRevocation, Outcome};
use haechi_respond::AlertFilter;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::console::{Act, ActForm, Session, done, error_page, page, problem, status_of};
use super::console_containment::{DoneQuery, done_of};
use crate::console::ConsoleAdmin;
use crate::{ApiError, AppState};

/// Sessions a revocation page lists (the count is always whole).
const SESSIONS_LISTED: usize = 1000;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(keys))
        .routes(routes!(rotate))
        .routes(routes!(revoke_preview))
        .routes(routes!(revoke))
        .routes(routes!(rules))
}

/// Signing keys
///
/// Each key's state, origin, age and window, the rotation form, and a revocation link for each
/// key that still verifies.
#[utoipa::path(
    get,
    path = "/console/keys",
    tag = "console",
    operation_id = "console_keys",
    security(()),
    params(DoneQuery),
    responses(
        (status = 200, description = "The page.", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to the sign-in page."),
    )
)]
async fn keys(
    State(state): State<AppState>,
    Session(session): Session,
    query: Result<Query<DoneQuery>, QueryRejection>,
) -> Response {
    let outcome = Outcome {
        done: done_of(query, &session),
        problem: None,
    };
    keys_page(&state, &session, outcome)
}

fn keys_page(state: &AppState, session: &ConsoleAdmin, outcome: Outcome<'_>) -> Response {
    let status = outcome.problem.map_or(StatusCode::OK, status_of);
    page(
        status,
        state.console.pages().keys(
            &session.frame,
            &state.authority.keys().records(),
            state.authority.clock().now(),
            session.admin.token.kid(),
            outcome,
        ),
    )
}

/// The forms that only carry the session's token.
#[derive(Deserialize, ToSchema)]
pub(crate) struct RotateForm {
    csrf: String,
}

impl ActForm for RotateForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Rotate the signing keys
///
/// As `POST /v1/admin/keys/rotate`. Done: back to the keys.
#[utoipa::path(
    post,
    path = "/console/keys/rotate",
    tag = "console",
    operation_id = "console_rotate_keys",
    security(()),
    request_body(content = RotateForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Rotated: to the keys; or not signed in: to the sign-in page."),
        (status = 400, description = "A malformed form.", content_type = "text/html", body = String),
        (status = 403, description = "Posted from another site, or without the session's token.", content_type = "text/html", body = String),
        (status = 409, description = "No pending key to rotate to: the keys again, saying so.", content_type = "text/html", body = String),
    )
)]
async fn rotate(State(state): State<AppState>, act: Act<RotateForm>) -> Response {
    let session = act.session;
    match state.authority.keys().rotate(&session.admin.grant).await {
        Ok(_) => done("/console/keys", Done::Rotated, &session),
        Err(error) => {
            let error = ApiError::from(error);
            if error.status().is_server_error() {
                return error.into_response();
            }
            let problem = problem(&error);
            let outcome = Outcome {
                done: None,
                problem: Some(&problem),
            };
            keys_page(&state, &session, outcome)
        }
    }
}

/// Which key.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct KeyQuery {
    /// The key's id.
    kid: String,
}

/// Revoke a signing key: what it would end
///
/// The sessions holding unexpired tokens the key signed, which revoking it ends, and the form
/// that confirms.
#[utoipa::path(
    get,
    path = "/console/keys/revoke",
    tag = "console",
    operation_id = "console_revoke_key_preview",
    security(()),
    params(KeyQuery),
    responses(
        (status = 200, description = "The page.", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to the sign-in page."),
        (status = 400, description = "No key named.", content_type = "text/html", body = String),
        (status = 404, description = "No such key, or it verifies nothing already.", content_type = "text/html", body = String),
    )
)]
async fn revoke_preview(
    State(state): State<AppState>,
    Session(session): Session,
    query: Result<Query<KeyQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return error_page(
            &state,
            Some(&session),
            StatusCode::BAD_REQUEST,
            "name the key: ?kid=…",
        );
    };
    use haechi_custody::KeyState;
    match state.authority.keys().state(&query.kid) {
        None | Some(KeyState::Revoked | KeyState::Retired) => {
            return error_page(
                &state,
                Some(&session),
                StatusCode::NOT_FOUND,
                "no key of that id verifies anything now",
            );
        }
        Some(_) => {}
    }
    let sessions = match state.authority.keys().sessions_signed_by(&query.kid).await {
        Ok(sessions) => sessions,
        Err(error) => return ApiError::from(error).into_response(),
    };
    let own = session.admin.token.kid() == query.kid;
    let revocation = listed(query.kid, sessions, None);
    page(
        StatusCode::OK,
        state
            .console
            .pages()
            .revoke_key(&session.frame, &revocation, own, false),
    )
}

fn listed(kid: String, mut sessions: Vec<String>, replaced_by: Option<String>) -> KeyRevocation {
    let total = sessions.len();
    sessions.truncate(SESSIONS_LISTED);
    KeyRevocation {
        kid,
        sessions,
        total,
        replaced_by,
    }
}

/// The form that revokes a key.
#[derive(Deserialize, ToSchema)]
pub(crate) struct RevokeForm {
    csrf: String,
    /// The key's id.
    kid: String,
}

impl ActForm for RevokeForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Revoke a signing key (compromise)
///
/// As `POST /v1/admin/keys/{kid}/revoke`: every token the key signed stops working at once.
/// The page lists the sessions it ended.
#[utoipa::path(
    post,
    path = "/console/keys/revoke",
    tag = "console",
    operation_id = "console_revoke_key",
    security(()),
    request_body(content = RevokeForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked: the sessions it ended.", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to the sign-in page."),
        (status = 400, description = "A malformed form.", content_type = "text/html", body = String),
        (status = 403, description = "Posted from another site, or without the session's token.", content_type = "text/html", body = String),
        (status = 404, description = "No such key.", content_type = "text/html", body = String),
        (status = 409, description = "Revoked already.", content_type = "text/html", body = String),
    )
)]
async fn revoke(State(state): State<AppState>, act: Act<RevokeForm>) -> Response {
    let Act { session, form } = act;
    match state
        .authority
        .keys()
        .revoke(&form.kid, &session.admin.grant)
        .await
    {
        Ok(revoked) => {
            let revocation = listed(revoked.kid, revoked.sessions, revoked.replaced_by);
            page(
                StatusCode::OK,
                state
                    .console
                    .pages()
                    .revoke_key(&session.frame, &revocation, false, true),
            )
        }
        Err(error) => {
            let error = ApiError::from(error);
            if error.status().is_server_error() {
                return error.into_response();
            }
            error_page(&state, Some(&session), error.status(), error.message())
        }
    }
}

/// Rules
///
/// The rules in force, each with how many alerts of it the desk holds and its newest one;
/// the rules that did not load.
#[utoipa::path(
    get,
    path = "/console/rules",
    tag = "console",
    operation_id = "console_rules",
    security(()),
    responses(
        (status = 200, description = "The page.", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to the sign-in page."),
    )
)]
async fn rules(State(state): State<AppState>, Session(session): Session) -> Response {
    let (alerts, _) = state.detection.alerts.list(&AlertFilter {
        state: None,
        severities: Vec::new(),
        rule_id: None,
        limit: usize::MAX,
    });
    page(
        StatusCode::OK,
        state.console.pages().rules(
            &session.frame,
            &state.rules.in_force(),
            &alerts,
            &leak_sources(&state),
        ),
    )
}

/// The leak watch's sources as the console shows them.
fn leak_sources(state: &AppState) -> Vec<haechi_console::LeakSourceRow> {
    state
        .leak_sources
        .snapshot()
        .into_iter()
        .map(|health| haechi_console::LeakSourceRow {
            name: health.name,
            up: health.up,
            failures: health.failures,
            last_error: health.last_error.or_else(|| {
                health.listing_cut.then(|| {
                    "lists more entries than a poll looks at: move finished files away".into()
                })
            }),
            last_poll: health.last_poll.map(|time| {
                let micros = time
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_micros();
                haechi_events::Timestamp::from_micros(i64::try_from(micros).unwrap_or(i64::MAX))
            }),
            matched: health.matched,
            clean: health.clean,
            quarantined: health.quarantined,
        })
        .collect()
}
