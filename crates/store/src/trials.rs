//! Trials: studies (descriptive fields and status lifecycle), arms and protocol versions.
//! Every change is audited with old and new values; status changes carry their reason.

use crate::{Acting, Result, Store, StoreError, Tx, exec, new_id, now, on, tx_on};
use chrono::{DateTime, NaiveDate, Utc};
use clinbridge_core::audit::{AuditAction, AuditEvent};
use clinbridge_core::identity::Code;
use clinbridge_core::trials::{StudyDetails, StudyStatus, allocation_ratio, optional_text, transition};
use serde::Serialize;
use uuid::Uuid;

pub mod schedule;

#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct Study {
    pub id: Uuid,
    pub code: String,
    pub title: String,
    pub status: String,
    pub short_title: String,
    pub protocol_number: String,
    pub phase: String,
    pub sponsor: String,
    pub registry_id: String,
    pub ind_ide: String,
    pub therapeutic_area: String,
    pub target_enrollment: i64,
}

impl Study {
    pub fn status(&self) -> StudyStatus {
        StudyStatus::parse(&self.status).unwrap_or(StudyStatus::Draft)
    }
    /// The name people use day to day: the short title, or the code.
    pub fn display_name(&self) -> &str {
        if self.short_title.is_empty() { &self.code } else { &self.short_title }
    }
}

const STUDY_COLUMNS: &str = "id, code, title, status, short_title, protocol_number, phase, sponsor, registry_id, ind_ide, therapeutic_area, target_enrollment";

/// A study with only a code and a title (the rest can follow).
pub fn minimal(title: &str) -> StudyDetails {
    StudyDetails {
        title: title.trim().to_string(),
        short_title: String::new(),
        protocol_number: String::new(),
        phase: "not_applicable".into(),
        sponsor: String::new(),
        registry_id: String::new(),
        ind_ide: String::new(),
        therapeutic_area: String::new(),
        target_enrollment: 0,
    }
}

pub async fn create_study(store: &Store, acting: &Acting, code: Code, details: StudyDetails) -> Result<Study> {
    if details.title.is_empty() {
        return Err(clinbridge_core::Invalid::one("title", "is required").into());
    }
    let org = crate::identity::organization(store).await?;
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let id = new_id();
                let t = now();
                exec!(
                    tx,
                    "INSERT INTO studies (id, org_id, code, title, status, short_title, protocol_number, phase, sponsor, registry_id, ind_ide, therapeutic_area, target_enrollment, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, 'draft', $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)",
                    id,
                    org.id,
                    code.as_str(),
                    &details.title,
                    &details.short_title,
                    &details.protocol_number,
                    &details.phase,
                    &details.sponsor,
                    &details.registry_id,
                    &details.ind_ide,
                    &details.therapeutic_area,
                    details.target_enrollment,
                    t
                )
                .map_err(|e| StoreError::from(e).unique_as("code", "is already used by another study"))?;
                let study = study_in(tx, id).await?;
                tx.audit(AuditEvent::new(AuditAction::Create, "study", id).new_value(&study));
                Ok(study)
            })
        })
        .await
}

pub(crate) async fn study_in(tx: &mut Tx, id: Uuid) -> Result<Study> {
    let sql = format!("SELECT {STUDY_COLUMNS} FROM studies WHERE id = $1");
    tx_on!(tx, |c| sqlx::query_as::<_, Study>(sqlx::AssertSqlSafe(sql.clone())).bind(id).fetch_optional(&mut *c).await)?
        .ok_or(StoreError::NotFound("study"))
}

