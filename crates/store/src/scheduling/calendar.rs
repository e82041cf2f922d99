//! Scheduling calendar: a site's resources (rooms, equipment, staff) with their weekly hours;
//! moving a visit inside its window; booking it into a slot with its resources, refused when a
//! resource is taken or closed; the window-closing task; the site calendar; calendar feeds.
//!
//! Bookings are race-safe on both backends without per-backend SQL: before it looks for
//! conflicts, a booking advances `booking_seq` on each resource it wants, in id order. On
//! PostgreSQL that `UPDATE` holds the rows' locks until commit, so a second booking of the same
//! resource waits and then sees the first; on SQLite every write already runs one at a time.

use super::{ParticipantVisit, SELECT as VISIT_SELECT};
use crate::secrets::{random_token, sha256_hex};
use crate::{Acting, Result, Store, StoreError, Tx, exec, new_id, now, on, tx_on};
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use clinbridge_core::Invalid;
use clinbridge_core::audit::{AuditAction, AuditEvent};
use clinbridge_core::scheduling::VisitStatus;
use clinbridge_core::scheduling::calendar::{
    Hours, ResourceKind, check_hours, check_in_window, conflict_message, format_hours, overlaps, slot, within_hours,
};
use serde::Serialize;
use uuid::Uuid;

fn zone(name: &str) -> chrono_tz::Tz {
    name.parse().unwrap_or(chrono_tz::UTC)
}

/// The UTC span of local days `from..=to` at a site.
pub fn local_days(tz: chrono_tz::Tz, from: NaiveDate, to: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = |d: NaiveDate| {
        tz.from_local_datetime(&d.and_time(NaiveTime::MIN))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|| Utc.from_utc_datetime(&d.and_time(NaiveTime::MIN)))
    };
    (start(from), start(to + Duration::days(1)))
}

// ---------------------------------------------------------------- resources

#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct Resource {
    pub id: Uuid,
    pub site_id: Uuid,
    pub kind: String,
    pub name: String,
    /// The person a staff resource is.
    pub user_id: Option<Uuid>,
    pub user_name: Option<String>,
    pub user_email: Option<String>,
    pub active: bool,
    #[sqlx(skip)]
    pub hours: Vec<Hours>,
}

impl Resource {
    pub fn kind(&self) -> ResourceKind {
        ResourceKind::parse(&self.kind).unwrap_or(ResourceKind::Room)
    }
    /// The weekly hours as text (`Mon-Fri 08:00-17:00`).
    pub fn hours_text(&self) -> String {
        format_hours(&self.hours)
    }
}

const RESOURCE_SELECT: &str =
    "SELECT r.id, r.site_id, r.kind, r.name, r.user_id, u.name AS user_name, u.email AS user_email, r.active
     FROM resources r LEFT JOIN users u ON u.id = r.user_id";

/// A resource as entered.
#[derive(Debug, Clone)]
pub struct ResourceInput {
    pub kind: ResourceKind,
    pub name: String,
    pub user_id: Option<Uuid>,
    pub active: bool,
    pub hours: Vec<Hours>,
}

impl ResourceInput {
    fn check(mut self) -> Result<Self> {
        let mut c = clinbridge_core::Checks::new();
        if let Some(n) = c.take("name", clinbridge_core::scheduling::calendar::resource_name(&self.name)) {
            self.name = n;
        }
        match (self.kind, self.user_id) {
            (ResourceKind::Staff, None) => c.push("user", "a staff resource is a person: name their e-mail"),
            (ResourceKind::Room | ResourceKind::Equipment, Some(_)) => {
                c.push("user", "only staff resources are people")
            }
            _ => {}
        }
        c.take("hours", check_hours(&mut self.hours));
        if self.hours.len() > 50 {
            c.push("hours", "at most 50 entries");
        }
        c.finish()?;
        Ok(self)
    }
}

async fn hours_of_site(store: &Store, site_id: Uuid) -> Result<Vec<(Uuid, Hours)>> {
    let rows: Vec<(Uuid, i64, i64, i64)> = on!(store.db.read(), |c| {
        sqlx::query_as(
        "SELECT h.resource_id, h.weekday, h.from_minute, h.to_minute FROM resource_hours h JOIN resources r ON r.id = h.resource_id
         WHERE r.site_id = $1 ORDER BY h.weekday, h.from_minute"
    )
    .bind(site_id)
    .fetch_all(c)
    .await
    })?;
    Ok(rows.into_iter().filter_map(|(id, d, f, t)| Hours::stored(d, f, t).ok().map(|h| (id, h))).collect())
}

async fn hours_in(tx: &mut Tx, resource_id: Uuid) -> Result<Vec<Hours>> {
    let rows: Vec<(i64, i64, i64)> = tx_on!(tx, |c| {
        sqlx::query_as(
        "SELECT weekday, from_minute, to_minute FROM resource_hours WHERE resource_id = $1 ORDER BY weekday, from_minute"
    )
    .bind(resource_id)
    .fetch_all(&mut *c)
    .await
    })?;
    Ok(rows.into_iter().filter_map(|(d, f, t)| Hours::stored(d, f, t).ok()).collect())
}

