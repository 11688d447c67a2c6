//! OAuth 2.0 endpoints: token (client credentials, refresh), introspection (RFC 7662),
//! revocation (RFC 7009).

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use haechi_events::{Principal, RequestContext};
use haechi_token::{Introspection, TokenPair};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{Authenticated, Caller, OAuthBody, basic_credentials, request_context};
use crate::openapi::{
    BadRequest, Forbidden, PayloadTooLarge, TooManyRequests, Unauthorized, Unavailable,
    Unprocessable, UnsupportedMediaType,
};
use crate::{ApiError, AppState, ErrorCode};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(token))
        .routes(routes!(introspect))
        .routes(routes!(revoke))
}

/// A token request (RFC 6749 §4.4 client credentials, §6 refresh).
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"grant_type": "client_credentials", "scope": "shipping"}))]
struct TokenRequest {
    /// `client_credentials` or `refresh_token`.
    #[schema(examples("client_credentials", "refresh_token"))]
    grant_type: String,
    /// The client's id, when it does not authenticate with HTTP Basic.
    #[serde(default)]
    client_id: Option<String>,
    /// The client's secret, when it does not authenticate with HTTP Basic.
    #[serde(default)]
    client_secret: Option<String>,
    /// Space-separated scopes, a subset of the client's (default: all of them).
    #[serde(default)]
    scope: Option<String>,
    /// For `refresh_token`: the refresh token.
    #[serde(default)]
    refresh_token: Option<String>,
}

/// The token endpoint: client credentials or refresh
///
/// Services and administrators authenticate with HTTP Basic (or `client_id` and
/// `client_secret` in the body) and get an access token without a refresh token; a customer's
/// refresh token is exchanged for a new pair. The body is a form, as RFC 6749 says, or JSON.
#[utoipa::path(
    post,
    path = "/v1/oauth/token",
    tag = "oauth",
    operation_id = "token",
    security((), ("client_basic" = [])),
    request_body(
        description = "The grant.",
        content(
            (TokenRequest = "application/x-www-form-urlencoded"),
            (TokenRequest = "application/json"),
        )
    ),
    responses(
        (status = 200, description = "The access token.", body = TokenPair),
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
async fn token(
    State(state): State<AppState>,
    Caller(context): Caller,
    headers: HeaderMap,
    OAuthBody(request): OAuthBody<TokenRequest>,
) -> Result<axum::Json<TokenPair>, ApiError> {
    let pair = match request.grant_type.as_str() {
        "client_credentials" => {
            let (client_id, client_secret) = match basic_credentials(&headers) {
                Some(credentials) => credentials,
                None => match (request.client_id, request.client_secret) {
                    (Some(id), Some(secret)) => (id, secret),
                    _ => {
                        return Err(ApiError::unauthorized(
                            ErrorCode::InvalidClient,
                            "client authentication is required (HTTP Basic or client_id and client_secret)",
                        ));
                    }
                },
            };
            state
                .authority
                .clients()
                .client_credentials(
                    &client_id,
                    &client_secret,
                    request.scope.as_deref(),
                    &context,
                )
                .await?
        }
        "refresh_token" => {
            let refresh_token = request.refresh_token.ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::InvalidRequest,
                    "refresh_token is required",
                )
            })?;
            state
                .authority
                .sessions()
                .refresh(&refresh_token, &context)
                .await?
        }
        other => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::UnsupportedGrantType,
                format!(
                    "grant_type {:?} is not supported (client_credentials, refresh_token)",
                    other.chars().take(40).collect::<String>()
                ),
            ));
        }
    };
    Ok(axum::Json(pair))
}

/// Who may call introspection and revocation: a client authenticating with HTTP Basic (as
/// Authlib and most OAuth libraries do), or any bearer of a verified token.
struct OAuthCaller {
    principal: Principal,
    context: RequestContext,
}

impl FromRequestParts<AppState> for OAuthCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some((client_id, client_secret)) = basic_credentials(&parts.headers) {
            let context = request_context(parts, state);
            // Authenticating the client issues a short service token, whose session also
            // records the caller in the audit trail.
            let pair = state
                .authority
                .clients()
                .client_credentials(&client_id, &client_secret, None, &context)
                .await?;
            let verified = state
                .authority
                .verifier()
                .verify(&pair.access_token, &context)
                .await?;
            return Ok(OAuthCaller {
                principal: verified.principal().clone(),
                context,
            });
        }
        let Authenticated { token, context } =
            Authenticated::from_request_parts(parts, state).await?;
        Ok(OAuthCaller {
            principal: token.principal().clone(),
            context,
        })
    }
}

/// The token to introspect or revoke (RFC 7662 §2.1, RFC 7009 §2.1).
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"token": "eyJhbGciOiJFZERTQSIsImtpZCI6Ii4uLiJ9.e30.c2ln"}))]
struct TokenParameter {
    /// An access token, or a customer's refresh token (revocation).
    token: String,
    /// `access_token` or `refresh_token`; optional, lookup works without it.
    #[serde(default)]
    #[allow(
        dead_code,
        reason = "RFC 7009/7662 allow the hint; lookup works without it"
    )]
    token_type_hint: Option<String>,
}

/// Token introspection (RFC 7662)
///
/// For services and administrators (HTTP Basic client authentication, or a bearer token of
/// theirs). An inactive, unknown or malformed token is `{"active": false}`, never an error.
#[utoipa::path(
    post,
    path = "/v1/oauth/introspect",
    tag = "oauth",
    operation_id = "introspect",
    security(("client_basic" = []), ("bearer" = ["service", "admin"])),
    request_body(
        description = "The token.",
        content(
            (TokenParameter = "application/x-www-form-urlencoded"),
            (TokenParameter = "application/json"),
        )
    ),
    responses(
        (status = 200, description = "What the token is now.", body = Introspection),
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
async fn introspect(
    State(state): State<AppState>,
    caller: OAuthCaller,
    OAuthBody(request): OAuthBody<TokenParameter>,
) -> Result<impl IntoResponse, ApiError> {
    if matches!(
        caller.principal,
        Principal::Customer(_) | Principal::Anonymous
    ) {
        return Err(ApiError::forbidden(
            "introspection is for services and administrators",
        ));
    }
    let answer = state
        .authority
        .verifier()
        .introspect(&request.token, &caller.context)
        .await;
    Ok(axum::Json(answer))
}

/// Token revocation (RFC 7009)
///
/// The holder of a token (or an administrator) revokes it; a customer's refresh token ends its
/// session. An unknown token is answered 200 as well, as RFC 7009 §2.2 asks.
#[utoipa::path(
    post,
    path = "/v1/oauth/revoke",
    tag = "oauth",
    operation_id = "revoke",
    security(("client_basic" = []), ("bearer" = [])),
    request_body(
        description = "The token.",
        content(
            (TokenParameter = "application/x-www-form-urlencoded"),
            (TokenParameter = "application/json"),
        )
    ),
    responses(
        (status = 200, description = "Revoked (or never valid)."),
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
async fn revoke(
    State(state): State<AppState>,
    caller: OAuthCaller,
    OAuthBody(request): OAuthBody<TokenParameter>,
) -> Result<impl IntoResponse, ApiError> {
    state
        .authority
        .sessions()
        .revoke_token(&request.token, &caller.principal, &caller.context)
        .await?;
    Ok(StatusCode::OK)
}
