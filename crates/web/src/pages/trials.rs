//! Study pages: the list, creating a study, and a study's page (protocol details, arms,
//! protocol versions, status changes).

use super::{Chrome, PageError, PageResult, chrome, form_date, form_errors, render, required_form_date, see_other};
use crate::AppState;
use crate::api::trials::{
    StudySiteIn, TRIALS_ADMIN, TRIALS_READ, TRIALS_WRITE, can_read, readable_study, study_site_input,
};
use crate::auth::Authed;
use crate::error::ApiError;
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::NaiveDate;
use clinbridge_core::identity::Code;
use clinbridge_core::policy::Target;
use clinbridge_core::trials::{PHASES, StudyDetails, StudyDetailsInput, StudyStatus, phase_label};
use clinbridge_store::trials::{self as store_trials, Arm, ProtocolVersion, Study};
use serde::Deserialize;

pub fn register(r: crate::routes::Routes) -> crate::routes::Routes {
    r.get("/studies", list)
        .post("/studies", create)
        .get("/studies/{code}", page)
        .post("/studies/{code}", update)
        .post("/studies/{code}/status", set_status)
        .post("/studies/{code}/arms", add_arm)
        .post("/studies/{code}/protocol-versions", add_protocol_version)
        .post("/studies/{code}/sites", add_site)
        .get("/studies/{code}/sites/{site}", site_page)
        .post("/studies/{code}/sites/{site}", update_site)
        .post("/studies/{code}/sites/{site}/delegation", add_delegation)
        .post("/delegation/{id}/sign", sign_delegation)
        .post("/delegation/{id}/end", end_delegation)
}

pub struct DelegationRow {
    id: uuid::Uuid,
    name: String,
    role: String,
    duties: String,
    start: String,
    end: Option<String>,
    signed: Option<String>,
    void: bool,
}

/// The participating-site form as typed (dates as text so a bad one can be shown again).
#[derive(Deserialize, Default, Clone)]
pub struct SiteForm {
    #[serde(default)]
    site_code: String,
    #[serde(default)]
    pi_email: String,
    #[serde(default)]
    irb_name: String,
    #[serde(default)]
    irb_approved_on: String,
    #[serde(default)]
    irb_expires_on: String,
    #[serde(default)]
    activated_on: String,
    #[serde(default)]
    target_enrollment: String,
}

impl SiteForm {
    fn of(ss: &store_trials::StudySite, pi_email: String) -> Self {
        let d = |x: Option<NaiveDate>| x.map(|d| d.to_string()).unwrap_or_default();
        SiteForm {
            site_code: ss.site_code.clone(),
            pi_email,
            irb_name: ss.irb_name.clone(),
            irb_approved_on: d(ss.irb_approved_on),
            irb_expires_on: d(ss.irb_expires_on),
            activated_on: d(ss.activated_on),
            target_enrollment: ss.target_enrollment.to_string(),
        }
    }
    fn api(&self) -> Result<StudySiteIn, ApiError> {
        let mut errs = Vec::new();
        let mut date = |field: &str, v: &str| form_date(field, v).map_err(|e| errs.push(e)).ok().flatten();
        let irb_approved_on = date("irb_approved_on", &self.irb_approved_on);
        let irb_expires_on = date("irb_expires_on", &self.irb_expires_on);
        let activated_on = date("activated_on", &self.activated_on);
        let target_enrollment = if self.target_enrollment.trim().is_empty() {
            0
        } else {
            self.target_enrollment.trim().parse::<i64>().unwrap_or_else(|_| {
                errs.push(clinbridge_core::FieldError::new("target_enrollment", "must be a whole number"));
                0
            })
        };
        if !errs.is_empty() {
            return Err(ApiError::Invalid(errs));
        }
        Ok(StudySiteIn {
            site_code: Some(self.site_code.clone()),
            pi_email: Some(self.pi_email.clone()),
            irb_name: self.irb_name.clone(),
            irb_approved_on,
            irb_expires_on,
            activated_on,
            target_enrollment,
        })
    }
}

pub struct SiteRow {
    code: String,
    pi: String,
    irb: String,
    approved: String,
    expires: String,
    activated: String,
    target: i64,
    block: Option<String>,
    editable: bool,
}

