//! Field work: interactions with HCPs (attendees, topics, materials shared, follow-ups that
//! become tasks), insights heard in an interaction or at an event and the team's insight
//! board, congresses and events with their sessions, and the MSL dashboard counts.

use super::{Listed, contains_pattern, hcp_in, json, require_user};
use crate::tasks::{NewTask, raise_in, resolve_in};
use crate::{Acting, Result, Store, StoreError, Tx, exec, new_id, now, on, tx_on};
use chrono::{DateTime, NaiveDate, Utc};
use clinbridge_core::Invalid;
use clinbridge_core::audit::{AuditAction, AuditEvent, truncate_micros};
use clinbridge_core::medical::{
    CheckedInsight, CheckedInteraction, EventInput, FollowUpInput, Granularity, InsightCategory, InsightInput,
    InsightSource, InteractionInput, Material, RequestInput, SafetyInput, SessionInput, check_session,
};
use clinbridge_core::tasks::{Assignee, TaskStatus};
use serde::Serialize;
use std::collections::BTreeMap;
use uuid::Uuid;

// ---------------------------------------------------------------- interactions

/// Someone who took part: an HCP or a colleague.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct Attendee {
    #[serde(skip)]
    pub interaction_id: Uuid,
    pub id: Uuid,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct FollowUp {
    pub id: Uuid,
    pub interaction_id: Uuid,
    pub title: String,
    pub due_at: DateTime<Utc>,
    pub assignee_user_id: Uuid,
    pub task_id: Option<Uuid>,
    pub done_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct Interaction {
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub channel: String,
    /// The MSL who recorded it and owns its follow-ups.
    pub owner_user_id: Uuid,
    pub owner_name: String,
    pub event_id: Option<Uuid>,
    #[sqlx(try_from = "String")]
    pub topics: Listed<String>,
    #[sqlx(try_from = "String")]
    pub products: Listed<String>,
    #[sqlx(try_from = "String")]
    pub materials: Listed<Material>,
    pub notes: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[sqlx(skip)]
    pub hcps: Vec<Attendee>,
    #[sqlx(skip)]
    pub colleagues: Vec<Attendee>,
    #[sqlx(skip)]
    pub follow_ups: Vec<FollowUp>,
}

const INTERACTION_SELECT: &str =
    "SELECT i.id, i.occurred_at, i.channel, i.owner_user_id, u.name AS owner_name, i.event_id, i.topics, i.products,
        i.materials, i.notes, i.created_at, i.updated_at
     FROM medical_interactions i JOIN users u ON u.id = i.owner_user_id";

const FOLLOW_UP_SELECT: &str =
    "SELECT id, interaction_id, title, due_at, assignee_user_id, task_id, done_at, created_at FROM medical_follow_ups";

fn placeholders(from: usize, n: usize) -> String {
    (0..n).map(|i| format!("${}", from + i)).collect::<Vec<_>>().join(", ")
}

/// Fills in the HCPs, colleagues and follow-ups of a page of interactions (three queries).
async fn with_people(store: &Store, mut list: Vec<Interaction>) -> Result<Vec<Interaction>> {
    if list.is_empty() {
        return Ok(list);
    }
    let ids: Vec<Uuid> = list.iter().map(|i| i.id).collect();
    let inl = placeholders(1, ids.len());
    let hcp_sql = format!(
        "SELECT x.interaction_id, h.id, h.first_name || ' ' || h.last_name AS name FROM medical_interaction_hcps x
         JOIN medical_hcps h ON h.id = x.hcp_id WHERE x.interaction_id IN ({inl}) ORDER BY h.last_name, h.first_name"
    );
    let col_sql = format!(
        "SELECT x.interaction_id, u.id, u.name FROM medical_interaction_colleagues x JOIN users u ON u.id = x.user_id
         WHERE x.interaction_id IN ({inl}) ORDER BY u.name"
    );
    let fu_sql = format!("{FOLLOW_UP_SELECT} WHERE interaction_id IN ({inl}) ORDER BY due_at");
    let hcps: Vec<Attendee> = on!(store.db.read(), |c| {
        let mut q = sqlx::query_as::<_, Attendee>(sqlx::AssertSqlSafe(hcp_sql.clone()));
        for id in &ids {
            q = q.bind(*id);
        }
        q.fetch_all(c).await
    })?;
    let colleagues: Vec<Attendee> = on!(store.db.read(), |c| {
        let mut q = sqlx::query_as::<_, Attendee>(sqlx::AssertSqlSafe(col_sql.clone()));
        for id in &ids {
            q = q.bind(*id);
        }
        q.fetch_all(c).await
    })?;
    let follow_ups: Vec<FollowUp> = on!(store.db.read(), |c| {
        let mut q = sqlx::query_as::<_, FollowUp>(sqlx::AssertSqlSafe(fu_sql.clone()));
        for id in &ids {
            q = q.bind(*id);
        }
        q.fetch_all(c).await
    })?;
    for i in &mut list {
        i.hcps = hcps.iter().filter(|a| a.interaction_id == i.id).cloned().collect();
        i.colleagues = colleagues.iter().filter(|a| a.interaction_id == i.id).cloned().collect();
        i.follow_ups = follow_ups.iter().filter(|f| f.interaction_id == i.id).cloned().collect();
    }
    Ok(list)
}

pub async fn interaction(store: &Store, id: Uuid) -> Result<Interaction> {
    let sql = format!("{INTERACTION_SELECT} WHERE i.id = $1");
    let i = on!(store.db.read(), |c| sqlx::query_as::<_, Interaction>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(id)
        .fetch_optional(c)
        .await)?
    .ok_or(StoreError::NotFound("interaction"))?;
    with_people(store, vec![i]).await?.pop().ok_or(StoreError::NotFound("interaction"))
}

async fn interaction_in(tx: &mut Tx, id: Uuid) -> Result<Interaction> {
    let sql = format!("{INTERACTION_SELECT} WHERE i.id = $1");
    tx_on!(tx, |c| sqlx::query_as::<_, Interaction>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(id)
        .fetch_optional(&mut *c)
        .await)?
    .ok_or(StoreError::NotFound("interaction"))
}

/// Which interactions to list; every filter is optional. Newest first.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct InteractionFilter {
    pub hcp_id: Option<Uuid>,
    pub owner_user_id: Option<Uuid>,
    pub event_id: Option<Uuid>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Defaults to 100, at most 1000.
    pub limit: Option<i64>,
}

