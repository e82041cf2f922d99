//! EDC data entry pages: a record's home grid (visits × instruments with each form's status),
//! the form page (every field type, validation next to the field, reason for change, live
//! branching through the server's logic endpoint, field history, queries), free-standing
//! records of a data-capture project, and a study's query list.

use super::{Chrome, PageError, PageResult, chrome, local, render, see_other};
use crate::AppState;
use crate::api::edc_entry::{
    EDC_READ, EDC_VERIFY, EDC_WRITE, FormState, QUERY_ROLES, Subject, cells, display, evaluate, event_segment,
    form_key, form_state, form_subject, grid_events, local_now, parse_query_role, parse_status_filter,
    participant_subject, readable_query, record_subject, save_form, status_key, status_label, step_action,
    visible_queries,
};
use crate::api::trials::readable_study;
use crate::auth::Authed;
use crate::error::ApiError;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use clinbridge_core::edc::{Field, FieldType};
use clinbridge_core::policy::Target;
use clinbridge_store::edc::queries::{self as store_q, QueryStatus, QueryStep};
use clinbridge_store::edc::records::{self, FormKey};
use clinbridge_store::edc::{self as store_edc, Blanks, FormInput, STATUS_LABELS};
use serde::Deserialize;
use std::collections::BTreeMap;
use uuid::Uuid;

pub fn register(r: crate::routes::Routes) -> crate::routes::Routes {
    r.get("/participants/{id}/data", participant_grid)
        .get("/participants/{id}/data/{event}/{instrument}/{instance}", participant_form)
        .post("/participants/{id}/data/{event}/{instrument}/{instance}", participant_save)
        .post("/participants/{id}/data/{event}/{instrument}/{instance}/logic", participant_logic)
        .get("/studies/{code}/records", records_page)
        .post("/studies/{code}/records", add_record)
        .get("/studies/{code}/records/{record}", record_grid)
        .get("/studies/{code}/records/{record}/{event}/{instrument}/{instance}", record_form)
        .post("/studies/{code}/records/{record}/{event}/{instrument}/{instance}", record_save)
        .post("/studies/{code}/records/{record}/{event}/{instrument}/{instance}/logic", record_logic)
        .get("/studies/{code}/queries", queries_page)
        .get("/forms/{id}", form_redirect)
        .get("/forms/{id}/history/{field}", history_page)
        .post("/forms/{id}/queries", raise_query)
        .post("/queries/{id}/steps", step_query)
        .post("/forms/{id}/verify", verify_page)
        .post("/forms/{id}/lock", lock_page)
        .post("/forms/{id}/sign", sign_page)
}

/// A form's fields as posted, in order (a checkbox sends one entry per ticked choice).
type Posted = Vec<(String, String)>;

fn posted<'a>(f: &'a Posted, name: &str) -> &'a str {
    f.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or("")
}

// ---------------------------------------------------------------- the record home grid

pub struct GridCell {
    pub url: String,
    pub instance: i64,
    pub status: &'static str,
    pub status_key: &'static str,
    pub locked: bool,
}

pub struct GridRow {
    pub label: String,
    /// One entry per column: the instances there (empty when the visit does not collect it),
    /// and the address of a new instance when the form repeats.
    pub columns: Vec<(bool, Vec<GridCell>, Option<String>)>,
}

#[derive(Template)]
#[template(path = "edc_entry_grid.html")]
struct GridPage {
    chrome: Chrome,
    heading: String,
    back: (String, String),
    study_code: String,
    columns: Vec<String>,
    rows: Vec<GridRow>,
}

