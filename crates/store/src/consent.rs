//! Consent: document versions with their PDF of record, consent events recorded on paper or
//! remotely, eConsent on a one-time kiosk link with an immutable snapshot and the obtainer's
//! countersignature, and re-consent tasks when a new version takes effect.
//!
//! A participant becomes consented only here: recording a paper or remote consent, or
//! countersigning an eConsent, applies the pipeline move in the same transaction.

use crate::participants::{
    MoveRequest, Participant, apply_move_in, check_move, participant, participant_in, site_today,
};
use crate::{Acting, Result, Store, StoreError, Tx, exec, new_id, now, on, tx_on};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use clinbridge_core::Invalid;
use clinbridge_core::audit::{AuditAction, AuditEvent};
use clinbridge_core::consent::{
    CheckedEvent, DocumentInput, EventInput, KIOSK_MINUTES, Method, Question, RECONSENT_DAYS, SnapshotSigning,
    check_event, check_pdf, in_effect, render_document, snapshot_html,
};
use clinbridge_core::participants::Status;
use clinbridge_core::scheduling::calendar::local_instant;
use clinbridge_core::signature::Meaning;
use clinbridge_core::tasks::{Assignee, TaskStatus};
use clinbridge_core::trials::Duty;
use serde::Serialize;
use uuid::Uuid;

// ---------------------------------------------------------------- documents

#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct ConsentDocument {
    pub id: Uuid,
    pub study_id: Uuid,
    pub version_label: String,
    pub language: String,
    pub title: String,
    pub irb_approved_on: NaiveDate,
    pub effective_on: NaiveDate,
    pub retired_on: Option<NaiveDate>,
    #[serde(skip)]
    pub body: String,
    #[serde(skip)]
    pub questions: String,
    pub witness_required: bool,
    pub pdf_name: String,
    pub pdf_sha256: String,
    pub pdf_size: i64,
    pub created_at: DateTime<Utc>,
}

impl ConsentDocument {
    pub fn questions(&self) -> Vec<Question> {
        serde_json::from_str(&self.questions).unwrap_or_default()
    }
    pub fn in_effect(&self, day: NaiveDate) -> bool {
        in_effect(self.effective_on, self.retired_on, day)
    }
    /// The text as the participant reads it, rendered the same way every time.
    pub fn html(&self) -> String {
        render_document(&self.title, &self.version_label, &self.language, &self.body)
    }
    /// "v2.0 (es)".
    pub fn label(&self) -> String {
        format!("{} ({})", self.version_label, self.language)
    }
}

const DOC_SELECT: &str =
    "SELECT id, study_id, version_label, language, title, irb_approved_on, effective_on, retired_on, body,
        questions, witness_required, pdf_name, pdf_sha256, pdf_size, created_at FROM consent_documents";

/// A study's consent document versions, newest effective first within each language.
pub async fn documents(store: &Store, study_id: Uuid) -> Result<Vec<ConsentDocument>> {
    let sql = format!("{DOC_SELECT} WHERE study_id = $1 ORDER BY language, effective_on DESC");
    Ok(on!(store.db.read(), |c| sqlx::query_as::<_, ConsentDocument>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(study_id)
        .fetch_all(c)
        .await)?)
}

pub async fn document(store: &Store, id: Uuid) -> Result<ConsentDocument> {
    let sql = format!("{DOC_SELECT} WHERE id = $1");
    on!(store.db.read(), |c| sqlx::query_as::<_, ConsentDocument>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(id)
        .fetch_optional(c)
        .await)?
    .ok_or(StoreError::NotFound("consent document"))
}

async fn documents_in(tx: &mut Tx, study_id: Uuid) -> Result<Vec<ConsentDocument>> {
    let sql = format!("{DOC_SELECT} WHERE study_id = $1 ORDER BY language, effective_on DESC");
    Ok(tx_on!(tx, |c| sqlx::query_as::<_, ConsentDocument>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(study_id)
        .fetch_all(&mut *c)
        .await)?)
}

/// The PDF of record: file name and bytes.
pub async fn document_pdf(store: &Store, id: Uuid) -> Result<(String, Vec<u8>)> {
    on!(store.db.read(), |c| sqlx::query_as::<_, (String, Vec<u8>)>(
        "SELECT pdf_name, pdf FROM consent_documents WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(c)
    .await)?
    .ok_or(StoreError::NotFound("consent document"))
}

/// A PDF file name as uploaded, reduced to a safe download name.
fn pdf_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String =
        base.chars().filter(|c| c.is_ascii_alphanumeric() || "._- ".contains(*c)).take(120).collect::<String>();
    let clean = clean.trim().to_string();
    if clean.is_empty() {
        "consent.pdf".into()
    } else if clean.to_ascii_lowercase().ends_with(".pdf") {
        clean
    } else {
        format!("{clean}.pdf")
    }
}

