//! Calendar pages: a site's calendar (day and week) with booked visits by time and resource and
//! the open visits still to book; the site's resources and their hours; a study's open visits
//! (due this week, overdue) behind the home page's dashboard; the calendar feeds' addresses.

use super::{Chrome, PageError, PageResult, chrome, form_errors, render, see_other};
use crate::AppState;
use crate::api::calendar::{
    SCHEDULING_READ, SITES_WRITE, feed_out, feed_sites, own_feed, readable_site, site_calendar,
};
use crate::api::identity::SITES_READ;
use crate::api::participants::PARTICIPANTS_READ;
use crate::api::scheduling::SCHEDULING_WRITE;
use crate::auth::Authed;
use crate::error::ApiError;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use chrono::{Duration, NaiveDate};
use clinbridge_core::policy::Target;
use clinbridge_core::scheduling::calendar::{ResourceKind, View, parse_hours};
use clinbridge_store::scheduling::calendar::{self as store_c, CalendarVisit, Due};
use serde::Deserialize;
use uuid::Uuid;

pub fn register(r: crate::routes::Routes) -> crate::routes::Routes {
    r.get("/sites/{site}/calendar", calendar)
        .get("/sites/{site}/resources", resources)
        .post("/sites/{site}/resources", create_resource)
        .post("/resources/{id}", update_resource)
        .get("/studies/{code}/visits", study_visits)
        .post("/profile/feeds/{id}/regenerate", regenerate_feed)
        .post("/profile/feeds/{id}/revoke", revoke_feed)
}

async fn site_by_code(state: &AppState, code: &str) -> Result<clinbridge_store::identity::Site, PageError> {
    clinbridge_store::identity::site_by_code(&state.store, code).await.map_err(|_| ApiError::NotFound("site").into())
}

fn hm(t: chrono::DateTime<chrono::Utc>, tz: chrono_tz::Tz) -> String {
    t.with_timezone(&tz).format("%H:%M").to_string()
}

// ---------------------------------------------------------------- the site calendar

pub struct BookedLine {
    pub participant_id: Uuid,
    pub subject_id: String,
    pub visit: String,
    pub study_code: String,
    pub time: String,
    pub resources: String,
    pub status: &'static str,
    pub status_key: &'static str,
}

pub struct DayColumn {
    pub heading: String,
    pub date: String,
    pub booked: Vec<BookedLine>,
}

pub struct ResourceRow {
    pub name: String,
    pub kind: &'static str,
    /// Per day of the period: "10:00–11:00 AF-CHI-004 W4" entries.
    pub cells: Vec<Vec<String>>,
}

pub struct DueLine {
    pub id: Uuid,
    pub participant_id: Uuid,
    pub subject_id: String,
    pub visit: String,
    pub study_code: String,
    pub day: String,
    pub window: String,
    pub window_start: String,
    pub window_end: String,
    pub can_book: bool,
}

#[derive(Template)]
#[template(path = "calendar.html")]
pub struct CalendarPage {
    chrome: Chrome,
    site_code: String,
    site_name: String,
    time_zone: String,
    view: &'static str,
    period: String,
    date: String,
    prev: String,
    next: String,
    today: String,
    days: Vec<DayColumn>,
    grid: Vec<ResourceRow>,
    due: Vec<DueLine>,
    bookable: Vec<(Uuid, String)>,
    can_manage: bool,
    errors: Vec<(String, String)>,
    back: String,
}

#[derive(Deserialize, Default)]
pub struct CalendarQuery {
    #[serde(default)]
    view: String,
    #[serde(default)]
    date: String,
}

