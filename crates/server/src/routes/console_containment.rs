//! The console's containment page: the blocks and suspensions in force, and the forms that add
//! and lift them — each with a reason, each done through the containment desk exactly as the
//! bearer API's routes do it, and recorded the same way.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use haechi_console::{Done, Outcome, Problem};
use haechi_events::Principal;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::blocks::{block_request, checked_reason, suspend_request};
use super::console::{Act, ActForm, Session, done, done_in, page, problem, status_of};
use crate::console::ConsoleAdmin;
use crate::{ApiError, AppState};

const PAGE: &str = "/console/containment";

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(containment))
        .routes(routes!(add_block))
        .routes(routes!(lift_block))
        .routes(routes!(suspend))
        .routes(routes!(lift_suspension))
}

/// The act just done, which the page confirms.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DoneQuery {
    /// The act done, as the redirect after it marked it for the session.
    #[param(example = "block_added")]
    done: Option<String>,
}

/// The act a page's address says this session did (`None` for anything unreadable, unknown,
/// or not marked for this session).
pub(super) fn done_of(
    query: Result<Query<DoneQuery>, QueryRejection>,
    session: &ConsoleAdmin,
) -> Option<Done> {
    let query = query.ok().and_then(|Query(query)| query.done);
    done_in(query.as_deref(), session)
}

/// Blocks and suspensions
///
/// The networks blocked and the principals suspended now, with the forms to add and lift
/// them.
#[utoipa::path(
    get,
    path = "/console/containment",
    tag = "console",
    operation_id = "console_containment",
    security(()),
    params(DoneQuery),
    responses(
        (status = 200, description = "The page.", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to the sign-in page."),
    )
)]
async fn containment(
    State(state): State<AppState>,
    Session(session): Session,
    query: Result<Query<DoneQuery>, QueryRejection>,
) -> Response {
    let outcome = Outcome {
        done: done_of(query, &session),
        problem: None,
    };
    containment_page(&state, &session, outcome, &[]).await
}

async fn containment_page(
    state: &AppState,
    session: &ConsoleAdmin,
    outcome: Outcome<'_>,
    form: &[(String, String)],
) -> Response {
    let containment = &state.detection.containment;
    let suspensions = match containment.suspensions().await {
        Ok(suspensions) => suspensions,
        Err(error) => return ApiError::part_unavailable("the store", error).into_response(),
    };
    let status = outcome.problem.map_or(StatusCode::OK, status_of);
    page(
        status,
        state.console.pages().containment(
            &session.frame,
            &containment.blocks(),
            &suspensions,
            outcome,
            form,
        ),
    )
}

/// The page again with `error` (a 5xx is the API's error as it is), keeping `form`'s values.
async fn refused(
    state: &AppState,
    session: &ConsoleAdmin,
    error: ApiError,
    form: &[(String, String)],
) -> Response {
    if error.status().is_server_error() {
        return error.into_response();
    }
    let problem: Problem = problem(&error);
    let outcome = Outcome {
        done: None,
        problem: Some(&problem),
    };
    containment_page(state, session, outcome, form).await
}

/// The form that blocks a network.
#[derive(Deserialize, ToSchema)]
pub(crate) struct BlockForm {
    csrf: String,
    /// An address or CIDR network.
    network: String,
    /// For how long, in seconds.
    ttl_secs: u64,
    /// Why.
    reason: String,
}

impl ActForm for BlockForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Block a network
///
/// As `POST /v1/admin/blocks`. Done: back to the page, saying so.
#[utoipa::path(
    post,
    path = "/console/blocks",
    tag = "console",
    operation_id = "console_add_block",
    security(()),
    request_body(content = BlockForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Blocked: to the page; or not signed in: to the sign-in page."),
        (status = 400, description = "A malformed form.", content_type = "text/html", body = String),
        (status = 403, description = "Posted from another site, or without the session's token.", content_type = "text/html", body = String),
        (status = 422, description = "Refused (a bad network, one never blocked, no reason): the page again, saying why.", content_type = "text/html", body = String),
    )
)]
async fn add_block(State(state): State<AppState>, act: Act<BlockForm>) -> Response {
    let Act { session, form } = act;
    let values = [
        ("network".to_string(), form.network.clone()),
        ("reason".to_string(), form.reason.clone()),
    ];
    let request = match block_request(&form.network, form.ttl_secs, form.reason) {
        Ok(request) => request,
        Err(error) => return refused(&state, &session, error, &values).await,
    };
    match state
        .detection
        .containment
        .block(request, &session.admin.grant)
        .await
    {
        Ok(_) => done(PAGE, Done::BlockAdded, &session),
        Err(error) => refused(&state, &session, error.into(), &values).await,
    }
}

/// The form that lifts a block.
#[derive(Deserialize, ToSchema)]
pub(crate) struct LiftBlockForm {
    csrf: String,
    /// The block's id.
    id: u64,
    /// Why.
    reason: String,
}

