//! A specialist's territory (the accounts they cover, with the last visit and the next one
//! planned), account visits, the week plan (visits and cases in time order, for the page and
//! the iCalendar feed) and the specialist's dashboard.

use super::{
    Case, CaseFilter, ComplaintDeadline, Coverage, account, cases, competency_coverage, complaint_deadlines, member,
    reader, writer,
};
use crate::{Acting, Result, Store, StoreError, Tx, exec, new_id, now, tx_on};
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use clinbridge_core::Invalid;
use clinbridge_core::audit::{AuditAction, AuditEvent};
use clinbridge_core::medical::long_text;
use clinbridge_core::policy::Actor;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use uuid::Uuid;

// ---------------------------------------------------------------- territory

#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct TerritoryAccount {
    pub institution_id: Uuid,
    pub institution_name: String,
    pub city: String,
    pub last_visit_at: Option<DateTime<Utc>>,
    pub next_visit_at: Option<DateTime<Utc>>,
}

/// The accounts a specialist covers, by name, with the last visit done and the next planned.
pub async fn territory(store: &Store, actor: &Actor, specialist: Uuid) -> Result<Vec<TerritoryAccount>> {
    let org = reader(store, actor).await?;
    let mut accounts = rows!(
        store,
        TerritoryAccount,
        "SELECT t.institution_id, i.name AS institution_name, i.city,
            (SELECT MAX(v.done_at) FROM device_visits v WHERE v.specialist_user_id = t.user_id AND v.institution_id = t.institution_id) AS last_visit_at,
            NULL AS next_visit_at
         FROM device_territory t JOIN medical_institutions i ON i.id = t.institution_id
         WHERE t.org_id = $1 AND t.user_id = $2 ORDER BY i.name",
        org,
        specialist
    )?;
    let planned: Vec<(Uuid, DateTime<Utc>)> = rows!(
        store,
        (Uuid, DateTime<Utc>),
        "SELECT institution_id, planned_at FROM device_visits WHERE org_id = $1 AND specialist_user_id = $2 AND done_at IS NULL ORDER BY planned_at",
        org,
        specialist
    )?;
    let t = now();
    for a in &mut accounts {
        a.next_visit_at = planned.iter().find(|(i, at)| *i == a.institution_id && *at >= t).map(|p| p.1);
    }
    Ok(accounts)
}

/// Sets the accounts a specialist covers (replacing the list).
pub async fn set_territory(store: &Store, acting: &Acting, specialist: Uuid, institution_ids: Vec<Uuid>) -> Result<()> {
    let mut seen = BTreeSet::new();
    let ids: Vec<Uuid> = institution_ids.into_iter().filter(|i| seen.insert(*i)).collect();
    if ids.len() > 500 {
        return Err(Invalid::one("institution_ids", "at most 500 accounts").into());
    }
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let org = writer(tx).await?;
                member(tx, org, "specialist_user_id", specialist).await?;
                for (n, i) in ids.iter().enumerate() {
                    account(tx, &format!("institution_ids[{}]", n + 1), *i).await?;
                }
                let old: Vec<Uuid> = tx_on!(tx, |c| sqlx::query_scalar(
                    "SELECT institution_id FROM device_territory WHERE user_id = $1 ORDER BY institution_id"
                )
                .bind(specialist)
                .fetch_all(&mut *c)
                .await)?;
                exec!(tx, "DELETE FROM device_territory WHERE user_id = $1", specialist)?;
                let t = now();
                for i in &ids {
                    exec!(
                        tx,
                        "INSERT INTO device_territory (user_id, institution_id, org_id, created_at) VALUES ($1, $2, $3, $4)",
                        specialist,
                        *i,
                        org,
                        t
                    )?;
                }
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "device_territory", specialist)
                        .old(serde_json::json!({ "institution_ids": old }))
                        .new_value(serde_json::json!({ "institution_ids": ids })),
                );
                Ok(())
            })
        })
        .await
}

// ---------------------------------------------------------------- visits

#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct Visit {
    pub id: Uuid,
    pub specialist_user_id: Uuid,
    pub institution_id: Uuid,
    pub institution_name: String,
    pub planned_at: DateTime<Utc>,
    pub duration_minutes: i64,
    pub purpose: String,
    pub done_at: Option<DateTime<Utc>>,
    pub notes: String,
    pub updated_at: DateTime<Utc>,
}

const VISIT_SELECT: &str =
    "SELECT v.id, v.specialist_user_id, v.institution_id, i.name AS institution_name, v.planned_at, v.duration_minutes,
        v.purpose, v.done_at, v.notes, v.updated_at
     FROM device_visits v JOIN medical_institutions i ON i.id = v.institution_id";

#[derive(Debug, Clone, Deserialize)]
pub struct VisitInput {
    pub specialist_user_id: Uuid,
    pub institution_id: Uuid,
    pub planned_at: DateTime<Utc>,
    pub duration_minutes: i64,
    pub purpose: String,
}