pub async fn calendar_view(
    state: &AppState,
    who: &Authed,
    code: &str,
    q: &CalendarQuery,
    errors: Vec<(String, String)>,
) -> Result<CalendarPage, PageError> {
    let site = site_by_code(state, code).await?;
    let date = super::form_date("date", &q.date).map_err(|e| PageError(ApiError::Invalid(vec![e])))?;
    let (site, view, day, booked, due) = site_calendar(state, who, site.id, Some(&q.view), date).await?;
    let tz: chrono_tz::Tz = site.time_zone.parse().unwrap_or(chrono_tz::UTC);
    let (from, to) = view.days(day);
    let dates: Vec<NaiveDate> = (0..=(to - from).num_days()).map(|i| from + Duration::days(i)).collect();
    let resources = store_c::resources(&state.store, site.id).await?;
    let slot = |v: &CalendarVisit| match (v.starts_at, v.ends_at) {
        (Some(a), Some(b)) => format!("{}–{}", hm(a, tz), hm(b, tz)),
        _ => String::new(),
    };
    let local_day = |v: &CalendarVisit| v.starts_at.map(|a| a.with_timezone(&tz).date_naive()).unwrap_or(v.day());
    let label = |v: &CalendarVisit| format!("{} {}", v.code, v.name);
    let days = dates
        .iter()
        .map(|d| DayColumn {
            heading: d.format("%a %-d %b").to_string(),
            date: d.to_string(),
            booked: booked
                .iter()
                .filter(|v| local_day(v) == *d)
                .map(|v| {
                    let status = clinbridge_core::scheduling::VisitStatus::parse(&v.status)
                        .unwrap_or(clinbridge_core::scheduling::VisitStatus::Scheduled);
                    BookedLine {
                        participant_id: v.participant_id,
                        subject_id: v.subject_id.clone(),
                        visit: label(v),
                        study_code: v.study_code.clone(),
                        time: slot(v),
                        resources: v.resources.iter().map(|r| r.1.clone()).collect::<Vec<_>>().join(", "),
                        status: status.label(),
                        status_key: status.as_str(),
                    }
                })
                .collect(),
        })
        .collect();
    let grid = resources
        .iter()
        .map(|r| ResourceRow {
            name: r.name.clone(),
            kind: r.kind().label(),
            cells: dates
                .iter()
                .map(|d| {
                    booked
                        .iter()
                        .filter(|v| local_day(v) == *d && v.resources.iter().any(|x| x.0 == r.id))
                        .map(|v| format!("{} {} {}", slot(v), v.subject_id, v.code))
                        .collect()
                })
                .collect(),
        })
        .collect();
    let due = due
        .into_iter()
        .map(|v| DueLine {
            can_book: who.can(SCHEDULING_WRITE, Target::study_site(v.study_id, v.site_id)),
            id: v.id,
            participant_id: v.participant_id,
            subject_id: v.subject_id.clone(),
            visit: label(&v),
            study_code: v.study_code.clone(),
            day: v.day().to_string(),
            window: format!("{} to {}", v.window_start, v.window_end),
            window_start: v.window_start.to_string(),
            window_end: v.window_end.to_string(),
        })
        .collect();
    let period = match view {
        View::Day => day.format("%A %-d %B %Y").to_string(),
        View::Week => format!("Week of {} to {}", from.format("%-d %b"), to.format("%-d %b %Y")),
    };
    let v = view.as_str();
    Ok(CalendarPage {
        chrome: chrome(state, who, "/studies").await,
        back: format!("/sites/{}/calendar?view={v}&date={day}", site.code),
        site_code: site.code,
        site_name: site.name,
        time_zone: site.time_zone.clone(),
        view: v,
        period,
        date: day.to_string(),
        prev: view.step(day, false).to_string(),
        next: view.step(day, true).to_string(),
        today: clinbridge_store::now().with_timezone(&tz).date_naive().to_string(),
        days,
        grid,
        due,
        bookable: resources
            .iter()
            .filter(|r| r.active)
            .map(|r| (r.id, format!("{} ({})", r.name, r.kind().label())))
            .collect(),
        can_manage: who.can(SITES_WRITE, Target::site(site.id)),
        errors,
    })
}

async fn calendar(
    State(state): State<AppState>,
    who: Authed,
    Path(code): Path<String>,
    Query(q): Query<CalendarQuery>,
) -> PageResult {
    Ok(render(&calendar_view(&state, &who, &code, &q, Vec::new()).await?))
}