impl ActForm for LiftBlockForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Lift a block
///
/// As `DELETE /v1/admin/blocks/{id}?reason=…`, the reason required. Done: back to the page.
#[utoipa::path(
    post,
    path = "/console/blocks/lift",
    tag = "console",
    operation_id = "console_lift_block",
    security(()),
    request_body(content = LiftBlockForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Lifted: to the page; or not signed in: to the sign-in page."),
        (status = 400, description = "A malformed form.", content_type = "text/html", body = String),
        (status = 403, description = "Posted from another site, or without the session's token.", content_type = "text/html", body = String),
        (status = 404, description = "No such block in force: the page again, saying so.", content_type = "text/html", body = String),
        (status = 422, description = "No reason: the page again, saying so.", content_type = "text/html", body = String),
    )
)]
async fn lift_block(State(state): State<AppState>, act: Act<LiftBlockForm>) -> Response {
    let Act { session, form } = act;
    let reason = match checked_reason("reason for lifting", form.reason) {
        Ok(reason) => reason,
        Err(error) => return refused(&state, &session, error, &[]).await,
    };
    let lifted = state
        .detection
        .containment
        .lift(form.id, Some(&reason), &session.admin.grant)
        .await;
    match lifted {
        Ok(Some(_)) => done(PAGE, Done::BlockLifted, &session),
        Ok(None) => {
            let error = ApiError::not_found(format!("no block {} in force", form.id));
            refused(&state, &session, error, &[]).await
        }
        Err(error) => refused(&state, &session, error.into(), &[]).await,
    }
}

/// The form that suspends a principal.
#[derive(Deserialize, ToSchema)]
pub(crate) struct SuspendForm {
    csrf: String,
    /// The principal, e.g. `service:legacy-export`.
    principal: String,
    /// Why.
    reason: String,
}

impl ActForm for SuspendForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Suspend a principal
///
/// As `POST /v1/admin/suspensions`. Done: back to the page.
#[utoipa::path(
    post,
    path = "/console/suspensions",
    tag = "console",
    operation_id = "console_suspend",
    security(()),
    request_body(content = SuspendForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Suspended: to the page; or not signed in: to the sign-in page."),
        (status = 400, description = "A malformed form.", content_type = "text/html", body = String),
        (status = 403, description = "Posted from another site, or without the session's token.", content_type = "text/html", body = String),
        (status = 422, description = "Refused (not a principal, yourself, no reason): the page again, saying why.", content_type = "text/html", body = String),
    )
)]
async fn suspend(State(state): State<AppState>, act: Act<SuspendForm>) -> Response {
    let Act { session, form } = act;
    let values = [
        ("principal".to_string(), form.principal.clone()),
        ("suspend_reason".to_string(), form.reason.clone()),
    ];
    let request = match suspend_request(&session.admin, &form.principal, form.reason) {
        Ok(request) => request,
        Err(error) => return refused(&state, &session, error, &values).await,
    };
    match state
        .detection
        .containment
        .suspend(request, &session.admin.grant)
        .await
    {
        Ok(true) => done(PAGE, Done::Suspended, &session),
        Ok(false) => {
            let error = ApiError::conflict("already suspended: nothing changed, nothing recorded");
            refused(&state, &session, error, &values).await
        }
        Err(error) => refused(&state, &session, error.into(), &values).await,
    }
}

/// The form that lifts a suspension.
#[derive(Deserialize, ToSchema)]
pub(crate) struct LiftSuspensionForm {
    csrf: String,
    /// The suspended principal.
    principal: String,
    /// Why.
    reason: String,
}

impl ActForm for LiftSuspensionForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Lift a suspension
///
/// As `DELETE /v1/admin/suspensions/{principal}?reason=…`, the reason required. Done: back
/// to the page.
#[utoipa::path(
    post,
    path = "/console/suspensions/lift",
    tag = "console",
    operation_id = "console_lift_suspension",
    security(()),
    request_body(content = LiftSuspensionForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Lifted: to the page; or not signed in: to the sign-in page."),
        (status = 400, description = "A malformed form.", content_type = "text/html", body = String),
        (status = 403, description = "Posted from another site, or without the session's token.", content_type = "text/html", body = String),
        (status = 404, description = "No such suspension: the page again, saying so.", content_type = "text/html", body = String),
        (status = 422, description = "No reason: the page again, saying so.", content_type = "text/html", body = String),
    )
)]
async fn lift_suspension(State(state): State<AppState>, act: Act<LiftSuspensionForm>) -> Response {
    let Act { session, form } = act;
    let reason = match checked_reason("reason for lifting", form.reason) {
        Ok(reason) => reason,
        Err(error) => return refused(&state, &session, error, &[]).await,
    };
    let not_found = || ApiError::not_found(format!("no suspension of {}", form.principal));
    let Ok(principal) = form.principal.parse::<Principal>() else {
        return refused(&state, &session, not_found(), &[]).await;
    };
    let lifted = state
        .detection
        .containment
        .lift_suspension(&principal, Some(&reason), &session.admin.grant)
        .await;
    match lifted {
        Ok(true) => done(PAGE, Done::SuspensionLifted, &session),
        Ok(false) => refused(&state, &session, not_found(), &[]).await,
        Err(error) => refused(&state, &session, error.into(), &[]).await,
    }
}