async fn visit_in(tx: &mut Tx, org: Uuid, id: Uuid) -> Result<Visit> {
    row_in!(tx, Visit, format!("{VISIT_SELECT} WHERE v.id = $1 AND v.org_id = $2"), id, org)?
        .ok_or(StoreError::NotFound("visit"))
}

/// Plans an account visit.
pub async fn plan_visit(store: &Store, acting: &Acting, input: VisitInput) -> Result<Visit> {
    let mut c = clinbridge_core::Checks::new();
    let purpose = c.take("purpose", clinbridge_core::required_text("purpose", &input.purpose, 300));
    if !(15..=12 * 60).contains(&input.duration_minutes) {
        c.push("duration_minutes", "must be between 15 minutes and 12 hours");
    }
    c.finish()?;
    let purpose = purpose.unwrap_or_default();
    let planned_at = clinbridge_core::audit::truncate_micros(input.planned_at);
    let id = new_id();
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let org = writer(tx).await?;
                member(tx, org, "specialist_user_id", input.specialist_user_id).await?;
                account(tx, "institution_id", input.institution_id).await?;
                let t = now();
                exec!(
                    tx,
                    "INSERT INTO device_visits (id, org_id, specialist_user_id, institution_id, planned_at, duration_minutes, purpose, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
                    id,
                    org,
                    input.specialist_user_id,
                    input.institution_id,
                    planned_at,
                    input.duration_minutes,
                    &purpose,
                    t
                )?;
                tx.audit(AuditEvent::new(AuditAction::Create, "device_visit", id).new_value(serde_json::json!({
                    "specialist_user_id": input.specialist_user_id, "institution_id": input.institution_id,
                    "planned_at": planned_at, "duration_minutes": input.duration_minutes, "purpose": purpose,
                })));
                visit_in(tx, org, id).await
            })
        })
        .await
}

/// Records a visit done, with its notes.
pub async fn complete_visit(store: &Store, acting: &Acting, visit_id: Uuid, notes: &str) -> Result<Visit> {
    let notes = long_text("notes", notes, 8000)?;
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let org = writer(tx).await?;
                let v = visit_in(tx, org, visit_id).await?;
                if v.done_at.is_some() {
                    return Err(StoreError::Refused("this visit is already recorded as done".into()));
                }
                let t = now();
                exec!(
                    tx,
                    "UPDATE device_visits SET done_at = $1, notes = $2, updated_at = $1 WHERE id = $3",
                    t,
                    &notes,
                    visit_id
                )?;
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "device_visit", visit_id)
                        .new_value(serde_json::json!({ "done_at": t, "notes": notes })),
                );
                visit_in(tx, org, visit_id).await
            })
        })
        .await
}

// ---------------------------------------------------------------- the week plan

/// One entry of a specialist's week.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PlanItem {
    Visit(Visit),
    Case(Case),
}

impl PlanItem {
    pub fn starts_at(&self) -> DateTime<Utc> {
        match self {
            PlanItem::Visit(v) => v.planned_at,
            PlanItem::Case(c) => c.starts_at,
        }
    }
    pub fn ends_at(&self) -> DateTime<Utc> {
        match self {
            PlanItem::Visit(v) => v.planned_at + Duration::minutes(v.duration_minutes),
            PlanItem::Case(c) => c.ends_at,
        }
    }
    /// The account where it takes place.
    pub fn location(&self) -> &str {
        match self {
            PlanItem::Visit(v) => &v.institution_name,
            PlanItem::Case(c) => &c.institution_name,
        }
    }
    /// The item as an iCalendar event shown in `tz`, its UID stable across refreshes.
    pub fn ical_event(&self, host: &str, tz: chrono_tz::Tz) -> clinbridge_interop::ical::Event {
        let (uid, stamp) = match self {
            PlanItem::Visit(v) => (format!("device-visit-{}@{host}", v.id), v.updated_at),
            PlanItem::Case(c) => (format!("device-case-{}@{host}", c.id), c.updated_at),
        };
        clinbridge_interop::ical::Event {
            uid,
            summary: self.title(),
            location: self.location().to_string(),
            start: self.starts_at(),
            end: self.ends_at(),
            tz,
            stamp,
        }
    }
    /// "TAVR — Harborview Medical Center", "Visit: quarterly review — Harborview Medical Center".
    pub fn title(&self) -> String {
        match self {
            PlanItem::Visit(v) => format!("Visit: {} — {}", v.purpose, v.institution_name),
            PlanItem::Case(c) => format!("{} — {}", c.procedure_type, c.institution_name),
        }
    }
}

