//! Device field support pages for clinical specialists: the specialist's dashboard, case
//! coverage (book, assign, confirm, cover) and the organization's travel buffer, facility
//! credentials and their corrections, the territory (which accounts a specialist covers) and
//! week plan, products and the installed base. Tickets, complaints, trainings, feedback and
//! courses are in `device_support.rs`. Commercial users read these pages and change nothing.

use super::medical::{Bar, Pairs, bars, excerpt, humanize};
use super::{Chrome, PageError, PageResult, chrome, form_errors, form_instant, render, see_other};
use crate::AppState;
use crate::auth::Authed;
use crate::error::ApiError;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::{Datelike, Duration, NaiveDate, Utc};
use clinbridge_core::device::{
    CaseInput, CaseStatus, CredentialInput, InstallInput, InstallStatus, ProductInput, RequiredDocument,
};
use clinbridge_core::policy::{Action, Context, Op, Target};
use clinbridge_store::device::{self as dev, CaseFilter, CredentialState, PlanItem};
use clinbridge_store::medical as med;
use serde::Deserialize;
use uuid::Uuid;

pub const READ: Action = Action::new(Context::Device, Op::Read);
pub const WRITE: Action = Action::new(Context::Device, Op::Write);

pub fn register(r: crate::routes::Routes) -> crate::routes::Routes {
    let r = r
        .get("/device", dashboard)
        .get("/device/cases", cases)
        .post("/device/cases", request_case)
        .get("/device/cases/{id}", case)
        .post("/device/cases/{id}/assignment", assign)
        .post("/device/cases/{id}/schedule", reschedule)
        .post("/device/cases/{id}/status", case_status)
        .get("/device/credentials", credentials)
        .post("/device/credentials", add_credential)
        .post("/device/credentials/{id}", edit_credential)
        .post("/device/credentials/{id}/documents", document_received)
        .post("/device/settings/travel-buffer", set_travel_buffer)
        .get("/device/plan", plan)
        .post("/device/specialists/{id}/territory", set_territory)
        .post("/device/visits", plan_visit)
        .post("/device/visits/{id}/done", visit_done)
        .get("/device/products", products)
        .post("/device/products", create_product)
        .post("/device/products/{id}", update_product)
        .post("/device/installs", install)
        .post("/device/installs/{id}/status", install_status);
    super::device_support::register(r)
}

pub fn reader(who: &Authed) -> Result<(), PageError> {
    who.require(READ, Target::ORG).map_err(PageError)
}

pub fn writer(who: &Authed) -> Result<(), PageError> {
    who.require(WRITE, Target::ORG).map_err(PageError)
}

pub use super::medical::Tab;

pub fn tabs(active: &str) -> Vec<Tab> {
    [
        ("/device", "Dashboard"),
        ("/device/plan", "Week plan"),
        ("/device/cases", "Cases"),
        ("/device/trainings", "In-services"),
        ("/device/tickets", "Tickets"),
        ("/device/complaints", "Complaints"),
        ("/device/credentials", "Credentials"),
        ("/device/feedback", "Feedback"),
        ("/device/courses", "Courses"),
        ("/device/products", "Products"),
    ]
    .into_iter()
    .map(|(href, label)| Tab { href, label, active: href == active })
    .collect()
}

/// Choices for a select: (value, label).
pub type Choices = Vec<(String, String)>;

pub async fn accounts(state: &AppState) -> Result<Choices, PageError> {
    Ok(med::institutions(&state.store).await?.into_iter().map(|i| (i.id.to_string(), i.name)).collect())
}

pub async fn product_choices(state: &AppState, who: &Authed) -> Result<Choices, PageError> {
    Ok(dev::products(&state.store, &who.actor)
        .await?
        .into_iter()
        .map(|p| (p.id.to_string(), format!("{} {}", p.name, p.model).trim().to_string()))
        .collect())
}

pub async fn specialist_choices(state: &AppState, who: &Authed) -> Result<Choices, PageError> {
    Ok(dev::specialists(&state.store, &who.actor).await?.into_iter().map(|s| (s.id.to_string(), s.name)).collect())
}

pub use super::local_today as today;

pub fn uuid_field(field: &str, raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw.trim()).map_err(|_| ApiError::field(field, "choose one"))
}

// ---------------------------------------------------------------- dashboard

pub struct ComplaintRow {
    pub id: Uuid,
    pub ticket_id: Uuid,
    pub device: String,
    pub nature: String,
    pub due: String,
    pub days: String,
    pub overdue: bool,
    pub status: String,
}

pub fn complaint_row(d: &dev::ComplaintDeadline) -> ComplaintRow {
    let (due, days, overdue) = match &d.standing {
        Some(s) if s.reported => (s.due_on.to_string(), "reported".to_string(), false),
        Some(s) if s.overdue => (s.due_on.to_string(), format!("{} days overdue", -s.days_remaining), true),
        Some(s) => (s.due_on.to_string(), format!("{} days left", s.days_remaining), false),
        None => ("—".into(), "no reportability decision yet".into(), false),
    };
    ComplaintRow {
        id: d.complaint.id,
        ticket_id: d.complaint.ticket_id,
        device: d.complaint.device_name.clone(),
        nature: excerpt(&d.complaint.nature, 80),
        due,
        days,
        overdue,
        status: humanize(&d.complaint.status),
    }
}

