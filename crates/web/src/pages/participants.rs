//! Participant pages: a study's participants with the screening funnel and the forms to
//! register a participant and log prescreen failures; one participant's page (pipeline moves,
//! eligibility checklist and signature, randomization, emergency unblinding); the audited
//! contact-details page.

use super::{Chrome, PageError, PageResult, chrome, form_date, form_errors, render, see_other};
use crate::AppState;
use crate::api::participants::{
    AnswerIn, ContactIn, PARTICIPANTS_PHI, PARTICIPANTS_SIGN, PARTICIPANTS_WRITE, ParticipantStatusIn, assignment_out,
    enrollment_of, move_request, readable_participant, readable_sites, responses, target,
};
use crate::api::trials::readable_study;
use crate::auth::Authed;
use crate::error::ApiError;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use clinbridge_core::participants::{ConsentWithdrawal, SCREEN_FAIL_REASONS, Status, WITHDRAWAL_REASONS, reason_text};
use clinbridge_core::policy::Target;
use clinbridge_store::participants::{self as store_p, randomization as store_r};
use clinbridge_store::trials::{self as store_trials, Study};
use serde::Deserialize;
use uuid::Uuid;

pub fn register(r: crate::routes::Routes) -> crate::routes::Routes {
    r.get("/studies/{code}/participants", list)
        .post("/studies/{code}/participants", create)
        .post("/studies/{code}/screening-log", log_prescreen)
        .get("/participants/{id}", page)
        .post("/participants/{id}/status", set_status)
        .post("/participants/{id}/eligibility", assess)
        .post("/participants/{id}/eligibility/sign", sign)
        .post("/participants/{id}/randomize", randomize)
        .post("/participants/{id}/unblind", unblind)
        .get("/participants/{id}/contact", contact)
        .post("/participants/{id}/contact", update_contact)
        .post("/participant-visits/{id}/record", record_visit)
        .post("/participant-visits/{id}/reschedule", reschedule_visit)
        .post("/participant-visits/{id}/book", book_visit)
        .post("/participant-visits/{id}/unbook", unbook_visit)
}

pub struct VisitLine {
    id: Uuid,
    label: String,
    target: String,
    window: String,
    status: &'static str,
    status_key: &'static str,
    actual: String,
    out_of_window: bool,
    note: String,
    open: bool,
    /// The planned day, and the booked slot with its resources.
    day: String,
    slot: String,
    booked: bool,
    window_start: String,
    window_end: String,
}

pub struct Row {
    id: Uuid,
    subject_id: String,
    site: String,
    status: &'static str,
    status_key: &'static str,
    since: String,
    reason: String,
}

/// Cumulative enrollment against the target, drawn as an SVG line chart.
pub struct EnrollmentChart {
    points: String,
    target_y: i64,
    target: i64,
    enrolled: i64,
    first: String,
    last: String,
    max: i64,
}

const CHART_W: i64 = 600;
const CHART_H: i64 = 180;

fn enrollment_chart(e: &crate::api::participants::EnrollmentOut) -> Option<EnrollmentChart> {
    let first = e.months.first()?;
    let last = e.months.last()?;
    let max = e.target.max(e.enrolled).max(1);
    let step = if e.months.len() > 1 { CHART_W / (e.months.len() as i64 - 1) } else { 0 };
    let points = e
        .months
        .iter()
        .enumerate()
        .map(|(i, m)| format!("{},{}", i as i64 * step, CHART_H - m.cumulative * CHART_H / max))
        .collect::<Vec<_>>()
        .join(" ");
    Some(EnrollmentChart {
        points,
        target_y: CHART_H - e.target * CHART_H / max,
        target: e.target,
        enrolled: e.enrolled,
        first: first.month.format("%b %Y").to_string(),
        last: last.month.format("%b %Y").to_string(),
        max,
    })
}

pub struct FunnelBar {
    stage: String,
    count: i64,
    width: i64,
}

#[derive(Deserialize, Default, Clone)]
pub struct ListQuery {
    #[serde(default)]
    site: String,
    #[serde(default)]
    status: String,
}

