//! Field medical pages: the MSL dashboard, HCP search and profiles (with the trial activity of
//! an HCP who is a Clinbridge investigator), KOL profiles and publications. Interactions,
//! insights and events are in `medical_field.rs`; requests and safety intake in
//! `medical_requests.rs`. Every page asks the medical context's policy, so commercial users are
//! refused everywhere here.

use super::{Chrome, PageError, PageResult, chrome, form_errors, render, see_other};
use crate::AppState;
use crate::auth::Authed;
use crate::error::ApiError;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::{Duration, Utc};
use clinbridge_core::medical::{HcpInput, InstitutionKind, KolInput, Tier};
use clinbridge_core::policy::{Action, Context, Op, Target};
use clinbridge_store::medical::{self as med, AffiliationInput, HcpSearch};
use serde::Deserialize;
use uuid::Uuid;

pub const READ: Action = Action::new(Context::Medical, Op::Read);
pub const WRITE: Action = Action::new(Context::Medical, Op::Write);

pub fn register(r: crate::routes::Routes) -> crate::routes::Routes {
    let r = r
        .get("/medical", dashboard)
        .get("/medical/hcps", hcps)
        .post("/medical/hcps", create_hcp)
        .get("/medical/hcps/{id}", profile)
        .post("/medical/hcps/{id}/kol", set_kol)
        .post("/medical/hcps/{id}/publications", import_publications);
    let r = super::medical_field::register(r);
    super::medical_requests::register(r)
}

/// The caller may read field medical data (never a commercial user).
pub fn reader(who: &Authed) -> Result<(), PageError> {
    who.require(READ, Target::ORG).map_err(PageError)
}

/// The caller may record field medical data.
pub fn writer(who: &Authed) -> Result<(), PageError> {
    who.require(WRITE, Target::ORG).map_err(PageError)
}

/// The form's fields, read by hand because some repeat (`hcp_id`, `colleague_id`).
pub struct Pairs(pub Vec<(String, String)>);

impl Pairs {
    pub fn parse(body: &str) -> Result<Self, PageError> {
        serde_urlencoded::from_str(body).map(Pairs).map_err(|_| PageError(ApiError::field("form", "could not be read")))
    }
    pub fn get(&self, k: &str) -> String {
        self.0.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default()
    }
    pub fn all(&self, k: &str) -> Vec<String> {
        self.0.iter().filter(|(n, _)| n == k).map(|(_, v)| v.clone()).collect()
    }
    pub fn ids(&self, k: &str) -> Vec<Uuid> {
        self.all(k).iter().filter_map(|v| Uuid::parse_str(v.trim()).ok()).collect()
    }
    pub fn checked(&self, k: &str) -> bool {
        self.0.iter().any(|(n, v)| n == k && !v.is_empty())
    }
}

/// A comma- or line-separated list typed into one field.
pub fn split_list(raw: &str) -> Vec<String> {
    raw.split([',', '\n']).map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

/// The tabs shared by the medical pages.
pub struct Tab {
    pub href: &'static str,
    pub label: &'static str,
    pub active: bool,
}

pub fn tabs(active: &str) -> Vec<Tab> {
    [
        ("/medical", "Dashboard"),
        ("/medical/hcps", "HCPs"),
        ("/medical/interactions", "Interactions"),
        ("/medical/insights", "Insight board"),
        ("/medical/requests", "Requests"),
        ("/medical/events", "Congresses"),
        ("/medical/safety", "Safety intake"),
    ]
    .into_iter()
    .map(|(href, label)| Tab { href, label, active: href == active })
    .collect()
}

/// A bar of a small horizontal bar chart: label, value, and its length out of 240.
pub struct Bar {
    pub label: String,
    pub value: i64,
    pub width: i64,
    pub href: String,
}

pub fn bars(items: Vec<(String, i64, String)>) -> Vec<Bar> {
    let max = items.iter().map(|i| i.1).max().unwrap_or(0).max(1);
    items.into_iter().map(|(label, value, href)| Bar { width: value * 240 / max, label, value, href }).collect()
}

// ---------------------------------------------------------------- dashboard

#[derive(Deserialize, Default)]
struct DashQuery {
    #[serde(default)]
    days: Option<i64>,
    #[serde(default)]
    team: Option<String>,
}

pub struct RequestRow {
    pub id: Uuid,
    pub hcp_name: String,
    pub question: String,
    pub urgency: String,
    pub status: String,
    pub due: String,
    pub overdue: bool,
    pub assigned: String,
}

pub fn request_row(r: &med::MedicalRequest, tz: chrono_tz::Tz) -> RequestRow {
    let now = Utc::now();
    let open = r.answered_at.is_none() && r.closed_at.is_none();
    RequestRow {
        id: r.id,
        hcp_name: r.hcp_name.clone(),
        question: excerpt(r.questions.first().map(String::as_str).unwrap_or(""), 90),
        urgency: r.urgency.clone(),
        status: r.status().label().to_string(),
        due: super::local(r.sla_due_at, tz),
        overdue: open && now > r.sla_due_at,
        assigned: r.assigned_name.clone(),
    }
}

/// A snake_case code as words: `principal_investigator` → `Principal investigator`.
pub fn humanize(code: &str) -> String {
    let words = code.replace('_', " ");
    let mut c = words.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

pub fn excerpt(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>().trim_end())
    }
}

