//! A study's data as CDISC ODM 1.3.2: the metadata (visits as study events, instruments as
//! forms with one item group each, fields as items with their code lists, branching logic and
//! calculations as conditions and methods in REDCap's logic), then the clinical data a page of
//! records at a time. With the audit trail the file is Transactional: each change of each value
//! is an `ItemData` with its `AuditRecord`, read from the `edc_form` audit entries, and
//! signatures on records and forms come from the `signatures` table.

use super::{Cell, Cursor, ImportOptions, ImportOutcome, ImportRow, Plan, RecordData, Sink, cells, next_page, send};
use crate::edc::metadata::Metadata;
use crate::{Acting, Result, Store, StoreError, on};
use chrono::{DateTime, Utc};
use clinbridge_core::edc::{FieldType, Validation};
use clinbridge_interop::odm::{self as m, OdmWriter};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// The `Write` the ODM writer fills; drained after each page of records.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Shared {
    fn take(&self) -> Vec<u8> {
        self.0.lock().map(|mut b| std::mem::take(&mut *b)).unwrap_or_default()
    }
}

fn io(e: std::io::Error) -> StoreError {
    StoreError::Internal(format!("ODM: {e}"))
}

/// The study event OID of a visit (`Event.1` in a classic study), REDCap's unique event name.
pub fn event_oid(meta: &Metadata, event: &str) -> String {
    meta.event(event).map(|e| e.unique_name.clone()).unwrap_or_else(|| "Event.1".into())
}

pub fn form_oid(instrument: &str) -> String {
    format!("Form.{instrument}")
}

fn group_oid(instrument: &str) -> String {
    format!("{instrument}.1")
}

fn en(text: &str) -> Vec<m::TranslatedText> {
    vec![m::TranslatedText::new(Some("en"), if text.trim().is_empty() { "-" } else { text })]
}

fn data_type(field: &clinbridge_core::edc::Field) -> m::DataType {
    match field.field_type() {
        FieldType::Yesno | FieldType::Truefalse => m::DataType::Boolean,
        FieldType::Calc => m::DataType::Float,
        FieldType::Slider => m::DataType::Integer,
        _ => match field.validation() {
            Some(Validation::Date(_)) => m::DataType::Date,
            Some(Validation::Datetime(_) | Validation::DatetimeSeconds(_)) => m::DataType::Datetime,
            Some(Validation::Time | Validation::TimeHhMmSs) => m::DataType::Time,
            Some(v) if v.name() == "integer" || v.name() == "int" => m::DataType::Integer,
            Some(v) if v.name().starts_with("number") || v.name() == "float" => m::DataType::Float,
            _ => m::DataType::Text,
        },
    }
}

