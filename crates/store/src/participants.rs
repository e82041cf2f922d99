//! Participants: the pseudonymous record of a person in one study (subject id, site, pipeline
//! status and milestone dates), their contact details and identifiers kept apart and read only
//! through an audited call, the screening log and eligibility checklists. Randomization is in
//! [`randomization`].

pub mod randomization;

use crate::trials::{Study, StudySite};
use crate::{Acting, Result, Store, StoreError, Tx, exec, new_id, now, on, tx_on};
use chrono::{DateTime, NaiveDate, Utc};
use clinbridge_core::audit::{AuditAction, AuditEvent};
use clinbridge_core::participants::{
    Assessment, CheckedMove, Criterion, CriterionKind, FunnelStage, Move, Response, SCREEN_FAIL_REASONS, Status,
    SubjectIdPattern,
};
use clinbridge_core::signature::Meaning;
use clinbridge_core::trials::Duty;
use clinbridge_core::{Checks, Invalid};
use serde::Serialize;
use uuid::Uuid;

/// Event dates before this are typing mistakes, not history.
const EARLIEST: (i32, u32, u32) = (1990, 1, 1);

/// An event date must be a plausible day: not before 1990 and not after today at the site.
pub fn check_event_date(field: &str, d: NaiveDate, today: NaiveDate) -> Result<(), Invalid> {
    let earliest = NaiveDate::from_ymd_opt(EARLIEST.0, EARLIEST.1, EARLIEST.2).unwrap_or(d);
    if d > today {
        return Err(Invalid::one(field, "must not be in the future"));
    }
    if d < earliest {
        return Err(Invalid::one(field, format!("must not be before {earliest}")));
    }
    Ok(())
}

