//! EDC metadata versions: a study's data dictionary (kept as REDCap's metadata rows, so it
//! writes back exactly as it was read), its instrument labels and repeat settings, the
//! instruments each visit collects, and the missing-data codes. A study has at most one draft
//! and one production version. Until it has a production version it is in development and the
//! draft is what data entry uses; afterwards changes go to a draft that is published, refused
//! when they would lose data unless confirmed with a reason.

use crate::{Acting, Result, Store, StoreError, Tx, exec, json, new_id, now, on, tx_on};
use chrono::{DateTime, Utc};
use clinbridge_core::audit::{AuditAction, AuditEvent};
use clinbridge_core::edc::{
    Column, Dictionary, Field, FieldRow, FieldType, MissingCodes, Problem, problems_to_invalid,
};
use clinbridge_core::trials::schedule::VisitKind;
use clinbridge_engine::logic::{Expr, parse};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionStatus {
    Draft,
    Production,
    Retired,
}

impl VersionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Production => "production",
            Self::Retired => "retired",
        }
    }
    fn parse(s: &str) -> Self {
        match s {
            "production" => Self::Production,
            "retired" => Self::Retired,
            _ => Self::Draft,
        }
    }
}

/// An instrument's label and whether it repeats within its event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstrumentSetting {
    pub name: String,
    pub label: String,
    #[serde(default)]
    pub repeating: bool,
}

/// The instruments one visit of the schedule of events collects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventForms {
    /// The visit code.
    pub event: String,
    pub instruments: Vec<String>,
}

/// A visit of the schedule of events, as data capture sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventInfo {
    pub code: String,
    pub name: String,
    /// REDCap's unique event name (`screening_arm_1`).
    pub unique_name: String,
    /// Repeating and unscheduled visits take several instances.
    pub repeating: bool,
}

