//! EDC design API: a study's data dictionary (REDCap's metadata rows and CSV), its instrument
//! settings, form–event mapping and missing-data codes, and the draft → production cycle.
//! Reading needs EDC read on the study (or a site of it); changing the design is for data
//! managers (EDC administer on the study).

use super::trials::readable_study;
use super::{ApiJson, ApiPath, ApiQuery};
use crate::AppState;
use crate::auth::Authed;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::routes::Routes;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use clinbridge_core::edc::FieldRow;
use clinbridge_core::policy::{Action, Context, Op, Target};
use clinbridge_interop::redcap::dictionary::{CsvStyle, write};
use clinbridge_store::edc::metadata::{self as meta, EventForms, InstrumentSetting, Metadata};
use clinbridge_store::trials::Study;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

pub const EDC_READ: Action = Action::new(Context::Edc, Op::Read);
pub const EDC_ADMIN: Action = Action::new(Context::Edc, Op::Administer);

pub fn register(r: Routes) -> Routes {
    r.get("/api/v1/studies/{code}/edc/metadata", metadata)
        .put("/api/v1/studies/{code}/edc/dictionary", put_dictionary)
        .get("/api/v1/studies/{code}/edc/dictionary.csv", dictionary_csv)
        .put("/api/v1/studies/{code}/edc/design", put_design)
        .post("/api/v1/studies/{code}/edc/publish", publish)
        .delete("/api/v1/studies/{code}/edc/draft", discard)
}

/// The study, when the caller may read its data-capture design: EDC read on the study, or on
/// a site taking part in it. A readable study without that answers 403.
pub async fn edc_study(state: &AppState, who: &Authed, code: &str) -> ApiResult<Study> {
    let study = readable_study(state, who, code).await?;
    if who.can(EDC_READ, Target::study(study.id)) {
        return Ok(study);
    }
    let participations = clinbridge_store::trials::participations_of(&state.store, study.id).await?;
    if participations.iter().any(|(st, site)| *st == study.id && who.can(EDC_READ, Target::study_site(study.id, *site)))
    {
        return Ok(study);
    }
    Err(ApiError::Forbidden)
}

/// The study, when the caller may change its design.
pub async fn edc_admin_study(state: &AppState, who: &Authed, code: &str) -> ApiResult<Study> {
    let study = edc_study(state, who, code).await?;
    who.require(EDC_ADMIN, Target::study(study.id))?;
    Ok(study)
}

#[derive(Deserialize, IntoParams)]
pub struct VersionQuery {
    /// `draft`, `production`, or left out for the version data entry uses.
    pub version: Option<String>,
}

