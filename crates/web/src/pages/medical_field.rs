//! Field medical pages for the work in the field: logging an interaction in one form (with the
//! insight heard, a medical information request and safety information, all saved together or
//! not at all), the interaction's page, the insight board with its drill-down, and congresses
//! with their programme of sessions.

use super::medical::{
    InteractionRow, Pairs, RequestRow, SafetyRow, Tab, interaction_row, reader, request_row, safety_row, split_list,
    tabs, writer,
};
use super::{Chrome, PageError, PageResult, chrome, form_errors, form_instant, local_today, render, see_other};
use crate::AppState;
use crate::auth::{Authed, urlencode};
use crate::error::ApiError;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::{Duration, NaiveDate, Utc};
use clinbridge_core::FieldError;
use clinbridge_core::medical::{
    Channel, DeliveryMethod, EventInput, FollowUpInput, Granularity, InsightCategory, InsightInput, InsightSource,
    InteractionInput, Material, RequestInput, SafetyInput, SafetyKind, SessionInput, Urgency,
};
use clinbridge_core::policy::Target;
use clinbridge_store::medical::{self as med, BoardDimension, BoardQuery, InsightDraft, InteractionLog};
use serde::Deserialize;
use uuid::Uuid;

pub fn register(r: crate::routes::Routes) -> crate::routes::Routes {
    r.get("/medical/interactions", list)
        .get("/medical/interactions/new", log_form)
        .post("/medical/interactions", log)
        .get("/medical/interactions/{id}", detail)
        .get("/medical/interactions/{id}/edit", edit_form)
        .post("/medical/interactions/{id}", edit)
        .post("/medical/interactions/{id}/insights", add_insight)
        .post("/medical/interactions/{id}/follow-ups", add_follow_up)
        .post("/medical/interactions/{id}/safety", report_safety)
        .post("/medical/follow-ups/{id}/done", follow_up_done)
        .get("/medical/insights", board)
        .get("/medical/events", events)
        .post("/medical/events", create_event)
        .get("/medical/events/{id}", event)
        .post("/medical/events/{id}", edit_event)
        .post("/medical/events/{id}/sessions", add_session)
        .post("/medical/events/{id}/sessions/{session}/delete", remove_session)
        .post("/medical/events/{id}/insights", add_event_insight)
}

/// A typed time, with a blank one read as midnight (as these forms always have).
fn or_midnight(time: &str) -> &str {
    if time.trim().is_empty() { "00:00" } else { time }
}

// ---------------------------------------------------------------- the interaction log

/// What the log form holds, kept as typed so a refused form comes back filled in.
#[derive(Default, Clone)]
pub struct LogForm {
    date: String,
    time: String,
    channel: String,
    hcps: Vec<Uuid>,
    colleagues: Vec<Uuid>,
    event_id: String,
    topics: String,
    products: String,
    material_name: Vec<String>,
    material_version: Vec<String>,
    notes: String,
    follow_up: String,
    follow_up_due: String,
    insight_category: String,
    insight_product: String,
    insight_area: String,
    insight_tags: String,
    insight_text: String,
    request_unsolicited: String,
    request_questions: String,
    request_products: String,
    request_urgency: String,
    request_delivery: String,
    safety_kind: String,
    safety_product: String,
    safety_description: String,
    safety_patient: String,
    part: String,
}

impl LogForm {
    fn from_pairs(p: &Pairs) -> Self {
        LogForm {
            date: p.get("date"),
            time: p.get("time"),
            channel: p.get("channel"),
            hcps: p.ids("hcp_id"),
            colleagues: p.ids("colleague_id"),
            event_id: p.get("event_id"),
            topics: p.get("topics"),
            products: p.get("products"),
            material_name: p.all("material_name"),
            material_version: p.all("material_version"),
            notes: p.get("notes"),
            follow_up: p.get("follow_up"),
            follow_up_due: p.get("follow_up_due"),
            insight_category: p.get("insight_category"),
            insight_product: p.get("insight_product"),
            insight_area: p.get("insight_area"),
            insight_tags: p.get("insight_tags"),
            insight_text: p.get("insight_text"),
            request_unsolicited: p.get("request_unsolicited"),
            request_questions: p.get("request_questions"),
            request_products: p.get("request_products"),
            request_urgency: p.get("request_urgency"),
            request_delivery: p.get("request_delivery"),
            safety_kind: p.get("safety_kind"),
            safety_product: p.get("safety_product"),
            safety_description: p.get("safety_description"),
            safety_patient: p.get("safety_patient"),
            part: String::new(),
        }
    }

    fn has_request(&self) -> bool {
        !self.request_questions.trim().is_empty() || !self.request_unsolicited.is_empty()
    }

    fn has_safety(&self) -> bool {
        !self.safety_description.trim().is_empty()
    }