async fn grid_view(state: &AppState, who: &Authed, s: Subject) -> PageResult {
    let forms = match &s.record {
        Some(r) => records::forms(&state.store, r.id).await?,
        None => Vec::new(),
    };
    let events = grid_events(&s.meta);
    let all = cells(&s.meta, &forms);
    let rows = s
        .meta
        .dictionary
        .instruments()
        .into_iter()
        .map(|instrument| GridRow {
            label: s.meta.label(instrument),
            columns: events
                .iter()
                .map(|(event, _)| {
                    let collects = s.meta.collects(event, instrument);
                    let here: Vec<GridCell> = all
                        .iter()
                        .filter(|c| c.key.event == *event && c.key.instrument == instrument)
                        .map(|c| GridCell {
                            url: s.form_url(&c.key),
                            instance: c.key.instance,
                            status: status_label(c.form.as_ref()),
                            status_key: status_key(c.form.as_ref()),
                            locked: c.form.as_ref().is_some_and(|f| f.locked()),
                        })
                        .collect();
                    let saved = here.iter().filter(|c| c.status_key != "not_started").count();
                    let add = (collects && saved > 0 && s.meta.repeats(event, instrument)).then(|| {
                        let next = here.iter().map(|c| c.instance).max().unwrap_or(0) + 1;
                        s.form_url(&FormKey::new(event, instrument, next))
                    });
                    (collects, here, add)
                })
                .collect(),
        })
        .collect();
    let back = match &s.participant {
        Some(p) => (format!("/participants/{}", p.id), format!("← {}", p.subject_id)),
        None => (format!("/studies/{}/records", s.study.code), format!("← Records of {}", s.study.code)),
    };
    Ok(render(&GridPage {
        chrome: chrome(state, who, "/studies").await,
        heading: format!("{} · {}", s.name, s.study.code),
        back,
        study_code: s.study.code.clone(),
        columns: events.into_iter().map(|(_, name)| name).collect(),
        rows,
    }))
}

async fn participant_grid(State(state): State<AppState>, who: Authed, Path(id): Path<Uuid>) -> PageResult {
    let s = participant_subject(&state, &who, id).await?;
    grid_view(&state, &who, s).await
}

async fn record_grid(
    State(state): State<AppState>,
    who: Authed,
    Path((code, record)): Path<(String, String)>,
) -> PageResult {
    let s = record_subject(&state, &who, &code, &record).await?;
    grid_view(&state, &who, s).await
}

// ---------------------------------------------------------------- records of a study

#[derive(Template)]
#[template(path = "edc_entry_records.html")]
struct RecordsPage {
    chrome: Chrome,
    study_code: String,
    study_name: String,
    records: Vec<(String, String)>,
    can_add: bool,
}

async fn records_page(State(state): State<AppState>, who: Authed, Path(code): Path<String>) -> PageResult {
    let study = readable_study(&state, &who, &code).await?;
    if !crate::api::edc_entry::can_read_study(&state, &who, &study).await? {
        return Err(ApiError::Forbidden.into());
    }
    let list = records::records(&state.store, study.id).await?;
    let records = list
        .into_iter()
        .filter(|r| who.can(EDC_READ, r.target()))
        .map(|r| {
            let url = match r.participant_id {
                Some(p) => format!("/participants/{p}/data"),
                None => format!("/studies/{}/records/{}", study.code, r.record),
            };
            (r.record, url)
        })
        .collect();
    Ok(render(&RecordsPage {
        chrome: chrome(&state, &who, "/studies").await,
        can_add: who.can(EDC_WRITE, Target::study(study.id)),
        study_name: study.display_name().to_string(),
        study_code: study.code,
        records,
    }))
}

/// "Add record": the next free number; the record is created by its first save.
async fn add_record(State(state): State<AppState>, who: Authed, Path(code): Path<String>) -> PageResult {
    let study = readable_study(&state, &who, &code).await?;
    who.require(EDC_WRITE, Target::study(study.id))?;
    let name = store_edc::next_record_name(&state.store, study.id).await?;
    Ok(see_other(&format!("/studies/{}/records/{}", study.code, name)))
}

// ---------------------------------------------------------------- the form page

pub struct ChoiceView {
    pub code: String,
    pub label: String,
    pub selected: bool,
}

pub struct FieldView {
    pub name: String,
    pub label: String,
    pub kind: &'static str,
    pub section: String,
    pub note: String,
    pub hint: String,
    pub required: bool,
    /// What the input holds (dates in the field's order).
    pub value: String,
    /// The value as read (choice labels).
    pub shown_value: String,
    pub readonly: bool,
    /// @HIDDEN: kept as a hidden input.
    pub tag_hidden: bool,
    /// Shown by its branching logic.
    pub shows: bool,
    pub choices: Vec<ChoiceView>,
    pub slider: (String, String, String, String, String),
    pub error: String,
    pub open_queries: usize,
    /// Who verified the field against source, and when ("" when not verified).
    pub verified: String,
}