/// A site's resources with their hours, rooms first, then equipment, then staff.
pub async fn resources(store: &Store, site_id: Uuid) -> Result<Vec<Resource>> {
    let sql = format!("{RESOURCE_SELECT} WHERE r.site_id = $1 ORDER BY r.kind DESC, r.name");
    let mut list: Vec<Resource> =
        on!(store.db.read(), |c| sqlx::query_as::<_, Resource>(sqlx::AssertSqlSafe(sql.clone()))
            .bind(site_id)
            .fetch_all(c)
            .await)?;
    // room > equipment > staff reads naturally; the SQL order put "staff" first.
    list.sort_by_key(|r| (r.kind().as_str() == "staff", r.kind().as_str() == "equipment", r.name.clone()));
    let hours = hours_of_site(store, site_id).await?;
    for r in &mut list {
        r.hours = hours.iter().filter(|(id, _)| *id == r.id).map(|(_, h)| *h).collect();
    }
    Ok(list)
}

pub async fn resource(store: &Store, id: Uuid) -> Result<Resource> {
    let sql = format!("{RESOURCE_SELECT} WHERE r.id = $1");
    let mut r = on!(store.db.read(), |c| sqlx::query_as::<_, Resource>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(id)
        .fetch_optional(c)
        .await)?
    .ok_or(StoreError::NotFound("resource"))?;
    r.hours =
        hours_of_site(store, r.site_id).await?.into_iter().filter(|(rid, _)| *rid == id).map(|(_, h)| h).collect();
    Ok(r)
}

async fn resource_in(tx: &mut Tx, id: Uuid) -> Result<Resource> {
    let sql = format!("{RESOURCE_SELECT} WHERE r.id = $1");
    let mut r = tx_on!(tx, |c| sqlx::query_as::<_, Resource>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(id)
        .fetch_optional(&mut *c)
        .await)?
    .ok_or(StoreError::NotFound("resource"))?;
    r.hours = hours_in(tx, id).await?;
    Ok(r)
}

/// A staff resource is an active person who works at the site (or organization-wide).
async fn check_staff(tx: &mut Tx, user: Option<Uuid>, site_id: Uuid) -> Result<()> {
    let Some(user) = user else { return Ok(()) };
    let n: i64 = tx_on!(tx, |c| {
        sqlx::query_scalar(
        "SELECT COUNT(*) FROM users u JOIN grants g ON g.user_id = u.id
         WHERE u.id = $1 AND u.active = $2 AND (g.scope_kind IN ('organization', 'study') OR (g.scope_kind = 'site' AND g.scope_id = $3))"
    )
    .bind(user)
    .bind(true)
    .bind(site_id)
    .fetch_one(&mut *c)
    .await
    })?;
    if n == 0 {
        return Err(Invalid::one("user", "must be an active member of this site's staff").into());
    }
    Ok(())
}

async fn put_hours(tx: &mut Tx, id: Uuid, hours: &[Hours]) -> Result<()> {
    exec!(tx, "DELETE FROM resource_hours WHERE resource_id = $1", id)?;
    for h in hours {
        exec!(
            tx,
            "INSERT INTO resource_hours (resource_id, weekday, from_minute, to_minute) VALUES ($1, $2, $3, $4)",
            id,
            h.weekday_number(),
            h.from,
            h.to
        )?;
    }
    Ok(())
}

fn audited(r: &Resource) -> serde_json::Value {
    serde_json::json!({
        "site_id": r.site_id, "kind": r.kind, "name": r.name, "user_id": r.user_id,
        "active": r.active, "hours": r.hours_text(),
    })
}

pub async fn create_resource(store: &Store, acting: &Acting, site_id: Uuid, input: ResourceInput) -> Result<Resource> {
    let input = input.check()?;
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                check_staff(tx, input.user_id, site_id).await?;
                let id = new_id();
                let t = now();
                exec!(
                    tx,
                    "INSERT INTO resources (id, site_id, kind, name, user_id, active, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
                    id,
                    site_id,
                    input.kind.as_str(),
                    &input.name,
                    input.user_id,
                    input.active,
                    t
                )
                .map_err(|e| StoreError::from(e).unique_as("name", "is already used by another resource of this site"))?;
                put_hours(tx, id, &input.hours).await?;
                let r = resource_in(tx, id).await?;
                tx.audit(AuditEvent::new(AuditAction::Create, "resource", id).new_value(audited(&r)));
                Ok(r)
            })
        })
        .await
}