/// Today's date where the site is.
pub fn site_today(ss: &StudySite) -> NaiveDate {
    now().with_timezone(&ss.tz()).date_naive()
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct Participant {
    pub id: Uuid,
    pub study_id: Uuid,
    pub site_id: Uuid,
    pub site_code: String,
    pub subject_id: String,
    pub status: String,
    pub reason_code: String,
    pub status_detail: String,
    pub consent_withdrawal: String,
    pub screened_on: Option<NaiveDate>,
    pub consented_on: Option<NaiveDate>,
    pub enrolled_on: Option<NaiveDate>,
    pub randomized_on: Option<NaiveDate>,
    pub ended_on: Option<NaiveDate>,
    pub created_at: DateTime<Utc>,
}

impl Participant {
    pub fn status(&self) -> Status {
        Status::parse(&self.status).unwrap_or(Status::Prescreen)
    }
    pub fn consent_withdrawal(&self) -> clinbridge_core::participants::ConsentWithdrawal {
        clinbridge_core::participants::ConsentWithdrawal::parse(&self.consent_withdrawal)
            .unwrap_or(clinbridge_core::participants::ConsentWithdrawal::None)
    }
}

const SELECT: &str =
    "SELECT p.id, p.study_id, p.site_id, s.code AS site_code, p.subject_id, p.status, p.reason_code, p.status_detail,
        p.consent_withdrawal, p.screened_on, p.consented_on, p.enrolled_on, p.randomized_on, p.ended_on, p.created_at
     FROM participants p JOIN sites s ON s.id = p.site_id";

pub(crate) async fn participant_in(tx: &mut Tx, id: Uuid) -> Result<Participant> {
    let sql = format!("{SELECT} WHERE p.id = $1");
    tx_on!(tx, |c| sqlx::query_as::<_, Participant>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(id)
        .fetch_optional(&mut *c)
        .await)?
    .ok_or(StoreError::NotFound("participant"))
}

pub async fn participant(store: &Store, id: Uuid) -> Result<Participant> {
    let sql = format!("{SELECT} WHERE p.id = $1");
    on!(store.db.read(), |c| sqlx::query_as::<_, Participant>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(id)
        .fetch_optional(c)
        .await)?
    .ok_or(StoreError::NotFound("participant"))
}

/// A study's participants, at one site or all, in subject id order.
pub async fn participants(store: &Store, study_id: Uuid, site_id: Option<Uuid>) -> Result<Vec<Participant>> {
    let sql = match site_id {
        Some(_) => format!("{SELECT} WHERE p.study_id = $1 AND p.site_id = $2 ORDER BY p.subject_id"),
        None => format!("{SELECT} WHERE p.study_id = $1 ORDER BY p.subject_id"),
    };
    Ok(on!(store.db.read(), |c| {
        let q = sqlx::query_as::<_, Participant>(sqlx::AssertSqlSafe(sql.clone())).bind(study_id);
        match site_id {
            Some(s) => q.bind(s),
            None => q,
        }
        .fetch_all(c)
        .await
    })?)
}

// ---------------------------------------------------------------- contact details (PHI)

/// Contact details and identifiers, kept apart from the pseudonymous record.
#[derive(Debug, Clone, Default, Serialize, sqlx::FromRow, PartialEq)]
pub struct Contact {
    pub given_name: String,
    pub family_name: String,
    pub date_of_birth: Option<NaiveDate>,
    pub phone: String,
    pub email: String,
    pub address: String,
    pub mrn: String,
}

impl Contact {
    /// Checks and trims every field; names are required, the rest optional.
    pub fn check(mut self, today: NaiveDate) -> Result<Self, Invalid> {
        let mut c = Checks::new();
        let opt = clinbridge_core::trials::optional_text;
        self.given_name = c
            .take("given_name", clinbridge_core::required_text("given_name", &self.given_name, 100))
            .unwrap_or_default();
        self.family_name = c
            .take("family_name", clinbridge_core::required_text("family_name", &self.family_name, 100))
            .unwrap_or_default();
        self.phone = c.take("phone", opt("phone", &self.phone, 40)).unwrap_or_default();
        if !self.phone.is_empty() && !self.phone.chars().all(|ch| ch.is_ascii_digit() || " +-().".contains(ch)) {
            c.push("phone", "may contain only digits, spaces and + - ( ) .");
        }
        self.email = self.email.trim().to_string();
        if !self.email.is_empty() && clinbridge_core::identity::Email::parse(&self.email).is_err() {
            c.push("email", "is not an e-mail address");
        }
        self.address = self.address.trim().to_string();
        if self.address.chars().count() > 400 {
            c.push("address", "must be at most 400 characters");
        }
        self.mrn = c.take("mrn", opt("mrn", &self.mrn, 40)).unwrap_or_default();
        if let Some(d) = self.date_of_birth
            && (d > today || d < NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(d))
        {
            c.push("date_of_birth", "must be a real date in the past");
        }
        c.finish()?;
        Ok(self)
    }

    /// Which fields hold a value: what the audit trail records instead of the values.
    fn fields(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        for (name, set) in [
            ("given_name", !self.given_name.is_empty()),
            ("family_name", !self.family_name.is_empty()),
            ("date_of_birth", self.date_of_birth.is_some()),
            ("phone", !self.phone.is_empty()),
            ("email", !self.email.is_empty()),
            ("address", !self.address.is_empty()),
            ("mrn", !self.mrn.is_empty()),
        ] {
            if set {
                v.push(name);
            }
        }
        v
    }
}

async fn contact_in(tx: &mut Tx, id: Uuid) -> Result<Option<Contact>> {
    Ok(tx_on!(tx, |c| {
        sqlx::query_as::<_, Contact>(
        "SELECT given_name, family_name, date_of_birth, phone, email, address, mrn FROM participant_contacts WHERE participant_id = $1"
    )
    .bind(id)
    .fetch_optional(&mut *c)
    .await
    })?)
}

async fn write_contact(tx: &mut Tx, id: Uuid, contact: &Contact) -> Result<()> {
    exec!(
        tx,
        "INSERT INTO participant_contacts (participant_id, given_name, family_name, date_of_birth, phone, email, address, mrn, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (participant_id) DO UPDATE SET given_name = excluded.given_name, family_name = excluded.family_name,
            date_of_birth = excluded.date_of_birth, phone = excluded.phone, email = excluded.email, address = excluded.address,
            mrn = excluded.mrn, updated_at = excluded.updated_at",
        id,
        &contact.given_name,
        &contact.family_name,
        contact.date_of_birth,
        &contact.phone,
        &contact.email,
        &contact.address,
        &contact.mrn,
        now()
    )?;
    Ok(())
}

/// Reads a participant's contact details. The read itself is written to the audit trail
/// (who, when, which participant) before the details are returned.
pub async fn read_contact(store: &Store, acting: &Acting, id: Uuid, purpose: &str) -> Result<Option<Contact>> {
    let purpose = purpose.to_string();
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let p = participant_in(tx, id).await?;
                let contact: Option<Contact> = contact_in(tx, id).await?;
                tx.audit(AuditEvent::new(AuditAction::PhiRead, "participant", id).new_value(serde_json::json!({
                    "subject_id": p.subject_id, "purpose": purpose,
                    "fields": contact.as_ref().map(|c| c.fields()).unwrap_or_default(),
                })));
                Ok(contact)
            })
        })
        .await
}

