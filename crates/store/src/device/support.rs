//! Support tickets with their append-only troubleshooting log, and complaints: a ticket
//! escalates to a complaint record (ISO 13485 8.2.2, 21 CFR 820.198) whose reportability
//! decision starts the medical device reporting clock (30 calendar days from awareness, or 5
//! work days where remedial action is needed), kept as the task
//! `device.complaint_report:{id}`. A complaint closes only with an investigation or the
//! reason for not investigating, the reply to the complainant and the decision; once closed it
//! never changes (the store refuses, and so does a database trigger).

use super::{account, product_name, reader, writer};
use crate::tasks::{NewTask, raise_in, resolve_in};
use crate::{Acting, Result, Store, StoreError, Tx, exec, new_id, now, tx_on};
use chrono::{DateTime, NaiveDate, Utc};
use clinbridge_core::Invalid;
use clinbridge_core::audit::{AuditAction, AuditEvent};
use clinbridge_core::device::{
    ComplaintInput, ReportClock, TicketInput, TicketStatus, check_complaint_close, check_decision, days_remaining,
    report_clock, report_due,
};
use clinbridge_core::identity::{Role, Scope};
use clinbridge_core::medical::long_text;
use clinbridge_core::policy::Actor;
use clinbridge_core::tasks::{Assignee, TaskStatus};
use serde::Serialize;
use uuid::Uuid;

// ---------------------------------------------------------------- tickets

#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct Ticket {
    pub id: Uuid,
    pub institution_id: Uuid,
    pub institution_name: String,
    pub product_id: Uuid,
    pub product_name: String,
    pub serial_or_lot: String,
    pub description: String,
    pub status: String,
    pub resolution: String,
    pub opened_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct TicketEntry {
    pub id: Uuid,
    pub ticket_id: Uuid,
    pub author_user_id: Option<Uuid>,
    pub author_name: Option<String>,
    pub at: DateTime<Utc>,
    pub text: String,
}

const TICKET_SELECT: &str = "SELECT t.id, t.institution_id, i.name AS institution_name, t.product_id, p.name AS product_name, t.serial_or_lot,
        t.description, t.status, t.resolution, t.opened_by, t.created_at, t.updated_at, t.resolved_at, t.closed_at
     FROM device_tickets t JOIN medical_institutions i ON i.id = t.institution_id JOIN device_products p ON p.id = t.product_id";

#[derive(Debug, Clone, Default)]
pub struct TicketFilter {
    pub institution_id: Option<Uuid>,
    pub product_id: Option<Uuid>,
    pub status: Option<String>,
    /// Only tickets not closed.
    pub open_only: bool,
}

/// Tickets of the reader's organization, newest first.
pub async fn tickets(store: &Store, actor: &Actor, f: &TicketFilter) -> Result<Vec<Ticket>> {
    let org = reader(store, actor).await?;
    Ok(rows!(
        store,
        Ticket,
        format!(
            "{TICKET_SELECT} WHERE t.org_id = $1 AND ($2 IS NULL OR t.institution_id = $2) AND ($3 IS NULL OR t.product_id = $3)
             AND ($4 IS NULL OR t.status = $4) AND ($5 = FALSE OR t.status <> 'closed') ORDER BY t.created_at DESC"
        ),
        org,
        f.institution_id,
        f.product_id,
        f.status.clone(),
        f.open_only
    )?)
}

/// A ticket with its troubleshooting log (oldest first) and its complaint, if escalated.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TicketDetail {
    pub ticket: Ticket,
    pub log: Vec<TicketEntry>,
    pub complaint: Option<Complaint>,
}

pub async fn ticket(store: &Store, actor: &Actor, id: Uuid) -> Result<TicketDetail> {
    let org = reader(store, actor).await?;
    let ticket = rows!(store, Ticket, format!("{TICKET_SELECT} WHERE t.id = $1 AND t.org_id = $2"), id, org)?
        .pop()
        .ok_or(StoreError::NotFound("ticket"))?;
    let log = rows!(
        store,
        TicketEntry,
        "SELECT e.id, e.ticket_id, e.author_user_id, u.name AS author_name, e.at, e.text
         FROM device_ticket_entries e LEFT JOIN users u ON u.id = e.author_user_id WHERE e.ticket_id = $1 ORDER BY e.at, e.id",
        id
    )?;
    let complaint =
        rows!(store, Complaint, format!("{COMPLAINT_SELECT} WHERE ticket_id = $1 AND org_id = $2"), id, org)?.pop();
    Ok(TicketDetail { ticket, log, complaint })
}

