//! The schedule of events page: the classic grid (visits × procedures) with each visit's
//! timing and window, and for study administrators the forms to add or remove visits.

use super::{Chrome, PageError, PageResult, chrome, form_errors, render, see_other};
use crate::AppState;
use crate::api::trials::{TRIALS_ADMIN, readable_study};
use crate::auth::Authed;
use crate::error::ApiError;
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use clinbridge_core::policy::Target;
use clinbridge_core::trials::schedule::{
    AnchorKind, VisitDefinition, VisitDefinitionInput, VisitKind, procedure_columns,
};
use clinbridge_store::trials::schedule as store_s;
use serde::Deserialize;
use uuid::Uuid;

pub fn register(r: crate::routes::Routes) -> crate::routes::Routes {
    r.get("/studies/{code}/schedule", page).post("/studies/{code}/schedule", add).post("/visits/{id}/delete", remove)
}

pub struct GridRow {
    id: Uuid,
    code: String,
    name: String,
    timing: String,
    kind: &'static str,
    marks: Vec<bool>,
}

#[derive(Deserialize, Default, Clone)]
pub struct VisitForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    anchor: String,
    #[serde(default)]
    anchor_visit: String,
    #[serde(default)]
    offset_days: String,
    #[serde(default)]
    window_before: String,
    #[serde(default)]
    window_after: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    repeat_every_days: String,
    #[serde(default)]
    repeat_count: String,
    #[serde(default)]
    procedures: String,
}

impl VisitForm {
    fn definition(&self) -> Result<VisitDefinition, ApiError> {
        let mut errs = Vec::new();
        let mut num = |field: &str, v: &str| -> i64 {
            let v = v.trim();
            if v.is_empty() {
                return 0;
            }
            v.parse().unwrap_or_else(|_| {
                errs.push(clinbridge_core::FieldError::new(field, "must be a whole number"));
                0
            })
        };
        let input = VisitDefinitionInput {
            code: self.code.clone(),
            name: self.name.clone(),
            anchor: self.anchor.clone(),
            anchor_visit: self.anchor_visit.clone(),
            offset_days: num("offset_days", &self.offset_days),
            window_before: num("window_before", &self.window_before),
            window_after: num("window_after", &self.window_after),
            kind: self.kind.clone(),
            repeat_every_days: num("repeat_every_days", &self.repeat_every_days),
            repeat_count: num("repeat_count", &self.repeat_count),
            procedures: self.procedures.split([',', '\n']).map(|s| s.trim().to_string()).collect(),
        };
        if !errs.is_empty() {
            return Err(ApiError::Invalid(errs));
        }
        Ok(VisitDefinition::parse(&input)?)
    }
}

#[derive(Template)]
#[template(path = "schedule.html")]
struct SchedulePage {
    chrome: Chrome,
    study_code: String,
    study_name: String,
    columns: Vec<String>,
    rows: Vec<GridRow>,
    can_admin: bool,
    anchors: Vec<(&'static str, &'static str)>,
    kinds: Vec<(&'static str, &'static str)>,
    visit_codes: Vec<String>,
    form: VisitForm,
    errors: Vec<(String, String)>,
}

async fn view(
    state: &AppState,
    who: &Authed,
    code: &str,
    form: VisitForm,
    errors: Vec<(String, String)>,
) -> Result<SchedulePage, PageError> {
    let study = readable_study(state, who, code).await?;
    let visits = store_s::visits(&state.store, study.id).await?;
    let defs: Vec<VisitDefinition> = visits.iter().map(|v| v.definition.clone()).collect();
    let columns = procedure_columns(&defs);
    let rows = visits
        .iter()
        .map(|v| GridRow {
            id: v.id,
            code: v.definition.code.clone(),
            name: v.definition.name.clone(),
            timing: v.definition.timing(),
            kind: v.definition.kind.label(),
            marks: columns.iter().map(|c| v.definition.procedures.iter().any(|p| p.eq_ignore_ascii_case(c))).collect(),
        })
        .collect();
    Ok(SchedulePage {
        chrome: chrome(state, who, "/studies").await,
        study_name: study.display_name().to_string(),
        can_admin: who.can(TRIALS_ADMIN, Target::study(study.id)),
        study_code: study.code,
        columns,
        rows,
        anchors: AnchorKind::ALL.iter().map(|a| (a.as_str(), a.label())).collect(),
        kinds: VisitKind::ALL.iter().map(|k| (k.as_str(), k.label())).collect(),
        visit_codes: defs.iter().filter(|d| d.kind == VisitKind::Scheduled).map(|d| d.code.clone()).collect(),
        form,
        errors,
    })
}

async fn page(State(state): State<AppState>, who: Authed, Path(code): Path<String>) -> PageResult {
    let form = VisitForm { anchor: "randomization".into(), kind: "scheduled".into(), ..Default::default() };
    Ok(render(&view(&state, &who, &code, form, Vec::new()).await?))
}

async fn add(
    State(state): State<AppState>,
    who: Authed,
    Path(code): Path<String>,
    Form(f): Form<VisitForm>,
) -> PageResult {
    let study = readable_study(&state, &who, &code).await?;
    who.require(TRIALS_ADMIN, Target::study(study.id))?;
    let r = match f.definition() {
        Ok(d) => store_s::add_visit(&state.store, &who.acting(), study.id, d).await.map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match r {
        Ok(_) => Ok(see_other(&format!("/studies/{}/schedule", study.code))),
        Err(e) => {
            let errors = form_errors(e)?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&view(&state, &who, &study.code, f, errors).await?))
                .into_response())
        }
    }
}

async fn remove(State(state): State<AppState>, who: Authed, Path(id): Path<Uuid>) -> PageResult {
    let v = crate::api::schedule::administrable(&state, &who, id).await?;
    let study = clinbridge_store::trials::study(&state.store, v.study_id).await?;
    match store_s::remove_visit(&state.store, &who.acting(), id).await.map_err(ApiError::from) {
        Ok(()) => Ok(see_other(&format!("/studies/{}/schedule", study.code))),
        Err(e) => {
            let errors = form_errors(e)?;
            let form = VisitForm { anchor: "randomization".into(), kind: "scheduled".into(), ..Default::default() };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&view(&state, &who, &study.code, form, errors).await?))
                .into_response())
        }
    }
}
