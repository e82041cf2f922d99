//! Scheduling: a participant's visits. They are planned from the schedule of events inside the
//! transaction that records their anchor (consent, enrollment, randomization), recorded as
//! completed or missed, and cancelled ahead when the participant leaves the study. Their
//! calendar (resources, bookings, moves inside the window, feeds) is in [`calendar`].

pub mod calendar;

use crate::participants::{participant, participant_in, site_today};
use crate::{Acting, Result, Store, StoreError, Tx, exec, new_id, now, on, tx_on};
use chrono::{DateTime, NaiveDate, Utc};
use clinbridge_core::audit::{AuditAction, AuditEvent};
use clinbridge_core::scheduling::{VisitStatus, record};
use clinbridge_core::trials::schedule::{AnchorDates, VisitDefinition, plan};
use serde::Serialize;
use uuid::Uuid;

/// Plans every visit whose anchor is now known and that is not planned yet. Gives how many
/// visits were added.
pub(crate) async fn plan_in(tx: &mut Tx, participant_id: Uuid) -> Result<usize> {
    let p = participant_in(tx, participant_id).await?;
    let visits = crate::trials::schedule::visits_in(tx, p.study_id).await?;
    let defs: Vec<VisitDefinition> = visits.iter().map(|v| v.definition.clone()).collect();
    let anchors = AnchorDates { consent: p.consented_on, enrollment: p.enrolled_on, randomization: p.randomized_on };
    let planned = plan(&defs, anchors)?;
    let t = now();
    let mut added = 0;
    for v in planned {
        let Some(def) = visits.iter().find(|d| d.definition.code == v.code) else { continue };
        added += exec!(
            tx,
            "INSERT INTO participant_visits (id, participant_id, definition_id, occurrence, target_on, window_start, window_end, status, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'scheduled', $8, $8)
             ON CONFLICT (participant_id, definition_id, occurrence) DO NOTHING",
            new_id(),
            participant_id,
            def.id,
            v.occurrence,
            v.target,
            v.window_start,
            v.window_end,
            t
        )? as usize;
    }
    if added > 0 {
        tx.audit(
            AuditEvent::new(AuditAction::Create, "participant_visits", participant_id)
                .new_value(serde_json::json!({ "subject_id": p.subject_id, "planned": added })),
        );
    }
    Ok(added)
}

