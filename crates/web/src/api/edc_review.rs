//! EDC review over the JSON API: a form's review state (verified fields, locks, the signatures
//! over it, each valid or void), source data verification of fields, a form or its visit,
//! locking a form or its visit, and the investigator's signature on a form, its visit or the
//! whole record.

use super::edc_entry::{EDC_VERIFY, form_subject};
use super::{ApiJson, ApiPath};
use crate::AppState;
use crate::auth::Authed;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::routes::Routes;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use clinbridge_core::policy::{Action, Context, Op};
use clinbridge_store::edc::records::Form;
use clinbridge_store::edc::review::{self, SignedScope};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Locking forms and visits: the data manager's part.
pub const EDC_LOCK: Action = Action::new(Context::Edc, Op::Administer);
/// Signing data: the investigator's part.
pub const EDC_SIGN: Action = Action::new(Context::Edc, Op::Sign);

pub fn register(r: Routes) -> Routes {
    r.get("/api/v1/forms/{id}/review", review_state)
        .post("/api/v1/forms/{id}/verifications", verify)
        .post("/api/v1/forms/{id}/lock", lock)
        .post("/api/v1/forms/{id}/signatures", sign)
}

#[derive(Serialize, ToSchema)]
pub struct VerifiedOut {
    pub field: String,
    pub verified_by: String,
    pub verified_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct FormSignatureOut {
    /// form, visit or record
    pub scope: String,
    pub printed_name: String,
    pub meaning: String,
    pub signed_at: DateTime<Utc>,
    /// False once data under the signature has changed.
    pub valid: bool,
}

#[derive(Serialize, ToSchema)]
pub struct ReviewOut {
    pub form_id: Uuid,
    pub form_locked: bool,
    pub visit_locked: bool,
    pub verified: Vec<VerifiedOut>,
    pub signatures: Vec<FormSignatureOut>,
}

fn scope_name(record_type: &str) -> &'static str {
    match record_type {
        "edc_visit" => "visit",
        "edc_record" => "record",
        _ => "form",
    }
}

/// The review state of a form, as its page and the API show it.
pub async fn review_of(state: &AppState, form: &Form) -> ApiResult<ReviewOut> {
    let verified = review::verifications(&state.store, form.id)
        .await?
        .into_values()
        .map(|v| VerifiedOut { field: v.field, verified_by: v.verified_by_name, verified_at: v.verified_at })
        .collect();
    let signatures = review::signatures_over_form(&state.store, form.id)
        .await?
        .into_iter()
        .map(|s| FormSignatureOut {
            scope: scope_name(&s.signature.record_type).to_string(),
            printed_name: s.signature.printed_name,
            meaning: s.signature.meaning,
            signed_at: s.signature.signed_at,
            valid: s.valid,
        })
        .collect();
    Ok(ReviewOut {
        form_id: form.id,
        form_locked: form.locked_at.is_some(),
        visit_locked: form.event_locked,
        verified,
        signatures,
    })
}

#[utoipa::path(get, path = "/api/v1/forms/{id}/review", tag = "edc", params(("id" = Uuid, Path)),
    responses((status = 200, body = ReviewOut), (status = 404, body = ErrorBody)))]
pub async fn review_state(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<ReviewOut>> {
    let (form, _) = form_subject(&state, &who, id).await?;
    Ok(Json(review_of(&state, &form).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyIn {
    /// The fields to verify; empty (or absent) verifies every answered field of the form.
    #[serde(default)]
    pub fields: Vec<String>,
    /// Verify every answered field of every form of the form's visit instead.
    #[serde(default)]
    pub whole_visit: bool,
}

#[derive(Serialize, ToSchema)]
pub struct VerifyOut {
    /// How many fields were newly verified.
    pub verified: usize,
}

/// Verifies fields of a form, the whole form or its whole visit.
pub async fn verify_as(
    state: &AppState,
    who: &Authed,
    id: Uuid,
    fields: Vec<String>,
    whole_visit: bool,
) -> ApiResult<usize> {
    let (form, s) = form_subject(state, who, id).await?;
    who.require(EDC_VERIFY, s.target)?;
    if whole_visit {
        Ok(review::verify_visit(&state.store, &who.acting(), form.record_id, &form.event, form.instance).await?)
    } else {
        Ok(review::verify_form(&state.store, &who.acting(), id, fields).await?.len())
    }
}

#[utoipa::path(post, path = "/api/v1/forms/{id}/verifications", tag = "edc", params(("id" = Uuid, Path)), request_body = VerifyIn,
    responses((status = 200, body = VerifyOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn verify(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<VerifyIn>,
) -> ApiResult<Json<VerifyOut>> {
    Ok(Json(VerifyOut { verified: verify_as(&state, &who, id, b.fields, b.whole_visit).await? }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LockIn {
    pub locked: bool,
    /// Lock or unlock the form's whole visit instead of the form.
    #[serde(default)]
    pub whole_visit: bool,
}

/// Locks or unlocks a form or its visit.
pub async fn lock_as(state: &AppState, who: &Authed, id: Uuid, locked: bool, whole_visit: bool) -> ApiResult<()> {
    let (form, s) = form_subject(state, who, id).await?;
    who.require(EDC_LOCK, s.target)?;
    if whole_visit {
        review::lock_visit(&state.store, &who.acting(), form.record_id, &form.event, form.instance, locked).await?;
    } else {
        review::lock_form(&state.store, &who.acting(), id, locked).await?;
    }
    Ok(())
}

#[utoipa::path(post, path = "/api/v1/forms/{id}/lock", tag = "edc", params(("id" = Uuid, Path)), request_body = LockIn,
    responses((status = 200, body = ReviewOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn lock(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<LockIn>,
) -> ApiResult<Json<ReviewOut>> {
    lock_as(&state, &who, id, b.locked, b.whole_visit).await?;
    let (form, _) = form_subject(&state, &who, id).await?;
    Ok(Json(review_of(&state, &form).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FormSignIn {
    /// form, visit or record
    pub scope: String,
    pub password: String,
}

/// Signs a form, its visit or its whole record as the signed-in investigator.
pub async fn sign_as(state: &AppState, who: &Authed, id: Uuid, scope: &str, password: &str) -> ApiResult<()> {
    let (form, s) = form_subject(state, who, id).await?;
    who.require(EDC_SIGN, s.target)?;
    let scope = match scope.trim() {
        "form" => SignedScope::Form(form.id),
        "visit" => SignedScope::Visit { record_id: form.record_id, event: form.event.clone(), instance: form.instance },
        "record" => SignedScope::Record(form.record_id),
        _ => return Err(ApiError::field("scope", "must be form, visit or record")),
    };
    review::sign(&state.store, &who.acting(), password, scope).await?;
    Ok(())
}

#[utoipa::path(post, path = "/api/v1/forms/{id}/signatures", tag = "edc", params(("id" = Uuid, Path)), request_body = FormSignIn,
    responses((status = 201, body = ReviewOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn sign(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<FormSignIn>,
) -> ApiResult<(StatusCode, Json<ReviewOut>)> {
    sign_as(&state, &who, id, &b.scope, &b.password).await?;
    let (form, _) = form_subject(&state, &who, id).await?;
    Ok((StatusCode::CREATED, Json(review_of(&state, &form).await?)))
}
