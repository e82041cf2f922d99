//! The Instruments page: a study's data-capture design (versions, instruments and fields, the
//! form–event mapping, missing-data codes) and, for data managers, the dictionary upload, a
//! small form builder working on the draft, publishing and discarding the draft. Every change
//! goes through `metadata::save_draft`, which checks the whole design and names each bad cell.

use super::{Chrome, PageError, PageResult, chrome, form_errors, local, render, see_other};
use crate::AppState;
use crate::api::edc::{EDC_ADMIN, VersionQuery, edc_admin_study, edc_study};
use crate::api::edc_transfer::{EDC_EXPORT, EDC_WRITE, record_sites, run_import};
use crate::auth::Authed;
use crate::error::ApiError;
use askama::Template;
use axum::Form;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::handler::Handler;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use clinbridge_core::edc::{FieldRow, FieldType, VALIDATION_NAMES};
use clinbridge_core::policy::Target;
use clinbridge_store::edc::metadata::{self as meta, Design, EventForms, InstrumentSetting, Metadata};
use clinbridge_store::trials::Study;
use std::sync::Arc;

/// A dictionary upload may be this large.
const MAX_DICTIONARY_BYTES: usize = 5 * 1024 * 1024;
/// A data import (CSV or ODM) may be this large.
const MAX_IMPORT_BYTES: usize = 50 * 1024 * 1024;

pub fn register(r: crate::routes::Routes) -> crate::routes::Routes {
    r.get("/studies/{code}/edc", design_page)
        .post("/studies/{code}/edc/dictionary", upload.layer(DefaultBodyLimit::max(MAX_DICTIONARY_BYTES + 64 * 1024)))
        .post("/studies/{code}/edc/instruments", save_instruments)
        .post("/studies/{code}/edc/event-forms", save_event_forms)
        .post("/studies/{code}/edc/missing-codes", save_missing)
        .post("/studies/{code}/edc/publish", publish)
        .post("/studies/{code}/edc/discard", discard)
        .post("/studies/{code}/edc/fields", add_field)
        .get("/studies/{code}/edc/fields/{name}", field_page)
        .post("/studies/{code}/edc/fields/{name}", edit_field)
        .post("/studies/{code}/edc/fields/{name}/delete", delete_field)
        .post("/studies/{code}/edc/fields/{name}/move", move_field)
        .post("/studies/{code}/edc/import", import.layer(DefaultBodyLimit::max(MAX_IMPORT_BYTES + 64 * 1024)))
}

/// A form's fields in order (a grid of checkboxes sends one name many times).
type Fields = Vec<(String, String)>;

fn field<'a>(f: &'a Fields, name: &str) -> &'a str {
    f.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or("")
}

// ---------------------------------------------------------------- the field form

/// The add/edit field form, shared by the page and the field's own page.
pub struct FieldForm {
    pub action: String,
    pub submit: &'static str,
    pub editing: bool,
    pub values: Fields,
    pub instruments: Vec<String>,
    pub field_types: Vec<&'static str>,
    pub validations: Vec<&'static str>,
}

impl FieldForm {
    fn new(action: String, submit: &'static str, editing: bool, values: Fields, instruments: Vec<String>) -> Self {
        FieldForm {
            action,
            submit,
            editing,
            values,
            instruments,
            field_types: FieldType::ALL.iter().map(|t| t.as_str()).collect(),
            validations: VALIDATION_NAMES[..27].to_vec(),
        }
    }
    pub fn v(&self, name: &str) -> &str {
        field(&self.values, name)
    }
    pub fn is(&self, name: &str, value: &str) -> bool {
        self.v(name) == value
    }
    pub fn on(&self, name: &str) -> bool {
        matches!(self.v(name), "on" | "y" | "1")
    }
}

fn has_choice_list(field_type: &str) -> bool {
    FieldType::parse(field_type).is_ok_and(|t| t.has_choices() || t == FieldType::Slider)
}

