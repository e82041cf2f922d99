//! Electronic data capture: metadata versions ([`metadata`]), records and forms
//! ([`records`]), saving a form's answers with the reason for change and the audit entry, a
//! field's history read back from the audit trail, and queries ([`queries`]).

pub mod metadata;
pub mod queries;
pub mod records;
pub mod redcap;
pub mod review;
pub mod transfer;

use crate::{Acting, Result, Store, StoreError, Tx, exec, new_id, now, on};
use chrono::{DateTime, NaiveDateTime, Utc};
use clinbridge_core::Invalid;
use clinbridge_core::audit::{AuditAction, AuditEvent};
use clinbridge_core::edc::{DateOrder, EntryContext, Field, FieldType};
use clinbridge_engine::logic::{Context, FieldRef};
use metadata::Metadata;
use records::{Form, FormKey, Record, RecordValue};
use serde::Serialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use uuid::Uuid;

/// Form status, as REDCap's `{form}_complete` column holds it.
pub const STATUS_LABELS: [&str; 3] = ["Incomplete", "Unverified", "Complete"];

/// What a blank input does to a stored value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blanks {
    /// A blank leaves the stored value alone (REDCap's "normal" import).
    Keep,
    /// A blank erases the stored value (a form page, REDCap's "overwrite" import).
    Erase,
}

/// One save of one form.
#[derive(Debug, Clone)]
pub struct FormInput {
    pub key: FormKey,
    /// Columns as REDCap names them: a field's name, or `field___code` for a checkbox choice
    /// (1 ticked, 0 not).
    pub values: Vec<(String, String)>,
    /// 0 incomplete, 1 unverified, 2 complete; `None` keeps the form's status (0 when new).
    pub status: Option<i64>,
    pub reason: Option<String>,
    /// The revision the person saw; a save over a newer revision is refused.
    pub revision: Option<i64>,
    /// The order dates are written in (`None`: each field's own order, as a form shows them).
    pub dates: Option<DateOrder>,
    pub blanks: Blanks,
    /// A form page: answers of fields hidden by branching logic are erased, read-only fields
    /// are not taken from the input.
    pub from_page: bool,
}

/// What a save changed.
#[derive(Debug, Clone, Serialize)]
pub struct Saved {
    pub form: Form,
    /// Field → (old, new), calculated fields included.
    pub changes: BTreeMap<String, (String, String)>,
    pub created: bool,
    /// The form's values after the save, by field (blank ones left out).
    pub values: BTreeMap<String, String>,
}

/// Now on a site's clock, UTC for an unknown zone or none.
fn now_in_zone(zone: Option<String>) -> NaiveDateTime {
    let tz: chrono_tz::Tz = zone.and_then(|z| z.parse().ok()).unwrap_or(chrono_tz::UTC);
    now().with_timezone(&tz).naive_local()
}

pub(crate) const SITE_ZONE: &str = "SELECT time_zone FROM sites WHERE id = $1";

/// The site-local now a form's `today` and `now` read (the site's clock when the record has a
/// site; UTC in a data-capture project without one).
pub(crate) fn record_now(record: &Record) -> NaiveDateTime {
    now_in_zone(record.time_zone.clone())
}

/// Whether a stored value belongs to the form at `key`.
fn in_form(v: &RecordValue, key: &FormKey) -> bool {
    v.event == key.event && v.instrument == key.instrument && v.instance == key.instance
}

/// A record as a save finds it: its forms and every value. A save reads it once and keeps it
/// current, so an import writing many forms of one record reads the record only once (and a
/// record it has just created not at all).
#[derive(Debug, Clone, Default)]
pub(crate) struct RecordState {
    forms: Vec<Form>,
    values: Vec<RecordValue>,
    /// The record's `updated_at` was already set in this transaction (it was created in it, or
    /// a save already touched it): later saves leave it be.
    touched: bool,
}

impl RecordState {
    pub(crate) async fn load_in(tx: &mut Tx, record_id: Uuid) -> Result<Self> {
        let (forms, values) = records::record_state_in(tx, record_id).await?.ok_or(StoreError::NotFound("record"))?;
        Ok(RecordState { forms, values, touched: false })
    }