/// REDCap's unique event name for a visit code: lower case, runs of other characters as one
/// underscore, and the arm (Clinbridge's schedule is one arm).
pub fn unique_event_name(code: &str) -> String {
    let mut out = String::new();
    for ch in code.chars() {
        if ch.is_ascii_alphanumeric() {
            out.push(ch.to_ascii_lowercase());
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    let trimmed = out.trim_end_matches('_');
    let base = if trimmed.is_empty() { "event" } else { trimmed };
    format!("{base}_arm_1")
}

/// The label an instrument gets when none is given: its name in words (`vital_signs` →
/// `Vital Signs`).
pub fn default_label(name: &str) -> String {
    name.split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Compiled logic of one field.
#[derive(Debug, Clone, Default)]
pub struct FieldLogic {
    pub branching: Option<Expr>,
    pub calc: Option<Expr>,
}

/// A metadata version ready to use: the dictionary, its settings and its compiled logic.
#[derive(Debug, Clone)]
pub struct Metadata {
    pub id: Uuid,
    pub study_id: Uuid,
    pub number: i64,
    pub status: VersionStatus,
    pub dictionary: Dictionary,
    /// One per instrument of the dictionary, in its order.
    pub instruments: Vec<InstrumentSetting>,
    /// Empty in a classic (not longitudinal) study.
    pub event_forms: Vec<EventForms>,
    /// The study's visits (empty in a classic study).
    pub events: Vec<EventInfo>,
    pub missing: MissingCodes,
    pub missing_text: String,
    pub logic: HashMap<String, FieldLogic>,
    pub change_reason: String,
    pub updated_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
}

impl Metadata {
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.dictionary.field(name)
    }
    pub fn instrument(&self, name: &str) -> Option<&InstrumentSetting> {
        self.instruments.iter().find(|i| i.name == name)
    }
    pub fn label(&self, instrument: &str) -> String {
        self.instrument(instrument).map(|i| i.label.clone()).unwrap_or_else(|| default_label(instrument))
    }
    /// A longitudinal study collects its instruments at visits.
    pub fn longitudinal(&self) -> bool {
        !self.event_forms.is_empty()
    }
    pub fn event(&self, code: &str) -> Option<&EventInfo> {
        self.events.iter().find(|e| e.code == code)
    }
    pub fn event_by_unique_name(&self, unique: &str) -> Option<&EventInfo> {
        self.events.iter().find(|e| e.unique_name == unique)
    }
    /// The instruments a visit collects (every instrument in a classic study, where the event
    /// is `""`).
    pub fn event_instruments(&self, event: &str) -> Vec<&str> {
        if !self.longitudinal() {
            return if event.is_empty() { self.dictionary.instruments() } else { Vec::new() };
        }
        self.event_forms
            .iter()
            .find(|e| e.event == event)
            .map(|e| e.instruments.iter().map(String::as_str).collect())
            .unwrap_or_default()
    }
    pub fn collects(&self, event: &str, instrument: &str) -> bool {
        self.event_instruments(event).contains(&instrument)
    }
    /// Whether a form may have more than one instance at this event.
    pub fn repeats(&self, event: &str, instrument: &str) -> bool {
        self.instrument(instrument).is_some_and(|i| i.repeating) || self.event(event).is_some_and(|e| e.repeating)
    }
    pub fn branching(&self, field: &str) -> Option<&Expr> {
        self.logic.get(field).and_then(|l| l.branching.as_ref())
    }
    pub fn calc(&self, field: &str) -> Option<&Expr> {
        self.logic.get(field).and_then(|l| l.calc.as_ref())
    }
    /// The dictionary as REDCap's metadata rows.
    pub fn rows(&self) -> Vec<FieldRow> {
        self.dictionary.to_rows()
    }
}

/// What a version is made of, before it is checked.
#[derive(Debug, Clone, Default)]
pub struct Design {
    pub rows: Vec<FieldRow>,
    pub instruments: Vec<InstrumentSetting>,
    pub event_forms: Vec<EventForms>,
    pub missing_codes: String,
}

/// A design that passed every check: the dictionary, every instrument's settings, the
/// missing-data codes and each field's compiled logic.
pub type Compiled = (Dictionary, Vec<InstrumentSetting>, MissingCodes, HashMap<String, FieldLogic>);

/// Checks a design against itself and the study's visits and compiles its logic. Every
/// problem is returned at once, each naming its row and column.
pub fn compile(design: &Design, events: &[EventInfo]) -> std::result::Result<Compiled, Vec<Problem>> {
    let dictionary = Dictionary::from_rows(design.rows.clone())?;
    let mut problems = Vec::new();
    let missing = match MissingCodes::parse(&design.missing_codes) {
        Ok(m) => m,
        Err(e) => {
            problems.push(Problem::new(0, None, format!("missing-data codes: {e}")));
            MissingCodes::default()
        }
    };
    let names: BTreeSet<&str> = dictionary.instruments().into_iter().collect();
    let instruments: Vec<InstrumentSetting> = dictionary
        .instruments()
        .into_iter()
        .map(|name| {
            design.instruments.iter().find(|i| i.name == name).cloned().unwrap_or_else(|| InstrumentSetting {
                name: name.to_string(),
                label: default_label(name),
                repeating: false,
            })
        })
        .collect();
    for setting in &instruments {
        if setting.label.trim().is_empty() || setting.label.chars().count() > 200 {
            problems.push(Problem::new(
                0,
                None,
                format!("instrument {}: the label must be 1 to 200 characters", setting.name),
            ));
        }
    }
    for ef in &design.event_forms {
        if !events.iter().any(|e| e.code == ef.event) {
            problems.push(Problem::new(
                0,
                None,
                format!("form–event mapping: the schedule of events has no visit '{}'", ef.event),
            ));
        }
        for i in &ef.instruments {
            if !names.contains(i.as_str()) {
                problems.push(Problem::new(
                    0,
                    None,
                    format!("form–event mapping: visit {} names no instrument '{i}'", ef.event),
                ));
            }
        }
    }
    let unique_events: BTreeSet<String> = events.iter().map(|e| e.unique_name.clone()).collect();
    let mut logic = HashMap::new();
    for (index, field) in dictionary.fields().iter().enumerate() {
        let row = index + 2;
        let mut compiled = FieldLogic::default();
        if !field.branching_logic().trim().is_empty() {
            match parse(field.branching_logic()) {
                Ok(expr) => {
                    check_refs(&dictionary, &unique_events, &expr, row, Column::BranchingLogic, &mut problems);
                    compiled.branching = Some(expr);
                }
                Err(e) => problems.push(Problem::new(row, Some(Column::BranchingLogic), e.to_string())),
            }
        }
        if field.field_type() == FieldType::Calc {
            match field.calculation().map(parse) {
                Some(Ok(expr)) => {
                    check_refs(&dictionary, &unique_events, &expr, row, Column::Choices, &mut problems);
                    compiled.calc = Some(expr);
                }
                Some(Err(e)) => problems.push(Problem::new(row, Some(Column::Choices), e.to_string())),
                None => {}
            }
        }
        if compiled.branching.is_some() || compiled.calc.is_some() {
            logic.insert(field.name().to_string(), compiled);
        }
    }
    if problems.is_empty() { Ok((dictionary, instruments, missing, logic)) } else { Err(problems) }
}

fn check_refs(
    dictionary: &Dictionary,
    events: &BTreeSet<String>,
    expr: &Expr,
    row: usize,
    column: Column,
    problems: &mut Vec<Problem>,
) {
    for r in expr.references() {
        if let Some(event) = &r.event
            && !events.contains(event)
        {
            problems.push(Problem::new(row, Some(column), format!("[{event}] is not an event of this study")));
        }
        let status_field = dictionary.instruments().iter().any(|i| format!("{i}_complete") == r.field);
        match dictionary.field(&r.field) {
            None if status_field => {}
            None => problems.push(Problem::new(
                row,
                Some(column),
                format!("[{}] is not a field of this dictionary", r.field),
            )),
            Some(f) => {
                if let Some(code) = &r.code
                    && (f.field_type() != FieldType::Checkbox || f.choice(code).is_none())
                {
                    problems.push(Problem::new(
                        row,
                        Some(column),
                        format!("[{}({code})] names no checkbox choice of {}", r.field, r.field),
                    ));
                }
            }
        }
    }
}

// ---------------------------------------------------------------- storage

#[derive(sqlx::FromRow)]
struct VersionRow {
    id: Uuid,
    study_id: Uuid,
    number: i64,
    status: String,
    dictionary: String,
    instruments: String,
    event_forms: String,
    missing_codes: String,
    change_reason: String,
    updated_at: DateTime<Utc>,
    published_at: Option<DateTime<Utc>>,
}

const VERSION_SELECT: &str =
    "SELECT id, study_id, number, status, dictionary, instruments, event_forms, missing_codes, change_reason,
        updated_at, published_at FROM edc_metadata_versions";

impl VersionRow {
    fn design(&self) -> Result<Design> {
        let bad = |e: serde_json::Error| StoreError::Internal(format!("stored metadata: {e}"));
        Ok(Design {
            rows: serde_json::from_str(&self.dictionary).map_err(bad)?,
            instruments: serde_json::from_str(&self.instruments).map_err(bad)?,
            event_forms: serde_json::from_str(&self.event_forms).map_err(bad)?,
            missing_codes: self.missing_codes.clone(),
        })
    }
    fn into_metadata(self, events: Vec<EventInfo>) -> Result<Metadata> {
        let design = self.design()?;
        let (dictionary, instruments, missing, logic) = compile(&design, &events).map_err(|p| {
            StoreError::Internal(format!(
                "stored metadata version {} no longer compiles: {}",
                self.number,
                problems_to_invalid(&p)
            ))
        })?;
        Ok(Metadata {
            id: self.id,
            study_id: self.study_id,
            number: self.number,
            status: VersionStatus::parse(&self.status),
            dictionary,
            instruments,
            event_forms: design.event_forms,
            events,
            missing,
            missing_text: design.missing_codes,
            logic,
            change_reason: self.change_reason,
            updated_at: self.updated_at,
            published_at: self.published_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct VisitRow {
    code: String,
    name: String,
    kind: String,
}

fn event_infos(rows: Vec<VisitRow>) -> Vec<EventInfo> {
    rows.into_iter()
        .map(|v| EventInfo {
            unique_name: unique_event_name(&v.code),
            repeating: VisitKind::parse(&v.kind).is_ok_and(|k| k != VisitKind::Scheduled),
            code: v.code,
            name: v.name,
        })
        .collect()
}

const VISITS: &str = "SELECT code, name, kind FROM visit_definitions WHERE study_id = $1 ORDER BY position";

pub async fn events(store: &Store, study_id: Uuid) -> Result<Vec<EventInfo>> {
    let rows: Vec<VisitRow> =
        on!(store.db.read(), |c| sqlx::query_as::<_, VisitRow>(VISITS).bind(study_id).fetch_all(c).await)?;
    Ok(event_infos(rows))
}

async fn events_in(tx: &mut Tx, study_id: Uuid) -> Result<Vec<EventInfo>> {
    let rows: Vec<VisitRow> =
        tx_on!(tx, |c| sqlx::query_as::<_, VisitRow>(VISITS).bind(study_id).fetch_all(&mut *c).await)?;
    Ok(event_infos(rows))
}

/// Every version of a study, newest first, as rows (not compiled).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct VersionSummary {
    pub id: Uuid,
    pub number: i64,
    pub status: String,
    pub change_reason: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    pub published_by_name: Option<String>,
}

pub async fn versions(store: &Store, study_id: Uuid) -> Result<Vec<VersionSummary>> {
    Ok(on!(store.db.read(), |c| {
        sqlx::query_as::<_, VersionSummary>(
        "SELECT v.id, v.number, v.status, v.change_reason, v.created_at, v.updated_at, v.published_at, u.name AS published_by_name
         FROM edc_metadata_versions v LEFT JOIN users u ON u.id = v.published_by WHERE v.study_id = $1 ORDER BY v.number DESC"
    )
    .bind(study_id)
    .fetch_all(c)
    .await
    })?)
}

/// What identifies a version row: its id, status and last change (the cache also compares the
/// visits a version was compiled against).
#[derive(Debug, sqlx::FromRow)]
struct VersionKey {
    id: Uuid,
    status: String,
    updated_at: DateTime<Utc>,
}

/// Compiled versions by id. Parsing a dictionary and compiling its logic is most of the cost
/// of reading a version, and every save and page reads one; an entry is used only while the
/// version's `updated_at` and the study's visits are what it was compiled from, so a draft
/// edit, a publish or a changed schedule compiles afresh. Versions are immutable apart from
/// those changes, and ids are UUIDv7, so one cache serves every store in the process.
static COMPILED: std::sync::LazyLock<std::sync::Mutex<HashMap<Uuid, Arc<Metadata>>>> =
    std::sync::LazyLock::new(Default::default);

/// Most compiled versions kept; past it the cache starts again empty.
const COMPILED_MAX: usize = 256;

fn cached(key: &VersionKey, events: &[EventInfo]) -> Option<Arc<Metadata>> {
    let cache = COMPILED.lock().ok()?;
    cache
        .get(&key.id)
        .filter(|m| m.updated_at == key.updated_at && m.status.as_str() == key.status && m.events == events)
        .cloned()
}

fn remember(meta: Metadata) -> Arc<Metadata> {
    let meta = Arc::new(meta);
    if let Ok(mut cache) = COMPILED.lock() {
        if cache.len() >= COMPILED_MAX {
            cache.clear();
        }
        cache.insert(meta.id, meta.clone());
    }
    meta
}

const KEY_SELECT: &str = "SELECT id, status, updated_at FROM edc_metadata_versions";

/// The production version's key, else the draft's.
fn pick_current(keys: Vec<VersionKey>) -> Option<VersionKey> {
    let production = keys.iter().position(|k| k.status == VersionStatus::Production.as_str());
    let draft = keys.iter().position(|k| k.status == VersionStatus::Draft.as_str());
    production.or(draft).and_then(|i| keys.into_iter().nth(i))
}

async fn compiled(store: &Store, study_id: Uuid, key: Option<VersionKey>) -> Result<Option<Arc<Metadata>>> {
    let Some(key) = key else { return Ok(None) };
    let events = events(store, study_id).await?;
    if let Some(m) = cached(&key, &events) {
        return Ok(Some(m));
    }
    let sql = format!("{VERSION_SELECT} WHERE id = $1");
    let row = on!(store.db.read(), |c| sqlx::query_as::<_, VersionRow>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(key.id)
        .fetch_optional(c)
        .await)?;
    match row {
        Some(row) => Ok(Some(remember(row.into_metadata(events)?))),
        None => Ok(None),
    }
}

async fn compiled_in(tx: &mut Tx, study_id: Uuid, key: Option<VersionKey>) -> Result<Option<Arc<Metadata>>> {
    let Some(key) = key else { return Ok(None) };
    let events = events_in(tx, study_id).await?;
    if let Some(m) = cached(&key, &events) {
        return Ok(Some(m));
    }
    let sql = format!("{VERSION_SELECT} WHERE id = $1");
    let row = tx_on!(tx, |c| sqlx::query_as::<_, VersionRow>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(key.id)
        .fetch_optional(&mut *c)
        .await)?;
    match row {
        Some(row) => Ok(Some(remember(row.into_metadata(events)?))),
        None => Ok(None),
    }
}

async fn version_key(store: &Store, study_id: Uuid, status: VersionStatus) -> Result<Option<VersionKey>> {
    let sql = format!("{KEY_SELECT} WHERE study_id = $1 AND status = $2");
    Ok(on!(store.db.read(), |c| sqlx::query_as::<_, VersionKey>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(study_id)
        .bind(status.as_str())
        .fetch_optional(c)
        .await)?)
}

async fn version_row(store: &Store, study_id: Uuid, status: VersionStatus) -> Result<Option<VersionRow>> {
    let sql = format!("{VERSION_SELECT} WHERE study_id = $1 AND status = $2");
    Ok(on!(store.db.read(), |c| sqlx::query_as::<_, VersionRow>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(study_id)
        .bind(status.as_str())
        .fetch_optional(c)
        .await)?)
}

async fn version_row_in(tx: &mut Tx, study_id: Uuid, status: VersionStatus) -> Result<Option<VersionRow>> {
    let sql = format!("{VERSION_SELECT} WHERE study_id = $1 AND status = $2");
    Ok(tx_on!(tx, |c| sqlx::query_as::<_, VersionRow>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(study_id)
        .bind(status.as_str())
        .fetch_optional(&mut *c)
        .await)?)
}

/// The production version, if the study has one.
pub async fn production(store: &Store, study_id: Uuid) -> Result<Option<Arc<Metadata>>> {
    let key = version_key(store, study_id, VersionStatus::Production).await?;
    compiled(store, study_id, key).await
}

/// The draft version, if the study has one.
pub async fn draft(store: &Store, study_id: Uuid) -> Result<Option<Arc<Metadata>>> {
    let key = version_key(store, study_id, VersionStatus::Draft).await?;
    compiled(store, study_id, key).await
}

const CURRENT_KEYS: &str = "SELECT id, status, updated_at FROM edc_metadata_versions WHERE study_id = $1 AND status IN ('production', 'draft')";

/// What data entry uses: production, or the draft of a study still in development.
pub async fn current(store: &Store, study_id: Uuid) -> Result<Option<Arc<Metadata>>> {
    let keys: Vec<VersionKey> =
        on!(store.db.read(), |c| sqlx::query_as::<_, VersionKey>(CURRENT_KEYS).bind(study_id).fetch_all(c).await)?;
    compiled(store, study_id, pick_current(keys)).await
}

pub(crate) async fn current_in(tx: &mut Tx, study_id: Uuid) -> Result<Option<Arc<Metadata>>> {
    let keys: Vec<VersionKey> =
        tx_on!(tx, |c| sqlx::query_as::<_, VersionKey>(CURRENT_KEYS).bind(study_id).fetch_all(&mut *c).await)?;
    compiled_in(tx, study_id, pick_current(keys)).await
}

/// The study's current version inside a write, given the one the caller read before it: when
/// that is still current (same version, not changed since) it is used as it is, which spares
/// reading the visits again; otherwise the current one is read as [`current_in`] does.
pub(crate) async fn current_since_in(
    tx: &mut Tx,
    study_id: Uuid,
    read: &Arc<Metadata>,
) -> Result<Option<Arc<Metadata>>> {
    let keys: Vec<VersionKey> =
        tx_on!(tx, |c| sqlx::query_as::<_, VersionKey>(CURRENT_KEYS).bind(study_id).fetch_all(&mut *c).await)?;
    let key = pick_current(keys);
    if let Some(k) = &key
        && read.study_id == study_id
        && k.id == read.id
        && k.updated_at == read.updated_at
        && k.status == read.status.as_str()
    {
        return Ok(Some(read.clone()));
    }
    compiled_in(tx, study_id, key).await
}

/// The version a form was saved against (for reading it back), or the current one.
pub(crate) async fn for_form_in(tx: &mut Tx, study_id: Uuid, number: i64) -> Result<Arc<Metadata>> {
    let sql = format!("{KEY_SELECT} WHERE study_id = $1 AND number = $2");
    let key = tx_on!(tx, |c| sqlx::query_as::<_, VersionKey>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(study_id)
        .bind(number)
        .fetch_optional(&mut *c)
        .await)?;
    match key {
        Some(k) => compiled_in(tx, study_id, Some(k)).await?.ok_or(StoreError::NotFound("metadata version")),
        None => current_in(tx, study_id).await?.ok_or(StoreError::NotFound("metadata version")),
    }
}

/// Replaces the draft's design (creating the draft from production, or as version 1). The
/// whole design is checked first; nothing is written when any row is wrong.
pub async fn save_draft(
    store: &Store,
    acting: &Acting,
    study_id: Uuid,
    design: Design,
    note: &str,
) -> Result<Arc<Metadata>> {
    let events = events(store, study_id).await?;
    compile(&design, &events).map_err(|p| problems_to_invalid(&p))?;
    let note = note.trim().to_string();
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let dictionary = json(&design.rows)?;
                let instruments = json(&design.instruments)?;
                let event_forms = json(&design.event_forms)?;
                let at = now();
                let (id, number, created) = match version_row_in(tx, study_id, VersionStatus::Draft).await? {
                    Some(d) => {
                        exec!(
                            tx,
                            "UPDATE edc_metadata_versions SET dictionary = $1, instruments = $2, event_forms = $3, missing_codes = $4, updated_at = $5
                             WHERE id = $6",
                            &dictionary,
                            &instruments,
                            &event_forms,
                            &design.missing_codes,
                            at,
                            d.id
                        )?;
                        (d.id, d.number, false)
                    }
                    None => {
                        let next: i64 = tx_on!(tx, |c| sqlx::query_scalar(
                            "SELECT COALESCE(MAX(number), 0) + 1 FROM edc_metadata_versions WHERE study_id = $1"
                        )
                        .bind(study_id)
                        .fetch_one(&mut *c)
                        .await)?;
                        let id = new_id();
                        let by = tx.acting().user;
                        exec!(
                            tx,
                            "INSERT INTO edc_metadata_versions (id, study_id, number, status, dictionary, instruments, event_forms, missing_codes,
                                created_by, created_at, updated_at)
                             VALUES ($1, $2, $3, 'draft', $4, $5, $6, $7, $8, $9, $9)",
                            id,
                            study_id,
                            next,
                            &dictionary,
                            &instruments,
                            &event_forms,
                            &design.missing_codes,
                            by,
                            at
                        )
                        .map_err(|e| StoreError::from(e).unique_as("draft", "someone else started a draft at the same time"))?;
                        (id, next, true)
                    }
                };
                tx.audit(
                    AuditEvent::new(if created { AuditAction::Create } else { AuditAction::Update }, "edc_metadata", id)
                        .new_value(serde_json::json!({
                            "version": number, "status": "draft", "fields": design.rows.len(),
                            "instruments": design.instruments.iter().map(|i| &i.name).collect::<Vec<_>>(),
                            "event_forms": design.event_forms, "missing_codes": design.missing_codes, "note": note,
                        })),
                );
                let row = version_row_in(tx, study_id, VersionStatus::Draft).await?.ok_or(StoreError::NotFound("draft"))?;
                Ok(Arc::new(row.into_metadata(events_in(tx, study_id).await?)?))
            })
        })
        .await
}

