//! EDC data entry API: a participant's forms (the record home grid), one form's values, saving
//! it with the reason for change, a field's history, and queries on fields (raised by monitors
//! and data managers, answered by the site). Also the access helpers the entry pages share.

use super::trials::readable_study;
use super::{ApiJson, ApiPath, ApiQuery};
use crate::AppState;
use crate::auth::Authed;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::routes::Routes;
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, NaiveDateTime, Utc};
use clinbridge_core::edc::{DateOrder, EntryContext, Field, FieldType};
use clinbridge_core::identity::Role;
use clinbridge_core::policy::{Action, Context, Op, Target};
use clinbridge_store::edc::metadata::{self, Metadata};
use clinbridge_store::edc::queries::{self as store_q, Query, QueryStatus, QueryStep};
use clinbridge_store::edc::records::{self, Form, FormKey, Record, RecordValue};
use clinbridge_store::edc::{self as store_edc, Blanks, FormInput, RecordContext, STATUS_LABELS, Saved};
use clinbridge_store::participants::{self as store_p, Participant};
use clinbridge_store::trials::Study;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

pub const EDC_READ: Action = Action::new(Context::Edc, Op::Read);
pub const EDC_WRITE: Action = Action::new(Context::Edc, Op::Write);
pub const EDC_VERIFY: Action = Action::new(Context::Edc, Op::Verify);

/// Roles a query may be assigned to.
pub const QUERY_ROLES: [Role; 3] = [Role::Coordinator, Role::Investigator, Role::DataManager];

pub fn register(r: Routes) -> Routes {
    r.get("/api/v1/participants/{id}/forms", grid)
        .get("/api/v1/participants/{id}/forms/{event}/{instrument}/{instance}", get_form)
        .put("/api/v1/participants/{id}/forms/{event}/{instrument}/{instance}", put_form)
        .get("/api/v1/forms/{id}/history/{field}", history)
        .post("/api/v1/forms/{id}/queries", open_query)
        .post("/api/v1/queries/{id}/steps", query_step)
        .get("/api/v1/studies/{code}/queries", study_queries)
}

// ---------------------------------------------------------------- shared with the pages

/// The event as an address segment: `-` for the empty event of a classic study.
pub fn event_segment(event: &str) -> String {
    if event.is_empty() { "-".into() } else { event.to_string() }
}

pub fn event_from_segment(s: &str) -> String {
    if s == "-" { String::new() } else { s.to_string() }
}

/// Whose data: a participant (whose record may not exist yet) or a named record of a study.
pub struct Subject {
    pub study: Study,
    pub participant: Option<Participant>,
    pub record: Option<Record>,
    /// The record's name (the subject id for a participant).
    pub name: String,
    pub target: Target,
    pub meta: Arc<Metadata>,
    /// The address of the record's grid page; forms live under it.
    pub base: String,
}

impl Subject {
    pub fn form_url(&self, key: &FormKey) -> String {
        format!("{}/{}/{}/{}", self.base, event_segment(&key.event), key.instrument, key.instance)
    }
}

async fn current_meta(state: &AppState, study_id: Uuid) -> ApiResult<Arc<Metadata>> {
    metadata::current(&state.store, study_id)
        .await?
        .ok_or_else(|| ApiError::Refused("The study has no data collection instruments yet.".into()))
}

/// A participant's data, when the caller may read it (404 otherwise).
pub async fn participant_subject(state: &AppState, who: &Authed, id: Uuid) -> ApiResult<Subject> {
    let p = store_p::participant(&state.store, id).await.map_err(|_| ApiError::NotFound("participant"))?;
    let target = Target::study_site(p.study_id, p.site_id);
    if !who.can(EDC_READ, target) {
        return Err(ApiError::NotFound("participant"));
    }
    let study = clinbridge_store::trials::study(&state.store, p.study_id).await?;
    let record = records::participant_record(&state.store, p.id).await?;
    let meta = current_meta(state, study.id).await?;
    Ok(Subject {
        base: format!("/participants/{}/data", p.id),
        name: p.subject_id.clone(),
        target,
        record,
        participant: Some(p),
        study,
        meta,
    })
}