    fn form(&self, key: &FormKey) -> Option<&Form> {
        self.forms.iter().find(|f| f.event == key.event && f.instrument == key.instrument && f.instance == key.instance)
    }

    /// The stored values of the form at `key`.
    fn values_of<'s>(&'s self, key: &'s FormKey) -> impl Iterator<Item = &'s RecordValue> + 's {
        self.values.iter().filter(|v| in_form(v, key))
    }

    /// The state of a record created in this transaction: nothing saved yet.
    pub(crate) fn created() -> Self {
        RecordState { touched: true, ..RecordState::default() }
    }

    pub(crate) fn has_form(&self, key: &FormKey) -> bool {
        self.form(key).is_some()
    }

    fn form_values(&self, key: &FormKey) -> BTreeMap<String, String> {
        self.values_of(key).map(|v| (v.field.clone(), v.value.clone())).collect()
    }

    /// Takes in what a save wrote.
    fn saved(&mut self, form: &Form, changes: &BTreeMap<String, (String, String)>) {
        match self.forms.iter_mut().find(|f| f.id == form.id) {
            Some(f) => *f = form.clone(),
            None => self.forms.push(form.clone()),
        }
        let key = form.key();
        for (field, (_, new)) in changes {
            match self.values.iter().position(|v| in_form(v, &key) && v.field == *field) {
                Some(i) if new.is_empty() => {
                    self.values.swap_remove(i);
                }
                Some(i) => self.values[i].value = new.clone(),
                None if new.is_empty() => {}
                None => self.values.push(RecordValue {
                    event: form.event.clone(),
                    instrument: form.instrument.clone(),
                    instance: form.instance,
                    field: field.clone(),
                    value: new.clone(),
                }),
            }
        }
    }
}

/// As the save reads it: now on the site's clock (UTC without a site), for pages that evaluate
/// a form's logic before it is saved.
pub async fn site_now(store: &Store, site: Option<Uuid>) -> Result<NaiveDateTime> {
    let zone: Option<String> = match site {
        Some(site) => on!(store.db.read(), |c| sqlx::query_scalar(SITE_ZONE).bind(site).fetch_optional(c).await)?,
        None => None,
    };
    Ok(now_in_zone(zone))
}

/// A record's answers as the logic engine reads them: values of the form being saved, then
/// of every other form of the record.
pub struct RecordContext<'a> {
    pub meta: &'a Metadata,
    /// (event, field, instance) → stored value.
    values: HashMap<(String, String, i64), String>,
    event: String,
    instance: i64,
    now: NaiveDateTime,
}

impl<'a> RecordContext<'a> {
    pub fn new(meta: &'a Metadata, values: &[RecordValue], key: &FormKey, now: NaiveDateTime) -> Self {
        let mut map = HashMap::new();
        for v in values {
            map.insert((v.event.clone(), v.field.clone(), v.instance), v.value.clone());
        }
        RecordContext { meta, values: map, event: key.event.clone(), instance: key.instance, now }
    }
    pub fn set(&mut self, field: &str, value: &str) {
        let k = (self.event.clone(), field.to_string(), self.instance);
        if value.is_empty() {
            self.values.remove(&k);
        } else {
            self.values.insert(k, value.to_string());
        }
    }
    pub fn get(&self, field: &str) -> &str {
        self.values.get(&(self.event.clone(), field.to_string(), self.instance)).map(String::as_str).unwrap_or("")
    }
    /// Whether a field shows, by its branching logic.
    pub fn shows(&self, field: &str) -> bool {
        self.meta.branching(field).is_none_or(|e| e.is_true(self))
    }
}