#[derive(Deserialize, Default, Clone)]
pub struct RegisterForm {
    #[serde(default)]
    site_code: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    on: String,
    #[serde(default)]
    given_name: String,
    #[serde(default)]
    family_name: String,
    #[serde(default)]
    date_of_birth: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    mrn: String,
}

#[derive(Template)]
#[template(path = "participants.html")]
struct ListPage {
    chrome: Chrome,
    study_code: String,
    study_name: String,
    rows: Vec<Row>,
    sites: Vec<(String, Option<String>)>,
    writable_sites: Vec<String>,
    phi: bool,
    statuses: Vec<(&'static str, &'static str)>,
    query: ListQuery,
    funnel: Vec<FunnelBar>,
    chart: Option<EnrollmentChart>,
    prescreen: Vec<(String, String, String, i64, String)>,
    reasons: Vec<(&'static str, &'static str)>,
    form: RegisterForm,
    errors: Vec<(String, String)>,
    today: String,
}

async fn list_view(
    state: &AppState,
    who: &Authed,
    code: &str,
    query: ListQuery,
    form: RegisterForm,
    errors: Vec<(String, String)>,
) -> Result<ListPage, PageError> {
    let study = readable_study(state, who, code).await?;
    let sites = readable_sites(state, who, &study).await?;
    if sites.is_empty() {
        return Err(ApiError::Forbidden.into());
    }
    let participating = store_trials::study_sites(&state.store, study.id).await?;
    // The forms' default day: today where the viewer's sites are (the earliest of their days, so
    // the default is never in the future at any of them).
    let today = participating
        .iter()
        .filter(|ss| sites.iter().any(|(id, _)| *id == ss.site_id))
        .map(store_p::site_today)
        .min()
        .unwrap_or_else(|| chrono::Utc::now().date_naive());
    let site_rows: Vec<(String, Option<String>)> = participating
        .iter()
        .filter(|ss| sites.iter().any(|(id, _)| *id == ss.site_id))
        .map(|ss| (ss.site_code.clone(), ss.enrollment_block(&study, today)))
        .collect();
    let writable_sites: Vec<String> = participating
        .iter()
        .filter(|ss| who.can(PARTICIPANTS_WRITE, Target::study_site(study.id, ss.site_id)))
        .filter(|ss| ss.enrollment_block(&study, today).is_none())
        .map(|ss| ss.site_code.clone())
        .collect();
    let phi = participating.iter().any(|ss| who.can(PARTICIPANTS_PHI, Target::study_site(study.id, ss.site_id)));
    let status = Status::parse(&query.status).ok();
    let site = query.site.trim().to_uppercase();
    let rows = store_p::participants(&state.store, study.id, None)
        .await?
        .into_iter()
        .filter(|p| sites.iter().any(|(id, _)| *id == p.site_id))
        .filter(|p| site.is_empty() || p.site_code == site)
        .filter(|p| status.is_none_or(|s| p.status() == s))
        .map(|p| {
            let since = [p.ended_on, p.randomized_on, p.enrolled_on, p.consented_on, p.screened_on]
                .into_iter()
                .flatten()
                .max()
                .map(|d| d.to_string())
                .unwrap_or_else(|| p.created_at.date_naive().to_string());
            Row {
                id: p.id,
                status: p.status().label(),
                status_key: p.status().as_str(),
                reason: reason_text(&p.reason_code).to_string(),
                subject_id: p.subject_id,
                site: p.site_code,
                since,
            }
        })
        .collect();
    let ids: Vec<Uuid> = sites.iter().filter(|(_, c)| site.is_empty() || *c == site).map(|(id, _)| *id).collect();
    let stages = store_p::funnel(&state.store, study.id, &ids).await?;
    let max = stages.iter().map(|s| s.count).max().unwrap_or(1).max(1);
    let funnel = stages
        .into_iter()
        .map(|s| FunnelBar { stage: s.stage.into(), count: s.count, width: (s.count * 100 / max).max(1) })
        .collect();
    let chart = enrollment_chart(&enrollment_of(state, who, &study, Some(&site)).await?);
    let prescreen = store_p::screening_log(&state.store, study.id, None)
        .await?
        .into_iter()
        .filter(|e| ids.contains(&e.site_id))
        .map(|e| (e.logged_on.to_string(), e.site_code, reason_text(&e.reason_code).to_string(), e.candidates, e.note))
        .collect();
    Ok(ListPage {
        chrome: chrome(state, who, "/studies").await,
        study_name: study.display_name().to_string(),
        study_code: study.code,
        rows,
        sites: site_rows,
        writable_sites,
        phi,
        statuses: Status::ALL.iter().map(|s| (s.as_str(), s.label())).collect(),
        query,
        funnel,
        chart,
        prescreen,
        reasons: SCREEN_FAIL_REASONS.to_vec(),
        form,
        errors,
        today: today.to_string(),
    })
}