/// Renames a resource, changes its person, hours or whether it can be booked. Its kind stays.
pub async fn update_resource(store: &Store, acting: &Acting, id: Uuid, input: ResourceInput) -> Result<Resource> {
    let input = input.check()?;
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let old = resource_in(tx, id).await?;
                if old.kind() != input.kind {
                    return Err(Invalid::one("kind", "cannot change; add a new resource instead").into());
                }
                if input.user_id != old.user_id {
                    check_staff(tx, input.user_id, old.site_id).await?;
                }
                exec!(
                    tx,
                    "UPDATE resources SET name = $1, user_id = $2, active = $3, updated_at = $4 WHERE id = $5",
                    &input.name,
                    input.user_id,
                    input.active,
                    now(),
                    id
                )
                .map_err(|e| {
                    StoreError::from(e).unique_as("name", "is already used by another resource of this site")
                })?;
                put_hours(tx, id, &input.hours).await?;
                let new = resource_in(tx, id).await?;
                if new != old {
                    tx.audit(
                        AuditEvent::new(AuditAction::Update, "resource", id)
                            .old(audited(&old))
                            .new_value(audited(&new)),
                    );
                }
                Ok(new)
            })
        })
        .await
}

// ---------------------------------------------------------------- moving and booking visits

/// What a visit needs to be moved or booked: its site and the site's time zone.
struct VisitContext {
    visit: ParticipantVisit,
    site_id: Uuid,
    tz: chrono_tz::Tz,
}

async fn visit_context_in(tx: &mut Tx, id: Uuid) -> Result<VisitContext> {
    let sql = format!("{VISIT_SELECT} WHERE v.id = $1");
    let visit = tx_on!(tx, |c| sqlx::query_as::<_, ParticipantVisit>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(id)
        .fetch_optional(&mut *c)
        .await)?
    .ok_or(StoreError::NotFound("visit"))?;
    let (site_id, tz): (Uuid, String) = tx_on!(tx, |c| sqlx::query_as(
        "SELECT p.site_id, s.time_zone FROM participants p JOIN sites s ON s.id = p.site_id WHERE p.id = $1"
    )
    .bind(visit.participant_id)
    .fetch_one(&mut *c)
    .await)?;
    if visit.status() != VisitStatus::Scheduled {
        return Err(StoreError::Refused(format!(
            "visit {} is already {}",
            visit.code,
            visit.status().label().to_lowercase()
        )));
    }
    Ok(VisitContext { visit, site_id, tz: zone(&tz) })
}

async fn resources_of_visit_in(tx: &mut Tx, visit_id: Uuid) -> Result<Vec<(Uuid, String)>> {
    Ok(tx_on!(tx, |c| {
        sqlx::query_as(
        "SELECT r.id, r.name FROM visit_resources vr JOIN resources r ON r.id = vr.resource_id WHERE vr.visit_id = $1 ORDER BY r.name"
    )
    .bind(visit_id)
    .fetch_all(&mut *c)
    .await
    })?)
}

/// Puts a visit into `[start, end)` with these resources, inside the caller's transaction:
/// locks the resources, checks their hours and every other booking, then writes the slot.
async fn book_in(
    tx: &mut Tx,
    ctx: &VisitContext,
    day: NaiveDate,
    span: (DateTime<Utc>, DateTime<Utc>),
    mut resource_ids: Vec<Uuid>,
) -> Result<Vec<String>> {
    resource_ids.sort();
    resource_ids.dedup();
    if resource_ids.is_empty() {
        return Err(Invalid::one("resources", "choose at least one room, piece of equipment or person").into());
    }
    if resource_ids.len() > 10 {
        return Err(Invalid::one("resources", "at most 10 resources per visit").into());
    }
    let local = |t: DateTime<Utc>| t.with_timezone(&ctx.tz).naive_local();
    let mut names = Vec::new();
    for rid in &resource_ids {
        // The lock: concurrent bookings of this resource queue here until this one commits.
        let name: Option<String> = tx_on!(tx, |c| {
            sqlx::query_scalar(
            "UPDATE resources SET booking_seq = booking_seq + 1 WHERE id = $1 AND site_id = $2 AND active = $3 RETURNING name"
        )
        .bind(rid)
        .bind(ctx.site_id)
        .bind(true)
        .fetch_optional(&mut *c)
        .await
        })?;
        let Some(name) = name else {
            return Err(Invalid::one("resources", "must be resources of this site that can be booked").into());
        };
        let hours = hours_in(tx, *rid).await?;
        if !within_hours(&hours, local(span.0), local(span.1)) {
            let kept =
                if hours.is_empty() { "no hours set".to_string() } else { format!("hours {}", format_hours(&hours)) };
            return Err(StoreError::Refused(format!(
                "{name} is not available on {day} {}–{} ({kept})",
                local(span.0).format("%H:%M"),
                local(span.1).format("%H:%M")
            )));
        }
        let clash: Option<(DateTime<Utc>, DateTime<Utc>, String, String)> = tx_on!(tx, |c| sqlx::query_as(
            "SELECT vr.starts_at, vr.ends_at, p.subject_id, d.code
             FROM visit_resources vr JOIN participant_visits v ON v.id = vr.visit_id
             JOIN participants p ON p.id = v.participant_id JOIN visit_definitions d ON d.id = v.definition_id
             WHERE vr.resource_id = $1 AND vr.visit_id <> $2 AND vr.starts_at < $3 AND vr.ends_at > $4
             ORDER BY vr.starts_at LIMIT 1"
        )
        .bind(rid)
        .bind(ctx.visit.id)
        .bind(span.1)
        .bind(span.0)
        .fetch_optional(&mut *c)
        .await)?;
        if let Some((from, to, subject, code)) = clash
            && overlaps((from, to), span)
        {
            return Err(StoreError::Refused(conflict_message(
                &name,
                local(from).time(),
                local(to).time(),
                &subject,
                &code,
            )));
        }
        names.push(name);
    }
    exec!(tx, "DELETE FROM visit_resources WHERE visit_id = $1", ctx.visit.id)?;
    for rid in &resource_ids {
        exec!(
            tx,
            "INSERT INTO visit_resources (visit_id, resource_id, starts_at, ends_at) VALUES ($1, $2, $3, $4)",
            ctx.visit.id,
            rid,
            span.0,
            span.1
        )?;
    }
    let n = exec!(
        tx,
        "UPDATE participant_visits SET scheduled_on = $1, starts_at = $2, ends_at = $3, updated_at = $4 WHERE id = $5 AND status = 'scheduled'",
        day,
        span.0,
        span.1,
        now(),
        ctx.visit.id
    )?;
    if n == 0 {
        return Err(StoreError::conflict("visit", "changed meanwhile; reload and try again"));
    }
    Ok(names)
}