/// After a booking from the calendar: back to it, or the calendar again with what went wrong.
pub async fn after_calendar<T>(state: &AppState, who: &Authed, back: &str, r: Result<T, ApiError>) -> PageResult {
    match r {
        Ok(_) => Ok(see_other(back)),
        Err(ApiError::Forbidden) => Err(ApiError::Forbidden.into()),
        Err(e) => {
            let errors = form_errors(e)?;
            // back is /sites/{code}/calendar?view=…&date=… (checked by the caller).
            let rest = back.trim_start_matches("/sites/");
            let (code, query) = rest.split_once("/calendar").unwrap_or((rest, ""));
            let q: CalendarQuery = serde_urlencoded::from_str(query.trim_start_matches('?')).unwrap_or_default();
            let page = calendar_view(state, who, code, &q, errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
        }
    }
}

/// A return address a form may send us to: one of our calendar pages.
pub fn calendar_back(raw: &str) -> Option<&str> {
    let ok = raw.starts_with("/sites/")
        && raw.contains("/calendar")
        && !raw.contains("//")
        && raw.chars().all(|c| c.is_ascii_alphanumeric() || "/-_?=&.".contains(c));
    ok.then_some(raw)
}

// ---------------------------------------------------------------- resources

pub struct ResourceLine {
    id: Uuid,
    name: String,
    kind: &'static str,
    person: String,
    email: String,
    hours: String,
    active: bool,
}

#[derive(Template)]
#[template(path = "resources.html")]
struct ResourcesPage {
    chrome: Chrome,
    site_code: String,
    site_name: String,
    time_zone: String,
    resources: Vec<ResourceLine>,
    kinds: Vec<(&'static str, &'static str)>,
    can_manage: bool,
    can_calendar: bool,
    errors: Vec<(String, String)>,
}

async fn resources_view(
    state: &AppState,
    who: &Authed,
    code: &str,
    errors: Vec<(String, String)>,
) -> Result<ResourcesPage, PageError> {
    let site = site_by_code(state, code).await?;
    readable_site(state, who, site.id).await?;
    let resources = store_c::resources(&state.store, site.id)
        .await?
        .into_iter()
        .map(|r| ResourceLine {
            kind: r.kind().label(),
            person: r.user_name.clone().unwrap_or_default(),
            email: r.user_email.clone().unwrap_or_default(),
            hours: r.hours_text(),
            id: r.id,
            name: r.name,
            active: r.active,
        })
        .collect();
    Ok(ResourcesPage {
        chrome: chrome(state, who, "/admin/sites").await,
        can_manage: who.can(SITES_WRITE, Target::site(site.id)),
        can_calendar: who.can(SCHEDULING_READ, Target::site(site.id)),
        site_code: site.code,
        site_name: site.name,
        time_zone: site.time_zone,
        resources,
        kinds: ResourceKind::ALL.iter().map(|k| (k.as_str(), k.label())).collect(),
        errors,
    })
}

async fn resources(State(state): State<AppState>, who: Authed, Path(code): Path<String>) -> PageResult {
    Ok(render(&resources_view(&state, &who, &code, Vec::new()).await?))
}

#[derive(Deserialize)]
pub struct ResourceForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    user_email: String,
    #[serde(default)]
    hours: String,
    #[serde(default)]
    active: Option<String>,
}

async fn resource_input(state: &AppState, f: &ResourceForm) -> Result<store_c::ResourceInput, ApiError> {
    let kind = ResourceKind::parse(&f.kind)?;
    let user_id = crate::api::optional_user_named(state, "user", Some(&f.user_email)).await?;
    Ok(store_c::ResourceInput {
        kind,
        name: f.name.clone(),
        user_id,
        active: f.active.as_deref().is_none_or(|a| a == "true" || a == "on"),
        hours: parse_hours(&f.hours)?,
    })
}