pub async fn update_study(store: &Store, acting: &Acting, id: Uuid, details: StudyDetails) -> Result<Study> {
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let old = study_in(tx, id).await?;
                exec!(
                    tx,
                    "UPDATE studies SET title = $1, short_title = $2, protocol_number = $3, phase = $4, sponsor = $5, registry_id = $6,
                            ind_ide = $7, therapeutic_area = $8, target_enrollment = $9, updated_at = $10 WHERE id = $11",
                    &details.title,
                    &details.short_title,
                    &details.protocol_number,
                    &details.phase,
                    &details.sponsor,
                    &details.registry_id,
                    &details.ind_ide,
                    &details.therapeutic_area,
                    details.target_enrollment,
                    now(),
                    id
                )?;
                let new = study_in(tx, id).await?;
                if new != old {
                    tx.audit(AuditEvent::new(AuditAction::Update, "study", id).old(&old).new_value(&new));
                }
                Ok(new)
            })
        })
        .await
}

/// Moves a study along its lifecycle. The row is locked by the update itself, so two people
/// changing the status at once cannot both succeed from the same state.
pub async fn set_status(
    store: &Store,
    acting: &Acting,
    id: Uuid,
    to: StudyStatus,
    reason: Option<String>,
) -> Result<Study> {
    let reason = reason.map(|r| r.trim().to_string()).filter(|r| !r.is_empty());
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let old = study_in(tx, id).await?;
                let from = old.status();
                transition(from, to, reason.as_deref())?;
                let n = exec!(
                    tx,
                    "UPDATE studies SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4",
                    to.as_str(),
                    now(),
                    id,
                    from.as_str()
                )?;
                if n != 1 {
                    return Err(StoreError::Refused(
                        "the study's status changed meanwhile; reload and try again".into(),
                    ));
                }
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "study", id)
                        .old(serde_json::json!({"status": from.as_str()}))
                        .new_value(serde_json::json!({"status": to.as_str()}))
                        .reason(reason),
                );
                study_in(tx, id).await
            })
        })
        .await
}

pub async fn studies(store: &Store) -> Result<Vec<Study>> {
    let sql = format!("SELECT {STUDY_COLUMNS} FROM studies ORDER BY code");
    Ok(on!(store.db.read(), |c| sqlx::query_as::<_, Study>(sqlx::AssertSqlSafe(sql.clone())).fetch_all(c).await)?)
}

pub async fn study_by_code(store: &Store, code: &str) -> Result<Study> {
    let code = code.trim().to_uppercase();
    let sql = format!("SELECT {STUDY_COLUMNS} FROM studies WHERE code = $1");
    on!(store.db.read(), |c| sqlx::query_as::<_, Study>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(&code)
        .fetch_optional(c)
        .await)?
    .ok_or(StoreError::NotFound("study"))
}

pub async fn study(store: &Store, id: Uuid) -> Result<Study> {
    let sql = format!("SELECT {STUDY_COLUMNS} FROM studies WHERE id = $1");
    on!(store.db.read(), |c| sqlx::query_as::<_, Study>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(id)
        .fetch_optional(c)
        .await)?
    .ok_or(StoreError::NotFound("study"))
}

// ---------------------------------------------------------------- arms

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Arm {
    pub id: Uuid,
    pub study_id: Uuid,
    pub code: String,
    pub name: String,
    pub allocation_ratio: i64,
    pub description: String,
}

/// Arms may change only before enrollment starts: after that they carry randomized
/// participants and a fixed allocation.
fn arms_editable(status: StudyStatus) -> Result<()> {
    match status {
        StudyStatus::Draft | StudyStatus::Approved => Ok(()),
        other => Err(StoreError::Refused(format!(
            "arms cannot change once a study is {} (the allocation is fixed); record a protocol amendment instead",
            other.label().to_lowercase()
        ))),
    }
}

