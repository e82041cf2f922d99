//! Consent API: a study's consent document versions (with the PDF of record), a participant's
//! consent events, paper and remote consent, one-time kiosk links for eConsent, the obtainer's
//! countersignature and the eConsent snapshot (identifying, so read under the PHI permission
//! and audited).

use super::participants::{PARTICIPANTS_PHI, readable_participant, target};
use super::trials::{SignIn, TRIALS_ADMIN, readable_study};
use super::{ApiJson, ApiPath};
use crate::AppState;
use crate::auth::Authed;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::routes::Routes;
use axum::Json;
use axum::extract::{DefaultBodyLimit, State};
use axum::handler::Handler;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use chrono::{DateTime, NaiveDate, Utc};
use clinbridge_core::consent::{DocumentInput, EventInput, MAX_PDF_BYTES, Question};
use clinbridge_core::policy::{Action, Context, Op, Target};
use clinbridge_store::consent::{self as store_c, ConsentDocument, ConsentEvent, ReconsentDue};
use clinbridge_store::participants::Participant;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pub const CONSENT_READ: Action = Action::new(Context::Consent, Op::Read);
pub const CONSENT_WRITE: Action = Action::new(Context::Consent, Op::Write);

/// Room for a PDF of the largest size, base64-encoded in JSON.
const JSON_UPLOAD_LIMIT: usize = MAX_PDF_BYTES / 3 * 4 + 64 * 1024;

pub fn register(r: Routes) -> Routes {
    r.get("/api/v1/studies/{code}/consent-documents", list_documents)
        .post("/api/v1/studies/{code}/consent-documents", add_document.layer(DefaultBodyLimit::max(JSON_UPLOAD_LIMIT)))
        .get("/api/v1/consent-documents/{id}/pdf", document_pdf)
        .post("/api/v1/consent-documents/{id}/retire", retire_document)
        .get("/api/v1/participants/{id}/consents", list_events)
        .post("/api/v1/participants/{id}/consents", record)
        .post("/api/v1/participants/{id}/kiosk-links", open_kiosk)
        .post("/api/v1/consent-events/{id}/countersign", countersign)
        .get("/api/v1/consent-events/{id}/snapshot", snapshot)
}

#[derive(Serialize, ToSchema)]
pub struct QuestionOut {
    pub text: String,
    /// The answer that shows the point was understood.
    pub expected: bool,
}

#[derive(Serialize, ToSchema)]
pub struct DocumentOut {
    pub id: Uuid,
    pub version_label: String,
    /// A language tag: en, es, pt-BR.
    pub language: String,
    pub title: String,
    pub irb_approved_on: NaiveDate,
    pub effective_on: NaiveDate,
    pub retired_on: Option<NaiveDate>,
    /// Whether the version is in effect today (UTC date).
    pub in_effect: bool,
    pub witness_required: bool,
    pub questions: Vec<QuestionOut>,
    pub pdf_name: String,
    pub pdf_sha256: String,
    pub pdf_size: i64,
    pub pdf_url: String,
}

impl From<ConsentDocument> for DocumentOut {
    fn from(d: ConsentDocument) -> Self {
        DocumentOut {
            in_effect: d.in_effect(clinbridge_store::now().date_naive()),
            questions: d.questions().into_iter().map(|q| QuestionOut { text: q.text, expected: q.expected }).collect(),
            pdf_url: format!("/api/v1/consent-documents/{}/pdf", d.id),
            id: d.id,
            version_label: d.version_label,
            language: d.language,
            title: d.title,
            irb_approved_on: d.irb_approved_on,
            effective_on: d.effective_on,
            retired_on: d.retired_on,
            witness_required: d.witness_required,
            pdf_name: d.pdf_name,
            pdf_sha256: d.pdf_sha256,
            pdf_size: d.pdf_size,
        }
    }
}

/// A study's consent versions, by language and newest first.
#[utoipa::path(get, path = "/api/v1/studies/{code}/consent-documents", tag = "consent", params(("code" = String, Path)),
    responses((status = 200, body = [DocumentOut]), (status = 404, body = ErrorBody)))]