async fn list(
    State(state): State<AppState>,
    who: Authed,
    Path(code): Path<String>,
    Query(q): Query<ListQuery>,
) -> PageResult {
    let form = RegisterForm { status: "screening".into(), ..Default::default() };
    Ok(render(&list_view(&state, &who, &code, q, form, Vec::new()).await?))
}

fn contact_of(f: &RegisterForm) -> Result<Option<store_p::Contact>, ApiError> {
    let any = [&f.given_name, &f.family_name, &f.date_of_birth, &f.phone, &f.email, &f.address, &f.mrn]
        .iter()
        .any(|v| !v.trim().is_empty());
    if !any {
        return Ok(None);
    }
    let dob = form_date("date_of_birth", &f.date_of_birth).map_err(|e| ApiError::Invalid(vec![e]))?;
    Ok(Some(store_p::Contact {
        given_name: f.given_name.clone(),
        family_name: f.family_name.clone(),
        date_of_birth: dob,
        phone: f.phone.clone(),
        email: f.email.clone(),
        address: f.address.clone(),
        mrn: f.mrn.clone(),
    }))
}

async fn create(
    State(state): State<AppState>,
    who: Authed,
    Path(code): Path<String>,
    Form(f): Form<RegisterForm>,
) -> PageResult {
    let study = readable_study(&state, &who, &code).await?;
    let r = async {
        let site = clinbridge_store::identity::site_by_code(&state.store, &f.site_code)
            .await
            .map_err(|_| ApiError::field("site_code", "does not name a site"))?;
        let t = Target::study_site(study.id, site.id);
        who.require(PARTICIPANTS_WRITE, t)?;
        let contact = contact_of(&f)?;
        if contact.is_some() {
            who.require(PARTICIPANTS_PHI, t)?;
        }
        let ss = store_trials::study_site(&state.store, study.id, site.id).await?;
        let on =
            form_date("on", &f.on).map_err(|e| ApiError::Invalid(vec![e]))?.unwrap_or_else(|| store_p::site_today(&ss));
        let status = Status::parse(&f.status)?;
        Ok::<_, ApiError>(
            store_p::register(
                &state.store,
                &who.acting(),
                study.id,
                site.id,
                store_p::NewParticipant { status, on, contact },
            )
            .await?,
        )
    }
    .await;
    match r {
        Ok(p) => Ok(see_other(&format!("/participants/{}", p.id))),
        Err(ApiError::Forbidden) => Err(ApiError::Forbidden.into()),
        Err(e) => {
            let errors = form_errors(e)?;
            let page = list_view(&state, &who, &study.code, ListQuery::default(), f, errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
        }
    }
}

#[derive(Deserialize)]
pub struct PrescreenForm {
    #[serde(default)]
    site_code: String,
    #[serde(default)]
    logged_on: String,
    #[serde(default)]
    reason_code: String,
    #[serde(default)]
    candidates: String,
    #[serde(default)]
    note: String,
}

async fn log_prescreen(
    State(state): State<AppState>,
    who: Authed,
    Path(code): Path<String>,
    Form(f): Form<PrescreenForm>,
) -> PageResult {
    let study = readable_study(&state, &who, &code).await?;
    let r = async {
        let site = clinbridge_store::identity::site_by_code(&state.store, &f.site_code)
            .await
            .map_err(|_| ApiError::field("site_code", "does not name a site"))?;
        who.require(PARTICIPANTS_WRITE, Target::study_site(study.id, site.id))?;
        let on = super::required_form_date("logged_on", &f.logged_on)?;
        let n =
            f.candidates.trim().parse::<i64>().map_err(|_| ApiError::field("candidates", "must be a whole number"))?;
        Ok::<_, ApiError>(
            store_p::log_prescreen_failures(
                &state.store,
                &who.acting(),
                study.id,
                site.id,
                store_p::PrescreenFailures {
                    logged_on: on,
                    reason_code: f.reason_code.clone(),
                    candidates: n,
                    note: f.note.clone(),
                },
            )
            .await?,
        )
    }
    .await;
    match r {
        Ok(_) => Ok(see_other(&format!("/studies/{}/participants", study.code))),
        Err(ApiError::Forbidden) => Err(ApiError::Forbidden.into()),
        Err(e) => {
            let errors = form_errors(e)?;
            let form = RegisterForm { status: "screening".into(), ..Default::default() };
            let page = list_view(&state, &who, &study.code, ListQuery::default(), form, errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
        }
    }
}

// ---------------------------------------------------------------- one participant

pub struct MoveLine {
    to: &'static str,
    on: String,
    reason: String,
    by: String,
}

pub struct CriterionLine {
    code: String,
    kind: String,
    text: String,
    answer: String,
    source: String,
}

#[derive(Template)]
#[template(path = "participant.html")]
struct DetailPage {
    chrome: Chrome,
    study: Study,
    id: Uuid,
    subject_id: String,
    site_code: String,
    status: &'static str,
    status_key: &'static str,
    reason: String,
    detail: String,
    consent_withdrawal: &'static str,
    facts: Vec<(&'static str, String)>,
    history: Vec<MoveLine>,
    next: Vec<(&'static str, &'static str)>,
    can_write: bool,
    can_sign: bool,
    phi: bool,
    consent: super::consent::ConsentPanel,
    screen_fail_reasons: Vec<(&'static str, &'static str)>,
    withdrawal_reasons: Vec<(&'static str, &'static str)>,
    withdrawal_scopes: Vec<(&'static str, &'static str)>,
    criteria: Vec<CriterionLine>,
    can_assess: bool,
    assessment: Option<(bool, String, String, String)>,
    signed: Option<String>,
    randomizable: bool,
    factors: Vec<(String, Vec<String>)>,
    assignment: Option<(String, i64, Option<String>)>,
    unblindings: Vec<(String, String, String)>,
    visits: Vec<VisitLine>,
    bookable: Vec<(Uuid, String)>,
    can_record: bool,
    errors: Vec<(String, String)>,
    today: String,
}

async fn detail_view(
    state: &AppState,
    who: &Authed,
    id: Uuid,
    errors: Vec<(String, String)>,
) -> Result<DetailPage, PageError> {
    let p = readable_participant(state, who, id).await?;
    let (study, ss) = store_p::context(&state.store, &p).await?;
    let t = target(&p);
    let tz = who.tz();
    let history = store_p::history(&state.store, id)
        .await?
        .into_iter()
        .map(|m| MoveLine {
            to: Status::parse(&m.to_status).map(|s| s.label()).unwrap_or(""),
            on: m.effective_on.to_string(),
            reason: [reason_text(&m.reason_code), m.detail.as_str()]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" — "),
            by: format!("{} · {}", m.user_name.unwrap_or_else(|| "system".into()), super::local(m.at, tz)),
        })
        .collect();
    let d = |x: Option<chrono::NaiveDate>| x.map(|d| d.to_string());
    let facts: Vec<(&'static str, String)> = [
        ("Screening started", d(p.screened_on)),
        ("Consented", d(p.consented_on)),
        ("Enrolled", d(p.enrolled_on)),
        ("Randomized", d(p.randomized_on)),
        ("Left the study", d(p.ended_on)),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k, v)))
    .collect();
    let scheme = store_r::scheme(&state.store, study.id).await?;
    let next: Vec<(&'static str, &'static str)> = p
        .status()
        .next()
        .iter()
        .filter(|s| !matches!(**s, Status::Randomized | Status::Consented))
        .filter(|s| !(scheme.is_some() && p.status() == Status::Enrolled && **s == Status::Active))
        .map(|s| (s.as_str(), s.label()))
        .collect();
    let today = store_p::site_today(&ss);
    let consent = super::consent::panel(state, who, &p, &study, today).await?;
    let latest = store_p::latest_assessment(&state.store, id).await?;
    let answers = latest.as_ref().map(|l| l.assessment.responses()).unwrap_or_default();
    let criteria = store_p::criteria(&state.store, study.id)
        .await?
        .into_iter()
        .map(|c| {
            let a = answers.iter().find(|a| a.code == c.code);
            CriterionLine {
                answer: a.map(|a| a.answer.as_str().to_string()).unwrap_or_default(),
                source: a.map(|a| a.source.clone()).unwrap_or_default(),
                kind: if c.kind == "inclusion" { "Inclusion".into() } else { "Exclusion".into() },
                code: c.code,
                text: c.text,
            }
        })
        .collect();
    let assessment = latest.as_ref().map(|l| {
        (
            l.assessment.eligible,
            l.assessment.failed.clone(),
            l.assessment.assessed_by_name.clone().unwrap_or_default(),
            super::local(l.assessment.assessed_at, tz),
        )
    });
    let signed = latest.as_ref().and_then(|l| l.signed.as_ref()).map(|s| {
        format!("{} ({}), {}", s.signature.printed_name, s.statement, super::local(s.signature.signed_at, tz))
    });
    let assignment = match store_r::assignment(&state.store, id).await? {
        Some(a) => {
            let out = assignment_out(state, who, &p, a).await?;
            Some((out.stratum, out.seq, out.arm_name))
        }
        None => None,
    };
    let unblindings = store_r::unblindings(&state.store, id)
        .await?
        .into_iter()
        .map(|u| (u.user_name, super::local(u.at, tz), u.reason))
        .collect();
    let can_write = who.can(PARTICIPANTS_WRITE, t);
    let site_tz = ss.tz();
    let held = clinbridge_store::scheduling::calendar::booked_resources_of(&state.store, id).await?;
    let visits = clinbridge_store::scheduling::visits_of(&state.store, id)
        .await?
        .into_iter()
        .map(|v| VisitLine {
            day: v.day().to_string(),
            slot: match (v.starts_at, v.ends_at) {
                (Some(a), Some(b)) => format!(
                    "{}–{} · {}",
                    a.with_timezone(&site_tz).format("%H:%M"),
                    b.with_timezone(&site_tz).format("%H:%M"),
                    held.iter().filter(|h| h.0 == v.id).map(|h| h.1.as_str()).collect::<Vec<_>>().join(", ")
                ),
                _ => String::new(),
            },
            booked: v.starts_at.is_some(),
            window_start: v.window_start.to_string(),
            window_end: v.window_end.to_string(),
            id: v.id,
            label: if v.occurrence > 1 || v.code == "PHONE" {
                format!("{} · {} #{}", v.code, v.name, v.occurrence)
            } else {
                format!("{} · {}", v.code, v.name)
            },
            target: v.target_on.to_string(),
            window: format!("{} to {}", v.window_start, v.window_end),
            status: v.status().label(),
            status_key: v.status().as_str(),
            actual: v.actual_on.map(|d| d.to_string()).unwrap_or_default(),
            out_of_window: v.out_of_window,
            note: v.note.clone(),
            open: v.status() == clinbridge_core::scheduling::VisitStatus::Scheduled,
        })
        .collect();
    let bookable = clinbridge_store::scheduling::calendar::resources(&state.store, p.site_id)
        .await?
        .into_iter()
        .filter(|r| r.active)
        .map(|r| (r.id, format!("{} ({})", r.name, r.kind().label())))
        .collect();
    Ok(DetailPage {
        visits,
        bookable,
        can_record: who.can(crate::api::scheduling::SCHEDULING_WRITE, t) && p.consent_withdrawal().allows_data(),
        chrome: chrome(state, who, "/studies").await,
        id,
        subject_id: p.subject_id.clone(),
        site_code: p.site_code.clone(),
        status: p.status().label(),
        status_key: p.status().as_str(),
        reason: reason_text(&p.reason_code).to_string(),
        detail: p.status_detail.clone(),
        consent_withdrawal: p.consent_withdrawal().label(),
        facts,
        history,
        next,
        can_write,
        can_sign: who.can(PARTICIPANTS_SIGN, t),
        phi: who.can(PARTICIPANTS_PHI, t),
        consent,
        screen_fail_reasons: SCREEN_FAIL_REASONS.to_vec(),
        withdrawal_reasons: WITHDRAWAL_REASONS.to_vec(),
        withdrawal_scopes: ConsentWithdrawal::ALL.iter().map(|w| (w.as_str(), w.label())).collect(),
        criteria,
        can_assess: can_write && matches!(p.status(), Status::Screening | Status::Consented),
        assessment,
        signed,
        randomizable: can_write && scheme.is_some() && p.status() == Status::Enrolled,
        factors: scheme.map(|s| s.design.factors.into_iter().map(|f| (f.name, f.levels)).collect()).unwrap_or_default(),
        assignment,
        unblindings,
        errors,
        today: today.to_string(),
        study,
    })
}