async fn reread_in(tx: &mut Tx, id: Uuid) -> Result<ParticipantVisit> {
    let sql = format!("{VISIT_SELECT} WHERE v.id = $1");
    Ok(tx_on!(tx, |c| sqlx::query_as::<_, ParticipantVisit>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(id)
        .fetch_one(&mut *c)
        .await)?)
}

fn slot_audit(v: &ParticipantVisit, resources: &[String]) -> serde_json::Value {
    serde_json::json!({
        "scheduled_on": v.day(), "starts_at": v.starts_at, "ends_at": v.ends_at, "resources": resources,
    })
}

/// A booking request: the local day and start time at the site, how long, and what it holds.
#[derive(Debug, Clone)]
pub struct Booking {
    pub day: NaiveDate,
    pub time: NaiveTime,
    pub minutes: i64,
    pub resources: Vec<Uuid>,
}

/// Books a scheduled visit into a slot inside its window. Refused, with the conflict named,
/// when any resource is booked at an overlapping time or does not keep hours then.
pub async fn book(store: &Store, acting: &Acting, visit_id: Uuid, b: Booking) -> Result<ParticipantVisit> {
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let ctx = visit_context_in(tx, visit_id).await?;
                let span = slot(ctx.tz, b.day, b.time, b.minutes, (ctx.visit.window_start, ctx.visit.window_end))?;
                let before = resources_of_visit_in(tx, visit_id).await?;
                let names = book_in(tx, &ctx, b.day, span, b.resources).await?;
                let new = reread_in(tx, visit_id).await?;
                let old_names: Vec<String> = before.into_iter().map(|(_, n)| n).collect();
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "participant_visit", visit_id)
                        .old(slot_audit(&ctx.visit, &old_names))
                        .new_value(slot_audit(&new, &names)),
                );
                Ok(new)
            })
        })
        .await
}

/// Moves a scheduled visit to another day inside its window. A booked visit keeps its
/// resources and length and moves to `time` (or the same time of day), checked as a new
/// booking; an unbooked visit has a day only.
pub async fn reschedule(
    store: &Store,
    acting: &Acting,
    visit_id: Uuid,
    day: NaiveDate,
    time: Option<NaiveTime>,
) -> Result<ParticipantVisit> {
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let ctx = visit_context_in(tx, visit_id).await?;
                let v = &ctx.visit;
                let window = (v.window_start, v.window_end);
                check_in_window("date", day, window)?;
                let held = resources_of_visit_in(tx, visit_id).await?;
                let names: Vec<String> = held.iter().map(|(_, n)| n.clone()).collect();
                match (v.starts_at, v.ends_at) {
                    (Some(start), Some(end)) => {
                        let at = time.unwrap_or_else(|| start.with_timezone(&ctx.tz).time());
                        let minutes = (end - start).num_minutes();
                        let span = slot(ctx.tz, day, at, minutes, window)?;
                        book_in(tx, &ctx, day, span, held.iter().map(|(id, _)| *id).collect()).await?;
                    }
                    _ => {
                        if time.is_some() {
                            return Err(Invalid::one(
                                "time",
                                "the visit is not booked into a slot yet: book it with its resources to give it a time",
                            )
                            .into());
                        }
                        let n = exec!(
                            tx,
                            "UPDATE participant_visits SET scheduled_on = $1, updated_at = $2 WHERE id = $3 AND status = 'scheduled'",
                            day,
                            now(),
                            visit_id
                        )?;
                        if n == 0 {
                            return Err(StoreError::conflict("visit", "changed meanwhile; reload and try again"));
                        }
                    }
                }
                let new = reread_in(tx, visit_id).await?;
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "participant_visit", visit_id)
                        .old(slot_audit(v, &names))
                        .new_value(slot_audit(&new, &names)),
                );
                Ok(new)
            })
        })
        .await
}