/// A row as the form shows it: choices one per line.
fn row_values(r: &FieldRow) -> Fields {
    let choices = if has_choice_list(&r.field_type) {
        r.select_choices_or_calculations.split('|').map(str::trim).collect::<Vec<_>>().join("\n")
    } else {
        r.select_choices_or_calculations.clone()
    };
    vec![
        ("field_name".into(), r.field_name.clone()),
        ("form_name".into(), r.form_name.clone()),
        ("field_type".into(), r.field_type.clone()),
        ("field_label".into(), r.field_label.clone()),
        ("choices".into(), choices),
        ("validation".into(), r.text_validation_type_or_show_slider_number.clone()),
        ("min".into(), r.text_validation_min.clone()),
        ("max".into(), r.text_validation_max.clone()),
        ("required".into(), r.required_field.clone()),
        ("identifier".into(), r.identifier.clone()),
        ("branching_logic".into(), r.branching_logic.clone()),
        ("field_note".into(), r.field_note.clone()),
        ("field_annotation".into(), r.field_annotation.clone()),
    ]
}

/// The form's values written into a row (the columns the form does not show are kept).
fn form_into_row(f: &Fields, mut r: FieldRow, take_name: bool) -> FieldRow {
    if take_name {
        r.field_name = field(f, "field_name").trim().to_string();
    }
    r.form_name = field(f, "form_name").trim().to_string();
    r.field_type = field(f, "field_type").trim().to_string();
    r.field_label = field(f, "field_label").trim().to_string();
    let choices = field(f, "choices").replace("\r\n", "\n");
    r.select_choices_or_calculations = if has_choice_list(&r.field_type) {
        choices.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" | ")
    } else {
        choices.trim().to_string()
    };
    r.text_validation_type_or_show_slider_number = field(f, "validation").trim().to_string();
    r.text_validation_min = field(f, "min").trim().to_string();
    r.text_validation_max = field(f, "max").trim().to_string();
    r.required_field = if matches!(field(f, "required"), "on" | "y") { "y".into() } else { String::new() };
    r.identifier = if matches!(field(f, "identifier"), "on" | "y") { "y".into() } else { String::new() };
    r.branching_logic = field(f, "branching_logic").trim().to_string();
    r.field_note = field(f, "field_note").trim().to_string();
    r.field_annotation = field(f, "field_annotation").trim().to_string();
    r
}

// ---------------------------------------------------------------- the page

pub struct VersionLine {
    pub number: i64,
    pub status: String,
    pub published: String,
    pub published_by: String,
    pub reason: String,
}

pub struct FieldLine {
    pub name: String,
    pub field_type: String,
    pub label: String,
    pub choices: String,
    pub validation: String,
    pub required: bool,
    pub identifier: bool,
    pub branching: String,
    pub calculation: String,
    pub annotation: String,
    pub first: bool,
    pub last: bool,
}

pub struct InstrumentLine {
    pub name: String,
    pub label: String,
    pub repeating: bool,
    pub fields: Vec<FieldLine>,
}

pub struct EventRow {
    pub code: String,
    pub name: String,
    /// (checkbox value, instrument, ticked)
    pub cells: Vec<(String, String, bool)>,
}

#[derive(Template)]
#[template(path = "edc_design.html")]
struct DesignPage {
    chrome: Chrome,
    study_code: String,
    study_name: String,
    versions: Vec<VersionLine>,
    /// What is shown: "Draft version 2", "Production version 1", or empty.
    showing: String,
    has_draft: bool,
    has_production: bool,
    /// The forms change what is shown (the working design).
    editable: bool,
    instruments: Vec<InstrumentLine>,
    grid: Vec<EventRow>,
    missing_codes: String,
    losses: Vec<(String, String)>,
    can_admin: bool,
    errors: Vec<(String, String)>,
    /// Which form the errors belong to: upload, field, settings, mapping, missing, publish,
    /// import.
    error_at: &'static str,
    form: FieldForm,
    /// The user may download the study's data (all of it or their sites').
    can_export: bool,
    /// The user may import data (into all records or their sites').
    can_import: bool,
    /// What the last import did ("Imported 3 records: …").
    imported: String,
}

fn instrument_lines(m: &Metadata) -> Vec<InstrumentLine> {
    m.dictionary
        .instruments()
        .into_iter()
        .map(|name| {
            let fields: Vec<_> = m.dictionary.instrument_fields(name).collect();
            let n = fields.len();
            InstrumentLine {
                name: name.to_string(),
                label: m.label(name),
                repeating: m.instrument(name).is_some_and(|i| i.repeating),
                fields: fields
                    .into_iter()
                    .enumerate()
                    .map(|(i, f)| {
                        let mut validation = f.validation_text().to_string();
                        if !f.min_text().is_empty() || !f.max_text().is_empty() {
                            validation = format!("{validation} [{} – {}]", f.min_text(), f.max_text());
                        }
                        FieldLine {
                            name: f.name().to_string(),
                            field_type: f.field_type().as_str().to_string(),
                            label: f.label().to_string(),
                            choices: if f.field_type() == FieldType::Calc {
                                String::new()
                            } else {
                                f.choices_text().to_string()
                            },
                            validation,
                            required: f.required(),
                            identifier: f.identifier(),
                            branching: f.branching_logic().to_string(),
                            calculation: f.calculation().unwrap_or("").to_string(),
                            annotation: f.annotation().to_string(),
                            first: i == 0,
                            last: i + 1 == n,
                        }
                    })
                    .collect(),
            }
        })
        .collect()
}

