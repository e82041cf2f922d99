//! EDC data exports and imports: REDCap's flat CSV (one row per record × event × repeat
//! instance) and EAV rows, CDISC ODM ([`odm`]), and the imports that read them back all or
//! nothing. Exports read the study a page of records at a time and hand rows over as they are
//! made, so memory stays flat however large the study.
//!
//! **De-identified exports** drop identifier fields and shift every date and date-time value of
//! a record by a whole number of days from −364 to 364 (never 0): the low bits of
//! HMAC-SHA256(key, record name), with a random key per export unless the caller gives one. The
//! same record therefore shifts by the same amount across its forms and events within one
//! export (intervals survive), and two exports cannot be lined up to undo the shift.

pub mod odm;

use super::metadata::{self, Metadata};
use super::records::{self, FormKey, Record, RecordValue};
use super::{Blanks, FormInput, RecordContext, RecordState, STATUS_LABELS, check_record_name, save_with};
use crate::{Acting, Result, Store, StoreError, Tx, exec, on, tx_on};
use chrono::{DateTime, NaiveDate, Utc};
use clinbridge_core::audit::{AuditAction, AuditEvent};
use clinbridge_core::edc::{DateOrder, Field, FieldType, Validation};
use clinbridge_core::{FieldError, Invalid};
use clinbridge_engine::logic::Expr;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use uuid::Uuid;

/// Records read per page by an export.
const PAGE: i64 = 200;

pub const EVENT_COLUMN: &str = "redcap_event_name";
pub const REPEAT_INSTRUMENT_COLUMN: &str = "redcap_repeat_instrument";
pub const REPEAT_INSTANCE_COLUMN: &str = "redcap_repeat_instance";

/// Which records, fields, forms and events an export takes (empty lists: all).
#[derive(Debug, Clone, Default)]
pub struct RecordFilter {
    pub records: Vec<String>,
    pub fields: Vec<String>,
    pub forms: Vec<String>,
    /// REDCap unique event names (`scr_arm_1`).
    pub events: Vec<String>,
    /// REDCap logic; a record is kept when it is true for any of its events.
    pub filter_logic: Option<String>,
    /// Records changed at or after this moment.
    pub changed_since: Option<DateTime<Utc>>,
    /// Records changed before this moment.
    pub changed_before: Option<DateTime<Utc>>,
    /// Only records at these sites (`None`: every record). Records without a site are kept
    /// only when this is `None`.
    pub sites: Option<Vec<Uuid>>,
}

/// How a flat or EAV export is written.
#[derive(Debug, Clone, Default)]
pub struct FlatOptions {
    pub filter: RecordFilter,
    /// Choice labels, `Checked`/`Unchecked`, status and event labels instead of codes.
    pub labels: bool,
    /// Drop identifier fields and shift dates (see the module's notes).
    pub deidentified: bool,
    /// The secret of the date shift; a random one per call when `None`.
    pub shift_key: Option<Vec<u8>>,
}

/// One value of an EAV export: REDCap's `record, redcap_event_name, redcap_repeat_instrument,
/// redcap_repeat_instance, field_name, value` (a checkbox gives one row per ticked code).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EavRow {
    pub record: String,
    pub redcap_event_name: String,
    pub redcap_repeat_instrument: String,
    pub redcap_repeat_instance: String,
    pub field_name: String,
    pub value: String,
}

/// How an import treats its file.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Blank cells erase stored values (REDCap's "overwrite"); otherwise they leave them.
    pub overwrite: bool,
    /// The order dates are written in.
    pub dates: DateOrder,
    /// New records get the next whole-number names instead of the names given.
    pub force_auto_number: bool,
    /// The reason for change recorded with every changed form.
    pub reason: String,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            overwrite: false,
            dates: DateOrder::Ymd,
            force_auto_number: false,
            reason: "Data import".into(),
        }
    }
}

/// One row of a flat file: cells by column name. `line` is the row's number in the file, used
/// in messages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportRow {
    pub line: usize,
    pub cells: Vec<(String, String)>,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportOutcome {
    /// Records touched.
    pub count: usize,
    /// Their names, in file order (assigned names when auto-numbered).
    pub ids: Vec<String>,
    /// Given name → assigned name, when auto-numbering.
    pub auto_ids: Vec<(String, String)>,
}

// ---------------------------------------------------------------- columns

#[derive(Debug, Clone)]
enum Col {
    RecordId,
    Event,
    RepeatInstrument,
    RepeatInstance,
    /// Index into the dictionary's fields.
    Value(usize),
    Check(usize, String),
    Status(String),
}

/// The columns of an export and what feeds them.
struct Plan<'m> {
    meta: &'m Metadata,
    cols: Vec<(String, Col)>,
    /// Instruments with at least one column (rows without them are left out).
    instruments: BTreeSet<String>,
    /// Event codes to export (`None`: all).
    events: Option<BTreeSet<String>>,
    date_fields: HashSet<String>,
    labels: bool,
    shift_key: Option<Vec<u8>>,
    logic: Option<Expr>,
    filter: RecordFilter,
}

/// Whether a study has repeating instruments or repeating visits that collect forms.
fn has_repeats(meta: &Metadata) -> bool {
    meta.instruments.iter().any(|i| i.repeating)
        || meta
            .event_forms
            .iter()
            .any(|ef| !ef.instruments.is_empty() && meta.event(&ef.event).is_some_and(|e| e.repeating))
}

fn is_date(field: &Field) -> bool {
    matches!(field.validation(), Some(Validation::Date(_) | Validation::Datetime(_) | Validation::DatetimeSeconds(_)))
}

