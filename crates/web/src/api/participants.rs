//! Participants API: registering and moving participants through the pipeline, their contact
//! details (PHI, read through an audited call), eligibility checklists and the investigator's
//! signature, the screening log and funnel, randomization and emergency unblinding.

use super::trials::{SignIn, SignatureOut, TRIALS_ADMIN, readable_study, readable_study_site};
use super::{ApiJson, ApiPath, ApiQuery};
use crate::AppState;
use crate::auth::Authed;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::routes::Routes;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use clinbridge_core::participants::randomization::Factor;
use clinbridge_core::participants::{Answer, CriterionKind, Status};
use clinbridge_core::policy::{Action, Context, Op, Target};
use clinbridge_store::participants::{self as store_p, Participant, randomization as store_r};
use clinbridge_store::trials::Study;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

pub fn register(r: Routes) -> Routes {
    r.get("/api/v1/studies/{code}/participants", list)
        .post("/api/v1/studies/{code}/sites/{site}/participants", create)
        .get("/api/v1/participants/{id}", get)
        .get("/api/v1/participants/{id}/contact", contact)
        .put("/api/v1/participants/{id}/contact", update_contact)
        .post("/api/v1/participants/{id}/status", set_status)
        .post("/api/v1/participants/{id}/eligibility", assess)
        .post("/api/v1/participants/{id}/eligibility/sign", sign_eligibility)
        .post("/api/v1/participants/{id}/randomize", randomize)
        .post("/api/v1/participants/{id}/unblind", unblind)
        .get("/api/v1/studies/{code}/criteria", list_criteria)
        .post("/api/v1/studies/{code}/criteria", add_criterion)
        .put("/api/v1/studies/{code}/subject-id-pattern", set_pattern)
        .get("/api/v1/studies/{code}/screening-log", screening_log)
        .post("/api/v1/studies/{code}/sites/{site}/screening-log", log_prescreen)
        .get("/api/v1/studies/{code}/funnel", funnel)
        .get("/api/v1/studies/{code}/enrollment", enrollment)
        .get("/api/v1/studies/{code}/randomization", get_scheme)
        .post("/api/v1/studies/{code}/randomization", create_scheme)
        .post("/api/v1/studies/{code}/unblinded-team", set_unblinded)
}

pub const PARTICIPANTS_READ: Action = Action::new(Context::Participants, Op::Read);
pub const PARTICIPANTS_WRITE: Action = Action::new(Context::Participants, Op::Write);
pub const PARTICIPANTS_SIGN: Action = Action::new(Context::Participants, Op::Sign);
pub const PARTICIPANTS_PHI: Action = Action::new(Context::Participants, Op::ReadPhi);

pub fn target(p: &Participant) -> Target {
    Target::study_site(p.study_id, p.site_id)
}

/// A participant the caller may read (404 otherwise, so ids cannot be probed).
pub async fn readable_participant(state: &AppState, who: &Authed, id: Uuid) -> ApiResult<Participant> {
    let p = store_p::participant(&state.store, id).await.map_err(|_| ApiError::NotFound("participant"))?;
    if !who.can(PARTICIPANTS_READ, target(&p)) {
        return Err(ApiError::NotFound("participant"));
    }
    Ok(p)
}

/// The sites of a study whose participants the caller may read.
pub async fn readable_sites(state: &AppState, who: &Authed, study: &Study) -> ApiResult<Vec<(Uuid, String)>> {
    let sites = clinbridge_store::trials::study_sites(&state.store, study.id).await?;
    Ok(sites
        .into_iter()
        .filter(|s| who.can(PARTICIPANTS_READ, Target::study_site(study.id, s.site_id)))
        .map(|s| (s.site_id, s.site_code))
        .collect())
}

#[derive(Serialize, ToSchema)]
pub struct ParticipantOut {
    pub id: Uuid,
    pub study_id: Uuid,
    pub subject_id: String,
    pub site_code: String,
    /// prescreen, screening, screen_failed, consented, eligible, enrolled, randomized, active,
    /// completed, withdrawn, lost_to_follow_up or deceased.
    pub status: String,
    pub reason_code: String,
    pub status_detail: String,
    /// none, no_further_contact or no_further_data.
    pub consent_withdrawal: String,
    pub screened_on: Option<NaiveDate>,
    pub consented_on: Option<NaiveDate>,
    pub enrolled_on: Option<NaiveDate>,
    pub randomized_on: Option<NaiveDate>,
    pub ended_on: Option<NaiveDate>,
    /// The statuses it may move to next.
    pub next_statuses: Vec<String>,
}

