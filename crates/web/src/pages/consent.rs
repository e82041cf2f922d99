//! Consent pages: the study's consent versions (upload of the IRB-approved PDF), the consent
//! panel of the participant page (record paper or remote consent, open a kiosk link,
//! countersign, view the eConsent snapshot), and the kiosk itself, which the participant uses on
//! a tablet without signing in: the one-time token is the credential.

use super::participants::after;
use super::{Chrome, PageError, PageResult, chrome, form_date, form_errors, local, render, see_other};
use crate::AppState;
use crate::api::consent::{CONSENT_READ, CONSENT_WRITE, ConsentIn, consent_request, kiosk_url, readable_event};
use crate::api::participants::{PARTICIPANTS_PHI, readable_participant, target};
use crate::api::trials::{TRIALS_ADMIN, readable_study};
use crate::auth::Authed;
use crate::error::ApiError;
use askama::Template;
use axum::Form;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::handler::Handler;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::NaiveDate;
use clinbridge_core::consent::{CERTIFICATIONS, DocumentInput, EventInput, MAX_PDF_BYTES, Method, parse_questions};
use clinbridge_core::participants::Status;
use clinbridge_core::policy::Target;
use clinbridge_core::scheduling::calendar::local_instant;
use clinbridge_store::consent as store_c;
use clinbridge_store::participants::{self as store_p, Participant};
use clinbridge_store::trials::Study;
use uuid::Uuid;

pub fn register(r: crate::routes::Routes) -> crate::routes::Routes {
    r.get("/studies/{code}/consent", documents_page)
        .post("/studies/{code}/consent", upload.layer(DefaultBodyLimit::max(MAX_PDF_BYTES + 512 * 1024)))
        .post("/consent-documents/{id}/retire", retire)
        .post("/participants/{id}/consents", record)
        .post("/participants/{id}/kiosk-links", open_kiosk)
        .post("/consent-events/{id}/countersign", countersign)
        .get("/consent-events/{id}/snapshot", snapshot)
        .get("/kiosk/{token}", kiosk_page)
        .post("/kiosk/{token}", kiosk_sign)
}

/// A form's fields in order, for forms with numbered fields (one answer per question).
type Fields = Vec<(String, String)>;

fn field<'a>(f: &'a Fields, name: &str) -> &'a str {
    f.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or("")
}

fn yes_no(raw: &str) -> Option<bool> {
    match raw {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    }
}

// ---------------------------------------------------------------- the participant page's panel

pub struct EventLine {
    pub id: Uuid,
    pub when: String,
    pub version: String,
    pub kind: &'static str,
    pub awaiting: bool,
    pub method: &'static str,
    pub signer: String,
    pub witness: String,
    pub obtained_by: String,
    pub copy: &'static str,
    pub note: String,
    pub snapshot: Option<String>,
    pub can_countersign: bool,
}

pub struct QuestionLine {
    pub n: usize,
    pub text: String,
}

pub struct VersionForm {
    pub id: Uuid,
    pub label: String,
    pub title: String,
    pub witness_required: bool,
    pub questions: Vec<QuestionLine>,
}

pub struct ConsentPanel {
    pub events: Vec<EventLine>,
    pub reconsent: Option<(String, String, String)>,
    pub versions: Vec<VersionForm>,
    pub consenters: Vec<(String, String)>,
    pub can_consent: bool,
    pub phi: bool,
    pub today: String,
    pub methods: Vec<(&'static str, &'static str)>,
}