    /// The combined log, or the field errors of the date, time and follow-up fields.
    fn to_log(&self, tz: chrono_tz::Tz) -> Result<InteractionLog, ApiError> {
        let mut errs = Vec::new();
        let occurred_at =
            form_instant(tz, "date", &self.date, "time", or_midnight(&self.time)).map_err(|e| errs.extend(e)).ok();
        let mut follow_ups = Vec::new();
        if !self.follow_up.trim().is_empty() {
            // Due at the end of the working day, in the MSL's zone.
            match form_instant(tz, "follow_up_due", &self.follow_up_due, "follow_up_due", "17:00") {
                Ok(due) => {
                    follow_ups.push(FollowUpInput { title: self.follow_up.clone(), due_at: due, assignee: None })
                }
                Err(_) => errs.push(FieldError::new("follow_up_due", "give the date the follow-up is due")),
            }
        }
        if !errs.is_empty() {
            return Err(ApiError::Invalid(errs));
        }
        let materials = self
            .material_name
            .iter()
            .zip(self.material_version.iter().chain(std::iter::repeat(&String::new())))
            .map(|(n, v)| Material { name: n.clone(), version: v.clone() })
            .collect();
        let interaction = InteractionInput {
            occurred_at: occurred_at.unwrap_or_else(Utc::now),
            channel: self.channel.clone(),
            hcp_ids: self.hcps.clone(),
            colleague_ids: self.colleagues.clone(),
            topics: split_list(&self.topics),
            products: split_list(&self.products),
            materials,
            notes: self.notes.clone(),
            follow_ups,
            event_id: Uuid::parse_str(self.event_id.trim()).ok(),
        };
        let insights = if self.insight_text.trim().is_empty() {
            Vec::new()
        } else {
            vec![InsightDraft {
                category: self.insight_category.clone(),
                product: self.insight_product.clone(),
                therapeutic_area: self.insight_area.clone(),
                tags: split_list(&self.insight_tags),
                text: self.insight_text.clone(),
            }]
        };
        let request = self.has_request().then(|| RequestInput {
            hcp_id: self.hcps.first().copied(),
            unsolicited: Some(self.request_unsolicited == "yes"),
            questions: self.request_questions.lines().map(str::to_string).collect(),
            products: split_list(&self.request_products),
            urgency: self.request_urgency.clone(),
            delivery_method: self.request_delivery.clone(),
            received_at: None,
            assigned_to: None,
            interaction_id: None,
        });
        let safety = self.has_safety().then(|| SafetyInput {
            kind: self.safety_kind.clone(),
            interaction_id: None,
            hcp_id: self.hcps.first().copied(),
            product: self.safety_product.clone(),
            description: self.safety_description.clone(),
            patient: self.safety_patient.clone(),
            aware_at: None,
        });
        Ok(InteractionLog { interaction, insights, request, safety })
    }
}

#[derive(Template)]
#[template(path = "medical_log.html")]
struct LogPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    /// Where the form posts: a new log, or the correction of interaction `editing`.
    editing: Option<Uuid>,
    form: LogForm,
    hcps: Vec<(Uuid, String)>,
    colleagues: Vec<(Uuid, String)>,
    events: Vec<(String, String)>,
    channels: Vec<(&'static str, &'static str)>,
    categories: Vec<(&'static str, &'static str)>,
    urgencies: Vec<(&'static str, &'static str)>,
    deliveries: Vec<(&'static str, &'static str)>,
    safety_kinds: Vec<(&'static str, &'static str)>,
    errors: Vec<(String, String)>,
}

impl LogPage {
    fn hcp_selected(&self, id: &Uuid) -> bool {
        self.form.hcps.contains(id)
    }
    fn colleague_selected(&self, id: &Uuid) -> bool {
        self.form.colleagues.contains(id)
    }
    /// The document rows of the form: those typed, then blank ones up to two.
    fn material_rows(&self) -> Vec<(usize, String, String)> {
        let n = self.form.material_name.len().max(2);
        (0..n)
            .map(|i| {
                (
                    i,
                    self.form.material_name.get(i).cloned().unwrap_or_default(),
                    self.form.material_version.get(i).cloned().unwrap_or_default(),
                )
            })
            .collect()
    }
}

/// The people who may attend as colleagues: users with a field medical role.
async fn medical_colleagues(state: &AppState, except: Uuid) -> Result<Vec<(Uuid, String)>, PageError> {
    use clinbridge_core::identity::Role;
    let grants = clinbridge_store::identity::all_grants(&state.store).await?;
    let mut out = Vec::new();
    for u in clinbridge_store::identity::users(&state.store).await? {
        if u.active
            && u.id != except
            && grants.iter().any(|g| g.user_id == u.id && matches!(g.role, Role::Msl | Role::MedicalManager))
        {
            out.push((u.id, u.name));
        }
    }
    Ok(out)
}