async fn page(State(state): State<AppState>, who: Authed, Path(id): Path<Uuid>) -> PageResult {
    Ok(render(&detail_view(&state, &who, id, Vec::new()).await?))
}

/// After an action: back to the participant's page, or the page again with what went wrong.
pub(super) async fn after<T>(state: &AppState, who: &Authed, id: Uuid, r: Result<T, ApiError>) -> PageResult {
    match r {
        Ok(_) => Ok(see_other(&format!("/participants/{id}"))),
        Err(ApiError::Forbidden) => Err(ApiError::Forbidden.into()),
        Err(e) => {
            let errors = form_errors(e)?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&detail_view(state, who, id, errors).await?)).into_response())
        }
    }
}

#[derive(Deserialize)]
pub struct MoveForm {
    status: String,
    #[serde(default)]
    reason_code: String,
    #[serde(default)]
    withdrawal_reason: String,
    #[serde(default)]
    detail: String,
    #[serde(default)]
    consent_withdrawal: String,
    #[serde(default)]
    effective_on: String,
}

async fn set_status(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<MoveForm>,
) -> PageResult {
    let p = readable_participant(&state, &who, id).await?;
    who.require(PARTICIPANTS_WRITE, target(&p))?;
    let r = async {
        let effective_on = form_date("effective_on", &f.effective_on).map_err(|e| ApiError::Invalid(vec![e]))?;
        // One form offers both reason lists; the one matching the move counts.
        let reason_code = match f.status.as_str() {
            "screen_failed" => f.reason_code.clone(),
            "withdrawn" => f.withdrawal_reason.clone(),
            _ => String::new(),
        };
        let req = move_request(
            &state,
            &p,
            ParticipantStatusIn {
                status: f.status.clone(),
                reason_code,
                detail: f.detail.clone(),
                consent_withdrawal: if f.status == "withdrawn" { f.consent_withdrawal.clone() } else { String::new() },
                effective_on,
            },
        )
        .await?;
        Ok::<_, ApiError>(store_p::move_to(&state.store, &who.acting(), id, req).await?)
    }
    .await;
    after(&state, &who, id, r).await
}