/// Gives back a booked visit's slot and resources; the visit keeps its day.
pub async fn unbook(store: &Store, acting: &Acting, visit_id: Uuid) -> Result<ParticipantVisit> {
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let ctx = visit_context_in(tx, visit_id).await?;
                if ctx.visit.starts_at.is_none() {
                    return Err(StoreError::Refused(format!("visit {} is not booked", ctx.visit.code)));
                }
                let held: Vec<String> =
                    resources_of_visit_in(tx, visit_id).await?.into_iter().map(|(_, n)| n).collect();
                exec!(tx, "DELETE FROM visit_resources WHERE visit_id = $1", visit_id)?;
                exec!(
                    tx,
                    "UPDATE participant_visits SET starts_at = NULL, ends_at = NULL, updated_at = $1 WHERE id = $2",
                    now(),
                    visit_id
                )?;
                let new = reread_in(tx, visit_id).await?;
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "participant_visit", visit_id)
                        .old(slot_audit(&ctx.visit, &held))
                        .new_value(slot_audit(&new, &[])),
                );
                Ok(new)
            })
        })
        .await
}

/// A visit's booked resources: (visit, resource name, kind).
pub async fn booked_resources_of(store: &Store, participant_id: Uuid) -> Result<Vec<(Uuid, String, String)>> {
    Ok(on!(store.db.read(), |c| sqlx::query_as(
        "SELECT vr.visit_id, r.name, r.kind FROM visit_resources vr JOIN resources r ON r.id = vr.resource_id
         JOIN participant_visits v ON v.id = vr.visit_id WHERE v.participant_id = $1 ORDER BY r.kind DESC, r.name"
    )
    .bind(participant_id)
    .fetch_all(c)
    .await)?)
}

// ---------------------------------------------------------------- window-closing task

/// The rule key of a visit's window-closing task.
pub fn window_task_key(visit_id: Uuid) -> String {
    format!("scheduling.window_closing:{visit_id}")
}

#[derive(sqlx::FromRow)]
struct Closing {
    id: Uuid,
    code: String,
    window_start: NaiveDate,
    window_end: NaiveDate,
    subject_id: String,
    study_id: Uuid,
    study_code: String,
    site_id: Uuid,
    site_code: String,
    time_zone: String,
}

/// The ticker's pass: raises a task on the site coordinators' queue for every open visit whose
/// window closes within the notice period (or has closed), once per visit. Recording or
/// cancelling the visit closes the task.
pub async fn raise_window_closing_tasks(store: &Store) -> Result<usize> {
    use clinbridge_core::scheduling::calendar::{WINDOW_CLOSING_NOTICE_DAYS, window_closing};
    // A day of slack: a site west of UTC may still be on yesterday.
    let horizon = now().date_naive() + Duration::days(WINDOW_CLOSING_NOTICE_DAYS + 1);
    let due: Vec<Closing> = on!(store.db.read(), |c| {
        sqlx::query_as::<_, Closing>(
        "SELECT v.id, d.code, v.window_start, v.window_end, p.subject_id, p.study_id, st.code AS study_code,
                p.site_id, s.code AS site_code, s.time_zone
         FROM participant_visits v JOIN visit_definitions d ON d.id = v.definition_id
         JOIN participants p ON p.id = v.participant_id JOIN sites s ON s.id = p.site_id JOIN studies st ON st.id = p.study_id
         WHERE v.status = 'scheduled' AND v.closing_noticed_at IS NULL AND v.window_end <= $1
         ORDER BY v.window_end LIMIT 500"
    )
    .bind(horizon)
    .fetch_all(c)
    .await
    })?;
    let t = now();
    let due: Vec<Closing> = due
        .into_iter()
        .filter(|v| window_closing(v.window_end, t.with_timezone(&zone(&v.time_zone)).date_naive()))
        .collect();
    let n = due.len();
    if n == 0 {
        return Ok(0);
    }
    store
        .write(&Acting::system(), move |tx| {
            Box::pin(async move {
                for v in &due {
                    let marked = exec!(
                        tx,
                        "UPDATE participant_visits SET closing_noticed_at = $1 WHERE id = $2 AND closing_noticed_at IS NULL AND status = 'scheduled'",
                        t,
                        v.id
                    )?;
                    if marked == 0 {
                        continue;
                    }
                    let tz = zone(&v.time_zone);
                    // Due when the window's last local day ends.
                    let (_, due_at) = local_days(tz, v.window_end, v.window_end);
                    crate::tasks::raise_in(
                        tx,
                        crate::tasks::NewTask {
                            kind: "visit_window".into(),
                            title: format!("Visit window closes {}: {} {} at {}", v.window_end, v.subject_id, v.code, v.site_code),
                            detail: format!(
                                "{} visit {} of {} is not recorded; its window runs {} to {}. Record it, or record it as missed with the reason.",
                                v.study_code, v.code, v.subject_id, v.window_start, v.window_end
                            ),
                            subject_type: "participant_visit".into(),
                            subject_id: v.id.to_string(),
                            study_id: Some(v.study_id),
                            site_id: Some(v.site_id),
                            assignee: clinbridge_core::tasks::Assignee::Role {
                                role: clinbridge_core::identity::Role::Coordinator,
                                scope: clinbridge_core::identity::Scope::Site(v.site_id),
                            },
                            due_at,
                            rule: "scheduling.window_closing".into(),
                            rule_key: window_task_key(v.id),
                        },
                    )
                    .await?;
                }
                Ok(())
            })
        })
        .await?;
    Ok(n)
}