/// The consent panel of a participant's page.
pub async fn panel(
    state: &AppState,
    who: &Authed,
    p: &Participant,
    study: &Study,
    today: NaiveDate,
) -> Result<ConsentPanel, ApiError> {
    let t = target(p);
    let tz = who.tz();
    let readable = who.can(CONSENT_READ, t);
    let can_write = who.can(CONSENT_WRITE, t);
    let events = if readable { store_c::events(&state.store, p.id).await? } else { Vec::new() };
    let events = events
        .into_iter()
        .map(|e| EventLine {
            when: local(e.consented_at, tz),
            version: format!("{} ({})", e.version_label, e.language),
            kind: if e.kind == "initial" { "Initial consent" } else { "Re-consent" },
            awaiting: e.status == "awaiting_countersignature",
            method: e.method_label(),
            signer: if e.signer == "representative" {
                format!("Legally authorized representative ({})", e.representative_relationship)
            } else {
                "Participant".into()
            },
            witness: e.witness_name.clone(),
            copy: if e.copy_provided { "Copy given" } else { "No copy given" },
            note: e.note.clone(),
            snapshot: e.snapshot_sha256.clone(),
            can_countersign: can_write && e.status == "awaiting_countersignature" && e.obtained_by == who.user.id,
            obtained_by: e.obtained_by_name,
            id: e.id,
        })
        .collect();
    let reconsent = if readable {
        store_c::reconsent_due(&state.store, p.id)
            .await?
            .map(|r| (r.signed_version, r.current.label(), r.due_on.to_string()))
    } else {
        None
    };
    let can_consent = can_write
        && matches!(
            p.status(),
            Status::Screening
                | Status::Consented
                | Status::Eligible
                | Status::Enrolled
                | Status::Randomized
                | Status::Active
        );
    let versions = if can_consent {
        store_c::current_documents(&state.store, p)
            .await?
            .into_iter()
            .map(|d| VersionForm {
                id: d.id,
                label: d.label(),
                title: d.title.clone(),
                witness_required: d.witness_required,
                questions: d
                    .questions()
                    .into_iter()
                    .enumerate()
                    .map(|(n, q)| QuestionLine { n, text: q.text })
                    .collect(),
            })
            .collect()
    } else {
        Vec::new()
    };
    // People delegated to obtain consent at this site today.
    let mut consenters: Vec<(String, String)> = Vec::new();
    if can_consent {
        let log = clinbridge_store::trials::delegation_log(&state.store, study.id, p.site_id).await?;
        for v in log.iter().filter(|v| {
            v.signed.is_some()
                && v.entry.duties().contains(&clinbridge_core::trials::Duty::ObtainConsent)
                && clinbridge_core::trials::delegation_current(v.entry.start_on, v.entry.end_on, today)
        }) {
            if let Ok(u) = clinbridge_store::identity::user(&state.store, v.entry.user_id).await
                && !consenters.iter().any(|(e, _)| *e == u.email)
            {
                consenters.push((u.email, u.name));
            }
        }
        // The signed-in person first, when they may obtain consent.
        if let Some(i) = consenters.iter().position(|(e, _)| *e == who.user.email) {
            let me = consenters.remove(i);
            consenters.insert(0, me);
        }
    }
    Ok(ConsentPanel {
        events,
        reconsent,
        versions,
        consenters,
        can_consent,
        phi: who.can(PARTICIPANTS_PHI, t),
        today: today.to_string(),
        methods: [Method::Paper, Method::Remote].iter().map(|m| (m.as_str(), m.label())).collect(),
    })
}

/// Records a paper or remote consent from the participant page's form.
async fn record(State(state): State<AppState>, who: Authed, Path(id): Path<Uuid>, Form(f): Form<Fields>) -> PageResult {
    let p = readable_participant(&state, &who, id).await?;
    who.require(CONSENT_WRITE, target(&p))?;
    let r = async {
        let document_id = Uuid::parse_str(field(&f, "document_id"))
            .map_err(|_| ApiError::field("document_id", "choose a version"))?;
        let doc = store_c::document(&state.store, document_id)
            .await
            .map_err(|_| ApiError::field("document_id", "choose a version"))?;
        let (_, ss) = store_p::context(&state.store, &p).await?;
        let day = form_date("consented_on", field(&f, "consented_on"))
            .map_err(|e| ApiError::Invalid(vec![e]))?
            .ok_or_else(|| ApiError::field("consented_on", "is required"))?;
        let time = chrono::NaiveTime::parse_from_str(field(&f, "consented_time"), "%H:%M")
            .map_err(|_| ApiError::field("consented_time", "give the time as HH:MM"))?;
        let consented_at = local_instant(ss.tz(), day, time, "consented_time")?;
        let answers = (0..doc.questions().len()).map(|i| yes_no(field(&f, &format!("answer_{i}")))).collect();
        let b = ConsentIn {
            document_id,
            consented_at: Some(consented_at),
            method: field(&f, "method").into(),
            signer: field(&f, "signer").into(),
            signer_name: field(&f, "signer_name").into(),
            representative_relationship: field(&f, "representative_relationship").into(),
            witness_name: field(&f, "witness_name").into(),
            answers,
            copy_provided: yes_no(field(&f, "copy_provided")),
            note: field(&f, "note").into(),
            obtained_by: Some(field(&f, "obtained_by").to_string()),
        };
        let req = consent_request(&state, &who, b).await?;
        Ok::<_, ApiError>(store_c::record(&state.store, &who.acting(), id, req).await?)
    }
    .await;
    after(&state, &who, id, r).await
}

