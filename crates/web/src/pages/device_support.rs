//! Device support pages: support tickets with their troubleshooting log, escalation to a
//! complaint (the ISO 13485 / 21 CFR 820.198 record) with the reportability decision and its
//! reporting clock, in-service trainings with competency sign-offs, product feedback and its
//! board, and courses with continuing-education credits.

use super::device::{
    Choices, ComplaintRow, Tab, accounts, complaint_row, product_choices, reader, tabs, today, uuid_field, writer,
};
use super::medical::{excerpt, humanize};
use super::{Chrome, PageError, PageResult, chrome, form_errors, render, see_other};
use crate::AppState;
use crate::auth::Authed;
use crate::error::ApiError;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use clinbridge_core::device::{
    AttendeeInput, ComplaintInput, CourseInput, FeedbackCategory, FeedbackInput, FeedbackStatus, ModuleInput,
    Reportability, SignSide, TicketInput, TicketStatus, TrainingInput,
};
use clinbridge_core::policy::Target;
use clinbridge_store::device::{self as dev, ComplaintHandling, TicketFilter};
use serde::Deserialize;
use uuid::Uuid;

pub fn register(r: crate::routes::Routes) -> crate::routes::Routes {
    r.get("/device/tickets", tickets)
        .post("/device/tickets", open_ticket)
        .get("/device/tickets/{id}", ticket)
        .post("/device/tickets/{id}/log", log_entry)
        .post("/device/tickets/{id}/status", ticket_status)
        .post("/device/tickets/{id}/complaint", escalate)
        .get("/device/complaints", complaints)
        .post("/device/complaints/{id}/handling", handling)
        .post("/device/complaints/{id}/reportability", reportability)
        .post("/device/complaints/{id}/reported", reported)
        .post("/device/complaints/{id}/close", close)
        .get("/device/trainings", trainings)
        .post("/device/trainings", record_training)
        .get("/device/trainings/{id}", training)
        .post("/device/trainings/{id}/attendees", add_attendee)
        .post("/device/attendees/{id}/signoffs", sign)
        .get("/device/feedback", feedback)
        .post("/device/feedback", submit_feedback)
        .post("/device/feedback/{id}/vote", vote)
        .post("/device/feedback/{id}/status", feedback_status)
        .get("/device/courses", courses)
        .post("/device/courses", create_course)
        .get("/device/courses/{id}", course)
        .post("/device/courses/{id}/enrollments", enroll)
        .post("/device/enrollments/{id}/modules/{module}", complete_module)
}

fn date_field(field: &str, raw: &str) -> Result<Option<chrono::NaiveDate>, ApiError> {
    super::form_date(field, raw).map_err(|e| ApiError::Invalid(vec![e]))
}

/// Answers a form: to `to` when it worked, else the page again with the errors (422).
async fn answer<T, F, Fut>(r: Result<T, ApiError>, to: impl FnOnce(&T) -> String, page: F) -> PageResult
where
    F: FnOnce(Vec<(String, String)>) -> Fut,
    Fut: std::future::Future<Output = PageResult>,
{
    match r {
        Ok(v) => Ok(see_other(&to(&v))),
        Err(e) => {
            let errors = form_errors(e)?;
            let res = page(errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, res).into_response())
        }
    }
}

// ---------------------------------------------------------------- tickets

pub struct TicketRow {
    id: Uuid,
    account: String,
    product: String,
    serial: String,
    description: String,
    status: String,
    opened: String,
}

#[derive(Deserialize, Default, Clone)]
pub struct TicketForm {
    #[serde(default)]
    institution_id: String,
    #[serde(default)]
    product_id: String,
    #[serde(default)]
    serial_or_lot: String,
    #[serde(default)]
    description: String,
}

#[derive(Deserialize, Default)]
struct TicketsQuery {
    #[serde(default)]
    all: Option<String>,
    /// Opens the form for a new one.
    #[serde(default)]
    new: Option<String>,
}

#[derive(Template)]
#[template(path = "device_tickets.html")]
struct TicketsPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    all: bool,
    open_form: bool,
    rows: Vec<TicketRow>,
    can_write: bool,
    accounts: Choices,
    products: Choices,
    form: TicketForm,
    errors: Vec<(String, String)>,
}

