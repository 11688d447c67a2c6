//! Request extractors: the caller's context, verified tokens, and bodies whose rejections are
//! answered in the API's JSON error format.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, FormRejection, JsonRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use base64::Engine as _;
use haechi_events::{EventKind, RequestContext, SecurityEvent, Timestamp};
use haechi_token::{AdminGrant, Rejection, VerifiedToken};
use serde::de::DeserializeOwned;

use crate::{ApiError, AppState, ErrorCode};

/// The request's origin: address, agent, request id.
#[derive(Debug, Clone)]
pub struct Caller(pub RequestContext);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(Caller(request_context(parts, state)))
    }
}

pub(crate) fn request_context(parts: &Parts, state: &AppState) -> RequestContext {
    let client = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| {
            state
                .settings
                .trusted_proxies
                .client(address.ip(), &parts.headers)
        });
    RequestContext {
        ip: client,
        user_agent: parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string),
        request_id: parts
            .headers
            .get("x-request-id")
            .and_then(|value| value.to_str().ok())
            .map(str::to_string),
    }
}

/// A request carrying a verified access token.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The proof of verification.
    pub token: VerifiedToken,
    /// Where the request came from.
    pub context: RequestContext,
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let context = request_context(parts, state);
        let Some(token) = bearer_token(parts)? else {
            state
                .authority
                .verifier()
                .report_missing_token(&context)
                .await;
            return Err(Rejection::Missing.into());
        };
        let verified = state.authority.verifier().verify(token, &context).await?;
        Ok(Authenticated {
            token: verified,
            context,
        })
    }
}

fn bearer_token(parts: &Parts) -> Result<Option<&str>, ApiError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| {
        ApiError::unauthorized(
            ErrorCode::InvalidToken,
            "the Authorization header is not ASCII",
        )
    })?;
    let Some((scheme, token)) = value.split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    Ok(Some(token.trim()))
}

/// A request by an administrator: a verified token of an `admin:` principal with the `admin`
/// scope, and the [`AdminGrant`] the token authority made of it, which every privileged act
/// requires.
#[derive(Debug, Clone)]
pub struct Admin {
    /// The proof of verification.
    pub token: VerifiedToken,
    /// Where the request came from.
    pub context: RequestContext,
    /// The permission for privileged acts.
    pub grant: AdminGrant,
}

impl Admin {
    /// An event of `kind` at `time` acted by this administrator: principal, request context,
    /// session, token and key, as every administrator's act is recorded.
    pub fn event(&self, time: Timestamp, kind: EventKind) -> SecurityEvent {
        SecurityEvent::new(time, kind, self.token.principal().clone())
            .context(&self.context)
            .sid(self.token.sid())
            .jti(self.token.jti())
            .kid(self.token.kid())
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Authenticated { token, context } =
            Authenticated::from_request_parts(parts, state).await?;
        let grant = state
            .authority
            .authorize_admin(&token, &context)
            .map_err(|_| ApiError::forbidden("this endpoint is for administrators"))?;
        Ok(Admin {
            token,
            context,
            grant,
        })
    }
}

/// HTTP Basic client authentication (RFC 6749 §2.3.1: id and secret form-urlencoded, then
/// joined by a colon and base64-encoded).
pub(crate) fn basic_credentials(parts: &axum::http::HeaderMap) -> Option<(String, String)> {
    let value = parts.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((percent_decode(id)?, percent_decode(secret)?))
}

fn percent_decode(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut input = text.bytes();
    while let Some(byte) = input.next() {
        match byte {
            b'%' => {
                let high = (input.next()? as char).to_digit(16)?;
                let low = (input.next()? as char).to_digit(16)?;
                bytes.push(u8::try_from(high * 16 + low).ok()?);
            }
            b'+' => bytes.push(b' '),
            other => bytes.push(other),
        }
    }
    String::from_utf8(bytes).ok()
}

/// A JSON body whose every rejection is a JSON API error.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// A JSON body that carries a secret (a private key being imported). Parsed like
/// [`JsonBody`], then the request's buffer is wiped, so the secret's text does not linger in
/// freed memory; `T` should hold the secret in a `Zeroizing` type for the same reason.
#[derive(Debug)]
pub struct SecretJsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for SecretJsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let is_json = sends_json(&request);
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
                "send the body as application/json",
            ));
        }
        let body = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|rejection| body_rejection(rejection.status(), rejection.body_text()))?;
        let parsed = serde_json::from_slice::<T>(&body);
        // A body received in one piece is this buffer alone; wipe it once no one else holds it.
        if let Ok(mut buffer) = body.try_into_mut() {
            zeroize::Zeroize::zeroize(buffer.as_mut());
        }
        match parsed {
            Ok(value) => Ok(SecretJsonBody(value)),
            Err(error) if error.is_data() => Err(ApiError::unprocessable(error.to_string())),
            Err(error) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::MalformedJson,
                error.to_string(),
            )),
        }
    }
}