#[derive(Template)]
#[template(path = "kiosk_link.html")]
struct KioskLinkPage {
    chrome: Chrome,
    participant_id: Uuid,
    subject_id: String,
    version: String,
    url: String,
    qr: String,
    expires: String,
}

#[derive(serde::Deserialize)]
struct KioskForm {
    document_id: String,
}

/// Opens a kiosk link and shows it once, with a code the tablet can scan.
async fn open_kiosk(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<KioskForm>,
) -> PageResult {
    let p = readable_participant(&state, &who, id).await?;
    who.require(CONSENT_WRITE, target(&p))?;
    let r = async {
        let document_id =
            Uuid::parse_str(f.document_id.trim()).map_err(|_| ApiError::field("document_id", "choose a version"))?;
        let (token, expires) = store_c::open_kiosk(&state.store, &who.acting(), id, document_id).await?;
        let doc = store_c::document(&state.store, document_id).await?;
        Ok::<_, ApiError>((token, expires, doc))
    }
    .await;
    let (token, expires, doc) = match r {
        Ok(x) => x,
        Err(e) => return after(&state, &who, id, Err::<(), _>(e)).await,
    };
    let url = kiosk_url(&state, &token);
    let qr = qrcode::QrCode::new(url.as_bytes())
        .map(|c| c.render::<qrcode::render::svg::Color>().min_dimensions(180, 180).quiet_zone(true).build())
        .unwrap_or_default();
    let mut response = render(&KioskLinkPage {
        chrome: chrome(&state, &who, "/studies").await,
        participant_id: id,
        subject_id: p.subject_id,
        version: doc.label(),
        url,
        qr,
        expires: local(expires, who.tz()),
    });
    response.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    Ok(response)
}

#[derive(serde::Deserialize)]
struct PasswordForm {
    password: String,
}

async fn countersign(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<PasswordForm>,
) -> PageResult {
    let (_, p) = readable_event(&state, &who, id, CONSENT_WRITE).await?;
    let r = store_c::countersign(&state.store, &who.acting(), id, &f.password).await.map_err(ApiError::from);
    after(&state, &who, p.id, r).await
}

/// The eConsent snapshot, shown as stored (sandboxed: no scripts, nothing fetched).
async fn snapshot(State(state): State<AppState>, who: Authed, Path(id): Path<Uuid>) -> PageResult {
    let (e, p) = readable_event(&state, &who, id, CONSENT_READ).await?;
    who.require(PARTICIPANTS_PHI, target(&p))?;
    let Some(sid) = e.snapshot_id else { return Err(ApiError::NotFound("consent snapshot").into()) };
    let s = store_c::read_snapshot(&state.store, &who.acting(), sid, "consent snapshot view").await?;
    Ok(crate::api::consent::snapshot_response(&s, &p.subject_id, false))
}

// ---------------------------------------------------------------- the kiosk