/// The version a `?version=` names.
pub async fn chosen_version(
    state: &AppState,
    study: &Study,
    version: Option<&str>,
) -> ApiResult<Option<Arc<Metadata>>> {
    Ok(match version.map(str::trim).unwrap_or("") {
        "" => meta::current(&state.store, study.id).await?,
        "draft" => meta::draft(&state.store, study.id).await?,
        "production" => meta::production(&state.store, study.id).await?,
        _ => return Err(ApiError::field("version", "is draft or production")),
    })
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct InstrumentOut {
    pub name: String,
    pub label: String,
    #[serde(default)]
    pub repeating: bool,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct EventFormsOut {
    /// The visit code.
    pub event: String,
    pub instruments: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct StudyEventOut {
    pub code: String,
    pub name: String,
    /// REDCap's unique event name.
    pub unique_name: String,
    pub repeating: bool,
}

#[derive(Serialize, ToSchema)]
pub struct MetadataOut {
    pub version: i64,
    /// draft, production or retired.
    pub status: String,
    pub published_at: Option<DateTime<Utc>>,
    pub change_reason: String,
    /// REDCap's metadata rows (`export_metadata`), every value a string.
    #[schema(value_type = Vec<Object>)]
    pub metadata: Vec<FieldRow>,
    pub instruments: Vec<InstrumentOut>,
    /// Empty in a classic (not longitudinal) study.
    pub event_forms: Vec<EventFormsOut>,
    pub events: Vec<StudyEventOut>,
    /// As typed: `NA, Not applicable | UNK, Unknown`.
    pub missing_codes: String,
}

impl From<&Metadata> for MetadataOut {
    fn from(m: &Metadata) -> Self {
        MetadataOut {
            version: m.number,
            status: m.status.as_str().to_string(),
            published_at: m.published_at,
            change_reason: m.change_reason.clone(),
            metadata: m.rows(),
            instruments: m
                .instruments
                .iter()
                .map(|i| InstrumentOut { name: i.name.clone(), label: i.label.clone(), repeating: i.repeating })
                .collect(),
            event_forms: m
                .event_forms
                .iter()
                .map(|e| EventFormsOut { event: e.event.clone(), instruments: e.instruments.clone() })
                .collect(),
            events: m
                .events
                .iter()
                .map(|e| StudyEventOut {
                    code: e.code.clone(),
                    name: e.name.clone(),
                    unique_name: e.unique_name.clone(),
                    repeating: e.repeating,
                })
                .collect(),
            missing_codes: m.missing_text.clone(),
        }
    }
}

/// The data dictionary as REDCap's metadata rows, with its settings and version.
#[utoipa::path(get, path = "/api/v1/studies/{code}/edc/metadata", tag = "edc", params(("code" = String, Path), VersionQuery),
    responses((status = 200, body = MetadataOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn metadata(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(code): ApiPath<String>,
    ApiQuery(q): ApiQuery<VersionQuery>,
) -> ApiResult<Json<MetadataOut>> {
    let study = edc_study(&state, &who, &code).await?;
    let m =
        chosen_version(&state, &study, q.version.as_deref()).await?.ok_or(ApiError::NotFound("metadata version"))?;
    Ok(Json(MetadataOut::from(m.as_ref())))
}

/// The data dictionary as a CSV file, as REDCap's Data Dictionary page downloads it.
#[utoipa::path(get, path = "/api/v1/studies/{code}/edc/dictionary.csv", tag = "edc", params(("code" = String, Path), VersionQuery),
    responses((status = 200, content_type = "text/csv", body = String), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn dictionary_csv(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(code): ApiPath<String>,
    ApiQuery(q): ApiQuery<VersionQuery>,
) -> ApiResult<Response> {
    let study = edc_study(&state, &who, &code).await?;
    let m =
        chosen_version(&state, &study, q.version.as_deref()).await?.ok_or(ApiError::NotFound("metadata version"))?;
    Ok(csv_response(&study.code, &m))
}

pub fn csv_response(code: &str, m: &Metadata) -> Response {
    let text = write(&m.dictionary, CsvStyle::DOWNLOAD);
    let name: String = code.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    let mut r = text.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{name}_DataDictionary_v{}_{}.csv\"",
        m.number,
        m.status.as_str()
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

/// Imports a REDCap data dictionary (the CSV as the body) into the draft. All or nothing:
/// every bad row and column is answered (`row 4, field_type`).
#[utoipa::path(put, path = "/api/v1/studies/{code}/edc/dictionary", tag = "edc", params(("code" = String, Path)),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = MetadataOut), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_dictionary(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(code): ApiPath<String>,
    body: Bytes,
) -> ApiResult<Json<MetadataOut>> {
    let study = edc_admin_study(&state, &who, &code).await?;
    let m = meta::import_dictionary(&state.store, &who.acting(), study.id, &body).await?;
    Ok(Json(MetadataOut::from(m.as_ref())))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DesignIn {
    /// Labels and repeat settings; instruments left out keep a label made from their name.
    #[serde(default)]
    pub instruments: Vec<InstrumentOut>,
    /// The instruments each visit collects (empty: a classic study).
    #[serde(default)]
    pub event_forms: Vec<EventFormsOut>,
    /// `NA, Not applicable | UNK, Unknown`; blank for none.
    #[serde(default)]
    pub missing_codes: String,
}

/// Replaces the draft's instrument settings, form–event mapping and missing-data codes (the
/// fields stay as they are).
#[utoipa::path(put, path = "/api/v1/studies/{code}/edc/design", tag = "edc", params(("code" = String, Path)), request_body = DesignIn,
    responses((status = 200, body = MetadataOut), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_design(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(code): ApiPath<String>,
    ApiJson(b): ApiJson<DesignIn>,
) -> ApiResult<Json<MetadataOut>> {
    let study = edc_admin_study(&state, &who, &code).await?;
    let mut design = meta::working_design(&state.store, study.id).await?;
    if design.rows.is_empty() {
        return Err(ApiError::field("dictionary", "import a data dictionary first"));
    }
    design.instruments = b
        .instruments
        .into_iter()
        .map(|i| InstrumentSetting { name: i.name, label: i.label.trim().to_string(), repeating: i.repeating })
        .collect();
    design.event_forms = b
        .event_forms
        .into_iter()
        .filter(|e| !e.instruments.is_empty())
        .map(|e| EventForms { event: e.event, instruments: e.instruments })
        .collect();
    design.missing_codes = b.missing_codes.trim().to_string();
    let m = meta::save_draft(&state.store, &who.acting(), study.id, design, "design changed").await?;
    Ok(Json(MetadataOut::from(m.as_ref())))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishIn {
    /// Required when the change would lose or orphan data.
    #[serde(default)]
    pub reason: Option<String>,
}

/// Makes the draft the production version. A change that would lose data is refused (422,
/// one error per field and one for `reason`) unless a reason confirms it.
#[utoipa::path(post, path = "/api/v1/studies/{code}/edc/publish", tag = "edc", params(("code" = String, Path)), request_body = PublishIn,
    responses((status = 200, body = MetadataOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn publish(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(code): ApiPath<String>,
    ApiJson(b): ApiJson<PublishIn>,
) -> ApiResult<Json<MetadataOut>> {
    let study = edc_admin_study(&state, &who, &code).await?;
    let m = meta::publish(&state.store, &who.acting(), study.id, b.reason.as_deref()).await?;
    Ok(Json(MetadataOut::from(m.as_ref())))
}

/// Drops the draft; production stays. A study still in development keeps its only draft.
#[utoipa::path(delete, path = "/api/v1/studies/{code}/edc/draft", tag = "edc", params(("code" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn discard(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(code): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let study = edc_admin_study(&state, &who, &code).await?;
    meta::discard_draft(&state.store, &who.acting(), study.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