async fn tickets_view(
    state: &AppState,
    who: &Authed,
    all: bool,
    form: TicketForm,
    errors: Vec<(String, String)>,
) -> Result<TicketsPage, PageError> {
    reader(who)?;
    let tz = who.tz();
    let rows = dev::tickets(&state.store, &who.actor, &TicketFilter { open_only: !all, ..Default::default() })
        .await?
        .into_iter()
        .map(|t| TicketRow {
            id: t.id,
            account: t.institution_name,
            product: t.product_name,
            serial: t.serial_or_lot,
            description: excerpt(&t.description, 100),
            status: TicketStatus::parse(&t.status).map(|s| s.label().to_string()).unwrap_or_default(),
            opened: super::local(t.created_at, tz),
        })
        .collect();
    Ok(TicketsPage {
        chrome: chrome(state, who, "/device").await,
        tabs: tabs("/device/tickets"),
        all,
        open_form: !errors.is_empty(),
        rows,
        can_write: who.can(super::device::WRITE, Target::ORG),
        accounts: accounts(state).await?,
        products: product_choices(state, who).await?,
        form,
        errors,
    })
}

async fn tickets(State(state): State<AppState>, who: Authed, Query(q): Query<TicketsQuery>) -> PageResult {
    let all = q.all.is_some_and(|a| !a.is_empty());
    let mut page = tickets_view(&state, &who, all, TicketForm::default(), Vec::new()).await?;
    page.open_form = q.new.is_some();
    Ok(render(&page))
}

async fn open_ticket(State(state): State<AppState>, who: Authed, Form(f): Form<TicketForm>) -> PageResult {
    writer(&who)?;
    let r = async {
        let input = TicketInput {
            institution_id: uuid_field("institution_id", &f.institution_id)?,
            product_id: uuid_field("product_id", &f.product_id)?,
            serial_or_lot: f.serial_or_lot.clone(),
            description: f.description.clone(),
        };
        dev::open_ticket(&state.store, &who.acting(), input).await.map_err(ApiError::from)
    }
    .await;
    answer(
        r,
        |t| format!("/device/tickets/{}", t.id),
        |errors| async { Ok(render(&tickets_view(&state, &who, false, f, errors).await?)) },
    )
    .await
}

pub struct ComplaintView {
    id: Uuid,
    device: String,
    udi: String,
    received: String,
    aware: String,
    complainant: String,
    nature: String,
    details: String,
    investigation: String,
    no_investigation_reason: String,
    corrective_action: String,
    reply: String,
    decision: Option<String>,
    clock: String,
    due: Option<String>,
    days_left: Option<i64>,
    overdue: bool,
    reported_on: Option<String>,
    closed: bool,
    status: String,
}

#[derive(Template)]
#[template(path = "device_ticket.html")]
struct TicketPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    id: Uuid,
    account: String,
    product: String,
    serial: String,
    description: String,
    status: String,
    status_code: String,
    resolution: String,
    opened: String,
    log: Vec<(String, String, String)>,
    moves: Vec<(&'static str, &'static str)>,
    complaint: Option<ComplaintView>,
    escalate_device: String,
    escalate_udi: String,
    today: String,
    decisions: Vec<(&'static str, &'static str)>,
    can_write: bool,
    errors: Vec<(String, String)>,
}

