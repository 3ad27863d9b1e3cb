//! One error type for the HTTP layer. Handlers use `?`; this decides the status, the body and
//! what gets logged. JSON routes answer `{"error", "field"?}`; page routes wrap it in [`PageError`].

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input that parsed but is not acceptable, naming the field a person must fix.
    #[error("{message}")]
    Invalid { field: Option<&'static str>, message: String },
    /// Like `Invalid`, at a place inside the field's value (a segment: the byte offset).
    #[error("{message}")]
    InvalidAt { field: &'static str, message: String, position: usize },
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("The request body is too large.")]
    PayloadTooLarge,
    #[error("Missing, wrong or revoked credential. Send admin.token or an API key as `Authorization: Bearer <token>`.")]
    Unauthorized,
    /// A webhook whose signature or credentials do not hold.
    #[error("{0}")]
    Unauthenticated(String),
    /// A valid API key without the scope the route needs; the words are the API's contract.
    #[error("this key lacks the scope {0}")]
    MissingScope(crate::domain::Scope),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("Too many requests from your address. Please wait a minute and try again.")]
    TooManyRequests { retry_after_secs: u64 },
    /// Something that runs a limited number at a time is at its limit (`429`, with Retry-After).
    #[error("{message}")]
    Busy { message: &'static str, retry_after_secs: u64 },
    #[error("The service is temporarily unavailable. Please try again in a minute.")]
    Unavailable,
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl Error {
    /// For errors while getting a connection: whatever Postgres said, to the client the service
    /// is unavailable (a 503 it may retry), not broken.
    pub fn unavailable(e: sqlx::Error) -> Self {
        tracing::warn!(error = %e, "cannot get a database connection");
        Self::Unavailable
    }

    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid { field: Some(field), message: message.into() }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Invalid { .. } | Self::InvalidAt { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unauthorized | Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::MissingScope(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::TooManyRequests { .. } | Self::Busy { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Database(e) if crate::store::pool::is_unavailable(e) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Database(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The sentence a person sees. Server faults say nothing about internals.
    pub fn public_message(&self) -> String {
        match self.status() {
            StatusCode::SERVICE_UNAVAILABLE => Self::Unavailable.to_string(),
            StatusCode::INTERNAL_SERVER_ERROR => "Something went wrong on our side. Please try again later.".to_owned(),
            _ => self.to_string(),
        }
    }

    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::Invalid { field, .. } => *field,
            Self::InvalidAt { field, .. } => Some(field),
            _ => None,
        }
    }

    pub fn position(&self) -> Option<usize> {
        match self {
            Self::InvalidAt { position, .. } => Some(*position),
            _ => None,
        }
    }

    /// Logged once, here, rather than at every `?`.
    fn log(&self) {
        match self {
            Self::Database(e) if crate::store::pool::is_unavailable(e) => {
                tracing::warn!(error = %e, "database unavailable")
            }
            Self::Database(e) => tracing::error!(error = %e, "database error"),
            Self::Internal(e) => tracing::error!(error = format!("{e:#}"), "internal error"),
            Self::Unavailable => tracing::warn!("service unavailable"),
            _ => {}
        }
    }

    fn decorate(&self, response: &mut Response) {
        match self {
            Self::TooManyRequests { retry_after_secs } | Self::Busy { retry_after_secs, .. } => {
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            Self::Unauthorized => {
                response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ if self.status() == StatusCode::SERVICE_UNAVAILABLE => {
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
            }
            _ => {}
        }
    }
}

/// Every error: a sentence for a person, and the field to fix when there is one.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'static str>,
    /// Where in the field's value the problem is (a segment expression: a byte offset from 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<usize>,
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        self.log();
        let body = ErrorBody { error: self.public_message(), field: self.field(), position: self.position() };
        let mut response = (self.status(), Json(body)).into_response();
        self.decorate(&mut response);
        response
    }
}

/// The same errors on routes a person sees in a browser: an HTML page instead of JSON.
#[derive(Debug)]
pub struct PageError(pub Error);

impl<E: Into<Error>> From<E> for PageError {
    fn from(e: E) -> Self {
        Self(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let error = self.0;
        error.log();
        let status = error.status();
        // Catalogue keys: the page is rendered in the visitor's language (`pages::render_error_pages`).
        use super::pages::ErrorMessage::{Key, Text};
        let (title, message) = match status {
            StatusCode::SERVICE_UNAVAILABLE => ("error-unavailable", Key("error-unavailable-text")),
            StatusCode::TOO_MANY_REQUESTS => ("error-too-many", Key("error-too-many-text")),
            StatusCode::NOT_FOUND => ("error-not-found", Text(error.public_message())),
            s if s.is_server_error() => ("error-internal", Key("error-internal-text")),
            _ => ("error-failed", Text(error.public_message())),
        };
        let page = super::pages::ErrorPage { title, message };
        let mut response = (status, axum::Extension(page)).into_response();
        error.decorate(&mut response);
        response
    }
}

impl From<crate::ops::OpsError> for Error {
    fn from(e: crate::ops::OpsError) -> Self {
        use crate::ops::OpsError;
        match e {
            OpsError::Invalid { field, message } => Self::Invalid { field: Some(field), message },
            OpsError::InvalidAt { field, message, position } => Self::InvalidAt { field, message, position },
            OpsError::NotFound(message) => Self::NotFound(message),
            OpsError::Conflict(message) => Self::Conflict(message),
            OpsError::Unauthenticated(message) => Self::Unauthenticated(message),
            OpsError::Malformed(message) => Self::BadRequest(message),
            OpsError::Unavailable(message) => {
                tracing::warn!(reason = %message, "unavailable");
                Self::Unavailable
            }
            OpsError::Database(e) => Self::Database(e),
            OpsError::Internal(e) => Self::Internal(e),
        }
    }
}

/// Handlers parse article input with `?`.
impl From<crate::domain::FieldError> for Error {
    fn from(e: crate::domain::FieldError) -> Self {
        crate::ops::OpsError::from(e).into()
    }
}

/// What every admin API route may answer besides its own responses, declared once for the
/// OpenAPI document (`responses(..., AdminRefusals)`).
#[derive(utoipa::IntoResponses)]
pub enum AdminRefusals {
    /// Missing, wrong or revoked admin token or API key
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// An API key without the scope this route needs (`this key lacks the scope …`)
    #[response(status = 403)]
    MissingScope(ErrorBody),
    /// Too many wrong admin tokens from this client; see Retry-After
    #[response(status = 429)]
    TooManyTries(ErrorBody),
    /// The database is unreachable
    #[response(status = 503)]
    Unavailable(ErrorBody),
}

impl From<crate::signup::SignupError> for Error {
    fn from(e: crate::signup::SignupError) -> Self {
        match e {
            crate::signup::SignupError::Unavailable => Self::Unavailable,
            crate::signup::SignupError::Database(e) => Self::Database(e),
            crate::signup::SignupError::Internal(e) => Self::Internal(e),
            // The signup handler answers these itself; an API client would be told this.
            crate::signup::SignupError::Replayed { .. } => {
                Self::invalid("pow_solution", "This challenge or form was used already: start again.")
            }
        }
    }
}
