//! The console's alert pages: one alert with its evidence events, its acknowledgement, and
//! "who was exposed" — the scope of its indicators, as a page and as the notification list.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use haechi_console::{Done, Outcome, ScopeSummary};
use haechi_events::EventKind;
use haechi_forensics::report::{ListFormat, write_list};
use haechi_respond::AlertView;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::console::{Act, ActForm, Session, done, error_page, page, problem, status_of};
use crate::console::{ConsoleAdmin, ScopeRefused, ScopeResult};
use crate::{ApiError, AppState};

/// Evidence events shown on an alert's page (the alert keeps at most 100 seqs).
const EVENTS_SHOWN: usize = 100;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(alert))
        .routes(routes!(acknowledge))
        .routes(routes!(scope))
        .routes(routes!(scope_csv))
        .routes(routes!(scope_jsonl))
}

/// Which alert.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AlertQuery {
    /// The alert's id, `RULE_ID/SEQ`.
    #[param(example = "haechi.token.forged/4812")]
    id: String,
    /// The act just done, as the redirect after it marked it for the session.
    done: Option<String>,
}

/// The alert `query` names, or the page saying there is none.
#[allow(
    clippy::result_large_err,
    reason = "the refusal is the page answered at once by the handler that asked"
)]
fn find(
    state: &AppState,
    session: &ConsoleAdmin,
    query: Result<Query<AlertQuery>, QueryRejection>,
) -> Result<(AlertView, AlertQuery), Response> {
    let Ok(Query(query)) = query else {
        return Err(error_page(
            state,
            Some(session),
            StatusCode::BAD_REQUEST,
            "name the alert: ?id=RULE_ID/SEQ",
        ));
    };
    match state.detection.alerts.get(&query.id) {
        Some(alert) => Ok((alert, query)),
        None => Err(error_page(
            state,
            Some(session),
            StatusCode::NOT_FOUND,
            "no such alert is held here (on a cluster, alerts are on the detection nodes)",
        )),
    }
}