impl<'m> Plan<'m> {
    fn new(meta: &'m Metadata, opts: &FlatOptions) -> Result<Plan<'m>> {
        let f = &opts.filter;
        let mut errors = clinbridge_core::Checks::new();
        let instruments = meta.dictionary.instruments();
        for name in &f.fields {
            let is_status = name.strip_suffix("_complete").is_some_and(|i| instruments.contains(&i));
            if meta.field(name).is_none() && !is_status {
                errors.push("fields", format!("'{name}' is not a field of this study"));
            }
        }
        for form in &f.forms {
            if !instruments.contains(&form.as_str()) {
                errors.push("forms", format!("'{form}' is not an instrument of this study"));
            }
        }
        let mut events = None;
        if !f.events.is_empty() {
            let mut codes = BTreeSet::new();
            for e in &f.events {
                match meta.event_by_unique_name(e) {
                    Some(ev) => {
                        codes.insert(ev.code.clone());
                    }
                    None => errors.push("events", format!("'{e}' is not an event of this study")),
                }
            }
            events = Some(codes);
        }
        let logic = match f.filter_logic.as_deref().map(str::trim).filter(|l| !l.is_empty()) {
            Some(text) => match clinbridge_engine::logic::parse(text) {
                Ok(e) => Some(e),
                Err(e) => {
                    errors.push("filter_logic", e.to_string());
                    None
                }
            },
            None => None,
        };
        errors.finish()?;

        let everything = f.fields.is_empty() && f.forms.is_empty();
        let record_id = meta.dictionary.record_id_field().name().to_string();
        let mut cols = vec![(record_id.clone(), Col::RecordId)];
        if meta.longitudinal() {
            cols.push((EVENT_COLUMN.into(), Col::Event));
        }
        if has_repeats(meta) {
            cols.push((REPEAT_INSTRUMENT_COLUMN.into(), Col::RepeatInstrument));
            cols.push((REPEAT_INSTANCE_COLUMN.into(), Col::RepeatInstance));
        }
        let mut chosen = BTreeSet::new();
        let mut date_fields = HashSet::new();
        for (i, field) in meta.dictionary.fields().iter().enumerate() {
            if field.name() == record_id {
                continue;
            }
            let wanted =
                everything || f.fields.iter().any(|n| n == field.name()) || f.forms.iter().any(|n| n == field.form());
            if !wanted || (opts.deidentified && field.identifier()) {
                continue;
            }
            if is_date(field) {
                date_fields.insert(field.name().to_string());
            }
            match field.field_type() {
                FieldType::Descriptive => continue,
                FieldType::Checkbox => {
                    for c in field.choices() {
                        cols.push((field.checkbox_column(&c.code), Col::Check(i, c.code.clone())));
                    }
                    for m in meta.missing.codes() {
                        if field.choice(&m.code).is_none() {
                            cols.push((format!("{}___{}", field.name(), m.code), Col::Check(i, m.code.clone())));
                        }
                    }
                }
                _ => cols.push((field.name().to_string(), Col::Value(i))),
            }
            chosen.insert(field.form().to_string());
        }
        // Status columns follow each instrument's fields.
        let mut ordered = Vec::with_capacity(cols.len() + instruments.len());
        let mut rest = cols.into_iter().peekable();
        while let Some((name, col)) =
            rest.next_if(|(_, c)| matches!(c, Col::RecordId | Col::Event | Col::RepeatInstrument | Col::RepeatInstance))
        {
            ordered.push((name, col));
        }
        let mut rest: Vec<(String, Col)> = rest.collect();
        for form in &instruments {
            let (mine, others): (Vec<_>, Vec<_>) = rest.into_iter().partition(|(_, c)| match c {
                Col::Value(i) | Col::Check(i, _) => meta.dictionary.fields()[*i].form() == *form,
                _ => false,
            });
            rest = others;
            ordered.extend(mine);
            let status = format!("{form}_complete");
            if everything || f.forms.iter().any(|n| n == form) || f.fields.contains(&status) {
                chosen.insert(form.to_string());
                ordered.push((status, Col::Status(form.to_string())));
            }
        }
        if chosen.is_empty() {
            // Only the record id was asked for: every instrument's rows still count.
            chosen = instruments.iter().map(|s| s.to_string()).collect();
        }
        let shift_key = if opts.deidentified {
            Some(match &opts.shift_key {
                Some(k) => k.clone(),
                None => {
                    let mut k = vec![0u8; 32];
                    getrandom::getrandom(&mut k).map_err(|e| StoreError::Internal(format!("random key: {e}")))?;
                    k
                }
            })
        } else {
            None
        };
        Ok(Plan {
            meta,
            cols: ordered,
            instruments: chosen,
            events,
            date_fields,
            labels: opts.labels,
            shift_key,
            logic,
            filter: opts.filter.clone(),
        })
    }

    fn names(&self) -> Vec<String> {
        self.cols.iter().map(|(n, _)| n.clone()).collect()
    }
}

// ---------------------------------------------------------------- date shift

/// HMAC-SHA256 (RFC 2104) of `message` under `key`.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(message).finalize();
    Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize().into()
}

/// The days a record's dates move in a de-identified export: −364 to −1 or 1 to 364.
pub fn shift_days(key: &[u8], record: &str) -> i64 {
    let mac = hmac_sha256(key, record.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&mac[..8]);
    let n = (u64::from_be_bytes(first) % 728) as i64;
    if n < 364 { -(n + 1) } else { n - 363 }
}

/// A stored date (`YYYY-MM-DD`, maybe followed by a time) moved by `days`; other values (a
/// missing-data code) as they are.
pub fn shift_date(stored: &str, days: i64) -> String {
    let (date, rest) = stored.split_at(stored.len().min(10));
    match NaiveDate::parse_from_str(date, "%Y-%m-%d") {
        Ok(d) => match d.checked_add_signed(chrono::Duration::days(days)) {
            Some(moved) => format!("{}{rest}", moved.format("%Y-%m-%d")),
            None => stored.to_string(),
        },
        Err(_) => stored.to_string(),
    }
}

// ---------------------------------------------------------------- reading records

/// A form instance of a record with its values.
#[derive(Debug, Clone)]
pub(crate) struct FormData {
    pub id: Uuid,
    pub status: i64,
    pub values: BTreeMap<String, String>,
}

/// One record as an export reads it.
#[derive(Debug, Clone)]
pub(crate) struct RecordData {
    pub id: Uuid,
    pub name: String,
    pub forms: BTreeMap<FormKey, FormData>,
}

impl RecordData {
    fn values(&self) -> Vec<RecordValue> {
        let mut out = Vec::new();
        for (k, f) in &self.forms {
            for (field, value) in &f.values {
                out.push(RecordValue {
                    event: k.event.clone(),
                    instrument: k.instrument.clone(),
                    instance: k.instance,
                    field: field.clone(),
                    value: value.clone(),
                });
            }
        }
        out
    }
}