async fn assess(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    let p = readable_participant(&state, &who, id).await?;
    who.require(PARTICIPANTS_WRITE, target(&p))?;
    // Fields arrive as answer_<code> and source_<code>.
    let mut answers: Vec<AnswerIn> = Vec::new();
    for (k, v) in &pairs {
        if let Some(code) = k.strip_prefix("answer_") {
            let source = pairs
                .iter()
                .find(|(k2, _)| *k2 == format!("source_{code}"))
                .map(|(_, s)| s.clone())
                .unwrap_or_default();
            answers.push(AnswerIn { code: code.to_string(), answer: v.clone(), source });
        }
    }
    let r = async {
        let rs = responses(answers)?;
        Ok::<_, ApiError>(store_p::assess(&state.store, &who.acting(), id, rs).await?)
    }
    .await;
    after(&state, &who, id, r).await
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    password: String,
}

async fn sign(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<PasswordForm>,
) -> PageResult {
    let p = readable_participant(&state, &who, id).await?;
    who.require(PARTICIPANTS_SIGN, target(&p))?;
    let r = store_p::sign_assessment(&state.store, &who.acting(), id, &f.password).await.map_err(ApiError::from);
    after(&state, &who, id, r).await
}

async fn randomize(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    let p = readable_participant(&state, &who, id).await?;
    who.require(PARTICIPANTS_WRITE, target(&p))?;
    let strata: Vec<(String, String)> =
        pairs.iter().filter_map(|(k, v)| k.strip_prefix("factor_").map(|f| (f.to_string(), v.clone()))).collect();
    let r = async {
        let ss = store_trials::study_site(&state.store, p.study_id, p.site_id).await?;
        Ok::<_, ApiError>(store_r::randomize(&state.store, &who.acting(), id, strata, store_p::site_today(&ss)).await?)
    }
    .await;
    after(&state, &who, id, r).await
}

