//! Safety intake from the field: an adverse event, product complaint or special situation
//! heard in an interaction is recorded with day 0 (when the company learned of it) and a
//! forwarding clock to pharmacovigilance, the organization's setting (24 hours unless changed).
//! The clock is a task on the reporter's queue (rule key `medical.safety_forward:{id}`), so the
//! deadline engine announces it when overdue. Once forwarded, the intake never changes.

use super::hcp_in;
use crate::tasks::{NewTask, raise_in, resolve_in};
use crate::{Acting, Result, Store, StoreError, Tx, exec, new_id, now, on, tx_on};
use chrono::{DateTime, Utc};
use clinbridge_core::Invalid;
use clinbridge_core::audit::{AuditAction, AuditEvent};
use clinbridge_core::medical::{CheckedSafety, SafetyInput, SafetyKind, forward_due, forward_hours, forwarding};
use clinbridge_core::tasks::{Assignee, TaskStatus};
use serde::Serialize;
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct SafetyIntake {
    pub id: Uuid,
    pub kind: String,
    pub interaction_id: Option<Uuid>,
    pub hcp_id: Option<Uuid>,
    pub product: String,
    pub description: String,
    pub patient: String,
    /// Day 0: when the company learned of it.
    pub aware_at: DateTime<Utc>,
    pub clock_hours: i64,
    pub forward_due_at: DateTime<Utc>,
    pub reported_by: Uuid,
    pub forwarded_at: Option<DateTime<Utc>>,
    pub forwarded_by: Option<Uuid>,
    pub forwarded_to: Option<String>,
    pub forward_reference: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl SafetyIntake {
    pub fn forwarded(&self) -> bool {
        self.forwarded_at.is_some()
    }
    /// Forwarded after its clock ran out, or still waiting past it.
    pub fn late(&self, now: DateTime<Utc>) -> bool {
        match self.forwarded_at {
            Some(f) => f > self.forward_due_at,
            None => now > self.forward_due_at,
        }
    }
    pub fn kind_label(&self) -> &'static str {
        SafetyKind::parse(&self.kind).map(|k| k.label()).unwrap_or("")
    }
}

const SAFETY_SELECT: &str =
    "SELECT id, kind, interaction_id, hcp_id, product, description, patient, aware_at, clock_hours, forward_due_at,
        reported_by, forwarded_at, forwarded_by, forwarded_to, forward_reference, created_at, updated_at
     FROM medical_safety_intakes";

pub async fn safety_intake(store: &Store, id: Uuid) -> Result<SafetyIntake> {
    let sql = format!("{SAFETY_SELECT} WHERE id = $1");
    on!(store.db.read(), |c| sqlx::query_as::<_, SafetyIntake>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(id)
        .fetch_optional(c)
        .await)?
    .ok_or(StoreError::NotFound("safety intake"))
}

async fn intake_in(tx: &mut Tx, id: Uuid) -> Result<SafetyIntake> {
    let sql = format!("{SAFETY_SELECT} WHERE id = $1");
    tx_on!(tx, |c| sqlx::query_as::<_, SafetyIntake>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(id)
        .fetch_optional(&mut *c)
        .await)?
    .ok_or(StoreError::NotFound("safety intake"))
}

/// Safety intakes, soonest due first; `pending` keeps those not yet forwarded.
pub async fn safety_intakes(store: &Store, pending: bool) -> Result<Vec<SafetyIntake>> {
    let sql = if pending {
        format!("{SAFETY_SELECT} WHERE forwarded_at IS NULL ORDER BY forward_due_at, id")
    } else {
        format!("{SAFETY_SELECT} ORDER BY forward_due_at DESC, id")
    };
    Ok(on!(store.db.read(), |c| sqlx::query_as::<_, SafetyIntake>(sqlx::AssertSqlSafe(sql.clone()))
        .fetch_all(c)
        .await)?)
}

/// The safety intakes reported from one interaction.
pub async fn safety_for_interaction(store: &Store, interaction_id: Uuid) -> Result<Vec<SafetyIntake>> {
    let sql = format!("{SAFETY_SELECT} WHERE interaction_id = $1 ORDER BY aware_at");
    Ok(on!(store.db.read(), |c| sqlx::query_as::<_, SafetyIntake>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(interaction_id)
        .fetch_all(c)
        .await)?)
}