async fn ticket_in(tx: &mut Tx, org: Uuid, id: Uuid) -> Result<Ticket> {
    row_in!(tx, Ticket, format!("{TICKET_SELECT} WHERE t.id = $1 AND t.org_id = $2"), id, org)?
        .ok_or(StoreError::NotFound("ticket"))
}

/// Opens a support ticket for a product at an account.
pub async fn open_ticket(store: &Store, acting: &Acting, input: TicketInput) -> Result<Ticket> {
    let t = input.check()?;
    let id = new_id();
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let org = writer(tx).await?;
                account(tx, "institution_id", input.institution_id).await?;
                product_name(tx, org, "product_id", input.product_id).await?;
                let at = now();
                let by = tx.acting().user;
                exec!(
                    tx,
                    "INSERT INTO device_tickets (id, org_id, institution_id, product_id, serial_or_lot, description, status, opened_by, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, 'open', $7, $8, $8)",
                    id,
                    org,
                    input.institution_id,
                    input.product_id,
                    &t.serial_or_lot,
                    &t.description,
                    by,
                    at
                )?;
                tx.audit(AuditEvent::new(AuditAction::Create, "device_ticket", id).new_value(serde_json::json!({
                    "institution_id": input.institution_id, "product_id": input.product_id, "ticket": t
                })));
                ticket_in(tx, org, id).await
            })
        })
        .await
}

/// Appends a troubleshooting step to a ticket's log (the log never changes afterwards).
pub async fn log_troubleshooting(store: &Store, acting: &Acting, ticket_id: Uuid, text: &str) -> Result<TicketEntry> {
    let text = long_text("text", text, 8000)?;
    if text.is_empty() {
        return Err(Invalid::one("text", "is required: what was tried or found").into());
    }
    let id = new_id();
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let org = writer(tx).await?;
                let t = ticket_in(tx, org, ticket_id).await?;
                if t.status == TicketStatus::Closed.as_str() {
                    return Err(Invalid::one("ticket_id", "the ticket is closed: open a new one").into());
                }
                let at = now();
                let author = tx.acting().user;
                exec!(
                    tx,
                    "INSERT INTO device_ticket_entries (id, ticket_id, author_user_id, at, text) VALUES ($1, $2, $3, $4, $5)",
                    id,
                    ticket_id,
                    author,
                    at,
                    &text
                )?;
                exec!(tx, "UPDATE device_tickets SET updated_at = $1 WHERE id = $2", at, ticket_id)?;
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "device_ticket", ticket_id)
                        .new_value(serde_json::json!({ "log_entry": id, "text": text })),
                );
                let author_name: Option<String> = match author {
                    Some(u) => tx_on!(tx, |c| sqlx::query_scalar("SELECT name FROM users WHERE id = $1")
                        .bind(u)
                        .fetch_optional(&mut *c)
                        .await)?,
                    None => None,
                };
                Ok(TicketEntry { id, ticket_id, author_user_id: author, author_name, at, text })
            })
        })
        .await
}

/// Moves a ticket along open → investigating → resolved → closed. Resolving needs the
/// resolution; closing a ticket whose complaint is still open is refused.
pub async fn set_ticket_status(
    store: &Store,
    acting: &Acting,
    ticket_id: Uuid,
    status: &str,
    resolution: &str,
) -> Result<Ticket> {
    let to = TicketStatus::parse(status)?;
    let resolution = long_text("resolution", resolution, 8000)?;
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let org = writer(tx).await?;
                let old = ticket_in(tx, org, ticket_id).await?;
                TicketStatus::parse(&old.status)?.transition(to)?;
                let resolution = if resolution.is_empty() { old.resolution.clone() } else { resolution };
                if to == TicketStatus::Resolved && resolution.is_empty() {
                    return Err(Invalid::one("resolution", "say how the issue was resolved").into());
                }
                if to == TicketStatus::Closed {
                    let open: Option<Uuid> = tx_on!(tx, |c| sqlx::query_scalar(
                        "SELECT id FROM device_complaints WHERE ticket_id = $1 AND status <> 'closed'"
                    )
                    .bind(ticket_id)
                    .fetch_optional(&mut *c)
                    .await)?;
                    if let Some(c) = open {
                        return Err(Invalid::one(
                            "status",
                            format!("complaint {c} raised from this ticket is still open: close it first"),
                        )
                        .into());
                    }
                }
                let t = now();
                let n = exec!(
                    tx,
                    "UPDATE device_tickets SET status = $1, resolution = $2, updated_at = $3,
                        resolved_at = CASE WHEN $1 = 'resolved' THEN $3 ELSE resolved_at END,
                        closed_at = CASE WHEN $1 = 'closed' THEN $3 ELSE closed_at END
                     WHERE id = $4 AND status = $5",
                    to.as_str(),
                    &resolution,
                    t,
                    ticket_id,
                    &old.status
                )?;
                super::changed_meanwhile(n)?;
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "device_ticket", ticket_id)
                        .old(serde_json::json!({ "status": old.status, "resolution": old.resolution }))
                        .new_value(serde_json::json!({ "status": to.as_str(), "resolution": resolution })),
                );
                ticket_in(tx, org, ticket_id).await
            })
        })
        .await
}

