//! The home page: the signed-in person's work queue (overdue, due today, upcoming), adding a
//! task, closing one, and notifications.

use super::{Chrome, PageError, PageResult, chrome, form_errors, local, render, see_other};
use crate::AppState;
use crate::auth::Authed;
use crate::error::ApiError;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use chrono::{NaiveDate, NaiveTime, TimeZone as _, Timelike, Utc};
use clinbridge_core::policy::{Action, Context, Op};
use clinbridge_core::tasks::{Assignee, Bucket, TaskStatus, bucket};
use clinbridge_store::tasks::{self as store_tasks, Task};
use serde::Deserialize;
use uuid::Uuid;

pub fn register(r: crate::routes::Routes) -> crate::routes::Routes {
    r.get("/", home)
        .post("/tasks", add_task)
        .post("/tasks/{id}/done", done)
        .post("/tasks/{id}/cancel", cancel)
        .get("/notifications", notifications)
        .post("/notifications/read", mark_read)
}

pub struct TaskRow {
    pub id: Uuid,
    pub title: String,
    pub detail: String,
    pub due: String,
    pub assignee: String,
    pub site: String,
    /// Where the work is done, when the task is about a record with a page.
    pub link: Option<String>,
}

pub struct Group {
    pub key: &'static str,
    pub label: &'static str,
    pub empty: &'static str,
    pub tasks: Vec<TaskRow>,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    chrome: Chrome,
    greeting: &'static str,
    first_name: String,
    summary: String,
    groups: Vec<Group>,
    errors: Vec<(String, String)>,
    form_title: String,
    form_date: String,
    form_time: String,
    tz: String,
    closed: Option<&'static str>,
    dashboard: Vec<super::calendar::DashboardLine>,
}

async fn page(
    state: &AppState,
    who: &Authed,
    errors: Vec<(String, String)>,
    form_title: String,
) -> Result<HomePage, PageError> {
    let tz = who.tz();
    let now = Utc::now();
    let tasks = store_tasks::queue(&state.store, &who.actor, 500).await?;
    let sites = clinbridge_store::identity::sites(&state.store).await?;
    let mut groups = vec![
        Group { key: "overdue", label: "Overdue", empty: "Nothing overdue.", tasks: Vec::new() },
        Group { key: "today", label: "Due today", empty: "Nothing else due today.", tasks: Vec::new() },
        Group { key: "upcoming", label: "Upcoming", empty: "Nothing scheduled ahead.", tasks: Vec::new() },
    ];
    for t in tasks {
        let i = match bucket(t.due_at, now, tz) {
            Bucket::Overdue => 0,
            Bucket::DueToday => 1,
            Bucket::Upcoming => 2,
        };
        let site = t.site_id.and_then(|s| sites.iter().find(|x| x.id == s)).map(|s| s.code.clone()).unwrap_or_default();
        groups[i].tasks.push(row(t, tz, site));
    }
    let (o, d, u) = (groups[0].tasks.len(), groups[1].tasks.len(), groups[2].tasks.len());
    let summary = match (o, d) {
        (0, 0) if u == 0 => "Your queue is clear.".to_string(),
        (0, 0) => format!("Nothing is due today; {u} task{} ahead.", if u == 1 { "" } else { "s" }),
        _ => format!("{o} overdue, {d} due today, {u} upcoming."),
    };
    let local_now = now.with_timezone(&tz);
    let greeting = match local_now.hour() {
        5..=11 => "morning",
        12..=17 => "afternoon",
        _ => "evening",
    };
    let tomorrow = local_now.date_naive().succ_opt().unwrap_or(local_now.date_naive());
    Ok(HomePage {
        chrome: chrome(state, who, "/").await,
        greeting,
        first_name: who.user.name.split_whitespace().find(|w| !w.ends_with('.')).unwrap_or(&who.user.name).to_string(),
        summary,
        groups,
        errors,
        form_title,
        form_date: tomorrow.format("%Y-%m-%d").to_string(),
        form_time: "09:00".into(),
        tz: tz.name().to_string(),
        closed: None,
        dashboard: super::calendar::dashboard(state, who).await?,
    })
}

fn row(t: Task, tz: chrono_tz::Tz, site: String) -> TaskRow {
    let assignee = match t.assignee() {
        Some(Assignee::Role { role, .. }) => format!("for any {}", role.label().to_lowercase()),
        _ => String::new(),
    };
    let link = match t.subject_type.as_str() {
        "participant" => Some(format!("/participants/{}", t.subject_id)),
        "edc_form" => Some(format!("/forms/{}", t.subject_id)),
        _ => None,
    };
    TaskRow { id: t.id, title: t.title, detail: t.detail, due: local(t.due_at, tz), assignee, site, link }
}