/// Active users who hold the investigator role somewhere: the choices for a PI.
async fn investigators(state: &AppState) -> Result<Vec<(String, String)>, PageError> {
    let grants = clinbridge_store::identity::all_grants(&state.store).await?;
    let users = clinbridge_store::identity::users(&state.store).await?;
    Ok(users
        .into_iter()
        .filter(|u| {
            u.active
                && grants.iter().any(|g| g.user_id == u.id && g.role == clinbridge_core::identity::Role::Investigator)
        })
        .map(|u| (u.email, u.name))
        .collect())
}

#[derive(Deserialize, Default, Clone)]
pub struct StudyForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    short_title: String,
    #[serde(default)]
    protocol_number: String,
    #[serde(default)]
    phase: String,
    #[serde(default)]
    sponsor: String,
    #[serde(default)]
    registry_id: String,
    #[serde(default)]
    ind_ide: String,
    #[serde(default)]
    therapeutic_area: String,
    #[serde(default)]
    target_enrollment: String,
}

impl StudyForm {
    fn of(s: &Study) -> Self {
        StudyForm {
            code: s.code.clone(),
            title: s.title.clone(),
            short_title: s.short_title.clone(),
            protocol_number: s.protocol_number.clone(),
            phase: s.phase.clone(),
            sponsor: s.sponsor.clone(),
            registry_id: s.registry_id.clone(),
            ind_ide: s.ind_ide.clone(),
            therapeutic_area: s.therapeutic_area.clone(),
            target_enrollment: s.target_enrollment.to_string(),
        }
    }
    fn details(&self) -> Result<StudyDetails, ApiError> {
        let target = if self.target_enrollment.trim().is_empty() {
            0
        } else {
            self.target_enrollment
                .trim()
                .parse::<i64>()
                .map_err(|_| ApiError::field("target_enrollment", "must be a whole number"))?
        };
        Ok(StudyDetails::parse(&StudyDetailsInput {
            title: self.title.clone(),
            short_title: self.short_title.clone(),
            protocol_number: self.protocol_number.clone(),
            phase: self.phase.clone(),
            sponsor: self.sponsor.clone(),
            registry_id: self.registry_id.clone(),
            ind_ide: self.ind_ide.clone(),
            therapeutic_area: self.therapeutic_area.clone(),
            target_enrollment: target,
        })?)
    }
}

pub struct StudyRow {
    code: String,
    name: String,
    phase: &'static str,
    status: &'static str,
    status_key: &'static str,
    sponsor: String,
    registry_id: String,
    target: i64,
}

#[derive(Template)]
#[template(path = "studies.html")]
struct ListPage {
    chrome: Chrome,
    studies: Vec<StudyRow>,
    can_create: bool,
    form: StudyForm,
    phases: Vec<(&'static str, &'static str)>,
    errors: Vec<(String, String)>,
}

async fn list_view(
    state: &AppState,
    who: &Authed,
    form: StudyForm,
    errors: Vec<(String, String)>,
) -> Result<ListPage, PageError> {
    who.require_anywhere(TRIALS_READ)?;
    let participations = store_trials::participations(&state.store).await?;
    let studies = store_trials::studies(&state.store)
        .await?
        .into_iter()
        .filter(|s| can_read(who, s.id, &participations))
        .map(|s| StudyRow {
            name: s.display_name().to_string(),
            phase: phase_label(&s.phase),
            status: s.status().label(),
            status_key: s.status().as_str(),
            code: s.code,
            sponsor: s.sponsor,
            registry_id: s.registry_id,
            target: s.target_enrollment,
        })
        .collect();
    Ok(ListPage {
        chrome: chrome(state, who, "/studies").await,
        studies,
        can_create: who.can(TRIALS_ADMIN, Target::ORG),
        form,
        phases: PHASES.to_vec(),
        errors,
    })
}

async fn list(State(state): State<AppState>, who: Authed) -> PageResult {
    let form = StudyForm { phase: "phase_2".into(), target_enrollment: "0".into(), ..Default::default() };
    Ok(render(&list_view(&state, &who, form, Vec::new()).await?))
}