/// A named record of a study (free-standing, or a participant's), when the caller may read it.
pub async fn record_subject(state: &AppState, who: &Authed, code: &str, name: &str) -> ApiResult<Subject> {
    let study = readable_study(state, who, code).await?;
    let name = store_edc::check_record_name(name).map_err(|_| ApiError::NotFound("record"))?;
    let record = records::record_named(&state.store, study.id, &name).await?;
    let target = record.as_ref().map(Record::target).unwrap_or_else(|| Target::study(study.id));
    if !who.can(EDC_READ, target) {
        return Err(ApiError::NotFound("record"));
    }
    let participant = match record.as_ref().and_then(|r| r.participant_id) {
        Some(pid) => Some(store_p::participant(&state.store, pid).await?),
        None => None,
    };
    let meta = current_meta(state, study.id).await?;
    let base = match &participant {
        Some(p) => format!("/participants/{}/data", p.id),
        None => format!("/studies/{}/records/{}", study.code, name),
    };
    Ok(Subject { study, participant, record, name, target, meta, base })
}

/// A saved form with its record, when the caller may read it (404 otherwise).
pub async fn form_subject(state: &AppState, who: &Authed, form_id: Uuid) -> ApiResult<(Form, Subject)> {
    let form = records::form(&state.store, form_id).await.map_err(|_| ApiError::NotFound("form"))?;
    let record = records::record(&state.store, form.record_id).await?;
    if !who.can(EDC_READ, record.target()) {
        return Err(ApiError::NotFound("form"));
    }
    let study = clinbridge_store::trials::study(&state.store, record.study_id).await?;
    let participant = match record.participant_id {
        Some(pid) => Some(store_p::participant(&state.store, pid).await?),
        None => None,
    };
    let meta = current_meta(state, study.id).await?;
    let base = match &participant {
        Some(p) => format!("/participants/{}/data", p.id),
        None => format!("/studies/{}/records/{}", study.code, record.record),
    };
    Ok((
        form,
        Subject {
            name: record.record.clone(),
            target: record.target(),
            study,
            participant,
            record: Some(record),
            meta,
            base,
        },
    ))
}

/// A form's key from its address, checked against the design (404 when it names no form).
pub fn form_key(meta: &Metadata, event: &str, instrument: &str, instance: i64) -> ApiResult<FormKey> {
    let event = event_from_segment(event);
    let known = meta.dictionary.instruments().contains(&instrument) && meta.collects(&event, instrument);
    let instance_ok = instance == 1 || (instance > 1 && meta.repeats(&event, instrument));
    if !known || !instance_ok {
        return Err(ApiError::NotFound("form"));
    }
    Ok(FormKey::new(&event, instrument, instance))
}

/// A form as it stands: saved or not yet, and its values by field.
pub struct FormState {
    pub key: FormKey,
    pub form: Option<Form>,
    pub values: BTreeMap<String, String>,
}

pub async fn form_state(state: &AppState, subject: &Subject, key: FormKey) -> ApiResult<FormState> {
    let form = match &subject.record {
        Some(r) => records::form_by_key(&state.store, r.id, &key).await?,
        None => None,
    };
    let values = match &form {
        Some(f) => records::form_values(&state.store, f.id).await?,
        None => BTreeMap::new(),
    };
    Ok(FormState { key, form, values })
}