pub async fn interactions(store: &Store, f: &InteractionFilter) -> Result<Vec<Interaction>> {
    let sql = format!(
        "{INTERACTION_SELECT}
         WHERE ($1 IS NULL OR EXISTS (SELECT 1 FROM medical_interaction_hcps x WHERE x.interaction_id = i.id AND x.hcp_id = $1))
           AND ($2 IS NULL OR i.owner_user_id = $2)
           AND ($3 IS NULL OR i.event_id = $3)
           AND ($4 IS NULL OR i.occurred_at >= $4)
           AND ($5 IS NULL OR i.occurred_at < $5)
         ORDER BY i.occurred_at DESC, i.id LIMIT $6"
    );
    let list = on!(store.db.read(), |c| sqlx::query_as::<_, Interaction>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(f.hcp_id)
        .bind(f.owner_user_id)
        .bind(f.event_id)
        .bind(f.from)
        .bind(f.to)
        .bind(f.limit.unwrap_or(100).clamp(1, 1000))
        .fetch_all(c)
        .await)?;
    with_people(store, list).await
}

fn follow_up_rule(id: Uuid) -> String {
    format!("medical.follow_up:{id}")
}

/// Adds a follow-up and its task, due when promised, on the assignee's queue.
async fn follow_up_in(
    tx: &mut Tx,
    interaction_id: Uuid,
    owner: Uuid,
    f: &FollowUpInput,
    hcp_names: &str,
) -> Result<FollowUp> {
    let title = clinbridge_core::required_text("title", &f.title, 200)?;
    let assignee = f.assignee.unwrap_or(owner);
    require_user(tx, "assignee", assignee).await?;
    let due_at = truncate_micros(f.due_at);
    let id = new_id();
    let t = now();
    exec!(
        tx,
        "INSERT INTO medical_follow_ups (id, interaction_id, title, due_at, assignee_user_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        id,
        interaction_id,
        &title,
        due_at,
        assignee,
        t
    )?;
    let task_id = raise_in(
        tx,
        NewTask {
            kind: "medical_follow_up".into(),
            title: format!("Follow up: {title}"),
            detail: if hcp_names.is_empty() { String::new() } else { format!("Promised to {hcp_names}.") },
            subject_type: "medical_interaction".into(),
            subject_id: interaction_id.to_string(),
            study_id: None,
            site_id: None,
            assignee: Assignee::User { user_id: assignee },
            due_at,
            rule: "medical.follow_up".into(),
            rule_key: follow_up_rule(id),
        },
    )
    .await?;
    exec!(tx, "UPDATE medical_follow_ups SET task_id = $1 WHERE id = $2", task_id, id)?;
    tx.audit(AuditEvent::new(AuditAction::Create, "medical_interaction", interaction_id).new_value(
        serde_json::json!({
            "follow_up": id, "title": title, "due_at": due_at, "assignee": assignee, "task_id": task_id,
        }),
    ));
    Ok(FollowUp {
        id,
        interaction_id,
        title,
        due_at,
        assignee_user_id: assignee,
        task_id: Some(task_id),
        done_at: None,
        created_at: t,
    })
}

/// Checks the people of an interaction exist; gives the HCPs' names for task details.
async fn check_people(tx: &mut Tx, i: &CheckedInteraction, event_id: Option<Uuid>) -> Result<String> {
    let mut names = Vec::new();
    let mut checks = clinbridge_core::Checks::new();
    for h in &i.hcp_ids {
        match hcp_in(tx, *h).await {
            Ok(h) => names.push(h.display_name()),
            Err(StoreError::NotFound(_)) => {
                checks.push("hcp_ids", format!("{h} is not a listed healthcare professional"))
            }
            Err(e) => return Err(e),
        }
    }
    for u in &i.colleague_ids {
        if let Err(StoreError::Invalid(_)) = require_user(tx, "colleague_ids", *u).await {
            checks.push("colleague_ids", format!("{u} is not a Clinbridge user"));
        }
    }
    if let Some(e) = event_id {
        let found: Option<Uuid> = tx_on!(tx, |c| sqlx::query_scalar("SELECT id FROM medical_events WHERE id = $1")
            .bind(e)
            .fetch_optional(&mut *c)
            .await)?;
        if found.is_none() {
            checks.push("event_id", "is not a listed event");
        }
    }
    checks.finish()?;
    Ok(names.join(", "))
}

