//! Queries (data clarification requests) on a field of a form: opened with a message by a
//! monitor or data manager, answered by the site, closed or reopened by the one who reviews.
//! An open query sits as a task on the assigned role's queue at the record's site (its age is
//! the task's age); an answered one on its opener's queue until it is closed or reopened.

use super::records::{Form, Record, form_in, record_in};
use crate::tasks::NewTask;
use crate::{Acting, Result, Store, StoreError, Tx, exec, new_id, now, on, tx_on};
use chrono::{DateTime, Duration, Utc};
use clinbridge_core::audit::{AuditAction, AuditEvent};
use clinbridge_core::identity::{Role, Scope};
use clinbridge_core::tasks::{Assignee, TaskStatus};
use clinbridge_core::{Invalid, required_text};
use serde::Serialize;
use uuid::Uuid;

/// Days an open query may wait for its answer before it shows as overdue.
pub const ANSWER_DAYS: i64 = 7;
/// Days an answered query may wait for its review.
pub const REVIEW_DAYS: i64 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryStatus {
    Open,
    Answered,
    Closed,
}

impl QueryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Answered => "answered",
            Self::Closed => "closed",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(Self::Open),
            "answered" => Some(Self::Answered),
            "closed" => Some(Self::Closed),
            _ => None,
        }
    }
}

/// What can be done to a query, and from which status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryStep {
    Respond,
    Close,
    Reopen,
}