pub struct CaseRow {
    pub id: Uuid,
    pub when: String,
    pub account: String,
    pub procedure: String,
    pub specialist: String,
    pub status: String,
}

#[derive(Template)]
#[template(path = "device_dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    name: String,
    specialist: String,
    specialists: Choices,
    days: i64,
    cases_covered: i64,
    cases_upcoming: i64,
    trainings_delivered: i64,
    staff_trained: i64,
    open_tickets: i64,
    coverage: Vec<Bar>,
    complaints: Vec<ComplaintRow>,
    upcoming: Vec<CaseRow>,
    can_write: bool,
}

#[derive(Deserialize, Default)]
struct DashQuery {
    #[serde(default)]
    specialist: String,
    #[serde(default)]
    days: Option<i64>,
}

async fn case_rows(state: &AppState, who: &Authed, cases: Vec<dev::Case>) -> Result<Vec<CaseRow>, PageError> {
    let specialists = dev::specialists(&state.store, &who.actor).await?;
    let tz = who.tz();
    Ok(cases
        .into_iter()
        .map(|c| CaseRow {
            id: c.id,
            when: super::local(c.starts_at, tz),
            account: if c.department.is_empty() {
                c.institution_name.clone()
            } else {
                format!("{}, {}", c.institution_name, c.department)
            },
            procedure: c.procedure_type.clone(),
            specialist: c
                .specialist_user_id
                .and_then(|u| specialists.iter().find(|s| s.id == u).map(|s| s.name.clone()))
                .unwrap_or_else(|| "unassigned".into()),
            status: CaseStatus::parse(&c.status).map(|s| s.label().to_string()).unwrap_or_default(),
        })
        .collect())
}

async fn dashboard(State(state): State<AppState>, who: Authed, Query(q): Query<DashQuery>) -> PageResult {
    reader(&who)?;
    let specialists = dev::specialists(&state.store, &who.actor).await?;
    let chosen = Uuid::parse_str(q.specialist.trim())
        .ok()
        .or_else(|| specialists.iter().find(|s| s.id == who.user.id).map(|s| s.id))
        .or_else(|| specialists.first().map(|s| s.id));
    let days = q.days.unwrap_or(90).clamp(7, 730);
    let today = today(&who);
    let Some(specialist) = chosen else {
        return Err(PageError(ApiError::NotFound("clinical specialist")));
    };
    let d = dev::dashboard(&state.store, &who.actor, specialist, today - Duration::days(days), today, today).await?;
    let coverage = bars(
        d.coverage
            .iter()
            .map(|c| {
                let pct = if c.taught > 0 { c.signed * 100 / c.taught } else { 0 };
                (
                    format!("{} ({}/{})", c.institution_name, c.signed, c.taught),
                    pct,
                    format!("/device/trainings?account={}", c.institution_id),
                )
            })
            .collect(),
    );
    let upcoming = dev::cases(
        &state.store,
        &who.actor,
        &CaseFilter { specialist_user_id: Some(specialist), from: Some(Utc::now()), ..Default::default() },
    )
    .await?
    .into_iter()
    .filter(|c| c.status != "cancelled")
    .take(10)
    .collect();
    Ok(render(&DashboardPage {
        chrome: chrome(&state, &who, "/device").await,
        tabs: tabs("/device"),
        name: specialists.iter().find(|s| s.id == specialist).map(|s| s.name.clone()).unwrap_or_default(),
        specialist: specialist.to_string(),
        specialists: specialists.iter().map(|s| (s.id.to_string(), s.name.clone())).collect(),
        days,
        cases_covered: d.cases_covered,
        cases_upcoming: d.cases_upcoming,
        trainings_delivered: d.trainings_delivered,
        staff_trained: d.staff_trained,
        open_tickets: d.open_tickets,
        coverage,
        complaints: d.complaints.iter().map(complaint_row).collect(),
        upcoming: case_rows(&state, &who, upcoming).await?,
        can_write: who.can(WRITE, Target::ORG),
    }))
}

// ---------------------------------------------------------------- cases

#[derive(Deserialize, Default, Clone)]
pub struct CaseForm {
    #[serde(default)]
    institution_id: String,
    #[serde(default)]
    department: String,
    #[serde(default)]
    surgeon_hcp_id: String,
    #[serde(default)]
    procedure_type: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    time: String,
    #[serde(default)]
    duration_minutes: String,
    #[serde(default)]
    specialist_user_id: String,
    #[serde(default)]
    notes: String,
    #[serde(default)]
    product_ids: Vec<String>,
}

#[derive(Deserialize, Default)]
struct CasesQuery {
    /// Opens the form for a new one.
    #[serde(default)]
    new: Option<String>,
    #[serde(default)]
    mine: Option<String>,
    #[serde(default)]
    past: Option<String>,
}