async fn write_people(tx: &mut Tx, id: Uuid, i: &CheckedInteraction) -> Result<()> {
    exec!(tx, "DELETE FROM medical_interaction_hcps WHERE interaction_id = $1", id)?;
    exec!(tx, "DELETE FROM medical_interaction_colleagues WHERE interaction_id = $1", id)?;
    for h in &i.hcp_ids {
        exec!(tx, "INSERT INTO medical_interaction_hcps (interaction_id, hcp_id) VALUES ($1, $2)", id, h)?;
    }
    for u in &i.colleague_ids {
        exec!(tx, "INSERT INTO medical_interaction_colleagues (interaction_id, user_id) VALUES ($1, $2)", id, u)?;
    }
    Ok(())
}

/// Records an interaction by the acting MSL; each follow-up becomes a task on the MSL's queue
/// (or the named colleague's), due when promised.
pub async fn record_interaction(store: &Store, acting: &Acting, input: InteractionInput) -> Result<Interaction> {
    let owner = acting.user.ok_or_else(|| StoreError::Refused("an interaction is recorded by a person".into()))?;
    let i = input.check(now())?;
    let id = new_id();
    store
        .write(acting, move |tx| Box::pin(async move { record_interaction_in(tx, id, owner, &i, &input).await }))
        .await?;
    interaction(store, id).await
}

async fn record_interaction_in(
    tx: &mut Tx,
    id: Uuid,
    owner: Uuid,
    i: &CheckedInteraction,
    input: &InteractionInput,
) -> Result<()> {
    let names = check_people(tx, i, input.event_id).await?;
    let t = now();
    exec!(
        tx,
        "INSERT INTO medical_interactions (id, occurred_at, channel, owner_user_id, event_id, topics, products, materials, notes, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
        id,
        i.occurred_at,
        i.channel.as_str(),
        owner,
        input.event_id,
        json(&i.topics)?,
        json(&i.products)?,
        json(&i.materials)?,
        &i.notes,
        t
    )?;
    write_people(tx, id, i).await?;
    tx.audit(AuditEvent::new(AuditAction::Create, "medical_interaction", id).new_value(serde_json::json!({
        "interaction": i, "event_id": input.event_id, "owner_user_id": owner,
    })));
    for f in &input.follow_ups {
        follow_up_in(tx, id, owner, f, &names).await?;
    }
    Ok(())
}

/// An insight captured while logging an interaction (its source is that interaction).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct InsightDraft {
    pub category: String,
    #[serde(default)]
    pub product: String,
    #[serde(default)]
    pub therapeutic_area: String,
    #[serde(default)]
    pub tags: Vec<String>,
    pub text: String,
}

impl InsightDraft {
    fn input(&self, interaction: Uuid) -> InsightInput {
        InsightInput {
            source: InsightSource::Interaction(interaction),
            category: self.category.clone(),
            product: self.product.clone(),
            therapeutic_area: self.therapeutic_area.clone(),
            tags: self.tags.clone(),
            text: self.text.clone(),
        }
    }
}

