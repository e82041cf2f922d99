//! The task engine's store: contexts raise and resolve tasks idempotently (one task per rule
//! key), people add their own, and the ticker turns overdue tasks into notifications.

use crate::{Acting, Result, Store, StoreError, Tx, exec, new_id, now, on, tx_on};
use chrono::{DateTime, Utc};
use clinbridge_core::audit::{AuditAction, AuditEvent};
use clinbridge_core::identity::{Role, Scope};
use clinbridge_core::policy::{Actor, Target, scope_covers};
use clinbridge_core::tasks::{Assignee, TaskStatus};
use serde::Serialize;
use uuid::Uuid;

/// A task as a rule (or a person) raises it.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub kind: String,
    pub title: String,
    pub detail: String,
    pub subject_type: String,
    pub subject_id: String,
    pub study_id: Option<Uuid>,
    pub site_id: Option<Uuid>,
    pub assignee: Assignee,
    pub due_at: DateTime<Utc>,
    /// The rule that raised it (`identity.lockout`, `manual`, …).
    pub rule: String,
    /// Rule plus entity: raising the same key again updates the open task instead of adding one.
    pub rule_key: String,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Task {
    pub id: Uuid,
    pub kind: String,
    pub title: String,
    pub detail: String,
    pub subject_type: String,
    pub subject_id: String,
    pub study_id: Option<Uuid>,
    pub site_id: Option<Uuid>,
    pub assignee_user_id: Option<Uuid>,
    pub assignee_role: Option<String>,
    pub assignee_scope_kind: Option<String>,
    pub assignee_scope_id: Option<Uuid>,
    pub due_at: DateTime<Utc>,
    pub status: String,
    pub rule: String,
    pub created_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

const TASK_COLUMNS: &str = "id, kind, title, detail, subject_type, subject_id, study_id, site_id, assignee_user_id, assignee_role, assignee_scope_kind, assignee_scope_id, due_at, status, rule, created_at, closed_at";

impl Task {
    pub fn assignee(&self) -> Option<Assignee> {
        if let Some(u) = self.assignee_user_id {
            return Some(Assignee::User { user_id: u });
        }
        let role = Role::parse(self.assignee_role.as_deref()?).ok()?;
        let scope = Scope::from_parts(self.assignee_scope_kind.as_deref()?, self.assignee_scope_id)?;
        Some(Assignee::Role { role, scope })
    }
    pub fn status(&self) -> TaskStatus {
        TaskStatus::parse(&self.status).unwrap_or(TaskStatus::Open)
    }
    /// Where the task lives, for access checks.
    pub fn target(&self) -> Target {
        Target { study: self.study_id, site: self.site_id }
    }
    /// Whether the task is on this actor's work queue.
    pub fn is_for(&self, actor: &Actor) -> bool {
        match self.assignee() {
            Some(Assignee::User { user_id }) => user_id == actor.user_id,
            Some(Assignee::Role { role, scope }) => {
                let target = match scope {
                    Scope::Organization => self.target(),
                    Scope::Study(s) => Target { study: Some(s), site: self.site_id },
                    Scope::Site(s) => Target { study: self.study_id, site: Some(s) },
                };
                actor.grants.iter().any(|g| g.role == role && scope_covers(g.scope, target))
            }
            None => false,
        }
    }
}

fn assignee_columns(a: &Assignee) -> (Option<Uuid>, Option<&'static str>, Option<&'static str>, Option<Uuid>) {
    match a {
        Assignee::User { user_id } => (Some(*user_id), None, None, None),
        Assignee::Role { role, scope } => {
            (None, Some(role.as_str()), Some(scope.kind()), Some(scope.id().unwrap_or(Uuid::nil())))
        }
    }
}

/// Raises a task inside a context's transaction. Idempotent: an open task with the same rule
/// key is updated (title, detail, due time); a closed one is left closed.
pub async fn raise_in(tx: &mut Tx, task: NewTask) -> Result<Uuid> {
    raise_inner(tx, task, new_id()).await.map(|(id, _)| id)
}

/// Raises a task; the flag says whether it is new. The insert comes first: a new rule key
/// costs one statement, and only a repeat looks at the existing task.
async fn raise_inner(tx: &mut Tx, task: NewTask, id: Uuid) -> Result<(Uuid, bool)> {
    let (uid, role, kind, sid) = assignee_columns(&task.assignee);
    let created_by = tx.acting().user;
    let inserted: Option<Uuid> = tx_on!(tx, |c| {
        sqlx::query_scalar(
        "INSERT INTO tasks (id, kind, title, detail, subject_type, subject_id, study_id, site_id, assignee_user_id, assignee_role, assignee_scope_kind, assignee_scope_id, due_at, status, rule, rule_key, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'open', $14, $15, $16, $17)
         ON CONFLICT (rule_key) DO NOTHING RETURNING id"
    )
    .bind(id)
    .bind(&task.kind)
    .bind(&task.title)
    .bind(&task.detail)
    .bind(&task.subject_type)
    .bind(&task.subject_id)
    .bind(task.study_id)
    .bind(task.site_id)
    .bind(uid)
    .bind(role)
    .bind(kind)
    .bind(sid)
    .bind(task.due_at)
    .bind(&task.rule)
    .bind(&task.rule_key)
    .bind(created_by)
    .bind(now())
    .fetch_optional(&mut *c)
    .await
    })?;
    if let Some(id) = inserted {
        tx.audit(AuditEvent::new(AuditAction::Create, "task", id).new_value(serde_json::json!({
            "kind": task.kind, "title": task.title, "subject": format!("{}:{}", task.subject_type, task.subject_id),
            "assignee": task.assignee, "due_at": task.due_at, "rule": task.rule
        })));
        return Ok((id, true));
    }
    let (id, status, due, title): (Uuid, String, DateTime<Utc>, String) =
        tx_on!(tx, |c| sqlx::query_as("SELECT id, status, due_at, title FROM tasks WHERE rule_key = $1")
            .bind(&task.rule_key)
            .fetch_one(&mut *c)
            .await)?;
    if status == "open" && (due != task.due_at || title != task.title) {
        exec!(
            tx,
            "UPDATE tasks SET title = $1, detail = $2, due_at = $3, overdue_notified_at = NULL WHERE id = $4",
            &task.title,
            &task.detail,
            task.due_at,
            id
        )?;
        tx.audit(
            AuditEvent::new(AuditAction::Update, "task", id)
                .old(serde_json::json!({"title": title, "due_at": due}))
                .new_value(serde_json::json!({"title": task.title, "due_at": task.due_at})),
        );
    }
    Ok((id, false))
}

/// Closes the open task with this rule key, if any (the condition behind it went away).
pub async fn resolve_in(tx: &mut Tx, rule_key: &str, status: TaskStatus) -> Result<bool> {
    let id: Option<Uuid> =
        tx_on!(tx, |c| sqlx::query_scalar("SELECT id FROM tasks WHERE rule_key = $1 AND status = 'open'")
            .bind(rule_key)
            .fetch_optional(&mut *c)
            .await)?;
    let Some(id) = id else { return Ok(false) };
    close_in(tx, id, status).await?;
    Ok(true)
}

async fn close_in(tx: &mut Tx, id: Uuid, status: TaskStatus) -> Result<()> {
    let by = tx.acting().user;
    let r = tx_on!(tx, |c| {
        sqlx::query("UPDATE tasks SET status = $1, closed_at = $2, closed_by = $3 WHERE id = $4 AND status = 'open'")
            .bind(status.as_str())
            .bind(now())
            .bind(by)
            .bind(id)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
    })?;
    if r == 0 {
        return Err(StoreError::Refused("the task is already closed".into()));
    }
    tx.audit(
        AuditEvent::new(AuditAction::Update, "task", id)
            .old(serde_json::json!({"status": "open"}))
            .new_value(serde_json::json!({"status": status.as_str()})),
    );
    Ok(())
}

/// Raises a task in its own transaction.
pub async fn raise(store: &Store, acting: &Acting, task: NewTask) -> Result<Uuid> {
    store.write(acting, move |tx| Box::pin(async move { raise_in(tx, task).await })).await
}

/// A task a person adds by hand.
#[derive(Debug, Clone)]
pub struct ManualTask {
    pub title: String,
    pub detail: String,
    pub due_at: DateTime<Utc>,
    pub assignee: Assignee,
    pub site_id: Option<Uuid>,
    pub study_id: Option<Uuid>,
}

/// A person's own task (a reminder or a follow-up for themselves or a colleague).
pub async fn create_manual(store: &Store, acting: &Acting, m: ManualTask) -> Result<Task> {
    let ManualTask { title, detail, due_at, assignee, site_id, study_id } = m;
    let title = clinbridge_core::tasks::title(&title)?;
    if detail.chars().count() > 4000 {
        return Err(clinbridge_core::Invalid::one("detail", "must be at most 4000 characters").into());
    }
    let id = new_id();
    let task = NewTask {
        kind: "manual".into(),
        title,
        detail: detail.trim().to_string(),
        subject_type: "task".into(),
        subject_id: id.to_string(),
        study_id,
        site_id,
        assignee,
        due_at,
        rule: "manual".into(),
        rule_key: format!("manual:{id}"),
    };
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let created_at = now();
                let shown = task.clone();
                let (id, _) = raise_inner(tx, task, id).await?;
                let (uid, role, kind, sid) = assignee_columns(&shown.assignee);
                Ok(Task {
                    id,
                    kind: shown.kind,
                    title: shown.title,
                    detail: shown.detail,
                    subject_type: shown.subject_type,
                    subject_id: shown.subject_id,
                    study_id: shown.study_id,
                    site_id: shown.site_id,
                    assignee_user_id: uid,
                    assignee_role: role.map(str::to_string),
                    assignee_scope_kind: kind.map(str::to_string),
                    assignee_scope_id: sid,
                    due_at: shown.due_at,
                    status: "open".into(),
                    rule: shown.rule,
                    created_at,
                    closed_at: None,
                })
            })
        })
        .await
}

