//! Trials API: studies (create, read, edit, status lifecycle), arms and protocol versions.
//! Studies are addressed by their code.

use super::{ApiJson, ApiPath};
use crate::AppState;
use crate::auth::Authed;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::routes::Routes;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use clinbridge_core::identity::Code;
use clinbridge_core::policy::{Action, Context, Op, Target};
use clinbridge_core::trials::{StudyDetails, StudyDetailsInput, StudyStatus};
use clinbridge_store::trials::{self as store_trials, Arm, ProtocolVersion, Study};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pub fn register(r: Routes) -> Routes {
    r.get("/api/v1/studies", list)
        .post("/api/v1/studies", create)
        .get("/api/v1/studies/{code}", get)
        .put("/api/v1/studies/{code}", update)
        .post("/api/v1/studies/{code}/status", set_status)
        .post("/api/v1/studies/{code}/arms", add_arm)
        .post("/api/v1/studies/{code}/protocol-versions", add_protocol_version)
        .get("/api/v1/studies/{code}/sites", list_sites)
        .post("/api/v1/studies/{code}/sites", add_site)
        .put("/api/v1/studies/{code}/sites/{site}", update_site)
        .get("/api/v1/studies/{code}/sites/{site}/delegation", delegation_log)
        .post("/api/v1/studies/{code}/sites/{site}/delegation", add_delegation)
        .post("/api/v1/delegation/{id}/sign", sign_delegation)
        .post("/api/v1/delegation/{id}/end", end_delegation)
}

pub const TRIALS_READ: Action = Action::new(Context::Trials, Op::Read);
pub const TRIALS_ADMIN: Action = Action::new(Context::Trials, Op::Administer);

#[derive(Serialize, ToSchema)]
pub struct StudyOut {
    pub id: Uuid,
    pub code: String,
    pub title: String,
    pub short_title: String,
    /// draft, approved, enrolling, closed_to_accrual, completed, suspended or terminated.
    pub status: String,
    pub protocol_number: String,
    pub phase: String,
    pub sponsor: String,
    pub registry_id: String,
    pub ind_ide: String,
    pub therapeutic_area: String,
    pub target_enrollment: i64,
    /// The statuses it may move to next.
    pub next_statuses: Vec<String>,
}