pub struct MessageView {
    pub who: String,
    pub kind: String,
    pub body: String,
    pub at: String,
}

pub struct QueryView {
    pub id: Uuid,
    pub field: String,
    pub status: String,
    pub role: String,
    pub age_days: i64,
    pub messages: Vec<MessageView>,
    pub can_respond: bool,
    pub can_close: bool,
    pub can_reopen: bool,
}

#[derive(Template)]
#[template(path = "edc_entry_form.html")]
struct FormPage {
    chrome: Chrome,
    heading: String,
    grid_url: String,
    action: String,
    form_id: Option<Uuid>,
    event_name: String,
    instance: i64,
    status: i64,
    status_text: &'static str,
    statuses: Vec<(i64, &'static str)>,
    revision: String,
    locked: bool,
    editable: bool,
    saved_before: bool,
    reason: String,
    reason_error: String,
    errors: Vec<String>,
    fields: Vec<FieldView>,
    queries: Vec<QueryView>,
    can_raise: bool,
    roles: Vec<(&'static str, &'static str)>,
    /// Source verification, locks and signatures (saved forms only).
    review: Option<crate::api::edc_review::ReviewOut>,
    /// Each signature over the form in words (local time), and whether it is still valid.
    signature_lines: Vec<(String, bool)>,
    can_verify: bool,
    can_lock: bool,
    can_sign: bool,
}

fn hint(f: &Field) -> String {
    let mut parts = Vec::new();
    if let Some(v) = f.validation() {
        match v.date_order() {
            Some(o) => parts.push(o.pattern().to_string()),
            None => parts.push(v.name().replace('_', " ")),
        }
    }
    match (f.min_text(), f.max_text()) {
        ("", "") => {}
        (lo, "") => parts.push(format!("at least {lo}")),
        ("", hi) => parts.push(format!("at most {hi}")),
        (lo, hi) => parts.push(format!("from {lo} to {hi}")),
    }
    parts.join(", ")
}

/// The value an input shows for a stored value: dates in the field's own order.
fn input_value(f: &Field, stored: &str) -> String {
    if f.field_type() == FieldType::Text { f.display(stored) } else { stored.to_string() }
}

/// What a new form starts with: @DEFAULT, @TODAY, @NOW.
fn prefill(f: &Field, now: chrono::NaiveDateTime) -> Option<String> {
    let tags = f.action_tags();
    if tags.today {
        Some(f.display(&now.date().format("%Y-%m-%d").to_string()))
    } else if tags.now {
        Some(f.display(&now.format("%Y-%m-%d %H:%M").to_string()))
    } else {
        tags.default.clone()
    }
}

/// Input kept from a refused save: field → raw input (checkbox codes comma-joined).
type Kept = BTreeMap<String, String>;

/// The fields a page posts, by field: every field the page lets one type into.
fn page_values(s: &Subject, key: &FormKey, f: &Posted) -> Kept {
    let mut out = Kept::new();
    for field in s.meta.dictionary.instrument_fields(&key.instrument) {
        if matches!(field.field_type(), FieldType::Calc | FieldType::Descriptive | FieldType::File)
            || field.action_tags().readonly_on_forms
        {
            continue;
        }
        let joined: Vec<&str> =
            f.iter().filter(|(k, _)| k == field.name()).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty()).collect();
        out.insert(field.name().to_string(), joined.join(","));
    }
    out
}

