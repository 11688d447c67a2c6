//! Customer login, refresh and logout.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use haechi_token::{LoginIdentifier, TokenPair};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zeroize::Zeroizing;

use crate::extract::{Authenticated, Caller, JsonBody};
use crate::openapi::{
    BadRequest, Forbidden, PayloadTooLarge, TooManyRequests, Unauthorized, Unavailable,
    Unprocessable, UnsupportedMediaType,
};
use crate::{ApiError, AppState};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(session))
}

/// Who a token speaks for (members in the order the API has always written them).
#[derive(Debug, Serialize, ToSchema)]
struct SessionInfo {
    /// When the access token expires, RFC 3339.
    expires_at: String,
    /// The access token's id.
    jti: String,
    /// The key that signed it.
    kid: String,
    /// Who it speaks for.
    principal: String,
    /// Its scopes, space-separated.
    scope: String,
    /// Its session.
    session_id: String,
}

/// Who the presented token speaks for
///
/// A cheap way for a client (or a test) to check that a token verifies.
#[utoipa::path(
    get,
    path = "/v1/auth/session",
    tag = "auth",
    operation_id = "session",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The token verifies.", body = SessionInfo),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable),
    )
)]
async fn session(caller: Authenticated) -> axum::Json<SessionInfo> {
    let token = &caller.token;
    axum::Json(SessionInfo {
        expires_at: token.expires_at().to_rfc3339(),
        jti: token.jti().to_string(),
        kid: token.kid().to_string(),
        principal: token.principal().to_string(),
        scope: token.scopes().join(" "),
        session_id: token.sid().to_string(),
    })
}

/// A customer's login: exactly one of `email` or `phone`, and the password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "kim@example.com", "password": "correct horse battery"}))]
struct LoginRequest {
    /// The account's e-mail (or give `phone`).
    #[serde(default)]
    email: Option<String>,
    /// The account's phone (or give `email`).
    #[serde(default)]
    phone: Option<String>,
    /// At most 1024 bytes.
    #[schema(value_type = String, max_length = 1024)]
    password: Zeroizing<String>,
}

/// Customer login: a token pair
///
/// Attempts are limited per account and per source address (reserved before the password is
/// hashed); over the limit the answer is 429 with `Retry-After`.
#[utoipa::path(
    post,
    path = "/v1/auth/login",
    tag = "auth",
    operation_id = "login",
    security(()),
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in.", body = TokenPair),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = Unprocessable),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    )
)]
async fn login(
    State(state): State<AppState>,
    Caller(context): Caller,
    JsonBody(request): JsonBody<LoginRequest>,
) -> Result<axum::Json<TokenPair>, ApiError> {
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

/// A refresh token to exchange.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"refresh_token": "hrt_q2VbOdbZf1zCk3Ahw6l4cYz1pT0dN3wH"}))]
struct RefreshRequest {
    /// The single-use refresh token of the customer's last pair.
    refresh_token: String,
}

/// Exchange a refresh token for a new pair
///
/// A refresh token is single-use: presenting one twice revokes its whole session.
#[utoipa::path(
    post,
    path = "/v1/auth/refresh",
    tag = "auth",
    operation_id = "refresh",
    security(()),
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new pair; the old refresh token is spent.", body = TokenPair),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
async fn refresh(
    State(state): State<AppState>,
    Caller(context): Caller,
    JsonBody(request): JsonBody<RefreshRequest>,
) -> Result<axum::Json<TokenPair>, ApiError> {
    let pair = state
        .authority
        .sessions()
        .refresh(&request.refresh_token, &context)
        .await?;
    Ok(axum::Json(pair))
}

/// End the caller's session
///
/// Every token of the session stops working at once.
#[utoipa::path(
    post,
    path = "/v1/auth/logout",
    tag = "auth",
    operation_id = "logout",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The session is over."),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable),
    )
)]
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