/// A specialist's week from Monday `week_start` (midnight in the specialist's time zone) for
/// seven days: visits and live cases (not cancelled), in time order.
pub async fn week_plan(store: &Store, actor: &Actor, specialist: Uuid, week_start: NaiveDate) -> Result<Vec<PlanItem>> {
    let org = reader(store, actor).await?;
    let zone: Option<String> = on_read_zone(store, org, specialist).await?;
    let tz: chrono_tz::Tz = zone.and_then(|z| z.parse().ok()).unwrap_or(chrono_tz::UTC);
    let local =
        |d: NaiveDate| tz.from_local_datetime(&d.and_time(NaiveTime::MIN)).earliest().map(|t| t.with_timezone(&Utc));
    let (Some(from), Some(to)) = (local(week_start), local(week_start + Duration::days(7))) else {
        return Err(Invalid::one("week_start", "is not a day in the specialist's time zone").into());
    };
    let visits = rows!(
        store,
        Visit,
        format!("{VISIT_SELECT} WHERE v.org_id = $1 AND v.specialist_user_id = $2 ORDER BY v.planned_at"),
        org,
        specialist
    )?;
    let mut items: Vec<PlanItem> =
        visits.into_iter().filter(|v| v.planned_at >= from && v.planned_at < to).map(PlanItem::Visit).collect();
    let f = CaseFilter { specialist_user_id: Some(specialist), from: Some(from), to: Some(to), ..Default::default() };
    items.extend(cases(store, actor, &f).await?.into_iter().filter(|c| c.status != "cancelled").map(PlanItem::Case));
    items.sort_by_key(PlanItem::starts_at);
    Ok(items)
}

async fn on_read_zone(store: &Store, org: Uuid, user: Uuid) -> Result<Option<String>> {
    let z: Option<String> = crate::on!(store.db.read(), |c| sqlx::query_scalar(
        "SELECT time_zone FROM users WHERE id = $1 AND org_id = $2"
    )
    .bind(user)
    .bind(org)
    .fetch_optional(c)
    .await)?;
    if z.is_none() {
        return Err(StoreError::NotFound("specialist"));
    }
    Ok(z)
}

// ---------------------------------------------------------------- the dashboard

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Dashboard {
    pub specialist_user_id: Uuid,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Cases the specialist covered whose procedure started in the period.
    pub cases_covered: i64,
    /// Cases confirmed or requested for the specialist from today on.
    pub cases_upcoming: i64,
    /// Trainings the specialist gave in the period.
    pub trainings_delivered: i64,
    pub staff_trained: i64,
    /// Competency coverage per account of the specialist's territory (all accounts if none).
    pub coverage: Vec<Coverage>,
    pub open_tickets: i64,
    /// Open complaints, soonest due first, with days left.
    pub complaints: Vec<ComplaintDeadline>,
}

/// A specialist's dashboard for the days `from` to `to` (inclusive), as seen on `today`.
pub async fn dashboard(
    store: &Store,
    actor: &Actor,
    specialist: Uuid,
    from: NaiveDate,
    to: NaiveDate,
    today: NaiveDate,
) -> Result<Dashboard> {
    if to < from {
        return Err(Invalid::one("to", "must not be before the first day").into());
    }
    let org = reader(store, actor).await?;
    let start = from.and_time(NaiveTime::MIN).and_utc();
    let end = (to + Duration::days(1)).and_time(NaiveTime::MIN).and_utc();
    let mine = cases(store, actor, &CaseFilter { specialist_user_id: Some(specialist), ..Default::default() }).await?;
    let cases_covered =
        mine.iter().filter(|c| c.status == "covered" && c.starts_at >= start && c.starts_at < end).count() as i64;
    let t = now();
    let cases_upcoming =
        mine.iter().filter(|c| matches!(c.status.as_str(), "requested" | "confirmed") && c.starts_at >= t).count()
            as i64;
    let trained: Vec<(NaiveDate, i64)> = rows!(
        store,
        (NaiveDate, i64),
        "SELECT t.held_on, (SELECT COUNT(*) FROM device_training_attendees a WHERE a.training_id = t.id)
         FROM device_trainings t WHERE t.org_id = $1 AND t.trainer_user_id = $2",
        org,
        specialist
    )?;
    let in_period: Vec<_> = trained.iter().filter(|(d, _)| *d >= from && *d <= to).collect();
    let territory: BTreeSet<Uuid> =
        territory(store, actor, specialist).await?.into_iter().map(|a| a.institution_id).collect();
    let mut coverage = competency_coverage(store, actor, today).await?;
    if !territory.is_empty() {
        coverage.retain(|c| territory.contains(&c.institution_id));
    }
    let open_tickets: i64 = crate::on!(store.db.read(), |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM device_tickets WHERE org_id = $1 AND status <> 'closed'"
    )
    .bind(org)
    .fetch_one(c)
    .await)?;
    Ok(Dashboard {
        specialist_user_id: specialist,
        from,
        to,
        cases_covered,
        cases_upcoming,
        trainings_delivered: in_period.len() as i64,
        staff_trained: in_period.iter().map(|(_, n)| n).sum(),
        coverage,
        open_tickets,
        complaints: complaint_deadlines(store, actor, today, true).await?,
    })
}