// ---------------------------------------------------------------- complaints

#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct Complaint {
    pub id: Uuid,
    pub ticket_id: Uuid,
    pub device_name: String,
    pub udi: String,
    pub received_on: NaiveDate,
    /// Day 0 of the reporting clock.
    pub aware_on: NaiveDate,
    pub complainant_name: String,
    pub complainant_contact: String,
    pub nature: String,
    pub details: String,
    pub investigation: String,
    pub no_investigation_reason: String,
    pub corrective_action: String,
    pub reply: String,
    pub reportability: Option<String>,
    pub remedial_action: bool,
    pub rationale: String,
    pub report_clock: Option<String>,
    pub report_due_on: Option<NaiveDate>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decided_by: Option<Uuid>,
    pub reported_on: Option<NaiveDate>,
    pub status: String,
    pub closed_at: Option<DateTime<Utc>>,
    pub closed_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// How a complaint stands against its reporting clock on a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ReportStanding {
    pub due_on: NaiveDate,
    /// 0 on the due day, negative once past it.
    pub days_remaining: i64,
    pub overdue: bool,
    pub reported: bool,
}

impl Complaint {
    pub fn is_closed(&self) -> bool {
        self.status == "closed"
    }
    /// Against its clock, when the decision made it reportable.
    pub fn standing(&self, today: NaiveDate) -> Option<ReportStanding> {
        let due = self.report_due_on?;
        let reported = self.reported_on.is_some();
        let left = days_remaining(due, self.reported_on.unwrap_or(today));
        Some(ReportStanding { due_on: due, days_remaining: left, overdue: left < 0, reported })
    }
}

const COMPLAINT_SELECT: &str = "SELECT id, ticket_id, device_name, udi, received_on, aware_on, complainant_name, complainant_contact, nature, details,
        investigation, no_investigation_reason, corrective_action, reply, reportability, remedial_action, rationale, report_clock,
        report_due_on, decided_at, decided_by, reported_on, status, closed_at, closed_by, created_at, updated_at
     FROM device_complaints";

pub fn complaint_report_rule(id: Uuid) -> String {
    format!("device.complaint_report:{id}")
}

const CLOSED: &str = "the complaint is closed and no longer changes";

pub async fn complaint(store: &Store, actor: &Actor, id: Uuid) -> Result<Complaint> {
    let org = reader(store, actor).await?;
    rows!(store, Complaint, format!("{COMPLAINT_SELECT} WHERE id = $1 AND org_id = $2"), id, org)?
        .pop()
        .ok_or(StoreError::NotFound("complaint"))
}

async fn complaint_in(tx: &mut Tx, org: Uuid, id: Uuid) -> Result<Complaint> {
    row_in!(tx, Complaint, format!("{COMPLAINT_SELECT} WHERE id = $1 AND org_id = $2"), id, org)?
        .ok_or(StoreError::NotFound("complaint"))
}

async fn open_complaint_in(tx: &mut Tx, org: Uuid, id: Uuid) -> Result<Complaint> {
    let c = complaint_in(tx, org, id).await?;
    if c.is_closed() {
        return Err(StoreError::Refused(CLOSED.into()));
    }
    Ok(c)
}

/// A complaint with its standing on the reporting clock.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ComplaintDeadline {
    pub complaint: Complaint,
    pub standing: Option<ReportStanding>,
}

/// Complaints of the reader's organization (open ones only, or all), soonest due first, each
/// with its days remaining on `today` and whether it is overdue.
pub async fn complaint_deadlines(
    store: &Store,
    actor: &Actor,
    today: NaiveDate,
    open_only: bool,
) -> Result<Vec<ComplaintDeadline>> {
    let org = reader(store, actor).await?;
    let all = rows!(
        store,
        Complaint,
        format!("{COMPLAINT_SELECT} WHERE org_id = $1 AND ($2 = FALSE OR status <> 'closed') ORDER BY created_at"),
        org,
        open_only
    )?;
    let mut out: Vec<ComplaintDeadline> =
        all.into_iter().map(|c| ComplaintDeadline { standing: c.standing(today), complaint: c }).collect();
    out.sort_by_key(|d| (d.standing.is_none(), d.standing.map(|s| s.due_on)));
    Ok(out)
}