async fn after_resources<T>(state: &AppState, who: &Authed, code: &str, r: Result<T, ApiError>) -> PageResult {
    match r {
        Ok(_) => Ok(see_other(&format!("/sites/{code}/resources"))),
        Err(ApiError::Forbidden) => Err(ApiError::Forbidden.into()),
        Err(e) => {
            let errors = form_errors(e)?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&resources_view(state, who, code, errors).await?))
                .into_response())
        }
    }
}

async fn create_resource(
    State(state): State<AppState>,
    who: Authed,
    Path(code): Path<String>,
    Form(f): Form<ResourceForm>,
) -> PageResult {
    let site = site_by_code(&state, &code).await?;
    readable_site(&state, &who, site.id).await?;
    who.require(SITES_WRITE, Target::site(site.id))?;
    let r = async {
        let input = resource_input(&state, &f).await?;
        Ok::<_, ApiError>(store_c::create_resource(&state.store, &who.acting(), site.id, input).await?)
    }
    .await;
    after_resources(&state, &who, &site.code, r).await
}

async fn update_resource(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<ResourceForm>,
) -> PageResult {
    let res = crate::api::calendar::writable_resource(&state, &who, id).await?;
    let site = clinbridge_store::identity::site(&state.store, res.site_id).await?;
    let r = async {
        let input = resource_input(&state, &f).await?;
        Ok::<_, ApiError>(store_c::update_resource(&state.store, &who.acting(), id, input).await?)
    }
    .await;
    after_resources(&state, &who, &site.code, r).await
}

// ---------------------------------------------------------------- dashboards and lists

/// One study's line on the home page: open visits this week, windows closed unrecorded, and the
/// caller's overdue tasks of the study.
pub struct DashboardLine {
    pub study_code: String,
    pub due_this_week: usize,
    pub overdue_visits: usize,
    pub overdue_tasks: usize,
}

fn visible(who: &Authed, visits: Vec<CalendarVisit>) -> Vec<CalendarVisit> {
    visits.into_iter().filter(|v| who.can(PARTICIPANTS_READ, Target::study_site(v.study_id, v.site_id))).collect()
}

/// The home page's dashboard, for people who follow participants.
pub async fn dashboard(state: &AppState, who: &Authed) -> Result<Vec<DashboardLine>, PageError> {
    if !who.can_anywhere(PARTICIPANTS_READ) {
        return Ok(Vec::new());
    }
    let today = clinbridge_store::now().with_timezone(&who.tz()).date_naive();
    let (monday, sunday) = clinbridge_core::scheduling::calendar::week_of(today);
    let week = visible(who, store_c::open_visits(&state.store, None, Due::Between(monday, sunday)).await?);
    let overdue = visible(who, store_c::open_visits(&state.store, None, Due::Overdue(today)).await?);
    let now = clinbridge_store::now();
    let tasks: Vec<_> = clinbridge_store::tasks::queue(&state.store, &who.actor, 500)
        .await?
        .into_iter()
        .filter(|t| t.due_at < now)
        .collect();
    let mut out = Vec::new();
    for study in clinbridge_store::trials::studies(&state.store).await? {
        let line = DashboardLine {
            due_this_week: week.iter().filter(|v| v.study_id == study.id).count(),
            overdue_visits: overdue.iter().filter(|v| v.study_id == study.id).count(),
            overdue_tasks: tasks.iter().filter(|t| t.study_id == Some(study.id)).count(),
            study_code: study.code,
        };
        if line.due_this_week + line.overdue_visits + line.overdue_tasks > 0 {
            out.push(line);
        }
    }
    Ok(out)
}

pub struct OpenLine {
    participant_id: Uuid,
    subject_id: String,
    site_code: String,
    visit: String,
    day: String,
    window: String,
    slot: String,
}

#[derive(Template)]
#[template(path = "study_visits.html")]
struct StudyVisitsPage {
    chrome: Chrome,
    study_code: String,
    heading: String,
    filter: &'static str,
    visits: Vec<OpenLine>,
}

#[derive(Deserialize)]
pub struct VisitsQuery {
    #[serde(default)]
    due: String,
}