#[derive(Deserialize)]
pub struct UnblindForm {
    #[serde(default)]
    reason: String,
}

async fn unblind(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<UnblindForm>,
) -> PageResult {
    let p = readable_participant(&state, &who, id).await?;
    who.require(PARTICIPANTS_SIGN, target(&p))?;
    let r = store_r::emergency_unblind(&state.store, &who.acting(), id, &f.reason).await.map_err(ApiError::from);
    after(&state, &who, id, r).await
}

#[derive(Deserialize)]
pub struct VisitForm {
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    actual_on: String,
    #[serde(default)]
    note: String,
}

async fn record_visit(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<VisitForm>,
) -> PageResult {
    let v = crate::api::scheduling::writable_visit(&state, &who, id).await?;
    let r = async {
        let outcome = clinbridge_core::scheduling::VisitStatus::parse(&f.outcome)?;
        let actual = form_date("actual_on", &f.actual_on).map_err(|e| ApiError::Invalid(vec![e]))?;
        Ok::<_, ApiError>(
            clinbridge_store::scheduling::record_visit(&state.store, &who.acting(), id, outcome, actual, &f.note)
                .await?,
        )
    }
    .await;
    after(&state, &who, v.participant_id, r).await
}

#[derive(Deserialize)]
pub struct RescheduleForm {
    #[serde(default)]
    date: String,
    #[serde(default)]
    time: String,
}