#[allow(clippy::too_many_arguments)]
async fn form_view(
    state: &AppState,
    who: &Authed,
    s: &Subject,
    fs: FormState,
    kept: Option<(Kept, String, Option<i64>)>,
    field_errors: BTreeMap<String, String>,
    errors: Vec<String>,
    notice: Option<String>,
) -> PageResult {
    let meta = &s.meta;
    let key = &fs.key;
    let now = local_now(state, s.target.site).await;
    let all = match &s.record {
        Some(r) => records::record_values(&state.store, r.id).await?,
        None => Vec::new(),
    };
    let locked = fs.form.as_ref().is_some_and(|f| f.locked());
    let editable = who.can(EDC_WRITE, s.target) && !locked;
    // What the inputs hold: the refused input, the stored values, or a new form's defaults.
    let mut current: Kept = fs.values.clone();
    let new_form = fs.form.is_none();
    if let Some((k, _, _)) = &kept {
        for (name, v) in k {
            current.insert(name.clone(), v.clone());
        }
    }
    let logic = evaluate(meta, &all, key, now, &current);
    let queries = match (&s.record, &fs.form) {
        (Some(r), Some(form)) => {
            store_q::record_queries(&state.store, r.id).await?.into_iter().filter(|q| q.form_id == form.id).collect()
        }
        _ => Vec::new(),
    };
    let mut open_by_field: BTreeMap<String, usize> = BTreeMap::new();
    for q in &queries {
        if q.status() != QueryStatus::Closed {
            *open_by_field.entry(q.field.clone()).or_default() += 1;
        }
    }
    let tz = who.tz();
    let mut query_views = Vec::new();
    for q in queries {
        let messages = store_q::messages(&state.store, q.id)
            .await?
            .into_iter()
            .map(|m| MessageView { who: m.user_name, kind: m.kind, body: m.body, at: local(m.at, tz) })
            .collect();
        let st = q.status();
        query_views.push(QueryView {
            id: q.id,
            field: q.field.clone(),
            status: st.as_str().to_string(),
            role: q.assigned_role.replace('_', " "),
            age_days: q.age_days(clinbridge_store::now()),
            messages,
            can_respond: who.can(EDC_WRITE, s.target) && st != QueryStatus::Closed,
            can_close: who.can(EDC_VERIFY, s.target) && st != QueryStatus::Closed,
            can_reopen: who.can(EDC_VERIFY, s.target) && st != QueryStatus::Open,
        });
    }
    let review = match &fs.form {
        Some(form) => Some(crate::api::edc_review::review_of(state, form).await?),
        None => None,
    };
    let verified_by: BTreeMap<String, String> = review
        .as_ref()
        .map(|r| {
            r.verified
                .iter()
                .map(|v| (v.field.clone(), format!("{}, {}", v.verified_by, local(v.verified_at, tz))))
                .collect()
        })
        .unwrap_or_default();
    let record_field = meta.dictionary.record_id_field().name().to_string();
    let signature_lines: Vec<(String, bool)> = review
        .as_ref()
        .map(|r| {
            r.signatures
                .iter()
                .map(|sig| {
                    (
                        format!(
                            "{} signed the {} ({}) on {}",
                            sig.printed_name,
                            sig.scope,
                            sig.meaning,
                            local(sig.signed_at, tz)
                        ),
                        sig.valid,
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let fields = meta
        .dictionary
        .instrument_fields(&key.instrument)
        .map(|f| {
            let stored = fs.values.get(f.name()).cloned().unwrap_or_default();
            let kept_raw = kept.as_ref().and_then(|(k, _, _)| k.get(f.name()));
            let value = match kept_raw {
                Some(raw) => raw.clone(),
                None if f.field_type() == FieldType::Calc => {
                    logic.calc.get(f.name()).cloned().unwrap_or(stored.clone())
                }
                None if new_form => prefill(f, now).unwrap_or_default(),
                None => input_value(f, &stored),
            };
            let ticked: Vec<&str> = value.split(',').map(str::trim).collect();
            let listed: Vec<(String, String)> = match f.field_type() {
                FieldType::Yesno => vec![("1".into(), "Yes".into()), ("0".into(), "No".into())],
                FieldType::Truefalse => vec![("1".into(), "True".into()), ("0".into(), "False".into())],
                _ => f.choices().iter().map(|c| (c.code.clone(), c.label.clone())).collect(),
            };
            let choices = listed
                .into_iter()
                .map(|(code, label)| ChoiceView {
                    selected: if f.field_type() == FieldType::Checkbox {
                        ticked.contains(&code.as_str())
                    } else {
                        value == code
                    },
                    code,
                    label,
                })
                .collect();
            let (lo, hi) = f.slider_range();
            let labels = f.slider().cloned().unwrap_or_default();
            FieldView {
                name: f.name().to_string(),
                label: f.label().to_string(),
                kind: f.field_type().as_str(),
                section: f.section_header().to_string(),
                note: f.field_note().to_string(),
                hint: hint(f),
                required: f.required(),
                shown_value: if f.field_type() == FieldType::Calc {
                    value.clone()
                } else if f.name() == record_field {
                    // The record's own name: REDCap's record id field is not typed in.
                    s.name.clone()
                } else {
                    display(meta, f.name(), &stored)
                },
                value,
                readonly: !editable
                    || f.action_tags().readonly_on_forms
                    || f.field_type() == FieldType::Calc
                    || f.name() == record_field,
                tag_hidden: f.action_tags().hidden_on_forms,
                shows: logic.show.get(f.name()).copied().unwrap_or(true),
                choices,
                slider: (lo.to_string(), hi.to_string(), labels.left, labels.middle, labels.right),
                error: field_errors.get(f.name()).cloned().unwrap_or_default(),
                open_queries: open_by_field.get(f.name()).copied().unwrap_or(0),
                verified: verified_by.get(f.name()).cloned().unwrap_or_default(),
            }
        })
        .collect();
    let status = kept.as_ref().and_then(|(_, _, st)| *st).or(fs.form.as_ref().map(|f| f.status)).unwrap_or(0);
    let event_name = meta.event(&key.event).map(|e| e.name.clone()).unwrap_or_default();
    let page = FormPage {
        chrome: chrome(state, who, "/studies").await.with_notice(notice),
        heading: format!("{} · {}", s.name, meta.label(&key.instrument)),
        grid_url: s.base.clone(),
        action: s.form_url(key),
        form_id: fs.form.as_ref().map(|f| f.id),
        event_name,
        instance: key.instance,
        status,
        status_text: status_label(fs.form.as_ref()),
        statuses: STATUS_LABELS.iter().enumerate().map(|(i, l)| (i as i64, *l)).collect(),
        revision: fs.form.as_ref().map(|f| f.revision.to_string()).unwrap_or_default(),
        locked,
        editable,
        saved_before: fs.form.is_some(),
        reason: kept.as_ref().map(|(_, r, _)| r.clone()).unwrap_or_default(),
        reason_error: field_errors.get("reason").cloned().unwrap_or_default(),
        errors,
        fields,
        queries: query_views,
        can_raise: fs.form.is_some() && who.can(EDC_VERIFY, s.target),
        roles: QUERY_ROLES.iter().map(|r| (r.as_str(), r.label())).collect(),
        signature_lines,
        can_verify: review.is_some() && who.can(EDC_VERIFY, s.target),
        can_lock: review.is_some() && who.can(crate::api::edc_review::EDC_LOCK, s.target),
        can_sign: review.is_some() && who.can(crate::api::edc_review::EDC_SIGN, s.target),
        review,
    };
    let status = if field_errors.is_empty() && page.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((status, render(&page)).into_response())
}

#[derive(Deserialize)]
struct FormPath {
    id: Uuid,
    event: String,
    instrument: String,
    instance: i64,
}

#[derive(Deserialize)]
struct RecordFormPath {
    code: String,
    record: String,
    event: String,
    instrument: String,
    instance: i64,
}

#[derive(Deserialize, Default)]
struct SavedQuery {
    saved: Option<String>,
}

fn saved_notice(q: &SavedQuery) -> Option<String> {
    q.saved.as_deref().map(|n| match n {
        "0" => "Saved: nothing changed.".to_string(),
        "1" => "Saved: 1 field changed.".to_string(),
        n => format!("Saved: {} fields changed.", n.parse::<usize>().unwrap_or(0)),
    })
}

async fn show_form(state: &AppState, who: &Authed, s: Subject, key: FormKey, notice: Option<String>) -> PageResult {
    let fs = form_state(state, &s, key).await?;
    form_view(state, who, &s, fs, None, BTreeMap::new(), Vec::new(), notice).await
}

async fn participant_form(
    State(state): State<AppState>,
    who: Authed,
    Path(p): Path<FormPath>,
    Query(q): Query<SavedQuery>,
) -> PageResult {
    let s = participant_subject(&state, &who, p.id).await?;
    let key = form_key(&s.meta, &p.event, &p.instrument, p.instance)?;
    show_form(&state, &who, s, key, saved_notice(&q)).await
}

async fn record_form(
    State(state): State<AppState>,
    who: Authed,
    Path(p): Path<RecordFormPath>,
    Query(q): Query<SavedQuery>,
) -> PageResult {
    let s = record_subject(&state, &who, &p.code, &p.record).await?;
    let key = form_key(&s.meta, &p.event, &p.instrument, p.instance)?;
    show_form(&state, &who, s, key, saved_notice(&q)).await
}

/// Saves a form page: PRG on success, the page again with each error next to its field.
async fn save_page(state: &AppState, who: &Authed, s: Subject, key: FormKey, f: Posted) -> PageResult {
    who.require(EDC_WRITE, s.target)?;
    let values = page_values(&s, &key, &f);
    let status = posted(&f, "_status").trim().parse::<i64>().ok();
    let reason = posted(&f, "_reason").to_string();
    let revision = posted(&f, "_revision").trim().parse::<i64>().ok();
    let input = FormInput {
        key: key.clone(),
        values: values.clone().into_iter().collect(),
        status,
        reason: Some(reason.clone()),
        revision,
        dates: None,
        blanks: Blanks::Erase,
        from_page: true,
    };
    match save_form(state, who, &s, input).await {
        Ok(saved) => Ok(see_other(&format!("{}?saved={}", s.form_url(&key), saved.changes.len()))),
        Err(e @ (ApiError::Forbidden | ApiError::NotFound(_) | ApiError::Internal | ApiError::Busy)) => {
            Err(PageError(e))
        }
        Err(e) => {
            let mut by_field = BTreeMap::new();
            let mut general = Vec::new();
            match e {
                ApiError::Invalid(list) => {
                    for fe in list {
                        let name = fe.field.split("___").next().unwrap_or("").to_string();
                        if name == "reason" || s.meta.field(&name).is_some() {
                            by_field.insert(name, fe.message);
                        } else if fe.field.is_empty() {
                            general.push(fe.message);
                        } else {
                            general.push(format!("{}: {}", fe.field, fe.message));
                        }
                    }
                }
                ApiError::Conflict { message, .. } => general.push(message),
                other => general.push(other.message()),
            }
            let fs = form_state(state, &s, key).await?;
            form_view(state, who, &s, fs, Some((values, reason, status)), by_field, general, None).await
        }
    }
}

async fn participant_save(
    State(state): State<AppState>,
    who: Authed,
    Path(p): Path<FormPath>,
    Form(f): Form<Posted>,
) -> PageResult {
    let s = participant_subject(&state, &who, p.id).await?;
    let key = form_key(&s.meta, &p.event, &p.instrument, p.instance)?;
    save_page(&state, &who, s, key, f).await
}

async fn record_save(
    State(state): State<AppState>,
    who: Authed,
    Path(p): Path<RecordFormPath>,
    Form(f): Form<Posted>,
) -> PageResult {
    let s = record_subject(&state, &who, &p.code, &p.record).await?;
    let key = form_key(&s.meta, &p.event, &p.instrument, p.instance)?;
    save_page(&state, &who, s, key, f).await
}

/// The live branching endpoint: the page's current input in, which fields show and what the
/// calculations hold out, computed by the same logic engine the save uses.
async fn logic_json(state: &AppState, s: Subject, key: FormKey, f: Posted) -> PageResult {
    let now = local_now(state, s.target.site).await;
    let all = match &s.record {
        Some(r) => records::record_values(&state.store, r.id).await?,
        None => Vec::new(),
    };
    let values = page_values(&s, &key, &f);
    let logic = evaluate(&s.meta, &all, &key, now, &values);
    Ok(axum::Json(serde_json::json!({ "show": logic.show, "calc": logic.calc })).into_response())
}

async fn participant_logic(
    State(state): State<AppState>,
    who: Authed,
    Path(p): Path<FormPath>,
    Form(f): Form<Posted>,
) -> PageResult {
    let s = participant_subject(&state, &who, p.id).await?;
    let key = form_key(&s.meta, &p.event, &p.instrument, p.instance)?;
    logic_json(&state, s, key, f).await
}

async fn record_logic(
    State(state): State<AppState>,
    who: Authed,
    Path(p): Path<RecordFormPath>,
    Form(f): Form<Posted>,
) -> PageResult {
    let s = record_subject(&state, &who, &p.code, &p.record).await?;
    let key = form_key(&s.meta, &p.event, &p.instrument, p.instance)?;
    logic_json(&state, s, key, f).await
}

/// A saved form by id (work-queue links): to its page.
async fn form_redirect(State(state): State<AppState>, who: Authed, Path(id): Path<Uuid>) -> PageResult {
    let (form, s) = form_subject(&state, &who, id).await?;
    Ok(see_other(&s.form_url(&form.key())))
}

// ---------------------------------------------------------------- field history

#[derive(Template)]
#[template(path = "edc_entry_history.html")]
struct HistoryPage {
    chrome: Chrome,
    heading: String,
    form_url: String,
    lines: Vec<(String, String, String, String, String)>,
}

async fn history_page(
    State(state): State<AppState>,
    who: Authed,
    Path((id, field)): Path<(Uuid, String)>,
) -> PageResult {
    let (form, s) = form_subject(&state, &who, id).await?;
    let label = s
        .meta
        .field(&field)
        .filter(|f| f.form() == form.instrument)
        .map(|f| f.label().to_string())
        .ok_or(ApiError::NotFound("field"))?;
    let tz = who.tz();
    let lines = store_edc::field_history(&state.store, id, &field)
        .await?
        .into_iter()
        .map(|c| {
            (local(c.at, tz), c.user_name, display(&s.meta, &field, &c.old), display(&s.meta, &field, &c.new), c.reason)
        })
        .collect();
    Ok(render(&HistoryPage {
        chrome: chrome(&state, &who, "/studies").await,
        heading: format!("{} · {} · {label} ({field})", s.name, s.meta.label(&form.instrument)),
        form_url: s.form_url(&form.key()),
        lines,
    }))
}

// ---------------------------------------------------------------- queries

#[derive(Deserialize)]
struct RaiseForm {
    field: String,
    message: String,
    #[serde(default)]
    role: String,
}

async fn raise_query(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<RaiseForm>,
) -> PageResult {
    let (form, s) = form_subject(&state, &who, id).await?;
    who.require(EDC_VERIFY, s.target)?;
    let r = async {
        let role = parse_query_role(Some(&f.role))?;
        Ok::<_, ApiError>(store_q::open(&state.store, &who.acting(), id, &f.field, &f.message, role).await?)
    }
    .await;
    after_query(&state, &who, s, form.key(), r).await
}

#[derive(Deserialize)]
struct StepForm {
    step: String,
    message: String,
}

async fn step_query(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<StepForm>,
) -> PageResult {
    let (q, record) = readable_query(&state, &who, id).await?;
    let step = QueryStep::parse(f.step.trim()).ok_or(ApiError::field("step", "must be respond, close or reopen"))?;
    who.require(step_action(step), record.target())?;
    let (form, s) = form_subject(&state, &who, q.form_id).await?;
    let r = store_q::step(&state.store, &who.acting(), id, step, &f.message).await.map_err(ApiError::from);
    after_query(&state, &who, s, form.key(), r).await
}

async fn after_query<T>(
    state: &AppState,
    who: &Authed,
    s: Subject,
    key: FormKey,
    r: Result<T, ApiError>,
) -> PageResult {
    match r {
        Ok(_) => Ok(see_other(&format!("{}#queries", s.form_url(&key)))),
        Err(e @ (ApiError::Forbidden | ApiError::NotFound(_) | ApiError::Internal | ApiError::Busy)) => {
            Err(PageError(e))
        }
        Err(e) => {
            let msg = match e {
                ApiError::Invalid(list) => {
                    list.into_iter().map(|f| format!("{} {}", f.field, f.message)).collect::<Vec<_>>().join("; ")
                }
                other => other.message(),
            };
            let fs = form_state(state, &s, key).await?;
            form_view(state, who, &s, fs, None, BTreeMap::new(), vec![format!("Query: {msg}")], None).await
        }
    }
}

#[derive(Template)]
#[template(path = "edc_entry_queries.html")]
struct QueriesPage {
    chrome: Chrome,
    study_code: String,
    filter: String,
    rows: Vec<QueryRow>,
}

pub struct QueryRow {
    pub url: String,
    pub record: String,
    pub event: String,
    pub instrument: String,
    pub field: String,
    pub status: String,
    pub role: String,
    pub opened_by: String,
    pub opened: String,
    pub age_days: i64,
}

#[derive(Deserialize, Default)]
struct StatusQuery {
    status: Option<String>,
}

async fn queries_page(
    State(state): State<AppState>,
    who: Authed,
    Path(code): Path<String>,
    Query(q): Query<StatusQuery>,
) -> PageResult {
    let study = readable_study(&state, &who, &code).await?;
    let status = parse_status_filter(q.status.as_deref())?;
    let list = visible_queries(&state, &who, &study, status).await?;
    let meta = clinbridge_store::edc::metadata::current(&state.store, study.id).await?;
    let tz = who.tz();
    let now = clinbridge_store::now();
    let rows = list
        .into_iter()
        .map(|q| QueryRow {
            url: format!("/forms/{}#queries", q.form_id),
            age_days: q.age_days(now),
            record: q.record.clone(),
            event: if q.event.is_empty() { String::new() } else { event_segment(&q.event) },
            instrument: meta.as_ref().map(|m| m.label(&q.instrument)).unwrap_or(q.instrument.clone()),
            field: q.field.clone(),
            status: q.status.clone(),
            role: q.assigned_role.replace('_', " "),
            opened_by: q.opened_by_name.clone(),
            opened: local(q.opened_at, tz),
        })
        .collect();
    Ok(render(&QueriesPage {
        chrome: chrome(&state, &who, "/studies").await,
        study_code: study.code,
        filter: status.map(|s| s.as_str().to_string()).unwrap_or_default(),
        rows,
    }))
}

// ---------------------------------------------------------------- review: verify, lock, sign

#[derive(Deserialize)]
struct VerifyForm {
    #[serde(default)]
    field: String,
    #[serde(default)]
    whole_visit: String,
}

#[derive(Deserialize)]
struct LockForm {
    locked: String,
    #[serde(default)]
    whole_visit: String,
}

#[derive(Deserialize)]
struct SignForm {
    scope: String,
    password: String,
}

/// After a review action: back to the form with a notice, or the form again with the error.
async fn after_review(state: &AppState, who: &Authed, id: Uuid, r: Result<String, ApiError>) -> PageResult {
    let (form, s) = form_subject(state, who, id).await?;
    match r {
        Ok(notice) => {
            let fs = form_state(state, &s, form.key()).await?;
            form_view(state, who, &s, fs, None, BTreeMap::new(), Vec::new(), Some(notice)).await
        }
        Err(e @ (ApiError::Forbidden | ApiError::NotFound(_) | ApiError::Internal | ApiError::Busy)) => {
            Err(PageError(e))
        }
        Err(e) => {
            let fs = form_state(state, &s, form.key()).await?;
            form_view(state, who, &s, fs, None, BTreeMap::new(), vec![e.message()], None).await
        }
    }
}

async fn verify_page(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<VerifyForm>,
) -> PageResult {
    let whole_visit = f.whole_visit == "1";
    let fields: Vec<String> = if f.field.trim().is_empty() { Vec::new() } else { vec![f.field.trim().to_string()] };
    let r = crate::api::edc_review::verify_as(&state, &who, id, fields, whole_visit).await.map(|n| match n {
        0 => "Nothing new to verify.".to_string(),
        1 => "1 field verified against source.".to_string(),
        n => format!("{n} fields verified against source."),
    });
    after_review(&state, &who, id, r).await
}

async fn lock_page(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<LockForm>,
) -> PageResult {
    let locked = f.locked == "1";
    let whole_visit = f.whole_visit == "1";
    let r = crate::api::edc_review::lock_as(&state, &who, id, locked, whole_visit).await.map(|()| {
        format!("{} {}.", if whole_visit { "Visit" } else { "Form" }, if locked { "locked" } else { "unlocked" })
    });
    after_review(&state, &who, id, r).await
}

async fn sign_page(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<SignForm>,
) -> PageResult {
    let r = crate::api::edc_review::sign_as(&state, &who, id, &f.scope, &f.password)
        .await
        .map(|()| format!("Signed ({}).", f.scope.trim()));
    after_review(&state, &who, id, r).await
}
