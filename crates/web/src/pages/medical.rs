//! Field medical pages: the MSL dashboard, HCP search and profiles (with the Clinbridge user an
//! HCP is, and the trial activity of one who is an investigator), KOL profiles and publications. Interactions,
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
pub const ADMIN: Action = Action::new(Context::Medical, Op::Administer);

pub fn register(r: crate::routes::Routes) -> crate::routes::Routes {
    let r = r
        .get("/medical", dashboard)
        .get("/medical/hcps", hcps)
        .post("/medical/hcps", create_hcp)
        .get("/medical/hcps/{id}", profile)
        .post("/medical/hcps/{id}/kol", set_kol)
        .post("/medical/hcps/{id}", edit_hcp)
        .post("/medical/hcps/{id}/affiliations", edit_affiliations)
        .post("/medical/hcps/{id}/plans", set_plan)
        .post("/medical/objectives/{id}", objective_progress)
        .post("/medical/hcps/{id}/publications", import_publications)
        .post("/medical/hcps/{id}/publications/{publication}/delete", remove_publication)
        .post("/medical/hcps/{id}/user", link_user)
        .get("/medical/institutions", institutions)
        .post("/medical/institutions", create_institution)
        .get("/medical/institutions/{id}", institution)
        .post("/medical/institutions/{id}", edit_institution);
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
    let input = hcp_input(&f);
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

pub struct ObjectiveView {
    id: Uuid,
    text: String,
    count: String,
    status: String,
    status_code: String,
    done_count: i64,
}

pub struct PlanView {
    period: String,
    done: usize,
    total: usize,
    objectives: Vec<ObjectiveView>,
}

/// One editable row of an affiliation or objective list.
#[derive(Default, Clone)]
pub struct Row {
    a: String,
    b: String,
    c: String,
    d: String,
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
    /// Title, journal, year, PMID or DOI, and the publication's id.
    publications: Vec<(String, String, i64, String, Uuid)>,
    /// The Clinbridge user this HCP is: their name and e-mail, and whether linked by hand
    /// (else matched by e-mail).
    account: Option<(String, String, bool)>,
    /// The user chosen in the link form, and the active users to choose from.
    account_form: String,
    users: Vec<(String, String)>,
    interactions: Vec<InteractionRow>,
    requests: Vec<RequestRow>,
    can_write: bool,
    kol_form: KolForm,
    tiers: Vec<(i64, &'static str)>,
    csv: String,
    hcp_form: HcpForm,
    affiliation_rows: Vec<Row>,
    primary: usize,
    institutions: Vec<(String, String)>,
    plan_period: String,
    plan_rows: Vec<Row>,
    objective_statuses: Vec<(&'static str, &'static str)>,
    errors: Vec<(String, String)>,
}

/// What a refused edit on the profile page puts back into its form.
#[derive(Default)]
pub struct ProfileForms {
    kol: Option<KolForm>,
    csv: String,
    hcp: Option<HcpForm>,
    affiliations: Option<(Vec<Row>, usize)>,
    plan: Option<(String, Vec<Row>)>,
    account: Option<String>,
}

async fn profile_view(
    state: &AppState,
    who: &Authed,
    id: Uuid,
    forms: ProfileForms,
    errors: Vec<(String, String)>,
) -> Result<ProfilePage, PageError> {
    reader(who)?;
    let tz = who.tz();
    let p = med::hcp_profile(&state.store, id).await?;
    let people = clinbridge_store::identity::users(&state.store).await?;
    let account = match med::hcp_user(&state.store, id).await? {
        Some(u) => {
            people.iter().find(|x| x.id == u).map(|x| (x.name.clone(), x.email.clone(), p.hcp.user_id.is_some()))
        }
        None => None,
    };
    let account_form = forms.account.unwrap_or_else(|| p.hcp.user_id.map(|u| u.to_string()).unwrap_or_default());
    let users = people
        .iter()
        .filter(|u| u.active || Some(u.id) == p.hcp.user_id)
        .map(|u| (u.id.to_string(), format!("{} ({})", u.name, u.email)))
        .collect();
    let hcp_form = forms.hcp.unwrap_or_else(|| HcpForm {
        npi: p.hcp.npi.clone(),
        first_name: p.hcp.first_name.clone(),
        last_name: p.hcp.last_name.clone(),
        credentials: p.hcp.credentials.join(", "),
        specialty: p.hcp.specialty.clone(),
        email: p.hcp.email.clone(),
        phone: p.hcp.phone.clone(),
        ..Default::default()
    });
    let (mut affiliation_rows, primary) = forms.affiliations.unwrap_or_else(|| {
        let rows: Vec<Row> = p
            .affiliations
            .iter()
            .map(|a| Row {
                a: a.institution_id.to_string(),
                b: a.department.clone(),
                c: a.role.clone(),
                d: String::new(),
            })
            .collect();
        let primary = p.affiliations.iter().position(|a| a.is_primary).unwrap_or(0);
        (rows, primary)
    });
    affiliation_rows.push(Row::default());
    let (plan_period, mut plan_rows) = forms.plan.unwrap_or_else(|| {
        let today = super::local_today(who);
        let half = if chrono::Datelike::month(&today) <= 6 { 1 } else { 2 };
        let period = format!("{}-H{half}", chrono::Datelike::year(&today));
        // This half's plan, if there is one, comes filled in for editing.
        let rows = p
            .plans
            .iter()
            .find(|pl| pl.period == period)
            .map(|pl| {
                pl.objectives
                    .iter()
                    .map(|o| Row {
                        a: o.text.clone(),
                        b: o.target_count.map(|t| t.to_string()).unwrap_or_default(),
                        c: o.done_count.to_string(),
                        d: o.status.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        (period, rows)
    });
    while plan_rows.len() < 4 {
        plan_rows.push(Row::default());
    }
    let kol_form = forms.kol.unwrap_or_else(|| match &p.kol {
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
                            ObjectiveView {
                                id: o.id,
                                text: o.text.clone(),
                                count,
                                status: status.to_string(),
                                status_code: o.status.clone(),
                                done_count: o.done_count,
                            }
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
                (x.title.clone(), x.journal.clone(), x.year, id, x.id)
            })
            .collect(),
        account,
        account_form,
        users,
        interactions: p.interactions.iter().map(|i| interaction_row(i, tz)).collect(),
        requests: p.requests.iter().map(|r| request_row(r, tz)).collect(),
        can_write: who.can(WRITE, Target::ORG),
        kol_form,
        tiers: (1..=4).filter_map(|n| Tier::new(n).ok().map(|t| (n, t.label()))).collect(),
        csv: forms.csv,
        hcp_form,
        affiliation_rows,
        primary,
        institutions: med::institutions(&state.store).await?.into_iter().map(|i| (i.id.to_string(), i.name)).collect(),
        plan_period,
        plan_rows,
        objective_statuses: clinbridge_core::medical::ObjectiveStatus::ALL
            .iter()
            .map(|s| (s.as_str(), s.label()))
            .collect(),
        errors,
    })
}

/// Shows the profile again with the refused form filled in as typed.
async fn refused(state: &AppState, who: &Authed, id: Uuid, forms: ProfileForms, e: ApiError) -> PageResult {
    let errors = form_errors(e)?;
    let page = profile_view(state, who, id, forms, errors).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
}

fn hcp_input(f: &HcpForm) -> HcpInput {
    HcpInput {
        npi: f.npi.clone(),
        first_name: f.first_name.clone(),
        last_name: f.last_name.clone(),
        credentials: split_list(&f.credentials),
        specialty: f.specialty.clone(),
        email: f.email.clone(),
        phone: f.phone.clone(),
    }
}

async fn edit_hcp(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<HcpForm>,
) -> PageResult {
    writer(&who)?;
    match med::update_hcp(&state.store, &who.acting(), id, hcp_input(&f)).await.map_err(ApiError::from) {
        Ok(_) => Ok(see_other(&format!("/medical/hcps/{id}"))),
        Err(e) => refused(&state, &who, id, ProfileForms { hcp: Some(f), ..Default::default() }, e).await,
    }
}

/// The affiliation rows of the form (`institution_id`, `department`, `role` repeated, the
/// primary one chosen by `primary` = its row number); rows without an institution are dropped.
async fn edit_affiliations(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    body: String,
) -> PageResult {
    writer(&who)?;
    let p = Pairs::parse(&body)?;
    let (inst, dept, role) = (p.all("institution_id"), p.all("department"), p.all("role"));
    let primary: usize = p.get("primary").parse().unwrap_or(0);
    let rows: Vec<Row> = inst
        .iter()
        .enumerate()
        .map(|(n, i)| Row {
            a: i.clone(),
            b: dept.get(n).cloned().unwrap_or_default(),
            c: role.get(n).cloned().unwrap_or_default(),
            d: String::new(),
        })
        .filter(|r| !r.a.trim().is_empty())
        .collect();
    let mut errs = Vec::new();
    let mut input = Vec::new();
    for (n, r) in rows.iter().enumerate() {
        match Uuid::parse_str(r.a.trim()) {
            Ok(institution_id) => input.push(AffiliationInput {
                institution_id,
                department: r.b.trim().to_string(),
                role: r.c.trim().to_string(),
                is_primary: n == primary.min(rows.len().saturating_sub(1)),
            }),
            Err(_) => {
                errs.push(clinbridge_core::FieldError::new(format!("affiliations[{}]", n + 1), "choose an institution"))
            }
        }
    }
    let r = if errs.is_empty() {
        med::set_affiliations(&state.store, &who.acting(), id, input).await.map(|_| ()).map_err(ApiError::from)
    } else {
        Err(ApiError::Invalid(errs))
    };
    match r {
        Ok(()) => Ok(see_other(&format!("/medical/hcps/{id}"))),
        Err(e) => {
            refused(&state, &who, id, ProfileForms { affiliations: Some((rows, primary)), ..Default::default() }, e)
                .await
        }
    }
}

/// Sets a period's engagement plan from the rows of the form (`objective`, `target`, `done`,
/// `status` repeated); blank rows are dropped.
async fn set_plan(State(state): State<AppState>, who: Authed, Path(id): Path<Uuid>, body: String) -> PageResult {
    writer(&who)?;
    let p = Pairs::parse(&body)?;
    let period = p.get("period");
    let (text, target, done, status) = (p.all("objective"), p.all("target"), p.all("done"), p.all("status"));
    let rows: Vec<Row> = text
        .iter()
        .enumerate()
        .map(|(n, t)| Row {
            a: t.clone(),
            b: target.get(n).cloned().unwrap_or_default(),
            c: done.get(n).cloned().unwrap_or_default(),
            d: status.get(n).cloned().unwrap_or_default(),
        })
        .filter(|r| !r.a.trim().is_empty())
        .collect();
    let mut errs = Vec::new();
    let objectives: Vec<clinbridge_core::medical::ObjectiveInput> = rows
        .iter()
        .enumerate()
        .map(|(n, r)| {
            let mut number = |field: &str, v: &str| -> Option<i64> {
                let v = v.trim();
                if v.is_empty() {
                    return None;
                }
                v.parse()
                    .map_err(|_| {
                        errs.push(clinbridge_core::FieldError::new(
                            format!("objectives[{}].{field}", n + 1),
                            "must be a whole number",
                        ))
                    })
                    .ok()
            };
            let target_count = number("target_count", &r.b);
            let done_count = number("done_count", &r.c).unwrap_or(0);
            clinbridge_core::medical::ObjectiveInput {
                text: r.a.clone(),
                target_count,
                done_count,
                status: r.d.clone(),
            }
        })
        .collect();
    let r = if errs.is_empty() {
        med::set_engagement_plan(&state.store, &who.acting(), id, &period, None, objectives)
            .await
            .map(|_| ())
            .map_err(ApiError::from)
    } else {
        Err(ApiError::Invalid(errs))
    };
    match r {
        Ok(()) => Ok(see_other(&format!("/medical/hcps/{id}#plans"))),
        Err(e) => refused(&state, &who, id, ProfileForms { plan: Some((period, rows)), ..Default::default() }, e).await,
    }
}

#[derive(Deserialize)]
struct ProgressForm {
    #[serde(default)]
    done_count: String,
    #[serde(default)]
    status: String,
}

/// Records progress on one objective (how many done, and its status).
async fn objective_progress(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<ProgressForm>,
) -> PageResult {
    writer(&who)?;
    let done: i64 =
        f.done_count.trim().parse().map_err(|_| PageError(ApiError::field("done_count", "must be a whole number")))?;
    let status = Some(f.status.trim()).filter(|s| !s.is_empty());
    let o = med::update_objective(&state.store, &who.acting(), id, done, status).await?;
    let hcp: Option<Uuid> = med::plan_hcp(&state.store, o.plan_id).await?;
    Ok(see_other(&hcp.map(|h| format!("/medical/hcps/{h}#plans")).unwrap_or_else(|| "/medical/hcps".into())))
}

async fn profile(State(state): State<AppState>, who: Authed, Path(id): Path<Uuid>) -> PageResult {
    Ok(render(&profile_view(&state, &who, id, ProfileForms::default(), Vec::new()).await?))
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
        Err(e) => refused(&state, &who, id, ProfileForms { kol: Some(f), ..Default::default() }, e).await,
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
        Err(e) => refused(&state, &who, id, ProfileForms { csv: f.csv, ..Default::default() }, e).await,
    }
}

/// Removes a publication listed on this HCP's profile.
async fn remove_publication(
    State(state): State<AppState>,
    who: Authed,
    Path((id, publication)): Path<(Uuid, Uuid)>,
) -> PageResult {
    writer(&who)?;
    if !med::publications(&state.store, id).await?.iter().any(|p| p.id == publication) {
        return Err(PageError(ApiError::NotFound("publication")));
    }
    med::remove_publication(&state.store, &who.acting(), publication).await?;
    Ok(see_other(&format!("/medical/hcps/{id}#publications")))
}

#[derive(Deserialize)]
struct AccountForm {
    #[serde(default)]
    user_id: String,
}

/// Links the HCP to the Clinbridge user they are (their trial activity then shows here), or
/// unlinks them with no user chosen.
async fn link_user(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<AccountForm>,
) -> PageResult {
    writer(&who)?;
    let r = match f.user_id.trim() {
        "" => Ok(None),
        u => Uuid::parse_str(u).map(Some).map_err(|_| ApiError::field("user_id", "choose a user")),
    };
    let r = match r {
        Ok(user) => med::link_user(&state.store, &who.acting(), id, user).await.map(|_| ()).map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match r {
        Ok(()) => Ok(see_other(&format!("/medical/hcps/{id}#account"))),
        Err(e) => refused(&state, &who, id, ProfileForms { account: Some(f.user_id), ..Default::default() }, e).await,
    }
}

// ---------------------------------------------------------------- institutions

#[derive(Deserialize, Default, Clone)]
pub struct InstitutionForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    city: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    postal_code: String,
    #[serde(default)]
    departments: String,
    #[serde(default)]
    latitude: String,
    #[serde(default)]
    longitude: String,
}

impl InstitutionForm {
    fn input(&self) -> Result<clinbridge_core::medical::InstitutionInput, ApiError> {
        let mut errs = Vec::new();
        let mut coord = |field: &str, v: &str| -> Option<f64> {
            let v = v.trim();
            if v.is_empty() {
                return None;
            }
            v.parse()
                .map_err(|_| errs.push(clinbridge_core::FieldError::new(field, "must be a number of degrees")))
                .ok()
        };
        let latitude = coord("latitude", &self.latitude);
        let longitude = coord("longitude", &self.longitude);
        if !errs.is_empty() {
            return Err(ApiError::Invalid(errs));
        }
        Ok(clinbridge_core::medical::InstitutionInput {
            name: self.name.clone(),
            kind: self.kind.clone(),
            address: self.address.clone(),
            city: self.city.clone(),
            state: self.state.clone(),
            postal_code: self.postal_code.clone(),
            departments: split_list(&self.departments),
            latitude,
            longitude,
        })
    }

    fn of(i: &med::Institution) -> Self {
        InstitutionForm {
            name: i.name.clone(),
            kind: i.kind.clone(),
            address: i.address.clone(),
            city: i.city.clone(),
            state: i.state.clone(),
            postal_code: i.postal_code.clone(),
            departments: i.departments.join(", "),
            latitude: i.latitude.map(|v| v.to_string()).unwrap_or_default(),
            longitude: i.longitude.map(|v| v.to_string()).unwrap_or_default(),
        }
    }
}

pub struct InstitutionRow {
    id: Uuid,
    name: String,
    kind: String,
    place: String,
    departments: String,
}

#[derive(Template)]
#[template(path = "medical_institutions.html")]
struct InstitutionsPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    rows: Vec<InstitutionRow>,
    kinds: Vec<(&'static str, &'static str)>,
    can_write: bool,
    form: InstitutionForm,
    errors: Vec<(String, String)>,
}

fn kind_label(k: &str) -> String {
    InstitutionKind::parse(k).map(|k| k.label().to_string()).unwrap_or_default()
}

async fn institutions_view(
    state: &AppState,
    who: &Authed,
    form: InstitutionForm,
    errors: Vec<(String, String)>,
) -> Result<InstitutionsPage, PageError> {
    reader(who)?;
    let rows = med::institutions(&state.store)
        .await?
        .into_iter()
        .map(|i| InstitutionRow {
            id: i.id,
            kind: kind_label(&i.kind),
            place: [i.city.clone(), i.state.clone()]
                .into_iter()
                .filter(|x| !x.is_empty())
                .collect::<Vec<_>>()
                .join(", "),
            departments: i.departments.join(", "),
            name: i.name,
        })
        .collect();
    Ok(InstitutionsPage {
        chrome: chrome(state, who, "/medical").await,
        tabs: tabs("/medical/hcps"),
        rows,
        kinds: InstitutionKind::choices(),
        can_write: who.can(WRITE, Target::ORG),
        form,
        errors,
    })
}

async fn institutions(State(state): State<AppState>, who: Authed) -> PageResult {
    let form = InstitutionForm { kind: "hospital".into(), ..Default::default() };
    Ok(render(&institutions_view(&state, &who, form, Vec::new()).await?))
}

async fn create_institution(State(state): State<AppState>, who: Authed, Form(f): Form<InstitutionForm>) -> PageResult {
    writer(&who)?;
    let r = match f.input() {
        Ok(i) => med::create_institution(&state.store, &who.acting(), i).await.map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match r {
        Ok(i) => Ok(see_other(&format!("/medical/institutions/{}", i.id))),
        Err(e) => {
            let errors = form_errors(e)?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&institutions_view(&state, &who, f, errors).await?))
                .into_response())
        }
    }
}