type RecordRow = (Uuid, String, Option<Uuid>);
type ValueRow = (Uuid, Uuid, String, String, i64, i64, Option<String>, Option<String>);

/// Where a walk over a study's records has got to.
pub(crate) struct Cursor {
    after: Option<String>,
    done: bool,
}

impl Cursor {
    pub(crate) fn new() -> Self {
        Cursor { after: None, done: false }
    }
}

/// The next page of a study's records in name order, each with its forms and values, keeping
/// those the filter's records, sites, dates and logic let through (`None` at the end).
pub(crate) async fn next_page(
    store: &Store,
    study_id: Uuid,
    meta: &Metadata,
    filter: &RecordFilter,
    logic: Option<&Expr>,
    cursor: &mut Cursor,
) -> Result<Option<Vec<RecordData>>> {
    if cursor.done {
        return Ok(None);
    }
    let wanted: HashSet<&str> = filter.records.iter().map(String::as_str).collect();
    let page: Vec<RecordRow> = on!(store.db.read(), |c| sqlx::query_as(
        "SELECT r.id, r.record, COALESCE(p.site_id, r.site_id) AS site_id
         FROM edc_records r LEFT JOIN participants p ON p.id = r.participant_id
         WHERE r.study_id = $1 AND ($2 OR r.record > $3)
           AND ($4 IS NULL OR r.updated_at >= $4) AND ($5 IS NULL OR r.updated_at < $5)
         ORDER BY r.record LIMIT $6"
    )
    .bind(study_id)
    .bind(cursor.after.is_none())
    .bind(cursor.after.clone().unwrap_or_default())
    .bind(filter.changed_since)
    .bind(filter.changed_before)
    .bind(PAGE)
    .fetch_all(c)
    .await)?;
    let (Some(first), Some(last)) = (page.first(), page.last()) else {
        cursor.done = true;
        return Ok(None);
    };
    let (from, to) = (first.1.clone(), last.1.clone());
    cursor.after = Some(to.clone());
    cursor.done = (page.len() as i64) < PAGE;
    let keep: HashMap<Uuid, String> = page
        .into_iter()
        .filter(|(_, name, _)| wanted.is_empty() || wanted.contains(name.as_str()))
        .filter(|(_, _, site)| match (&filter.sites, site) {
            (None, _) => true,
            (Some(sites), Some(s)) => sites.contains(s),
            (Some(_), None) => false,
        })
        .map(|(id, name, _)| (id, name))
        .collect();
    let mut out = Vec::new();
    if keep.is_empty() {
        return Ok(Some(out));
    }
    let rows: Vec<ValueRow> = on!(store.db.read(), |c| sqlx::query_as(
        "SELECT r.id, f.id, f.event, f.instrument, f.instance, f.status, v.field, v.value
         FROM edc_records r JOIN edc_forms f ON f.record_id = r.id LEFT JOIN edc_values v ON v.form_id = f.id
         WHERE r.study_id = $1 AND r.record >= $2 AND r.record <= $3
         ORDER BY r.record, f.id"
    )
    .bind(study_id)
    .bind(&from)
    .bind(&to)
    .fetch_all(c)
    .await)?;
    let mut current: Option<RecordData> = None;
    for (rid, fid, event, instrument, instance, status, field, value) in rows {
        let Some(name) = keep.get(&rid) else { continue };
        if current.as_ref().is_some_and(|r| r.id != rid)
            && let Some(done) = current.take()
            && passes(meta, logic, &done)
        {
            out.push(done);
        }
        let rec = current.get_or_insert_with(|| RecordData { id: rid, name: name.clone(), forms: BTreeMap::new() });
        let form = rec.forms.entry(FormKey { event, instrument, instance }).or_insert_with(|| FormData {
            id: fid,
            status,
            values: BTreeMap::new(),
        });
        if let (Some(f), Some(v)) = (field, value) {
            form.values.insert(f, v);
        }
    }
    if let Some(done) = current.take()
        && passes(meta, logic, &done)
    {
        out.push(done);
    }
    Ok(Some(out))
}

/// Walks every page, handing each record over.
pub(crate) async fn walk_records(
    store: &Store,
    study_id: Uuid,
    meta: &Metadata,
    filter: &RecordFilter,
    logic: Option<&Expr>,
    each: &mut (dyn FnMut(&RecordData) -> Result<()> + Send),
) -> Result<()> {
    let mut cursor = Cursor::new();
    while let Some(page) = next_page(store, study_id, meta, filter, logic, &mut cursor).await? {
        for r in &page {
            each(r)?;
        }
    }
    Ok(())
}

/// Whether a record passes the filter logic (true for any of its events).
fn passes(meta: &Metadata, logic: Option<&Expr>, record: &RecordData) -> bool {
    let Some(expr) = logic else { return true };
    let values = record.values();
    let now = Utc::now().naive_utc();
    let mut events: Vec<&str> = Vec::new();
    for k in record.forms.keys() {
        if !events.contains(&k.event.as_str()) {
            events.push(&k.event);
        }
    }
    if events.is_empty() {
        events.push("");
    }
    events.iter().any(|e| expr.is_true(&RecordContext::new(meta, &values, &FormKey::new(e, "", 1), now)))
}

// ---------------------------------------------------------------- rows

/// One flat row: an event (and instance) of a record, or one instance of a repeating
/// instrument.
struct RowSpec {
    event: String,
    repeat_instrument: Option<String>,
    instance: Option<i64>,
}

impl RowSpec {
    /// The form of `instrument` this row shows, if the row covers the instrument.
    fn key(&self, meta: &Metadata, instrument: &str) -> Option<FormKey> {
        match &self.repeat_instrument {
            Some(i) if i != instrument => None,
            Some(_) => Some(FormKey::new(&self.event, instrument, self.instance.unwrap_or(1))),
            None if self.instance.is_none() && meta.instrument(instrument).is_some_and(|s| s.repeating) => None,
            None => Some(FormKey::new(&self.event, instrument, self.instance.unwrap_or(1))),
        }
    }
}