/// Saves a form of the subject (creating the record on first use). The caller checked Write.
pub async fn save_form(state: &AppState, who: &Authed, subject: &Subject, input: FormInput) -> ApiResult<Saved> {
    who.require(EDC_WRITE, subject.target)?;
    let store = &state.store;
    let acting = who.acting();
    Ok(match (&subject.participant, &subject.record) {
        (_, Some(r)) => store_edc::save_read(store, &acting, r.clone(), subject.meta.clone(), input).await?,
        (Some(p), None) => store_edc::save_for_participant(store, &acting, p.id, input).await?,
        (None, None) => store_edc::save_named(store, &acting, subject.study.id, &subject.name, None, input).await?,
    })
}

/// The site-local now of a record (UTC without a site), as logic reads `today`.
pub async fn local_now(state: &AppState, site: Option<Uuid>) -> NaiveDateTime {
    clinbridge_store::edc::site_now(&state.store, site).await.unwrap_or_else(|_| clinbridge_store::now().naive_utc())
}

/// What branching and calculations say about a form being filled in: which fields show and
/// what the calculated fields hold. `input` is as the page sends it (dates in each field's
/// order, checkbox codes comma-joined); the server's one logic engine answers.
pub struct Logic {
    pub show: BTreeMap<String, bool>,
    pub calc: BTreeMap<String, String>,
}

pub fn evaluate(
    meta: &Metadata,
    all: &[RecordValue],
    key: &FormKey,
    now: NaiveDateTime,
    input: &BTreeMap<String, String>,
) -> Logic {
    let mut ctx = RecordContext::new(meta, all, key, now);
    let entry = EntryContext { now, missing_codes: &meta.missing };
    let fields: Vec<&Field> = meta.dictionary.instrument_fields(&key.instrument).collect();
    for f in &fields {
        let Some(raw) = input.get(f.name()) else { continue };
        let value = match f.field_type() {
            FieldType::Calc | FieldType::Descriptive | FieldType::File => continue,
            FieldType::Checkbox => raw.clone(),
            _ => {
                let order = f.validation().and_then(|v| v.date_order()).unwrap_or(DateOrder::Ymd);
                f.check(raw, order, &entry).unwrap_or_default()
            }
        };
        ctx.set(f.name(), &value);
    }
    let mut calc = BTreeMap::new();
    for _ in 0..2 {
        for f in &fields {
            if let Some(expr) = meta.calc(f.name()) {
                let v = expr.calc(&ctx);
                ctx.set(f.name(), &v);
                calc.insert(f.name().to_string(), v);
            }
        }
    }
    let show = fields.iter().map(|f| (f.name().to_string(), ctx.shows(f.name()))).collect();
    Logic { show, calc }
}

/// A stored value as a person reads it: a choice's label, dates in the field's order, each
/// ticked checkbox by its label.
pub fn display(meta: &Metadata, field: &str, stored: &str) -> String {
    match meta.field(field) {
        Some(f) if f.field_type() == FieldType::Checkbox => stored
            .split(',')
            .filter(|c| !c.is_empty())
            .map(|c| f.display_with(c, &meta.missing))
            .collect::<Vec<_>>()
            .join(", "),
        Some(f) => f.display_with(stored, &meta.missing),
        None => stored.to_string(),
    }
}

pub fn status_label(form: Option<&Form>) -> &'static str {
    match form {
        None => "Not started",
        Some(f) => usize::try_from(f.status).ok().and_then(|i| STATUS_LABELS.get(i)).copied().unwrap_or("Incomplete"),
    }
}

pub fn status_key(form: Option<&Form>) -> &'static str {
    match form.map(|f| f.status) {
        None => "not_started",
        Some(1) => "unverified",
        Some(2) => "complete",
        Some(_) => "incomplete",
    }
}

/// One cell of the record home grid: a form instance (saved or the first, not started).
pub struct Cell {
    pub key: FormKey,
    pub form: Option<Form>,
}