async fn create(State(state): State<AppState>, who: Authed, Form(f): Form<StudyForm>) -> PageResult {
    who.require(TRIALS_ADMIN, Target::ORG)?;
    let code = Code::parse("code", &f.code).map_err(ApiError::from);
    let r = match (code, f.details()) {
        (Ok(code), Ok(details)) => {
            store_trials::create_study(&state.store, &who.acting(), code, details).await.map_err(ApiError::from)
        }
        (Err(a), Err(b)) => Err(merge(a, b)),
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    match r {
        Ok(study) => Ok(see_other(&format!("/studies/{}", study.code))),
        Err(e) => {
            let errors = form_errors(e)?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&list_view(&state, &who, f, errors).await?)).into_response())
        }
    }
}

fn merge(a: ApiError, b: ApiError) -> ApiError {
    match (a, b) {
        (ApiError::Invalid(mut x), ApiError::Invalid(y)) => {
            x.extend(y);
            ApiError::Invalid(x)
        }
        (a, _) => a,
    }
}

#[derive(Template)]
#[template(path = "study.html")]
struct StudyPage {
    chrome: Chrome,
    study: Study,
    status_label: &'static str,
    phase_label: &'static str,
    arms: Vec<Arm>,
    allocation: String,
    arms_editable: bool,
    versions: Vec<ProtocolVersion>,
    next: Vec<(&'static str, &'static str)>,
    sites: Vec<SiteRow>,
    free_sites: Vec<(String, String)>,
    investigators: Vec<(String, String)>,
    site_form: SiteForm,
    can_admin: bool,
    form: StudyForm,
    phases: Vec<(&'static str, &'static str)>,
    errors: Vec<(String, String)>,
}

async fn study_view(
    state: &AppState,
    who: &Authed,
    code: &str,
    errors: Vec<(String, String)>,
    form: Option<StudyForm>,
) -> Result<StudyPage, PageError> {
    let study = readable_study(state, who, code).await?;
    let arms = store_trials::arms(&state.store, study.id).await?;
    let versions = store_trials::protocol_versions(&state.store, study.id).await?;
    let status = study.status();
    let today = chrono::Utc::now().date_naive();
    let participating = store_trials::study_sites(&state.store, study.id).await?;
    let all_sites = clinbridge_store::identity::sites(&state.store).await?;
    let free_sites = all_sites
        .into_iter()
        .filter(|s| s.active && !participating.iter().any(|p| p.site_id == s.id))
        .map(|s| (s.code, s.name))
        .collect();
    let d = |x: Option<NaiveDate>| x.map(|d| d.to_string()).unwrap_or_else(|| "—".into());
    let sites = participating
        .into_iter()
        .map(|ss| SiteRow {
            block: ss.enrollment_block(&study, today),
            editable: who.can(TRIALS_WRITE, Target::study_site(study.id, ss.site_id)),
            code: ss.site_code.clone(),
            pi: ss.pi_name.clone().unwrap_or_else(|| "not named".into()),
            irb: ss.irb_name.clone(),
            approved: d(ss.irb_approved_on),
            expires: d(ss.irb_expires_on),
            activated: d(ss.activated_on),
            target: ss.target_enrollment,
        })
        .collect();
    let allocation = arms.iter().map(|a| a.allocation_ratio.to_string()).collect::<Vec<_>>().join(":")
        + " ("
        + &arms.iter().map(|a| a.code.as_str()).collect::<Vec<_>>().join(" : ")
        + ")";
    Ok(StudyPage {
        chrome: chrome(state, who, "/studies").await,
        status_label: status.label(),
        phase_label: phase_label(&study.phase),
        arms,
        allocation,
        arms_editable: matches!(status, StudyStatus::Draft | StudyStatus::Approved),
        versions,
        next: status.next().iter().map(|s| (s.as_str(), s.label())).collect(),
        sites,
        free_sites,
        investigators: investigators(state).await?,
        site_form: SiteForm { target_enrollment: "0".into(), ..Default::default() },
        can_admin: who.can(TRIALS_ADMIN, Target::study(study.id)),
        form: form.unwrap_or_else(|| StudyForm::of(&study)),
        phases: PHASES.to_vec(),
        errors,
        study,
    })
}