/// Replaces a participant's contact details. The audit trail names the fields that changed,
/// not their values, so the trail itself holds no identifiers.
pub async fn update_contact(store: &Store, acting: &Acting, id: Uuid, contact: Contact) -> Result<()> {
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let p = participant_in(tx, id).await?;
                if !p.consent_withdrawal().allows_contact() {
                    return Err(StoreError::Refused(format!(
                        "{} withdrew consent to further contact; contact details stay as they were",
                        p.subject_id
                    )));
                }
                let old: Option<Contact> = contact_in(tx, id).await?;
                let old = old.unwrap_or_default();
                let changed: Vec<&str> = [
                    ("given_name", old.given_name != contact.given_name),
                    ("family_name", old.family_name != contact.family_name),
                    ("date_of_birth", old.date_of_birth != contact.date_of_birth),
                    ("phone", old.phone != contact.phone),
                    ("email", old.email != contact.email),
                    ("address", old.address != contact.address),
                    ("mrn", old.mrn != contact.mrn),
                ]
                .into_iter()
                .filter(|(_, ch)| *ch)
                .map(|(n, _)| n)
                .collect();
                if changed.is_empty() {
                    return Ok(());
                }
                write_contact(tx, id, &contact).await?;
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "participant_contact", id)
                        .new_value(serde_json::json!({ "subject_id": p.subject_id, "changed_fields": changed })),
                );
                Ok(())
            })
        })
        .await
}

// ---------------------------------------------------------------- registering and subject ids

/// Sets the study's subject id pattern (ids already given keep their form).
pub async fn set_subject_id_pattern(store: &Store, acting: &Acting, study_id: Uuid, raw: &str) -> Result<String> {
    SubjectIdPattern::parse(raw)?;
    let pattern = raw.trim().to_string();
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let old = subject_id_pattern_in(tx, study_id).await?;
                exec!(
                    tx,
                    "UPDATE studies SET subject_id_pattern = $1, updated_at = $2 WHERE id = $3",
                    &pattern,
                    now(),
                    study_id
                )?;
                if old != pattern {
                    tx.audit(
                        AuditEvent::new(AuditAction::Update, "study", study_id)
                            .old(serde_json::json!({ "subject_id_pattern": old }))
                            .new_value(serde_json::json!({ "subject_id_pattern": pattern })),
                    );
                }
                Ok(pattern)
            })
        })
        .await
}

async fn subject_id_pattern_in(tx: &mut Tx, study_id: Uuid) -> Result<String> {
    tx_on!(tx, |c| sqlx::query_scalar::<_, String>("SELECT subject_id_pattern FROM studies WHERE id = $1")
        .bind(study_id)
        .fetch_optional(&mut *c)
        .await)?
    .ok_or(StoreError::NotFound("study"))
}

pub async fn subject_id_pattern(store: &Store, study_id: Uuid) -> Result<String> {
    on!(store.db.read(), |c| sqlx::query_scalar::<_, String>("SELECT subject_id_pattern FROM studies WHERE id = $1")
        .bind(study_id)
        .fetch_optional(c)
        .await)?
    .ok_or(StoreError::NotFound("study"))
}

/// The next number of a subject id counter. The UPDATE takes the counter row's lock, so
/// concurrent screenings wait for each other instead of reading the same value.
async fn next_seq(tx: &mut Tx, study_id: Uuid, scope: &str) -> Result<i64> {
    exec!(
        tx,
        "INSERT INTO subject_counters (study_id, scope, next_seq) VALUES ($1, $2, 1) ON CONFLICT (study_id, scope) DO NOTHING",
        study_id,
        scope
    )?;
    let n: i64 = tx_on!(tx, |c| {
        sqlx::query_scalar(
        "UPDATE subject_counters SET next_seq = next_seq + 1 WHERE study_id = $1 AND scope = $2 RETURNING next_seq - 1"
    )
    .bind(study_id)
    .bind(scope)
    .fetch_one(&mut *c)
    .await
    })?;
    Ok(n)
}

/// A new candidate or screening participant.
#[derive(Debug, Clone)]
pub struct NewParticipant {
    /// Prescreen or screening.
    pub status: Status,
    pub on: NaiveDate,
    pub contact: Option<Contact>,
}