async fn log_view(
    state: &AppState,
    who: &Authed,
    editing: Option<Uuid>,
    form: LogForm,
    errors: Vec<(String, String)>,
) -> Result<LogPage, PageError> {
    writer(who)?;
    let hcps = med::search_hcps(&state.store, &med::HcpSearch { limit: Some(500), ..Default::default() })
        .await?
        .into_iter()
        .map(|l| {
            let name = match &l.institution {
                Some(i) => format!("{}, {} — {}", l.hcp.last_name, l.hcp.first_name, i),
                None => format!("{}, {}", l.hcp.last_name, l.hcp.first_name),
            };
            (l.hcp.id, name)
        })
        .collect();
    let today = local_today(who);
    let events = med::events(&state.store, Some(today - Duration::days(60)))
        .await?
        .into_iter()
        .map(|e| (e.id.to_string(), format!("{} ({} – {})", e.name, e.starts_on, e.ends_on)))
        .collect();
    Ok(LogPage {
        chrome: chrome(state, who, "/medical").await,
        tabs: tabs("/medical/interactions"),
        editing,
        form,
        hcps,
        colleagues: medical_colleagues(state, who.user.id).await?,
        events,
        channels: Channel::choices(),
        categories: InsightCategory::choices(),
        urgencies: Urgency::choices(),
        deliveries: DeliveryMethod::choices(),
        safety_kinds: SafetyKind::choices(),
        errors,
    })
}

#[derive(Deserialize, Default)]
struct NewQuery {
    #[serde(default)]
    hcp: Option<Uuid>,
    #[serde(default)]
    event: Option<Uuid>,
    #[serde(default)]
    part: String,
}

async fn log_form(State(state): State<AppState>, who: Authed, Query(q): Query<NewQuery>) -> PageResult {
    let now = Utc::now().with_timezone(&who.tz());
    let form = LogForm {
        date: now.format("%Y-%m-%d").to_string(),
        time: now.format("%H:%M").to_string(),
        channel: if q.event.is_some() { "congress".into() } else { "in_person".into() },
        hcps: q.hcp.into_iter().collect(),
        event_id: q.event.map(|e| e.to_string()).unwrap_or_default(),
        insight_category: "unmet_need".into(),
        request_urgency: "routine".into(),
        request_delivery: "email".into(),
        safety_kind: "adverse_event".into(),
        part: q.part,
        ..Default::default()
    };
    Ok(render(&log_view(&state, &who, None, form, Vec::new()).await?))
}

async fn log(State(state): State<AppState>, who: Authed, body: String) -> PageResult {
    writer(&who)?;
    let pairs = Pairs::parse(&body)?;
    let form = LogForm::from_pairs(&pairs);
    let r = match form.to_log(who.tz()) {
        Ok(l) => med::log_interaction(&state.store, &who.acting(), l).await.map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match r {
        Ok(logged) => Ok(see_other(&format!("/medical/interactions/{}", logged.interaction.id))),
        Err(e) => {
            let errors = form_errors(e)?.into_iter().map(|(f, m)| (field_label(&f), m)).collect();
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&log_view(&state, &who, None, form, errors).await?))
                .into_response())
        }
    }
}

/// The correction form of an interaction, filled in as recorded (follow-ups, insights,
/// requests and safety reports are kept on the interaction's page).
async fn edit_form(State(state): State<AppState>, who: Authed, Path(id): Path<Uuid>) -> PageResult {
    writer(&who)?;
    let i = med::interaction(&state.store, id).await?;
    let local = i.occurred_at.with_timezone(&who.tz());
    let form = LogForm {
        date: local.format("%Y-%m-%d").to_string(),
        time: local.format("%H:%M").to_string(),
        channel: i.channel.clone(),
        hcps: i.hcps.iter().map(|h| h.id).collect(),
        colleagues: i.colleagues.iter().map(|c| c.id).collect(),
        event_id: i.event_id.map(|e| e.to_string()).unwrap_or_default(),
        topics: i.topics.join(", "),
        products: i.products.join(", "),
        material_name: i.materials.iter().map(|m| m.name.clone()).collect(),
        material_version: i.materials.iter().map(|m| m.version.clone()).collect(),
        notes: i.notes.clone(),
        ..Default::default()
    };
    Ok(render(&log_view(&state, &who, Some(id), form, Vec::new()).await?))
}

async fn edit(State(state): State<AppState>, who: Authed, Path(id): Path<Uuid>, body: String) -> PageResult {
    writer(&who)?;
    med::interaction(&state.store, id).await?;
    let form = LogForm::from_pairs(&Pairs::parse(&body)?);
    let r = match form.to_log(who.tz()) {
        Ok(l) => med::update_interaction(&state.store, &who.acting(), id, l.interaction).await.map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match r {
        Ok(_) => Ok(see_other(&format!("/medical/interactions/{id}"))),
        Err(e) => {
            let errors = form_errors(e)?.into_iter().map(|(f, m)| (field_label(&f), m)).collect();
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&log_view(&state, &who, Some(id), form, errors).await?))
                .into_response())
        }
    }
}

