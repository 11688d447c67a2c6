//! The one error type of the API and its mapping to HTTP.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use haechi_events::StoreError;
use haechi_token::{AuthFailure, Rejection};
use serde_json::json;

/// An API error: a status, a stable machine-readable code and a human message. Internal
/// failures are logged with detail and answered with a generic message.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after_secs: Option<u64>,
    bearer_challenge: bool,
    fields: Option<serde_json::Value>,
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
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
    pub fn with_fields(mut self, fields: serde_json::Value) -> Self {
        self.fields = Some(fields);
        self
    }

    /// 400 `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 401 `unauthorized`, with a Bearer challenge.
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        let mut error = Self::new(StatusCode::UNAUTHORIZED, code, message);
        error.bearer_challenge = true;
        error
    }

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 409 `conflict`.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 422 `invalid_field`.
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message)
    }

    /// 429 with `Retry-After`.
    pub fn too_many(message: impl Into<String>, retry_after_secs: u64) -> Self {
        let mut error = Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message);
        error.retry_after_secs = Some(retry_after_secs);
        error
    }

    /// 503: the audit trail or storage cannot record the act, so it is refused.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
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
            "internal",
            "internal error; the request id identifies it in the server log",
        )
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.code, "message": self.message });
        if let Some(fields) = self.fields {
            body["fields"] = fields;
        }
        let body = Json(body);
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
                "invalid_token" => r#"Bearer realm="haechi", error="invalid_token""#,
                "invalid_client" => r#"Basic realm="haechi""#,
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
            Rejection::Missing => {
                ApiError::unauthorized("missing_token", "this endpoint needs a bearer access token")
            }
            // The store did not answer: the token may be good; retry rather than log in again.
            Rejection::Unconfirmed => ApiError::unavailable(
                "the access token cannot be checked right now; retry, or use another node",
            ),
            _ => ApiError::unauthorized("invalid_token", "the access token is not valid"),
        }
    }
}

impl From<haechi_token::Error> for ApiError {
    fn from(error: haechi_token::Error) -> Self {
        use haechi_token::Error;
        match error {
            Error::Auth(failure) => match failure {
                AuthFailure::InvalidCredentials => {
                    ApiError::unauthorized("invalid_credentials", failure.to_string())
                }
                AuthFailure::InvalidClient => {
                    ApiError::unauthorized("invalid_client", failure.to_string())
                }
                AuthFailure::RateLimited { retry_after_secs } => {
                    ApiError::too_many(failure.to_string(), retry_after_secs)
                }
                AuthFailure::InvalidRefreshToken | AuthFailure::RefreshTokenReused => {
                    ApiError::unauthorized("invalid_grant", failure.to_string())
                }
                AuthFailure::InvalidScope(_) => ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    failure.to_string(),
                ),
                AuthFailure::Suspended | AuthFailure::NotAdministrator => {
                    ApiError::forbidden(failure.to_string())
                }
                other => ApiError::unauthorized("unauthorized", other.to_string()),
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
                ApiError::unprocessable(message)
                    .with_fields(serde_json::to_value(&fields).unwrap_or_default())
            }
            Error::Denied(denial) => denial.into(),
            Error::Conflict(message) => ApiError::conflict(message),
            Error::Audit(error) => ApiError::audit_unavailable(error),
            Error::Token(error) => error.into(),
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
            StatusCode::BAD_REQUEST => "bad_request",
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::TOO_MANY_REQUESTS => "quota_exceeded",
            _ => "forbidden",
        };
        ApiError::new(status, code, denial.to_string())
    }
}
