//! Enrollment setup of a study: the eligibility checklist, the subject id pattern, the
//! randomization scheme with its strata and (for the unblinded team only) the allocation
//! list, and who is on the unblinded team.

use super::{Chrome, PageError, PageResult, chrome, form_errors, render, see_other};
use crate::AppState;
use crate::api::participants::readable_sites;
use crate::api::trials::{TRIALS_ADMIN, readable_study};
use crate::auth::Authed;
use crate::error::ApiError;
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use clinbridge_core::participants::CriterionKind;
use clinbridge_core::participants::randomization::Factor;
use clinbridge_core::policy::Target;
use clinbridge_store::participants::{self as store_p, randomization as store_r};
use clinbridge_store::trials::Study;
use serde::Deserialize;

pub fn register(r: crate::routes::Routes) -> crate::routes::Routes {
    r.get("/studies/{code}/enrollment", page)
        .post("/studies/{code}/criteria", add_criterion)
        .post("/studies/{code}/subject-id-pattern", set_pattern)
        .post("/studies/{code}/randomization", create_scheme)
        .post("/studies/{code}/unblinded-team", set_unblinded)
}

pub struct SchemeView {
    blinded: bool,
    blocks: String,
    factors: String,
    list_length: u32,
    strata: Vec<(String, i64, i64)>,
}

#[derive(Template)]
#[template(path = "enrollment.html")]
struct EnrollmentPage {
    chrome: Chrome,
    study_code: String,
    study_name: String,
    can_admin: bool,
    criteria: Vec<(String, String, String)>,
    pattern: String,
    arms: String,
    scheme: Option<SchemeView>,
    allocations: Option<Vec<store_r::Allocation>>,
    team: Vec<(String, String)>,
    people: Vec<(String, String)>,
    errors: Vec<(String, String)>,
}

async fn view(
    state: &AppState,
    who: &Authed,
    study: &Study,
    errors: Vec<(String, String)>,
) -> Result<EnrollmentPage, PageError> {
    let can_admin = who.can(TRIALS_ADMIN, Target::study(study.id));
    if !can_admin && readable_sites(state, who, study).await?.is_empty() {
        return Err(ApiError::Forbidden.into());
    }
    let criteria = store_p::criteria(&state.store, study.id)
        .await?
        .into_iter()
        .map(|c| (c.code, if c.kind == "inclusion" { "Inclusion".into() } else { "Exclusion".into() }, c.text))
        .collect();
    let arms = clinbridge_store::trials::arms(&state.store, study.id).await?;
    let scheme = store_r::scheme(&state.store, study.id).await?;
    let (scheme_view, allocations) = match &scheme {
        Some(s) => {
            let strata = store_r::stratum_counts(&state.store, s.id).await?;
            let allocations = if store_r::may_see(&state.store, study.id, who.user.id).await? {
                Some(store_r::allocation_list(&state.store, s.id).await?)
            } else {
                None
            };
            (
                Some(SchemeView {
                    blinded: s.blinded,
                    blocks: s.design.block_sizes.iter().map(|b| b.to_string()).collect::<Vec<_>>().join(", "),
                    factors: s
                        .design
                        .factors
                        .iter()
                        .map(|f| format!("{} ({})", f.name, f.levels.join(" / ")))
                        .collect::<Vec<_>>()
                        .join("; "),
                    list_length: s.design.list_length,
                    strata,
                }),
                allocations,
            )
        }
        None => (None, None),
    };
    let team = store_r::unblinded_team(&state.store, study.id).await?.into_iter().map(|(_, n, e)| (e, n)).collect();
    let people = if can_admin {
        clinbridge_store::identity::users(&state.store)
            .await?
            .into_iter()
            .filter(|u| u.active)
            .map(|u| (u.email, u.name))
            .collect()
    } else {
        Vec::new()
    };
    Ok(EnrollmentPage {
        chrome: chrome(state, who, "/studies").await,
        study_code: study.code.clone(),
        study_name: study.display_name().to_string(),
        can_admin,
        criteria,
        pattern: store_p::subject_id_pattern(&state.store, study.id).await?,
        arms: arms.iter().map(|a| format!("{} {}", a.code, a.allocation_ratio)).collect::<Vec<_>>().join(" : "),
        scheme: scheme_view,
        allocations,
        team,
        people,
        errors,
    })
}