/// A field name of the combined log as the form labels it.
fn field_label(f: &str) -> String {
    let label = match f {
        "occurred_at" | "date" => "Date",
        "time" => "Time",
        "channel" => "Channel",
        "hcp_ids" => "Healthcare professionals",
        "colleague_ids" => "Colleagues",
        "topics" => "Topics",
        "products" => "Products discussed",
        "materials" => "Materials shared",
        "notes" => "Notes",
        "event_id" => "Congress",
        "follow_up_due" => "Follow-up due",
        "insights[0].category" => "Insight category",
        "insights[0].product" => "Insight product",
        "insights[0].therapeutic_area" => "Insight therapeutic area",
        "insights[0].tags" => "Insight tags",
        "insights[0].text" => "Insight",
        "request.unsolicited" => "Request: unsolicited",
        "request.questions" => "Request: question",
        "request.hcp_id" => "Request: requester",
        "request.products" => "Request: products",
        "request.urgency" => "Request: urgency",
        "request.delivery_method" => "Request: delivery",
        "safety.kind" => "Safety: kind",
        "safety.product" => "Safety: product",
        "safety.description" => "Safety: what happened",
        "safety.patient" => "Safety: patient",
        "safety.aware_at" => "Safety: day 0",
        other if other.starts_with("follow_ups") => "Follow-up",
        other => return other.to_string(),
    };
    label.to_string()
}

// ---------------------------------------------------------------- interactions list and page

#[derive(Deserialize, Default)]
struct ListQuery {
    #[serde(default)]
    mine: Option<String>,
}

#[derive(Template)]
#[template(path = "medical_interactions.html")]
struct ListPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    mine: bool,
    rows: Vec<InteractionRow>,
    can_write: bool,
}

async fn list(State(state): State<AppState>, who: Authed, Query(q): Query<ListQuery>) -> PageResult {
    reader(&who)?;
    let mine = q.mine.is_some_and(|m| !m.is_empty());
    let f =
        med::InteractionFilter { owner_user_id: mine.then_some(who.user.id), limit: Some(200), ..Default::default() };
    let rows = med::interactions(&state.store, &f).await?.iter().map(|i| interaction_row(i, who.tz())).collect();
    Ok(render(&ListPage {
        chrome: chrome(&state, &who, "/medical").await,
        tabs: tabs("/medical/interactions"),
        mine,
        rows,
        can_write: who.can(super::medical::WRITE, Target::ORG),
    }))
}

pub struct InsightRow {
    text: String,
    category: String,
    product: String,
    tags: String,
    heard_on: String,
}

fn insight_row(i: &med::Insight) -> InsightRow {
    InsightRow {
        text: i.text.clone(),
        category: i.category_label().to_string(),
        product: i.product.clone(),
        tags: i.tags.join(", "),
        heard_on: i.heard_on.to_string(),
    }
}

pub struct FollowUpRow {
    id: Uuid,
    title: String,
    due: String,
    done: Option<String>,
}

#[derive(Default, Clone, Deserialize)]
pub struct SmallForm {
    #[serde(default)]
    category: String,
    #[serde(default)]
    product: String,
    #[serde(default)]
    therapeutic_area: String,
    #[serde(default)]
    tags: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    due: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    patient: String,
}

#[derive(Template)]
#[template(path = "medical_interaction.html")]
struct DetailPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    id: Uuid,
    when: String,
    channel: String,
    owner: String,
    event: Option<(Uuid, String)>,
    hcps: Vec<(Uuid, String)>,
    colleagues: Vec<String>,
    topics: String,
    products: String,
    materials: Vec<(String, String)>,
    notes: String,
    follow_ups: Vec<FollowUpRow>,
    insights: Vec<InsightRow>,
    requests: Vec<RequestRow>,
    safety: Vec<SafetyRow>,
    can_write: bool,
    categories: Vec<(&'static str, &'static str)>,
    safety_kinds: Vec<(&'static str, &'static str)>,
    form: SmallForm,
    errors: Vec<(String, String)>,
}

async fn detail_view(
    state: &AppState,
    who: &Authed,
    id: Uuid,
    form: SmallForm,
    errors: Vec<(String, String)>,
) -> Result<DetailPage, PageError> {
    reader(who)?;
    let tz = who.tz();
    let i = med::interaction(&state.store, id).await?;
    let event = match i.event_id {
        Some(e) => Some((e, med::event(&state.store, e).await?.name)),
        None => None,
    };
    let insights = med::insights(&state.store, &med::InsightFilter { interaction_id: Some(id), ..Default::default() })
        .await?
        .iter()
        .map(insight_row)
        .collect();
    let mut requests = Vec::new();
    for h in &i.hcps {
        for r in med::requests(&state.store, &med::RequestFilter { hcp_id: Some(h.id), ..Default::default() }).await? {
            if r.interaction_id == Some(id) && !requests.iter().any(|x: &RequestRow| x.id == r.id) {
                requests.push(request_row(&r, tz));
            }
        }
    }
    let safety = med::safety_for_interaction(&state.store, id).await?.iter().map(|s| safety_row(s, tz)).collect();
    let form = if form.category.is_empty() && form.kind.is_empty() {
        SmallForm { category: "unmet_need".into(), kind: "adverse_event".into(), ..form }
    } else {
        form
    };
    Ok(DetailPage {
        chrome: chrome(state, who, "/medical").await,
        tabs: tabs("/medical/interactions"),
        id,
        when: super::local(i.occurred_at, tz),
        channel: Channel::parse(&i.channel).map(|c| c.label()).unwrap_or("").to_string(),
        owner: i.owner_name.clone(),
        event,
        hcps: i.hcps.iter().map(|h| (h.id, h.name.clone())).collect(),
        colleagues: i.colleagues.iter().map(|c| c.name.clone()).collect(),
        topics: i.topics.join(", "),
        products: i.products.join(", "),
        materials: i.materials.iter().map(|m| (m.name.clone(), m.version.clone())).collect(),
        notes: i.notes.clone(),
        follow_ups: i
            .follow_ups
            .iter()
            .map(|f| FollowUpRow {
                id: f.id,
                title: f.title.clone(),
                due: super::local(f.due_at, tz),
                done: f.done_at.map(|d| super::local(d, tz)),
            })
            .collect(),
        insights,
        requests,
        safety,
        can_write: who.can(super::medical::WRITE, Target::ORG),
        categories: InsightCategory::choices(),
        safety_kinds: SafetyKind::choices(),
        form,
        errors,
    })
}