/// A record's rows in REDCap's order: per event, the event's row (per instance of a repeating
/// visit), then each repeating instrument's instances.
fn record_rows(plan: &Plan<'_>, record: &RecordData) -> Vec<RowSpec> {
    let meta = plan.meta;
    let events: Vec<String> = if meta.longitudinal() {
        meta.events
            .iter()
            .map(|e| e.code.clone())
            .filter(|c| meta.event_forms.iter().any(|ef| ef.event == *c))
            .collect()
    } else {
        vec![String::new()]
    };
    let mut out = Vec::new();
    for event in events {
        if plan.events.as_ref().is_some_and(|set| !set.contains(&event)) {
            continue;
        }
        let here: Vec<&FormKey> =
            record.forms.keys().filter(|k| k.event == event && plan.instruments.contains(&k.instrument)).collect();
        if here.is_empty() {
            continue;
        }
        if meta.event(&event).is_some_and(|e| e.repeating) {
            let instances: BTreeSet<i64> = here.iter().map(|k| k.instance).collect();
            for n in instances {
                out.push(RowSpec { event: event.clone(), repeat_instrument: None, instance: Some(n) });
            }
            continue;
        }
        let repeating = |i: &str| meta.instrument(i).is_some_and(|s| s.repeating);
        if here.iter().any(|k| !repeating(&k.instrument)) {
            out.push(RowSpec { event: event.clone(), repeat_instrument: None, instance: None });
        }
        for instrument in meta.event_instruments(&event) {
            if !repeating(instrument) {
                continue;
            }
            for k in here.iter().filter(|k| k.instrument == instrument) {
                out.push(RowSpec {
                    event: event.clone(),
                    repeat_instrument: Some(instrument.to_string()),
                    instance: Some(k.instance),
                });
            }
        }
    }
    out
}

/// One cell of a row, in its typed form (EAV and ODM read it this way).
enum Cell<'a> {
    Text(String),
    Value { field: &'a Field, stored: String },
    Check { field: &'a Field, code: &'a str, ticked: bool },
    Status { instrument: &'a str, status: i64 },
    Blank,
}

fn cells<'p>(plan: &'p Plan<'_>, record: &RecordData, row: &RowSpec) -> Vec<Cell<'p>> {
    let meta = plan.meta;
    let shift = plan.shift_key.as_ref().map(|k| shift_days(k, &record.name));
    plan.cols
        .iter()
        .map(|(_, col)| match col {
            Col::RecordId => Cell::Text(record.name.clone()),
            Col::Event => match meta.event(&row.event) {
                Some(e) if plan.labels => Cell::Text(e.name.clone()),
                Some(e) => Cell::Text(e.unique_name.clone()),
                None => Cell::Blank,
            },
            Col::RepeatInstrument => match &row.repeat_instrument {
                Some(i) if plan.labels => Cell::Text(meta.label(i)),
                Some(i) => Cell::Text(i.clone()),
                None => Cell::Blank,
            },
            Col::RepeatInstance => match row.instance {
                Some(n) => Cell::Text(n.to_string()),
                None => Cell::Blank,
            },
            Col::Value(i) => {
                let field = &meta.dictionary.fields()[*i];
                let stored = row
                    .key(meta, field.form())
                    .and_then(|k| record.forms.get(&k))
                    .and_then(|f| f.values.get(field.name()));
                match stored {
                    Some(v) if !v.is_empty() => {
                        let v = match shift {
                            Some(days) if plan.date_fields.contains(field.name()) => shift_date(v, days),
                            _ => v.clone(),
                        };
                        Cell::Value { field, stored: v }
                    }
                    _ => Cell::Blank,
                }
            }
            Col::Check(i, code) => {
                let field = &meta.dictionary.fields()[*i];
                match row.key(meta, field.form()).and_then(|k| record.forms.get(&k)) {
                    Some(form) => {
                        let ticked =
                            form.values.get(field.name()).is_some_and(|v| v.split(',').any(|c| c == code.as_str()));
                        Cell::Check { field, code: code.as_str(), ticked }
                    }
                    None => Cell::Blank,
                }
            }
            Col::Status(instrument) => match row.key(meta, instrument).and_then(|k| record.forms.get(&k)) {
                Some(form) => Cell::Status { instrument: instrument.as_str(), status: form.status },
                None => Cell::Blank,
            },
        })
        .collect()
}

fn render(plan: &Plan<'_>, cell: &Cell<'_>) -> String {
    match cell {
        Cell::Text(t) => t.clone(),
        Cell::Value { field, stored } if plan.labels => field.display_with(stored, &plan.meta.missing),
        Cell::Value { stored, .. } => stored.clone(),
        Cell::Check { ticked, .. } if plan.labels => if *ticked { "Checked" } else { "Unchecked" }.into(),
        Cell::Check { ticked, .. } => if *ticked { "1" } else { "0" }.into(),
        Cell::Status { status, .. } if plan.labels => {
            STATUS_LABELS.get(*status as usize).map(|s| s.to_string()).unwrap_or_else(|| status.to_string())
        }
        Cell::Status { status, .. } => status.to_string(),
        Cell::Blank => String::new(),
    }
}

async fn production_meta(store: &Store, study_id: Uuid) -> Result<std::sync::Arc<Metadata>> {
    metadata::current(store, study_id)
        .await?
        .ok_or_else(|| StoreError::Refused("the study has no instruments yet".into()))
}

/// The columns of a flat export, in REDCap's order.
pub async fn flat_columns(store: &Store, study_id: Uuid, opts: &FlatOptions) -> Result<Vec<String>> {
    let meta = production_meta(store, study_id).await?;
    Ok(Plan::new(&meta, opts)?.names())
}

/// Streams a flat export's rows (aligned with [`flat_columns`]), one per record × event ×
/// repeat instance as REDCap makes them; gives the number of rows.
pub async fn flat_rows(
    store: &Store,
    study_id: Uuid,
    opts: &FlatOptions,
    each: &mut (dyn FnMut(Vec<String>) -> Result<()> + Send),
) -> Result<u64> {
    let meta = production_meta(store, study_id).await?;
    let plan = Plan::new(&meta, opts)?;
    let mut count = 0u64;
    walk_records(store, study_id, &meta, &opts.filter, plan.logic.as_ref(), &mut |record| {
        for row in record_rows(&plan, record) {
            let line: Vec<String> = cells(&plan, record, &row).iter().map(|c| render(&plan, c)).collect();
            count += 1;
            each(line)?;
        }
        Ok(())
    })
    .await?;
    Ok(count)
}

/// Streams an EAV export: one row per value (a checkbox one per ticked code, a form's status as
/// `{form}_complete`); gives the number of rows.
pub async fn eav_rows(
    store: &Store,
    study_id: Uuid,
    opts: &FlatOptions,
    each: &mut (dyn FnMut(EavRow) -> Result<()> + Send),
) -> Result<u64> {
    let meta = production_meta(store, study_id).await?;
    let plan = Plan::new(&meta, opts)?;
    let mut count = 0u64;
    walk_records(store, study_id, &meta, &opts.filter, plan.logic.as_ref(), &mut |record| {
        for row in record_rows(&plan, record) {
            let cells = cells(&plan, record, &row);
            for e in eav_of(&plan, record, &row, &cells) {
                count += 1;
                each(e)?;
            }
        }
        Ok(())
    })
    .await?;
    Ok(count)
}

/// Writes one audit entry for an export: what, in which format, with which options.
pub async fn audit_export(
    store: &Store,
    acting: &Acting,
    study_id: Uuid,
    format: &str,
    opts: &FlatOptions,
    extra: serde_json::Value,
) -> Result<()> {
    let f = &opts.filter;
    let detail = serde_json::json!({
        "format": format,
        "labels": opts.labels,
        "deidentified": opts.deidentified,
        "records": f.records, "fields": f.fields, "forms": f.forms, "events": f.events,
        "filter_logic": f.filter_logic,
        "changed_since": f.changed_since, "changed_before": f.changed_before,
        "options": extra,
    });
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                tx.audit(AuditEvent::new(AuditAction::Export, "edc_study", study_id).new_value(detail));
                Ok(())
            })
        })
        .await
}

