//! OAuth 2.0 endpoints: token (client credentials, refresh), introspection (RFC 7662),
//! revocation (RFC 7009).

use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use haechi_events::{Principal, RequestContext};
use serde::Deserialize;

use crate::extract::{Authenticated, Caller, OAuthBody, basic_credentials, request_context};
use crate::{ApiError, AppState};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/oauth/token", post(token))
        .route("/v1/oauth/introspect", post(introspect))
        .route("/v1/oauth/revoke", post(revoke))
}

#[derive(Deserialize)]
struct TokenRequest {
    grant_type: String,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
}

async fn token(
    State(state): State<AppState>,
    Caller(context): Caller,
    headers: HeaderMap,
    OAuthBody(request): OAuthBody<TokenRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let pair = match request.grant_type.as_str() {
        "client_credentials" => {
            let (client_id, client_secret) = match basic_credentials(&headers) {
                Some(credentials) => credentials,
                None => match (request.client_id, request.client_secret) {
                    (Some(id), Some(secret)) => (id, secret),
                    _ => {
                        return Err(ApiError::unauthorized(
                            "invalid_client",
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
                    "invalid_request",
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
                "unsupported_grant_type",
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

#[derive(Deserialize)]
struct TokenParameter {
    token: String,
    #[serde(default)]
    #[allow(
        dead_code,
        reason = "RFC 7009/7662 allow the hint; lookup works without it"
    )]
    token_type_hint: Option<String>,
}

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