/// One alert
///
/// What it is, its response actions, its evidence events from the audit trail, and the forms
/// to acknowledge it and to see who was exposed.
#[utoipa::path(
    get,
    path = "/console/alert",
    tag = "console",
    operation_id = "console_alert",
    security(()),
    params(AlertQuery),
    responses(
        (status = 200, description = "The page.", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to the sign-in page."),
        (status = 400, description = "No alert named.", content_type = "text/html", body = String),
        (status = 404, description = "No such alert.", content_type = "text/html", body = String),
    )
)]
async fn alert(
    State(state): State<AppState>,
    Session(session): Session,
    query: Result<Query<AlertQuery>, QueryRejection>,
) -> Response {
    let (alert, query) = match find(&state, &session, query) {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    let outcome = Outcome {
        done: super::console::done_in(query.done.as_deref(), &session),
        problem: None,
    };
    alert_page(&state, &session, &alert, outcome).await
}

async fn alert_page(
    state: &AppState,
    session: &ConsoleAdmin,
    alert: &AlertView,
    outcome: Outcome<'_>,
) -> Response {
    let (events, note) = evidence(state, alert).await;
    if !events.is_empty() {
        // Whoever reads the trail is on it, as with GET /v1/admin/audit: which records, whose.
        let mut customers: Vec<&str> = events
            .iter()
            .filter_map(|(_, event)| event.customer_id.as_deref())
            .collect();
        customers.sort_unstable();
        customers.dedup();
        let event = session
            .admin
            .event(state.authority.clock().now(), EventKind::AdminAuditRead)
            .reason(format!("evidence of alert {}", alert.alert.id))
            .detail("what", "alert evidence")
            .detail("alert_id", alert.alert.id.to_string())
            .detail("records", events.len().to_string())
            .detail("customers", customers.join(","));
        if let Err(error) = state.events.record(event).await {
            return ApiError::audit_unavailable(error).into_response();
        }
    }
    let status = outcome.problem.map_or(StatusCode::OK, status_of);
    page(
        status,
        state
            .console
            .pages()
            .alert(&session.frame, alert, &events, note.as_deref(), outcome),
    )
}

/// The alert's evidence events the trail holds (this node's log, or the cluster's stream), and
/// a note on those it does not.
async fn evidence(
    state: &AppState,
    alert: &AlertView,
) -> (Vec<(u64, haechi_events::SecurityEvent)>, Option<String>) {
    let seqs: Vec<u64> = alert
        .alert
        .evidence_seqs
        .iter()
        .copied()
        .take(EVENTS_SHOWN)
        .collect();
    match state.console.evidence().events(seqs.clone()).await {
        Ok(events) => {
            let missing = seqs.len().saturating_sub(events.len());
            let mut note = (missing > 0).then(|| {
                format!(
                    "{missing} of the events are no longer in the live trail (pruned after \
                     export): haechi audit search over the archive has them."
                )
            });
            if alert.alert.count > seqs.len() as u64 {
                let more = format!(
                    "{} events in all; the first {} are listed.",
                    alert.alert.count,
                    seqs.len()
                );
                note = Some(note.map_or(more.clone(), |note| format!("{note} {more}")));
            }
            (events, note)
        }
        Err(error) => {
            tracing::error!(%error, "cannot read an alert's evidence from the audit trail");
            (
                Vec::new(),
                Some("The audit trail cannot be read now; see the server log.".into()),
            )
        }
    }
}

/// The acknowledgement form.
#[derive(Deserialize, ToSchema)]
pub(crate) struct AckForm {
    csrf: String,
    /// The alert.
    id: String,
    /// An incident reference, or why it is not one.
    note: String,
}

impl ActForm for AckForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Acknowledge an alert
///
/// As `POST /v1/admin/alerts/{id}/ack`, with a note required. Done: back to the alert.
#[utoipa::path(
    post,
    path = "/console/alert/ack",
    tag = "console",
    operation_id = "console_acknowledge",
    security(()),
    request_body(content = AckForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Acknowledged: to the alert; or not signed in: to the sign-in page."),
        (status = 400, description = "A malformed form.", content_type = "text/html", body = String),
        (status = 403, description = "Posted from another site, or without the session's token.", content_type = "text/html", body = String),
        (status = 404, description = "No such alert.", content_type = "text/html", body = String),
        (status = 422, description = "No note, or one too long: the alert again, saying so.", content_type = "text/html", body = String),
    )
)]
async fn acknowledge(State(state): State<AppState>, act: Act<AckForm>) -> Response {
    let Act { session, form } = act;
    let Some(alert) = state.detection.alerts.get(&form.id) else {
        return error_page(
            &state,
            Some(&session),
            StatusCode::NOT_FOUND,
            "no such alert",
        );
    };
    let result = if form.note.trim().is_empty() {
        Err(ApiError::unprocessable(
            "note: say what this is (an incident reference, or why it is no attack)",
        ))
    } else {
        super::alerts::acknowledge_with_note(&state, &session.admin, &form.id, Some(form.note))
            .await
    };
    match result {
        Ok(_) => done(&alert_path(&form.id), Done::Acknowledged, &session),
        Err(error) if error.status().is_server_error() => error.into_response(),
        Err(error) => {
            let problem = problem(&error);
            let outcome = Outcome {
                done: None,
                problem: Some(&problem),
            };
            alert_page(&state, &session, &alert, outcome).await
        }
    }
}

/// The alert's page: `/console/alert?id=…`.
fn alert_path(id: &str) -> String {
    let id: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
    format!("/console/alert?id={id}")
}