async fn design_view(
    state: &AppState,
    who: &Authed,
    code: &str,
    version: Option<&str>,
    errors: Vec<(String, String)>,
    error_at: &'static str,
    add: Fields,
) -> Result<DesignPage, PageError> {
    let study = edc_study(state, who, code).await?;
    let can_admin = who.can(EDC_ADMIN, Target::study(study.id));
    let can_export = record_sites(state, who, study.id, EDC_EXPORT).await.is_ok();
    let can_import = record_sites(state, who, study.id, EDC_WRITE).await.is_ok();
    let tz = who.tz();
    let versions = meta::versions(&state.store, study.id)
        .await?
        .into_iter()
        .map(|v| VersionLine {
            number: v.number,
            published: v.published_at.map(|t| local(t, tz)).unwrap_or_default(),
            published_by: v.published_by_name.unwrap_or_default(),
            reason: v.change_reason,
            status: v.status,
        })
        .collect();
    let draft = meta::draft(&state.store, study.id).await?;
    let production = meta::production(&state.store, study.id).await?;
    let shown: Option<Arc<Metadata>> = match version.unwrap_or("") {
        "production" => production.clone(),
        "draft" => draft.clone(),
        _ => draft.clone().or_else(|| production.clone()),
    };
    // The forms change the working design: the draft, or production when there is no draft.
    let editable = can_admin
        && match (&shown, &draft) {
            (Some(s), Some(d)) => s.id == d.id,
            (Some(_), None) => true,
            (None, _) => draft.is_none() && production.is_none(),
        };
    let showing = shown
        .as_ref()
        .map(|m| {
            let status = if m.status.as_str() == "draft" { "Draft" } else { "Production" };
            format!("{status} version {}", m.number)
        })
        .unwrap_or_default();
    let instruments = shown.as_deref().map(instrument_lines).unwrap_or_default();
    let events = meta::events(&state.store, study.id).await?;
    let grid = match &shown {
        Some(m) => events
            .iter()
            .map(|e| EventRow {
                code: e.code.clone(),
                name: e.name.clone(),
                cells: m
                    .dictionary
                    .instruments()
                    .into_iter()
                    .map(|i| {
                        let ticked =
                            m.event_forms.iter().any(|ef| ef.event == e.code && ef.instruments.iter().any(|x| x == i));
                        (format!("{}|{i}", e.code), i.to_string(), ticked)
                    })
                    .collect(),
            })
            .collect(),
        None => Vec::new(),
    };
    let losses = if can_admin && draft.is_some() && production.is_some() {
        meta::data_loss(&state.store, study.id).await?.into_iter().map(|l| (l.field, l.message)).collect()
    } else {
        Vec::new()
    };
    let instrument_names: Vec<String> = shown
        .as_deref()
        .map(|m| m.dictionary.instruments().into_iter().map(str::to_string).collect())
        .unwrap_or_default();
    let mut add = add;
    if add.is_empty() {
        add = vec![("field_type".into(), "text".into())];
        if let Some(first) = instrument_names.first() {
            add.push(("form_name".into(), first.clone()));
        }
    }
    Ok(DesignPage {
        chrome: chrome(state, who, "/studies").await,
        study_name: study.display_name().to_string(),
        versions,
        showing,
        has_draft: draft.is_some(),
        has_production: production.is_some(),
        editable,
        missing_codes: shown.as_ref().map(|m| m.missing_text.clone()).unwrap_or_default(),
        instruments,
        grid,
        losses,
        can_admin,
        errors,
        error_at,
        form: FieldForm::new(format!("/studies/{}/edc/fields", study.code), "Add field", false, add, instrument_names),
        study_code: study.code,
        can_export,
        can_import,
        imported: String::new(),
    })
}

