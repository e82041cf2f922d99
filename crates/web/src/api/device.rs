//! Device API: the field work of a device maker's clinical specialists — products and the
//! installed base, facility credentials, case coverage, territory, visits, the week plan, the
//! dashboard, the specialists and the travel buffer. Support tickets, complaints, trainings,
//! feedback and courses are in `device_support.rs`.
//!
//! Every handler checks the policy first (clinical specialists read and write, commercial users
//! and auditors read) so a refused caller gets 403 as in the other contexts; the store checks
//! again inside each write and narrows every read to the caller's organization.

use super::{ApiJson, ApiPath, ApiQuery};
use crate::AppState;
use crate::auth::Authed;
use crate::error::{ApiResult, ErrorBody};
use crate::routes::Routes;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use clinbridge_core::device::{CaseInput, CredentialInput, InstallInput, ProductInput};
use clinbridge_core::policy::{Action, Context, Op, Target};
use clinbridge_store::device::{
    self as dev, Case, CaseFilter, Credential, CredentialState, Dashboard, Installed, PlanItem, Product, Specialist,
    TerritoryAccount, Visit, VisitInput,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

pub const DEVICE_READ: Action = Action::new(Context::Device, Op::Read);
pub const DEVICE_WRITE: Action = Action::new(Context::Device, Op::Write);

pub fn register(r: Routes) -> Routes {
    r.get("/api/v1/device/products", list_products)
        .post("/api/v1/device/products", create_product)
        .get("/api/v1/device/products/{id}", get_product)
        .put("/api/v1/device/products/{id}", update_product)
        .get("/api/v1/device/installs", list_installs)
        .post("/api/v1/device/installs", create_install)
        .post("/api/v1/device/installs/{id}/status", set_install_status)
        .get("/api/v1/device/credentials", list_credentials)
        .post("/api/v1/device/credentials", create_credential)
        .put("/api/v1/device/credentials/{id}", update_credential)
        .post("/api/v1/device/credentials/{id}/documents", set_document)
        .get("/api/v1/device/cases", list_cases)
        .post("/api/v1/device/cases", request_case)
        .get("/api/v1/device/cases/{id}", get_case)
        .post("/api/v1/device/cases/{id}/assignment", assign_case)
        .post("/api/v1/device/cases/{id}/schedule", reschedule_case)
        .post("/api/v1/device/cases/{id}/status", set_case_status)
        .get("/api/v1/device/specialists", list_specialists)
        .get("/api/v1/device/specialists/{id}/territory", get_territory)
        .put("/api/v1/device/specialists/{id}/territory", set_territory)
        .get("/api/v1/device/specialists/{id}/week", week)
        .get("/api/v1/device/specialists/{id}/dashboard", dashboard)
        .post("/api/v1/device/visits", plan_visit)
        .post("/api/v1/device/visits/{id}/done", complete_visit)
        .get("/api/v1/device/settings/travel-buffer", get_travel_buffer)
        .put("/api/v1/device/settings/travel-buffer", set_travel_buffer)
}

/// Checks the caller may read device records.
pub fn can_read(who: &Authed) -> ApiResult<()> {
    who.require(DEVICE_READ, Target::ORG)
}

/// Checks the caller may change device records.
pub fn can_write(who: &Authed) -> ApiResult<()> {
    who.require(DEVICE_WRITE, Target::ORG)
}

/// Today in the caller's time zone.
pub fn today(who: &Authed) -> NaiveDate {
    Utc::now().with_timezone(&who.tz()).date_naive()
}

/// A 201 with a JSON body.
pub fn created<T: Serialize>(v: T) -> Response {
    (StatusCode::CREATED, Json(v)).into_response()
}

// ---------------------------------------------------------------- outputs

/// A product the organization supports, with its device identifier.
#[derive(Serialize, ToSchema)]
pub struct ProductOut {
    pub id: Uuid,
    pub name: String,
    pub model: String,
    pub software_version: String,
    /// The UDI-DI as kept: a GTIN-14, or the HIBCC identifier.
    pub udi_di: String,
    /// gs1 or hibcc.
    pub udi_issuer: String,
    /// How long a training certificate on this product lasts.
    pub certificate_months: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Product> for ProductOut {
    fn from(p: Product) -> Self {
        ProductOut {
            id: p.id,
            name: p.name,
            model: p.model,
            software_version: p.software_version,
            udi_di: p.udi_di,
            udi_issuer: p.udi_issuer,
            certificate_months: p.certificate_months,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// A unit installed at an account (institution and department).
#[derive(Serialize, ToSchema)]
pub struct InstalledOut {
    pub id: Uuid,
    pub institution_id: Uuid,
    pub institution_name: String,
    pub department: String,
    pub product_id: Uuid,
    pub product_name: String,
    pub serial: String,
    pub installed_on: NaiveDate,
    /// active, loaner, service (out for service) or decommissioned.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Installed> for InstalledOut {
    fn from(i: Installed) -> Self {
        InstalledOut {
            id: i.id,
            institution_id: i.institution_id,
            institution_name: i.institution_name,
            department: i.department,
            product_id: i.product_id,
            product_name: i.product_name,
            serial: i.serial,
            installed_on: i.installed_on,
            status: i.status,
            created_at: i.created_at,
            updated_at: i.updated_at,
        }
    }
}

/// A document a facility requires for a credential, and whether it was received.
#[derive(Serialize, ToSchema)]
pub struct CredentialDocumentOut {
    pub name: String,
    pub received: bool,
}

/// A specialist's credential at a facility, with where it stands today.
#[derive(Serialize, ToSchema)]
pub struct CredentialOut {
    pub id: Uuid,
    pub user_id: Uuid,
    pub user_name: String,
    pub institution_id: Uuid,
    pub institution_name: String,
    pub name: String,
    pub documents: Vec<CredentialDocumentOut>,
    pub issued_on: NaiveDate,
    pub expires_on: NaiveDate,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// valid, expiring (inside the renewal window), expired or incomplete (a document missing).
    pub state: String,
}

fn credential_out(c: Credential, today: NaiveDate) -> CredentialOut {
    let state = match c.state(today) {
        CredentialState::Valid => "valid",
        CredentialState::Expiring => "expiring",
        CredentialState::Expired => "expired",
        CredentialState::Incomplete => "incomplete",
    };
    CredentialOut {
        id: c.id,
        user_id: c.user_id,
        user_name: c.user_name,
        institution_id: c.institution_id,
        institution_name: c.institution_name,
        name: c.name,
        documents: c
            .documents
            .0
            .into_iter()
            .map(|d| CredentialDocumentOut { name: d.name, received: d.received })
            .collect(),
        issued_on: c.issued_on,
        expires_on: c.expires_on,
        created_at: c.created_at,
        updated_at: c.updated_at,
        state: state.into(),
    }
}

/// A procedure a specialist covers at a facility.
#[derive(Serialize, ToSchema)]
pub struct CaseOut {
    pub id: Uuid,
    pub institution_id: Uuid,
    pub institution_name: String,
    pub department: String,
    pub surgeon_hcp_id: Option<Uuid>,
    pub procedure_type: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub duration_minutes: i64,
    pub product_ids: Vec<Uuid>,
    pub specialist_user_id: Option<Uuid>,
    /// requested, confirmed, covered or cancelled.
    pub status: String,
    pub notes: String,
    pub outcome_notes: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Case> for CaseOut {
    fn from(c: Case) -> Self {
        CaseOut {
            id: c.id,
            institution_id: c.institution_id,
            institution_name: c.institution_name,
            department: c.department,
            surgeon_hcp_id: c.surgeon_hcp_id,
            procedure_type: c.procedure_type,
            starts_at: c.starts_at,
            ends_at: c.ends_at,
            duration_minutes: c.duration_minutes,
            product_ids: c.product_ids.0,
            specialist_user_id: c.specialist_user_id,
            status: c.status,
            notes: c.notes,
            outcome_notes: c.outcome_notes,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// A clinical specialist of the organization.
#[derive(Serialize, ToSchema)]
pub struct SpecialistOut {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub time_zone: String,
}

impl From<Specialist> for SpecialistOut {
    fn from(s: Specialist) -> Self {
        SpecialistOut { id: s.id, name: s.name, email: s.email, time_zone: s.time_zone }
    }
}

/// An account a specialist covers, with the last visit done and the next one planned.
#[derive(Serialize, ToSchema)]
pub struct TerritoryAccountOut {
    pub institution_id: Uuid,
    pub institution_name: String,
    pub city: String,
    pub last_visit_at: Option<DateTime<Utc>>,
    pub next_visit_at: Option<DateTime<Utc>>,
}

impl From<TerritoryAccount> for TerritoryAccountOut {
    fn from(a: TerritoryAccount) -> Self {
        TerritoryAccountOut {
            institution_id: a.institution_id,
            institution_name: a.institution_name,
            city: a.city,
            last_visit_at: a.last_visit_at,
            next_visit_at: a.next_visit_at,
        }
    }
}

/// An account visit a specialist planned, and when it was done.
#[derive(Serialize, ToSchema)]
pub struct FieldVisitOut {
    pub id: Uuid,
    pub specialist_user_id: Uuid,
    pub institution_id: Uuid,
    pub institution_name: String,
    pub planned_at: DateTime<Utc>,
    pub duration_minutes: i64,
    pub purpose: String,
    pub done_at: Option<DateTime<Utc>>,
    pub notes: String,
    pub updated_at: DateTime<Utc>,
}

impl From<Visit> for FieldVisitOut {
    fn from(v: Visit) -> Self {
        FieldVisitOut {
            id: v.id,
            specialist_user_id: v.specialist_user_id,
            institution_id: v.institution_id,
            institution_name: v.institution_name,
            planned_at: v.planned_at,
            duration_minutes: v.duration_minutes,
            purpose: v.purpose,
            done_at: v.done_at,
            notes: v.notes,
            updated_at: v.updated_at,
        }
    }
}

/// A list of the store's records as their output type.
pub fn listed<T, O: From<T>>(list: Vec<T>) -> Vec<O> {
    list.into_iter().map(O::from).collect()
}

// ---------------------------------------------------------------- products

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductIn {
    pub name: String,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub software_version: String,
    /// GS1 GTIN (14 digits) or HIBCC (+LIC…) device identifier.
    pub udi_di: String,
    /// How long a training certificate on this product lasts (default 12).
    pub certificate_months: Option<i64>,
}

impl From<ProductIn> for ProductInput {
    fn from(p: ProductIn) -> Self {
        ProductInput {
            name: p.name,
            model: p.model,
            software_version: p.software_version,
            udi_di: p.udi_di,
            certificate_months: p.certificate_months,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/device/products", tag = "device",
    responses((status = 200, body = [ProductOut]), (status = 403, body = ErrorBody)))]
pub async fn list_products(State(state): State<AppState>, who: Authed) -> ApiResult<Json<Vec<ProductOut>>> {
    can_read(&who)?;
    Ok(Json(listed(dev::products(&state.store, &who.actor).await?)))
}

#[utoipa::path(post, path = "/api/v1/device/products", tag = "device", request_body = ProductIn,
    responses((status = 201, body = ProductOut), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_product(
    State(state): State<AppState>,
    who: Authed,
    ApiJson(body): ApiJson<ProductIn>,
) -> ApiResult<Response> {
    can_write(&who)?;
    Ok(created(ProductOut::from(dev::create_product(&state.store, &who.acting(), body.into()).await?)))
}

#[utoipa::path(get, path = "/api/v1/device/products/{id}", tag = "device", params(("id" = Uuid, Path)),
    responses((status = 200, body = ProductOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_product(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<ProductOut>> {
    can_read(&who)?;
    Ok(Json(dev::product(&state.store, &who.actor, id).await?.into()))
}

#[utoipa::path(put, path = "/api/v1/device/products/{id}", tag = "device", params(("id" = Uuid, Path)), request_body = ProductIn,
    responses((status = 200, body = ProductOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_product(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<ProductIn>,
) -> ApiResult<Json<ProductOut>> {
    can_write(&who)?;
    Ok(Json(dev::update_product(&state.store, &who.acting(), id, body.into()).await?.into()))
}

// ---------------------------------------------------------------- installed base

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InstitutionQuery {
    /// Only this account (institution).
    pub institution: Option<Uuid>,
}

#[utoipa::path(get, path = "/api/v1/device/installs", tag = "device", params(InstitutionQuery),
    responses((status = 200, body = [InstalledOut]), (status = 403, body = ErrorBody)))]
pub async fn list_installs(
    State(state): State<AppState>,
    who: Authed,
    ApiQuery(q): ApiQuery<InstitutionQuery>,
) -> ApiResult<Json<Vec<InstalledOut>>> {
    can_read(&who)?;
    Ok(Json(listed(dev::installed_base(&state.store, &who.actor, q.institution).await?)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstallIn {
    pub institution_id: Uuid,
    #[serde(default)]
    pub department: String,
    pub product_id: Uuid,
    pub serial: String,
    pub installed_on: Option<NaiveDate>,
    /// active (default), loaner, service (out for service) or decommissioned.
    #[serde(default)]
    pub status: String,
}

#[utoipa::path(post, path = "/api/v1/device/installs", tag = "device", request_body = InstallIn,
    responses((status = 201, body = InstalledOut), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_install(
    State(state): State<AppState>,
    who: Authed,
    ApiJson(b): ApiJson<InstallIn>,
) -> ApiResult<Response> {
    can_write(&who)?;
    let input = InstallInput {
        institution_id: b.institution_id,
        department: b.department,
        product_id: b.product_id,
        serial: b.serial,
        installed_on: b.installed_on,
        status: b.status,
    };
    Ok(created(InstalledOut::from(dev::install(&state.store, &who.acting(), input).await?)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceStatusIn {
    pub status: String,
}

#[utoipa::path(post, path = "/api/v1/device/installs/{id}/status", tag = "device", params(("id" = Uuid, Path)), request_body = DeviceStatusIn,
    responses((status = 200, body = InstalledOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_install_status(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<DeviceStatusIn>,
) -> ApiResult<Json<InstalledOut>> {
    can_write(&who)?;
    Ok(Json(dev::set_install_status(&state.store, &who.acting(), id, &b.status).await?.into()))
}

// ---------------------------------------------------------------- credentials

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// Only this user's credentials.
    pub user: Option<Uuid>,
}

#[utoipa::path(get, path = "/api/v1/device/credentials", tag = "device", params(UserQuery),
    responses((status = 200, body = [CredentialOut]), (status = 403, body = ErrorBody)))]
pub async fn list_credentials(
    State(state): State<AppState>,
    who: Authed,
    ApiQuery(q): ApiQuery<UserQuery>,
) -> ApiResult<Json<Vec<CredentialOut>>> {
    can_read(&who)?;
    let day = today(&who);
    let all = dev::credentials(&state.store, &who.actor, q.user).await?;
    Ok(Json(all.into_iter().map(|c| credential_out(c, day)).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialDocumentIn {
    pub name: String,
    #[serde(default)]
    pub received: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialIn {
    pub user_id: Uuid,
    pub institution_id: Uuid,
    pub name: String,
    #[serde(default)]
    pub documents: Vec<CredentialDocumentIn>,
    pub issued_on: Option<NaiveDate>,
    pub expires_on: Option<NaiveDate>,
}

impl From<CredentialIn> for CredentialInput {
    fn from(b: CredentialIn) -> Self {
        CredentialInput {
            user_id: b.user_id,
            institution_id: b.institution_id,
            name: b.name,
            documents: b
                .documents
                .into_iter()
                .map(|d| clinbridge_core::device::RequiredDocument { name: d.name, received: d.received })
                .collect(),
            issued_on: b.issued_on,
            expires_on: b.expires_on,
        }
    }
}

#[utoipa::path(post, path = "/api/v1/device/credentials", tag = "device", request_body = CredentialIn,
    responses((status = 201, body = CredentialOut), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_credential(
    State(state): State<AppState>,
    who: Authed,
    ApiJson(b): ApiJson<CredentialIn>,
) -> ApiResult<Response> {
    can_write(&who)?;
    let c = dev::add_credential(&state.store, &who.acting(), b.into()).await?;
    Ok(created(credential_out(c, today(&who))))
}

#[utoipa::path(put, path = "/api/v1/device/credentials/{id}", tag = "device", params(("id" = Uuid, Path)), request_body = CredentialIn,
    responses((status = 200, body = CredentialOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_credential(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<CredentialIn>,
) -> ApiResult<Json<CredentialOut>> {
    can_write(&who)?;
    let c = dev::update_credential(&state.store, &who.acting(), id, b.into()).await?;
    Ok(Json(credential_out(c, today(&who))))
}

#[utoipa::path(post, path = "/api/v1/device/credentials/{id}/documents", tag = "device", params(("id" = Uuid, Path)), request_body = CredentialDocumentIn,
    responses((status = 200, body = CredentialOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_document(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<CredentialDocumentIn>,
) -> ApiResult<Json<CredentialOut>> {
    can_write(&who)?;
    let c = dev::set_document_received(&state.store, &who.acting(), id, &b.name, b.received).await?;
    Ok(Json(credential_out(c, today(&who))))
}

// ---------------------------------------------------------------- cases

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CaseQuery {
    pub specialist: Option<Uuid>,
    pub institution: Option<Uuid>,
    /// requested, confirmed, covered or cancelled.
    pub status: Option<String>,
    /// Cases starting at or after.
    pub from: Option<DateTime<Utc>>,
    /// Cases starting before.
    pub to: Option<DateTime<Utc>>,
}

#[utoipa::path(get, path = "/api/v1/device/cases", tag = "device", params(CaseQuery),
    responses((status = 200, body = [CaseOut]), (status = 403, body = ErrorBody)))]
pub async fn list_cases(
    State(state): State<AppState>,
    who: Authed,
    ApiQuery(q): ApiQuery<CaseQuery>,
) -> ApiResult<Json<Vec<CaseOut>>> {
    can_read(&who)?;
    let f = CaseFilter {
        specialist_user_id: q.specialist,
        institution_id: q.institution,
        status: q.status.filter(|s| !s.trim().is_empty()),
        from: q.from,
        to: q.to,
    };
    Ok(Json(listed(dev::cases(&state.store, &who.actor, &f).await?)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseIn {
    pub institution_id: Uuid,
    #[serde(default)]
    pub department: String,
    pub surgeon_hcp_id: Option<Uuid>,
    pub procedure_type: String,
    pub starts_at: DateTime<Utc>,
    pub duration_minutes: i64,
    #[serde(default)]
    pub product_ids: Vec<Uuid>,
    pub specialist_user_id: Option<Uuid>,
    #[serde(default)]
    pub notes: String,
}

#[utoipa::path(post, path = "/api/v1/device/cases", tag = "device", request_body = CaseIn,
    responses((status = 201, body = CaseOut), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn request_case(
    State(state): State<AppState>,
    who: Authed,
    ApiJson(b): ApiJson<CaseIn>,
) -> ApiResult<Response> {
    can_write(&who)?;
    let input = CaseInput {
        institution_id: b.institution_id,
        department: b.department,
        surgeon_hcp_id: b.surgeon_hcp_id,
        procedure_type: b.procedure_type,
        starts_at: b.starts_at,
        duration_minutes: b.duration_minutes,
        product_ids: b.product_ids,
        specialist_user_id: b.specialist_user_id,
        notes: b.notes,
    };
    Ok(created(CaseOut::from(dev::request_case(&state.store, &who.acting(), input).await?)))
}

#[utoipa::path(get, path = "/api/v1/device/cases/{id}", tag = "device", params(("id" = Uuid, Path)),
    responses((status = 200, body = CaseOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_case(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<CaseOut>> {
    can_read(&who)?;
    Ok(Json(dev::case(&state.store, &who.actor, id).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignmentIn {
    /// The specialist to assign; null takes the assigned one off.
    pub specialist_user_id: Option<Uuid>,
}

/// Assigns a specialist. Refused with 409 naming the conflict when the specialist has another
/// case too close (with the travel buffer) or lacks a valid credential at the facility.
#[utoipa::path(post, path = "/api/v1/device/cases/{id}/assignment", tag = "device", params(("id" = Uuid, Path)), request_body = AssignmentIn,
    responses((status = 200, body = CaseOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn assign_case(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<AssignmentIn>,
) -> ApiResult<Json<CaseOut>> {
    can_write(&who)?;
    Ok(Json(dev::assign_case(&state.store, &who.acting(), id, b.specialist_user_id).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleIn {
    pub starts_at: DateTime<Utc>,
    pub duration_minutes: i64,
}

#[utoipa::path(post, path = "/api/v1/device/cases/{id}/schedule", tag = "device", params(("id" = Uuid, Path)), request_body = ScheduleIn,
    responses((status = 200, body = CaseOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn reschedule_case(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<ScheduleIn>,
) -> ApiResult<Json<CaseOut>> {
    can_write(&who)?;
    Ok(Json(dev::reschedule_case(&state.store, &who.acting(), id, b.starts_at, b.duration_minutes).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseStatusIn {
    /// confirmed, covered or cancelled.
    pub status: String,
    #[serde(default)]
    pub outcome_notes: String,
}

#[utoipa::path(post, path = "/api/v1/device/cases/{id}/status", tag = "device", params(("id" = Uuid, Path)), request_body = CaseStatusIn,
    responses((status = 200, body = CaseOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_case_status(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<CaseStatusIn>,
) -> ApiResult<Json<CaseOut>> {
    can_write(&who)?;
    Ok(Json(dev::set_case_status(&state.store, &who.acting(), id, &b.status, &b.outcome_notes).await?.into()))
}

// ---------------------------------------------------------------- specialists, territory, visits, week, dashboard

#[utoipa::path(get, path = "/api/v1/device/specialists", tag = "device",
    responses((status = 200, body = [SpecialistOut]), (status = 403, body = ErrorBody)))]
pub async fn list_specialists(State(state): State<AppState>, who: Authed) -> ApiResult<Json<Vec<SpecialistOut>>> {
    can_read(&who)?;
    Ok(Json(listed(dev::specialists(&state.store, &who.actor).await?)))
}

#[utoipa::path(get, path = "/api/v1/device/specialists/{id}/territory", tag = "device", params(("id" = Uuid, Path)),
    responses((status = 200, body = [TerritoryAccountOut]), (status = 403, body = ErrorBody)))]
pub async fn get_territory(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Vec<TerritoryAccountOut>>> {
    can_read(&who)?;
    Ok(Json(listed(dev::territory(&state.store, &who.actor, id).await?)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TerritoryIn {
    /// The accounts (institutions) the specialist covers; replaces the list.
    pub institution_ids: Vec<Uuid>,
}

#[utoipa::path(put, path = "/api/v1/device/specialists/{id}/territory", tag = "device", params(("id" = Uuid, Path)), request_body = TerritoryIn,
    responses((status = 200, body = [TerritoryAccountOut]), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_territory(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<TerritoryIn>,
) -> ApiResult<Json<Vec<TerritoryAccountOut>>> {
    can_write(&who)?;
    dev::set_territory(&state.store, &who.acting(), id, b.institution_ids).await?;
    Ok(Json(listed(dev::territory(&state.store, &who.actor, id).await?)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldVisitIn {
    pub specialist_user_id: Uuid,
    pub institution_id: Uuid,
    pub planned_at: DateTime<Utc>,
    pub duration_minutes: i64,
    pub purpose: String,
}

#[utoipa::path(post, path = "/api/v1/device/visits", tag = "device", request_body = FieldVisitIn,
    responses((status = 201, body = FieldVisitOut), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn plan_visit(
    State(state): State<AppState>,
    who: Authed,
    ApiJson(b): ApiJson<FieldVisitIn>,
) -> ApiResult<Response> {
    can_write(&who)?;
    let input = VisitInput {
        specialist_user_id: b.specialist_user_id,
        institution_id: b.institution_id,
        planned_at: b.planned_at,
        duration_minutes: b.duration_minutes,
        purpose: b.purpose,
    };
    Ok(created(FieldVisitOut::from(dev::plan_visit(&state.store, &who.acting(), input).await?)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VisitDoneIn {
    #[serde(default)]
    pub notes: String,
}

#[utoipa::path(post, path = "/api/v1/device/visits/{id}/done", tag = "device", params(("id" = Uuid, Path)), request_body = VisitDoneIn,
    responses((status = 200, body = FieldVisitOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn complete_visit(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<VisitDoneIn>,
) -> ApiResult<Json<FieldVisitOut>> {
    can_write(&who)?;
    Ok(Json(dev::complete_visit(&state.store, &who.acting(), id, &b.notes).await?.into()))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WeekQuery {
    /// The Monday the week starts (YYYY-MM-DD); defaults to this week's.
    pub start: Option<NaiveDate>,
}

/// Monday of the week a day falls in.
pub fn monday_of(d: NaiveDate) -> NaiveDate {
    d - Duration::days(i64::from(d.weekday().num_days_from_monday()))
}

#[derive(Serialize)]
pub struct WeekOut {
    pub specialist_user_id: Uuid,
    pub start: NaiveDate,
    /// Visits and cases in time order, each with `kind` visit or case.
    pub items: Vec<PlanItem>,
}

#[utoipa::path(get, path = "/api/v1/device/specialists/{id}/week", tag = "device", params(("id" = Uuid, Path), WeekQuery),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn week(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<WeekQuery>,
) -> ApiResult<Json<WeekOut>> {
    can_read(&who)?;
    let start = q.start.unwrap_or_else(|| monday_of(today(&who)));
    let items = dev::week_plan(&state.store, &who.actor, id, start).await?;
    Ok(Json(WeekOut { specialist_user_id: id, start, items }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PeriodQuery {
    /// First day (default 30 days ago).
    pub from: Option<NaiveDate>,
    /// Last day, inclusive (default today).
    pub to: Option<NaiveDate>,
}

#[utoipa::path(get, path = "/api/v1/device/specialists/{id}/dashboard", tag = "device", params(("id" = Uuid, Path), PeriodQuery),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn dashboard(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<PeriodQuery>,
) -> ApiResult<Json<Dashboard>> {
    can_read(&who)?;
    let day = today(&who);
    let to = q.to.unwrap_or(day);
    let from = q.from.unwrap_or(to - Duration::days(30));
    Ok(Json(dev::dashboard(&state.store, &who.actor, id, from, to, day).await?))
}

// ---------------------------------------------------------------- settings

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TravelBuffer {
    /// Minutes kept free between two cases of one specialist (0 to 720).
    pub minutes: i64,
}

#[utoipa::path(get, path = "/api/v1/device/settings/travel-buffer", tag = "device",
    responses((status = 200, body = TravelBuffer), (status = 403, body = ErrorBody)))]
pub async fn get_travel_buffer(State(state): State<AppState>, who: Authed) -> ApiResult<Json<TravelBuffer>> {
    can_read(&who)?;
    Ok(Json(TravelBuffer { minutes: dev::travel_buffer_minutes(&state.store, &who.actor).await? }))
}

#[utoipa::path(put, path = "/api/v1/device/settings/travel-buffer", tag = "device", request_body = TravelBuffer,
    responses((status = 200, body = TravelBuffer), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_travel_buffer(
    State(state): State<AppState>,
    who: Authed,
    ApiJson(b): ApiJson<TravelBuffer>,
) -> ApiResult<Json<TravelBuffer>> {
    can_write(&who)?;
    Ok(Json(TravelBuffer { minutes: dev::set_travel_buffer(&state.store, &who.acting(), b.minutes).await? }))
}
