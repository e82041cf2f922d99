//! Medical information requests: only unsolicited questions are recorded; each gets an SLA
//! due time from its urgency and a task on the answering MSL's queue (rule key
//! `medical.request_sla:{id}`), resolved when the answer is sent or the request closes. The
//! requester's typed signature fixes the question, the requester and the delivery method; the
//! response can be written until the request is closed. Triggers back both rules.

use super::{Listed, hcp_in, json, require_user, user_zone};
use crate::tasks::{NewTask, raise_in, resolve_in};
use crate::{Acting, Result, Store, StoreError, Tx, exec, new_id, now, on, tx_on};
use chrono::{DateTime, Utc};
use clinbridge_core::Invalid;
use clinbridge_core::audit::{AuditAction, AuditEvent};
use clinbridge_core::medical::{
    CheckedRequest, DeliveryMethod, Material, RequestField, RequestInput, RequestStatus, SlaOutcome, Urgency,
    check_request_edit, label_list, long_text, materials, questions, sla_due, sla_outcome, typed_signature,
};
use clinbridge_core::tasks::{Assignee, TaskStatus};
use serde::Serialize;
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct MedicalRequest {
    pub id: Uuid,
    pub hcp_id: Uuid,
    pub hcp_name: String,
    pub unsolicited: bool,
    #[sqlx(try_from = "String")]
    pub questions: Listed<String>,
    #[sqlx(try_from = "String")]
    pub products: Listed<String>,
    pub urgency: String,
    pub received_at: DateTime<Utc>,
    pub sla_due_at: DateTime<Utc>,
    pub delivery_method: String,
    pub status: String,
    pub assigned_user_id: Uuid,
    pub assigned_name: String,
    pub interaction_id: Option<Uuid>,
    pub response: String,
    #[sqlx(try_from = "String")]
    pub response_documents: Listed<Material>,
    /// First time the answer was sent: the SLA is measured to it.
    pub answered_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub signed_name: Option<String>,
    pub signed_at: Option<DateTime<Utc>>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl MedicalRequest {
    pub fn status(&self) -> RequestStatus {
        RequestStatus::parse(&self.status).unwrap_or(RequestStatus::New)
    }
    /// Signed by the requester: question, requester and delivery method are fixed.
    pub fn locked(&self) -> bool {
        self.signed_at.is_some()
    }
    pub fn sla(&self, now: DateTime<Utc>) -> SlaOutcome {
        sla_outcome(self.sla_due_at, self.answered_at, now)
    }
    /// The moves this request can make now.
    pub fn next_statuses(&self) -> &'static [RequestStatus] {
        self.status().next()
    }
}

const REQUEST_SELECT: &str = "SELECT r.id, r.hcp_id, h.first_name || ' ' || h.last_name AS hcp_name, r.unsolicited, r.questions, r.products,
        r.urgency, r.received_at, r.sla_due_at, r.delivery_method, r.status, r.assigned_user_id, u.name AS assigned_name,
        r.interaction_id, r.response, r.response_documents, r.answered_at, r.closed_at, r.signed_name, r.signed_at,
        r.created_by, r.created_at, r.updated_at
     FROM medical_requests r JOIN medical_hcps h ON h.id = r.hcp_id JOIN users u ON u.id = r.assigned_user_id";

pub async fn request(store: &Store, id: Uuid) -> Result<MedicalRequest> {
    let sql = format!("{REQUEST_SELECT} WHERE r.id = $1");
    on!(store.db.read(), |c| sqlx::query_as::<_, MedicalRequest>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(id)
        .fetch_optional(c)
        .await)?
    .ok_or(StoreError::NotFound("medical information request"))
}

async fn request_in(tx: &mut Tx, id: Uuid) -> Result<MedicalRequest> {
    let sql = format!("{REQUEST_SELECT} WHERE r.id = $1");
    tx_on!(tx, |c| sqlx::query_as::<_, MedicalRequest>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(id)
        .fetch_optional(&mut *c)
        .await)?
    .ok_or(StoreError::NotFound("medical information request"))
}