async fn ticket_view(
    state: &AppState,
    who: &Authed,
    id: Uuid,
    errors: Vec<(String, String)>,
) -> Result<TicketPage, PageError> {
    reader(who)?;
    let tz = who.tz();
    let today = today(who);
    let d = dev::ticket(&state.store, &who.actor, id).await?;
    let t = d.ticket;
    let product = dev::product(&state.store, &who.actor, t.product_id).await?;
    let status = TicketStatus::parse(&t.status).unwrap_or(TicketStatus::Open);
    let moves = match status {
        TicketStatus::Open => vec![("investigating", "Start investigating"), ("resolved", "Mark resolved")],
        TicketStatus::Investigating => vec![("resolved", "Mark resolved")],
        TicketStatus::Resolved => vec![("closed", "Close the ticket"), ("investigating", "Reopen")],
        TicketStatus::Closed => Vec::new(),
    };
    let complaint = d.complaint.map(|c| {
        let standing = c.standing(today);
        ComplaintView {
            id: c.id,
            device: c.device_name.clone(),
            udi: c.udi.clone(),
            received: c.received_on.to_string(),
            aware: c.aware_on.to_string(),
            complainant: [c.complainant_name.clone(), c.complainant_contact.clone()]
                .into_iter()
                .filter(|x| !x.is_empty())
                .collect::<Vec<_>>()
                .join(", "),
            nature: c.nature.clone(),
            details: c.details.clone(),
            investigation: c.investigation.clone(),
            no_investigation_reason: c.no_investigation_reason.clone(),
            corrective_action: c.corrective_action.clone(),
            reply: c.reply.clone(),
            decision: c.reportability.as_deref().map(|r| {
                let label = Reportability::parse(r).map(|x| x.label().to_string()).unwrap_or_default();
                if c.rationale.is_empty() { label } else { format!("{label}: {}", c.rationale) }
            }),
            clock: c
                .report_clock
                .as_deref()
                .map(|k| match k {
                    "5_work_days" => "5 work days from awareness (remedial action needed)".to_string(),
                    _ => "30 calendar days from awareness".to_string(),
                })
                .unwrap_or_default(),
            due: standing.as_ref().map(|s| s.due_on.to_string()),
            days_left: standing.as_ref().map(|s| s.days_remaining),
            overdue: standing.as_ref().is_some_and(|s| s.overdue),
            reported_on: c.reported_on.map(|d| d.to_string()),
            closed: c.status == "closed",
            status: humanize(&c.status),
        }
    });
    Ok(TicketPage {
        chrome: chrome(state, who, "/device").await,
        tabs: tabs("/device/tickets"),
        id,
        account: t.institution_name.clone(),
        product: t.product_name.clone(),
        serial: t.serial_or_lot.clone(),
        description: t.description.clone(),
        status: status.label().to_string(),
        status_code: t.status.clone(),
        resolution: t.resolution.clone(),
        opened: super::local(t.created_at, tz),
        log: d
            .log
            .iter()
            .map(|e| (super::local(e.at, tz), e.author_name.clone().unwrap_or_default(), e.text.clone()))
            .collect(),
        moves,
        complaint,
        escalate_device: format!("{} {}", product.name, product.model).trim().to_string(),
        escalate_udi: product.udi_di.clone(),
        today: today.to_string(),
        decisions: Reportability::choices(),
        can_write: who.can(super::device::WRITE, Target::ORG),
        errors,
    })
}

async fn ticket(State(state): State<AppState>, who: Authed, Path(id): Path<Uuid>) -> PageResult {
    Ok(render(&ticket_view(&state, &who, id, Vec::new()).await?))
}

/// Back to the ticket (at `anchor`) when it worked, else the ticket page with the errors.
async fn after_ticket(state: &AppState, who: &Authed, id: Uuid, anchor: &str, r: Result<(), ApiError>) -> PageResult {
    answer(
        r,
        |_| format!("/device/tickets/{id}{anchor}"),
        |errors| async move { Ok(render(&ticket_view(state, who, id, errors).await?)) },
    )
    .await
}

#[derive(Deserialize, Default)]
struct LogForm {
    #[serde(default)]
    text: String,
}

async fn log_entry(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<LogForm>,
) -> PageResult {
    writer(&who)?;
    let r =
        dev::log_troubleshooting(&state.store, &who.acting(), id, &f.text).await.map(|_| ()).map_err(ApiError::from);
    after_ticket(&state, &who, id, "#log", r).await
}

#[derive(Deserialize, Default)]
struct TicketStatusForm {
    #[serde(default)]
    status: String,
    #[serde(default)]
    resolution: String,
}

async fn ticket_status(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<TicketStatusForm>,
) -> PageResult {
    writer(&who)?;
    let r = dev::set_ticket_status(&state.store, &who.acting(), id, &f.status, &f.resolution)
        .await
        .map(|_| ())
        .map_err(ApiError::from);
    after_ticket(&state, &who, id, "", r).await
}

#[derive(Deserialize, Default)]
struct EscalateForm {
    #[serde(default)]
    device_name: String,
    #[serde(default)]
    udi: String,
    #[serde(default)]
    received_on: String,
    #[serde(default)]
    aware_on: String,
    #[serde(default)]
    complainant_name: String,
    #[serde(default)]
    complainant_contact: String,
    #[serde(default)]
    nature: String,
    #[serde(default)]
    details: String,
}

async fn escalate(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<EscalateForm>,
) -> PageResult {
    writer(&who)?;
    let r = async {
        let input = ComplaintInput {
            device_name: f.device_name.clone(),
            udi: f.udi.clone(),
            received_on: date_field("received_on", &f.received_on)?,
            aware_on: date_field("aware_on", &f.aware_on)?,
            complainant_name: f.complainant_name.clone(),
            complainant_contact: f.complainant_contact.clone(),
            nature: f.nature.clone(),
            details: f.details.clone(),
        };
        dev::escalate_to_complaint(&state.store, &who.acting(), id, input).await.map(|_| ()).map_err(ApiError::from)
    }
    .await;
    after_ticket(&state, &who, id, "#complaint", r).await
}