impl QueryStep {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "respond" | "response" => Some(Self::Respond),
            "close" => Some(Self::Close),
            "reopen" => Some(Self::Reopen),
            _ => None,
        }
    }
    fn kind(self) -> &'static str {
        match self {
            Self::Respond => "response",
            Self::Close => "close",
            Self::Reopen => "reopen",
        }
    }
    /// The status the step moves to, or why it cannot be taken from `from`.
    pub fn apply(self, from: QueryStatus) -> Result<QueryStatus, Invalid> {
        match (self, from) {
            (Self::Respond, QueryStatus::Open | QueryStatus::Answered) => Ok(QueryStatus::Answered),
            (Self::Close, QueryStatus::Open | QueryStatus::Answered) => Ok(QueryStatus::Closed),
            (Self::Reopen, QueryStatus::Answered | QueryStatus::Closed) => Ok(QueryStatus::Open),
            (_, s) => Err(Invalid::one("step", format!("the query is {}: that step does not apply", s.as_str()))),
        }
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct Query {
    pub id: Uuid,
    pub form_id: Uuid,
    pub field: String,
    pub status: String,
    pub assigned_role: String,
    pub opened_by: Uuid,
    pub opened_by_name: String,
    pub opened_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub record_id: Uuid,
    pub record: String,
    pub event: String,
    pub instrument: String,
    pub instance: i64,
}

impl Query {
    pub fn status(&self) -> QueryStatus {
        QueryStatus::parse(&self.status).unwrap_or(QueryStatus::Open)
    }
    /// Whole days since it was opened (to `at`, or to its closing).
    pub fn age_days(&self, at: DateTime<Utc>) -> i64 {
        (self.closed_at.unwrap_or(at) - self.opened_at).num_days()
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct QueryMessage {
    pub id: Uuid,
    pub query_id: Uuid,
    pub user_id: Uuid,
    pub user_name: String,
    pub kind: String,
    pub body: String,
    pub at: DateTime<Utc>,
}

const SELECT: &str =
    "SELECT q.id, q.form_id, q.field, q.status, q.assigned_role, q.opened_by, u.name AS opened_by_name,
        q.opened_at, q.updated_at, q.closed_at, r.id AS record_id, r.record, f.event, f.instrument, f.instance
     FROM edc_queries q JOIN users u ON u.id = q.opened_by JOIN edc_forms f ON f.id = q.form_id
     JOIN edc_records r ON r.id = f.record_id";

async fn query_in(tx: &mut Tx, id: Uuid) -> Result<Query> {
    let sql = format!("{SELECT} WHERE q.id = $1");
    tx_on!(tx, |c| sqlx::query_as::<_, Query>(sqlx::AssertSqlSafe(sql.clone())).bind(id).fetch_optional(&mut *c).await)?
        .ok_or(StoreError::NotFound("query"))
}

pub async fn query(store: &Store, id: Uuid) -> Result<Query> {
    let sql = format!("{SELECT} WHERE q.id = $1");
    on!(store.db.read(), |c| sqlx::query_as::<_, Query>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(id)
        .fetch_optional(c)
        .await)?
    .ok_or(StoreError::NotFound("query"))
}

/// The queries of one record (every form), newest first.
pub async fn record_queries(store: &Store, record_id: Uuid) -> Result<Vec<Query>> {
    let sql = format!("{SELECT} WHERE r.id = $1 ORDER BY q.opened_at DESC");
    Ok(on!(store.db.read(), |c| sqlx::query_as::<_, Query>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(record_id)
        .fetch_all(c)
        .await)?)
}

/// A study's queries in a status (all when `None`), oldest first: the data manager's list.
pub async fn study_queries(store: &Store, study_id: Uuid, status: Option<QueryStatus>) -> Result<Vec<Query>> {
    let sql = match status {
        Some(_) => format!("{SELECT} WHERE r.study_id = $1 AND q.status = $2 ORDER BY q.opened_at"),
        None => format!("{SELECT} WHERE r.study_id = $1 ORDER BY q.opened_at"),
    };
    Ok(on!(store.db.read(), |c| {
        let q = sqlx::query_as::<_, Query>(sqlx::AssertSqlSafe(sql.clone())).bind(study_id);
        match status {
            Some(s) => q.bind(s.as_str()),
            None => q,
        }
        .fetch_all(c)
        .await
    })?)
}

pub async fn messages(store: &Store, query_id: Uuid) -> Result<Vec<QueryMessage>> {
    Ok(on!(store.db.read(), |c| sqlx::query_as::<_, QueryMessage>(
        "SELECT m.id, m.query_id, m.user_id, u.name AS user_name, m.kind, m.body, m.at
         FROM edc_query_messages m JOIN users u ON u.id = m.user_id WHERE m.query_id = $1 ORDER BY m.at, m.id"
    )
    .bind(query_id)
    .fetch_all(c)
    .await)?)
}

fn rule_key(id: Uuid) -> String {
    format!("edc.query:{id}")
}

fn scope_of(record: &Record) -> Scope {
    match record.site_id {
        Some(site) => Scope::Site(site),
        None => Scope::Study(record.study_id),
    }
}

async fn add_message(tx: &mut Tx, query_id: Uuid, kind: &str, body: &str) -> Result<()> {
    let user = tx.acting().user.ok_or_else(|| StoreError::Refused("a query message needs a person".into()))?;
    exec!(
        tx,
        "INSERT INTO edc_query_messages (id, query_id, user_id, kind, body, at) VALUES ($1, $2, $3, $4, $5, $6)",
        new_id(),
        query_id,
        user,
        kind,
        body,
        now()
    )?;
    Ok(())
}

fn place(form: &Form, record: &Record, field: &str) -> String {
    let event = if form.event.is_empty() { String::new() } else { format!(" {}", form.event) };
    let instance = if form.instance > 1 { format!(" #{}", form.instance) } else { String::new() };
    format!("{}{event} {}{instance} · {field}", record.record, form.instrument)
}

/// Opens a query on a field of a saved form, for a role at the record's site (the coordinator
/// when none is said).
pub async fn open(
    store: &Store,
    acting: &Acting,
    form_id: Uuid,
    field: &str,
    message: &str,
    role: Option<Role>,
) -> Result<Query> {
    let body = required_text("message", message, 4000)?;
    let field = field.trim().to_string();
    let role = role.unwrap_or(Role::Coordinator);
    let id = new_id();
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let form = form_in(tx, form_id).await?;
                let record = record_in(tx, form.record_id).await?;
                let meta = super::metadata::for_form_in(tx, record.study_id, form.version_number).await?;
                if meta.dictionary.field(&field).is_none_or(|f| f.form() != form.instrument) {
                    return Err(Invalid::one("field", format!("{} has no field named '{field}'", form.instrument)).into());
                }
                let opener = tx.acting().user.ok_or_else(|| StoreError::Refused("a query needs a person".into()))?;
                let at = now();
                exec!(
                    tx,
                    "INSERT INTO edc_queries (id, form_id, field, status, assigned_role, opened_by, opened_at, updated_at)
                     VALUES ($1, $2, $3, 'open', $4, $5, $6, $6)",
                    id,
                    form_id,
                    &field,
                    role.as_str(),
                    opener,
                    at
                )?;
                add_message(tx, id, "open", &body).await?;
                crate::tasks::raise_in(
                    tx,
                    NewTask {
                        kind: "edc_query".into(),
                        title: format!("Answer query on {}", place(&form, &record, &field)),
                        detail: body.clone(),
                        subject_type: "edc_form".into(),
                        subject_id: form_id.to_string(),
                        study_id: Some(record.study_id),
                        site_id: record.site_id,
                        assignee: Assignee::Role { role, scope: scope_of(&record) },
                        due_at: at + Duration::days(ANSWER_DAYS),
                        rule: "edc.query".into(),
                        rule_key: rule_key(id),
                    },
                )
                .await?;
                tx.audit(AuditEvent::new(AuditAction::Create, "edc_query", id).new_value(serde_json::json!({
                    "record": record.record, "event": form.event, "instrument": form.instrument, "instance": form.instance,
                    "field": field, "assigned_role": role.as_str(), "message": body,
                })));
                query_in(tx, id).await
            })
        })
        .await
}