pub async fn add_arm(
    store: &Store,
    acting: &Acting,
    study_id: Uuid,
    code: &str,
    name: &str,
    ratio: i64,
    description: &str,
) -> Result<Arm> {
    let mut c = clinbridge_core::Checks::new();
    let code = c.take("code", Code::parse("code", code));
    let name = c.take("name", clinbridge_core::required_text("name", name, 120));
    let ratio = c.take("allocation_ratio", allocation_ratio(ratio));
    let description = c.take("description", optional_text("description", description, 1000));
    c.finish()?;
    let (Some(code), Some(name), Some(ratio), Some(description)) = (code, name, ratio, description) else {
        return Err(StoreError::Internal("arm checks".into()));
    };
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let study = study_in(tx, study_id).await?;
                arms_editable(study.status())?;
                let arm = Arm { id: new_id(), study_id, code: code.as_str().to_string(), name, allocation_ratio: ratio, description };
                exec!(
                    tx,
                    "INSERT INTO study_arms (id, study_id, code, name, allocation_ratio, description, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    arm.id,
                    study_id,
                    &arm.code,
                    &arm.name,
                    arm.allocation_ratio,
                    &arm.description,
                    now()
                )
                .map_err(|e| StoreError::from(e).unique_as("code", "is already used by another arm of this study"))?;
                tx.audit(AuditEvent::new(AuditAction::Create, "study_arm", arm.id).new_value(&arm));
                Ok(arm)
            })
        })
        .await
}

pub async fn arms(store: &Store, study_id: Uuid) -> Result<Vec<Arm>> {
    Ok(on!(store.db.read(), |c| {
        sqlx::query_as::<_, Arm>(
        "SELECT id, study_id, code, name, allocation_ratio, description FROM study_arms WHERE study_id = $1 ORDER BY code"
    )
    .bind(study_id)
    .fetch_all(c)
    .await
    })?)
}

// ---------------------------------------------------------------- protocol versions

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ProtocolVersion {
    pub id: Uuid,
    pub study_id: Uuid,
    pub version: String,
    pub amendment: String,
    pub effective_on: NaiveDate,
    pub summary: String,
    pub created_at: DateTime<Utc>,
}

pub async fn add_protocol_version(
    store: &Store,
    acting: &Acting,
    study_id: Uuid,
    version: &str,
    amendment: &str,
    effective_on: NaiveDate,
    summary: &str,
) -> Result<ProtocolVersion> {
    let mut c = clinbridge_core::Checks::new();
    let version = c.take("version", clinbridge_core::required_text("version", version, 40));
    let amendment = c.take("amendment", optional_text("amendment", amendment, 40));
    let summary = summary.trim().to_string();
    if summary.chars().count() > 4000 {
        c.push("summary", "must be at most 4000 characters");
    }
    c.finish()?;
    let (Some(version), Some(amendment)) = (version, amendment) else {
        return Err(StoreError::Internal("protocol version checks".into()));
    };
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                study_in(tx, study_id).await?;
                let v = ProtocolVersion { id: new_id(), study_id, version, amendment, effective_on, summary, created_at: now() };
                exec!(
                    tx,
                    "INSERT INTO protocol_versions (id, study_id, version, amendment, effective_on, summary, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    v.id,
                    study_id,
                    &v.version,
                    &v.amendment,
                    v.effective_on,
                    &v.summary,
                    v.created_at
                )
                .map_err(|e| StoreError::from(e).unique_as("version", "already exists for this study"))?;
                tx.audit(AuditEvent::new(AuditAction::Create, "protocol_version", v.id).new_value(&v));
                Ok(v)
            })
        })
        .await
}

/// Protocol versions, newest effective first.
pub async fn protocol_versions(store: &Store, study_id: Uuid) -> Result<Vec<ProtocolVersion>> {
    Ok(on!(store.db.read(), |c| sqlx::query_as::<_, ProtocolVersion>(
        "SELECT id, study_id, version, amendment, effective_on, summary, created_at FROM protocol_versions
         WHERE study_id = $1 ORDER BY effective_on DESC, version DESC"
    )
    .bind(study_id)
    .fetch_all(c)
    .await)?)
}

// ---------------------------------------------------------------- participating sites

#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct StudySite {
    pub id: Uuid,
    pub study_id: Uuid,
    pub site_id: Uuid,
    pub site_code: String,
    pub site_name: String,
    pub site_time_zone: String,
    pub pi_user_id: Option<Uuid>,
    pub pi_name: Option<String>,
    pub irb_name: String,
    pub irb_approved_on: Option<NaiveDate>,
    pub irb_expires_on: Option<NaiveDate>,
    pub activated_on: Option<NaiveDate>,
    pub target_enrollment: i64,
}