impl From<Participant> for ParticipantOut {
    fn from(p: Participant) -> Self {
        let next_statuses =
            p.status().next().iter().filter(|s| **s != Status::Randomized).map(|s| s.as_str().to_string()).collect();
        ParticipantOut {
            id: p.id,
            study_id: p.study_id,
            subject_id: p.subject_id,
            site_code: p.site_code,
            status: p.status,
            reason_code: p.reason_code,
            status_detail: p.status_detail,
            consent_withdrawal: p.consent_withdrawal,
            screened_on: p.screened_on,
            consented_on: p.consented_on,
            enrolled_on: p.enrolled_on,
            randomized_on: p.randomized_on,
            ended_on: p.ended_on,
            next_statuses,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SiteQuery {
    /// A site code to narrow to.
    pub site: Option<String>,
    /// A status to narrow to.
    pub status: Option<String>,
}

/// Participants of a study at the sites the caller may see.
#[utoipa::path(get, path = "/api/v1/studies/{code}/participants", tag = "participants", params(("code" = String, Path), SiteQuery),
    responses((status = 200, body = [ParticipantOut]), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(code): ApiPath<String>,
    ApiQuery(q): ApiQuery<SiteQuery>,
) -> ApiResult<Json<Vec<ParticipantOut>>> {
    let study = readable_study(&state, &who, &code).await?;
    let sites = readable_sites(&state, &who, &study).await?;
    if sites.is_empty() {
        return Err(ApiError::Forbidden);
    }
    let status = match q.status.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(Status::parse(s)?),
        None => None,
    };
    let site = q.site.as_deref().filter(|s| !s.is_empty()).map(|s| s.trim().to_uppercase());
    let all = store_p::participants(&state.store, study.id, None).await?;
    Ok(Json(
        all.into_iter()
            .filter(|p| sites.iter().any(|(id, _)| *id == p.site_id))
            .filter(|p| site.as_ref().is_none_or(|s| &p.site_code == s))
            .filter(|p| status.is_none_or(|s| p.status() == s))
            .map(Into::into)
            .collect(),
    ))
}

#[derive(Deserialize, Serialize, ToSchema, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct ContactIn {
    pub given_name: String,
    pub family_name: String,
    #[serde(default)]
    pub date_of_birth: Option<NaiveDate>,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub address: String,
    /// Medical record number.
    #[serde(default)]
    pub mrn: String,
}

impl From<store_p::Contact> for ContactIn {
    fn from(c: store_p::Contact) -> Self {
        ContactIn {
            given_name: c.given_name,
            family_name: c.family_name,
            date_of_birth: c.date_of_birth,
            phone: c.phone,
            email: c.email,
            address: c.address,
            mrn: c.mrn,
        }
    }
}

impl From<ContactIn> for store_p::Contact {
    fn from(c: ContactIn) -> Self {
        store_p::Contact {
            given_name: c.given_name,
            family_name: c.family_name,
            date_of_birth: c.date_of_birth,
            phone: c.phone,
            email: c.email,
            address: c.address,
            mrn: c.mrn,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewParticipantIn {
    /// prescreen or screening.
    pub status: String,
    /// The day screening (or prescreening) started; today when left out.
    #[serde(default)]
    pub on: Option<NaiveDate>,
    /// Contact details and identifiers; only roles with PHI access may give them.
    #[serde(default)]
    pub contact: Option<ContactIn>,
}

/// Registers a participant at a site and gives them the next subject id.
#[utoipa::path(post, path = "/api/v1/studies/{code}/sites/{site}/participants", tag = "participants",
    params(("code" = String, Path), ("site" = String, Path)), request_body = NewParticipantIn,
    responses((status = 201, body = ParticipantOut), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    who: Authed,
    ApiPath((code, site)): ApiPath<(String, String)>,
    ApiJson(b): ApiJson<NewParticipantIn>,
) -> ApiResult<Response> {
    let (study, ss) = readable_study_site(&state, &who, &code, &site).await?;
    let t = Target::study_site(study.id, ss.site_id);
    who.require(PARTICIPANTS_WRITE, t)?;
    if b.contact.is_some() {
        who.require(PARTICIPANTS_PHI, t)?;
    }
    let status = Status::parse(&b.status)?;
    let on = b.on.unwrap_or_else(|| store_p::site_today(&ss));
    let p = store_p::register(
        &state.store,
        &who.acting(),
        study.id,
        ss.site_id,
        store_p::NewParticipant { status, on, contact: b.contact.map(Into::into) },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(ParticipantOut::from(p))).into_response())
}

#[derive(Serialize, ToSchema)]
pub struct MoveOut {
    pub from_status: Option<String>,
    pub to_status: String,
    pub reason_code: String,
    pub detail: String,
    pub effective_on: NaiveDate,
    pub by: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct ResponseOut {
    pub code: String,
    /// yes, no or not_applicable.
    pub answer: String,
    pub source: String,
}

#[derive(Serialize, ToSchema)]
pub struct EligibilityOut {
    pub id: Uuid,
    pub eligible: bool,
    /// Codes of the criteria that make the participant ineligible.
    pub failed: Vec<String>,
    pub responses: Vec<ResponseOut>,
    pub assessed_by: Option<String>,
    pub assessed_at: DateTime<Utc>,
    pub signed_by: Option<String>,
    pub signed_at: Option<DateTime<Utc>>,
}

impl From<store_p::AssessmentView> for EligibilityOut {
    fn from(v: store_p::AssessmentView) -> Self {
        let a = v.assessment;
        EligibilityOut {
            id: a.id,
            eligible: a.eligible,
            failed: a.failed.split(',').filter(|s| !s.is_empty()).map(String::from).collect(),
            responses: a
                .responses()
                .into_iter()
                .map(|r| ResponseOut { code: r.code, answer: r.answer.as_str().into(), source: r.source })
                .collect(),
            assessed_by: a.assessed_by_name,
            assessed_at: a.assessed_at,
            signed_by: v.signed.as_ref().map(|s| s.signature.printed_name.clone()),
            signed_at: v.signed.as_ref().map(|s| s.signature.signed_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AssignmentOut {
    pub stratum: String,
    pub seq: i64,
    /// The arm, or null when the caller is blinded.
    pub arm_code: Option<String>,
    pub arm_name: Option<String>,
    pub assigned_at: Option<DateTime<Utc>>,
    pub assigned_by: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ParticipantDetailOut {
    pub participant: ParticipantOut,
    pub history: Vec<MoveOut>,
    pub eligibility: Option<EligibilityOut>,
    pub randomization: Option<AssignmentOut>,
}

/// What the caller may know of an assignment: the arm only when unblinded (or open label, or
/// after they broke the blind for this participant).
pub async fn assignment_out(
    state: &AppState,
    who: &Authed,
    p: &Participant,
    a: store_r::Assignment,
) -> ApiResult<AssignmentOut> {
    let sees = store_r::may_see(&state.store, p.study_id, who.user.id).await?
        || store_r::has_unblinded(&state.store, p.id, who.user.id).await?;
    Ok(AssignmentOut::of(a, sees))
}

impl AssignmentOut {
    fn of(a: store_r::Assignment, sees_arm: bool) -> Self {
        AssignmentOut {
            stratum: a.stratum,
            seq: a.seq,
            arm_code: sees_arm.then_some(a.arm_code),
            arm_name: sees_arm.then_some(a.arm_name),
            assigned_at: a.assigned_at,
            assigned_by: a.assigned_by_name,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/participants/{id}", tag = "participants", params(("id" = Uuid, Path)),
    responses((status = 200, body = ParticipantDetailOut), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<ParticipantDetailOut>> {
    let p = readable_participant(&state, &who, id).await?;
    let history = store_p::history(&state.store, id)
        .await?
        .into_iter()
        .map(|m| MoveOut {
            from_status: m.from_status,
            to_status: m.to_status,
            reason_code: m.reason_code,
            detail: m.detail,
            effective_on: m.effective_on,
            by: m.user_name,
            at: m.at,
        })
        .collect();
    let eligibility = store_p::latest_assessment(&state.store, id).await?.map(Into::into);
    let randomization = match store_r::assignment(&state.store, id).await? {
        Some(a) => Some(assignment_out(&state, &who, &p, a).await?),
        None => None,
    };
    Ok(Json(ParticipantDetailOut { participant: p.into(), history, eligibility, randomization }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PurposeQuery {
    /// Why the details are read (kept in the audit trail).
    pub purpose: Option<String>,
}

/// A participant's contact details and identifiers. Only roles with PHI access; every read is
/// written to the audit trail.
#[utoipa::path(get, path = "/api/v1/participants/{id}/contact", tag = "participants", params(("id" = Uuid, Path), PurposeQuery),
    responses((status = 200, body = ContactIn), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn contact(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<PurposeQuery>,
) -> ApiResult<Json<ContactIn>> {
    let p = readable_participant(&state, &who, id).await?;
    who.require(PARTICIPANTS_PHI, target(&p))?;
    let purpose = q.purpose.unwrap_or_default();
    let c = store_p::read_contact(&state.store, &who.acting(), id, purpose.trim()).await?.unwrap_or_default();
    Ok(Json(c.into()))
}

#[utoipa::path(put, path = "/api/v1/participants/{id}/contact", tag = "participants", params(("id" = Uuid, Path)), request_body = ContactIn,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_contact(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<ContactIn>,
) -> ApiResult<StatusCode> {
    let p = readable_participant(&state, &who, id).await?;
    who.require(PARTICIPANTS_PHI, target(&p))?;
    who.require(PARTICIPANTS_WRITE, target(&p))?;
    let ss = clinbridge_store::trials::study_site(&state.store, p.study_id, p.site_id).await?;
    let c = store_p::Contact::from(b).check(store_p::site_today(&ss))?;
    store_p::update_contact(&state.store, &who.acting(), id, c).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ParticipantStatusIn {
    pub status: String,
    /// Required for screen_failed and withdrawn (see the reason lists).
    #[serde(default)]
    pub reason_code: String,
    #[serde(default)]
    pub detail: String,
    /// For a withdrawal: none, no_further_contact or no_further_data.
    #[serde(default)]
    pub consent_withdrawal: String,
    /// The day it happened; today when left out.
    #[serde(default)]
    pub effective_on: Option<NaiveDate>,
}

pub async fn move_request(
    state: &AppState,
    p: &Participant,
    b: ParticipantStatusIn,
) -> ApiResult<store_p::MoveRequest> {
    let to = Status::parse(&b.status)?;
    let ss = clinbridge_store::trials::study_site(&state.store, p.study_id, p.site_id).await?;
    Ok(store_p::MoveRequest {
        to,
        reason_code: b.reason_code,
        detail: b.detail,
        consent_withdrawal: b.consent_withdrawal,
        effective_on: b.effective_on.unwrap_or_else(|| store_p::site_today(&ss)),
    })
}

/// Moves a participant through the pipeline.
#[utoipa::path(post, path = "/api/v1/participants/{id}/status", tag = "participants", params(("id" = Uuid, Path)), request_body = ParticipantStatusIn,
    responses((status = 200, body = ParticipantOut), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_status(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<ParticipantStatusIn>,
) -> ApiResult<Json<ParticipantOut>> {
    let p = readable_participant(&state, &who, id).await?;
    who.require(PARTICIPANTS_WRITE, target(&p))?;
    let req = move_request(&state, &p, b).await?;
    Ok(Json(store_p::move_to(&state.store, &who.acting(), id, req).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerIn {
    pub code: String,
    /// yes, no or not_applicable.
    pub answer: String,
    /// Where the answer was verified (for example "echocardiogram 2026-03-02").
    pub source: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssessIn {
    pub answers: Vec<AnswerIn>,
}

pub fn responses(answers: Vec<AnswerIn>) -> ApiResult<Vec<clinbridge_core::participants::Response>> {
    let mut out = Vec::new();
    let mut errs = Vec::new();
    for a in answers {
        match Answer::parse(&a.answer) {
            Ok(answer) => out.push(clinbridge_core::participants::Response {
                code: a.code.trim().to_uppercase(),
                answer,
                source: a.source,
            }),
            Err(_) => errs.push(clinbridge_core::FieldError::new(
                format!("answers.{}", a.code.trim().to_uppercase()),
                "must be yes, no or not_applicable",
            )),
        }
    }
    if errs.is_empty() { Ok(out) } else { Err(ApiError::Invalid(errs)) }
}

/// Records the eligibility checklist; the outcome is computed from the answers.
#[utoipa::path(post, path = "/api/v1/participants/{id}/eligibility", tag = "participants", params(("id" = Uuid, Path)), request_body = AssessIn,
    responses((status = 201, body = EligibilityOut), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn assess(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<AssessIn>,
) -> ApiResult<Response> {
    let p = readable_participant(&state, &who, id).await?;
    who.require(PARTICIPANTS_WRITE, target(&p))?;
    store_p::assess(&state.store, &who.acting(), id, responses(b.answers)?).await?;
    let view = store_p::latest_assessment(&state.store, id).await?.ok_or(ApiError::Internal)?;
    Ok((StatusCode::CREATED, Json(EligibilityOut::from(view))).into_response())
}

/// The investigator signs the latest eligibility decision (password again; needs the
/// delegated duty to assess eligibility).
#[utoipa::path(post, path = "/api/v1/participants/{id}/eligibility/sign", tag = "participants", params(("id" = Uuid, Path)), request_body = SignIn,
    responses((status = 200, body = SignatureOut), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn sign_eligibility(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<SignIn>,
) -> ApiResult<Json<SignatureOut>> {
    let p = readable_participant(&state, &who, id).await?;
    who.require(PARTICIPANTS_SIGN, target(&p))?;
    Ok(Json(store_p::sign_assessment(&state.store, &who.acting(), id, &b.password).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RandomizeIn {
    /// The participant's level of each stratification factor, by factor name.
    #[serde(default)]
    pub strata: std::collections::BTreeMap<String, String>,
    /// The day of randomization; today when left out.
    #[serde(default)]
    pub on: Option<NaiveDate>,
}

/// Randomizes an enrolled participant (needs the delegated duty to randomize).
#[utoipa::path(post, path = "/api/v1/participants/{id}/randomize", tag = "participants", params(("id" = Uuid, Path)), request_body = RandomizeIn,
    responses((status = 200, body = AssignmentOut), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn randomize(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<RandomizeIn>,
) -> ApiResult<Json<AssignmentOut>> {
    let p = readable_participant(&state, &who, id).await?;
    who.require(PARTICIPANTS_WRITE, target(&p))?;
    let ss = clinbridge_store::trials::study_site(&state.store, p.study_id, p.site_id).await?;
    let on = b.on.unwrap_or_else(|| store_p::site_today(&ss));
    let (p, a) = store_r::randomize(&state.store, &who.acting(), id, b.strata.into_iter().collect(), on).await?;
    Ok(Json(assignment_out(&state, &who, &p, a).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnblindIn {
    /// The medical emergency that requires knowing the treatment.
    pub reason: String,
}

/// Emergency unblinding by an investigator: returns the arm, records the reason and tells the
/// study's unblinded team.
#[utoipa::path(post, path = "/api/v1/participants/{id}/unblind", tag = "participants", params(("id" = Uuid, Path)), request_body = UnblindIn,
    responses((status = 200, body = AssignmentOut), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn unblind(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<UnblindIn>,
) -> ApiResult<Json<AssignmentOut>> {
    let p = readable_participant(&state, &who, id).await?;
    who.require(PARTICIPANTS_SIGN, target(&p))?;
    let a = store_r::emergency_unblind(&state.store, &who.acting(), id, &b.reason).await?;
    Ok(Json(AssignmentOut::of(a, true)))
}

#[derive(Serialize, ToSchema)]
pub struct CriterionOut {
    pub id: Uuid,
    /// inclusion or exclusion.
    pub kind: String,
    pub code: String,
    pub text: String,
}

#[utoipa::path(get, path = "/api/v1/studies/{code}/criteria", tag = "participants", params(("code" = String, Path)),
    responses((status = 200, body = [CriterionOut]), (status = 404, body = ErrorBody)))]
pub async fn list_criteria(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(code): ApiPath<String>,
) -> ApiResult<Json<Vec<CriterionOut>>> {
    let study = readable_study(&state, &who, &code).await?;
    Ok(Json(
        store_p::criteria(&state.store, study.id)
            .await?
            .into_iter()
            .map(|c| CriterionOut { id: c.id, kind: c.kind, code: c.code, text: c.text })
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CriterionIn {
    /// inclusion or exclusion.
    pub kind: String,
    /// Short code such as I1 or E3.
    pub code: String,
    pub text: String,
}

#[utoipa::path(post, path = "/api/v1/studies/{code}/criteria", tag = "participants", params(("code" = String, Path)), request_body = CriterionIn,
    responses((status = 201, body = CriterionOut), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_criterion(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(code): ApiPath<String>,
    ApiJson(b): ApiJson<CriterionIn>,
) -> ApiResult<Response> {
    let study = readable_study(&state, &who, &code).await?;
    who.require(TRIALS_ADMIN, Target::study(study.id))?;
    let kind = CriterionKind::parse(&b.kind)?;
    let c = store_p::add_criterion(&state.store, &who.acting(), study.id, kind, &b.code, &b.text).await?;
    Ok((StatusCode::CREATED, Json(CriterionOut { id: c.id, kind: c.kind, code: c.code, text: c.text })).into_response())
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatternIn {
    /// For example {site}-{seq:04}: {site}, {study} and one {seq} or {seq:0N}.
    pub pattern: String,
}

#[utoipa::path(put, path = "/api/v1/studies/{code}/subject-id-pattern", tag = "participants", params(("code" = String, Path)), request_body = PatternIn,
    responses((status = 200, body = PatternIn), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_pattern(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(code): ApiPath<String>,
    ApiJson(b): ApiJson<PatternIn>,
) -> ApiResult<Json<PatternIn>> {
    let study = readable_study(&state, &who, &code).await?;
    who.require(TRIALS_ADMIN, Target::study(study.id))?;
    let pattern = store_p::set_subject_id_pattern(&state.store, &who.acting(), study.id, &b.pattern).await?;
    Ok(Json(PatternIn { pattern }))
}

#[derive(Serialize, ToSchema)]
pub struct ScreeningEntryOut {
    pub id: Uuid,
    pub site_code: String,
    pub logged_on: NaiveDate,
    pub reason_code: String,
    pub candidates: i64,
    pub note: String,
}

impl From<store_p::ScreeningEntry> for ScreeningEntryOut {
    fn from(e: store_p::ScreeningEntry) -> Self {
        ScreeningEntryOut {
            id: e.id,
            site_code: e.site_code,
            logged_on: e.logged_on,
            reason_code: e.reason_code,
            candidates: e.candidates,
            note: e.note,
        }
    }
}

/// Prescreening failures (counts and reasons, no identities) at the sites the caller may see.
#[utoipa::path(get, path = "/api/v1/studies/{code}/screening-log", tag = "participants", params(("code" = String, Path)),
    responses((status = 200, body = [ScreeningEntryOut]), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn screening_log(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(code): ApiPath<String>,
) -> ApiResult<Json<Vec<ScreeningEntryOut>>> {
    let study = readable_study(&state, &who, &code).await?;
    let sites = readable_sites(&state, &who, &study).await?;
    if sites.is_empty() {
        return Err(ApiError::Forbidden);
    }
    Ok(Json(
        store_p::screening_log(&state.store, study.id, None)
            .await?
            .into_iter()
            .filter(|e| sites.iter().any(|(id, _)| *id == e.site_id))
            .map(Into::into)
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrescreenIn {
    pub logged_on: NaiveDate,
    /// A screen-failure reason code.
    pub reason_code: String,
    /// How many candidates failed for this reason.
    pub candidates: i64,
    #[serde(default)]
    pub note: String,
}

#[utoipa::path(post, path = "/api/v1/studies/{code}/sites/{site}/screening-log", tag = "participants",
    params(("code" = String, Path), ("site" = String, Path)), request_body = PrescreenIn,
    responses((status = 201, body = ScreeningEntryOut), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn log_prescreen(
    State(state): State<AppState>,
    who: Authed,
    ApiPath((code, site)): ApiPath<(String, String)>,
    ApiJson(b): ApiJson<PrescreenIn>,
) -> ApiResult<Response> {
    let (study, ss) = readable_study_site(&state, &who, &code, &site).await?;
    who.require(PARTICIPANTS_WRITE, Target::study_site(study.id, ss.site_id))?;
    let f = store_p::PrescreenFailures {
        logged_on: b.logged_on,
        reason_code: b.reason_code,
        candidates: b.candidates,
        note: b.note,
    };
    let e = store_p::log_prescreen_failures(&state.store, &who.acting(), study.id, ss.site_id, f).await?;
    Ok((StatusCode::CREATED, Json(ScreeningEntryOut::from(e))).into_response())
}

#[derive(Serialize, ToSchema)]
pub struct FunnelStageOut {
    pub stage: String,
    pub count: i64,
}

/// The CONSORT-style screening funnel over the sites the caller may see (or one site).
#[utoipa::path(get, path = "/api/v1/studies/{code}/funnel", tag = "participants", params(("code" = String, Path), SiteQuery),
    responses((status = 200, body = [FunnelStageOut]), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn funnel(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(code): ApiPath<String>,
    ApiQuery(q): ApiQuery<SiteQuery>,
) -> ApiResult<Json<Vec<FunnelStageOut>>> {
    let study = readable_study(&state, &who, &code).await?;
    let mut sites = readable_sites(&state, &who, &study).await?;
    if sites.is_empty() {
        return Err(ApiError::Forbidden);
    }
    if let Some(s) = q.site.as_deref().filter(|s| !s.is_empty()) {
        sites.retain(|(_, c)| c.eq_ignore_ascii_case(s.trim()));
    }
    let ids: Vec<Uuid> = sites.iter().map(|(id, _)| *id).collect();
    Ok(Json(
        store_p::funnel(&state.store, study.id, &ids)
            .await?
            .into_iter()
            .map(|s| FunnelStageOut { stage: s.stage.into(), count: s.count })
            .collect(),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct EnrollmentMonthOut {
    /// The first day of the month.
    pub month: NaiveDate,
    pub enrolled: i64,
    pub cumulative: i64,
}

#[derive(Serialize, ToSchema)]
pub struct EnrollmentOut {
    /// The study's target across all its sites, or the sum of the targets of the sites shown.
    pub target: i64,
    pub enrolled: i64,
    pub months: Vec<EnrollmentMonthOut>,
}

/// Enrollment against target over the sites the caller may see (or the one site asked for).
pub async fn enrollment_of(
    state: &AppState,
    who: &Authed,
    study: &Study,
    site: Option<&str>,
) -> ApiResult<EnrollmentOut> {
    let mut sites = readable_sites(state, who, study).await?;
    if sites.is_empty() {
        return Err(ApiError::Forbidden);
    }
    let all_visible = sites.len();
    let asked = site.map(str::trim).filter(|s| !s.is_empty());
    if let Some(s) = asked {
        sites.retain(|(_, c)| c.eq_ignore_ascii_case(s));
    }
    let ids: Vec<Uuid> = sites.iter().map(|(id, _)| *id).collect();
    let participating = clinbridge_store::trials::study_sites(&state.store, study.id).await?;
    let target = if asked.is_none() && all_visible == participating.len() {
        study.target_enrollment
    } else {
        participating.iter().filter(|ss| ids.contains(&ss.site_id)).map(|ss| ss.target_enrollment).sum()
    };
    let by_month = store_p::enrollment_by_month(&state.store, study.id, &ids).await?;
    let months = clinbridge_core::participants::enrollment_series(&by_month, Utc::now().date_naive());
    Ok(EnrollmentOut {
        target,
        enrolled: months.last().map(|m| m.cumulative).unwrap_or(0),
        months: months
            .into_iter()
            .map(|m| EnrollmentMonthOut { month: m.month, enrolled: m.enrolled, cumulative: m.cumulative })
            .collect(),
    })
}

#[utoipa::path(get, path = "/api/v1/studies/{code}/enrollment", tag = "participants", params(("code" = String, Path), SiteQuery),
    responses((status = 200, body = EnrollmentOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn enrollment(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(code): ApiPath<String>,
    ApiQuery(q): ApiQuery<SiteQuery>,
) -> ApiResult<Json<EnrollmentOut>> {
    let study = readable_study(&state, &who, &code).await?;
    Ok(Json(enrollment_of(&state, &who, &study, q.site.as_deref()).await?))
}

#[derive(Serialize, ToSchema)]
pub struct StratumOut {
    pub stratum: String,
    pub used: i64,
    pub total: i64,
}

#[derive(Serialize, ToSchema)]
pub struct AllocationOut {
    pub stratum: String,
    pub seq: i64,
    pub block_no: i64,
    pub block_size: i64,
    pub arm_code: String,
    pub subject_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct FactorOut {
    pub name: String,
    pub levels: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SchemeOut {
    pub blinded: bool,
    pub block_sizes: Vec<u32>,
    pub factors: Vec<FactorOut>,
    pub list_length: u32,
    pub strata: Vec<StratumOut>,
    /// The allocation list, only for the unblinded team (or an open-label study).
    pub allocations: Option<Vec<AllocationOut>>,
}

#[utoipa::path(get, path = "/api/v1/studies/{code}/randomization", tag = "participants", params(("code" = String, Path)),
    responses((status = 200, body = SchemeOut), (status = 404, body = ErrorBody)))]
pub async fn get_scheme(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(code): ApiPath<String>,
) -> ApiResult<Json<SchemeOut>> {
    let study = readable_study(&state, &who, &code).await?;
    let scheme = store_r::scheme(&state.store, study.id).await?.ok_or(ApiError::NotFound("randomization scheme"))?;
    let sees = store_r::may_see(&state.store, study.id, who.user.id).await?;
    Ok(Json(scheme_out(&state, scheme, sees).await?))
}

/// A scheme with its strata counts, and its allocation list when asked for.
async fn scheme_out(state: &AppState, scheme: store_r::Scheme, with_allocations: bool) -> ApiResult<SchemeOut> {
    let strata = store_r::stratum_counts(&state.store, scheme.id)
        .await?
        .into_iter()
        .map(|(stratum, used, total)| StratumOut { stratum, used, total })
        .collect();
    let allocations = if with_allocations {
        Some(
            store_r::allocation_list(&state.store, scheme.id)
                .await?
                .into_iter()
                .map(|a| AllocationOut {
                    stratum: a.stratum,
                    seq: a.seq,
                    block_no: a.block_no,
                    block_size: a.block_size,
                    arm_code: a.arm_code,
                    subject_id: a.subject_id,
                })
                .collect(),
        )
    } else {
        None
    };
    Ok(SchemeOut {
        blinded: scheme.blinded,
        block_sizes: scheme.design.block_sizes,
        factors: scheme.design.factors.into_iter().map(|f| FactorOut { name: f.name, levels: f.levels }).collect(),
        list_length: scheme.design.list_length,
        strata,
        allocations,
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FactorIn {
    pub name: String,
    pub levels: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SchemeIn {
    pub blinded: bool,
    /// Each a multiple of the sum of the arms' allocation ratios.
    pub block_sizes: Vec<u32>,
    #[serde(default)]
    pub factors: Vec<FactorIn>,
    /// Allocations generated per stratum.
    pub list_length: u32,
}

/// Creates the study's randomization scheme and generates its concealed allocation lists.
#[utoipa::path(post, path = "/api/v1/studies/{code}/randomization", tag = "participants", params(("code" = String, Path)), request_body = SchemeIn,
    responses((status = 201, body = SchemeOut), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_scheme(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(code): ApiPath<String>,
    ApiJson(b): ApiJson<SchemeIn>,
) -> ApiResult<Response> {
    let study = readable_study(&state, &who, &code).await?;
    who.require(TRIALS_ADMIN, Target::study(study.id))?;
    let s = store_r::create_scheme(
        &state.store,
        &who.acting(),
        study.id,
        store_r::NewScheme {
            blinded: b.blinded,
            block_sizes: b.block_sizes,
            factors: b.factors.into_iter().map(|f| Factor { name: f.name, levels: f.levels }).collect(),
            list_length: b.list_length,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(scheme_out(&state, s, false).await?)).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnblindedIn {
    pub user_email: String,
    /// True to add to the unblinded team, false to remove.
    pub member: bool,
}

/// Adds a person to the study's unblinded team or removes them (administrators).
#[utoipa::path(post, path = "/api/v1/studies/{code}/unblinded-team", tag = "participants", params(("code" = String, Path)), request_body = UnblindedIn,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_unblinded(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(code): ApiPath<String>,
    ApiJson(b): ApiJson<UnblindedIn>,
) -> ApiResult<StatusCode> {
    let study = readable_study(&state, &who, &code).await?;
    who.require(TRIALS_ADMIN, Target::study(study.id))?;
    let user = super::user_named(&state, "user_email", &b.user_email).await?;
    store_r::set_unblinded(&state.store, &who.acting(), study.id, user.id, b.member).await?;
    Ok(StatusCode::NO_CONTENT)
}