async fn design_page(
    State(state): State<AppState>,
    who: Authed,
    Path(code): Path<String>,
    Query(q): Query<VersionQuery>,
) -> PageResult {
    Ok(render(&design_view(&state, &who, &code, q.version.as_deref(), Vec::new(), "", Vec::new()).await?))
}

/// After a change: back to the page, or the page again with the errors next to the form.
async fn after(
    state: &AppState,
    who: &Authed,
    code: &str,
    r: Result<(), ApiError>,
    error_at: &'static str,
    add: Fields,
) -> PageResult {
    match r {
        Ok(()) => Ok(see_other(&format!("/studies/{code}/edc"))),
        Err(ApiError::Forbidden) => Err(ApiError::Forbidden.into()),
        Err(e) => {
            let errors = form_errors(e)?;
            let page = design_view(state, who, code, None, errors, error_at, add).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
        }
    }
}

/// Saves a changed design as the draft.
async fn save(state: &AppState, who: &Authed, study: &Study, design: Design, note: &str) -> Result<(), ApiError> {
    meta::save_draft(&state.store, &who.acting(), study.id, design, note).await?;
    Ok(())
}

/// Imports the uploaded dictionary (multipart, the file as `dictionary`).
async fn upload(
    State(state): State<AppState>,
    who: Authed,
    Path(code): Path<String>,
    req: axum::extract::Request,
) -> PageResult {
    let study = edc_admin_study(&state, &who, &code).await?;
    let r = async {
        let mut form = <Multipart as axum::extract::FromRequest<AppState>>::from_request(req, &state)
            .await
            .map_err(|_| ApiError::field("dictionary", "send the form as multipart/form-data with the CSV file"))?;
        let mut csv: Option<Vec<u8>> = None;
        while let Some(part) = form
            .next_field()
            .await
            .map_err(|_| ApiError::field("dictionary", "the upload was cut off or too large (5 MiB at most)"))?
        {
            if part.name() == Some("dictionary") {
                let bytes = part.bytes().await.map_err(|_| {
                    ApiError::field("dictionary", "the upload was cut off or too large (5 MiB at most)")
                })?;
                csv = Some(bytes.to_vec());
            }
        }
        let csv = csv.filter(|c| !c.is_empty()).ok_or_else(|| ApiError::field("dictionary", "choose a CSV file"))?;
        meta::import_dictionary(&state.store, &who.acting(), study.id, &csv).await?;
        Ok::<_, ApiError>(())
    }
    .await;
    after(&state, &who, &code, r, "upload", Vec::new()).await
}

/// The instrument names of a design, in order.
fn instrument_names(design: &Design) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in &design.rows {
        if !out.contains(&r.form_name) {
            out.push(r.form_name.clone());
        }
    }
    out
}

async fn save_instruments(
    State(state): State<AppState>,
    who: Authed,
    Path(code): Path<String>,
    Form(f): Form<Fields>,
) -> PageResult {
    let study = edc_admin_study(&state, &who, &code).await?;
    let r = async {
        let mut design = meta::working_design(&state.store, study.id).await?;
        design.instruments = instrument_names(&design)
            .into_iter()
            .map(|name| InstrumentSetting {
                label: field(&f, &format!("label.{name}")).trim().to_string(),
                repeating: field(&f, &format!("repeating.{name}")) == "on",
                name,
            })
            .collect();
        save(&state, &who, &study, design, "instrument settings changed").await
    }
    .await;
    after(&state, &who, &code, r, "settings", Vec::new()).await
}

async fn save_event_forms(
    State(state): State<AppState>,
    who: Authed,
    Path(code): Path<String>,
    Form(f): Form<Fields>,
) -> PageResult {
    let study = edc_admin_study(&state, &who, &code).await?;
    let r = async {
        let mut design = meta::working_design(&state.store, study.id).await?;
        let events = meta::events(&state.store, study.id).await?;
        let names = instrument_names(&design);
        let ticked: Vec<(&str, &str)> =
            f.iter().filter(|(k, _)| k == "map").filter_map(|(_, v)| v.rsplit_once('|')).collect();
        design.event_forms = events
            .iter()
            .map(|e| EventForms {
                event: e.code.clone(),
                instruments: names
                    .iter()
                    .filter(|i| ticked.contains(&(e.code.as_str(), i.as_str())))
                    .cloned()
                    .collect(),
            })
            .filter(|ef| !ef.instruments.is_empty())
            .collect();
        save(&state, &who, &study, design, "form–event mapping changed").await
    }
    .await;
    after(&state, &who, &code, r, "mapping", Vec::new()).await
}