/// Everything an MSL notes after a meeting, saved at once: the interaction with its
/// follow-ups, the insights heard, a medical information request asked during it and safety
/// information reported in it.
#[derive(Debug, Clone)]
pub struct InteractionLog {
    pub interaction: InteractionInput,
    pub insights: Vec<InsightDraft>,
    /// Its `interaction_id` is ignored: the request is linked to this interaction.
    pub request: Option<RequestInput>,
    /// Its `interaction_id` is ignored; without an awareness time the interaction's time is
    /// day 0.
    pub safety: Option<SafetyInput>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Logged {
    pub interaction: Interaction,
    pub insights: Vec<Insight>,
    pub request: Option<super::MedicalRequest>,
    pub safety: Option<super::SafetyIntake>,
}

/// Field errors of a part of a combined form, named under that part (`request.questions`).
fn under(prefix: &str, e: Invalid) -> Vec<clinbridge_core::FieldError> {
    e.0.into_iter().map(|f| clinbridge_core::FieldError::new(format!("{prefix}.{}", f.field), f.message)).collect()
}

/// Saves an [`InteractionLog`] in one transaction: either all of it is recorded or nothing is,
/// and every field error of every part is reported together.
pub async fn log_interaction(store: &Store, acting: &Acting, log: InteractionLog) -> Result<Logged> {
    let owner = acting.user.ok_or_else(|| StoreError::Refused("an interaction is recorded by a person".into()))?;
    let t = now();
    let id = new_id();
    let mut errors = Vec::new();
    let checked = log.interaction.check(t).map_err(|e| errors.extend(e.0)).ok();
    let mut insights = Vec::new();
    for (n, d) in log.insights.iter().enumerate() {
        match d.input(id).check() {
            Ok(c) => insights.push((new_id(), c)),
            Err(e) => errors.extend(under(&format!("insights[{n}]"), e)),
        }
    }
    let request = log.request.map(|mut r| {
        r.interaction_id = Some(id);
        if r.received_at.is_none() {
            r.received_at = Some(log.interaction.occurred_at.min(t));
        }
        r
    });
    let checked_request = match &request {
        Some(r) => match r.check(t) {
            Ok(c) => Some((new_id(), c, r.assigned_to.unwrap_or(owner))),
            Err(e) => {
                errors.extend(under("request", e));
                None
            }
        },
        None => None,
    };
    let safety = log.safety.map(|mut s| {
        s.interaction_id = Some(id);
        if s.aware_at.is_none() {
            s.aware_at = Some(log.interaction.occurred_at.min(t));
        }
        s
    });
    if let Some(s) = &safety
        && let Err(e) = s.check(t)
    {
        errors.extend(under("safety", e));
    }
    let i = match checked {
        Some(i) if errors.is_empty() => i,
        _ => return Err(Invalid(errors).into()),
    };
    let input = log.interaction;
    let safety_id = new_id();
    let (insight_ids, request, safety) = store
        .write(acting, move |tx| {
            Box::pin(async move {
                record_interaction_in(tx, id, owner, &i, &input).await?;
                let mut ids = Vec::new();
                for (nid, c) in &insights {
                    insight_in(tx, *nid, c, Some(id), None, i.occurred_at.date_naive()).await?;
                    ids.push(*nid);
                }
                let request = match checked_request {
                    Some((rid, c, assignee)) => Some(
                        super::create_request_in(tx, rid, &c, assignee, Some(id))
                            .await
                            .map_err(|e| prefix_store("request", e))?,
                    ),
                    None => None,
                };
                let safety = match safety {
                    Some(s) => Some(
                        super::report_safety_in(tx, safety_id, owner, s)
                            .await
                            .map_err(|e| prefix_store("safety", e))?,
                    ),
                    None => None,
                };
                Ok((ids, request, safety))
            })
        })
        .await?;
    let mut out_insights = Vec::new();
    for nid in insight_ids {
        out_insights.push(insight(store, nid).await?);
    }
    Ok(Logged { interaction: interaction(store, id).await?, insights: out_insights, request, safety })
}

fn prefix_store(prefix: &str, e: StoreError) -> StoreError {
    match e {
        StoreError::Invalid(inv) => StoreError::Invalid(Invalid(under(prefix, inv))),
        e => e,
    }
}

/// Corrects an interaction (when, how, who, topics, products, materials, notes). Follow-ups in
/// the input are added; existing ones stay.
pub async fn update_interaction(
    store: &Store,
    acting: &Acting,
    id: Uuid,
    input: InteractionInput,
) -> Result<Interaction> {
    let before = interaction(store, id).await?;
    let i = input.check(now())?;
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let names = check_people(tx, &i, input.event_id).await?;
                exec!(
                    tx,
                    "UPDATE medical_interactions SET occurred_at = $1, channel = $2, event_id = $3, topics = $4, products = $5, materials = $6,
                        notes = $7, updated_at = $8 WHERE id = $9",
                    i.occurred_at,
                    i.channel.as_str(),
                    input.event_id,
                    json(&i.topics)?,
                    json(&i.products)?,
                    json(&i.materials)?,
                    &i.notes,
                    now(),
                    id
                )?;
                write_people(tx, id, &i).await?;
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "medical_interaction", id)
                        .old(serde_json::json!({
                            "occurred_at": before.occurred_at, "channel": before.channel, "event_id": before.event_id,
                            "hcp_ids": before.hcps.iter().map(|h| h.id).collect::<Vec<_>>(),
                            "colleague_ids": before.colleagues.iter().map(|h| h.id).collect::<Vec<_>>(),
                            "topics": before.topics, "products": before.products, "materials": before.materials, "notes": before.notes,
                        }))
                        .new_value(serde_json::json!({ "interaction": i, "event_id": input.event_id })),
                );
                for f in &input.follow_ups {
                    follow_up_in(tx, id, before.owner_user_id, f, &names).await?;
                }
                Ok(())
            })
        })
        .await?;
    interaction(store, id).await
}

/// Adds a follow-up to an interaction already recorded.
pub async fn add_follow_up(store: &Store, acting: &Acting, interaction_id: Uuid, f: FollowUpInput) -> Result<FollowUp> {
    let it = interaction(store, interaction_id).await?;
    clinbridge_core::medical::follow_up(&f, it.occurred_at)?;
    let names = it.hcps.iter().map(|h| h.name.clone()).collect::<Vec<_>>().join(", ");
    store
        .write(acting, move |tx| {
            Box::pin(async move { follow_up_in(tx, interaction_id, it.owner_user_id, &f, &names).await })
        })
        .await
}

/// Marks a follow-up done and closes its task.
pub async fn complete_follow_up(store: &Store, acting: &Acting, follow_up_id: Uuid) -> Result<FollowUp> {
    let sql = format!("{FOLLOW_UP_SELECT} WHERE id = $1");
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let f: FollowUp = tx_on!(tx, |c| sqlx::query_as::<_, FollowUp>(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(follow_up_id)
                    .fetch_optional(&mut *c)
                    .await)?
                .ok_or(StoreError::NotFound("follow-up"))?;
                if f.done_at.is_some() {
                    return Err(StoreError::Refused("this follow-up is already done".into()));
                }
                let t = now();
                exec!(tx, "UPDATE medical_follow_ups SET done_at = $1 WHERE id = $2", t, follow_up_id)?;
                resolve_in(tx, &follow_up_rule(follow_up_id), TaskStatus::Done).await?;
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "medical_interaction", f.interaction_id)
                        .new_value(serde_json::json!({ "follow_up": follow_up_id, "done_at": t })),
                );
                Ok(FollowUp { done_at: Some(t), ..f })
            })
        })
        .await
}

// ---------------------------------------------------------------- insights

#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct Insight {
    pub id: Uuid,
    pub interaction_id: Option<Uuid>,
    pub event_id: Option<Uuid>,
    pub category: String,
    pub product: String,
    pub therapeutic_area: String,
    pub text: String,
    /// The day it was heard (the interaction's day, or the event's first day).
    pub heard_on: NaiveDate,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    #[sqlx(skip)]
    pub tags: Vec<String>,
}

impl Insight {
    pub fn category_label(&self) -> &'static str {
        InsightCategory::parse(&self.category).map(|c| c.label()).unwrap_or("")
    }
}