/// Imports a REDCap data dictionary CSV into the draft (created when missing). Instrument
/// labels and settings are kept for instruments that stay; the form–event mapping drops
/// instruments that are gone. All or nothing: every bad row and column is reported.
pub async fn import_dictionary(store: &Store, acting: &Acting, study_id: Uuid, csv: &[u8]) -> Result<Arc<Metadata>> {
    let dictionary = clinbridge_interop::redcap::dictionary::parse(csv).map_err(|p| problems_to_invalid(&p))?;
    import_rows(store, acting, study_id, dictionary.to_rows(), "data dictionary imported").await
}

/// As [`import_dictionary`], from REDCap's metadata rows (the API's `import_metadata`).
pub async fn import_rows(
    store: &Store,
    acting: &Acting,
    study_id: Uuid,
    rows: Vec<FieldRow>,
    note: &str,
) -> Result<Arc<Metadata>> {
    let mut design = working_design(store, study_id).await?;
    let names: BTreeSet<String> = rows.iter().map(|r| r.form_name.clone()).collect();
    design.instruments.retain(|i| names.contains(&i.name));
    for ef in &mut design.event_forms {
        ef.instruments.retain(|i| names.contains(i));
    }
    design.event_forms.retain(|ef| !ef.instruments.is_empty());
    design.rows = rows;
    save_draft(store, acting, study_id, design, note).await
}

