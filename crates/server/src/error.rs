//! The one error type of the API and its mapping to HTTP.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use haechi_events::StoreError;
use haechi_token::{AuthFailure, Rejection};
use serde::Serialize;
use utoipa::ToSchema;

/// An API error: a status, a stable machine-readable code and a human message. Internal
/// failures are logged with detail and answered with a generic message.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    code: ErrorCode,
    message: String,
    retry_after_secs: Option<u64>,
    bearer_challenge: bool,
    fields: Option<Vec<FieldProblem>>,
}

/// The stable, machine-readable code of an error answer (its `error` member). The list is the
/// API's contract: `GET /openapi.json` publishes it as the `error` member's enumeration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// 400: the request is not one this endpoint can read (a path or parameter that is not
    /// text, a form that does not parse).
    BadRequest,
    /// 400: the body is not JSON.
    MalformedJson,
    /// 400: a query parameter is not one the endpoint takes, or its value is not valid.
    InvalidParameter,
    /// 400: an OAuth request lacks a parameter or repeats one (RFC 6749 §5.2).
    InvalidRequest,
    /// 400: the OAuth `grant_type` is not `client_credentials` or `refresh_token`.
    UnsupportedGrantType,
    /// 400: a requested scope is not one the client holds.
    InvalidScope,
    /// 401: no bearer token where one is needed.
    MissingToken,
    /// 401: the bearer token is not valid (why is in the audit record only).
    InvalidToken,
    /// 401: a login's identifier or password is wrong.
    InvalidCredentials,
    /// 401: a client's id or secret is wrong, or client authentication is missing.
    InvalidClient,
    /// 401: the refresh token is not valid (reused, revoked, expired).
    InvalidGrant,
    /// 401: the credential is refused for another reason.
    Unauthorized,
    /// 403: the principal may not do this.
    Forbidden,
    /// 403: the caller's network is blocked by containment (any route).
    Blocked,
    /// 404: no such thing (or not visible to this caller).
    NotFound,
    /// 405: the path exists, the method does not.
    MethodNotAllowed,
    /// 409: the act conflicts with the current state.
    Conflict,
    /// 413: the body is over `server.max_body_bytes`.
    BodyTooLarge,
    /// 415: the body is not of a media type the endpoint reads.
    UnsupportedMediaType,
    /// 422: a value is well-formed JSON of the wrong shape, or invalid (see `fields`).
    InvalidField,
    /// 422: the access policy does not parse (the message names the line).
    InvalidPolicy,
    /// 422: a detection rule set is refused (`fields` lists every problem as
    /// `FILE:LINE:COLUMN`); the rules in force keep running.
    InvalidRules,
    /// 429: a rate limit; `Retry-After` says when to retry.
    RateLimited,
    /// 429: a service's read quota is spent.
    QuotaExceeded,
    /// 431: the request headers are over `server.max_header_bytes`.
    HeadersTooLarge,
    /// 500: a fault of the server; the request id names it in the server log.
    Internal,
    /// 503: a part the act needs (database, audit trail, the cluster's shared state) cannot
    /// answer; nothing was done.
    Unavailable,
}

/// One field that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldProblem {
    /// The field as the API spells it (`phone`, `addresses[1].postal_code`).
    pub field: String,
    /// What is wrong, in a sentence (never containing the value).
    pub message: String,
}