async fn page(State(state): State<AppState>, who: Authed, Path(code): Path<String>) -> PageResult {
    let study = readable_study(&state, &who, &code).await?;
    Ok(render(&view(&state, &who, &study, Vec::new()).await?))
}

async fn administrable(state: &AppState, who: &Authed, code: &str) -> Result<Study, PageError> {
    let study = readable_study(state, who, code).await?;
    who.require(TRIALS_ADMIN, Target::study(study.id))?;
    Ok(study)
}

async fn after<T>(state: &AppState, who: &Authed, study: &Study, r: Result<T, ApiError>) -> PageResult {
    match r {
        Ok(_) => Ok(see_other(&format!("/studies/{}/enrollment", study.code))),
        Err(e) => {
            let errors = form_errors(e)?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&view(state, who, study, errors).await?)).into_response())
        }
    }
}

#[derive(Deserialize)]
pub struct CriterionForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    text: String,
}

async fn add_criterion(
    State(state): State<AppState>,
    who: Authed,
    Path(code): Path<String>,
    Form(f): Form<CriterionForm>,
) -> PageResult {
    let study = administrable(&state, &who, &code).await?;
    let r = async {
        let kind = CriterionKind::parse(&f.kind)?;
        Ok::<_, ApiError>(store_p::add_criterion(&state.store, &who.acting(), study.id, kind, &f.code, &f.text).await?)
    }
    .await;
    after(&state, &who, &study, r).await
}

#[derive(Deserialize)]
pub struct PatternForm {
    #[serde(default)]
    pattern: String,
}

async fn set_pattern(
    State(state): State<AppState>,
    who: Authed,
    Path(code): Path<String>,
    Form(f): Form<PatternForm>,
) -> PageResult {
    let study = administrable(&state, &who, &code).await?;
    let r = store_p::set_subject_id_pattern(&state.store, &who.acting(), study.id, &f.pattern)
        .await
        .map_err(ApiError::from);
    after(&state, &who, &study, r).await
}

#[derive(Deserialize)]
pub struct SchemeForm {
    #[serde(default)]
    blinded: String,
    #[serde(default)]
    block_sizes: String,
    /// One factor per line: `name: level, level`.
    #[serde(default)]
    factors: String,
    #[serde(default)]
    list_length: String,
}

async fn create_scheme(
    State(state): State<AppState>,
    who: Authed,
    Path(code): Path<String>,
    Form(f): Form<SchemeForm>,
) -> PageResult {
    let study = administrable(&state, &who, &code).await?;
    let r = async {
        let mut block_sizes = Vec::new();
        for b in f.block_sizes.split([',', ' ']).filter(|s| !s.trim().is_empty()) {
            block_sizes.push(
                b.trim()
                    .parse::<u32>()
                    .map_err(|_| ApiError::field("block_sizes", "must be whole numbers, e.g. 4, 6"))?,
            );
        }
        let mut factors = Vec::new();
        for line in f.factors.lines().filter(|l| !l.trim().is_empty()) {
            let (name, levels) = line
                .split_once(':')
                .ok_or_else(|| ApiError::field("factors", "write each factor as name: level, level"))?;
            factors.push(Factor {
                name: name.trim().to_string(),
                levels: levels.split(',').map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect(),
            });
        }
        let list_length = f
            .list_length
            .trim()
            .parse::<u32>()
            .map_err(|_| ApiError::field("list_length", "must be a whole number"))?;
        Ok::<_, ApiError>(
            store_r::create_scheme(
                &state.store,
                &who.acting(),
                study.id,
                store_r::NewScheme { blinded: f.blinded == "true", block_sizes, factors, list_length },
            )
            .await?,
        )
    }
    .await;
    after(&state, &who, &study, r).await
}

#[derive(Deserialize)]
pub struct TeamForm {
    #[serde(default)]
    user_email: String,
    #[serde(default)]
    member: String,
}

async fn set_unblinded(
    State(state): State<AppState>,
    who: Authed,
    Path(code): Path<String>,
    Form(f): Form<TeamForm>,
) -> PageResult {
    let study = administrable(&state, &who, &code).await?;
    let r = async {
        let user = crate::api::user_named(&state, "user_email", &f.user_email).await?;
        Ok::<_, ApiError>(
            store_r::set_unblinded(&state.store, &who.acting(), study.id, user.id, f.member != "false").await?,
        )
    }
    .await;
    after(&state, &who, &study, r).await
}