#[derive(serde::Deserialize)]
struct MissingForm {
    missing_codes: String,
}

async fn save_missing(
    State(state): State<AppState>,
    who: Authed,
    Path(code): Path<String>,
    Form(f): Form<MissingForm>,
) -> PageResult {
    let study = edc_admin_study(&state, &who, &code).await?;
    let r = async {
        let mut design = meta::working_design(&state.store, study.id).await?;
        design.missing_codes = f.missing_codes.trim().to_string();
        save(&state, &who, &study, design, "missing-data codes changed").await
    }
    .await;
    after(&state, &who, &code, r, "missing", Vec::new()).await
}

#[derive(serde::Deserialize)]
struct PublishForm {
    #[serde(default)]
    reason: String,
}

async fn publish(
    State(state): State<AppState>,
    who: Authed,
    Path(code): Path<String>,
    Form(f): Form<PublishForm>,
) -> PageResult {
    let study = edc_admin_study(&state, &who, &code).await?;
    let r =
        meta::publish(&state.store, &who.acting(), study.id, Some(&f.reason)).await.map(|_| ()).map_err(ApiError::from);
    after(&state, &who, &code, r, "publish", Vec::new()).await
}

async fn discard(State(state): State<AppState>, who: Authed, Path(code): Path<String>) -> PageResult {
    let study = edc_admin_study(&state, &who, &code).await?;
    let r = meta::discard_draft(&state.store, &who.acting(), study.id).await.map_err(ApiError::from);
    after(&state, &who, &code, r, "publish", Vec::new()).await
}

// ---------------------------------------------------------------- the form builder

async fn add_field(
    State(state): State<AppState>,
    who: Authed,
    Path(code): Path<String>,
    Form(f): Form<Fields>,
) -> PageResult {
    let study = edc_admin_study(&state, &who, &code).await?;
    let r = async {
        let mut design = meta::working_design(&state.store, study.id).await?;
        let row = form_into_row(&f, FieldRow::default(), true);
        // After the instrument's last field, or at the end for a new instrument.
        let at =
            design.rows.iter().rposition(|r| r.form_name == row.form_name).map(|i| i + 1).unwrap_or(design.rows.len());
        let note = format!("field {} added", row.field_name);
        design.rows.insert(at, row);
        save(&state, &who, &study, design, &note).await
    }
    .await;
    after(&state, &who, &code, r, "field", f).await
}

#[derive(Template)]
#[template(path = "edc_design_field.html")]
struct FieldPage {
    chrome: Chrome,
    study_code: String,
    name: String,
    errors: Vec<(String, String)>,
    form: FieldForm,
}

async fn field_view(
    state: &AppState,
    who: &Authed,
    study: &Study,
    name: &str,
    values: Option<Fields>,
    errors: Vec<(String, String)>,
) -> Result<FieldPage, PageError> {
    let design = meta::working_design(&state.store, study.id).await?;
    let row = design.rows.iter().find(|r| r.field_name == name).ok_or(ApiError::NotFound("field"))?;
    let values = values.unwrap_or_else(|| row_values(row));
    Ok(FieldPage {
        chrome: chrome(state, who, "/studies").await,
        study_code: study.code.clone(),
        name: name.to_string(),
        errors,
        form: FieldForm::new(
            format!("/studies/{}/edc/fields/{name}", study.code),
            "Save field",
            true,
            values,
            instrument_names(&design),
        ),
    })
}

async fn field_page(
    State(state): State<AppState>,
    who: Authed,
    Path((code, name)): Path<(String, String)>,
) -> PageResult {
    let study = edc_admin_study(&state, &who, &code).await?;
    Ok(render(&field_view(&state, &who, &study, &name, None, Vec::new()).await?))
}