// ---------------------------------------------------------------- imports

/// A form of an import row: where it goes, its cells and its status.
type FormCells = (FormKey, Vec<(String, String)>, Option<i64>);

/// A row of an import, read: where its forms go and each form's cells.
struct ParsedRow {
    line: usize,
    record: String,
    forms: Vec<FormCells>,
}

/// Reads the flat rows into per-form inputs; every problem is collected.
fn parse_rows(meta: &Metadata, rows: Vec<ImportRow>, errors: &mut Vec<FieldError>) -> Vec<ParsedRow> {
    let record_id = meta.dictionary.record_id_field().name().to_string();
    let instruments = meta.dictionary.instruments();
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let line = row.line;
        let at = |col: &str| format!("row {line}, {col}");
        let mut record = None;
        let mut event_name = String::new();
        let mut repeat_instrument = String::new();
        let mut repeat_instance = String::new();
        #[allow(clippy::type_complexity)]
        let mut by_form: BTreeMap<String, (Vec<(String, String)>, Option<i64>)> = BTreeMap::new();
        let mut bad = false;
        for (col, value) in row.cells {
            let col = col.trim().to_string();
            if col == record_id {
                record = Some(value);
                continue;
            }
            match col.as_str() {
                EVENT_COLUMN => event_name = value.trim().to_string(),
                REPEAT_INSTRUMENT_COLUMN => repeat_instrument = value.trim().to_string(),
                REPEAT_INSTANCE_COLUMN => repeat_instance = value.trim().to_string(),
                "redcap_data_access_group" | "redcap_survey_identifier" => {}
                _ => {
                    if let Some(form) = col.strip_suffix("_complete").filter(|f| instruments.contains(f)) {
                        let v = value.trim();
                        let status = if v.is_empty() {
                            None
                        } else if let Some(n) = STATUS_LABELS.iter().position(|l| l.eq_ignore_ascii_case(v)) {
                            Some(n as i64)
                        } else {
                            match v.parse::<i64>() {
                                Ok(n @ 0..=2) => Some(n),
                                _ => {
                                    errors.push(FieldError::new(
                                        at(&col),
                                        "must be 0 (incomplete), 1 (unverified) or 2 (complete)",
                                    ));
                                    bad = true;
                                    None
                                }
                            }
                        };
                        by_form.entry(form.to_string()).or_default().1 = status;
                        continue;
                    }
                    if col.strip_suffix("_timestamp").is_some_and(|f| instruments.contains(&f)) {
                        continue;
                    }
                    let field =
                        meta.field(&col).or_else(|| col.split_once("___").and_then(|(name, _)| meta.field(name)));
                    match field {
                        Some(f) => by_form.entry(f.form().to_string()).or_default().0.push((col, value)),
                        None => {
                            errors.push(FieldError::new(at(&col), "is not a field of this study"));
                            bad = true;
                        }
                    }
                }
            }
        }
        let Some(record) = record.map(|r| r.trim().to_string()).filter(|r| !r.is_empty()) else {
            errors.push(FieldError::new(at(&record_id), "names the record and is required"));
            continue;
        };
        let event = if meta.longitudinal() {
            match meta.event_by_unique_name(&event_name) {
                Some(e) => e.code.clone(),
                None => {
                    let msg = if event_name.is_empty() {
                        "is required: the study is longitudinal".to_string()
                    } else {
                        format!("'{event_name}' is not an event of this study")
                    };
                    errors.push(FieldError::new(at(EVENT_COLUMN), msg));
                    continue;
                }
            }
        } else {
            if !event_name.is_empty() {
                errors.push(FieldError::new(at(EVENT_COLUMN), "must be blank: the study has no events"));
                continue;
            }
            String::new()
        };
        let instance = if repeat_instance.is_empty() {
            None
        } else {
            match repeat_instance.parse::<i64>() {
                Ok(n) if n >= 1 => Some(n),
                _ => {
                    errors.push(FieldError::new(at(REPEAT_INSTANCE_COLUMN), "must be a whole number from 1"));
                    continue;
                }
            }
        };
        if !repeat_instrument.is_empty() && !instruments.contains(&repeat_instrument.as_str()) {
            errors.push(FieldError::new(
                at(REPEAT_INSTRUMENT_COLUMN),
                format!("'{repeat_instrument}' is not an instrument of this study"),
            ));
            continue;
        }
        let mut forms = Vec::new();
        for (instrument, (values, status)) in by_form {
            let repeats_alone = meta.instrument(&instrument).is_some_and(|s| s.repeating);
            let given = values.iter().any(|(_, v)| !v.trim().is_empty()) || status.is_some();
            let key = if !repeat_instrument.is_empty() {
                if instrument != repeat_instrument {
                    if given {
                        errors.push(FieldError::new(
                            at(&instrument),
                            format!("this row is instance of {repeat_instrument}: {instrument} belongs on another row"),
                        ));
                        bad = true;
                    }
                    continue;
                }
                FormKey::new(&event, &instrument, instance.unwrap_or(1))
            } else if repeats_alone && meta.event(&event).is_none_or(|e| !e.repeating) {
                if given {
                    errors.push(FieldError::new(
                        at(REPEAT_INSTRUMENT_COLUMN),
                        format!("{instrument} repeats: name it in redcap_repeat_instrument with its instance"),
                    ));
                    bad = true;
                }
                continue;
            } else {
                FormKey::new(&event, &instrument, instance.unwrap_or(1))
            };
            forms.push((key, values, status));
        }
        if !bad {
            out.push(ParsedRow { line, record, forms });
        }
    }
    out
}