/// Registers a participant at a site: checks that the site may screen, draws the next subject
/// id from the study's pattern, and keeps the contact details apart.
pub async fn register(
    store: &Store,
    acting: &Acting,
    study_id: Uuid,
    site_id: Uuid,
    n: NewParticipant,
) -> Result<Participant> {
    if !matches!(n.status, Status::Prescreen | Status::Screening) {
        return Err(Invalid::one("status", "a new participant starts in prescreen or screening").into());
    }
    let study = crate::trials::study(store, study_id).await?;
    let ss = crate::trials::study_site(store, study_id, site_id).await?;
    let today = site_today(&ss);
    if let Some(block) = ss.enrollment_block(&study, today) {
        return Err(StoreError::Refused(format!("{} cannot screen for {}: {block}", ss.site_code, study.code)));
    }
    check_event_date("on", n.on, today)?;
    let contact = match n.contact {
        Some(c) => Some(c.check(today)?),
        None => None,
    };
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let pattern = SubjectIdPattern::parse(&subject_id_pattern_in(tx, study_id).await?)?;
                let scope = if pattern.per_site() { site_id.to_string() } else { String::new() };
                let seq = next_seq(tx, study_id, &scope).await?;
                let subject_id = pattern.render(&study.code, &ss.site_code, seq);
                let id = new_id();
                let t = now();
                exec!(
                    tx,
                    "INSERT INTO participants (id, study_id, site_id, subject_id, status, screened_on, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
                    id,
                    study_id,
                    site_id,
                    &subject_id,
                    n.status.as_str(),
                    (n.status == Status::Screening).then_some(n.on),
                    t
                )
                .map_err(|e| {
                    StoreError::from(e).unique_as("subject_id", "the pattern gave an id that is already taken; change the pattern")
                })?;
                record_move(tx, id, None, n.status, "", "", n.on).await?;
                if let Some(c) = &contact {
                    write_contact(tx, id, c).await?;
                }
                let p = participant_in(tx, id).await?;
                tx.audit(AuditEvent::new(AuditAction::Create, "participant", id).new_value(serde_json::json!({
                    "subject_id": p.subject_id, "study_id": study_id, "site_id": site_id, "status": p.status,
                    "contact_fields": contact.as_ref().map(|c| c.fields()).unwrap_or_default(),
                })));
                Ok(p)
            })
        })
        .await
}

async fn record_move(
    tx: &mut Tx,
    id: Uuid,
    from: Option<Status>,
    to: Status,
    reason_code: &str,
    detail: &str,
    on: NaiveDate,
) -> Result<()> {
    let user = tx.acting().user;
    exec!(
        tx,
        "INSERT INTO participant_moves (id, participant_id, from_status, to_status, reason_code, detail, effective_on, user_id, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        new_id(),
        id,
        from.map(|s| s.as_str()),
        to.as_str(),
        reason_code,
        detail,
        on,
        user,
        now()
    )?;
    Ok(())
}

// ---------------------------------------------------------------- pipeline moves