const INSIGHT_SELECT: &str = "SELECT n.id, n.interaction_id, n.event_id, n.category, n.product, n.therapeutic_area, n.text, n.heard_on, n.created_by, n.created_at FROM medical_insights n";

async fn with_tags(store: &Store, mut list: Vec<Insight>) -> Result<Vec<Insight>> {
    for chunk in list.chunks_mut(500) {
        let sql = format!(
            "SELECT insight_id, tag FROM medical_insight_tags WHERE insight_id IN ({}) ORDER BY tag",
            placeholders(1, chunk.len())
        );
        let tags: Vec<(Uuid, String)> = on!(store.db.read(), |c| {
            let mut q = sqlx::query_as::<_, (Uuid, String)>(sqlx::AssertSqlSafe(sql.clone()));
            for i in chunk.iter() {
                q = q.bind(i.id);
            }
            q.fetch_all(c).await
        })?;
        for i in chunk.iter_mut() {
            i.tags = tags.iter().filter(|t| t.0 == i.id).map(|t| t.1.clone()).collect();
        }
    }
    Ok(list)
}

/// Records an insight heard in an interaction or at an event.
pub async fn record_insight(store: &Store, acting: &Acting, input: InsightInput) -> Result<Insight> {
    let n = input.check()?;
    let id = new_id();
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let (interaction_id, event_id, heard_on) = match n.source {
                    InsightSource::Interaction(i) => {
                        let it = match interaction_in(tx, i).await {
                            Ok(it) => it,
                            Err(StoreError::NotFound(_)) => {
                                return Err(Invalid::one("source", "is not a recorded interaction").into());
                            }
                            Err(e) => return Err(e),
                        };
                        (Some(i), None, it.occurred_at.date_naive())
                    }
                    InsightSource::Event(e) => {
                        let day: Option<NaiveDate> =
                            tx_on!(tx, |c| sqlx::query_scalar("SELECT starts_on FROM medical_events WHERE id = $1")
                                .bind(e)
                                .fetch_optional(&mut *c)
                                .await)?;
                        let day =
                            day.ok_or_else(|| StoreError::from(Invalid::one("source", "is not a listed event")))?;
                        (None, Some(e), day)
                    }
                };
                insight_in(tx, id, &n, interaction_id, event_id, heard_on).await
            })
        })
        .await?;
    insight(store, id).await
}

async fn insight_in(
    tx: &mut Tx,
    id: Uuid,
    n: &CheckedInsight,
    interaction_id: Option<Uuid>,
    event_id: Option<Uuid>,
    heard_on: NaiveDate,
) -> Result<()> {
    let by = tx.acting().user;
    exec!(
        tx,
        "INSERT INTO medical_insights (id, interaction_id, event_id, category, product, therapeutic_area, text, heard_on, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        id,
        interaction_id,
        event_id,
        n.category.as_str(),
        &n.product,
        &n.therapeutic_area,
        &n.text,
        heard_on,
        by,
        now()
    )?;
    for t in &n.tags {
        exec!(tx, "INSERT INTO medical_insight_tags (insight_id, tag) VALUES ($1, $2)", id, t)?;
    }
    tx.audit(AuditEvent::new(AuditAction::Create, "medical_insight", id).new_value(n));
    Ok(())
}

pub async fn insight(store: &Store, id: Uuid) -> Result<Insight> {
    let sql = format!("{INSIGHT_SELECT} WHERE n.id = $1");
    let i = on!(store.db.read(), |c| sqlx::query_as::<_, Insight>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(id)
        .fetch_optional(c)
        .await)?
    .ok_or(StoreError::NotFound("insight"))?;
    with_tags(store, vec![i]).await?.pop().ok_or(StoreError::NotFound("insight"))
}

/// Which insights to list; all filters optional. Newest first.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct InsightFilter {
    pub interaction_id: Option<Uuid>,
    pub event_id: Option<Uuid>,
    pub category: Option<String>,
    pub product: Option<String>,
    pub tag: Option<String>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// Insights from interactions this HCP took part in.
    pub hcp_id: Option<Uuid>,
    /// Free text in the insight.
    pub text: String,
    /// Defaults to 200, at most 2000.
    pub limit: Option<i64>,
}

pub async fn insights(store: &Store, f: &InsightFilter) -> Result<Vec<Insight>> {
    let text = if f.text.trim().is_empty() { String::new() } else { contains_pattern(&f.text) };
    let sql = format!(
        "{INSIGHT_SELECT}
         WHERE ($1 IS NULL OR n.interaction_id = $1) AND ($2 IS NULL OR n.event_id = $2)
           AND ($3 IS NULL OR n.category = $3) AND ($4 IS NULL OR n.product = $4)
           AND ($5 IS NULL OR EXISTS (SELECT 1 FROM medical_insight_tags t WHERE t.insight_id = n.id AND t.tag = $5))
           AND ($6 IS NULL OR n.heard_on >= $6) AND ($7 IS NULL OR n.heard_on <= $7)
           AND ($8 = '' OR LOWER(n.text) LIKE $8 ESCAPE '\\')
           AND ($10 IS NULL OR EXISTS (SELECT 1 FROM medical_interaction_hcps x WHERE x.interaction_id = n.interaction_id AND x.hcp_id = $10))
         ORDER BY n.heard_on DESC, n.id DESC LIMIT $9"
    );
    let tag = f.tag.as_ref().map(|t| t.trim().to_lowercase());
    let list = on!(store.db.read(), |c| sqlx::query_as::<_, Insight>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(f.interaction_id)
        .bind(f.event_id)
        .bind(f.category.as_deref())
        .bind(f.product.as_deref())
        .bind(tag.as_deref())
        .bind(f.from)
        .bind(f.to)
        .bind(&text)
        .bind(f.limit.unwrap_or(200).clamp(1, 2000))
        .bind(f.hcp_id)
        .fetch_all(c)
        .await)?;
    with_tags(store, list).await
}