/// The Study element: global variables and one metadata version.
fn study(meta: &Metadata, plan: &Plan<'_>, code: &str, name: &str) -> m::Study {
    let mut mdv = m::MetaDataVersion {
        oid: format!("Metadata.{}", meta.number),
        name: format!("Version {}", meta.number),
        description: None,
        protocol: None,
        study_event_defs: Vec::new(),
        form_defs: Vec::new(),
        item_group_defs: Vec::new(),
        item_defs: Vec::new(),
        code_lists: Vec::new(),
        condition_defs: Vec::new(),
        method_defs: Vec::new(),
    };
    let events: Vec<(String, String, bool, Vec<String>)> = if meta.longitudinal() {
        meta.event_forms
            .iter()
            .filter_map(|ef| {
                let e = meta.event(&ef.event)?;
                Some((e.unique_name.clone(), e.name.clone(), e.repeating, ef.instruments.clone()))
            })
            .collect()
    } else {
        vec![(
            "Event.1".into(),
            "Event 1".into(),
            false,
            meta.dictionary.instruments().iter().map(|s| s.to_string()).collect(),
        )]
    };
    let mut protocol = m::Protocol::default();
    for (i, (oid, label, repeating, instruments)) in events.iter().enumerate() {
        protocol.study_event_refs.push(m::StudyEventRef {
            study_event_oid: oid.clone(),
            order_number: Some(i as u32 + 1),
            mandatory: false,
            ..Default::default()
        });
        mdv.study_event_defs.push(m::StudyEventDef {
            oid: oid.clone(),
            name: label.clone(),
            repeating: *repeating,
            event_type: if *repeating { m::EventType::Unscheduled } else { m::EventType::Scheduled },
            form_refs: instruments
                .iter()
                .filter(|i| plan.instruments.contains(*i))
                .enumerate()
                .map(|(n, i)| m::FormRef {
                    form_oid: form_oid(i),
                    order_number: Some(n as u32 + 1),
                    mandatory: false,
                    ..Default::default()
                })
                .collect(),
            category: None,
            description: Vec::new(),
            aliases: Vec::new(),
        });
    }
    mdv.protocol = Some(protocol);
    // Items by instrument, in the plan's column order.
    let mut by_form: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut lists_done = BTreeSet::new();
    for (column, col) in &plan.cols {
        let (instrument, item) = match col {
            super::Col::Value(i) => {
                let f = &meta.dictionary.fields()[*i];
                let mut item = m::ItemDef::new(column, column, data_type(f));
                item.question = en(f.label());
                item.aliases = vec![m::Alias::new("REDCap field type", f.field_type().as_str())];
                if let Some(v) = f.validation() {
                    item.aliases.push(m::Alias::new("REDCap validation", &v.name()));
                }
                if f.field_type().has_choices() && f.field_type() != FieldType::Checkbox && !f.choices().is_empty() {
                    let oid = format!("{}.choices", f.name());
                    item.code_list_oid = Some(oid.clone());
                    item.data_type = m::DataType::Text;
                    if lists_done.insert(oid.clone()) {
                        mdv.code_lists.push(m::CodeList {
                            oid: oid.clone(),
                            name: f.name().to_string(),
                            data_type: m::CodeListDataType::Text,
                            items: f
                                .choices()
                                .iter()
                                .map(|c| m::CodeListItem {
                                    coded_value: c.code.clone(),
                                    order_number: None,
                                    decode: en(&c.label),
                                    aliases: Vec::new(),
                                })
                                .collect(),
                            description: Vec::new(),
                            aliases: Vec::new(),
                        });
                    }
                }
                (f.form().to_string(), item)
            }
            super::Col::Check(i, code) => {
                let f = &meta.dictionary.fields()[*i];
                let label = f.choice(code).map(|c| c.label.clone()).unwrap_or_else(|| code.clone());
                let mut item = m::ItemDef::new(column, column, m::DataType::Text);
                item.length = NonZeroU32::new(1);
                item.question = en(&format!("{} ({label})", f.label()));
                item.aliases = vec![m::Alias::new("REDCap field type", "checkbox")];
                item.code_list_oid = Some("checkbox.choices".into());
                if lists_done.insert("checkbox.choices".to_string()) {
                    mdv.code_lists.push(yes_no_list("checkbox.choices", ["Unchecked", "Checked"]));
                }
                (f.form().to_string(), item)
            }
            super::Col::Status(instrument) => {
                let mut item = m::ItemDef::new(column, column, m::DataType::Text);
                item.length = NonZeroU32::new(1);
                item.question = en("Complete?");
                item.code_list_oid = Some("form_complete.choices".into());
                if lists_done.insert("form_complete.choices".to_string()) {
                    let mut list = yes_no_list("form_complete.choices", ["Incomplete", "Unverified"]);
                    list.items.push(m::CodeListItem {
                        coded_value: "2".into(),
                        order_number: None,
                        decode: en("Complete"),
                        aliases: Vec::new(),
                    });
                    mdv.code_lists.push(list);
                }
                (instrument.clone(), item)
            }
            _ => continue,
        };
        by_form.entry(instrument).or_default().push(item.oid.clone());
        mdv.item_defs.push(item);
    }
    let record_id = meta.dictionary.record_id_field();
    for instrument in meta.dictionary.instruments() {
        let Some(items) = by_form.get(instrument) else { continue };
        mdv.form_defs.push(m::FormDef {
            oid: form_oid(instrument),
            name: meta.label(instrument),
            repeating: meta.instrument(instrument).is_some_and(|s| s.repeating),
            item_group_refs: vec![m::ItemGroupRef {
                item_group_oid: group_oid(instrument),
                order_number: Some(1),
                mandatory: false,
                ..Default::default()
            }],
            ..Default::default()
        });
        let mut refs = Vec::new();
        for (n, oid) in items.iter().enumerate() {
            let mut r = m::ItemRef {
                item_oid: oid.clone(),
                order_number: Some(n as u32 + 1),
                mandatory: meta.field(oid).is_some_and(|f| f.required()),
                ..Default::default()
            };
            if let Some(f) = meta.field(oid).filter(|f| f.name() != record_id.name()) {
                if !f.branching_logic().trim().is_empty() {
                    let cond = format!("{}.condition", f.name());
                    r.collection_exception_condition_oid = Some(cond.clone());
                    mdv.condition_defs.push(m::ConditionDef {
                        oid: cond,
                        name: format!("{} is not shown", f.name()),
                        description: en(&format!("Collected only when: {}", f.branching_logic())),
                        formal_expressions: vec![m::FormalExpression {
                            context: Some("REDCap".into()),
                            expression: format!("not({})", f.branching_logic()),
                        }],
                        aliases: Vec::new(),
                    });
                }
                if let Some(calc) = f.calculation().filter(|_| f.field_type() == FieldType::Calc) {
                    let method = format!("{}.calculation", f.name());
                    r.method_oid = Some(method.clone());
                    mdv.method_defs.push(m::MethodDef {
                        oid: method,
                        name: format!("{} calculation", f.name()),
                        method_type: Some(m::MethodType::Computation),
                        description: en(&format!("Calculated: {calc}")),
                        formal_expressions: vec![m::FormalExpression {
                            context: Some("REDCap".into()),
                            expression: calc.to_string(),
                        }],
                        aliases: Vec::new(),
                    });
                }
            }
            refs.push(r);
        }
        mdv.item_group_defs.push(m::ItemGroupDef {
            oid: group_oid(instrument),
            name: meta.label(instrument),
            repeating: false,
            item_refs: refs,
            ..Default::default()
        });
    }
    m::Study {
        oid: format!("Project.{code}"),
        global_variables: m::GlobalVariables {
            study_name: name.to_string(),
            study_description: name.to_string(),
            protocol_name: code.to_string(),
        },
        metadata_versions: vec![mdv],
    }
}