/// Which requests to list; all filters optional. Soonest due first.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct RequestFilter {
    pub status: Option<String>,
    pub hcp_id: Option<Uuid>,
    pub assigned_user_id: Option<Uuid>,
    /// Only requests not yet answered whose SLA has passed.
    pub overdue: bool,
    /// Defaults to 200, at most 2000.
    pub limit: Option<i64>,
}

pub async fn requests(store: &Store, f: &RequestFilter) -> Result<Vec<MedicalRequest>> {
    if let Some(s) = &f.status {
        RequestStatus::parse(s)?;
    }
    let overdue_before = if f.overdue { Some(now()) } else { None };
    let sql = format!(
        "{REQUEST_SELECT}
         WHERE ($1 IS NULL OR r.status = $1) AND ($2 IS NULL OR r.hcp_id = $2) AND ($3 IS NULL OR r.assigned_user_id = $3)
           AND ($4 IS NULL OR (r.answered_at IS NULL AND r.status <> 'closed' AND r.sla_due_at < $4))
         ORDER BY r.sla_due_at, r.id LIMIT $5"
    );
    Ok(on!(store.db.read(), |c| sqlx::query_as::<_, MedicalRequest>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(f.status.as_deref())
        .bind(f.hcp_id)
        .bind(f.assigned_user_id)
        .bind(overdue_before)
        .bind(f.limit.unwrap_or(200).clamp(1, 2000))
        .fetch_all(c)
        .await)?)
}

fn sla_rule(id: Uuid) -> String {
    format!("medical.request_sla:{id}")
}

/// The rule keys of a request's open SLA tasks (one, unless something went wrong).
async fn open_sla_keys(tx: &mut Tx, id: Uuid) -> Result<Vec<String>> {
    Ok(tx_on!(tx, |c| {
        sqlx::query_scalar(
        "SELECT rule_key FROM tasks WHERE subject_type = 'medical_request' AND subject_id = $1 AND rule = 'medical.request_sla' AND status = 'open'"
    )
    .bind(id.to_string())
    .fetch_all(&mut *c)
    .await
    })?)
}

fn sla_task(id: Uuid, hcp_name: &str, urgency: Urgency, assignee: Uuid, due: DateTime<Utc>) -> NewTask {
    NewTask {
        kind: "medical_request_sla".into(),
        title: format!("Answer the medical information request from {hcp_name} ({})", urgency.as_str()),
        detail: match urgency {
            Urgency::Urgent => {
                format!("Urgent: answer within {} hours of receipt.", clinbridge_core::medical::URGENT_HOURS)
            }
            Urgency::Routine => format!(
                "Routine: answer within {} business days of receipt.",
                clinbridge_core::medical::ROUTINE_BUSINESS_DAYS
            ),
        },
        subject_type: "medical_request".into(),
        subject_id: id.to_string(),
        study_id: None,
        site_id: None,
        assignee: Assignee::User { user_id: assignee },
        due_at: due,
        rule: "medical.request_sla".into(),
        rule_key: sla_rule(id),
    }
}

/// Records an unsolicited medical information request. A request that is not unsolicited is
/// refused (field `unsolicited`) with the reason. The SLA due time follows the urgency in the
/// answering MSL's time zone, and a task due then goes on their queue.
pub async fn create_request(store: &Store, acting: &Acting, input: RequestInput) -> Result<MedicalRequest> {
    let r = input.check(now())?;
    let assignee = input
        .assigned_to
        .or(acting.user)
        .ok_or_else(|| StoreError::from(Invalid::one("assigned_to", "name the MSL who answers")))?;
    let interaction_id = input.interaction_id;
    let id = new_id();
    store
        .write(acting, move |tx| Box::pin(async move { create_request_in(tx, id, &r, assignee, interaction_id).await }))
        .await
}