/// Adds a consent document version. The open version of the same language is retired on the
/// day the new one takes effect, which must be after the day it did; participants on an older
/// version get a re-consent task once the new one is in effect.
pub async fn add_document(
    store: &Store,
    acting: &Acting,
    study_id: Uuid,
    input: DocumentInput,
    file_name: &str,
    pdf: Vec<u8>,
) -> Result<ConsentDocument> {
    let mut checks = clinbridge_core::Checks::new();
    let doc = checks.take("", input.check());
    let sha = checks.take("pdf", check_pdf(&pdf));
    checks.finish()?;
    let (Some(doc), Some(sha)) = (doc, sha) else { return Err(StoreError::Internal("unchecked document".into())) };
    let study = crate::trials::study(store, study_id).await?;
    let name = pdf_name(file_name);
    let id = new_id();
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let existing = documents_in(tx, study_id).await?;
                if existing.iter().any(|d| d.language == doc.language && d.version_label == doc.version_label) {
                    return Err(StoreError::conflict(
                        "version_label",
                        "this study already has a consent version with that label in that language",
                    ));
                }
                if let Some(open) = existing.iter().find(|d| d.language == doc.language && d.retired_on.is_none()) {
                    if doc.effective_on <= open.effective_on {
                        return Err(Invalid::one(
                            "effective_on",
                            format!(
                                "must be after {}, when version {} took effect",
                                open.effective_on, open.version_label
                            ),
                        )
                        .into());
                    }
                    exec!(tx, "UPDATE consent_documents SET retired_on = $1 WHERE id = $2", doc.effective_on, open.id)?;
                    tx.audit(
                        AuditEvent::new(AuditAction::Update, "consent_document", open.id)
                            .new_value(serde_json::json!({ "retired_on": doc.effective_on, "superseded_by": doc.version_label })),
                    );
                }
                let created_by = tx.acting().user;
                let questions = crate::json(&doc.questions)?;
                exec!(
                    tx,
                    "INSERT INTO consent_documents (id, study_id, version_label, language, title, irb_approved_on, effective_on, body, questions,
                        witness_required, pdf_name, pdf, pdf_sha256, pdf_size, created_by, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
                    id,
                    study_id,
                    &doc.version_label,
                    &doc.language,
                    &doc.title,
                    doc.irb_approved_on,
                    doc.effective_on,
                    &doc.body,
                    &questions,
                    doc.witness_required,
                    &name,
                    &pdf,
                    &sha,
                    pdf.len() as i64,
                    created_by,
                    now()
                )
                .map_err(|e| StoreError::from(e).unique_as("version_label", "this study already has an open version in that language"))?;
                tx.audit(AuditEvent::new(AuditAction::Create, "consent_document", id).new_value(serde_json::json!({
                    "study": study.code, "version_label": doc.version_label, "language": doc.language, "title": doc.title,
                    "irb_approved_on": doc.irb_approved_on, "effective_on": doc.effective_on,
                    "witness_required": doc.witness_required, "questions": doc.questions.len(),
                    "body_sha256": clinbridge_core::consent::sha256_hex(doc.body.as_bytes()),
                    "pdf_name": name, "pdf_sha256": sha, "pdf_size": pdf.len(),
                })));
                reconsent_in(tx, Among::Study(study_id)).await?;
                let sql = format!("{DOC_SELECT} WHERE id = $1");
                Ok(tx_on!(tx, |c| sqlx::query_as::<_, ConsentDocument>(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(id)
                    .fetch_one(&mut *c)
                    .await)?)
            })
        })
        .await
}

/// Retires a version from a day on (a language no longer used, an approval withdrawn).
pub async fn retire_document(store: &Store, acting: &Acting, id: Uuid, on: NaiveDate) -> Result<ConsentDocument> {
    let d = document(store, id).await?;
    if let Some(r) = d.retired_on
        && r <= on
    {
        return Err(StoreError::Refused(format!("version {} is already retired from {r}", d.label())));
    }
    if on <= d.effective_on {
        return Err(Invalid::one(
            "retired_on",
            format!("must be after {}, when the version took effect", d.effective_on),
        )
        .into());
    }
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                exec!(tx, "UPDATE consent_documents SET retired_on = $1 WHERE id = $2", on, id)?;
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "consent_document", id)
                        .old(serde_json::json!({ "retired_on": d.retired_on }))
                        .new_value(serde_json::json!({ "retired_on": on })),
                );
                Ok(())
            })
        })
        .await?;
    document(store, id).await
}

// ---------------------------------------------------------------- events