/// Imports flat rows: every row is checked and either all are saved in one transaction or
/// nothing is and every problem comes back, each named `row N, column`.
pub async fn import_flat(
    store: &Store,
    acting: &Acting,
    study_id: Uuid,
    rows: Vec<ImportRow>,
    opts: &ImportOptions,
) -> Result<ImportOutcome> {
    import_flat_at(store, acting, study_id, rows, opts, None).await
}

/// As [`import_flat`], refusing rows of records outside `sites` (`None`: any record).
pub async fn import_flat_at(
    store: &Store,
    acting: &Acting,
    study_id: Uuid,
    rows: Vec<ImportRow>,
    opts: &ImportOptions,
    sites: Option<Vec<Uuid>>,
) -> Result<ImportOutcome> {
    let opts = opts.clone();
    store
        .write(acting, move |tx| Box::pin(async move { import_in(tx, study_id, rows, &opts, sites.as_deref()).await }))
        .await
}

async fn import_in(
    tx: &mut Tx,
    study_id: Uuid,
    rows: Vec<ImportRow>,
    opts: &ImportOptions,
    sites: Option<&[Uuid]>,
) -> Result<ImportOutcome> {
    let meta = metadata::current_in(tx, study_id)
        .await?
        .ok_or_else(|| StoreError::Refused("the study has no instruments yet".into()))?;
    let record_id = meta.dictionary.record_id_field().name().to_string();
    let mut errors = Vec::new();
    let parsed = parse_rows(&meta, rows, &mut errors);
    // Rows by record, in file order.
    let mut order: Vec<String> = Vec::new();
    let mut by_record: HashMap<String, Vec<ParsedRow>> = HashMap::new();
    for row in parsed {
        if !by_record.contains_key(&row.record) {
            order.push(row.record.clone());
        }
        by_record.entry(row.record.clone()).or_default().push(row);
    }
    let mut next_auto = if opts.force_auto_number {
        let names: Vec<String> =
            tx_on!(tx, |c| sqlx::query_scalar("SELECT record FROM edc_records WHERE study_id = $1")
                .bind(study_id)
                .fetch_all(&mut *c)
                .await)?;
        names.iter().filter_map(|n| n.parse::<u64>().ok()).max().unwrap_or(0) + 1
    } else {
        0
    };
    let reason = Some(opts.reason.clone()).filter(|r| !r.trim().is_empty());
    let blanks = if opts.overwrite { Blanks::Erase } else { Blanks::Keep };
    let at = |line: usize, col: &str| format!("row {line}, {col}");
    // Every record named in the file, found (or made) a hundred at a time rather than one by
    // one: the ones there, the participants' records, and new free-standing ones. When any row
    // is refused the whole transaction rolls back, records made here included.
    let mut found: HashMap<String, (Record, bool)> = HashMap::new();
    let mut refused: HashSet<String> = HashSet::new();
    if !opts.force_auto_number {
        let mut names = Vec::new();
        let mut seen = HashSet::new();
        for given in &order {
            match check_record_name(given) {
                Ok(n) if seen.insert(n.clone()) => names.push(n),
                Ok(_) => {}
                Err(e) => {
                    let line = by_record.get(given).and_then(|r| r.first()).map(|r| r.line).unwrap_or(0);
                    errors.extend(e.0.into_iter().map(|fe| FieldError::new(at(line, &record_id), fe.message)));
                }
            }
        }
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let existing = records::records_named_in(tx, study_id, &refs).await?;
        let missing: Vec<&str> = refs.iter().copied().filter(|n| !existing.contains_key(*n)).collect();
        // A trial's participant keeps the record named by its subject id.
        let participants = records::participants_named_in(tx, study_id, &missing).await?;
        let mut fresh = Vec::new();
        for name in missing {
            let participant = participants.get(name);
            if let Some(allowed) = sites
                && !participant.is_some_and(|(_, s)| allowed.contains(s))
            {
                let line = by_record.get(name).and_then(|r| r.first()).map(|r| r.line).unwrap_or(0);
                errors.push(FieldError::new(
                    at(line, &record_id),
                    format!("record {name} is not at a site where you may enter data"),
                ));
                refused.insert(name.to_string());
                continue;
            }
            match participant {
                Some((p, _)) => {
                    found.insert(name.to_string(), (records::participant_record_in(tx, *p).await?, true));
                }
                None => fresh.push(name),
            }
        }
        for r in records::create_many_named_in(tx, study_id, &fresh).await? {
            found.insert(r.record.clone(), (r, true));
        }
        found.extend(existing.into_iter().map(|(n, r)| (n, (r, false))));
    }
    let mut outcome = ImportOutcome::default();
    for given in order {
        let rows = by_record.remove(&given).unwrap_or_default();
        let first_line = rows.first().map(|r| r.line).unwrap_or(0);
        let (record, created): (Record, bool) = if opts.force_auto_number {
            let name = next_auto.to_string();
            next_auto += 1;
            let r = records::named_record_in(tx, study_id, &name, None).await?;
            outcome.auto_ids.push((given.clone(), name));
            r
        } else {
            // Names refused above have their error already.
            let Ok(name) = check_record_name(&given) else { continue };
            if refused.contains(&name) {
                continue;
            }
            match found.remove(&name) {
                Some(r) => r,
                // The same record under a second spelling (spaces around it): it is there now.
                None => records::named_record_in(tx, study_id, &name, None).await?,
            }
        };
        if let Some(allowed) = sites
            && !record.site_id.is_some_and(|s| allowed.contains(&s))
        {
            errors.push(FieldError::new(
                at(first_line, &record_id),
                format!("record {} is not at a site where you may enter data", record.record),
            ));
            continue;
        }
        outcome.ids.push(record.record.clone());
        // A record this import created has nothing saved yet: there is nothing to read.
        let mut state = if created { RecordState::created() } else { RecordState::load_in(tx, record.id).await? };
        let local_now = super::record_now(&record);
        for row in rows {
            for (key, values, status) in row.forms {
                let given = values.iter().any(|(_, v)| !v.trim().is_empty()) || status.is_some();
                if !given && !state.has_form(&key) {
                    continue;
                }
                let instrument = key.instrument.clone();
                let input = FormInput {
                    key,
                    values,
                    status,
                    reason: reason.clone(),
                    revision: None,
                    dates: Some(opts.dates),
                    blanks,
                    from_page: false,
                };
                match save_with(tx, &meta, &record, &mut state, local_now, &input).await {
                    Ok(_) => {}
                    Err(StoreError::Invalid(inv)) => {
                        errors.extend(inv.0.into_iter().map(|fe| {
                            let col = match fe.field.as_str() {
                                "instance" => REPEAT_INSTANCE_COLUMN.to_string(),
                                "event" => EVENT_COLUMN.to_string(),
                                "status" => format!("{instrument}_complete"),
                                "instrument" => instrument.clone(),
                                other => other.to_string(),
                            };
                            FieldError::new(at(row.line, &col), fe.message)
                        }));
                    }
                    Err(StoreError::Refused(msg)) | Err(StoreError::Conflict { message: msg, .. }) => {
                        errors.push(FieldError::new(at(row.line, &instrument), msg));
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(Invalid(errors).into());
    }
    outcome.count = outcome.ids.len();
    Ok(outcome)
}

/// Imports EAV rows (a checkbox as one row per ticked code), as [`import_flat`] does.
pub async fn import_eav(
    store: &Store,
    acting: &Acting,
    study_id: Uuid,
    rows: Vec<EavRow>,
    opts: &ImportOptions,
) -> Result<ImportOutcome> {
    let meta = production_meta(store, study_id).await?;
    let record_id = meta.dictionary.record_id_field().name().to_string();
    // Consecutive values of the same record, event and instance make one flat row.
    let mut flat: Vec<ImportRow> = Vec::new();
    let mut last: Option<(String, String, String, String)> = None;
    for (i, r) in rows.into_iter().enumerate() {
        let place = (
            r.record.clone(),
            r.redcap_event_name.clone(),
            r.redcap_repeat_instrument.clone(),
            r.redcap_repeat_instance.clone(),
        );
        if last.as_ref() != Some(&place) {
            let mut cells = vec![(record_id.clone(), r.record.clone())];
            if !r.redcap_event_name.is_empty() {
                cells.push((EVENT_COLUMN.into(), r.redcap_event_name.clone()));
            }
            if !r.redcap_repeat_instrument.is_empty() {
                cells.push((REPEAT_INSTRUMENT_COLUMN.into(), r.redcap_repeat_instrument.clone()));
            }
            if !r.redcap_repeat_instance.is_empty() {
                cells.push((REPEAT_INSTANCE_COLUMN.into(), r.redcap_repeat_instance.clone()));
            }
            flat.push(ImportRow { line: i + 2, cells });
            last = Some(place);
        }
        if r.field_name == record_id {
            continue;
        }
        let Some(row) = flat.last_mut() else { continue };
        match meta.field(&r.field_name) {
            Some(f) if f.field_type() == FieldType::Checkbox => {
                for code in r.value.split(',').map(str::trim).filter(|c| !c.is_empty()) {
                    let col = match f.choice(code) {
                        Some(c) => f.checkbox_column(&c.code),
                        None => format!("{}___{code}", f.name()),
                    };
                    row.cells.push((col, "1".into()));
                }
            }
            _ => row.cells.push((r.field_name, r.value)),
        }
    }
    import_flat(store, acting, study_id, flat, opts).await
}

/// Deletes records with their forms, values, verifications, locks and queries. Each form's
/// values go into the audit trail as a deletion, so their history ends with it. Unknown names
/// are refused, naming them, and nothing is deleted.
pub async fn delete_records(store: &Store, acting: &Acting, study_id: Uuid, names: &[String]) -> Result<usize> {
    let names = names.to_vec();
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let mut found = Vec::new();
                let mut unknown = Vec::new();
                for n in &names {
                    match records::record_named_in(tx, study_id, n.trim()).await? {
                        Some(r) => found.push(r),
                        None => unknown.push(n.clone()),
                    }
                }
                if !unknown.is_empty() {
                    return Err(Invalid::one("records", format!("no such records: {}", unknown.join(", "))).into());
                }
                for record in &found {
                    delete_record_in(tx, record).await?;
                }
                Ok(found.len())
            })
        })
        .await
}