#[derive(Template)]
#[template(path = "device_cases.html")]
struct CasesPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    open_form: bool,
    mine: bool,
    past: bool,
    rows: Vec<CaseRow>,
    can_write: bool,
    accounts: Choices,
    surgeons: Choices,
    products: Choices,
    specialists: Choices,
    form: CaseForm,
    /// The organization's travel buffer between two cases of one specialist, in minutes.
    travel_buffer: i64,
    /// The buffer as typed when it was refused (the setting's form opens with it).
    buffer_refused: Option<String>,
    errors: Vec<(String, String)>,
}

impl CasesPage {
    fn product_chosen(&self, id: &str) -> bool {
        self.form.product_ids.iter().any(|p| p == id)
    }
}

async fn surgeons(state: &AppState) -> Result<Choices, PageError> {
    Ok(med::search_hcps(&state.store, &med::HcpSearch { limit: Some(500), ..Default::default() })
        .await?
        .into_iter()
        .map(|l| (l.hcp.id.to_string(), format!("{}, {} — {}", l.hcp.last_name, l.hcp.first_name, l.hcp.specialty)))
        .collect())
}

async fn cases_view(
    state: &AppState,
    who: &Authed,
    mine: bool,
    past: bool,
    form: CaseForm,
    errors: Vec<(String, String)>,
) -> Result<CasesPage, PageError> {
    reader(who)?;
    let now = Utc::now();
    let f = CaseFilter {
        specialist_user_id: mine.then_some(who.user.id),
        from: (!past).then_some(now - Duration::hours(12)),
        to: past.then_some(now),
        ..Default::default()
    };
    let mut list = dev::cases(&state.store, &who.actor, &f).await?;
    if past {
        list.reverse();
    }
    Ok(CasesPage {
        chrome: chrome(state, who, "/device").await,
        tabs: tabs("/device/cases"),
        open_form: !errors.is_empty(),
        mine,
        past,
        rows: case_rows(state, who, list).await?,
        can_write: who.can(WRITE, Target::ORG),
        accounts: accounts(state).await?,
        surgeons: surgeons(state).await?,
        products: product_choices(state, who).await?,
        specialists: specialist_choices(state, who).await?,
        form,
        travel_buffer: dev::travel_buffer_minutes(&state.store, &who.actor).await?,
        buffer_refused: None,
        errors,
    })
}

async fn cases(State(state): State<AppState>, who: Authed, Query(q): Query<CasesQuery>) -> PageResult {
    let mine = q.mine.is_some_and(|m| !m.is_empty());
    let past = q.past.is_some_and(|m| !m.is_empty());
    let form = CaseForm { duration_minutes: "120".into(), time: "07:30".into(), ..Default::default() };
    let mut page = cases_view(&state, &who, mine, past, form, Vec::new()).await?;
    page.open_form = q.new.is_some();
    Ok(render(&page))
}

async fn request_case(State(state): State<AppState>, who: Authed, body: String) -> PageResult {
    writer(&who)?;
    let p = Pairs::parse(&body)?;
    let form = CaseForm {
        institution_id: p.get("institution_id"),
        department: p.get("department"),
        surgeon_hcp_id: p.get("surgeon_hcp_id"),
        procedure_type: p.get("procedure_type"),
        date: p.get("date"),
        time: p.get("time"),
        duration_minutes: p.get("duration_minutes"),
        specialist_user_id: p.get("specialist_user_id"),
        notes: p.get("notes"),
        product_ids: p.all("product_id"),
    };
    let r = async {
        let starts_at = form_instant(who.tz(), "date", &form.date, "time", &form.time).map_err(ApiError::Invalid)?;
        let input = CaseInput {
            institution_id: uuid_field("institution_id", &form.institution_id)?,
            department: form.department.clone(),
            surgeon_hcp_id: Uuid::parse_str(form.surgeon_hcp_id.trim()).ok(),
            procedure_type: form.procedure_type.clone(),
            starts_at,
            duration_minutes: form
                .duration_minutes
                .trim()
                .parse()
                .map_err(|_| ApiError::field("duration_minutes", "must be a number of minutes"))?,
            product_ids: form.product_ids.iter().filter_map(|s| Uuid::parse_str(s).ok()).collect(),
            specialist_user_id: Uuid::parse_str(form.specialist_user_id.trim()).ok(),
            notes: form.notes.clone(),
        };
        dev::request_case(&state.store, &who.acting(), input).await.map_err(ApiError::from)
    }
    .await;
    match r {
        Ok(c) => Ok(see_other(&format!("/device/cases/{}", c.id))),
        Err(e) => {
            let errors = form_errors(e)?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&cases_view(&state, &who, false, false, form, errors).await?))
                .into_response())
        }
    }
}

#[derive(Deserialize, Default)]
struct BufferForm {
    #[serde(default)]
    minutes: String,
}

/// Sets the minutes kept free between two cases of one specialist; the API lets whoever
/// changes device records change it, and so does this form.
async fn set_travel_buffer(State(state): State<AppState>, who: Authed, Form(f): Form<BufferForm>) -> PageResult {
    writer(&who)?;
    let r = match f.minutes.trim().parse::<i64>() {
        Ok(m) => dev::set_travel_buffer(&state.store, &who.acting(), m).await.map(|_| ()).map_err(ApiError::from),
        Err(_) => Err(ApiError::field("case_travel_buffer_minutes", "must be a whole number of minutes")),
    };
    match r {
        Ok(()) => Ok(see_other("/device/cases#travel-buffer")),
        Err(e) => {
            let errors = form_errors(e)?;
            let mut page = cases_view(&state, &who, false, false, CaseForm::default(), errors).await?;
            page.open_form = false;
            page.buffer_refused = Some(f.minutes);
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
        }
    }
}