#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct ConsentEvent {
    pub id: Uuid,
    pub participant_id: Uuid,
    pub document_id: Uuid,
    pub version_label: String,
    pub language: String,
    pub kind: String,
    pub status: String,
    pub method: String,
    pub signer: String,
    /// The signer's name: identifying, shown only with the snapshot to those who may read PHI.
    #[serde(skip)]
    pub signer_name: String,
    pub representative_relationship: String,
    pub witness_name: String,
    pub answers: String,
    pub copy_provided: bool,
    pub note: String,
    pub consented_at: DateTime<Utc>,
    pub consented_on: NaiveDate,
    pub obtained_by: Uuid,
    pub obtained_by_name: String,
    pub completed_at: Option<DateTime<Utc>>,
    pub snapshot_id: Option<Uuid>,
    pub snapshot_sha256: Option<String>,
}

impl ConsentEvent {
    /// The record the obtainer's countersignature binds to: everything but the signer's name,
    /// which the snapshot (whose hash is included) holds.
    pub fn record(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id, "participant_id": self.participant_id, "document_id": self.document_id,
            "kind": self.kind, "method": self.method, "signer": self.signer,
            "representative_relationship": self.representative_relationship, "witness_name": self.witness_name,
            "answers": self.answers, "copy_provided": self.copy_provided, "consented_at": self.consented_at,
            "obtained_by": self.obtained_by, "snapshot_sha256": self.snapshot_sha256,
        })
    }
    pub fn method_label(&self) -> &'static str {
        Method::parse(&self.method).map(|m| m.label()).unwrap_or("")
    }
}

const EVENT_SELECT: &str =
    "SELECT e.id, e.participant_id, e.document_id, d.version_label, d.language, e.kind, e.status, e.method,
        e.signer, e.signer_name, e.representative_relationship, e.witness_name, e.answers, e.copy_provided, e.note,
        e.consented_at, e.consented_on, e.obtained_by, u.name AS obtained_by_name, e.completed_at,
        s.id AS snapshot_id, s.sha256 AS snapshot_sha256
     FROM consent_events e JOIN consent_documents d ON d.id = e.document_id JOIN users u ON u.id = e.obtained_by
     LEFT JOIN consent_snapshots s ON s.event_id = e.id";

/// A participant's consent events, oldest first.
pub async fn events(store: &Store, participant_id: Uuid) -> Result<Vec<ConsentEvent>> {
    let sql = format!("{EVENT_SELECT} WHERE e.participant_id = $1 ORDER BY e.consented_at, e.id");
    Ok(on!(store.db.read(), |c| sqlx::query_as::<_, ConsentEvent>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(participant_id)
        .fetch_all(c)
        .await)?)
}

pub async fn event(store: &Store, id: Uuid) -> Result<ConsentEvent> {
    let sql = format!("{EVENT_SELECT} WHERE e.id = $1");
    on!(store.db.read(), |c| sqlx::query_as::<_, ConsentEvent>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(id)
        .fetch_optional(c)
        .await)?
    .ok_or(StoreError::NotFound("consent event"))
}

async fn event_in(tx: &mut Tx, id: Uuid) -> Result<ConsentEvent> {
    let sql = format!("{EVENT_SELECT} WHERE e.id = $1");
    tx_on!(tx, |c| sqlx::query_as::<_, ConsentEvent>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(id)
        .fetch_optional(&mut *c)
        .await)?
    .ok_or(StoreError::NotFound("consent event"))
}

/// Whether a participant may consent now: an initial consent from screening, a re-consent while
/// on study. Gives the kind of event.
fn consent_kind(p: &Participant) -> Result<&'static str> {
    match p.status() {
        Status::Screening => Ok("initial"),
        Status::Consented | Status::Eligible | Status::Enrolled | Status::Randomized | Status::Active => {
            Ok("reconsent")
        }
        Status::Prescreen => Err(StoreError::Refused(format!("{} is not screening yet", p.subject_id))),
        s => Err(StoreError::Refused(format!(
            "{} is {}: consent is no longer taken",
            p.subject_id,
            s.label().to_lowercase()
        ))),
    }
}

/// Everything a consent needs before it is written: the participant may consent, the version
/// belongs to the study and is in effect on the day, the obtainer holds the delegated duty on
/// that day, and (for an initial consent) the move to consented is allowed.
struct Prepared {
    participant: Participant,
    document: ConsentDocument,
    kind: &'static str,
    on: NaiveDate,
    initial_move: Option<(MoveRequest, clinbridge_core::participants::CheckedMove)>,
}