/// The grid's cells: for every visit (or the one classic column) and instrument it collects,
/// the saved instances, or instance 1 not started.
pub fn cells(meta: &Metadata, forms: &[Form]) -> Vec<Cell> {
    let mut out = Vec::new();
    for event in grid_events(meta) {
        for instrument in meta.event_instruments(&event.0) {
            let saved: Vec<&Form> = forms.iter().filter(|f| f.event == event.0 && f.instrument == instrument).collect();
            if saved.is_empty() {
                out.push(Cell { key: FormKey::new(&event.0, instrument, 1), form: None });
            }
            for f in saved {
                out.push(Cell { key: f.key(), form: Some(f.clone()) });
            }
        }
    }
    out
}

/// The grid's columns: (visit code, name); one unnamed column in a classic study.
pub fn grid_events(meta: &Metadata) -> Vec<(String, String)> {
    if !meta.longitudinal() {
        return vec![(String::new(), "Data".into())];
    }
    meta.events
        .iter()
        .filter(|e| !meta.event_instruments(&e.code).is_empty())
        .map(|e| (e.code.clone(), e.name.clone()))
        .collect()
}

/// Whether the caller may read data capture somewhere in a study.
pub async fn can_read_study(state: &AppState, who: &Authed, study: &Study) -> ApiResult<bool> {
    if who.can(EDC_READ, Target::study(study.id)) {
        return Ok(true);
    }
    let sites = clinbridge_store::trials::participations_of(&state.store, study.id).await?;
    Ok(sites.iter().any(|(_, site)| who.can(EDC_READ, Target::study_site(study.id, *site))))
}

/// A query the caller may read, with its record (404 otherwise).
pub async fn readable_query(state: &AppState, who: &Authed, id: Uuid) -> ApiResult<(Query, Record)> {
    let q = store_q::query(&state.store, id).await.map_err(|_| ApiError::NotFound("query"))?;
    let record = records::record(&state.store, q.record_id).await?;
    if !who.can(EDC_READ, record.target()) {
        return Err(ApiError::NotFound("query"));
    }
    Ok((q, record))
}

/// The right a query step needs: answering is the site's (Write), closing and reopening the
/// reviewer's (Verify).
pub fn step_action(step: QueryStep) -> Action {
    match step {
        QueryStep::Respond => EDC_WRITE,
        QueryStep::Close | QueryStep::Reopen => EDC_VERIFY,
    }
}

pub fn parse_query_role(raw: Option<&str>) -> ApiResult<Option<Role>> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(r) => QUERY_ROLES
            .iter()
            .copied()
            .find(|q| q.as_str() == r)
            .map(Some)
            .ok_or_else(|| ApiError::field("role", "must be coordinator, investigator or data_manager")),
    }
}

// ---------------------------------------------------------------- JSON

#[derive(Serialize, ToSchema)]
pub struct CellOut {
    /// The visit code (empty in a classic study).
    pub event: String,
    pub event_name: String,
    pub instrument: String,
    pub instrument_label: String,
    pub instance: i64,
    pub form_id: Option<Uuid>,
    /// not_started, incomplete, unverified or complete.
    pub status: String,
    pub locked: bool,
    /// Where the form is read and saved through this API.
    pub url: String,
}

#[derive(Serialize, ToSchema)]
pub struct GridOut {
    /// The record's name (the subject id).
    pub record: String,
    pub longitudinal: bool,
    pub forms: Vec<CellOut>,
}

/// A participant's forms: every visit × instrument it collects, with each form's status.
#[utoipa::path(get, path = "/api/v1/participants/{id}/forms", tag = "edc", params(("id" = Uuid, Path)),
    responses((status = 200, body = GridOut), (status = 404, body = ErrorBody)))]