#[derive(Template)]
#[template(path = "device_case.html")]
struct CasePage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    id: Uuid,
    row: CaseRow,
    ends: String,
    surgeon: Option<(Uuid, String)>,
    products: String,
    notes: String,
    outcome_notes: String,
    status_code: String,
    specialist_id: String,
    specialists: Choices,
    moves: Vec<(&'static str, &'static str)>,
    date: String,
    time: String,
    duration: i64,
    can_write: bool,
    errors: Vec<(String, String)>,
}

async fn case_view(
    state: &AppState,
    who: &Authed,
    id: Uuid,
    errors: Vec<(String, String)>,
) -> Result<CasePage, PageError> {
    reader(who)?;
    let c = dev::case(&state.store, &who.actor, id).await?;
    let tz = who.tz();
    let surgeon = match c.surgeon_hcp_id {
        Some(h) => Some((h, med::hcp(&state.store, h).await?.display_name())),
        None => None,
    };
    let all_products = dev::products(&state.store, &who.actor).await?;
    let products = c
        .product_ids
        .iter()
        .filter_map(|p| all_products.iter().find(|x| x.id == *p).map(|x| format!("{} {}", x.name, x.model)))
        .collect::<Vec<_>>()
        .join(", ");
    let status = CaseStatus::parse(&c.status).unwrap_or(CaseStatus::Requested);
    let moves = match status {
        CaseStatus::Requested => vec![("confirmed", "Confirm"), ("cancelled", "Cancel the case")],
        CaseStatus::Confirmed => vec![("covered", "Mark covered"), ("cancelled", "Cancel the case")],
        _ => Vec::new(),
    };
    let local = c.starts_at.with_timezone(&tz);
    Ok(CasePage {
        chrome: chrome(state, who, "/device").await,
        tabs: tabs("/device/cases"),
        id,
        ends: c.ends_at.with_timezone(&tz).format("%H:%M").to_string(),
        surgeon,
        products,
        notes: c.notes.clone(),
        outcome_notes: c.outcome_notes.clone(),
        status_code: c.status.clone(),
        specialist_id: c.specialist_user_id.map(|u| u.to_string()).unwrap_or_default(),
        specialists: specialist_choices(state, who).await?,
        moves,
        date: local.format("%Y-%m-%d").to_string(),
        time: local.format("%H:%M").to_string(),
        duration: c.duration_minutes,
        can_write: who.can(WRITE, Target::ORG),
        row: case_rows(state, who, vec![c]).await?.into_iter().next().ok_or(PageError(ApiError::NotFound("case")))?,
        errors,
    })
}

async fn case(State(state): State<AppState>, who: Authed, Path(id): Path<Uuid>) -> PageResult {
    Ok(render(&case_view(&state, &who, id, Vec::new()).await?))
}

async fn after_case(state: &AppState, who: &Authed, id: Uuid, r: Result<(), ApiError>) -> PageResult {
    match r {
        Ok(()) => Ok(see_other(&format!("/device/cases/{id}"))),
        Err(e) => {
            let errors = form_errors(e)?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&case_view(state, who, id, errors).await?)).into_response())
        }
    }
}

#[derive(Deserialize, Default)]
struct AssignForm {
    #[serde(default)]
    specialist_user_id: String,
}

async fn assign(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<AssignForm>,
) -> PageResult {
    writer(&who)?;
    let specialist = Uuid::parse_str(f.specialist_user_id.trim()).ok();
    let r = dev::assign_case(&state.store, &who.acting(), id, specialist).await.map(|_| ()).map_err(ApiError::from);
    after_case(&state, &who, id, r).await
}

#[derive(Deserialize, Default)]
struct ScheduleForm {
    #[serde(default)]
    date: String,
    #[serde(default)]
    time: String,
    #[serde(default)]
    duration_minutes: String,
}

async fn reschedule(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<ScheduleForm>,
) -> PageResult {
    writer(&who)?;
    let r = async {
        let at = form_instant(who.tz(), "date", &f.date, "time", &f.time).map_err(ApiError::Invalid)?;
        let minutes: i64 = f
            .duration_minutes
            .trim()
            .parse()
            .map_err(|_| ApiError::field("duration_minutes", "must be a number of minutes"))?;
        dev::reschedule_case(&state.store, &who.acting(), id, at, minutes).await.map(|_| ()).map_err(ApiError::from)
    }
    .await;
    after_case(&state, &who, id, r).await
}

#[derive(Deserialize, Default)]
struct StatusForm {
    #[serde(default)]
    status: String,
    #[serde(default)]
    outcome_notes: String,
}

async fn case_status(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<StatusForm>,
) -> PageResult {
    writer(&who)?;
    let r = dev::set_case_status(&state.store, &who.acting(), id, &f.status, &f.outcome_notes)
        .await
        .map(|_| ())
        .map_err(ApiError::from);
    after_case(&state, &who, id, r).await
}