pub struct SafetyRow {
    pub id: Uuid,
    pub kind: String,
    pub product: String,
    pub description: String,
    pub aware: String,
    pub due: String,
    pub late: bool,
    pub forwarded: Option<String>,
    pub interaction_id: Option<Uuid>,
}

pub fn safety_row(s: &med::SafetyIntake, tz: chrono_tz::Tz) -> SafetyRow {
    SafetyRow {
        id: s.id,
        kind: s.kind_label().to_string(),
        product: s.product.clone(),
        description: excerpt(&s.description, 120),
        aware: super::local(s.aware_at, tz),
        due: super::local(s.forward_due_at, tz),
        late: s.late(Utc::now()),
        forwarded: s.forwarded_at.map(|t| {
            format!(
                "{} to {}{}",
                super::local(t, tz),
                s.forwarded_to.clone().unwrap_or_default(),
                s.forward_reference
                    .as_deref()
                    .filter(|r| !r.is_empty())
                    .map(|r| format!(" (ref. {r})"))
                    .unwrap_or_default()
            )
        }),
        interaction_id: s.interaction_id,
    }
}

pub struct InteractionRow {
    pub id: Uuid,
    pub when: String,
    pub channel: String,
    pub hcps: String,
    pub topics: String,
    pub owner: String,
}

pub fn interaction_row(i: &med::Interaction, tz: chrono_tz::Tz) -> InteractionRow {
    InteractionRow {
        id: i.id,
        when: super::local(i.occurred_at, tz),
        channel: clinbridge_core::medical::Channel::parse(&i.channel).map(|c| c.label()).unwrap_or("").to_string(),
        hcps: i.hcps.iter().map(|h| h.name.clone()).collect::<Vec<_>>().join(", "),
        topics: i.topics.join(", "),
        owner: i.owner_name.clone(),
    }
}

#[derive(Template)]
#[template(path = "medical_dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    days: i64,
    day_choices: [i64; 4],
    team: bool,
    tiers: Vec<Bar>,
    themes: Vec<Bar>,
    sla: med::SlaCompliance,
    on_time: String,
    my_requests: Vec<RequestRow>,
    pending_safety: Vec<SafetyRow>,
    recent: Vec<InteractionRow>,
    can_write: bool,
}