async fn prepare(
    store: &Store,
    participant_id: Uuid,
    document_id: Uuid,
    obtained_by: Uuid,
    at: DateTime<Utc>,
) -> Result<Prepared> {
    let p = participant(store, participant_id).await?;
    let kind = consent_kind(&p)?;
    let d = document(store, document_id).await?;
    if d.study_id != p.study_id {
        return Err(Invalid::one("document_id", "is not a consent version of this participant's study").into());
    }
    let ss = crate::trials::study_site(store, p.study_id, p.site_id).await?;
    let on = at.with_timezone(&ss.tz()).date_naive();
    if at > now() + Duration::minutes(5) {
        return Err(Invalid::one("consented_at", "must not be in the future").into());
    }
    crate::participants::check_event_date("consented_at", on, site_today(&ss))?;
    if let Some(s) = p.screened_on
        && on < s
    {
        return Err(Invalid::one("consented_at", format!("must not be before screening began ({s})")).into());
    }
    if !d.in_effect(on) {
        return Err(Invalid::one(
            "document_id",
            format!(
                "version {} was not in effect on {on} (effective {}{})",
                d.label(),
                d.effective_on,
                match d.retired_on {
                    Some(r) => format!(", retired {r}"),
                    None => String::new(),
                }
            ),
        )
        .into());
    }
    if kind == "reconsent"
        && let Some(last) = events(store, participant_id).await?.into_iter().rev().find(|e| e.status == "complete")
        && last.document_id == document_id
    {
        return Err(StoreError::Refused(format!("{} already consented to version {}", p.subject_id, d.label())));
    }
    crate::trials::holds_duty(store, p.study_id, p.site_id, obtained_by, Duty::ObtainConsent, on).await.map_err(
        |e| match e {
            StoreError::Refused(m) => Invalid::one("obtained_by", m).into(),
            e => e,
        },
    )?;
    let initial_move = if kind == "initial" {
        let req = MoveRequest {
            to: Status::Consented,
            reason_code: String::new(),
            detail: String::new(),
            consent_withdrawal: String::new(),
            effective_on: on,
        };
        let (_, checked) = check_move(store, participant_id, &req).await?;
        Some((req, checked))
    } else {
        None
    };
    Ok(Prepared { participant: p, document: d, kind, on, initial_move })
}

/// What the obtainer enters for a paper or remote consent.
#[derive(Debug, Clone)]
pub struct RecordConsent {
    pub document_id: Uuid,
    pub consented_at: DateTime<Utc>,
    pub obtained_by: Uuid,
    pub event: EventInput,
}

#[allow(clippy::too_many_arguments)]
async fn insert_event_in(
    tx: &mut Tx,
    id: Uuid,
    prep: &Prepared,
    e: &CheckedEvent,
    status: &str,
    at: DateTime<Utc>,
    obtained_by: Uuid,
) -> Result<()> {
    let answers = crate::json(&e.answers)?;
    let completed = (status == "complete").then(now);
    let recorded_by = tx.acting().user;
    exec!(
        tx,
        "INSERT INTO consent_events (id, participant_id, document_id, kind, status, method, signer, signer_name, representative_relationship,
            witness_name, answers, copy_provided, note, consented_at, consented_on, obtained_by, recorded_by, completed_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
        id,
        prep.participant.id,
        prep.document.id,
        prep.kind,
        status,
        e.method.as_str(),
        e.signer.as_str(),
        &e.signer_name,
        &e.representative_relationship,
        &e.witness_name,
        &answers,
        e.copy_provided,
        &e.note,
        at,
        prep.on,
        obtained_by,
        recorded_by,
        completed,
        now()
    )?;
    tx.audit(AuditEvent::new(AuditAction::Create, "consent_event", id).new_value(serde_json::json!({
        "subject_id": prep.participant.subject_id, "version": prep.document.label(), "kind": prep.kind, "status": status,
        "method": e.method.as_str(), "signer": e.signer.as_str(), "representative_relationship": e.representative_relationship,
        "witness": !e.witness_name.is_empty(), "answers": e.answers, "copy_provided": e.copy_provided,
        "consented_at": at, "obtained_by": obtained_by,
    })));
    Ok(())
}

/// Completes a consent inside the write: the initial move to consented, or the re-consent task
/// closed.
async fn complete_in(tx: &mut Tx, prep: &Prepared, event_id: Uuid, obtained_by: Uuid) -> Result<()> {
    match &prep.initial_move {
        Some((req, checked)) => {
            let p = participant_in(tx, prep.participant.id).await?;
            apply_move_in(
                tx,
                &p,
                req,
                checked,
                Some(serde_json::json!({ "consent_event": event_id, "consent_obtained_by": obtained_by })),
            )
            .await?;
            // A consent recorded late, to a version since superseded, is due again at once.
            reconsent_in(tx, Among::Participant(prep.participant.id)).await?;
        }
        None => {
            crate::tasks::resolve_in(tx, &reconsent_key(prep.participant.id, prep.document.id), TaskStatus::Done)
                .await?;
        }
    }
    Ok(())
}