/// Cancels the visits still ahead of a participant who left the study on `from`.
pub(crate) async fn cancel_ahead_in(tx: &mut Tx, participant_id: Uuid, from: NaiveDate) -> Result<u64> {
    let ahead: Vec<Uuid> = tx_on!(tx, |c| sqlx::query_scalar(
        "SELECT id FROM participant_visits WHERE participant_id = $1 AND status = 'scheduled' AND target_on > $2"
    )
    .bind(participant_id)
    .bind(from)
    .fetch_all(&mut *c)
    .await)?;
    let n = exec!(
        tx,
        "UPDATE participant_visits SET status = 'cancelled', updated_at = $1 WHERE participant_id = $2 AND status = 'scheduled' AND target_on > $3",
        now(),
        participant_id,
        from
    )?;
    if n > 0 {
        // Cancelled visits give back the rooms, equipment and people they held.
        exec!(
            tx,
            "DELETE FROM visit_resources WHERE visit_id IN (SELECT id FROM participant_visits WHERE participant_id = $1 AND status = 'cancelled')",
            participant_id
        )?;
        tx.audit(
            AuditEvent::new(AuditAction::Update, "participant_visits", participant_id)
                .new_value(serde_json::json!({ "cancelled_from": from, "cancelled": n })),
        );
    }
    for id in ahead {
        crate::tasks::resolve_in(tx, &calendar::window_task_key(id), clinbridge_core::tasks::TaskStatus::Cancelled)
            .await?;
    }
    Ok(n)
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct ParticipantVisit {
    pub id: Uuid,
    pub participant_id: Uuid,
    pub code: String,
    pub name: String,
    pub occurrence: i64,
    pub target_on: NaiveDate,
    pub window_start: NaiveDate,
    pub window_end: NaiveDate,
    pub status: String,
    pub actual_on: Option<NaiveDate>,
    pub out_of_window: bool,
    pub note: String,
    pub updated_at: DateTime<Utc>,
    /// The day the visit is planned for when moved inside its window (else the target day).
    pub scheduled_on: Option<NaiveDate>,
    /// Start and end of the booked slot, when booked.
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
}

impl ParticipantVisit {
    pub fn status(&self) -> VisitStatus {
        VisitStatus::parse(&self.status).unwrap_or(VisitStatus::Scheduled)
    }
    /// The day the visit is planned for: moved, or its target.
    pub fn day(&self) -> NaiveDate {
        self.scheduled_on.unwrap_or(self.target_on)
    }
}

pub(crate) const SELECT: &str =
    "SELECT v.id, v.participant_id, d.code, d.name, v.occurrence, v.target_on, v.window_start, v.window_end, v.status,
        v.actual_on, v.out_of_window, v.note, v.updated_at, v.scheduled_on, v.starts_at, v.ends_at
     FROM participant_visits v JOIN visit_definitions d ON d.id = v.definition_id";

/// A participant's visits in date order.
pub async fn visits_of(store: &Store, participant_id: Uuid) -> Result<Vec<ParticipantVisit>> {
    let sql = format!("{SELECT} WHERE v.participant_id = $1 ORDER BY v.target_on, d.position, v.occurrence");
    Ok(on!(store.db.read(), |c| sqlx::query_as::<_, ParticipantVisit>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(participant_id)
        .fetch_all(c)
        .await)?)
}

pub async fn visit(store: &Store, id: Uuid) -> Result<ParticipantVisit> {
    let sql = format!("{SELECT} WHERE v.id = $1");
    on!(store.db.read(), |c| sqlx::query_as::<_, ParticipantVisit>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(id)
        .fetch_optional(c)
        .await)?
    .ok_or(StoreError::NotFound("visit"))
}

/// Records the outcome of a scheduled visit. A participant who withdrew consent to further
/// data collection has no more visits recorded.
pub async fn record_visit(
    store: &Store,
    acting: &Acting,
    id: Uuid,
    outcome: VisitStatus,
    actual_on: Option<NaiveDate>,
    note: &str,
) -> Result<ParticipantVisit> {
    let v = visit(store, id).await?;
    let p = participant(store, v.participant_id).await?;
    if !p.consent_withdrawal().allows_data() {
        return Err(StoreError::Refused(format!("{} withdrew consent to further data collection", p.subject_id)));
    }
    if v.status() != VisitStatus::Scheduled {
        return Err(StoreError::Refused(format!("visit {} is already {}", v.code, v.status().label().to_lowercase())));
    }
    let ss = crate::trials::study_site(store, p.study_id, p.site_id).await?;
    let o = record(outcome, actual_on, note, (v.window_start, v.window_end), site_today(&ss))?;
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let n = exec!(
                    tx,
                    "UPDATE participant_visits SET status = $1, actual_on = $2, out_of_window = $3, note = $4, updated_at = $5
                     WHERE id = $6 AND status = 'scheduled'",
                    o.status.as_str(),
                    o.actual_on,
                    o.out_of_window,
                    &o.note,
                    now(),
                    id
                )?;
                if n == 0 {
                    return Err(StoreError::conflict("outcome", "the visit changed meanwhile; reload and try again"));
                }
                crate::tasks::resolve_in(tx, &calendar::window_task_key(id), clinbridge_core::tasks::TaskStatus::Done)
                    .await?;
                let sql = format!("{SELECT} WHERE v.id = $1");
                let new = tx_on!(tx, |c| sqlx::query_as::<_, ParticipantVisit>(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(id)
                    .fetch_one(&mut *c)
                    .await)?;
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "participant_visit", id)
                        .old(serde_json::json!({ "status": "scheduled" }))
                        .new_value(&new),
                );
                Ok(new)
            })
        })
        .await
}