impl StudySite {
    /// The site's time zone (UTC if the stored name no longer parses).
    pub fn tz(&self) -> chrono_tz::Tz {
        self.site_time_zone.parse().unwrap_or(chrono_tz::UTC)
    }
    /// Why this site may not screen or enroll today, if it may not.
    pub fn enrollment_block(&self, study: &Study, today: NaiveDate) -> Option<String> {
        clinbridge_core::trials::enrollment_block(today, study.status(), self.activated_on, self.irb_expires_on)
    }
}

const STUDY_SITE_SELECT: &str = "SELECT ss.id, ss.study_id, ss.site_id, s.code AS site_code, s.name AS site_name, s.time_zone AS site_time_zone,
        ss.pi_user_id, u.name AS pi_name, ss.irb_name, ss.irb_approved_on, ss.irb_expires_on, ss.activated_on, ss.target_enrollment
     FROM study_sites ss JOIN sites s ON s.id = ss.site_id LEFT JOIN users u ON u.id = ss.pi_user_id";

/// What a participating site's record holds, as entered.
#[derive(Debug, Clone, Default)]
pub struct StudySiteInput {
    pub pi_user_id: Option<Uuid>,
    pub irb_name: String,
    pub irb_approved_on: Option<NaiveDate>,
    pub irb_expires_on: Option<NaiveDate>,
    pub activated_on: Option<NaiveDate>,
    pub target_enrollment: i64,
}

impl StudySiteInput {
    fn check(&self) -> Result<()> {
        let mut c = clinbridge_core::Checks::new();
        if let Err(e) = optional_text("irb_name", &self.irb_name, 200) {
            c.take::<()>("irb_name", Err(e));
        }
        if let (Some(a), Some(e)) = (self.irb_approved_on, self.irb_expires_on)
            && e < a
        {
            c.push("irb_expires_on", "must not be before the approval date");
        }
        if !(0..=100_000).contains(&self.target_enrollment) {
            c.push("target_enrollment", "must be between 0 and 100,000");
        }
        Ok(c.finish()?)
    }
}

/// The principal investigator must be an active user who is an investigator at that site
/// (or for the whole study or organization).
async fn check_pi(tx: &mut Tx, pi: Option<Uuid>, study_id: Uuid, site_id: Uuid) -> Result<()> {
    let Some(pi) = pi else { return Ok(()) };
    let n: i64 = tx_on!(tx, |c| {
        sqlx::query_scalar(
        "SELECT COUNT(*) FROM users u JOIN grants g ON g.user_id = u.id
         WHERE u.id = $1 AND u.active = $2 AND g.role = 'investigator'
           AND (g.scope_kind = 'organization' OR (g.scope_kind = 'site' AND g.scope_id = $3) OR (g.scope_kind = 'study' AND g.scope_id = $4))"
    )
    .bind(pi)
    .bind(true)
    .bind(site_id)
    .bind(study_id)
    .fetch_one(&mut *c)
    .await
    })?;
    if n == 0 {
        return Err(clinbridge_core::Invalid::one("pi", "must be an active investigator at this site").into());
    }
    Ok(())
}

async fn study_site_in(tx: &mut Tx, id: Uuid) -> Result<StudySite> {
    let sql = format!("{STUDY_SITE_SELECT} WHERE ss.id = $1");
    tx_on!(tx, |c| sqlx::query_as::<_, StudySite>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(id)
        .fetch_optional(&mut *c)
        .await)?
    .ok_or(StoreError::NotFound("participating site"))
}

fn renewal_key(ss: &StudySite) -> Option<String> {
    ss.irb_expires_on.map(|e| format!("trials.irb_renewal:{}:{e}", ss.id))
}