async fn edit_field(
    State(state): State<AppState>,
    who: Authed,
    Path((code, name)): Path<(String, String)>,
    Form(f): Form<Fields>,
) -> PageResult {
    let study = edc_admin_study(&state, &who, &code).await?;
    let r = async {
        let mut design = meta::working_design(&state.store, study.id).await?;
        let i = design.rows.iter().position(|r| r.field_name == name).ok_or(ApiError::NotFound("field"))?;
        design.rows[i] = form_into_row(&f, design.rows[i].clone(), false);
        save(&state, &who, &study, design, &format!("field {name} changed")).await
    }
    .await;
    match r {
        Ok(()) => Ok(see_other(&format!("/studies/{code}/edc"))),
        Err(ApiError::Forbidden) => Err(ApiError::Forbidden.into()),
        Err(e) => {
            let errors = form_errors(e)?;
            let page = field_view(&state, &who, &study, &name, Some(f), errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
        }
    }
}

async fn delete_field(
    State(state): State<AppState>,
    who: Authed,
    Path((code, name)): Path<(String, String)>,
) -> PageResult {
    let study = edc_admin_study(&state, &who, &code).await?;
    let r = async {
        let mut design = meta::working_design(&state.store, study.id).await?;
        let before = design.rows.len();
        design.rows.retain(|r| r.field_name != name);
        if design.rows.len() == before {
            return Err(ApiError::NotFound("field"));
        }
        save(&state, &who, &study, design, &format!("field {name} deleted")).await
    }
    .await;
    after(&state, &who, &code, r, "field", Vec::new()).await
}

#[derive(serde::Deserialize)]
struct MoveForm {
    direction: String,
}

async fn move_field(
    State(state): State<AppState>,
    who: Authed,
    Path((code, name)): Path<(String, String)>,
    Form(f): Form<MoveForm>,
) -> PageResult {
    let study = edc_admin_study(&state, &who, &code).await?;
    let r = async {
        let mut design = meta::working_design(&state.store, study.id).await?;
        let i = design.rows.iter().position(|r| r.field_name == name).ok_or(ApiError::NotFound("field"))?;
        // A field moves within its instrument.
        let j = match f.direction.as_str() {
            "up" if i > 0 => i - 1,
            "down" => i + 1,
            _ => return Ok(()),
        };
        if design.rows.get(j).is_none_or(|r| r.form_name != design.rows[i].form_name) {
            return Ok(());
        }
        design.rows.swap(i, j);
        save(&state, &who, &study, design, &format!("field {name} moved {}", f.direction)).await
    }
    .await;
    after(&state, &who, &code, r, "field", Vec::new()).await
}

// ---------------------------------------------------------------- data import

/// Imports a data file (multipart: `file`, `format` csv or odm, `overwrite`, `date_format`,
/// `reason`), all or nothing; the page shows the records saved or every row's problems.
async fn import(
    State(state): State<AppState>,
    who: Authed,
    Path(code): Path<String>,
    req: axum::extract::Request,
) -> PageResult {
    let study = edc_study(&state, &who, &code).await?;
    // Refused before the upload is read.
    record_sites(&state, &who, study.id, EDC_WRITE).await?;
    let r = async {
        let mut form = <Multipart as axum::extract::FromRequest<AppState>>::from_request(req, &state)
            .await
            .map_err(|_| ApiError::field("file", "send the form as multipart/form-data with the file"))?;
        let too_large = || ApiError::field("file", "the upload was cut off or too large (50 MiB at most)");
        let mut fields: Fields = Vec::new();
        let mut file: Option<Vec<u8>> = None;
        while let Some(part) = form.next_field().await.map_err(|_| too_large())? {
            let name = part.name().unwrap_or("").to_string();
            if name == "file" {
                file = Some(part.bytes().await.map_err(|_| too_large())?.to_vec());
            } else {
                let text = part.text().await.map_err(|_| too_large())?;
                fields.push((name, text));
            }
        }
        let file = file.filter(|f| !f.is_empty()).ok_or_else(|| ApiError::field("file", "choose a file"))?;
        let format = match field(&fields, "format").trim() {
            "" => "csv",
            f => f,
        };
        let overwrite = matches!(field(&fields, "overwrite"), "on" | "1" | "true" | "yes");
        run_import(
            &state,
            &who,
            study.id,
            format,
            &file,
            overwrite,
            Some(field(&fields, "date_format")),
            Some(field(&fields, "reason")),
        )
        .await
    }
    .await;
    match r {
        Ok(outcome) => {
            let mut page = design_view(&state, &who, &code, None, Vec::new(), "", Vec::new()).await?;
            page.imported = format!(
                "Imported {} record{}{}{}",
                outcome.count,
                if outcome.count == 1 { "" } else { "s" },
                if outcome.ids.is_empty() { "" } else { ": " },
                outcome.ids.join(", ")
            );
            Ok(render(&page))
        }
        Err(ApiError::Forbidden) => Err(ApiError::Forbidden.into()),
        Err(e) => {
            let errors = form_errors(e)?;
            let page = design_view(&state, &who, &code, None, errors, "import", Vec::new()).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
        }
    }
}