/// The design a new draft starts from: the draft itself, production, or nothing.
pub async fn working_design(store: &Store, study_id: Uuid) -> Result<Design> {
    for status in [VersionStatus::Draft, VersionStatus::Production] {
        if let Some(row) = version_row(store, study_id, status).await? {
            return row.design();
        }
    }
    Ok(Design::default())
}

/// Drops the draft; production (if any) stays as it is.
pub async fn discard_draft(store: &Store, acting: &Acting, study_id: Uuid) -> Result<()> {
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let d =
                    version_row_in(tx, study_id, VersionStatus::Draft).await?.ok_or(StoreError::NotFound("draft"))?;
                let production = version_row_in(tx, study_id, VersionStatus::Production).await?;
                if production.is_none() {
                    return Err(StoreError::Refused(
                        "the study is in development: its draft is the only version and data entry uses it".into(),
                    ));
                }
                exec!(tx, "DELETE FROM edc_metadata_versions WHERE id = $1", d.id)?;
                tx.audit(
                    AuditEvent::new(AuditAction::Delete, "edc_metadata", d.id)
                        .old(serde_json::json!({ "version": d.number })),
                );
                Ok(())
            })
        })
        .await
}

/// A change from production to the draft that would lose or orphan data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DataLoss {
    pub field: String,
    pub message: String,
}