pub async fn grid(State(state): State<AppState>, who: Authed, ApiPath(id): ApiPath<Uuid>) -> ApiResult<Json<GridOut>> {
    let s = participant_subject(&state, &who, id).await?;
    let forms = match &s.record {
        Some(r) => records::forms(&state.store, r.id).await?,
        None => Vec::new(),
    };
    let names: BTreeMap<String, String> = grid_events(&s.meta).into_iter().collect();
    let out = cells(&s.meta, &forms)
        .into_iter()
        .map(|c| CellOut {
            event_name: names.get(&c.key.event).cloned().unwrap_or_default(),
            instrument_label: s.meta.label(&c.key.instrument),
            form_id: c.form.as_ref().map(|f| f.id),
            status: status_key(c.form.as_ref()).into(),
            locked: c.form.as_ref().is_some_and(Form::locked),
            url: format!(
                "/api/v1/participants/{id}/forms/{}/{}/{}",
                event_segment(&c.key.event),
                c.key.instrument,
                c.key.instance
            ),
            event: c.key.event,
            instrument: c.key.instrument,
            instance: c.key.instance,
        })
        .collect();
    Ok(Json(GridOut { record: s.name, longitudinal: s.meta.longitudinal(), forms: out }))
}

#[derive(Serialize, ToSchema)]
pub struct FormOut {
    /// None until the form is first saved.
    pub form_id: Option<Uuid>,
    pub event: String,
    pub instrument: String,
    pub instance: i64,
    /// 0 incomplete, 1 unverified, 2 complete.
    pub status: i64,
    /// not_started, incomplete, unverified or complete.
    pub status_key: String,
    /// Send it back with a save; a save over a newer revision is refused (409).
    pub revision: Option<i64>,
    pub locked: bool,
    /// Stored values by field (dates YYYY-MM-DD, checkbox codes comma-joined).
    pub values: BTreeMap<String, String>,
}

fn form_out(key: &FormKey, form: Option<&Form>, values: BTreeMap<String, String>) -> FormOut {
    FormOut {
        form_id: form.map(|f| f.id),
        event: key.event.clone(),
        instrument: key.instrument.clone(),
        instance: key.instance,
        status: form.map(|f| f.status).unwrap_or(0),
        status_key: status_key(form).into(),
        revision: form.map(|f| f.revision),
        locked: form.is_some_and(Form::locked),
        values,
    }
}

#[derive(Deserialize, IntoParams)]
pub struct FormPath {
    pub id: Uuid,
    /// The visit code, or `-` in a classic study.
    pub event: String,
    pub instrument: String,
    pub instance: i64,
}

/// One form of a participant: its values, status, revision and lock.
#[utoipa::path(get, path = "/api/v1/participants/{id}/forms/{event}/{instrument}/{instance}", tag = "edc", params(FormPath),
    responses((status = 200, body = FormOut), (status = 404, body = ErrorBody)))]