/// A requested move through the pipeline.
#[derive(Debug, Clone)]
pub struct MoveRequest {
    pub to: Status,
    pub reason_code: String,
    pub detail: String,
    pub consent_withdrawal: String,
    pub effective_on: NaiveDate,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct MoveRow {
    pub from_status: Option<String>,
    pub to_status: String,
    pub reason_code: String,
    pub detail: String,
    pub effective_on: NaiveDate,
    pub user_name: Option<String>,
    pub at: DateTime<Utc>,
}

/// A participant's moves, oldest first.
pub async fn history(store: &Store, id: Uuid) -> Result<Vec<MoveRow>> {
    Ok(on!(store.db.read(), |c| {
        sqlx::query_as::<_, MoveRow>(
        "SELECT m.from_status, m.to_status, m.reason_code, m.detail, m.effective_on, u.name AS user_name, m.at
         FROM participant_moves m LEFT JOIN users u ON u.id = m.user_id WHERE m.participant_id = $1 ORDER BY m.at, m.id"
    )
    .bind(id)
    .fetch_all(c)
    .await
    })?)
}

/// Moves a participant through the pipeline. The transition and its reasons are checked in
/// core; here the site's permission to screen and enroll, the signed eligibility decision and
/// the order of dates. The update names the status it expects, so two people moving the same
/// participant at once cannot both succeed. Consent is reached only by recording it
/// ([`crate::consent`]), randomization only by randomizing.
pub async fn move_to(store: &Store, acting: &Acting, id: Uuid, req: MoveRequest) -> Result<Participant> {
    if req.to == Status::Consented {
        return Err(StoreError::Refused(
            "a participant becomes consented when the consent is recorded (paper or remote) or the eConsent is countersigned"
                .into(),
        ));
    }
    let (p, checked) = check_move(store, id, &req).await?;
    store.write(acting, move |tx| Box::pin(async move { apply_move_in(tx, &p, &req, &checked, None).await })).await
}

/// The checks of a move that read before the write: the transition, its date, the site's
/// permission to screen and enroll, and what the target status requires.
pub(crate) async fn check_move(store: &Store, id: Uuid, req: &MoveRequest) -> Result<(Participant, CheckedMove)> {
    let p = participant(store, id).await?;
    let from = p.status();
    if req.to == Status::Randomized {
        return Err(StoreError::Refused("a participant becomes randomized only by randomizing".into()));
    }
    let checked = clinbridge_core::participants::transition(
        from,
        req.to,
        &Move {
            reason_code: req.reason_code.clone(),
            detail: req.detail.clone(),
            consent_withdrawal: req.consent_withdrawal.clone(),
        },
    )?;
    let study = crate::trials::study(store, p.study_id).await?;
    let ss = crate::trials::study_site(store, p.study_id, p.site_id).await?;
    let today = site_today(&ss);
    check_event_date("effective_on", req.effective_on, today)?;
    let last = history(store, id).await?.last().map(|m| m.effective_on);
    if let Some(last) = last
        && req.effective_on < last
    {
        return Err(Invalid::one("effective_on", format!("must not be before the last change ({last})")).into());
    }
    if req.to.is_screening_step()
        && let Some(block) = ss.enrollment_block(&study, today)
    {
        return Err(StoreError::Refused(format!(
            "{} cannot screen or enroll for {}: {block}",
            ss.site_code, study.code
        )));
    }
    let skips_randomization = req.to == Status::Active
        && from == Status::Enrolled
        && randomization::scheme(store, p.study_id).await?.is_some();
    match req.to {
        Status::Eligible => {
            let Some(a) = latest_assessment(store, id).await? else {
                return Err(StoreError::Refused("complete the eligibility checklist first".into()));
            };
            if !a.assessment.eligible {
                return Err(StoreError::Refused(format!(
                    "the eligibility checklist found the participant ineligible ({})",
                    a.assessment.failed
                )));
            }
            if a.signed.is_none() {
                return Err(StoreError::Refused(
                    "an investigator must sign the eligibility decision before the participant is eligible".into(),
                ));
            }
        }
        Status::Active if skips_randomization => {
            return Err(StoreError::Refused("this study randomizes: randomize the participant first".into()));
        }
        _ => {}
    }
    Ok((p, checked))
}

/// Applies a checked move inside a write: the guarded status update, the move's row, the
/// visits it plans or cancels, and its audit entry (with `extra` merged in).
pub(crate) async fn apply_move_in(
    tx: &mut Tx,
    p: &Participant,
    req: &MoveRequest,
    checked: &CheckedMove,
    extra: Option<serde_json::Value>,
) -> Result<Participant> {
    let (id, from, on) = (p.id, p.status(), req.effective_on);
    let date_column = match req.to {
        Status::Screening => Some("screened_on"),
        Status::Consented => Some("consented_on"),
        Status::Enrolled => Some("enrolled_on"),
        s if s.is_final() => Some("ended_on"),
        _ => None,
    };
    let set_date = date_column.map(|c| format!(", {c} = $8")).unwrap_or_default();
    let sql = format!(
        "UPDATE participants SET status = $1, reason_code = $2, status_detail = $3, consent_withdrawal = $4, updated_at = $5{set_date}
         WHERE id = $6 AND status = $7"
    );
    let n = tx_on!(tx, |c| {
        let q = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .bind(req.to.as_str())
            .bind(&checked.reason_code)
            .bind(&checked.detail)
            .bind(checked.consent_withdrawal.as_str())
            .bind(now())
            .bind(id)
            .bind(from.as_str());
        let q = if date_column.is_some() { q.bind(on) } else { q };
        q.execute(&mut *c).await.map(|r| r.rows_affected())
    })?;
    if n == 0 {
        return Err(StoreError::conflict("status", "the participant changed meanwhile; reload and try again"));
    }
    record_move(tx, id, Some(from), req.to, &checked.reason_code, &checked.detail, on).await?;
    if matches!(req.to, Status::Consented | Status::Enrolled | Status::Active) {
        crate::scheduling::plan_in(tx, id).await?;
    }
    if req.to.is_final() {
        crate::scheduling::cancel_ahead_in(tx, id, on).await?;
    }
    let new = participant_in(tx, id).await?;
    let mut value = serde_json::json!({
        "status": new.status, "reason_code": checked.reason_code, "detail": checked.detail,
        "consent_withdrawal": checked.consent_withdrawal.as_str(), "effective_on": on,
    });
    if let (Some(serde_json::Value::Object(extra)), serde_json::Value::Object(v)) = (extra, &mut value) {
        v.extend(extra);
    }
    tx.audit(
        AuditEvent::new(AuditAction::Update, "participant", id)
            .old(serde_json::json!({ "status": from.as_str() }))
            .new_value(value),
    );
    Ok(new)
}

// ---------------------------------------------------------------- screening log and funnel

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ScreeningEntry {
    pub id: Uuid,
    pub site_id: Uuid,
    pub site_code: String,
    pub logged_on: NaiveDate,
    pub reason_code: String,
    pub candidates: i64,
    pub note: String,
}

/// Candidates who failed prescreening on a day for one reason.
#[derive(Debug, Clone)]
pub struct PrescreenFailures {
    pub logged_on: NaiveDate,
    pub reason_code: String,
    pub candidates: i64,
    pub note: String,
}

/// Records candidates who failed prescreening, as a count and a reason, without identities.
pub async fn log_prescreen_failures(
    store: &Store,
    acting: &Acting,
    study_id: Uuid,
    site_id: Uuid,
    f: PrescreenFailures,
) -> Result<ScreeningEntry> {
    let PrescreenFailures { logged_on, reason_code, candidates, note } = f;
    let reason_code = reason_code.trim();
    let mut c = Checks::new();
    if !SCREEN_FAIL_REASONS.iter().any(|(k, _)| *k == reason_code) {
        c.push("reason_code", "is not a screen-failure reason");
    }
    if !(1..=10_000).contains(&candidates) {
        c.push("candidates", "must be between 1 and 10,000");
    }
    let note = c.take("note", clinbridge_core::trials::optional_text("note", &note, 500)).unwrap_or_default();
    if reason_code == "other" && note.is_empty() {
        c.push("note", "explain the reason when it is \"other\"");
    }
    c.finish()?;
    let ss = crate::trials::study_site(store, study_id, site_id).await?;
    check_event_date("logged_on", logged_on, site_today(&ss))?;
    let reason_code = reason_code.to_string();
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let id = new_id();
                let actor = tx.acting().user;
                exec!(
                    tx,
                    "INSERT INTO screening_log (id, study_id, site_id, logged_on, reason_code, candidates, note, user_id, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    id,
                    study_id,
                    site_id,
                    logged_on,
                    &reason_code,
                    candidates,
                    &note,
                    actor,
                    now()
                )?;
                let e = ScreeningEntry { id, site_id, site_code: ss.site_code.clone(), logged_on, reason_code, candidates, note };
                tx.audit(AuditEvent::new(AuditAction::Create, "screening_log", id).new_value(&e));
                Ok(e)
            })
        })
        .await
}