impl From<Study> for StudyOut {
    fn from(s: Study) -> Self {
        let next_statuses = s.status().next().iter().map(|n| n.as_str().to_string()).collect();
        StudyOut {
            id: s.id,
            code: s.code,
            title: s.title,
            short_title: s.short_title,
            status: s.status,
            protocol_number: s.protocol_number,
            phase: s.phase,
            sponsor: s.sponsor,
            registry_id: s.registry_id,
            ind_ide: s.ind_ide,
            therapeutic_area: s.therapeutic_area,
            target_enrollment: s.target_enrollment,
            next_statuses,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ArmOut {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub allocation_ratio: i64,
    pub description: String,
}

impl From<Arm> for ArmOut {
    fn from(a: Arm) -> Self {
        ArmOut {
            id: a.id,
            code: a.code,
            name: a.name,
            allocation_ratio: a.allocation_ratio,
            description: a.description,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ProtocolVersionOut {
    pub id: Uuid,
    pub version: String,
    pub amendment: String,
    pub effective_on: NaiveDate,
    pub summary: String,
}

impl From<ProtocolVersion> for ProtocolVersionOut {
    fn from(v: ProtocolVersion) -> Self {
        ProtocolVersionOut {
            id: v.id,
            version: v.version,
            amendment: v.amendment,
            effective_on: v.effective_on,
            summary: v.summary,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct StudyDetailOut {
    pub study: StudyOut,
    pub arms: Vec<ArmOut>,
    pub protocol_versions: Vec<ProtocolVersionOut>,
}

/// The study named by a code, if the caller may read it (an unknown code and a study out of
/// reach answer alike, so codes cannot be probed).
pub async fn readable_study(state: &AppState, who: &Authed, code: &str) -> ApiResult<Study> {
    let study = store_trials::study_by_code(&state.store, code).await.map_err(|_| ApiError::NotFound("study"))?;
    let participations = store_trials::participations_of(&state.store, study.id).await?;
    if !can_read(who, study.id, &participations) {
        return Err(ApiError::NotFound("study"));
    }
    Ok(study)
}

/// A study is readable through a grant on the study (or organization), or through a grant on a
/// site that takes part in it.
pub fn can_read(who: &Authed, study: Uuid, participations: &[(Uuid, Uuid)]) -> bool {
    who.can(TRIALS_READ, Target::study(study))
        || participations
            .iter()
            .any(|(st, site)| *st == study && who.can(TRIALS_READ, Target::study_site(study, *site)))
}

/// Studies the caller may read.
#[utoipa::path(get, path = "/api/v1/studies", tag = "trials", responses((status = 200, body = [StudyOut]), (status = 403, body = ErrorBody)))]
pub async fn list(State(state): State<AppState>, who: Authed) -> ApiResult<Json<Vec<StudyOut>>> {
    who.require_anywhere(TRIALS_READ)?;
    let studies = store_trials::studies(&state.store).await?;
    let participations = store_trials::participations(&state.store).await?;
    Ok(Json(studies.into_iter().filter(|s| can_read(&who, s.id, &participations)).map(Into::into).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStudyIn {
    /// Short unique code used in addresses and on the command line, e.g. CARDIO-HF3.
    pub code: String,
    pub title: String,
    #[serde(default)]
    pub short_title: String,
    #[serde(default)]
    pub protocol_number: String,
    /// early_phase_1, phase_1, phase_1_2, phase_2, phase_2_3, phase_3, phase_4, feasibility, pivotal or not_applicable.
    pub phase: String,
    #[serde(default)]
    pub sponsor: String,
    /// NCT, EU CT, EudraCT or ISRCTN number.
    #[serde(default)]
    pub registry_id: String,
    #[serde(default)]
    pub ind_ide: String,
    #[serde(default)]
    pub therapeutic_area: String,
    #[serde(default)]
    pub target_enrollment: i64,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StudyDetailsIn {
    pub title: String,
    #[serde(default)]
    pub short_title: String,
    #[serde(default)]
    pub protocol_number: String,
    pub phase: String,
    #[serde(default)]
    pub sponsor: String,
    #[serde(default)]
    pub registry_id: String,
    #[serde(default)]
    pub ind_ide: String,
    #[serde(default)]
    pub therapeutic_area: String,
    #[serde(default)]
    pub target_enrollment: i64,
}

impl StudyDetailsIn {
    fn input(self) -> StudyDetailsInput {
        StudyDetailsInput {
            title: self.title,
            short_title: self.short_title,
            protocol_number: self.protocol_number,
            phase: self.phase,
            sponsor: self.sponsor,
            registry_id: self.registry_id,
            ind_ide: self.ind_ide,
            therapeutic_area: self.therapeutic_area,
            target_enrollment: self.target_enrollment,
        }
    }
}

/// Creates a study in draft (administrators).
#[utoipa::path(post, path = "/api/v1/studies", tag = "trials", request_body = NewStudyIn,
    responses((status = 201, body = StudyOut), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    who: Authed,
    ApiJson(b): ApiJson<NewStudyIn>,
) -> ApiResult<Response> {
    who.require(TRIALS_ADMIN, Target::ORG)?;
    let mut checks = clinbridge_core::Checks::new();
    let code = checks.take("code", Code::parse("code", &b.code));
    let details = checks.take(
        "",
        StudyDetails::parse(&StudyDetailsInput {
            title: b.title,
            short_title: b.short_title,
            protocol_number: b.protocol_number,
            phase: b.phase,
            sponsor: b.sponsor,
            registry_id: b.registry_id,
            ind_ide: b.ind_ide,
            therapeutic_area: b.therapeutic_area,
            target_enrollment: b.target_enrollment,
        }),
    );
    checks.finish()?;
    let (Some(code), Some(details)) = (code, details) else { return Err(ApiError::Internal) };
    let study = store_trials::create_study(&state.store, &who.acting(), code, details).await?;
    Ok((StatusCode::CREATED, Json(StudyOut::from(study))).into_response())
}

#[utoipa::path(get, path = "/api/v1/studies/{code}", tag = "trials", params(("code" = String, Path)),
    responses((status = 200, body = StudyDetailOut), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(code): ApiPath<String>,
) -> ApiResult<Json<StudyDetailOut>> {
    let study = readable_study(&state, &who, &code).await?;
    let arms = store_trials::arms(&state.store, study.id).await?;
    let versions = store_trials::protocol_versions(&state.store, study.id).await?;
    Ok(Json(StudyDetailOut {
        study: study.into(),
        arms: arms.into_iter().map(Into::into).collect(),
        protocol_versions: versions.into_iter().map(Into::into).collect(),
    }))
}

async fn administrable(state: &AppState, who: &Authed, code: &str) -> ApiResult<Study> {
    let study = readable_study(state, who, code).await?;
    who.require(TRIALS_ADMIN, Target::study(study.id))?;
    Ok(study)
}

#[utoipa::path(put, path = "/api/v1/studies/{code}", tag = "trials", params(("code" = String, Path)), request_body = StudyDetailsIn,
    responses((status = 200, body = StudyOut), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(code): ApiPath<String>,
    ApiJson(b): ApiJson<StudyDetailsIn>,
) -> ApiResult<Json<StudyOut>> {
    let study = administrable(&state, &who, &code).await?;
    let details = StudyDetails::parse(&b.input())?;
    Ok(Json(store_trials::update_study(&state.store, &who.acting(), study.id, details).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StudyStatusIn {
    pub status: String,
    /// Required to suspend or terminate.
    pub reason: Option<String>,
}

/// Moves the study along its lifecycle; refused when the move is not allowed from its status.
#[utoipa::path(post, path = "/api/v1/studies/{code}/status", tag = "trials", params(("code" = String, Path)), request_body = StudyStatusIn,
    responses((status = 200, body = StudyOut), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_status(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(code): ApiPath<String>,
    ApiJson(b): ApiJson<StudyStatusIn>,
) -> ApiResult<Json<StudyOut>> {
    let study = administrable(&state, &who, &code).await?;
    let to = StudyStatus::parse(&b.status)?;
    Ok(Json(store_trials::set_status(&state.store, &who.acting(), study.id, to, b.reason).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArmIn {
    pub code: String,
    pub name: String,
    /// Relative weight, 1 to 10 (2 and 1 make a 2:1 design).
    pub allocation_ratio: i64,
    #[serde(default)]
    pub description: String,
}

/// Adds an arm (only before enrollment starts).
#[utoipa::path(post, path = "/api/v1/studies/{code}/arms", tag = "trials", params(("code" = String, Path)), request_body = ArmIn,
    responses((status = 201, body = ArmOut), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_arm(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(code): ApiPath<String>,
    ApiJson(b): ApiJson<ArmIn>,
) -> ApiResult<Response> {
    let study = administrable(&state, &who, &code).await?;
    let arm = store_trials::add_arm(
        &state.store,
        &who.acting(),
        study.id,
        &b.code,
        &b.name,
        b.allocation_ratio,
        &b.description,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(ArmOut::from(arm))).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProtocolVersionIn {
    pub version: String,
    #[serde(default)]
    pub amendment: String,
    pub effective_on: NaiveDate,
    #[serde(default)]
    pub summary: String,
}

/// Records a protocol version or amendment with its effective date.
#[utoipa::path(post, path = "/api/v1/studies/{code}/protocol-versions", tag = "trials", params(("code" = String, Path)), request_body = ProtocolVersionIn,
    responses((status = 201, body = ProtocolVersionOut), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_protocol_version(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(code): ApiPath<String>,
    ApiJson(b): ApiJson<ProtocolVersionIn>,
) -> ApiResult<Response> {
    let study = administrable(&state, &who, &code).await?;
    let v = store_trials::add_protocol_version(
        &state.store,
        &who.acting(),
        study.id,
        &b.version,
        &b.amendment,
        b.effective_on,
        &b.summary,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(ProtocolVersionOut::from(v))).into_response())
}

// ---------------------------------------------------------------- participating sites

pub const TRIALS_WRITE: Action = Action::new(Context::Trials, Op::Write);

#[derive(Serialize, ToSchema)]
pub struct StudySiteOut {
    pub id: Uuid,
    pub site_id: Uuid,
    pub site_code: String,
    pub site_name: String,
    pub pi_user_id: Option<Uuid>,
    pub pi_name: Option<String>,
    pub irb_name: String,
    pub irb_approved_on: Option<NaiveDate>,
    pub irb_expires_on: Option<NaiveDate>,
    pub activated_on: Option<NaiveDate>,
    pub target_enrollment: i64,
    /// Whether the site may screen and enroll today, and if not, why.
    pub can_enroll: bool,
    pub enrollment_block: Option<String>,
}

pub fn study_site_out(ss: store_trials::StudySite, study: &Study, today: NaiveDate) -> StudySiteOut {
    let block = ss.enrollment_block(study, today);
    StudySiteOut {
        id: ss.id,
        site_id: ss.site_id,
        site_code: ss.site_code,
        site_name: ss.site_name,
        pi_user_id: ss.pi_user_id,
        pi_name: ss.pi_name,
        irb_name: ss.irb_name,
        irb_approved_on: ss.irb_approved_on,
        irb_expires_on: ss.irb_expires_on,
        activated_on: ss.activated_on,
        target_enrollment: ss.target_enrollment,
        can_enroll: block.is_none(),
        enrollment_block: block,
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StudySiteIn {
    /// The site's code (when adding a site; ignored on update).
    pub site_code: Option<String>,
    /// E-mail of the principal investigator (an investigator at that site).
    pub pi_email: Option<String>,
    #[serde(default)]
    pub irb_name: String,
    pub irb_approved_on: Option<NaiveDate>,
    pub irb_expires_on: Option<NaiveDate>,
    pub activated_on: Option<NaiveDate>,
    #[serde(default)]
    pub target_enrollment: i64,
}

pub async fn study_site_input(state: &AppState, b: &StudySiteIn) -> ApiResult<store_trials::StudySiteInput> {
    let pi_user_id = super::optional_user_named(state, "pi_email", b.pi_email.as_deref()).await?;
    Ok(store_trials::StudySiteInput {
        pi_user_id,
        irb_name: b.irb_name.clone(),
        irb_approved_on: b.irb_approved_on,
        irb_expires_on: b.irb_expires_on,
        activated_on: b.activated_on,
        target_enrollment: b.target_enrollment,
    })
}

/// The sites taking part in a study, with whether each may enroll today.
#[utoipa::path(get, path = "/api/v1/studies/{code}/sites", tag = "trials", params(("code" = String, Path)),
    responses((status = 200, body = [StudySiteOut]), (status = 404, body = ErrorBody)))]
pub async fn list_sites(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(code): ApiPath<String>,
) -> ApiResult<Json<Vec<StudySiteOut>>> {
    let study = readable_study(&state, &who, &code).await?;
    let today = chrono::Utc::now().date_naive();
    let sites = store_trials::study_sites(&state.store, study.id).await?;
    Ok(Json(sites.into_iter().map(|s| study_site_out(s, &study, today)).collect()))
}

/// Adds a participating site (administrators).
#[utoipa::path(post, path = "/api/v1/studies/{code}/sites", tag = "trials", params(("code" = String, Path)), request_body = StudySiteIn,
    responses((status = 201, body = StudySiteOut), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_site(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(code): ApiPath<String>,
    ApiJson(b): ApiJson<StudySiteIn>,
) -> ApiResult<Response> {
    let study = administrable(&state, &who, &code).await?;
    let site_code = b.site_code.as_deref().unwrap_or("").trim().to_string();
    if site_code.is_empty() {
        return Err(ApiError::field("site_code", "is required"));
    }
    let site = clinbridge_store::identity::site_by_code(&state.store, &site_code)
        .await
        .map_err(|_| ApiError::field("site_code", "does not name a site"))?;
    let input = study_site_input(&state, &b).await?;
    let ss = store_trials::add_study_site(&state.store, &who.acting(), study.id, site.id, input).await?;
    Ok((StatusCode::CREATED, Json(study_site_out(ss, &study, chrono::Utc::now().date_naive()))).into_response())
}

/// Updates a participating site: its PI, IRB approval and activation (administrators, and the
/// site's own team).
#[utoipa::path(put, path = "/api/v1/studies/{code}/sites/{site}", tag = "trials", params(("code" = String, Path), ("site" = String, Path)),
    request_body = StudySiteIn, responses((status = 200, body = StudySiteOut), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_site(
    State(state): State<AppState>,
    who: Authed,
    ApiPath((code, site_code)): ApiPath<(String, String)>,
    ApiJson(b): ApiJson<StudySiteIn>,
) -> ApiResult<Json<StudySiteOut>> {
    let study = readable_study(&state, &who, &code).await?;
    let site = clinbridge_store::identity::site_by_code(&state.store, &site_code)
        .await
        .map_err(|_| ApiError::NotFound("participating site"))?;
    who.require(TRIALS_WRITE, Target::study_site(study.id, site.id))?;
    let existing = store_trials::study_site(&state.store, study.id, site.id).await?;
    let input = study_site_input(&state, &b).await?;
    let ss = store_trials::update_study_site(&state.store, &who.acting(), existing.id, input).await?;
    Ok(Json(study_site_out(ss, &study, chrono::Utc::now().date_naive())))
}

// ---------------------------------------------------------------- delegation log

pub const TRIALS_SIGN: Action = Action::new(Context::Trials, Op::Sign);

#[derive(Serialize, ToSchema)]
pub struct DelegationOut {
    pub id: Uuid,
    pub user_id: Uuid,
    pub user_name: String,
    pub study_role: String,
    pub duties: Vec<String>,
    pub start_on: NaiveDate,
    pub end_on: Option<NaiveDate>,
    /// The principal investigator's signature on the entry as it stands, if any.
    pub signed_by: Option<String>,
    pub signed_at: Option<chrono::DateTime<chrono::Utc>>,
    /// A signature exists but the entry changed after it: it needs signing again.
    pub signature_void: bool,
}

impl From<store_trials::DelegationView> for DelegationOut {
    fn from(v: store_trials::DelegationView) -> Self {
        DelegationOut {
            duties: v.entry.duties().iter().map(|d| d.as_str().to_string()).collect(),
            id: v.entry.id,
            user_id: v.entry.user_id,
            user_name: v.entry.user_name,
            study_role: v.entry.study_role,
            start_on: v.entry.start_on,
            end_on: v.entry.end_on,
            signed_by: v.signed.as_ref().map(|s| s.signature.printed_name.clone()),
            signed_at: v.signed.as_ref().map(|s| s.signature.signed_at),
            signature_void: v.void_signature,
        }
    }
}

/// A study's participating site, for reading (404 when out of reach).
pub async fn readable_study_site(
    state: &AppState,
    who: &Authed,
    code: &str,
    site: &str,
) -> ApiResult<(Study, store_trials::StudySite)> {
    let study = readable_study(state, who, code).await?;
    let site = clinbridge_store::identity::site_by_code(&state.store, site)
        .await
        .map_err(|_| ApiError::NotFound("participating site"))?;
    if !who.can(TRIALS_READ, Target::study_site(study.id, site.id)) {
        return Err(ApiError::NotFound("participating site"));
    }
    let ss = store_trials::study_site(&state.store, study.id, site.id).await?;
    Ok((study, ss))
}

#[utoipa::path(get, path = "/api/v1/studies/{code}/sites/{site}/delegation", tag = "trials", params(("code" = String, Path), ("site" = String, Path)),
    responses((status = 200, body = [DelegationOut]), (status = 404, body = ErrorBody)))]
pub async fn delegation_log(
    State(state): State<AppState>,
    who: Authed,
    ApiPath((code, site)): ApiPath<(String, String)>,
) -> ApiResult<Json<Vec<DelegationOut>>> {
    let (study, ss) = readable_study_site(&state, &who, &code, &site).await?;
    Ok(Json(
        store_trials::delegation_log(&state.store, study.id, ss.site_id).await?.into_iter().map(Into::into).collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DelegationIn {
    pub user_email: String,
    /// e.g. Sub-investigator, Study coordinator, Research pharmacist.
    pub study_role: String,
    /// obtain_consent, assess_eligibility, randomize, dispense_product, enter_data, assess_adverse_events, perform_procedures.
    pub duties: Vec<String>,
    pub start_on: NaiveDate,
    pub end_on: Option<NaiveDate>,
}

pub async fn new_delegation(state: &AppState, b: &DelegationIn) -> ApiResult<store_trials::NewDelegation> {
    let user = super::user_named(state, "user_email", &b.user_email).await?;
    let mut duties = Vec::new();
    for d in &b.duties {
        duties.push(clinbridge_core::trials::Duty::parse(d)?);
    }
    Ok(store_trials::NewDelegation {
        user_id: user.id,
        study_role: b.study_role.clone(),
        duties,
        start_on: b.start_on,
        end_on: b.end_on,
    })
}

/// Adds a line to the site's delegation log; it counts once the PI signs it.
#[utoipa::path(post, path = "/api/v1/studies/{code}/sites/{site}/delegation", tag = "trials", params(("code" = String, Path), ("site" = String, Path)),
    request_body = DelegationIn, responses((status = 201, body = DelegationOut), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_delegation(
    State(state): State<AppState>,
    who: Authed,
    ApiPath((code, site)): ApiPath<(String, String)>,
    ApiJson(b): ApiJson<DelegationIn>,
) -> ApiResult<Response> {
    let (study, ss) = readable_study_site(&state, &who, &code, &site).await?;
    who.require(TRIALS_WRITE, Target::study_site(study.id, ss.site_id))?;
    let d = new_delegation(&state, &b).await?;
    let entry = store_trials::add_delegation(&state.store, &who.acting(), study.id, ss.site_id, d).await?;
    let view = store_trials::DelegationView { entry, signed: None, void_signature: false };
    Ok((StatusCode::CREATED, Json(DelegationOut::from(view))).into_response())
}

/// A delegation entry the caller may see. Entries exist only for a participating site, so
/// read access at that study and site is read access to the study too.
pub async fn visible_delegation(state: &AppState, who: &Authed, id: Uuid) -> ApiResult<store_trials::DelegationEntry> {
    let entry =
        store_trials::delegation_entry(&state.store, id).await.map_err(|_| ApiError::NotFound("delegation entry"))?;
    if !who.can(TRIALS_READ, Target::study_site(entry.study_id, entry.site_id)) {
        return Err(ApiError::NotFound("delegation entry"));
    }
    Ok(entry)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    /// The signer's password, entered again for this signature.
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct SignatureOut {
    pub id: Uuid,
    pub printed_name: String,
    pub meaning: String,
    pub signed_at: chrono::DateTime<chrono::Utc>,
    /// SHA-256 of the signed version of the record.
    pub record_hash: String,
}

impl From<clinbridge_store::signatures::Signature> for SignatureOut {
    fn from(s: clinbridge_store::signatures::Signature) -> Self {
        SignatureOut {
            id: s.id,
            printed_name: s.printed_name,
            meaning: s.meaning,
            signed_at: s.signed_at,
            record_hash: s.record_hash,
        }
    }
}

/// The principal investigator signs a delegation entry (meaning: approval).
#[utoipa::path(post, path = "/api/v1/delegation/{id}/sign", tag = "trials", params(("id" = Uuid, Path)), request_body = SignIn,
    responses((status = 200, body = SignatureOut), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn sign_delegation(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<SignIn>,
) -> ApiResult<Json<SignatureOut>> {
    let entry = visible_delegation(&state, &who, id).await?;
    who.require(TRIALS_SIGN, Target::study_site(entry.study_id, entry.site_id))?;
    Ok(Json(store_trials::sign_delegation(&state.store, &who.acting(), id, &b.password).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndIn {
    pub end_on: NaiveDate,
}

/// Ends a delegation entry on a day; the PI signs the ended entry again.
#[utoipa::path(post, path = "/api/v1/delegation/{id}/end", tag = "trials", params(("id" = Uuid, Path)), request_body = EndIn,
    responses((status = 200, body = DelegationOut), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn end_delegation(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<EndIn>,
) -> ApiResult<Json<DelegationOut>> {
    let entry = visible_delegation(&state, &who, id).await?;
    who.require(TRIALS_WRITE, Target::study_site(entry.study_id, entry.site_id))?;
    let entry = store_trials::end_delegation(&state.store, &who.acting(), id, b.end_on).await?;
    Ok(Json(store_trials::DelegationView { entry, signed: None, void_signature: true }.into()))
}
