//! In-service training at accounts: a curriculum of competencies, hospital staff attending,
//! and per attendee and competency a sign-off typed by the trainer and by the trainee. Once
//! every competency of an attendee is signed on both sides the certificate runs for the
//! training's validity (the product's unless the training says otherwise) and a re-training
//! task (`device.retraining:{attendee id}`) falls due 30 days before it expires. Product
//! feedback from accounts, with one vote per user and a board by product and category.

use super::{account, department_of, due_on, member, product_name, reader, writer};
use crate::medical::Listed;
use crate::tasks::{NewTask, raise_in};
use crate::{Acting, Result, Store, StoreError, Tx, exec, new_id, now, on, tx_on};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use clinbridge_core::Invalid;
use clinbridge_core::audit::{AuditAction, AuditEvent};
use clinbridge_core::device::{
    AttendeeInput, FeedbackInput, FeedbackStatus, RETRAINING_LEAD_DAYS, SignSide, TrainingInput, certificate_expiry,
    typed_name,
};
use clinbridge_core::policy::Actor;
use clinbridge_core::tasks::Assignee;
use serde::Serialize;
use std::collections::BTreeMap;
use uuid::Uuid;

// ---------------------------------------------------------------- trainings

#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct Training {
    pub id: Uuid,
    pub institution_id: Uuid,
    pub institution_name: String,
    pub department: String,
    pub product_id: Uuid,
    pub product_name: String,
    #[sqlx(try_from = "String")]
    pub competencies: Listed<String>,
    pub held_on: NaiveDate,
    pub trainer_user_id: Uuid,
    pub trainer_name: String,
    pub validity_months: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct Attendee {
    pub id: Uuid,
    pub training_id: Uuid,
    pub name: String,
    pub role: String,
    pub email: String,
    pub certificate_expires_on: Option<NaiveDate>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct SignOff {
    pub id: Uuid,
    pub training_id: Uuid,
    pub attendee_id: Uuid,
    pub competency: String,
    pub trainer_name: Option<String>,
    pub trainer_signed_at: Option<DateTime<Utc>>,
    pub trainee_name: Option<String>,
    pub trainee_signed_at: Option<DateTime<Utc>>,
}

impl SignOff {
    /// Signed by both; the later signature's time.
    pub fn complete_at(&self) -> Option<DateTime<Utc>> {
        Some(self.trainer_signed_at?.max(self.trainee_signed_at?))
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TrainingDetail {
    pub training: Training,
    pub attendees: Vec<Attendee>,
    pub signoffs: Vec<SignOff>,
}

const TRAINING_SELECT: &str = "SELECT t.id, t.institution_id, i.name AS institution_name, t.department, t.product_id, p.name AS product_name,
        t.competencies, t.held_on, t.trainer_user_id, u.name AS trainer_name, t.validity_months, t.created_at, t.updated_at
     FROM device_trainings t JOIN medical_institutions i ON i.id = t.institution_id JOIN device_products p ON p.id = t.product_id
     JOIN users u ON u.id = t.trainer_user_id";
const ATTENDEE_SELECT: &str =
    "SELECT id, training_id, name, role, email, certificate_expires_on FROM device_training_attendees";
const SIGNOFF_SELECT: &str = "SELECT id, training_id, attendee_id, competency, trainer_name, trainer_signed_at, trainee_name, trainee_signed_at FROM device_signoffs";

pub fn retraining_rule(attendee_id: Uuid) -> String {
    format!("device.retraining:{attendee_id}")
}

/// Trainings of the reader's organization (at one account, or all), latest first.
pub async fn trainings(store: &Store, actor: &Actor, institution_id: Option<Uuid>) -> Result<Vec<Training>> {
    let org = reader(store, actor).await?;
    Ok(rows!(
        store,
        Training,
        format!(
            "{TRAINING_SELECT} WHERE t.org_id = $1 AND ($2 IS NULL OR t.institution_id = $2) ORDER BY t.held_on DESC, i.name"
        ),
        org,
        institution_id
    )?)
}

pub async fn training(store: &Store, actor: &Actor, id: Uuid) -> Result<TrainingDetail> {
    let org = reader(store, actor).await?;
    let training = rows!(store, Training, format!("{TRAINING_SELECT} WHERE t.id = $1 AND t.org_id = $2"), id, org)?
        .pop()
        .ok_or(StoreError::NotFound("training"))?;
    let attendees = rows!(store, Attendee, format!("{ATTENDEE_SELECT} WHERE training_id = $1 ORDER BY name"), id)?;
    let signoffs =
        rows!(store, SignOff, format!("{SIGNOFF_SELECT} WHERE training_id = $1 ORDER BY attendee_id, competency"), id)?;
    Ok(TrainingDetail { training, attendees, signoffs })
}

async fn training_in(tx: &mut Tx, org: Uuid, id: Uuid) -> Result<Training> {
    row_in!(tx, Training, format!("{TRAINING_SELECT} WHERE t.id = $1 AND t.org_id = $2"), id, org)?
        .ok_or(StoreError::NotFound("training"))
}

async fn insert_attendee(tx: &mut Tx, training_id: Uuid, a: &AttendeeInput) -> Result<Attendee> {
    let id = new_id();
    exec!(
        tx,
        "INSERT INTO device_training_attendees (id, training_id, name, role, email) VALUES ($1, $2, $3, $4, $5)",
        id,
        training_id,
        &a.name,
        &a.role,
        &a.email
    )
    .map_err(|e| StoreError::from(e).unique_as("name", &format!("{} already attends this training", a.name)))?;
    Ok(Attendee {
        id,
        training_id,
        name: a.name.clone(),
        role: a.role.clone(),
        email: a.email.clone(),
        certificate_expires_on: None,
    })
}

/// Records an in-service training with its curriculum and attendees. The trainer defaults to
/// the person recording it; the certificate validity to the product's.
pub async fn record_training(store: &Store, acting: &Acting, input: TrainingInput) -> Result<Training> {
    let k = input.check(now().date_naive())?;
    let id = new_id();
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let org = writer(tx).await?;
                let (name, departments) = account(tx, "institution_id", input.institution_id).await?;
                department_of("department", &k.department, &departments, &name)?;
                product_name(tx, org, "product_id", input.product_id).await?;
                let trainer = input
                    .trainer_user_id
                    .or(tx.acting().user)
                    .ok_or_else(|| Invalid::one("trainer_user_id", "is required"))?;
                member(tx, org, "trainer_user_id", trainer).await?;
                let months = match k.validity_months {
                    Some(m) => m,
                    None => tx_on!(tx, |c| sqlx::query_scalar::<_, i64>(
                        "SELECT certificate_months FROM device_products WHERE id = $1"
                    )
                    .bind(input.product_id)
                    .fetch_one(&mut *c)
                    .await)?,
                };
                let t = now();
                let by = tx.acting().user;
                exec!(
                    tx,
                    "INSERT INTO device_trainings (id, org_id, institution_id, department, product_id, competencies, held_on, trainer_user_id, validity_months,
                        created_by, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
                    id,
                    org,
                    input.institution_id,
                    &k.department,
                    input.product_id,
                    crate::json(&k.competencies)?,
                    k.held_on,
                    trainer,
                    months,
                    by,
                    t
                )?;
                for a in &k.attendees {
                    insert_attendee(tx, id, a).await?;
                }
                tx.audit(AuditEvent::new(AuditAction::Create, "device_training", id).new_value(serde_json::json!({
                    "institution_id": input.institution_id, "product_id": input.product_id, "trainer_user_id": trainer,
                    "validity_months": months, "training": k,
                })));
                training_in(tx, org, id).await
            })
        })
        .await
}