async fn page(State(state): State<AppState>, who: Authed, Path(code): Path<String>) -> PageResult {
    Ok(render(&study_view(&state, &who, &code, Vec::new(), None).await?))
}

async fn administrable(state: &AppState, who: &Authed, code: &str) -> Result<Study, PageError> {
    let study = readable_study(state, who, code).await?;
    who.require(TRIALS_ADMIN, Target::study(study.id))?;
    Ok(study)
}

/// After a change: back to the study page, or the page again with the field errors.
async fn after<T>(
    state: &AppState,
    who: &Authed,
    code: &str,
    r: Result<T, ApiError>,
    form: Option<StudyForm>,
) -> PageResult {
    match r {
        Ok(_) => Ok(see_other(&format!("/studies/{code}"))),
        Err(e) => {
            let errors = form_errors(e)?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&study_view(state, who, code, errors, form).await?))
                .into_response())
        }
    }
}

async fn update(
    State(state): State<AppState>,
    who: Authed,
    Path(code): Path<String>,
    Form(f): Form<StudyForm>,
) -> PageResult {
    let study = administrable(&state, &who, &code).await?;
    let r = match f.details() {
        Ok(d) => store_trials::update_study(&state.store, &who.acting(), study.id, d).await.map_err(ApiError::from),
        Err(e) => Err(e),
    };
    let keep = StudyForm { code: study.code.clone(), ..f };
    after(&state, &who, &study.code, r, Some(keep)).await
}

#[derive(Deserialize)]
pub struct StatusForm {
    status: String,
    #[serde(default)]
    reason: String,
}

async fn set_status(
    State(state): State<AppState>,
    who: Authed,
    Path(code): Path<String>,
    Form(f): Form<StatusForm>,
) -> PageResult {
    let study = administrable(&state, &who, &code).await?;
    let r = match StudyStatus::parse(&f.status) {
        Ok(to) => store_trials::set_status(&state.store, &who.acting(), study.id, to, Some(f.reason))
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e.into()),
    };
    after(&state, &who, &study.code, r, None).await
}

#[derive(Deserialize)]
pub struct ArmForm {
    code: String,
    name: String,
    allocation_ratio: String,
    #[serde(default)]
    description: String,
}

async fn add_arm(
    State(state): State<AppState>,
    who: Authed,
    Path(code): Path<String>,
    Form(f): Form<ArmForm>,
) -> PageResult {
    let study = administrable(&state, &who, &code).await?;
    let r = match f.allocation_ratio.trim().parse::<i64>() {
        Ok(ratio) => {
            store_trials::add_arm(&state.store, &who.acting(), study.id, &f.code, &f.name, ratio, &f.description)
                .await
                .map_err(ApiError::from)
        }
        Err(_) => Err(ApiError::field("allocation_ratio", "must be a whole number from 1 to 10")),
    };
    after(&state, &who, &study.code, r, None).await
}

#[derive(Deserialize)]
pub struct VersionForm {
    version: String,
    #[serde(default)]
    amendment: String,
    effective_on: String,
    #[serde(default)]
    summary: String,
}