/// Prescreen failures of a study (at one site or all), newest first.
pub async fn screening_log(store: &Store, study_id: Uuid, site_id: Option<Uuid>) -> Result<Vec<ScreeningEntry>> {
    let base = "SELECT l.id, l.site_id, s.code AS site_code, l.logged_on, l.reason_code, l.candidates, l.note
                FROM screening_log l JOIN sites s ON s.id = l.site_id WHERE l.study_id = $1";
    let sql = match site_id {
        Some(_) => format!("{base} AND l.site_id = $2 ORDER BY l.logged_on DESC, l.created_at DESC"),
        None => format!("{base} ORDER BY l.logged_on DESC, l.created_at DESC"),
    };
    Ok(on!(store.db.read(), |c| {
        let q = sqlx::query_as::<_, ScreeningEntry>(sqlx::AssertSqlSafe(sql.clone())).bind(study_id);
        match site_id {
            Some(s) => q.bind(s),
            None => q,
        }
        .fetch_all(c)
        .await
    })?)
}

/// The CONSORT-style funnel of a study, at one site or across the given sites.
pub async fn funnel(store: &Store, study_id: Uuid, sites: &[Uuid]) -> Result<Vec<FunnelStage>> {
    let log = screening_log(store, study_id, None).await?;
    let prescreen: i64 = log.iter().filter(|e| sites.contains(&e.site_id)).map(|e| e.candidates).sum();
    let rows: Vec<(Uuid, Uuid, String)> = on!(store.db.read(), |c| {
        sqlx::query_as(
        "SELECT p.id, p.site_id, m.to_status FROM participant_moves m JOIN participants p ON p.id = m.participant_id WHERE p.study_id = $1"
    )
    .bind(study_id)
    .fetch_all(c)
    .await
    })?;
    let mut by: std::collections::BTreeMap<Uuid, Vec<Status>> = Default::default();
    for (pid, site, s) in rows {
        if sites.contains(&site)
            && let Ok(s) = Status::parse(&s)
        {
            by.entry(pid).or_default().push(s);
        }
    }
    let histories: Vec<Vec<Status>> = by.into_values().collect();
    Ok(clinbridge_core::participants::funnel(prescreen, &histories))
}

