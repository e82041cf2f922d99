//! The schedule of events of a study: visit definitions in protocol order, each checked with
//! the whole schedule (codes unique, anchors that exist, no circular anchors) before it is kept.

use crate::{Acting, Result, Store, StoreError, Tx, exec, new_id, now, on, tx_on};
use clinbridge_core::audit::{AuditAction, AuditEvent};
use clinbridge_core::trials::schedule::{AnchorKind, VisitDefinition, VisitKind, check_schedule};
use serde::Serialize;
use uuid::Uuid;

/// A stored visit definition.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Visit {
    pub id: Uuid,
    pub study_id: Uuid,
    pub position: i64,
    #[serde(flatten)]
    pub definition: VisitDefinition,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    study_id: Uuid,
    code: String,
    name: String,
    anchor: String,
    anchor_visit: Option<String>,
    offset_days: i64,
    window_before: i64,
    window_after: i64,
    kind: String,
    repeat_every_days: i64,
    repeat_count: i64,
    procedures: String,
    position: i64,
}

impl Row {
    fn into_visit(self) -> Visit {
        Visit {
            id: self.id,
            study_id: self.study_id,
            position: self.position,
            definition: VisitDefinition {
                code: self.code,
                name: self.name,
                anchor: AnchorKind::parse(&self.anchor).unwrap_or(AnchorKind::Consent),
                anchor_visit: self.anchor_visit,
                offset_days: self.offset_days,
                window_before: self.window_before,
                window_after: self.window_after,
                kind: VisitKind::parse(&self.kind).unwrap_or(VisitKind::Scheduled),
                repeat_every_days: self.repeat_every_days,
                repeat_count: self.repeat_count,
                procedures: serde_json::from_str(&self.procedures).unwrap_or_default(),
            },
        }
    }
}

const SELECT: &str =
    "SELECT id, study_id, code, name, anchor, anchor_visit, offset_days, window_before, window_after, kind,
        repeat_every_days, repeat_count, procedures, position FROM visit_definitions";

/// A study's visits in protocol order.
pub async fn visits(store: &Store, study_id: Uuid) -> Result<Vec<Visit>> {
    let sql = format!("{SELECT} WHERE study_id = $1 ORDER BY position, code");
    let rows: Vec<Row> = on!(store.db.read(), |c| sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(study_id)
        .fetch_all(c)
        .await)?;
    Ok(rows.into_iter().map(Row::into_visit).collect())
}

pub async fn visit(store: &Store, id: Uuid) -> Result<Visit> {
    let sql = format!("{SELECT} WHERE id = $1");
    on!(store.db.read(), |c| sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(id)
        .fetch_optional(c)
        .await)?
    .map(Row::into_visit)
    .ok_or(StoreError::NotFound("visit definition"))
}

pub(crate) async fn visits_in(tx: &mut Tx, study_id: Uuid) -> Result<Vec<Visit>> {
    let sql = format!("{SELECT} WHERE study_id = $1 ORDER BY position, code");
    let rows: Vec<Row> = tx_on!(tx, |c| sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(study_id)
        .fetch_all(&mut *c)
        .await)?;
    Ok(rows.into_iter().map(Row::into_visit).collect())
}

fn check_with(existing: &[Visit], replacing: Option<Uuid>, def: &VisitDefinition) -> Result<()> {
    let mut all: Vec<VisitDefinition> =
        existing.iter().filter(|v| Some(v.id) != replacing).map(|v| v.definition.clone()).collect();
    all.push(def.clone());
    Ok(check_schedule(&all)?)
}

fn procedures_json(def: &VisitDefinition) -> String {
    serde_json::to_string(&def.procedures).unwrap_or_else(|_| "[]".into())
}