/// The span and time buckets of the insight board.
#[derive(Debug, Clone, Copy, serde::Deserialize)]
pub struct BoardQuery {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub granularity: Granularity,
}

/// A row of the board: what is counted (`key`; `label` for a category), its count per period
/// (aligned with [`InsightBoard::periods`]) and its total.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BoardRow {
    pub key: String,
    pub label: String,
    pub counts: Vec<i64>,
    pub total: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct InsightBoard {
    pub periods: Vec<String>,
    /// Insights per period.
    pub totals: Vec<i64>,
    pub by_tag: Vec<BoardRow>,
    pub by_category: Vec<BoardRow>,
    /// Insights without a product are counted under the empty key.
    pub by_product: Vec<BoardRow>,
}

impl InsightBoard {
    pub fn row(&self, dimension: BoardDimension, key: &str) -> Option<&BoardRow> {
        let rows = match dimension {
            BoardDimension::Tag => &self.by_tag,
            BoardDimension::Category => &self.by_category,
            BoardDimension::Product => &self.by_product,
        };
        rows.iter().find(|r| r.key == key)
    }
    /// The count in one cell.
    pub fn count(&self, dimension: BoardDimension, key: &str, period: &str) -> i64 {
        let Some(p) = self.periods.iter().position(|x| x == period) else { return 0 };
        self.row(dimension, key).map(|r| r.counts[p]).unwrap_or(0)
    }
}

/// What a board row counts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BoardDimension {
    Tag,
    Category,
    Product,
}

impl BoardDimension {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        match raw.trim() {
            "tag" => Ok(BoardDimension::Tag),
            "category" => Ok(BoardDimension::Category),
            "product" => Ok(BoardDimension::Product),
            _ => Err(Invalid::one("dimension", "must be tag, category or product")),
        }
    }
}

fn check_board(q: &BoardQuery) -> Result<()> {
    if q.to < q.from {
        return Err(Invalid::one("to", "must not be before the start").into());
    }
    if (q.to - q.from).num_days() > 366 * 5 {
        return Err(Invalid::one("to", "the board spans at most five years").into());
    }
    Ok(())
}

/// The team insight board: insights heard between `from` and `to` (inclusive), counted per
/// period by tag, by category and by product, rows by total, largest first.
pub async fn insight_board(store: &Store, q: &BoardQuery) -> Result<InsightBoard> {
    check_board(q)?;
    let rows: Vec<(Uuid, NaiveDate, String, String)> = on!(store.db.read(), |c| sqlx::query_as(
        "SELECT id, heard_on, category, product FROM medical_insights WHERE heard_on >= $1 AND heard_on <= $2"
    )
    .bind(q.from)
    .bind(q.to)
    .fetch_all(c)
    .await)?;
    let tags: Vec<(Uuid, String)> = on!(store.db.read(), |c| sqlx::query_as(
        "SELECT t.insight_id, t.tag FROM medical_insight_tags t JOIN medical_insights n ON n.id = t.insight_id
         WHERE n.heard_on >= $1 AND n.heard_on <= $2"
    )
    .bind(q.from)
    .bind(q.to)
    .fetch_all(c)
    .await)?;
    let periods = q.granularity.periods(q.from, q.to);
    let index: BTreeMap<&str, usize> = periods.iter().enumerate().map(|(i, p)| (p.as_str(), i)).collect();
    let mut totals = vec![0i64; periods.len()];
    let mut by_tag: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut by_category: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut by_product: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut period_of: BTreeMap<Uuid, usize> = BTreeMap::new();
    for (id, day, category, product) in &rows {
        let Some(&p) = index.get(q.granularity.key(*day).as_str()) else { continue };
        period_of.insert(*id, p);
        totals[p] += 1;
        by_category.entry(category.clone()).or_insert_with(|| vec![0; periods.len()])[p] += 1;
        by_product.entry(product.clone()).or_insert_with(|| vec![0; periods.len()])[p] += 1;
    }
    for (id, tag) in &tags {
        if let Some(&p) = period_of.get(id) {
            by_tag.entry(tag.clone()).or_insert_with(|| vec![0; periods.len()])[p] += 1;
        }
    }
    let rows_of = |m: BTreeMap<String, Vec<i64>>, label: &dyn Fn(&str) -> String| {
        let mut out: Vec<BoardRow> = m
            .into_iter()
            .map(|(k, counts)| BoardRow { label: label(&k), total: counts.iter().sum(), key: k, counts })
            .collect();
        out.sort_by(|a, b| b.total.cmp(&a.total).then(a.key.cmp(&b.key)));
        out
    };
    Ok(InsightBoard {
        by_tag: rows_of(by_tag, &|k| k.to_string()),
        by_category: rows_of(by_category, &|k| {
            InsightCategory::parse(k).map(|c| c.label().to_string()).unwrap_or_else(|_| k.to_string())
        }),
        by_product: rows_of(by_product, &|k| if k.is_empty() { "No product".into() } else { k.to_string() }),
        periods,
        totals,
    })
}