/// The body of every error answer: `{"error": code, "message": text}`, with `fields` when
/// particular fields were at fault. Members in the order the API has always written them.
#[derive(Debug, Serialize, ToSchema)]
#[schema(
    as = ApiError,
    example = json!({"error": "invalid_token", "message": "the access token is not valid"})
)]
pub(crate) struct ErrorBody {
    /// The stable code.
    pub(crate) error: ErrorCode,
    /// Per-field problems, when fields were at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) fields: Option<Vec<FieldProblem>>,
    /// A sentence for a human; never internal detail.
    pub(crate) message: String,
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after_secs: None,
            bearer_challenge: false,
            fields: None,
        }
    }

    /// Attaches per-field problems (`[{field, message}]`) to the body.
    pub fn with_fields(mut self, fields: Vec<FieldProblem>) -> Self {
        self.fields = Some(fields);
        self
    }

    /// 400 `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, message)
    }

    /// 401 `unauthorized`, with a Bearer challenge.
    pub fn unauthorized(code: ErrorCode, message: impl Into<String>) -> Self {
        let mut error = Self::new(StatusCode::UNAUTHORIZED, code, message);
        error.bearer_challenge = true;
        error
    }

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, message)
    }

    /// 409 `conflict`.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, ErrorCode::Conflict, message)
    }

    /// 422 `invalid_field`.
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidField,
            message,
        )
    }

    /// 429 with `Retry-After`.
    pub fn too_many(message: impl Into<String>, retry_after_secs: u64) -> Self {
        let mut error = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RateLimited,
            message,
        );
        error.retry_after_secs = Some(retry_after_secs);
        error
    }

    /// 503: the audit trail or storage cannot record the act, so it is refused.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            message,
        )
    }

    /// 503 because the audit trail cannot record the act: the act was not carried out. The
    /// cause (a path, a disk error) goes to the server log, not to the caller.
    pub fn audit_unavailable(detail: impl std::fmt::Display) -> Self {
        tracing::error!(%detail, "the audit trail refused a record");
        Self::unavailable(
            "the audit trail cannot record this act, so it was not carried out; the request id \
             identifies it in the server log",
        )
    }

    /// 503 because a part named `part` (the database, the audit log) is not working; `detail`
    /// goes to the server log only.
    pub fn part_unavailable(part: &'static str, detail: impl std::fmt::Display) -> Self {
        tracing::error!(%detail, part, "unavailable");
        Self::unavailable(format!("{part} unavailable; see the server log"))
    }

    /// 500, logging `detail` but telling the caller nothing about it.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(%detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "internal error; the request id identifies it in the server log",
        )
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The sentence for a human (what the console's pages show).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same error with a `Retry-After` of `seconds`.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after_secs = Some(seconds);
        self
    }

    /// The seconds its `Retry-After` says, if it has one.
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after_secs
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(ErrorBody {
            error: self.code,
            fields: self.fields,
            message: self.message,
        });
        let mut response = (self.status, body).into_response();
        if let Some(seconds) = self.retry_after_secs
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        if self.bearer_challenge {
            // RFC 6750 §3: `error="invalid_token"` only when a token was presented and
            // refused; a request without credentials gets the bare challenge. A client that
            // authenticates with HTTP Basic (RFC 6749 §2.3.1) is challenged for Basic.
            let challenge = match self.code {
                ErrorCode::InvalidToken => r#"Bearer realm="haechi", error="invalid_token""#,
                ErrorCode::InvalidClient => r#"Basic realm="haechi""#,
                _ => r#"Bearer realm="haechi""#,
            };
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

/// A refused token is `invalid_token` with one generic message, whatever the reason: the
/// precise reason (`forged`, `revoked_key`, `expired`, …) is in the audit record only. Telling
/// the caller would tell a forger which check caught them, and whether a `kid` exists.
impl From<Rejection> for ApiError {
    fn from(rejection: Rejection) -> Self {
        match rejection {
            Rejection::Missing => ApiError::unauthorized(
                ErrorCode::MissingToken,
                "this endpoint needs a bearer access token",
            ),
            // The store did not answer: the token may be good; retry rather than log in again.
            Rejection::Unconfirmed => ApiError::unavailable(
                "the access token cannot be checked right now; retry, or use another node",
            ),
            _ => ApiError::unauthorized(ErrorCode::InvalidToken, "the access token is not valid"),
        }
    }
}

impl From<haechi_token::Error> for ApiError {
    fn from(error: haechi_token::Error) -> Self {
        use haechi_token::Error;
        match error {
            Error::Auth(failure) => match failure {
                AuthFailure::InvalidCredentials => {
                    ApiError::unauthorized(ErrorCode::InvalidCredentials, failure.to_string())
                }
                AuthFailure::InvalidClient => {
                    ApiError::unauthorized(ErrorCode::InvalidClient, failure.to_string())
                }
                AuthFailure::RateLimited { retry_after_secs } => {
                    ApiError::too_many(failure.to_string(), retry_after_secs)
                }
                AuthFailure::InvalidRefreshToken | AuthFailure::RefreshTokenReused => {
                    ApiError::unauthorized(ErrorCode::InvalidGrant, failure.to_string())
                }
                AuthFailure::InvalidScope(_) => ApiError::new(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::InvalidScope,
                    failure.to_string(),
                ),
                AuthFailure::Suspended | AuthFailure::NotAdministrator => {
                    ApiError::forbidden(failure.to_string())
                }
                other => ApiError::unauthorized(ErrorCode::Unauthorized, other.to_string()),
            },
            Error::Invalid(message) => ApiError::unprocessable(message),
            Error::Conflict(message) => ApiError::conflict(message),
            Error::NotFound(message) => ApiError::not_found(message),
            Error::Audit(error) => ApiError::audit_unavailable(error),
            Error::Custody(haechi_custody::Error::Import(message)) => {
                ApiError::unprocessable(format!("key import: {message}"))
            }
            Error::Custody(haechi_custody::Error::Transition { .. }) => {
                ApiError::conflict(error.to_string())
            }
            // The HSM is away, or refused the operation: nothing was signed; fail closed.
            Error::Custody(
                haechi_custody::Error::HsmUnavailable(reason) | haechi_custody::Error::Hsm(reason),
            ) => ApiError::part_unavailable("key custody", reason),
            // The database is away (a restart, a partition): nothing was decided; the caller
            // may retry, here or on another node.
            Error::Store(StoreError::Backend(detail)) => {
                ApiError::part_unavailable("database", detail)
            }
            other => ApiError::internal(other),
        }
    }
}

impl From<haechi_vault::Error> for ApiError {
    fn from(error: haechi_vault::Error) -> Self {
        use haechi_vault::Error;
        match error {
            Error::Invalid(fields) => {
                let message = fields
                    .iter()
                    .map(|field| format!("{}: {}", field.field, field.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                ApiError::unprocessable(message).with_fields(
                    fields
                        .into_iter()
                        .map(|field| FieldProblem {
                            field: field.field,
                            message: field.message,
                        })
                        .collect(),
                )
            }
            Error::Denied(denial) => denial.into(),
            Error::Conflict(message) => ApiError::conflict(message),
            Error::Audit(error) => ApiError::audit_unavailable(error),
            Error::Token(error) => error.into(),
            // The master key is in an HSM that is away, or refused: nothing was unwrapped.
            Error::Custody(
                haechi_custody::Error::HsmUnavailable(reason) | haechi_custody::Error::Hsm(reason),
            ) => ApiError::part_unavailable("key custody", reason),
            Error::Store(StoreError::Backend(detail)) => {
                ApiError::part_unavailable("database", detail)
            }
            other => ApiError::internal(other),
        }
    }
}

/// A vault refusal is answered with the status the vault recorded for it and its message; a
/// rate limit says when to retry, and its message says nothing of which limit it was.
impl From<haechi_vault::Denial> for ApiError {
    fn from(denial: haechi_vault::Denial) -> Self {
        if let Some(retry_after_secs) = denial.retry_after_secs() {
            return ApiError::too_many("too many requests; retry later", retry_after_secs);
        }
        let status = StatusCode::from_u16(denial.status()).unwrap_or(StatusCode::FORBIDDEN);
        let code = match status {
            StatusCode::BAD_REQUEST => ErrorCode::BadRequest,
            StatusCode::NOT_FOUND => ErrorCode::NotFound,
            StatusCode::TOO_MANY_REQUESTS => ErrorCode::QuotaExceeded,
            _ => ErrorCode::Forbidden,
        };
        ApiError::new(status, code, denial.to_string())
    }
}