pub(crate) async fn create_request_in(
    tx: &mut Tx,
    id: Uuid,
    r: &CheckedRequest,
    assignee: Uuid,
    interaction_id: Option<Uuid>,
) -> Result<MedicalRequest> {
    let h = hcp_in(tx, r.hcp_id).await.map_err(|e| match e {
        StoreError::NotFound(_) => Invalid::one("hcp_id", "is not a listed healthcare professional").into(),
        e => e,
    })?;
    require_user(tx, "assigned_to", assignee).await?;
    if let Some(i) = interaction_id {
        let found: Option<Uuid> =
            tx_on!(tx, |c| sqlx::query_scalar("SELECT id FROM medical_interactions WHERE id = $1")
                .bind(i)
                .fetch_optional(&mut *c)
                .await)?;
        if found.is_none() {
            return Err(Invalid::one("interaction_id", "is not a recorded interaction").into());
        }
    }
    let tz = user_zone(tx, assignee).await?;
    let due = sla_due(r.urgency, r.received_at, tz);
    let t = now();
    let by = tx.acting().user;
    exec!(
        tx,
        "INSERT INTO medical_requests (id, hcp_id, unsolicited, questions, products, urgency, received_at, sla_due_at, delivery_method,
            status, assigned_user_id, interaction_id, created_by, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'new', $10, $11, $12, $13, $13)",
        id,
        r.hcp_id,
        true,
        json(&r.questions)?,
        json(&r.products)?,
        r.urgency.as_str(),
        r.received_at,
        due,
        r.delivery_method.as_str(),
        assignee,
        interaction_id,
        by,
        t
    )?;
    tx.audit(AuditEvent::new(AuditAction::Create, "medical_request", id).new_value(serde_json::json!({
        "request": r, "unsolicited": true, "sla_due_at": due, "assigned_user_id": assignee, "interaction_id": interaction_id,
    })));
    raise_in(tx, sla_task(id, &h.display_name(), r.urgency, assignee, due)).await?;
    request_in(tx, id).await
}

/// Changes to a request; `None` leaves a part as it is. After the requester signed, changing
/// the questions, the requester or the delivery method is refused; a closed request refuses
/// every change.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct RequestEdit {
    pub questions: Option<Vec<String>>,
    pub hcp_id: Option<Uuid>,
    pub delivery_method: Option<String>,
    pub products: Option<Vec<String>>,
    pub urgency: Option<String>,
    pub assigned_to: Option<Uuid>,
}