pub async fn get_form(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(p): ApiPath<FormPath>,
) -> ApiResult<Json<FormOut>> {
    let s = participant_subject(&state, &who, p.id).await?;
    let key = form_key(&s.meta, &p.event, &p.instrument, p.instance)?;
    let f = form_state(&state, &s, key).await?;
    Ok(Json(form_out(&f.key, f.form.as_ref(), f.values)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FormIn {
    /// Field → value; a checkbox as its ticked codes comma-joined or as `field___code` columns
    /// (1/0). Dates as YYYY-MM-DD. A blank value erases the stored one; fields not sent stay.
    #[serde(default)]
    pub values: BTreeMap<String, String>,
    /// 0 incomplete, 1 unverified, 2 complete; omitted keeps the form's status.
    pub status: Option<i64>,
    /// Required once the form was saved before.
    pub reason: Option<String>,
    /// The revision read; a save over a newer one is refused.
    pub revision: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct ChangeOut {
    pub old: String,
    pub new: String,
}

#[derive(Serialize, ToSchema)]
pub struct SavedOut {
    pub form: FormOut,
    /// The fields the save changed (calculated fields included).
    pub changes: BTreeMap<String, ChangeOut>,
    pub created: bool,
}

/// Saves a form: checked field by field (422 naming each), calculated fields recomputed, one
/// audit entry with the reason for change.
#[utoipa::path(put, path = "/api/v1/participants/{id}/forms/{event}/{instrument}/{instance}", tag = "edc", params(FormPath), request_body = FormIn,
    responses((status = 200, body = SavedOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_form(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(p): ApiPath<FormPath>,
    ApiJson(b): ApiJson<FormIn>,
) -> ApiResult<Json<SavedOut>> {
    let s = participant_subject(&state, &who, p.id).await?;
    who.require(EDC_WRITE, s.target)?;
    let key = form_key(&s.meta, &p.event, &p.instrument, p.instance)?;
    let input = FormInput {
        key: key.clone(),
        values: b.values.into_iter().collect(),
        status: b.status,
        reason: b.reason,
        revision: b.revision,
        dates: Some(DateOrder::Ymd),
        blanks: Blanks::Erase,
        from_page: false,
    };
    let saved = save_form(&state, &who, &s, input).await?;
    Ok(Json(SavedOut {
        form: form_out(&key, Some(&saved.form), saved.values),
        changes: saved.changes.into_iter().map(|(f, (old, new))| (f, ChangeOut { old, new })).collect(),
        created: saved.created,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct ChangeLineOut {
    pub at: DateTime<Utc>,
    pub user_name: String,
    pub old: String,
    pub new: String,
    /// The values as the form shows them (choice labels, dates in the field's order).
    pub old_display: String,
    pub new_display: String,
    pub reason: String,
}

/// Every change of a field on a form, oldest first, read back from the audit trail.
#[utoipa::path(get, path = "/api/v1/forms/{id}/history/{field}", tag = "edc", params(("id" = Uuid, Path), ("field" = String, Path)),
    responses((status = 200, body = [ChangeLineOut]), (status = 404, body = ErrorBody)))]
pub async fn history(
    State(state): State<AppState>,
    who: Authed,
    ApiPath((id, field)): ApiPath<(Uuid, String)>,
) -> ApiResult<Json<Vec<ChangeLineOut>>> {
    let (_, s) = form_subject(&state, &who, id).await?;
    let lines = store_edc::field_history(&state.store, id, &field).await?;
    Ok(Json(
        lines
            .into_iter()
            .map(|c| ChangeLineOut {
                old_display: display(&s.meta, &field, &c.old),
                new_display: display(&s.meta, &field, &c.new),
                at: c.at,
                user_name: c.user_name,
                old: c.old,
                new: c.new,
                reason: c.reason,
            })
            .collect(),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct MessageOut {
    pub user_name: String,
    /// open, response, close or reopen.
    pub kind: String,
    pub body: String,
    pub at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct QueryOut {
    pub id: Uuid,
    pub form_id: Uuid,
    pub record: String,
    pub event: String,
    pub instrument: String,
    pub instance: i64,
    pub field: String,
    /// open, answered or closed.
    pub status: String,
    pub assigned_role: String,
    pub opened_by: String,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    /// Whole days since it was opened (to its closing when closed).
    pub age_days: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<MessageOut>>,
}

pub fn query_out(q: Query, messages: Option<Vec<MessageOut>>) -> QueryOut {
    QueryOut {
        age_days: q.age_days(clinbridge_store::now()),
        id: q.id,
        form_id: q.form_id,
        record: q.record,
        event: q.event,
        instrument: q.instrument,
        instance: q.instance,
        field: q.field,
        status: q.status,
        assigned_role: q.assigned_role,
        opened_by: q.opened_by_name,
        opened_at: q.opened_at,
        closed_at: q.closed_at,
        messages,
    }
}

async fn with_messages(state: &AppState, q: Query) -> ApiResult<QueryOut> {
    let m = store_q::messages(&state.store, q.id)
        .await?
        .into_iter()
        .map(|m| MessageOut { user_name: m.user_name, kind: m.kind, body: m.body, at: m.at })
        .collect();
    Ok(query_out(q, Some(m)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryIn {
    pub field: String,
    pub message: String,
    /// coordinator (default), investigator or data_manager.
    pub role: Option<String>,
}

/// Raises a query on a field of a saved form (monitors and data managers).
#[utoipa::path(post, path = "/api/v1/forms/{id}/queries", tag = "edc", params(("id" = Uuid, Path)), request_body = QueryIn,
    responses((status = 201, body = QueryOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn open_query(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<QueryIn>,
) -> ApiResult<(axum::http::StatusCode, Json<QueryOut>)> {
    let (_, s) = form_subject(&state, &who, id).await?;
    who.require(EDC_VERIFY, s.target)?;
    let role = parse_query_role(b.role.as_deref())?;
    let q = store_q::open(&state.store, &who.acting(), id, &b.field, &b.message, role).await?;
    Ok((axum::http::StatusCode::CREATED, Json(with_messages(&state, q).await?)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepIn {
    /// respond (site staff), close or reopen (monitors, data managers).
    pub step: String,
    pub message: String,
}

/// Answers, closes or reopens a query.
#[utoipa::path(post, path = "/api/v1/queries/{id}/steps", tag = "edc", params(("id" = Uuid, Path)), request_body = StepIn,
    responses((status = 200, body = QueryOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn query_step(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<StepIn>,
) -> ApiResult<Json<QueryOut>> {
    let (_, record) = readable_query(&state, &who, id).await?;
    let step =
        QueryStep::parse(b.step.trim()).ok_or_else(|| ApiError::field("step", "must be respond, close or reopen"))?;
    who.require(step_action(step), record.target())?;
    let q = store_q::step(&state.store, &who.acting(), id, step, &b.message).await?;
    Ok(Json(with_messages(&state, q).await?))
}

#[derive(Deserialize, IntoParams)]
pub struct QueriesFilter {
    /// open, answered or closed (all when omitted).
    pub status: Option<String>,
}

pub fn parse_status_filter(raw: Option<&str>) -> ApiResult<Option<QueryStatus>> {
    match raw.map(str::trim).filter(|s| !s.is_empty() && *s != "all") {
        None => Ok(None),
        Some(s) => {
            QueryStatus::parse(s).map(Some).ok_or_else(|| ApiError::field("status", "must be open, answered or closed"))
        }
    }
}

/// A study's queries the caller may read, oldest first, with their age.
pub async fn visible_queries(
    state: &AppState,
    who: &Authed,
    study: &Study,
    status: Option<QueryStatus>,
) -> ApiResult<Vec<Query>> {
    if !can_read_study(state, who, study).await? {
        return Err(ApiError::Forbidden);
    }
    let all = store_q::study_queries(&state.store, study.id, status).await?;
    let mut targets: BTreeMap<Uuid, bool> = BTreeMap::new();
    let mut out = Vec::new();
    for q in all {
        let ok = match targets.get(&q.record_id) {
            Some(ok) => *ok,
            None => {
                let ok = records::record(&state.store, q.record_id).await.is_ok_and(|r| who.can(EDC_READ, r.target()));
                targets.insert(q.record_id, ok);
                ok
            }
        };
        if ok {
            out.push(q);
        }
    }
    Ok(out)
}

/// A study's queries (the data manager's list), oldest first.
#[utoipa::path(get, path = "/api/v1/studies/{code}/queries", tag = "edc", params(("code" = String, Path), QueriesFilter),
    responses((status = 200, body = [QueryOut]), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn study_queries(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(code): ApiPath<String>,
    ApiQuery(f): ApiQuery<QueriesFilter>,
) -> ApiResult<Json<Vec<QueryOut>>> {
    let study = readable_study(&state, &who, &code).await?;
    let status = parse_status_filter(f.status.as_deref())?;
    let qs = visible_queries(&state, &who, &study, status).await?;
    Ok(Json(qs.into_iter().map(|q| query_out(q, None)).collect()))
}