async fn delete_record_in(tx: &mut Tx, record: &Record) -> Result<()> {
    let forms: Vec<(Uuid, String, String, i64, i64)> = tx_on!(tx, |c| {
        sqlx::query_as(
        "SELECT id, event, instrument, instance, status FROM edc_forms WHERE record_id = $1 ORDER BY event, instrument, instance"
    )
    .bind(record.id)
    .fetch_all(&mut *c)
    .await
    })?;
    for (form_id, event, instrument, instance, status) in forms {
        let values = records::form_values_in(tx, form_id).await?;
        let queries: Vec<Uuid> = tx_on!(tx, |c| sqlx::query_scalar("SELECT id FROM edc_queries WHERE form_id = $1")
            .bind(form_id)
            .fetch_all(&mut *c)
            .await)?;
        for q in queries {
            crate::tasks::resolve_in(tx, &format!("edc.query:{q}"), clinbridge_core::tasks::TaskStatus::Cancelled)
                .await?;
            exec!(tx, "DELETE FROM edc_query_messages WHERE query_id = $1", q)?;
            exec!(tx, "DELETE FROM edc_queries WHERE id = $1", q)?;
        }
        exec!(tx, "DELETE FROM edc_verifications WHERE form_id = $1", form_id)?;
        exec!(tx, "DELETE FROM edc_values WHERE form_id = $1", form_id)?;
        exec!(tx, "DELETE FROM edc_forms WHERE id = $1", form_id)?;
        let cleared: BTreeMap<&String, &str> = values.keys().map(|k| (k, "")).collect();
        tx.audit(
            AuditEvent::new(AuditAction::Delete, "edc_form", form_id)
                .old(serde_json::json!({ "status": status, "values": values }))
                .new_value(serde_json::json!({
                    "record": record.record, "event": event, "instrument": instrument, "instance": instance,
                    "values": cleared, "deleted": true,
                })),
        );
    }
    exec!(tx, "DELETE FROM edc_event_locks WHERE record_id = $1", record.id)?;
    exec!(tx, "DELETE FROM edc_records WHERE id = $1", record.id)?;
    tx.audit(
        AuditEvent::new(AuditAction::Delete, "edc_record", record.id)
            .old(serde_json::json!({ "record": record.record, "participant_id": record.participant_id })),
    );
    Ok(())
}