pub async fn edit_request(store: &Store, acting: &Acting, id: Uuid, edit: RequestEdit) -> Result<MedicalRequest> {
    let mut checks = clinbridge_core::Checks::new();
    let new_questions = edit.questions.as_ref().and_then(|q| checks.take("questions", questions(q)));
    let new_products = edit.products.as_ref().and_then(|p| checks.take("products", label_list("products", p, 20, 80)));
    let new_delivery =
        edit.delivery_method.as_ref().and_then(|d| checks.take("delivery_method", DeliveryMethod::parse(d)));
    let new_urgency = edit.urgency.as_ref().and_then(|u| checks.take("urgency", Urgency::parse(u)));
    checks.finish()?;
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let old = request_in(tx, id).await?;
                let mut changes = Vec::new();
                if new_questions.as_ref().is_some_and(|q| *q != old.questions.0) {
                    changes.push(RequestField::Questions);
                }
                if edit.hcp_id.is_some_and(|h| h != old.hcp_id) {
                    changes.push(RequestField::Requester);
                }
                if new_delivery.is_some_and(|d| d.as_str() != old.delivery_method) {
                    changes.push(RequestField::DeliveryMethod);
                }
                if new_products.as_ref().is_some_and(|p| *p != old.products.0) {
                    changes.push(RequestField::Products);
                }
                if new_urgency.is_some_and(|u| u.as_str() != old.urgency) {
                    changes.push(RequestField::Urgency);
                }
                let reassigned = edit.assigned_to.filter(|a| *a != old.assigned_user_id);
                if changes.is_empty() && reassigned.is_none() {
                    return Ok(old);
                }
                if old.status() == RequestStatus::Closed {
                    return Err(StoreError::Refused("the request is closed and no longer changes".into()));
                }
                check_request_edit(old.status(), old.locked(), &changes)?;
                let hcp_id = edit.hcp_id.unwrap_or(old.hcp_id);
                let h = hcp_in(tx, hcp_id).await.map_err(|e| match e {
                    StoreError::NotFound(_) => Invalid::one("hcp_id", "is not a listed healthcare professional").into(),
                    e => e,
                })?;
                let assignee = reassigned.unwrap_or(old.assigned_user_id);
                require_user(tx, "assigned_to", assignee).await?;
                let urgency = new_urgency.unwrap_or(Urgency::parse(&old.urgency)?);
                let due = if new_urgency.is_some() || reassigned.is_some() {
                    let tz = user_zone(tx, assignee).await?;
                    sla_due(urgency, old.received_at, tz)
                } else {
                    old.sla_due_at
                };
                let questions = new_questions.unwrap_or_else(|| old.questions.0.clone());
                let products = new_products.unwrap_or_else(|| old.products.0.clone());
                let delivery = new_delivery.map(|d| d.as_str().to_string()).unwrap_or_else(|| old.delivery_method.clone());
                exec!(
                    tx,
                    "UPDATE medical_requests SET questions = $1, hcp_id = $2, delivery_method = $3, products = $4, urgency = $5,
                        sla_due_at = $6, assigned_user_id = $7, updated_at = $8 WHERE id = $9",
                    json(&questions)?,
                    hcp_id,
                    &delivery,
                    json(&products)?,
                    urgency.as_str(),
                    due,
                    assignee,
                    now(),
                    id
                )?;
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "medical_request", id)
                        .old(serde_json::json!({
                            "questions": old.questions, "hcp_id": old.hcp_id, "delivery_method": old.delivery_method,
                            "products": old.products, "urgency": old.urgency, "sla_due_at": old.sla_due_at,
                            "assigned_user_id": old.assigned_user_id,
                        }))
                        .new_value(serde_json::json!({
                            "questions": questions, "hcp_id": hcp_id, "delivery_method": delivery, "products": products,
                            "urgency": urgency.as_str(), "sla_due_at": due, "assigned_user_id": assignee,
                        })),
                );
                if old.answered_at.is_none() && (due != old.sla_due_at || reassigned.is_some() || hcp_id != old.hcp_id) {
                    let open = open_sla_keys(tx, id).await?;
                    let key = if reassigned.is_some() || open.is_empty() {
                        // An engine task keeps its assignee: close the old one and raise a
                        // fresh one for the new MSL.
                        for k in &open {
                            resolve_in(tx, k, TaskStatus::Cancelled).await?;
                        }
                        format!("{}:{}", sla_rule(id), new_id())
                    } else {
                        open[0].clone()
                    };
                    let mut task = sla_task(id, &h.display_name(), urgency, assignee, due);
                    task.rule_key = key;
                    raise_in(tx, task).await?;
                }
                request_in(tx, id).await
            })
        })
        .await
}

/// Records the requester's typed signature (their name, with the time); from then on the
/// question, requester and delivery method are fixed.
pub async fn sign_request(store: &Store, acting: &Acting, id: Uuid, typed_name: &str) -> Result<MedicalRequest> {
    let name = typed_signature(typed_name)?;
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let old = request_in(tx, id).await?;
                if old.status() == RequestStatus::Closed {
                    return Err(StoreError::Refused("the request is closed and no longer changes".into()));
                }
                if old.locked() {
                    return Err(StoreError::Refused(format!(
                        "the requester already signed this request ({})",
                        old.signed_name.unwrap_or_default()
                    )));
                }
                let t = now();
                exec!(
                    tx,
                    "UPDATE medical_requests SET signed_name = $1, signed_at = $2, updated_at = $2 WHERE id = $3",
                    &name,
                    t,
                    id
                )?;
                tx.audit(AuditEvent::new(AuditAction::Signature, "medical_request", id).new_value(serde_json::json!({
                    "signed_name": name, "signed_at": t, "meaning": "requester's signature on the request",
                    "questions": old.questions, "hcp_id": old.hcp_id, "delivery_method": old.delivery_method,
                })));
                request_in(tx, id).await
            })
        })
        .await
}

/// The answer as written: text and the documents sent (name and version).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ResponseInput {
    pub text: String,
    pub documents: Vec<Material>,
}