#[derive(Template)]
#[template(path = "kiosk.html")]
struct KioskPage {
    chrome: Chrome,
    token: String,
    subject_id: String,
    document_html: String,
    version: String,
    pdf_sha256: String,
    witness_required: bool,
    questions: Vec<QuestionLine>,
    certifications: Vec<(usize, &'static str)>,
    errors: Vec<(String, String)>,
    values: Fields,
}

impl KioskPage {
    fn value(&self, name: &str) -> &str {
        field(&self.values, name)
    }
}

#[derive(Template)]
#[template(path = "kiosk_done.html")]
struct KioskDone {
    chrome: Chrome,
    title: String,
    message: String,
}

fn kiosk_closed(message: String) -> PageResult {
    let mut r =
        render(&KioskDone { chrome: Chrome::anonymous(), title: "This consent link cannot be used".into(), message });
    *r.status_mut() = StatusCode::GONE;
    Ok(r)
}

async fn kiosk_view(state: &AppState, token: &str, errors: Vec<(String, String)>, values: Fields) -> PageResult {
    let view = match store_c::kiosk(&state.store, token).await {
        Ok(v) => v,
        Err(clinbridge_store::StoreError::NotFound(_)) => {
            return kiosk_closed("This link is not known. Ask the study team for a new one.".into());
        }
        Err(clinbridge_store::StoreError::Refused(m)) => return kiosk_closed(m),
        Err(e) => return Err(ApiError::from(e).into()),
    };
    let d = view.document;
    let page = KioskPage {
        chrome: Chrome::anonymous(),
        token: token.to_string(),
        subject_id: view.subject_id,
        document_html: d.html(),
        version: d.label(),
        pdf_sha256: d.pdf_sha256.clone(),
        witness_required: d.witness_required,
        questions: d.questions().into_iter().enumerate().map(|(n, q)| QuestionLine { n, text: q.text }).collect(),
        certifications: CERTIFICATIONS.iter().copied().enumerate().collect(),
        errors,
        values,
    };
    let status = if page.errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let mut r = (status, render(&page)).into_response();
    r.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    r.headers_mut().insert(axum::http::header::REFERRER_POLICY, axum::http::HeaderValue::from_static("no-referrer"));
    Ok(r)
}

async fn kiosk_page(State(state): State<AppState>, Path(token): Path<String>) -> PageResult {
    kiosk_view(&state, &token, Vec::new(), Vec::new()).await
}

async fn kiosk_sign(State(state): State<AppState>, Path(token): Path<String>, Form(f): Form<Fields>) -> PageResult {
    let view = match store_c::kiosk(&state.store, &token).await {
        Ok(v) => v,
        Err(_) => return kiosk_view(&state, &token, Vec::new(), Vec::new()).await,
    };
    let mut errors: Vec<(String, String)> = CERTIFICATIONS
        .iter()
        .enumerate()
        .filter(|(i, _)| field(&f, &format!("cert_{i}")) != "on")
        .map(|(i, _)| ("certification".to_string(), format!("tick statement {} to continue", i + 1)))
        .collect();
    let input = EventInput {
        method: Method::Electronic.as_str().into(),
        signer: field(&f, "signer").into(),
        signer_name: field(&f, "signer_name").into(),
        representative_relationship: field(&f, "representative_relationship").into(),
        witness_name: field(&f, "witness_name").into(),
        answers: (0..view.document.questions().len()).map(|i| yes_no(field(&f, &format!("answer_{i}")))).collect(),
        copy_provided: Some(true),
        note: String::new(),
    };
    if errors.is_empty() {
        match store_c::kiosk_sign(&state.store, &token, input).await {
            Ok(_) => {
                return Ok(render(&KioskDone {
                    chrome: Chrome::anonymous(),
                    title: "Thank you".into(),
                    message: "Your consent is signed. Please hand the tablet back to the study team; they will give you a copy."
                        .into(),
                }));
            }
            Err(e) => errors = form_errors(ApiError::from(e))?,
        }
    }
    let keep: Fields = f.into_iter().filter(|(k, _)| k != "signer_name").collect();
    kiosk_view(&state, &token, errors, keep).await
}

// ---------------------------------------------------------------- the study's consent versions

pub struct DocumentLine {
    pub id: Uuid,
    pub label: String,
    pub title: String,
    pub irb_approved_on: String,
    pub effective_on: String,
    pub retired_on: String,
    pub in_effect: bool,
    pub witness_required: bool,
    pub questions: usize,
    pub pdf_name: String,
    pub pdf_sha256: String,
    pub pdf_kib: i64,
}

#[derive(Template)]
#[template(path = "consent_documents.html")]
struct DocumentsPage {
    chrome: Chrome,
    study_code: String,
    study_name: String,
    documents: Vec<DocumentLine>,
    reconsents: Vec<(Uuid, String, String, String, String)>,
    can_admin: bool,
    errors: Vec<(String, String)>,
    today: String,
}

async fn documents_view(
    state: &AppState,
    who: &Authed,
    code: &str,
    errors: Vec<(String, String)>,
) -> Result<DocumentsPage, PageError> {
    let study = readable_study(state, who, code).await?;
    let today = clinbridge_store::now().date_naive();
    let documents = store_c::documents(&state.store, study.id)
        .await?
        .into_iter()
        .map(|d| DocumentLine {
            id: d.id,
            label: d.label(),
            in_effect: d.in_effect(today),
            irb_approved_on: d.irb_approved_on.to_string(),
            effective_on: d.effective_on.to_string(),
            retired_on: d.retired_on.map(|r| r.to_string()).unwrap_or_default(),
            witness_required: d.witness_required,
            questions: d.questions().len(),
            pdf_kib: (d.pdf_size + 1023) / 1024,
            title: d.title,
            pdf_name: d.pdf_name,
            pdf_sha256: d.pdf_sha256,
        })
        .collect();
    let sites: Vec<Uuid> = clinbridge_store::trials::study_sites(&state.store, study.id)
        .await?
        .into_iter()
        .filter(|s| who.can(CONSENT_READ, Target::study_site(study.id, s.site_id)))
        .map(|s| s.site_id)
        .collect();
    let reconsents = store_c::reconsents_due(&state.store, study.id, &sites)
        .await?
        .into_iter()
        .map(|r| (r.participant_id, r.subject_id, r.signed_version, r.current.label(), r.due_on.to_string()))
        .collect();
    Ok(DocumentsPage {
        chrome: chrome(state, who, "/studies").await,
        study_name: study.display_name().to_string(),
        can_admin: who.can(TRIALS_ADMIN, Target::study(study.id)),
        study_code: study.code,
        documents,
        reconsents,
        errors,
        today: today.to_string(),
    })
}

async fn documents_page(State(state): State<AppState>, who: Authed, Path(code): Path<String>) -> PageResult {
    Ok(render(&documents_view(&state, &who, &code, Vec::new()).await?))
}

async fn after_documents(state: &AppState, who: &Authed, code: &str, r: Result<(), ApiError>) -> PageResult {
    match r {
        Ok(()) => Ok(see_other(&format!("/studies/{code}/consent"))),
        Err(ApiError::Forbidden) => Err(ApiError::Forbidden.into()),
        Err(e) => {
            let errors = form_errors(e)?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&documents_view(state, who, code, errors).await?))
                .into_response())
        }
    }
}