/// The insights behind one cell of the board: those with this tag, category or product heard
/// in `period` (a key of [`InsightBoard::periods`]) within the board's span.
pub async fn insight_cell(
    store: &Store,
    q: &BoardQuery,
    dimension: BoardDimension,
    key: &str,
    period: &str,
) -> Result<Vec<Insight>> {
    check_board(q)?;
    let (start, end) = q.granularity.bounds(period)?;
    let from = start.max(q.from);
    let to = end.min(q.to);
    if to < from {
        return Ok(Vec::new());
    }
    let clause = match dimension {
        BoardDimension::Tag => "EXISTS (SELECT 1 FROM medical_insight_tags t WHERE t.insight_id = n.id AND t.tag = $3)",
        BoardDimension::Category => "n.category = $3",
        BoardDimension::Product => "n.product = $3",
    };
    let sql = format!(
        "{INSIGHT_SELECT} WHERE n.heard_on >= $1 AND n.heard_on <= $2 AND {clause} ORDER BY n.heard_on DESC, n.id DESC"
    );
    let list = on!(store.db.read(), |c| sqlx::query_as::<_, Insight>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(from)
        .bind(to)
        .bind(key)
        .fetch_all(c)
        .await)?;
    with_tags(store, list).await
}

/// A recurring theme: a tag and how often it was heard.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct Theme {
    pub tag: String,
    pub insights: i64,
}

/// The most frequent insight tags heard between two days (inclusive).
pub async fn insight_themes(store: &Store, from: NaiveDate, to: NaiveDate, limit: i64) -> Result<Vec<Theme>> {
    Ok(on!(store.db.read(), |c| sqlx::query_as::<_, Theme>(
        "SELECT t.tag, COUNT(*) AS insights FROM medical_insight_tags t JOIN medical_insights n ON n.id = t.insight_id
         WHERE n.heard_on >= $1 AND n.heard_on <= $2 GROUP BY t.tag ORDER BY COUNT(*) DESC, t.tag LIMIT $3"
    )
    .bind(from)
    .bind(to)
    .bind(limit.clamp(1, 200))
    .fetch_all(c)
    .await)?)
}

// ---------------------------------------------------------------- dashboard

/// Interactions with HCPs of one KOL tier (`None`: HCPs without a KOL profile). An interaction
/// with HCPs of two tiers counts under both.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct TierActivity {
    pub tier: Option<i64>,
    pub interactions: i64,
    pub hcps: i64,
}

/// Interactions by KOL tier between two instants, for the whole team or one MSL.
pub async fn interactions_by_tier(
    store: &Store,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    owner_user_id: Option<Uuid>,
) -> Result<Vec<TierActivity>> {
    let mut rows: Vec<TierActivity> = on!(store.db.read(), |c| sqlx::query_as::<_, TierActivity>(
        "SELECT k.tier, COUNT(DISTINCT i.id) AS interactions, COUNT(DISTINCT x.hcp_id) AS hcps
         FROM medical_interactions i JOIN medical_interaction_hcps x ON x.interaction_id = i.id
         LEFT JOIN medical_kol_profiles k ON k.hcp_id = x.hcp_id
         WHERE i.occurred_at >= $1 AND i.occurred_at < $2 AND ($3 IS NULL OR i.owner_user_id = $3)
         GROUP BY k.tier"
    )
    .bind(from)
    .bind(to)
    .bind(owner_user_id)
    .fetch_all(c)
    .await)?;
    rows.sort_by_key(|r| r.tier.unwrap_or(i64::MAX));
    Ok(rows)
}

// ---------------------------------------------------------------- congresses and events

#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct Session {
    pub id: Uuid,
    pub event_id: Uuid,
    pub title: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    #[sqlx(try_from = "String")]
    pub speakers: Listed<String>,
    pub room: String,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct Event {
    pub id: Uuid,
    pub name: String,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub place: String,
    pub notes: String,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[sqlx(skip)]
    pub attendees: Vec<Attendee>,
    #[sqlx(skip)]
    pub sessions: Vec<Session>,
}

const EVENT_SELECT: &str =
    "SELECT id, name, starts_on, ends_on, place, notes, created_by, created_at, updated_at FROM medical_events";

/// Events, latest first; with `from`, only those ending on or after that day.
pub async fn events(store: &Store, from: Option<NaiveDate>) -> Result<Vec<Event>> {
    let sql = format!("{EVENT_SELECT} WHERE ($1 IS NULL OR ends_on >= $1) ORDER BY starts_on DESC, name");
    Ok(on!(store.db.read(), |c| sqlx::query_as::<_, Event>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(from)
        .fetch_all(c)
        .await)?)
}

/// An event with its attendees and sessions.
pub async fn event(store: &Store, id: Uuid) -> Result<Event> {
    let sql = format!("{EVENT_SELECT} WHERE id = $1");
    let mut e = on!(store.db.read(), |c| sqlx::query_as::<_, Event>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(id)
        .fetch_optional(c)
        .await)?
    .ok_or(StoreError::NotFound("event"))?;
    e.attendees = on!(store.db.read(), |c| {
        sqlx::query_as::<_, Attendee>(
        "SELECT a.event_id AS interaction_id, u.id, u.name FROM medical_event_attendees a JOIN users u ON u.id = a.user_id
         WHERE a.event_id = $1 ORDER BY u.name"
    )
    .bind(id)
    .fetch_all(c)
    .await
    })?;
    e.sessions = on!(store.db.read(), |c| {
        sqlx::query_as::<_, Session>(
        "SELECT id, event_id, title, starts_at, ends_at, speakers, room FROM medical_event_sessions WHERE event_id = $1 ORDER BY starts_at, title"
    )
    .bind(id)
    .fetch_all(c)
    .await
    })?;
    Ok(e)
}