impl Context for RecordContext<'_> {
    fn value(&self, r: &FieldRef) -> Option<Cow<'_, str>> {
        let event = match &r.event {
            Some(unique) => self.meta.event_by_unique_name(unique).map(|e| e.code.clone())?,
            None => self.event.clone(),
        };
        // Without an instance, a reference reads the instance being saved in its own event and
        // the first instance elsewhere.
        let instance = match r.instance {
            Some(i) => i64::from(i),
            None if event == self.event => self.instance,
            None => 1,
        };
        let stored = self.values.get(&(event, r.field.clone(), instance)).map(String::as_str).unwrap_or("");
        match &r.code {
            Some(code) => Some(Cow::Borrowed(if stored.split(',').any(|c| c == code) { "1" } else { "0" })),
            None => Some(Cow::Borrowed(stored)),
        }
    }
    fn now(&self) -> NaiveDateTime {
        self.now
    }
}

/// Codes of a checkbox value, in the field's choice order (missing-data codes last).
fn join_codes(field: &Field, ticked: &[String]) -> String {
    let mut out: Vec<&str> =
        field.choices().iter().map(|c| c.code.as_str()).filter(|c| ticked.iter().any(|t| t == c)).collect();
    for t in ticked {
        if !out.contains(&t.as_str()) {
            out.push(t);
        }
    }
    out.join(",")
}

/// Checks a form's input against its instrument and gives the new value of every field it
/// touches (checkbox values as joined codes). Every problem is reported at once.
fn check_input(
    meta: &Metadata,
    input: &FormInput,
    current: &BTreeMap<String, String>,
    ctx: &EntryContext<'_>,
) -> Result<BTreeMap<String, String>, Invalid> {
    let mut errors = clinbridge_core::Checks::new();
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let mut ticks: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (column, raw) in &input.values {
        let (field, code) = match meta.field(column) {
            Some(f) => (f, None),
            None => match column.split_once("___").and_then(|(name, _)| meta.field(name)) {
                Some(f) => match f.checkbox_choice(column) {
                    Some(choice) => (f, Some(choice.code.clone())),
                    None => match column.split_once("___").and_then(|(_, c)| ctx.missing_codes.get(c)) {
                        Some(m) => (f, Some(m.code.clone())),
                        None => {
                            errors.push(column, format!("{} has no choice for this column", f.name()));
                            continue;
                        }
                    },
                },
                None => {
                    errors.push(column, "is not a field of this study");
                    continue;
                }
            },
        };
        if field.form() != input.key.instrument {
            errors.push(column, format!("belongs to {}, not {}", field.form(), input.key.instrument));
            continue;
        }
        if field.field_type() == FieldType::Calc || field.field_type() == FieldType::Descriptive {
            // Calculated values are recomputed; exported files carry them, so they are ignored.
            continue;
        }
        if input.from_page && field.action_tags().readonly_on_forms {
            continue;
        }
        if field.field_type() == FieldType::File {
            if !raw.trim().is_empty() {
                errors.push(column, "takes an uploaded file");
            }
            continue;
        }
        match code {
            Some(code) => match field.check_checkbox(&code, raw, ctx) {
                Ok(v) => {
                    ticks.entry(field.name().to_string()).or_default().insert(code, v);
                }
                Err(e) => errors.push(column, e),
            },
            None if field.field_type() == FieldType::Checkbox => {
                // A form page sends a checkbox as its ticked codes, comma-separated.
                let mut set = BTreeMap::new();
                for choice in field.choices() {
                    set.insert(choice.code.clone(), "0".to_string());
                }
                let mut bad = false;
                for code in raw.split(',').map(str::trim).filter(|c| !c.is_empty()) {
                    match field.check_checkbox(code, "1", ctx) {
                        Ok(_) => {
                            set.insert(code.to_string(), "1".to_string());
                        }
                        Err(e) => {
                            errors.push(column, e);
                            bad = true;
                        }
                    }
                }
                if !bad {
                    ticks.insert(field.name().to_string(), set);
                }
            }
            None => {
                let order = input
                    .dates
                    .unwrap_or_else(|| field.validation().and_then(|v| v.date_order()).unwrap_or(DateOrder::Ymd));
                match field.check(raw, order, ctx) {
                    Ok(v) if v.is_empty() && input.blanks == Blanks::Keep => {}
                    Ok(v) => {
                        out.insert(field.name().to_string(), v);
                    }
                    Err(e) => errors.push(column, e),
                }
            }
        }
    }
    errors.finish()?;
    for (name, codes) in ticks {
        let Some(field) = meta.field(&name) else { continue };
        let was: Vec<String> =
            current.get(&name).map(|v| v.split(',').map(str::to_string).collect()).unwrap_or_default();
        let mut now_ticked: Vec<String> = was.into_iter().filter(|c| !c.is_empty()).collect();
        for (code, v) in codes {
            match v.as_str() {
                "1" if !now_ticked.contains(&code) => now_ticked.push(code),
                "1" => {}
                "0" => now_ticked.retain(|c| *c != code),
                _ if input.blanks == Blanks::Erase => now_ticked.retain(|c| *c != code),
                _ => {}
            }
        }
        out.insert(name, join_codes(field, &now_ticked));
    }
    Ok(out)
}