// ---------------------------------------------------------------- credentials

pub struct CredentialRow {
    id: Uuid,
    specialist: String,
    facility: String,
    name: String,
    issued: String,
    expires: String,
    state: &'static str,
    warn: bool,
    documents: Vec<(usize, String, bool)>,
}

#[derive(Deserialize, Default, Clone)]
pub struct CredentialForm {
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    institution_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    documents: String,
    #[serde(default)]
    issued_on: String,
    #[serde(default)]
    expires_on: String,
}

#[derive(Deserialize, Default)]
struct CredQuery {
    #[serde(default)]
    all: Option<String>,
}

#[derive(Template)]
#[template(path = "device_credentials.html")]
struct CredentialsPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    all: bool,
    rows: Vec<CredentialRow>,
    can_write: bool,
    accounts: Choices,
    specialists: Choices,
    form: CredentialForm,
    /// The credential whose correction was refused, with the values as typed.
    editing: Option<(Uuid, CredentialForm)>,
    errors: Vec<(String, String)>,
}

impl CredentialsPage {
    fn is_editing(&self, id: &Uuid) -> bool {
        self.editing.as_ref().is_some_and(|(e, _)| e == id)
    }

    /// The correction form of a credential: as typed after a refusal, else as stored.
    fn edit_form(&self, c: &CredentialRow) -> CredentialForm {
        match &self.editing {
            Some((id, f)) if *id == c.id => f.clone(),
            _ => CredentialForm {
                name: c.name.clone(),
                documents: c.documents.iter().map(|d| d.1.clone()).collect::<Vec<_>>().join(", "),
                issued_on: c.issued.clone(),
                expires_on: c.expires.clone(),
                ..Default::default()
            },
        }
    }
}

async fn credentials_view(
    state: &AppState,
    who: &Authed,
    all: bool,
    form: CredentialForm,
    editing: Option<(Uuid, CredentialForm)>,
    errors: Vec<(String, String)>,
) -> Result<CredentialsPage, PageError> {
    reader(who)?;
    let today = today(who);
    let specialists = dev::specialists(&state.store, &who.actor).await?;
    let mine = specialists.iter().any(|s| s.id == who.user.id);
    let list = dev::credentials(&state.store, &who.actor, (mine && !all).then_some(who.user.id)).await?;
    let rows = list
        .iter()
        .map(|c| {
            let (state, warn) = match c.state(today) {
                CredentialState::Valid => ("Valid", false),
                CredentialState::Expiring => ("Renew soon", true),
                CredentialState::Expired => ("Expired", true),
                CredentialState::Incomplete => ("Documents missing", true),
            };
            CredentialRow {
                id: c.id,
                specialist: c.user_name.clone(),
                facility: c.institution_name.clone(),
                name: c.name.clone(),
                issued: c.issued_on.to_string(),
                expires: c.expires_on.to_string(),
                state,
                warn,
                documents: c.documents.iter().enumerate().map(|(n, d)| (n, d.name.clone(), d.received)).collect(),
            }
        })
        .collect();
    Ok(CredentialsPage {
        chrome: chrome(state, who, "/device").await,
        tabs: tabs("/device/credentials"),
        all: all || !mine,
        rows,
        can_write: who.can(WRITE, Target::ORG),
        accounts: accounts(state).await?,
        specialists: specialists.iter().map(|s| (s.id.to_string(), s.name.clone())).collect(),
        form,
        editing,
        errors,
    })
}

async fn credentials(State(state): State<AppState>, who: Authed, Query(q): Query<CredQuery>) -> PageResult {
    let all = q.all.is_some_and(|a| !a.is_empty());
    let form = CredentialForm { user_id: who.user.id.to_string(), ..Default::default() };
    Ok(render(&credentials_view(&state, &who, all, form, None, Vec::new()).await?))
}

async fn add_credential(State(state): State<AppState>, who: Authed, Form(f): Form<CredentialForm>) -> PageResult {
    writer(&who)?;
    let r = async {
        let input = CredentialInput {
            user_id: uuid_field("user_id", &f.user_id)?,
            institution_id: uuid_field("institution_id", &f.institution_id)?,
            name: f.name.clone(),
            documents: super::medical::split_list(&f.documents)
                .into_iter()
                .map(|name| RequiredDocument { name, received: false })
                .collect(),
            issued_on: super::form_date("issued_on", &f.issued_on).map_err(|e| ApiError::Invalid(vec![e]))?,
            expires_on: super::form_date("expires_on", &f.expires_on).map_err(|e| ApiError::Invalid(vec![e]))?,
        };
        dev::add_credential(&state.store, &who.acting(), input).await.map_err(ApiError::from)
    }
    .await;
    match r {
        Ok(_) => Ok(see_other("/device/credentials")),
        Err(e) => {
            let errors = form_errors(e)?;
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                render(&credentials_view(&state, &who, false, f, None, errors).await?),
            )
                .into_response())
        }
    }
}

