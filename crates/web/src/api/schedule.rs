//! Schedule of events API: a study's visit definitions (read by anyone who reads the study,
//! changed by study administrators).

use super::trials::{TRIALS_ADMIN, readable_study};
use super::{ApiJson, ApiPath};
use crate::AppState;
use crate::auth::Authed;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::routes::Routes;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use clinbridge_core::policy::Target;
use clinbridge_core::trials::schedule::{VisitDefinition, VisitDefinitionInput};
use clinbridge_store::trials::schedule::{self as store_s, Visit};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pub fn register(r: Routes) -> Routes {
    r.get("/api/v1/studies/{code}/visits", list)
        .post("/api/v1/studies/{code}/visits", create)
        .put("/api/v1/visits/{id}", update)
        .delete("/api/v1/visits/{id}", remove)
}

#[derive(Serialize, ToSchema)]
pub struct VisitOut {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    /// consent, enrollment, randomization or visit.
    pub anchor: String,
    /// The code of the visit this one counts from, when the anchor is `visit`.
    pub anchor_visit: Option<String>,
    pub offset_days: i64,
    pub window_before: i64,
    pub window_after: i64,
    /// scheduled, unscheduled or repeating.
    pub kind: String,
    pub repeat_every_days: i64,
    pub repeat_count: i64,
    pub procedures: Vec<String>,
    /// The timing as a protocol writes it.
    pub timing: String,
}

impl From<Visit> for VisitOut {
    fn from(v: Visit) -> Self {
        let timing = v.definition.timing();
        let d = v.definition;
        VisitOut {
            id: v.id,
            code: d.code,
            name: d.name,
            anchor: d.anchor.as_str().into(),
            anchor_visit: d.anchor_visit,
            offset_days: d.offset_days,
            window_before: d.window_before,
            window_after: d.window_after,
            kind: d.kind.as_str().into(),
            repeat_every_days: d.repeat_every_days,
            repeat_count: d.repeat_count,
            procedures: d.procedures,
            timing,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VisitIn {
    pub code: String,
    pub name: String,
    /// consent, enrollment, randomization or visit.
    pub anchor: String,
    #[serde(default)]
    pub anchor_visit: String,
    pub offset_days: i64,
    #[serde(default)]
    pub window_before: i64,
    #[serde(default)]
    pub window_after: i64,
    /// scheduled, unscheduled or repeating.
    pub kind: String,
    #[serde(default)]
    pub repeat_every_days: i64,
    #[serde(default)]
    pub repeat_count: i64,
    #[serde(default)]
    pub procedures: Vec<String>,
}

impl VisitIn {
    pub fn definition(self) -> Result<VisitDefinition, ApiError> {
        Ok(VisitDefinition::parse(&VisitDefinitionInput {
            code: self.code,
            name: self.name,
            anchor: self.anchor,
            anchor_visit: self.anchor_visit,
            offset_days: self.offset_days,
            window_before: self.window_before,
            window_after: self.window_after,
            kind: self.kind,
            repeat_every_days: self.repeat_every_days,
            repeat_count: self.repeat_count,
            procedures: self.procedures,
        })?)
    }
}

/// The study's schedule of events in protocol order.
#[utoipa::path(get, path = "/api/v1/studies/{code}/visits", tag = "trials", params(("code" = String, Path)),
    responses((status = 200, body = [VisitOut]), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(code): ApiPath<String>,
) -> ApiResult<Json<Vec<VisitOut>>> {
    let study = readable_study(&state, &who, &code).await?;
    Ok(Json(store_s::visits(&state.store, study.id).await?.into_iter().map(Into::into).collect()))
}

#[utoipa::path(post, path = "/api/v1/studies/{code}/visits", tag = "trials", params(("code" = String, Path)), request_body = VisitIn,
    responses((status = 201, body = VisitOut), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(code): ApiPath<String>,
    ApiJson(b): ApiJson<VisitIn>,
) -> ApiResult<Response> {
    let study = readable_study(&state, &who, &code).await?;
    who.require(TRIALS_ADMIN, Target::study(study.id))?;
    let v = store_s::add_visit(&state.store, &who.acting(), study.id, b.definition()?).await?;
    Ok((StatusCode::CREATED, Json(VisitOut::from(v))).into_response())
}

/// A visit definition the caller may administer (404 when its study is out of sight).
pub async fn administrable(state: &AppState, who: &Authed, id: Uuid) -> ApiResult<Visit> {
    let v = store_s::visit(&state.store, id).await.map_err(|_| ApiError::NotFound("visit definition"))?;
    let participations = clinbridge_store::trials::participations_of(&state.store, v.study_id).await?;
    if !super::trials::can_read(who, v.study_id, &participations) {
        return Err(ApiError::NotFound("visit definition"));
    }
    who.require(TRIALS_ADMIN, Target::study(v.study_id))?;
    Ok(v)
}

#[utoipa::path(put, path = "/api/v1/visits/{id}", tag = "trials", params(("id" = Uuid, Path)), request_body = VisitIn,
    responses((status = 200, body = VisitOut), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<VisitIn>,
) -> ApiResult<Json<VisitOut>> {
    administrable(&state, &who, id).await?;
    Ok(Json(store_s::update_visit(&state.store, &who.acting(), id, b.definition()?).await?.into()))
}

#[utoipa::path(delete, path = "/api/v1/visits/{id}", tag = "trials", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn remove(State(state): State<AppState>, who: Authed, ApiPath(id): ApiPath<Uuid>) -> ApiResult<StatusCode> {
    administrable(&state, &who, id).await?;
    store_s::remove_visit(&state.store, &who.acting(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