/// Saves one form inside a transaction. The metadata is the study's current version.
pub(crate) async fn save_in(tx: &mut Tx, meta: &Metadata, record: &Record, input: &FormInput) -> Result<Saved> {
    let mut state = RecordState::load_in(tx, record.id).await?;
    save_with(tx, meta, record, &mut state, record_now(record), input).await
}

/// Saves one form of a record whose state the caller has read (and keeps current), with the
/// site-local now its logic reads.
pub(crate) async fn save_with(
    tx: &mut Tx,
    meta: &Metadata,
    record: &Record,
    state: &mut RecordState,
    local_now: NaiveDateTime,
    input: &FormInput,
) -> Result<Saved> {
    let key = &input.key;
    if meta.dictionary.instruments().iter().all(|i| *i != key.instrument) {
        return Err(Invalid::one("instrument", format!("the study has no instrument '{}'", key.instrument)).into());
    }
    if !meta.collects(&key.event, &key.instrument) {
        let msg = if key.event.is_empty() {
            "the study is longitudinal: name the visit (event) the form belongs to".to_string()
        } else {
            format!("visit {} does not collect {}", key.event, key.instrument)
        };
        return Err(Invalid::one("event", msg).into());
    }
    if key.instance < 1 || (key.instance > 1 && !meta.repeats(&key.event, &key.instrument)) {
        return Err(Invalid::one("instance", format!("{} does not repeat: its instance is 1", key.instrument)).into());
    }
    if let Some(s) = input.status
        && !(0..=2).contains(&s)
    {
        return Err(Invalid::one("status", "must be 0 (incomplete), 1 (unverified) or 2 (complete)").into());
    }
    let existing = state.form(key).cloned();
    if let Some(f) = &existing
        && let Some(seen) = input.revision
        && seen != f.revision
    {
        return Err(StoreError::conflict(
            "revision",
            "this form was saved by someone else after you opened it: reload it to see their changes",
        ));
    }
    let current = state.form_values(key);
    let entry = EntryContext { now: local_now, missing_codes: &meta.missing };
    let mut next = current.clone();
    let checked = check_input(meta, input, &current, &entry)?;
    for (f, v) in checked {
        next.insert(f, v);
    }
    // REDCap's record id field holds the record's own name, whatever was typed.
    let record_field = meta.dictionary.record_id_field();
    if record_field.form() == key.instrument {
        next.insert(record_field.name().to_string(), record.record.clone());
    }
    // Logic reads the whole record, with this form's new answers in place.
    let mut ctx = RecordContext::new(meta, &state.values, key, local_now);
    let fields: Vec<&Field> = meta.dictionary.instrument_fields(&key.instrument).collect();
    for f in &fields {
        ctx.set(f.name(), next.get(f.name()).map(String::as_str).unwrap_or(""));
    }
    // Calculations in dictionary order, twice so one calculation may read another.
    for _ in 0..2 {
        for f in &fields {
            if let Some(expr) = meta.calc(f.name()) {
                let v = expr.calc(&ctx);
                ctx.set(f.name(), &v);
                next.insert(f.name().to_string(), v);
            }
        }
    }
    if input.from_page {
        for f in &fields {
            if !ctx.shows(f.name()) && next.get(f.name()).is_some_and(|v| !v.is_empty()) {
                next.insert(f.name().to_string(), String::new());
                ctx.set(f.name(), "");
            }
        }
    }
    let status = input.status.or(existing.as_ref().map(|f| f.status)).unwrap_or(0);
    if status == 2 {
        let mut missing = clinbridge_core::Checks::new();
        for f in &fields {
            if f.required() && ctx.shows(f.name()) && next.get(f.name()).is_none_or(|v| v.is_empty()) {
                missing.push(f.name(), "is required before the form is complete");
            }
        }
        missing.finish()?;
    }
    let mut changes = BTreeMap::new();
    for (field, new) in &next {
        let old = current.get(field).cloned().unwrap_or_default();
        if old != *new {
            changes.insert(field.clone(), (old, new.clone()));
        }
    }
    let status_changed = existing.as_ref().is_some_and(|f| f.status != status);
    // A locked form refuses any change; saving what it already holds (a re-import) is no change.
    if let Some(f) = existing.as_ref().filter(|f| f.locked())
        && (!changes.is_empty() || status_changed)
    {
        return Err(StoreError::Refused(format!(
            "{} is locked{}: unlock it before changing it",
            meta.label(&key.instrument),
            if f.event_locked { " with its visit" } else { "" }
        )));
    }
    let reason = input.reason.as_deref().map(str::trim).filter(|r| !r.is_empty()).map(str::to_string);
    if existing.is_some() && !changes.is_empty() && reason.is_none() {
        return Err(Invalid::one("reason", "give a reason for changing data already saved").into());
    }
    if let Some(r) = &reason
        && r.chars().count() > 500
    {
        return Err(Invalid::one("reason", "must be at most 500 characters").into());
    }
    let at = now();
    let (form, created) = match &existing {
        Some(f) if changes.is_empty() && !status_changed => (f.clone(), false),
        Some(f) => {
            exec!(
                tx,
                "UPDATE edc_forms SET status = $1, version_number = $2, revision = revision + 1, updated_at = $3 WHERE id = $4",
                status,
                meta.number,
                at,
                f.id
            )?;
            let form =
                Form { status, version_number: meta.number, revision: f.revision + 1, updated_at: at, ..f.clone() };
            (form, false)
        }
        None => {
            let id = new_id();
            exec!(
                tx,
                "INSERT INTO edc_forms (id, record_id, event, instrument, instance, status, version_number, revision, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $8)",
                id,
                record.id,
                &key.event,
                &key.instrument,
                key.instance,
                status,
                meta.number,
                at
            )
            .map_err(|e| StoreError::from(e).unique_as("form", "this form was just created by someone else: reload it"))?;
            let form = Form {
                id,
                record_id: record.id,
                event: key.event.clone(),
                instrument: key.instrument.clone(),
                instance: key.instance,
                status,
                version_number: meta.number,
                revision: 1,
                locked_by: None,
                locked_at: None,
                event_locked: false,
                verified: false,
                updated_at: at,
            };
            (form, true)
        }
    };
    let verified = existing.as_ref().is_some_and(|f| f.verified);
    write_values(tx, form.id, &changes, verified).await?;
    if created || !changes.is_empty() || status_changed {
        if !state.touched {
            exec!(tx, "UPDATE edc_records SET updated_at = $1 WHERE id = $2", at, record.id)?;
            state.touched = true;
        }
        let old: BTreeMap<&String, &String> = changes.iter().map(|(f, (o, _))| (f, o)).collect();
        let new: BTreeMap<&String, &String> = changes.iter().map(|(f, (_, n))| (f, n)).collect();
        tx.audit(
            AuditEvent::new(if created { AuditAction::Create } else { AuditAction::Update }, "edc_form", form.id)
                .old(serde_json::json!({ "status": existing.as_ref().map(|f| f.status), "values": old }))
                .new_value(serde_json::json!({
                    "record": record.record, "event": key.event, "instrument": key.instrument, "instance": key.instance,
                    "version": meta.number, "status": status, "values": new,
                }))
                .reason(reason),
        );
    }
    state.saved(&form, &changes);
    next.retain(|_, v| !v.is_empty());
    Ok(Saved { form, changes, created, values: next })
}

