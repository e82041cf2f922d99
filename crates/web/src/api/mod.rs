//! The JSON API under `/api/v1`. Extractors here answer bad input in the API's error shape
//! (malformed JSON, unknown fields, wrong content type, oversized bodies, bad path ids).

pub mod audit;
pub mod calendar;
pub mod consent;
pub mod device;
pub mod device_support;
pub mod edc;
pub mod edc_entry;
pub mod edc_review;
pub mod edc_transfer;
pub mod identity;
pub mod medical;
pub mod participants;
pub mod schedule;
pub mod scheduling;
pub mod tasks;
pub mod trials;

use crate::error::ApiError;
use crate::routes::Routes;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

pub fn register(r: Routes) -> Routes {
    let r = identity::register(r);
    let r = audit::register(r);
    let r = tasks::register(r);
    let r = trials::register(r);
    let r = schedule::register(r);
    let r = participants::register(r);
    let r = consent::register(r);
    let r = edc::register(r);
    let r = edc_entry::register(r);
    let r = edc_review::register(r);
    let r = edc_transfer::register(r);
    let r = scheduling::register(r);
    let r = calendar::register(r);
    let r = medical::register(r);
    let r = device::register(r);
    let r = device_support::register(r);
    r.get("/api/openapi.json", crate::openapi::document)
}

/// The user an e-mail field names; the error names the field.
pub async fn user_named(
    state: &crate::AppState,
    field: &str,
    raw: &str,
) -> Result<clinbridge_store::identity::User, ApiError> {
    let email = clinbridge_core::identity::Email::parse(raw.trim())
        .map_err(|_| ApiError::field(field, "is not an e-mail address"))?;
    clinbridge_store::identity::user_by_email(&state.store, &email)
        .await
        .map_err(|_| ApiError::field(field, "does not name a user"))
}

/// Like [`user_named`] for an optional field: blank names nobody.
pub async fn optional_user_named(
    state: &crate::AppState,
    field: &str,
    raw: Option<&str>,
) -> Result<Option<uuid::Uuid>, ApiError> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        Some(e) => Ok(Some(user_named(state, field, e).await?.id)),
        None => Ok(None),
    }
}

/// A JSON body, rejected in the API's error shape.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(match rejection {
                JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType,
                JsonRejection::JsonDataError(e) => {
                    ApiError::BadRequest { code: "invalid_body", message: clean(&e.body_text()) }
                }
                JsonRejection::JsonSyntaxError(e) => {
                    ApiError::BadRequest { code: "malformed_json", message: clean(&e.body_text()) }
                }
                JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    ApiError::PayloadTooLarge
                }
                other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
                _ => {
                    ApiError::BadRequest { code: "invalid_body", message: "The request body could not be read.".into() }
                }
            }),
        }
    }
}

fn clean(s: &str) -> String {
    s.replace("Failed to deserialize the JSON body into the target type: ", "The body does not match: ")
        .replace("Failed to parse the request body as JSON: ", "The body is not valid JSON: ")
}

/// Path parameters, rejected in the API's error shape.
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state).await.map(|p| ApiPath(p.0)).map_err(
            |e: PathRejection| ApiError::BadRequest {
                code: "invalid_path",
                message: format!("The address is not valid: {}", e.body_text()),
            },
        )
    }
}

/// Query parameters, rejected in the API's error shape.
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state).await.map(|q| ApiQuery(q.0)).map_err(
            |e: QueryRejection| ApiError::BadRequest {
                code: "invalid_query",
                message: format!("The query is not valid: {}", e.body_text()),
            },
        )
    }
}