// ---------------------------------------------------------------- the site calendar

/// A visit as the calendar shows it: who (subject id only), which visit, when, with what.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct CalendarVisit {
    pub id: Uuid,
    pub participant_id: Uuid,
    pub subject_id: String,
    pub study_id: Uuid,
    pub study_code: String,
    pub site_id: Uuid,
    pub site_code: String,
    pub time_zone: String,
    pub code: String,
    pub name: String,
    pub occurrence: i64,
    pub status: String,
    pub target_on: NaiveDate,
    pub window_start: NaiveDate,
    pub window_end: NaiveDate,
    pub scheduled_on: Option<NaiveDate>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// (resource id, name, kind) of a booked visit.
    #[sqlx(skip)]
    pub resources: Vec<(Uuid, String, String)>,
}

impl CalendarVisit {
    pub fn day(&self) -> NaiveDate {
        self.scheduled_on.unwrap_or(self.target_on)
    }
    pub fn tz(&self) -> chrono_tz::Tz {
        zone(&self.time_zone)
    }
}

const CALENDAR_SELECT: &str = "SELECT v.id, v.participant_id, p.subject_id, p.study_id, st.code AS study_code, p.site_id,
        s.code AS site_code, s.time_zone, d.code, d.name, v.occurrence, v.status, v.target_on, v.window_start, v.window_end,
        v.scheduled_on, v.starts_at, v.ends_at, v.updated_at
     FROM participant_visits v JOIN visit_definitions d ON d.id = v.definition_id
     JOIN participants p ON p.id = v.participant_id JOIN sites s ON s.id = p.site_id JOIN studies st ON st.id = p.study_id";

async fn with_resources(store: &Store, mut visits: Vec<CalendarVisit>) -> Result<Vec<CalendarVisit>> {
    if visits.is_empty() {
        return Ok(visits);
    }
    // One query per 500 visits keeps the parameter list well inside both engines' limits.
    for chunk in visits.chunks_mut(500) {
        let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT vr.visit_id, r.id, r.name, r.kind FROM visit_resources vr JOIN resources r ON r.id = vr.resource_id
             WHERE vr.visit_id IN ({}) ORDER BY r.kind DESC, r.name",
            placeholders.join(", ")
        );
        let ids: Vec<Uuid> = chunk.iter().map(|v| v.id).collect();
        let rows: Vec<(Uuid, Uuid, String, String)> = on!(store.db.read(), |c| {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()));
            for id in &ids {
                q = q.bind(*id);
            }
            q.fetch_all(c).await
        })?;
        for v in chunk.iter_mut() {
            v.resources = rows.iter().filter(|r| r.0 == v.id).map(|r| (r.1, r.2.clone(), r.3.clone())).collect();
        }
    }
    Ok(visits)
}

/// A site's calendar for local days `from..=to`: the visits booked into slots then (any
/// status but cancelled), and the open visits planned for those days that have no slot yet.
pub async fn site_calendar(
    store: &Store,
    site_id: Uuid,
    tz: chrono_tz::Tz,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<(Vec<CalendarVisit>, Vec<CalendarVisit>)> {
    let (a, b) = local_days(tz, from, to);
    let booked_sql = format!(
        "{CALENDAR_SELECT} WHERE p.site_id = $1 AND v.status <> 'cancelled' AND v.starts_at >= $2 AND v.starts_at < $3 ORDER BY v.starts_at, p.subject_id"
    );
    let booked: Vec<CalendarVisit> =
        on!(store.db.read(), |c| sqlx::query_as::<_, CalendarVisit>(sqlx::AssertSqlSafe(booked_sql.clone()))
            .bind(site_id)
            .bind(a)
            .bind(b)
            .fetch_all(c)
            .await)?;
    let due_sql = format!(
        "{CALENDAR_SELECT} WHERE p.site_id = $1 AND v.status = 'scheduled' AND v.starts_at IS NULL
           AND COALESCE(v.scheduled_on, v.target_on) >= $2 AND COALESCE(v.scheduled_on, v.target_on) <= $3
         ORDER BY COALESCE(v.scheduled_on, v.target_on), p.subject_id, d.position"
    );
    let due: Vec<CalendarVisit> =
        on!(store.db.read(), |c| sqlx::query_as::<_, CalendarVisit>(sqlx::AssertSqlSafe(due_sql.clone()))
            .bind(site_id)
            .bind(from)
            .bind(to)
            .fetch_all(c)
            .await)?;
    Ok((with_resources(store, booked).await?, due))
}

/// Which open visits a study list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Planned for days `from..=to` (this week).
    Between(NaiveDate, NaiveDate),
    /// Windows closed before this day without a record.
    Overdue(NaiveDate),
}