/// Raises the IRB renewal task when the approval expires within the notice period; closes
/// the task of an expiry date that no longer holds.
async fn renewal_task_in(
    tx: &mut Tx,
    study: &Study,
    ss: &StudySite,
    old_key: Option<String>,
    today: NaiveDate,
) -> Result<()> {
    let key = renewal_key(ss);
    if let Some(old) = old_key
        && Some(&old) != key.as_ref()
    {
        crate::tasks::resolve_in(tx, &old, clinbridge_core::tasks::TaskStatus::Done).await?;
    }
    let (Some(key), Some(expires)) = (key, ss.irb_expires_on) else { return Ok(()) };
    if (expires - today).num_days() > clinbridge_core::trials::IRB_RENEWAL_NOTICE_DAYS {
        return Ok(());
    }
    let due = clinbridge_core::scheduling::calendar::local_instant(ss.tz(), expires, chrono::NaiveTime::MIN, "due_at")
        .unwrap_or_else(|_| now());
    crate::tasks::raise_in(
        tx,
        crate::tasks::NewTask {
            kind: "irb_renewal".into(),
            title: format!("Renew the IRB approval of {} at {} (expires {expires})", study.code, ss.site_code),
            detail: format!(
                "IRB of record: {}. Once it expires the site cannot screen or enroll in {}.",
                if ss.irb_name.is_empty() { "not recorded" } else { &ss.irb_name },
                study.code
            ),
            subject_type: "study_site".into(),
            subject_id: ss.id.to_string(),
            study_id: Some(study.id),
            site_id: Some(ss.site_id),
            assignee: clinbridge_core::tasks::Assignee::Role {
                role: clinbridge_core::identity::Role::Coordinator,
                scope: clinbridge_core::identity::Scope::Site(ss.site_id),
            },
            due_at: due,
            rule: "trials.irb_renewal".into(),
            rule_key: key,
        },
    )
    .await?;
    Ok(())
}

pub async fn add_study_site(
    store: &Store,
    acting: &Acting,
    study_id: Uuid,
    site_id: Uuid,
    input: StudySiteInput,
) -> Result<StudySite> {
    input.check()?;
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let study = study_in(tx, study_id).await?;
                check_pi(tx, input.pi_user_id, study_id, site_id).await?;
                let id = new_id();
                let t = now();
                exec!(
                    tx,
                    "INSERT INTO study_sites (id, study_id, site_id, pi_user_id, irb_name, irb_approved_on, irb_expires_on, activated_on, target_enrollment, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
                    id,
                    study_id,
                    site_id,
                    input.pi_user_id,
                    input.irb_name.trim(),
                    input.irb_approved_on,
                    input.irb_expires_on,
                    input.activated_on,
                    input.target_enrollment,
                    t
                )
                .map_err(|e| StoreError::from(e).unique_as("site", "already takes part in this study"))?;
                let ss = study_site_in(tx, id).await?;
                tx.audit(AuditEvent::new(AuditAction::Create, "study_site", id).new_value(&ss));
                renewal_task_in(tx, &study, &ss, None, t.date_naive()).await?;
                Ok(ss)
            })
        })
        .await
}

pub async fn update_study_site(store: &Store, acting: &Acting, id: Uuid, input: StudySiteInput) -> Result<StudySite> {
    input.check()?;
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let old = study_site_in(tx, id).await?;
                let study = study_in(tx, old.study_id).await?;
                if input.pi_user_id != old.pi_user_id {
                    check_pi(tx, input.pi_user_id, old.study_id, old.site_id).await?;
                }
                exec!(
                    tx,
                    "UPDATE study_sites SET pi_user_id = $1, irb_name = $2, irb_approved_on = $3, irb_expires_on = $4, activated_on = $5,
                            target_enrollment = $6, updated_at = $7 WHERE id = $8",
                    input.pi_user_id,
                    input.irb_name.trim(),
                    input.irb_approved_on,
                    input.irb_expires_on,
                    input.activated_on,
                    input.target_enrollment,
                    now(),
                    id
                )?;
                let new = study_site_in(tx, id).await?;
                if new != old {
                    tx.audit(AuditEvent::new(AuditAction::Update, "study_site", id).old(&old).new_value(&new));
                }
                renewal_task_in(tx, &study, &new, renewal_key(&old), now().date_naive()).await?;
                Ok(new)
            })
        })
        .await
}