// ---------------------------------------------------------------- whole files

/// The file formats of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// REDCap's flat CSV.
    Csv,
    /// REDCap's EAV CSV.
    Eav,
    /// CDISC ODM 1.3.2.
    Odm,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s.trim().to_ascii_lowercase().as_str() {
            "csv" | "flat" => Some(Format::Csv),
            "eav" => Some(Format::Eav),
            "odm" | "xml" => Some(Format::Odm),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Eav => "eav",
            Format::Odm => "odm",
        }
    }
    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Eav => "eav.csv",
            Format::Odm => "odm.xml",
        }
    }
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv | Format::Eav => "text/csv; charset=utf-8",
            Format::Odm => "application/xml; charset=utf-8",
        }
    }
}

/// An export's options: the flat options, and for ODM the audit trail and signatures.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    pub flat: FlatOptions,
    /// ODM: each change of each value as a transactional `ItemData` with its `AuditRecord`,
    /// and the signatures on records and forms.
    pub audit: bool,
}

/// Where an export's bytes go: a bounded channel, so a slow reader slows the export down
/// instead of letting it pile up in memory.
pub type Sink = tokio::sync::mpsc::Sender<Vec<u8>>;

pub(crate) async fn send(sink: &Sink, bytes: Vec<u8>) -> Result<()> {
    if bytes.is_empty() {
        return Ok(());
    }
    sink.send(bytes).await.map_err(|_| StoreError::Refused("the export's reader went away".into()))
}

/// Writes a whole export file to `sink` a page of records at a time; gives the number of rows
/// (CSV), values (EAV) or subjects (ODM) written. The audit entry is the caller's
/// ([`audit_export`]), written when the export starts.
pub async fn export(store: &Store, study_id: Uuid, format: Format, opts: &ExportOptions, sink: &Sink) -> Result<u64> {
    let meta = production_meta(store, study_id).await?;
    let plan = Plan::new(&meta, &opts.flat)?;
    if format == Format::Odm {
        return odm::write(store, study_id, &plan, opts.audit, sink).await;
    }
    let mut buf = String::new();
    use clinbridge_interop::redcap::csv::write_record;
    match format {
        Format::Csv => write_record(&mut buf, &plan.names()),
        _ => write_record(
            &mut buf,
            &["record", EVENT_COLUMN, REPEAT_INSTRUMENT_COLUMN, REPEAT_INSTANCE_COLUMN, "field_name", "value"],
        ),
    }
    let mut count = 0u64;
    let mut cursor = Cursor::new();
    while let Some(page) =
        next_page(store, study_id, &meta, &opts.flat.filter, plan.logic.as_ref(), &mut cursor).await?
    {
        for record in &page {
            for row in record_rows(&plan, record) {
                let cells = cells(&plan, record, &row);
                if format == Format::Csv {
                    let line: Vec<String> = cells.iter().map(|c| render(&plan, c)).collect();
                    write_record(&mut buf, &line);
                    count += 1;
                } else {
                    for e in eav_of(&plan, record, &row, &cells) {
                        write_record(
                            &mut buf,
                            &[
                                &e.record,
                                &e.redcap_event_name,
                                &e.redcap_repeat_instrument,
                                &e.redcap_repeat_instance,
                                &e.field_name,
                                &e.value,
                            ],
                        );
                        count += 1;
                    }
                }
            }
        }
        send(sink, std::mem::take(&mut buf).into_bytes()).await?;
    }
    send(sink, buf.into_bytes()).await?;
    Ok(count)
}

/// The EAV rows of one flat row.
fn eav_of(plan: &Plan<'_>, record: &RecordData, row: &RowSpec, cells: &[Cell<'_>]) -> Vec<EavRow> {
    let meta = plan.meta;
    let event = match meta.event(&row.event) {
        Some(e) if plan.labels => e.name.clone(),
        Some(e) => e.unique_name.clone(),
        None => String::new(),
    };
    let repeat_instrument = match &row.repeat_instrument {
        Some(i) if plan.labels => meta.label(i),
        Some(i) => i.clone(),
        None => String::new(),
    };
    let instance = row.instance.map(|n| n.to_string()).unwrap_or_default();
    let mut out = Vec::new();
    for cell in cells {
        let (field_name, value) = match cell {
            Cell::Value { field, .. } => (field.name().to_string(), render(plan, cell)),
            Cell::Check { field, code, ticked: true } => (
                field.name().to_string(),
                if plan.labels {
                    field
                        .choice(code)
                        .map(|c| c.label.clone())
                        .or_else(|| meta.missing.get(code).map(|m| m.label.clone()))
                        .unwrap_or_else(|| code.to_string())
                } else {
                    code.to_string()
                },
            ),
            Cell::Status { instrument, .. } => (format!("{instrument}_complete"), render(plan, cell)),
            _ => continue,
        };
        out.push(EavRow {
            record: record.name.clone(),
            redcap_event_name: event.clone(),
            redcap_repeat_instrument: repeat_instrument.clone(),
            redcap_repeat_instance: instance.clone(),
            field_name,
            value,
        });
    }
    out
}