#[derive(Deserialize, Default)]
struct HandlingForm {
    #[serde(default)]
    investigation: String,
    #[serde(default)]
    no_investigation_reason: String,
    #[serde(default)]
    corrective_action: String,
    #[serde(default)]
    reply: String,
}

async fn complaint_ticket(state: &AppState, who: &Authed, id: Uuid) -> Result<Uuid, PageError> {
    Ok(dev::complaint(&state.store, &who.actor, id).await?.ticket_id)
}

async fn handling(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<HandlingForm>,
) -> PageResult {
    writer(&who)?;
    let ticket = complaint_ticket(&state, &who, id).await?;
    let h = ComplaintHandling {
        investigation: Some(f.investigation),
        no_investigation_reason: Some(f.no_investigation_reason),
        corrective_action: Some(f.corrective_action),
        reply: Some(f.reply),
    };
    let r = dev::record_handling(&state.store, &who.acting(), id, h).await.map(|_| ()).map_err(ApiError::from);
    after_ticket(&state, &who, ticket, "#complaint", r).await
}

#[derive(Deserialize, Default)]
struct DecisionForm {
    #[serde(default)]
    reportability: String,
    #[serde(default)]
    remedial_action: String,
    #[serde(default)]
    rationale: String,
}

async fn reportability(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<DecisionForm>,
) -> PageResult {
    writer(&who)?;
    let ticket = complaint_ticket(&state, &who, id).await?;
    let r = dev::decide_reportability(
        &state.store,
        &who.acting(),
        id,
        &f.reportability,
        f.remedial_action == "1",
        &f.rationale,
    )
    .await
    .map(|_| ())
    .map_err(ApiError::from);
    after_ticket(&state, &who, ticket, "#complaint", r).await
}

#[derive(Deserialize, Default)]
struct ReportedForm {
    #[serde(default)]
    reported_on: String,
}

async fn reported(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<ReportedForm>,
) -> PageResult {
    writer(&who)?;
    let ticket = complaint_ticket(&state, &who, id).await?;
    let r = async {
        let on =
            date_field("reported_on", &f.reported_on)?.ok_or_else(|| ApiError::field("reported_on", "is required"))?;
        dev::mark_reported(&state.store, &who.acting(), id, on).await.map(|_| ()).map_err(ApiError::from)
    }
    .await;
    after_ticket(&state, &who, ticket, "#complaint", r).await
}

async fn close(State(state): State<AppState>, who: Authed, Path(id): Path<Uuid>) -> PageResult {
    writer(&who)?;
    let ticket = complaint_ticket(&state, &who, id).await?;
    let r = dev::close_complaint(&state.store, &who.acting(), id).await.map(|_| ()).map_err(ApiError::from);
    after_ticket(&state, &who, ticket, "#complaint", r).await
}

#[derive(Template)]
#[template(path = "device_complaints.html")]
struct ComplaintsPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    rows: Vec<ComplaintRow>,
    all: bool,
}

async fn complaints(State(state): State<AppState>, who: Authed, Query(q): Query<TicketsQuery>) -> PageResult {
    reader(&who)?;
    let all = q.all.is_some_and(|a| !a.is_empty());
    let rows = dev::complaint_deadlines(&state.store, &who.actor, today(&who), !all)
        .await?
        .iter()
        .map(complaint_row)
        .collect();
    Ok(render(&ComplaintsPage {
        chrome: chrome(&state, &who, "/device").await,
        tabs: tabs("/device/complaints"),
        rows,
        all,
    }))
}

// ---------------------------------------------------------------- in-service trainings

#[derive(Deserialize, Default, Clone)]
pub struct TrainingForm {
    #[serde(default)]
    institution_id: String,
    #[serde(default)]
    department: String,
    #[serde(default)]
    product_id: String,
    #[serde(default)]
    competencies: String,
    #[serde(default)]
    held_on: String,
    #[serde(default)]
    validity_months: String,
    #[serde(default)]
    attendees: String,
}

#[derive(Deserialize, Default)]
struct TrainingsQuery {
    #[serde(default)]
    account: String,
    /// Opens the form for a new one.
    #[serde(default)]
    new: Option<String>,
}