/// Records a consent given on paper or remotely. An initial consent moves the participant to
/// consented (and plans the visits anchored on consent) in the same transaction.
pub async fn record(store: &Store, acting: &Acting, participant_id: Uuid, r: RecordConsent) -> Result<ConsentEvent> {
    let prep = prepare(store, participant_id, r.document_id, r.obtained_by, r.consented_at).await?;
    let e = check_event(&prep.document.questions(), prep.document.witness_required, &r.event)?;
    if e.method == Method::Electronic {
        return Err(Invalid::one("method", "an electronic consent is signed by the participant on a kiosk link").into());
    }
    let id = new_id();
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                insert_event_in(tx, id, &prep, &e, "complete", r.consented_at, r.obtained_by).await?;
                complete_in(tx, &prep, id, r.obtained_by).await?;
                event_in(tx, id).await
            })
        })
        .await
}

// ---------------------------------------------------------------- eConsent on a kiosk

fn countersign_key(event_id: Uuid) -> String {
    format!("consent.countersign:{event_id}")
}

/// Opens a one-time kiosk link for a participant to read and sign a version on a tablet. The
/// person opening it is the one obtaining consent: they must hold the duty today. Gives the
/// secret token (shown once; only its SHA-256 is stored) and when the link expires.
pub async fn open_kiosk(
    store: &Store,
    acting: &Acting,
    participant_id: Uuid,
    document_id: Uuid,
) -> Result<(String, DateTime<Utc>)> {
    let Some(user) = acting.user else { return Err(StoreError::Refused("only a person can open a kiosk link".into())) };
    let prep = prepare(store, participant_id, document_id, user, now()).await?;
    let token = crate::secrets::random_token(32)?;
    let hash = crate::secrets::sha256_hex(&token);
    let expires = now() + Duration::minutes(KIOSK_MINUTES);
    let id = new_id();
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                exec!(
                    tx,
                    "INSERT INTO consent_kiosk_links (id, token_sha256, participant_id, document_id, created_by, created_at, expires_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    id,
                    &hash,
                    participant_id,
                    document_id,
                    user,
                    now(),
                    expires
                )?;
                tx.audit(AuditEvent::new(AuditAction::Create, "consent_kiosk_link", id).new_value(serde_json::json!({
                    "subject_id": prep.participant.subject_id, "version": prep.document.label(), "expires_at": expires,
                })));
                Ok(())
            })
        })
        .await?;
    Ok((token, expires))
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct KioskLink {
    id: Uuid,
    participant_id: Uuid,
    document_id: Uuid,
    created_by: Uuid,
    expires_at: DateTime<Utc>,
    used_at: Option<DateTime<Utc>>,
}

async fn kiosk_link(store: &Store, token: &str) -> Result<KioskLink> {
    let hash = crate::secrets::sha256_hex(token);
    let link: Option<KioskLink> = on!(store.db.read(), |c| {
        sqlx::query_as(
        "SELECT id, participant_id, document_id, created_by, expires_at, used_at FROM consent_kiosk_links WHERE token_sha256 = $1"
    )
    .bind(&hash)
    .fetch_optional(c)
    .await
    })?;
    let Some(link) = link else { return Err(StoreError::NotFound("kiosk link")) };
    if link.used_at.is_some() {
        return Err(StoreError::Refused(
            "this consent link has already been used; ask the study team for a new one".into(),
        ));
    }
    if link.expires_at <= now() {
        return Err(StoreError::Refused("this consent link has expired; ask the study team for a new one".into()));
    }
    Ok(link)
}

/// What the kiosk page shows: no identifiers beyond the subject id.
#[derive(Debug, Clone)]
pub struct KioskView {
    pub subject_id: String,
    pub study_code: String,
    pub document: ConsentDocument,
    pub expires_at: DateTime<Utc>,
}

pub async fn kiosk(store: &Store, token: &str) -> Result<KioskView> {
    let link = kiosk_link(store, token).await?;
    let p = participant(store, link.participant_id).await?;
    consent_kind(&p)?;
    let study = crate::trials::study(store, p.study_id).await?;
    Ok(KioskView {
        subject_id: p.subject_id,
        study_code: study.code,
        document: document(store, link.document_id).await?,
        expires_at: link.expires_at,
    })
}