async fn dashboard(State(state): State<AppState>, who: Authed, Query(q): Query<DashQuery>) -> PageResult {
    reader(&who)?;
    let tz = who.tz();
    let days = q.days.unwrap_or(90).clamp(7, 730);
    let team = q.team.is_some_and(|t| !t.is_empty());
    let owner = if team { None } else { Some(who.user.id) };
    let to = Utc::now();
    let from = to - Duration::days(days);
    let tiers = med::interactions_by_tier(&state.store, from, to, owner).await?;
    let tiers = bars(
        tiers
            .into_iter()
            .map(|t| {
                let label = match t.tier.and_then(|n| Tier::new(n).ok()) {
                    Some(tier) => format!("Tier {} · {} HCPs", tier.number(), t.hcps),
                    None => format!("No tier · {} HCPs", t.hcps),
                };
                let href = match t.tier {
                    Some(n) => format!("/medical/hcps?tier={n}"),
                    None => "/medical/hcps".to_string(),
                };
                (label, t.interactions, href)
            })
            .collect(),
    );
    let today = to.with_timezone(&tz).date_naive();
    let themes = med::insight_themes(&state.store, today - Duration::days(days), today, 8).await?;
    let themes = bars(
        themes
            .into_iter()
            .map(|t| {
                let href = format!("/medical/insights?dimension=tag&key={}", crate::auth::urlencode(&t.tag));
                (t.tag, t.insights, href)
            })
            .collect(),
    );
    let sla = med::request_sla(&state.store, from, to, owner).await?;
    let on_time = sla.on_time_percent().map(|p| format!("{p:.0}%")).unwrap_or_else(|| "—".into());
    let open = med::requests(
        &state.store,
        &med::RequestFilter { assigned_user_id: owner, limit: Some(200), ..Default::default() },
    )
    .await?;
    let my_requests =
        open.iter().filter(|r| r.closed_at.is_none() && r.answered_at.is_none()).map(|r| request_row(r, tz)).collect();
    let pending_safety = med::safety_intakes(&state.store, true)
        .await?
        .iter()
        .filter(|s| team || s.reported_by == who.user.id)
        .map(|s| safety_row(s, tz))
        .collect();
    let recent = med::interactions(
        &state.store,
        &med::InteractionFilter { owner_user_id: owner, limit: Some(10), ..Default::default() },
    )
    .await?
    .iter()
    .map(|i| interaction_row(i, tz))
    .collect();
    Ok(render(&DashboardPage {
        chrome: chrome(&state, &who, "/medical").await,
        tabs: tabs("/medical"),
        days,
        day_choices: [30, 90, 180, 365],
        team,
        tiers,
        themes,
        on_time,
        sla,
        my_requests,
        pending_safety,
        recent,
        can_write: who.can(WRITE, Target::ORG),
    }))
}

// ---------------------------------------------------------------- HCP search

#[derive(Deserialize, Default)]
struct SearchQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    institution: String,
    #[serde(default)]
    specialty: String,
    #[serde(default)]
    tier: String,
}

pub struct HcpRow {
    id: Uuid,
    name: String,
    npi: String,
    specialty: String,
    institution: String,
    tier: String,
}

#[derive(Deserialize, Default, Clone)]
pub struct HcpForm {
    #[serde(default)]
    npi: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    credentials: String,
    #[serde(default)]
    specialty: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    institution_id: String,
    #[serde(default)]
    department: String,
    #[serde(default)]
    role: String,
}

#[derive(Template)]
#[template(path = "medical_hcps.html")]
struct HcpsPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    q: String,
    institution: String,
    specialty: String,
    tier: String,
    institutions: Vec<(String, String)>,
    specialties: Vec<String>,
    rows: Vec<HcpRow>,
    can_write: bool,
    form: HcpForm,
    errors: Vec<(String, String)>,
}

async fn hcps_view(
    state: &AppState,
    who: &Authed,
    q: SearchQuery,
    form: HcpForm,
    errors: Vec<(String, String)>,
) -> Result<HcpsPage, PageError> {
    reader(who)?;
    let search = HcpSearch {
        text: q.q.clone(),
        institution_id: Uuid::parse_str(q.institution.trim()).ok(),
        specialty: q.specialty.clone(),
        tier: q.tier.trim().parse().ok(),
        limit: Some(200),
    };
    let rows = med::search_hcps(&state.store, &search)
        .await?
        .into_iter()
        .map(|l| HcpRow {
            id: l.hcp.id,
            name: l.hcp.display_name(),
            npi: l.hcp.npi.clone(),
            specialty: l.hcp.specialty.clone(),
            institution: l.institution.unwrap_or_default(),
            tier: l.tier.and_then(|t| Tier::new(t).ok()).map(|t| t.label().to_string()).unwrap_or_default(),
        })
        .collect();
    Ok(HcpsPage {
        chrome: chrome(state, who, "/medical").await,
        tabs: tabs("/medical/hcps"),
        institutions: med::institutions(&state.store).await?.into_iter().map(|i| (i.id.to_string(), i.name)).collect(),
        specialties: med::specialties(&state.store).await?,
        q: q.q,
        institution: q.institution,
        specialty: q.specialty,
        tier: q.tier,
        rows,
        can_write: who.can(WRITE, Target::ORG),
        form,
        errors,
    })
}