/// The scope of `alert`, run or reused; the refusal as a page.
#[allow(
    clippy::result_large_err,
    reason = "the refusal is the page answered at once by the handler that asked"
)]
async fn scope_of(
    state: &AppState,
    session: &ConsoleAdmin,
    alert: &AlertView,
) -> Result<(ScopeResult, bool), Response> {
    if state.freshness.is_some() {
        // 501, not 503: this node is well, it does not do this (a load balancer takes a 503
        // for a node to route around).
        return Err(error_page(
            state,
            Some(session),
            StatusCode::NOT_IMPLEMENTED,
            "On a cluster, run haechi scope --alert over the cluster's archive \
             (haechi audit export --bus): this node's trail holds only its own requests.",
        ));
    }
    let rule_group_by = state.rules.current_rules().and_then(|rules| {
        rules
            .iter()
            .find(|rule| rule.id() == alert.alert.rule_id)
            .map(haechi_detect::Rule::group_by_names)
    });
    let id = alert.alert.id.to_string();
    let log_dir = state.audit.dir().to_path_buf();
    match state.console.scope(&id, log_dir, rule_group_by).await {
        Ok(result) => Ok(result),
        Err(ScopeRefused::Busy) => Err(busy(state, session)),
        Err(ScopeRefused::Unavailable(message)) => Err(error_page(
            state,
            Some(session),
            StatusCode::SERVICE_UNAVAILABLE,
            &message,
        )),
        Err(ScopeRefused::Forensics(error)) => {
            tracing::warn!(%error, alert = %id, "the console's scope of an alert failed");
            Err(error_page(
                state,
                Some(session),
                StatusCode::UNPROCESSABLE_ENTITY,
                "this alert cannot be scoped from the trail here (see the server log); \
                 haechi scope --alert says why",
            ))
        }
    }
}

/// 429 with `Retry-After`: another scope (or two lists) is being made.
fn busy(state: &AppState, session: &ConsoleAdmin) -> Response {
    let mut response = error_page(
        state,
        Some(session),
        StatusCode::TOO_MANY_REQUESTS,
        &ScopeRefused::Busy.to_string(),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
    response
}

/// Records that `session`'s administrator read who was exposed (`what`: the page or an
/// export), as a trail search with its reason: the monthly access review lists it.
#[allow(
    clippy::result_large_err,
    reason = "the refusal is the page answered at once by the handler that asked"
)]
async fn record_read(
    state: &AppState,
    session: &ConsoleAdmin,
    result: &ScopeResult,
    what: &str,
) -> Result<(), Response> {
    let event = session
        .admin
        .event(state.authority.clock().now(), EventKind::AdminAuditRead)
        .reason(format!("who was exposed: alert {}", result.alert_id))
        .detail("what", format!("who was exposed ({what})"))
        .detail("scope.alert", result.alert_id.clone())
        .detail("customers", result.scope.summary.customers.to_string());
    state
        .events
        .record(event)
        .await
        .map(|_| ())
        .map_err(|error| ApiError::audit_unavailable(error).into_response())
}