/// Open visits of one study (or of every study), for the dashboards and their lists.
pub async fn open_visits(store: &Store, study_id: Option<Uuid>, due: Due) -> Result<Vec<CalendarVisit>> {
    let study_clause = if study_id.is_some() { " AND p.study_id = $3" } else { "" };
    let (cond, a, b) = match due {
        Due::Between(from, to) => {
            ("COALESCE(v.scheduled_on, v.target_on) >= $1 AND COALESCE(v.scheduled_on, v.target_on) <= $2", from, to)
        }
        Due::Overdue(day) => ("v.window_end < $1 AND v.window_end < $2", day, day),
    };
    let sql = format!(
        "{CALENDAR_SELECT} WHERE v.status = 'scheduled' AND {cond}{study_clause}
         ORDER BY COALESCE(v.scheduled_on, v.target_on), s.code, p.subject_id LIMIT 2000"
    );
    let rows: Vec<CalendarVisit> = on!(store.db.read(), |c| {
        let mut q = sqlx::query_as::<_, CalendarVisit>(sqlx::AssertSqlSafe(sql.clone())).bind(a).bind(b);
        if let Some(s) = study_id {
            q = q.bind(s);
        }
        q.fetch_all(c).await
    })?;
    with_resources(store, rows).await
}

// ---------------------------------------------------------------- calendar feeds

#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct Feed {
    pub id: Uuid,
    pub user_id: Uuid,
    /// staff (visits the person is booked for), site (every booked visit of a site) or field
    /// (a clinical specialist's account visits and cases).
    pub kind: String,
    pub site_id: Option<Uuid>,
    pub site_code: Option<String>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// The secret of the address, shown only to its owner.
    #[serde(skip)]
    pub secret: String,
}

impl Feed {
    pub fn name(&self) -> String {
        match &self.site_code {
            Some(code) if self.kind == "site" => format!("Site {code}: booked visits"),
            _ if self.kind == "field" => "My field week plan".into(),
            _ => "My booked visits".into(),
        }
    }
}

const FEED_SELECT: &str =
    "SELECT f.id, f.user_id, f.kind, f.site_id, s.code AS site_code, f.created_at, f.revoked_at, f.secret
     FROM calendar_feeds f LEFT JOIN sites s ON s.id = f.site_id";

fn feed_secret() -> Result<(String, String)> {
    let secret = format!("cbf_{}", random_token(32)?);
    let hash = sha256_hex(&secret);
    Ok((secret, hash))
}

/// Whether a person keeps a field week plan: they change device records (clinical specialists).
pub async fn keeps_field_plan(store: &Store, user_id: Uuid) -> bool {
    use clinbridge_core::policy::{Action, Context, Op, Target, authorize};
    match crate::identity::actor(store, user_id).await {
        Ok(a) => authorize(&a, Action::new(Context::Device, Op::Write), Target::ORG).allowed(),
        Err(_) => false,
    }
}

