//! Customer login, refresh and logout.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use haechi_token::LoginIdentifier;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::extract::{Authenticated, Caller, JsonBody};
use crate::{ApiError, AppState};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/auth/login", post(login))
        .route("/v1/auth/refresh", post(refresh))
        .route("/v1/auth/logout", post(logout))
        .route("/v1/auth/session", get(session))
}

/// Who the presented token speaks for: a cheap way for a client (or a test) to check that a
/// token verifies.
async fn session(caller: Authenticated) -> impl IntoResponse {
    let token = &caller.token;
    axum::Json(serde_json::json!({
        "principal": token.principal().to_string(),
        "session_id": token.sid(),
        "jti": token.jti(),
        "kid": token.kid(),
        "expires_at": token.expires_at().to_rfc3339(),
        "scope": token.scopes().join(" "),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    password: Zeroizing<String>,
}

async fn login(
    State(state): State<AppState>,
    Caller(context): Caller,
    JsonBody(request): JsonBody<LoginRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let identifier = match (request.email, request.phone) {
        (Some(email), None) => LoginIdentifier::Email(email),
        (None, Some(phone)) => LoginIdentifier::Phone(phone),
        _ => {
            return Err(ApiError::unprocessable(
                "give exactly one of \"email\" or \"phone\"",
            ));
        }
    };
    if request.password.len() > 1024 {
        return Err(ApiError::unprocessable("password: too long"));
    }
    let pair = state
        .authority
        .accounts()
        .login(&identifier, request.password, &context)
        .await?;
    Ok(axum::Json(pair))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefreshRequest {
    refresh_token: String,
}

async fn refresh(
    State(state): State<AppState>,
    Caller(context): Caller,
    JsonBody(request): JsonBody<RefreshRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let pair = state
        .authority
        .sessions()
        .refresh(&request.refresh_token, &context)
        .await?;
    Ok(axum::Json(pair))
}

async fn logout(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<impl IntoResponse, ApiError> {
    state
        .authority
        .sessions()
        .logout(&caller.token, &caller.context)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