/// Adds an attendee to a training.
pub async fn add_attendee(store: &Store, acting: &Acting, training_id: Uuid, input: AttendeeInput) -> Result<Attendee> {
    let mut c = clinbridge_core::Checks::new();
    let name = c.take("name", clinbridge_core::required_text("name", &input.name, 200));
    let role = c.take("role", clinbridge_core::medical::optional_text("role", &input.role, 120));
    let email = if input.email.trim().is_empty() {
        Some(String::new())
    } else {
        c.take("email", clinbridge_core::identity::Email::parse(&input.email).map(|e| e.to_string()))
    };
    c.finish()?;
    let a = AttendeeInput {
        name: name.unwrap_or_default(),
        role: role.unwrap_or_default(),
        email: email.unwrap_or_default(),
    };
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let org = writer(tx).await?;
                training_in(tx, org, training_id).await?;
                let att = insert_attendee(tx, training_id, &a).await?;
                tx.audit(AuditEvent::new(AuditAction::Update, "device_training", training_id).new_value(
                    serde_json::json!({ "attendee": att.id, "name": a.name, "role": a.role, "email": a.email }),
                ));
                Ok(att)
            })
        })
        .await
}

/// Signs one competency of one attendee, on the trainer's side (the training's trainer only)
/// or the trainee's, with a typed name. Each side signs once. When the attendee's last
/// competency is signed on both sides the certificate expiry is set and the re-training task
/// raised on the trainer's queue.
pub async fn sign_competency(
    store: &Store,
    acting: &Acting,
    attendee_id: Uuid,
    competency: &str,
    side: SignSide,
    signed_name: &str,
) -> Result<Attendee> {
    let name = typed_name("signed_name", signed_name)?;
    let competency = competency.trim().to_string();
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let org = writer(tx).await?;
                // One sign-off of an attendee at a time (a row lock on PostgreSQL), so the one
                // completing the curriculum sees every other and sets the certificate.
                exec!(tx, "UPDATE device_training_attendees SET name = name WHERE id = $1", attendee_id)?;
                let att = row_in!(tx, Attendee, format!("{ATTENDEE_SELECT} WHERE id = $1"), attendee_id)?
                    .ok_or(StoreError::NotFound("attendee"))?;
                let tr = training_in(tx, org, att.training_id).await?;
                let Some(comp) = tr.competencies.iter().find(|c| c.eq_ignore_ascii_case(&competency)).cloned() else {
                    return Err(Invalid::one(
                        "competency",
                        format!("{competency:?} is not in this training's curriculum ({})", tr.competencies.join(", ")),
                    )
                    .into());
                };
                if side == SignSide::Trainer && tx.acting().user.is_some_and(|u| u != tr.trainer_user_id) {
                    return Err(Invalid::one("side", format!("only the trainer, {}, signs for the trainer", tr.trainer_name)).into());
                }
                let existing = row_in!(
                    tx,
                    SignOff,
                    format!("{SIGNOFF_SELECT} WHERE attendee_id = $1 AND competency = $2"),
                    attendee_id,
                    &comp
                )?;
                let t = now();
                let (name_col, at_col) = match side {
                    SignSide::Trainer => ("trainer_name", "trainer_signed_at"),
                    SignSide::Trainee => ("trainee_name", "trainee_signed_at"),
                };
                match existing {
                    Some(s) => {
                        let already = match side {
                            SignSide::Trainer => s.trainer_signed_at,
                            SignSide::Trainee => s.trainee_signed_at,
                        };
                        if let Some(at) = already {
                            return Err(StoreError::conflict(
                                "side",
                                &format!("{comp} is already signed on this side for {} (at {at})", att.name),
                            ));
                        }
                        let sql = format!("UPDATE device_signoffs SET {name_col} = $1, {at_col} = $2 WHERE id = $3");
                        tx_on!(tx, |c| sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                            .bind(&name)
                            .bind(t)
                            .bind(s.id)
                            .execute(&mut *c)
                            .await
                            .map(|r| r.rows_affected()))?;
                    }
                    None => {
                        let sql = format!(
                            "INSERT INTO device_signoffs (id, training_id, attendee_id, competency, {name_col}, {at_col}) VALUES ($1, $2, $3, $4, $5, $6)"
                        );
                        tx_on!(tx, |c| sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                            .bind(new_id())
                            .bind(tr.id)
                            .bind(attendee_id)
                            .bind(&comp)
                            .bind(&name)
                            .bind(t)
                            .execute(&mut *c)
                            .await
                            .map(|r| r.rows_affected()))?;
                    }
                }
                tx.audit(AuditEvent::new(AuditAction::Signature, "device_training", tr.id).new_value(serde_json::json!({
                    "attendee": attendee_id, "competency": comp, "side": side, "signed_name": name, "signed_at": t,
                })));
                let signed: Vec<SignOff> =
                    tx_on!(tx, |c| sqlx::query_as::<_, SignOff>(sqlx::AssertSqlSafe(format!("{SIGNOFF_SELECT} WHERE attendee_id = $1")))
                        .bind(attendee_id)
                        .fetch_all(&mut *c)
                        .await)?;
                let done: Vec<(String, DateTime<Utc>)> =
                    signed.iter().filter_map(|s| Some((s.competency.clone(), s.complete_at()?))).collect();
                if att.certificate_expires_on.is_none()
                    && let Some(expiry) = certificate_expiry(&tr.competencies, &done, tr.validity_months)
                {
                    exec!(tx, "UPDATE device_training_attendees SET certificate_expires_on = $1 WHERE id = $2", expiry, attendee_id)?;
                    tx.audit(AuditEvent::new(AuditAction::Update, "device_training", tr.id).new_value(serde_json::json!({
                        "attendee": attendee_id, "certificate_expires_on": expiry,
                    })));
                    raise_in(
                        tx,
                        NewTask {
                            kind: "device_retraining".into(),
                            title: format!("Re-train {} on {} at {}", att.name, tr.product_name, tr.institution_name),
                            detail: format!("The certificate from the training on {} expires on {expiry}.", tr.held_on),
                            subject_type: "device_training".into(),
                            subject_id: tr.id.to_string(),
                            study_id: None,
                            site_id: None,
                            assignee: Assignee::User { user_id: tr.trainer_user_id },
                            due_at: due_on(expiry - Duration::days(RETRAINING_LEAD_DAYS)),
                            rule: "device.retraining".into(),
                            rule_key: retraining_rule(attendee_id),
                        },
                    )
                    .await?;
                }
                row_in!(tx, Attendee, format!("{ATTENDEE_SELECT} WHERE id = $1"), attendee_id)?
                    .ok_or(StoreError::NotFound("attendee"))
            })
        })
        .await
}