/// Most rows one statement carries (three parameters each, well under either engine's limit).
const ROWS_PER_STATEMENT: usize = 300;

/// Writes a form's changed values: the new ones upserted and the erased ones deleted, a few
/// statements for the whole form, and drops the verifications of every changed field (when the
/// form has any).
async fn write_values(
    tx: &mut Tx,
    form_id: Uuid,
    changes: &BTreeMap<String, (String, String)>,
    verified: bool,
) -> Result<()> {
    let set: Vec<(&String, &String)> =
        changes.iter().filter(|(_, (_, new))| !new.is_empty()).map(|(f, (_, new))| (f, new)).collect();
    for chunk in set.chunks(ROWS_PER_STATEMENT) {
        let rows: Vec<String> = (0..chunk.len()).map(|i| format!("($1, ${}, ${})", 2 * i + 2, 2 * i + 3)).collect();
        let sql = format!(
            "INSERT INTO edc_values (form_id, field, value) VALUES {} ON CONFLICT (form_id, field) DO UPDATE SET value = excluded.value",
            rows.join(", ")
        );
        crate::tx_on!(tx, |c| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.clone())).bind(form_id);
            for (field, value) in chunk {
                q = q.bind(field.as_str()).bind(value.as_str());
            }
            q.execute(&mut *c).await.map(|r| r.rows_affected())
        })?;
    }
    let erased: Vec<&String> = changes.iter().filter(|(_, (_, new))| new.is_empty()).map(|(f, _)| f).collect();
    delete_fields(tx, "edc_values", form_id, &erased).await?;
    if verified {
        let changed: Vec<&String> = changes.keys().collect();
        delete_fields(tx, "edc_verifications", form_id, &changed).await?;
    }
    Ok(())
}