/// The participant signs on the kiosk. The link is spent by a guarded update, the snapshot of
/// exactly what was shown (the rendered document) and signed is stored with its SHA-256, and the
/// event waits for the obtainer's countersignature, which is put on their work queue.
pub async fn kiosk_sign(store: &Store, token: &str, input: EventInput) -> Result<ConsentEvent> {
    let link = kiosk_link(store, token).await?;
    let signed_at = now();
    let prep = prepare(store, link.participant_id, link.document_id, link.created_by, signed_at).await?;
    let input = EventInput { method: Method::Electronic.as_str().into(), ..input };
    let e = check_event(&prep.document.questions(), prep.document.witness_required, &input)?;
    let study = crate::trials::study(store, prep.participant.study_id).await?;
    let ss = crate::trials::study_site(store, prep.participant.study_id, prep.participant.site_id).await?;
    let tz = ss.tz();
    let html = snapshot_html(
        &prep.document.html(),
        &SnapshotSigning {
            subject_id: &prep.participant.subject_id,
            study_code: &study.code,
            pdf_sha256: &prep.document.pdf_sha256,
            questions: &prep.document.questions(),
            event: &e,
            signed_at,
            signed_local: signed_at.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string(),
        },
    );
    let sha = clinbridge_core::consent::sha256_hex(html.as_bytes());
    let id = new_id();
    let acting = Acting::system();
    store
        .write(&acting, move |tx| {
            Box::pin(async move {
                let t = now();
                let spent = exec!(
                    tx,
                    "UPDATE consent_kiosk_links SET used_at = $1 WHERE id = $2 AND used_at IS NULL AND expires_at > $1",
                    t,
                    link.id
                )?;
                if spent == 0 {
                    return Err(StoreError::Refused("this consent link has already been used".into()));
                }
                insert_event_in(tx, id, &prep, &e, "awaiting_countersignature", signed_at, link.created_by).await?;
                exec!(tx, "UPDATE consent_kiosk_links SET event_id = $1 WHERE id = $2", id, link.id)?;
                let snap = new_id();
                exec!(
                    tx,
                    "INSERT INTO consent_snapshots (id, event_id, html, sha256, created_at) VALUES ($1, $2, $3, $4, $5)",
                    snap,
                    id,
                    &html,
                    &sha,
                    t
                )?;
                tx.audit(AuditEvent::new(AuditAction::Create, "consent_snapshot", snap).new_value(serde_json::json!({
                    "consent_event": id, "kiosk_link": link.id, "sha256": sha, "bytes": html.len(),
                })));
                crate::tasks::raise_in(
                    tx,
                    crate::tasks::NewTask {
                        kind: "consent_countersign".into(),
                        title: format!("Countersign the eConsent of {}", prep.participant.subject_id),
                        detail: format!(
                            "{} signed version {} on the kiosk; the person obtaining consent countersigns.",
                            prep.participant.subject_id,
                            prep.document.label()
                        ),
                        subject_type: "participant".into(),
                        subject_id: prep.participant.id.to_string(),
                        study_id: Some(prep.participant.study_id),
                        site_id: Some(prep.participant.site_id),
                        assignee: Assignee::User { user_id: link.created_by },
                        due_at: t + Duration::hours(24),
                        rule: "consent.countersign".into(),
                        rule_key: countersign_key(id),
                    },
                )
                .await?;
                event_in(tx, id).await
            })
        })
        .await
}

/// The obtainer countersigns an eConsent with the platform e-signature. An initial consent
/// then moves the participant to consented, in the same transaction as the signature.
pub async fn countersign(store: &Store, acting: &Acting, event_id: Uuid, password: &str) -> Result<ConsentEvent> {
    let ev = event(store, event_id).await?;
    if ev.status != "awaiting_countersignature" {
        return Err(StoreError::Refused("this consent is already complete".into()));
    }
    if acting.user != Some(ev.obtained_by) {
        return Err(StoreError::Refused(format!(
            "only {}, who obtained this consent, can countersign it",
            ev.obtained_by_name
        )));
    }
    let prep = prepare(store, ev.participant_id, ev.document_id, ev.obtained_by, ev.consented_at).await?;
    let sig = crate::signatures::prepare(
        store,
        acting,
        password,
        Meaning::Responsibility,
        "consent_event",
        &event_id.to_string(),
        &ev.record(),
    )
    .await?;
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let n = exec!(
                    tx,
                    "UPDATE consent_events SET status = 'complete', completed_at = $1 WHERE id = $2 AND status = 'awaiting_countersignature'",
                    now(),
                    event_id
                )?;
                if n == 0 {
                    return Err(StoreError::conflict("status", "this consent was completed meanwhile"));
                }
                crate::signatures::insert_in(tx, &sig).await?;
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "consent_event", event_id)
                        .old(serde_json::json!({ "status": "awaiting_countersignature" }))
                        .new_value(serde_json::json!({ "status": "complete", "signature_id": sig.id })),
                );
                complete_in(tx, &prep, event_id, ev.obtained_by).await?;
                crate::tasks::resolve_in(tx, &countersign_key(event_id), TaskStatus::Done).await?;
                event_in(tx, event_id).await
            })
        })
        .await
}

/// An eConsent snapshot: the page as shown and signed, and its SHA-256.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Snapshot {
    pub id: Uuid,
    pub event_id: Uuid,
    pub participant_id: Uuid,
    pub html: String,
    pub sha256: String,
    pub created_at: DateTime<Utc>,
}

impl Snapshot {
    /// Whether the stored page still hashes to the stored digest.
    pub fn intact(&self) -> bool {
        clinbridge_core::consent::sha256_hex(self.html.as_bytes()) == self.sha256
    }
}