async fn reschedule_visit(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<RescheduleForm>,
) -> PageResult {
    let v = crate::api::scheduling::writable_visit(&state, &who, id).await?;
    let r = async {
        let day = super::required_form_date("date", &f.date)?;
        let time = match f.time.trim() {
            "" => None,
            t => Some(crate::api::calendar::time_of_day("time", t)?),
        };
        Ok::<_, ApiError>(
            clinbridge_store::scheduling::calendar::reschedule(&state.store, &who.acting(), id, day, time).await?,
        )
    }
    .await;
    after(&state, &who, v.participant_id, r).await
}

/// Books a visit from the participant's page or the site calendar (`back` says which).
async fn book_visit(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    let v = crate::api::scheduling::writable_visit(&state, &who, id).await?;
    let field = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str()).unwrap_or("");
    let r = async {
        let day = super::required_form_date("date", field("date"))?;
        let time = crate::api::calendar::time_of_day("time", field("time"))?;
        let minutes: i64 =
            field("minutes").trim().parse().map_err(|_| ApiError::field("minutes", "must be a number of minutes"))?;
        let resources = pairs
            .iter()
            .filter(|(k, _)| k == "resource")
            .map(|(_, v)| v.parse::<Uuid>().map_err(|_| ApiError::field("resources", "must be resources of this site")))
            .collect::<Result<Vec<_>, _>>()?;
        let booking = clinbridge_store::scheduling::calendar::Booking { day, time, minutes, resources };
        Ok::<_, ApiError>(clinbridge_store::scheduling::calendar::book(&state.store, &who.acting(), id, booking).await?)
    }
    .await;
    match super::calendar::calendar_back(field("back")) {
        Some(back) => super::calendar::after_calendar(&state, &who, back, r).await,
        None => after(&state, &who, v.participant_id, r).await,
    }
}