/// Escalates a ticket to a complaint (one per ticket; a closed ticket cannot escalate).
pub async fn escalate_to_complaint(
    store: &Store,
    acting: &Acting,
    ticket_id: Uuid,
    input: ComplaintInput,
) -> Result<Complaint> {
    let k = input.check(now().date_naive())?;
    let id = new_id();
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let org = writer(tx).await?;
                let t = ticket_in(tx, org, ticket_id).await?;
                if t.status == TicketStatus::Closed.as_str() {
                    return Err(Invalid::one("ticket_id", "the ticket is closed: a complaint needs a live ticket").into());
                }
                let at = now();
                let by = tx.acting().user;
                exec!(
                    tx,
                    "INSERT INTO device_complaints (id, org_id, ticket_id, device_name, udi, received_on, aware_on, complainant_name, complainant_contact,
                        nature, details, status, created_by, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'open', $12, $13, $13)",
                    id,
                    org,
                    ticket_id,
                    &k.device_name,
                    &k.udi,
                    k.received_on,
                    k.aware_on,
                    &k.complainant_name,
                    &k.complainant_contact,
                    &k.nature,
                    &k.details,
                    by,
                    at
                )
                .map_err(|e| StoreError::from(e).unique_as("ticket_id", "this ticket already has a complaint"))?;
                tx.audit(
                    AuditEvent::new(AuditAction::Create, "device_complaint", id)
                        .new_value(serde_json::json!({ "ticket_id": ticket_id, "complaint": k })),
                );
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "device_ticket", ticket_id)
                        .new_value(serde_json::json!({ "escalated_to_complaint": id })),
                );
                complaint_in(tx, org, id).await
            })
        })
        .await
}

/// The parts of a complaint's handling recorded as it goes; `None` leaves a part as it is.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ComplaintHandling {
    pub investigation: Option<String>,
    pub no_investigation_reason: Option<String>,
    pub corrective_action: Option<String>,
    pub reply: Option<String>,
}

/// Records the investigation (or why none is made), the corrective action and the reply.
pub async fn record_handling(store: &Store, acting: &Acting, id: Uuid, h: ComplaintHandling) -> Result<Complaint> {
    let mut c = clinbridge_core::Checks::new();
    let mut text =
        |field: &str, v: &Option<String>| v.as_ref().and_then(|v| c.take(field, long_text(field, v, 20_000)));
    let investigation = text("investigation", &h.investigation);
    let no_reason = text("no_investigation_reason", &h.no_investigation_reason);
    let corrective = text("corrective_action", &h.corrective_action);
    let reply = text("reply", &h.reply);
    c.finish()?;
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let org = writer(tx).await?;
                let old = open_complaint_in(tx, org, id).await?;
                let investigation = investigation.unwrap_or_else(|| old.investigation.clone());
                let no_reason = no_reason.unwrap_or_else(|| old.no_investigation_reason.clone());
                let corrective = corrective.unwrap_or_else(|| old.corrective_action.clone());
                let reply = reply.unwrap_or_else(|| old.reply.clone());
                exec!(
                    tx,
                    "UPDATE device_complaints SET investigation = $1, no_investigation_reason = $2, corrective_action = $3, reply = $4, updated_at = $5
                     WHERE id = $6",
                    &investigation,
                    &no_reason,
                    &corrective,
                    &reply,
                    now(),
                    id
                )?;
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "device_complaint", id)
                        .old(serde_json::json!({
                            "investigation": old.investigation, "no_investigation_reason": old.no_investigation_reason,
                            "corrective_action": old.corrective_action, "reply": old.reply,
                        }))
                        .new_value(serde_json::json!({
                            "investigation": investigation, "no_investigation_reason": no_reason,
                            "corrective_action": corrective, "reply": reply,
                        })),
                );
                complaint_in(tx, org, id).await
            })
        })
        .await
}