pub async fn task(store: &Store, id: Uuid) -> Result<Task> {
    let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1");
    on!(store.db.read(), |c| sqlx::query_as::<_, Task>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(id)
        .fetch_optional(c)
        .await)?
    .ok_or(StoreError::NotFound("task"))
}

/// The open tasks about one object (a form, a participant), oldest due first.
pub async fn open_for_subject(store: &Store, subject_type: &str, subject_id: &str) -> Result<Vec<Task>> {
    let sql = format!(
        "SELECT {TASK_COLUMNS} FROM tasks WHERE subject_type = $1 AND subject_id = $2 AND status = 'open' ORDER BY due_at"
    );
    Ok(on!(store.db.read(), |c| sqlx::query_as::<_, Task>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(subject_type)
        .bind(subject_id)
        .fetch_all(c)
        .await)?)
}

/// Marks a task done or cancelled.
pub async fn close(store: &Store, acting: &Acting, id: Uuid, status: TaskStatus) -> Result<()> {
    if status == TaskStatus::Open {
        return Err(clinbridge_core::Invalid::one("status", "must be done or cancelled").into());
    }
    store.write(acting, move |tx| Box::pin(async move { close_in(tx, id, status).await })).await
}

/// The open tasks on an actor's work queue, soonest due first.
pub async fn queue(store: &Store, actor: &Actor, limit: usize) -> Result<Vec<Task>> {
    let mut roles: Vec<&'static str> = actor.grants.iter().map(|g| g.role.as_str()).collect();
    roles.sort_unstable();
    roles.dedup();
    // Tasks for the user, plus role tasks for any role they hold; scope is checked below.
    let placeholders: Vec<String> = (0..roles.len()).map(|i| format!("${}", i + 2)).collect();
    let role_clause =
        if roles.is_empty() { String::new() } else { format!(" OR assignee_role IN ({})", placeholders.join(", ")) };
    let sql = format!(
        "SELECT {TASK_COLUMNS} FROM tasks WHERE status = 'open' AND (assignee_user_id = $1{role_clause}) ORDER BY due_at LIMIT 2000"
    );
    let rows: Vec<Task> = on!(store.db.read(), |c| {
        let mut q = sqlx::query_as::<_, Task>(sqlx::AssertSqlSafe(sql.clone())).bind(actor.user_id);
        for r in &roles {
            q = q.bind(*r);
        }
        q.fetch_all(c).await
    })?;
    Ok(rows.into_iter().filter(|t| t.is_for(actor)).take(limit).collect())
}