async fn detail(State(state): State<AppState>, who: Authed, Path(id): Path<Uuid>) -> PageResult {
    Ok(render(&detail_view(&state, &who, id, SmallForm::default(), Vec::new()).await?))
}

/// Answers a small form on the interaction page: back to the page, or the page with errors.
async fn after(state: &AppState, who: &Authed, id: Uuid, f: SmallForm, r: Result<(), ApiError>) -> PageResult {
    match r {
        Ok(()) => Ok(see_other(&format!("/medical/interactions/{id}"))),
        Err(e) => {
            let errors = form_errors(e)?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&detail_view(state, who, id, f, errors).await?))
                .into_response())
        }
    }
}

fn insight_input(source: InsightSource, f: &SmallForm) -> InsightInput {
    InsightInput {
        source,
        category: f.category.clone(),
        product: f.product.clone(),
        therapeutic_area: f.therapeutic_area.clone(),
        tags: split_list(&f.tags),
        text: f.text.clone(),
    }
}

async fn add_insight(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<SmallForm>,
) -> PageResult {
    writer(&who)?;
    med::interaction(&state.store, id).await?;
    let r = med::record_insight(&state.store, &who.acting(), insight_input(InsightSource::Interaction(id), &f))
        .await
        .map(|_| ())
        .map_err(ApiError::from);
    after(&state, &who, id, f, r).await
}

async fn add_follow_up(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<SmallForm>,
) -> PageResult {
    writer(&who)?;
    med::interaction(&state.store, id).await?;
    let r = match form_instant(who.tz(), "due", &f.due, "due", "17:00") {
        Ok(due) => med::add_follow_up(
            &state.store,
            &who.acting(),
            id,
            FollowUpInput { title: f.title.clone(), due_at: due, assignee: None },
        )
        .await
        .map(|_| ())
        .map_err(ApiError::from),
        Err(e) => Err(ApiError::Invalid(e)),
    };
    after(&state, &who, id, f, r).await
}

async fn report_safety(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<SmallForm>,
) -> PageResult {
    writer(&who)?;
    let i = med::interaction(&state.store, id).await?;
    let input = SafetyInput {
        kind: f.kind.clone(),
        interaction_id: Some(id),
        hcp_id: i.hcps.first().map(|h| h.id),
        product: f.product.clone(),
        description: f.description.clone(),
        patient: f.patient.clone(),
        aware_at: None,
    };
    let r = med::report_safety(&state.store, &who.acting(), input).await.map(|_| ()).map_err(ApiError::from);
    after(&state, &who, id, f, r).await
}

async fn follow_up_done(State(state): State<AppState>, who: Authed, Path(id): Path<Uuid>) -> PageResult {
    writer(&who)?;
    let f = med::complete_follow_up(&state.store, &who.acting(), id).await?;
    Ok(see_other(&format!("/medical/interactions/{}", f.interaction_id)))
}

// ---------------------------------------------------------------- the insight board

#[derive(Deserialize, Default)]
struct BoardParams {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    granularity: String,
    #[serde(default)]
    dimension: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    period: String,
}

/// A table of the board: rows of counts per period, each count a link to its insights.
pub struct BoardTable {
    title: &'static str,
    heading: &'static str,
    rows: Vec<BoardTableRow>,
}

pub struct BoardTableRow {
    label: String,
    cells: Vec<(i64, String)>,
    total: i64,
    total_href: String,
}