/// Adds a version from the upload form (multipart: the fields and the PDF).
async fn upload(
    State(state): State<AppState>,
    who: Authed,
    Path(code): Path<String>,
    req: axum::extract::Request,
) -> PageResult {
    let study = readable_study(&state, &who, &code).await?;
    who.require(TRIALS_ADMIN, Target::study(study.id))?;
    let r = async {
        // Read only once the caller may add a version.
        let mut form = <Multipart as axum::extract::FromRequest<AppState>>::from_request(req, &state)
            .await
            .map_err(|_| ApiError::field("pdf", "send the form as multipart/form-data with the PDF"))?;
        let mut fields: Fields = Vec::new();
        let mut pdf: (String, Vec<u8>) = (String::new(), Vec::new());
        while let Some(part) = form
            .next_field()
            .await
            .map_err(|_| ApiError::field("pdf", "the upload was cut off or too large (20 MiB at most)"))?
        {
            let name = part.name().unwrap_or_default().to_string();
            if name == "pdf" {
                let file = part.file_name().unwrap_or_default().to_string();
                let bytes = part
                    .bytes()
                    .await
                    .map_err(|_| ApiError::field("pdf", "the upload was cut off or too large (20 MiB at most)"))?;
                pdf = (file, bytes.to_vec());
            } else {
                let text = part.text().await.map_err(|_| ApiError::field(&name, "could not be read"))?;
                fields.push((name, text));
            }
        }
        let questions = parse_questions(field(&fields, "questions"))
            .map_err(|e| ApiError::from(clinbridge_store::StoreError::from(e)))?;
        let date = |name: &str| form_date(name, field(&fields, name)).map_err(|e| ApiError::Invalid(vec![e]));
        let input = DocumentInput {
            version_label: field(&fields, "version_label").into(),
            language: field(&fields, "language").into(),
            title: field(&fields, "title").into(),
            irb_approved_on: date("irb_approved_on")?,
            effective_on: date("effective_on")?,
            body: field(&fields, "body").into(),
            questions,
            witness_required: field(&fields, "witness_required") == "on",
        };
        store_c::add_document(&state.store, &who.acting(), study.id, input, &pdf.0, pdf.1).await?;
        Ok::<_, ApiError>(())
    }
    .await;
    after_documents(&state, &who, &code, r).await
}

#[derive(serde::Deserialize)]
struct RetireForm {
    retired_on: String,
}

async fn retire(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<RetireForm>,
) -> PageResult {
    let d = crate::api::consent::readable_document(&state, &who, id).await?;
    who.require(TRIALS_ADMIN, Target::study(d.study_id))?;
    let study = clinbridge_store::trials::study(&state.store, d.study_id).await?;
    let r = async {
        let on = form_date("retired_on", &f.retired_on)
            .map_err(|e| ApiError::Invalid(vec![e]))?
            .ok_or_else(|| ApiError::field("retired_on", "is required"))?;
        store_c::retire_document(&state.store, &who.acting(), id, on).await?;
        Ok::<_, ApiError>(())
    }
    .await;
    after_documents(&state, &who, &study.code, r).await
}