fn yes_no_list(oid: &str, labels: [&str; 2]) -> m::CodeList {
    m::CodeList {
        oid: oid.into(),
        name: oid.into(),
        data_type: m::CodeListDataType::Text,
        items: labels
            .iter()
            .enumerate()
            .map(|(i, l)| m::CodeListItem {
                coded_value: i.to_string(),
                order_number: None,
                decode: en(l),
                aliases: Vec::new(),
            })
            .collect(),
        description: Vec::new(),
        aliases: Vec::new(),
    }
}

/// One audit entry of a form.
#[derive(sqlx::FromRow)]
struct FormAudit {
    id: i64,
    at: DateTime<Utc>,
    user_id: Option<Uuid>,
    new_value: Option<String>,
    reason: Option<String>,
}

const SYSTEM_USER: &str = "User.system";
const STUDY_LOCATION: &str = "Location.study";

fn user_oid(id: Option<Uuid>) -> String {
    id.map(|u| format!("User.{u}")).unwrap_or_else(|| SYSTEM_USER.into())
}

/// Writes the document; gives the number of subjects.
pub(super) async fn write(store: &Store, study_id: Uuid, plan: &Plan<'_>, audit: bool, sink: &Sink) -> Result<u64> {
    let meta = plan.meta;
    let (code, name): (String, String) =
        on!(store.db.read(), |c| sqlx::query_as("SELECT code, title FROM studies WHERE id = $1")
            .bind(study_id)
            .fetch_optional(c)
            .await)?
        .ok_or(StoreError::NotFound("study"))?;
    let study = study(meta, plan, &code, &name);
    let mdv_oid = study.metadata_versions[0].oid.clone();
    let now = crate::now();
    let file_type = if audit { m::FileType::Transactional } else { m::FileType::Snapshot };
    let mut header = m::FileHeader::new(&format!("Clinbridge.{code}.{}", now.timestamp()), now, file_type);
    header.granularity = Some(m::Granularity::All);
    header.originator = Some("Clinbridge".into());
    header.source_system = Some("Clinbridge".into());
    header.source_system_version = Some(env!("CARGO_PKG_VERSION").into());
    header.as_of_date_time = Some(now);
    let out = Shared::default();
    let mut w = OdmWriter::new(out.clone(), &header).map_err(io)?;
    w.write_study(&study).map_err(io)?;

    // Signatures on EDC objects, by the id of what they sign (latest first wins).
    let mut signatures: HashMap<String, m::Signature> = HashMap::new();
    let mut meanings: BTreeMap<String, String> = BTreeMap::new();
    if audit {
        let rows: Vec<(Uuid, String, String, DateTime<Utc>)> = on!(store.db.read(), |c| {
            sqlx::query_as(
            "SELECT user_id, meaning, record_id, signed_at FROM signatures WHERE record_type LIKE 'edc_%' ORDER BY signed_at"
        )
        .fetch_all(c)
        .await
        })?;
        for (user, meaning, record, at) in rows {
            let next = format!("SignatureDef.{}", meanings.len() + 1);
            let oid = meanings.entry(meaning).or_insert(next).clone();
            signatures.insert(
                record,
                m::Signature {
                    user_oid: user_oid(Some(user)),
                    location_oid: STUDY_LOCATION.into(),
                    signature_oid: oid,
                    date_time_stamp: at,
                },
            );
        }
        let users: Vec<(Uuid, String)> =
            on!(store.db.read(), |c| sqlx::query_as("SELECT id, name FROM users ORDER BY name").fetch_all(c).await)?;
        let mut admin = m::AdminData { study_oid: Some(study.oid.clone()), ..Default::default() };
        admin.users.push(m::User {
            oid: SYSTEM_USER.into(),
            display_name: Some("System".into()),
            ..Default::default()
        });
        for (id, name) in users {
            admin.users.push(m::User { oid: user_oid(Some(id)), full_name: Some(name), ..Default::default() });
        }
        admin.locations.push(m::Location {
            oid: STUDY_LOCATION.into(),
            name: code.clone(),
            location_type: Some(m::LocationType::Sponsor),
            metadata_version_refs: vec![m::MetaDataVersionRef {
                study_oid: study.oid.clone(),
                metadata_version_oid: mdv_oid.clone(),
                effective_date: meta.published_at.unwrap_or(meta.updated_at).date_naive(),
            }],
        });
        for (meaning, oid) in &meanings {
            admin.signature_defs.push(m::SignatureDef {
                oid: oid.clone(),
                methodology: Some(m::SignMethod::Electronic),
                meaning: meaning.clone(),
                legal_reason: "21 CFR Part 11 electronic signature".into(),
            });
        }
        w.write_admin_data(&admin).map_err(io)?;
    }
    w.begin_clinical_data(&study.oid, &mdv_oid).map_err(io)?;
    send(sink, out.take()).await?;

    let tt = if audit { Some(m::TransactionType::Upsert) } else { None };
    let mut count = 0u64;
    let mut cursor = Cursor::new();
    while let Some(page) =
        next_page(store, study_id, meta, &plan_filter(plan), plan.logic.as_ref(), &mut cursor).await?
    {
        for record in &page {
            let history = if audit { Some(histories(store, record).await?) } else { None };
            write_subject(&mut w, plan, record, tt, history.as_ref(), &signatures).map_err(io)?;
            count += 1;
        }
        send(sink, out.take()).await?;
    }
    w.end_clinical_data().map_err(io)?;
    w.finish().map_err(io)?;
    send(sink, out.take()).await?;
    Ok(count)
}