async fn hcps(State(state): State<AppState>, who: Authed, Query(q): Query<SearchQuery>) -> PageResult {
    Ok(render(&hcps_view(&state, &who, q, HcpForm::default(), Vec::new()).await?))
}

async fn create_hcp(State(state): State<AppState>, who: Authed, Form(f): Form<HcpForm>) -> PageResult {
    writer(&who)?;
    let input = HcpInput {
        npi: f.npi.clone(),
        first_name: f.first_name.clone(),
        last_name: f.last_name.clone(),
        credentials: split_list(&f.credentials),
        specialty: f.specialty.clone(),
        email: f.email.clone(),
        phone: f.phone.clone(),
    };
    let institution = Uuid::parse_str(f.institution_id.trim()).ok();
    let r = async {
        let h = med::create_hcp(&state.store, &who.acting(), input).await?;
        if let Some(i) = institution {
            let a = AffiliationInput {
                institution_id: i,
                department: f.department.trim().to_string(),
                role: f.role.trim().to_string(),
                is_primary: true,
            };
            med::set_affiliations(&state.store, &who.acting(), h.id, vec![a]).await?;
        }
        Ok::<_, clinbridge_store::StoreError>(h)
    }
    .await
    .map_err(ApiError::from);
    match r {
        Ok(h) => Ok(see_other(&format!("/medical/hcps/{}", h.id))),
        Err(e) => {
            let errors = form_errors(e)?;
            let page = hcps_view(&state, &who, SearchQuery::default(), f, errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
        }
    }
}

// ---------------------------------------------------------------- HCP profile

pub struct TrialRow {
    study_code: String,
    study_title: String,
    study_status: String,
    site_name: String,
    role: String,
    activated_on: String,
    enrolled: i64,
    target: i64,
}

pub struct PlanView {
    period: String,
    done: usize,
    total: usize,
    objectives: Vec<(String, String, String)>,
}

#[derive(Deserialize, Default, Clone)]
pub struct KolForm {
    #[serde(default)]
    tier: String,
    #[serde(default)]
    therapeutic_areas: String,
    #[serde(default)]
    topics: String,
    #[serde(default)]
    notes: String,
}

#[derive(Template)]
#[template(path = "medical_hcp.html")]
struct ProfilePage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    id: Uuid,
    name: String,
    npi: String,
    credentials: String,
    specialty: String,
    email: String,
    phone: String,
    affiliations: Vec<(String, String, String, bool)>,
    kol: Option<(String, String, String, String)>,
    trials: Vec<TrialRow>,
    plans: Vec<PlanView>,
    publications: Vec<(String, String, i64, String)>,
    interactions: Vec<InteractionRow>,
    requests: Vec<RequestRow>,
    can_write: bool,
    kol_form: KolForm,
    tiers: Vec<(i64, &'static str)>,
    csv: String,
    errors: Vec<(String, String)>,
}

async fn profile_view(
    state: &AppState,
    who: &Authed,
    id: Uuid,
    kol_form: Option<KolForm>,
    csv: String,
    errors: Vec<(String, String)>,
) -> Result<ProfilePage, PageError> {
    reader(who)?;
    let tz = who.tz();
    let p = med::hcp_profile(&state.store, id).await?;
    let kol_form = kol_form.unwrap_or_else(|| match &p.kol {
        Some(k) => KolForm {
            tier: k.tier.to_string(),
            therapeutic_areas: k.therapeutic_areas.join(", "),
            topics: k.topics.join(", "),
            notes: k.notes.clone(),
        },
        None => KolForm { tier: "3".into(), ..Default::default() },
    });
    Ok(ProfilePage {
        chrome: chrome(state, who, "/medical").await,
        tabs: tabs("/medical/hcps"),
        id,
        name: p.hcp.display_name(),
        npi: p.hcp.npi.clone(),
        credentials: p.hcp.credentials.join(", "),
        specialty: p.hcp.specialty.clone(),
        email: p.hcp.email.clone(),
        phone: p.hcp.phone.clone(),
        affiliations: p
            .affiliations
            .iter()
            .map(|a| (a.institution_name.clone(), a.department.clone(), a.role.clone(), a.is_primary))
            .collect(),
        kol: p.kol.as_ref().map(|k| {
            (
                Tier::new(k.tier).map(|t| t.label()).unwrap_or("").to_string(),
                k.therapeutic_areas.join(", "),
                k.topics.join(", "),
                k.notes.clone(),
            )
        }),
        trials: p
            .trial_activity
            .iter()
            .map(|t| TrialRow {
                study_code: t.study_code.clone(),
                study_title: t.study_title.clone(),
                study_status: t.study_status.replace('_', " "),
                site_name: t.site_name.clone(),
                role: humanize(t.role),
                activated_on: t.activated_on.map(|d| d.to_string()).unwrap_or_else(|| "not yet".into()),
                enrolled: t.enrolled,
                target: t.target_enrollment,
            })
            .collect(),
        plans: p
            .plans
            .iter()
            .map(|pl| {
                let (done, total) = pl.progress();
                PlanView {
                    period: pl.period.clone(),
                    done,
                    total,
                    objectives: pl
                        .objectives
                        .iter()
                        .map(|o| {
                            let count = match o.target_count {
                                Some(t) => format!("{} of {t}", o.done_count),
                                None => String::new(),
                            };
                            let status = clinbridge_core::medical::ObjectiveStatus::parse(&o.status)
                                .map(|s| s.label())
                                .unwrap_or("");
                            (o.text.clone(), count, status.to_string())
                        })
                        .collect(),
                }
            })
            .collect(),
        publications: p
            .publications
            .iter()
            .map(|x| {
                let id = if !x.pmid.is_empty() {
                    format!("PMID {}", x.pmid)
                } else if !x.doi.is_empty() {
                    format!("doi:{}", x.doi)
                } else {
                    String::new()
                };
                (x.title.clone(), x.journal.clone(), x.year, id)
            })
            .collect(),
        interactions: p.interactions.iter().map(|i| interaction_row(i, tz)).collect(),
        requests: p.requests.iter().map(|r| request_row(r, tz)).collect(),
        can_write: who.can(WRITE, Target::ORG),
        kol_form,
        tiers: (1..=4).filter_map(|n| Tier::new(n).ok().map(|t| (n, t.label()))).collect(),
        csv,
        errors,
    })
}

async fn profile(State(state): State<AppState>, who: Authed, Path(id): Path<Uuid>) -> PageResult {
    Ok(render(&profile_view(&state, &who, id, None, String::new(), Vec::new()).await?))
}

async fn set_kol(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<KolForm>,
) -> PageResult {
    writer(&who)?;
    let input = KolInput {
        tier: f.tier.clone(),
        therapeutic_areas: split_list(&f.therapeutic_areas),
        topics: split_list(&f.topics),
        notes: f.notes.clone(),
    };
    match med::set_kol_profile(&state.store, &who.acting(), id, input).await.map_err(ApiError::from) {
        Ok(_) => Ok(see_other(&format!("/medical/hcps/{id}#kol"))),
        Err(e) => {
            let errors = form_errors(e)?;
            let page = profile_view(&state, &who, id, Some(f), String::new(), errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
        }
    }
}

#[derive(Deserialize)]
struct CsvForm {
    #[serde(default)]
    csv: String,
}

async fn import_publications(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<CsvForm>,
) -> PageResult {
    writer(&who)?;
    match med::import_publications_csv(&state.store, &who.acting(), id, &f.csv).await.map_err(ApiError::from) {
        Ok(_) => Ok(see_other(&format!("/medical/hcps/{id}#publications"))),
        Err(e) => {
            let errors = form_errors(e)?;
            let page = profile_view(&state, &who, id, None, f.csv, errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
        }
    }
}

/// The kinds of institution, for forms.
pub fn institution_kinds() -> Vec<(&'static str, &'static str)> {
    InstitutionKind::ALL.iter().map(|k| (k.as_str(), k.label())).collect()
}