async fn event_days_in(tx: &mut Tx, id: Uuid) -> Result<(NaiveDate, NaiveDate)> {
    tx_on!(tx, |c| sqlx::query_as::<_, (NaiveDate, NaiveDate)>(
        "SELECT starts_on, ends_on FROM medical_events WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(&mut *c)
    .await)?
    .ok_or(StoreError::NotFound("event"))
}

async fn write_attendees(tx: &mut Tx, id: Uuid, attendees: &[Uuid]) -> Result<Vec<Uuid>> {
    let mut list: Vec<Uuid> = Vec::new();
    for u in attendees {
        if !list.contains(u) {
            require_user(tx, "attendees", *u).await?;
            list.push(*u);
        }
    }
    exec!(tx, "DELETE FROM medical_event_attendees WHERE event_id = $1", id)?;
    for u in &list {
        exec!(tx, "INSERT INTO medical_event_attendees (event_id, user_id) VALUES ($1, $2)", id, u)?;
    }
    Ok(list)
}

/// Adds a congress or event with the colleagues attending.
pub async fn create_event(store: &Store, acting: &Acting, input: EventInput, attendees: Vec<Uuid>) -> Result<Event> {
    let e = input.check()?;
    let id = new_id();
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let t = now();
                let by = tx.acting().user;
                exec!(
                    tx,
                    "INSERT INTO medical_events (id, name, starts_on, ends_on, place, notes, created_by, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
                    id,
                    &e.name,
                    e.starts_on,
                    e.ends_on,
                    &e.place,
                    &e.notes,
                    by,
                    t
                )?;
                let list = write_attendees(tx, id, &attendees).await?;
                tx.audit(
                    AuditEvent::new(AuditAction::Create, "medical_event", id)
                        .new_value(serde_json::json!({ "event": e, "attendees": list })),
                );
                Ok(())
            })
        })
        .await?;
    event(store, id).await
}

/// Corrects an event's details and its attendees. Sessions must still fall within its days.
pub async fn update_event(
    store: &Store,
    acting: &Acting,
    id: Uuid,
    input: EventInput,
    attendees: Vec<Uuid>,
) -> Result<Event> {
    let e = input.check()?;
    let before = event(store, id).await?;
    if let Some(s) = before.sessions.iter().find(|s| {
        let d = s.starts_at.date_naive();
        d < e.starts_on - chrono::Duration::days(1) || d > e.ends_on + chrono::Duration::days(1)
    }) {
        return Err(Invalid::one("starts_on", format!("the session {:?} would fall outside the event", s.title)).into());
    }
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                exec!(
                    tx,
                    "UPDATE medical_events SET name = $1, starts_on = $2, ends_on = $3, place = $4, notes = $5, updated_at = $6 WHERE id = $7",
                    &e.name,
                    e.starts_on,
                    e.ends_on,
                    &e.place,
                    &e.notes,
                    now(),
                    id
                )?;
                let list = write_attendees(tx, id, &attendees).await?;
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "medical_event", id)
                        .old(serde_json::json!({
                            "name": before.name, "starts_on": before.starts_on, "ends_on": before.ends_on, "place": before.place,
                            "notes": before.notes, "attendees": before.attendees.iter().map(|a| a.id).collect::<Vec<_>>(),
                        }))
                        .new_value(serde_json::json!({ "event": e, "attendees": list })),
                );
                Ok(())
            })
        })
        .await?;
    event(store, id).await
}

/// Adds a session (title, time, speakers, room) to an event's programme.
pub async fn add_session(store: &Store, acting: &Acting, event_id: Uuid, input: SessionInput) -> Result<Session> {
    let id = new_id();
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let (starts_on, ends_on) = event_days_in(tx, event_id).await?;
                let (title, speakers, room) = check_session(&input, starts_on, ends_on)?;
                let (starts_at, ends_at) = (truncate_micros(input.starts_at), truncate_micros(input.ends_at));
                exec!(
                    tx,
                    "INSERT INTO medical_event_sessions (id, event_id, title, starts_at, ends_at, speakers, room) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    id,
                    event_id,
                    &title,
                    starts_at,
                    ends_at,
                    json(&speakers)?,
                    &room
                )?;
                tx.audit(AuditEvent::new(AuditAction::Update, "medical_event", event_id).new_value(serde_json::json!({
                    "session_added": id, "title": title, "starts_at": starts_at, "ends_at": ends_at,
                    "speakers": speakers, "room": room,
                })));
                Ok(Session {
                    id,
                    event_id,
                    title,
                    starts_at,
                    ends_at,
                    speakers: Listed(speakers),
                    room,
                })
            })
        })
        .await
}

pub async fn remove_session(store: &Store, acting: &Acting, session_id: Uuid) -> Result<()> {
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let s: Session = tx_on!(tx, |c| sqlx::query_as::<_, Session>(
                    "SELECT id, event_id, title, starts_at, ends_at, speakers, room FROM medical_event_sessions WHERE id = $1"
                )
                .bind(session_id)
                .fetch_optional(&mut *c)
                .await)?
                .ok_or(StoreError::NotFound("session"))?;
                exec!(tx, "DELETE FROM medical_event_sessions WHERE id = $1", session_id)?;
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "medical_event", s.event_id)
                        .old(serde_json::json!({ "session_removed": s })),
                );
                Ok(())
            })
        })
        .await
}
