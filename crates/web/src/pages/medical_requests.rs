//! Medical information requests (the list with SLA due times, a request's page with the
//! requester's typed signature, the response and the status moves) and safety intake (what
//! waits to be forwarded to pharmacovigilance, and forwarding it).

use super::medical::{RequestRow, SafetyRow, Tab, reader, request_row, safety_row, split_list, tabs, writer};
use super::{Chrome, PageError, PageResult, chrome, form_errors, render, see_other};
use crate::AppState;
use crate::auth::Authed;
use crate::error::ApiError;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::Utc;
use clinbridge_core::medical::{DeliveryMethod, Material, RequestStatus, SlaOutcome, Urgency};
use clinbridge_core::policy::Target;
use clinbridge_store::medical::{self as med, RequestEdit, ResponseInput};
use serde::Deserialize;
use uuid::Uuid;

pub fn register(r: crate::routes::Routes) -> crate::routes::Routes {
    r.get("/medical/requests", list)
        .get("/medical/requests/{id}", detail)
        .post("/medical/requests/{id}", edit)
        .post("/medical/requests/{id}/signature", sign)
        .post("/medical/requests/{id}/response", respond)
        .post("/medical/requests/{id}/status", status)
        .get("/medical/safety", safety)
        .post("/medical/safety/{id}/forward", forward)
        .post("/medical/settings/safety-clock", set_clock)
}

// ---------------------------------------------------------------- the list

#[derive(Deserialize, Default)]
struct ListQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    mine: Option<String>,
    #[serde(default)]
    overdue: Option<String>,
}

#[derive(Template)]
#[template(path = "medical_requests.html")]
struct ListPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    status: String,
    mine: bool,
    overdue: bool,
    statuses: Vec<(&'static str, &'static str)>,
    rows: Vec<RequestRow>,
    errors: Vec<(String, String)>,
}

async fn list(State(state): State<AppState>, who: Authed, Query(q): Query<ListQuery>) -> PageResult {
    reader(&who)?;
    let mine = q.mine.is_some_and(|m| !m.is_empty());
    let overdue = q.overdue.is_some_and(|m| !m.is_empty());
    let mut errors = Vec::new();
    let status = match q.status.trim() {
        "" => None,
        s => match RequestStatus::parse(s) {
            Ok(s) => Some(s.as_str().to_string()),
            Err(e) => {
                errors.extend(super::field_errors(e.0));
                None
            }
        },
    };
    let f = med::RequestFilter {
        status,
        assigned_user_id: mine.then_some(who.user.id),
        overdue,
        limit: Some(500),
        ..Default::default()
    };
    let rows = med::requests(&state.store, &f).await?.iter().map(|r| request_row(r, who.tz())).collect();
    Ok(render(&ListPage {
        chrome: chrome(&state, &who, "/medical").await,
        tabs: tabs("/medical/requests"),
        status: q.status,
        mine,
        overdue,
        statuses: RequestStatus::choices(),
        rows,
        errors,
    }))
}

// ---------------------------------------------------------------- one request

#[derive(Deserialize, Default, Clone)]
pub struct RequestForm {
    #[serde(default)]
    signed_name: String,
    #[serde(default)]
    response: String,
    #[serde(default)]
    document_name: String,
    #[serde(default)]
    document_version: String,
    #[serde(default)]
    questions: String,
    #[serde(default)]
    products: String,
    #[serde(default)]
    urgency: String,
    #[serde(default)]
    delivery_method: String,
    #[serde(default)]
    status: String,
    /// Set by the "Send response" button: save the text and mark the request answered.
    #[serde(default)]
    send: String,
}

#[derive(Template)]
#[template(path = "medical_request.html")]
struct RequestPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    id: Uuid,
    hcp_id: Uuid,
    hcp_name: String,
    questions: Vec<String>,
    products: String,
    urgency: String,
    delivery: String,
    received: String,
    due: String,
    sla: &'static str,
    sla_late: bool,
    status: String,
    assigned: String,
    interaction_id: Option<Uuid>,
    signed: Option<String>,
    response: String,
    documents: Vec<(String, String)>,
    answered: Option<String>,
    closed: Option<String>,
    moves: Vec<(&'static str, String)>,
    is_closed: bool,
    can_write: bool,
    urgencies: Vec<(&'static str, &'static str)>,
    deliveries: Vec<(&'static str, &'static str)>,
    form: RequestForm,
    errors: Vec<(String, String)>,
}

fn move_label(from: RequestStatus, to: RequestStatus) -> String {
    match to {
        RequestStatus::InProgress if from == RequestStatus::Answered => "Reopen for a follow-up question".into(),
        RequestStatus::InProgress => "Start work on it".into(),
        RequestStatus::Answered => "Mark answered".into(),
        RequestStatus::Closed => "Close the request".into(),
        RequestStatus::New => "Back to new".into(),
    }
}