/// How much of the curriculum an account's trained staff have signed off.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Coverage {
    pub institution_id: Uuid,
    pub institution_name: String,
    /// Attendee × competency pairs taught.
    pub taught: i64,
    /// Of those, signed by trainer and trainee.
    pub signed: i64,
    /// Attendees holding a certificate valid today.
    pub certified: i64,
}

impl Coverage {
    /// The signed-off share, 0 to 1.
    pub fn share(&self) -> f64 {
        if self.taught == 0 { 0.0 } else { self.signed as f64 / self.taught as f64 }
    }
}

/// Competency coverage per account: of every competency taught to every attendee, the share
/// signed off on both sides.
pub async fn competency_coverage(store: &Store, actor: &Actor, today: NaiveDate) -> Result<Vec<Coverage>> {
    let org = reader(store, actor).await?;
    let taught: Vec<(Uuid, String, String, i64)> = rows!(
        store,
        (Uuid, String, String, i64),
        "SELECT t.institution_id, i.name, t.competencies, (SELECT COUNT(*) FROM device_training_attendees a WHERE a.training_id = t.id)
         FROM device_trainings t JOIN medical_institutions i ON i.id = t.institution_id WHERE t.org_id = $1",
        org
    )?;
    let signed: Vec<(Uuid, i64)> = rows!(
        store,
        (Uuid, i64),
        "SELECT t.institution_id, COUNT(*) FROM device_signoffs s JOIN device_trainings t ON t.id = s.training_id
         WHERE t.org_id = $1 AND s.trainer_signed_at IS NOT NULL AND s.trainee_signed_at IS NOT NULL GROUP BY t.institution_id",
        org
    )?;
    let certified: Vec<(Uuid, i64)> = rows!(
        store,
        (Uuid, i64),
        "SELECT t.institution_id, COUNT(*) FROM device_training_attendees a JOIN device_trainings t ON t.id = a.training_id
         WHERE t.org_id = $1 AND a.certificate_expires_on >= $2 GROUP BY t.institution_id",
        org,
        today
    )?;
    let mut by: BTreeMap<Uuid, Coverage> = BTreeMap::new();
    for (inst, name, comps, attendees) in taught {
        let n = serde_json::from_str::<Vec<String>>(&comps).map(|c| c.len() as i64).unwrap_or(0);
        let e = by.entry(inst).or_insert(Coverage {
            institution_id: inst,
            institution_name: name,
            taught: 0,
            signed: 0,
            certified: 0,
        });
        e.taught += n * attendees;
    }
    for (inst, n) in signed {
        if let Some(e) = by.get_mut(&inst) {
            e.signed = n;
        }
    }
    for (inst, n) in certified {
        if let Some(e) = by.get_mut(&inst) {
            e.certified = n;
        }
    }
    let mut out: Vec<Coverage> = by.into_values().collect();
    out.sort_by(|a, b| a.institution_name.cmp(&b.institution_name));
    Ok(out)
}