/// Who was exposed, for an alert
///
/// The exact scope of the alert's indicators (`haechi scope --alert`, over this node's trail):
/// customers, fields, first and last exposure, a per-day figure, and the links to the whole
/// list. One scope runs at a time (429 with `Retry-After` while another does); a result is
/// reused for a minute. Recorded as a trail read with its reason.
#[utoipa::path(
    get,
    path = "/console/alert/scope",
    tag = "console",
    operation_id = "console_scope",
    security(()),
    params(AlertQuery),
    responses(
        (status = 200, description = "The page.", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to the sign-in page."),
        (status = 404, description = "No such alert.", content_type = "text/html", body = String),
        (status = 422, description = "The alert cannot be scoped from the trail.", content_type = "text/html", body = String),
        (status = 429, description = "Another scope is running.", content_type = "text/html", body = String),
        (status = 501, description = "A cluster node: the scope runs over the cluster's archive (`haechi scope`).", content_type = "text/html", body = String),
        (status = 503, description = "This node has no trail to read.", content_type = "text/html", body = String),
    )
)]
async fn scope(
    State(state): State<AppState>,
    Session(session): Session,
    query: Result<Query<AlertQuery>, QueryRejection>,
) -> Response {
    let (alert, _) = match find(&state, &session, query) {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    let (result, cached) = match scope_of(&state, &session, &alert).await {
        Ok(result) => result,
        Err(refused) => return refused,
    };
    if let Err(refused) = record_read(&state, &session, &result, "page").await {
        return refused;
    }
    let summary = ScopeSummary {
        scope: &result.scope,
        source: &result.source,
        elapsed_ms: u64::try_from(result.elapsed.as_millis()).unwrap_or(u64::MAX),
        cached,
    };
    page(
        StatusCode::OK,
        state
            .console
            .pages()
            .scope(&session.frame, &alert, &summary),
    )
}

/// The notification list as CSV
///
/// Every exposed customer of the alert's scope: id, fields, first and last exposure, reads
/// (no contact details). Recorded as a trail read.
#[utoipa::path(
    get,
    path = "/console/alert/scope.csv",
    tag = "console",
    operation_id = "console_scope_csv",
    security(()),
    params(AlertQuery),
    responses(
        (status = 200, description = "The list.", content_type = "text/csv", body = String),
        (status = 303, description = "Not signed in: to the sign-in page."),
        (status = 404, description = "No such alert.", content_type = "text/html", body = String),
        (status = 429, description = "Another scope is running.", content_type = "text/html", body = String),
        (status = 501, description = "A cluster node: the scope runs over the cluster's archive (`haechi scope`).", content_type = "text/html", body = String),
    )
)]
async fn scope_csv(
    State(state): State<AppState>,
    Session(session): Session,
    query: Result<Query<AlertQuery>, QueryRejection>,
) -> Response {
    export(&state, &session, query, ListFormat::Csv).await
}

/// The notification list as JSON lines
///
/// As the CSV, one JSON object per customer: what `haechi incident create --from` reads.
#[utoipa::path(
    get,
    path = "/console/alert/scope.jsonl",
    tag = "console",
    operation_id = "console_scope_jsonl",
    security(()),
    params(AlertQuery),
    responses(
        (status = 200, description = "The list.", content_type = "application/jsonl", body = String),
        (status = 303, description = "Not signed in: to the sign-in page."),
        (status = 404, description = "No such alert.", content_type = "text/html", body = String),
        (status = 429, description = "Another scope is running.", content_type = "text/html", body = String),
        (status = 501, description = "A cluster node: the scope runs over the cluster's archive (`haechi scope`).", content_type = "text/html", body = String),
    )
)]
async fn scope_jsonl(
    State(state): State<AppState>,
    Session(session): Session,
    query: Result<Query<AlertQuery>, QueryRejection>,
) -> Response {
    export(&state, &session, query, ListFormat::JsonLines).await
}

async fn export(
    state: &AppState,
    session: &ConsoleAdmin,
    query: Result<Query<AlertQuery>, QueryRejection>,
    format: ListFormat,
) -> Response {
    let (alert, _) = match find(state, session, query) {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    let (result, _) = match scope_of(state, session, &alert).await {
        Ok(result) => result,
        Err(refused) => return refused,
    };
    // Each list is built whole in memory: two at a time.
    let Ok(_turn) = state.console.export_turn() else {
        return busy(state, session);
    };
    let (extension, content_type) = match format {
        ListFormat::Csv => ("csv", "text/csv; charset=utf-8"),
        _ => ("jsonl", "application/jsonl; charset=utf-8"),
    };
    if let Err(refused) = record_read(state, session, &result, extension).await {
        return refused;
    }
    let mut body = Vec::new();
    if let Err(error) = write_list(format, &result.scope.customers, None, &mut body) {
        return ApiError::internal(error).into_response();
    }
    let file: String = result
        .alert_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"exposed-{file}.{extension}\""),
            ),
        ],
        body,
    )
        .into_response()
}