async fn add_protocol_version(
    State(state): State<AppState>,
    who: Authed,
    Path(code): Path<String>,
    Form(f): Form<VersionForm>,
) -> PageResult {
    let study = administrable(&state, &who, &code).await?;
    let r = match required_form_date("effective_on", &f.effective_on) {
        Ok(d) => store_trials::add_protocol_version(
            &state.store,
            &who.acting(),
            study.id,
            &f.version,
            &f.amendment,
            d,
            &f.summary,
        )
        .await
        .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    after(&state, &who, &study.code, r, None).await
}

async fn add_site(
    State(state): State<AppState>,
    who: Authed,
    Path(code): Path<String>,
    Form(f): Form<SiteForm>,
) -> PageResult {
    let study = administrable(&state, &who, &code).await?;
    let r = async {
        let b = f.api()?;
        let site = clinbridge_store::identity::site_by_code(&state.store, &f.site_code)
            .await
            .map_err(|_| ApiError::field("site_code", "does not name a site"))?;
        let input = study_site_input(&state, &b).await?;
        store_trials::add_study_site(&state.store, &who.acting(), study.id, site.id, input)
            .await
            .map_err(ApiError::from)
    }
    .await;
    after(&state, &who, &study.code, r, None).await
}

#[derive(Template)]
#[template(path = "study_site.html")]
struct SitePage {
    chrome: Chrome,
    study_code: String,
    site_code: String,
    site_name: String,
    block: Option<String>,
    investigators: Vec<(String, String)>,
    site_form: SiteForm,
    errors: Vec<(String, String)>,
    delegation: Vec<DelegationRow>,
    is_pi: bool,
    duties: Vec<(&'static str, &'static str)>,
    team_options: Vec<(String, String)>,
    today: String,
}

/// The participating site a person may edit: readable study, and write access at that site.
async fn editable_site(
    state: &AppState,
    who: &Authed,
    code: &str,
    site: &str,
) -> Result<(Study, store_trials::StudySite), PageError> {
    let study = readable_study(state, who, code).await?;
    let site = clinbridge_store::identity::site_by_code(&state.store, site)
        .await
        .map_err(|_| ApiError::NotFound("participating site"))?;
    who.require(TRIALS_WRITE, Target::study_site(study.id, site.id))?;
    let ss = store_trials::study_site(&state.store, study.id, site.id).await?;
    Ok((study, ss))
}

async fn site_view(
    state: &AppState,
    who: &Authed,
    study: &Study,
    ss: &store_trials::StudySite,
    form: Option<SiteForm>,
    errors: Vec<(String, String)>,
) -> Result<SitePage, PageError> {
    let pi_email = match ss.pi_user_id {
        Some(id) => clinbridge_store::identity::user(&state.store, id).await.map(|u| u.email).unwrap_or_default(),
        None => String::new(),
    };
    Ok(SitePage {
        chrome: chrome(state, who, "/studies").await,
        study_code: study.code.clone(),
        site_code: ss.site_code.clone(),
        site_name: ss.site_name.clone(),
        block: ss.enrollment_block(study, chrono::Utc::now().date_naive()),
        investigators: investigators(state).await?,
        site_form: form.unwrap_or_else(|| SiteForm::of(ss, pi_email)),
        errors,
        delegation: store_trials::delegation_log(&state.store, study.id, ss.site_id)
            .await?
            .into_iter()
            .map(|v| DelegationRow {
                id: v.entry.id,
                duties: v.entry.duties().iter().map(|d| d.label()).collect::<Vec<_>>().join(", "),
                name: v.entry.user_name,
                role: v.entry.study_role,
                start: v.entry.start_on.to_string(),
                end: v.entry.end_on.map(|e| e.to_string()),
                signed: v.signed.map(|s| {
                    format!(
                        "{} on {} UTC — {}",
                        s.signature.printed_name,
                        s.signature.signed_at.format("%Y-%m-%d %H:%M"),
                        s.statement
                    )
                }),
                void: v.void_signature,
            })
            .collect(),
        is_pi: ss.pi_user_id == Some(who.user.id),
        duties: clinbridge_core::trials::Duty::ALL.iter().map(|d| (d.as_str(), d.label())).collect(),
        team_options: clinbridge_store::identity::users(&state.store)
            .await?
            .into_iter()
            .filter(|u| u.active)
            .map(|u| (u.email.clone(), format!("{} <{}>", u.name, u.email)))
            .collect(),
        today: chrono::Utc::now().with_timezone(&who.tz()).date_naive().to_string(),
    })
}

async fn site_page(
    State(state): State<AppState>,
    who: Authed,
    Path((code, site)): Path<(String, String)>,
) -> PageResult {
    let (study, ss) = editable_site(&state, &who, &code, &site).await?;
    Ok(render(&site_view(&state, &who, &study, &ss, None, Vec::new()).await?))
}

async fn update_site(
    State(state): State<AppState>,
    who: Authed,
    Path((code, site)): Path<(String, String)>,
    Form(f): Form<SiteForm>,
) -> PageResult {
    let (study, ss) = editable_site(&state, &who, &code, &site).await?;
    let r = async {
        let b = f.api()?;
        let input = study_site_input(&state, &b).await?;
        store_trials::update_study_site(&state.store, &who.acting(), ss.id, input).await.map_err(ApiError::from)
    }
    .await;
    match r {
        Ok(_) => Ok(see_other(&format!("/studies/{}", study.code))),
        Err(e) => {
            let errors = form_errors(e)?;
            let form = SiteForm { site_code: ss.site_code.clone(), ..f };
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                render(&site_view(&state, &who, &study, &ss, Some(form), errors).await?),
            )
                .into_response())
        }
    }
}