/// A person's feeds: their staff feed, one per site in `sites`, and for a clinical specialist
/// their field week plan, created when missing. Each comes with its secret while it is on.
pub async fn feeds_for(
    store: &Store,
    acting: &Acting,
    user_id: Uuid,
    sites: Vec<Uuid>,
) -> Result<Vec<(Feed, Option<String>)>> {
    let existing = feeds_of(store, user_id).await?;
    let missing_staff = !existing.iter().any(|f| f.kind == "staff");
    let missing_field = !existing.iter().any(|f| f.kind == "field") && keeps_field_plan(store, user_id).await;
    let missing_sites: Vec<Uuid> =
        sites.into_iter().filter(|s| !existing.iter().any(|f| f.site_id == Some(*s))).collect();
    if missing_staff || missing_field || !missing_sites.is_empty() {
        let mut wanted: Vec<(Option<Uuid>, &'static str, String, String, String)> = Vec::new();
        if missing_staff {
            let (s, h) = feed_secret()?;
            wanted.push((None, "staff", "staff".into(), s, h));
        }
        if missing_field {
            let (s, h) = feed_secret()?;
            wanted.push((None, "field", "field".into(), s, h));
        }
        for site in missing_sites {
            let (s, h) = feed_secret()?;
            wanted.push((Some(site), "site", format!("site:{site}"), s, h));
        }
        store
            .write(acting, move |tx| {
                Box::pin(async move {
                    let mut made = Vec::new();
                    for (site, kind, scope, secret, hash) in wanted {
                        let id: Option<Uuid> = tx_on!(tx, |c| sqlx::query_scalar(
                            "INSERT INTO calendar_feeds (id, user_id, kind, site_id, scope_key, token_hash, secret, created_at)
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (user_id, scope_key) DO NOTHING RETURNING id"
                        )
                        .bind(new_id())
                        .bind(user_id)
                        .bind(kind)
                        .bind(site)
                        .bind(&scope)
                        .bind(&hash)
                        .bind(&secret)
                        .bind(now())
                        .fetch_optional(&mut *c)
                        .await)?;
                        if let Some(id) = id {
                            tx.audit(AuditEvent::new(AuditAction::Create, "calendar_feed", id).new_value(
                                serde_json::json!({ "user_id": user_id, "kind": kind, "site_id": site }),
                            ));
                            made.push(id);
                        }
                    }
                    Ok(made)
                })
            })
            .await?;
    }
    let all = feeds_of(store, user_id).await?;
    Ok(all
        .into_iter()
        .map(|f| {
            let secret = f.revoked_at.is_none().then(|| f.secret.clone());
            (f, secret)
        })
        .collect())
}

/// A person's feeds, staff feed first.
pub async fn feeds_of(store: &Store, user_id: Uuid) -> Result<Vec<Feed>> {
    let sql = format!("{FEED_SELECT} WHERE f.user_id = $1 ORDER BY f.kind DESC, s.code");
    Ok(on!(store.db.read(), |c| sqlx::query_as::<_, Feed>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(user_id)
        .fetch_all(c)
        .await)?)
}

pub async fn feed(store: &Store, id: Uuid) -> Result<Feed> {
    let sql = format!("{FEED_SELECT} WHERE f.id = $1");
    on!(store.db.read(), |c| sqlx::query_as::<_, Feed>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(id)
        .fetch_optional(c)
        .await)?
    .ok_or(StoreError::NotFound("feed"))
}

/// Gives a feed a new secret (the old address stops working); a revoked feed comes back.
pub async fn regenerate_feed(store: &Store, acting: &Acting, id: Uuid) -> Result<(Feed, String)> {
    let (secret, hash) = feed_secret()?;
    let stored = secret.clone();
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let n = exec!(
                    tx,
                    "UPDATE calendar_feeds SET token_hash = $1, secret = $2, created_at = $3, revoked_at = NULL WHERE id = $4",
                    &hash,
                    &stored,
                    now(),
                    id
                )?;
                if n == 0 {
                    return Err(StoreError::NotFound("feed"));
                }
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "calendar_feed", id)
                        .new_value(serde_json::json!({ "secret": "regenerated" })),
                );
                Ok(())
            })
        })
        .await?;
    Ok((feed(store, id).await?, secret))
}

/// Turns a feed off: its address answers nothing until the feed is regenerated.
pub async fn revoke_feed(store: &Store, acting: &Acting, id: Uuid) -> Result<()> {
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let n = exec!(
                    tx,
                    "UPDATE calendar_feeds SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                    now(),
                    id
                )?;
                if n == 0 {
                    return Err(StoreError::Refused("the feed is already turned off".into()));
                }
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "calendar_feed", id)
                        .new_value(serde_json::json!({ "revoked": true })),
                );
                Ok(())
            })
        })
        .await
}

/// The live feed a secret opens, of an active person.
pub async fn feed_by_secret(store: &Store, secret: &str) -> Result<Option<Feed>> {
    let sql = format!(
        "{FEED_SELECT} JOIN users u ON u.id = f.user_id WHERE f.token_hash = $1 AND f.revoked_at IS NULL AND u.active = $2"
    );
    let hash = sha256_hex(secret.trim());
    Ok(on!(store.db.read(), |c| sqlx::query_as::<_, Feed>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(&hash)
        .bind(true)
        .fetch_optional(c)
        .await)?)
}

/// The booked visits a feed shows, from a month back to a year ahead: a site feed every visit
/// booked at the site, a staff feed the visits the person is booked for.
pub async fn feed_visits(store: &Store, feed: &Feed) -> Result<Vec<CalendarVisit>> {
    let t = now();
    let (a, b) = (t - Duration::days(31), t + Duration::days(366));
    let rows: Vec<CalendarVisit> = match (feed.kind.as_str(), feed.site_id) {
        // A field feed shows the week plan of the device context, not booked visits.
        ("field", _) => Vec::new(),
        ("site", Some(site)) => {
            let sql = format!(
                "{CALENDAR_SELECT} WHERE p.site_id = $1 AND v.status <> 'cancelled' AND v.starts_at >= $2 AND v.starts_at < $3 ORDER BY v.starts_at"
            );
            on!(store.db.read(), |c| sqlx::query_as::<_, CalendarVisit>(sqlx::AssertSqlSafe(sql.clone()))
                .bind(site)
                .bind(a)
                .bind(b)
                .fetch_all(c)
                .await)?
        }
        _ => {
            let sql = format!(
                "{CALENDAR_SELECT} WHERE v.status <> 'cancelled' AND v.starts_at >= $2 AND v.starts_at < $3
                   AND v.id IN (SELECT vr.visit_id FROM visit_resources vr JOIN resources r ON r.id = vr.resource_id WHERE r.user_id = $1)
                 ORDER BY v.starts_at"
            );
            on!(store.db.read(), |c| sqlx::query_as::<_, CalendarVisit>(sqlx::AssertSqlSafe(sql.clone()))
                .bind(feed.user_id)
                .bind(a)
                .bind(b)
                .fetch_all(c)
                .await)?
        }
    };
    with_resources(store, rows).await
}