pub async fn study_sites(store: &Store, study_id: Uuid) -> Result<Vec<StudySite>> {
    let sql = format!("{STUDY_SITE_SELECT} WHERE ss.study_id = $1 ORDER BY s.code");
    Ok(on!(store.db.read(), |c| sqlx::query_as::<_, StudySite>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(study_id)
        .fetch_all(c)
        .await)?)
}

pub async fn study_site(store: &Store, study_id: Uuid, site_id: Uuid) -> Result<StudySite> {
    let sql = format!("{STUDY_SITE_SELECT} WHERE ss.study_id = $1 AND ss.site_id = $2");
    on!(store.db.read(), |c| sqlx::query_as::<_, StudySite>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(study_id)
        .bind(site_id)
        .fetch_optional(c)
        .await)?
    .ok_or(StoreError::NotFound("participating site"))
}

/// Every (study, site) pair: which sites run which studies.
pub async fn participations(store: &Store) -> Result<Vec<(Uuid, Uuid)>> {
    Ok(on!(store.db.read(), |c| sqlx::query_as::<_, (Uuid, Uuid)>("SELECT study_id, site_id FROM study_sites")
        .fetch_all(c)
        .await)?)
}

/// The (study, site) pairs of one study.
pub async fn participations_of(store: &Store, study_id: Uuid) -> Result<Vec<(Uuid, Uuid)>> {
    Ok(on!(store.db.read(), |c| sqlx::query_as::<_, (Uuid, Uuid)>(
        "SELECT study_id, site_id FROM study_sites WHERE study_id = $1"
    )
    .bind(study_id)
    .fetch_all(c)
    .await)?)
}

/// The ticker's pass: raises renewal tasks for approvals that came within the notice period
/// since they were recorded.
pub async fn raise_irb_renewal_tasks(store: &Store) -> Result<usize> {
    let today = now().date_naive();
    let horizon = today + chrono::Duration::days(clinbridge_core::trials::IRB_RENEWAL_NOTICE_DAYS);
    let sql = format!("{STUDY_SITE_SELECT} WHERE ss.irb_expires_on IS NOT NULL AND ss.irb_expires_on <= $1");
    let due: Vec<StudySite> =
        on!(store.db.read(), |c| sqlx::query_as::<_, StudySite>(sqlx::AssertSqlSafe(sql.clone()))
            .bind(horizon)
            .fetch_all(c)
            .await)?;
    let n = due.len();
    if n == 0 {
        return Ok(0);
    }
    store
        .write(&Acting::system(), move |tx| {
            Box::pin(async move {
                for ss in &due {
                    let study = study_in(tx, ss.study_id).await?;
                    renewal_task_in(tx, &study, ss, None, today).await?;
                }
                Ok(())
            })
        })
        .await?;
    Ok(n)
}

// ---------------------------------------------------------------- study team and delegation log

use clinbridge_core::signature::Meaning;
use clinbridge_core::trials::{Duty, delegation_current};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct DelegationEntry {
    pub id: Uuid,
    pub study_id: Uuid,
    pub site_id: Uuid,
    pub user_id: Uuid,
    pub user_name: String,
    pub study_role: String,
    pub duties: String,
    pub start_on: NaiveDate,
    pub end_on: Option<NaiveDate>,
}

impl DelegationEntry {
    pub fn duties(&self) -> Vec<Duty> {
        Duty::list(&self.duties)
    }
    /// The version of the entry a signature binds to.
    pub fn record(&self) -> serde_json::Value {
        serde_json::json!({
            "study_id": self.study_id, "site_id": self.site_id, "user_id": self.user_id, "study_role": self.study_role,
            "duties": self.duties().iter().map(|d| d.as_str()).collect::<Vec<_>>(), "start_on": self.start_on, "end_on": self.end_on,
        })
    }
}