/// The plan keeps its filter in the options it was made from; ODM walks with the same one.
fn plan_filter(plan: &Plan<'_>) -> super::RecordFilter {
    plan.filter.clone()
}

/// Each form's audit entries, oldest first, by form id.
async fn histories(store: &Store, record: &RecordData) -> Result<HashMap<Uuid, Vec<FormAudit>>> {
    let mut out = HashMap::new();
    for form in record.forms.values() {
        let rows: Vec<FormAudit> = on!(store.db.read(), |c| sqlx::query_as::<_, FormAudit>(
            "SELECT id, at, user_id, new_value, reason FROM audit_log
             WHERE entity_type = 'edc_form' AND entity_id = $1 ORDER BY id"
        )
        .bind(form.id.to_string())
        .fetch_all(c)
        .await)?;
        out.insert(form.id, rows);
    }
    Ok(out)
}

fn write_subject(
    w: &mut OdmWriter<Shared>,
    plan: &Plan<'_>,
    record: &RecordData,
    tt: Option<m::TransactionType>,
    history: Option<&HashMap<Uuid, Vec<FormAudit>>>,
    signatures: &HashMap<String, m::Signature>,
) -> std::io::Result<()> {
    let meta = plan.meta;
    w.begin_subject(&m::SubjectData {
        subject_key: record.name.clone(),
        transaction_type: tt,
        signature: signatures.get(&record.id.to_string()).cloned(),
        ..Default::default()
    })?;
    // Forms by (event, event instance).
    #[allow(clippy::type_complexity)]
    let mut events: BTreeMap<(usize, String, Option<i64>), Vec<(&crate::edc::records::FormKey, &super::FormData)>> =
        BTreeMap::new();
    for (key, form) in &record.forms {
        if !plan.instruments.contains(&key.instrument) || plan.events.as_ref().is_some_and(|e| !e.contains(&key.event))
        {
            continue;
        }
        let order = meta.events.iter().position(|e| e.code == key.event).unwrap_or(0);
        let repeating_event = meta.event(&key.event).is_some_and(|e| e.repeating);
        let instance = repeating_event.then_some(key.instance);
        events.entry((order, key.event.clone(), instance)).or_default().push((key, form));
    }
    let shift = plan.shift_key.as_ref().map(|k| super::shift_days(k, &record.name));
    for ((_, event, instance), forms) in events {
        w.begin_study_event(&m::StudyEventData {
            study_event_oid: event_oid(meta, &event),
            repeat_key: instance.map(|n| n.to_string()),
            transaction_type: tt,
            ..Default::default()
        })?;
        for (key, form) in forms {
            let repeating = meta.instrument(&key.instrument).is_some_and(|s| s.repeating);
            w.begin_form(&m::FormData {
                form_oid: form_oid(&key.instrument),
                repeat_key: (repeating && instance.is_none()).then(|| key.instance.to_string()),
                transaction_type: tt,
                signature: signatures.get(&form.id.to_string()).cloned(),
                ..Default::default()
            })?;
            w.begin_item_group(&m::ItemGroupData {
                item_group_oid: group_oid(&key.instrument),
                transaction_type: tt,
                ..Default::default()
            })?;
            match history.and_then(|h| h.get(&form.id)) {
                Some(entries) => write_history(w, plan, &key.instrument, entries, shift)?,
                None => {
                    let row = super::RowSpec {
                        event: key.event.clone(),
                        repeat_instrument: repeating.then(|| key.instrument.clone()),
                        instance: Some(key.instance),
                    };
                    let single = RecordData {
                        id: record.id,
                        name: record.name.clone(),
                        forms: BTreeMap::from([(key.clone(), form.clone())]),
                    };
                    for ((column, _), cell) in plan.cols.iter().zip(cells(plan, &single, &row)) {
                        let value = match &cell {
                            Cell::Value { stored, .. } => stored.clone(),
                            Cell::Check { ticked, .. } => if *ticked { "1" } else { "0" }.to_string(),
                            Cell::Status { instrument, status } if *instrument == key.instrument => status.to_string(),
                            _ => continue,
                        };
                        w.write_item(&m::ItemData::value(column, &value))?;
                    }
                }
            }
            w.end_item_group()?;
            w.end_form()?;
        }
        w.end_study_event()?;
    }
    w.end_subject()
}