async fn study_visits(
    State(state): State<AppState>,
    who: Authed,
    Path(code): Path<String>,
    Query(q): Query<VisitsQuery>,
) -> PageResult {
    let study = crate::api::trials::readable_study(&state, &who, &code).await?;
    let sites = crate::api::participants::readable_sites(&state, &who, &study).await?;
    if sites.is_empty() {
        return Err(ApiError::NotFound("study").into());
    }
    let today = clinbridge_store::now().with_timezone(&who.tz()).date_naive();
    let (filter, heading, due) = match q.due.as_str() {
        "overdue" => ("overdue", "Visits whose window closed without a record".to_string(), Due::Overdue(today)),
        _ => {
            let (a, b) = clinbridge_core::scheduling::calendar::week_of(today);
            ("week", format!("Open visits planned this week ({a} to {b})"), Due::Between(a, b))
        }
    };
    let visits = visible(&who, store_c::open_visits(&state.store, Some(study.id), due).await?)
        .into_iter()
        .map(|v| {
            let tz = v.tz();
            OpenLine {
                slot: match (v.starts_at, v.ends_at) {
                    (Some(a), Some(b)) => format!(
                        "{}–{} {}",
                        hm(a, tz),
                        hm(b, tz),
                        v.resources.iter().map(|r| r.1.clone()).collect::<Vec<_>>().join(", ")
                    ),
                    _ => String::new(),
                },
                participant_id: v.participant_id,
                subject_id: v.subject_id.clone(),
                site_code: v.site_code.clone(),
                visit: format!("{} {}", v.code, v.name),
                day: v.day().to_string(),
                window: format!("{} to {}", v.window_start, v.window_end),
            }
        })
        .collect();
    Ok(render(&StudyVisitsPage {
        chrome: chrome(&state, &who, "/studies").await,
        study_code: study.code,
        heading,
        filter,
        visits,
    }))
}

// ---------------------------------------------------------------- feeds

pub struct FeedLine {
    pub id: Uuid,
    pub name: String,
    pub url: Option<String>,
    pub active: bool,
}

/// The profile page's feeds, created on first view (their addresses show that once).
pub async fn feed_lines(state: &AppState, who: &Authed, headers: &HeaderMap) -> Result<Vec<FeedLine>, PageError> {
    let sites = feed_sites(state, who).await?;
    let base = crate::api::calendar::base_url(state, headers);
    let feeds = store_c::feeds_for(&state.store, &who.acting(), who.user.id, sites).await?;
    Ok(feeds
        .into_iter()
        .map(|(f, s)| {
            let o = feed_out(&base, f, s);
            FeedLine { id: o.id, name: o.name, url: o.url, active: o.active }
        })
        .collect())
}

#[derive(Template)]
#[template(path = "feed_address.html")]
struct FeedAddressPage {
    chrome: Chrome,
    name: String,
    url: String,
}

async fn regenerate_feed(
    State(state): State<AppState>,
    who: Authed,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
) -> PageResult {
    own_feed(&state, &who, id).await?;
    let (f, secret) = store_c::regenerate_feed(&state.store, &who.acting(), id).await?;
    let o = feed_out(&crate::api::calendar::base_url(&state, &headers), f, Some(secret));
    Ok(render(&FeedAddressPage {
        chrome: chrome(&state, &who, "/profile").await,
        name: o.name,
        url: o.url.unwrap_or_default(),
    }))
}

async fn revoke_feed(State(state): State<AppState>, who: Authed, Path(id): Path<Uuid>) -> PageResult {
    own_feed(&state, &who, id).await?;
    match store_c::revoke_feed(&state.store, &who.acting(), id).await {
        Ok(()) | Err(clinbridge_store::StoreError::Refused(_)) => Ok(see_other("/profile")),
        Err(e) => Err(e.into()),
    }
}

/// Whether the caller may see a site's resources page (for links from other pages).
pub fn can_see_resources(who: &Authed, site: Uuid) -> bool {
    who.can(SITES_READ, Target::site(site))
}