#[derive(Deserialize, Default)]
pub struct HomeQuery {
    closed: Option<String>,
}

async fn home(State(state): State<AppState>, who: Authed, Query(q): Query<HomeQuery>) -> PageResult {
    let mut p = page(&state, &who, Vec::new(), String::new()).await?;
    p.closed = match q.closed.as_deref() {
        Some("done") => Some("Task marked done."),
        Some("cancelled") => Some("Task cancelled."),
        _ => None,
    };
    Ok(render(&p))
}

#[derive(Deserialize)]
pub struct TaskForm {
    title: String,
    due_date: String,
    due_time: String,
    #[serde(default)]
    detail: String,
}

async fn add_task(State(state): State<AppState>, who: Authed, Form(f): Form<TaskForm>) -> PageResult {
    if !who.can_anywhere(Action::new(Context::Tasks, Op::Write)) {
        return Err(ApiError::Forbidden.into());
    }
    let tz = who.tz();
    let mut errors = Vec::new();
    let date = NaiveDate::parse_from_str(f.due_date.trim(), "%Y-%m-%d")
        .map_err(|_| errors.push(("due_date".to_string(), "must be a date".to_string())))
        .ok();
    let time = NaiveTime::parse_from_str(f.due_time.trim(), "%H:%M")
        .map_err(|_| errors.push(("due_time".to_string(), "must be a time like 14:30".to_string())))
        .ok();
    let due = match (date, time) {
        (Some(d), Some(t)) => tz.from_local_datetime(&d.and_time(t)).earliest().map(|l| l.with_timezone(&Utc)),
        _ => None,
    };
    if let Some(due) = due {
        let manual = store_tasks::ManualTask {
            title: f.title.clone(),
            detail: f.detail.clone(),
            due_at: due,
            assignee: Assignee::User { user_id: who.user.id },
            site_id: None,
            study_id: None,
        };
        let r = store_tasks::create_manual(&state.store, &who.acting(), manual).await;
        match r {
            Ok(_) => return Ok(see_other("/")),
            Err(e) => errors.extend(form_errors(e.into())?),
        }
    } else if errors.is_empty() {
        errors.push(("due_time".into(), "does not exist in your time zone on that day".into()));
    }
    let page = page(&state, &who, errors, f.title).await?;
    Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
}

/// Closes a task, then shows the queue again. With htmx the redirect is followed in place and
/// only the queue is swapped, so counts and the summary stay right and focus lands on the
/// confirmation.
async fn close(state: AppState, who: Authed, id: Uuid, status: TaskStatus) -> PageResult {
    let task = store_tasks::task(&state.store, id).await?;
    if !task.is_for(&who.actor) {
        return Err(ApiError::Forbidden.into());
    }
    store_tasks::close(&state.store, &who.acting(), id, status).await?;
    Ok(see_other(if status == TaskStatus::Done { "/?closed=done" } else { "/?closed=cancelled" }))
}

async fn done(State(state): State<AppState>, who: Authed, Path(id): Path<Uuid>) -> PageResult {
    close(state, who, id, TaskStatus::Done).await
}

async fn cancel(State(state): State<AppState>, who: Authed, Path(id): Path<Uuid>) -> PageResult {
    close(state, who, id, TaskStatus::Cancelled).await
}

pub struct NoteRow {
    pub title: String,
    pub body: String,
    pub at: String,
    pub unread: bool,
}

#[derive(Template)]
#[template(path = "notifications.html")]
struct NotificationsPage {
    chrome: Chrome,
    items: Vec<NoteRow>,
}

async fn notifications(State(state): State<AppState>, who: Authed) -> PageResult {
    let tz = who.tz();
    let items = store_tasks::notifications(&state.store, who.user.id, false, 200)
        .await?
        .into_iter()
        .map(|n| NoteRow { title: n.title, body: n.body, at: local(n.created_at, tz), unread: n.read_at.is_none() })
        .collect();
    Ok(render(&NotificationsPage { chrome: chrome(&state, &who, "/notifications").await, items }))
}

async fn mark_read(State(state): State<AppState>, who: Authed) -> PageResult {
    store_tasks::mark_notifications_read(&state.store, &who.acting(), who.user.id).await?;
    Ok(see_other("/notifications"))
}