/// Corrects a credential's name, required documents and dates; it stays with its specialist
/// and facility, and a document still required keeps its received mark.
async fn edit_credential(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<CredentialForm>,
) -> PageResult {
    writer(&who)?;
    let r = async {
        let old = dev::credentials(&state.store, &who.actor, None)
            .await?
            .into_iter()
            .find(|c| c.id == id)
            .ok_or(ApiError::NotFound("credential"))?;
        let received = |name: &str| old.documents.iter().any(|d| d.received && d.name.eq_ignore_ascii_case(name));
        let input = CredentialInput {
            user_id: old.user_id,
            institution_id: old.institution_id,
            name: f.name.clone(),
            documents: super::medical::split_list(&f.documents)
                .into_iter()
                .map(|name| RequiredDocument { received: received(&name), name })
                .collect(),
            issued_on: super::form_date("issued_on", &f.issued_on).map_err(|e| ApiError::Invalid(vec![e]))?,
            expires_on: super::form_date("expires_on", &f.expires_on).map_err(|e| ApiError::Invalid(vec![e]))?,
        };
        dev::update_credential(&state.store, &who.acting(), id, input).await.map_err(ApiError::from)
    }
    .await;
    match r {
        Ok(c) if c.user_id == who.user.id => Ok(see_other(&format!("/device/credentials#credential-{id}"))),
        Ok(_) => Ok(see_other(&format!("/device/credentials?all=1#credential-{id}"))),
        Err(e) => {
            let errors = form_errors(e)?;
            let form = CredentialForm { user_id: who.user.id.to_string(), ..Default::default() };
            let page = credentials_view(&state, &who, true, form, Some((id, f)), errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
        }
    }
}

#[derive(Deserialize, Default)]
struct DocumentForm {
    #[serde(default)]
    document: String,
    #[serde(default)]
    received: String,
}

async fn document_received(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<DocumentForm>,
) -> PageResult {
    writer(&who)?;
    dev::set_document_received(&state.store, &who.acting(), id, &f.document, f.received == "1").await?;
    Ok(see_other("/device/credentials"))
}

// ---------------------------------------------------------------- territory and week plan

#[derive(Deserialize, Default)]
struct PlanQuery {
    #[serde(default)]
    week: String,
    #[serde(default)]
    specialist: String,
}

pub struct PlanRow {
    day: String,
    time: String,
    title: String,
    href: String,
    kind: &'static str,
    done: bool,
    visit_id: Option<Uuid>,
}

pub struct AccountRow {
    name: String,
    city: String,
    last: String,
    next: String,
    stale: bool,
}

#[derive(Template)]
#[template(path = "device_plan.html")]
struct PlanPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    name: String,
    specialist: String,
    specialists: Choices,
    week: String,
    prev: String,
    next: String,
    items: Vec<PlanRow>,
    accounts: Vec<AccountRow>,
    account_choices: Choices,
    can_write: bool,
    /// Whether the viewer may change whose accounts these are (any device writer).
    can_assign: bool,
    /// Every account, and whether the shown specialist covers it.
    territory_choices: Vec<(String, String, bool)>,
    errors: Vec<(String, String)>,
}

fn monday(d: NaiveDate) -> NaiveDate {
    d - Duration::days(d.weekday().num_days_from_monday().into())
}

async fn plan_view(
    state: &AppState,
    who: &Authed,
    q: PlanQuery,
    errors: Vec<(String, String)>,
) -> Result<PlanPage, PageError> {
    reader(who)?;
    let tz = who.tz();
    let specialists = dev::specialists(&state.store, &who.actor).await?;
    let specialist = Uuid::parse_str(q.specialist.trim())
        .ok()
        .or_else(|| specialists.iter().find(|s| s.id == who.user.id).map(|s| s.id))
        .or_else(|| specialists.first().map(|s| s.id))
        .ok_or(PageError(ApiError::NotFound("clinical specialist")))?;
    let week = monday(NaiveDate::parse_from_str(q.week.trim(), "%Y-%m-%d").unwrap_or_else(|_| today(who)));
    let items = dev::week_plan(&state.store, &who.actor, specialist, week)
        .await?
        .into_iter()
        .map(|i| {
            let start = i.starts_at().with_timezone(&tz);
            let end = i.ends_at().with_timezone(&tz);
            let (href, kind, done, visit_id) = match &i {
                PlanItem::Visit(v) => (
                    format!("/device/plan?week={week}#visit-{}", v.id),
                    "Account visit",
                    v.done_at.is_some(),
                    Some(v.id),
                ),
                PlanItem::Case(c) => (format!("/device/cases/{}", c.id), "Case", c.status == "covered", None),
            };
            PlanRow {
                day: start.format("%a %-d %b").to_string(),
                time: format!("{}–{}", start.format("%H:%M"), end.format("%H:%M")),
                title: i.title(),
                href,
                kind,
                done,
                visit_id,
            }
        })
        .collect();
    let now = Utc::now();
    let territory = dev::territory(&state.store, &who.actor, specialist).await?;
    let account_choices = super::device::accounts(state).await?;
    let territory_choices = account_choices
        .iter()
        .map(|(id, name)| (id.clone(), name.clone(), territory.iter().any(|a| a.institution_id.to_string() == *id)))
        .collect();
    let accounts = territory
        .into_iter()
        .map(|a| AccountRow {
            name: a.institution_name,
            city: a.city,
            stale: a.last_visit_at.is_none_or(|l| now - l > Duration::days(60)),
            last: a.last_visit_at.map(|t| super::local(t, tz)).unwrap_or_else(|| "never".into()),
            next: a.next_visit_at.map(|t| super::local(t, tz)).unwrap_or_else(|| "none planned".into()),
        })
        .collect();
    Ok(PlanPage {
        chrome: chrome(state, who, "/device").await,
        tabs: tabs("/device/plan"),
        name: specialists.iter().find(|s| s.id == specialist).map(|s| s.name.clone()).unwrap_or_default(),
        specialist: specialist.to_string(),
        specialists: specialists.iter().map(|s| (s.id.to_string(), s.name.clone())).collect(),
        week: week.to_string(),
        prev: (week - Duration::days(7)).to_string(),
        next: (week + Duration::days(7)).to_string(),
        items,
        accounts,
        account_choices,
        can_write: who.can(WRITE, Target::ORG) && specialist == who.user.id,
        can_assign: who.can(WRITE, Target::ORG),
        territory_choices,
        errors,
    })
}