#[derive(Template)]
#[template(path = "device_trainings.html")]
struct TrainingsPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    open_form: bool,
    rows: Vec<(Uuid, String, String, String, String, usize)>,
    coverage: Vec<(String, i64, i64, i64)>,
    can_write: bool,
    accounts: Choices,
    products: Choices,
    form: TrainingForm,
    errors: Vec<(String, String)>,
}

async fn trainings_view(
    state: &AppState,
    who: &Authed,
    account: Option<Uuid>,
    form: TrainingForm,
    errors: Vec<(String, String)>,
) -> Result<TrainingsPage, PageError> {
    reader(who)?;
    let rows = dev::trainings(&state.store, &who.actor, account)
        .await?
        .into_iter()
        .map(|t| {
            let n = t.competencies.len();
            let place = if t.department.is_empty() {
                t.institution_name
            } else {
                format!("{}, {}", t.institution_name, t.department)
            };
            (t.id, t.held_on.to_string(), place, t.product_name, t.trainer_name, n)
        })
        .collect();
    let coverage = dev::competency_coverage(&state.store, &who.actor, today(who))
        .await?
        .into_iter()
        .map(|c| (c.institution_name, c.taught, c.signed, c.certified))
        .collect();
    Ok(TrainingsPage {
        chrome: chrome(state, who, "/device").await,
        tabs: tabs("/device/trainings"),
        open_form: !errors.is_empty(),
        rows,
        coverage,
        can_write: who.can(super::device::WRITE, Target::ORG),
        accounts: accounts(state).await?,
        products: product_choices(state, who).await?,
        form,
        errors,
    })
}

async fn trainings(State(state): State<AppState>, who: Authed, Query(q): Query<TrainingsQuery>) -> PageResult {
    let account = Uuid::parse_str(q.account.trim()).ok();
    let form = TrainingForm { held_on: today(&who).to_string(), ..Default::default() };
    let mut page = trainings_view(&state, &who, account, form, Vec::new()).await?;
    page.open_form = q.new.is_some();
    Ok(render(&page))
}

/// Attendees typed one a line: `name, role, e-mail` (role and e-mail optional).
fn attendee_lines(raw: &str) -> Vec<AttendeeInput> {
    raw.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let mut parts = l.split(',').map(|p| p.trim().to_string());
            AttendeeInput {
                name: parts.next().unwrap_or_default(),
                role: parts.next().unwrap_or_default(),
                email: parts.next().unwrap_or_default(),
            }
        })
        .collect()
}

async fn record_training(State(state): State<AppState>, who: Authed, Form(f): Form<TrainingForm>) -> PageResult {
    writer(&who)?;
    let r = async {
        let input = TrainingInput {
            institution_id: uuid_field("institution_id", &f.institution_id)?,
            department: f.department.clone(),
            product_id: uuid_field("product_id", &f.product_id)?,
            competencies: f.competencies.lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect(),
            held_on: date_field("held_on", &f.held_on)?,
            trainer_user_id: None,
            attendees: attendee_lines(&f.attendees),
            validity_months: f.validity_months.trim().parse().ok(),
        };
        dev::record_training(&state.store, &who.acting(), input).await.map_err(ApiError::from)
    }
    .await;
    answer(
        r,
        |t| format!("/device/trainings/{}", t.id),
        |errors| async { Ok(render(&trainings_view(&state, &who, None, f, errors).await?)) },
    )
    .await
}

pub struct SignCell {
    competency: String,
    trainer: Option<String>,
    trainee: Option<String>,
}

pub struct AttendeeRow {
    id: Uuid,
    name: String,
    role: String,
    certificate: String,
    cells: Vec<SignCell>,
}

#[derive(Template)]
#[template(path = "device_training.html")]
struct TrainingPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    id: Uuid,
    account: String,
    product: String,
    held_on: String,
    trainer: String,
    validity: i64,
    competencies: Vec<String>,
    attendees: Vec<AttendeeRow>,
    can_write: bool,
    errors: Vec<(String, String)>,
}