// ---------------------------------------------------------------- product feedback

#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct Feedback {
    pub id: Uuid,
    pub institution_id: Uuid,
    pub institution_name: String,
    pub product_id: Uuid,
    pub product_name: String,
    pub category: String,
    pub text: String,
    pub status: String,
    pub votes: i64,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const FEEDBACK_SELECT: &str = "SELECT f.id, f.institution_id, i.name AS institution_name, f.product_id, p.name AS product_name, f.category, f.text,
        f.status, (SELECT COUNT(*) FROM device_feedback_votes v WHERE v.feedback_id = f.id) AS votes, f.created_by, f.created_at, f.updated_at
     FROM device_feedback f JOIN medical_institutions i ON i.id = f.institution_id JOIN device_products p ON p.id = f.product_id";

/// Feedback of the reader's organization (for one product, or all), most votes first.
pub async fn feedback(store: &Store, actor: &Actor, product_id: Option<Uuid>) -> Result<Vec<Feedback>> {
    let org = reader(store, actor).await?;
    Ok(rows!(
        store,
        Feedback,
        format!(
            "{FEEDBACK_SELECT} WHERE f.org_id = $1 AND ($2 IS NULL OR f.product_id = $2) ORDER BY votes DESC, f.created_at"
        ),
        org,
        product_id
    )?)
}