/// Reads an eConsent snapshot. It holds the signer's name, so the read is audited like any
/// other read of identifiers.
pub async fn read_snapshot(store: &Store, acting: &Acting, id: Uuid, purpose: &str) -> Result<Snapshot> {
    let purpose = purpose.to_string();
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let s: Option<Snapshot> = tx_on!(tx, |c| sqlx::query_as(
                    "SELECT s.id, s.event_id, e.participant_id, s.html, s.sha256, s.created_at
                     FROM consent_snapshots s JOIN consent_events e ON e.id = s.event_id WHERE s.id = $1"
                )
                .bind(id)
                .fetch_optional(&mut *c)
                .await)?;
                let Some(s) = s else { return Err(StoreError::NotFound("consent snapshot")) };
                tx.audit(AuditEvent::new(AuditAction::PhiRead, "participant", s.participant_id).new_value(
                    serde_json::json!({ "purpose": purpose, "fields": ["consent_snapshot"], "snapshot": id }),
                ));
                Ok(s)
            })
        })
        .await
}

/// The participant and snapshot ids of a snapshot, for access checks before it is read.
pub async fn snapshot_owner(store: &Store, id: Uuid) -> Result<Uuid> {
    on!(store.db.read(), |c| sqlx::query_scalar::<_, Uuid>(
        "SELECT e.participant_id FROM consent_snapshots s JOIN consent_events e ON e.id = s.event_id WHERE s.id = $1"
    )
    .bind(id)
    .fetch_optional(c)
    .await)?
    .ok_or(StoreError::NotFound("consent snapshot"))
}

// ---------------------------------------------------------------- re-consent

fn reconsent_key(participant_id: Uuid, document_id: Uuid) -> String {
    format!("consent.reconsent:{participant_id}:{document_id}")
}

/// A participant on study whose last completed consent is to an older version than the one now
/// in effect in the same language.
#[derive(Debug, Clone, Serialize)]
pub struct ReconsentDue {
    pub participant_id: Uuid,
    pub subject_id: String,
    pub signed_version: String,
    pub current: ConsentDocument,
    pub due_on: NaiveDate,
}

#[derive(sqlx::FromRow)]
struct LastConsent {
    participant_id: Uuid,
    subject_id: String,
    study_id: Uuid,
    site_id: Uuid,
    time_zone: String,
    document_id: Uuid,
}

/// Whose consents a re-consent pass looks at.
#[derive(Debug, Clone, Copy)]
enum Among {
    Everyone,
    Study(Uuid),
    Participant(Uuid),
}

impl Among {
    /// Every completed consent of the participants on study, oldest first per participant.
    fn sql(self) -> String {
        let filter = match self {
            Among::Everyone => "",
            Among::Study(_) => " AND p.study_id = $1",
            Among::Participant(_) => " AND p.id = $1",
        };
        format!(
            "SELECT p.id AS participant_id, p.subject_id, p.study_id, p.site_id, s.time_zone, e.document_id
             FROM participants p JOIN sites s ON s.id = p.site_id JOIN consent_events e ON e.participant_id = p.id
             WHERE p.status IN ('consented', 'eligible', 'enrolled', 'randomized', 'active') AND e.status = 'complete'{filter}
             ORDER BY p.id, e.consented_at, e.id"
        )
    }
    fn id(self) -> Option<Uuid> {
        match self {
            Among::Everyone => None,
            Among::Study(id) | Among::Participant(id) => Some(id),
        }
    }
}

async fn last_consents_in(tx: &mut Tx, among: Among) -> Result<Vec<LastConsent>> {
    let sql = among.sql();
    Ok(tx_on!(tx, |c| {
        let q = sqlx::query_as::<_, LastConsent>(sqlx::AssertSqlSafe(sql.clone()));
        match among.id() {
            Some(id) => q.bind(id),
            None => q,
        }
        .fetch_all(&mut *c)
        .await
    })?)
}

async fn last_consents(store: &Store, among: Among) -> Result<Vec<LastConsent>> {
    let sql = among.sql();
    Ok(on!(store.db.read(), |c| {
        let q = sqlx::query_as::<_, LastConsent>(sqlx::AssertSqlSafe(sql.clone()));
        match among.id() {
            Some(id) => q.bind(id),
            None => q,
        }
        .fetch_all(c)
        .await
    })?)
}