/// Records the reportability decision. A reportable event starts the clock from the awareness
/// day (30 calendar days, or 5 work days with remedial action) and raises the reporting task
/// due that day; deciding again moves the task; "not reportable" (with its rationale) cancels it.
pub async fn decide_reportability(
    store: &Store,
    acting: &Acting,
    id: Uuid,
    reportability: &str,
    remedial_action: bool,
    rationale: &str,
) -> Result<Complaint> {
    let (r, rationale) = check_decision(reportability, remedial_action, rationale)?;
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let org = writer(tx).await?;
                let old = open_complaint_in(tx, org, id).await?;
                if old.reported_on.is_some() {
                    return Err(StoreError::Refused("the event is already reported: the decision stands".into()));
                }
                let clock = report_clock(r, remedial_action);
                let due = clock.map(|c| report_due(old.aware_on, c));
                let t = now();
                let by = tx.acting().user;
                exec!(
                    tx,
                    "UPDATE device_complaints SET reportability = $1, remedial_action = $2, rationale = $3, report_clock = $4, report_due_on = $5,
                        decided_at = $6, decided_by = $7, updated_at = $6 WHERE id = $8",
                    r.as_str(),
                    remedial_action,
                    &rationale,
                    clock.map(ReportClock::as_str),
                    due,
                    t,
                    by,
                    id
                )?;
                match (clock, due) {
                    (Some(clock), Some(due)) => {
                        let assignee = match by {
                            Some(u) => Assignee::User { user_id: u },
                            None => Assignee::Role { role: Role::ClinicalSpecialist, scope: Scope::Organization },
                        };
                        raise_in(
                            tx,
                            NewTask {
                                kind: "device_complaint_report".into(),
                                title: format!("Report to FDA ({}): {}", r.label(), old.device_name),
                                detail: format!(
                                    "Medical device report due within {} of awareness on {}: by {due}.",
                                    clock.label(),
                                    old.aware_on
                                ),
                                subject_type: "device_complaint".into(),
                                subject_id: id.to_string(),
                                study_id: None,
                                site_id: None,
                                assignee,
                                due_at: super::due_on(due),
                                rule: "device.complaint_report".into(),
                                rule_key: complaint_report_rule(id),
                            },
                        )
                        .await?;
                    }
                    _ => {
                        resolve_in(tx, &complaint_report_rule(id), TaskStatus::Cancelled).await?;
                    }
                }
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "device_complaint", id)
                        .old(serde_json::json!({ "reportability": old.reportability, "report_due_on": old.report_due_on }))
                        .new_value(serde_json::json!({
                            "reportability": r.as_str(), "remedial_action": remedial_action, "rationale": rationale,
                            "report_clock": clock.map(ReportClock::as_str), "report_due_on": due,
                        })),
                );
                complaint_in(tx, org, id).await
            })
        })
        .await
}

/// Records that the medical device report was submitted, and closes the reporting task.
pub async fn mark_reported(store: &Store, acting: &Acting, id: Uuid, reported_on: NaiveDate) -> Result<Complaint> {
    if reported_on > now().date_naive() {
        return Err(Invalid::one("reported_on", "must not be in the future").into());
    }
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let org = writer(tx).await?;
                let old = open_complaint_in(tx, org, id).await?;
                if old.report_due_on.is_none() {
                    return Err(Invalid::one("reportability", "the event is not decided reportable").into());
                }
                if reported_on < old.aware_on {
                    return Err(Invalid::one("reported_on", "must not be before the awareness day").into());
                }
                exec!(
                    tx,
                    "UPDATE device_complaints SET reported_on = $1, updated_at = $2 WHERE id = $3",
                    reported_on,
                    now(),
                    id
                )?;
                resolve_in(tx, &complaint_report_rule(id), TaskStatus::Done).await?;
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "device_complaint", id)
                        .new_value(serde_json::json!({ "reported_on": reported_on })),
                );
                complaint_in(tx, org, id).await
            })
        })
        .await
}

/// Closes a complaint: it needs an investigation or the reason for none, the reply to the
/// complainant and the reportability decision, and a reportable event must be reported.
pub async fn close_complaint(store: &Store, acting: &Acting, id: Uuid) -> Result<Complaint> {
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let org = writer(tx).await?;
                let old = open_complaint_in(tx, org, id).await?;
                check_complaint_close(
                    &old.investigation,
                    &old.no_investigation_reason,
                    &old.reply,
                    old.reportability.is_some(),
                )?;
                if old.report_due_on.is_some() && old.reported_on.is_none() {
                    return Err(Invalid::one(
                        "reported_on",
                        "the event is reportable: record the report before closing the complaint",
                    )
                    .into());
                }
                let t = now();
                let by = tx.acting().user;
                exec!(
                    tx,
                    "UPDATE device_complaints SET status = 'closed', closed_at = $1, closed_by = $2, updated_at = $1 WHERE id = $3",
                    t,
                    by,
                    id
                )?;
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "device_complaint", id)
                        .old(serde_json::json!({ "status": old.status }))
                        .new_value(serde_json::json!({ "status": "closed" })),
                );
                complaint_in(tx, org, id).await
            })
        })
        .await
}