/// What publishing the draft would lose: fields with values that are removed, choice codes in
/// use that disappear, a field whose type or validation its stored values no longer fit.
pub async fn data_loss(store: &Store, study_id: Uuid) -> Result<Vec<DataLoss>> {
    let (Some(prod), Some(draft)) = (production(store, study_id).await?, draft(store, study_id).await?) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for old in prod.dictionary.fields() {
        let used: Vec<String> = on!(store.db.read(), |c| {
            sqlx::query_scalar(
            "SELECT DISTINCT v.value FROM edc_values v JOIN edc_forms f ON f.id = v.form_id JOIN edc_records r ON r.id = f.record_id
             WHERE r.study_id = $1 AND v.field = $2 LIMIT 1000"
        )
        .bind(study_id)
        .bind(old.name())
        .fetch_all(c)
        .await
        })?;
        if used.is_empty() {
            continue;
        }
        let Some(new) = draft.field(old.name()) else {
            out.push(DataLoss {
                field: old.name().into(),
                message: "is removed, and records hold values for it".into(),
            });
            continue;
        };
        if new.form() != old.form() {
            out.push(DataLoss {
                field: old.name().into(),
                message: format!(
                    "moves from {} to {}, and its values stay with {}",
                    old.form(),
                    new.form(),
                    old.form()
                ),
            });
        }
        let ctx = clinbridge_core::edc::EntryContext { now: now().naive_utc(), missing_codes: &draft.missing };
        let mut unfit = BTreeSet::new();
        for value in &used {
            if new.field_type() == FieldType::Checkbox {
                for code in value.split(',').filter(|c| !c.is_empty()) {
                    if new.check_checkbox(code, "1", &ctx).is_err() {
                        unfit.insert(code.to_string());
                    }
                }
            } else if new.field_type() != FieldType::Calc
                && new.field_type() != FieldType::File
                && new.check(value, clinbridge_core::edc::DateOrder::Ymd, &ctx).is_err()
            {
                unfit.insert(value.clone());
            }
        }
        if !unfit.is_empty() {
            let sample: Vec<String> = unfit.into_iter().take(5).collect();
            out.push(DataLoss {
                field: old.name().into(),
                message: format!("stored values no longer fit the new definition ({})", sample.join(", ")),
            });
        }
    }
    Ok(out)
}