#[derive(Template)]
#[template(path = "medical_institution.html")]
struct InstitutionPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    id: Uuid,
    name: String,
    kind: String,
    address: String,
    departments: String,
    coordinates: Option<(f64, f64)>,
    hcps: Vec<HcpRow>,
    kinds: Vec<(&'static str, &'static str)>,
    can_write: bool,
    form: InstitutionForm,
    errors: Vec<(String, String)>,
}

async fn institution_view(
    state: &AppState,
    who: &Authed,
    id: Uuid,
    form: Option<InstitutionForm>,
    errors: Vec<(String, String)>,
) -> Result<InstitutionPage, PageError> {
    reader(who)?;
    let i = med::institution(&state.store, id).await?;
    let hcps =
        med::search_hcps(&state.store, &HcpSearch { institution_id: Some(id), limit: Some(500), ..Default::default() })
            .await?
            .into_iter()
            .map(|l| HcpRow {
                id: l.hcp.id,
                name: l.hcp.display_name(),
                npi: l.hcp.npi.clone(),
                specialty: l.hcp.specialty.clone(),
                institution: String::new(),
                tier: l.tier.and_then(|t| Tier::new(t).ok()).map(|t| t.label().to_string()).unwrap_or_default(),
            })
            .collect();
    Ok(InstitutionPage {
        chrome: chrome(state, who, "/medical").await,
        tabs: tabs("/medical/hcps"),
        id,
        form: form.unwrap_or_else(|| InstitutionForm::of(&i)),
        kind: kind_label(&i.kind),
        address: [
            i.address.clone(),
            i.city.clone(),
            [i.state.clone(), i.postal_code.clone()].join(" ").trim().to_string(),
        ]
        .into_iter()
        .filter(|x| !x.is_empty())
        .collect::<Vec<_>>()
        .join(", "),
        departments: i.departments.join(", "),
        coordinates: i.latitude.zip(i.longitude),
        name: i.name,
        hcps,
        kinds: InstitutionKind::choices(),
        can_write: who.can(WRITE, Target::ORG),
        errors,
    })
}

async fn institution(State(state): State<AppState>, who: Authed, Path(id): Path<Uuid>) -> PageResult {
    Ok(render(&institution_view(&state, &who, id, None, Vec::new()).await?))
}

async fn edit_institution(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<InstitutionForm>,
) -> PageResult {
    writer(&who)?;
    let r = match f.input() {
        Ok(i) => med::update_institution(&state.store, &who.acting(), id, i).await.map(|_| ()).map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match r {
        Ok(()) => Ok(see_other(&format!("/medical/institutions/{id}"))),
        Err(e) => {
            let errors = form_errors(e)?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&institution_view(&state, &who, id, Some(f), errors).await?))
                .into_response())
        }
    }
}