// ---------------------------------------------------------------- eligibility

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct CriterionRow {
    pub id: Uuid,
    pub kind: String,
    pub code: String,
    pub text: String,
    pub position: i64,
}

impl CriterionRow {
    pub fn criterion(&self) -> Criterion {
        Criterion {
            code: self.code.clone(),
            kind: CriterionKind::parse(&self.kind).unwrap_or(CriterionKind::Inclusion),
            text: self.text.clone(),
        }
    }
}

/// A study's checklist: inclusion criteria first, then exclusion, each in entry order.
pub async fn criteria(store: &Store, study_id: Uuid) -> Result<Vec<CriterionRow>> {
    Ok(on!(store.db.read(), |c| {
        sqlx::query_as::<_, CriterionRow>(
        "SELECT id, kind, code, text, position FROM eligibility_criteria WHERE study_id = $1 ORDER BY kind DESC, position"
    )
    .bind(study_id)
    .fetch_all(c)
    .await
    })?)
}

pub async fn add_criterion(
    store: &Store,
    acting: &Acting,
    study_id: Uuid,
    kind: CriterionKind,
    code: &str,
    text: &str,
) -> Result<CriterionRow> {
    let mut c = Checks::new();
    let code = c.take("code", clinbridge_core::identity::Code::parse("code", code));
    let text = c.take("text", clinbridge_core::required_text("text", text, 500));
    c.finish()?;
    let (Some(code), Some(text)) = (code, text) else { return Err(StoreError::Internal("criterion checks".into())) };
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                crate::trials::study_in(tx, study_id).await?;
                let position: i64 = tx_on!(tx, |c| sqlx::query_scalar(
                    "SELECT COALESCE(MAX(position), 0) + 1 FROM eligibility_criteria WHERE study_id = $1"
                )
                .bind(study_id)
                .fetch_one(&mut *c)
                .await)?;
                let row = CriterionRow { id: new_id(), kind: kind.as_str().into(), code: code.as_str().into(), text, position };
                exec!(
                    tx,
                    "INSERT INTO eligibility_criteria (id, study_id, kind, code, text, position, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    row.id,
                    study_id,
                    &row.kind,
                    &row.code,
                    &row.text,
                    row.position,
                    now()
                )
                .map_err(|e| StoreError::from(e).unique_as("code", "is already used by another criterion of this study"))?;
                tx.audit(AuditEvent::new(AuditAction::Create, "eligibility_criterion", row.id).new_value(&row));
                Ok(row)
            })
        })
        .await
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AssessmentRow {
    pub id: Uuid,
    pub participant_id: Uuid,
    pub responses: String,
    pub eligible: bool,
    pub failed: String,
    pub assessed_by_name: Option<String>,
    pub assessed_at: DateTime<Utc>,
}

impl AssessmentRow {
    pub fn responses(&self) -> Vec<Response> {
        serde_json::from_str(&self.responses).unwrap_or_default()
    }
    /// The version of the assessment a signature binds to.
    pub fn record(&self) -> serde_json::Value {
        serde_json::json!({
            "participant_id": self.participant_id, "responses": self.responses(), "eligible": self.eligible,
            "failed": self.failed, "assessed_at": self.assessed_at,
        })
    }
}

const ASSESSMENT_SELECT: &str =
    "SELECT a.id, a.participant_id, a.responses, a.eligible, a.failed, u.name AS assessed_by_name, a.assessed_at
     FROM eligibility_assessments a LEFT JOIN users u ON u.id = a.assessed_by";

/// The latest checklist of a participant with the investigator's valid signature, if any.
#[derive(Debug, Clone, Serialize)]
pub struct AssessmentView {
    pub assessment: AssessmentRow,
    pub signed: Option<crate::signatures::SignatureView>,
}

pub async fn latest_assessment(store: &Store, participant_id: Uuid) -> Result<Option<AssessmentView>> {
    let row: Option<AssessmentRow> = on!(store.db.read(), |c| {
        sqlx::query_as::<_, AssessmentRow>(sqlx::AssertSqlSafe(format!(
            "{ASSESSMENT_SELECT} WHERE a.participant_id = $1 ORDER BY a.assessed_at DESC, a.id DESC LIMIT 1"
        )))
        .bind(participant_id)
        .fetch_optional(c)
        .await
    })?;
    let Some(assessment) = row else { return Ok(None) };
    let sigs = crate::signatures::for_record(
        store,
        "eligibility_assessment",
        &assessment.id.to_string(),
        &assessment.record(),
    )
    .await?;
    let signed = sigs.into_iter().rev().find(|s| s.valid);
    Ok(Some(AssessmentView { assessment, signed }))
}