async fn training_view(
    state: &AppState,
    who: &Authed,
    id: Uuid,
    errors: Vec<(String, String)>,
) -> Result<TrainingPage, PageError> {
    reader(who)?;
    let tz = who.tz();
    let d = dev::training(&state.store, &who.actor, id).await?;
    let t = &d.training;
    let attendees = d
        .attendees
        .iter()
        .map(|a| AttendeeRow {
            id: a.id,
            name: a.name.clone(),
            role: a.role.clone(),
            certificate: a
                .certificate_expires_on
                .map(|e| format!("certified until {e}"))
                .unwrap_or_else(|| "not yet certified".into()),
            cells: t
                .competencies
                .iter()
                .map(|c| {
                    let s = d.signoffs.iter().find(|s| s.attendee_id == a.id && &s.competency == c);
                    let side = |n: Option<&String>, at: Option<chrono::DateTime<chrono::Utc>>| match (n, at) {
                        (Some(n), Some(at)) => Some(format!("{n}, {}", at.with_timezone(&tz).format("%-d %b %Y"))),
                        _ => None,
                    };
                    SignCell {
                        competency: c.clone(),
                        trainer: s.and_then(|s| side(s.trainer_name.as_ref(), s.trainer_signed_at)),
                        trainee: s.and_then(|s| side(s.trainee_name.as_ref(), s.trainee_signed_at)),
                    }
                })
                .collect(),
        })
        .collect();
    Ok(TrainingPage {
        chrome: chrome(state, who, "/device").await,
        tabs: tabs("/device/trainings"),
        id,
        account: if t.department.is_empty() {
            t.institution_name.clone()
        } else {
            format!("{}, {}", t.institution_name, t.department)
        },
        product: t.product_name.clone(),
        held_on: t.held_on.to_string(),
        trainer: t.trainer_name.clone(),
        validity: t.validity_months,
        competencies: t.competencies.0.clone(),
        attendees,
        can_write: who.can(super::device::WRITE, Target::ORG),
        errors,
    })
}

async fn training(State(state): State<AppState>, who: Authed, Path(id): Path<Uuid>) -> PageResult {
    Ok(render(&training_view(&state, &who, id, Vec::new()).await?))
}

#[derive(Deserialize, Default)]
struct AttendeeForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    email: String,
}

async fn add_attendee(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<AttendeeForm>,
) -> PageResult {
    writer(&who)?;
    let r = dev::add_attendee(
        &state.store,
        &who.acting(),
        id,
        AttendeeInput { name: f.name, role: f.role, email: f.email },
    )
    .await
    .map(|_| ())
    .map_err(ApiError::from);
    answer(
        r,
        |_| format!("/device/trainings/{id}"),
        |errors| async { Ok(render(&training_view(&state, &who, id, errors).await?)) },
    )
    .await
}

#[derive(Deserialize, Default)]
struct SignForm {
    #[serde(default)]
    competency: String,
    #[serde(default)]
    side: String,
    #[serde(default)]
    signed_name: String,
}

async fn sign(
    State(state): State<AppState>,
    who: Authed,
    Path(attendee): Path<Uuid>,
    Form(f): Form<SignForm>,
) -> PageResult {
    writer(&who)?;
    let side = if f.side == "trainee" { SignSide::Trainee } else { SignSide::Trainer };
    let r = dev::sign_competency(&state.store, &who.acting(), attendee, &f.competency, side, &f.signed_name)
        .await
        .map_err(ApiError::from);
    let training = match &r {
        Ok(a) => a.training_id,
        Err(_) => dev::attendee_training(&state.store, &who.actor, attendee).await?,
    };
    answer(
        r,
        |_| format!("/device/trainings/{training}#a-{attendee}"),
        |errors| async move { Ok(render(&training_view(&state, &who, training, errors).await?)) },
    )
    .await
}

// ---------------------------------------------------------------- feedback

#[derive(Deserialize, Default, Clone)]
pub struct FeedbackForm {
    #[serde(default)]
    institution_id: String,
    #[serde(default)]
    product_id: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    text: String,
}

pub struct FeedbackRow {
    id: Uuid,
    product: String,
    account: String,
    category: String,
    text: String,
    votes: i64,
    status: String,
    status_code: String,
}

#[derive(Template)]
#[template(path = "device_feedback.html")]
struct FeedbackPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    board: Vec<(String, String, i64, i64, i64)>,
    rows: Vec<FeedbackRow>,
    can_write: bool,
    accounts: Choices,
    products: Choices,
    categories: Vec<(&'static str, &'static str)>,
    statuses: Vec<(&'static str, &'static str)>,
    form: FeedbackForm,
    errors: Vec<(String, String)>,
}