/// A form's values as the changes that made them, each with its audit record.
fn write_history(
    w: &mut OdmWriter<Shared>,
    plan: &Plan<'_>,
    instrument: &str,
    entries: &[FormAudit],
    shift: Option<i64>,
) -> std::io::Result<()> {
    let meta = plan.meta;
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut ticked: HashMap<String, Vec<String>> = HashMap::new();
    for entry in entries {
        let Some(values) = entry
            .new_value
            .as_deref()
            .and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok())
            .and_then(|v| v.get("values").and_then(|v| v.as_object()).cloned())
        else {
            continue;
        };
        let audit = m::AuditRecord {
            user_oid: user_oid(entry.user_id),
            location_oid: STUDY_LOCATION.into(),
            date_time_stamp: entry.at,
            reason_for_change: entry.reason.clone().filter(|r| !r.trim().is_empty()),
            source_id: Some(entry.id.to_string()),
        };
        for (column, col) in &plan.cols {
            let (field, code) = match col {
                super::Col::Value(i) => (&meta.dictionary.fields()[*i], None),
                super::Col::Check(i, code) => (&meta.dictionary.fields()[*i], Some(code)),
                _ => continue,
            };
            if field.form() != instrument {
                continue;
            }
            let Some(new) = values.get(field.name()).and_then(|v| v.as_str()) else { continue };
            let new = match code {
                Some(code) => {
                    let was = ticked.get(field.name()).is_some_and(|t| t.contains(code));
                    let now = new.split(',').any(|c| c == code);
                    if was == now && seen.contains(column) {
                        continue;
                    }
                    if now { "1" } else { "0" }.to_string()
                }
                None => match shift {
                    Some(days) if plan.date_fields.contains(field.name()) => super::shift_date(new, days),
                    _ => new.to_string(),
                },
            };
            let first = seen.insert(column.clone());
            let item = m::ItemData {
                item_oid: column.clone(),
                value: if new.is_empty() { m::ItemValue::Null } else { m::ItemValue::Value(new) },
                transaction_type: Some(if first { m::TransactionType::Insert } else { m::TransactionType::Update }),
                audit_record: Some(audit.clone()),
                signature: None,
            };
            w.write_item(&item)?;
        }
        for (name, v) in &values {
            if let Some(s) = v.as_str()
                && meta.field(name).is_some_and(|f| f.field_type() == FieldType::Checkbox)
            {
                ticked.insert(name.clone(), s.split(',').map(str::to_string).collect());
            }
        }
    }
    Ok(())
}