async fn feedback_in(tx: &mut Tx, org: Uuid, id: Uuid) -> Result<Feedback> {
    row_in!(tx, Feedback, format!("{FEEDBACK_SELECT} WHERE f.id = $1 AND f.org_id = $2"), id, org)?
        .ok_or(StoreError::NotFound("feedback"))
}

pub async fn submit_feedback(store: &Store, acting: &Acting, input: FeedbackInput) -> Result<Feedback> {
    let f = input.check()?;
    let id = new_id();
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let org = writer(tx).await?;
                account(tx, "institution_id", input.institution_id).await?;
                product_name(tx, org, "product_id", input.product_id).await?;
                let by = tx.acting().user;
                exec!(
                    tx,
                    "INSERT INTO device_feedback (id, org_id, institution_id, product_id, category, text, status, created_by, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, 'new', $7, $8, $8)",
                    id,
                    org,
                    input.institution_id,
                    input.product_id,
                    f.category.as_str(),
                    &f.text,
                    by,
                    now()
                )?;
                tx.audit(AuditEvent::new(AuditAction::Create, "device_feedback", id).new_value(serde_json::json!({
                    "institution_id": input.institution_id, "product_id": input.product_id, "feedback": f
                })));
                feedback_in(tx, org, id).await
            })
        })
        .await
}