// ---------------------------------------------------------------- overdue and notifications

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Notification {
    pub id: Uuid,
    pub user_id: Uuid,
    pub task_id: Option<Uuid>,
    pub title: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

/// A notification that was just created, with what outbound channels need.
#[derive(Debug, Clone, Serialize)]
pub struct Delivered {
    pub task: Task,
    pub recipients: Vec<(Uuid, String, String)>,
}

/// Finds open tasks that went overdue and have not been announced, writes an in-app
/// notification for each person on whose queue they are, and returns them for e-mail and
/// webhook delivery. Each task is announced once per due time.
pub async fn announce_overdue(store: &Store) -> Result<Vec<Delivered>> {
    let t = now();
    let sql = format!(
        "SELECT {TASK_COLUMNS} FROM tasks WHERE status = 'open' AND due_at < $1 AND overdue_notified_at IS NULL ORDER BY due_at LIMIT 500"
    );
    let due: Vec<Task> = on!(store.db.read(), |c| sqlx::query_as::<_, Task>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(t)
        .fetch_all(c)
        .await)?;
    if due.is_empty() {
        return Ok(Vec::new());
    }
    // Everyone who could hold the task: active users and their grants.
    let people: Vec<(Uuid, String, String)> =
        on!(store.db.read(), |c| sqlx::query_as("SELECT id, email, name FROM users WHERE active = $1")
            .bind(true)
            .fetch_all(c)
            .await)?;
    let mut actors = Vec::with_capacity(people.len());
    for (id, email, name) in people {
        actors.push((crate::identity::actor(store, id).await?, email, name));
    }
    let mut out = Vec::new();
    for task in due {
        let recipients: Vec<(Uuid, String, String)> = actors
            .iter()
            .filter(|(a, _, _)| task.is_for(a))
            .map(|(a, e, n)| (a.user_id, e.clone(), n.clone()))
            .collect();
        out.push(Delivered { task, recipients });
    }
    let batch = out.clone();
    store
        .write(&Acting::system(), move |tx| {
            Box::pin(async move {
                for d in &batch {
                    let r = exec!(tx, "UPDATE tasks SET overdue_notified_at = $1 WHERE id = $2 AND overdue_notified_at IS NULL", t, d.task.id)?;
                    if r == 0 {
                        continue;
                    }
                    for (user_id, _, _) in &d.recipients {
                        exec!(tx, "INSERT INTO notifications (id, user_id, task_id, title, body, created_at) VALUES ($1, $2, $3, $4, $5, $6)", new_id(), user_id, d.task.id, format!("Overdue: {}", d.task.title), &d.task.detail, t)?;
                    }
                }
                Ok(())
            })
        })
        .await?;
    Ok(out)
}

pub async fn notifications(store: &Store, user_id: Uuid, unread_only: bool, limit: i64) -> Result<Vec<Notification>> {
    let sql = if unread_only {
        "SELECT id, user_id, task_id, title, body, created_at, read_at FROM notifications WHERE user_id = $1 AND read_at IS NULL ORDER BY created_at DESC LIMIT $2"
    } else {
        "SELECT id, user_id, task_id, title, body, created_at, read_at FROM notifications WHERE user_id = $1 ORDER BY created_at DESC LIMIT $2"
    };
    Ok(on!(store.db.read(), |c| {
        sqlx::query_as::<_, Notification>(sql).bind(user_id).bind(limit).fetch_all(c).await
    })?)
}

pub async fn mark_notifications_read(store: &Store, acting: &Acting, user_id: Uuid) -> Result<u64> {
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let r = tx_on!(tx, |c| {
                    sqlx::query("UPDATE notifications SET read_at = $1 WHERE user_id = $2 AND read_at IS NULL")
                        .bind(now())
                        .bind(user_id)
                        .execute(&mut *c)
                        .await
                        .map(|r| r.rows_affected())
                })?;
                Ok(r)
            })
        })
        .await
}