/// An entry with its PI signature state.
#[derive(Debug, Clone, Serialize)]
pub struct DelegationView {
    pub entry: DelegationEntry,
    /// The principal investigator's valid signature on the entry as it is now, if any.
    pub signed: Option<crate::signatures::SignatureView>,
    /// True when a signature exists but the entry changed after it (the signature is void).
    pub void_signature: bool,
}

const DELEGATION_SELECT: &str =
    "SELECT d.id, d.study_id, d.site_id, d.user_id, u.name AS user_name, d.study_role, d.duties, d.start_on, d.end_on
     FROM delegation_entries d JOIN users u ON u.id = d.user_id";

async fn delegation_in(tx: &mut Tx, id: Uuid) -> Result<DelegationEntry> {
    let sql = format!("{DELEGATION_SELECT} WHERE d.id = $1");
    tx_on!(tx, |c| sqlx::query_as::<_, DelegationEntry>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(id)
        .fetch_optional(&mut *c)
        .await)?
    .ok_or(StoreError::NotFound("delegation entry"))
}

pub async fn delegation_entry(store: &Store, id: Uuid) -> Result<DelegationEntry> {
    let sql = format!("{DELEGATION_SELECT} WHERE d.id = $1");
    on!(store.db.read(), |c| sqlx::query_as::<_, DelegationEntry>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(id)
        .fetch_optional(c)
        .await)?
    .ok_or(StoreError::NotFound("delegation entry"))
}

/// A new line on the delegation log; it takes effect once the PI signs it.
#[derive(Debug, Clone)]
pub struct NewDelegation {
    pub user_id: Uuid,
    pub study_role: String,
    pub duties: Vec<Duty>,
    pub start_on: NaiveDate,
    pub end_on: Option<NaiveDate>,
}

pub async fn add_delegation(
    store: &Store,
    acting: &Acting,
    study_id: Uuid,
    site_id: Uuid,
    d: NewDelegation,
) -> Result<DelegationEntry> {
    let mut c = clinbridge_core::Checks::new();
    let role = c.take("study_role", clinbridge_core::required_text("study_role", &d.study_role, 80));
    if d.duties.is_empty() {
        c.push("duties", "choose at least one duty");
    }
    if d.end_on.is_some_and(|e| e < d.start_on) {
        c.push("end_on", "must not be before the start date");
    }
    c.finish()?;
    let Some(role) = role else { return Err(StoreError::Internal("delegation checks".into())) };
    let mut duties = d.duties.clone();
    duties.sort();
    duties.dedup();
    let duties = duties.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(",");
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                // The site must take part in the study, and the person must be an active user.
                let ss: Option<Uuid> = tx_on!(tx, |c| sqlx::query_scalar("SELECT id FROM study_sites WHERE study_id = $1 AND site_id = $2")
                    .bind(study_id)
                    .bind(site_id)
                    .fetch_optional(&mut *c)
                    .await)?;
                if ss.is_none() {
                    return Err(StoreError::NotFound("participating site"));
                }
                let active: Option<bool> =
                    tx_on!(tx, |c| sqlx::query_scalar("SELECT active FROM users WHERE id = $1").bind(d.user_id).fetch_optional(&mut *c).await)?;
                if active != Some(true) {
                    return Err(clinbridge_core::Invalid::one("user", "must be an active user").into());
                }
                let id = new_id();
                let t = now();
                exec!(
                    tx,
                    "INSERT INTO delegation_entries (id, study_id, site_id, user_id, study_role, duties, start_on, end_on, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
                    id,
                    study_id,
                    site_id,
                    d.user_id,
                    &role,
                    &duties,
                    d.start_on,
                    d.end_on,
                    t
                )?;
                let entry = delegation_in(tx, id).await?;
                tx.audit(AuditEvent::new(AuditAction::Create, "delegation_entry", id).new_value(entry.record()));
                Ok(entry)
            })
        })
        .await
}