/// Adds a visit at the end of the schedule.
pub async fn add_visit(store: &Store, acting: &Acting, study_id: Uuid, def: VisitDefinition) -> Result<Visit> {
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                crate::trials::study_in(tx, study_id).await?;
                let existing = visits_in(tx, study_id).await?;
                check_with(&existing, None, &def)?;
                let id = new_id();
                let position = existing.iter().map(|v| v.position).max().unwrap_or(0) + 1;
                let t = now();
                exec!(
                    tx,
                    "INSERT INTO visit_definitions (id, study_id, code, name, anchor, anchor_visit, offset_days, window_before, window_after,
                        kind, repeat_every_days, repeat_count, procedures, position, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15)",
                    id,
                    study_id,
                    &def.code,
                    &def.name,
                    def.anchor.as_str(),
                    def.anchor_visit.clone(),
                    def.offset_days,
                    def.window_before,
                    def.window_after,
                    def.kind.as_str(),
                    def.repeat_every_days,
                    def.repeat_count,
                    procedures_json(&def),
                    position,
                    t
                )
                .map_err(|e| StoreError::from(e).unique_as("code", "is already used by another visit of this study"))?;
                let v = Visit { id, study_id, position, definition: def };
                tx.audit(AuditEvent::new(AuditAction::Create, "visit_definition", id).new_value(&v));
                Ok(v)
            })
        })
        .await
}

/// Changes a visit. Renaming its code carries the visits that count from it along.
pub async fn update_visit(store: &Store, acting: &Acting, id: Uuid, def: VisitDefinition) -> Result<Visit> {
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let sql = format!("{SELECT} WHERE id = $1");
                let old = tx_on!(tx, |c| sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(id)
                    .fetch_optional(&mut *c)
                    .await)?
                .map(Row::into_visit)
                .ok_or(StoreError::NotFound("visit definition"))?;
                let mut existing = visits_in(tx, old.study_id).await?;
                if old.definition.code != def.code {
                    for v in existing.iter_mut() {
                        if v.definition.anchor_visit.as_deref() == Some(old.definition.code.as_str()) {
                            v.definition.anchor_visit = Some(def.code.clone());
                        }
                    }
                }
                check_with(&existing, Some(id), &def)?;
                exec!(
                    tx,
                    "UPDATE visit_definitions SET code = $1, name = $2, anchor = $3, anchor_visit = $4, offset_days = $5, window_before = $6,
                        window_after = $7, kind = $8, repeat_every_days = $9, repeat_count = $10, procedures = $11, updated_at = $12 WHERE id = $13",
                    &def.code,
                    &def.name,
                    def.anchor.as_str(),
                    def.anchor_visit.clone(),
                    def.offset_days,
                    def.window_before,
                    def.window_after,
                    def.kind.as_str(),
                    def.repeat_every_days,
                    def.repeat_count,
                    procedures_json(&def),
                    now(),
                    id
                )
                .map_err(|e| StoreError::from(e).unique_as("code", "is already used by another visit of this study"))?;
                if old.definition.code != def.code {
                    exec!(
                        tx,
                        "UPDATE visit_definitions SET anchor_visit = $1 WHERE study_id = $2 AND anchor_visit = $3",
                        &def.code,
                        old.study_id,
                        &old.definition.code
                    )?;
                }
                let new = Visit { definition: def, ..old.clone() };
                if new != old {
                    tx.audit(AuditEvent::new(AuditAction::Update, "visit_definition", id).old(&old).new_value(&new));
                }
                Ok(new)
            })
        })
        .await
}

/// Removes a visit that no other visit counts from.
pub async fn remove_visit(store: &Store, acting: &Acting, id: Uuid) -> Result<()> {
    let old = visit(store, id).await?;
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let existing = visits_in(tx, old.study_id).await?;
                if let Some(dep) =
                    existing.iter().find(|v| v.definition.anchor_visit.as_deref() == Some(old.definition.code.as_str()))
                {
                    return Err(StoreError::Refused(format!(
                        "visit {} counts from {}; change it first",
                        dep.definition.code, old.definition.code
                    )));
                }
                let planned: i64 = tx_on!(tx, |c| sqlx::query_scalar(
                    "SELECT COUNT(*) FROM participant_visits WHERE definition_id = $1"
                )
                .bind(id)
                .fetch_one(&mut *c)
                .await)?;
                if planned > 0 {
                    return Err(StoreError::Refused(format!(
                        "{planned} participant visit(s) were planned from {}; it stays in the schedule",
                        old.definition.code
                    )));
                }
                let n = exec!(tx, "DELETE FROM visit_definitions WHERE id = $1", id)?;
                if n == 0 {
                    return Err(StoreError::NotFound("visit definition"));
                }
                tx.audit(AuditEvent::new(AuditAction::Delete, "visit_definition", id).old(&old));
                Ok(())
            })
        })
        .await
}
