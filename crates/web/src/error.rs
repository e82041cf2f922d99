//! One error type for the JSON API: a stable code, an HTTP status and a message from one
//! table. Internal errors are logged with context and answered with a generic message, so no
//! database text ever reaches a client.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use clinbridge_core::{FieldError, Invalid};
use clinbridge_store::StoreError;
use serde::Serialize;

#[derive(Debug)]
pub enum ApiError {
    Unauthenticated,
    InvalidCredentials,
    TotpRequired,
    Forbidden,
    NotFound(&'static str),
    Invalid(Vec<FieldError>),
    Conflict { field: String, message: String },
    BadRequest { code: &'static str, message: String },
    Refused(String),
    PayloadTooLarge,
    UnsupportedMediaType,
    MethodNotAllowed,
    Busy,
    Internal,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code.
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<FieldErrorOut>>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct FieldErrorOut {
    pub field: String,
    pub message: String,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated | ApiError::InvalidCredentials | ApiError::TotpRequired => {
                StatusCode::UNAUTHORIZED
            }
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Conflict { .. } | ApiError::Refused(_) => StatusCode::CONFLICT,
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated => "unauthenticated",
            ApiError::InvalidCredentials => "invalid_credentials",
            ApiError::TotpRequired => "totp_required",
            ApiError::Forbidden => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::Invalid(_) => "invalid",
            ApiError::Conflict { .. } => "conflict",
            ApiError::BadRequest { code, .. } => code,
            ApiError::Refused(_) => "refused",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Busy => "busy",
            ApiError::Internal => "internal",
        }
    }

    pub fn message(&self) -> String {
        match self {
            ApiError::Unauthenticated => "Sign in first, or send a valid API token as Authorization: Bearer.".into(),
            ApiError::InvalidCredentials => {
                "Wrong e-mail or password, or the account is locked after repeated failures.".into()
            }
            ApiError::TotpRequired => "This account uses a second factor: send the current code as \"totp\".".into(),
            ApiError::Forbidden => "You do not have access to this.".into(),
            ApiError::NotFound(what) => format!("No such {what}."),
            ApiError::Invalid(fields) => {
                let parts: Vec<String> = fields.iter().map(|f| format!("{} {}", f.field, f.message)).collect();
                format!("Some fields are not valid: {}.", parts.join("; "))
            }
            ApiError::Conflict { field, message } => format!("{field} {message}."),
            ApiError::BadRequest { message, .. } => message.clone(),
            ApiError::Refused(m) => m.clone(),
            ApiError::PayloadTooLarge => "The request body is too large.".into(),
            ApiError::UnsupportedMediaType => "Send the body as application/json.".into(),
            ApiError::MethodNotAllowed => "This method is not allowed here.".into(),
            ApiError::Busy => "The server is busy; try again in a moment.".into(),
            ApiError::Internal => "Something went wrong on our side. It has been logged; please try again.".into(),
        }
    }

    pub fn body(&self) -> ErrorBody {
        let fields = match self {
            ApiError::Invalid(f) => {
                Some(f.iter().map(|e| FieldErrorOut { field: e.field.clone(), message: e.message.clone() }).collect())
            }
            ApiError::Conflict { field, message } => {
                Some(vec![FieldErrorOut { field: field.clone(), message: message.clone() }])
            }
            _ => None,
        };
        ErrorBody { error: ErrorDetail { code: self.code().to_string(), message: self.message(), fields } }
    }

    pub fn field(field: &str, message: &str) -> Self {
        ApiError::Invalid(vec![FieldError::new(field, message)])
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status(), axum::Json(self.body())).into_response()
    }
}

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> Self {
        ApiError::Invalid(e.0)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ApiError::NotFound(what),
            StoreError::Invalid(i) => ApiError::Invalid(i.0),
            StoreError::Conflict { field, message } => ApiError::Conflict { field, message },
            StoreError::Refused(m) => ApiError::Refused(m),
            StoreError::Busy => ApiError::Busy,
            other => {
                tracing::error!(error = %other, "store error");
                ApiError::Internal
            }
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
