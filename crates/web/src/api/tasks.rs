//! Tasks API: the caller's work queue, adding a task, closing one, and notifications.

use super::{ApiJson, ApiPath, ApiQuery};
use crate::AppState;
use crate::auth::Authed;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::routes::Routes;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use clinbridge_core::policy::{Action, Context, Op, Target};
use clinbridge_core::tasks::{Assignee, Bucket, TaskStatus, bucket};
use clinbridge_store::tasks::{self as store_tasks, Task};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

pub fn register(r: Routes) -> Routes {
    r.get("/api/v1/tasks", queue)
        .post("/api/v1/tasks", create)
        .get("/api/v1/tasks/{id}", get)
        .post("/api/v1/tasks/{id}/status", set_status)
        .get("/api/v1/notifications", notifications)
        .post("/api/v1/notifications/read", mark_read)
}

pub const TASKS_WRITE: Action = Action::new(Context::Tasks, Op::Write);

#[derive(Serialize, ToSchema)]
pub struct TaskOut {
    pub id: Uuid,
    pub kind: String,
    pub title: String,
    pub detail: String,
    pub subject_type: String,
    pub subject_id: String,
    pub site_id: Option<Uuid>,
    pub study_id: Option<Uuid>,
    pub assignee_user_id: Option<Uuid>,
    pub assignee_role: Option<String>,
    pub due_at: DateTime<Utc>,
    pub status: String,
    /// overdue, due_today or upcoming (in the caller's time zone).
    pub bucket: String,
    pub rule: String,
}

pub fn task_out(t: Task, tz: chrono_tz::Tz) -> TaskOut {
    let b = match bucket(t.due_at, Utc::now(), tz) {
        Bucket::Overdue => "overdue",
        Bucket::DueToday => "due_today",
        Bucket::Upcoming => "upcoming",
    };
    TaskOut {
        id: t.id,
        kind: t.kind,
        title: t.title,
        detail: t.detail,
        subject_type: t.subject_type,
        subject_id: t.subject_id,
        site_id: t.site_id,
        study_id: t.study_id,
        assignee_user_id: t.assignee_user_id,
        assignee_role: t.assignee_role,
        due_at: t.due_at,
        status: t.status,
        bucket: b.into(),
        rule: t.rule,
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QueueQuery {
    pub limit: Option<usize>,
}

/// The caller's open tasks, soonest due first.
#[utoipa::path(get, path = "/api/v1/tasks", tag = "tasks", params(QueueQuery), responses((status = 200, body = [TaskOut])))]
pub async fn queue(
    State(state): State<AppState>,
    who: Authed,
    ApiQuery(q): ApiQuery<QueueQuery>,
) -> ApiResult<Json<Vec<TaskOut>>> {
    let tz = who.tz();
    let tasks = store_tasks::queue(&state.store, &who.actor, q.limit.unwrap_or(200).min(1000)).await?;
    Ok(Json(tasks.into_iter().map(|t| task_out(t, tz)).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTaskIn {
    pub title: String,
    #[serde(default)]
    pub detail: String,
    pub due_at: DateTime<Utc>,
    /// Defaults to the caller.
    pub assignee_user_id: Option<Uuid>,
    pub site_id: Option<Uuid>,
}

/// Adds a task to the caller's queue (or a colleague's at a site the caller works at).
#[utoipa::path(post, path = "/api/v1/tasks", tag = "tasks", request_body = NewTaskIn,
    responses((status = 201, body = TaskOut), (status = 422, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    who: Authed,
    ApiJson(body): ApiJson<NewTaskIn>,
) -> ApiResult<Response> {
    let target = body.site_id.map(Target::site).unwrap_or(Target::ORG);
    let assignee = body.assignee_user_id.unwrap_or(who.user.id);
    if assignee != who.user.id || body.site_id.is_some() {
        // Work for someone else, or filed under a site, needs write access there.
        who.require(TASKS_WRITE, target)?;
        let a = clinbridge_store::identity::user(&state.store, assignee)
            .await
            .map_err(|_| ApiError::field("assignee_user_id", "does not name a user"))?;
        if !a.active {
            return Err(ApiError::field("assignee_user_id", "names a deactivated user"));
        }
    } else {
        who.require_anywhere(TASKS_WRITE)?;
    }
    let manual = store_tasks::ManualTask {
        title: body.title,
        detail: body.detail,
        due_at: body.due_at,
        assignee: Assignee::User { user_id: assignee },
        site_id: body.site_id,
        study_id: None,
    };
    let task = store_tasks::create_manual(&state.store, &who.acting(), manual).await?;
    Ok((StatusCode::CREATED, Json(task_out(task, who.tz()))).into_response())
}

async fn visible_task(state: &AppState, who: &Authed, id: Uuid) -> ApiResult<Task> {
    let task = store_tasks::task(&state.store, id).await?;
    if task.is_for(&who.actor) { Ok(task) } else { Err(ApiError::Forbidden) }
}

#[utoipa::path(get, path = "/api/v1/tasks/{id}", tag = "tasks", params(("id" = Uuid, Path)),
    responses((status = 200, body = TaskOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(State(state): State<AppState>, who: Authed, ApiPath(id): ApiPath<Uuid>) -> ApiResult<Json<TaskOut>> {
    let task = visible_task(&state, &who, id).await?;
    Ok(Json(task_out(task, who.tz())))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskStatusIn {
    /// `done` or `cancelled`.
    pub status: String,
}

/// Closes a task on the caller's queue.
#[utoipa::path(post, path = "/api/v1/tasks/{id}/status", tag = "tasks", params(("id" = Uuid, Path)), request_body = TaskStatusIn,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn set_status(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<TaskStatusIn>,
) -> ApiResult<StatusCode> {
    let status = TaskStatus::parse(&body.status)
        .filter(|s| *s != TaskStatus::Open)
        .ok_or_else(|| ApiError::field("status", "must be done or cancelled"))?;
    visible_task(&state, &who, id).await?;
    store_tasks::close(&state.store, &who.acting(), id, status).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct NotificationOut {
    pub id: Uuid,
    pub task_id: Option<Uuid>,
    pub title: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

/// The caller's notifications, newest first.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "tasks", responses((status = 200, body = [NotificationOut])))]
pub async fn notifications(State(state): State<AppState>, who: Authed) -> ApiResult<Json<Vec<NotificationOut>>> {
    let rows = store_tasks::notifications(&state.store, who.user.id, false, 200).await?;
    Ok(Json(
        rows.into_iter()
            .map(|n| NotificationOut {
                id: n.id,
                task_id: n.task_id,
                title: n.title,
                body: n.body,
                created_at: n.created_at,
                read_at: n.read_at,
            })
            .collect(),
    ))
}

#[utoipa::path(post, path = "/api/v1/notifications/read", tag = "tasks", responses((status = 204)))]
pub async fn mark_read(State(state): State<AppState>, who: Authed) -> ApiResult<StatusCode> {
    store_tasks::mark_notifications_read(&state.store, &who.acting(), who.user.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