/// A stacked column per period, one colour per category.
pub struct Column {
    x: i64,
    label: String,
    total: i64,
    segments: Vec<(i64, i64, &'static str, String)>,
}

const PALETTE: [&str; 7] = ["#2f6f8f", "#b5651d", "#4c8c4a", "#8e5ea2", "#c44e52", "#7f7f7f", "#d4a017"];

#[derive(Template)]
#[template(path = "medical_insights.html")]
struct BoardPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    from: String,
    to: String,
    granularity: &'static str,
    columns: Vec<Column>,
    legend: Vec<(String, &'static str)>,
    chart_height: i64,
    chart_width: i64,
    max: i64,
    tables: Vec<BoardTable>,
    drill_title: String,
    drill: Option<Vec<InsightRow>>,
    errors: Vec<(String, String)>,
}

async fn board(State(state): State<AppState>, who: Authed, Query(p): Query<BoardParams>) -> PageResult {
    reader(&who)?;
    let today = local_today(&who);
    let mut errors = Vec::new();
    let mut date = |field: &str, raw: &str, default: NaiveDate| {
        if raw.trim().is_empty() {
            return default;
        }
        NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").unwrap_or_else(|_| {
            errors.push((field.to_string(), "must be a date".to_string()));
            default
        })
    };
    let from = date("from", &p.from, today - Duration::days(364));
    let to = date("to", &p.to, today);
    let granularity = Granularity::parse(&p.granularity).unwrap_or(Granularity::Month);
    let q = BoardQuery { from, to, granularity };
    let b = match med::insight_board(&state.store, &q).await.map_err(ApiError::from) {
        Ok(b) => b,
        Err(e) => {
            errors.extend(form_errors(e)?);
            med::insight_board(
                &state.store,
                &BoardQuery { from: today - Duration::days(364), to: today, granularity: Granularity::Month },
            )
            .await?
        }
    };
    let span = |d: &str, key: &str, period: Option<&str>| {
        let mut h = format!(
            "/medical/insights?from={from}&to={to}&granularity={}&dimension={d}&key={}",
            granularity_str(granularity),
            urlencode(key)
        );
        if let Some(p) = period {
            h.push_str(&format!("&period={}", urlencode(p)));
        }
        h.push_str("#drill");
        h
    };
    let table =
        |title: &'static str, heading: &'static str, dimension: &'static str, rows: &[med::BoardRow]| BoardTable {
            title,
            heading,
            rows: rows
                .iter()
                .map(|r| BoardTableRow {
                    label: if r.label.is_empty() { "(none)".into() } else { r.label.clone() },
                    cells: r
                        .counts
                        .iter()
                        .zip(&b.periods)
                        .map(|(c, per)| (*c, span(dimension, &r.key, Some(per))))
                        .collect(),
                    total: r.total,
                    total_href: span(dimension, &r.key, None),
                })
                .collect(),
        };
    let tables = vec![
        table("By category", "Category", "category", &b.by_category),
        table("By product", "Product", "product", &b.by_product),
        table("By tag", "Tag", "tag", &b.by_tag),
    ];
    // The chart: a stacked column per period, coloured by category.
    let max = b.totals.iter().copied().max().unwrap_or(0).max(1);
    let chart_height = 180;
    let step = 48;
    let legend: Vec<(String, &'static str)> =
        b.by_category.iter().enumerate().map(|(n, r)| (r.label.clone(), PALETTE[n % PALETTE.len()])).collect();
    let columns = b
        .periods
        .iter()
        .enumerate()
        .map(|(pi, per)| {
            let mut y = chart_height;
            let mut segments = Vec::new();
            for (n, r) in b.by_category.iter().enumerate() {
                let c = r.counts[pi];
                if c == 0 {
                    continue;
                }
                let h = c * chart_height / max;
                y -= h;
                segments.push((y, h, PALETTE[n % PALETTE.len()], format!("{}: {c} in {per}", r.label)));
            }
            Column { x: pi as i64 * step, label: per.clone(), total: b.totals[pi], segments }
        })
        .collect();
    // The drill-down: the insights behind a count.
    let (drill_title, drill) = if p.dimension.is_empty() {
        (String::new(), None)
    } else {
        match BoardDimension::parse(&p.dimension) {
            Ok(d) => {
                let list = if p.period.is_empty() {
                    let mut f =
                        med::InsightFilter { from: Some(from), to: Some(to), limit: Some(500), ..Default::default() };
                    match d {
                        BoardDimension::Tag => f.tag = Some(p.key.clone()),
                        BoardDimension::Category => f.category = Some(p.key.clone()),
                        BoardDimension::Product => f.product = Some(p.key.clone()),
                    }
                    med::insights(&state.store, &f).await.map_err(ApiError::from)
                } else {
                    med::insight_cell(&state.store, &q, d, &p.key, &p.period).await.map_err(ApiError::from)
                };
                let what = match d {
                    BoardDimension::Category => {
                        InsightCategory::parse(&p.key).map(|c| c.label().to_string()).unwrap_or(p.key.clone())
                    }
                    _ if p.key.is_empty() => "(none)".to_string(),
                    _ => p.key.clone(),
                };
                let when = if p.period.is_empty() { format!("{from} to {to}") } else { p.period.clone() };
                match list {
                    Ok(l) => (format!("{what}, {when}"), Some(l.iter().map(insight_row).collect())),
                    Err(e) => {
                        errors.extend(form_errors(e)?);
                        (String::new(), None)
                    }
                }
            }
            Err(e) => {
                errors.extend(super::field_errors(e.0));
                (String::new(), None)
            }
        }
    };
    let chart_width = (b.periods.len() as i64 * step).max(step);
    Ok(render(&BoardPage {
        chrome: chrome(&state, &who, "/medical").await,
        tabs: tabs("/medical/insights"),
        from: from.to_string(),
        to: to.to_string(),
        granularity: granularity_str(granularity),
        columns,
        legend,
        chart_height,
        chart_width,
        max,
        tables,
        drill_title,
        drill,
        errors,
    }))
}