/// Whether the request says its body is JSON.
fn sends_json(request: &Request) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"))
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(error) => ApiError::unprocessable(error.body_text()),
        JsonRejection::JsonSyntaxError(error) => ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::MalformedJson,
            error.body_text(),
        ),
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "send the body as application/json",
        ),
        JsonRejection::BytesRejection(error) => body_rejection(error.status(), error.body_text()),
        other => ApiError::bad_request(other.body_text()),
    }
}

/// One path parameter as text, whose rejection (a percent-encoded segment that is not UTF-8)
/// is a JSON API error, not axum's plain-text one.
#[derive(Debug, Clone)]
pub struct PathParam(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| PathParam(value))
            .map_err(|_| ApiError::bad_request("the path is not valid UTF-8 text"))
    }
}

/// A raw body (a TOML policy, an optional note) whose every rejection — above all a body over
/// `server.max_body_bytes` — is a JSON API error, not axum's plain-text one.
#[derive(Debug, Clone)]
pub struct RawBody(pub Bytes);

impl FromRequest<AppState> for RawBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        Bytes::from_request(request, state)
            .await
            .map(RawBody)
            .map_err(|rejection: BytesRejection| {
                body_rejection(rejection.status(), rejection.body_text())
            })
    }
}

fn body_rejection(status: StatusCode, text: String) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            status,
            ErrorCode::BodyTooLarge,
            "the request body is too large",
        )
    } else {
        ApiError::bad_request(text)
    }
}

/// An OAuth request body: `application/x-www-form-urlencoded` as the RFCs say, or JSON.
#[derive(Debug, Clone)]
pub struct OAuthBody<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest<AppState> for OAuthBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let is_json = sends_json(&request);
        if is_json {
            let JsonBody(value) = JsonBody::<T>::from_request(request, state).await?;
            return Ok(OAuthBody(value));
        }
        match axum::Form::<T>::from_request(request, state).await {
            Ok(axum::Form(value)) => Ok(OAuthBody(value)),
            Err(FormRejection::FailedToDeserializeForm(error)) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidRequest,
                error.body_text(),
            )),
            Err(FormRejection::FailedToDeserializeFormBody(error)) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidRequest,
                error.body_text(),
            )),
            Err(FormRejection::InvalidFormContentType(_)) => Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
                "send the body as application/x-www-form-urlencoded or application/json",
            )),
            Err(FormRejection::BytesRejection(error)) => {
                Err(body_rejection(error.status(), error.body_text()))
            }
            Err(other) => Err(ApiError::bad_request(other.body_text())),
        }
    }
}

/// Why an administrator downloads records (`reason=` on the audit search and the evidence
/// report): one line of 1 to 200 visible characters without personal data, recorded as the
/// event's `reason`, so the monthly review can tell an explained download from an unexplained
/// one.
pub(crate) fn download_reason(reason: &str) -> Result<String, ApiError> {
    let reason = reason.trim();
    let problem = if reason.is_empty() {
        Some("one line of 1 to 200 visible characters".to_string())
    } else {
        haechi_evidence::review::check_free_text(reason, 200, false).err()
    };
    match problem {
        Some(problem) => Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            crate::ErrorCode::InvalidParameter,
            format!("reason: {problem}"),
        )),
        None => Ok(reason.to_string()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt as _;

    /// Found by the `routes` fuzz target: `GET /v1/customers/%FF` was answered with axum's
    /// plain-text 400 ("Invalid URL: Invalid UTF-8 in `id`").
    #[tokio::test]
    async fn a_path_parameter_of_invalid_utf8_is_a_json_error() {
        let app: Router = Router::new().route(
            "/items/{id}",
            get(|PathParam(id): PathParam| async move { id }),
        );
        let request = axum::http::Request::builder()
            .uri("/items/%FF%FE")
            .body(Body::empty())
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"], "bad_request", "{body}");
        assert!(body["message"].is_string(), "{body}");
    }
}