/// Makes the draft the production version. Changes that would lose data are refused unless
/// `reason` confirms them; the reason is kept with the version and in the audit trail.
pub async fn publish(store: &Store, acting: &Acting, study_id: Uuid, reason: Option<&str>) -> Result<Arc<Metadata>> {
    let losses = data_loss(store, study_id).await?;
    let reason = reason.map(str::trim).filter(|r| !r.is_empty()).map(str::to_string);
    if !losses.is_empty() && reason.is_none() {
        let mut errors: Vec<clinbridge_core::FieldError> =
            losses.iter().map(|l| clinbridge_core::FieldError::new(&l.field, &l.message)).collect();
        errors.push(clinbridge_core::FieldError::new(
            "reason",
            "these changes lose or orphan data: confirm them with a reason for change",
        ));
        return Err(clinbridge_core::Invalid(errors).into());
    }
    let reason = reason.unwrap_or_default();
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let d = version_row_in(tx, study_id, VersionStatus::Draft).await?.ok_or(StoreError::NotFound("draft"))?;
                let at = now();
                let by = tx.acting().user;
                let old = version_row_in(tx, study_id, VersionStatus::Production).await?;
                if let Some(p) = &old {
                    exec!(tx, "UPDATE edc_metadata_versions SET status = 'retired', updated_at = $1 WHERE id = $2", at, p.id)?;
                }
                exec!(
                    tx,
                    "UPDATE edc_metadata_versions SET status = 'production', change_reason = $1, published_by = $2, published_at = $3, updated_at = $3
                     WHERE id = $4 AND status = 'draft'",
                    &reason,
                    by,
                    at,
                    d.id
                )?;
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "edc_metadata", d.id)
                        .old(serde_json::json!({ "status": "draft", "replaces": old.as_ref().map(|p| p.number) }))
                        .new_value(serde_json::json!({ "version": d.number, "status": "production" }))
                        .reason((!reason.is_empty()).then(|| reason.clone())),
                );
                let row = version_row_in(tx, study_id, VersionStatus::Production).await?.ok_or(StoreError::NotFound("production"))?;
                Ok(Arc::new(row.into_metadata(events_in(tx, study_id).await?)?))
            })
        })
        .await
}

/// The rows grouped by instrument, for pages that list a dictionary.
pub fn by_instrument(meta: &Metadata) -> BTreeMap<String, Vec<&Field>> {
    let mut out: BTreeMap<String, Vec<&Field>> = BTreeMap::new();
    for f in meta.dictionary.fields() {
        out.entry(f.form().to_string()).or_default().push(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_follow_redcap() {
        assert_eq!(unique_event_name("SCR"), "scr_arm_1");
        assert_eq!(unique_event_name("W4"), "w4_arm_1");
        assert_eq!(unique_event_name("Day 1 / follow-up"), "day_1_follow_up_arm_1");
        assert_eq!(unique_event_name("--"), "event_arm_1");
        assert_eq!(default_label("vital_signs"), "Vital Signs");
        assert_eq!(default_label("ae"), "Ae");
    }
}