fn granularity_str(g: Granularity) -> &'static str {
    match g {
        Granularity::Month => "month",
        Granularity::Quarter => "quarter",
    }
}

// ---------------------------------------------------------------- congresses and events

#[derive(Default, Clone, Deserialize)]
pub struct EventForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    starts_on: String,
    #[serde(default)]
    ends_on: String,
    #[serde(default)]
    place: String,
    #[serde(default)]
    notes: String,
}

pub struct EventRow {
    id: Uuid,
    name: String,
    dates: String,
    place: String,
    attendees: usize,
    upcoming: bool,
}

#[derive(Template)]
#[template(path = "medical_events.html")]
struct EventsPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    rows: Vec<EventRow>,
    can_write: bool,
    form: EventForm,
    errors: Vec<(String, String)>,
}

async fn events_view(
    state: &AppState,
    who: &Authed,
    form: EventForm,
    errors: Vec<(String, String)>,
) -> Result<EventsPage, PageError> {
    reader(who)?;
    let today = local_today(who);
    let rows = med::events(&state.store, None)
        .await?
        .into_iter()
        .map(|e| EventRow {
            id: e.id,
            dates: format!("{} – {}", e.starts_on, e.ends_on),
            upcoming: e.ends_on >= today,
            name: e.name,
            place: e.place,
            attendees: e.attendees.len(),
        })
        .collect();
    Ok(EventsPage {
        chrome: chrome(state, who, "/medical").await,
        tabs: tabs("/medical/events"),
        rows,
        can_write: who.can(super::medical::WRITE, Target::ORG),
        form,
        errors,
    })
}

async fn events(State(state): State<AppState>, who: Authed) -> PageResult {
    Ok(render(&events_view(&state, &who, EventForm::default(), Vec::new()).await?))
}

impl EventForm {
    fn input(&self) -> Result<EventInput, ApiError> {
        let mut errs = Vec::new();
        let starts_on = super::form_date("starts_on", &self.starts_on).map_err(|e| errs.push(e)).ok().flatten();
        let ends_on = super::form_date("ends_on", &self.ends_on).map_err(|e| errs.push(e)).ok().flatten();
        if !errs.is_empty() {
            return Err(ApiError::Invalid(errs));
        }
        Ok(EventInput {
            name: self.name.clone(),
            starts_on,
            ends_on,
            place: self.place.clone(),
            notes: self.notes.clone(),
        })
    }
}

async fn create_event(State(state): State<AppState>, who: Authed, Form(f): Form<EventForm>) -> PageResult {
    writer(&who)?;
    let r = async {
        let input = f.input()?;
        med::create_event(&state.store, &who.acting(), input, vec![who.user.id]).await.map_err(ApiError::from)
    }
    .await;
    match r {
        Ok(e) => Ok(see_other(&format!("/medical/events/{}", e.id))),
        Err(e) => {
            let errors = form_errors(e)?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&events_view(&state, &who, f, errors).await?)).into_response())
        }
    }
}

#[derive(Default, Clone, Deserialize)]
pub struct SessionForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    start: String,
    #[serde(default)]
    end: String,
    #[serde(default)]
    speakers: String,
    #[serde(default)]
    room: String,
}

#[derive(Template)]
#[template(path = "medical_event.html")]
struct EventPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    id: Uuid,
    name: String,
    dates: String,
    place: String,
    notes: String,
    attendees: Vec<String>,
    /// Starts, ends, title, speakers and room, and the session's id.
    sessions: Vec<(String, String, String, String, Uuid)>,
    insights: Vec<InsightRow>,
    interactions: Vec<InteractionRow>,
    can_write: bool,
    categories: Vec<(&'static str, &'static str)>,
    session: SessionForm,
    insight: SmallForm,
    /// The event's details for correction; `edit_refused` opens the form after a refusal.
    edit: EventForm,
    edit_refused: bool,
    errors: Vec<(String, String)>,
}

/// What a refused form on the event page puts back.
#[derive(Default)]
pub struct EventForms {
    session: SessionForm,
    insight: SmallForm,
    edit: Option<EventForm>,
}