/// Deletes a form's rows of `table` for the given fields.
async fn delete_fields(tx: &mut Tx, table: &'static str, form_id: Uuid, fields: &[&String]) -> Result<()> {
    for chunk in fields.chunks(ROWS_PER_STATEMENT) {
        let params: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!("DELETE FROM {table} WHERE form_id = $1 AND field IN ({})", params.join(", "));
        crate::tx_on!(tx, |c| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.clone())).bind(form_id);
            for field in chunk {
                q = q.bind(field.as_str());
            }
            q.execute(&mut *c).await.map(|r| r.rows_affected())
        })?;
    }
    Ok(())
}

/// The record a save goes to.
enum SaveTo {
    Record(Uuid),
    /// A record the caller has just read, with the study's metadata as it read it.
    Read(Box<Record>, Arc<Metadata>),
    /// A participant's record, created on first use.
    Participant(Uuid),
    /// A record named in a study, created free-standing (at the site) when there is none.
    Named {
        study_id: Uuid,
        name: String,
        site: Option<Uuid>,
    },
}

async fn save_to(store: &Store, acting: &Acting, to: SaveTo, input: FormInput) -> Result<Saved> {
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let (record, read) = match to {
                    SaveTo::Record(id) => (records::record_in(tx, id).await?, None),
                    SaveTo::Read(record, meta) => (*record, Some(meta)),
                    SaveTo::Participant(id) => (records::participant_record_in(tx, id).await?, None),
                    SaveTo::Named { study_id, name, site } => {
                        (records::named_record_in(tx, study_id, &name, site).await?.0, None)
                    }
                };
                let meta = match &read {
                    Some(m) => metadata::current_since_in(tx, record.study_id, m).await?,
                    None => metadata::current_in(tx, record.study_id).await?,
                }
                .ok_or_else(|| StoreError::Refused("the study has no instruments yet".into()))?;
                // Reading the record's state also finds out whether a record read before the
                // write is still there.
                save_in(tx, &meta, &record, &input).await
            })
        })
        .await
}

/// Saves one form of a record.
pub async fn save(store: &Store, acting: &Acting, record_id: Uuid, input: FormInput) -> Result<Saved> {
    save_to(store, acting, SaveTo::Record(record_id), input).await
}