/// The organization's forwarding clock, in hours from awareness.
pub async fn safety_clock_hours(store: &Store) -> Result<i64> {
    let h: Option<i64> = on!(store.db.read(), |c| sqlx::query_scalar(
        "SELECT safety_forward_hours FROM organizations ORDER BY created_at LIMIT 1"
    )
    .fetch_optional(c)
    .await)?;
    Ok(h.unwrap_or(clinbridge_core::medical::DEFAULT_FORWARD_HOURS))
}

async fn clock_in(tx: &mut Tx) -> Result<i64> {
    let h: Option<i64> = tx_on!(tx, |c| sqlx::query_scalar(
        "SELECT safety_forward_hours FROM organizations ORDER BY created_at LIMIT 1"
    )
    .fetch_optional(&mut *c)
    .await)?;
    Ok(h.unwrap_or(clinbridge_core::medical::DEFAULT_FORWARD_HOURS))
}

/// Sets the organization's forwarding clock (1 to 72 hours). Intakes already recorded keep the
/// clock they started with.
pub async fn set_safety_clock_hours(store: &Store, acting: &Acting, hours: i64) -> Result<i64> {
    let hours = forward_hours(hours)?;
    let org = crate::identity::organization(store).await?;
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let old = clock_in(tx).await?;
                exec!(tx, "UPDATE organizations SET safety_forward_hours = $1 WHERE id = $2", hours, org.id)?;
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "organization", org.id)
                        .old(serde_json::json!({ "safety_forward_hours": old }))
                        .new_value(serde_json::json!({ "safety_forward_hours": hours })),
                );
                Ok(hours)
            })
        })
        .await
}

fn forward_rule(id: Uuid) -> String {
    format!("medical.safety_forward:{id}")
}

fn forward_task(id: Uuid, s: &CheckedSafety, reporter: Uuid, due: DateTime<Utc>, hours: i64) -> NewTask {
    NewTask {
        kind: "medical_safety_forward".into(),
        title: format!("Forward the {} report on {} to pharmacovigilance", s.kind.label().to_lowercase(), s.product),
        detail: format!(
            "Day 0 was {} UTC; the forwarding clock is {hours} hours.",
            s.aware_at.format("%Y-%m-%d %H:%M")
        ),
        subject_type: "medical_safety".into(),
        subject_id: id.to_string(),
        study_id: None,
        site_id: None,
        assignee: Assignee::User { user_id: reporter },
        due_at: due,
        rule: "medical.safety_forward".into(),
        rule_key: forward_rule(id),
    }
}

/// Checks the interaction and HCP an intake refers to; gives day 0 from the interaction when
/// none was given.
async fn check_links(tx: &mut Tx, input: &SafetyInput) -> Result<Option<DateTime<Utc>>> {
    let mut aware = None;
    if let Some(i) = input.interaction_id {
        let at: Option<DateTime<Utc>> =
            tx_on!(tx, |c| sqlx::query_scalar("SELECT occurred_at FROM medical_interactions WHERE id = $1")
                .bind(i)
                .fetch_optional(&mut *c)
                .await)?;
        aware =
            Some(at.ok_or_else(|| StoreError::from(Invalid::one("interaction_id", "is not a recorded interaction")))?);
    }
    if let Some(h) = input.hcp_id {
        hcp_in(tx, h).await.map_err(|e| match e {
            StoreError::NotFound(_) => Invalid::one("hcp_id", "is not a listed healthcare professional").into(),
            e => e,
        })?;
    }
    Ok(aware)
}

/// "Report safety information": records the intake and raises the forwarding task on the
/// reporter's queue, due at day 0 plus the organization's clock. Without an awareness time the
/// interaction's time is day 0.
pub async fn report_safety(store: &Store, acting: &Acting, input: SafetyInput) -> Result<SafetyIntake> {
    let reporter =
        acting.user.ok_or_else(|| StoreError::Refused("safety information is reported by a person".into()))?;
    let id = new_id();
    store.write(acting, move |tx| Box::pin(async move { report_safety_in(tx, id, reporter, input).await })).await
}