/// Votes for a piece of feedback: once per user.
pub async fn vote(store: &Store, acting: &Acting, feedback_id: Uuid) -> Result<Feedback> {
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let org = writer(tx).await?;
                feedback_in(tx, org, feedback_id).await?;
                let Some(user) = tx.acting().user else {
                    return Err(StoreError::Refused("a vote is a person's".into()));
                };
                exec!(
                    tx,
                    "INSERT INTO device_feedback_votes (feedback_id, user_id, created_at) VALUES ($1, $2, $3)",
                    feedback_id,
                    user,
                    now()
                )
                .map_err(|e| StoreError::from(e).unique_as("vote", "you have already voted for this feedback"))?;
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "device_feedback", feedback_id)
                        .new_value(serde_json::json!({ "vote": user })),
                );
                feedback_in(tx, org, feedback_id).await
            })
        })
        .await
}

pub async fn set_feedback_status(store: &Store, acting: &Acting, feedback_id: Uuid, status: &str) -> Result<Feedback> {
    let status = FeedbackStatus::parse(status)?;
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let org = writer(tx).await?;
                let old = feedback_in(tx, org, feedback_id).await?;
                exec!(
                    tx,
                    "UPDATE device_feedback SET status = $1, updated_at = $2 WHERE id = $3",
                    status.as_str(),
                    now(),
                    feedback_id
                )?;
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "device_feedback", feedback_id)
                        .old(serde_json::json!({ "status": old.status }))
                        .new_value(serde_json::json!({ "status": status.as_str() })),
                );
                feedback_in(tx, org, feedback_id).await
            })
        })
        .await
}

/// One cell of the feedback board: a product and a category.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct BoardCell {
    pub product_id: Uuid,
    pub product_name: String,
    pub category: String,
    pub items: i64,
    pub votes: i64,
    /// Items still open (new, under review or planned).
    pub open_items: i64,
}

/// The feedback board: items and votes by product and category.
pub async fn feedback_board(store: &Store, actor: &Actor) -> Result<Vec<BoardCell>> {
    let org = reader(store, actor).await?;
    Ok(rows!(
        store,
        BoardCell,
        "SELECT f.product_id, p.name AS product_name, f.category, COUNT(*) AS items,
            CAST(COALESCE(SUM(v.n), 0) AS BIGINT) AS votes,
            CAST(SUM(CASE WHEN f.status IN ('new', 'under_review', 'planned') THEN 1 ELSE 0 END) AS BIGINT) AS open_items
         FROM device_feedback f JOIN device_products p ON p.id = f.product_id
         LEFT JOIN (SELECT feedback_id, COUNT(*) AS n FROM device_feedback_votes GROUP BY feedback_id) v ON v.feedback_id = f.id
         WHERE f.org_id = $1 GROUP BY f.product_id, p.name, f.category ORDER BY p.name, f.category",
        org
    )?)
}

/// The training an attendee took part in.
pub async fn attendee_training(store: &Store, actor: &Actor, attendee_id: Uuid) -> Result<Uuid> {
    let org = reader(store, actor).await?;
    let found: Option<Uuid> = on!(store.db.read(), |c| sqlx::query_scalar(
        "SELECT a.training_id FROM device_training_attendees a JOIN device_trainings t ON t.id = a.training_id
         WHERE a.id = $1 AND t.org_id = $2"
    )
    .bind(attendee_id)
    .bind(org)
    .fetch_optional(c)
    .await)?;
    found.ok_or(StoreError::NotFound("attendee"))
}