/// Ends an entry on a day (the person leaves the team or the duty is withdrawn). The change
/// voids the PI's signature, so the ended entry is signed again.
pub async fn end_delegation(store: &Store, acting: &Acting, id: Uuid, end_on: NaiveDate) -> Result<DelegationEntry> {
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let old = delegation_in(tx, id).await?;
                if end_on < old.start_on {
                    return Err(clinbridge_core::Invalid::one("end_on", "must not be before the start date").into());
                }
                exec!(
                    tx,
                    "UPDATE delegation_entries SET end_on = $1, updated_at = $2 WHERE id = $3",
                    end_on,
                    now(),
                    id
                )?;
                let new = delegation_in(tx, id).await?;
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "delegation_entry", id)
                        .old(old.record())
                        .new_value(new.record()),
                );
                Ok(new)
            })
        })
        .await
}

/// The delegation log of a study at a site, each entry with its signature state.
pub async fn delegation_log(store: &Store, study_id: Uuid, site_id: Uuid) -> Result<Vec<DelegationView>> {
    let pi = study_site(store, study_id, site_id).await?.pi_user_id;
    let sql = format!("{DELEGATION_SELECT} WHERE d.study_id = $1 AND d.site_id = $2 ORDER BY d.start_on, u.name");
    let entries: Vec<DelegationEntry> =
        on!(store.db.read(), |c| sqlx::query_as::<_, DelegationEntry>(sqlx::AssertSqlSafe(sql.clone()))
            .bind(study_id)
            .bind(site_id)
            .fetch_all(c)
            .await)?;
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        let sigs =
            crate::signatures::for_record(store, "delegation_entry", &entry.id.to_string(), &entry.record()).await?;
        let by_pi: Vec<_> = sigs.into_iter().filter(|s| Some(s.signature.user_id) == pi).collect();
        let signed = by_pi.iter().rev().find(|s| s.valid).cloned();
        let void_signature = signed.is_none() && !by_pi.is_empty();
        out.push(DelegationView { entry, signed, void_signature });
    }
    Ok(out)
}

/// The PI signs an entry of the delegation log (password re-entered).
pub async fn sign_delegation(
    store: &Store,
    acting: &Acting,
    id: Uuid,
    password: &str,
) -> Result<crate::signatures::Signature> {
    let entry = delegation_entry(store, id).await?;
    let ss = study_site(store, entry.study_id, entry.site_id).await?;
    if ss.pi_user_id.is_none() || ss.pi_user_id != acting.user {
        return Err(StoreError::Refused(format!(
            "only the principal investigator of {} signs its delegation log",
            ss.site_code
        )));
    }
    crate::signatures::sign(
        store,
        acting,
        password,
        Meaning::Approval,
        "delegation_entry",
        &id.to_string(),
        &entry.record(),
    )
    .await
}

/// Whether a person holds a delegated duty on a day: a current entry with the duty, signed by
/// the PI in its present form. The error says what is missing.
pub async fn holds_duty(
    store: &Store,
    study_id: Uuid,
    site_id: Uuid,
    user_id: Uuid,
    duty: Duty,
    day: NaiveDate,
) -> Result<()> {
    let log = delegation_log(store, study_id, site_id).await?;
    let mine: Vec<&DelegationView> =
        log.iter().filter(|v| v.entry.user_id == user_id && v.entry.duties().contains(&duty)).collect();
    if mine.is_empty() {
        return Err(StoreError::Refused(format!(
            "the delegation log gives this person no duty to {}",
            duty.label().to_lowercase()
        )));
    }
    let current: Vec<&&DelegationView> =
        mine.iter().filter(|v| delegation_current(v.entry.start_on, v.entry.end_on, day)).collect();
    if current.is_empty() {
        return Err(StoreError::Refused(format!(
            "this person's delegation to {} is not current on {day}",
            duty.label().to_lowercase()
        )));
    }
    if !current.iter().any(|v| v.signed.is_some()) {
        return Err(StoreError::Refused(format!(
            "this person's delegation to {} is not signed by the principal investigator",
            duty.label().to_lowercase()
        )));
    }
    Ok(())
}
