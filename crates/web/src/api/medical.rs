//! Field medical affairs API: institutions, healthcare professionals (HCPs) with their KOL
//! profile, publications, engagement plans and trial activity; interactions (logged with their
//! insights, a medical information request and safety information in one call), insights and
//! the insight board, medical information requests, congresses and safety intake.
//!
//! Medical data is organization-wide and walled off from commercial roles: every route checks
//! `Context::Medical` on the organization before it reads anything, so a caller outside the
//! wall learns nothing (403), not even whether an object exists. Objects are answered in the
//! store's shape (documented as objects here); requests and safety intakes carry a few derived
//! fields besides.

use super::{ApiJson, ApiPath, ApiQuery};
use crate::AppState;
use crate::auth::Authed;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::routes::Routes;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use clinbridge_core::medical::{
    EventInput, FollowUpInput, Granularity, HcpInput, InsightInput, InsightSource, InstitutionInput, InteractionInput,
    KolInput, Material, ObjectiveInput, PublicationInput, RequestInput, RequestStatus, SafetyInput, SessionInput,
    SlaOutcome,
};
use clinbridge_core::policy::{Action, Context, Op, Target};
use clinbridge_store::medical::{
    self as store_m, BoardDimension, BoardQuery, Event, FollowUp, HcpListing, HcpProfile, Insight, InsightBoard,
    Institution, Interaction, MedicalRequest, SafetyIntake, Session, SlaCompliance, Theme, TierActivity,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

pub const MEDICAL_READ: Action = Action::new(Context::Medical, Op::Read);
pub const MEDICAL_WRITE: Action = Action::new(Context::Medical, Op::Write);
pub const MEDICAL_ADMIN: Action = Action::new(Context::Medical, Op::Administer);

pub fn register(r: Routes) -> Routes {
    r.get("/api/v1/medical/dashboard", dashboard)
        .get("/api/v1/medical/institutions", list_institutions)
        .post("/api/v1/medical/institutions", create_institution)
        .get("/api/v1/medical/institutions/{id}", get_institution)
        .put("/api/v1/medical/institutions/{id}", update_institution)
        .get("/api/v1/medical/hcps", list_hcps)
        .post("/api/v1/medical/hcps", create_hcp)
        .get("/api/v1/medical/hcps/{id}", get_hcp)
        .put("/api/v1/medical/hcps/{id}", update_hcp)
        .put("/api/v1/medical/hcps/{id}/kol", set_kol)
        .put("/api/v1/medical/hcps/{id}/affiliations", set_affiliations)
        .post("/api/v1/medical/hcps/{id}/publications", add_publications)
        .post("/api/v1/medical/hcps/{id}/publications.csv", import_publications)
        .delete("/api/v1/medical/publications/{id}", remove_publication)
        .put("/api/v1/medical/hcps/{id}/plans/{period}", set_plan)
        .put("/api/v1/medical/objectives/{id}", update_objective)
        .put("/api/v1/medical/hcps/{id}/user", link_user)
        .get("/api/v1/medical/specialties", specialties)
        .get("/api/v1/medical/interactions", list_interactions)
        .post("/api/v1/medical/interactions", log_interaction)
        .get("/api/v1/medical/interactions/{id}", get_interaction)
        .put("/api/v1/medical/interactions/{id}", update_interaction)
        .post("/api/v1/medical/interactions/{id}/follow-ups", add_follow_up)
        .post("/api/v1/medical/follow-ups/{id}/done", complete_follow_up)
        .get("/api/v1/medical/insights", list_insights)
        .post("/api/v1/medical/insights", record_insight)
        .get("/api/v1/medical/insights/{id}", get_insight)
        .get("/api/v1/medical/insight-board", insight_board)
        .get("/api/v1/medical/insight-board/cell", insight_cell)
        .get("/api/v1/medical/requests", list_requests)
        .post("/api/v1/medical/requests", create_request)
        .get("/api/v1/medical/requests/{id}", get_request)
        .put("/api/v1/medical/requests/{id}", edit_request)
        .post("/api/v1/medical/requests/{id}/signature", sign_request)
        .post("/api/v1/medical/requests/{id}/response", respond)
        .post("/api/v1/medical/requests/{id}/status", move_request)
        .get("/api/v1/medical/events", list_events)
        .post("/api/v1/medical/events", create_event)
        .get("/api/v1/medical/events/{id}", get_event)
        .put("/api/v1/medical/events/{id}", update_event)
        .post("/api/v1/medical/events/{id}/sessions", add_session)
        .delete("/api/v1/medical/sessions/{id}", remove_session)
        .get("/api/v1/medical/safety", list_safety)
        .post("/api/v1/medical/safety", report_safety)
        .get("/api/v1/medical/safety/{id}", get_safety)
        .put("/api/v1/medical/safety/{id}", update_safety)
        .post("/api/v1/medical/safety/{id}/forward", forward_safety)
        .get("/api/v1/medical/settings/safety-clock", get_safety_clock)
        .put("/api/v1/medical/settings/safety-clock", set_safety_clock)
}

fn can_read(who: &Authed) -> ApiResult<()> {
    who.require(MEDICAL_READ, Target::ORG)
}

fn can_write(who: &Authed) -> ApiResult<()> {
    who.require(MEDICAL_WRITE, Target::ORG)
}

fn created<T: Serialize>(v: T) -> Response {
    (StatusCode::CREATED, Json(v)).into_response()
}

// ---------------------------------------------------------------- outputs with derived fields

/// A document shared: its name and the version (approval code or date).
#[derive(Serialize, ToSchema)]
pub struct MaterialOut {
    pub name: String,
    pub version: String,
}

fn materials_out(list: &[Material]) -> Vec<MaterialOut> {
    list.iter().map(|m| MaterialOut { name: m.name.clone(), version: m.version.clone() }).collect()
}

/// A medical information request with what follows from it now.
#[derive(Serialize, ToSchema)]
pub struct RequestOut {
    pub id: Uuid,
    pub hcp_id: Uuid,
    pub hcp_name: String,
    /// Always true: only unsolicited requests are recorded.
    pub unsolicited: bool,
    pub questions: Vec<String>,
    pub products: Vec<String>,
    /// routine or urgent.
    pub urgency: String,
    pub received_at: DateTime<Utc>,
    pub sla_due_at: DateTime<Utc>,
    pub delivery_method: String,
    /// new, in_progress, answered or closed.
    pub status: String,
    pub assigned_user_id: Uuid,
    pub assigned_name: String,
    pub interaction_id: Option<Uuid>,
    pub response: String,
    pub response_documents: Vec<MaterialOut>,
    /// When the answer was first sent: the SLA is measured to it.
    pub answered_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub signed_name: Option<String>,
    pub signed_at: Option<DateTime<Utc>>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Signed by the requester: questions, requester and delivery method no longer change.
    pub locked: bool,
    /// on_time, late, open_on_track or open_overdue.
    #[schema(value_type = String)]
    pub sla: SlaOutcome,
    /// The statuses the request may move to now.
    pub next_statuses: Vec<String>,
}

impl From<MedicalRequest> for RequestOut {
    fn from(r: MedicalRequest) -> Self {
        RequestOut {
            locked: r.locked(),
            sla: r.sla(clinbridge_store::now()),
            next_statuses: r.next_statuses().iter().map(|s| s.as_str().to_string()).collect(),
            response_documents: materials_out(&r.response_documents),
            id: r.id,
            hcp_id: r.hcp_id,
            hcp_name: r.hcp_name,
            unsolicited: r.unsolicited,
            questions: r.questions.0,
            products: r.products.0,
            urgency: r.urgency,
            received_at: r.received_at,
            sla_due_at: r.sla_due_at,
            delivery_method: r.delivery_method,
            status: r.status,
            assigned_user_id: r.assigned_user_id,
            assigned_name: r.assigned_name,
            interaction_id: r.interaction_id,
            response: r.response,
            answered_at: r.answered_at,
            closed_at: r.closed_at,
            signed_name: r.signed_name,
            signed_at: r.signed_at,
            created_by: r.created_by,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A safety intake with its forwarding state.
#[derive(Serialize, ToSchema)]
pub struct SafetyOut {
    pub id: Uuid,
    /// adverse_event, product_complaint or special_situation.
    pub kind: String,
    pub interaction_id: Option<Uuid>,
    pub hcp_id: Option<Uuid>,
    pub product: String,
    pub description: String,
    /// A non-identifying description of the patient.
    pub patient: String,
    /// Day 0: when the company learned of it.
    pub aware_at: DateTime<Utc>,
    /// The forwarding clock the intake started with, in hours.
    pub clock_hours: i64,
    pub forward_due_at: DateTime<Utc>,
    pub reported_by: Uuid,
    pub forwarded_at: Option<DateTime<Utc>>,
    pub forwarded_by: Option<Uuid>,
    pub forwarded_to: Option<String>,
    pub forward_reference: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Forwarded to pharmacovigilance: the intake no longer changes.
    pub forwarded: bool,
    /// Not forwarded by its due time (or forwarded after it).
    pub late: bool,
}

impl From<SafetyIntake> for SafetyOut {
    fn from(s: SafetyIntake) -> Self {
        SafetyOut {
            forwarded: s.forwarded(),
            late: s.late(clinbridge_store::now()),
            id: s.id,
            kind: s.kind,
            interaction_id: s.interaction_id,
            hcp_id: s.hcp_id,
            product: s.product,
            description: s.description,
            patient: s.patient,
            aware_at: s.aware_at,
            clock_hours: s.clock_hours,
            forward_due_at: s.forward_due_at,
            reported_by: s.reported_by,
            forwarded_at: s.forwarded_at,
            forwarded_by: s.forwarded_by,
            forwarded_to: s.forwarded_to,
            forward_reference: s.forward_reference,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

/// Someone who took part: an HCP or a colleague.
#[derive(Serialize, ToSchema)]
pub struct CongressAttendeeOut {
    pub id: Uuid,
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct FollowUpOut {
    pub id: Uuid,
    pub interaction_id: Uuid,
    pub title: String,
    pub due_at: DateTime<Utc>,
    pub assignee_user_id: Uuid,
    /// The task on the assignee's queue.
    pub task_id: Option<Uuid>,
    pub done_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<FollowUp> for FollowUpOut {
    fn from(f: FollowUp) -> Self {
        FollowUpOut {
            id: f.id,
            interaction_id: f.interaction_id,
            title: f.title,
            due_at: f.due_at,
            assignee_user_id: f.assignee_user_id,
            task_id: f.task_id,
            done_at: f.done_at,
            created_at: f.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct InteractionOut {
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    /// in_person, phone, video, email or congress.
    pub channel: String,
    /// The MSL who recorded it and owns its follow-ups.
    pub owner_user_id: Uuid,
    pub owner_name: String,
    pub event_id: Option<Uuid>,
    pub topics: Vec<String>,
    pub products: Vec<String>,
    pub materials: Vec<MaterialOut>,
    pub notes: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub hcps: Vec<CongressAttendeeOut>,
    pub colleagues: Vec<CongressAttendeeOut>,
    pub follow_ups: Vec<FollowUpOut>,
}

fn attendees_out(list: Vec<store_m::Attendee>) -> Vec<CongressAttendeeOut> {
    list.into_iter().map(|a| CongressAttendeeOut { id: a.id, name: a.name }).collect()
}

impl From<Interaction> for InteractionOut {
    fn from(i: Interaction) -> Self {
        InteractionOut {
            materials: materials_out(&i.materials),
            id: i.id,
            occurred_at: i.occurred_at,
            channel: i.channel,
            owner_user_id: i.owner_user_id,
            owner_name: i.owner_name,
            event_id: i.event_id,
            topics: i.topics.0,
            products: i.products.0,
            notes: i.notes,
            created_at: i.created_at,
            updated_at: i.updated_at,
            hcps: attendees_out(i.hcps),
            colleagues: attendees_out(i.colleagues),
            follow_ups: i.follow_ups.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct InsightOut {
    pub id: Uuid,
    /// Heard in this interaction, or else at this event.
    pub interaction_id: Option<Uuid>,
    pub event_id: Option<Uuid>,
    pub category: String,
    pub product: String,
    pub therapeutic_area: String,
    pub text: String,
    /// The day it was heard (the interaction's day, or the event's first day).
    pub heard_on: NaiveDate,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub tags: Vec<String>,
}

impl From<Insight> for InsightOut {
    fn from(n: Insight) -> Self {
        InsightOut {
            id: n.id,
            interaction_id: n.interaction_id,
            event_id: n.event_id,
            category: n.category,
            product: n.product,
            therapeutic_area: n.therapeutic_area,
            text: n.text,
            heard_on: n.heard_on,
            created_by: n.created_by,
            created_at: n.created_at,
            tags: n.tags,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct InstitutionOut {
    pub id: Uuid,
    pub name: String,
    /// academic_medical_center, hospital, clinic, surgical_center, …
    pub kind: String,
    pub address: String,
    pub city: String,
    pub state: String,
    pub postal_code: String,
    pub departments: Vec<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Institution> for InstitutionOut {
    fn from(i: Institution) -> Self {
        InstitutionOut {
            id: i.id,
            name: i.name,
            kind: i.kind,
            address: i.address,
            city: i.city,
            state: i.state,
            postal_code: i.postal_code,
            departments: i.departments.0,
            latitude: i.latitude,
            longitude: i.longitude,
            created_at: i.created_at,
            updated_at: i.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct HcpOut {
    pub id: Uuid,
    pub npi: String,
    pub first_name: String,
    pub last_name: String,
    pub credentials: Vec<String>,
    pub specialty: String,
    pub email: String,
    pub phone: String,
    /// The Clinbridge user this person is (an investigator), when linked.
    pub user_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<store_m::Hcp> for HcpOut {
    fn from(h: store_m::Hcp) -> Self {
        HcpOut {
            id: h.id,
            npi: h.npi,
            first_name: h.first_name,
            last_name: h.last_name,
            credentials: h.credentials.0,
            specialty: h.specialty,
            email: h.email,
            phone: h.phone,
            user_id: h.user_id,
            created_at: h.created_at,
            updated_at: h.updated_at,
        }
    }
}

/// An HCP found by a search, with their KOL tier and primary institution.
#[derive(Serialize, ToSchema)]
pub struct HcpListingOut {
    #[serde(flatten)]
    pub hcp: HcpOut,
    /// 1, 2 or 3; none without a KOL profile.
    pub tier: Option<i64>,
    /// The primary affiliation's institution.
    pub institution: Option<String>,
}

impl From<HcpListing> for HcpListingOut {
    fn from(l: HcpListing) -> Self {
        HcpListingOut { hcp: l.hcp.into(), tier: l.tier, institution: l.institution }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SessionOut {
    pub id: Uuid,
    pub event_id: Uuid,
    pub title: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub speakers: Vec<String>,
    pub room: String,
}

impl From<Session> for SessionOut {
    fn from(s: Session) -> Self {
        SessionOut {
            id: s.id,
            event_id: s.event_id,
            title: s.title,
            starts_at: s.starts_at,
            ends_at: s.ends_at,
            speakers: s.speakers.0,
            room: s.room,
        }
    }
}

/// A congress or other event, with the team attending and the sessions followed.
#[derive(Serialize, ToSchema)]
pub struct CongressOut {
    pub id: Uuid,
    pub name: String,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub place: String,
    pub notes: String,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub attendees: Vec<CongressAttendeeOut>,
    pub sessions: Vec<SessionOut>,
}

impl From<Event> for CongressOut {
    fn from(e: Event) -> Self {
        CongressOut {
            id: e.id,
            name: e.name,
            starts_on: e.starts_on,
            ends_on: e.ends_on,
            place: e.place,
            notes: e.notes,
            created_by: e.created_by,
            created_at: e.created_at,
            updated_at: e.updated_at,
            attendees: attendees_out(e.attendees),
            sessions: e.sessions.into_iter().map(Into::into).collect(),
        }
    }
}

fn insights_out(list: Vec<Insight>) -> Vec<InsightOut> {
    list.into_iter().map(Into::into).collect()
}

fn requests_out(list: Vec<MedicalRequest>) -> Vec<RequestOut> {
    list.into_iter().map(Into::into).collect()
}

// ---------------------------------------------------------------- institutions

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstitutionIn {
    pub name: String,
    /// academic_medical_center, hospital, clinic, surgical_center, …
    pub kind: String,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub city: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub postal_code: String,
    /// The departments an affiliation may name.
    #[serde(default)]
    pub departments: Vec<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

impl From<InstitutionIn> for InstitutionInput {
    fn from(b: InstitutionIn) -> Self {
        InstitutionInput {
            name: b.name,
            kind: b.kind,
            address: b.address,
            city: b.city,
            state: b.state,
            postal_code: b.postal_code,
            departments: b.departments,
            latitude: b.latitude,
            longitude: b.longitude,
        }
    }
}

/// Institutions, by name.
#[utoipa::path(get, path = "/api/v1/medical/institutions", tag = "medical",
    responses((status = 200, body = [InstitutionOut]), (status = 403, body = ErrorBody)))]
pub async fn list_institutions(State(state): State<AppState>, who: Authed) -> ApiResult<Json<Vec<InstitutionOut>>> {
    can_read(&who)?;
    Ok(Json(store_m::institutions(&state.store).await?.into_iter().map(Into::into).collect()))
}

#[utoipa::path(post, path = "/api/v1/medical/institutions", tag = "medical", request_body = InstitutionIn,
    responses((status = 201, body = InstitutionOut), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_institution(
    State(state): State<AppState>,
    who: Authed,
    ApiJson(b): ApiJson<InstitutionIn>,
) -> ApiResult<Response> {
    can_write(&who)?;
    Ok(created(InstitutionOut::from(store_m::create_institution(&state.store, &who.acting(), b.into()).await?)))
}

#[utoipa::path(get, path = "/api/v1/medical/institutions/{id}", tag = "medical", params(("id" = Uuid, Path)),
    responses((status = 200, body = InstitutionOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_institution(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<InstitutionOut>> {
    can_read(&who)?;
    Ok(Json(store_m::institution(&state.store, id).await?.into()))
}

#[utoipa::path(put, path = "/api/v1/medical/institutions/{id}", tag = "medical", params(("id" = Uuid, Path)), request_body = InstitutionIn,
    responses((status = 200, body = InstitutionOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_institution(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<InstitutionIn>,
) -> ApiResult<Json<InstitutionOut>> {
    can_write(&who)?;
    Ok(Json(store_m::update_institution(&state.store, &who.acting(), id, b.into()).await?.into()))
}

// ---------------------------------------------------------------- HCPs

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HcpQuery {
    /// A name (either order) or the start of an NPI.
    pub q: Option<String>,
    /// An institution the HCP is affiliated with.
    pub institution: Option<Uuid>,
    pub specialty: Option<String>,
    /// KOL tier: 1, 2 or 3.
    pub tier: Option<i64>,
    /// Defaults to 50, at most 500.
    pub limit: Option<i64>,
}

/// Searches HCPs, by name.
#[utoipa::path(get, path = "/api/v1/medical/hcps", tag = "medical", params(HcpQuery),
    responses((status = 200, body = [HcpListingOut]), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_hcps(
    State(state): State<AppState>,
    who: Authed,
    ApiQuery(q): ApiQuery<HcpQuery>,
) -> ApiResult<Json<Vec<HcpListingOut>>> {
    can_read(&who)?;
    if q.tier.is_some_and(|t| !(1..=3).contains(&t)) {
        return Err(ApiError::field("tier", "must be 1, 2 or 3"));
    }
    let search = store_m::HcpSearch {
        text: q.q.unwrap_or_default(),
        institution_id: q.institution,
        specialty: q.specialty.unwrap_or_default(),
        tier: q.tier,
        limit: q.limit,
    };
    Ok(Json(store_m::search_hcps(&state.store, &search).await?.into_iter().map(Into::into).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HcpIn {
    /// The 10-digit National Provider Identifier (check digit verified).
    pub npi: String,
    pub first_name: String,
    pub last_name: String,
    /// MD, PhD, …
    #[serde(default)]
    pub credentials: Vec<String>,
    pub specialty: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub phone: String,
}

impl From<HcpIn> for HcpInput {
    fn from(b: HcpIn) -> Self {
        HcpInput {
            npi: b.npi,
            first_name: b.first_name,
            last_name: b.last_name,
            credentials: b.credentials,
            specialty: b.specialty,
            email: b.email,
            phone: b.phone,
        }
    }
}

#[utoipa::path(post, path = "/api/v1/medical/hcps", tag = "medical", request_body = HcpIn,
    responses((status = 201, body = HcpOut), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_hcp(State(state): State<AppState>, who: Authed, ApiJson(b): ApiJson<HcpIn>) -> ApiResult<Response> {
    can_write(&who)?;
    Ok(created(HcpOut::from(store_m::create_hcp(&state.store, &who.acting(), b.into()).await?)))
}

/// A KOL profile: the tier and what the HCP is known for.
#[derive(Serialize, ToSchema)]
pub struct KolOut {
    pub hcp_id: Uuid,
    /// 1 (national), 2 (regional) or 3 (local).
    pub tier: i64,
    pub therapeutic_areas: Vec<String>,
    pub topics: Vec<String>,
    pub notes: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<store_m::KolProfile> for KolOut {
    fn from(k: store_m::KolProfile) -> Self {
        KolOut {
            hcp_id: k.hcp_id,
            tier: k.tier,
            therapeutic_areas: k.therapeutic_areas.0,
            topics: k.topics.0,
            notes: k.notes,
            created_at: k.created_at,
            updated_at: k.updated_at,
        }
    }
}

/// Where an HCP works: the institution, a department and their role there.
#[derive(Serialize, ToSchema)]
pub struct AffiliationOut {
    pub id: Uuid,
    pub hcp_id: Uuid,
    pub institution_id: Uuid,
    pub institution_name: String,
    pub department: String,
    pub role: String,
    pub is_primary: bool,
}

impl From<store_m::Affiliation> for AffiliationOut {
    fn from(a: store_m::Affiliation) -> Self {
        AffiliationOut {
            id: a.id,
            hcp_id: a.hcp_id,
            institution_id: a.institution_id,
            institution_name: a.institution_name,
            department: a.department,
            role: a.role,
            is_primary: a.is_primary,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct PublicationOut {
    pub id: Uuid,
    pub hcp_id: Uuid,
    pub title: String,
    pub journal: String,
    pub year: i64,
    /// Empty when not known.
    pub pmid: String,
    /// Empty when not known.
    pub doi: String,
    pub created_at: DateTime<Utc>,
}

impl From<store_m::Publication> for PublicationOut {
    fn from(p: store_m::Publication) -> Self {
        PublicationOut {
            id: p.id,
            hcp_id: p.hcp_id,
            title: p.title,
            journal: p.journal,
            year: p.year,
            pmid: p.pmid,
            doi: p.doi,
            created_at: p.created_at,
        }
    }
}

/// One objective of an engagement plan and the progress on it.
#[derive(Serialize, ToSchema)]
pub struct ObjectiveOut {
    pub id: Uuid,
    pub plan_id: Uuid,
    pub position: i64,
    pub text: String,
    pub target_count: Option<i64>,
    pub done_count: i64,
    /// not_started, in_progress, achieved or deferred.
    pub status: String,
    pub updated_at: DateTime<Utc>,
}

impl From<store_m::Objective> for ObjectiveOut {
    fn from(o: store_m::Objective) -> Self {
        ObjectiveOut {
            id: o.id,
            plan_id: o.plan_id,
            position: o.position,
            text: o.text,
            target_count: o.target_count,
            done_count: o.done_count,
            status: o.status,
            updated_at: o.updated_at,
        }
    }
}

/// A KOL's engagement plan for a period (`2026`, `2026-H2`, `2026-Q3`).
#[derive(Serialize, ToSchema)]
pub struct PlanOut {
    pub id: Uuid,
    pub hcp_id: Uuid,
    pub period: String,
    pub owner_user_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub objectives: Vec<ObjectiveOut>,
}

impl From<store_m::EngagementPlan> for PlanOut {
    fn from(p: store_m::EngagementPlan) -> Self {
        PlanOut {
            id: p.id,
            hcp_id: p.hcp_id,
            period: p.period,
            owner_user_id: p.owner_user_id,
            created_at: p.created_at,
            updated_at: p.updated_at,
            objectives: p.objectives.into_iter().map(ObjectiveOut::from).collect(),
        }
    }
}

/// A participating site of a study where the HCP, as a Clinbridge user, is PI or investigator.
#[derive(Serialize, ToSchema)]
pub struct TrialActivityOut {
    pub study_id: Uuid,
    pub study_code: String,
    pub study_title: String,
    pub study_status: String,
    pub site_id: Uuid,
    pub site_name: String,
    /// principal_investigator or investigator.
    pub role: String,
    pub activated_on: Option<NaiveDate>,
    pub target_enrollment: i64,
    /// Participants enrolled (enrolled, randomized, active or completed).
    pub enrolled: i64,
}

impl From<store_m::TrialActivity> for TrialActivityOut {
    fn from(t: store_m::TrialActivity) -> Self {
        TrialActivityOut {
            study_id: t.study_id,
            study_code: t.study_code,
            study_title: t.study_title,
            study_status: t.study_status,
            site_id: t.site_id,
            site_name: t.site_name,
            role: t.role.to_string(),
            activated_on: t.activated_on,
            target_enrollment: t.target_enrollment,
            enrolled: t.enrolled,
        }
    }
}

/// An HCP's profile page as data.
#[derive(Serialize, ToSchema)]
pub struct HcpProfileOut {
    pub hcp: HcpOut,
    pub affiliations: Vec<AffiliationOut>,
    pub kol: Option<KolOut>,
    pub publications: Vec<PublicationOut>,
    /// Latest period first.
    pub plans: Vec<PlanOut>,
    pub trial_activity: Vec<TrialActivityOut>,
    /// The latest interactions (up to 20), newest first.
    pub interactions: Vec<InteractionOut>,
    pub requests: Vec<RequestOut>,
}

impl From<HcpProfile> for HcpProfileOut {
    fn from(p: HcpProfile) -> Self {
        HcpProfileOut {
            hcp: p.hcp.into(),
            affiliations: p.affiliations.into_iter().map(AffiliationOut::from).collect(),
            kol: p.kol.map(KolOut::from),
            publications: p.publications.into_iter().map(PublicationOut::from).collect(),
            plans: p.plans.into_iter().map(PlanOut::from).collect(),
            trial_activity: p.trial_activity.into_iter().map(TrialActivityOut::from).collect(),
            interactions: p.interactions.into_iter().map(InteractionOut::from).collect(),
            requests: p.requests.into_iter().map(RequestOut::from).collect(),
        }
    }
}

/// The HCP's full profile: affiliations, KOL profile, publications, engagement plans, trial
/// activity in Clinbridge (when the HCP is a Clinbridge investigator), the latest interactions
/// and their medical information requests.
#[utoipa::path(get, path = "/api/v1/medical/hcps/{id}", tag = "medical", params(("id" = Uuid, Path)),
    responses((status = 200, body = HcpProfileOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_hcp(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<HcpProfileOut>> {
    can_read(&who)?;
    Ok(Json(store_m::hcp_profile(&state.store, id).await?.into()))
}

#[utoipa::path(put, path = "/api/v1/medical/hcps/{id}", tag = "medical", params(("id" = Uuid, Path)), request_body = HcpIn,
    responses((status = 200, body = HcpOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_hcp(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<HcpIn>,
) -> ApiResult<Json<HcpOut>> {
    can_write(&who)?;
    Ok(Json(store_m::update_hcp(&state.store, &who.acting(), id, b.into()).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KolIn {
    /// 1 (national), 2 (regional) or 3 (local).
    pub tier: i64,
    #[serde(default)]
    pub therapeutic_areas: Vec<String>,
    #[serde(default)]
    pub topics: Vec<String>,
    #[serde(default)]
    pub notes: String,
}

/// Sets the HCP's KOL profile (creating it the first time).
#[utoipa::path(put, path = "/api/v1/medical/hcps/{id}/kol", tag = "medical", params(("id" = Uuid, Path)), request_body = KolIn,
    responses((status = 200, body = KolOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_kol(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<KolIn>,
) -> ApiResult<Json<KolOut>> {
    can_write(&who)?;
    let input =
        KolInput { tier: b.tier.to_string(), therapeutic_areas: b.therapeutic_areas, topics: b.topics, notes: b.notes };
    Ok(Json(store_m::set_kol_profile(&state.store, &who.acting(), id, input).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AffiliationIn {
    pub institution_id: Uuid,
    /// One of the institution's departments (when it lists any).
    #[serde(default)]
    pub department: String,
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub is_primary: bool,
}

/// Replaces the HCP's affiliations (the body is the whole list).
#[utoipa::path(put, path = "/api/v1/medical/hcps/{id}/affiliations", tag = "medical", params(("id" = Uuid, Path)), request_body = [AffiliationIn],
    responses((status = 200, body = [AffiliationOut]), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_affiliations(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<Vec<AffiliationIn>>,
) -> ApiResult<Json<Vec<AffiliationOut>>> {
    can_write(&who)?;
    let input = b
        .into_iter()
        .map(|a| store_m::AffiliationInput {
            institution_id: a.institution_id,
            department: a.department,
            role: a.role,
            is_primary: a.is_primary,
        })
        .collect();
    let list = store_m::set_affiliations(&state.store, &who.acting(), id, input).await?;
    Ok(Json(list.into_iter().map(AffiliationOut::from).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublicationIn {
    pub title: String,
    pub journal: String,
    pub year: Option<i32>,
    #[serde(default)]
    pub pmid: String,
    #[serde(default)]
    pub doi: String,
}

/// Adds publications to the HCP (the body is a list). All or nothing.
#[utoipa::path(post, path = "/api/v1/medical/hcps/{id}/publications", tag = "medical", params(("id" = Uuid, Path)), request_body = [PublicationIn],
    responses((status = 201, body = [PublicationOut]), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_publications(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<Vec<PublicationIn>>,
) -> ApiResult<Response> {
    can_write(&who)?;
    let input = b
        .into_iter()
        .map(|p| PublicationInput { title: p.title, journal: p.journal, year: p.year, pmid: p.pmid, doi: p.doi })
        .collect();
    let added = store_m::add_publications(&state.store, &who.acting(), id, input).await?;
    Ok(created(added.into_iter().map(PublicationOut::from).collect::<Vec<_>>()))
}

/// Imports publications from CSV (the body; header `title,journal,year,pmid,doi`). All or
/// nothing: every bad row is answered (`row 4: year`).
#[utoipa::path(post, path = "/api/v1/medical/hcps/{id}/publications.csv", tag = "medical", params(("id" = Uuid, Path)),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 201, body = [PublicationOut]), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn import_publications(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    body: Bytes,
) -> ApiResult<Response> {
    can_write(&who)?;
    let text = std::str::from_utf8(&body).map_err(|_| ApiError::field("csv", "is not UTF-8 text"))?;
    let added = store_m::import_publications_csv(&state.store, &who.acting(), id, text).await?;
    Ok(created(added.into_iter().map(PublicationOut::from).collect::<Vec<_>>()))
}

#[utoipa::path(delete, path = "/api/v1/medical/publications/{id}", tag = "medical", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove_publication(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    can_write(&who)?;
    store_m::remove_publication(&state.store, &who.acting(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ObjectiveIn {
    pub text: String,
    pub target_count: Option<i64>,
    #[serde(default)]
    pub done_count: i64,
    /// not_started, in_progress, achieved or deferred; blank derives it from the counts.
    #[serde(default)]
    pub status: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanIn {
    /// Defaults to the caller.
    pub owner_user_id: Option<Uuid>,
    pub objectives: Vec<ObjectiveIn>,
}

/// Sets the KOL's engagement plan for a period (`2026`, `2026-H2`, `2026-Q3`), replacing that
/// period's objectives.
#[utoipa::path(put, path = "/api/v1/medical/hcps/{id}/plans/{period}", tag = "medical",
    params(("id" = Uuid, Path), ("period" = String, Path)), request_body = PlanIn,
    responses((status = 200, body = PlanOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_plan(
    State(state): State<AppState>,
    who: Authed,
    ApiPath((id, period)): ApiPath<(Uuid, String)>,
    ApiJson(b): ApiJson<PlanIn>,
) -> ApiResult<Json<PlanOut>> {
    can_write(&who)?;
    let objectives = b
        .objectives
        .into_iter()
        .map(|o| ObjectiveInput {
            text: o.text,
            target_count: o.target_count,
            done_count: o.done_count,
            status: o.status,
        })
        .collect();
    let plan =
        store_m::set_engagement_plan(&state.store, &who.acting(), id, &period, b.owner_user_id, objectives).await?;
    Ok(Json(plan.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ObjectiveProgressIn {
    /// How many times it was done so far (0 to 1000).
    pub done_count: i64,
    /// not_started, in_progress, achieved or deferred; left out, it follows from the count
    /// against the target.
    pub status: Option<String>,
}

/// Records progress on one objective of an engagement plan.
#[utoipa::path(put, path = "/api/v1/medical/objectives/{id}", tag = "medical", params(("id" = Uuid, Path)), request_body = ObjectiveProgressIn,
    responses((status = 200, body = ObjectiveOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_objective(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<ObjectiveProgressIn>,
) -> ApiResult<Json<ObjectiveOut>> {
    can_write(&who)?;
    let status = b.status.as_deref().map(str::trim).filter(|s| !s.is_empty());
    Ok(Json(store_m::update_objective(&state.store, &who.acting(), id, b.done_count, status).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkUserIn {
    /// The Clinbridge user the HCP is (their trial activity then shows on the profile); null
    /// unlinks.
    pub user_id: Option<Uuid>,
}

/// Links the HCP to the Clinbridge user they are, or unlinks them.
#[utoipa::path(put, path = "/api/v1/medical/hcps/{id}/user", tag = "medical", params(("id" = Uuid, Path)), request_body = LinkUserIn,
    responses((status = 200, body = HcpOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn link_user(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<LinkUserIn>,
) -> ApiResult<Json<HcpOut>> {
    can_write(&who)?;
    Ok(Json(store_m::link_user(&state.store, &who.acting(), id, b.user_id).await?.into()))
}

/// The specialties on file, for a search filter.
#[utoipa::path(get, path = "/api/v1/medical/specialties", tag = "medical",
    responses((status = 200, body = [String]), (status = 403, body = ErrorBody)))]
pub async fn specialties(State(state): State<AppState>, who: Authed) -> ApiResult<Json<Vec<String>>> {
    can_read(&who)?;
    Ok(Json(store_m::specialties(&state.store).await?))
}

// ---------------------------------------------------------------- interactions

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InteractionQuery {
    pub hcp_id: Option<Uuid>,
    pub owner_user_id: Option<Uuid>,
    pub event_id: Option<Uuid>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Defaults to 100, at most 1000.
    pub limit: Option<i64>,
}

/// Interactions, newest first.
#[utoipa::path(get, path = "/api/v1/medical/interactions", tag = "medical", params(InteractionQuery),
    responses((status = 200, body = [InteractionOut]), (status = 403, body = ErrorBody)))]
pub async fn list_interactions(
    State(state): State<AppState>,
    who: Authed,
    ApiQuery(q): ApiQuery<InteractionQuery>,
) -> ApiResult<Json<Vec<InteractionOut>>> {
    can_read(&who)?;
    let f = store_m::InteractionFilter {
        hcp_id: q.hcp_id,
        owner_user_id: q.owner_user_id,
        event_id: q.event_id,
        from: q.from,
        to: q.to,
        limit: q.limit,
    };
    Ok(Json(store_m::interactions(&state.store, &f).await?.into_iter().map(Into::into).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MaterialIn {
    pub name: String,
    /// The version shared (approval code or date).
    pub version: String,
}

fn materials(list: Vec<MaterialIn>) -> Vec<Material> {
    list.into_iter().map(|m| Material { name: m.name, version: m.version }).collect()
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FollowUpIn {
    pub title: String,
    pub due_at: DateTime<Utc>,
    /// Defaults to the MSL who owns the interaction.
    pub assignee: Option<Uuid>,
}

impl From<FollowUpIn> for FollowUpInput {
    fn from(f: FollowUpIn) -> Self {
        FollowUpInput { title: f.title, due_at: f.due_at, assignee: f.assignee }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InteractionIn {
    pub occurred_at: DateTime<Utc>,
    /// in_person, phone, video, email, congress, …
    pub channel: String,
    pub hcp_ids: Vec<Uuid>,
    /// Colleagues present besides the MSL who records it.
    #[serde(default)]
    pub colleague_ids: Vec<Uuid>,
    #[serde(default)]
    pub topics: Vec<String>,
    #[serde(default)]
    pub products: Vec<String>,
    #[serde(default)]
    pub materials: Vec<MaterialIn>,
    #[serde(default)]
    pub notes: String,
    /// Follow-ups to add (on a correction, existing ones stay).
    #[serde(default)]
    pub follow_ups: Vec<FollowUpIn>,
    /// The congress or event where it happened.
    pub event_id: Option<Uuid>,
}

impl From<InteractionIn> for InteractionInput {
    fn from(b: InteractionIn) -> Self {
        InteractionInput {
            occurred_at: b.occurred_at,
            channel: b.channel,
            hcp_ids: b.hcp_ids,
            colleague_ids: b.colleague_ids,
            topics: b.topics,
            products: b.products,
            materials: materials(b.materials),
            notes: b.notes,
            follow_ups: b.follow_ups.into_iter().map(Into::into).collect(),
            event_id: b.event_id,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InsightDraftIn {
    /// unmet_need, treatment_practice, competitive, safety_perception, trial_design, access or other.
    pub category: String,
    #[serde(default)]
    pub product: String,
    #[serde(default)]
    pub therapeutic_area: String,
    #[serde(default)]
    pub tags: Vec<String>,
    pub text: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestIn {
    /// The healthcare professional who asked.
    pub hcp_id: Option<Uuid>,
    /// Required, and must be true: only unsolicited requests are answered by medical.
    pub unsolicited: Option<bool>,
    /// The question as asked, one line per question.
    pub questions: Vec<String>,
    #[serde(default)]
    pub products: Vec<String>,
    /// routine (default) or urgent.
    #[serde(default)]
    pub urgency: String,
    /// email, letter, phone or in_person.
    pub delivery_method: String,
    /// When the question reached the company; defaults to now.
    pub received_at: Option<DateTime<Utc>>,
    /// The MSL who answers; defaults to the caller.
    pub assigned_to: Option<Uuid>,
    /// The interaction where it was asked (ignored when logged with an interaction).
    pub interaction_id: Option<Uuid>,
}

impl From<RequestIn> for RequestInput {
    fn from(b: RequestIn) -> Self {
        RequestInput {
            hcp_id: b.hcp_id,
            unsolicited: b.unsolicited,
            questions: b.questions,
            products: b.products,
            urgency: b.urgency,
            delivery_method: b.delivery_method,
            received_at: b.received_at,
            assigned_to: b.assigned_to,
            interaction_id: b.interaction_id,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SafetyIn {
    /// adverse_event, product_complaint, special_situation, …
    pub kind: String,
    /// Ignored when logged with an interaction.
    pub interaction_id: Option<Uuid>,
    pub hcp_id: Option<Uuid>,
    #[serde(default)]
    pub product: String,
    pub description: String,
    /// A non-identifying description of the patient (age range, sex), never a name.
    #[serde(default)]
    pub patient: String,
    /// When the company first learned of it (day 0 of the forwarding clock): required, within
    /// the last year; when logged with an interaction, it defaults to the interaction's time.
    pub aware_at: Option<DateTime<Utc>>,
}

impl From<SafetyIn> for SafetyInput {
    fn from(b: SafetyIn) -> Self {
        SafetyInput {
            kind: b.kind,
            interaction_id: b.interaction_id,
            hcp_id: b.hcp_id,
            product: b.product,
            description: b.description,
            patient: b.patient,
            aware_at: b.aware_at,
        }
    }
}

/// An interaction as logged after a meeting, with what was heard in it.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InteractionLogIn {
    pub occurred_at: DateTime<Utc>,
    pub channel: String,
    pub hcp_ids: Vec<Uuid>,
    #[serde(default)]
    pub colleague_ids: Vec<Uuid>,
    #[serde(default)]
    pub topics: Vec<String>,
    #[serde(default)]
    pub products: Vec<String>,
    #[serde(default)]
    pub materials: Vec<MaterialIn>,
    #[serde(default)]
    pub notes: String,
    #[serde(default)]
    pub follow_ups: Vec<FollowUpIn>,
    pub event_id: Option<Uuid>,
    /// Insights heard in it.
    #[serde(default)]
    pub insights: Vec<InsightDraftIn>,
    /// A medical information request asked in it.
    pub request: Option<RequestIn>,
    /// Safety information reported in it.
    pub safety: Option<SafetyIn>,
}

#[derive(Serialize, ToSchema)]
pub struct LoggedOut {
    pub interaction: InteractionOut,
    pub insights: Vec<InsightOut>,
    pub request: Option<RequestOut>,
    pub safety: Option<SafetyOut>,
}

/// Logs an interaction with its follow-ups, the insights heard, a medical information request
/// and safety information, all in one transaction: either all is saved or nothing, and the
/// field errors of every part come together, named under their part (`request.questions`,
/// `insights[0].text`, `safety.description`).
#[utoipa::path(post, path = "/api/v1/medical/interactions", tag = "medical", request_body = InteractionLogIn,
    responses((status = 201, body = LoggedOut), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn log_interaction(
    State(state): State<AppState>,
    who: Authed,
    ApiJson(b): ApiJson<InteractionLogIn>,
) -> ApiResult<Response> {
    can_write(&who)?;
    let log = store_m::InteractionLog {
        interaction: InteractionInput {
            occurred_at: b.occurred_at,
            channel: b.channel,
            hcp_ids: b.hcp_ids,
            colleague_ids: b.colleague_ids,
            topics: b.topics,
            products: b.products,
            materials: materials(b.materials),
            notes: b.notes,
            follow_ups: b.follow_ups.into_iter().map(Into::into).collect(),
            event_id: b.event_id,
        },
        insights: b
            .insights
            .into_iter()
            .map(|d| store_m::InsightDraft {
                category: d.category,
                product: d.product,
                therapeutic_area: d.therapeutic_area,
                tags: d.tags,
                text: d.text,
            })
            .collect(),
        request: b.request.map(Into::into),
        safety: b.safety.map(Into::into),
    };
    let l = store_m::log_interaction(&state.store, &who.acting(), log).await?;
    Ok(created(LoggedOut {
        interaction: l.interaction.into(),
        insights: insights_out(l.insights),
        request: l.request.map(Into::into),
        safety: l.safety.map(Into::into),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct InteractionDetailOut {
    #[serde(flatten)]
    pub interaction: InteractionOut,
    /// Insights heard in it.
    pub insights: Vec<InsightOut>,
    /// Safety information reported in it.
    pub safety: Vec<SafetyOut>,
}

/// An interaction with its attendees, follow-ups, insights and safety intakes.
#[utoipa::path(get, path = "/api/v1/medical/interactions/{id}", tag = "medical", params(("id" = Uuid, Path)),
    responses((status = 200, body = InteractionDetailOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_interaction(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<InteractionDetailOut>> {
    can_read(&who)?;
    let interaction = store_m::interaction(&state.store, id).await?.into();
    let insights =
        store_m::insights(&state.store, &store_m::InsightFilter { interaction_id: Some(id), ..Default::default() })
            .await?;
    let safety = store_m::safety_for_interaction(&state.store, id).await?.into_iter().map(Into::into).collect();
    Ok(Json(InteractionDetailOut { interaction, insights: insights_out(insights), safety }))
}

/// Corrects an interaction; follow-ups in the body are added, existing ones stay.
#[utoipa::path(put, path = "/api/v1/medical/interactions/{id}", tag = "medical", params(("id" = Uuid, Path)), request_body = InteractionIn,
    responses((status = 200, body = InteractionOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_interaction(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<InteractionIn>,
) -> ApiResult<Json<InteractionOut>> {
    can_write(&who)?;
    Ok(Json(store_m::update_interaction(&state.store, &who.acting(), id, b.into()).await?.into()))
}

/// Adds a follow-up to an interaction; it becomes a task on the assignee's queue.
#[utoipa::path(post, path = "/api/v1/medical/interactions/{id}/follow-ups", tag = "medical", params(("id" = Uuid, Path)), request_body = FollowUpIn,
    responses((status = 201, body = FollowUpOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_follow_up(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<FollowUpIn>,
) -> ApiResult<Response> {
    can_write(&who)?;
    Ok(created(FollowUpOut::from(store_m::add_follow_up(&state.store, &who.acting(), id, b.into()).await?)))
}

/// Marks a follow-up done and closes its task.
#[utoipa::path(post, path = "/api/v1/medical/follow-ups/{id}/done", tag = "medical", params(("id" = Uuid, Path)),
    responses((status = 200, body = FollowUpOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn complete_follow_up(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<FollowUpOut>> {
    can_write(&who)?;
    Ok(Json(store_m::complete_follow_up(&state.store, &who.acting(), id).await?.into()))
}

// ---------------------------------------------------------------- insights

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InsightQuery {
    pub interaction_id: Option<Uuid>,
    pub event_id: Option<Uuid>,
    pub category: Option<String>,
    pub product: Option<String>,
    pub tag: Option<String>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// Insights from interactions this HCP took part in.
    pub hcp_id: Option<Uuid>,
    /// Free text in the insight.
    pub q: Option<String>,
    /// Defaults to 200, at most 2000.
    pub limit: Option<i64>,
}

/// Insights, most recently heard first.
#[utoipa::path(get, path = "/api/v1/medical/insights", tag = "medical", params(InsightQuery),
    responses((status = 200, body = [InsightOut]), (status = 403, body = ErrorBody)))]
pub async fn list_insights(
    State(state): State<AppState>,
    who: Authed,
    ApiQuery(q): ApiQuery<InsightQuery>,
) -> ApiResult<Json<Vec<InsightOut>>> {
    can_read(&who)?;
    let f = store_m::InsightFilter {
        interaction_id: q.interaction_id,
        event_id: q.event_id,
        category: q.category,
        product: q.product,
        tag: q.tag,
        from: q.from,
        to: q.to,
        hcp_id: q.hcp_id,
        text: q.q.unwrap_or_default(),
        limit: q.limit,
    };
    Ok(Json(insights_out(store_m::insights(&state.store, &f).await?)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InsightIn {
    /// Where it was heard: an interaction or an event (exactly one).
    pub interaction_id: Option<Uuid>,
    pub event_id: Option<Uuid>,
    pub category: String,
    #[serde(default)]
    pub product: String,
    #[serde(default)]
    pub therapeutic_area: String,
    #[serde(default)]
    pub tags: Vec<String>,
    pub text: String,
}

/// Records an insight heard in an interaction or at an event.
#[utoipa::path(post, path = "/api/v1/medical/insights", tag = "medical", request_body = InsightIn,
    responses((status = 201, body = InsightOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn record_insight(
    State(state): State<AppState>,
    who: Authed,
    ApiJson(b): ApiJson<InsightIn>,
) -> ApiResult<Response> {
    can_write(&who)?;
    let source = match (b.interaction_id, b.event_id) {
        (Some(i), None) => InsightSource::Interaction(i),
        (None, Some(e)) => InsightSource::Event(e),
        _ => {
            return Err(ApiError::field(
                "interaction_id",
                "give the interaction or the event where it was heard, not both",
            ));
        }
    };
    let input = InsightInput {
        source,
        category: b.category,
        product: b.product,
        therapeutic_area: b.therapeutic_area,
        tags: b.tags,
        text: b.text,
    };
    Ok(created(InsightOut::from(store_m::record_insight(&state.store, &who.acting(), input).await?)))
}

#[utoipa::path(get, path = "/api/v1/medical/insights/{id}", tag = "medical", params(("id" = Uuid, Path)),
    responses((status = 200, body = InsightOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_insight(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<InsightOut>> {
    can_read(&who)?;
    Ok(Json(store_m::insight(&state.store, id).await?.into()))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BoardParams {
    /// First day (defaults to a year before `to`).
    pub from: Option<NaiveDate>,
    /// Last day (defaults to today, UTC).
    pub to: Option<NaiveDate>,
    /// month (default) or quarter.
    pub granularity: Option<String>,
}

fn board_query(p: &BoardParams) -> ApiResult<BoardQuery> {
    let granularity = Granularity::parse(p.granularity.as_deref().unwrap_or(""))?;
    let to = p.to.unwrap_or_else(|| clinbridge_store::now().date_naive());
    let from = p.from.unwrap_or(to - Duration::days(365));
    Ok(BoardQuery { from, to, granularity })
}

/// One row of the insight board: a tag, category or product, its count per period (aligned
/// with the board's `periods`) and its total.
#[derive(Serialize, ToSchema)]
pub struct BoardRowOut {
    pub key: String,
    pub label: String,
    pub counts: Vec<i64>,
    pub total: i64,
}

impl From<store_m::BoardRow> for BoardRowOut {
    fn from(r: store_m::BoardRow) -> Self {
        BoardRowOut { key: r.key, label: r.label, counts: r.counts, total: r.total }
    }
}

#[derive(Serialize, ToSchema)]
pub struct InsightBoardOut {
    /// The months (`2026-05`) or quarters (`2026-Q2`) of the span, in order.
    pub periods: Vec<String>,
    /// Insights per period.
    pub totals: Vec<i64>,
    pub by_tag: Vec<BoardRowOut>,
    pub by_category: Vec<BoardRowOut>,
    /// Insights without a product are counted under the empty key.
    pub by_product: Vec<BoardRowOut>,
}

impl From<InsightBoard> for InsightBoardOut {
    fn from(b: InsightBoard) -> Self {
        let rows = |list: Vec<store_m::BoardRow>| list.into_iter().map(BoardRowOut::from).collect();
        InsightBoardOut {
            periods: b.periods,
            totals: b.totals,
            by_tag: rows(b.by_tag),
            by_category: rows(b.by_category),
            by_product: rows(b.by_product),
        }
    }
}

/// The insight board: insights heard in the span, counted per period by tag, by category and
/// by product.
#[utoipa::path(get, path = "/api/v1/medical/insight-board", tag = "medical", params(BoardParams),
    responses((status = 200, body = InsightBoardOut), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn insight_board(
    State(state): State<AppState>,
    who: Authed,
    ApiQuery(p): ApiQuery<BoardParams>,
) -> ApiResult<Json<InsightBoardOut>> {
    can_read(&who)?;
    Ok(Json(store_m::insight_board(&state.store, &board_query(&p)?).await?.into()))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CellParams {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub granularity: Option<String>,
    /// tag, category or product.
    pub dimension: Option<String>,
    /// The row's key (a tag, a category code or a product).
    pub key: Option<String>,
    /// A period of the board (`2026-03`, `2026-Q1`).
    pub period: Option<String>,
}

fn required<'a>(field: &str, v: &'a Option<String>) -> ApiResult<&'a str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty()).ok_or_else(|| ApiError::field(field, "is required"))
}

/// The insights behind one count of the board.
#[utoipa::path(get, path = "/api/v1/medical/insight-board/cell", tag = "medical", params(CellParams),
    responses((status = 200, body = [InsightOut]), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn insight_cell(
    State(state): State<AppState>,
    who: Authed,
    ApiQuery(p): ApiQuery<CellParams>,
) -> ApiResult<Json<Vec<InsightOut>>> {
    can_read(&who)?;
    let q = board_query(&BoardParams { from: p.from, to: p.to, granularity: p.granularity.clone() })?;
    let dimension = BoardDimension::parse(required("dimension", &p.dimension)?)?;
    let key = required("key", &p.key)?;
    let period = required("period", &p.period)?;
    Ok(Json(insights_out(store_m::insight_cell(&state.store, &q, dimension, key, period).await?)))
}

// ---------------------------------------------------------------- medical information requests

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RequestQuery {
    /// new, in_progress, answered or closed.
    pub status: Option<String>,
    pub hcp_id: Option<Uuid>,
    pub assigned_user_id: Option<Uuid>,
    /// Only open requests past their SLA.
    #[serde(default)]
    pub overdue: bool,
    pub limit: Option<i64>,
}

/// Medical information requests, newest first.
#[utoipa::path(get, path = "/api/v1/medical/requests", tag = "medical", params(RequestQuery),
    responses((status = 200, body = [RequestOut]), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_requests(
    State(state): State<AppState>,
    who: Authed,
    ApiQuery(q): ApiQuery<RequestQuery>,
) -> ApiResult<Json<Vec<RequestOut>>> {
    can_read(&who)?;
    let status = match q.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => Some(RequestStatus::parse(s)?.as_str().to_string()),
        None => None,
    };
    let f = store_m::RequestFilter {
        status,
        hcp_id: q.hcp_id,
        assigned_user_id: q.assigned_user_id,
        overdue: q.overdue,
        limit: q.limit,
    };
    Ok(Json(requests_out(store_m::requests(&state.store, &f).await?)))
}

/// Records an unsolicited medical information request; a solicited one is refused (422 on
/// `unsolicited`).
#[utoipa::path(post, path = "/api/v1/medical/requests", tag = "medical", request_body = RequestIn,
    responses((status = 201, body = RequestOut), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_request(
    State(state): State<AppState>,
    who: Authed,
    ApiJson(b): ApiJson<RequestIn>,
) -> ApiResult<Response> {
    can_write(&who)?;
    Ok(created(RequestOut::from(store_m::create_request(&state.store, &who.acting(), b.into()).await?)))
}

#[utoipa::path(get, path = "/api/v1/medical/requests/{id}", tag = "medical", params(("id" = Uuid, Path)),
    responses((status = 200, body = RequestOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_request(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<RequestOut>> {
    can_read(&who)?;
    Ok(Json(store_m::request(&state.store, id).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestEditIn {
    /// Fixed once the requester signed.
    pub questions: Option<Vec<String>>,
    /// Fixed once the requester signed.
    pub hcp_id: Option<Uuid>,
    /// Fixed once the requester signed.
    pub delivery_method: Option<String>,
    pub products: Option<Vec<String>>,
    pub urgency: Option<String>,
    pub assigned_to: Option<Uuid>,
}

/// Edits a request; only the fields given change.
#[utoipa::path(put, path = "/api/v1/medical/requests/{id}", tag = "medical", params(("id" = Uuid, Path)), request_body = RequestEditIn,
    responses((status = 200, body = RequestOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn edit_request(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<RequestEditIn>,
) -> ApiResult<Json<RequestOut>> {
    can_write(&who)?;
    let edit = store_m::RequestEdit {
        questions: b.questions,
        hcp_id: b.hcp_id,
        delivery_method: b.delivery_method,
        products: b.products,
        urgency: b.urgency,
        assigned_to: b.assigned_to,
    };
    Ok(Json(store_m::edit_request(&state.store, &who.acting(), id, edit).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignatureIn {
    /// The requester's name as they typed it.
    pub typed_name: String,
}

/// Records the requester's typed signature; from then on the questions, the requester and the
/// delivery method are fixed.
#[utoipa::path(post, path = "/api/v1/medical/requests/{id}/signature", tag = "medical", params(("id" = Uuid, Path)), request_body = SignatureIn,
    responses((status = 200, body = RequestOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn sign_request(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<SignatureIn>,
) -> ApiResult<Json<RequestOut>> {
    can_write(&who)?;
    Ok(Json(store_m::sign_request(&state.store, &who.acting(), id, &b.typed_name).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResponseIn {
    pub text: String,
    /// The documents sent (name and version).
    #[serde(default)]
    pub documents: Vec<MaterialIn>,
}

/// Writes or revises the response (until the request is closed).
#[utoipa::path(post, path = "/api/v1/medical/requests/{id}/response", tag = "medical", params(("id" = Uuid, Path)), request_body = ResponseIn,
    responses((status = 200, body = RequestOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn respond(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<ResponseIn>,
) -> ApiResult<Json<RequestOut>> {
    can_write(&who)?;
    let input = store_m::ResponseInput { text: b.text, documents: materials(b.documents) };
    Ok(Json(store_m::respond(&state.store, &who.acting(), id, input).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestStatusIn {
    /// in_progress, answered or closed (answered needs a response).
    pub status: String,
}

/// Moves a request along new → in progress → answered → closed.
#[utoipa::path(post, path = "/api/v1/medical/requests/{id}/status", tag = "medical", params(("id" = Uuid, Path)), request_body = RequestStatusIn,
    responses((status = 200, body = RequestOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn move_request(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<RequestStatusIn>,
) -> ApiResult<Json<RequestOut>> {
    can_write(&who)?;
    let to = RequestStatus::parse(&b.status)?;
    Ok(Json(store_m::move_request(&state.store, &who.acting(), id, to).await?.into()))
}

// ---------------------------------------------------------------- congresses and events

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// Only events ending on or after this day.
    pub from: Option<NaiveDate>,
}

/// Events, latest first.
#[utoipa::path(get, path = "/api/v1/medical/events", tag = "medical", params(EventQuery),
    responses((status = 200, body = [CongressOut]), (status = 403, body = ErrorBody)))]
pub async fn list_events(
    State(state): State<AppState>,
    who: Authed,
    ApiQuery(q): ApiQuery<EventQuery>,
) -> ApiResult<Json<Vec<CongressOut>>> {
    can_read(&who)?;
    Ok(Json(store_m::events(&state.store, q.from).await?.into_iter().map(Into::into).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventIn {
    pub name: String,
    pub starts_on: Option<NaiveDate>,
    pub ends_on: Option<NaiveDate>,
    pub place: String,
    #[serde(default)]
    pub notes: String,
    /// The medical team members attending.
    #[serde(default)]
    pub attendees: Vec<Uuid>,
}

fn event_input(b: EventIn) -> (EventInput, Vec<Uuid>) {
    (
        EventInput { name: b.name, starts_on: b.starts_on, ends_on: b.ends_on, place: b.place, notes: b.notes },
        b.attendees,
    )
}

#[utoipa::path(post, path = "/api/v1/medical/events", tag = "medical", request_body = EventIn,
    responses((status = 201, body = CongressOut), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_event(
    State(state): State<AppState>,
    who: Authed,
    ApiJson(b): ApiJson<EventIn>,
) -> ApiResult<Response> {
    can_write(&who)?;
    let (input, attendees) = event_input(b);
    Ok(created(CongressOut::from(store_m::create_event(&state.store, &who.acting(), input, attendees).await?)))
}

/// An event with its attendees and sessions.
#[utoipa::path(get, path = "/api/v1/medical/events/{id}", tag = "medical", params(("id" = Uuid, Path)),
    responses((status = 200, body = CongressOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_event(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<CongressOut>> {
    can_read(&who)?;
    Ok(Json(store_m::event(&state.store, id).await?.into()))
}

/// Corrects an event and its attendees; its sessions must still fall within its days.
#[utoipa::path(put, path = "/api/v1/medical/events/{id}", tag = "medical", params(("id" = Uuid, Path)), request_body = EventIn,
    responses((status = 200, body = CongressOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_event(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<EventIn>,
) -> ApiResult<Json<CongressOut>> {
    can_write(&who)?;
    let (input, attendees) = event_input(b);
    Ok(Json(store_m::update_event(&state.store, &who.acting(), id, input, attendees).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionIn {
    pub title: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    #[serde(default)]
    pub speakers: Vec<String>,
    #[serde(default)]
    pub room: String,
}

#[utoipa::path(post, path = "/api/v1/medical/events/{id}/sessions", tag = "medical", params(("id" = Uuid, Path)), request_body = SessionIn,
    responses((status = 201, body = SessionOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_session(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<SessionIn>,
) -> ApiResult<Response> {
    can_write(&who)?;
    let input =
        SessionInput { title: b.title, starts_at: b.starts_at, ends_at: b.ends_at, speakers: b.speakers, room: b.room };
    Ok(created(SessionOut::from(store_m::add_session(&state.store, &who.acting(), id, input).await?)))
}

#[utoipa::path(delete, path = "/api/v1/medical/sessions/{id}", tag = "medical", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove_session(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    can_write(&who)?;
    store_m::remove_session(&state.store, &who.acting(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- safety intake

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SafetyQuery {
    /// Only intakes not yet forwarded to pharmacovigilance.
    #[serde(default)]
    pub pending: bool,
}

/// Safety intakes, newest first.
#[utoipa::path(get, path = "/api/v1/medical/safety", tag = "medical", params(SafetyQuery),
    responses((status = 200, body = [SafetyOut]), (status = 403, body = ErrorBody)))]
pub async fn list_safety(
    State(state): State<AppState>,
    who: Authed,
    ApiQuery(q): ApiQuery<SafetyQuery>,
) -> ApiResult<Json<Vec<SafetyOut>>> {
    can_read(&who)?;
    Ok(Json(store_m::safety_intakes(&state.store, q.pending).await?.into_iter().map(Into::into).collect()))
}

/// Records safety information (an adverse event, a product complaint, …); the forwarding
/// clock starts at awareness.
#[utoipa::path(post, path = "/api/v1/medical/safety", tag = "medical", request_body = SafetyIn,
    responses((status = 201, body = SafetyOut), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn report_safety(
    State(state): State<AppState>,
    who: Authed,
    ApiJson(b): ApiJson<SafetyIn>,
) -> ApiResult<Response> {
    can_write(&who)?;
    Ok(created(SafetyOut::from(store_m::report_safety(&state.store, &who.acting(), b.into()).await?)))
}

#[utoipa::path(get, path = "/api/v1/medical/safety/{id}", tag = "medical", params(("id" = Uuid, Path)),
    responses((status = 200, body = SafetyOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_safety(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<SafetyOut>> {
    can_read(&who)?;
    Ok(Json(store_m::safety_intake(&state.store, id).await?.into()))
}

/// Corrects an intake not yet forwarded (a forwarded one is fixed: 409).
#[utoipa::path(put, path = "/api/v1/medical/safety/{id}", tag = "medical", params(("id" = Uuid, Path)), request_body = SafetyIn,
    responses((status = 200, body = SafetyOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_safety(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<SafetyIn>,
) -> ApiResult<Json<SafetyOut>> {
    can_write(&who)?;
    Ok(Json(store_m::update_safety(&state.store, &who.acting(), id, b.into()).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForwardIn {
    /// Who received it (the pharmacovigilance unit or mailbox).
    pub forwarded_to: String,
    /// Their case or receipt reference.
    pub reference: String,
    /// When it was sent; defaults to now.
    pub at: Option<DateTime<Utc>>,
}

/// Records that the intake went to pharmacovigilance; it is fixed from then on.
#[utoipa::path(post, path = "/api/v1/medical/safety/{id}/forward", tag = "medical", params(("id" = Uuid, Path)), request_body = ForwardIn,
    responses((status = 200, body = SafetyOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn forward_safety(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<ForwardIn>,
) -> ApiResult<Json<SafetyOut>> {
    can_write(&who)?;
    Ok(Json(
        store_m::forward_safety(&state.store, &who.acting(), id, &b.forwarded_to, &b.reference, b.at).await?.into(),
    ))
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SafetyClock {
    /// Hours from awareness to forwarding to pharmacovigilance (1 to 72).
    pub hours: i64,
}

/// The organization's safety forwarding clock.
#[utoipa::path(get, path = "/api/v1/medical/settings/safety-clock", tag = "medical",
    responses((status = 200, body = SafetyClock), (status = 403, body = ErrorBody)))]
pub async fn get_safety_clock(State(state): State<AppState>, who: Authed) -> ApiResult<Json<SafetyClock>> {
    who.require(MEDICAL_ADMIN, Target::ORG)?;
    Ok(Json(SafetyClock { hours: store_m::safety_clock_hours(&state.store).await? }))
}

/// Sets the forwarding clock; intakes already recorded keep the clock they started with.
#[utoipa::path(put, path = "/api/v1/medical/settings/safety-clock", tag = "medical", request_body = SafetyClock,
    responses((status = 200, body = SafetyClock), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_safety_clock(
    State(state): State<AppState>,
    who: Authed,
    ApiJson(b): ApiJson<SafetyClock>,
) -> ApiResult<Json<SafetyClock>> {
    who.require(MEDICAL_ADMIN, Target::ORG)?;
    Ok(Json(SafetyClock { hours: store_m::set_safety_clock_hours(&state.store, &who.acting(), b.hours).await? }))
}

// ---------------------------------------------------------------- dashboard

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DashboardQuery {
    /// Days back from now the activity figures cover (default 90, at most 730).
    pub days: Option<i64>,
    /// Only this MSL's interactions and requests (default: the whole team).
    pub user_id: Option<Uuid>,
}

#[derive(Serialize, ToSchema)]
pub struct SlaOut {
    pub received: i64,
    pub answered_on_time: i64,
    pub answered_late: i64,
    pub open_overdue: i64,
    pub open_on_track: i64,
    /// Answered on time among those answered, in percent (none when nothing was answered).
    pub on_time_percent: Option<f64>,
}

impl From<SlaCompliance> for SlaOut {
    fn from(s: SlaCompliance) -> Self {
        SlaOut {
            on_time_percent: s.on_time_percent(),
            received: s.received,
            answered_on_time: s.answered_on_time,
            answered_late: s.answered_late,
            open_overdue: s.open_overdue,
            open_on_track: s.open_on_track,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DashboardOut {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Interactions and HCPs met by KOL tier (tier null: no KOL profile).
    #[schema(value_type = Vec<Object>)]
    pub interactions_by_tier: Vec<TierActivity>,
    /// The most frequent insight tags.
    #[schema(value_type = Vec<Object>)]
    pub insight_themes: Vec<Theme>,
    /// SLA compliance of the requests received in the span.
    pub request_sla: SlaOut,
    /// Requests not yet answered or closed.
    pub open_requests: Vec<RequestOut>,
    /// Safety intakes waiting to be forwarded.
    pub pending_safety: Vec<SafetyOut>,
    /// The caller's open follow-ups, soonest due first.
    pub my_follow_ups: Vec<FollowUpOut>,
}

/// The field medical dashboard.
#[utoipa::path(get, path = "/api/v1/medical/dashboard", tag = "medical", params(DashboardQuery),
    responses((status = 200, body = DashboardOut), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn dashboard(
    State(state): State<AppState>,
    who: Authed,
    ApiQuery(q): ApiQuery<DashboardQuery>,
) -> ApiResult<Json<DashboardOut>> {
    can_read(&who)?;
    let days = q.days.unwrap_or(90);
    if !(1..=730).contains(&days) {
        return Err(ApiError::field("days", "must be between 1 and 730"));
    }
    let store = &state.store;
    let to = clinbridge_store::now();
    let from = to - Duration::days(days);
    let interactions_by_tier = store_m::interactions_by_tier(store, from, to, q.user_id).await?;
    let insight_themes = store_m::insight_themes(store, from.date_naive(), to.date_naive(), 10).await?;
    let request_sla = store_m::request_sla(store, from, to, q.user_id).await?.into();
    let mut open_requests = Vec::new();
    for status in [RequestStatus::New, RequestStatus::InProgress] {
        let f = store_m::RequestFilter {
            status: Some(status.as_str().to_string()),
            assigned_user_id: q.user_id,
            ..Default::default()
        };
        open_requests.extend(store_m::requests(store, &f).await?);
    }
    open_requests.sort_by_key(|r| r.sla_due_at);
    let pending_safety = store_m::safety_intakes(store, true).await?.into_iter().map(Into::into).collect();
    let me = who.user.id;
    let recent =
        store_m::interactions(store, &store_m::InteractionFilter { limit: Some(1000), ..Default::default() }).await?;
    let mut my_follow_ups: Vec<FollowUp> = recent
        .into_iter()
        .flat_map(|i| i.follow_ups)
        .filter(|f| f.assignee_user_id == me && f.done_at.is_none())
        .collect();
    my_follow_ups.sort_by_key(|f| f.due_at);
    Ok(Json(DashboardOut {
        from,
        to,
        interactions_by_tier,
        insight_themes,
        request_sla,
        open_requests: requests_out(open_requests),
        pending_safety,
        my_follow_ups: my_follow_ups.into_iter().map(Into::into).collect(),
    }))
}