async fn feedback_view(
    state: &AppState,
    who: &Authed,
    form: FeedbackForm,
    errors: Vec<(String, String)>,
) -> Result<FeedbackPage, PageError> {
    reader(who)?;
    let board = dev::feedback_board(&state.store, &who.actor)
        .await?
        .into_iter()
        .map(|c| {
            let cat = FeedbackCategory::parse(&c.category).map(|x| x.label().to_string()).unwrap_or_default();
            (c.product_name, cat, c.items, c.votes, c.open_items)
        })
        .collect();
    let rows = dev::feedback(&state.store, &who.actor, None)
        .await?
        .into_iter()
        .map(|f| FeedbackRow {
            id: f.id,
            product: f.product_name,
            account: f.institution_name,
            category: FeedbackCategory::parse(&f.category).map(|x| x.label().to_string()).unwrap_or_default(),
            text: f.text,
            votes: f.votes,
            status: FeedbackStatus::parse(&f.status).map(|x| x.label().to_string()).unwrap_or_default(),
            status_code: f.status,
        })
        .collect();
    Ok(FeedbackPage {
        chrome: chrome(state, who, "/device").await,
        tabs: tabs("/device/feedback"),
        board,
        rows,
        can_write: who.can(super::device::WRITE, Target::ORG),
        accounts: accounts(state).await?,
        products: product_choices(state, who).await?,
        categories: FeedbackCategory::choices(),
        statuses: FeedbackStatus::choices(),
        form,
        errors,
    })
}

async fn feedback(State(state): State<AppState>, who: Authed) -> PageResult {
    Ok(render(&feedback_view(&state, &who, FeedbackForm::default(), Vec::new()).await?))
}

async fn submit_feedback(State(state): State<AppState>, who: Authed, Form(f): Form<FeedbackForm>) -> PageResult {
    writer(&who)?;
    let r = async {
        let input = FeedbackInput {
            institution_id: uuid_field("institution_id", &f.institution_id)?,
            product_id: uuid_field("product_id", &f.product_id)?,
            category: f.category.clone(),
            text: f.text.clone(),
        };
        dev::submit_feedback(&state.store, &who.acting(), input).await.map_err(ApiError::from)
    }
    .await;
    answer(
        r,
        |_| "/device/feedback".to_string(),
        |errors| async { Ok(render(&feedback_view(&state, &who, f, errors).await?)) },
    )
    .await
}

async fn vote(State(state): State<AppState>, who: Authed, Path(id): Path<Uuid>) -> PageResult {
    writer(&who)?;
    let r = dev::vote(&state.store, &who.acting(), id).await.map_err(ApiError::from);
    answer(
        r,
        |_| format!("/device/feedback#f-{id}"),
        |errors| async { Ok(render(&feedback_view(&state, &who, FeedbackForm::default(), errors).await?)) },
    )
    .await
}

#[derive(Deserialize, Default)]
struct FeedbackStatusForm {
    #[serde(default)]
    status: String,
}

async fn feedback_status(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<FeedbackStatusForm>,
) -> PageResult {
    writer(&who)?;
    let r = dev::set_feedback_status(&state.store, &who.acting(), id, &f.status).await.map_err(ApiError::from);
    answer(
        r,
        |_| format!("/device/feedback#f-{id}"),
        |errors| async { Ok(render(&feedback_view(&state, &who, FeedbackForm::default(), errors).await?)) },
    )
    .await
}

// ---------------------------------------------------------------- courses

#[derive(Deserialize, Default, Clone)]
pub struct CourseForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    product_id: String,
    #[serde(default)]
    credits: String,
    #[serde(default)]
    modules: String,
}

#[derive(Template)]
#[template(path = "device_courses.html")]
struct CoursesPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    rows: Vec<(Uuid, String, String, f64)>,
    can_write: bool,
    products: Choices,
    form: CourseForm,
    errors: Vec<(String, String)>,
}

async fn courses_view(
    state: &AppState,
    who: &Authed,
    form: CourseForm,
    errors: Vec<(String, String)>,
) -> Result<CoursesPage, PageError> {
    reader(who)?;
    let rows = dev::courses(&state.store, &who.actor)
        .await?
        .into_iter()
        .map(|c| (c.id, c.title, excerpt(&c.description, 140), c.credits))
        .collect();
    Ok(CoursesPage {
        chrome: chrome(state, who, "/device").await,
        tabs: tabs("/device/courses"),
        rows,
        can_write: who.can(super::device::WRITE, Target::ORG),
        products: product_choices(state, who).await?,
        form,
        errors,
    })
}