async fn request_view(
    state: &AppState,
    who: &Authed,
    id: Uuid,
    form: Option<RequestForm>,
    errors: Vec<(String, String)>,
) -> Result<RequestPage, PageError> {
    reader(who)?;
    let tz = who.tz();
    let r = med::request(&state.store, id).await?;
    let form = form.unwrap_or_else(|| RequestForm {
        response: r.response.clone(),
        questions: r.questions.join("\n"),
        products: r.products.join(", "),
        urgency: r.urgency.clone(),
        delivery_method: r.delivery_method.clone(),
        ..Default::default()
    });
    let (sla, sla_late) = match r.sla(Utc::now()) {
        SlaOutcome::AnsweredOnTime => ("answered on time", false),
        SlaOutcome::AnsweredLate => ("answered late", true),
        SlaOutcome::OpenOverdue => ("overdue", true),
        SlaOutcome::OpenOnTrack => ("on track", false),
    };
    // An answered request moves back to work only when something is to be added; the
    // "answered" move is made by sending the response.
    let moves = r
        .next_statuses()
        .iter()
        .filter(|s| **s != RequestStatus::Answered)
        .map(|s| (s.as_str(), move_label(r.status(), *s)))
        .collect();
    Ok(RequestPage {
        chrome: chrome(state, who, "/medical").await,
        tabs: tabs("/medical/requests"),
        id,
        hcp_id: r.hcp_id,
        hcp_name: r.hcp_name.clone(),
        questions: r.questions.0.clone(),
        products: r.products.join(", "),
        urgency: Urgency::parse(&r.urgency).map(|u| u.label()).unwrap_or("").to_string(),
        delivery: DeliveryMethod::parse(&r.delivery_method).map(|d| d.label()).unwrap_or("").to_string(),
        received: super::local(r.received_at, tz),
        due: super::local(r.sla_due_at, tz),
        sla,
        sla_late,
        status: r.status().label().to_string(),
        assigned: r.assigned_name.clone(),
        interaction_id: r.interaction_id,
        signed: match (&r.signed_name, r.signed_at) {
            (Some(n), Some(at)) => Some(format!("{n}, {}", super::local(at, tz))),
            _ => None,
        },
        response: r.response.clone(),
        documents: r.response_documents.iter().map(|d| (d.name.clone(), d.version.clone())).collect(),
        answered: r.answered_at.map(|t| super::local(t, tz)),
        closed: r.closed_at.map(|t| super::local(t, tz)),
        moves,
        is_closed: r.status() == RequestStatus::Closed,
        can_write: who.can(super::medical::WRITE, Target::ORG),
        urgencies: Urgency::choices(),
        deliveries: DeliveryMethod::choices(),
        form,
        errors,
    })
}

async fn detail(State(state): State<AppState>, who: Authed, Path(id): Path<Uuid>) -> PageResult {
    Ok(render(&request_view(&state, &who, id, None, Vec::new()).await?))
}

async fn after(state: &AppState, who: &Authed, id: Uuid, f: RequestForm, r: Result<(), ApiError>) -> PageResult {
    match r {
        Ok(()) => Ok(see_other(&format!("/medical/requests/{id}"))),
        Err(e) => {
            let errors = form_errors(e)?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&request_view(state, who, id, Some(f), errors).await?))
                .into_response())
        }
    }
}

/// Corrects the request before it is answered: what was asked (until the requester signs),
/// products, urgency and delivery method (until signed).
async fn edit(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<RequestForm>,
) -> PageResult {
    writer(&who)?;
    let r = med::request(&state.store, id).await?;
    let questions: Vec<String> = f.questions.lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect();
    let products = split_list(&f.products);
    // Only what changed is sent, so a signed request can still take a new urgency or products.
    let e = RequestEdit {
        questions: (questions != r.questions.0).then_some(questions),
        delivery_method: (f.delivery_method.trim() != r.delivery_method).then(|| f.delivery_method.clone()),
        products: (products != r.products.0).then_some(products),
        urgency: (f.urgency.trim() != r.urgency).then(|| f.urgency.clone()),
        ..Default::default()
    };
    let res = med::edit_request(&state.store, &who.acting(), id, e).await.map(|_| ()).map_err(ApiError::from);
    after(&state, &who, id, f, res).await
}

async fn sign(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<RequestForm>,
) -> PageResult {
    writer(&who)?;
    let r =
        med::sign_request(&state.store, &who.acting(), id, &f.signed_name).await.map(|_| ()).map_err(ApiError::from);
    after(&state, &who, id, f, r).await
}