/// Answers, closes or reopens a query with a message.
pub async fn step(store: &Store, acting: &Acting, query_id: Uuid, step: QueryStep, message: &str) -> Result<Query> {
    let body = required_text("message", message, 4000)?;
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let q = query_in(tx, query_id).await?;
                let to = step.apply(q.status())?;
                let form = form_in(tx, q.form_id).await?;
                let record = record_in(tx, form.record_id).await?;
                let at = now();
                let closed_at = (to == QueryStatus::Closed).then_some(at);
                exec!(
                    tx,
                    "UPDATE edc_queries SET status = $1, updated_at = $2, closed_at = $3 WHERE id = $4 AND status = $5",
                    to.as_str(),
                    at,
                    closed_at,
                    query_id,
                    &q.status
                )?;
                add_message(tx, query_id, step.kind(), &body).await?;
                let key = rule_key(query_id);
                crate::tasks::resolve_in(tx, &key, TaskStatus::Done).await?;
                let role = Role::parse(&q.assigned_role).unwrap_or(Role::Coordinator);
                let (title, assignee, due) = match to {
                    QueryStatus::Answered => (
                        format!("Review the answer to the query on {}", place(&form, &record, &q.field)),
                        Some(Assignee::User { user_id: q.opened_by }),
                        at + Duration::days(REVIEW_DAYS),
                    ),
                    QueryStatus::Open => (
                        format!("Answer query on {}", place(&form, &record, &q.field)),
                        Some(Assignee::Role { role, scope: scope_of(&record) }),
                        at + Duration::days(ANSWER_DAYS),
                    ),
                    QueryStatus::Closed => (String::new(), None, at),
                };
                if let Some(assignee) = assignee {
                    crate::tasks::raise_in(
                        tx,
                        NewTask {
                            kind: "edc_query".into(),
                            title,
                            detail: body.clone(),
                            subject_type: "edc_form".into(),
                            subject_id: form.id.to_string(),
                            study_id: Some(record.study_id),
                            site_id: record.site_id,
                            assignee,
                            due_at: due,
                            rule: "edc.query".into(),
                            rule_key: key,
                        },
                    )
                    .await?;
                }
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "edc_query", query_id)
                        .old(serde_json::json!({ "status": q.status }))
                        .new_value(serde_json::json!({ "status": to.as_str(), "message": body })),
                );
                query_in(tx, query_id).await
            })
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_follow_the_query_life() {
        assert_eq!(QueryStep::Respond.apply(QueryStatus::Open), Ok(QueryStatus::Answered));
        assert_eq!(QueryStep::Close.apply(QueryStatus::Answered), Ok(QueryStatus::Closed));
        assert_eq!(QueryStep::Reopen.apply(QueryStatus::Closed), Ok(QueryStatus::Open));
        assert_eq!(QueryStep::Reopen.apply(QueryStatus::Answered), Ok(QueryStatus::Open));
        assert!(QueryStep::Respond.apply(QueryStatus::Closed).is_err());
        assert!(QueryStep::Reopen.apply(QueryStatus::Open).is_err());
        assert!(QueryStep::Close.apply(QueryStatus::Closed).is_err());
    }
}