async fn courses(State(state): State<AppState>, who: Authed) -> PageResult {
    Ok(render(&courses_view(&state, &who, CourseForm::default(), Vec::new()).await?))
}

/// Modules typed one a line: `title, minutes`.
fn module_lines(raw: &str) -> Result<Vec<ModuleInput>, ApiError> {
    let mut out = Vec::new();
    for (n, l) in raw.lines().map(str::trim).filter(|l| !l.is_empty()).enumerate() {
        let (title, minutes) = match l.rsplit_once(',') {
            Some((t, m)) => (t.trim().to_string(), m.trim()),
            None => (l.to_string(), "30"),
        };
        let minutes = minutes
            .parse()
            .map_err(|_| ApiError::field("modules", &format!("line {}: give the minutes after a comma", n + 1)))?;
        out.push(ModuleInput { title, minutes });
    }
    Ok(out)
}

async fn create_course(State(state): State<AppState>, who: Authed, Form(f): Form<CourseForm>) -> PageResult {
    writer(&who)?;
    let r = async {
        let input = CourseInput {
            title: f.title.clone(),
            description: f.description.clone(),
            product_id: Uuid::parse_str(f.product_id.trim()).ok(),
            credits: f.credits.trim().parse().map_err(|_| ApiError::field("credits", "must be a number of credits"))?,
            modules: module_lines(&f.modules)?,
        };
        dev::create_course(&state.store, &who.acting(), input).await.map_err(ApiError::from)
    }
    .await;
    answer(
        r,
        |c| format!("/device/courses/{}", c.id),
        |errors| async { Ok(render(&courses_view(&state, &who, f, errors).await?)) },
    )
    .await
}

#[derive(Template)]
#[template(path = "device_course.html")]
struct CoursePage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    id: Uuid,
    title: String,
    description: String,
    credits: f64,
    modules: Vec<(Uuid, String, i64)>,
    enrollments: Vec<dev::Enrollment>,
    done: Vec<(Uuid, Vec<Uuid>)>,
    accounts: Choices,
    can_write: bool,
    errors: Vec<(String, String)>,
}

impl CoursePage {
    fn module_done(&self, enrollment: &Uuid, module: &Uuid) -> bool {
        self.done.iter().any(|(e, m)| e == enrollment && m.contains(module))
    }
}

async fn course_view(
    state: &AppState,
    who: &Authed,
    id: Uuid,
    errors: Vec<(String, String)>,
) -> Result<CoursePage, PageError> {
    reader(who)?;
    let d = dev::course(&state.store, &who.actor, id).await?;
    let mut done = Vec::new();
    for e in &d.enrollments {
        done.push((e.id, dev::completed_modules(&state.store, &who.actor, e.id).await?));
    }
    Ok(CoursePage {
        chrome: chrome(state, who, "/device").await,
        tabs: tabs("/device/courses"),
        id,
        title: d.course.title.clone(),
        description: d.course.description.clone(),
        credits: d.course.credits,
        modules: d.modules.iter().map(|m| (m.id, m.title.clone(), m.minutes)).collect(),
        enrollments: d.enrollments,
        done,
        accounts: accounts(state).await?,
        can_write: who.can(super::device::WRITE, Target::ORG),
        errors,
    })
}

async fn course(State(state): State<AppState>, who: Authed, Path(id): Path<Uuid>) -> PageResult {
    Ok(render(&course_view(&state, &who, id, Vec::new()).await?))
}

#[derive(Deserialize, Default)]
struct EnrollForm {
    #[serde(default)]
    institution_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    email: String,
}

async fn enroll(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<EnrollForm>,
) -> PageResult {
    writer(&who)?;
    let r = async {
        let institution = uuid_field("institution_id", &f.institution_id)?;
        dev::enroll(
            &state.store,
            &who.acting(),
            id,
            institution,
            AttendeeInput { name: f.name, role: f.role, email: f.email },
        )
        .await
        .map_err(ApiError::from)
    }
    .await;
    answer(
        r,
        |_| format!("/device/courses/{id}"),
        |errors| async { Ok(render(&course_view(&state, &who, id, errors).await?)) },
    )
    .await
}

async fn complete_module(
    State(state): State<AppState>,
    who: Authed,
    Path((enrollment, module)): Path<(Uuid, Uuid)>,
) -> PageResult {
    writer(&who)?;
    let e = dev::complete_module(&state.store, &who.acting(), enrollment, module).await?;
    Ok(see_other(&format!("/device/courses/{}", e.course_id)))
}