async fn plan(State(state): State<AppState>, who: Authed, Query(q): Query<PlanQuery>) -> PageResult {
    Ok(render(&plan_view(&state, &who, q, Vec::new()).await?))
}

#[derive(Deserialize, Default)]
struct VisitForm {
    #[serde(default)]
    institution_id: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    time: String,
    #[serde(default)]
    duration_minutes: String,
    #[serde(default)]
    purpose: String,
}

async fn plan_visit(State(state): State<AppState>, who: Authed, Form(f): Form<VisitForm>) -> PageResult {
    writer(&who)?;
    let r = async {
        let planned_at = form_instant(who.tz(), "date", &f.date, "time", &f.time).map_err(ApiError::Invalid)?;
        let input = dev::VisitInput {
            specialist_user_id: who.user.id,
            institution_id: uuid_field("institution_id", &f.institution_id)?,
            planned_at,
            duration_minutes: f.duration_minutes.trim().parse().unwrap_or(60),
            purpose: f.purpose.clone(),
        };
        dev::plan_visit(&state.store, &who.acting(), input).await.map_err(ApiError::from)
    }
    .await;
    match r {
        Ok(v) => {
            let week = monday(v.planned_at.with_timezone(&who.tz()).date_naive());
            Ok(see_other(&format!("/device/plan?week={week}")))
        }
        Err(e) => {
            let errors = form_errors(e)?;
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                render(&plan_view(&state, &who, PlanQuery::default(), errors).await?),
            )
                .into_response())
        }
    }
}

/// Sets the accounts a specialist covers from the ticked boxes (`institution_id` repeated);
/// the list replaces the one before.
async fn set_territory(State(state): State<AppState>, who: Authed, Path(id): Path<Uuid>, body: String) -> PageResult {
    writer(&who)?;
    let accounts = Pairs::parse(&body)?.ids("institution_id");
    match dev::set_territory(&state.store, &who.acting(), id, accounts).await.map_err(ApiError::from) {
        Ok(()) => Ok(see_other(&format!("/device/plan?specialist={id}#territory"))),
        Err(e) => {
            let errors = form_errors(e)?;
            let q = PlanQuery { specialist: id.to_string(), ..Default::default() };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&plan_view(&state, &who, q, errors).await?)).into_response())
        }
    }
}

#[derive(Deserialize, Default)]
struct DoneForm {
    #[serde(default)]
    notes: String,
}

async fn visit_done(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<DoneForm>,
) -> PageResult {
    writer(&who)?;
    let v = dev::complete_visit(&state.store, &who.acting(), id, &f.notes).await?;
    let week = monday(v.planned_at.with_timezone(&who.tz()).date_naive());
    Ok(see_other(&format!("/device/plan?week={week}")))
}

// ---------------------------------------------------------------- products and installed base

#[derive(Deserialize, Default, Clone)]
pub struct ProductForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    software_version: String,
    #[serde(default)]
    udi_di: String,
    #[serde(default)]
    certificate_months: String,
}

#[derive(Deserialize, Default, Clone)]
pub struct InstallForm {
    #[serde(default)]
    institution_id: String,
    #[serde(default)]
    department: String,
    #[serde(default)]
    product_id: String,
    #[serde(default)]
    serial: String,
    #[serde(default)]
    installed_on: String,
}

/// An installed unit as the installed-base table lists it.
pub struct InstallRow {
    id: Uuid,
    account: String,
    department: String,
    product: String,
    serial: String,
    installed_on: String,
    status: String,
    status_code: String,
}

#[derive(Template)]
#[template(path = "device_products.html")]
struct ProductsPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    products: Vec<dev::Product>,
    installed: Vec<InstallRow>,
    install_statuses: Vec<(&'static str, &'static str)>,
    can_write: bool,
    accounts: Choices,
    product_choices: Choices,
    product_form: ProductForm,
    install_form: InstallForm,
    /// The product whose correction was refused, with the values as typed.
    editing: Option<(Uuid, ProductForm)>,
    errors: Vec<(String, String)>,
}