/// Writes or revises the response; allowed until the request is closed, signed or not.
pub async fn respond(store: &Store, acting: &Acting, id: Uuid, input: ResponseInput) -> Result<MedicalRequest> {
    let mut checks = clinbridge_core::Checks::new();
    let text = checks.take("response", long_text("response", &input.text, 50_000));
    let docs = checks.take("documents", materials("documents", &input.documents));
    checks.finish()?;
    let (text, docs) = (text.unwrap_or_default(), docs.unwrap_or_default());
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let old = request_in(tx, id).await?;
                check_request_edit(old.status(), old.locked(), &[RequestField::Response])?;
                exec!(
                    tx,
                    "UPDATE medical_requests SET response = $1, response_documents = $2, updated_at = $3 WHERE id = $4",
                    &text,
                    json(&docs)?,
                    now(),
                    id
                )?;
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "medical_request", id)
                        .old(serde_json::json!({ "response": old.response, "response_documents": old.response_documents }))
                        .new_value(serde_json::json!({ "response": text, "response_documents": docs })),
                );
                request_in(tx, id).await
            })
        })
        .await
}

/// Moves a request along new → in progress → answered → closed (answered may go back to in
/// progress for a follow-up question). Answering needs a response; the first answer stops the
/// SLA clock and resolves its task, closing resolves it if still open.
pub async fn move_request(store: &Store, acting: &Acting, id: Uuid, to: RequestStatus) -> Result<MedicalRequest> {
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let old = request_in(tx, id).await?;
                let from = old.status();
                from.transition(to)?;
                if to == RequestStatus::Answered && old.response.trim().is_empty() {
                    return Err(Invalid::one("response", "write the response before marking the request answered").into());
                }
                let t = now();
                let answered_at = if to == RequestStatus::Answered { old.answered_at.or(Some(t)) } else { old.answered_at };
                let closed_at = if to == RequestStatus::Closed { Some(t) } else { None };
                let n = exec!(
                    tx,
                    "UPDATE medical_requests SET status = $1, answered_at = $2, closed_at = $3, updated_at = $4 WHERE id = $5 AND status = $6",
                    to.as_str(),
                    answered_at,
                    closed_at,
                    t,
                    id,
                    from.as_str()
                )?;
                if n == 0 {
                    return Err(StoreError::conflict("status", "someone else moved this request just now; reload it"));
                }
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "medical_request", id)
                        .old(serde_json::json!({ "status": from.as_str() }))
                        .new_value(serde_json::json!({ "status": to.as_str(), "answered_at": answered_at, "closed_at": closed_at })),
                );
                if matches!(to, RequestStatus::Answered | RequestStatus::Closed) {
                    for k in open_sla_keys(tx, id).await? {
                        resolve_in(tx, &k, TaskStatus::Done).await?;
                    }
                }
                request_in(tx, id).await
            })
        })
        .await
}

/// SLA compliance of the requests received in a span: answered on time, answered late, open
/// and overdue, open and on track.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SlaCompliance {
    pub received: i64,
    pub answered_on_time: i64,
    pub answered_late: i64,
    pub open_overdue: i64,
    pub open_on_track: i64,
}

impl SlaCompliance {
    /// Share answered on time among those answered, in percent.
    pub fn on_time_percent(&self) -> Option<f64> {
        let answered = self.answered_on_time + self.answered_late;
        (answered > 0).then(|| 100.0 * self.answered_on_time as f64 / answered as f64)
    }
}

pub async fn request_sla(
    store: &Store,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    assigned_user_id: Option<Uuid>,
) -> Result<SlaCompliance> {
    let rows: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)> = on!(store.db.read(), |c| sqlx::query_as(
        "SELECT sla_due_at, answered_at FROM medical_requests WHERE received_at >= $1 AND received_at < $2
           AND ($3 IS NULL OR assigned_user_id = $3)"
    )
    .bind(from)
    .bind(to)
    .bind(assigned_user_id)
    .fetch_all(c)
    .await)?;
    let t = now();
    let mut out = SlaCompliance { received: rows.len() as i64, ..Default::default() };
    for (due, answered) in rows {
        match sla_outcome(due, answered, t) {
            SlaOutcome::AnsweredOnTime => out.answered_on_time += 1,
            SlaOutcome::AnsweredLate => out.answered_late += 1,
            SlaOutcome::OpenOverdue => out.open_overdue += 1,
            SlaOutcome::OpenOnTrack => out.open_on_track += 1,
        }
    }
    Ok(out)
}