async fn event_view(
    state: &AppState,
    who: &Authed,
    id: Uuid,
    forms: EventForms,
    errors: Vec<(String, String)>,
) -> Result<EventPage, PageError> {
    let EventForms { session, insight, edit } = forms;
    reader(who)?;
    let tz = who.tz();
    let e = med::event(&state.store, id).await?;
    let insights = med::insights(&state.store, &med::InsightFilter { event_id: Some(id), ..Default::default() })
        .await?
        .iter()
        .map(insight_row)
        .collect();
    let interactions =
        med::interactions(&state.store, &med::InteractionFilter { event_id: Some(id), ..Default::default() })
            .await?
            .iter()
            .map(|i| interaction_row(i, tz))
            .collect();
    let session =
        if session.date.is_empty() { SessionForm { date: e.starts_on.to_string(), ..session } } else { session };
    let edit_refused = edit.is_some();
    let edit = edit.unwrap_or_else(|| EventForm {
        name: e.name.clone(),
        starts_on: e.starts_on.to_string(),
        ends_on: e.ends_on.to_string(),
        place: e.place.clone(),
        notes: e.notes.clone(),
    });
    let insight = if insight.category.is_empty() {
        SmallForm { category: "treatment_practice".into(), ..insight }
    } else {
        insight
    };
    Ok(EventPage {
        chrome: chrome(state, who, "/medical").await,
        tabs: tabs("/medical/events"),
        id,
        dates: format!("{} – {}", e.starts_on, e.ends_on),
        attendees: e.attendees.iter().map(|a| a.name.clone()).collect(),
        sessions: e
            .sessions
            .iter()
            .map(|s| {
                (
                    super::local(s.starts_at, tz),
                    s.ends_at.with_timezone(&tz).format("%H:%M").to_string(),
                    s.title.clone(),
                    [s.speakers.join(", "), s.room.clone()]
                        .into_iter()
                        .filter(|x| !x.is_empty())
                        .collect::<Vec<_>>()
                        .join(" · "),
                    s.id,
                )
            })
            .collect(),
        name: e.name,
        place: e.place,
        notes: e.notes,
        insights,
        interactions,
        can_write: who.can(super::medical::WRITE, Target::ORG),
        categories: InsightCategory::choices(),
        session,
        insight,
        edit,
        edit_refused,
        errors,
    })
}

async fn event(State(state): State<AppState>, who: Authed, Path(id): Path<Uuid>) -> PageResult {
    Ok(render(&event_view(&state, &who, id, EventForms::default(), Vec::new()).await?))
}

async fn add_session(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<SessionForm>,
) -> PageResult {
    writer(&who)?;
    let tz = who.tz();
    let r = async {
        let mut errs = Vec::new();
        let starts_at =
            form_instant(tz, "date", &f.date, "start", or_midnight(&f.start)).map_err(|e| errs.extend(e)).ok();
        let ends_at = form_instant(tz, "date", &f.date, "end", or_midnight(&f.end)).map_err(|e| errs.extend(e)).ok();
        let (Some(starts_at), Some(ends_at)) = (starts_at, ends_at) else {
            return Err(ApiError::Invalid(errs));
        };
        let input = SessionInput {
            title: f.title.clone(),
            starts_at,
            ends_at,
            speakers: split_list(&f.speakers),
            room: f.room.clone(),
        };
        med::add_session(&state.store, &who.acting(), id, input).await.map(|_| ()).map_err(ApiError::from)
    }
    .await;
    match r {
        Ok(()) => Ok(see_other(&format!("/medical/events/{id}"))),
        Err(e) => {
            let errors = form_errors(e)?;
            let page = event_view(&state, &who, id, EventForms { session: f, ..Default::default() }, errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
        }
    }
}

/// Corrects an event's name, days, place and notes; its attendees stay as they are, and its
/// sessions must still fall within its days.
async fn edit_event(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<EventForm>,
) -> PageResult {
    writer(&who)?;
    let r = async {
        let input = f.input()?;
        let attendees = med::event(&state.store, id).await?.attendees.iter().map(|a| a.id).collect();
        med::update_event(&state.store, &who.acting(), id, input, attendees).await.map(|_| ()).map_err(ApiError::from)
    }
    .await;
    match r {
        Ok(()) => Ok(see_other(&format!("/medical/events/{id}"))),
        Err(e) => {
            let errors = form_errors(e)?;
            let page = event_view(&state, &who, id, EventForms { edit: Some(f), ..Default::default() }, errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
        }
    }
}

/// Removes a session from this event's programme.
async fn remove_session(
    State(state): State<AppState>,
    who: Authed,
    Path((id, session)): Path<(Uuid, Uuid)>,
) -> PageResult {
    writer(&who)?;
    if !med::event(&state.store, id).await?.sessions.iter().any(|s| s.id == session) {
        return Err(PageError(ApiError::NotFound("session")));
    }
    med::remove_session(&state.store, &who.acting(), session).await?;
    Ok(see_other(&format!("/medical/events/{id}#sessions")))
}

async fn add_event_insight(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<SmallForm>,
) -> PageResult {
    writer(&who)?;
    med::event(&state.store, id).await?;
    match med::record_insight(&state.store, &who.acting(), insight_input(InsightSource::Event(id), &f))
        .await
        .map_err(ApiError::from)
    {
        Ok(_) => Ok(see_other(&format!("/medical/events/{id}#insights"))),
        Err(e) => {
            let errors = form_errors(e)?;
            let page = event_view(&state, &who, id, EventForms { insight: f, ..Default::default() }, errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
        }
    }
}
