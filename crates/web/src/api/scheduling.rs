//! Scheduling API: a participant's planned visits and recording their outcomes.

use super::participants::readable_participant;
use super::{ApiJson, ApiPath};
use crate::AppState;
use crate::auth::Authed;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::routes::Routes;
use axum::Json;
use axum::extract::State;
use chrono::NaiveDate;
use clinbridge_core::policy::{Action, Context, Op, Target};
use clinbridge_core::scheduling::VisitStatus;
use clinbridge_store::scheduling::{self as store_s, ParticipantVisit};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pub fn register(r: Routes) -> Routes {
    r.get("/api/v1/participants/{id}/visits", list).post("/api/v1/participant-visits/{id}", record)
}

pub const SCHEDULING_WRITE: Action = Action::new(Context::Scheduling, Op::Write);

#[derive(Serialize, ToSchema)]
pub struct ParticipantVisitOut {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub occurrence: i64,
    pub target_on: NaiveDate,
    pub window_start: NaiveDate,
    pub window_end: NaiveDate,
    /// scheduled, completed, missed or cancelled.
    pub status: String,
    pub actual_on: Option<NaiveDate>,
    /// True when the visit took place outside its window (a protocol deviation).
    pub out_of_window: bool,
    pub note: String,
    /// The day the visit is planned for (moved inside its window, or the target day).
    pub scheduled_on: NaiveDate,
    /// Start and end of the booked slot, when booked.
    pub starts_at: Option<chrono::DateTime<chrono::Utc>>,
    pub ends_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<ParticipantVisit> for ParticipantVisitOut {
    fn from(v: ParticipantVisit) -> Self {
        ParticipantVisitOut {
            scheduled_on: v.day(),
            starts_at: v.starts_at,
            ends_at: v.ends_at,
            id: v.id,
            code: v.code,
            name: v.name,
            occurrence: v.occurrence,
            target_on: v.target_on,
            window_start: v.window_start,
            window_end: v.window_end,
            status: v.status,
            actual_on: v.actual_on,
            out_of_window: v.out_of_window,
            note: v.note,
        }
    }
}

/// A participant's visits, planned from the schedule of events, in date order.
#[utoipa::path(get, path = "/api/v1/participants/{id}/visits", tag = "scheduling", params(("id" = Uuid, Path)),
    responses((status = 200, body = [ParticipantVisitOut]), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Vec<ParticipantVisitOut>>> {
    readable_participant(&state, &who, id).await?;
    Ok(Json(store_s::visits_of(&state.store, id).await?.into_iter().map(Into::into).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordIn {
    /// completed or missed.
    pub outcome: String,
    /// The day a completed visit took place.
    #[serde(default)]
    pub actual_on: Option<NaiveDate>,
    /// Why a visit was missed, or the deviation when it took place outside its window.
    #[serde(default)]
    pub note: String,
}

/// The participant visit the caller may change.
pub async fn writable_visit(state: &AppState, who: &Authed, id: Uuid) -> ApiResult<ParticipantVisit> {
    let v = store_s::visit(&state.store, id).await.map_err(|_| ApiError::NotFound("visit"))?;
    let p = readable_participant(state, who, v.participant_id).await.map_err(|_| ApiError::NotFound("visit"))?;
    who.require(SCHEDULING_WRITE, Target::study_site(p.study_id, p.site_id))?;
    Ok(v)
}

/// Records a scheduled visit as completed (with its day) or missed (with the reason).
#[utoipa::path(post, path = "/api/v1/participant-visits/{id}", tag = "scheduling", params(("id" = Uuid, Path)), request_body = RecordIn,
    responses((status = 200, body = ParticipantVisitOut), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn record(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<RecordIn>,
) -> ApiResult<Json<ParticipantVisitOut>> {
    writable_visit(&state, &who, id).await?;
    let outcome = VisitStatus::parse(&b.outcome)?;
    Ok(Json(store_s::record_visit(&state.store, &who.acting(), id, outcome, b.actual_on, &b.note).await?.into()))
}