/// Saves one form of a record the caller has just read, against the study's metadata as it read
/// it: inside the write only whether that metadata is still current is read again (a newer
/// version is used when there is one), which keeps the write short.
pub async fn save_read(
    store: &Store,
    acting: &Acting,
    record: Record,
    meta: Arc<Metadata>,
    input: FormInput,
) -> Result<Saved> {
    save_to(store, acting, SaveTo::Read(Box::new(record), meta), input).await
}

/// Saves one form of a participant, creating the participant's record on first use.
pub async fn save_for_participant(
    store: &Store,
    acting: &Acting,
    participant_id: Uuid,
    input: FormInput,
) -> Result<Saved> {
    save_to(store, acting, SaveTo::Participant(participant_id), input).await
}

/// One change of one field, read back from the audit trail.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FieldChange {
    pub at: DateTime<Utc>,
    pub user_id: Option<Uuid>,
    pub user_name: String,
    pub old: String,
    pub new: String,
    pub reason: String,
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    at: DateTime<Utc>,
    user_id: Option<Uuid>,
    user_name: Option<String>,
    old_value: Option<String>,
    new_value: Option<String>,
    reason: Option<String>,
}

/// Every change of a field on a form, oldest first: who, when, old, new and why.
pub async fn field_history(store: &Store, form_id: Uuid, field: &str) -> Result<Vec<FieldChange>> {
    let rows: Vec<AuditRow> = on!(store.db.read(), |c| sqlx::query_as::<_, AuditRow>(
        "SELECT a.at, a.user_id, u.name AS user_name, a.old_value, a.new_value, a.reason
         FROM audit_log a LEFT JOIN users u ON u.id = a.user_id
         WHERE a.entity_type = 'edc_form' AND a.entity_id = $1 ORDER BY a.id"
    )
    .bind(form_id.to_string())
    .fetch_all(c)
    .await)?;
    let pick = |json: &Option<String>| -> Option<String> {
        let v: serde_json::Value = serde_json::from_str(json.as_deref()?).ok()?;
        v.get("values")?.get(field)?.as_str().map(str::to_string)
    };
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let new = pick(&r.new_value)?;
            Some(FieldChange {
                at: r.at,
                user_id: r.user_id,
                user_name: r.user_name.unwrap_or_else(|| "system".into()),
                old: pick(&r.old_value).unwrap_or_default(),
                new,
                reason: r.reason.unwrap_or_default(),
            })
        })
        .collect())
}

/// Saves one form of a record named in a study, creating a free-standing record (at `site`)
/// when there is none (a trial participant's record is found by the subject id).
pub async fn save_named(
    store: &Store,
    acting: &Acting,
    study_id: Uuid,
    name: &str,
    site: Option<Uuid>,
    input: FormInput,
) -> Result<Saved> {
    let name = check_record_name(name)?;
    save_to(store, acting, SaveTo::Named { study_id, name, site }, input).await
}

/// A record name as REDCap allows it: 1 to 100 letters, digits, spaces, `-`, `_`, `.` or `@`.
pub fn check_record_name(name: &str) -> Result<String, Invalid> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 100 {
        return Err(Invalid::one("record", "must be 1 to 100 characters"));
    }
    if !n.chars().all(|c| c.is_ascii_alphanumeric() || " -_.@".contains(c)) {
        return Err(Invalid::one("record", "may hold only letters, digits, spaces and - _ . @"));
    }
    Ok(n.to_string())
}

/// The next free whole-number record name (REDCap's auto-numbering): one more than the
/// largest whole-number name in the study.
pub async fn next_record_name(store: &Store, study_id: Uuid) -> Result<String> {
    let names: Vec<String> =
        on!(store.db.read(), |c| sqlx::query_scalar("SELECT record FROM edc_records WHERE study_id = $1")
            .bind(study_id)
            .fetch_all(c)
            .await)?;
    let max = names.iter().filter_map(|n| n.parse::<u64>().ok()).max().unwrap_or(0);
    Ok((max + 1).to_string())
}