/// Who must re-consent: for every on-study participant, the last completed consent compared
/// with the version in effect today (at the site) in the same language. In subject id order.
fn due_from(last: Vec<LastConsent>, docs: &[ConsentDocument]) -> Vec<(LastConsent, ReconsentDue)> {
    let mut latest: std::collections::HashMap<Uuid, LastConsent> = Default::default();
    for l in last {
        latest.insert(l.participant_id, l);
    }
    let mut out = Vec::new();
    for (_, l) in latest {
        let Some(signed) = docs.iter().find(|d| d.id == l.document_id) else { continue };
        let tz: chrono_tz::Tz = l.time_zone.parse().unwrap_or(chrono_tz::UTC);
        let today = now().with_timezone(&tz).date_naive();
        let current = docs.iter().find(|d| {
            d.study_id == l.study_id
                && d.language == signed.language
                && d.in_effect(today)
                && d.effective_on > signed.effective_on
        });
        if let Some(c) = current {
            let due = ReconsentDue {
                participant_id: l.participant_id,
                subject_id: l.subject_id.clone(),
                signed_version: signed.label(),
                due_on: c.effective_on + Duration::days(RECONSENT_DAYS),
                current: c.clone(),
            };
            out.push((l, due));
        }
    }
    out.sort_by(|a, b| a.1.subject_id.cmp(&b.1.subject_id));
    out
}

/// Raises a re-consent task for every participant on an older version than the one in effect
/// (one task per participant and version; raising again changes nothing).
async fn reconsent_in(tx: &mut Tx, among: Among) -> Result<usize> {
    let last = last_consents_in(tx, among).await?;
    let mut studies: Vec<Uuid> = last.iter().map(|l| l.study_id).collect();
    studies.sort();
    studies.dedup();
    let mut docs = Vec::new();
    for s in studies {
        docs.extend(documents_in(tx, s).await?);
    }
    let due = due_from(last, &docs);
    let n = due.len();
    for (l, d) in due {
        let tz: chrono_tz::Tz = l.time_zone.parse().unwrap_or(chrono_tz::UTC);
        let five_pm = chrono::NaiveTime::from_hms_opt(17, 0, 0).unwrap_or_default();
        let due_at = local_instant(tz, d.due_on, five_pm, "due_at").unwrap_or_else(|_| now());
        let current = d.current.label();
        crate::tasks::raise_in(
            tx,
            crate::tasks::NewTask {
                kind: "reconsent".into(),
                title: format!("Re-consent {} to version {current}", d.subject_id),
                detail: format!(
                    "{} consented to version {}; version {current} took effect on {}.",
                    d.subject_id, d.signed_version, d.current.effective_on
                ),
                subject_type: "participant".into(),
                subject_id: d.participant_id.to_string(),
                study_id: Some(l.study_id),
                site_id: Some(l.site_id),
                assignee: Assignee::Role {
                    role: clinbridge_core::identity::Role::Coordinator,
                    scope: clinbridge_core::identity::Scope::Site(l.site_id),
                },
                due_at,
                rule: "consent.reconsent".into(),
                rule_key: reconsent_key(d.participant_id, d.current.id),
            },
        )
        .await?;
    }
    Ok(n)
}

/// The ticker's sweep: raises the re-consent tasks of versions that took effect since.
pub async fn raise_reconsent_tasks(store: &Store) -> Result<usize> {
    store.write(&Acting::system(), |tx| Box::pin(async move { reconsent_in(tx, Among::Everyone).await })).await
}

/// Whether a participant must re-consent, and to which version.
pub async fn reconsent_due(store: &Store, participant_id: Uuid) -> Result<Option<ReconsentDue>> {
    let last = last_consents(store, Among::Participant(participant_id)).await?;
    let Some(study_id) = last.first().map(|l| l.study_id) else { return Ok(None) };
    let docs = documents(store, study_id).await?;
    Ok(due_from(last, &docs).into_iter().next().map(|(_, d)| d))
}

/// Every participant of a study (at the given sites) who must re-consent.
pub async fn reconsents_due(store: &Store, study_id: Uuid, sites: &[Uuid]) -> Result<Vec<ReconsentDue>> {
    let last = last_consents(store, Among::Study(study_id)).await?;
    let last = last.into_iter().filter(|l| sites.contains(&l.site_id)).collect();
    let docs = documents(store, study_id).await?;
    Ok(due_from(last, &docs).into_iter().map(|(_, d)| d).collect())
}

/// The versions a participant can sign today (in effect at the site), newest first.
pub async fn current_documents(store: &Store, participant: &Participant) -> Result<Vec<ConsentDocument>> {
    let ss = crate::trials::study_site(store, participant.study_id, participant.site_id).await?;
    let today = site_today(&ss);
    Ok(documents(store, participant.study_id).await?.into_iter().filter(|d| d.in_effect(today)).collect())
}

#[cfg(test)]
mod tests {
    use super::pdf_name;

    #[test]
    fn download_names_are_tame() {
        assert_eq!(pdf_name("C:\\docs\\HF3 ICF v2.pdf"), "HF3 ICF v2.pdf");
        assert_eq!(pdf_name("../../etc/passwd"), "passwd.pdf");
        assert_eq!(pdf_name("\"evil\";.pdf"), "evil.pdf");
        assert_eq!(pdf_name(""), "consent.pdf");
    }
}