/// Records a completed checklist. Every criterion must be answered with its source; the
/// outcome is computed, not typed.
pub async fn assess(
    store: &Store,
    acting: &Acting,
    participant_id: Uuid,
    responses: Vec<Response>,
) -> Result<(AssessmentRow, Assessment)> {
    let p = participant(store, participant_id).await?;
    if !matches!(p.status(), Status::Screening | Status::Consented) {
        return Err(StoreError::Refused(format!(
            "eligibility is assessed after screening starts and before enrollment (the participant is {})",
            p.status().label().to_lowercase()
        )));
    }
    let crit: Vec<Criterion> = criteria(store, p.study_id).await?.iter().map(CriterionRow::criterion).collect();
    let outcome = clinbridge_core::participants::assess(&crit, &responses)?;
    let responses: Vec<Response> =
        responses.into_iter().map(|r| Response { source: r.source.trim().to_string(), ..r }).collect();
    let json = crate::json(&responses)?;
    let o = outcome.clone();
    let row = store
        .write(acting, move |tx| {
            Box::pin(async move {
                let id = new_id();
                let actor = tx.acting().user;
                exec!(
                    tx,
                    "INSERT INTO eligibility_assessments (id, participant_id, responses, eligible, failed, assessed_by, assessed_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    id,
                    participant_id,
                    &json,
                    o.eligible,
                    o.failed.join(","),
                    actor,
                    now()
                )?;
                let row: AssessmentRow = tx_on!(tx, |c| sqlx::query_as::<_, AssessmentRow>(
                    sqlx::AssertSqlSafe(format!("{ASSESSMENT_SELECT} WHERE a.id = $1"))
                )
                .bind(id)
                .fetch_one(&mut *c)
                .await)?;
                tx.audit(AuditEvent::new(AuditAction::Create, "eligibility_assessment", id).new_value(row.record()));
                Ok(row)
            })
        })
        .await?;
    Ok((row, outcome))
}

/// The investigator signs the latest eligibility decision (password entered again). The
/// signer must hold the delegated duty to assess eligibility.
pub async fn sign_assessment(
    store: &Store,
    acting: &Acting,
    participant_id: Uuid,
    password: &str,
) -> Result<crate::signatures::Signature> {
    let p = participant(store, participant_id).await?;
    let Some(view) = latest_assessment(store, participant_id).await? else {
        return Err(StoreError::Refused("there is no eligibility checklist to sign".into()));
    };
    let Some(user) = acting.user else { return Err(StoreError::Refused("only a person can sign".into())) };
    let ss = crate::trials::study_site(store, p.study_id, p.site_id).await?;
    crate::trials::holds_duty(store, p.study_id, p.site_id, user, Duty::AssessEligibility, site_today(&ss)).await?;
    crate::signatures::sign(
        store,
        acting,
        password,
        Meaning::Approval,
        "eligibility_assessment",
        &view.assessment.id.to_string(),
        &view.assessment.record(),
    )
    .await
}

/// Enrollment per month of a study at the given sites: (first day of month, enrolled that month).
pub async fn enrollment_by_month(store: &Store, study_id: Uuid, sites: &[Uuid]) -> Result<Vec<(NaiveDate, i64)>> {
    let rows: Vec<(Uuid, Option<NaiveDate>)> = on!(store.db.read(), |c| sqlx::query_as(
        "SELECT site_id, enrolled_on FROM participants WHERE study_id = $1 AND enrolled_on IS NOT NULL"
    )
    .bind(study_id)
    .fetch_all(c)
    .await)?;
    let mut by: std::collections::BTreeMap<NaiveDate, i64> = Default::default();
    for (site, d) in rows {
        if let Some(d) = d
            && sites.contains(&site)
            && let Some(m) = NaiveDate::from_ymd_opt(chrono::Datelike::year(&d), chrono::Datelike::month(&d), 1)
        {
            *by.entry(m).or_default() += 1;
        }
    }
    Ok(by.into_iter().collect())
}

/// The study of a participant with its participating site, for checks that need both.
pub async fn context(store: &Store, p: &Participant) -> Result<(Study, StudySite)> {
    Ok((crate::trials::study(store, p.study_id).await?, crate::trials::study_site(store, p.study_id, p.site_id).await?))
}
