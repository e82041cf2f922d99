//! Device API, support side: tickets and their troubleshooting log, complaints with their
//! reporting clocks, in-service trainings with competency sign-offs, competency coverage,
//! product feedback and its board, and courses with enrollments. Access as in `device.rs`.

use super::device::{can_read, can_write, created, listed, today};
use super::{ApiJson, ApiPath, ApiQuery};
use crate::AppState;
use crate::auth::Authed;
use crate::error::{ApiResult, ErrorBody};
use crate::routes::Routes;
use axum::Json;
use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, NaiveDate, Utc};
use clinbridge_core::device::{
    AttendeeInput, ComplaintInput, CourseInput, FeedbackInput, ModuleInput, SignSide, TicketInput, TrainingInput,
};
use clinbridge_store::device::{
    self as dev, Attendee, BoardCell, Complaint, ComplaintHandling, CourseDetail, Coverage, Enrollment, Feedback,
    ReportStanding, Ticket, TicketDetail, TicketEntry, TicketFilter, Training, TrainingDetail,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

pub fn register(r: Routes) -> Routes {
    r.get("/api/v1/device/tickets", list_tickets)
        .post("/api/v1/device/tickets", open_ticket)
        .get("/api/v1/device/tickets/{id}", get_ticket)
        .post("/api/v1/device/tickets/{id}/log", log_ticket)
        .post("/api/v1/device/tickets/{id}/status", set_ticket_status)
        .post("/api/v1/device/tickets/{id}/complaint", escalate)
        .get("/api/v1/device/complaints", list_complaints)
        .get("/api/v1/device/complaints/{id}", get_complaint)
        .post("/api/v1/device/complaints/{id}/handling", record_handling)
        .post("/api/v1/device/complaints/{id}/reportability", decide_reportability)
        .post("/api/v1/device/complaints/{id}/reported", mark_reported)
        .post("/api/v1/device/complaints/{id}/close", close_complaint)
        .get("/api/v1/device/trainings", list_trainings)
        .post("/api/v1/device/trainings", record_training)
        .get("/api/v1/device/trainings/{id}", get_training)
        .post("/api/v1/device/trainings/{id}/attendees", add_attendee)
        .post("/api/v1/device/attendees/{id}/signoffs", sign)
        .get("/api/v1/device/coverage", coverage)
        .get("/api/v1/device/feedback", list_feedback)
        .post("/api/v1/device/feedback", submit_feedback)
        .get("/api/v1/device/feedback/board", board)
        .post("/api/v1/device/feedback/{id}/vote", vote)
        .post("/api/v1/device/feedback/{id}/status", set_feedback_status)
        .get("/api/v1/device/courses", list_courses)
        .post("/api/v1/device/courses", create_course)
        .get("/api/v1/device/courses/{id}", get_course)
        .post("/api/v1/device/courses/{id}/enrollments", enroll)
        .post("/api/v1/device/enrollments/{id}/modules/{module}", complete_module)
}

// ---------------------------------------------------------------- outputs

/// A support ticket about a product at an account.
#[derive(Serialize, ToSchema)]
pub struct TicketOut {
    pub id: Uuid,
    pub institution_id: Uuid,
    pub institution_name: String,
    pub product_id: Uuid,
    pub product_name: String,
    pub serial_or_lot: String,
    pub description: String,
    /// open, investigating, resolved or closed.
    pub status: String,
    pub resolution: String,
    pub opened_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
}

impl From<Ticket> for TicketOut {
    fn from(t: Ticket) -> Self {
        TicketOut {
            id: t.id,
            institution_id: t.institution_id,
            institution_name: t.institution_name,
            product_id: t.product_id,
            product_name: t.product_name,
            serial_or_lot: t.serial_or_lot,
            description: t.description,
            status: t.status,
            resolution: t.resolution,
            opened_by: t.opened_by,
            created_at: t.created_at,
            updated_at: t.updated_at,
            resolved_at: t.resolved_at,
            closed_at: t.closed_at,
        }
    }
}

/// How much of the curriculum an account's trained staff have signed off.
#[derive(Serialize, ToSchema)]
pub struct CoverageOut {
    pub institution_id: Uuid,
    pub institution_name: String,
    /// Attendee × competency pairs taught.
    pub taught: i64,
    /// Of those, signed by trainer and trainee.
    pub signed: i64,
    /// Attendees holding a certificate valid today.
    pub certified: i64,
}

impl From<Coverage> for CoverageOut {
    fn from(c: Coverage) -> Self {
        CoverageOut {
            institution_id: c.institution_id,
            institution_name: c.institution_name,
            taught: c.taught,
            signed: c.signed,
            certified: c.certified,
        }
    }
}

/// A piece of product feedback heard at an account, with its votes.
#[derive(Serialize, ToSchema)]
pub struct FeedbackOut {
    pub id: Uuid,
    pub institution_id: Uuid,
    pub institution_name: String,
    pub product_id: Uuid,
    pub product_name: String,
    /// usability, feature, reliability, labeling, packaging, training or other.
    pub category: String,
    pub text: String,
    /// new, under_review, planned, declined or shipped.
    pub status: String,
    pub votes: i64,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Feedback> for FeedbackOut {
    fn from(f: Feedback) -> Self {
        FeedbackOut {
            id: f.id,
            institution_id: f.institution_id,
            institution_name: f.institution_name,
            product_id: f.product_id,
            product_name: f.product_name,
            category: f.category,
            text: f.text,
            status: f.status,
            votes: f.votes,
            created_by: f.created_by,
            created_at: f.created_at,
            updated_at: f.updated_at,
        }
    }
}

/// One cell of the feedback board: a product and a category.
#[derive(Serialize, ToSchema)]
pub struct BoardCellOut {
    pub product_id: Uuid,
    pub product_name: String,
    pub category: String,
    pub items: i64,
    pub votes: i64,
    /// Items still open (new, under review or planned).
    pub open_items: i64,
}

impl From<BoardCell> for BoardCellOut {
    fn from(b: BoardCell) -> Self {
        BoardCellOut {
            product_id: b.product_id,
            product_name: b.product_name,
            category: b.category,
            items: b.items,
            votes: b.votes,
            open_items: b.open_items,
        }
    }
}

/// An entry of a ticket's troubleshooting log.
#[derive(Serialize, ToSchema)]
pub struct TicketEntryOut {
    pub id: Uuid,
    pub ticket_id: Uuid,
    pub author_user_id: Option<Uuid>,
    pub author_name: Option<String>,
    pub at: DateTime<Utc>,
    pub text: String,
}

impl From<TicketEntry> for TicketEntryOut {
    fn from(e: TicketEntry) -> Self {
        TicketEntryOut {
            id: e.id,
            ticket_id: e.ticket_id,
            author_user_id: e.author_user_id,
            author_name: e.author_name,
            at: e.at,
            text: e.text,
        }
    }
}

/// An in-service training at an account on a product.
#[derive(Serialize, ToSchema)]
pub struct TrainingOut {
    pub id: Uuid,
    pub institution_id: Uuid,
    pub institution_name: String,
    pub department: String,
    pub product_id: Uuid,
    pub product_name: String,
    pub competencies: Vec<String>,
    pub held_on: NaiveDate,
    pub trainer_user_id: Uuid,
    pub trainer_name: String,
    /// How long the certificates it gives last.
    pub validity_months: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Training> for TrainingOut {
    fn from(t: Training) -> Self {
        TrainingOut {
            id: t.id,
            institution_id: t.institution_id,
            institution_name: t.institution_name,
            department: t.department,
            product_id: t.product_id,
            product_name: t.product_name,
            competencies: t.competencies.0,
            held_on: t.held_on,
            trainer_user_id: t.trainer_user_id,
            trainer_name: t.trainer_name,
            validity_months: t.validity_months,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// A member of staff who attended an in-service, and their certificate once every competency
/// is signed by both sides.
#[derive(Serialize, ToSchema)]
pub struct TrainingAttendeeOut {
    pub id: Uuid,
    pub training_id: Uuid,
    pub name: String,
    pub role: String,
    pub email: String,
    pub certificate_expires_on: Option<NaiveDate>,
}

impl From<Attendee> for TrainingAttendeeOut {
    fn from(a: Attendee) -> Self {
        TrainingAttendeeOut {
            id: a.id,
            training_id: a.training_id,
            name: a.name,
            role: a.role,
            email: a.email,
            certificate_expires_on: a.certificate_expires_on,
        }
    }
}

/// A learner enrolled in a course, with their progress and the credits earned.
#[derive(Serialize, ToSchema)]
pub struct CourseEnrollmentOut {
    pub id: Uuid,
    pub course_id: Uuid,
    pub institution_id: Uuid,
    pub institution_name: String,
    pub name: String,
    pub role: String,
    pub email: String,
    pub enrolled_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub modules_done: i64,
    pub modules_total: i64,
    /// The course's credits once complete, 0 before.
    pub credits_earned: f64,
}

impl From<Enrollment> for CourseEnrollmentOut {
    fn from(e: Enrollment) -> Self {
        CourseEnrollmentOut {
            id: e.id,
            course_id: e.course_id,
            institution_id: e.institution_id,
            institution_name: e.institution_name,
            name: e.name,
            role: e.role,
            email: e.email,
            enrolled_at: e.enrolled_at,
            completed_at: e.completed_at,
            modules_done: e.modules_done,
            modules_total: e.modules_total,
            credits_earned: e.credits_earned,
        }
    }
}

/// A course with its continuing-education credits.
#[derive(Serialize, ToSchema)]
pub struct CourseOut {
    pub id: Uuid,
    pub title: String,
    pub description: String,
    pub product_id: Option<Uuid>,
    pub credits: f64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<dev::Course> for CourseOut {
    fn from(c: dev::Course) -> Self {
        CourseOut {
            id: c.id,
            title: c.title,
            description: c.description,
            product_id: c.product_id,
            credits: c.credits,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

// ---------------------------------------------------------------- tickets

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TicketQuery {
    pub institution: Option<Uuid>,
    pub product: Option<Uuid>,
    /// open, investigating, resolved or closed.
    pub status: Option<String>,
    /// Leave out closed tickets.
    #[serde(default)]
    pub open_only: bool,
}

#[utoipa::path(get, path = "/api/v1/device/tickets", tag = "device", params(TicketQuery),
    responses((status = 200, body = [TicketOut]), (status = 403, body = ErrorBody)))]
pub async fn list_tickets(
    State(state): State<AppState>,
    who: Authed,
    ApiQuery(q): ApiQuery<TicketQuery>,
) -> ApiResult<Json<Vec<TicketOut>>> {
    can_read(&who)?;
    let f = TicketFilter {
        institution_id: q.institution,
        product_id: q.product,
        status: q.status.filter(|s| !s.trim().is_empty()),
        open_only: q.open_only,
    };
    Ok(Json(listed(dev::tickets(&state.store, &who.actor, &f).await?)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketIn {
    pub institution_id: Uuid,
    pub product_id: Uuid,
    #[serde(default)]
    pub serial_or_lot: String,
    pub description: String,
}

#[utoipa::path(post, path = "/api/v1/device/tickets", tag = "device", request_body = TicketIn,
    responses((status = 201, body = TicketOut), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn open_ticket(
    State(state): State<AppState>,
    who: Authed,
    ApiJson(b): ApiJson<TicketIn>,
) -> ApiResult<Response> {
    can_write(&who)?;
    let input = TicketInput {
        institution_id: b.institution_id,
        product_id: b.product_id,
        serial_or_lot: b.serial_or_lot,
        description: b.description,
    };
    Ok(created(TicketOut::from(dev::open_ticket(&state.store, &who.acting(), input).await?)))
}

/// A ticket with its troubleshooting log and, once escalated, its complaint.
#[utoipa::path(get, path = "/api/v1/device/tickets/{id}", tag = "device", params(("id" = Uuid, Path)),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_ticket(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<TicketDetail>> {
    can_read(&who)?;
    Ok(Json(dev::ticket(&state.store, &who.actor, id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogIn {
    pub text: String,
}

#[utoipa::path(post, path = "/api/v1/device/tickets/{id}/log", tag = "device", params(("id" = Uuid, Path)), request_body = LogIn,
    responses((status = 201, body = TicketEntryOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn log_ticket(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<LogIn>,
) -> ApiResult<Response> {
    can_write(&who)?;
    let e: TicketEntry = dev::log_troubleshooting(&state.store, &who.acting(), id, &b.text).await?;
    Ok(created(TicketEntryOut::from(e)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketStatusIn {
    pub status: String,
    #[serde(default)]
    pub resolution: String,
}

#[utoipa::path(post, path = "/api/v1/device/tickets/{id}/status", tag = "device", params(("id" = Uuid, Path)), request_body = TicketStatusIn,
    responses((status = 200, body = TicketOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_ticket_status(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<TicketStatusIn>,
) -> ApiResult<Json<TicketOut>> {
    can_write(&who)?;
    Ok(Json(dev::set_ticket_status(&state.store, &who.acting(), id, &b.status, &b.resolution).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComplaintIn {
    pub device_name: String,
    #[serde(default)]
    pub udi: String,
    /// When the complaint reached the company.
    pub received_on: Option<NaiveDate>,
    /// When the company became aware of a possibly reportable event (day 0 of the clock).
    pub aware_on: Option<NaiveDate>,
    #[serde(default)]
    pub complainant_name: String,
    #[serde(default)]
    pub complainant_contact: String,
    pub nature: String,
    #[serde(default)]
    pub details: String,
}

/// Escalates a ticket to a complaint.
#[utoipa::path(post, path = "/api/v1/device/tickets/{id}/complaint", tag = "device", params(("id" = Uuid, Path)), request_body = ComplaintIn,
    responses((status = 201, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn escalate(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<ComplaintIn>,
) -> ApiResult<Response> {
    can_write(&who)?;
    let input = ComplaintInput {
        device_name: b.device_name,
        udi: b.udi,
        received_on: b.received_on,
        aware_on: b.aware_on,
        complainant_name: b.complainant_name,
        complainant_contact: b.complainant_contact,
        nature: b.nature,
        details: b.details,
    };
    Ok(created(dev::escalate_to_complaint(&state.store, &who.acting(), id, input).await?))
}

// ---------------------------------------------------------------- complaints

/// How a complaint stands against its reporting clock today.
#[derive(Serialize, ToSchema)]
pub struct StandingOut {
    pub due_on: NaiveDate,
    /// 0 on the due day, negative once past it.
    pub days_remaining: i64,
    pub overdue: bool,
    pub reported: bool,
}

/// A complaint (ISO 13485 8.2.2, 21 CFR 820.198) with its reporting clock as it stands today.
#[derive(Serialize, ToSchema)]
pub struct ComplaintOut {
    pub id: Uuid,
    pub ticket_id: Uuid,
    pub device_name: String,
    pub udi: String,
    pub received_on: NaiveDate,
    /// Day 0 of the reporting clock.
    pub aware_on: NaiveDate,
    pub complainant_name: String,
    pub complainant_contact: String,
    pub nature: String,
    pub details: String,
    pub investigation: String,
    pub no_investigation_reason: String,
    pub corrective_action: String,
    pub reply: String,
    /// death, serious_injury, malfunction or not_reportable; null until decided.
    pub reportability: Option<String>,
    pub remedial_action: bool,
    pub rationale: String,
    pub report_clock: Option<String>,
    pub report_due_on: Option<NaiveDate>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decided_by: Option<Uuid>,
    pub reported_on: Option<NaiveDate>,
    pub status: String,
    pub closed_at: Option<DateTime<Utc>>,
    pub closed_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Days until the report is due (negative once late); null before reportability is decided.
    pub days_remaining: Option<i64>,
    pub overdue: bool,
    pub standing: Option<StandingOut>,
}

fn complaint_row(c: Complaint, standing: Option<ReportStanding>) -> ComplaintOut {
    ComplaintOut {
        days_remaining: standing.map(|s| s.days_remaining),
        overdue: standing.is_some_and(|s| s.overdue),
        standing: standing.map(|s| StandingOut {
            due_on: s.due_on,
            days_remaining: s.days_remaining,
            overdue: s.overdue,
            reported: s.reported,
        }),
        id: c.id,
        ticket_id: c.ticket_id,
        device_name: c.device_name,
        udi: c.udi,
        received_on: c.received_on,
        aware_on: c.aware_on,
        complainant_name: c.complainant_name,
        complainant_contact: c.complainant_contact,
        nature: c.nature,
        details: c.details,
        investigation: c.investigation,
        no_investigation_reason: c.no_investigation_reason,
        corrective_action: c.corrective_action,
        reply: c.reply,
        reportability: c.reportability,
        remedial_action: c.remedial_action,
        rationale: c.rationale,
        report_clock: c.report_clock,
        report_due_on: c.report_due_on,
        decided_at: c.decided_at,
        decided_by: c.decided_by,
        reported_on: c.reported_on,
        status: c.status,
        closed_at: c.closed_at,
        closed_by: c.closed_by,
        created_at: c.created_at,
        updated_at: c.updated_at,
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ComplaintQuery {
    /// Leave out closed complaints.
    #[serde(default)]
    pub open_only: bool,
}

/// Complaints, soonest report due first, with days remaining and whether overdue.
#[utoipa::path(get, path = "/api/v1/device/complaints", tag = "device", params(ComplaintQuery),
    responses((status = 200, body = [ComplaintOut]), (status = 403, body = ErrorBody)))]
pub async fn list_complaints(
    State(state): State<AppState>,
    who: Authed,
    ApiQuery(q): ApiQuery<ComplaintQuery>,
) -> ApiResult<Json<Vec<ComplaintOut>>> {
    can_read(&who)?;
    let rows = dev::complaint_deadlines(&state.store, &who.actor, today(&who), q.open_only).await?;
    Ok(Json(rows.into_iter().map(|d| complaint_row(d.complaint, d.standing)).collect()))
}

#[utoipa::path(get, path = "/api/v1/device/complaints/{id}", tag = "device", params(("id" = Uuid, Path)),
    responses((status = 200, body = ComplaintOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_complaint(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<ComplaintOut>> {
    can_read(&who)?;
    let c = dev::complaint(&state.store, &who.actor, id).await?;
    let s = c.standing(today(&who));
    Ok(Json(complaint_row(c, s)))
}

fn row_now(who: &Authed, c: Complaint) -> Json<ComplaintOut> {
    let s = c.standing(today(who));
    Json(complaint_row(c, s))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandlingIn {
    pub investigation: Option<String>,
    pub no_investigation_reason: Option<String>,
    pub corrective_action: Option<String>,
    pub reply: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/device/complaints/{id}/handling", tag = "device", params(("id" = Uuid, Path)), request_body = HandlingIn,
    responses((status = 200, body = ComplaintOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn record_handling(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<HandlingIn>,
) -> ApiResult<Json<ComplaintOut>> {
    can_write(&who)?;
    let h = ComplaintHandling {
        investigation: b.investigation,
        no_investigation_reason: b.no_investigation_reason,
        corrective_action: b.corrective_action,
        reply: b.reply,
    };
    let c = dev::record_handling(&state.store, &who.acting(), id, h).await?;
    Ok(row_now(&who, c))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportabilityIn {
    /// death, serious_injury or malfunction (reportable: the clock starts), or not_reportable.
    pub reportability: String,
    /// Whether remedial action is needed to prevent an unreasonable risk (the 5-work-day clock).
    #[serde(default)]
    pub remedial_action: bool,
    /// Required when not reportable.
    #[serde(default)]
    pub rationale: String,
}

#[utoipa::path(post, path = "/api/v1/device/complaints/{id}/reportability", tag = "device", params(("id" = Uuid, Path)), request_body = ReportabilityIn,
    responses((status = 200, body = ComplaintOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn decide_reportability(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<ReportabilityIn>,
) -> ApiResult<Json<ComplaintOut>> {
    can_write(&who)?;
    let c =
        dev::decide_reportability(&state.store, &who.acting(), id, &b.reportability, b.remedial_action, &b.rationale)
            .await?;
    Ok(row_now(&who, c))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportedIn {
    pub reported_on: NaiveDate,
}

#[utoipa::path(post, path = "/api/v1/device/complaints/{id}/reported", tag = "device", params(("id" = Uuid, Path)), request_body = ReportedIn,
    responses((status = 200, body = ComplaintOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn mark_reported(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<ReportedIn>,
) -> ApiResult<Json<ComplaintOut>> {
    can_write(&who)?;
    let c = dev::mark_reported(&state.store, &who.acting(), id, b.reported_on).await?;
    Ok(row_now(&who, c))
}

#[utoipa::path(post, path = "/api/v1/device/complaints/{id}/close", tag = "device", params(("id" = Uuid, Path)),
    responses((status = 200, body = ComplaintOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn close_complaint(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<ComplaintOut>> {
    can_write(&who)?;
    let c = dev::close_complaint(&state.store, &who.acting(), id).await?;
    Ok(row_now(&who, c))
}

// ---------------------------------------------------------------- trainings

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InstitutionQuery {
    pub institution: Option<Uuid>,
}

#[utoipa::path(get, path = "/api/v1/device/trainings", tag = "device", params(InstitutionQuery),
    responses((status = 200, body = [TrainingOut]), (status = 403, body = ErrorBody)))]
pub async fn list_trainings(
    State(state): State<AppState>,
    who: Authed,
    ApiQuery(q): ApiQuery<InstitutionQuery>,
) -> ApiResult<Json<Vec<TrainingOut>>> {
    can_read(&who)?;
    Ok(Json(listed(dev::trainings(&state.store, &who.actor, q.institution).await?)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttendeeIn {
    pub name: String,
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub email: String,
}

impl From<AttendeeIn> for AttendeeInput {
    fn from(a: AttendeeIn) -> Self {
        AttendeeInput { name: a.name, role: a.role, email: a.email }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainingIn {
    pub institution_id: Uuid,
    #[serde(default)]
    pub department: String,
    pub product_id: Uuid,
    pub competencies: Vec<String>,
    pub held_on: Option<NaiveDate>,
    /// Defaults to the caller.
    pub trainer_user_id: Option<Uuid>,
    #[serde(default)]
    pub attendees: Vec<AttendeeIn>,
    /// Overrides the product's certificate validity, in months.
    pub validity_months: Option<i64>,
}

#[utoipa::path(post, path = "/api/v1/device/trainings", tag = "device", request_body = TrainingIn,
    responses((status = 201, body = Object), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn record_training(
    State(state): State<AppState>,
    who: Authed,
    ApiJson(b): ApiJson<TrainingIn>,
) -> ApiResult<Response> {
    can_write(&who)?;
    let input = TrainingInput {
        institution_id: b.institution_id,
        department: b.department,
        product_id: b.product_id,
        competencies: b.competencies,
        held_on: b.held_on,
        trainer_user_id: b.trainer_user_id,
        attendees: b.attendees.into_iter().map(Into::into).collect(),
        validity_months: b.validity_months,
    };
    Ok(created(dev::record_training(&state.store, &who.acting(), input).await?))
}

#[utoipa::path(get, path = "/api/v1/device/trainings/{id}", tag = "device", params(("id" = Uuid, Path)),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_training(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<TrainingDetail>> {
    can_read(&who)?;
    Ok(Json(dev::training(&state.store, &who.actor, id).await?))
}

#[utoipa::path(post, path = "/api/v1/device/trainings/{id}/attendees", tag = "device", params(("id" = Uuid, Path)), request_body = AttendeeIn,
    responses((status = 201, body = TrainingAttendeeOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_attendee(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<AttendeeIn>,
) -> ApiResult<Response> {
    can_write(&who)?;
    let a: Attendee = dev::add_attendee(&state.store, &who.acting(), id, b.into()).await?;
    Ok(created(TrainingAttendeeOut::from(a)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignOffIn {
    pub competency: String,
    /// trainer or trainee.
    #[schema(value_type = String)]
    pub side: SignSide,
    /// The signer's name, typed as a signature.
    pub signed_name: String,
}

/// Signs one competency for an attendee, as trainer or trainee; once every competency is
/// signed by both the attendee's certificate gets its expiry.
#[utoipa::path(post, path = "/api/v1/device/attendees/{id}/signoffs", tag = "device", params(("id" = Uuid, Path)), request_body = SignOffIn,
    responses((status = 200, body = TrainingAttendeeOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn sign(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<SignOffIn>,
) -> ApiResult<Json<TrainingAttendeeOut>> {
    can_write(&who)?;
    Ok(Json(dev::sign_competency(&state.store, &who.acting(), id, &b.competency, b.side, &b.signed_name).await?.into()))
}

/// Competency coverage per account: staff taught, signed off and holding a live certificate.
#[utoipa::path(get, path = "/api/v1/device/coverage", tag = "device",
    responses((status = 200, body = [CoverageOut]), (status = 403, body = ErrorBody)))]
pub async fn coverage(State(state): State<AppState>, who: Authed) -> ApiResult<Json<Vec<CoverageOut>>> {
    can_read(&who)?;
    Ok(Json(listed(dev::competency_coverage(&state.store, &who.actor, today(&who)).await?)))
}

// ---------------------------------------------------------------- feedback

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProductQuery {
    pub product: Option<Uuid>,
}

#[utoipa::path(get, path = "/api/v1/device/feedback", tag = "device", params(ProductQuery),
    responses((status = 200, body = [FeedbackOut]), (status = 403, body = ErrorBody)))]
pub async fn list_feedback(
    State(state): State<AppState>,
    who: Authed,
    ApiQuery(q): ApiQuery<ProductQuery>,
) -> ApiResult<Json<Vec<FeedbackOut>>> {
    can_read(&who)?;
    Ok(Json(listed(dev::feedback(&state.store, &who.actor, q.product).await?)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackIn {
    pub institution_id: Uuid,
    pub product_id: Uuid,
    pub category: String,
    pub text: String,
}

#[utoipa::path(post, path = "/api/v1/device/feedback", tag = "device", request_body = FeedbackIn,
    responses((status = 201, body = FeedbackOut), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn submit_feedback(
    State(state): State<AppState>,
    who: Authed,
    ApiJson(b): ApiJson<FeedbackIn>,
) -> ApiResult<Response> {
    can_write(&who)?;
    let input = FeedbackInput {
        institution_id: b.institution_id,
        product_id: b.product_id,
        category: b.category,
        text: b.text,
    };
    Ok(created(FeedbackOut::from(dev::submit_feedback(&state.store, &who.acting(), input).await?)))
}

/// Adds the caller's vote (once per user; a second vote changes nothing).
#[utoipa::path(post, path = "/api/v1/device/feedback/{id}/vote", tag = "device", params(("id" = Uuid, Path)),
    responses((status = 200, body = FeedbackOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn vote(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<FeedbackOut>> {
    can_write(&who)?;
    Ok(Json(dev::vote(&state.store, &who.acting(), id).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackStatusIn {
    pub status: String,
}

#[utoipa::path(post, path = "/api/v1/device/feedback/{id}/status", tag = "device", params(("id" = Uuid, Path)), request_body = FeedbackStatusIn,
    responses((status = 200, body = FeedbackOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_feedback_status(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<FeedbackStatusIn>,
) -> ApiResult<Json<FeedbackOut>> {
    can_write(&who)?;
    Ok(Json(dev::set_feedback_status(&state.store, &who.acting(), id, &b.status).await?.into()))
}

/// Feedback counted by product and category.
#[utoipa::path(get, path = "/api/v1/device/feedback/board", tag = "device",
    responses((status = 200, body = [BoardCellOut]), (status = 403, body = ErrorBody)))]
pub async fn board(State(state): State<AppState>, who: Authed) -> ApiResult<Json<Vec<BoardCellOut>>> {
    can_read(&who)?;
    Ok(Json(listed(dev::feedback_board(&state.store, &who.actor).await?)))
}

// ---------------------------------------------------------------- courses

#[utoipa::path(get, path = "/api/v1/device/courses", tag = "device",
    responses((status = 200, body = [CourseOut]), (status = 403, body = ErrorBody)))]
pub async fn list_courses(State(state): State<AppState>, who: Authed) -> ApiResult<Json<Vec<CourseOut>>> {
    can_read(&who)?;
    Ok(Json(listed(dev::courses(&state.store, &who.actor).await?)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModuleIn {
    pub title: String,
    pub minutes: i64,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CourseIn {
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub product_id: Option<Uuid>,
    /// Continuing-education credits a completed course earns.
    #[serde(default)]
    pub credits: f64,
    pub modules: Vec<ModuleIn>,
}

#[utoipa::path(post, path = "/api/v1/device/courses", tag = "device", request_body = CourseIn,
    responses((status = 201, body = Object), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_course(
    State(state): State<AppState>,
    who: Authed,
    ApiJson(b): ApiJson<CourseIn>,
) -> ApiResult<Response> {
    can_write(&who)?;
    let input = CourseInput {
        title: b.title,
        description: b.description,
        product_id: b.product_id,
        credits: b.credits,
        modules: b.modules.into_iter().map(|m| ModuleInput { title: m.title, minutes: m.minutes }).collect(),
    };
    Ok(created(dev::create_course(&state.store, &who.acting(), input).await?))
}

#[utoipa::path(get, path = "/api/v1/device/courses/{id}", tag = "device", params(("id" = Uuid, Path)),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_course(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<CourseDetail>> {
    can_read(&who)?;
    Ok(Json(dev::course(&state.store, &who.actor, id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollIn {
    pub institution_id: Uuid,
    pub name: String,
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub email: String,
}

#[utoipa::path(post, path = "/api/v1/device/courses/{id}/enrollments", tag = "device", params(("id" = Uuid, Path)), request_body = EnrollIn,
    responses((status = 201, body = CourseEnrollmentOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn enroll(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<EnrollIn>,
) -> ApiResult<Response> {
    can_write(&who)?;
    let person = AttendeeInput { name: b.name, role: b.role, email: b.email };
    let e: Enrollment = dev::enroll(&state.store, &who.acting(), id, b.institution_id, person).await?;
    Ok(created(CourseEnrollmentOut::from(e)))
}

/// Marks one module of an enrollment done.
#[utoipa::path(post, path = "/api/v1/device/enrollments/{id}/modules/{module}", tag = "device",
    params(("id" = Uuid, Path), ("module" = Uuid, Path)),
    responses((status = 200, body = CourseEnrollmentOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn complete_module(
    State(state): State<AppState>,
    who: Authed,
    ApiPath((id, module)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<CourseEnrollmentOut>> {
    can_write(&who)?;
    Ok(Json(dev::complete_module(&state.store, &who.acting(), id, module).await?.into()))
}