/// Reads ODM clinical data into flat import rows: one row per subject × study event (and
/// repeat) × form repeat, items by their OIDs (the export's column names).
pub fn rows_from_odm<R: std::io::BufRead>(meta: &Metadata, input: R) -> Result<Vec<ImportRow>> {
    let record_id = meta.dictionary.record_id_field().name().to_string();
    let mut rows: Vec<ImportRow> = Vec::new();
    #[allow(clippy::type_complexity)]
    let mut place: Option<(String, String, Option<String>, String, Option<String>)> = None;
    let mut errors = Vec::new();
    for part in m::ClinicalDataReader::new(input) {
        let item = match part {
            Ok(m::ClinicalDataPart::Item(i)) => i,
            Ok(_) => continue,
            Err(e) => {
                errors.push(clinbridge_core::FieldError::new(format!("line {}", e.line()), e.to_string()));
                break;
            }
        };
        let here = (
            item.subject_key.clone(),
            item.study_event_oid.clone(),
            item.study_event_repeat_key.clone(),
            item.form_oid.clone(),
            item.form_repeat_key.clone(),
        );
        if place.as_ref() != Some(&here) {
            let mut cells = vec![(record_id.clone(), item.subject_key.clone())];
            if meta.longitudinal() {
                cells.push((super::EVENT_COLUMN.into(), item.study_event_oid.clone()));
            }
            let instrument = item.form_oid.strip_prefix("Form.").unwrap_or(&item.form_oid).to_string();
            if let Some(k) = &item.form_repeat_key {
                cells.push((super::REPEAT_INSTRUMENT_COLUMN.into(), instrument));
                cells.push((super::REPEAT_INSTANCE_COLUMN.into(), k.clone()));
            } else if let Some(k) = &item.study_event_repeat_key {
                cells.push((super::REPEAT_INSTANCE_COLUMN.into(), k.clone()));
            }
            rows.push(ImportRow { line: item.line as usize, cells });
            place = Some(here);
        }
        if item.item_oid == record_id {
            continue;
        }
        if let Some(row) = rows.last_mut() {
            row.cells.push((item.item_oid.clone(), item.value.as_str().unwrap_or("").to_string()));
        }
    }
    if !errors.is_empty() {
        return Err(clinbridge_core::Invalid(errors).into());
    }
    Ok(rows)
}

/// Imports ODM clinical data, as [`super::import_flat`] does (rows are named by the line of
/// their first `ItemData`).
pub async fn import(
    store: &Store,
    acting: &Acting,
    study_id: Uuid,
    xml: &[u8],
    opts: &ImportOptions,
    sites: Option<Vec<Uuid>>,
) -> Result<ImportOutcome> {
    let meta = super::production_meta(store, study_id).await?;
    let rows = rows_from_odm(&meta, xml)?;
    super::import_flat_at(store, acting, study_id, rows, opts, sites).await
}