/// Adds a delegation entry from the form (repeated `duty` fields, so the body is read by hand).
async fn add_delegation(
    State(state): State<AppState>,
    who: Authed,
    Path((code, site)): Path<(String, String)>,
    body: String,
) -> PageResult {
    let (study, ss) = editable_site(&state, &who, &code, &site).await?;
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(&body).map_err(|_| ApiError::field("form", "could not be read"))?;
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let r = async {
        let start_on = required_form_date("start_on", &get("start_on"))?;
        let b = crate::api::trials::DelegationIn {
            user_email: get("user_email"),
            study_role: get("study_role"),
            duties: pairs.iter().filter(|(k, _)| k == "duty").map(|(_, v)| v.clone()).collect(),
            start_on,
            end_on: form_date("end_on", &get("end_on")).map_err(|e| ApiError::Invalid(vec![e]))?,
        };
        let d = crate::api::trials::new_delegation(&state, &b).await?;
        store_trials::add_delegation(&state.store, &who.acting(), study.id, ss.site_id, d).await.map_err(ApiError::from)
    }
    .await;
    match r {
        Ok(_) => Ok(see_other(&format!("/studies/{}/sites/{}", study.code, ss.site_code))),
        Err(e) => {
            let errors = form_errors(e)?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&site_view(&state, &who, &study, &ss, None, errors).await?))
                .into_response())
        }
    }
}

/// After a change to an entry: back to its site page, or the page again with the error.
async fn entry_done<T>(
    state: &AppState,
    who: &Authed,
    entry: &store_trials::DelegationEntry,
    r: Result<T, ApiError>,
) -> PageResult {
    let study = store_trials::study(&state.store, entry.study_id).await?;
    let ss = store_trials::study_site(&state.store, entry.study_id, entry.site_id).await?;
    match r {
        Ok(_) => Ok(see_other(&format!("/studies/{}/sites/{}", study.code, ss.site_code))),
        Err(e) => {
            let errors = form_errors(e)?;
            who.require(TRIALS_WRITE, Target::study_site(study.id, ss.site_id))?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&site_view(state, who, &study, &ss, None, errors).await?))
                .into_response())
        }
    }
}

#[derive(Deserialize)]
pub struct PasswordForm {
    password: String,
}

async fn sign_delegation(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<uuid::Uuid>,
    Form(f): Form<PasswordForm>,
) -> PageResult {
    let entry = crate::api::trials::visible_delegation(&state, &who, id).await?;
    who.require(crate::api::trials::TRIALS_SIGN, Target::study_site(entry.study_id, entry.site_id))?;
    let r = store_trials::sign_delegation(&state.store, &who.acting(), id, &f.password).await.map_err(ApiError::from);
    entry_done(&state, &who, &entry, r).await
}

#[derive(Deserialize)]
pub struct EndForm {
    end_on: String,
}

async fn end_delegation(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<uuid::Uuid>,
    Form(f): Form<EndForm>,
) -> PageResult {
    let entry = crate::api::trials::visible_delegation(&state, &who, id).await?;
    who.require(TRIALS_WRITE, Target::study_site(entry.study_id, entry.site_id))?;
    let r = match required_form_date("end_on", &f.end_on) {
        Ok(d) => store_trials::end_delegation(&state.store, &who.acting(), id, d).await.map_err(ApiError::from),
        Err(e) => Err(e),
    };
    entry_done(&state, &who, &entry, r).await
}