pub(crate) async fn report_safety_in(
    tx: &mut Tx,
    id: Uuid,
    reporter: Uuid,
    input: SafetyInput,
) -> Result<SafetyIntake> {
    let mut input = input;
    let from_interaction = check_links(tx, &input).await?;
    if input.aware_at.is_none() {
        input.aware_at = from_interaction;
    }
    let s = input.check(now())?;
    let hours = clock_in(tx).await?;
    let due = forward_due(s.aware_at, hours);
    let t = now();
    exec!(
        tx,
        "INSERT INTO medical_safety_intakes (id, kind, interaction_id, hcp_id, product, description, patient, aware_at, clock_hours,
            forward_due_at, reported_by, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
        id,
        s.kind.as_str(),
        input.interaction_id,
        input.hcp_id,
        &s.product,
        &s.description,
        &s.patient,
        s.aware_at,
        hours,
        due,
        reporter,
        t
    )?;
    tx.audit(AuditEvent::new(AuditAction::Create, "medical_safety", id).new_value(serde_json::json!({
        "intake": s, "interaction_id": input.interaction_id, "hcp_id": input.hcp_id,
        "clock_hours": hours, "forward_due_at": due,
    })));
    raise_in(tx, forward_task(id, &s, reporter, due, hours)).await?;
    intake_in(tx, id).await
}

/// Corrects an intake before it is forwarded; refused afterwards. A new day 0 moves the
/// forwarding task's due time.
pub async fn update_safety(store: &Store, acting: &Acting, id: Uuid, input: SafetyInput) -> Result<SafetyIntake> {
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let old = intake_in(tx, id).await?;
                if old.forwarded() {
                    return Err(StoreError::Refused(
                        "this intake was forwarded to pharmacovigilance and can no longer change; send a follow-up report instead".into(),
                    ));
                }
                let mut input = input;
                let from_interaction = check_links(tx, &input).await?;
                if input.aware_at.is_none() {
                    input.aware_at = from_interaction.or(Some(old.aware_at));
                }
                let s = input.check(now())?;
                let due = forward_due(s.aware_at, old.clock_hours);
                exec!(
                    tx,
                    "UPDATE medical_safety_intakes SET kind = $1, interaction_id = $2, hcp_id = $3, product = $4, description = $5, patient = $6,
                        aware_at = $7, forward_due_at = $8, updated_at = $9 WHERE id = $10 AND forwarded_at IS NULL",
                    s.kind.as_str(),
                    input.interaction_id,
                    input.hcp_id,
                    &s.product,
                    &s.description,
                    &s.patient,
                    s.aware_at,
                    due,
                    now(),
                    id
                )?;
                tx.audit(AuditEvent::new(AuditAction::Update, "medical_safety", id).old(&old).new_value(serde_json::json!({
                    "intake": s, "interaction_id": input.interaction_id, "hcp_id": input.hcp_id, "forward_due_at": due,
                })));
                raise_in(tx, forward_task(id, &s, old.reported_by, due, old.clock_hours)).await?;
                intake_in(tx, id).await
            })
        })
        .await
}

/// Records that the intake went to pharmacovigilance (to whom, their reference, when — now
/// unless given); resolves the forwarding task. The intake is fixed from then on.
pub async fn forward_safety(
    store: &Store,
    acting: &Acting,
    id: Uuid,
    to: &str,
    reference: &str,
    at: Option<DateTime<Utc>>,
) -> Result<SafetyIntake> {
    let (to, reference) = forwarding(to, reference)?;
    let by = acting.user.ok_or_else(|| StoreError::Refused("forwarding is recorded by a person".into()))?;
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let old = intake_in(tx, id).await?;
                if old.forwarded() {
                    return Err(StoreError::Refused("this intake was already forwarded to pharmacovigilance".into()));
                }
                let t = now();
                let at = at.map(clinbridge_core::audit::truncate_micros).unwrap_or(t);
                if at > t + chrono::Duration::minutes(5) {
                    return Err(Invalid::one("forwarded_at", "must not be in the future").into());
                }
                if at < old.aware_at {
                    return Err(Invalid::one("forwarded_at", "must not be before day 0").into());
                }
                let n = exec!(
                    tx,
                    "UPDATE medical_safety_intakes SET forwarded_at = $1, forwarded_by = $2, forwarded_to = $3, forward_reference = $4, updated_at = $5
                     WHERE id = $6 AND forwarded_at IS NULL",
                    at,
                    by,
                    &to,
                    &reference,
                    t,
                    id
                )?;
                if n == 0 {
                    return Err(StoreError::conflict("forwarded_at", "someone else recorded the forwarding just now"));
                }
                tx.audit(AuditEvent::new(AuditAction::Update, "medical_safety", id).new_value(serde_json::json!({
                    "forwarded_at": at, "forwarded_by": by, "forwarded_to": to, "forward_reference": reference,
                    "late": at > old.forward_due_at,
                })));
                resolve_in(tx, &forward_rule(id), TaskStatus::Done).await?;
                intake_in(tx, id).await
            })
        })
        .await
}