impl ProductsPage {
    fn is_editing(&self, id: &Uuid) -> bool {
        self.editing.as_ref().is_some_and(|(e, _)| e == id)
    }

    /// The correction form of a product: as typed after a refusal, else as stored.
    fn edit_form(&self, p: &dev::Product) -> ProductForm {
        match &self.editing {
            Some((id, f)) if *id == p.id => f.clone(),
            _ => ProductForm {
                name: p.name.clone(),
                model: p.model.clone(),
                software_version: p.software_version.clone(),
                udi_di: p.udi_di.clone(),
                certificate_months: p.certificate_months.to_string(),
            },
        }
    }
}

impl ProductForm {
    fn input(&self) -> ProductInput {
        ProductInput {
            name: self.name.clone(),
            model: self.model.clone(),
            software_version: self.software_version.clone(),
            udi_di: self.udi_di.clone(),
            certificate_months: self.certificate_months.trim().parse().ok(),
        }
    }
}

async fn products_view(
    state: &AppState,
    who: &Authed,
    product_form: ProductForm,
    install_form: InstallForm,
    editing: Option<(Uuid, ProductForm)>,
    errors: Vec<(String, String)>,
) -> Result<ProductsPage, PageError> {
    reader(who)?;
    let installed = dev::installed_base(&state.store, &who.actor, None)
        .await?
        .into_iter()
        .map(|i| InstallRow {
            id: i.id,
            status: InstallStatus::parse(&i.status).map(|s| s.label().to_string()).unwrap_or_default(),
            status_code: i.status,
            account: i.institution_name,
            department: i.department,
            product: i.product_name,
            serial: i.serial,
            installed_on: i.installed_on.to_string(),
        })
        .collect();
    Ok(ProductsPage {
        chrome: chrome(state, who, "/device").await,
        tabs: tabs("/device/products"),
        products: dev::products(&state.store, &who.actor).await?,
        installed,
        install_statuses: InstallStatus::choices(),
        can_write: who.can(WRITE, Target::ORG),
        accounts: accounts(state).await?,
        product_choices: product_choices(state, who).await?,
        product_form,
        install_form,
        editing,
        errors,
    })
}

/// The products page again, answering 422, with a refused form's errors.
async fn products_refused(
    state: &AppState,
    who: &Authed,
    product_form: ProductForm,
    install_form: InstallForm,
    editing: Option<(Uuid, ProductForm)>,
    e: ApiError,
) -> PageResult {
    let errors = form_errors(e)?;
    let page = products_view(state, who, product_form, install_form, editing, errors).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
}

async fn products(State(state): State<AppState>, who: Authed) -> PageResult {
    let page = products_view(&state, &who, ProductForm::default(), InstallForm::default(), None, Vec::new()).await?;
    Ok(render(&page))
}

async fn create_product(State(state): State<AppState>, who: Authed, Form(f): Form<ProductForm>) -> PageResult {
    writer(&who)?;
    match dev::create_product(&state.store, &who.acting(), f.input()).await.map_err(ApiError::from) {
        Ok(_) => Ok(see_other("/device/products")),
        Err(e) => products_refused(&state, &who, f, InstallForm::default(), None, e).await,
    }
}

/// Corrects a product's name, model, software version, UDI-DI or certificate validity.
async fn update_product(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<ProductForm>,
) -> PageResult {
    writer(&who)?;
    match dev::update_product(&state.store, &who.acting(), id, f.input()).await.map_err(ApiError::from) {
        Ok(_) => Ok(see_other(&format!("/device/products#product-{id}"))),
        Err(e) => {
            products_refused(&state, &who, ProductForm::default(), InstallForm::default(), Some((id, f)), e).await
        }
    }
}

async fn install(State(state): State<AppState>, who: Authed, Form(f): Form<InstallForm>) -> PageResult {
    writer(&who)?;
    let r = async {
        let input = InstallInput {
            institution_id: uuid_field("institution_id", &f.institution_id)?,
            department: f.department.clone(),
            product_id: uuid_field("product_id", &f.product_id)?,
            serial: f.serial.clone(),
            installed_on: super::form_date("installed_on", &f.installed_on).map_err(|e| ApiError::Invalid(vec![e]))?,
            status: "active".into(),
        };
        dev::install(&state.store, &who.acting(), input).await.map_err(ApiError::from)
    }
    .await;
    match r {
        Ok(_) => Ok(see_other("/device/products#installed")),
        Err(e) => products_refused(&state, &who, ProductForm::default(), f, None, e).await,
    }
}

#[derive(Deserialize, Default)]
struct InstallStatusForm {
    #[serde(default)]
    status: String,
}

/// Moves an installed unit to another status (in use, loaner, out for service, decommissioned).
async fn install_status(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<InstallStatusForm>,
) -> PageResult {
    writer(&who)?;
    match dev::set_install_status(&state.store, &who.acting(), id, &f.status).await.map_err(ApiError::from) {
        Ok(_) => Ok(see_other(&format!("/device/products#install-{id}"))),
        Err(e) => products_refused(&state, &who, ProductForm::default(), InstallForm::default(), None, e).await,
    }
}