async fn unbook_visit(State(state): State<AppState>, who: Authed, Path(id): Path<Uuid>) -> PageResult {
    let v = crate::api::scheduling::writable_visit(&state, &who, id).await?;
    let r =
        clinbridge_store::scheduling::calendar::unbook(&state.store, &who.acting(), id).await.map_err(ApiError::from);
    after(&state, &who, v.participant_id, r).await
}

// ---------------------------------------------------------------- contact details

#[derive(Template)]
#[template(path = "participant_contact.html")]
struct ContactPage {
    chrome: Chrome,
    id: Uuid,
    subject_id: String,
    study_code: String,
    contact: ContactIn,
    dob: String,
    can_edit: bool,
    errors: Vec<(String, String)>,
}

async fn contact_view(
    state: &AppState,
    who: &Authed,
    id: Uuid,
    shown: Option<ContactIn>,
    errors: Vec<(String, String)>,
) -> Result<ContactPage, PageError> {
    let p = readable_participant(state, who, id).await?;
    who.require(PARTICIPANTS_PHI, target(&p))?;
    let study = store_trials::study(&state.store, p.study_id).await?;
    let contact = match shown {
        Some(c) => c,
        None => store_p::read_contact(&state.store, &who.acting(), id, "participant contact page")
            .await?
            .unwrap_or_default()
            .into(),
    };
    Ok(ContactPage {
        chrome: chrome(state, who, "/studies").await,
        id,
        dob: contact.date_of_birth.map(|d| d.to_string()).unwrap_or_default(),
        contact,
        can_edit: who.can(PARTICIPANTS_WRITE, target(&p)) && p.consent_withdrawal().allows_contact(),
        subject_id: p.subject_id,
        study_code: study.code,
        errors,
    })
}

async fn contact(State(state): State<AppState>, who: Authed, Path(id): Path<Uuid>) -> PageResult {
    let mut page = render(&contact_view(&state, &who, id, None, Vec::new()).await?);
    // Identifiers are not kept in shared caches or the back/forward cache.
    page.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    Ok(page)
}

#[derive(Deserialize)]
pub struct ContactForm {
    #[serde(default)]
    given_name: String,
    #[serde(default)]
    family_name: String,
    #[serde(default)]
    date_of_birth: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    mrn: String,
}

async fn update_contact(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<ContactForm>,
) -> PageResult {
    let p = readable_participant(&state, &who, id).await?;
    who.require(PARTICIPANTS_PHI, target(&p))?;
    who.require(PARTICIPANTS_WRITE, target(&p))?;
    let dob = form_date("date_of_birth", &f.date_of_birth);
    let typed = ContactIn {
        given_name: f.given_name,
        family_name: f.family_name,
        date_of_birth: dob.clone().ok().flatten(),
        phone: f.phone,
        email: f.email,
        address: f.address,
        mrn: f.mrn,
    };
    let r = async {
        let _ = dob.map_err(|e| ApiError::Invalid(vec![e]))?;
        let ss = store_trials::study_site(&state.store, p.study_id, p.site_id).await?;
        let c = store_p::Contact::from(typed.clone()).check(store_p::site_today(&ss))?;
        Ok::<_, ApiError>(store_p::update_contact(&state.store, &who.acting(), id, c).await?)
    }
    .await;
    match r {
        Ok(()) => Ok(see_other(&format!("/participants/{id}"))),
        Err(e) => {
            let errors = form_errors(e)?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&contact_view(&state, &who, id, Some(typed), errors).await?))
                .into_response())
        }
    }
}