async fn respond(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<RequestForm>,
) -> PageResult {
    writer(&who)?;
    let mut documents = Vec::new();
    if !f.document_name.trim().is_empty() || !f.document_version.trim().is_empty() {
        documents.push(Material { name: f.document_name.clone(), version: f.document_version.clone() });
    }
    // Earlier documents stay with the response.
    let current = med::request(&state.store, id).await?;
    let mut all: Vec<Material> = current.response_documents.0.clone();
    all.extend(documents);
    let send = !f.send.is_empty();
    let r = async {
        let acting = who.acting();
        let saved =
            med::respond(&state.store, &acting, id, ResponseInput { text: f.response.clone(), documents: all }).await?;
        if send && saved.status() != RequestStatus::Answered {
            if saved.status() == RequestStatus::New {
                med::move_request(&state.store, &acting, id, RequestStatus::InProgress).await?;
            }
            med::move_request(&state.store, &acting, id, RequestStatus::Answered).await?;
        }
        Ok::<_, clinbridge_store::StoreError>(())
    }
    .await
    .map_err(ApiError::from);
    after(&state, &who, id, f, r).await
}

async fn status(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<RequestForm>,
) -> PageResult {
    writer(&who)?;
    let r = match RequestStatus::parse(&f.status) {
        Ok(to) => med::move_request(&state.store, &who.acting(), id, to).await.map(|_| ()).map_err(ApiError::from),
        Err(e) => Err(e.into()),
    };
    after(&state, &who, id, f, r).await
}

// ---------------------------------------------------------------- safety intake

#[derive(Template)]
#[template(path = "medical_safety.html")]
struct SafetyPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    pending: Vec<SafetyRow>,
    forwarded: Vec<SafetyRow>,
    clock_hours: i64,
    can_write: bool,
    can_admin: bool,
    failed: Option<Uuid>,
    form: ForwardForm,
    errors: Vec<(String, String)>,
}

#[derive(Deserialize, Default, Clone)]
pub struct ForwardForm {
    #[serde(default)]
    forwarded_to: String,
    #[serde(default)]
    reference: String,
}

impl SafetyPage {
    fn failed_here(&self, id: &Uuid) -> bool {
        self.failed == Some(*id)
    }
}

async fn safety_view(
    state: &AppState,
    who: &Authed,
    failed: Option<Uuid>,
    form: ForwardForm,
    errors: Vec<(String, String)>,
) -> Result<SafetyPage, PageError> {
    reader(who)?;
    let tz = who.tz();
    let all = med::safety_intakes(&state.store, false).await?;
    let (pending, forwarded): (Vec<_>, Vec<_>) = all.iter().partition(|s| !s.forwarded());
    Ok(SafetyPage {
        chrome: chrome(state, who, "/medical").await,
        tabs: tabs("/medical/safety"),
        pending: pending.iter().map(|s| safety_row(s, tz)).collect(),
        forwarded: forwarded.iter().map(|s| safety_row(s, tz)).collect(),
        clock_hours: med::safety_clock_hours(&state.store).await?,
        can_write: who.can(super::medical::WRITE, Target::ORG),
        can_admin: who.can(super::medical::ADMIN, Target::ORG),
        failed,
        form: if form.forwarded_to.is_empty() {
            ForwardForm { forwarded_to: "Pharmacovigilance".into(), ..form }
        } else {
            form
        },
        errors,
    })
}

async fn safety(State(state): State<AppState>, who: Authed) -> PageResult {
    Ok(render(&safety_view(&state, &who, None, ForwardForm::default(), Vec::new()).await?))
}

async fn forward(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<ForwardForm>,
) -> PageResult {
    writer(&who)?;
    match med::forward_safety(&state.store, &who.acting(), id, &f.forwarded_to, &f.reference, None)
        .await
        .map_err(ApiError::from)
    {
        Ok(_) => Ok(see_other("/medical/safety")),
        Err(e) => {
            let errors = form_errors(e)?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&safety_view(&state, &who, Some(id), f, errors).await?))
                .into_response())
        }
    }
}

#[derive(Deserialize)]
struct ClockForm {
    #[serde(default)]
    hours: String,
}

/// Sets the organization's forwarding clock for new safety intakes (medical managers).
async fn set_clock(State(state): State<AppState>, who: Authed, Form(f): Form<ClockForm>) -> PageResult {
    who.require(super::medical::ADMIN, Target::ORG)?;
    let r = match f.hours.trim().parse::<i64>() {
        Ok(h) => med::set_safety_clock_hours(&state.store, &who.acting(), h).await.map(|_| ()).map_err(ApiError::from),
        Err(_) => Err(ApiError::field("safety_forward_hours", "must be a whole number of hours")),
    };
    match r {
        Ok(()) => Ok(see_other("/medical/safety")),
        Err(e) => {
            let errors = form_errors(e)?;
            let page = safety_view(&state, &who, None, ForwardForm::default(), errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
        }
    }
}