pub async fn list_documents(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(code): ApiPath<String>,
) -> ApiResult<Json<Vec<DocumentOut>>> {
    let study = readable_study(&state, &who, &code).await?;
    Ok(Json(store_c::documents(&state.store, study.id).await?.into_iter().map(Into::into).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuestionIn {
    pub text: String,
    pub expected: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentIn {
    pub version_label: String,
    pub language: String,
    pub title: String,
    pub irb_approved_on: Option<NaiveDate>,
    pub effective_on: Option<NaiveDate>,
    /// The text the participant reads on the kiosk: blank lines separate paragraphs, a line
    /// starting with "# " is a heading.
    pub body: String,
    #[serde(default)]
    pub questions: Vec<QuestionIn>,
    #[serde(default)]
    pub witness_required: bool,
    pub pdf_name: String,
    /// The IRB-approved PDF, base64-encoded (at most 20 MiB decoded).
    pub pdf_base64: String,
}

/// Adds a consent version. The open version of the same language is retired on the day the
/// new one takes effect; participants on an older version get a re-consent task then.
#[utoipa::path(post, path = "/api/v1/studies/{code}/consent-documents", tag = "consent", params(("code" = String, Path)), request_body = DocumentIn,
    responses((status = 201, body = DocumentOut), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_document(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(code): ApiPath<String>,
    ApiJson(b): ApiJson<DocumentIn>,
) -> ApiResult<Response> {
    let study = readable_study(&state, &who, &code).await?;
    who.require(TRIALS_ADMIN, Target::study(study.id))?;
    let pdf = base64::engine::general_purpose::STANDARD
        .decode(b.pdf_base64.trim())
        .map_err(|_| ApiError::field("pdf_base64", "is not base64"))?;
    let input = DocumentInput {
        version_label: b.version_label,
        language: b.language,
        title: b.title,
        irb_approved_on: b.irb_approved_on,
        effective_on: b.effective_on,
        body: b.body,
        questions: b.questions.into_iter().map(|q| Question { text: q.text, expected: q.expected }).collect(),
        witness_required: b.witness_required,
    };
    let d = store_c::add_document(&state.store, &who.acting(), study.id, input, &b.pdf_name, pdf).await?;
    Ok((StatusCode::CREATED, Json(DocumentOut::from(d))).into_response())
}

/// A consent document the caller may read (404 otherwise).
pub async fn readable_document(state: &AppState, who: &Authed, id: Uuid) -> ApiResult<ConsentDocument> {
    let d = store_c::document(&state.store, id).await.map_err(|_| ApiError::NotFound("consent document"))?;
    let participations = clinbridge_store::trials::participations_of(&state.store, d.study_id).await?;
    if !super::trials::can_read(who, d.study_id, &participations) {
        return Err(ApiError::NotFound("consent document"));
    }
    Ok(d)
}

/// The PDF of record, as uploaded.
#[utoipa::path(get, path = "/api/v1/consent-documents/{id}/pdf", tag = "consent", params(("id" = Uuid, Path)),
    responses((status = 200, content_type = "application/pdf", body = Vec<u8>), (status = 404, body = ErrorBody)))]
pub async fn document_pdf(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Response> {
    let d = readable_document(&state, &who, id).await?;
    let (name, bytes) = store_c::document_pdf(&state.store, id).await?;
    let disposition = format!("inline; filename=\"{name}\"");
    let mut r = bytes.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/pdf"));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", d.pdf_sha256)) {
        h.insert(header::ETAG, v);
    }
    Ok(r)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetireIn {
    /// The first day the version is no longer used.
    pub retired_on: NaiveDate,
}

#[utoipa::path(post, path = "/api/v1/consent-documents/{id}/retire", tag = "consent", params(("id" = Uuid, Path)), request_body = RetireIn,
    responses((status = 200, body = DocumentOut), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn retire_document(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<RetireIn>,
) -> ApiResult<Json<DocumentOut>> {
    let d = readable_document(&state, &who, id).await?;
    who.require(TRIALS_ADMIN, Target::study(d.study_id))?;
    Ok(Json(store_c::retire_document(&state.store, &who.acting(), id, b.retired_on).await?.into()))
}

#[derive(Serialize, ToSchema)]
pub struct ConsentEventOut {
    pub id: Uuid,
    pub document_id: Uuid,
    pub version_label: String,
    pub language: String,
    /// initial or reconsent.
    pub kind: String,
    /// awaiting_countersignature or complete.
    pub status: String,
    /// paper, electronic or remote.
    pub method: String,
    /// participant or representative.
    pub signer: String,
    pub representative_relationship: String,
    pub witness_name: String,
    pub copy_provided: bool,
    pub note: String,
    pub consented_at: DateTime<Utc>,
    pub consented_on: NaiveDate,
    pub obtained_by: String,
    pub completed_at: Option<DateTime<Utc>>,
    /// The eConsent snapshot's SHA-256; the snapshot itself is at `snapshot_url`.
    pub snapshot_sha256: Option<String>,
    pub snapshot_url: Option<String>,
}

impl From<ConsentEvent> for ConsentEventOut {
    fn from(e: ConsentEvent) -> Self {
        ConsentEventOut {
            snapshot_url: e.snapshot_id.map(|_| format!("/api/v1/consent-events/{}/snapshot", e.id)),
            id: e.id,
            document_id: e.document_id,
            version_label: e.version_label,
            language: e.language,
            kind: e.kind,
            status: e.status,
            method: e.method,
            signer: e.signer,
            representative_relationship: e.representative_relationship,
            witness_name: e.witness_name,
            copy_provided: e.copy_provided,
            note: e.note,
            consented_at: e.consented_at,
            consented_on: e.consented_on,
            obtained_by: e.obtained_by_name,
            completed_at: e.completed_at,
            snapshot_sha256: e.snapshot_sha256,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ReconsentOut {
    /// The version last signed.
    pub signed_version: String,
    pub document_id: Uuid,
    /// The version now in effect.
    pub version: String,
    pub due_on: NaiveDate,
}

impl From<ReconsentDue> for ReconsentOut {
    fn from(r: ReconsentDue) -> Self {
        ReconsentOut {
            signed_version: r.signed_version,
            document_id: r.current.id,
            version: r.current.label(),
            due_on: r.due_on,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ConsentsOut {
    pub events: Vec<ConsentEventOut>,
    /// Set when a newer version is in effect than the one last signed.
    pub reconsent: Option<ReconsentOut>,
}

/// A participant the caller may read and act on in the consent context.
async fn consent_participant(state: &AppState, who: &Authed, id: Uuid, action: Action) -> ApiResult<Participant> {
    let p = readable_participant(state, who, id).await?;
    who.require(action, target(&p))?;
    Ok(p)
}

#[utoipa::path(get, path = "/api/v1/participants/{id}/consents", tag = "consent", params(("id" = Uuid, Path)),
    responses((status = 200, body = ConsentsOut), (status = 404, body = ErrorBody)))]
pub async fn list_events(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<ConsentsOut>> {
    let p = consent_participant(&state, &who, id, CONSENT_READ).await?;
    Ok(Json(ConsentsOut {
        events: store_c::events(&state.store, p.id).await?.into_iter().map(Into::into).collect(),
        reconsent: store_c::reconsent_due(&state.store, p.id).await?.map(Into::into),
    }))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ConsentIn {
    pub document_id: Uuid,
    /// When the signer signed; now when left out.
    #[serde(default)]
    pub consented_at: Option<DateTime<Utc>>,
    /// paper or remote (electronic consent is signed on a kiosk link).
    pub method: String,
    /// participant (the default) or representative.
    #[serde(default)]
    pub signer: String,
    /// The name the signer printed on the form.
    pub signer_name: String,
    /// For a legally authorized representative: how they are related to the participant.
    #[serde(default)]
    pub representative_relationship: String,
    #[serde(default)]
    pub witness_name: String,
    /// One answer per comprehension question of the version, in order.
    #[serde(default)]
    pub answers: Vec<Option<bool>>,
    pub copy_provided: Option<bool>,
    #[serde(default)]
    pub note: String,
    /// The e-mail of the person who obtained consent (they need the delegated duty); the caller
    /// when left out.
    #[serde(default)]
    pub obtained_by: Option<String>,
}

/// What a consent form or body gives, ready for the store.
pub async fn consent_request(state: &AppState, who: &Authed, b: ConsentIn) -> ApiResult<store_c::RecordConsent> {
    let obtained_by = match super::optional_user_named(state, "obtained_by", b.obtained_by.as_deref()).await? {
        Some(u) => u,
        None => who.user.id,
    };
    Ok(store_c::RecordConsent {
        document_id: b.document_id,
        consented_at: b.consented_at.unwrap_or_else(clinbridge_store::now),
        obtained_by,
        event: EventInput {
            method: b.method,
            signer: b.signer,
            signer_name: b.signer_name,
            representative_relationship: b.representative_relationship,
            witness_name: b.witness_name,
            answers: b.answers,
            copy_provided: b.copy_provided,
            note: b.note,
        },
    })
}

/// Records a consent given on paper or remotely. An initial consent makes the participant
/// consented and plans the visits counted from consent; a re-consent closes the re-consent task.
#[utoipa::path(post, path = "/api/v1/participants/{id}/consents", tag = "consent", params(("id" = Uuid, Path)), request_body = ConsentIn,
    responses((status = 201, body = ConsentEventOut), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn record(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<ConsentIn>,
) -> ApiResult<Response> {
    let p = consent_participant(&state, &who, id, CONSENT_WRITE).await?;
    let req = consent_request(&state, &who, b).await?;
    let e = store_c::record(&state.store, &who.acting(), p.id, req).await?;
    Ok((StatusCode::CREATED, Json(ConsentEventOut::from(e))).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KioskIn {
    pub document_id: Uuid,
}

#[derive(Serialize, ToSchema)]
pub struct KioskOut {
    /// Open this on the tablet; it works once, until `expires_at`, and is not shown again.
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

/// The kiosk address of a token: absolute when the public address is configured.
pub fn kiosk_url(state: &AppState, token: &str) -> String {
    let base = state.config.public_url.as_deref().unwrap_or("").trim_end_matches('/');
    format!("{base}/kiosk/{token}")
}

/// Opens a one-time kiosk link on which the participant reads and signs the version. The caller
/// is the person obtaining consent and needs the delegated duty.
#[utoipa::path(post, path = "/api/v1/participants/{id}/kiosk-links", tag = "consent", params(("id" = Uuid, Path)), request_body = KioskIn,
    responses((status = 201, body = KioskOut), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn open_kiosk(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<KioskIn>,
) -> ApiResult<Response> {
    let p = consent_participant(&state, &who, id, CONSENT_WRITE).await?;
    let (token, expires_at) = store_c::open_kiosk(&state.store, &who.acting(), p.id, b.document_id).await?;
    Ok((StatusCode::CREATED, Json(KioskOut { url: kiosk_url(&state, &token), expires_at })).into_response())
}

/// A consent event the caller may read, with its participant.
pub async fn readable_event(
    state: &AppState,
    who: &Authed,
    id: Uuid,
    action: Action,
) -> ApiResult<(ConsentEvent, Participant)> {
    let e = store_c::event(&state.store, id).await.map_err(|_| ApiError::NotFound("consent event"))?;
    let p =
        readable_participant(state, who, e.participant_id).await.map_err(|_| ApiError::NotFound("consent event"))?;
    who.require(action, target(&p))?;
    Ok((e, p))
}

/// The person who obtained an eConsent countersigns it with their password; an initial consent
/// then makes the participant consented.
#[utoipa::path(post, path = "/api/v1/consent-events/{id}/countersign", tag = "consent", params(("id" = Uuid, Path)), request_body = SignIn,
    responses((status = 200, body = ConsentEventOut), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn countersign(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<SignIn>,
) -> ApiResult<Json<ConsentEventOut>> {
    readable_event(&state, &who, id, CONSENT_WRITE).await?;
    Ok(Json(store_c::countersign(&state.store, &who.acting(), id, &b.password).await?.into()))
}

/// The eConsent snapshot exactly as stored: the page shown and signed. It names the signer, so
/// it needs the PHI permission and the read is audited. `X-Content-SHA256` carries the stored
/// digest; the body hashes to it.
#[utoipa::path(get, path = "/api/v1/consent-events/{id}/snapshot", tag = "consent", params(("id" = Uuid, Path)),
    responses((status = 200, content_type = "text/html", body = String), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn snapshot(State(state): State<AppState>, who: Authed, ApiPath(id): ApiPath<Uuid>) -> ApiResult<Response> {
    let (e, p) = readable_event(&state, &who, id, CONSENT_READ).await?;
    who.require(PARTICIPANTS_PHI, target(&p))?;
    let Some(sid) = e.snapshot_id else { return Err(ApiError::NotFound("consent snapshot")) };
    let s = store_c::read_snapshot(&state.store, &who.acting(), sid, "consent snapshot download").await?;
    Ok(snapshot_response(&s, &p.subject_id, true))
}

/// A snapshot served as a file: the stored bytes untouched, no scripts or outside resources
/// allowed, and the digest in a header.
pub fn snapshot_response(s: &store_c::Snapshot, subject_id: &str, download: bool) -> Response {
    let mut r = s.html.clone().into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; sandbox"),
    );
    if let Ok(v) = HeaderValue::from_str(&s.sha256) {
        h.insert("x-content-sha256", v);
    }
    let safe: String = subject_id.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
    let kind = if download { "attachment" } else { "inline" };
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{kind}; filename=\"consent-{safe}-{}.html\"",
        &s.sha256[..12.min(s.sha256.len())]
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}
